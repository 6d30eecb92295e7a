-- epoch_renew.lua: begins a new epoch for an object whose order went back in its epoch:
-- Redis lost writes (a failover before the replica had them), so offsets of the lost
-- messages would be given again to other messages. A client that received one of the lost
-- ones must not take the new ones for them: with another epoch its resume answers
-- recovered:false. Done only if the epoch is still the one that went back, so several
-- instances noticing it make one new epoch.
-- KEYS[1] <prefix>:{ws:obj}:meta, KEYS[2] its :hist
-- ARGV[1] the epoch whose order went back
-- Returns 1 when it made a new epoch, 0 when the epoch had changed already.
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'epoch', t[1] .. string.format('%06d', tonumber(t[2])), 'hbytes', 0)
redis.call('DEL', KEYS[2])
return 1
