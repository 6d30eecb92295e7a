// redis_wait_replicas: a save is confirmed (ovice_data_saved_success) only once WAIT says
// that many replicas have it, so a master that dies right after cannot take a confirmed save
// with it. Fewer replicas within redis_wait_timeout: the saver gets `unavailable`, never a
// false success. A real master and replica (redis-server --replicaof).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { pairs, startNode, startRedis, waitReady } from '../lib/redis.mjs';
import { getMetrics, waitFor } from '../lib/server.mjs';
import { OBJ, assertError, broadcast, expectError, expectNext, open, ovMessage, saveAndCheck, saveData, subscribeAll, user } from '../lib/proto.mjs';

const DATA_KEY = `objcast:{987:${OBJ}}:data`;

/* A master that lets a replica sync at once (the diskless sync waits 5 s by default). */
const startMaster = (t) => startRedis({ t, aof: false, args: ['--repl-diskless-sync-delay', '0'] });

/* Calls of each command Redis ran since its start (INFO commandstats). */
async function calls(redis) {
    const info = await redis.command('INFO', 'commandstats');
    return Object.fromEntries([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
}

/* A master and one replica linked to it. */
async function masterAndReplica(t) {
    const master = await startMaster(t);
    const replica = await startRedis({ t, aof: false, args: ['--replicaof', '127.0.0.1', String(master.port)] });
    await waitFor(async () => /master_link_status:up/.test(await replica.command('INFO', 'replication')),
        10000, 'the replica to be linked to its master', 100);
    // and the master counts it (ROLE lists only replicas it sees online)
    await waitFor(async () => /slave0:.*state=online/.test(await master.command('INFO', 'replication')),
        10000, 'the master to see its replica online', 50);
    return { master, replica };
}

test('redis_wait_replicas 1: a confirmed save is on the replica when it is confirmed', async (t) => {
    const { master, replica } = await masterAndReplica(t);
    const s = await startNode({ t, redis: master, conf: { redis_wait_replicas: 1 } });
    await waitReady(s);
    const a = await open(s, user('a'));
    const b = await open(s, user('b'));
    await subscribeAll([a, b]);

    for (let version = 1; version <= 5; version++) {
        const data = { n: version, text: 'x'.repeat(100 * version) };
        await saveAndCheck(a, data, { version, others: [b] });
        // Read from the replica right after the confirmation: WAIT made sure it is there.
        const onReplica = pairs(await replica.command('HGETALL', DATA_KEY));
        assert.equal(onReplica.n, String(version), `save ${version} is on the replica when confirmed`);
    }
});

test('redis_wait_replicas 2 with one replica: the save is answered unavailable, not confirmed', async (t) => {
    const { master } = await masterAndReplica(t);
    const s = await startNode({ t, redis: master, conf: { redis_wait_replicas: 2, redis_wait_timeout: 300 } });
    await waitReady(s);
    const a = await open(s, user('a'));
    const b = await open(s, user('b'));
    await subscribeAll([a, b]);

    // ROLE told objcastd at connect time that the master has one replica: no WAIT is even
    // tried (it could only fall short and hold the connection meanwhile)
    saveData(a, { n: 1 }, { ref: 'w2' });
    await expectError(a, 'unavailable', { objectId: OBJ, ref: 'w2' });
    assert.equal((await calls(master)).wait ?? 0, 0, 'no WAIT sent');

    // The master stored and published the save before WAIT (a script does both at once):
    // the others see it; what the saver did not get is the promise that it survives a
    // failover. A client that needs that retries with ifVersion (docs/decisions.md).
    await expectNext(b, { type: 'ovice_shared_data', objectId: OBJ, version: 1, payload: { n: 1 } });
    // The connection and the instance go on.
    broadcast(a, 'ev', 'after');
    await expectNext(b, ovMessage(a, 'ev', 'after'));
});

test('saves from many clients while replicas are missing: one WAIT at a time, the Redis connection stays up', async (t) => {
    const { master } = await masterAndReplica(t);
    const s = await startNode({ t, redis: master, conf: { redis_wait_replicas: 2, redis_wait_timeout: 1000 } });
    await waitReady(s);
    const clients = [];
    for (let i = 0; i < 8; i++) clients.push(await open(s, user(`u${i}`)));
    await subscribeAll(clients);

    // Eight saves at once. A WAIT each, one behind the other, would hold the command
    // connection for 8 s, past its 3 s command deadline: a reconnect and a resync of
    // everything. Batched, every save made before a WAIT rides on it.
    clients.forEach((c, i) => saveData(c, { n: i }, { ref: `w${i}` }));
    await Promise.all(clients.map(async (c, i) => {
        for (;;) {
            const m = await c.next(undefined, 10000);
            if (m.type === 'ovice_shared_data') continue;
            assertError(m, 'unavailable', { objectId: OBJ, ref: `w${i}` });
            return;
        }
    }));
    const m = await getMetrics(s);
    assert.equal(m.samples.objcast_redis_reconnects_total, 0, 'the command connection was never given up');
    assert.equal(m.samples.objcast_redis_up, 1);
});

test('redis_wait_replicas 0 (the default): a save on a master without replicas is confirmed', async (t) => {
    const master = await startRedis({ t, aof: false });
    const s = await startNode({ t, redis: master });
    await waitReady(s);
    const a = await open(s, user('a'));
    await subscribeAll([a]);
    await saveAndCheck(a, { n: 1 }, { version: 1 });
});


test('a replica that stops answering: one WAIT falls short, then saves are refused at once (no WAIT holds the connection) until it answers again', async (t) => {
    const { master, replica } = await masterAndReplica(t);
    const s = await startNode({ t, redis: master, conf: { redis_wait_replicas: 1, redis_wait_timeout: 1000 } });
    await waitReady(s);
    const a = await open(s, user('a'));
    const b = await open(s, user('b'));
    await subscribeAll([a, b]);
    await saveAndCheck(a, { n: 0 }, { version: 1, others: [b] });

    // The master still lists the stopped replica (ROLE), so objcastd tries a WAIT: it
    // falls short after redis_wait_timeout
    replica.signal('SIGSTOP');
    t.after(() => replica.signal('SIGCONT'));
    const waitsBefore = (await calls(master)).wait;
    const started = Date.now();
    saveData(a, { n: 1 }, { ref: 'first' });
    await expectError(a, 'unavailable', { objectId: OBJ, ref: 'first' });
    assert.ok(Date.now() - started >= 400, 'the first save waited for the replica');
    await expectNext(b, { type: 'ovice_shared_data', objectId: OBJ, version: 2, payload: { n: 1 } });
    // the next saves come back at once, and a broadcast in between is not held behind a WAIT
    // (the tick's ROLE may let one more WAIT through each second: the replica is listed)
    for (let i = 2; i <= 6; i++) {
        saveData(a, { n: i }, { ref: `s${i}` });
        broadcast(a, 'ev', i);
        await expectError(a, 'unavailable', { objectId: OBJ, ref: `s${i}` });
        await expectNext(b, { type: 'ovice_shared_data', objectId: OBJ, version: i + 1, payload: { n: i } });
        await expectNext(b, ovMessage(a, 'ev', i));
    }
    const waits = (await calls(master)).wait - waitsBefore;
    assert.ok(waits >= 1 && waits <= 2, `${waits} WAITs for 6 saves`);

    // the replica answers again: saves are confirmed again
    replica.signal('SIGCONT');
    await waitFor(async () => {
        saveData(a, { back: true }, { ref: 'again', merge: true });
        for (;;) {
            const m = await a.next(undefined, 5000);
            if (m.ref === 'again') return m.type === 'ovice_data_saved_success';
        }
    }, 15000, 'saves confirmed again', 300);
});

test('no replica at all: saves are refused at once, without a WAIT, and confirmed once a replica comes', async (t) => {
    const master = await startMaster(t);
    const s = await startNode({ t, redis: master, conf: { redis_wait_replicas: 1, redis_wait_timeout: 2000 } });
    await waitReady(s);
    const a = await open(s, user('a'));
    const b = await open(s, user('b'));
    await subscribeAll([a, b]);
    for (let i = 1; i <= 3; i++) {
        saveData(a, { n: i }, { ref: `s${i}` });
        await expectError(a, 'unavailable', { objectId: OBJ, ref: `s${i}` });
        await expectNext(b, { type: 'ovice_shared_data', objectId: OBJ, version: i, payload: { n: i } });
    }
    assert.equal((await calls(master)).wait ?? 0, 0, 'no WAIT sent');

    // a replica comes: once ROLE shows it, saves are confirmed again
    await startRedis({ t, aof: false, args: ['--replicaof', '127.0.0.1', String(master.port)] });
    await waitFor(async () => {
        saveData(a, { back: true }, { ref: 'again', merge: true });
        for (;;) {
            const m = await a.next(undefined, 5000);
            if (m.ref === 'again') return m.type === 'ovice_data_saved_success';
        }
    }, 15000, 'saves confirmed again with a replica', 300);
});
