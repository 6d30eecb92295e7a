-- presence_set.lua: stores or removes one instance's presence entry for a user, numbers
-- the change and publishes it on the object's channel, atomically (docs/operations.md, "Redis").
-- KEYS[1] <prefix>:{ws:obj}:presence       hash  member -> participant JSON
-- KEYS[2] <prefix>:{ws:obj}:presence:gen   hash  member -> generation of its instance
-- KEYS[3] <prefix>:{ws:obj}:presence:dead  hash  instance -> last generation reaped here
-- KEYS[4] <prefix>:{ws:obj}:meta           hash  field pseq numbers the presence changes
-- KEYS[5] <prefix>:{ws:obj}:ch             the object's channel
-- KEYS[6] <prefix>:{ws:obj}:hist           list  the object's history (publish.lua)
-- ARGV[1] member "<user key>|<instance>"
-- ARGV[2] participant JSON; "" removes the entry
-- ARGV[3] the instance
-- ARGV[4] its generation (house.lua)
-- ARGV[5] message head, up to "q": (src/chanmsg.h)
-- ARGV[6] message tail, from the } after the epoch (the body follows the newline); the
--         script appends to the head the number, ,"w": and the object's offset (meta field
--         off: every message up to it was published before this change, every later one
--         after) and ,"h": and its epoch
-- ARGV[7] history_ttl (ms): the meta expires after it once the last entry is gone and the
--         object has no saved data (publish.lua); while an entry is stored it stays
-- Returns the change's number, or -1 when this generation of the instance was already
-- declared dead here: the instance must take a new one and store its entries again.
-- epoch is the same function as in publish.lua.
local function epoch(meta, hist)
  local ep = redis.call('HGET', meta, 'epoch')
  if ep then return ep end
  local t = redis.call('TIME')
  ep = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('HSET', meta, 'epoch', ep)
  redis.call('DEL', hist)
  return ep
end
local dead = redis.call('HGET', KEYS[3], ARGV[3])
if dead and tonumber(dead) >= tonumber(ARGV[4]) then return -1 end
local seq = redis.call('HINCRBY', KEYS[4], 'pseq', 1)
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  if redis.call('HLEN', KEYS[1]) == 0 and redis.call('HEXISTS', KEYS[4], 'version') == 0 then
    redis.call('PEXPIRE', KEYS[4], ARGV[7])
  end
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
  redis.call('PERSIST', KEYS[4])
end
local ep = epoch(KEYS[4], KEYS[6])
local off = redis.call('HGET', KEYS[4], 'off') or '0'
redis.call('PUBLISH', KEYS[5], ARGV[5] .. seq .. ',"w":' .. off .. ',"h":"' .. ep .. '"' .. ARGV[6])
return seq
