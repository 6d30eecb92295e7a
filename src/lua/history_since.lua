-- history_since.lua: the messages of an object after a given offset, from its history.
-- The history holds consecutive offsets, oldest first, ending at the meta field off.
-- KEYS[1] <prefix>:{ws:obj}:meta, KEYS[2] its :hist
-- ARGV[1] the offset: messages after it are wanted
-- ARGV[2] at most this many (the newest of them)
-- Returns {last offset, message, message, ...}: fewer messages than the offsets in between
-- when the history does not reach back that far.
local off = tonumber(redis.call('HGET', KEYS[1], 'off') or '0')
local want = off - tonumber(ARGV[1])
if want > tonumber(ARGV[2]) then want = tonumber(ARGV[2]) end
local out = {tostring(off)}
if want > 0 then
  for _, m in ipairs(redis.call('LRANGE', KEYS[2], -want, -1)) do out[#out + 1] = m end
end
return out
