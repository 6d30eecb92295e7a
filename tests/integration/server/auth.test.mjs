// objcast_auth: the first message, a HS256 JWT; anything else closes with 1008.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';

import { auth, connect, mintToken, startServer } from '../lib/server.mjs';

const LIMITS = { maxMessageBytes: 2097152, maxDataBytes: 512000 };

test('objcast_auth with a string sub -> objcast_ready echoing ref, userId, instance, limits', async (t) => {
    const s = await startServer({ t });
    const c = await connect(s);
    c.send({ type: 'objcast_auth', token: s.token({ sub: 'u1' }), ref: 7 });
    const m = await c.next();
    assert.equal(m.type, 'objcast_ready');
    assert.equal(m.ref, 7);
    assert.equal(m.payload.userId, 'u1');
    assert.equal(typeof m.payload.instance, 'string');
    assert.equal(m.payload.instance, s.instance, 'instance as logged');
    assert.deepEqual(m.payload.limits, LIMITS);
    assert.ok(c.isOpen);
});

test('objcast_auth with an integer sub echoes it as a number', async (t) => {
    const s = await startServer({ t });
    const c = await connect(s);
    c.send({ type: 'objcast_auth', token: s.token({ sub: 42, ws: 'w-string' }), ref: 'r' });
    const m = await c.next();
    assert.equal(m.type, 'objcast_ready');
    assert.equal(m.ref, 'r');
    assert.equal(m.payload.userId, 42);
    assert.deepEqual(m.payload.limits, LIMITS);
});

test('objcast_ready reflects max_message_bytes and max_data_bytes from the conf', async (t) => {
    const s = await startServer({ t, conf: { max_message_bytes: 100000, max_data_bytes: 5000 } });
    const c = await connect(s);
    const m = await auth(c, s.token());
    assert.deepEqual(m.payload.limits, { maxMessageBytes: 100000, maxDataBytes: 5000 });
});

function tamper(token) {
    const [h, , sig] = token.split('.');
    const p = Buffer.from(JSON.stringify({ sub: 'admin', name: 'x', avatarUrl: '', ws: 987,
        exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url');
    return `${h}.${p}.${sig}`;
}

const now = () => Math.floor(Date.now() / 1000);

/* Each case: what the client sends first, given the server. */
const FAILURES = [
    ['bad signature', (s) => ({ type: 'objcast_auth', token: mintToken({}, 'not-the-secret') })],
    ['tampered payload', (s) => ({ type: 'objcast_auth', token: tamper(s.token()) })],
    ['alg none', (s) => ({ type: 'objcast_auth', token: mintToken({}, s.secret, { alg: 'none', typ: 'JWT' }) })],
    ['alg none with a valid HS256 signature', (s) => {
        const good = s.token();
        const h = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
        const [, p] = good.split('.');
        const sig = crypto.createHmac('sha256', s.secret).update(`${h}.${p}`).digest('base64url');
        return { type: 'objcast_auth', token: `${h}.${p}.${sig}` };
    }],
    ['alg HS512', (s) => ({ type: 'objcast_auth', token: mintToken({}, s.secret, { alg: 'HS512', typ: 'JWT' }) })],
    ['expired exp', (s) => ({ type: 'objcast_auth', token: s.token({ exp: now() - 60 }) })],
    ['missing exp', (s) => ({ type: 'objcast_auth', token: s.token({ exp: undefined }) })],
    ['missing sub', (s) => ({ type: 'objcast_auth', token: s.token({ sub: undefined }) })],
    ['missing ws', (s) => ({ type: 'objcast_auth', token: s.token({ ws: undefined }) })],
    ['garbage token', () => ({ type: 'objcast_auth', token: 'this.is.not-a-jwt' })],
    ['token not a string', () => ({ type: 'objcast_auth', token: 12345 })],
    ['no token', () => ({ type: 'objcast_auth' })],
    ['non-auth first message', () => ({ type: 'ovice_get_participants', objectId: 'L1', ref: 1 })],
    ['invalid JSON first message', () => '{"type":"objcast_auth","token":'],
];

for (const [name, make] of FAILURES) {
    test(`auth failure (${name}) closes with 1008`, async (t) => {
        const s = await startServer({ t });
        const c = await connect(s);
        c.send(make(s));
        const { code } = await c.closed(3000);
        assert.equal(code, 1008);
        // anything sent before the close may only be an objcast_error unauthorized
        for (const m of c.queue) {
            assert.equal(m.type, 'objcast_error', JSON.stringify(m));
            assert.equal(m.payload.code, 'unauthorized');
        }
    });
}

test('auth timeout: a silent client is closed with 4000', async (t) => {
    const s = await startServer({ t, conf: { auth_timeout: 1 } });
    const c = await connect(s);
    const t0 = Date.now();
    const { code } = await c.closed(3500);
    const elapsed = Date.now() - t0;
    assert.equal(code, 4000);
    assert.ok(elapsed >= 800, `closed after ${elapsed} ms, before auth_timeout`);
    assert.ok(elapsed <= 3000, `closed after ${elapsed} ms`);
});

test('auth within auth_timeout keeps the connection open past it', async (t) => {
    const s = await startServer({ t, conf: { auth_timeout: 1 } });
    const c = await connect(s);
    await auth(c, s.token());
    await new Promise((r) => setTimeout(r, 1800));
    assert.ok(c.isOpen, 'still open after auth_timeout');
    c.send({ type: 'nope', ref: 1 });
    assert.equal((await c.next()).payload.code, 'unknown_type');
});
