// ovice_get_participants (docs/protocol.md section 4.2): one entry per user with its aggregate
// status, self included, isSelf per requester, email only in one's own entry, ref echoed;
// users on every instance are listed.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import {
    OBJ, expectNext, join, open, participant, presence, sendLeave, sortById, subscribe, subscribeAll, user,
} from '../lib/proto.mjs';

eachEngine('statuses subscribed/joined/left of users on every instance, self included, isSelf per requester, ref echoed', async (t, engine) => {
    const { nodes: [A, B, C] } = await engine.start(t, { instances: 3 });
    const a = await open(A, user('a', { email: 'a@x.invalid', language: 'en' }));
    const b = await open(B, user(2, { visitor: true, email: 'b@x.invalid' }));
    const c = await open(C, user('c', { language: 'de' }));
    await subscribeAll([a, b, c]);
    await join(a);
    await expectNext(b, presence('joined', a, b));
    await expectNext(c, presence('joined', a, c));
    await join(c);
    await expectNext(a, presence('joined', c, a));
    await expectNext(b, presence('joined', c, b));
    sendLeave(c, OBJ);
    for (const r of [c, a, b]) await expectNext(r, presence('left', c, r));

    const status = { a: 'joined', 2: 'subscribed', c: 'left' };
    let n = 0;
    for (const requester of [a, b, c]) {
        const ref = n++ % 2 ? `ref-${n}` : n * 1000; // string and number refs
        requester.send({ type: 'ovice_get_participants', objectId: OBJ, ref });
        const m = await requester.next();
        assert.ok(Array.isArray(m.payload));
        const want = {
            type: 'ovice_participants',
            objectId: OBJ,
            ref,
            payload: sortById([a, b, c].map((who) => participant(who, requester, { status: status[who.claims.sub] }))),
        };
        assert.deepStrictEqual({ ...m, payload: sortById(m.payload) }, want, `participants as ${requester.claims.sub} sees them`);
        const own = m.payload.filter((p) => p.isSelf);
        assert.equal(own.length, 1, 'exactly one self entry');
        for (const p of m.payload) {
            if (!p.isSelf) assert.equal(p.email, undefined, 'no email of others');
        }
    }

    // a newcomer on B bootstraps the list (with engine redis: from Redis)
    const newcomer = await open(B, 'newcomer');
    await subscribe(newcomer);
    for (const r of [a, b, c]) await expectNext(r, presence('subscribed', newcomer, r));
    newcomer.send({ type: 'ovice_get_participants', objectId: OBJ });
    const m = await newcomer.next();
    assert.deepStrictEqual({ ...m, payload: sortById(m.payload) }, {
        type: 'ovice_participants',
        objectId: OBJ,
        payload: sortById([a, b, c, newcomer].map((who) =>
            participant(who, newcomer, { status: status[who.claims.sub] ?? 'subscribed' }))),
    });
});

eachEngine('without ref the reply has no ref; a lone subscriber sees only itself', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, user('a'));
    await subscribe(a, 'solo', { objectType: 'dynamic' });
    a.send({ type: 'ovice_get_participants', objectId: 'solo' });
    await expectNext(a, {
        type: 'ovice_participants',
        objectId: 'solo',
        payload: [{
            id: 'a', name: 'Name a', objectId: 'solo', objectType: 'dynamic',
            avatarUrl: 'https://example.invalid/avatar/a.png', workspaceId: 987,
            status: 'subscribed', isHost: false, isSelf: true, isVisitor: false,
        }],
    });
});

eachEngine('one entry per user with several connections, aggregate status, isSelf from any of them', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const ua = user('a', { email: 'a@x.invalid' });
    const a1 = await open(s, ua);
    const a2 = await open(s, ua);
    const a3 = await open(s, ua);
    const b = await open(s, 'b');
    await subscribeAll([b, a1, a2, a3]);
    await join(a2);
    await expectNext(a1, presence('joined', a1, a1));
    await expectNext(a3, presence('joined', a3, a3));
    await expectNext(b, presence('joined', a2, b));
    for (const [requester, ref] of [[a1, 'x1'], [a3, 'x3'], [b, 'xb']]) {
        requester.send({ type: 'ovice_get_participants', objectId: OBJ, ref });
        const m = await requester.next();
        assert.deepStrictEqual({ ...m, payload: sortById(m.payload) }, {
            type: 'ovice_participants', objectId: OBJ, ref,
            payload: [participant(ua, requester, { status: 'joined' }), participant(b, requester, { status: 'subscribed' })],
        });
    }
});

eachEngine('users who unsubscribed or closed are gone from the list', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    const c = await open(s, 'c');
    await subscribeAll([a, b, c]);
    b.send({ type: 'objcast_unsubscribe', objectId: OBJ });
    for (const r of [b, a, c]) await expectNext(r, presence('unsubscribed', b, r));
    c.close(1000);
    await expectNext(a, presence('unsubscribed', c, a));
    a.send({ type: 'ovice_get_participants', objectId: OBJ, ref: 'z' });
    await expectNext(a, {
        type: 'ovice_participants', objectId: OBJ, ref: 'z',
        payload: [participant(a, a, { status: 'subscribed' })],
    });
});
