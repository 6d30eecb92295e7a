// Liveness with engine redis (docs/operations.md "Liveness: heartbeats and generations"):
// the periodic Redis work of an instance does not grow with what it holds; a killed
// instance's entries on many objects are all reaped, each removal seen once; an instance
// that stalls past presence_ttl is declared dead, then comes back under a new generation.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { pairs, startCluster, startRedis } from '../lib/redis.mjs';
import { sleep, waitFor } from '../lib/server.mjs';
import { collect, expectSilence, getParticipants, join, open, presence, subscribe } from '../lib/proto.mjs';

const TTL = 3; // presence_ttl of every clustered instance (lib/redis.mjs clusterConf)

/* Calls per command since the last CONFIG RESETSTAT (INFO commandstats), the commands the
 * scripts run included. */
async function commandCalls(redis) {
    const info = await redis.command('INFO', 'commandstats');
    return Object.fromEntries([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
}

/* Subscribes (or joins) c to each object of ids, one at a time. */
async function onObjects(c, ids, how = subscribe) {
    for (const id of ids) await how(c, id);
}

const objects = (n, prefix = 'o') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

test('an idle instance makes a few Redis commands a second, whatever it holds', async (t) => {
    const redis = await startRedis({ t });
    const [A] = await startCluster({ t, instances: 1, redis, conf: { max_objects_per_connection: 1000 } });
    const ids = objects(300);
    const a = await open(A, 'a');
    const b = await open(A, 'b');
    await onObjects(a, ids, join);
    await onObjects(b, ids);
    await sleep(1500); // what the joins caused is done
    const windowMs = 4000;
    await redis.command('CONFIG', 'RESETSTAT');
    await sleep(windowMs);
    const calls = await commandCalls(redis);
    delete calls['config|resetstat'];
    delete calls.info;
    const rate = (n) => n / (windowMs / 1000);
    const scripts = rate((calls.evalsha ?? 0) + (calls.eval ?? 0));
    const all = rate(Object.values(calls).reduce((x, y) => x + y, 0));
    // a heartbeat a second and the instances registry every other second, each a script of
    // a few commands: nothing per object (before issue 13: a sweep per object per second)
    const what = JSON.stringify(calls);
    assert.ok(scripts <= 3, `${scripts} scripts a second at rest with 300 objects (at most 3): ${what}`);
    assert.ok(all <= 20, `${all} Redis commands a second at rest with 300 objects (at most 20): ${what}`);
    // and the presence is there all the same
    const gen = pairs(await redis.command('HGETALL', 'objcast:{987:o299}:presence:gen'));
    assert.deepStrictEqual(Object.keys(gen).sort(), [`a|${A.instance}`, `b|${A.instance}`].sort());
});

test('kill -9 of an instance on 300 objects: every entry reaped, each removal seen once', async (t) => {
    const redis = await startRedis({ t });
    const [A, B, C] = await startCluster({ t, instances: 3, redis, conf: { max_objects_per_connection: 1000 } });
    const ids = objects(300);
    const v = await open(A, 'v');
    const wb = await open(B, 'wb');
    const wc = await open(C, 'wc');
    await onObjects(wb, ids);
    await onObjects(wc, ids);
    await onObjects(v, ids, join);
    // wb saw wc come on each object, and both saw v join each
    for (const [w, n] of [[wb, 2 * ids.length], [wc, ids.length]]) {
        const got = await collect(w, n, 20000);
        assert.equal(got.filter((m) => m.type === 'ovice_participant_joined').length, ids.length);
    }
    await expectSilence([wb, wc], 300);
    const gen = pairs(await redis.command('HGETALL', 'objcast:{instances}:gens'))[A.instance];
    const index = `objcast:{${A.instance}}:objects:${gen}`;
    assert.equal(await redis.command('SCARD', index), ids.length, 'every object in the victim\'s index');

    const killedAt = Date.now();
    await A.stop('SIGKILL');
    for (const w of [wb, wc]) {
        const msgs = await collect(w, ids.length, Math.max(1, killedAt + (TTL + 2) * 1000 - Date.now()));
        assert.deepStrictEqual(new Set(msgs.map((m) => m.type)), new Set(['ovice_participant_unsubscribed']));
        assert.deepStrictEqual(msgs.map((m) => m.objectId).sort(), [...ids].sort(), 'one event per object');
        for (const m of msgs) assert.deepStrictEqual(m, presence('unsubscribed', v, w, { objectId: m.objectId }));
    }
    await expectSilence([wb, wc], 1000);
    // nothing of it left in Redis: entries, generations, index, heartbeat, job
    await waitFor(async () => (await redis.command('ZCARD', 'objcast:{instances}:reap')) === 0, 5000, 'the job done');
    for (const id of [ids[0], ids[150], ids[299]]) {
        for (const k of ['presence', 'presence:gen']) {
            const fields = Object.keys(pairs(await redis.command('HGETALL', `objcast:{987:${id}}:${k}`)));
            assert.ok(!fields.some((f) => f.endsWith(`|${A.instance}`)), `${id} ${k}: ${fields}`);
        }
    }
    assert.equal(await redis.command('EXISTS', index), 0);
    assert.equal(await redis.command('ZSCORE', 'objcast:{instances}:beats', A.instance), null);
    assert.equal(await redis.command('HEXISTS', 'objcast:{instances}:gens', A.instance), 0);
});

test('an instance stalled past presence_ttl is declared dead, then comes back under a new generation', async (t) => {
    const redis = await startRedis({ t });
    const [A, B] = await startCluster({ t, instances: 2, redis });
    const a = await open(A, 'a');
    const w = await open(B, 'w');
    await subscribe(w);
    await join(a);
    await collect(w, 1);
    const gens = async () => pairs(await redis.command('HGETALL', 'objcast:{instances}:gens'));
    const old = (await gens())[A.instance];

    A.proc.kill('SIGSTOP');
    t.after(() => A.proc.kill('SIGCONT'));
    const stoppedAt = Date.now();
    // B declares it dead and reaps its entry: w sees a go
    const [gone] = await collect(w, 1, (TTL + 2) * 1000);
    assert.deepStrictEqual(gone, presence('unsubscribed', a, w));
    assert.ok(Date.now() - stoppedAt <= (TTL + 2) * 1000);

    A.proc.kill('SIGCONT');
    // A finds itself declared dead, takes a new generation and stores a again under it
    await waitFor(async () => {
        const g = (await gens())[A.instance];
        const entry = pairs(await redis.command('HGETALL', 'objcast:{987:L1}:presence:gen'))[`a|${A.instance}`];
        return g && g !== old && entry === g;
    }, 5000, 'a stored again under A\'s new generation');
    await waitFor(async () => {
        const list = await getParticipants(w);
        return list.payload.some((p) => p.id === 'a' && p.status === 'joined');
    }, 5000, 'w sees a joined again');
    // the old generation's job, run after presence_ttl, removes nothing that lives
    await waitFor(async () => (await redis.command('ZCARD', 'objcast:{instances}:reap')) === 0, (TTL + 4) * 1000,
        'the old generation reaped');
    const list = await getParticipants(w);
    assert.ok(list.payload.some((p) => p.id === 'a' && p.status === 'joined'), JSON.stringify(list));
    A.assertAlive();
});
