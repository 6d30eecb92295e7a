-- publish.lua: gives a broadcast or emit its place in the object's order, keeps it in the
-- object's history and publishes it, atomically. With the history, an instance that missed
-- messages of the object (its subscription moved with a resharding, or was down) reads
-- them back by their offsets (history_since.lua).
-- KEYS[1] <prefix>:{ws:obj}:meta  hash  field off: the object's last offset
-- KEYS[2] <prefix>:{ws:obj}:hist  list  the last messages, oldest first
-- KEYS[3] <prefix>:{ws:obj}:ch    the object's channel
-- ARGV[1] message head, up to "o": (src/chanmsg.h)
-- ARGV[2] message tail, from the } after the offset (the body follows the newline)
-- ARGV[3] history_size: messages kept (0: none), at least; up to a quarter more
-- ARGV[4] history_ttl (ms): the history goes when nothing was added for about that long
--         (counted from one of its last 16 messages)
-- Returns the offset.
local off = redis.call('HINCRBY', KEYS[1], 'off', 1)
local msg = ARGV[1] .. off .. ARGV[2]
local size = tonumber(ARGV[3])
if size > 0 then
  -- Trimmed once it is a quarter over its size, and its expiry pushed back on every 16th
  -- offset (and when it is new), rather than both on every message: two commands fewer on
  -- the hot path for a little slack in both.
  local len = redis.call('RPUSH', KEYS[2], msg)
  if len > size + math.floor(size / 4) then redis.call('LTRIM', KEYS[2], -size, -1) end
  if len == 1 or off % 16 == 0 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
end
redis.call('PUBLISH', KEYS[3], msg)
return off
