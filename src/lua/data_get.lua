-- data_get.lua: reads an object's saved data.
-- KEYS[1] <prefix>:{ws:obj}:data  hash  top-level key -> compact JSON value
-- KEYS[2] <prefix>:{ws:obj}:meta  hash  version, updated_at
-- Returns {version, updated_at, JSON text of the object} ("0" for a missing meta field).
-- data_json is the same function as in data_save.lua: each script stays whole, so that
-- redis-cli --eval runs it as it is (tests/integration/redis-lua.test.mjs keeps the two
-- copies equal).
local function data_json(key)
  local all = redis.call('HGETALL', key)
  local parts = {}
  for i = 1, #all, 2 do
    parts[#parts + 1] = cjson.encode(all[i]) .. ':' .. all[i + 1]
  end
  return '{' .. table.concat(parts, ',') .. '}'
end
local m = redis.call('HMGET', KEYS[2], 'version', 'updated_at')
return {m[1] or '0', m[2] or '0', data_json(KEYS[1])}
