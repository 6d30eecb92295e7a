// Memory per connection is bounded whatever a client sends (issue 11, item 2; DESIGN.md
// Architecture): every byte queued for a client (HTTP responses, pongs, frames) counts
// toward client_output_limit, a connection past it is no longer read, and the memory of a
// dropped slow consumer goes back to the OS. Each test attacks a release objcastd on
// loopback from one client that never reads, measures the server's RSS (VmRSS) and checks
// that other clients are served meanwhile. See lib/abuse.mjs for the release binary.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';

import {
    MiB, assertRssGrowth, attacker, mb, probe, probeWhile, pump, rssBytes, sampleRss, startMeasured,
    upgradeAttacker,
} from '../lib/abuse.mjs';
import { broadcast, open, presence, subscribeAll } from '../lib/proto.mjs';
import { getMetrics, mintToken, rawSocket, sleep, waitFor } from '../lib/server.mjs';
import { OP, buildFrame } from '../lib/wsframe.mjs';

const LIMIT = 4 * MiB; // client_output_limit of these tests (abuseConf)
const SLACK = 8 * MiB; // what the server may grow besides one client's queue
const BOUND = LIMIT + SLACK;

const wsConnections = async (s) => (await getMetrics(s)).samples.objcast_connections;

/* One keep-alive GET /objcast.js on a fresh connection: its response size in bytes. */
async function responseSize(s, request) {
    const c = await rawSocket(s);
    try {
        c.write(request);
        const res = await c.readResponse();
        assert.equal(res.status, 200, 'GET /objcast.js');
        assert.ok(res.body.length > 10000, `objcast.js is ${res.body.length} bytes`);
        return res.headSize + Buffer.byteLength(res.body);
    } finally {
        c.destroy();
    }
}

test('8,000 pipelined GET /objcast.js that are never read: RSS bounded, others served, every answer comes once read', async (t) => {
    const s = await startMeasured(t);
    const N = 8000;
    const PER_CHUNK = 500;
    const req = 'GET /objcast.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    const size = await responseSize(s, req);
    await probe(s, { what: 'warm-up' });
    const base = rssBytes(s);
    const rss = sampleRss(s);

    const a = await attacker(s);
    const writing = pump(a, Buffer.from(req.repeat(PER_CHUNK)), N / PER_CHUNK, { maxMs: 8000 })
        .then(async (r) => {
            await sleep(1000); // what the server had read by now is answered (or waits)
            return r;
        });
    const times = await probeWhile(s, writing);
    const w = await writing;
    const max = rss.stop();
    t.diagnostic(`attacker wrote ${w.writes * PER_CHUNK} requests in ${w.ms} ms (stalled: ${w.stalled}); ` +
        `probes ${times.join(', ')} ms; one answer is ${size} bytes`);
    assertRssGrowth(t, s, base, max, BOUND, `${N} pipelined GET /objcast.js`);

    // Reading now, the attacker gets an answer to each request it had written, in order
    // and whole: the server stopped reading, it did not drop or cut answers.
    const want = w.writes * PER_CHUNK * size;
    a.sock.removeAllListeners('data');
    let got = 0;
    a.sock.on('data', (d) => (got += d.length));
    a.sock.resume();
    await waitFor(() => got >= want || a.ended, 20000, `${want} bytes of answers (got ${got})`, 50);
    await sleep(200);
    assert.equal(got, want, 'the attacker gets exactly one whole answer per request');
    await probe(s, { what: 'after the attack' });
});

/* Writes n copies of the ping frame in chunks of perChunk (for at most maxMs), probing other
 * clients meanwhile; waits a second more for the server to catch up. Returns the peak RSS. */
async function floodPings(t, s, a, rss, ping, n, perChunk, maxMs) {
    const writing = pump(a, Buffer.concat(Array(perChunk).fill(ping)), n / perChunk, { maxMs })
        .then(async (r) => {
            await sleep(1000);
            return r;
        });
    const times = await probeWhile(s, writing);
    const w = await writing;
    const max = rss.stop();
    t.diagnostic(`attacker wrote ${w.writes * perChunk} pings (${mb(w.bytes)} MiB) in ${w.ms} ms ` +
        `(stalled: ${w.stalled}); probes ${times.join(', ')} ms`);
    return max;
}

test('2,000,000 empty pings before auth, never reading the pongs: RSS bounded, others served', async (t) => {
    const s = await startMeasured(t);
    const PER_CHUNK = 10000;
    const N = 2000000;
    await probe(s, { what: 'warm-up' });
    const base = rssBytes(s);
    const rss = sampleRss(s);

    const a = await attacker(s);
    await upgradeAttacker(a);
    const ping = buildFrame({ opcode: OP.PING, maskKey: [1, 2, 3, 4] });
    assert.equal(ping.length, 6);
    // auth_timeout is 10 s: the attack stops well before it
    const max = await floodPings(t, s, a, rss, ping, N, PER_CHUNK, 7000);
    assertRssGrowth(t, s, base, max, BOUND, `${N} empty pings before auth`);
    // and the unauthenticated attacker is gone by auth_timeout (10 s) plus the flush time
    await waitFor(async () => (await wsConnections(s)) === 0, 10000, 'the attacker to be closed', 200);
});

test('400,000 125-byte pings after auth, never reading the pongs: RSS bounded, others served, attacker closed', async (t) => {
    const s = await startMeasured(t);
    const PER_CHUNK = 500;
    const N = 400000;
    await probe(s, { what: 'warm-up' });

    const a = await attacker(s);
    await upgradeAttacker(a, mintToken({ sub: 'pinger' }, s.secret));
    await sleep(200);
    const base = rssBytes(s);
    const rss = sampleRss(s);
    const ping = buildFrame({ opcode: OP.PING, payload: Buffer.alloc(125, 0x61), maskKey: [1, 2, 3, 4] });
    assert.equal(ping.length, 131);
    const max = await floodPings(t, s, a, rss, ping, N, PER_CHUNK, 8000);
    assertRssGrowth(t, s, base, max, BOUND, `${N} 125-byte pings after auth`);

    // Not read any more, it cannot answer the server's pings: closed by the ping timeout
    // (ping_interval 5 + ping_timeout 5), not kept forever.
    const stalledAt = Date.now();
    await waitFor(async () => (await wsConnections(s)) === 0, 14000,
        'the ping flooder to be closed (ping_interval + ping_timeout)', 200);
    t.diagnostic(`attacker closed ${Date.now() - stalledAt} ms after the attack`);
    await probe(s, { what: 'after the attack' });
});

test('a slow consumer dropped after queueing ~128 MiB of 1 MiB broadcasts: RSS returns close to where it was', async (t) => {
    const QUEUE = 128 * MiB;
    // Pings far apart: on a loaded machine 130 MiB of broadcasts can take longer than
    // ping_interval + ping_timeout, and the slow consumer must be dropped for its queue.
    // No history: it keeps up to history_max_bytes (16 MiB) of the object's messages by
    // design, and this is about the slow consumer's queue.
    const s = await startMeasured(t, {
        client_output_limit: QUEUE,
        client_rate: [100000, 100000],
        ping_interval: 120,
        ping_timeout: 60,
        history_size: 0,
    });
    const sender = await open(s, 'sender', { raw: false });
    const good = await open(s, 'good', { raw: false });
    const slow = await open(s, 'slow', { raw: false });
    await subscribeAll([sender, good, slow]);
    // random text: a receiver that agreed to permessage-deflate queues it compressed, and
    // deflate shrinks base64 by a quarter only (1 MiB of 'x' would queue as 1 KB)
    const pad = crypto.randomBytes(MiB * 3 / 4).toString('base64');

    // warm up with a few 1 MiB messages everyone reads, so one-time allocations count in
    // the baseline
    for (let n = 0; n < 3; n++) {
        broadcast(sender, 'warm', { n, pad });
        for (const c of [good, slow]) {
            const m = await c.next(undefined, 5000);
            assert.equal(m.type, 'ovice_message');
            assert.equal(m.payload.message.n, n);
        }
    }
    await sleep(500);
    const base = rssBytes(s);
    const rss = sampleRss(s);

    slow.ws._socket.pause(); // never reads again
    let sent = 0;
    let dropped = false;
    const limitMsgs = Math.ceil((QUEUE * 2) / MiB); // far more than the queue plus kernel buffers
    while (!dropped && sent < limitMsgs) {
        broadcast(sender, 'bulk', { n: sent++, pad });
        for (;;) {
            const m = await good.next(undefined, 10000);
            if (m.type === 'ovice_participant_unsubscribed') {
                assert.deepStrictEqual(m, presence('unsubscribed', slow, good));
                dropped = true;
                continue;
            }
            assert.equal(m.type, 'ovice_message', JSON.stringify(m).slice(0, 200));
            assert.equal(m.payload.message.n, sent - 1);
            break;
        }
    }
    assert.ok(dropped, `the slow consumer was not dropped after ${sent} messages of 1 MiB`);
    const peak = rss.stop();
    t.diagnostic(`slow consumer dropped after ${sent} messages; RSS ${mb(base)} -> peak ${mb(peak)} MiB`);
    if (!s.release.sanitized) {
        assert.ok(peak - base >= QUEUE / 2, `the slow consumer's queue showed in RSS (peak ${mb(peak)} MiB)`);
    }

    // the freed queue goes back to the OS within a second or two
    let after = rssBytes(s);
    const deadline = Date.now() + 3000;
    while (after - base > SLACK && Date.now() < deadline) {
        await sleep(200);
        after = rssBytes(s);
    }
    assertRssGrowth(t, s, base, after, SLACK, 'RSS 3 s after the slow consumer was dropped');
    await probe(s, { what: 'after the drop' });
});
