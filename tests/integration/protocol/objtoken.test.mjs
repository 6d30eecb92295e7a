// Object tokens (docs/protocol.md section 3.3, decisions "Object tokens"): host -> isHost, the
// token's objectType wins, a bad token -> unauthorized (objectId, ref) and the connection
// stays open and unsubscribed; `--object_tokens required` refuses commands without one. An
// object token is good in its own workspace only (docs/protocol.md section 3.3).
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import {
    OBJ, assertUsable, claimsOf, expectError, expectNext, expectSilence, flush, getParticipants, nowSec,
    objectToken, open, participant, presence, sendJoin, sendSubscribe, sortById, subscribe, user,
} from '../lib/proto.mjs';

eachEngine('optional mode: a valid object token with host true -> isHost, objectType from the token', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, user('a', { email: 'a@x.invalid' }));
    const b = await open(s, 'b');
    await subscribe(b);
    const tok = objectToken(s, a, OBJ, { objectType: 'dynamic', host: true });
    sendSubscribe(a, OBJ, { objectType: 'static', objectToken: tok, ref: 'ot' });
    const opts = { objectType: 'dynamic', isHost: true };
    await expectNext(a, presence('subscribed', a, a, opts), 'token objectType beats the message objectType');
    await expectNext(b, presence('subscribed', a, b, opts));
    const list = await getParticipants(b);
    assert.deepStrictEqual(list.payload, [
        presence('subscribed', a, b, { ...opts, status: 'subscribed' }).payload,
        presence('subscribed', b, b, { status: 'subscribed' }).payload,
    ]);
});

eachEngine('object token on join, host false, no objectType: objectType from the message', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, user(7));
    const b = await open(s, 'b');
    await subscribe(b, 'D1');
    const tok = objectToken(s, a, 'D1', { host: false });
    sendJoin(a, 'D1', { objectType: 'dynamic', objectToken: tok });
    await expectNext(a, presence('joined', a, a, { objectId: 'D1', objectType: 'dynamic', isHost: false }));
    await expectNext(b, presence('joined', a, b, { objectId: 'D1', objectType: 'dynamic', isHost: false }));
});

eachEngine('object token for an integer sub', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, user(99, { ws: 'w' }));
    const tok = objectToken(s, a, OBJ, { host: true, objectType: 'dynamic' });
    await subscribe(a, OBJ, { objectToken: tok, expect: { isHost: true, objectType: 'dynamic' } });
});

const BAD = [
    ['wrong sub', (s, c) => objectToken(s, c, OBJ, { sub: 'someone-else', host: true })],
    ['wrong obj', (s, c) => objectToken(s, c, 'L2', { host: true })],
    ['expired', (s, c) => objectToken(s, c, OBJ, { host: true, exp: nowSec() - 60 })],
    ['missing exp', (s, c) => objectToken(s, c, OBJ, { host: true, exp: undefined })],
    ['bad signature', (s, c) => objectToken(s, c, OBJ, { host: true }, { secret: 'not-the-secret' })],
    ['alg none', (s, c) => objectToken(s, c, OBJ, { host: true }, { alg: 'none' })],
    ['garbage', () => 'not.a.jwt'],
];

for (const [name, make] of BAD) {
    eachEngine(`object token ${name} -> unauthorized, connection usable and not subscribed`, async (t, engine) => {
        const { nodes: [s] } = await engine.start(t);
        const a = await open(s, 'a');
        const b = await open(s, 'b');
        await subscribe(b);
        for (const send of [sendSubscribe, sendJoin]) {
            send(a, OBJ, { objectToken: make(s, a), ref: `bad-${name}` });
            await expectError(a, 'unauthorized', { objectId: OBJ, ref: `bad-${name}` });
            assert.ok(a.isOpen, 'the connection stays open');
        }
        await expectSilence(b, 100);
        a.send({ type: 'ovice_get_participants', objectId: OBJ, ref: 'p' });
        await expectError(a, 'not_subscribed', { objectId: OBJ, ref: 'p' });
        // still usable: subscribe without a token (optional mode) works as a guest
        await subscribe(a);
        await expectNext(b, presence('subscribed', a, b));
        await assertUsable(a, b);
    });
}

eachEngine('object_tokens required: subscribe/join without a token -> unauthorized; with one -> ok', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t, { conf: { object_tokens: 'required' } });
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    await subscribe(b, OBJ, { objectToken: objectToken(s, b) });

    sendSubscribe(a, OBJ, { ref: 1 });
    await expectError(a, 'unauthorized', { objectId: OBJ, ref: 1 });
    sendJoin(a, OBJ, { ref: 2 });
    await expectError(a, 'unauthorized', { objectId: OBJ, ref: 2 });
    sendSubscribe(a, OBJ, { ref: 3, objectToken: objectToken(s, a, OBJ, { exp: nowSec() - 5 }) });
    await expectError(a, 'unauthorized', { objectId: OBJ, ref: 3 });
    await expectSilence(b, 100);
    assert.ok(a.isOpen);

    await subscribe(a, OBJ, { objectToken: objectToken(s, a) });
    await expectNext(b, presence('subscribed', a, b));
    // join of a subscribed connection without a token: refused, still subscribed
    sendJoin(a, OBJ, { ref: 4 });
    await expectError(a, 'unauthorized', { objectId: OBJ, ref: 4 });
    await expectSilence(b, 100);
    const list = await getParticipants(a);
    assert.deepStrictEqual(list.payload.map((p) => [p.id, p.status]), [['a', 'subscribed'], ['b', 'subscribed']]);
    sendJoin(a, OBJ, { objectToken: objectToken(s, a, OBJ, { host: true }) });
    await expectNext(a, presence('joined', a, a, { isHost: true }));
    await expectNext(b, presence('joined', a, b, { isHost: true }));
    await assertUsable(a, b);
});

eachEngine('object token of another workspace -> unauthorized (objectId, ref); its own workspace works', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
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

eachEngine('a host token for L1 in workspace 987 does not make its holder host of L1 in 988', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
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

eachEngine('object token without ws -> unauthorized', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const tok = objectToken(s, a, OBJ, { ws: undefined, host: true });
    assert.equal(claimsOf(tok).ws, undefined);
    sendSubscribe(a, OBJ, { objectToken: tok, ref: 7 });
    const m = await expectError(a, 'unauthorized', { objectId: OBJ, ref: 7 });
    assert.match(m.payload.message, /missing ws/);
    await flush(a);
});

eachEngine('object tokens: isHost and objectType from the token travel to other instances', async (t, engine) => {
    const { nodes: [A, B] } = await engine.start(t, { instances: 2 });
    const a = await open(A, 'a');
    const b = await open(B, 'b');
    await subscribe(b);
    const tok = objectToken(A, a, OBJ, { objectType: 'dynamic', host: true });
    sendJoin(a, OBJ, { objectToken: tok, objectType: 'static' });
    await expectNext(a, presence('joined', a, a, { objectType: 'dynamic', isHost: true }));
    await expectNext(b, presence('joined', a, b, { objectType: 'dynamic', isHost: true }));
    b.send({ type: 'ovice_get_participants', objectId: OBJ });
    const m = await b.next();
    assert.deepStrictEqual(sortById(m.payload), [
        participant(a, b, { objectType: 'dynamic', isHost: true, status: 'joined' }),
        participant(b, b, { status: 'subscribed' }),
    ]);
});
