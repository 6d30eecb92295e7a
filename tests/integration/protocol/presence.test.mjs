// Presence on one object (docs/protocol.md section 3, decisions "Presence"): the exact
// ovice_participant_* events each connection receives, isSelf per recipient, email only to
// its owner, the participant fields from the tokens.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import {
    OBJ, expectError, expectNext, expectSilence, flush, getParticipants, join, open, presence,
    sendJoin, sendLeave, sendSubscribe, sendUnsubscribe, subscribe, subscribeAll, user,
} from '../lib/proto.mjs';

eachEngine('subscribe: own event with email and language; the other user gets it without email', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, user('a', { email: 'a@example.invalid', language: 'ja' }));
    const b = await open(s, user('b', { visitor: true }));

    sendSubscribe(a, OBJ, { ref: 'r-a' });
    const ev = await a.next();
    assert.deepStrictEqual(ev, {
        type: 'ovice_participant_subscribed',
        objectId: 'L1',
        payload: {
            id: 'a',
            name: 'Name a',
            objectId: 'L1',
            objectType: 'static',
            avatarUrl: 'https://example.invalid/avatar/a.png',
            workspaceId: 987,
            language: 'ja',
            isHost: false,
            isSelf: true,
            isVisitor: false,
            email: 'a@example.invalid',
        },
    }, 'presence events carry no ref; email and language for oneself');

    sendSubscribe(b, OBJ);
    // b: own event, isVisitor from the token, no email (token has none), no language
    await expectNext(b, {
        type: 'ovice_participant_subscribed',
        objectId: 'L1',
        payload: {
            id: 'b', name: 'Name b', objectId: 'L1', objectType: 'static',
            avatarUrl: 'https://example.invalid/avatar/b.png', workspaceId: 987,
            isHost: false, isSelf: true, isVisitor: true,
        },
    });
    // a sees b, isSelf false
    await expectNext(a, presence('subscribed', b, a));
    assert.equal(presence('subscribed', b, a).payload.isVisitor, true);

    // a joins: both get a's joined event; b's copy has no email but keeps language
    sendJoin(a, OBJ);
    await expectNext(a, presence('joined', a, a));
    const seen = await expectNext(b, presence('joined', a, b));
    assert.equal(seen.payload.email, undefined, 'email never goes to another user');
    assert.equal(seen.payload.language, 'ja');
    await expectSilence([a, b]);
});

eachEngine('integer sub and string workspace are echoed as given (id, workspaceId)', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, user(42, { ws: 'w-1', email: 'x@example.invalid' }));
    const b = await open(s, user(43, { ws: 'w-1' }));
    sendSubscribe(a, 'obj-9', { objectType: 'dynamic' });
    const ev = await a.next();
    assert.deepStrictEqual(ev, {
        type: 'ovice_participant_subscribed',
        objectId: 'obj-9',
        payload: {
            id: 42, name: 'Name 42', objectId: 'obj-9', objectType: 'dynamic',
            avatarUrl: 'https://example.invalid/avatar/42.png', workspaceId: 'w-1',
            isHost: false, isSelf: true, isVisitor: false, email: 'x@example.invalid',
        },
    });
    await subscribe(b, 'obj-9');
    const seen = await a.next();
    assert.deepStrictEqual(seen, presence('subscribed', b, a, { objectId: 'obj-9' }));
    assert.strictEqual(seen.payload.id, 43, 'integer id stays an integer');
    assert.strictEqual(seen.payload.workspaceId, 'w-1', 'string workspace stays a string');
});

eachEngine('string sub with integer-looking text stays a string; integer ws stays an integer', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, user('123456', { ws: 987 }));
    const ev = await subscribe(a);
    assert.strictEqual(ev.payload.id, '123456');
    assert.strictEqual(ev.payload.workspaceId, 987);
});

eachEngine('objectType: from the message, "static" by default; other values -> bad_request', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    await subscribe(a, 'O-dyn', { objectType: 'dynamic' });
    await subscribe(b, 'O-dyn'); // no objectType: static
    await expectNext(a, presence('subscribed', b, a, { objectId: 'O-dyn', objectType: 'static' }));
    const list = await getParticipants(b, { objectId: 'O-dyn' });
    assert.deepStrictEqual(list.payload.map((p) => [p.id, p.objectType]), [['a', 'dynamic'], ['b', 'static']]);

    for (const bad of ['weird', '', 'Static', 5, ['static']]) {
        sendSubscribe(a, 'O-other', { objectType: bad, ref: 'ot' });
        await expectError(a, 'bad_request', { objectId: 'O-other', ref: 'ot' });
        sendJoin(a, 'O-other', { objectType: bad, ref: 'oj' });
        await expectError(a, 'bad_request', { objectId: 'O-other', ref: 'oj' });
    }
    // not subscribed by the refused commands
    a.send({ type: 'ovice_get_participants', objectId: 'O-other', ref: 'p' });
    await expectError(a, 'not_subscribed', { objectId: 'O-other', ref: 'p' });
});

eachEngine('subscribe/join/leave/unsubscribe with a missing objectId -> bad_request with ref', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    for (const type of ['objcast_subscribe', 'objcast_join', 'objcast_leave', 'objcast_unsubscribe']) {
        a.send({ type, ref: `no-obj-${type}` });
        await expectError(a, 'bad_request', { ref: `no-obj-${type}` });
    }
    await expectSilence(a, 100);
});

eachEngine('join from none: one joined event to everyone, no subscribed event', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    await subscribe(b);
    sendJoin(a, OBJ, { ref: 7 });
    await expectNext(a, presence('joined', a, a));
    await expectNext(b, presence('joined', a, b));
    await expectSilence([a, b]);
    const list = await getParticipants(a);
    assert.deepStrictEqual(list.payload.map((p) => [p.id, p.status]), [['a', 'joined'], ['b', 'subscribed']]);
});

eachEngine('subscribe -> join -> leave -> join -> unsubscribe: every state change reaches both users', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, user('a', { email: 'a@x.invalid' }));
    const b = await open(s, user('b', { email: 'b@x.invalid' }));
    await subscribe(b);
    for (const [send, kind] of [[sendSubscribe, 'subscribed'], [sendJoin, 'joined'], [sendLeave, 'left'],
        [sendJoin, 'joined'], [sendLeave, 'left'], [sendUnsubscribe, 'unsubscribed']]) {
        send(a, OBJ);
        await expectNext(a, presence(kind, a, a), `a's own ${kind}`);
        await expectNext(b, presence(kind, a, b), `b sees a ${kind}`);
    }
    await expectSilence([a, b]);
    // a is off the object: no events about b reach it any more
    sendLeave(b, OBJ);
    await expectNext(b, presence('subscribed', b, b), 'b leave while subscribed: own event, state unchanged');
    sendJoin(b, OBJ);
    await expectNext(b, presence('joined', b, b));
    await expectSilence(a);
    a.send({ type: 'ovice_get_participants', objectId: OBJ, ref: 'gone' });
    await expectError(a, 'not_subscribed', { objectId: OBJ, ref: 'gone' });
});

eachEngine('idempotent commands: only the requester gets its own event, others nothing', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    await subscribe(b);
    await subscribe(a);
    await expectNext(b, presence('subscribed', a, b));

    // subscribe while subscribed
    sendSubscribe(a, OBJ);
    await expectNext(a, presence('subscribed', a, a));
    // leave while subscribed: state stays subscribed
    sendLeave(a, OBJ);
    await expectNext(a, presence('subscribed', a, a));
    await expectSilence(b);

    sendJoin(a, OBJ);
    await expectNext(a, presence('joined', a, a));
    await expectNext(b, presence('joined', a, b));
    // join while joined, subscribe while joined (a member: accepted, no change)
    sendJoin(a, OBJ);
    await expectNext(a, presence('joined', a, a));
    sendSubscribe(a, OBJ);
    await expectNext(a, presence('joined', a, a));
    await expectSilence(b);

    sendLeave(a, OBJ);
    await expectNext(a, presence('left', a, a));
    await expectNext(b, presence('left', a, b));
    // leave again: idempotent
    sendLeave(a, OBJ);
    await expectNext(a, presence('left', a, a));
    sendLeave(a, OBJ);
    await expectNext(a, presence('left', a, a));
    await expectSilence([a, b]);
    const list = await getParticipants(b);
    assert.deepStrictEqual(list.payload.map((p) => [p.id, p.status]), [['a', 'left'], ['b', 'subscribed']]);
});

eachEngine('a closing connection unsubscribes its user from every object it was on', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    const c = await open(s, 'c');
    await subscribe(b, 'L1');
    await subscribe(c, 'L2');
    await join(a, 'L1');
    await expectNext(b, presence('joined', a, b, { objectId: 'L1' }));
    await subscribe(a, 'L2', { objectType: 'dynamic' });
    await expectNext(c, presence('subscribed', a, c, { objectId: 'L2', objectType: 'dynamic' }));
    a.close(1000);
    await expectNext(b, presence('unsubscribed', a, b, { objectId: 'L1' }));
    await expectNext(c, presence('unsubscribed', a, c, { objectId: 'L2', objectType: 'dynamic' }));
    await expectSilence([b, c]);
    assert.deepStrictEqual((await getParticipants(b, { objectId: 'L1' })).payload.map((p) => p.id), ['b']);
});

eachEngine('an abrupt drop (no close frame) is an unsubscribe too', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    await subscribe(b);
    await subscribe(a);
    await expectNext(b, presence('subscribed', a, b));
    a.destroy();
    await expectNext(b, presence('unsubscribed', a, b));
});

eachEngine('presence of one object does not reach connections on another object', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    await subscribe(b, 'L2');
    await subscribe(a, 'L1');
    await join(a, 'L1');
    sendUnsubscribe(a, 'L1');
    await expectNext(a, presence('unsubscribed', a, a));
    await expectSilence(b);
    await flush(b);
});

eachEngine('presence: subscribe/join/leave/unsubscribe on one instance reach the others exactly', async (t, engine) => {
    const { nodes: [A, B, C] } = await engine.start(t, { instances: 3 });
    const a = await open(A, user('a', { email: 'a@example.invalid', language: 'ja' }));
    const b = await open(B, user('b', { visitor: true, email: 'b@example.invalid' }));
    const c = await open(C, user(7, { language: 'de' }));

    sendSubscribe(b, OBJ, { ref: 'rb' });
    await expectNext(b, {
        type: 'ovice_participant_subscribed',
        objectId: 'L1',
        payload: {
            id: 'b', name: 'Name b', objectId: 'L1', objectType: 'static',
            avatarUrl: 'https://example.invalid/avatar/b.png', workspaceId: 987,
            isHost: false, isSelf: true, isVisitor: true, email: 'b@example.invalid',
        },
    });
    sendSubscribe(a, OBJ, { objectType: 'dynamic' });
    await expectNext(a, presence('subscribed', a, a, { objectType: 'dynamic' }));
    const seen = await expectNext(b, {
        type: 'ovice_participant_subscribed',
        objectId: 'L1',
        payload: {
            id: 'a', name: 'Name a', objectId: 'L1', objectType: 'dynamic',
            avatarUrl: 'https://example.invalid/avatar/a.png', workspaceId: 987, language: 'ja',
            isHost: false, isSelf: false, isVisitor: false,
        },
    }, 'b (instance B) sees a (instance A) arrive, without a\'s email');
    assert.equal(seen.payload.email, undefined);
    await subscribe(c);
    await expectNext(a, presence('subscribed', c, a));
    await expectNext(b, presence('subscribed', c, b));
    await expectSilence([a, b, c]);

    // every state change of a (on A) reaches b (on B) and c (on C), isSelf per recipient
    for (const [send, kind] of [[sendJoin, 'joined'], [sendLeave, 'left'], [sendJoin, 'joined'],
        [sendLeave, 'left'], [sendUnsubscribe, 'unsubscribed'], [sendJoin, 'joined']]) {
        send(a, OBJ, { objectType: 'dynamic' });
        await expectNext(a, presence(kind, a, a, { objectType: 'dynamic' }), `a's own ${kind}`);
        await expectNext(b, presence(kind, a, b, { objectType: 'dynamic' }), `b on B sees a ${kind}`);
        await expectNext(c, presence(kind, a, c, { objectType: 'dynamic' }), `c on C sees a ${kind}`);
    }
    // commands that change nothing: only the requester hears of them, on no other instance
    sendJoin(a, OBJ, { objectType: 'dynamic' });
    await expectNext(a, presence('joined', a, a, { objectType: 'dynamic' }));
    sendLeave(c, OBJ);
    await expectNext(c, presence('subscribed', c, c));
    await expectSilence([a, b, c], 300);

    // c (an integer id) on C unsubscribes: a and b get it, c is off the object afterwards
    sendUnsubscribe(c, OBJ);
    await expectNext(c, presence('unsubscribed', c, c));
    const gone = await expectNext(a, presence('unsubscribed', c, a));
    assert.strictEqual(gone.payload.id, 7, 'integer id stays an integer through Redis');
    await expectNext(b, presence('unsubscribed', c, b));
    c.send({ type: 'ovice_get_participants', objectId: OBJ, ref: 'gone' });
    await expectError(c, 'not_subscribed', { objectId: OBJ, ref: 'gone' });
});

eachEngine('a closed connection (close frame or abrupt drop) is unsubscribed on every instance', async (t, engine) => {
    const { nodes: [A, B, C] } = await engine.start(t, { instances: 3 });
    const a = await open(A, 'a');
    const b = await open(B, 'b');
    const c = await open(C, 'c');
    const d = await open(C, 'd');
    await subscribeAll([b, c, a, d]);
    await join(a);
    for (const r of [b, c, d]) await expectNext(r, presence('joined', a, r));
    a.close(1000);
    for (const r of [b, c, d]) await expectNext(r, presence('unsubscribed', a, r));
    d.destroy();
    for (const r of [b, c]) await expectNext(r, presence('unsubscribed', d, r));
    await expectSilence([b, c]);
});
