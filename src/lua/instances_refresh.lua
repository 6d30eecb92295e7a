-- instances_refresh.lua: stores this instance's entry in the instances registry and drops
-- the entries not refreshed for 60 s (their instance is gone).
-- KEYS[1] <prefix>:instances  hash  instance id -> stats JSON with "updated" (unix s)
-- ARGV[1] this instance's id
-- ARGV[2] its stats JSON
-- ARGV[3] now (unix s)
-- Returns 1.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, v = pcall(cjson.decode, all[i + 1])
  if not ok or type(v) ~= 'table' or (tonumber(v.updated) or 0) < tonumber(ARGV[3]) - 60 then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return 1
