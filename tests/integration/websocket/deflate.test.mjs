// permessage-deflate (RFC 7692) on the wire: the offer and the answer at the upgrade (conf
// compression), what the server sends compressed (compression_min_bytes; RSV1 on a single
// frame, each message deflated on its own), what it reads compressed (RSV1 on a message's
// first frame, fragments, a final block), the close codes of what it refuses, the limits
// on the inflated text and on the compressed bytes, and the metrics. Raw sockets, whose
// compressed messages lib/wsframe.mjs makes and inflates by hand, and the ws client.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import zlib from 'node:zlib';

import { broadcast, open, ovMessage, subscribe, subscribeAll } from '../lib/proto.mjs';
import {
    connect, getMetrics, mintToken, parseMessage, prng, rawSocket, sleep, startServer, waitFor,
} from '../lib/server.mjs';
import {
    DEFLATE_TAIL, OP, RSV1, RSV2, RSV3, buildFrame, closeFrame, deflateBomb, deflateMessage, inflateMessage,
    storedBlock,
} from '../lib/wsframe.mjs';

const OFFER = 'permessage-deflate';
const AGREED = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
const MIN_BYTES = 512; // compression_min_bytes default
const PRE_AUTH_MAX = 16384;
const bytes = (s) => Buffer.byteLength(s, 'utf8');

/* The most compressed bytes a message of at most max bytes may take (ws.h WS_DEFLATED_MAX). */
const deflatedMax = (max) => max + Math.floor(max / 1024) + 1024;

/*
 * A raw WebSocket on s whose upgrade offers `offer` (a Sec-WebSocket-Extensions value; an
 * array sends the header once per element; null sends none). c.extensions is the answer's
 * header (undefined when declined). Authenticated (plain text) unless auth is false.
 */
async function rawWs(s, { offer = OFFER, auth = true, sub = 'raw' } = {}) {
    const c = await rawSocket(s);
    const res = await c.handshake({ headers: offer === null ? {} : { 'Sec-WebSocket-Extensions': offer } });
    c.extensions = res.headers['sec-websocket-extensions'];
    if (auth) await c.auth(mintToken({ sub }, s.secret));
    return c;
}

/* The answer to an offer on a fresh connection (undefined when declined). */
async function answer(s, offer) {
    const c = await rawWs(s, { offer, auth: false });
    c.destroy();
    return c.extensions;
}

/* Sends objcast_nope with ref (compressed with compress: deflateMessage's options or true)
 * and reads its unknown_type reply: {frame, text}. */
async function nope(c, ref, { compress } = {}) {
    c.sendText({ type: 'objcast_nope', ref }, { compress });
    const r = await c.readText(5000);
    const m = JSON.parse(r.text);
    assert.equal(m.payload?.code, 'unknown_type', r.text.slice(0, 200));
    assert.deepStrictEqual(m.ref, ref, 'the reply to this request');
    return r;
}

/* The text of the reply to objcast_nope with ref, as the server writes it. */
const nopeReply = (ref) => JSON.stringify({
    type: 'objcast_error', ref, payload: { code: 'unknown_type', message: 'unknown type "objcast_nope"' },
});

/* Requires frame to be one whole compressed text frame (FIN, RSV1 alone: first byte 0xC1). */
function assertCompressed(frame, what) {
    assert.equal(frame.opcode, OP.TEXT, what);
    assert.ok(frame.fin, `${what}: one frame`);
    assert.equal(frame.rsv, RSV1, `${what}: RSV1 set (first byte 0xC1)`);
}

function assertPlain(frame, what) {
    assert.equal(frame.opcode, OP.TEXT, what);
    assert.ok(frame.fin, `${what}: one frame`);
    assert.equal(frame.rsv, 0, `${what}: RSV bits clear`);
}

/* A ref of n ASCII bytes that deflate shrinks to almost nothing. */
const squeezable = (n) => 'abcdefgh'.repeat(Math.ceil(n / 8)).slice(0, n);

/* Sends frames (buildFrame() options) on c and requires the server to close with code. */
async function expectCloseAfter(c, code, frames, what) {
    for (const f of frames) c.write(Buffer.isBuffer(f) ? f : buildFrame(f));
    const r = await c.expectClose(3000);
    assert.equal(r.code, code, `${what}: close code (reason ${JSON.stringify(r.reason)})`);
}

// ---------------------------------------------------------------------------------------
// Negotiation

test('the RFC 7692 offers get permessage-deflate with both no_context_takeover parameters; the ws client takes the answer', async (t) => {
    const s = await startServer({ t });
    const cases = [
        ['permessage-deflate', AGREED],
        ['permessage-deflate; client_max_window_bits', AGREED], // what ws and browsers offer
        ['permessage-deflate; server_no_context_takeover', AGREED],
        ['permessage-deflate; client_no_context_takeover; server_no_context_takeover', AGREED],
        ['permessage-deflate; client_max_window_bits=10', AGREED], // never answered
        ['permessage-deflate; server_max_window_bits=10', `${AGREED}; server_max_window_bits=10`],
        // section 5.2's example: the first offer asks for a 10-bit window, the second is a fallback
        ['permessage-deflate; client_max_window_bits; server_max_window_bits=10, '
            + 'permessage-deflate; client_max_window_bits', `${AGREED}; server_max_window_bits=10`],
        ['permessage-deflate; server_max_window_bits="10"', `${AGREED}; server_max_window_bits=10`], // quoted-string
        ['permessage-deflate ; server_max_window_bits = 12', `${AGREED}; server_max_window_bits=12`],
        ['permessage-deflate;\tserver_max_window_bits=15', `${AGREED}; server_max_window_bits=15`],
        ['x-webkit-deflate-frame, permessage-deflate', AGREED], // an extension it does not know is passed over
    ];
    for (const [offer, want] of cases) assert.equal(await answer(s, offer), want, `offer ${JSON.stringify(offer)}`);

    const c = await rawSocket(s);
    const res = await c.handshake({ headers: { 'sec-websocket-extensions': OFFER } });
    assert.equal(res.headers['sec-websocket-extensions'], AGREED, 'the header name in lower case');
    c.destroy();

    const ws = await connect(s, { deflate: true });
    assert.equal(ws.deflate, true);
    assert.equal(ws.ws.extensions, 'permessage-deflate');
    const small = await connect(s, { deflate: { serverMaxWindowBits: 11, threshold: 0 } });
    assert.equal(small.deflate, true, 'ws asking for server_max_window_bits=11 takes the answer');
    const plain = await connect(s, { deflate: false });
    assert.equal(plain.deflate, false);
    assert.equal(plain.ws.extensions, '');
});

test('server_max_window_bits 9 to 15 is answered and honoured: what the server compresses inflates with that window', async (t) => {
    const s = await startServer({ t });
    // a ref that repeats 1,500 random characters: deflate refers 1,500 bytes back, further
    // than a 9- or 10-bit window reaches
    const rnd = prng(15);
    const block = Array.from({ length: 1500 }, () => String.fromCharCode(0x61 + Math.floor(rnd() * 26))).join('');
    const ref = `${block}|${block}`;
    const payloads = {};
    for (let bits = 9; bits <= 15; bits++) {
        const c = await rawWs(s, { offer: `permessage-deflate; server_max_window_bits=${bits}` });
        assert.equal(c.extensions, `${AGREED}; server_max_window_bits=${bits}`);
        const { frame, text } = await nope(c, ref);
        assertCompressed(frame, `window ${bits}`);
        assert.equal(text, nopeReply(ref));
        assert.equal(inflateMessage(frame.payload, { windowBits: bits }).toString('utf8'), text,
            `inflates with a ${bits}-bit window`);
        payloads[bits] = frame.payload;
        c.destroy();
    }
    assert.throws(() => inflateMessage(payloads[15], { windowBits: 10 }), /distance too far back/,
        'with a 15-bit window the server refers further back than 10 bits reach');
    assert.ok(payloads[10].length > payloads[15].length + 500,
        `a 10-bit window cannot use the repetition (${payloads[10].length} vs ${payloads[15].length} bytes)`);
});

test('one broadcast to connections with windows of 15, 10 and 9 bits inflates for each with its own window', async (t) => {
    const s = await startServer({ t });
    const rnd = prng(16);
    const block = Array.from({ length: 1500 }, () => String.fromCharCode(0x61 + Math.floor(rnd() * 26))).join('');
    const sender = await open(s, 'sender', { deflate: false });
    await subscribe(sender);
    const raws = [];
    for (const bits of [15, 10, 9]) {
        const c = await rawWs(s, { offer: `permessage-deflate; server_max_window_bits=${bits}`, sub: `w${bits}` });
        c.bits = bits;
        c.sendText({ type: 'objcast_subscribe', objectId: 'L1' });
        assert.equal((await c.readMessage()).type, 'ovice_participant_subscribed');
        raws.push(c);
    }
    // each raw connection saw the later ones arrive
    for (const [i, c] of raws.entries()) for (let k = i + 1; k < raws.length; k++) await c.readMessage();
    await sleep(100);
    const before = (await getMetrics(s)).samples;
    broadcast(sender, 'wide', `${block}|${block}`);
    for (const c of raws) {
        const { frame, text } = await c.readText();
        assertCompressed(frame, `window ${c.bits}`);
        assert.deepStrictEqual(parseMessage(text), ovMessage(sender, 'wide', `${block}|${block}`));
        assert.equal(inflateMessage(frame.payload, { windowBits: c.bits }).toString('utf8'), text,
            `the ${c.bits}-bit connection's copy inflates with its window`);
    }
    const after = (await getMetrics(s)).samples;
    const made = after.objcast_deflated_messages_total - before.objcast_deflated_messages_total;
    t.diagnostic(`compressed copies made: ${made}`);
    assert.ok(made >= 1 && made <= 3, `one copy per window at most (${made})`);
    assert.equal(after.objcast_messages_sent_deflated_total - before.objcast_messages_sent_deflated_total, 3);
});

const DECLINED = [
    'permessage-deflate; foo',
    'permessage-deflate; foo=1',
    'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10',
    'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
    'permessage-deflate; client_no_context_takeover; client_no_context_takeover',
    'permessage-deflate; client_max_window_bits; client_max_window_bits',
    'permessage-deflate; server_max_window_bits=16',
    'permessage-deflate; server_max_window_bits=08',
    'permessage-deflate; server_max_window_bits=+9',
    'permessage-deflate; server_max_window_bits=1O',
    'permessage-deflate; server_max_window_bits=8', // zlib cannot keep to 256 bytes
    'permessage-deflate; server_max_window_bits', // a value is required
    'permessage-deflate; server_max_window_bits="1 0"',
    'permessage-deflate; server_max_window_bits="10',
    'permessage-deflate; client_max_window_bits=7',
    'permessage-deflate; client_max_window_bits=16',
    'permessage-deflate; server_no_context_takeover=1',
    'permessage-deflate; client_no_context_takeover="x"',
    'permessage-deflate;',
    'permessage-deflate=1',
    '"permessage-deflate"',
    'x-webkit-deflate-frame',
    'deflate-frame; server_max_window_bits=10',
    ';;',
    ', ,',
    '',
];

test('offers it cannot accept are declined: no Sec-WebSocket-Extensions, the upgrade succeeds, nothing is compressed, RSV1 closes with 1002', async (t) => {
    const s = await startServer({ t });
    const ref = squeezable(2000);
    for (const offer of DECLINED) {
        const what = `offer ${JSON.stringify(offer)}`;
        const c = await rawWs(s, { offer });
        assert.equal(c.extensions, undefined, `${what}: declined`);
        const { frame, text } = await nope(c, ref);
        assertPlain(frame, what);
        assert.equal(text, nopeReply(ref));
        await expectCloseAfter(c, 1002, [{ rsv: RSV1, payload: deflateMessage('{"type":"objcast_nope"}') }], what);
    }
});

test('the first acceptable offer is taken; several Sec-WebSocket-Extensions headers are one list', async (t) => {
    const s = await startServer({ t });
    const w = (bits) => `${AGREED}; server_max_window_bits=${bits}`;
    const cases = [
        ['permessage-deflate; foo, permessage-deflate', AGREED],
        ['permessage-deflate; foo, permessage-deflate; server_max_window_bits=11', w(11)],
        ['permessage-deflate; server_max_window_bits=12, permessage-deflate; server_max_window_bits=13', w(12)],
        ['permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9', w(9)],
        [['permessage-deflate; server_max_window_bits=16', 'permessage-deflate; server_max_window_bits=12'], w(12)],
        [['x-foo', 'permessage-deflate; server_max_window_bits=9'], w(9)],
        [['permessage-deflate; server_max_window_bits=9', 'permessage-deflate'], w(9)],
        [['permessage-deflate; server_max_window_bits=10;', 'permessage-deflate'], undefined], // not a list
        [['permessage-deflate;;', 'permessage-deflate'], undefined],
    ];
    for (const [offer, want] of cases) assert.equal(await answer(s, offer), want, `offer ${JSON.stringify(offer)}`);

    // the window taken from the second header is the one the server compresses with
    const c = await rawWs(s, { offer: ['x-foo', 'permessage-deflate; server_max_window_bits=9'] });
    const rnd = prng(9);
    const block = Array.from({ length: 600 }, () => String.fromCharCode(0x61 + Math.floor(rnd() * 26))).join('');
    const { frame, text } = await nope(c, `${block}${block}`);
    assertCompressed(frame, 'window 9');
    assert.equal(inflateMessage(frame.payload, { windowBits: 9 }).toString('utf8'), text);
});

test('compression no: a valid offer is declined, nothing is compressed, RSV1 closes with 1002', async (t) => {
    const s = await startServer({ t, conf: { compression: 'no' } });
    const c = await rawWs(s);
    assert.equal(c.extensions, undefined);
    const ref = squeezable(5000);
    const { frame, text } = await nope(c, ref);
    assertPlain(frame, 'compression no');
    assert.equal(text, nopeReply(ref));
    const ws = await connect(s, { deflate: true });
    assert.equal(ws.deflate, false, 'the ws client offered and was declined');
    const m = (await getMetrics(s)).samples;
    assert.equal(m.objcast_ws_deflate_connections, 0);
    assert.equal(m.objcast_deflated_messages_total, 0);
    await expectCloseAfter(c, 1002, [{ rsv: RSV1, payload: deflateMessage('{"type":"objcast_nope"}') }], 'RSV1');
});

test('SIGHUP: compression applies to new connections, compression_min_bytes to the next messages', async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'objcast-deflate-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'objcast.conf');
    writeFileSync(file, 'compression no\n');
    const s = await startServer({ t, args: ['-c', file] });
    let reloads = 0;
    const reload = async (text) => {
        writeFileSync(file, text);
        s.proc.kill('SIGHUP');
        reloads++;
        await waitFor(() => (s.stdout().match(/reload done/g) || []).length === reloads, 5000, 'reload done');
    };
    const ref = squeezable(1000);
    const before = await rawWs(s, { sub: 'before' });
    assert.equal(before.extensions, undefined);

    await reload('compression yes\n');
    const after = await rawWs(s, { sub: 'after' });
    assert.equal(after.extensions, AGREED, 'a connection after the reload gets permessage-deflate');
    assertCompressed((await nope(after, ref)).frame, 'after compression yes');
    assertPlain((await nope(before, ref)).frame, 'a connection from before keeps what it agreed to');

    await reload('compression yes\ncompression_min_bytes 100000\n');
    assertPlain((await nope(after, ref)).frame, 'compression_min_bytes 100000 applies to the next message');
    await reload('compression no\n');
    assert.equal(await answer(s, OFFER), undefined, 'declined again');
    assertCompressed((await nope(after, ref)).frame, 'a connection that agreed keeps compressing');
});

// ---------------------------------------------------------------------------------------
// What the server sends

test('messages of compression_min_bytes (512) and more go compressed: one frame, 0xC1, deflated on their own; shorter ones go plain', async (t) => {
    const s = await startServer({ t });
    const c = await rawWs(s);
    const plain = await rawWs(s, { offer: null, sub: 'plain' });
    const base = bytes(nopeReply(''));

    const below = squeezable(MIN_BYTES - 1 - base);
    const r511 = await nope(c, below);
    assert.equal(bytes(r511.text), MIN_BYTES - 1);
    assertPlain(r511.frame, '511 bytes');

    const at = squeezable(MIN_BYTES - base);
    const r512 = await nope(c, at);
    assert.equal(bytes(r512.text), MIN_BYTES);
    assertCompressed(r512.frame, '512 bytes');
    assert.ok(r512.frame.payload.length < MIN_BYTES / 2, `compressed to ${r512.frame.payload.length} bytes`);
    assert.ok(!r512.frame.payload.subarray(-4).equals(DEFLATE_TAIL), 'the trailing 00 00 ff ff is removed');
    assert.equal(r512.text, (await nope(plain, at)).text, 'the same text as a connection without compression gets');

    // each message on its own: the same message twice is the same bytes twice, no
    // reference to the one before (server_no_context_takeover)
    const again = await nope(c, at);
    assertCompressed(again.frame, 'the same message again');
    assert.ok(again.frame.payload.equals(r512.frame.payload), 'compressed the same way, from nothing');

    const big = squeezable(300000);
    const r = await nope(c, big);
    assertCompressed(r.frame, '300 KB');
    assert.equal(r.text, nopeReply(big));
    assert.ok(r.frame.payload.length < 10000, `300 KB compressed to ${r.frame.payload.length} bytes`);
});

/* n bytes of text (at least) that deflate cannot shrink: characters drawn so that their UTF-8
 * bytes spread over most byte values, and short enough that a Huffman table costs more than
 * it saves. Deterministic (seeded). */
function noise(n, seed) {
    const rnd = prng(seed);
    let s = '';
    while (bytes(s) < n) {
        const k = rnd();
        let cp;
        if (k < 0.67) cp = 0x20 + Math.floor(rnd() * 95);
        else if (k < 0.885) cp = 0x80 + Math.floor(rnd() * 0x780);
        else cp = 0x1000 + Math.floor(rnd() * 0xc800); // below the surrogates
        if (cp !== 0x22 && cp !== 0x5c) s += String.fromCodePoint(cp);
    }
    return s;
}

test('compression_min_bytes 0: short messages that deflate shrinks go compressed, one it would not shrink goes plain', async (t) => {
    const s = await startServer({ t, conf: { compression_min_bytes: 0 } });
    const c = await rawSocket(s);
    await c.handshake({ headers: { 'Sec-WebSocket-Extensions': OFFER } });
    c.sendText({ type: 'objcast_auth', token: s.token() });
    const ready = await c.readText();
    assert.equal(JSON.parse(ready.text).type, 'objcast_ready');
    assertCompressed(ready.frame, `objcast_ready (${bytes(ready.text)} bytes)`);

    const short = await nope(c, squeezable(40));
    assert.ok(bytes(short.text) < 200);
    assertCompressed(short.frame, `a ${bytes(short.text)}-byte reply`);

    const ref = noise(600, 600);
    const text = nopeReply(ref);
    const n = zlib.deflateRawSync(Buffer.from(text), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).length - 4;
    assert.ok(n + 2 >= bytes(text), `precondition: deflate does not shrink the reply (${bytes(text)} -> ${n} bytes)`);
    const r = await nope(c, ref);
    assertPlain(r.frame, `a ${bytes(text)}-byte reply that does not shrink`);
    assert.equal(r.text, text);
    const again = await nope(c, ref);
    assertPlain(again.frame, 'and the next one like it');
});

test('compression_min_bytes of 1 MiB: a 300 KB message goes plain, a 1.5 MB one compressed', async (t) => {
    const s = await startServer({ t, conf: { compression_min_bytes: 1048576 } });
    const c = await rawWs(s);
    const r = await nope(c, squeezable(300000));
    assertPlain(r.frame, '300 KB');
    assert.equal((await getMetrics(s)).samples.objcast_deflated_messages_total, 0);
    const big = squeezable(1500000);
    const rb = await nope(c, big);
    assertCompressed(rb.frame, '1.5 MB');
    assert.equal(rb.text, nopeReply(big));
});

test('control frames are never compressed: the pong, the server\'s ping and its close frame', async (t) => {
    const s = await startServer({ t, conf: { compression_min_bytes: 0, ping_interval: 1 } });
    const c = await rawWs(s);
    c.write(buildFrame({ opcode: OP.PING, payload: 'a'.repeat(125) }));
    const pong = await c.readFrame();
    assert.equal(pong.opcode, OP.PONG);
    assert.equal(pong.rsv, 0);
    assert.equal(pong.payload.toString(), 'a'.repeat(125));
    const ping = await c.readFrameOf(OP.PING, 3000);
    assert.equal(ping.rsv, 0, 'the server\'s ping');
    c.write(closeFrame(1000, 'b'.repeat(100)));
    const close = await c.readFrameOf(OP.CLOSE);
    assert.equal(close.rsv, 0, 'the close frame');
    assert.equal(close.code, 1000);
});

// ---------------------------------------------------------------------------------------
// What the server reads

test('a compressed message reads as its text, before and after auth, whatever window, level or block kind made it', async (t) => {
    const s = await startServer({ t });
    const c = await rawWs(s, { auth: false });
    c.sendText({ type: 'objcast_auth', token: s.token({ sub: 'z' }) }, { compress: true });
    const ready = await c.readMessage();
    assert.equal(ready.type, 'objcast_ready', 'objcast_auth compressed');
    assert.equal(ready.payload.userId, 'z');
    const ref = `€😀${squeezable(3000)}`;
    for (const compress of [true, { windowBits: 9 }, { level: 0 }, { level: 1 }, { level: 9 }]) {
        const { text } = await nope(c, ref, { compress });
        assert.equal(text, nopeReply(ref), JSON.stringify(compress));
    }
    const before = (await getMetrics(s)).samples.objcast_messages_inflated_total;
    await nope(c, 'one more', { compress: true });
    assert.equal((await getMetrics(s)).samples.objcast_messages_inflated_total, before + 1);
});

test('a compressed message in fragments: RSV1 on the first only, split anywhere, a ping between, empty fragments, byte by byte', async (t) => {
    const s = await startServer({ t });
    const c = await rawWs(s);
    const ref = `frag-${squeezable(5000)}`;
    const z = deflateMessage(JSON.stringify({ type: 'objcast_nope', ref }));
    const cuts = [0, 1, 7, Math.floor(z.length / 2), z.length - 1, z.length];
    for (let i = 0; i + 1 < cuts.length; i++) {
        c.write(buildFrame({
            opcode: i ? OP.CONT : OP.TEXT,
            rsv: i ? 0 : RSV1,
            fin: i + 2 === cuts.length,
            payload: z.subarray(cuts[i], cuts[i + 1]),
        }));
        if (i === 2) c.write(buildFrame({ opcode: OP.PING, payload: 'mid' }));
    }
    const pong = await c.readFrame();
    assert.equal(pong.opcode, OP.PONG);
    assert.equal((await c.readText()).text, nopeReply(ref));

    // an empty first fragment, then an empty last one
    c.write(buildFrame({ opcode: OP.TEXT, rsv: RSV1, fin: false }));
    c.write(buildFrame({ opcode: OP.CONT, fin: false, payload: z }));
    c.write(buildFrame({ opcode: OP.CONT, fin: true }));
    assert.equal((await c.readText()).text, nopeReply(ref));

    const ref2 = 'bytes';
    const z2 = deflateMessage(JSON.stringify({ type: 'objcast_nope', ref: ref2 }));
    const all = Buffer.concat([
        buildFrame({ opcode: OP.TEXT, rsv: RSV1, fin: false, payload: z2.subarray(0, 5) }),
        buildFrame({ opcode: OP.CONT, fin: true, payload: z2.subarray(5) }),
    ]);
    for (const b of all) {
        c.write(Buffer.from([b]));
        await c.flush();
    }
    assert.equal((await c.readText()).text, nopeReply(ref2));
});

test('a compressed message that ends in a final block (Z_FINISH) is read, and so are the next ones', async (t) => {
    const s = await startServer({ t });
    const c = await rawWs(s);
    for (const ref of ['final-1', squeezable(4000), 'final-3']) {
        const { text } = await nope(c, ref, { compress: { final: true } });
        assert.equal(text, nopeReply(ref));
    }
    assert.equal((await nope(c, 'sync', { compress: true })).text, nopeReply('sync'));
});

test('an empty compressed message (a lone 00, or no payload) reads as an empty text, as a plain one does', async (t) => {
    const s = await startServer({ t });
    const c = await rawWs(s);
    c.write(buildFrame({ payload: '' }));
    const want = (await c.readText()).text;
    assert.equal(JSON.parse(want).payload.code, 'bad_request', 'an empty text is not JSON');
    for (const payload of [Buffer.from([0x00]), Buffer.alloc(0), deflateMessage('')]) {
        c.write(buildFrame({ rsv: RSV1, payload }));
        assert.equal((await c.readText()).text, want, `compressed payload ${payload.toString('hex') || '(none)'}`);
    }
    assert.equal((await nope(c, 'after', { compress: true })).text, nopeReply('after'));
});

test('RSV1 on a control frame or a continuation frame closes with 1002', async (t) => {
    const s = await startServer({ t });
    const z = deflateMessage('{"type":"objcast_nope"}');
    const cases = [
        ['ping', [{ opcode: OP.PING, rsv: RSV1, payload: 'x' }]],
        ['pong', [{ opcode: OP.PONG, rsv: RSV1, payload: 'x' }]],
        ['close', [{ opcode: OP.CLOSE, rsv: RSV1, payload: Buffer.from([0x03, 0xe8]) }]],
        ['continuation of a compressed message', [
            { opcode: OP.TEXT, rsv: RSV1, fin: false, payload: z.subarray(0, 4) },
            { opcode: OP.CONT, rsv: RSV1, payload: z.subarray(4) },
        ]],
        ['continuation of a plain message', [
            { opcode: OP.TEXT, fin: false, payload: '{"type":' },
            { opcode: OP.CONT, rsv: RSV1, payload: '"objcast_nope"}' },
        ]],
    ];
    for (const [what, frames] of cases) await expectCloseAfter(await rawWs(s), 1002, frames, what);
});

test('RSV2 or RSV3 closes with 1002 where deflate was agreed; RSV1 closes with 1002 where it was not, before and after auth', async (t) => {
    const s = await startServer({ t });
    const z = deflateMessage('{"type":"objcast_nope"}');
    for (const rsv of [RSV2, RSV3, RSV1 | RSV2, RSV1 | RSV3, RSV1 | RSV2 | RSV3]) {
        await expectCloseAfter(await rawWs(s), 1002, [{ rsv, payload: z }], `rsv ${rsv} with deflate`);
    }
    const rsv1 = [{ rsv: RSV1, payload: z }];
    await expectCloseAfter(await rawWs(s, { offer: null }), 1002, rsv1, 'RSV1, after auth');
    await expectCloseAfter(await rawWs(s, { offer: null, auth: false }), 1002, rsv1, 'RSV1, before auth');
    const declined = await rawWs(s, { offer: 'permessage-deflate; foo' });
    await expectCloseAfter(declined, 1002, rsv1, 'RSV1 after a declined offer');
});

test('data that does not inflate closes with 1007: garbage, a reserved block type, a bad stored length, a reference before the message', async (t) => {
    const s = await startServer({ t });
    const ref = 'context';
    const text = JSON.stringify({ type: 'objcast_nope', ref });
    const cases = [
        ['garbage', Buffer.from('this is not deflate data at all')],
        ['block type 3', Buffer.from([0x07, 0x00, 0x00])],
        // LEN 5, NLEN 0 instead of ~5
        ['a stored length whose complement is wrong', Buffer.concat([Buffer.from([0, 5, 0, 0, 0]), Buffer.from('abcde')])],
        // the message before again, compressed with that one as its dictionary: all of it
        // refers back into the message before, as a client keeping its context would send
        // it (client_no_context_takeover was agreed)
        ['a reference to the message before', zlib.deflateRawSync(Buffer.from(text), {
            dictionary: Buffer.from(text), finishFlush: zlib.constants.Z_SYNC_FLUSH,
        }).subarray(0, -4)],
    ];
    for (const [what, payload] of cases) {
        const c = await rawWs(s);
        assert.equal((await nope(c, ref, { compress: true })).text, nopeReply(ref), 'the message before');
        await expectCloseAfter(c, 1007, [{ rsv: RSV1, payload }], what);
    }
});

test('invalid UTF-8 in the inflated text closes with 1007, also when the text ends inside a character', async (t) => {
    const s = await startServer({ t });
    const t1 = Buffer.concat([Buffer.from('{"type":"x'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]);
    const t2 = Buffer.concat([Buffer.from('{"type":"x"}'), Buffer.from([0xf0, 0x9f])]);
    const t3 = Buffer.concat([Buffer.from('{"type":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    for (const [what, text] of [['C0 AF', t1], ['ends inside a character', t2], ['a surrogate', t3]]) {
        await expectCloseAfter(await rawWs(s), 1007, [{ rsv: RSV1, payload: deflateMessage(text) }], what);
    }
    // E2 82 begins a character (U+20AC) at the end of the first fragment; 28 '(' in the
    // next one breaks it
    const t4 = Buffer.concat([Buffer.from('{"type":"x'), Buffer.from([0xe2, 0x82, 0x28]), Buffer.from('"}')]);
    const z = deflateMessage(t4, { level: 0 }); // a stored block: 5 bytes, then the text
    const c = await rawWs(s);
    c.write(buildFrame({ rsv: RSV1, fin: false, payload: z.subarray(0, 5 + 12) }));
    await sleep(100);
    assert.equal(c.ended, false, 'a character begun at the end of a fragment is not an error');
    await expectCloseAfter(c, 1007, [{ opcode: OP.CONT, payload: z.subarray(5 + 12) }], 'split');
});

test('a compressed message left unfinished: 1008 at message_timeout, or the client goes, or the server stops; nothing leaks', async (t) => {
    const s = await startServer({ t, conf: { message_timeout: 1 } });
    const z = deflateMessage(nopeOfSize(20000, 'never'));
    const half = { rsv: RSV1, fin: false, payload: z.subarray(0, z.length >> 1) };
    const timed = await rawWs(s, { sub: 'timed' });
    const gone = await rawWs(s, { sub: 'gone' });
    const staying = await rawWs(s, { sub: 'staying' });
    for (const c of [timed, gone]) c.write(buildFrame(half));
    await gone.flush();
    gone.destroy();
    const r = await timed.expectClose(3000);
    assert.equal(r.code, 1008, 'message_timeout');
    // the server stops while one is still being inflated: ASan's leak check at its exit
    // (a report fails the test) sees whether the inflater was given back
    staying.write(buildFrame(half));
    staying.write(buildFrame({ opcode: OP.PING, payload: 'x' }));
    assert.equal((await staying.readFrame()).opcode, OP.PONG, 'the half message was read');
    const res = await s.stop('SIGTERM');
    assert.equal(res.code, 0, 'a clean exit');
});

// ---------------------------------------------------------------------------------------
// Limits: on the inflated text, and on the compressed bytes

const LIMITS = { max_frame_bytes: 65536, max_message_bytes: 32768, max_data_bytes: 16384 };

/* objcast_nope with ref, padded with an ignored field to exactly n bytes of JSON. */
function nopeOfSize(n, ref) {
    const head = JSON.stringify({ type: 'objcast_nope', ref, pad: '' });
    return JSON.stringify({ type: 'objcast_nope', ref, pad: squeezable(n - head.length) });
}

/* objcast_auth with token, padded to exactly n bytes of JSON. */
function authOfSize(token, n) {
    const head = JSON.stringify({ type: 'objcast_auth', token, pad: '' });
    return JSON.stringify({ type: 'objcast_auth', token, pad: squeezable(n - head.length) });
}

test('max_frame_bytes holds for the inflated text: exactly 65,536 bytes pass, one more closes with 1009, fragmented too', async (t) => {
    const s = await startServer({ t, conf: LIMITS });
    const c = await rawWs(s);
    c.sendText(nopeOfSize(65536, 'exact'), { compress: true });
    assert.equal(JSON.parse((await c.readText()).text).ref, 'exact');
    const over = deflateMessage(nopeOfSize(65537, 'over'));
    await expectCloseAfter(c, 1009, [{ rsv: RSV1, payload: over }], 'one byte over');

    // in fragments, the inflated total counts: it is past the limit in the last one
    const f = await rawWs(s);
    const z = deflateMessage(nopeOfSize(65537, 'over'), { level: 0 });
    const third = Math.floor(z.length / 3);
    f.write(buildFrame({ rsv: RSV1, fin: false, payload: z.subarray(0, third) }));
    f.write(buildFrame({ opcode: OP.CONT, fin: false, payload: z.subarray(third, 2 * third) }));
    await sleep(100);
    assert.equal(f.ended, false, 'two thirds are within the limit');
    await expectCloseAfter(f, 1009, [{ opcode: OP.CONT, payload: z.subarray(2 * third) }], 'fragments one byte over');
});

test('before auth the inflated text may be 16 KiB: an objcast_auth of 16,384 bytes passes, 16,385 closes with 1009', async (t) => {
    const s = await startServer({ t });
    const token = s.token({ sub: 'big' });
    const ok = await rawWs(s, { auth: false });
    ok.sendText(authOfSize(token, PRE_AUTH_MAX), { compress: true });
    assert.equal((await ok.readMessage()).type, 'objcast_ready');
    const over = await rawWs(s, { auth: false });
    const z = deflateMessage(authOfSize(token, PRE_AUTH_MAX + 1));
    assert.ok(z.length < 1000, 'the compressed message is small');
    await expectCloseAfter(over, 1009, [{ rsv: RSV1, payload: z }], '16,385 bytes before auth');
});

/*
 * A compressed message of exactly size bytes that inflates to text: text deflated whole
 * (its blocks and the flush's empty stored block), then empty stored blocks (5 bytes each,
 * nothing inflated) and one stored block of 0 to 4 spaces (JSON allows them after the text)
 * to make up the size, the final 00 00 ff ff removed.
 */
function compressedOfSize(text, size) {
    const head = zlib.deflateRawSync(Buffer.from(text), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const rest = size - head.length - 5 + DEFLATE_TAIL.length; // the last empty block loses its tail
    const spaces = rest % 5;
    const empties = (rest - spaces - 5) / 5;
    assert.ok(empties >= 0, `${size} bytes are enough for ${text.length} bytes of text`);
    const blocks = [storedBlock(' '.repeat(spaces)), ...Array(empties).fill(storedBlock()), storedBlock()];
    const z = Buffer.concat([head, ...blocks]).subarray(0, -DEFLATE_TAIL.length);
    assert.equal(z.length, size);
    assert.equal(inflateMessage(z).toString(), text + ' '.repeat(spaces));
    return z;
}

test('the compressed bytes of a message may be max + max/1024 + 1024: before auth 17,424 pass, 17,425 close with 1009 at the frame header', async (t) => {
    const s = await startServer({ t });
    const bound = deflatedMax(PRE_AUTH_MAX);
    assert.equal(bound, 17424);
    const token = s.token({ sub: 'padded' });
    const auth = JSON.stringify({ type: 'objcast_auth', token });

    const ok = await rawWs(s, { auth: false });
    ok.write(buildFrame({ rsv: RSV1, payload: compressedOfSize(auth, bound) }));
    assert.equal((await ok.readMessage()).type, 'objcast_ready', `${bound} compressed bytes`);

    // the header alone is refused: no payload follows it
    const over = await rawWs(s, { auth: false });
    over.write(buildFrame({ rsv: RSV1, payload: Buffer.alloc(0), declaredLength: bound + 1 }));
    const r = await over.expectClose(2000);
    assert.equal(r.code, 1009, `${bound + 1} compressed bytes announced`);

    // in two fragments the sum counts
    const z = compressedOfSize(auth, bound + 1);
    const frag = await rawWs(s, { auth: false });
    frag.write(buildFrame({ rsv: RSV1, fin: false, payload: z.subarray(0, 10000) }));
    await sleep(100);
    assert.equal(frag.ended, false, 'the first fragment is within the bound');
    await expectCloseAfter(frag, 1009, [{ opcode: OP.CONT, payload: z.subarray(10000) }], 'the fragments sum over');
});

test('a compressed message is inflated once whole: a bomb whose frame never ends holds its bytes until message_timeout (1008), ended it is 1009 at once', async (t) => {
    const s = await startServer({ t, conf: { message_timeout: 1 } });
    const bomb = deflateBomb(1); // 1,034 bytes, 1 MiB inflated
    const c = await rawWs(s, { auth: false });
    c.write(buildFrame({ rsv: RSV1, payload: bomb, declaredLength: 17000 })); // 15,966 bytes never come
    const start = Date.now();
    const r = await c.expectClose(3000);
    assert.equal(r.code, 1008, 'not inflated while unfinished');
    assert.ok(Date.now() - start >= 900, 'at message_timeout');

    const whole = await rawWs(s, { auth: false });
    whole.write(buildFrame({ rsv: RSV1, payload: bomb }));
    const t0 = Date.now();
    assert.equal((await whole.expectClose(2000)).code, 1009);
    assert.ok(Date.now() - t0 < 900, 'at once');
});

// ---------------------------------------------------------------------------------------
// Metrics

test('metrics: a broadcast to 5 compressing and 2 plain connections is compressed once and sent compressed 5 times', async (t) => {
    const s = await startServer({ t });
    const sender = await open(s, 'sender', { deflate: true });
    const zs = [];
    for (let i = 0; i < 4; i++) zs.push(await open(s, `z${i}`, { deflate: true }));
    const plains = [await open(s, 'p0', { deflate: false }), await open(s, 'p1', { deflate: false })];
    await subscribeAll([sender, ...zs, ...plains]);
    const raw = await rawWs(s, { sub: 'raw' }); // the fifth: shows the compressed size
    raw.sendText({ type: 'objcast_subscribe', objectId: 'L1' });
    assert.equal((await raw.readMessage()).type, 'ovice_participant_subscribed');
    for (const c of [sender, ...zs, ...plains]) assert.equal((await c.next()).type, 'ovice_participant_subscribed');
    assert.ok(zs.every((c) => c.deflate) && plains.every((c) => !c.deflate));

    const m0 = (await getMetrics(s)).samples;
    assert.equal(m0.objcast_ws_deflate_connections, 6, 'sender, four ws clients and the raw one');
    const message = { big: squeezable(5000) };
    broadcast(sender, 'm', message);
    const { frame, text } = await raw.readText();
    assertCompressed(frame, 'the raw recipient');
    for (const c of [...zs, ...plains]) assert.deepStrictEqual(await c.next(), ovMessage(sender, 'm', message));
    const m1 = (await getMetrics(s)).samples;
    const d = (k) => m1[k] - m0[k];
    assert.equal(d('objcast_deflated_messages_total'), 1, 'compressed once');
    assert.equal(d('objcast_messages_sent_deflated_total'), 5, 'sent compressed to 5');
    assert.equal(d('objcast_messages_sent_total'), 7, 'sent to 7');
    assert.equal(d('objcast_deflate_in_bytes_total'), bytes(text), 'the text compressed');
    assert.equal(d('objcast_deflate_out_bytes_total'), frame.payload.length, 'what it compressed to');
    assert.equal(d('objcast_messages_inflated_total'), 1, 'the sender\'s broadcast came compressed');

    raw.destroy();
    zs[0].close(1000);
    await waitFor(async () => (await getMetrics(s)).samples.objcast_ws_deflate_connections === 4, 3000,
        'objcast_ws_deflate_connections 4');
});
