-- presence_sweep.lua: removes the expired entries of an object's presence (a dead
-- instance's) and publishes each removal once, numbered like presence_set.lua's.
-- KEYS[1] <prefix>:{ws:obj}:presence, KEYS[2] its :presence:exp, KEYS[3] its :meta,
-- KEYS[4] its :ch (the object's channel)
-- ARGV[1] now (unix ms): entries expiring at or before it go
-- The header it publishes is src/chanmsg.h's presence header with s = 0 and no body
-- (cjson orders its keys as it likes; readers parse the header as JSON).
-- Returns how many entries went.
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, member in ipairs(gone) do
  redis.call('ZREM', KEYS[2], member)
  redis.call('HDEL', KEYS[1], member)
  local seq = redis.call('HINCRBY', KEYS[3], 'pseq', 1)
  local bar = 0
  for i = #member, 1, -1 do
    if string.sub(member, i, i) == '|' then bar = i break end
  end
  local head = cjson.encode({k = 'p', i = string.sub(member, bar + 1), s = 0,
                            u = string.sub(member, 1, bar - 1), q = seq})
  redis.call('PUBLISH', KEYS[4], head .. '\n')
end
return #gone
