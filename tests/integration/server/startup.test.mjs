// Startup and the small HTTP routes served on the WebSocket port (/metrics: metrics.test.mjs).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import {
    connect, connectAuthed, httpGet, httpRequest, mintToken, rawSocket, sleep, srcDir, startServer,
    waitFor,
} from '../lib/server.mjs';

test('startup logs the listening line with host, port, instance and engine', async (t) => {
    const s = await startServer({ t });
    const line = s.stdout().split('\n').find((l) => l.includes('objcastd listening on'));
    assert.ok(line, 'listening line on stdout');
    assert.match(line, /objcastd listening on 127\.0\.0\.1:\d+ instance=\S+ engine=memory/);
    assert.ok(s.port > 0 && s.port < 65536, `port ${s.port}`);
    assert.ok(s.instance.length > 0);
    assert.equal(s.engine, 'memory');
});

test('the listening line is logged whatever log_level says', async (t) => {
    const s = await startServer({ t, conf: { log_level: 'error' } });
    assert.match(s.stdout(), /objcastd listening on 127\.0\.0\.1:\d+ instance=\S+ engine=memory/);
    assert.doesNotMatch(s.stdout(), / info pid=\d+ (?!objcastd listening)/);
});

test('GET /healthz is 200', async (t) => {
    const s = await startServer({ t });
    const res = await httpGet(s, '/healthz');
    assert.equal(res.status, 200);
});

test('GET /readyz is 200 with engine memory', async (t) => {
    const s = await startServer({ t, conf: { engine: 'memory' } });
    const res = await httpGet(s, '/readyz');
    assert.equal(res.status, 200);
});

test('unknown path is 404', async (t) => {
    const s = await startServer({ t });
    assert.equal((await httpGet(s, '/no/such/thing')).status, 404);
    assert.equal((await httpGet(s, '/healthzz')).status, 404);
});

test('GET / is a landing page with the demo on (links to the demo and the health routes), 404 without', async (t) => {
    const off = await startServer({ t });
    assert.equal((await httpGet(off, '/')).status, 404);
    const on = await startServer({ t, conf: { demo: 'yes', static_dir: `${srcDir}/web` } });
    const res = await httpGet(on, '/');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/html/);
    for (const href of ['/demo/', '/healthz', '/readyz', '/metrics', '/objcast.js']) {
        assert.ok(res.body.includes(`href="${href}"`), `links to ${href}`);
    }
    assert.doesNotMatch(res.body, /(src|href)="(https?:)?\/\//, 'no external assets');
});

test('POST /healthz is 405', async (t) => {
    const s = await startServer({ t });
    const res = await httpRequest(s, 'POST', '/healthz', { 'Content-Length': '0' });
    assert.equal(res.status, 405);
});

test('a malformed request head is answered 400', async (t) => {
    const s = await startServer({ t });
    const heads = [
        'GET / HTTP/1.1\r\nHost: x\r\nthis line has no colon\r\n\r\n',
        'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n',
        'GET /healthz HTTP/9.Z\r\nHost: x\r\n\r\n',
    ];
    for (const head of heads) {
        const c = await rawSocket(s);
        c.write(head);
        const res = await c.readResponse(3000);
        assert.equal(res.status, 400, `answer to ${JSON.stringify(head)}`);
        c.destroy();
    }
    assert.equal((await httpGet(s, '/healthz')).status, 200, 'still serving');
});

test('an over-long request head (64 KiB header) is answered 431 or 400', async (t) => {
    const s = await startServer({ t });
    const c = await rawSocket(s);
    c.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    const res = await c.readResponse(5000);
    assert.ok([400, 431].includes(res.status), `status ${res.status}`);
    c.destroy();
    assert.equal((await httpGet(s, '/healthz')).status, 200, 'still serving');
});

test('HTTP keep-alive: two requests on one connection', async (t) => {
    const s = await startServer({ t });
    const c = await rawSocket(s);
    c.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const a = await c.readResponse();
    assert.equal(a.status, 200);
    assert.notEqual((a.headers.connection || '').toLowerCase(), 'close');
    c.write('GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
    const b = await c.readResponse();
    assert.equal(b.status, 200);
    assert.equal(c.ended, false, 'connection still open');
    c.destroy();
});

test('HTTP pipelining: two requests in one write get two responses in order', async (t) => {
    const s = await startServer({ t });
    const c = await rawSocket(s);
    c.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal((await c.readResponse()).status, 200);
    assert.equal((await c.readResponse()).status, 404);
    c.destroy();
});

test('token_secret from the environment (OBJCAST_TOKEN_SECRET): tokens verify, and the command line does not show it', async (t) => {
    const s = await startServer({ t, secretVia: 'env' });
    const c = await connectAuthed(s, { sub: 'env-user' });
    assert.equal(c.ready.type, 'objcast_ready');
    const cmdline = readFileSync(`/proc/${s.proc.pid}/cmdline`, 'latin1');
    assert.ok(!cmdline.includes(s.secret), 'the secret is not an argument');
    assert.ok(!/token_secret/.test(cmdline));
});

test('token_secret on the command line wins over OBJCAST_TOKEN_SECRET', async (t) => {
    const s = await startServer({ t, env: { OBJCAST_TOKEN_SECRET: 'x'.repeat(40) } });
    const c = await connectAuthed(s, { sub: 'arg-user' }); // minted with s.secret, the argument
    assert.equal(c.ready.type, 'objcast_ready');
    const other = await connect(s);
    other.send({ type: 'objcast_auth', token: mintToken({ sub: 'env-user' }, 'x'.repeat(40)) });
    assert.equal((await other.next()).payload.code, 'unauthorized');
});

test('each connection logs one info line when it authenticates and one when it closes, with user, workspace, instance and why', async (t) => {
    const s = await startServer({ t, conf: { log_level: 'info' } });
    const a = await connectAuthed(s, { sub: 'alice', ws: 7 });
    const b = await connectAuthed(s, { sub: 'bob', ws: 7 });
    a.close(1000);
    await a.closed(2000);
    b.destroy();
    const lines = () => s.stdout().split('\n').filter((l) => / info pid=\d+ connection /.test(l));
    await waitFor(() => lines().length === 4, 3000, 'four connection lines');
    const [openA, openB] = lines().filter((l) => l.includes('connection opened'));
    assert.match(openA, new RegExp(`connection opened id=\\d+ user=alice ws=7 instance=${s.instance} loopback=1$`));
    assert.match(openB, /user=bob ws=7/);
    const closeA = lines().find((l) => l.includes('connection closed') && l.includes('user=alice'));
    assert.match(closeA, /code=1000 reason="the client closed"$/);
    const closeB = lines().find((l) => l.includes('connection closed') && l.includes('user=bob'));
    assert.match(closeB, /code=0 reason="the client went away"$/);
});

test('connection lines are rate-limited: 20 a second after a burst of 200, and the next line written counts those left out', async (t) => {
    const s = await startServer({ t, conf: { log_level: 'info' } });
    const t0 = Date.now();
    const conns = [];
    for (let i = 0; i < 300; i += 50) {
        conns.push(...await Promise.all(Array.from({ length: 50 }, (_, k) => connectAuthed(s, { sub: `u${i + k}` }))));
    }
    for (const c of conns) c.destroy();
    const count = () => s.stdout().split('\n').filter((l) => / connection (opened|closed) /.test(l)).length;
    await waitFor(() => count() >= 200, 5000, 'the burst of 200 lines');
    await sleep(300);
    const allowed = 200 + Math.ceil((Date.now() - t0) / 1000 * 20) + 1;
    assert.ok(count() <= allowed, `${count()} lines for 600 events in ${Date.now() - t0} ms: at most ${allowed}`);
    await sleep(1000);
    const late = await connectAuthed(s, { sub: 'late' });
    await waitFor(() => s.stdout().includes('user=late'), 3000, 'the late line');
    const line = s.stdout().split('\n').find((l) => l.includes('user=late'));
    assert.match(line, /unlogged=\d+$/, 'it says how many were left out');
    late.destroy();
});
