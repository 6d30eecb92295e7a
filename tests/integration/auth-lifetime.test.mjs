// Token scope and lifetime (PROTOCOL.md section 3): object tokens are good in their own
// workspace only; a connection lives as long as its token, objcast_refresh extends it, and
// a refused refresh leaves the old token in force; the demo token endpoint answers only
// requests whose Host names this machine (DNS rebinding).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { connect, httpGet, rawSocket, startServer } from './lib/server.mjs';
import {
    OBJ, assertError, expectError, expectNext, flush, nowSec, objectToken, open, presence, sendSubscribe,
    signJwt, subscribe, user,
} from './lib/proto.mjs';

/* The claims of a JWT, unverified. */
const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

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

// ---------------------------------------------------------------------------------------
// Object tokens and workspaces

test('object token of another workspace -> unauthorized (objectId, ref); its own workspace works', async (t) => {
    const s = await startServer({ t });
    const a = await open(s, user('a', { ws: 987 }));
    const other = objectToken(s, a, OBJ, { ws: 988, host: true, objectType: 'dynamic' });
    sendSubscribe(a, OBJ, { objectToken: other, ref: 'x-ws' });
    const m = await expectError(a, 'unauthorized', { objectId: OBJ, ref: 'x-ws' });
    assert.match(m.payload.message, /workspace/);
    // Not on the object: the refused token did not subscribe it.
    a.send({ type: 'ovice_get_participants', objectId: OBJ, ref: 'gp' });
    await expectError(a, 'not_subscribed', { objectId: OBJ, ref: 'gp' });

    // The string "987" is workspace 987: accepted, and the host claim holds.
    const own = objectToken(s, a, OBJ, { ws: '987', host: true, objectType: 'dynamic' });
    await subscribe(a, OBJ, { objectToken: own, expect: { isHost: true, objectType: 'dynamic' } });
});

test('a host token for L1 in workspace 987 does not make its holder host of L1 in 988', async (t) => {
    const s = await startServer({ t });
    const victim = await open(s, user('v', { ws: 988 }));
    await subscribe(victim);
    // The attacker holds a genuine host token for L1, but of its own workspace 987, and
    // connects to workspace 988 as the same sub.
    const attacker987 = user('x', { ws: 987 });
    const attacker988 = await open(s, user('x', { ws: 988 }));
    const tok = objectToken(s, attacker987, OBJ, { host: true, objectType: 'dynamic' });
    sendSubscribe(attacker988, OBJ, { objectToken: tok, ref: 'steal' });
    await expectError(attacker988, 'unauthorized', { objectId: OBJ, ref: 'steal' });
    await flush(victim); // the victim saw no presence event
});

test('object token without ws -> unauthorized', async (t) => {
    const s = await startServer({ t });
    const a = await open(s, 'a');
    const tok = objectToken(s, a, OBJ, { ws: undefined, host: true });
    assert.equal(claimsOf(tok).ws, undefined);
    sendSubscribe(a, OBJ, { objectToken: tok, ref: 7 });
    const m = await expectError(a, 'unauthorized', { objectId: OBJ, ref: 7 });
    assert.match(m.payload.message, /missing ws/);
    await flush(a);
});

// ---------------------------------------------------------------------------------------
// Lifetime

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
