-- presence_snapshot.lua: reads an object's presence with the number of the last change,
-- so that a replica can drop the channel's presence messages the snapshot already holds.
-- KEYS[1] <prefix>:{ws:obj}:presence, KEYS[2] its :meta
-- Returns {pseq, member, participant JSON, member, participant JSON, ...}.
local out = {redis.call('HGET', KEYS[2], 'pseq') or '0'}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all do out[i + 1] = all[i] end
return out
