// Failures with engine redis (docs/operations.md "Failures", DESIGN.md): an instance killed
// with SIGKILL (its users disappear within presence_ttl, exactly once), an instance shut
// down with SIGTERM, Redis unreachable at start, Redis lost and restarted (503, unavailable,
// then recovery with data intact and presence re-registered), everything restarted.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { freePort, pairs, startCluster, startRedis, waitReady } from '../lib/redis.mjs';
import { httpGet, sleep, startServer, waitFor } from '../lib/server.mjs';
import {
    OBJ, broadcast, collect, emit, expectError, expectNext, expectSilence, expectStored, join, open, ovMessage,
    participant, presence, saveData, sortById, subscribe, subscribeAll, user,
} from '../lib/proto.mjs';

const TTL = 3; // presence_ttl of every clustered instance (lib/redis.mjs clusterConf)

/* Fields of the object's presence hash and of its generations: {hash: {field: json},
 * gen: {member: generation}}. */
async function presenceKeys(redis, okey = '987:L1') {
    const hash = pairs(await redis.command('HGETALL', `objcast:{${okey}}:presence`));
    const gen = pairs(await redis.command('HGETALL', `objcast:{${okey}}:presence:gen`));
    return { hash, gen };
}

/* The current generation of each live instance: {instance: generation}. */
const generations = async (redis) => pairs(await redis.command('HGETALL', 'objcast:{instances}:gens'));

const sortEvents = (msgs) => [...msgs].sort((x, y) => String(x.payload?.id).localeCompare(String(y.payload?.id)));

test(`kill -9 of an instance: the others get unsubscribed for its users within presence_ttl + 2 s, exactly once`, async (t) => {
    const redis = await startRedis({ t });
    const [A, B, C] = await startCluster({ t, instances: 3, redis });
    const v1 = await open(A, 'v1');
    const v2 = await open(A, user('v2', { email: 'v2@x.invalid' }));
    const ux = user('x');
    const x1 = await open(A, ux); // x also has a connection on B: x stays
    const x2 = await open(B, ux);
    const b = await open(B, 'b');
    const c = await open(C, 'c');
    await subscribeAll([b, c, v1, x1, x2]);
    await join(v2);
    for (const r of [b, c, v1, x1, x2]) await expectNext(r, presence('joined', v2, r));
    // another object, only on A and C
    await subscribe(v1, 'L2');
    await subscribe(c, 'L2');
    await expectNext(v1, presence('subscribed', c, v1, { objectId: 'L2' }));
    await expectSilence([b, c, x2], 100);
    assert.ok(Object.keys((await presenceKeys(redis)).hash).some((f) => f.endsWith(`|${A.instance}`)),
        'the victim has presence entries in Redis');

    const killedAt = Date.now();
    await A.stop('SIGKILL');
    const deadline = killedAt + (TTL + 2) * 1000;

    for (const r of [b, c, x2]) {
        // c is on L2 too: one more event, in any order relative to L1's
        const msgs = await collect(r, r === c ? 3 : 2, Math.max(1, deadline - Date.now()));
        const l1 = msgs.filter((m) => m.objectId === OBJ);
        assert.deepStrictEqual(sortEvents(l1), [presence('unsubscribed', v1, r), presence('unsubscribed', v2, r)],
            `${r.claims.sub} (${r === c ? 'C' : 'B'}) sees both users of the dead instance go`);
        if (r === c) {
            assert.deepStrictEqual(msgs.filter((m) => m.objectId !== OBJ),
                [presence('unsubscribed', v1, c, { objectId: 'L2' })], 'on every object');
        }
    }
    assert.ok(Date.now() <= deadline, `within ${TTL + 2} s`);

    // exactly once: nothing more (x is still there through its connection on B)
    await expectSilence([b, c, x2], 2500);
    b.send({ type: 'ovice_get_participants', objectId: OBJ, ref: 'after' });
    const m = await b.next();
    assert.deepStrictEqual({ ...m, payload: sortById(m.payload) }, {
        type: 'ovice_participants', objectId: OBJ, ref: 'after',
        payload: sortById([b, c, x2].map((w) => participant(w, b, { status: 'subscribed' }))),
    });
    emit(c, 'v1', 'gone', 1, { ref: 'np' });
    await expectError(c, 'not_present', { objectId: OBJ, ref: 'np' });
    // Redis holds nothing of the dead instance's presence any more
    for (const okey of ['987:L1', '987:L2']) {
        const { hash, gen } = await presenceKeys(redis, okey);
        for (const f of [...Object.keys(hash), ...Object.keys(gen)]) {
            assert.ok(!f.endsWith(`|${A.instance}`), `${okey}: ${f} of the dead instance removed`);
        }
    }
});

test('SIGTERM of an instance: its users are unsubscribed everywhere at once, not after presence_ttl', async (t) => {
    const redis = await startRedis({ t });
    const [A, B] = await startCluster({ t, instances: 2, redis });
    const a = await open(A, 'a');
    const b = await open(B, 'b');
    await subscribeAll([b, a]);
    const stop = A.stop('SIGTERM');
    const t0 = Date.now();
    const [m] = await collect(b, 1, 1500);
    assert.deepStrictEqual(m, presence('unsubscribed', a, b));
    assert.ok(Date.now() - t0 < 1500);
    const res = await stop;
    assert.equal(res.code, 0, 'exit status 0');
    assert.deepStrictEqual(Object.keys((await presenceKeys(redis)).hash), [`b|${B.instance}`]);
    await expectSilence(b, 500);
});

test('Redis unreachable at start: objcastd starts, /healthz 200, /readyz 503 until Redis appears', async (t) => {
    const port = await freePort();
    const s = await startServer({
        t,
        conf: { engine: 'redis', redis_url: `redis://127.0.0.1:${port}`, presence_ttl: TTL, shutdown_timeout: 5 },
    });
    assert.equal(s.engine, 'redis');
    assert.equal((await httpGet(s, '/healthz')).status, 200);
    assert.equal((await httpGet(s, '/readyz')).status, 503);
    const a = await open(s, 'a'); // authentication needs no Redis
    assert.equal(a.ready.payload.instance, s.instance);
    await sleep(1500);
    assert.equal((await httpGet(s, '/readyz')).status, 503, 'still 503');
    s.assertAlive();

    const redis = await startRedis({ t, port });
    const t0 = Date.now();
    await waitReady(s, 200, 10000);
    assert.ok(Date.now() - t0 <= 10000);
    await subscribe(a);
    saveData(a, { after: true }, { ref: 'sv' });
    const m = await a.next();
    assert.equal(m.type, 'ovice_data_saved_success', JSON.stringify(m));
    assert.equal(m.version, 1);
    assert.equal(await redis.command('HGET', 'objcast:{987:L1}:data', 'after'), 'true');
});

test('Redis lost: /readyz 503, plugin calls -> unavailable, processes stay up; restarted: all recovers', async (t) => {
    const redis = await startRedis({ t });
    const nodes = await startCluster({ t, instances: 3, redis });
    const [A, B, C] = nodes;
    const a = await open(A, user('a', { email: 'a@x.invalid' }));
    const b = await open(B, 'b');
    await subscribeAll([a, b]);
    await join(a);
    await expectNext(b, presence('joined', a, b));
    const data = { k: 'v', n: [1, 2, { deep: 'é' }] };
    saveData(a, data, { ref: 's1' });
    assert.equal((await a.next()).type, 'ovice_data_saved_success');
    await expectNext(b, { type: 'ovice_shared_data', objectId: OBJ, version: 1, payload: data });
    await sleep(1500); // appendfsync everysec: acknowledged writes are on disk after 1 s

    await redis.stop('SIGKILL');
    const downAt = Date.now();
    for (const s of nodes) await waitReady(s, 503, 5000);

    // every plugin call that needs Redis answers unavailable, with objectId and ref
    const calls = [
        [a, () => broadcast(a, 'lost', 1, { ref: 'u-b' }), 'u-b'],
        [b, () => broadcast(b, 'lost', 2, { ref: 'u-b2', echo: true }), 'u-b2'],
        [a, () => emit(a, 'b', 'lost', 3, { ref: 'u-e' }), 'u-e'],
        [b, () => saveData(b, { lost: true }, { ref: 'u-s' }), 'u-s'],
        [a, () => saveData(a, { lost: true }, { ref: 'u-m', merge: true }), 'u-m'],
        [b, () => b.send({ type: 'ovice_get_data', objectId: OBJ, ref: 'u-g' }), 'u-g'],
    ];
    for (const [c, send, ref] of calls) {
        send();
        await expectError(c, 'unavailable', { objectId: OBJ, ref });
    }
    await expectSilence([a, b], 300);
    for (const s of nodes) {
        s.assertAlive();
        assert.equal((await httpGet(s, '/healthz')).status, 200);
    }

    // stay down past presence_ttl: entries left in Redis by the crash are expired by then
    await sleep(Math.max(0, (TTL + 1) * 1000 - (Date.now() - downAt)));
    for (const s of nodes) s.assertAlive();

    const restartedAt = Date.now();
    await redis.start();
    const upAt = Date.now();
    for (const s of nodes) await waitReady(s, 200, Math.max(1, 10000 - (Date.now() - upAt)));
    assert.ok(Date.now() - upAt <= 10000, '/readyz 200 within 10 s of Redis coming back');

    // nobody was told that anyone left
    await expectSilence([a, b], 500);
    // saved data intact
    await expectStored(b, data, 1);
    // presence re-registered in Redis, under each instance's new generation
    await waitFor(async () => {
        const { hash, gen } = await presenceKeys(redis);
        const gens = await generations(redis);
        const want = [[`a|${A.instance}`, A.instance], [`b|${B.instance}`, B.instance]];
        return want.every(([f, i]) => hash[f] && gens[i] && gen[f] === gens[i] && Number(gens[i]) > restartedAt);
    }, 5000, 'a and b re-registered in the presence hash under their instances\' new generations');
    // a new client on the third instance (no replica before) sees the old clients
    const n = await open(C, 'n');
    await subscribe(n);
    await expectNext(a, presence('subscribed', n, a));
    await expectNext(b, presence('subscribed', n, b));
    n.send({ type: 'ovice_get_participants', objectId: OBJ, ref: 'again' });
    const m = await n.next();
    assert.deepStrictEqual({ ...m, payload: sortById(m.payload) }, {
        type: 'ovice_participants', objectId: OBJ, ref: 'again',
        payload: sortById([
            participant(a, n, { status: 'joined' }),
            participant(b, n, { status: 'subscribed' }),
            participant(n, n, { status: 'subscribed' }),
        ]),
    });
    // broadcasts and saves work again
    broadcast(b, 'back', { ok: true });
    await expectNext(a, ovMessage(b, 'back', { ok: true }));
    await expectNext(n, ovMessage(b, 'back', { ok: true }));
    saveData(n, { more: 1 }, { merge: true, ref: 'm2' });
    const saved = await n.next();
    assert.equal(saved.type, 'ovice_data_saved_success');
    assert.equal(saved.version, 2);
    await expectNext(a, { type: 'ovice_shared_data', objectId: OBJ, version: 2, payload: { ...data, more: 1 } });
    await expectNext(b, { type: 'ovice_shared_data', objectId: OBJ, version: 2, payload: { ...data, more: 1 } });
    // a leaving after the outage reaches everyone
    a.close(1000);
    await expectNext(b, presence('unsubscribed', a, b));
    await expectNext(n, presence('unsubscribed', a, n));
});

test('every objcastd and Redis restarted: saved data intact, old presence gone', async (t) => {
    const redis = await startRedis({ t });
    const first = await startCluster({ t, instances: 2, redis, idPrefix: 'old' });
    const a = await open(first[0], user('a', { ws: 'w-1' }));
    const b = await open(first[1], 'b');
    await subscribe(a, 'obj-9');
    await subscribe(b, OBJ);
    const d1 = { text: 'é ☃ 😀 "quoted" \\ back', list: [1, 2.5, -3, true, false, null], obj: { x: { y: [] } } };
    saveData(b, d1, { ref: 'd1' });
    assert.equal((await b.next()).version, 1);
    saveData(b, { second: 2 }, { ref: 'd2', merge: true });
    assert.equal((await b.next()).version, 2);
    const d2 = { ...d1, second: 2 };
    saveData(a, { only: 'w-1' }, { ref: 'd3', objectId: 'obj-9' });
    assert.equal((await a.next()).version, 1);

    await Promise.all(first.map((s) => s.stop('SIGTERM')));
    await redis.restart('SIGTERM');

    const second = await startCluster({ t, instances: 2, redis, idPrefix: 'new' });
    const a2 = await open(second[1], user('a', { ws: 'w-1' }));
    const b2 = await open(second[0], 'b2');
    await subscribe(a2, 'obj-9');
    await subscribe(b2, OBJ);
    await expectStored(b2, d2, 2);
    await expectStored(a2, { only: 'w-1' }, 1, { objectId: 'obj-9' });
    b2.send({ type: 'ovice_get_participants', objectId: OBJ });
    assert.deepStrictEqual((await b2.next()).payload.map((p) => p.id), ['b2'], 'no user of the old instances');
    // versions continue
    saveData(b2, { third: 3 }, { ref: 'd4', merge: true });
    const m = await b2.next();
    assert.equal(m.version, 3);
    await expectStored(b2, { ...d2, third: 3 }, 3);
});
