// One user, several connections (tabs): presence follows the user's aggregate state
// (joined > left > subscribed), docs/protocol.md section 3.4 "One participant per user" and the
// decisions file. A1/A2 are two connections of user a (with an email), b another user.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import {
    OBJ, expectError, expectNext, expectSilence, getParticipants, join, objectToken, open, presence,
    sendJoin, sendLeave, sendSubscribe, sendUnsubscribe, subscribe, user,
} from '../lib/proto.mjs';

async function setup(t, engine) {
    const { nodes: [s] } = await engine.start(t);
    const ua = user('a', { email: 'a@example.invalid', language: 'fr' });
    const a1 = await open(s, ua);
    const a2 = await open(s, ua);
    const b = await open(s, user('b', { email: 'b@example.invalid' }));
    await subscribe(b);
    return { s, a1, a2, b };
}

const statuses = async (c) => (await getParticipants(c)).payload.map((p) => [p.id, p.status]);

eachEngine('a second connection of a present user gets its own event; nobody else gets anything', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await subscribe(a1);
    await expectNext(b, presence('subscribed', a1, b));
    sendSubscribe(a2, OBJ);
    const own = await expectNext(a2, presence('subscribed', a2, a2));
    assert.equal(own.payload.email, 'a@example.invalid');
    await expectSilence([a1, b]);
    const list = await getParticipants(b);
    assert.equal(list.payload.length, 2, 'one entry per user');
    assert.deepStrictEqual(list.payload.map((p) => [p.id, p.status]), [['a', 'subscribed'], ['b', 'subscribed']]);
});

eachEngine('second connection joining while the first is subscribed: everyone gets joined', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await subscribe(a1);
    await expectNext(b, presence('subscribed', a1, b));
    sendJoin(a2, OBJ);
    await expectNext(a2, presence('joined', a2, a2));
    await expectNext(a1, presence('joined', a1, a1), 'the other connection of a gets the aggregate event, isSelf');
    await expectNext(b, presence('joined', a1, b));
    await expectSilence([a1, a2, b]);
    assert.deepStrictEqual(await statuses(b), [['a', 'joined'], ['b', 'subscribed']]);
});

eachEngine('the joined connection closes while a subscribed one stays: everyone gets left; last close: unsubscribed', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await join(a1);
    await expectNext(b, presence('joined', a1, b));
    await subscribe(a2); // own event only: aggregate stays joined
    await expectSilence([a1, b], 50);

    a1.close(1000);
    await expectNext(a2, presence('left', a2, a2), 'a2 sees its user left (isSelf, email)');
    const seen = await expectNext(b, presence('left', a1, b));
    assert.equal(seen.payload.email, undefined);
    await expectSilence([a2, b]);
    assert.deepStrictEqual(await statuses(b), [['a', 'left'], ['b', 'subscribed']]);

    a2.close(1000);
    await expectNext(b, presence('unsubscribed', a2, b));
    await expectSilence(b);
    assert.deepStrictEqual(await statuses(b), [['b', 'subscribed']]);
});

eachEngine('one of two joined connections closing changes nothing; the other leaving -> left', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await join(a1);
    await expectNext(b, presence('joined', a1, b));
    await join(a2);
    await expectSilence([a1, b], 50);
    a1.destroy();
    await expectSilence([a2, b], 300);
    assert.deepStrictEqual(await statuses(b), [['a', 'joined'], ['b', 'subscribed']]);
    sendLeave(a2, OBJ);
    await expectNext(a2, presence('left', a2, a2));
    await expectNext(b, presence('left', a2, b));
});

eachEngine('leave from one of two joined connections: own event only; the second leave -> everyone gets left', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await join(a1);
    await expectNext(b, presence('joined', a1, b));
    await join(a2);
    sendLeave(a1, OBJ);
    await expectNext(a1, presence('left', a1, a1), 'own event named by its own state');
    await expectSilence([a2, b]);
    assert.deepStrictEqual(await statuses(b), [['a', 'joined'], ['b', 'subscribed']]);
    sendLeave(a2, OBJ);
    await expectNext(a2, presence('left', a2, a2));
    await expectNext(a1, presence('left', a1, a1));
    await expectNext(b, presence('left', a2, b));
    await expectSilence([a1, a2, b]);
});

eachEngine('unsubscribe of one connection while the other stays: own unsubscribed, nobody else notified', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await subscribe(a1);
    await expectNext(b, presence('subscribed', a1, b));
    await subscribe(a2);
    sendUnsubscribe(a1, OBJ, { ref: 'u1' });
    await expectNext(a1, presence('unsubscribed', a1, a1));
    await expectSilence([a2, b]);
    assert.deepStrictEqual(await statuses(b), [['a', 'subscribed'], ['b', 'subscribed']]);
    // a1 is off the object, a2 still on it
    a1.send({ type: 'ovice_get_participants', objectId: OBJ, ref: 'x' });
    await expectError(a1, 'not_subscribed', { objectId: OBJ, ref: 'x' });
    assert.deepStrictEqual(await statuses(a2), [['a', 'subscribed'], ['b', 'subscribed']]);

    sendUnsubscribe(a2, OBJ);
    await expectNext(a2, presence('unsubscribed', a2, a2));
    await expectNext(b, presence('unsubscribed', a2, b));
    await expectSilence([a1, a2, b]);
    assert.deepStrictEqual(await statuses(b), [['b', 'subscribed']]);
});

eachEngine('unsubscribe of the joined connection while a subscribed one stays: as a close, the user is left', async (t, engine) => {
    // docs/protocol.md section 3.1: "left (was joined, unlinked, still in range)"; the
    // decisions file treats a close as an unsubscribe, and docs/protocol.md section 3.5 says
    // the joined tab closing while a subscribed tab stays is joined -> left. So an unsubscribe
    // of that tab is too.
    const { a1, a2, b } = await setup(t, engine);
    await join(a1);
    await expectNext(b, presence('joined', a1, b));
    await subscribe(a2);
    sendUnsubscribe(a1, OBJ);
    await expectNext(a1, presence('unsubscribed', a1, a1));
    await expectNext(a2, presence('left', a2, a2), 'aggregate joined -> left');
    await expectNext(b, presence('left', a2, b));
    await expectSilence([a1, a2, b]);
    assert.deepStrictEqual(await statuses(b), [['a', 'left'], ['b', 'subscribed']]);
});

eachEngine('a left connection closing while a subscribed one stays: the user stays left', async (t, engine) => {
    // the user was joined, is unlinked and still in range: left (docs/protocol.md section 3.1)
    const { a1, a2, b } = await setup(t, engine);
    await join(a1);
    await expectNext(b, presence('joined', a1, b));
    sendLeave(a1, OBJ);
    await expectNext(a1, presence('left', a1, a1));
    await expectNext(b, presence('left', a1, b));
    await subscribe(a2); // left wins over subscribed: nothing changes
    await expectSilence([a1, b], 100);
    assert.deepStrictEqual(await statuses(b), [['a', 'left'], ['b', 'subscribed']]);
    a1.close(1000);
    await expectSilence([a2, b], 300);
    assert.deepStrictEqual(await statuses(b), [['a', 'left'], ['b', 'subscribed']]);
    a2.close(1000);
    await expectNext(b, presence('unsubscribed', a2, b));
});

eachEngine('the user is unsubscribed only when its last connection closes', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const ua = user('a');
    const conns = [];
    for (let i = 0; i < 4; i++) conns.push(await open(s, ua));
    const b = await open(s, 'b');
    await subscribe(b);
    await subscribe(conns[0]);
    await expectNext(b, presence('subscribed', conns[0], b));
    for (const c of conns.slice(1)) await subscribe(c);
    for (const c of conns.slice(0, 3)) c.close(1000);
    await expectSilence(b, 300);
    assert.deepStrictEqual(await statuses(b), [['a', 'subscribed'], ['b', 'subscribed']]);
    conns[3].close(1000);
    await expectNext(b, presence('unsubscribed', conns[3], b));
});

eachEngine('the participant shows the attributes (objectType, isHost) of its most engaged connection', async (t, engine) => {
    const { s, a1, a2, b } = await setup(t, engine);
    const host = { objectType: 'dynamic', isHost: true };
    sendSubscribe(a1, OBJ, { objectToken: objectToken(s, a1, OBJ, { host: true, objectType: 'dynamic' }) });
    await expectNext(a1, presence('subscribed', a1, a1, host));
    await expectNext(b, presence('subscribed', a1, b, host));
    sendJoin(a2, OBJ, { objectType: 'static' }); // no object token: static, not host
    await expectNext(a2, presence('joined', a2, a2));
    await expectNext(a1, presence('joined', a1, a1));
    await expectNext(b, presence('joined', a2, b));
    const list = await getParticipants(b);
    assert.deepStrictEqual(list.payload, [
        presence('joined', a2, b, { status: 'joined' }).payload,
        presence('subscribed', b, b, { status: 'subscribed' }).payload,
    ]);
});

eachEngine('one user on two instances is one participant: aggregate state, events only on change', async (t, engine) => {
    const { nodes: [A, B, C] } = await engine.start(t, { instances: 3 });
    const ua = user('a', { email: 'a@x.invalid' });
    const a1 = await open(A, ua);
    const a2 = await open(B, ua);
    const b = await open(C, 'b');
    await subscribe(b);
    await subscribe(a1);
    await expectNext(b, presence('subscribed', a1, b));
    // the second connection (other instance) gets its own event; nobody else anything
    await subscribe(a2);
    await expectSilence([a1, b]);
    const list = await (async () => {
        b.send({ type: 'ovice_get_participants', objectId: OBJ, ref: 'one' });
        return b.next();
    })();
    assert.deepStrictEqual(list.payload.map((p) => p.id).sort(), ['a', 'b'], 'a listed once');

    // a joins on A: every connection (a2 on B included) gets joined
    sendJoin(a1, OBJ);
    await expectNext(a1, presence('joined', a1, a1));
    await expectNext(a2, presence('joined', a2, a2), 'the other tab, on another instance');
    await expectNext(b, presence('joined', a1, b));
    // the joined tab (A) closes while the subscribed one (B) stays: the user is left
    a1.close(1000);
    await expectNext(a2, presence('left', a2, a2));
    await expectNext(b, presence('left', a2, b));
    // the last tab goes: unsubscribed
    a2.close(1000);
    await expectNext(b, presence('unsubscribed', a2, b));
    await expectSilence(b);
});
