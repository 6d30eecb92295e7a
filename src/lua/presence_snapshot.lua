-- presence_snapshot.lua: reads an object's presence with the number of the last change,
-- so that a replica can drop the channel's presence messages the snapshot already holds.
-- KEYS[1] <prefix>:{ws:obj}:presence, KEYS[2] its :presence:exp, KEYS[3] its :meta
-- ARGV[1] now (unix ms)
-- ARGV[2] "1": include expired entries too (right after an outage nobody could refresh)
-- Returns {pseq, member, participant JSON, member, participant JSON, ...}.
local out = {redis.call('HGET', KEYS[3], 'pseq') or '0'}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local score = redis.call('ZSCORE', KEYS[2], all[i])
  if score and (ARGV[2] == '1' or tonumber(score) > tonumber(ARGV[1])) then
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
