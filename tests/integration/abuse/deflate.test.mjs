// Compressed messages cannot buy memory or CPU (permessage-deflate, RFC 7692 section 8.1:
// a decompression bomb): the limits hold for the inflated text and are checked while
// inflating, so a frame of about 1 MB that would inflate to 1 GiB costs the server
// max_frame_bytes (2 MiB) and the time to make them, then closes with 1009; before
// objcast_auth the limit is 16 KiB. A compressed message that never ends holds only the
// bytes sent (it is inflated once whole) until message_timeout. Release objcastd, RSS
// measured (lib/abuse.mjs).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
    MiB, SLACK_RSS, assertRssGrowth, mb, probe, rssBytes, sampleRss, startMeasured,
} from '../lib/abuse.mjs';
import { broadcast, expectNext, open, ovMessage, subscribeAll } from '../lib/proto.mjs';
import { getMetrics, mintToken, rawSocket, sleep, waitFor } from '../lib/server.mjs';
import { DEFLATE_TAIL, OP, RSV1, buildFrame, deflateBomb } from '../lib/wsframe.mjs';

const MAX_FRAME = 2162688; // max_frame_bytes default: the most a message inflates to after auth

/* A raw WebSocket on s that agreed to permessage-deflate, authenticated when sub is given. */
async function deflating(s, sub) {
    const c = await rawSocket(s);
    const res = await c.handshake({ headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate' } });
    assert.match(res.headers['sec-websocket-extensions'] ?? '', /^permessage-deflate;/);
    if (sub) await c.auth(mintToken({ sub }, s.secret));
    return c;
}

/* Two ws clients on object L1 (one compressing, one not) that must keep talking meanwhile. */
async function bystanders(s) {
    const a = await open(s, 'bystander-a', { deflate: true });
    const b = await open(s, 'bystander-b', { deflate: false });
    await subscribeAll([a, b]);
    let n = 0;
    return async (what) => {
        const message = { n: ++n, pad: 'q'.repeat(2000) };
        broadcast(a, 'still', message);
        await expectNext(b, ovMessage(a, 'still', message), `${what}: a bystander's broadcast`, 2000);
        broadcast(b, 'still', message);
        await expectNext(a, ovMessage(b, 'still', message), `${what}: and back`, 2000);
        await probe(s, { what });
    };
}

test('a 1 MB compressed frame that inflates to 1 GiB closes with 1009 once 2 MiB are inflated: RSS and CPU bounded, others served', async (t) => {
    const s = await startMeasured(t);
    const check = await bystanders(s);
    await check('warm-up');
    const bomb = deflateBomb(1024);
    t.diagnostic(`the bomb: ${bomb.length} bytes inflating to 1 GiB`);
    assert.ok(bomb.length < MAX_FRAME, 'within the compressed-bytes bound: the header does not refuse it');
    const c = await deflating(s, 'bomber');
    await sleep(200);
    const base = rssBytes(s);
    const rss = sampleRss(s);
    const start = Date.now();
    c.write(buildFrame({ rsv: RSV1, payload: bomb }));
    const r = await c.expectClose(5000);
    const ms = Date.now() - start;
    await sleep(300);
    const max = rss.stop();
    assert.equal(r.code, 1009, `close code (reason ${JSON.stringify(r.reason)})`);
    t.diagnostic(`closed after ${ms} ms`);
    assertRssGrowth(t, s, base, max, MAX_FRAME + SLACK_RSS, 'a 1 GiB bomb after auth');
    assert.ok(s.sampledCpu < 1, `the server spent ${s.sampledCpu} CPU seconds on it`);
    await check('after the bomb');
});

test('before auth: a 1 KB frame that inflates to 1 MiB closes with 1009 (the 16 KiB limit), 20 at once, RSS bounded', async (t) => {
    const s = await startMeasured(t);
    const check = await bystanders(s);
    const bomb = deflateBomb(1);
    assert.ok(bomb.length < 1100, `${bomb.length} bytes`);
    const conns = [];
    for (let i = 0; i < 20; i++) conns.push(await deflating(s));
    await sleep(200);
    const base = rssBytes(s);
    const rss = sampleRss(s);
    for (const c of conns) c.write(buildFrame({ rsv: RSV1, payload: bomb }));
    const closes = await Promise.allSettled(conns.map((c) => c.expectClose(3000)));
    const max = rss.stop();
    const codes = closes.map((x) => (x.status === 'fulfilled' ? x.value.code : x.reason.message.slice(0, 80)));
    assert.deepStrictEqual(codes.filter((x) => x !== 1009), [], 'every bomber closed with 1009');
    assertRssGrowth(t, s, base, max, SLACK_RSS, '20 pre-auth bombs');
    await check('after the pre-auth bombs');
});

test('20 authenticated connections send a 1 GiB bomb at once: each closed with 1009, RSS bounded, others served', async (t) => {
    const s = await startMeasured(t);
    const check = await bystanders(s);
    const bomb = buildFrame({ rsv: RSV1, payload: deflateBomb(1024) });
    const N = 20;
    const conns = [];
    for (let i = 0; i < N; i++) conns.push(await deflating(s, `bomber-${i}`));
    await sleep(200);
    const base = rssBytes(s);
    const rss = sampleRss(s);
    for (const c of conns) c.write(bomb);
    const closes = await Promise.allSettled(conns.map((c) => c.expectClose(8000)));
    await sleep(300);
    const max = rss.stop();
    const codes = closes.map((x) => (x.status === 'fulfilled' ? x.value.code : x.reason.message.slice(0, 80)));
    assert.deepStrictEqual(codes.filter((x) => x !== 1009), [], 'every bomber closed with 1009');
    // at worst every connection holds its 2 MiB at the same time; 20 GiB if it did not stop
    assertRssGrowth(t, s, base, max, N * MAX_FRAME + SLACK_RSS, `${N} bombs of 1 GiB`);
    assert.ok(s.sampledCpu < 3, `the server spent ${s.sampledCpu} CPU seconds on them`);
    await check('after the bombs');
});

test('a bomb in 1 KB fragments of 1 MiB each: two within the limit pass, three close with 1009 when the message ends', async (t) => {
    const s = await startMeasured(t);
    // 1 MiB each, its tail in the next fragment: the stream goes on fragment after fragment
    const piece = deflateBomb(1);
    const send = (c, pieces) => {
        c.write(buildFrame({ rsv: RSV1, fin: false, payload: piece }));
        for (let i = 1; i < pieces; i++) {
            c.write(buildFrame({ opcode: OP.CONT, fin: false, payload: DEFLATE_TAIL }));
            c.write(buildFrame({ opcode: OP.CONT, fin: false, payload: piece }));
        }
    };
    // 2 MiB of spaces between two JSON braces would be a message; 2 MiB of 'a' is
    // bad_request, which shows it was inflated whole and read
    const two = await deflating(s, 'two');
    send(two, 2);
    await sleep(200);
    assert.equal(two.ended, false, 'unfinished: nothing inflated yet');
    two.write(buildFrame({ opcode: OP.CONT, fin: true, payload: Buffer.alloc(0) }));
    const reply = await two.readMessage();
    assert.equal(reply.type, 'objcast_error', '2 MiB inflated: within max_frame_bytes (2,162,688)');
    assert.equal(reply.payload.code, 'bad_request');

    const three = await deflating(s, 'three');
    send(three, 3);
    await sleep(200);
    assert.equal(three.ended, false, 'unfinished: nothing inflated yet, 3 KB held');
    three.write(buildFrame({ opcode: OP.CONT, fin: true, payload: Buffer.alloc(0) }));
    const r = await three.expectClose(3000);
    assert.equal(r.code, 1009, 'past 2,162,688 bytes inflated');
    await probe(s, { what: 'after the fragments' });
});

test('50 connections each holding a compressed message that would inflate to 1.9 MiB and never ends: RSS grows by what they sent, not what it inflates to, 1008 at message_timeout', async (t) => {
    const s = await startMeasured(t, { message_timeout: 2 });
    const check = await bystanders(s);
    const N = 50;
    const conns = [];
    for (let i = 0; i < N; i++) conns.push(await deflating(s, `holder-${i}`));
    // 1 MiB, then about 0.9 MiB more of the same stream: under the limit, and no end
    const bomb = deflateBomb(2);
    const part = bomb.subarray(0, bomb.length - 120);
    await sleep(200);
    const base = rssBytes(s);
    const rss = sampleRss(s);
    const start = Date.now();
    for (const c of conns) c.write(buildFrame({ rsv: RSV1, fin: false, payload: part }));
    await sleep(1000);
    const held = rssBytes(s) - base;
    t.diagnostic(`${N} x ${part.length} bytes sent (${(N * part.length / 1024).toFixed(0)} KiB) hold ` +
        `${mb(held)} MiB of the server's RSS`);
    assert.equal(conns.filter((c) => c.ended).length, 0, 'nothing is over a limit yet');
    await check('while they hold');
    const closes = await Promise.allSettled(conns.map((c) => c.expectClose(5000)));
    const ms = Date.now() - start;
    const codes = closes.map((x) => (x.status === 'fulfilled' ? x.value.code : x.reason.message.slice(0, 80)));
    assert.deepStrictEqual(codes.filter((x) => x !== 1008), [], 'every holder closed with 1008');
    assert.ok(ms >= 1900 && ms < 5000, `closed at message_timeout (${ms} ms)`);
    const max = rss.stop();
    // inflated, it would be N x 1.9 MiB = 95 MiB; kept as sent, N x 2 KB
    assertRssGrowth(t, s, base, max, SLACK_RSS, `${N} held compressed messages`);
    let after = rssBytes(s);
    await waitFor(() => (after = rssBytes(s)) - base < SLACK_RSS || s.release.sanitized, 3000,
        `the held memory to go back (${mb(after - base)} MiB over the base)`);
    assertRssGrowth(t, s, base, after, SLACK_RSS, 'after the holders were closed');
    await waitFor(async () => (await getMetrics(s)).samples.objcast_ws_deflate_connections === 1, 3000,
        'objcast_ws_deflate_connections back to 1 (the compressing bystander)');
    await check('after the holders');
});
