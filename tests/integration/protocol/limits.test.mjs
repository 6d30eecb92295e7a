// Limits (docs/protocol.md section 6, decisions): message <= 2,097,152 bytes of its
// JSON text as received; saved data <= 512,000 bytes as compact JSON (after a merge: the
// merged result); at most max_objects_per_connection objects per connection. Over a limit
// -> too_large, nothing delivered or stored.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import { connectAuthed } from '../lib/server.mjs';
import {
    OBJ, assertUsable, broadcast, expectError, expectNext, expectSilence, expectStored, open, ovMessage,
    rawsWhere, saveAndCheck, saveData, subscribeAll,
} from '../lib/proto.mjs';

const MAX_MESSAGE = 2097152;
const MAX_DATA = 512000;
const bytes = (s) => Buffer.byteLength(s, 'utf8');

async function setup(t, engine) {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    const c = await open(s, 'c');
    await subscribeAll([a, b, c]);
    return { s, a, b, c };
}

/* A JSON string literal of exactly n bytes, with `multi` two-byte characters in it. */
function jsonString(n, multi = 0) {
    const text = `"${'é'.repeat(multi)}${'x'.repeat(n - 2 - 2 * multi)}"`;
    assert.equal(bytes(text), n);
    return text;
}

eachEngine('a message of exactly 2,097,152 bytes passes and arrives intact; one byte more -> too_large', async (t, engine) => {
    const { a, b, c } = await setup(t, engine);
    const exact = jsonString(MAX_MESSAGE);
    broadcast(a, 'big', undefined, { raw: exact, ref: 'ok' });
    for (const r of [b, c]) {
        await expectNext(r, ovMessage(a, 'big', JSON.parse(exact)), 'the 2 MiB message', 15000);
        const raw = rawsWhere(r, (m) => m.payload?.event === 'big');
        assert.equal(raw.length, 1);
        assert.ok(raw[0].includes(exact), 'received verbatim');
    }
    await expectSilence(a);

    broadcast(a, 'too-big', undefined, { raw: jsonString(MAX_MESSAGE + 1), ref: 'tb' });
    await expectError(a, 'too_large', { objectId: OBJ, ref: 'tb', timeoutMs: 10000 });
    await expectSilence([b, c]);
    await assertUsable(a, b);
});

eachEngine('the message limit counts UTF-8 bytes, not characters', async (t, engine) => {
    const { a, b } = await setup(t, engine);
    const exact = jsonString(MAX_MESSAGE, 1000000); // 1,097,152 characters
    broadcast(a, 'utf8-ok', undefined, { raw: exact });
    await expectNext(b, ovMessage(a, 'utf8-ok', JSON.parse(exact)), 'exactly 2 MiB of UTF-8', 15000);
    const over = jsonString(MAX_MESSAGE + 1, 1000000);
    assert.ok(over.length < MAX_MESSAGE, 'fewer characters than the limit');
    broadcast(a, 'utf8-over', undefined, { raw: over, ref: 'u8' });
    await expectError(a, 'too_large', { objectId: OBJ, ref: 'u8', timeoutMs: 10000 });
    await assertUsable(a, b);
});

eachEngine('the message limit counts the text as received, whitespace included', async (t, engine) => {
    const { a, b } = await setup(t, engine);
    // an object whose text (with spaces between tokens) is exactly the limit
    const mk = (total) => {
        const head = '{ "k" :  [ 1 ,  2 ] , "d" : "';
        const tail = '" }';
        return `${head}${'y'.repeat(total - bytes(head) - bytes(tail))}${tail}`;
    };
    const exact = mk(MAX_MESSAGE);
    assert.equal(bytes(exact), MAX_MESSAGE);
    broadcast(a, 'ws-ok', undefined, { raw: exact });
    await expectNext(b, ovMessage(a, 'ws-ok', JSON.parse(exact)), 'exact limit with whitespace', 15000);
    assert.ok(rawsWhere(b, (m) => m.payload?.event === 'ws-ok')[0].includes(exact), 'verbatim');
    const over = mk(MAX_MESSAGE + 1);
    assert.ok(bytes(JSON.stringify(JSON.parse(over))) < MAX_MESSAGE, 'compact form would fit');
    broadcast(a, 'ws-over', undefined, { raw: over, ref: 'wo' });
    await expectError(a, 'too_large', { objectId: OBJ, ref: 'wo', timeoutMs: 10000 });
    await assertUsable(a, b);
});

eachEngine('emit: a message over the limit -> too_large, the target gets nothing', async (t, engine) => {
    const { a, b } = await setup(t, engine);
    const over = jsonString(MAX_MESSAGE + 1);
    a.send(`{"type":"ovice_emit_message","objectId":"L1","ref":"em","payload":{"event":"e","to":"b","message":${over}}}`);
    await expectError(a, 'too_large', { objectId: OBJ, ref: 'em', timeoutMs: 10000 });
    const exact = jsonString(MAX_MESSAGE);
    a.send(`{"type":"ovice_emit_message","objectId":"L1","payload":{"event":"e2","to":"b","message":${exact}}}`);
    await expectNext(b, ovMessage(a, 'e2', JSON.parse(exact), { to: 'b' }), 'exact-size emit', 15000);
});

/* {"d":"xxx..."} of exactly n bytes as compact JSON, with `multi` two-byte characters. */
function dataOf(n, multi = 0, ch = 'x') {
    const d = { d: `${'é'.repeat(multi)}${ch.repeat(n - 8 - 2 * multi)}` };
    assert.equal(bytes(JSON.stringify(d)), n);
    return d;
}

async function saveOk(saver, data, version, others, { stored = data, ...opts } = {}) {
    saveData(saver, data, { ref: `v${version}`, ...opts });
    const m = await saver.next(undefined, 10000);
    assert.equal(m.type, 'ovice_data_saved_success', JSON.stringify(m).slice(0, 300));
    assert.equal(m.version, version);
    assert.equal(m.ref, `v${version}`);
    const { updated_at: at, ...rest } = m.payload;
    assert.ok(Number.isInteger(at));
    assert.deepStrictEqual(rest, stored);
    for (const o of others) {
        await expectNext(o, { type: 'ovice_shared_data', objectId: OBJ, version, payload: stored }, 'shared data', 10000);
    }
}

eachEngine('saved data of exactly 512,000 compact bytes passes; 512,001 -> too_large, data unchanged', async (t, engine) => {
    const { a, b, c } = await setup(t, engine);
    const exact = dataOf(MAX_DATA);
    await saveOk(a, exact, 1, [b, c]);
    await expectStored(c, exact, 1);

    for (const [over, ref] of [[dataOf(MAX_DATA + 1, 0, 'z'), 'o1'], [dataOf(MAX_DATA + 1, 200000, 'z'), 'o2']]) {
        saveData(a, over, { ref });
        await expectError(a, 'too_large', { objectId: OBJ, ref, timeoutMs: 10000 });
        saveData(a, over, { ref, merge: true });
        await expectError(a, 'too_large', { objectId: OBJ, ref, timeoutMs: 10000 });
    }
    await expectSilence([b, c]);
    await expectStored(b, exact, 1);
    await assertUsable(a, b);
});

eachEngine('a payload sent with extra whitespace is measured as compact JSON', async (t, engine) => {
    const { a, b } = await setup(t, engine);
    const base = { d: '', e: [1, 2, { f: null }], g: true, h: 'hi' };
    base.d = 'w'.repeat(MAX_DATA - bytes(JSON.stringify(base)));
    assert.equal(bytes(JSON.stringify(base)), MAX_DATA);
    const pretty = JSON.stringify(base, null, 4);
    assert.ok(bytes(pretty) > MAX_DATA);
    a.send(`{"type":"ovice_save_and_emit_data","objectId":"L1","ref":"v1","payload":${pretty}}`);
    const m = await a.next(undefined, 10000);
    assert.equal(m.type, 'ovice_data_saved_success', JSON.stringify(m).slice(0, 300));
    const { updated_at: at, ...rest } = m.payload;
    assert.ok(Number.isInteger(at));
    assert.deepStrictEqual(rest, base);
    assert.equal(m.version, 1);
    await expectNext(b, { type: 'ovice_shared_data', objectId: OBJ, version: 1, payload: base }, 'shared', 10000);
    await expectStored(b, base, 1);
});

eachEngine('merge: the merged result counts against the limit', async (t, engine) => {
    const { a, b } = await setup(t, engine);
    const big = { a: 'a'.repeat(300000) };
    await saveOk(a, big, 1, [b]);
    // merged result 550,015 bytes although the payload alone fits
    saveData(a, { b: 'b'.repeat(250000) }, { merge: true, ref: 'm1' });
    await expectError(a, 'too_large', { objectId: OBJ, ref: 'm1', timeoutMs: 10000 });
    await expectSilence(b);
    await expectStored(b, big, 1);

    // stored + payload would exceed, but the merged result (a deleted) fits
    const b400 = 'b'.repeat(400000);
    await saveOk(a, { a: null, b: b400 }, 2, [b], { merge: true, stored: { b: b400 } });
    // merged result exactly 512,000 bytes passes
    const cfill = 'c'.repeat(MAX_DATA - bytes(JSON.stringify({ b: b400, c: '' })));
    await saveOk(b, { c: cfill }, 3, [a], { merge: true, stored: { b: b400, c: cfill } });
    assert.equal(bytes(JSON.stringify({ b: b400, c: cfill })), MAX_DATA);
    // one more key -> too_large
    saveData(b, { d: 1 }, { merge: true, ref: 'm2' });
    await expectError(b, 'too_large', { objectId: OBJ, ref: 'm2', timeoutMs: 10000 });
    await expectSilence(a);
    await expectStored(a, { b: b400, c: cfill }, 3);
});

eachEngine('max_objects_per_connection: one more object is too_large, others still work', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t, { conf: { max_objects_per_connection: 2 } });
    const a = await connectAuthed(s, { sub: 'a', ws: 1 });
    for (const o of ['O1', 'O2']) {
        a.send({ type: 'objcast_subscribe', objectId: o });
        assert.equal((await a.next()).type, 'ovice_participant_subscribed');
    }
    a.send({ type: 'objcast_subscribe', objectId: 'O3', ref: 'r' });
    const e = await a.next();
    assert.equal(e.type, 'objcast_error');
    assert.equal(e.payload.code, 'too_large');
    assert.equal(e.ref, 'r');
    assert.equal(e.objectId, 'O3');
    // joining an object it is already on is not one more object
    a.send({ type: 'objcast_join', objectId: 'O2' });
    assert.equal((await a.next()).type, 'ovice_participant_joined');
    a.send({ type: 'objcast_unsubscribe', objectId: 'O1' });
    assert.equal((await a.next()).type, 'ovice_participant_unsubscribed');
    a.send({ type: 'objcast_subscribe', objectId: 'O3' });
    assert.equal((await a.next()).type, 'ovice_participant_subscribed');
});

eachEngine('broadcast: a 2,097,152-byte message reaches the other instance intact; one byte more -> too_large', async (t, engine) => {
    const { nodes: [A, B] } = await engine.start(t, { instances: 2 });
    const a = await open(A, 'a');
    const b = await open(B, 'b');
    await subscribeAll([a, b]);
    const exact = `"${'é'.repeat(1000)}${'x'.repeat(MAX_MESSAGE - 2 - 2000)}"`;
    assert.equal(bytes(exact), MAX_MESSAGE);
    broadcast(a, 'big', undefined, { raw: exact });
    await expectNext(b, ovMessage(a, 'big', JSON.parse(exact)), 'the 2 MiB message', 15000);
    assert.ok(rawsWhere(b, (m) => m.payload?.event === 'big')[0].includes(exact), 'verbatim');
    const over = `"${'x'.repeat(MAX_MESSAGE - 1)}"`;
    broadcast(a, 'over', undefined, { raw: over, ref: 'ov' });
    await expectError(a, 'too_large', { objectId: OBJ, ref: 'ov', timeoutMs: 10000 });
    await expectSilence(b);
    await assertUsable(a, b);
});

eachEngine('saved data over max_data_bytes -> too_large on any instance; the merged result counts', async (t, engine) => {
    const { nodes: [A, B] } = await engine.start(t, { instances: 2, conf: { max_data_bytes: 2000 } });
    const a = await open(A, 'a');
    const b = await open(B, 'b');
    await subscribeAll([a, b]);
    // {"k":"xxx..."} of exactly 2000 compact bytes
    const fill = (n) => ({ k: 'x'.repeat(n - bytes('{"k":""}')) });
    assert.equal(bytes(JSON.stringify(fill(2000))), 2000);
    await saveAndCheck(a, fill(2000), { version: 1, others: [b] });
    saveData(b, fill(2001), { ref: 'big' });
    await expectError(b, 'too_large', { objectId: OBJ, ref: 'big' });
    // a merge whose result passes the limit
    await saveAndCheck(a, fill(1900), { version: 2, others: [b] });
    saveData(b, { extra: 'y'.repeat(100) }, { ref: 'mbig', merge: true });
    await expectError(b, 'too_large', { objectId: OBJ, ref: 'mbig' });
    await expectSilence(a);
    await expectStored(a, fill(1900), 2);
});
