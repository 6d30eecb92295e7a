-- instances_refresh.lua: stores this instance's entry in the instances registry and, when
-- asked to sweep, drops the entries not refreshed for 60 s (their instance is gone).
-- KEYS[1] <prefix>:instances  hash  instance id -> stats JSON with "updated" (unix s)
-- ARGV[1] this instance's id
-- ARGV[2] its stats JSON
-- ARGV[3] now (unix s)
-- ARGV[4] "1": sweep (each instance asks once a minute, so the registry's reads do not
--         grow with the square of the instances)
-- Returns 1.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] ~= '1' then
  return 1
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  -- "updated" comes early in every entry: a pattern finds it without decoding the rest
  local updated = tonumber(string.match(all[i + 1], '"updated":(%d+)'))
  if not updated or updated < tonumber(ARGV[3]) - 60 then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return 1
