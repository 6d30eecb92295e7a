-- publish.lua: gives a broadcast or emit its place in the object's order, keeps it in the
-- object's history and publishes it, atomically. With the history, an instance that missed
-- messages of the object (its subscription moved with a resharding, or was down) reads
-- them back by their offsets, and a client that reconnects gets what it missed
-- (history_since.lua).
-- KEYS[1] <prefix>:{ws:obj}:meta  hash  fields off (the object's last offset) and epoch
-- KEYS[2] <prefix>:{ws:obj}:hist  list  the last messages, oldest first
-- KEYS[3] <prefix>:{ws:obj}:ch    the object's channel
-- KEYS[4] <prefix>:{ws:obj}:presence  (only looked at: whether anyone is on the object)
-- ARGV[1] message head, up to "o": (src/chanmsg.h); the script appends the offset and
--         ,"h": and the epoch
-- ARGV[2] message tail, from the } after the epoch (the body follows the newline)
-- ARGV[3] history_size: messages kept (0: none), at least; up to a quarter more
-- ARGV[4] history_ttl (ms): the history goes when nothing was added for about that long
--         (counted from one of its last 16 messages)
-- ARGV[5] history_max_bytes: bytes of messages kept (keep() below)
-- Returns the offset.
-- The meta stays while the object has saved data or presence entries (data_save.lua and
-- presence_set.lua make it persistent); otherwise it expires like the history, so an object
-- nobody uses costs nothing after history_ttl: its next message begins a new epoch.
-- The epoch names the object's order: it is made with the first offset (TIME, so a meta
-- lost with Redis's data gets another one) and a history of another epoch goes with it.
-- epoch() is the same function in data_save.lua and presence_set.lua (see data_json in
-- data_get.lua for why each script is whole).
local function epoch(meta, hist)
  local ep = redis.call('HGET', meta, 'epoch')
  if ep then return ep end
  local t = redis.call('TIME')
  ep = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('HSET', meta, 'epoch', ep)
  redis.call('DEL', hist)
  return ep
end
-- keep() is the same function in publish.lua and data_save.lua: the history holds the last
-- `size` messages (trimmed once it is a quarter over, rather than on every message) and at
-- most `maxb` bytes of them (meta field hbytes counts them; the oldest go first), so an
-- object's history costs Redis at most maxb bytes; a message longer than maxb alone is kept
-- as its mark (its header with "x":true, no body), so the offsets stay consecutive and a
-- reader knows it is missing. Its expiry is pushed back on every 16th offset (and when it
-- is new): two commands fewer on the hot path for a little slack.
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
local off = redis.call('HINCRBY', KEYS[1], 'off', 1)
local head = ARGV[1] .. off .. ',"h":"' .. epoch(KEYS[1], KEYS[2]) .. '"'
local msg = head .. ARGV[2]
keep(KEYS[1], KEYS[2], msg, head .. ',"x":true}\n', off, tonumber(ARGV[3]), ARGV[4],
     tonumber(ARGV[5]))
if (off == 1 or off % 16 == 0) and redis.call('HEXISTS', KEYS[1], 'version') == 0 and
    redis.call('EXISTS', KEYS[4]) == 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
redis.call('PUBLISH', KEYS[3], msg)
return off
