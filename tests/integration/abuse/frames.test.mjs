// Partial and oversized messages cannot hold memory (issue 11, item 2): before
// objcast_auth a message (all fragments together) larger than 16 KiB is refused with 1009
// as soon as a frame header shows it, and a message whose first frame arrived must be
// complete within message_timeout seconds, else 1008.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MiB, SLACK_RSS, assertRssGrowth, mb, probe, rssBytes, sampleRss, startMeasured } from '../lib/abuse.mjs';
import { mintToken, rawSocket, sleep } from '../lib/server.mjs';
import { OP, buildFrame } from '../lib/wsframe.mjs';

const PRE_AUTH_MAX = 16384;
const MAX_FRAME = 2162688; // max_frame_bytes default: such a frame is allowed after auth

/* A raw WebSocket on s, upgraded (and authenticated with token if given). */
async function rawWs(s, token) {
    const c = await rawSocket(s);
    await c.handshake();
    if (token) await c.auth(token);
    return c;
}

/* objcast_auth with token, padded with an ignored field to exactly bytes of JSON. */
function paddedAuth(token, bytes) {
    const head = JSON.stringify({ type: 'objcast_auth', token, pad: '' });
    assert.ok(head.length <= bytes);
    return JSON.stringify({ type: 'objcast_auth', token, pad: 'p'.repeat(bytes - head.length) });
}

test('20 unauthenticated connections each sending most of a 2.16 MB frame: each closed with 1009 at once, RSS bounded', async (t) => {
    const s = await startMeasured(t);
    const N = 20;
    const BODY = 2000000; // of MAX_FRAME announced: never complete
    const part = buildFrame({ payload: Buffer.alloc(BODY, 0x61), declaredLength: MAX_FRAME, maskKey: [9, 8, 7, 6] });
    await probe(s, { what: 'warm-up' });
    const conns = [];
    for (let i = 0; i < N; i++) conns.push(await rawWs(s));
    await sleep(100);
    const base = rssBytes(s);
    const rss = sampleRss(s);
    const start = Date.now();
    for (const c of conns) c.write(part);
    const closes = await Promise.allSettled(conns.map((c) => c.readFrameOf(OP.CLOSE, 3000)));
    await sleep(500);
    const max = rss.stop();
    const codes = closes.map((r) => (r.status === 'fulfilled' ? r.value.code : r.reason.message.slice(0, 60)));
    t.diagnostic(`RSS ${mb(base)} -> peak ${mb(max)} MiB; close codes after ${Date.now() - start} ms: ` +
        `${JSON.stringify(codes.slice(0, 2))}...`);
    const wrong = codes.filter((c) => c !== 1009);
    assert.equal(wrong.length, 0, `every connection is closed with 1009 (too big before auth); ${wrong.length} ` +
        `of ${N} were not: ${JSON.stringify(wrong[0])}`);
    assertRssGrowth(t, s, base, max, SLACK_RSS, `${N} partial 2.16 MB frames before auth`);
    await probe(s, { what: 'after the attack' });
});

test('before auth: a 16,000-byte objcast_auth is accepted; a 20,000-byte one in two 10,000-byte fragments is closed with 1009', async (t) => {
    const s = await startMeasured(t);
    const token = mintToken({ sub: 'big' }, s.secret);

    const ok = await rawWs(s);
    ok.sendText(paddedAuth(token, 16000));
    const ready = await ok.readMessage();
    assert.equal(ready.type, 'objcast_ready', 'an auth message under 16 KiB still works');
    // after auth, messages up to max_message_bytes are fine again
    ok.sendText({ type: 'objcast_nope', ref: 'big-after-auth', pad: 'q'.repeat(100000) });
    const err = await ok.readMessage();
    assert.equal(err.type, 'objcast_error');
    assert.equal(err.payload.code, 'unknown_type');
    assert.equal(err.ref, 'big-after-auth');

    const big = await rawWs(s);
    const text = Buffer.from(paddedAuth(token, 20000));
    big.write(buildFrame({ opcode: OP.TEXT, fin: false, payload: text.subarray(0, 10000) }));
    big.write(buildFrame({ opcode: OP.CONT, fin: true, payload: text.subarray(10000) }));
    const f = await big.readFrame(3000);
    assert.equal(f.opcode, OP.CLOSE, `a pre-auth message over ${PRE_AUTH_MAX} bytes is refused, ` +
        `got ${f.text ? f.text.slice(0, 100) : `opcode ${f.opcode}`}`);
    assert.equal(f.code, 1009, `a pre-auth message over ${PRE_AUTH_MAX} bytes closes with 1009`);
    await big.waitEnd();
});

test('message_timeout: a message that does not complete within 2 s is closed with 1008, even while bytes trickle in', async (t) => {
    const s = await startMeasured(t, { message_timeout: 2 });
    const token = (sub) => mintToken({ sub }, s.secret);

    // a message spread over ~1.2 s is handled normally
    const slowOk = await rawWs(s, token('slow-ok'));
    const text = Buffer.from(JSON.stringify({ type: 'objcast_nope', ref: 'slow-ok' }));
    slowOk.write(buildFrame({ opcode: OP.TEXT, fin: false, payload: text.subarray(0, 10) }));
    await sleep(600);
    slowOk.write(buildFrame({ opcode: OP.CONT, fin: false, payload: text.subarray(10, 20) }));
    await sleep(600);
    slowOk.write(buildFrame({ opcode: OP.CONT, fin: true, payload: text.subarray(20) }));
    const m = await slowOk.readMessage();
    assert.equal(m.type, 'objcast_error');
    assert.equal(m.ref, 'slow-ok');

    // a 2 MiB message: 1 MiB of it at once, then one byte per second
    const c = await rawWs(s, token('trickle'));
    const DECLARED = 2 * MiB;
    const body = Buffer.alloc(DECLARED, 0x61);
    const frame = buildFrame({ payload: body, maskKey: [5, 6, 7, 8] });
    const headLen = frame.length - DECLARED;
    let off = headLen + MiB;
    const start = Date.now();
    c.write(frame.subarray(0, off));
    const trickle = setInterval(() => {
        if (off < frame.length - 1) c.write(frame.subarray(off, ++off));
    }, 1000);
    t.after(() => clearInterval(trickle));
    let closed;
    try {
        closed = await c.expectClose(8000);
    } finally {
        clearInterval(trickle);
    }
    const ms = Date.now() - start;
    t.diagnostic(`closed with ${closed.code} after ${ms} ms`);
    assert.equal(closed.code, 1008, 'an incomplete message past message_timeout closes with 1008');
    assert.ok(ms >= 1900, `not before message_timeout (${ms} ms)`);
    assert.ok(ms <= 4500, `soon after message_timeout (${ms} ms)`);

    // the other connection is unaffected
    slowOk.sendText({ type: 'objcast_nope', ref: 'still-here' });
    assert.equal((await slowOk.readMessage()).ref, 'still-here');
});
