// The WebSocket upgrade on GET /ws (RFC 6455 section 4).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { connect, rawSocket, startServer } from '../lib/server.mjs';
import { acceptKey } from '../lib/wsframe.mjs';

test('a valid upgrade gets 101 and the ws client accepts Sec-WebSocket-Accept', async (t) => {
    const s = await startServer({ t });
    const c = await connect(s);
    assert.ok(c.isOpen);
    c.close(1000);
    await c.closed(3000);
});

test('101 carries the RFC 6455 example Sec-WebSocket-Accept', async (t) => {
    const s = await startServer({ t });
    const c = await rawSocket(s);
    const res = await c.upgrade({ key: 'dGhlIHNhbXBsZSBub25jZQ==' });
    assert.equal(res.status, 101);
    assert.equal(res.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    assert.match(res.headers.upgrade || '', /^websocket$/i);
    assert.match(res.headers.connection || '', /upgrade/i);
    assert.equal(res.headers['sec-websocket-extensions'], undefined, 'no extension negotiated');
    c.destroy();
});

test('upgrade header values are case-insensitive and Connection may list tokens', async (t) => {
    const s = await startServer({ t });
    const c = await rawSocket(s);
    const res = await c.upgrade({ headers: { Upgrade: 'WebSocket', Connection: 'keep-alive, Upgrade' } });
    assert.equal(res.status, 101);
    assert.equal(res.headers['sec-websocket-accept'], acceptKey(res.key));
    c.destroy();
});

test('missing Sec-WebSocket-Key is 400', async (t) => {
    const s = await startServer({ t });
    const c = await rawSocket(s);
    const res = await c.upgrade({ headers: { 'Sec-WebSocket-Key': null } });
    assert.equal(res.status, 400);
    c.destroy();
});

test('invalid Sec-WebSocket-Key (not base64 of 16 bytes) is 400', async (t) => {
    const s = await startServer({ t });
    for (const key of ['abc', 'not base64 at all!!!!!!!', Buffer.alloc(15).toString('base64'),
        Buffer.alloc(17).toString('base64')]) {
        const c = await rawSocket(s);
        const res = await c.upgrade({ key });
        assert.equal(res.status, 400, `key ${JSON.stringify(key)}`);
        c.destroy();
    }
});

test('Sec-WebSocket-Version 8 is 426 with Sec-WebSocket-Version: 13', async (t) => {
    const s = await startServer({ t });
    const c = await rawSocket(s);
    const res = await c.upgrade({ headers: { 'Sec-WebSocket-Version': '8' } });
    assert.equal(res.status, 426);
    assert.equal(res.headers['sec-websocket-version'], '13');
    c.destroy();
});

test('allowed_origins: a foreign Origin is 403, an allowed one is 101', async (t) => {
    const s = await startServer({ t, conf: { allowed_origins: 'https://ok.example' } });
    await assert.rejects(connect(s, { origin: 'https://evil.example' }), (e) => e.statusCode === 403);
    const raw = await rawSocket(s);
    const res = await raw.upgrade({ headers: { Origin: 'https://evil.example' } });
    assert.equal(res.status, 403);
    raw.destroy();
    const ok = await connect(s, { origin: 'https://ok.example' });
    assert.ok(ok.isOpen);
    ok.close(1000);
});

test('GET /ws without Upgrade is 400 or 426', async (t) => {
    const s = await startServer({ t });
    const c = await rawSocket(s);
    c.write('GET /ws HTTP/1.1\r\nHost: x\r\n\r\n');
    const res = await c.readResponse();
    assert.ok([400, 426].includes(res.status), `status ${res.status}`);
    c.destroy();
});

test('POST /ws is 405 or 400', async (t) => {
    const s = await startServer({ t });
    const c = await rawSocket(s);
    c.write('POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${Buffer.alloc(16, 1).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
        'Content-Length: 0\r\n\r\n');
    const res = await c.readResponse();
    assert.ok([400, 405].includes(res.status), `status ${res.status}`);
    c.destroy();
});

test('an upgrade on another path is 404', async (t) => {
    const s = await startServer({ t });
    await assert.rejects(connect(s, { path: '/not-ws' }), (e) => e.statusCode === 404);
});
