-- presence_set.lua: stores or removes one instance's presence entry for a user, numbers
-- the change and publishes it on the object's channel, atomically (docs/operations.md, "Redis").
-- KEYS[1] <prefix>:{ws:obj}:presence      hash  member -> participant JSON
-- KEYS[2] <prefix>:{ws:obj}:presence:exp  zset  member -> expiry (unix ms)
-- KEYS[3] <prefix>:{ws:obj}:meta          hash  field pseq numbers the presence changes
-- KEYS[4] <prefix>:{ws:obj}:ch            the object's channel
-- ARGV[1] member "<user key>|<instance>"
-- ARGV[2] participant JSON; "" removes the entry
-- ARGV[3] expiry (unix ms)
-- ARGV[4] message head, up to "q": (src/chanmsg.h)
-- ARGV[5] message tail, from the } after the number (the body follows the newline)
-- Returns the change's number.
local seq = redis.call('HINCRBY', KEYS[3], 'pseq', 1)
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
redis.call('PUBLISH', KEYS[4], ARGV[4] .. seq .. ARGV[5])
return seq
