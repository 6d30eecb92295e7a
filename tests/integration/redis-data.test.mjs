// Saved data with engine redis (PROTOCOL.md section 5 "Saved data", DESIGN.md "Saved data is
// written by one Lua script"): concurrent saves from three instances to one object lose no
// update, never pass the limit, and every connection sees versions in one order.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { pairs, startCluster, startRedis } from './lib/redis.mjs';
import { sleep, waitFor } from './lib/server.mjs';
import { OBJ, expectStored, open, subscribeAll } from './lib/proto.mjs';

const bytes = (s) => Buffer.byteLength(s, 'utf8');
const SAVES = 100;

/* Two connections per instance, all on OBJ. */
async function savers(t, conf = {}) {
    const redis = await startRedis({ t });
    const nodes = await startCluster({ t, instances: 3, redis, conf });
    const conns = [];
    for (const [i, s] of nodes.entries()) {
        for (const j of [1, 2]) conns.push(await open(s, `w${i + 1}${j}`, { raw: false }));
    }
    await subscribeAll(conns);
    return { redis, nodes, conns };
}

/* Sends save i (0..SAVES-1) from conns[i % n] with ref `save-i`, all without waiting. */
function sendAll(conns, payloadOf, extra = {}) {
    const mine = new Map(conns.map((c) => [c, []]));
    for (let i = 0; i < SAVES; i++) {
        const c = conns[i % conns.length];
        mine.get(c).push(i);
        c.send({ type: 'ovice_save_and_emit_data', objectId: OBJ, ref: `save-${i}`, payload: payloadOf(i), ...extra });
    }
    return mine;
}

const isReply = (m) => typeof m.ref === 'string' && m.ref.startsWith('save-');

/* Waits until every connection has the replies to all its saves in its queue. */
async function waitReplies(conns, mine) {
    await waitFor(() => conns.every((c) => c.queue.filter(isReply).length >= mine.get(c).length), 30000,
        'a reply to every save');
}

test(`${SAVES} concurrent merges of distinct keys from 3 instances: no update lost, one version order`, async (t) => {
    const { redis, conns } = await savers(t, { client_rate: [10000, 10000] });
    const mine = sendAll(conns, (i) => ({ [`key${i}`]: { i, by: 'x' } }), { merge: true });
    await waitReplies(conns, mine);
    // everyone: its own successes + everybody else's shared data = versions 1..SAVES
    await waitFor(() => conns.every((c) => c.queue.length >= SAVES), 30000, 'every connection to hear of every save');
    await sleep(200);
    const successVersions = [];
    for (const c of conns) {
        assert.equal(c.queue.length, SAVES, `${c.claims.sub}: exactly one message per save`);
        const versions = [];
        let lastShared = 0;
        let prevKeys = [];
        for (const m of c.queue) {
            if (m.type === 'ovice_data_saved_success') {
                assert.ok(isReply(m), `success carries the save's ref: ${JSON.stringify(m).slice(0, 200)}`);
                const { updated_at: at, ...data } = m.payload;
                assert.ok(Number.isInteger(at));
                assert.equal(Object.keys(data).length, m.version, 'the stored data after save v has v keys');
                const i = Number(m.ref.slice(5));
                assert.deepStrictEqual(data[`key${i}`], { i, by: 'x' }, 'the saved key is in the reply');
                successVersions.push(m.version);
            } else {
                assert.equal(m.type, 'ovice_shared_data', JSON.stringify(m).slice(0, 200));
                assert.ok(m.version > lastShared, `${c.claims.sub}: shared data versions increase (${lastShared} then ${m.version})`);
                lastShared = m.version;
                const keys = Object.keys(m.payload);
                assert.equal(keys.length, m.version, 'shared data of version v has v keys');
                for (const k of prevKeys) assert.ok(k in m.payload, `key ${k} of an earlier version is kept`);
                prevKeys = keys;
            }
            versions.push(m.version);
        }
        assert.deepStrictEqual([...versions].sort((x, y) => x - y), Array.from({ length: SAVES }, (_, i) => i + 1),
            `${c.claims.sub} heard of every version once`);
        c.queue.length = 0;
    }
    assert.deepStrictEqual(successVersions.sort((x, y) => x - y), Array.from({ length: SAVES }, (_, i) => i + 1),
        'every save succeeded with its own version');
    const want = {};
    for (let i = 0; i < SAVES; i++) want[`key${i}`] = { i, by: 'x' };
    for (const c of [conns[0], conns[3], conns[5]]) await expectStored(c, want, SAVES);
    // in Redis: one field per key, version SAVES
    const data = pairs(await redis.command('HGETALL', 'objcast:{987:L1}:data'));
    assert.equal(Object.keys(data).length, SAVES);
    assert.deepStrictEqual(JSON.parse(data.key42), { i: 42, by: 'x' });
    assert.equal(await redis.command('HGET', 'objcast:{987:L1}:meta', 'version'), String(SAVES));
});

test(`${SAVES} concurrent merges that overflow max_data_bytes: exactly the ones that fit are stored`, async (t) => {
    const LIMIT = 5000;
    const { redis, conns } = await savers(t, { client_rate: [10000, 10000], max_data_bytes: LIMIT });
    // every save adds one key "kNN":"x..." of 98 bytes: n keys take 1 + 99n bytes, so 50 fit
    const value = 'x'.repeat(90);
    const key = (i) => `k${String(i).padStart(2, '0')}`;
    const size = (n) => 1 + 99 * n;
    const FIT = 50;
    assert.ok(size(FIT) <= LIMIT && size(FIT + 1) > LIMIT);
    const mine = sendAll(conns, (i) => ({ [key(i)]: value }), { merge: true });
    await waitReplies(conns, mine);
    const stored = [];
    let errors = 0;
    for (const c of conns) {
        for (const m of c.queue.filter(isReply)) {
            if (m.type === 'ovice_data_saved_success') {
                stored.push(key(Number(m.ref.slice(5))));
                const { updated_at: at, ...data } = m.payload;
                assert.ok(Number.isInteger(at));
                assert.ok(bytes(JSON.stringify(data)) <= LIMIT, 'stored data within the limit');
            } else {
                assert.deepStrictEqual(m, {
                    type: 'objcast_error', objectId: OBJ, ref: m.ref, payload: { code: 'too_large', message: m.payload?.message },
                });
                assert.equal(typeof m.payload.message, 'string');
                errors++;
            }
        }
    }
    assert.equal(stored.length, FIT, `exactly ${FIT} saves fit (${stored.length} succeeded, ${errors} too_large)`);
    assert.equal(errors, SAVES - FIT);
    // every connection: shared data never over the limit, versions increasing
    await waitFor(() => conns.every((c) => c.queue.length >= mine.get(c).length + FIT -
        c.queue.filter((m) => isReply(m) && m.type === 'ovice_data_saved_success').length), 10000, 'shared data');
    for (const c of conns) {
        let last = 0;
        for (const m of c.queue.filter((x) => x.type === 'ovice_shared_data')) {
            assert.ok(m.version > last);
            last = m.version;
            assert.ok(bytes(JSON.stringify(m.payload)) <= LIMIT);
        }
        c.queue.length = 0;
    }
    const want = Object.fromEntries(stored.sort().map((k) => [k, value]));
    const got = pairs(await redis.command('HGETALL', 'objcast:{987:L1}:data'));
    assert.deepStrictEqual(Object.keys(got).sort(), Object.keys(want), 'exactly the accepted keys are in Redis');
    const meta = pairs(await redis.command('HGETALL', 'objcast:{987:L1}:meta'));
    assert.equal(meta.version, String(FIT));
    assert.equal(Number(meta.bytes), size(FIT), 'meta bytes is the compact size of the stored data');
    const reply = await (async () => {
        conns[2].send({ type: 'ovice_get_data', objectId: OBJ, ref: 'final' });
        return conns[2].next();
    })();
    assert.equal(reply.version, FIT);
    assert.deepStrictEqual(Object.fromEntries(Object.entries(reply.payload).sort()), want);
});

test('concurrent ifVersion saves from 3 instances: exactly one wins, the others get conflict', async (t) => {
    const { conns } = await savers(t);
    for (const [i, c] of conns.entries()) {
        c.send({ type: 'ovice_save_and_emit_data', objectId: OBJ, ref: `save-${i}`, ifVersion: 0, payload: { winner: i } });
    }
    await waitFor(() => conns.every((c) => c.queue.some(isReply)), 10000, 'every saver answered');
    const wins = [];
    for (const [i, c] of conns.entries()) {
        const m = c.queue.find(isReply);
        if (m.type === 'ovice_data_saved_success') {
            wins.push(i);
            assert.equal(m.version, 1);
        } else {
            assert.equal(m.type, 'objcast_error', JSON.stringify(m));
            assert.equal(m.payload.code, 'conflict');
            assert.equal(m.objectId, OBJ);
        }
    }
    assert.equal(wins.length, 1, `one winner (${wins})`);
    await waitFor(() => conns.every((c, i) => i === wins[0] || c.queue.some((m) => m.type === 'ovice_shared_data')),
        5000, 'the winner\'s shared data everywhere else');
    await sleep(200);
    for (const [i, c] of conns.entries()) {
        const shared = c.queue.filter((m) => m.type === 'ovice_shared_data');
        if (i === wins[0]) assert.equal(shared.length, 0);
        else assert.deepStrictEqual(shared, [{ type: 'ovice_shared_data', objectId: OBJ, version: 1, payload: { winner: wins[0] } }]);
        c.queue.length = 0;
    }
    await expectStored(conns[4], { winner: wins[0] }, 1);
});
