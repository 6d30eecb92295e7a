-- history_since.lua: the messages of an object after a given offset, from its history.
-- The history holds consecutive offsets of the current epoch, oldest first, ending at the
-- meta field off (publish.lua).
-- KEYS[1] <prefix>:{ws:obj}:meta, KEYS[2] its :hist
-- ARGV[1] the offset: messages after it are wanted
-- ARGV[2] at most this many (the newest of them)
-- ARGV[3] at most this many bytes of messages: past it the oldest are left out
-- Returns {last offset, epoch ('' for none yet), message, message, ...}: fewer messages than
-- the offsets in between when the history does not reach back that far.
local meta = redis.call('HMGET', KEYS[1], 'off', 'epoch')
local off = tonumber(meta[1] or '0')
local want = off - tonumber(ARGV[1])
if want > tonumber(ARGV[2]) then want = tonumber(ARGV[2]) end
local out = {tostring(off), meta[2] or ''}
if want > 0 then
  local msgs = redis.call('LRANGE', KEYS[2], -want, -1)
  local budget, first = tonumber(ARGV[3]), #msgs + 1
  while first > 1 and budget >= #msgs[first - 1] do
    first = first - 1
    budget = budget - #msgs[first]
  end
  for i = first, #msgs do out[#out + 1] = msgs[i] end
end
return out
