// Errors of the plugin protocol (docs/protocol.md sections 4 and 7; decisions): not_subscribed,
// bad_request for a missing objectId, nesting depth, and every error leaving the
// connection usable.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import {
    OBJ, assertError, assertUsable, broadcast, emit, expectError, expectNext, expectSilence, expectStored,
    objectToken, open, ovMessage, presence, rawsWhere, saveData, subscribe, subscribeAll, user,
} from '../lib/proto.mjs';

/* Every ovice_* message a client may send, as a valid message for objectId with ref. */
const OVICE = {
    ovice_get_participants: (objectId, ref) => ({ type: 'ovice_get_participants', objectId, ref }),
    ovice_broadcast_message: (objectId, ref) => ({ type: 'ovice_broadcast_message', objectId, ref, payload: { event: 'e', message: 1 } }),
    ovice_emit_message: (objectId, ref) => ({ type: 'ovice_emit_message', objectId, ref, payload: { event: 'e', message: 1, to: 'a' } }),
    ovice_get_data: (objectId, ref) => ({ type: 'ovice_get_data', objectId, ref }),
    ovice_save_and_emit_data: (objectId, ref) => ({ type: 'ovice_save_and_emit_data', objectId, ref, payload: { k: 1 } }),
};

eachEngine('not_subscribed for every ovice_* type from a connection not on the object', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const ua = user('a');
    const a = await open(s, ua);
    const a2 = await open(s, ua); // same user, this connection not subscribed
    const b = await open(s, 'b');
    const x = await open(s, 'x'); // on no object
    const y = await open(s, 'y'); // on another object
    const z = await open(s, 'z'); // unsubscribed again
    await subscribeAll([a, b]);
    await subscribe(y, 'L2');
    await subscribe(z, OBJ);
    for (const r of [a, b]) await expectNext(r, presence('subscribed', z, r));
    z.send({ type: 'objcast_unsubscribe', objectId: OBJ });
    for (const r of [z, a, b]) await expectNext(r, presence('unsubscribed', z, r));

    let n = 0;
    for (const c of [a2, x, y, z]) {
        for (const [type, make] of Object.entries(OVICE)) {
            const ref = n++ % 2 ? `ns-${n}` : n;
            c.send(make(OBJ, ref));
            const m = await c.next();
            assertError(m, 'not_subscribed', { objectId: OBJ, ref });
            assert.ok(c.isOpen, `${c.claims.sub} still open after ${type}`);
        }
    }
    await expectSilence([a, b, a2, x, y, z]);
    await expectStored(a, {}, 0);
    // an object nobody is on
    a.send(OVICE.ovice_get_data('nowhere', 'nw'));
    await expectError(a, 'not_subscribed', { objectId: 'nowhere', ref: 'nw' });
});

eachEngine('bad_request for a missing objectId on every ovice_* type, ref echoed', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    await subscribeAll([a, b]);
    for (const [type, make] of Object.entries(OVICE)) {
        const msg = make(undefined, `mo-${type}`);
        delete msg.objectId;
        a.send(msg);
        await expectError(a, 'bad_request', { ref: `mo-${type}` });
    }
    await expectSilence(b);
    await assertUsable(a, b);
});

eachEngine('an unknown ovice_ type -> unknown_type with its ref', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    await subscribe(a);
    a.send({ type: 'ovice_frobnicate', objectId: OBJ, ref: 'u' });
    const m = await a.next();
    assertError(m, 'unknown_type', { ref: 'u', loose: true });
});

const nest = (depth, inner = '1') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

eachEngine('nesting: depth 200 inside message -> bad_request, nothing delivered; depth 10 is forwarded', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    await subscribeAll([a, b]);

    broadcast(a, 'deep', undefined, { raw: nest(200), ref: 'deep' });
    await expectError(a, 'bad_request', { loose: true });
    const deepObj = `${'{"k":'.repeat(200)}1${'}'.repeat(200)}`;
    broadcast(a, 'deep2', undefined, { raw: deepObj });
    await expectError(a, 'bad_request', { loose: true });
    await assertUsable(a, b);

    const ok = `${'{"k" : '.repeat(5)}${nest(5, '"x"')}${'}'.repeat(5)}`;
    broadcast(a, 'ten', undefined, { raw: ok });
    await expectNext(b, ovMessage(a, 'ten', JSON.parse(ok)));
    assert.ok(rawsWhere(b, (m) => m.payload?.event === 'ten')[0].includes(ok));

    // a save payload nested 200 deep: bad_request, data unchanged
    a.send(`{"type":"ovice_save_and_emit_data","objectId":"L1","payload":{"k":${nest(200)}}}`);
    await expectError(a, 'bad_request', { loose: true });
    await expectSilence(b);
    await expectStored(a, {}, 0);
    await assertUsable(a, b);
});

eachEngine('after every kind of error the same connection still completes a broadcast', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    await subscribeAll([a, b]);
    saveData(a, { v: 1 }, { ref: 'init' });
    assert.equal((await a.next()).type, 'ovice_data_saved_success');
    assert.equal((await b.next()).type, 'ovice_shared_data');

    const steps = [
        ['invalid JSON', () => a.send('{"type":"ovice_broadcast_message",'), 'bad_request', { loose: true }],
        ['not an object', () => a.send('[1]'), 'bad_request', { loose: true }],
        ['unknown type', () => a.send({ type: 'nope', ref: 1 }), 'unknown_type', { ref: 1, loose: true }],
        ['missing objectId', () => a.send({ type: 'ovice_get_data', ref: 2 }), 'bad_request', { ref: 2 }],
        ['not_subscribed', () => a.send({ type: 'ovice_get_data', objectId: 'L9', ref: 3 }), 'not_subscribed', { objectId: 'L9', ref: 3 }],
        ['bad broadcast', () => a.send({ type: 'ovice_broadcast_message', objectId: OBJ, ref: 4, payload: { message: 1 } }), 'bad_request', { objectId: OBJ, ref: 4 }],
        ['not_present', () => emit(a, 'ghost', 'e', 1, { ref: 5 }), 'not_present', { objectId: OBJ, ref: 5 }],
        ['conflict', () => saveData(a, { v: 2 }, { ifVersion: 7, ref: 6 }), 'conflict', { objectId: OBJ, ref: 6 }],
        ['bad save payload', () => saveData(a, [1], { ref: 7 }), 'bad_request', { objectId: OBJ, ref: 7 }],
        ['too_large message', () => broadcast(a, 'big', undefined, { raw: `"${'x'.repeat(2097151)}"`, ref: 8 }), 'too_large', { objectId: OBJ, ref: 8 }],
        ['too_large data', () => saveData(a, { d: 'x'.repeat(512000) }, { ref: 9 }), 'too_large', { objectId: OBJ, ref: 9 }],
        ['bad object token', () => a.send({ type: 'objcast_subscribe', objectId: 'L7', ref: 10, objectToken: objectToken(s, a, 'L7', {}, { secret: 'wrong' }) }), 'unauthorized', { objectId: 'L7', ref: 10 }],
        ['bad objectType', () => a.send({ type: 'objcast_subscribe', objectId: 'L7', ref: 11, objectType: 'x' }), 'bad_request', { objectId: 'L7', ref: 11 }],
        ['too deep', () => broadcast(a, 'deep', undefined, { raw: nest(300) }), 'bad_request', { loose: true }],
    ];
    for (const [name, send, code, opts] of steps) {
        send();
        const m = await a.next(undefined, 10000);
        assertError(m, code, opts);
        assert.ok(a.isOpen, `open after ${name}`);
        await assertUsable(a, b);
    }
    await expectSilence([a, b]);
    await expectStored(b, { v: 1 }, 1);
});

eachEngine('leave or unsubscribe on an object the connection is not on -> not_subscribed', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const ua = user('a');
    const a = await open(s, ua);
    const a2 = await open(s, ua);
    const b = await open(s, 'b');
    await subscribeAll([a, b]);
    for (const c of [a, a2]) {
        for (const type of ['objcast_leave', 'objcast_unsubscribe']) {
            c.send({ type, objectId: 'L2', ref: `${type}-L2` });
            await expectError(c, 'not_subscribed', { objectId: 'L2', ref: `${type}-L2` });
        }
    }
    // a2 is not on L1 although its user is
    a2.send({ type: 'objcast_leave', objectId: OBJ, ref: 'l' });
    await expectError(a2, 'not_subscribed', { objectId: OBJ, ref: 'l' });
    a2.send({ type: 'objcast_unsubscribe', objectId: OBJ, ref: 'u' });
    await expectError(a2, 'not_subscribed', { objectId: OBJ, ref: 'u' });
    await expectSilence([a, b]);
    await assertUsable(a, b);
});

eachEngine('wrong field types (echo, merge, ifVersion, to) -> bad_request with objectId and ref', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    await subscribeAll([a, b]);
    const cases = [
        { type: 'ovice_broadcast_message', objectId: OBJ, ref: 'w1', echo: 'yes', payload: { event: 'e', message: 1 } },
        { type: 'ovice_broadcast_message', objectId: OBJ, ref: 'w2', echo: 1, payload: { event: 'e', message: 1 } },
        { type: 'ovice_save_and_emit_data', objectId: OBJ, ref: 'w3', merge: 'true', payload: { k: 1 } },
        { type: 'ovice_save_and_emit_data', objectId: OBJ, ref: 'w4', ifVersion: '0', payload: { k: 1 } },
        { type: 'ovice_save_and_emit_data', objectId: OBJ, ref: 'w5', ifVersion: 0.5, payload: { k: 1 } },
        { type: 'ovice_emit_message', objectId: OBJ, ref: 'w6', payload: { event: 'e', message: 1, to: true } },
    ];
    for (const msg of cases) {
        a.send(msg);
        await expectError(a, 'bad_request', { objectId: OBJ, ref: msg.ref });
    }
    await expectSilence(b);
    await expectStored(a, {}, 0);
    await assertUsable(a, b);
});

eachEngine('ids: objectId, event and to of 256 bytes pass, 257 bytes -> bad_request', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    const id256 = 'o'.repeat(254) + 'é'; // 256 bytes, 255 characters
    const id257 = 'o'.repeat(255) + 'é';
    await subscribeAll([a, b], id256);
    a.send({ type: 'objcast_subscribe', objectId: id257, ref: 'o257' });
    await expectError(a, 'bad_request', { ref: 'o257', loose: true });
    broadcast(a, 'e'.repeat(256), 1, { objectId: id256 });
    await expectNext(b, ovMessage(a, 'e'.repeat(256), 1, { objectId: id256 }));
    broadcast(a, 'e'.repeat(257), 1, { objectId: id256, ref: 'e257' });
    await expectError(a, 'bad_request', { objectId: id256, ref: 'e257' });
    emit(a, 't'.repeat(257), 'e', 1, { objectId: id256, ref: 't257' });
    await expectError(a, 'bad_request', { objectId: id256, ref: 't257' });
    await expectSilence(b);
    await assertUsable(a, b, id256);
});

eachEngine('not_subscribed: a connection on another instance than the participants may not use the object', async (t, engine) => {
    const { nodes: [A, B] } = await engine.start(t, { instances: 2 });
    const a = await open(A, 'a');
    const x = await open(B, 'x');
    await subscribe(a);
    const msgs = [
        { type: 'ovice_get_participants' },
        { type: 'ovice_broadcast_message', payload: { event: 'e', message: 1 } },
        { type: 'ovice_emit_message', payload: { event: 'e', message: 1, to: 'a' } },
        { type: 'ovice_get_data' },
        { type: 'ovice_save_and_emit_data', payload: { k: 1 } },
    ];
    for (const [i, m] of msgs.entries()) {
        x.send({ ...m, objectId: OBJ, ref: `ns${i}` });
        await expectError(x, 'not_subscribed', { objectId: OBJ, ref: `ns${i}` });
    }
    await expectSilence(a);
    await expectStored(a, {}, 0);
});
