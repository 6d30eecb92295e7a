// Workspace isolation (docs/protocol.md section 1, "workspace"): object "L1" of workspace
// 987 and "L1" of workspace 988 are different objects; no presence, message, participant or
// data crosses.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import {
    OBJ, broadcast, emit, expectError, expectNext, expectSilence, expectStored, flush, getParticipants,
    open, ovMessage, participant, presence, saveData, subscribe, subscribeAll, user,
} from '../lib/proto.mjs';

async function setup(t, engine) {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, user('a', { ws: 987 }));
    const b = await open(s, user('b', { ws: 987 }));
    const c = await open(s, user('c', { ws: 988 }));
    const d = await open(s, user('d', { ws: 988 }));
    await subscribeAll([a, b]);
    await subscribe(c); // own event only: a and b are in another workspace
    await expectSilence([a, b], 100);
    await subscribe(d);
    await expectNext(c, presence('subscribed', d, c));
    await expectSilence([a, b], 100);
    return { s, a, b, c, d };
}

eachEngine('presence and participants stay in their workspace', async (t, engine) => {
    const { a, b, c, d } = await setup(t, engine);
    const p987 = await getParticipants(a, { ref: 1 });
    assert.deepStrictEqual(p987.payload, [participant(a, a, { status: 'subscribed' }), participant(b, a, { status: 'subscribed' })]);
    const p988 = await getParticipants(d, { ref: 2 });
    assert.deepStrictEqual(p988.payload, [participant(c, d, { status: 'subscribed' }), participant(d, d, { status: 'subscribed' })]);
    c.send({ type: 'objcast_join', objectId: OBJ });
    await expectNext(c, presence('joined', c, c));
    await expectNext(d, presence('joined', c, d));
    c.close(1000);
    await expectNext(d, presence('unsubscribed', c, d));
    await expectSilence([a, b]);
});

eachEngine('broadcasts and emits stay in their workspace', async (t, engine) => {
    const { a, b, c, d } = await setup(t, engine);
    broadcast(a, 'hello', 'from 987');
    await expectNext(b, ovMessage(a, 'hello', 'from 987'));
    broadcast(c, 'hello', 'from 988');
    await expectNext(d, ovMessage(c, 'hello', 'from 988'));
    await expectSilence([a, b, c, d]);
    emit(a, 'c', 'cross', 1, { ref: 'x' });
    await expectError(a, 'not_present', { objectId: OBJ, ref: 'x' });
    emit(d, 'b', 'cross', 1, { ref: 'y' });
    await expectError(d, 'not_present', { objectId: OBJ, ref: 'y' });
    await expectSilence([a, b, c, d]);
});

eachEngine('saved data and versions are per workspace', async (t, engine) => {
    const { a, b, c, d } = await setup(t, engine);
    saveData(a, { ws: 987 }, { ref: 's' });
    const ok = await a.next();
    assert.equal(ok.type, 'ovice_data_saved_success');
    assert.equal(ok.version, 1);
    await expectNext(b, { type: 'ovice_shared_data', objectId: OBJ, version: 1, payload: { ws: 987 } });
    await expectSilence([c, d]);
    await expectStored(c, {}, 0);
    saveData(d, { ws: 988 }, { ref: 's2', ifVersion: 0 });
    const ok2 = await d.next();
    assert.equal(ok2.type, 'ovice_data_saved_success', JSON.stringify(ok2));
    assert.equal(ok2.version, 1);
    await expectNext(c, { type: 'ovice_shared_data', objectId: OBJ, version: 1, payload: { ws: 988 } });
    await expectSilence([a, b]);
    await expectStored(b, { ws: 987 }, 1);
    await expectStored(c, { ws: 988 }, 1);
});

eachEngine('the same user id in two workspaces is two users', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const x987 = await open(s, user('x', { ws: 987, email: 'x987@x.invalid' }));
    const x988 = await open(s, user('x', { ws: 988, email: 'x988@x.invalid' }));
    const a = await open(s, user('a', { ws: 987 }));
    const c = await open(s, user('c', { ws: 988 }));
    await subscribeAll([a, x987]);
    await subscribe(c);
    // x's arrival in 988 is news there, although x is present in 987
    await subscribe(x988);
    await expectNext(c, presence('subscribed', x988, c));
    await expectSilence([a, x987]);
    emit(c, 'x', 'to-x', 1);
    await expectNext(x988, ovMessage(c, 'to-x', 1, { to: 'x' }));
    await flush(x987);
    x987.close(1000);
    await expectNext(a, presence('unsubscribed', x987, a));
    await expectSilence([c, x988]);
    const list = await getParticipants(c);
    assert.deepStrictEqual(list.payload.map((p) => [p.id, p.workspaceId, p.status]), [['c', 988, 'subscribed'], ['x', 988, 'subscribed']]);
});

eachEngine('workspaces stay apart across instances: same object id, different workspaces', async (t, engine) => {
    const { nodes: [A, B] } = await engine.start(t, { instances: 2 });
    const a = await open(A, user('a', { ws: 987 }));
    const x = await open(B, user('x', { ws: 988 }));
    await subscribe(a);
    await subscribe(x);
    await expectSilence(a);
    broadcast(x, 'other-ws', 1);
    saveData(x, { from: 988 }, { ref: 'x1' });
    const r = await x.next();
    assert.equal(r.type, 'ovice_data_saved_success');
    await expectSilence(a);
    await expectStored(a, {}, 0);
    a.send({ type: 'ovice_get_participants', objectId: OBJ });
    assert.deepStrictEqual((await a.next()).payload.map((p) => p.id), ['a']);
    emit(a, 'x', 'e', 1, { ref: 'np' });
    await expectError(a, 'not_present', { objectId: OBJ, ref: 'np' });
    await expectStored(x, { from: 988 }, 1);
});
