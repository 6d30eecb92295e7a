// Saved data (docs/protocol.md sections 4.5-4.6, decisions): get_data, save and emit,
// replace/merge semantics, versions and ifVersion, bad payloads. Concurrent saves from three
// instances to one object (with engine redis each is one Lua script, DESIGN.md "Saved data
// is written by one Lua script") lose no update, never pass the limit, and every connection
// sees versions in one order; with engine redis the keys hold what was stored.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import {
    OBJ, assertUsable, expectError, expectNext, expectSilence, expectStored, flush, join, open, presence,
    saveAndCheck, saveData, sendLeave, subscribeAll, user,
} from '../lib/proto.mjs';
import { pairs } from '../lib/redis.mjs';
import { sleep, waitFor } from '../lib/server.mjs';

async function setup(t, engine) {
    const { nodes: [s] } = await engine.start(t);
    const ua = user('a');
    const a1 = await open(s, ua);
    const a2 = await open(s, ua);
    const b = await open(s, 'b');
    const off = await open(s, 'off');
    await subscribeAll([a1, a2, b]);
    await subscribeAll([off], 'L2');
    return { s, a1, a2, b, off };
}

eachEngine('get_data before any save -> {} and version 0, ref echoed', async (t, engine) => {
    const { a1, b } = await setup(t, engine);
    a1.send({ type: 'ovice_get_data', objectId: OBJ, ref: 'g1' });
    await expectNext(a1, { type: 'ovice_saved_data', objectId: OBJ, ref: 'g1', version: 0, payload: {} });
    b.send({ type: 'ovice_get_data', objectId: OBJ, ref: 77 });
    await expectNext(b, { type: 'ovice_saved_data', objectId: OBJ, ref: 77, version: 0, payload: {} });
    b.send({ type: 'ovice_get_data', objectId: OBJ });
    await expectNext(b, { type: 'ovice_saved_data', objectId: OBJ, version: 0, payload: {} });
});

eachEngine('save: saved_success to the saver, shared_data to everyone else incl. its other connection', async (t, engine) => {
    const { a1, a2, b, off } = await setup(t, engine);
    const data = { value1: '12', value2: 'test', n: [1, { x: true }] };
    await saveAndCheck(a1, data, { version: 1, others: [a2, b] });
    await flush(a1);
    await expectSilence([a1, a2, b, off]);
    await expectStored(b, data, 1);
    await expectStored(a1, data, 1);
    // a second save bumps the version
    await saveAndCheck(b, { value1: '13' }, { version: 2, others: [a1, a2] });
    await expectStored(a2, { value1: '13' }, 2);
});

eachEngine('save replaces the whole data; null is stored as null outside a merge', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await saveAndCheck(a1, { a: 1, b: 2 }, { version: 1, others: [a2, b] });
    await saveAndCheck(a1, { c: 3, d: null }, { version: 2, others: [a2, b] });
    await expectStored(b, { c: 3, d: null }, 2);
    await saveAndCheck(a1, {}, { version: 3, others: [a2, b] });
    await expectStored(b, {}, 3);
});

eachEngine('merge: top-level keys merged, null deletes a key, shallow', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await saveAndCheck(a1, { a: 1, b: 2, obj: { x: 1, y: 2 } }, { version: 1, others: [a2, b] });
    await saveAndCheck(b, { b: null, c: 3, obj: { z: 3 }, missing: null }, {
        merge: true, version: 2, others: [a1, a2],
        stored: { a: 1, c: 3, obj: { z: 3 } },
    });
    await expectStored(a1, { a: 1, c: 3, obj: { z: 3 } }, 2);
    // merge: false is a replace
    await saveAndCheck(a1, { only: true }, { merge: false, version: 3, others: [a2, b] });
    await expectStored(a1, { only: true }, 3);
});

eachEngine('merge into an object without data', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await saveAndCheck(a1, { k: 'v', gone: null }, { merge: true, version: 1, others: [a2, b], stored: { k: 'v' } });
    await expectStored(b, { k: 'v' }, 1);
});

eachEngine('ifVersion: a match saves, a mismatch -> conflict, nothing stored, nobody notified', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await saveAndCheck(a1, { v: 1 }, { ifVersion: 0, version: 1, others: [a2, b] });
    await saveAndCheck(b, { v: 2 }, { ifVersion: 1, version: 2, others: [a1, a2] });
    for (const [ifVersion, ref] of [[1, 'c1'], [0, 'c2'], [3, 'c3'], [99, 'c4']]) {
        saveData(a1, { v: 'lost' }, { ifVersion, ref });
        await expectError(a1, 'conflict', { objectId: OBJ, ref });
        saveData(a1, { v: 'lost' }, { ifVersion, ref, merge: true });
        await expectError(a1, 'conflict', { objectId: OBJ, ref });
    }
    await expectSilence([a2, b]);
    await expectStored(b, { v: 2 }, 2);
    await saveAndCheck(a2, { w: 3 }, { ifVersion: 2, merge: true, version: 3, others: [a1, b], stored: { v: 2, w: 3 } });
});

eachEngine('payload not a JSON object (array, string, number, null, missing) -> bad_request, data unchanged', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await saveAndCheck(a1, { keep: 1 }, { version: 1, others: [a2, b] });
    let i = 0;
    for (const payload of [[1, 2], [], 'str', 5, true, null, undefined]) {
        for (const merge of [undefined, true]) {
            const ref = `bp${i++}`;
            saveData(a1, payload, { ref, merge });
            await expectError(a1, 'bad_request', { objectId: OBJ, ref });
        }
    }
    await expectSilence([a2, b]);
    await expectStored(a1, { keep: 1 }, 1);
    await assertUsable(a1, b);
});

eachEngine('joined and left participants receive shared data; they may save', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await join(b);
    for (const r of [a1, a2]) await expectNext(r, presence('joined', b, r));
    sendLeave(b, OBJ);
    for (const r of [b, a1, a2]) await expectNext(r, presence('left', b, r));
    await saveAndCheck(a1, { x: 1 }, { version: 1, others: [a2, b] });
    await saveAndCheck(b, { x: 2 }, { version: 2, others: [a1, a2] });
});

eachEngine('data with its own updated_at key is stored and shared as it is', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    saveData(a1, { updated_at: 'mine', z: 1 }, { ref: 'u' });
    const m = await a1.next();
    assert.equal(m.type, 'ovice_data_saved_success');
    assert.equal(m.version, 1);
    await expectNext(a2, { type: 'ovice_shared_data', objectId: OBJ, version: 1, payload: { updated_at: 'mine', z: 1 } });
    await expectNext(b, { type: 'ovice_shared_data', objectId: OBJ, version: 1, payload: { updated_at: 'mine', z: 1 } });
    await expectStored(b, { updated_at: 'mine', z: 1 }, 1);
});

// ---------------------------------------------------------------------------------------
// Concurrent saves from three instances

const bytes = (s) => Buffer.byteLength(s, 'utf8');
const SAVES = 100;

/* Two connections per instance (three instances), all on OBJ. */
async function savers(t, engine, conf = {}) {
    const { redis, nodes } = await engine.start(t, { instances: 3, conf });
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

eachEngine(`${SAVES} concurrent merges of distinct keys from 3 instances: no update lost, one version order`, async (t, engine) => {
    const { redis, conns } = await savers(t, engine, { client_rate: [10000, 10000] });
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
    if (redis) {
        // in Redis: one field per key, version SAVES
        const data = pairs(await redis.command('HGETALL', 'objcast:{987:L1}:data'));
        assert.equal(Object.keys(data).length, SAVES);
        assert.deepStrictEqual(JSON.parse(data.key42), { i: 42, by: 'x' });
        assert.equal(await redis.command('HGET', 'objcast:{987:L1}:meta', 'version'), String(SAVES));
    }
});

eachEngine(`${SAVES} concurrent merges that overflow max_data_bytes: exactly the ones that fit are stored`, async (t, engine) => {
    const LIMIT = 5000;
    const { redis, conns } = await savers(t, engine, { client_rate: [10000, 10000], max_data_bytes: LIMIT });
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
    if (redis) {
        const got = pairs(await redis.command('HGETALL', 'objcast:{987:L1}:data'));
        assert.deepStrictEqual(Object.keys(got).sort(), Object.keys(want), 'exactly the accepted keys are in Redis');
        const meta = pairs(await redis.command('HGETALL', 'objcast:{987:L1}:meta'));
        assert.equal(meta.version, String(FIT));
        assert.equal(Number(meta.bytes), size(FIT), 'meta bytes is the compact size of the stored data');
    }
    const reply = await (async () => {
        conns[2].send({ type: 'ovice_get_data', objectId: OBJ, ref: 'final' });
        return conns[2].next();
    })();
    assert.equal(reply.version, FIT);
    assert.deepStrictEqual(Object.fromEntries(Object.entries(reply.payload).sort()), want);
});

eachEngine('concurrent ifVersion saves from 3 instances: exactly one wins, the others get conflict', async (t, engine) => {
    const { conns } = await savers(t, engine);
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

eachEngine('saved data: save on one instance, shared_data on the others, get_data anywhere; merge, ifVersion', async (t, engine) => {
    const { nodes: [A, B, C] } = await engine.start(t, { instances: 3 });
    const ua = user('a');
    const a1 = await open(A, ua);
    const a2 = await open(B, ua);
    const b = await open(C, 'b');
    await subscribeAll([a1, a2, b]);

    b.send({ type: 'ovice_get_data', objectId: OBJ, ref: 'g0' });
    await expectNext(b, { type: 'ovice_saved_data', objectId: OBJ, ref: 'g0', version: 0, payload: {} });

    const data = { value1: '12', value2: 'test', n: [1, { x: true }], u: 'é☃', z: null };
    await saveAndCheck(a1, data, { version: 1, others: [a2, b] });
    await flush(a1);
    await expectSilence([a1, a2, b]);
    await expectStored(b, data, 1);
    await expectStored(a2, data, 1);

    // merge from C: null deletes, shallow
    await saveAndCheck(b, { value2: null, obj: { deep: 1 }, missing: null }, {
        merge: true, version: 2, others: [a1, a2],
        stored: { value1: '12', n: [1, { x: true }], u: 'é☃', z: null, obj: { deep: 1 } },
    });
    // ifVersion: a match on B, a mismatch on A -> conflict, nothing stored, nobody told
    await saveAndCheck(a2, { only: 1 }, { ifVersion: 2, version: 3, others: [a1, b] });
    for (const [ifVersion, ref] of [[2, 'c1'], [0, 'c2'], [9, 'c3']]) {
        saveData(a1, { lost: true }, { ifVersion, ref, merge: true });
        await expectError(a1, 'conflict', { objectId: OBJ, ref });
    }
    await expectSilence([a2, b]);
    await expectStored(b, { only: 1 }, 3);
    await expectStored(a1, { only: 1 }, 3);

    // payload not an object -> bad_request; nothing stored
    saveData(b, [1, 2], { ref: 'bad' });
    await expectError(b, 'bad_request', { objectId: OBJ, ref: 'bad' });
    await expectSilence([a1, a2]);
    await expectStored(a2, { only: 1 }, 3);
});
