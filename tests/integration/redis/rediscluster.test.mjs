// objcastd on a real Redis Cluster (redis_cluster yes; PROTOCOL.md section 9): where its keys
// and sharded channels live, a master killed with kill -9 (its replica takes over, the
// instances follow, every acknowledged save is still there), a slot moved while messages
// flow, and an instance killed (its users leave within presence_ttl, exactly once). The
// protocol scenarios also run on a cluster (lib/engines.mjs, engine `cluster`).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { pairs, startCluster, waitReady } from '../lib/redis.mjs';
import { objcastKey, objectOnMaster, startRedisCluster } from '../lib/rediscluster.mjs';
import { sleep, waitFor } from '../lib/server.mjs';
import {
    broadcast, collect, expectNext, expectSilence, getData, getParticipants, join, open, ovMessage, presence,
    saveData, subscribe, user,
} from '../lib/proto.mjs';

const TTL = 3; // presence_ttl of every clustered instance (lib/redis.mjs clusterConf)
const CONF = { redis_cluster: 'yes' };

async function clusterWithInstances(t, { instances = 2, conf = {}, nodeTimeout = 2000 } = {}) {
    const redis = await startRedisCluster({ t, nodeTimeout });
    const nodes = await startCluster({ t, instances, redis, conf: { ...CONF, ...conf } });
    for (const n of nodes) await waitReady(n);
    return { redis, nodes };
}

/* The next message of c that is not a presence event. */
async function nextNonPresence(c, timeoutMs = 3000) {
    return untilType(c, (m) => !m.type.startsWith('ovice_participant_'), timeoutMs);
}

/* The next message of c with pred(m), dropping the others. */
async function untilType(c, pred, timeoutMs = 3000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const m = await c.next(undefined, Math.max(1, end - Date.now()));
        if (pred(m)) return m;
    }
}

/* The reply of c with ref (errors included), dropping what comes before it. */
const untilRef = (c, ref, timeoutMs = 3000) => untilType(c, (m) => m.ref === ref, timeoutMs);

test('objects on every master: keys and sharded channels where their slots are, messages across instances', async (t) => {
    const { redis, nodes: [A, B] } = await clusterWithInstances(t);
    const masters = await redis.masters();
    assert.equal(masters.length, 3);
    const ids = [];
    for (const m of masters) ids.push(await objectOnMaster(redis, m.port));
    const a = await open(A, 'a');
    const b = await open(B, 'b');
    for (const id of ids) {
        await subscribe(b, id);
        await join(a, id);
        await expectNext(b, presence('joined', a, b, { objectId: id }));
        broadcast(a, 'hello', { id }, { objectId: id });
        await expectNext(b, ovMessage(a, 'hello', { id }, { objectId: id }));
        saveData(a, { id }, { objectId: id, ref: `s-${id}` });
        assert.equal((await nextNonPresence(a)).type, 'ovice_data_saved_success');
        await expectNext(b, { type: 'ovice_shared_data', objectId: id, version: 1, payload: { id } });
    }
    for (const [i, id] of ids.entries()) {
        // the keys are on the master of the object's slot (nodeCommand: no redirect followed)
        const port = masters[i].port;
        assert.equal(await redis.nodeCommand(port, 'HGET', objcastKey('987', id, 'meta'), 'version'), '1');
        assert.ok(`a|${A.instance}` in pairs(await redis.nodeCommand(port, 'HGETALL', objcastKey('987', id, 'presence'))));
        // both instances listen to the object's sharded channel on that master
        const numsub = await redis.nodeCommand(port, 'PUBSUB', 'SHARDNUMSUB', objcastKey('987', id, 'ch'));
        assert.deepStrictEqual(numsub, [objcastKey('987', id, 'ch'), 2]);
        assert.deepStrictEqual(await redis.nodeCommand(port, 'PUBSUB', 'CHANNELS'), [], 'no plain channel');
    }
    const list = await getParticipants(b, { objectId: ids[2] });
    assert.deepStrictEqual(list.payload.map((p) => [p.id, p.status]).sort(), [['a', 'joined'], ['b', 'subscribed']]);
});

test('kill -9 of the master of an object: service back within node-timeout + 5 s, every acknowledged save kept', async (t) => {
    const nodeTimeout = 2000;
    const redis = await startRedisCluster({ t, nodeTimeout });
    // A confirms a save once a replica has it too (redis_wait_replicas 1); B does not wait
    const [A, B] = await startCluster({ t, instances: 2, redis, conf: CONF, confs: [{ redis_wait_replicas: 1 }, {}] });
    for (const n of [A, B]) await waitReady(n);
    const victim = (await redis.masters())[0];
    const id = await objectOnMaster(redis, victim.port);
    const a = await open(A, user('a'));
    const b = await open(B, 'b');
    await subscribe(b, id);
    await join(a, id);
    await expectNext(b, presence('joined', a, b, { objectId: id }));
    const keys = {};
    for (let v = 1; v <= 20; v++) {
        saveData(a, { [`k${v}`]: v }, { objectId: id, ref: `s${v}`, merge: true });
        const m = await untilRef(a, `s${v}`);
        assert.equal(m.type, 'ovice_data_saved_success', JSON.stringify(m));
        keys[`k${v}`] = v;
    }

    const slot = redis.keySlot(objcastKey('987', id, 'data'));
    await redis.killMaster(slot);
    const killedAt = Date.now();
    // service: a save of B's and a broadcast from B to A go through again
    let back = null;
    for (let i = 0; !back && Date.now() - killedAt < nodeTimeout + 15000; i++) {
        saveData(b, { probe: i }, { objectId: id, ref: `q${i}`, merge: true });
        const m = await untilRef(b, `q${i}`, 4000).catch(() => null);
        if (m?.type === 'ovice_data_saved_success') back = Date.now();
        else await sleep(100);
    }
    assert.ok(back, 'saves work again');
    broadcast(b, 'after', 1, { objectId: id });
    await untilType(a, (m) => m.type === 'ovice_message' && m.payload?.event === 'after', 5000);
    const took = Date.now() - killedAt;
    t.diagnostic(`saves and broadcasts back ${took} ms after kill -9 of the master (cluster-node-timeout ${nodeTimeout} ms)`);
    assert.ok(took <= nodeTimeout + 5000, `saves and broadcasts back ${took} ms after the kill (at most ${nodeTimeout + 5000})`);
    await waitFor(async () => (await getParticipants(b, { objectId: id })).payload.some((p) => p.id === 'a' && p.status === 'joined'),
        5000, 'a joined for b');

    // every save A had confirmed is on the new master
    const data = await getData(b, { objectId: id });
    for (const [k, v] of Object.entries(keys)) assert.equal(data.payload[k], v, `${k} kept: ${JSON.stringify(data.payload)}`);
    // with no replica left, A confirms nothing (never a false success) until the old master
    // is back as a replica of the new one
    saveData(a, { lonely: 1 }, { objectId: id, ref: 'w1', merge: true });
    const refused = await untilRef(a, 'w1', 5000);
    assert.equal(refused.type, 'objcast_error', JSON.stringify(refused));
    assert.equal(refused.payload.code, 'unavailable');
    await redis.restartNode(victim);
    await waitFor(async () => {
        saveData(a, { again: 1 }, { objectId: id, ref: 'w2', merge: true });
        return (await untilRef(a, 'w2', 5000)).type === 'ovice_data_saved_success';
    }, 20000, 'A confirms saves again once a replica is back', 200);
});

test('kill -9 of an instance on a cluster: its users on objects of every master leave within presence_ttl + 2 s, once', async (t) => {
    const { redis, nodes: [A, B, C] } = await clusterWithInstances(t, { instances: 3 });
    const ids = [];
    for (const m of await redis.masters()) ids.push(await objectOnMaster(redis, m.port));
    const v = await open(A, 'v');
    const w = await open(B, 'w');
    const x = await open(C, 'x');
    for (const id of ids) await subscribe(w, id);
    for (const id of ids) await subscribe(x, id);
    for (const id of ids) await join(v, id);
    await collect(w, 2 * ids.length, 10000); // x subscribed, v joined on each
    await collect(x, ids.length, 10000);
    await expectSilence([w, x], 300);

    const killedAt = Date.now();
    await A.stop('SIGKILL');
    for (const c of [w, x]) {
        const msgs = await collect(c, ids.length, Math.max(1, killedAt + (TTL + 2) * 1000 - Date.now()));
        assert.deepStrictEqual(msgs.map((m) => m.objectId).sort(), [...ids].sort());
        for (const m of msgs) assert.deepStrictEqual(m, presence('unsubscribed', v, c, { objectId: m.objectId }));
    }
    await expectSilence([w, x], 1000);
    for (const id of ids) {
        const fields = Object.keys(pairs(await redis.command('HGETALL', objcastKey('987', id, 'presence'))));
        assert.ok(!fields.some((f) => f.endsWith(`|${A.instance}`)), `${id}: ${fields}`);
    }
});
test('a slot moved to another master while messages flow: none lost, none twice, order kept', async (t) => {
    const { redis, nodes: [A, B] } = await clusterWithInstances(t);
    const masters = await redis.masters();
    const id = await objectOnMaster(redis, masters[0].port);
    const slot = redis.keySlot(objcastKey('987', id, 'data'));
    const s = await open(A, 's');
    const ra = await open(A, 'ra');
    const rb = await open(B, 'rb');
    for (const c of [ra, rb]) await subscribe(c, id);
    await join(s, id);
    await collect(ra, 2); // rb subscribed, s joined
    await collect(rb, 1);
    saveData(s, { n: 0 }, { objectId: id, ref: 's0' });
    await untilRef(s, 's0');
    await collect(ra, 1);
    await collect(rb, 1);

    // one message every 2 ms while the slot and its keys move
    const N = 600;
    const errors = [];
    const sending = (async () => {
        for (let i = 1; i <= N; i++) {
            broadcast(s, 'seq', i, { objectId: id, ref: `b${i}` });
            await sleep(2);
        }
    })();
    await sleep(200);
    await redis.moveSlot(slot, masters[1].id, { batch: 1 });
    t.diagnostic(`slot ${slot} moved from port ${masters[0].port} to ${masters[1].port}`);
    await sending;
    // errors answer the sender (a broadcast it cannot send is unavailable, never silently lost)
    for (;;) {
        const m = await s.next(undefined, 300).catch(() => null);
        if (!m) break;
        if (m.type === 'objcast_error') errors.push(m.ref);
    }
    assert.deepStrictEqual(errors, [], 'no broadcast refused');
    for (const c of [ra, rb]) {
        const got = [];
        while (got.length < N) {
            const m = await c.next(undefined, 5000).catch(() => null);
            if (!m) break;
            if (m.type === 'ovice_message') got.push(m.payload.message);
        }
        const missing = Array.from({ length: N }, (_, i) => i + 1).filter((i) => !got.includes(i));
        assert.deepStrictEqual(missing, [], `${c.claims.sub}: messages lost`);
        assert.deepStrictEqual(got, Array.from({ length: N }, (_, i) => i + 1), `${c.claims.sub}: every message once, in order`);
    }
    await expectSilence([ra, rb], 300);
    // the object lives on the new master, and saves work there
    assert.equal((await redis.masterOf(slot)).port, masters[1].port);
    saveData(s, { n: 1 }, { objectId: id, ref: 's1' });
    assert.equal((await untilRef(s, 's1')).type, 'ovice_data_saved_success');
    assert.equal(await redis.nodeCommand(masters[1].port, 'HGET', objcastKey('987', id, 'meta'), 'version'), '2');
});
