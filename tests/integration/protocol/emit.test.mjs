// ovice_emit_message (docs/protocol.md section 4.4, decisions): every connection of user `to` on
// the object gets ovice_message with `to` as written; nobody else; a `to` who is not a
// participant -> not_present.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import {
    OBJ, assertUsable, emit, expectError, expectNext, expectSilence, flush, open, ovMessage, presence,
    rawsWhere, sendUnsubscribe, subscribe, subscribeAll, user,
} from '../lib/proto.mjs';

async function setup(t, engine) {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const ub = user('b');
    const b1 = await open(s, ub);
    const b2 = await open(s, ub);
    const n12 = await open(s, user(12));
    const c = await open(s, 'c');
    const off = await open(s, 'off'); // connected, on another object
    await subscribeAll([a, b1, b2, n12, c]);
    await subscribe(off, 'L2');
    return { s, a, b1, b2, n12, c, off };
}

eachEngine('emit to a string id reaches every connection of that user and nobody else', async (t, engine) => {
    const { a, b1, b2, n12, c, off } = await setup(t, engine);
    const msg = { key1: 'value1', key2: 42 };
    emit(a, 'b', 'exampleEvent', msg, { ref: 'e1' });
    const want = {
        type: 'ovice_message',
        objectId: 'L1',
        payload: { source: 'a', event: 'exampleEvent', objectId: 'L1', message: msg, to: 'b' },
    };
    await expectNext(b1, want);
    await expectNext(b2, want);
    await flush(a);
    await expectSilence([a, b1, b2, n12, c, off]);
});

eachEngine('emit to an integer user id given as a string and as a number: to echoed as written', async (t, engine) => {
    const { a, b1, b2, n12, c } = await setup(t, engine);
    emit(a, '12', 'asString', 's');
    const m1 = await expectNext(n12, ovMessage(a, 'asString', 's', { to: '12' }));
    assert.strictEqual(m1.payload.to, '12');
    emit(a, 12, 'asNumber', 'n');
    const m2 = await expectNext(n12, ovMessage(a, 'asNumber', 'n', { to: 12 }));
    assert.strictEqual(m2.payload.to, 12);
    // the user 12 answers; its source is the integer 12
    emit(n12, 'a', 'reply', null);
    await expectNext(a, { type: 'ovice_message', objectId: OBJ, payload: { source: 12, event: 'reply', objectId: OBJ, message: null, to: 'a' } });
    await expectSilence([a, b1, b2, n12, c]);
});

eachEngine('emit to oneself reaches all of one\'s connections, the sender\'s included', async (t, engine) => {
    const { a, b1, b2, c } = await setup(t, engine);
    emit(b1, 'b', 'self', [1, 2]);
    await expectNext(b1, ovMessage(b1, 'self', [1, 2], { to: 'b' }));
    await expectNext(b2, ovMessage(b1, 'self', [1, 2], { to: 'b' }));
    await expectSilence([a, c]);
});

eachEngine('emit forwards the raw message text and overwrites a forged source', async (t, engine) => {
    const { a, c } = await setup(t, engine);
    const text = '{"k" : "\\u00e9" , "n":1.50}';
    a.send(`{"type":"ovice_emit_message","objectId":"L1","payload":{"source":"mallory","event":"raw","to":"c","message":${text}}}`);
    await expectNext(c, ovMessage(a, 'raw', JSON.parse(text), { to: 'c' }));
    const raws = rawsWhere(c, (m) => m.payload?.event === 'raw');
    assert.ok(raws[0].includes(text), `${raws[0]} contains ${text}`);
});

eachEngine('emit to a non-participant -> not_present with objectId and ref; nothing delivered', async (t, engine) => {
    const { a, b1, b2, n12, c, off } = await setup(t, engine);
    for (const [to, ref] of [['nobody', 'np1'], ['off', 'np2'], [13, 'np3'], ['12 ', 'np4'], ['B', 'np5']]) {
        emit(a, to, 'lost', 'x', { ref });
        await expectError(a, 'not_present', { objectId: OBJ, ref });
    }
    // a user that left the object (unsubscribed) is no longer present
    c.send({ type: 'objcast_unsubscribe', objectId: OBJ });
    for (const r of [c, a, b1, b2, n12]) await expectNext(r, presence('unsubscribed', c, r));
    emit(a, 'c', 'lost', 'x', { ref: 'np6' });
    await expectError(a, 'not_present', { objectId: OBJ, ref: 'np6' });
    await expectSilence([b1, b2, n12, c, off]);
    await assertUsable(a, b1);
});

eachEngine('emit with a missing or invalid to, event or message -> bad_request', async (t, engine) => {
    const { a, b1, b2 } = await setup(t, engine);
    const bad = [
        { event: 'e', message: 1 },
        { event: 'e', message: 1, to: null },
        { event: 'e', message: 1, to: { id: 'b' } },
        { event: 'e', message: 1, to: ['b'] },
        { event: 'e', to: 'b' },
        { message: 1, to: 'b' },
    ];
    let i = 0;
    for (const payload of bad) {
        const ref = `eb${i++}`;
        a.send({ type: 'ovice_emit_message', objectId: OBJ, ref, payload });
        await expectError(a, 'bad_request', { objectId: OBJ, ref });
    }
    await expectSilence([b1, b2]);
    await assertUsable(a, b1);
});

eachEngine('emit: every connection of the target user, on every instance, and nobody else', async (t, engine) => {
    const { nodes: [A, B, C] } = await engine.start(t, { instances: 3 });
    const a = await open(A, 'a');
    const ub = user('b');
    const b1 = await open(B, ub);
    const b2 = await open(C, ub);
    const n12 = await open(C, user(12));
    const c = await open(A, 'c');
    await subscribeAll([a, b1, b2, n12, c]);

    emit(a, 'b', 'exampleEvent', { key1: 'value1' }, { ref: 'e1', source: 'mallory' });
    const want = ovMessage(a, 'exampleEvent', { key1: 'value1' }, { to: 'b' });
    await expectNext(b1, want, 'b on B');
    await expectNext(b2, want, 'b on C');
    await flush(a);
    await expectSilence([a, b1, b2, n12, c]);

    emit(b1, '12', 'asString', 's');
    const m1 = await expectNext(n12, ovMessage(b1, 'asString', 's', { to: '12' }));
    assert.strictEqual(m1.payload.to, '12');
    emit(c, 12, 'asNumber', null);
    const m2 = await expectNext(n12, ovMessage(c, 'asNumber', null, { to: 12 }));
    assert.strictEqual(m2.payload.to, 12);

    // to oneself: all of one's connections, the sender's included
    emit(b2, 'b', 'self', [1, 2]);
    await expectNext(b1, ovMessage(b2, 'self', [1, 2], { to: 'b' }));
    await expectNext(b2, ovMessage(b2, 'self', [1, 2], { to: 'b' }));

    // raw text verbatim
    const text = '{"k" : "\\u00e9" , "n":1.50}';
    n12.send(`{"type":"ovice_emit_message","objectId":"L1","payload":{"event":"raw","to":"a","message":${text}}}`);
    await expectNext(a, ovMessage(n12, 'raw', JSON.parse(text), { to: 'a' }));
    assert.ok(rawsWhere(a, (m) => m.payload?.event === 'raw')[0].includes(text));
    await expectSilence([a, b1, b2, n12, c]);
});

eachEngine('emit: a user present only on another instance is present; one who left every instance is not_present', async (t, engine) => {
    const { nodes: [A, B] } = await engine.start(t, { instances: 2 });
    const a = await open(A, 'a');
    const b = await open(B, 'b');
    const off = await open(B, 'off');
    await subscribeAll([a, b]);
    await subscribe(off, 'L2');
    for (const [to, ref] of [['nobody', 'np1'], ['off', 'np2'], ['B', 'np3']]) {
        emit(a, to, 'lost', 'x', { ref });
        await expectError(a, 'not_present', { objectId: OBJ, ref });
    }
    sendUnsubscribe(b, OBJ);
    await expectNext(b, presence('unsubscribed', b, b));
    await expectNext(a, presence('unsubscribed', b, a));
    emit(a, 'b', 'lost', 'x', { ref: 'np4' });
    await expectError(a, 'not_present', { objectId: OBJ, ref: 'np4' });
    await expectSilence([b, off]);
});
