// max_connections caps every TCP connection, not only WebSockets (issue 11, item 2): idle
// plain TCP connections count, and one over the cap is accepted and closed at once (no
// HTTP answer needed); the refusal is counted in /metrics.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { connect, connectAuthed, getMetrics, rawSocket, sleep, startServer, waitFor } from '../lib/server.mjs';

const CAP = 20;

/* Whether c (a RawConn that reads) is still open after ms. */
async function stillOpen(c, ms = 0) {
    if (ms) await sleep(ms);
    return !c.ended;
}

/* One keep-alive GET /healthz on an open raw connection: its status. */
async function healthz(c) {
    c.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    return (await c.readResponse()).status;
}

test('max_connections 20: of 25 idle TCP connections 20 stay, 5 are closed at once; room again after some close', async (t) => {
    const s = await startServer({ t, conf: { max_connections: CAP, log_level: 'warning' } });
    const conns = [];
    for (let i = 0; i < CAP + 5; i++) conns.push(await rawSocket(s));

    // the 5 over the cap are closed promptly; the first 20 stay
    await waitFor(() => conns.filter((c) => c.ended).length >= 5, 2000,
        `5 connections over the cap to be closed (closed: ${conns.filter((c) => c.ended).length})`, 20);
    await sleep(300);
    const open = conns.map((c, i) => (c.ended ? -1 : i)).filter((i) => i >= 0);
    assert.deepStrictEqual(open, [...Array(CAP).keys()], 'the first 20 connections stay, the last 5 are closed');
    for (const c of conns.slice(CAP)) {
        const got = c.buf.toString('latin1');
        assert.ok(got === '' || /^HTTP\/1\.1 503 /.test(got),
            `a refused connection gets a 503 or nothing (got ${JSON.stringify(got.slice(0, 40))})`);
    }
    // the ones kept are real connections: one of them is served
    assert.equal(await healthz(conns[0]), 200);

    // after 5 close, 5 new connections are accepted (one of them a WebSocket that works)
    for (const c of conns.slice(1, 6)) c.destroy();
    await sleep(300);
    const fresh = [];
    for (let i = 0; i < 4; i++) fresh.push(await rawSocket(s));
    const ws = await connectAuthed(s, { sub: 'late' });
    ws.send({ type: 'objcast_nope', ref: 'n' });
    assert.equal((await ws.next()).ref, 'n', 'the WebSocket accepted under the cap works');
    for (const c of fresh) assert.ok(await stillOpen(c), 'a connection under the cap stays');
    assert.ok(await stillOpen(fresh[0], 300), 'a connection under the cap stays');
    assert.equal(await healthz(fresh[0]), 200);

    // full again: one more (a WebSocket this time) is refused, the others stay
    await assert.rejects(connect(s, { timeoutMs: 2000 }), 'a WebSocket over the cap is refused');
    const more = await rawSocket(s);
    await waitFor(() => more.ended, 2000, 'a plain connection over the cap to be closed', 20);
    assert.ok(ws.isOpen, 'the WebSocket under the cap stays open');
    assert.equal(await healthz(conns[0]), 200);
});

test('max_connections: one more WebSocket is refused (503 or closed); room again once one closes', async (t) => {
    const s = await startServer({ t, conf: { max_connections: 3 } });
    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await connectAuthed(s, { sub: `u${i}`, ws: 1 }));
    // Refused at accept: a 503 when it arrives before the close, else a hang-up.
    await assert.rejects(connect(s), (e) => e.statusCode === 503 || e.code === 'ECONNRESET' ||
        /socket hang up/.test(e.message));
    clients[0].close();
    await clients[0].closed();
    // The server frees the closed connection on its next loop turn; until then /metrics,
    // one TCP connection more, may be refused too, and counted with the first refusal.
    let refusedPolls = 0;
    const m = await waitFor(async () => {
        let got;
        try {
            got = await getMetrics(s);
        } catch {
            refusedPolls++;
            return false;
        }
        return got.samples.objcast_connections === 2 && got;
    }, 3000, 'two WebSockets left, and room for /metrics');
    assert.equal(m.samples.objcast_http_refused_total, 1 + refusedPolls, 'every refusal is counted');
    let ok = null;
    for (let i = 0; i < 50 && !ok; i++) {
        ok = await connect(s).catch(() => null);
        if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(ok, 'a connection is accepted again');
});
