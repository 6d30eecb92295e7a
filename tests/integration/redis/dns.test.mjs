// Redis by name (docs/operations.md "Redis by name"): the host of redis_url is looked up
// beside the event loop, again at every connection attempt. A nameserver that does not
// answer (a container's DNS while containers restart) must not freeze the instance: its
// /healthz answers at once, /readyz says 503, one warning names the host, and once the name
// resolves the instance connects by itself. Shutting down during a lookup does not wait
// for it.
//
// The nameserver is the test's own (UDP, on a loopback address of its own, port 53), and
// objcastd runs in a mount namespace (unshare -m) where /etc/resolv.conf names it: root
// only, skipped otherwise.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { startNode, startRedis, waitReady } from '../lib/redis.mjs';
import { httpGet, sleep, waitFor } from '../lib/server.mjs';

const NAME = 'redis.objcast.test';

/*
 * A nameserver on addr:53 that answers NAME with an A record (127.0.0.1) once answering is
 * set, and drops every query until then. AAAA gets no records; any other name NXDOMAIN.
 */
async function nameserver(addr) {
    const sock = dgram.createSocket('udp4');
    const ns = { answering: false, queries: 0 };
    sock.on('message', (q, from) => {
        ns.queries++;
        if (!ns.answering || q.length < 12) return;
        let off = 12;
        const labels = [];
        while (off < q.length && q[off] !== 0) {
            labels.push(q.subarray(off + 1, off + 1 + q[off]).toString('latin1'));
            off += 1 + q[off];
        }
        const qEnd = off + 5; // the root label, QTYPE, QCLASS
        if (qEnd > q.length) return;
        const qtype = q.readUInt16BE(off + 1);
        const name = labels.join('.').toLowerCase();
        const known = name === NAME;
        const answer = known && qtype === 1;
        const head = Buffer.alloc(12);
        q.copy(head, 0, 0, 2); // the id
        head.writeUInt16BE(0x8180 | (q.readUInt16BE(2) & 0x0100) | (known ? 0 : 3), 2);
        head.writeUInt16BE(1, 4);
        head.writeUInt16BE(answer ? 1 : 0, 6);
        const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 127, 0, 0, 1]);
        sock.send(Buffer.concat([head, q.subarray(12, qEnd), answer ? rr : Buffer.alloc(0)]), from.port, from.address);
    });
    await new Promise((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(53, addr, resolve);
    });
    ns.close = () => sock.close();
    return ns;
}

const canUnshare = () => process.getuid?.() === 0 &&
    spawnSync('unshare', ['-m', 'true']).status === 0;

/* Polls /healthz n times, every stepMs; resolves the slowest answer in ms. */
async function slowestHealthz(server, n, stepMs) {
    let slowest = 0;
    for (let i = 0; i < n; i++) {
        const t0 = Date.now();
        const r = await httpGet(server, '/healthz');
        assert.strictEqual(r.status, 200);
        slowest = Math.max(slowest, Date.now() - t0);
        await sleep(stepMs);
    }
    return slowest;
}

test('redis_url with a host name from /etc/hosts (localhost) connects', async (t) => {
    const redis = await startRedis({ t });
    const A = await startNode({ t, redis, conf: { redis_url: `redis://localhost:${redis.port}` } });
    await waitReady(A);
    assert.match(A.stdout() + A.stderr(), /redis up conn=\S+ role=commands host=localhost address=127\.0\.0\.1 /);
});

test('a nameserver that does not answer: /healthz stays quick, /readyz 503, one warning; answering, the instance connects', { skip: !canUnshare() && 'needs root and unshare -m' }, async (t) => {
    const redis = await startRedis({ t });
    const addr = `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    const ns = await nameserver(addr);
    t.after(() => ns.close());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'objcast-dns-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const resolvConf = path.join(dir, 'resolv.conf');
    // a lookup gives up after 2 s: long enough that a loop blocked by it is plain to see
    writeFileSync(resolvConf, `nameserver ${addr}\noptions timeout:2 attempts:1\n`);
    const wrap = ['unshare', '-m', 'sh', '-c', `mount --bind '${resolvConf}' /etc/resolv.conf && exec "$0" "$@"`];
    const conf = { redis_url: `redis://${NAME}:${redis.port}` };
    const A = await startNode({ t, redis, conf, wrap });
    const B = await startNode({ t, redis, conf, wrap });

    // lookups are being made and go unanswered for the whole window
    await waitFor(() => ns.queries > 0, 5000, 'a query to reach the test nameserver');
    const slowest = await slowestHealthz(A, 30, 100);
    assert.ok(slowest < 500, `/healthz took ${slowest} ms while Redis's name did not resolve`);
    assert.strictEqual((await httpGet(A, '/readyz')).status, 503);
    await waitFor(() => /redis host lookup failed conn=\S+ role=\S+ host=redis\.objcast\.test /.test(A.stdout() + A.stderr()),
        5000, 'the failed lookup logged');
    await sleep(2500); // more attempts fail: still one warning per connection
    const warnings = [...(A.stdout() + A.stderr()).matchAll(/warning .*redis host lookup failed (conn=\S+ role=\S+)/g)];
    const perConn = {};
    for (const m of warnings) perConn[m[1]] = (perConn[m[1]] || 0) + 1;
    // once per Redis connection of the instance, not once per attempt
    for (const [conn, n] of Object.entries(perConn)) assert.strictEqual(n, 1, `${n} warnings for ${conn}`);

    // shutting down during a lookup does not wait for it
    const t0 = Date.now();
    const res = await B.stop();
    assert.strictEqual(res.code, 0);
    assert.ok(Date.now() - t0 < 1500, `B took ${Date.now() - t0} ms to stop during a lookup`);

    ns.answering = true;
    await waitReady(A, 200, 15000);
    assert.match(A.stdout() + A.stderr(), /redis up conn=\S+ role=commands host=redis\.objcast\.test address=127\.0\.0\.1 /);
});
