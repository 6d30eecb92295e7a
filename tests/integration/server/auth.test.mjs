// objcast_auth: the first message, a HS256 JWT; anything else closes with 1008. Token
// lifetime (docs/protocol.md section 2.5): a connection lives as long as its token, objcast_refresh
// extends it, and a refused refresh leaves the old token in force. The demo token endpoint
// answers only requests whose Host names this machine (DNS rebinding).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';

import {
    OBJ, assertError, claimsOf, expectError, expectNext, nowSec, open, presence, signJwt, subscribe, user,
} from '../lib/proto.mjs';
import { auth, connect, httpGet, mintToken, rawSocket, startServer } from '../lib/server.mjs';

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

// ---------------------------------------------------------------------------------------
// Lifetime

/* A connection token for c's user (its claims), overridden by claims. */
function tokenFor(s, c, claims) {
    const body = { ...c.claims, ...claims };
    for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
    return signJwt(body, s.secret);
}

/* Waits for c to close; returns {code, at} (at: Date.now() when the close arrived). */
async function closedAt(c, timeoutMs) {
    const info = await c.closed(timeoutMs);
    return { code: info.code, at: Date.now() };
}

test('a connection whose token expires is closed with 4001 at its exp', async (t) => {
    const s = await startServer({ t });
    const exp = nowSec() + 2;
    const a = await open(s, user('a', { exp }));
    await subscribe(a);
    const { code, at } = await closedAt(a, 6000);
    assert.equal(code, 4001);
    assert.ok(at >= exp * 1000 - 100, `closed ${exp * 1000 - at} ms before exp`);
    assert.ok(at <= exp * 1000 + 1500, `closed ${at - exp * 1000} ms after exp`);
    const metrics = (await httpGet(s, '/metrics')).body;
    assert.match(metrics, /^objcast_server_closes_total\{reason="token_expired"\} 1$/m);
});

test('refresh before exp: objcast_refreshed with the new exp, open past the old exp, closed at the new one', async (t) => {
    const s = await startServer({ t });
    const exp1 = nowSec() + 2;
    const a = await open(s, user('a', { exp: exp1 }));
    const b = await open(s, 'b');
    await subscribe(a);
    await subscribe(b);
    await expectNext(a, presence('subscribed', b, a));

    const exp2 = exp1 + 3;
    a.send({ type: 'objcast_refresh', token: tokenFor(s, a, { exp: exp2 }), ref: 'r1' });
    assert.deepStrictEqual(await a.next(), { type: 'objcast_refreshed', ref: 'r1', payload: { exp: exp2 } });

    // Past the first exp: still open, still on the object.
    while (Date.now() < exp1 * 1000 + 1000) await new Promise((r) => setTimeout(r, 100));
    assert.equal(a.closeInfo, null, 'not closed at the old exp');
    a.send({ type: 'ovice_broadcast_message', objectId: OBJ, payload: { source: '', event: 'e', objectId: OBJ, message: 1 } });
    const got = await b.next('ovice_message');
    assert.equal(got.payload.event, 'e');

    // A refresh without ref is answered without one.
    const exp3 = exp2 + 1;
    a.send({ type: 'objcast_refresh', token: tokenFor(s, a, { exp: exp3 }) });
    assert.deepStrictEqual(await a.next('objcast_refreshed'), { type: 'objcast_refreshed', payload: { exp: exp3 } });

    const { code, at } = await closedAt(a, 8000);
    assert.equal(code, 4001);
    assert.ok(at >= exp3 * 1000 - 100 && at <= exp3 * 1000 + 1500, `closed at ${at - exp3 * 1000} ms from the last exp`);
    assert.equal((await b.next('ovice_participant_unsubscribed')).payload.id, 'a');
});

test('refused refreshes -> unauthorized with ref, the connection stays and still closes at the old exp', async (t) => {
    const s = await startServer({ t });
    const exp = nowSec() + 3;
    const a = await open(s, user('a', { exp, ws: 987 }));
    const later = exp + 60;
    const bad = [
        ['another sub', tokenFor(s, a, { sub: 'b', exp: later })],
        ['another ws', tokenFor(s, a, { ws: 988, exp: later })],
        ['the same exp', tokenFor(s, a, { exp })],
        ['an earlier exp', tokenFor(s, a, { exp: exp - 1 })],
        ['an expired token', tokenFor(s, a, { exp: nowSec() - 10 })],
        ['a bad signature', signJwt({ ...a.claims, exp: later }, 'not-the-secret')],
        ['alg none', signJwt({ ...a.claims, exp: later }, s.secret, 'none')],
        ['no sub', tokenFor(s, a, { sub: undefined, exp: later })],
        ['garbage', 'not.a.jwt'],
        ['no token', undefined],
        ['a token that is not a string', 42],
    ];
    for (const [name, token] of bad) {
        const ref = `bad-${name}`;
        a.send({ type: 'objcast_refresh', token, ref });
        const m = await a.next();
        assertError(m, token === 42 ? 'bad_request' : 'unauthorized', { ref });
        assert.equal(a.closeInfo, null, `${name}: the connection stays`);
    }
    // Still authenticated and working.
    await subscribe(a);
    const { code, at } = await closedAt(a, 6000);
    assert.equal(code, 4001, 'closed as the old token expires');
    assert.ok(at >= exp * 1000 - 100 && at <= exp * 1000 + 1500, `closed at ${at - exp * 1000} ms from the old exp`);
});

test('objcast_refresh as the first message -> close 1008', async (t) => {
    const s = await startServer({ t });
    const a = await open(s, 'a');
    const c = await connect(s);
    c.send({ type: 'objcast_refresh', token: tokenFor(s, a, { exp: nowSec() + 60 }), ref: 1 });
    await expectError(c, 'unauthorized', { ref: 1 });
    assert.equal((await c.closed(3000)).code, 1008);
});

// ---------------------------------------------------------------------------------------
// The demo token endpoint

/* GET path on a raw socket with exactly these header lines; returns {status, body}. */
async function rawGet(s, path, headerLines) {
    const c = await rawSocket(s);
    c.write(`GET ${path} HTTP/1.1\r\n${headerLines.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`);
    const res = await c.readResponse(3000);
    c.destroy();
    return res;
}

test('demo token endpoint: a Host that is not a loopback name is refused (DNS rebinding)', async (t) => {
    const s = await startServer({ t, conf: { demo: 'yes' } });
    const evil = ['evil.example', `evil.example:${s.port}`, `localhost.evil.example:${s.port}`,
        `127.0.0.1.evil.example`, `127.0.0.1.nip.io:${s.port}`, `[::2]:${s.port}`, '128.0.0.1', `localhost:${s.port}x`,
        'localhost:', '127.1', '0x7f.0.0.1', `[::1`];
    for (const host of evil) {
        for (const p of ['/demo/token?name=E', `/demo/object-token?objectId=L1&userId=u&host=true`]) {
            const res = await httpGet(s, p, { Host: host });
            assert.equal(res.status, 403, `${p} with Host: ${host}`);
            assert.ok(!res.body.includes('"token"'), `no token for Host: ${host}`);
        }
    }
    // No Host header at all.
    const res = await rawGet(s, '/demo/token', []);
    assert.equal(res.status, 403);
    // The demo pages themselves are not tokens: still served.
    assert.equal((await httpGet(s, '/demo/', { Host: 'evil.example' })).status, 200);
});

test('demo token endpoint: a page on this machine (a loopback Origin, any port) may read the answer across origins; other sites may not', async (t) => {
    const s = await startServer({ t, conf: { demo: 'yes' } });
    const host = { Host: `localhost:${s.port}` };
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:3000', 'https://localhost', 'http://[::1]:8000']) {
        for (const p of ['/demo/token?name=A', '/demo/object-token?objectId=L1&userId=u']) {
            const res = await httpGet(s, p, { ...host, Origin: origin });
            assert.equal(res.status, 200);
            assert.equal(res.headers['access-control-allow-origin'], origin, `${p} from ${origin}`);
            assert.match(res.headers.vary, /Origin/);
        }
    }
    for (const origin of ['https://evil.example', 'http://localhost.evil.example', 'null',
        'http://localhost:5173/x', 'ftp://localhost', 'http://127.0.0.1.nip.io']) {
        const res = await httpGet(s, '/demo/token?name=A', { ...host, Origin: origin });
        assert.equal(res.headers['access-control-allow-origin'], undefined, `no CORS for ${origin}`);
    }
    assert.equal((await httpGet(s, '/demo/token', host)).headers['access-control-allow-origin'], undefined);
});

test('demo token endpoint: loopback Hosts get tokens; object tokens carry ws; a userId gets its own token again', async (t) => {
    const s = await startServer({ t, conf: { demo: 'yes' } });
    for (const host of [`localhost:${s.port}`, 'localhost', 'LocalHost', `127.0.0.1:${s.port}`, '127.3.4.5',
        `[::1]:${s.port}`, '[::1]']) {
        const res = await httpGet(s, '/demo/token?name=Ann', { Host: host });
        assert.equal(res.status, 200, `Host: ${host}`);
        assert.ok(JSON.parse(res.body).token, `a token for Host: ${host}`);
    }
    const first = JSON.parse((await httpGet(s, '/demo/token?name=Ann&ttl=30', { Host: `localhost:${s.port}` })).body);
    const cl = claimsOf(first.token);
    assert.equal(cl.ws, 1);
    assert.equal(cl.exp - cl.iat, 30, 'ttl asked for');
    assert.equal(first.exp, cl.exp);
    // started with port 0 and no demo_port: the plugins are on the port actually bound
    assert.equal(first.pluginOrigin, `http://localhost:${s.port}`);
    assert.equal(first.url, `ws://localhost:${s.port}/ws`);
    const again = JSON.parse((await httpGet(s, `/demo/token?name=Ann&ttl=60&userId=${encodeURIComponent(first.userId)}`,
        { Host: `localhost:${s.port}` })).body);
    assert.equal(again.userId, first.userId);
    assert.equal(claimsOf(again.token).sub, cl.sub);

    const ot = JSON.parse((await httpGet(s, `/demo/object-token?objectId=L1&userId=${encodeURIComponent(first.userId)}` +
        '&objectType=dynamic&host=true', { Host: `127.0.0.1:${s.port}` })).body).token;
    assert.deepStrictEqual({ ...claimsOf(ot), exp: 0 }, { sub: first.userId, ws: 1, obj: 'L1', objectType: 'dynamic', host: true, exp: 0 });

    // The demo's tokens work together: host of the dynamic object, and the refresh is taken.
    const a = await open(s, cl, { raw: false });
    await subscribe(a, 'L1', { objectToken: ot, expect: { isHost: true, objectType: 'dynamic' } });
    a.send({ type: 'objcast_refresh', token: again.token, ref: 'demo' });
    assert.deepStrictEqual(await a.next(), { type: 'objcast_refreshed', ref: 'demo', payload: { exp: claimsOf(again.token).exp } });
});
