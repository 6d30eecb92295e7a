// The Redis Cluster harness itself (lib/rediscluster.mjs), before any objcastd runs on it:
// the topology it promises, key slots as Redis computes them, the redirections its client
// follows, and the topology changes the cluster tests make (a slot moved by hand, a reshard
// by redis-cli, a master killed and replaced by its replica). Needs redis-server and
// redis-cli (redis-tools), no objcastd.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';

import {
    SLOTS, crc16, keySlot, objcastKey, objectOnMaster, parseClusterNodes, parseClusterShards, parseInfo,
    startRedisCluster,
} from '../lib/rediscluster.mjs';
import { RedisReplyError, pairs } from '../lib/redis.mjs';
import { alive, prng, sleep } from '../lib/server.mjs';

/* Resolves the error p rejects with; fails when it resolves. */
async function rejection(p, what) {
    try {
        const v = await p;
        assert.fail(`${what}: expected an error reply, got ${JSON.stringify(v)}`);
    } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        return e;
    }
    return null;
}

test('startRedisCluster: 3 masters with one attached replica each, all 16384 slots covered; teardown kills it all', async (t) => {
    const started = Date.now();
    const c = await startRedisCluster({ t });
    const upMs = Date.now() - started;
    t.diagnostic(`cluster up in ${upMs} ms`);
    assert.ok(upMs < 15000, `up in ${upMs} ms`);

    assert.equal(c.nodes.length, 6);
    assert.equal(new Set(c.nodes.map((n) => n.port)).size, 6, 'six ports');
    const masters = c.nodes.filter((n) => n.role === 'master');
    const replicas = c.nodes.filter((n) => n.role === 'replica');
    assert.equal(masters.length, 3);
    assert.equal(replicas.length, 3);
    assert.deepStrictEqual(replicas.map((r) => r.masterId).sort(), masters.map((m) => m.id).sort(),
        'every master has exactly one replica');
    for (const n of c.nodes) {
        assert.ok(alive(n.pid), `node ${n.port} runs`);
        assert.match(n.id, /^[0-9a-f]{40}$/);
    }
    assert.equal(c.url, `redis://${masters.map((m) => `127.0.0.1:${m.port}`).join(',')}`);

    // every node, asked itself, tells the same story
    for (const n of c.nodes) {
        const info = parseInfo(await c.nodeCommand(n.port, 'CLUSTER', 'INFO'));
        assert.equal(info.cluster_state, 'ok', `${n.port} cluster_state`);
        assert.equal(Number(info.cluster_slots_assigned), SLOTS);
        assert.equal(Number(info.cluster_slots_ok), SLOTS);
        assert.equal(Number(info.cluster_known_nodes), 6);
        assert.equal(Number(info.cluster_size), 3, 'masters serving slots');

        const shards = parseClusterShards(await c.nodeCommand(n.port, 'CLUSTER', 'SHARDS'));
        assert.equal(shards.length, 3, `${n.port}: CLUSTER SHARDS has 3 shards`);
        let covered = 0;
        for (const s of shards) {
            for (const [a, b] of s.slots) covered += b - a + 1;
            assert.deepStrictEqual(s.nodes.map((x) => x.role).sort(), ['master', 'replica']);
            for (const x of s.nodes) assert.equal(x.health, 'online', `${n.port} sees ${x.port} online`);
            const m = s.nodes.find((x) => x.role === 'master');
            const r = s.nodes.find((x) => x.role === 'replica');
            assert.equal(c.nodeByPort(m.port).id, m.id);
            assert.equal(c.nodeByPort(r.port).masterId, m.id, `${r.port} replicates ${m.port}`);
        }
        assert.equal(covered, SLOTS, `${n.port}: the shards cover every slot once`);

        const repl = parseInfo(await c.nodeCommand(n.port, 'INFO', 'replication'));
        if (n.role === 'replica') {
            assert.equal(repl.role, 'slave');
            assert.equal(repl.master_link_status, 'up', `${n.port}'s link to its master`);
            assert.equal(Number(repl.master_port), c.nodeById(n.masterId).port);
        } else {
            assert.equal(repl.role, 'master');
            assert.equal(Number(repl.connected_slaves), 1);
            assert.match(repl.slave0, /state=online/);
        }
    }
    const owners = await c.slotOwners();
    assert.deepStrictEqual([...new Set(owners)].sort(), masters.map((m) => m.port).sort());
    const chk = await c.check();
    assert.ok(chk.ok, `redis-cli --cluster check:\n${chk.output}`);

    await c.teardown();
    for (const n of c.nodes) assert.ok(!alive(n.pid), `node ${n.port} (pid ${n.pid}) is gone`);
    assert.ok(!existsSync(c.dir), 'the temp dir is removed');
});

test('keySlot agrees with CLUSTER KEYSLOT, hash tags included', async (t) => {
    assert.equal(crc16(Buffer.from('123456789')), 0x31c3, 'the CRC16-XMODEM check value');
    const c = await startRedisCluster({ t });
    const keys = [
        'foo', 'bar', 'somekey', '', 'a', '123456789',
        '{user1000}.following', '{user1000}.followers', 'x{user1000}y',
        'foo{}{bar}', '{}', '{}foo', 'foo{{bar}}zap', 'foo{bar}{zap}', '{{}}', '}{', '}foo{bar}',
        '{', '}', 'abc{', 'abc{def', '{abc', 'a}b', '{a', 'x{y}', 'x{y',
        objcastKey('987', 'L1', 'data'), objcastKey('987', 'L1', 'ch'), objcastKey('acme', 'eng:board', 'meta'),
        objcastKey('a{b', 'c}d', 'presence'), objcastKey('ws', 'ünï cödé', 'data'),
        'ü{é}', '{日本}語', Buffer.from([0x7b, 0xff, 0x00, 0x7d, 0x41]), Buffer.from([0xfe, 0x7b, 0x7d]),
    ];
    const rand = prng(20240607);
    for (let i = 0; i < 200; i++) {
        const len = Math.floor(rand() * 12);
        let k = '';
        for (let j = 0; j < len; j++) k += 'ab{}:%x'[Math.floor(rand() * 7)];
        keys.push(k);
    }
    for (const k of keys) {
        const want = await c.command('CLUSTER', 'KEYSLOT', k);
        assert.equal(keySlot(k), want, `keySlot(${JSON.stringify(Buffer.isBuffer(k) ? k.toString('hex') : k)})`);
    }
    assert.equal(keySlot('foo'), 12182);
    assert.equal(keySlot('{user1000}.following'), keySlot('{user1000}.followers'));
    assert.notEqual(keySlot('foo{}{bar}'), keySlot('bar'), 'an empty tag hashes the whole key, not the next tag');
    assert.equal(keySlot('foo{}{bar}'), crc16(Buffer.from('foo{}{bar}')) % SLOTS);
    assert.equal(keySlot('foo{{bar}}zap'), keySlot('{bar'), 'the tag ends at the first }');
    assert.equal(keySlot('abc{def'), keySlot('abc{def'), 'no } after {: the whole key');

    // objcast's keys: one slot per object, the tag is the encoded (workspace, object)
    assert.equal(objcastKey('987', 'L1', 'data'), 'objcast:{987:L1}:data');
    assert.equal(objcastKey('acme', 'eng:board', 'data'), 'objcast:{acme:eng%3Aboard}:data');
    assert.equal(objcastKey('acme:eng', 'board', 'data'), 'objcast:{acme%3Aeng:board}:data');
    for (const suffix of ['ch', 'meta', 'presence']) {
        assert.equal(keySlot(objcastKey('987', 'L1', suffix)), keySlot(objcastKey('987', 'L1', 'data')));
    }
    for (const m of await c.masters()) {
        const ids = [await objectOnMaster(c, m.port), await objectOnMaster(c, m.port, '987', { nth: 1 })];
        assert.notEqual(ids[0], ids[1]);
        for (const id of ids) {
            const key = objcastKey('987', id, 'data');
            assert.equal((await c.masterOf(await c.command('CLUSTER', 'KEYSLOT', key))).port, m.port,
                `${key} lives on ${m.port}`);
        }
    }
});

test('command() follows MOVED from a node that does not own the key; replicas redirect too', async (t) => {
    const c = await startRedisCluster({ t });
    const key = objcastKey('987', 'L1', 'data');
    const slot = keySlot(key);
    const owner = await c.masterOf(slot);
    const other = (await c.masters()).find((m) => m !== owner);

    const e = await rejection(c.nodeCommand(other.port, 'HSET', key, 'f', '1'), 'HSET on a non-owner');
    assert.ok(e instanceof RedisReplyError);
    assert.equal(e.message, `MOVED ${slot} 127.0.0.1:${owner.port}`);

    const before = c.redirects.moved;
    assert.equal(await c.commandVia(other.port, 'HSET', key, 'f', '"v"', 'g', '2'), 2);
    assert.equal(c.redirects.moved, before + 1, 'one MOVED followed');
    assert.deepStrictEqual(pairs(await c.nodeCommand(owner.port, 'HGETALL', key)), { f: '"v"', g: '2' },
        'the write landed on the owner');
    assert.deepStrictEqual(pairs(await c.command('HGETALL', key)), { f: '"v"', g: '2' });

    // a replica answers reads only after READONLY; without it, it sends the client to its master
    const replica = c.nodes.find((n) => n.masterId === owner.id);
    const r = await rejection(c.nodeCommand(replica.port, 'GET', key), 'GET on a replica');
    assert.equal(r.code, 'MOVED');
    assert.equal(r.message, `MOVED ${slot} 127.0.0.1:${owner.port}`);
    assert.equal(await c.commandVia(replica.port, 'HGET', key, 'g'), '2');

    // scripts route by their first key
    assert.equal(await c.command('EVAL', "return redis.call('HGET', KEYS[1], 'f')", 1, key), '"v"');
    assert.equal(await c.command('PING'), 'PONG');
});

test('moveSlot: a slot with keys moves to another master while a writer keeps using it; ASK during, MOVED after', async (t) => {
    const c = await startRedisCluster({ t });
    const tag = '{mv}';
    const slot = keySlot(tag);
    const keys = Array.from({ length: 250 }, (_, i) => `${tag}:k${i}`);
    for (const k of keys) await c.command('SET', k, `v-${k}`);
    await c.command('SET', `${tag}:counter`, 0);
    const source = await c.masterOf(slot);
    const target = (await c.masters()).find((m) => m !== source);
    // the object's channel is served by the slot's master (sharded pub/sub)
    const sub = await c.ssubscribe(`${tag}:ch`);
    assert.equal(sub.port, source.port);
    assert.equal(await c.command('SPUBLISH', `${tag}:ch`, 'm1'), 1, 'one subscriber');
    assert.equal(await sub.next(), 'm1');

    // a writer that never stops while the slot moves: every INCR acknowledged must count
    let stop = false;
    let acked = 0;
    const writer = (async () => {
        while (!stop) {
            await c.command('INCR', `${tag}:counter`);
            acked++;
            await sleep(1);
        }
    })();

    const asksBefore = c.redirects.ask;
    let seen = null;
    const res = await c.moveSlot(slot, target.id, {
        batch: 100,
        during: async ({ source: s, target: d, moved }) => {
            assert.equal(s, source);
            assert.equal(d, target);
            assert.equal(moved, 100, 'the hook runs after the first batch');
            // a key that is not (or no longer) on the source: ASK, towards the target
            const ask = await rejection(c.nodeCommand(source.port, 'GET', `${tag}:new`),
                'GET of a new key on the source');
            assert.equal(ask.message, `ASK ${slot} 127.0.0.1:${target.port}`);
            // the importing target refuses it without ASKING, and sends the client back
            const moved2 = await rejection(c.nodeCommand(target.port, 'GET', `${tag}:new`),
                'GET on the target without ASKING');
            assert.equal(moved2.message, `MOVED ${slot} 127.0.0.1:${source.port}`);
            // the client follows the ASK: the new key is created on the target
            assert.equal(await c.command('SET', `${tag}:new`, 'during'), 'OK');
            // and reads keys wherever they are at the moment
            for (const k of keys.slice(0, 5).concat(keys.slice(-5))) assert.equal(await c.command('GET', k), `v-${k}`);
            seen = { source: await c.nodeCommand(source.port, 'CLUSTER', 'COUNTKEYSINSLOT', slot),
                target: await c.nodeCommand(target.port, 'CLUSTER', 'COUNTKEYSINSLOT', slot) };
        },
    });
    stop = true;
    await writer;
    assert.ok(seen, 'the hook ran');
    assert.equal(seen.target, 101, 'the first batch and the new key were on the target during the move');
    assert.equal(seen.source, 151, 'the rest (and the counter) still on the source');
    assert.ok(c.redirects.ask > asksBefore, 'the client met ASK');
    assert.equal(res.keys, 251, '250 keys and the counter migrated');
    assert.equal(res.source, source);
    assert.equal(res.target, target);
    t.diagnostic(`moveSlot of ${res.keys} keys took ${res.ms} ms, ${acked} INCRs meanwhile`);

    assert.equal((await c.masterOf(slot)).port, target.port);
    for (const n of c.nodes) {
        const owners = await c.nodeCommand(n.port, 'CLUSTER', 'SLOTS');
        const range = owners.find(([a, b]) => a <= slot && slot <= b);
        assert.equal(Number(range[2][1]), target.port, `${n.port} knows the new owner`);
    }
    assert.equal(await c.nodeCommand(target.port, 'CLUSTER', 'COUNTKEYSINSLOT', slot), 252);
    assert.equal(await c.nodeCommand(source.port, 'CLUSTER', 'COUNTKEYSINSLOT', slot), 0);
    for (const k of keys) assert.equal(await c.command('GET', k), `v-${k}`);
    assert.equal(await c.command('GET', `${tag}:new`), 'during');
    assert.equal(Number(await c.command('GET', `${tag}:counter`)), acked, 'no INCR lost or doubled');

    const after = await rejection(c.nodeCommand(source.port, 'GET', keys[0]), 'GET on the old owner');
    assert.equal(after.message, `MOVED ${slot} 127.0.0.1:${target.port}`);

    // the old owner ended the shard subscription when the slot left it; the channel now
    // lives on the target
    assert.ok(await sub.waitUnsubscribed(), 'sunsubscribe from the old owner');
    await assert.rejects(sub.next(200), /ended/);
    const sub2 = await c.ssubscribe(`${tag}:ch`);
    assert.equal(sub2.port, target.port);
    assert.equal(await c.command('SPUBLISH', `${tag}:ch`, 'm2'), 1);
    assert.equal(await sub2.next(), 'm2');
    const chk = await c.check();
    assert.ok(chk.ok, `redis-cli --cluster check:\n${chk.output}`);

    // and back, empty-handed hook included: the slot is whole again on its first owner
    await c.moveSlot(slot, source.id, { batch: 7 });
    assert.equal((await c.masterOf(slot)).port, source.port);
    assert.equal(await c.nodeCommand(source.port, 'CLUSTER', 'COUNTKEYSINSLOT', slot), 252);
});

test('reshardWithCli: redis-cli moves slots with their keys; the client keeps finding them', async (t) => {
    const c = await startRedisCluster({ t });
    const [from, to] = await c.masters();
    const keys = Array.from({ length: 300 }, (_, i) => `rk:${i}`);
    for (const k of keys) await c.command('SET', k, k);
    const count = (owners, port) => owners.filter((p) => p === port).length;
    const before = await c.slotOwners();
    const res = await c.reshardWithCli(from.id, to.id, 200);
    t.diagnostic(`redis-cli --cluster reshard of 200 slots took ${res.ms} ms`);
    const after = await c.slotOwners();
    assert.equal(count(after, from.port), count(before, from.port) - 200);
    assert.equal(count(after, to.port), count(before, to.port) + 200);
    const moved = keys.filter((k) => before[keySlot(k)] === from.port && after[keySlot(k)] === to.port);
    assert.ok(moved.length > 0, 'some of the keys were in the slots that moved');
    for (const k of keys) assert.equal(await c.command('GET', k), k);
    const movedBefore = c.redirects.moved;
    assert.equal(await c.commandVia(from.port, 'GET', moved[0]), moved[0], 'asked at the old owner');
    assert.equal(c.redirects.moved, movedBefore + 1, 'the old owner sends the client on with MOVED');
    assert.ok((await c.check()).ok);
});

test('killMaster + waitFailover: the replica takes over within node-timeout + 5 s with what was written before', async (t) => {
    const c = await startRedisCluster({ t, nodeTimeout: 2000 });
    const [m0] = await c.masters();
    const obj = await objectOnMaster(c, m0.port);
    const key = objcastKey('987', obj, 'data');
    const slot = keySlot(key);
    await c.command('HSET', key, 'title', '"before"', 'n', '1');
    await c.command('HSET', objcastKey('987', obj, 'meta'), 'version', '7');
    assert.equal(await c.keyCommand(key, 'WAIT', 1, 1000), 1, 'the replica acknowledged the writes');

    const replica = c.nodes.find((n) => n.masterId === m0.id);
    const sub = await c.ssubscribe(objcastKey('987', obj, 'ch'));
    const killed = await c.killMaster(slot);
    assert.equal(killed, m0);
    assert.ok(!killed.running());
    assert.ok(!alive(killed.pid), 'kill -9');

    const ms = await c.waitFailover(slot);
    t.diagnostic(`failover took ${ms} ms with cluster-node-timeout ${c.nodeTimeout}`);
    assert.ok(ms < c.nodeTimeout + 5000, `failover in ${ms} ms`);
    const now = await c.masterOf(slot);
    assert.equal(now, replica, 'the old master\'s replica owns its slots now');
    assert.equal(now.role, 'master');
    for (const n of c.nodes.filter((x) => x.running())) {
        assert.equal(parseInfo(await c.nodeCommand(n.port, 'CLUSTER', 'INFO')).cluster_state, 'ok');
        const dead = parseClusterNodes(await c.nodeCommand(n.port, 'CLUSTER', 'NODES')).find((x) => x.id === m0.id);
        assert.ok(dead.flags.includes('fail'), `${n.port} flags the dead master as failed`);
    }
    assert.deepStrictEqual(pairs(await c.command('HGETALL', key)), { title: '"before"', n: '1' });
    assert.equal(await c.command('HGET', objcastKey('987', obj, 'meta'), 'version'), '7');
    assert.equal(await c.command('HSET', key, 'after', '1'), 1, 'the new master takes writes');
    assert.ok(sub.closed, 'the subscription died with its node');
    const sub2 = await c.ssubscribe(objcastKey('987', obj, 'ch'));
    assert.equal(sub2.port, replica.port, 'the channel moved with the slot');
    assert.equal(await c.command('SPUBLISH', objcastKey('987', obj, 'ch'), 'hi'), 1);
    assert.equal(await sub2.next(), 'hi');

    // back from the dead, the old master rejoins as a replica of its successor
    await c.restartNode(killed);
    assert.ok(killed.running());
    assert.equal(killed.role, 'replica');
    assert.equal(killed.masterId, replica.id);
    assert.equal(await c.keyCommand(key, 'WAIT', 1, 2000), 1, 'the restarted node replicates');
});
