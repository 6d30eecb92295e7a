-- house.lua: an instance's heartbeat, once a second (engine_redis_house.c). It pushes the
-- instance's expiry forward, gives it a new generation when it needs one, declares the
-- instances whose heartbeat lapsed dead, and hands out the reaping of dead generations
-- (presence_reap.lua over a generation's object index), one job per call.
-- KEYS[1] <prefix>:{instances}:beats  zset  instance -> expiry (ms, Redis's clock)
-- KEYS[2] <prefix>:{instances}:gens   hash  instance -> its current generation
-- KEYS[3] <prefix>:{instances}:reap   zset  job "<instance>|<generation>" (or with "|r",
--                                           queued by the instance itself) -> its lease
--                                           ends (ms): 0 is free, a job is done when gone
-- ARGV[1] this instance
-- ARGV[2] the generation it has, "0" for none (a new process)
-- ARGV[3] "1": it needs a new one (its Redis connections were down, or a write of its was
--         refused as dead)
-- ARGV[4] presence_ttl (ms): the expiry it gets, and how long its own old generation waits
--         before it is reaped (meanwhile it stores its entries again under the new one)
-- ARGV[5] "1": it may declare others dead (not right after an outage: give them time to
--         come back and beat)
-- ARGV[6] a job's lease (ms)
-- ARGV[7] "1": it wants a job
-- Generations are Redis's clock in ms when they start, and grow for each instance.
-- Returns {generation, "1" when it is new else "0", job or ""}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, mine = ARGV[1], ARGV[2]
local ttl = tonumber(ARGV[4])
local score = redis.call('ZSCORE', KEYS[1], id)
local cur = redis.call('HGET', KEYS[2], id)
local gen, fresh = mine, '0'
if ARGV[3] == '1' or mine == '0' or not score or tonumber(score) < now or cur ~= mine then
  local g = now
  if cur and tonumber(cur) >= g then g = tonumber(cur) + 1 end
  gen, fresh = string.format('%d', g), '1'
  if mine ~= '0' then
    redis.call('ZADD', KEYS[3], string.format('%d', now + ttl), id .. '|' .. mine .. '|r')
  end
  if cur and cur ~= mine then redis.call('ZADD', KEYS[3], 'NX', 0, id .. '|' .. cur) end
  redis.call('HSET', KEYS[2], id, gen)
end
redis.call('ZADD', KEYS[1], string.format('%d', now + ttl), id)
if ARGV[5] == '1' then
  local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, 16)
  for _, other in ipairs(lapsed) do
    redis.call('ZREM', KEYS[1], other)
    local g = redis.call('HGET', KEYS[2], other)
    redis.call('HDEL', KEYS[2], other)
    if g then redis.call('ZADD', KEYS[3], 'NX', 0, other .. '|' .. g) end
  end
end
local job = ''
if ARGV[7] == '1' then
  local free = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1)
  if free[1] then
    job = free[1]
    redis.call('ZADD', KEYS[3], string.format('%d', now + tonumber(ARGV[6])), job)
  end
end
return {gen, fresh, job}
