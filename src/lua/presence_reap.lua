-- presence_reap.lua: removes the entries a dead generation of an instance left on one
-- object and publishes each removal once, numbered like presence_set.lua's. Running it
-- twice, or on several instances at once, removes nothing twice.
-- KEYS[1] <prefix>:{ws:obj}:presence, KEYS[2] its :presence:gen, KEYS[3] its
-- :presence:dead, KEYS[4] its :meta, KEYS[5] its :ch (the object's channel)
-- ARGV[1] the instance
-- ARGV[2] the generation: entries of the instance stored with it or an older one go
-- ARGV[3] how long the object remembers that generation as dead (ms): a write of it that
--         was still on its way is refused meanwhile (presence_set.lua)
-- ARGV[4] history_ttl (ms): the meta expires after it once the last entry is gone and the
--         object has no saved data (presence_set.lua)
-- The header it publishes is src/chanmsg.h's presence header with s = 0 and no body
-- (cjson orders its keys as it likes; readers parse the header as JSON).
-- Returns how many entries went.
local suffix = '|' .. ARGV[1]
local gen = tonumber(ARGV[2])
local gone = 0
for _, member in ipairs(redis.call('HKEYS', KEYS[1])) do
  if #member > #suffix and string.sub(member, -#suffix) == suffix then
    local g = tonumber(redis.call('HGET', KEYS[2], member) or '0')
    if g <= gen then
      redis.call('HDEL', KEYS[1], member)
      redis.call('HDEL', KEYS[2], member)
      local seq = redis.call('HINCRBY', KEYS[4], 'pseq', 1)
      local head = cjson.encode({k = 'p', i = ARGV[1], s = 0,
                                u = string.sub(member, 1, #member - #suffix), q = seq})
      redis.call('PUBLISH', KEYS[5], head .. '\n')
      gone = gone + 1
    end
  end
end
if gone > 0 and redis.call('HLEN', KEYS[1]) == 0 and
    redis.call('HEXISTS', KEYS[4], 'version') == 0 then
  redis.call('PEXPIRE', KEYS[4], ARGV[4])
end
local known = redis.call('HGET', KEYS[3], ARGV[1])
if not known or tonumber(known) < gen then redis.call('HSET', KEYS[3], ARGV[1], ARGV[2]) end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return gone
