-- instances_refresh.lua: stores this instance's entry in the instances registry and, at
-- most once a minute for the whole fleet, drops the entries not refreshed for 60 s (their
-- instance is gone).
-- KEYS[1] <prefix>:instances  hash  instance id -> stats JSON with "updated" (unix s), and
--         the field "|swept" (no instance id has a '|'): when the last sweep ran (unix s)
-- ARGV[1] this instance's id
-- ARGV[2] its stats JSON
-- ARGV[3] now (unix s)
-- Returns 1.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
-- The sweep reads every entry: once a minute in all, whoever refreshes first, so the
-- registry's reads grow with the instances, not with their square.
local now = tonumber(ARGV[3])
local swept = tonumber(redis.call('HGET', KEYS[1], '|swept'))
if swept and swept > now - 60 and swept <= now then
  return 1
end
redis.call('HSET', KEYS[1], '|swept', ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  -- "updated" comes early in every entry: a pattern finds it without decoding the rest
  local updated = tonumber(string.match(all[i + 1], '"updated":(%d+)'))
  if all[i] ~= '|swept' and (not updated or updated < now - 60) then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return 1
