-- data_save.lua: replaces or merges an object's saved data with the size limit and
-- ifVersion checks, bumps the version and publishes the result, atomically.
-- KEYS[1] <prefix>:{ws:obj}:data  hash  top-level key -> compact JSON value
-- KEYS[2] <prefix>:{ws:obj}:meta  hash  version, updated_at (unix s), bytes, fbytes
-- KEYS[3] <prefix>:{ws:obj}:ch    the object's channel
-- KEYS[4] <prefix>:{ws:obj}:hist  list  the object's history (publish.lua)
-- ARGV[1] "1" merge (a "null" value deletes its key), "0" replace
-- ARGV[2] ifVersion, -1 for any
-- ARGV[3] limit of the stored object's compact JSON size (bytes)
-- ARGV[4] now (unix s)
-- ARGV[5] message head, up to "v": (src/chanmsg.h); this script appends the version,
--         ,"a": and now, ,"o": and the offset and ,"h": and the epoch (meta fields off and
--         epoch, as publish.lua), the } and newline, then the object's JSON
-- ARGV[6] history_size, ARGV[7] history_ttl (ms), ARGV[8] history_max_bytes: as publish.lua
-- ARGV[9..] triples: key, its size as a JSON string (quotes included), compact JSON value
-- Sizes follow data.h: 2 + sum(key bytes + 1 + value length) + commas; fbytes is the sum.
-- Returns {'ok', version, now, JSON text} or {'conflict'} or {'too_large'}.
-- data_json is the same function as in data_get.lua (see there), epoch and keep as in
-- publish.lua.
local function data_json(key)
  local all = redis.call('HGETALL', key)
  local parts = {}
  for i = 1, #all, 2 do
    parts[#parts + 1] = cjson.encode(all[i]) .. ':' .. all[i + 1]
  end
  return '{' .. table.concat(parts, ',') .. '}'
end
local function epoch(meta, hist)
  local ep = redis.call('HGET', meta, 'epoch')
  if ep then return ep end
  local t = redis.call('TIME')
  ep = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('HSET', meta, 'epoch', ep)
  redis.call('DEL', hist)
  return ep
end
local function keep(meta, hist, msg, mark, off, size, ttl, maxb)
  if size <= 0 then return end
  local kept = msg
  if #msg > maxb then kept = mark end
  local len = redis.call('RPUSH', hist, kept)
  local bytes
  if len == 1 then
    bytes = #kept
    redis.call('HSET', meta, 'hbytes', bytes)
  else
    bytes = redis.call('HINCRBY', meta, 'hbytes', #kept)
  end
  local gone = 0
  if len > size + math.floor(size / 4) then
    for _, x in ipairs(redis.call('LPOP', hist, len - size)) do gone = gone + #x end
    len = size
  end
  while bytes - gone > maxb and len > 1 do
    gone = gone + #redis.call('LPOP', hist)
    len = len - 1
  end
  if gone > 0 then redis.call('HINCRBY', meta, 'hbytes', -gone) end
  if len == 1 or off % 16 == 0 then redis.call('PEXPIRE', hist, ttl) end
end
local merge = ARGV[1] == '1'
local version = tonumber(redis.call('HGET', KEYS[2], 'version') or '0')
local ifv = tonumber(ARGV[2])
if ifv >= 0 and ifv ~= version then return {'conflict'} end
local fbytes, count = 0, 0
if merge then
  fbytes = tonumber(redis.call('HGET', KEYS[2], 'fbytes') or '0')
  count = redis.call('HLEN', KEYS[1])
end
for i = 9, #ARGV, 3 do
  local kb = tonumber(ARGV[i + 1])
  if merge then
    local old = redis.call('HGET', KEYS[1], ARGV[i])
    if old then fbytes = fbytes - kb - 1 - #old count = count - 1 end
  end
  if not (merge and ARGV[i + 2] == 'null') then
    fbytes = fbytes + kb + 1 + #ARGV[i + 2]
    count = count + 1
  end
end
local bytes = 2 + fbytes
if count > 1 then bytes = bytes + count - 1 end
if bytes > tonumber(ARGV[3]) then return {'too_large'} end
if not merge then redis.call('DEL', KEYS[1]) end
for i = 9, #ARGV, 3 do
  if merge and ARGV[i + 2] == 'null' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  end
end
version = redis.call('HINCRBY', KEYS[2], 'version', 1)
redis.call('HSET', KEYS[2], 'updated_at', ARGV[4], 'bytes', bytes, 'fbytes', fbytes)
redis.call('PERSIST', KEYS[2]) -- the object has data now: its meta stays (publish.lua)
local json = data_json(KEYS[1])
local off = redis.call('HINCRBY', KEYS[2], 'off', 1)
local head = ARGV[5] .. version .. ',"a":' .. ARGV[4] .. ',"o":' .. off .. ',"h":"' ..
  epoch(KEYS[2], KEYS[4]) .. '"'
local msg = head .. '}\n' .. json
keep(KEYS[2], KEYS[4], msg, head .. ',"x":true}\n', off, tonumber(ARGV[6]), ARGV[7],
     tonumber(ARGV[8]))
redis.call('PUBLISH', KEYS[3], msg)
return {'ok', version, ARGV[4], json}
