// The plugin protocol with permessage-deflate (RFC 7692): clients that agreed to it and
// clients that did not get the same messages, text for text, on every engine and across
// instances; the compressing ones get them compressed exactly where the text reaches
// compression_min_bytes and deflate shrinks it, and what a client sends compressed is
// measured inflated against the protocol's limits (2 MiB plugin message, 512,000 bytes of
// saved data). websocket/deflate.test.mjs has the frames, the negotiation and the close
// codes.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import {
    OBJ, broadcast, emit, expectError, expectNext, expectSilence, expectStored, join, open, ovMessage,
    presence, rawsWhere, saveAndCheck, saveData, sendLeave, subscribeAll, user,
} from '../lib/proto.mjs';
import { getMetrics, parseMessage, prng, rawSocket } from '../lib/server.mjs';
import { OP, parseFrame } from '../lib/wsframe.mjs';

const MIN_BYTES = 512; // compression_min_bytes default
const MAX_MESSAGE = 2097152;
const MAX_DATA = 512000;
const bytes = (s) => Buffer.byteLength(s, 'utf8');

/* Records every frame the server sends to ws client c in c.wire, parsed from its socket
 * beside ws (which inflates them): whether each came compressed. Call before the frames
 * of interest. */
function sniff(c) {
    let buf = Buffer.alloc(0);
    c.wire = [];
    c.ws._socket.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        for (let r = parseFrame(buf); r; r = parseFrame(buf)) {
            buf = buf.subarray(r.size);
            c.wire.push(r.frame);
        }
    });
}

/*
 * A raw socket for claims (a user() object, or a sub) on s that agreed to
 * permessage-deflate, authenticated and subscribed to OBJ (its own event taken). It keeps
 * every text frame it reads, with its inflated text, in r.got. Its objcast_auth and
 * subscribe go compressed.
 */
async function rawMember(s, claims) {
    const r = await rawSocket(s);
    r.claims = typeof claims === 'object' ? claims : user(claims);
    const res = await r.handshake({ headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate' } });
    assert.match(res.headers['sec-websocket-extensions'] ?? '', /^permessage-deflate;/);
    r.sendText({ type: 'objcast_auth', token: s.token(r.claims) }, { compress: true });
    assert.equal((await r.readMessage()).type, 'objcast_ready');
    r.sendText({ type: 'objcast_subscribe', objectId: OBJ }, { compress: true });
    assert.equal((await r.readMessage()).type, 'ovice_participant_subscribed');
    r.got = [];
    return r;
}

/* The next message of raw member r, kept in r.got ({frame, text}) and parsed. */
async function rawNext(r, timeoutMs = 5000) {
    const got = await r.readText(timeoutMs);
    r.got.push(got);
    return parseMessage(got.text);
}

/* Requires what the compressing connections got compressed to be exactly the texts of
 * compression_min_bytes or more that deflate shrinks: frames with RSV1 are smaller by more
 * than their header, and a text of 512 bytes or more that came plain does not shrink. */
function assertCompressedWhereItPays(got, what) {
    for (const { frame, text } of got) {
        const n = bytes(text);
        const label = `${what}: ${JSON.parse(text).type} of ${n} bytes`;
        if (frame.compressed) {
            assert.ok(n >= MIN_BYTES, `${label}: compressed although under ${MIN_BYTES} bytes`);
            assert.ok(frame.payload.length + 2 < n, `${label}: compressed to ${frame.payload.length} bytes`);
        } else {
            assert.ok(n < MIN_BYTES, `${label}: sent plain although deflate shrinks it`);
        }
    }
}

/* Text of exactly n UTF-8 bytes that deflate shrinks a few times, not to nothing: words
 * drawn from a small vocabulary (seeded), some of them not ASCII. */
function wordsOf(n, seed) {
    const rnd = prng(seed);
    const vocabulary = ['objcast', 'deflate', 'window', 'message', 'frame', 'offset', 'epoch', 'presence', 'redis',
        'broadcast', 'a', 'to', 'of', 'the', 'and', 'μ', '日本'];
    const words = [];
    let len = 0;
    for (;;) {
        const w = vocabulary[Math.floor(rnd() * vocabulary.length)];
        if (len + bytes(w) + 1 > n) break;
        words.push(w);
        len += bytes(w) + 1;
    }
    return words.join(' ') + '.'.repeat(n - len + 1);
}

/* Sum of metric k over the distinct servers of nodes. */
async function metricSum(nodes, k) {
    let sum = 0;
    for (const s of new Set(nodes)) sum += (await getMetrics(s)).samples[k];
    return sum;
}

eachEngine('compressing and plain connections of one user get the same texts (broadcasts, emits, saved data, presence), compressed exactly where it pays', async (t, engine) => {
    const { nodes: [A, B] } = await engine.start(t, { instances: 2 });
    const u = user('u');
    const a = await open(A, 'a', { deflate: true }); // sends every message compressed
    const z = await open(B, u, { deflate: true });
    const p = await open(A, u, { deflate: false });
    assert.ok(a.deflate && z.deflate && !p.deflate, 'what each connection agreed to');
    await subscribeAll([a, z, p]);
    const r = await rawMember(B, u);
    for (const c of [a, z]) sniff(c);
    const from = { z: z.raws.length, p: p.raws.length };
    const before = await metricSum([A, B], 'objcast_messages_sent_deflated_total');

    // a small and a large broadcast, a large emit to the user, saved data, and presence
    // events of a user with a long name: all reach z, p and r alike
    const big = { text: wordsOf(4000, 1) };
    const data = { doc: wordsOf(3000, 2), n: 7 };
    const n = user('n', { name: `N ${wordsOf(700, 3)}` });
    const nc = await open(A, n, { deflate: false });
    // [what, action, the message u's connections get, whether it goes compressed]
    const steps = [
        ['a small broadcast', () => broadcast(a, 'small', { n: 1 }), ovMessage(a, 'small', { n: 1 }), false],
        ['a large broadcast', () => broadcast(a, 'big', big), ovMessage(a, 'big', big), true],
        ['a large emit', () => emit(a, 'u', 'direct', big), ovMessage(a, 'direct', big, { to: 'u' }), true],
        ['a small emit', () => emit(a, 'u', 'tiny', 2), ovMessage(a, 'tiny', 2, { to: 'u' }), false],
        ['saved data', () => saveData(a, data, { ref: 'd1' }),
            { type: 'ovice_shared_data', objectId: OBJ, version: 1, payload: data }, true],
        ['a long-named user joins', () => join(nc), presence('joined', n, u), true],
        ['and leaves', () => sendLeave(nc), presence('left', n, u), true],
    ];
    for (const [what, act, want, compressed] of steps) {
        await act();
        await expectNext(z, want, `${what} (z, compressing)`, 5000);
        await expectNext(p, want, `${what} (p, plain)`, 5000);
        assert.deepStrictEqual(await rawNext(r), want, `${what} (raw)`);
        assert.equal(r.got.at(-1).frame.compressed, compressed, `${what}: ${bytes(r.got.at(-1).text)} bytes, ` +
            `compressed for r: ${compressed}`);
        if (what === 'saved data') assert.equal((await a.next(undefined, 5000)).type, 'ovice_data_saved_success');
        if (what.includes('joins') || what.includes('leaves')) await a.next(undefined, 5000);
    }
    await expectSilence([z, p]);

    const zTexts = z.raws.slice(from.z);
    assert.deepStrictEqual(zTexts, p.raws.slice(from.p), 'z and p got the same texts, byte for byte');
    assert.deepStrictEqual(r.got.map((g) => g.text), zTexts, 'what r inflated is what p got, byte for byte');
    assertCompressedWhereItPays(r.got, 'r');
    const texts = (wire) => wire.filter((f) => f.opcode === OP.TEXT);
    assert.deepStrictEqual(texts(z.wire).map((f) => f.compressed), r.got.map((g) => g.frame.compressed),
        'the ws client got compressed the messages the raw one did');
    const sentDeflated = await metricSum([A, B], 'objcast_messages_sent_deflated_total') - before;
    const wantDeflated = texts([...a.wire, ...z.wire]).filter((f) => f.compressed).length +
        r.got.filter((g) => g.frame.compressed).length;
    assert.equal(sentDeflated, wantDeflated, 'objcast_messages_sent_deflated_total counts the compressed deliveries');
});

eachEngine('a 2 MiB plugin message and 512,000 bytes of saved data go compressed both ways; one byte more is too_large', async (t, engine) => {
    const { nodes: [A, B] } = await engine.start(t, { instances: 2 });
    const a = await open(A, 'a', { deflate: true });
    const b = await open(B, 'b', { deflate: true });
    const c = await open(B, 'c', { deflate: false });
    await subscribeAll([a, b, c]);
    const r = await rawMember(B, 'r');
    for (const o of [a, b, c]) await expectNext(o, presence('subscribed', r, o), 'r arrives');
    const inflatedBefore = await metricSum([A], 'objcast_messages_inflated_total');

    // a message field of exactly 2,097,152 bytes: a JSON string of words
    const exactText = `"${wordsOf(MAX_MESSAGE - 2, 4)}"`;
    assert.equal(bytes(exactText), MAX_MESSAGE);
    broadcast(a, 'big', undefined, { raw: exactText, ref: 'ok' });
    for (const o of [b, c]) {
        await expectNext(o, ovMessage(a, 'big', JSON.parse(exactText)), 'the 2 MiB message', 20000);
    }
    const m = await rawNext(r, 20000);
    assert.deepStrictEqual(m, ovMessage(a, 'big', JSON.parse(exactText)));
    const got = r.got.at(-1);
    assert.ok(got.frame.compressed, 'the 2 MiB message reaches r compressed');
    assert.ok(got.frame.payload.length < bytes(got.text) / 2, `compressed to ${got.frame.payload.length} bytes`);
    const cText = rawsWhere(c, (x) => x.payload?.event === 'big');
    assert.deepStrictEqual([got.text], cText, 'r inflated what c got, byte for byte');
    assert.deepStrictEqual(rawsWhere(b, (x) => x.payload?.event === 'big'), cText);
    assert.ok(got.text.includes(exactText), 'the message as sent');

    broadcast(a, 'too-big', undefined, { raw: `"${wordsOf(MAX_MESSAGE - 1, 4)}"`, ref: 'tb' });
    await expectError(a, 'too_large', { objectId: OBJ, ref: 'tb', timeoutMs: 20000 });
    await expectSilence([b, c]);

    // saved data of exactly 512,000 bytes as compact JSON
    const doc = { d: wordsOf(MAX_DATA - 8, 5) };
    assert.equal(bytes(JSON.stringify(doc)), MAX_DATA);
    await saveAndCheck(a, doc, { version: 1, others: [b, c] });
    const shared = await rawNext(r, 20000);
    assert.deepStrictEqual(shared, { type: 'ovice_shared_data', objectId: OBJ, version: 1, payload: doc });
    assert.ok(r.got.at(-1).frame.compressed, 'the saved data reaches r compressed');
    assert.deepStrictEqual([r.got.at(-1).text], rawsWhere(c, (x) => x.type === 'ovice_shared_data'));
    await expectStored(b, doc, 1);

    saveData(a, { d: wordsOf(MAX_DATA - 7, 5) }, { ref: 'over' });
    await expectError(a, 'too_large', { objectId: OBJ, ref: 'over', timeoutMs: 20000 });
    await expectSilence([b, c]);
    await expectStored(c, doc, 1);
    assert.ok(await metricSum([A], 'objcast_messages_inflated_total') - inflatedBefore >= 4,
        'a\'s messages came compressed');
});
