// The object's history (conf history_size, history_ttl; docs/operations.md "Redis"): every
// broadcast, emit and save gets an offset in the object's order and is kept in a capped
// list, so an instance whose subscription missed messages reads them back. Here the
// subscriber connection of an instance is killed while messages flow (Redis's CLIENT KILL):
// its clients still get every message once, in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseClientList, startCluster, startRedis, waitReady } from '../lib/redis.mjs';
import { sleep, waitFor } from '../lib/server.mjs';
import { broadcast, collect, flush, join, open, saveData, subscribe } from '../lib/proto.mjs';

/* Every ovice_message payload.message of c until n came (or timeoutMs without one). */
async function received(c, n, timeoutMs = 5000) {
    const got = [];
    while (got.length < n) {
        const m = await c.next(undefined, timeoutMs).catch(() => null);
        if (!m) break;
        if (m.type === 'ovice_message') got.push(m.payload.message);
    }
    return got;
}

/* s (joined) on instance A and r (subscribed) on B, r's event of s's join taken. */
async function senderAndReceiver(A, B) {
    const s = await open(A, 's');
    const r = await open(B, 'r');
    await subscribe(r);
    await join(s);
    await collect(r, 1);
    return { s, r };
}

test('an instance that loses its subscriber connection reads what it missed from the history: none lost, none twice, in order', async (t) => {
    const redis = await startRedis({ t });
    const [A, B] = await startCluster({ t, instances: 2, redis, conf: { history_size: 1000 } });
    const { s, r } = await senderAndReceiver(A, B);

    const N = 400;
    const sending = (async () => {
        for (let i = 1; i <= N; i++) {
            broadcast(s, 'seq', i);
            await sleep(2);
        }
    })();
    await sleep(150);
    // B's subscriber connection goes; B subscribes again after its reconnect backoff
    const clients = parseClientList(await redis.command('CLIENT', 'LIST'));
    const sub = clients.find((c) => c.name === `objcast:${B.instance}` && Number(c.sub) > 0);
    assert.ok(sub, 'B has a subscriber connection');
    assert.equal(await redis.command('CLIENT', 'KILL', 'ID', sub.id), 1);
    await sending;
    await waitReady(B);
    const got = await received(r, N);
    const want = Array.from({ length: N }, (_, i) => i + 1);
    assert.deepStrictEqual(want.filter((i) => !got.includes(i)), [], 'none lost');
    assert.deepStrictEqual(got, want, 'none twice, in order');
    // the history holds the newest messages, at most history_size, and expires
    assert.equal(await redis.command('LLEN', 'objcast:{987:L1}:hist'), N);
    assert.equal(await redis.command('HGET', 'objcast:{987:L1}:meta', 'off'), String(N));
    assert.ok(Number(await redis.command('PTTL', 'objcast:{987:L1}:hist')) > 0);
});

test('history_size caps the history, with a quarter of slack', async (t) => {
    const redis = await startRedis({ t });
    const [A] = await startCluster({ t, instances: 1, redis, conf: { history_size: 5 } });
    const s = await open(A, 's');
    await join(s);
    for (let i = 1; i <= 12; i++) broadcast(s, 'seq', i);
    // the server has them before the echo subscribes (a compressing client sends late)
    await flush(s);
    const echo = await open(A, 'e');
    await subscribe(echo);
    for (let i = 13; i <= 14; i++) broadcast(s, 'seq', i);
    assert.deepStrictEqual(await received(echo, 2), [13, 14]);
    // at least history_size, trimmed once a quarter over (here 5 + 1)
    const hist = await redis.command('LRANGE', 'objcast:{987:L1}:hist', 0, -1);
    const offsets = hist.map((m) => JSON.parse(m.slice(0, m.indexOf('\n'))).o);
    assert.ok(offsets.length >= 5 && offsets.length <= 6, `${offsets}`);
    assert.deepStrictEqual(offsets, Array.from({ length: offsets.length }, (_, i) => 15 - offsets.length + i));
});

test('Redis loses an object\'s order (FLUSHALL, a failover before replication): after the instances subscribe again, new messages are not taken for old ones', async (t) => {
    const redis = await startRedis({ t });
    const [A, B] = await startCluster({ t, instances: 2, redis });
    const { s, r } = await senderAndReceiver(A, B);
    for (let i = 1; i <= 20; i++) broadcast(s, 'seq', i);
    assert.deepStrictEqual(await received(r, 20), Array.from({ length: 20 }, (_, i) => i + 1));

    await redis.command('FLUSHALL');
    // every subscriber connection goes: the instances subscribe again and read their replicas
    await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await waitReady(A);
    await waitReady(B);
    await sleep(500);
    for (let i = 21; i <= 25; i++) broadcast(s, 'seq', i);
    assert.deepStrictEqual(await received(r, 5), [21, 22, 23, 24, 25]);
    assert.equal(await redis.command('HGET', 'objcast:{987:L1}:meta', 'off'), '5');
});

test('an object nobody uses costs nothing after history_ttl: its keys expire, and its next message begins a new epoch', async (t) => {
    const redis = await startRedis({ t });
    const [A] = await startCluster({ t, instances: 1, redis, conf: { history_ttl: 1 } });
    const s = await open(A, 's');
    const r = await open(A, 'r');
    await subscribe(r);
    await join(s);
    await collect(r, 1);
    broadcast(s, 'seq', 1);
    const [first] = await collect(r, 1);
    // while anyone is on the object its meta stays (the offsets go on)
    assert.equal(await redis.command('PTTL', 'objcast:{987:L1}:meta'), -1);
    s.close();
    r.close();
    await s.closed();
    await r.closed();
    await waitFor(async () => (await redis.command('KEYS', 'objcast:{987:L1}*')).length === 0, 5000,
        'every key of the object to expire');
    const s2 = await open(A, 's2');
    const r2 = await open(A, 'r2');
    await subscribe(r2);
    await join(s2);
    await collect(r2, 1);
    broadcast(s2, 'seq', 2);
    const [again] = await collect(r2, 1);
    assert.equal(again.offset, 1);
    assert.notEqual(again.epoch, first.epoch, 'a new epoch');

    // with saved data the meta stays (the version must not start again)
    saveData(s2, { a: 1 });
    await s2.next('ovice_data_saved_success');
    s2.close();
    r2.close();
    await s2.closed();
    await r2.closed();
    await sleep(2500);
    assert.equal(await redis.command('HGET', 'objcast:{987:L1}:meta', 'version'), '1');
    assert.equal(await redis.command('PTTL', 'objcast:{987:L1}:meta'), -1);
    assert.equal(await redis.command('EXISTS', 'objcast:{987:L1}:hist'), 0, 'the history expired');
});

test('Redis loses writes but not the object (a failover before replication): the instance that notices begins a new epoch, so a client that had the lost offsets cannot resume across them', async (t) => {
    const redis = await startRedis({ t });
    const [A, B] = await startCluster({ t, instances: 2, redis });
    const { s, r } = await senderAndReceiver(A, B);
    for (let i = 1; i <= 10; i++) broadcast(s, 'seq', i);
    const got = await collect(r, 10);
    const old = got[9];
    assert.equal(old.offset, 10);
    // offsets 6 to 10 are lost: the meta and the history are as a replica behind by five
    // messages would have them
    await redis.command('HSET', 'objcast:{987:L1}:meta', 'off', 5);
    await redis.command('LTRIM', 'objcast:{987:L1}:hist', 0, 4);
    await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await waitReady(A);
    await waitReady(B);
    await waitFor(async () => (await redis.command('HGET', 'objcast:{987:L1}:meta', 'epoch')) !== old.epoch, 5000,
        'a new epoch');
    broadcast(s, 'seq', 11);
    const [next] = await collect(r, 1);
    assert.equal(next.payload.message, 11);
    assert.notEqual(next.epoch, old.epoch);
    assert.equal(next.offset, 6);
    // the old session's position is of the old epoch: not recovered
    const r2 = await open(B, 'r');
    r2.send({ type: 'objcast_subscribe', objectId: 'L1', since: { epoch: old.epoch, offset: 10, session: r.ready.payload.session } });
    const ev = await r2.next('ovice_participant_subscribed');
    assert.equal(ev.recovered, false);
});
