-- presence_snapshot.lua: reads an object's presence with the number of the last change,
-- so that a replica can drop the channel's presence messages the snapshot already holds.
-- KEYS[1] <prefix>:{ws:obj}:presence, KEYS[2] its :meta
-- ARGV[1] history_ttl (ms): a meta that is to expire (nobody on the object) is kept that
--         long again, so that the entry stored after this snapshot is numbered after it
-- Returns {pseq, member, participant JSON, member, participant JSON, ...}.
if redis.call('PTTL', KEYS[2]) > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
local out = {redis.call('HGET', KEYS[2], 'pseq') or '0'}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all do out[i + 1] = all[i] end
return out
