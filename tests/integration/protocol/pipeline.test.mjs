// Per-connection order (docs/protocol.md section 8): a connection's messages are handled as if
// one at a time, even when several arrive in ONE TCP write. The reply to a message, and
// what it causes, reflects every earlier message of the same connection. Each case runs
// with every engine (lib/engines.mjs); the client is a raw socket that writes hand-made
// masked frames, all of a batch in one socket.write().
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import { OBJ, open, participant, presence, sendJoin, sendLeave, sortById, subscribeAll, user } from '../lib/proto.mjs';
import { rawSocket, sleep, waitFor } from '../lib/server.mjs';
import { buildFrame } from '../lib/wsframe.mjs';

/* A raw WebSocket on s for claims (user(sub) for a string), upgraded, not authenticated. */
async function rawClient(s, claims) {
    const c = await rawSocket(s);
    await c.handshake();
    c.claims = typeof claims === 'string' ? user(claims) : claims;
    c.token = s.token(c.claims);
    return c;
}

/* Sends every message of msgs in one TCP write, each in its own masked text frame. */
function pipeline(c, msgs) {
    c.write(Buffer.concat(msgs.map((m) => buildFrame({ payload: JSON.stringify(m) }))));
}

const brief = (m) => `${m.type}${m.ref !== undefined ? `(ref ${m.ref})` : ''}`;

/* The next n text messages of c, parsed; on a timeout the error names those that came. */
async function messages(c, n, timeoutMs = 5000) {
    const out = [];
    try {
        for (let i = 0; i < n; i++) out.push(await c.readMessage(timeoutMs));
    } catch (e) {
        throw new Error(`${out.length} of ${n} replies came: ${out.map(brief).join(', ') || 'none'} (${e.message})`);
    }
    return out;
}

const auth = (c, ref) => ({ type: 'objcast_auth', token: c.token, ref });
const sub = (objectId = OBJ) => ({ type: 'objcast_subscribe', objectId });
const join = (objectId = OBJ) => ({ type: 'objcast_join', objectId });
const leave = (objectId = OBJ) => ({ type: 'objcast_leave', objectId });
const unsub = (objectId = OBJ) => ({ type: 'objcast_unsubscribe', objectId });
const getParts = (ref, objectId = OBJ) => ({ type: 'ovice_get_participants', objectId, ref });
const getData = (ref, objectId = OBJ) => ({ type: 'ovice_get_data', objectId, ref });
const save = (ref, payload, extra = {}, objectId = OBJ) => ({ type: 'ovice_save_and_emit_data', objectId, payload, ref, ...extra });

/* Requires m to be the ovice_participants reply (ref) listing exactly want (participants). */
function assertParticipants(m, ref, want, objectId = OBJ) {
    assert.equal(m.type, 'ovice_participants', JSON.stringify(m).slice(0, 300));
    assert.equal(m.ref, ref);
    assert.equal(m.objectId, objectId);
    assert.deepStrictEqual(sortById(m.payload), sortById(want), 'the participants reply reflects the earlier messages');
}

/* Requires m to be ovice_data_saved_success (ref, version) for stored. */
function assertSaved(m, ref, version, stored) {
    assert.equal(m.type, 'ovice_data_saved_success', JSON.stringify(m).slice(0, 300));
    assert.equal(m.ref, ref);
    assert.equal(m.version, version);
    assert.ok(Number.isInteger(m.payload?.updated_at), 'updated_at');
    assert.deepStrictEqual(m.payload, { ...stored, updated_at: m.payload.updated_at });
}

eachEngine('objcast_auth + objcast_subscribe + ovice_get_participants in one write list the sender', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const c = await rawClient(s, 'pip1');
    pipeline(c, [auth(c, 'a'), sub(), getParts('p')]);
    const [ready, ev, parts] = await messages(c, 3);
    assert.equal(ready.type, 'objcast_ready', JSON.stringify(ready));
    assert.equal(ready.ref, 'a');
    assert.deepStrictEqual(ev, presence('subscribed', c, c));
    assertParticipants(parts, 'p', [participant(c, c, { status: 'subscribed' })]);
});

eachEngine('join + ovice_save_and_emit_data in one write saves as a participant; save + get_data returns the save', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const c = await rawClient(s, 'saver');
    await c.auth(c.token);
    pipeline(c, [join(), save('s1', { a: 1 })]);
    const [ev, saved] = await messages(c, 2);
    assert.deepStrictEqual(ev, presence('joined', c, c));
    assertSaved(saved, 's1', 1, { a: 1 });

    pipeline(c, [save('s2', { b: [2, 'two'] }), getData('g')]);
    const [saved2, got] = await messages(c, 2);
    assertSaved(saved2, 's2', 2, { b: [2, 'two'] });
    assert.deepStrictEqual(got, { type: 'ovice_saved_data', objectId: OBJ, ref: 'g', version: 2, payload: { b: [2, 'two'] } },
        'get_data right behind a save returns that save and its version');
});

eachEngine('subscribe/join/leave/unsubscribe then get_participants in one write see the state they left', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const c = await rawClient(s, 'states');
    await c.auth(c.token);
    const ev = (kind, objectId) => presence(kind, c, c, { objectId });

    pipeline(c, [sub('P-left'), join('P-left'), leave('P-left'), getParts('p1', 'P-left')]);
    const left = await messages(c, 4);
    assert.deepStrictEqual(left.slice(0, 3), [ev('subscribed', 'P-left'), ev('joined', 'P-left'), ev('left', 'P-left')]);
    assertParticipants(left[3], 'p1', [participant(c, c, { objectId: 'P-left', status: 'left' })], 'P-left');

    pipeline(c, [sub('P-unsub'), unsub('P-unsub'), getParts('p2', 'P-unsub')]);
    const gone = await messages(c, 3);
    assert.deepStrictEqual(gone.slice(0, 2), [ev('subscribed', 'P-unsub'), ev('unsubscribed', 'P-unsub')]);
    assert.equal(gone[2].type, 'objcast_error', JSON.stringify(gone[2]));
    assert.deepStrictEqual(gone[2], {
        type: 'objcast_error', objectId: 'P-unsub', ref: 'p2',
        payload: { code: 'not_subscribed', message: gone[2].payload.message },
    });

    pipeline(c, [sub('P-re'), unsub('P-re'), sub('P-re'), getParts('p3', 'P-re')]);
    const back = await messages(c, 4);
    assert.deepStrictEqual(back.slice(0, 3),
        [ev('subscribed', 'P-re'), ev('unsubscribed', 'P-re'), ev('subscribed', 'P-re')]);
    assertParticipants(back[3], 'p3', [participant(c, c, { objectId: 'P-re', status: 'subscribed' })], 'P-re');
});

eachEngine('replies to one write come in the order of its requests', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const c = await rawClient(s, 'order');
    pipeline(c, [
        auth(c, 'r0'),
        sub(),
        getData('r1'),
        getParts('r2'),
        save('r3', { x: 1 }),
        getData('r4'),
        { type: 'objcast_nope', ref: 'r5' },
        getParts('r6'),
        save('r7', { x: 2 }, { ifVersion: 99 }),
        getData('r8'),
    ]);
    const got = await messages(c, 10);
    const refs = got.map((m) => (m.ref === undefined ? m.type : m.ref));
    assert.deepStrictEqual(refs,
        ['r0', 'ovice_participant_subscribed', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8'],
        `replies in request order: ${got.map((m) => `${m.ref}:${m.type}`).join(' ')}`);
    const byRef = Object.fromEntries(got.map((m) => [m.ref, m]));
    assert.deepStrictEqual([byRef.r1.version, byRef.r1.payload], [0, {}], 'get_data before the save');
    assertSaved(byRef.r3, 'r3', 1, { x: 1 });
    assert.deepStrictEqual([byRef.r4.version, byRef.r4.payload], [1, { x: 1 }], 'get_data after the save');
    assert.equal(byRef.r5.payload.code, 'unknown_type');
    assert.equal(byRef.r7.payload.code, 'conflict');
    assert.deepStrictEqual([byRef.r8.version, byRef.r8.payload], [1, { x: 1 }], 'the refused save changed nothing');
});

/* Whether c has received its own presence event `kind` on objectId. */
const heardOwn = (c, kind, objectId = OBJ) => c.queue.some((m) =>
    m.type === `ovice_participant_${kind}` && m.objectId === objectId && m.payload.isSelf);

eachEngine('a late subscriber on a second instance pipelines subscribe + get_participants and sees everyone', async (t, engine) => {
    const { redis, nodes: [A, B] } = await engine.start(t, { instances: 2 });
    const a = await open(A, 'pa', { raw: false });
    const b = await open(A, 'pb', { raw: false });
    const c = await open(A, 'pc', { raw: false });
    await subscribeAll([a, b, c]);
    sendJoin(b);
    sendJoin(c);
    sendLeave(c);
    // the three are in place (with engine redis: in Redis) before the late subscriber comes
    await waitFor(() => heardOwn(c, 'left'), 5000, 'c\'s own left event');
    if (redis) {
        await waitFor(async () => Number(await redis.command('HLEN', `objcast:{987:${OBJ}}:presence`)) === 3, 5000,
            'three presence entries in Redis');
    }
    await sleep(300);

    const d = await rawClient(B, 'pd');
    await d.auth(d.token);
    pipeline(d, [sub(), getParts('late')]);
    const [ev, parts] = await messages(d, 2);
    assert.deepStrictEqual(ev, presence('subscribed', d, d));
    assertParticipants(parts, 'late', [
        participant(a, d, { status: 'subscribed' }),
        participant(b, d, { status: 'joined' }),
        participant(c, d, { status: 'left' }),
        participant(d, d, { status: 'subscribed' }),
    ]);

    // and the same with auth in the same write, on another object the three are on
    for (const x of [a, b, c]) x.send({ type: 'objcast_subscribe', objectId: 'L2' });
    await waitFor(() => [a, b, c].every((x) => heardOwn(x, 'subscribed', 'L2')), 5000, 'their own events of L2');
    if (redis) {
        await waitFor(async () => Number(await redis.command('HLEN', 'objcast:{987:L2}:presence')) === 3, 5000,
            'three presence entries of L2 in Redis');
    }
    await sleep(300);
    const e = await rawClient(B, 'pe');
    pipeline(e, [auth(e, 'ea'), sub('L2'), getParts('late2', 'L2')]);
    const [ready, ev2, parts2] = await messages(e, 3);
    assert.equal(ready.type, 'objcast_ready');
    assert.deepStrictEqual(ev2, presence('subscribed', e, e, { objectId: 'L2' }));
    assertParticipants(parts2, 'late2', [a, b, c, e].map((x) =>
        participant(x, e, { objectId: 'L2', status: 'subscribed' })), 'L2');
});
