// Every protocol row of PROTOCOL.md sections 3 and 5 across instances (engine redis): the
// sender on one objcastd, the receivers on others, all sharing one redis-server. The
// expected messages are exactly those of the one-instance protocol-*.test.mjs files.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { startCluster, startRedis } from './lib/redis.mjs';
import {
    OBJ, assertUsable, broadcast, emit, expectError, expectNext, expectSilence, expectStored, flush, join,
    nowSec, objectToken, open, ovMessage, participant, presence, rawsWhere, saveData, sendJoin, sendLeave,
    sendSubscribe, sendUnsubscribe, sortById, subscribe, subscribeAll, user,
} from './lib/proto.mjs';

const MAX_MESSAGE = 2097152;
const bytes = (s) => Buffer.byteLength(s, 'utf8');

async function cluster(t, instances = 3, conf = {}) {
    const redis = await startRedis({ t });
    const nodes = await startCluster({ t, instances, redis, conf });
    return { redis, nodes };
}

test('objcast_ready names the instance each client landed on; instances are distinct', async (t) => {
    const { nodes } = await cluster(t, 3);
    const ids = new Set();
    for (const [i, s] of nodes.entries()) {
        assert.equal(s.engine, 'redis', 'the listening line says engine=redis');
        const c = await open(s, `u${i}`);
        assert.deepStrictEqual(c.ready, {
            type: 'objcast_ready',
            payload: { userId: `u${i}`, instance: s.instance, limits: { maxMessageBytes: 2097152, maxDataBytes: 512000 } },
        });
        ids.add(c.ready.payload.instance);
    }
    assert.equal(ids.size, 3);
});

test('presence: subscribe/join/leave/unsubscribe on one instance reach the others exactly', async (t) => {
    const { nodes: [A, B, C] } = await cluster(t, 3);
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

test('a closed connection (close frame or abrupt drop) is unsubscribed on every instance', async (t) => {
    const { nodes: [A, B, C] } = await cluster(t, 3);
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

test('ovice_get_participants lists users of every instance with status, isSelf and own email only', async (t) => {
    const { nodes: [A, B, C] } = await cluster(t, 3);
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
    for (const [requester, ref] of [[a, 'pa'], [b, 12], [c, 'pc']]) {
        requester.send({ type: 'ovice_get_participants', objectId: OBJ, ref });
        const m = await requester.next();
        assert.deepStrictEqual({ ...m, payload: sortById(m.payload) }, {
            type: 'ovice_participants',
            objectId: OBJ,
            ref,
            payload: sortById([a, b, c].map((who) => participant(who, requester, { status: status[who.claims.sub] }))),
        }, `participants as ${requester.claims.sub} sees them`);
    }

    // a fourth instance-less view: a newcomer on B bootstraps the list from Redis
    const n = await open(B, 'newcomer');
    await subscribe(n);
    for (const r of [a, b, c]) await expectNext(r, presence('subscribed', n, r));
    n.send({ type: 'ovice_get_participants', objectId: OBJ });
    const m = await n.next();
    assert.deepStrictEqual({ ...m, payload: sortById(m.payload) }, {
        type: 'ovice_participants',
        objectId: OBJ,
        payload: sortById([a, b, c, n].map((who) => participant(who, n, { status: status[who.claims.sub] ?? 'subscribed' }))),
    });
});

test('one user on two instances is one participant: aggregate state, events only on change', async (t) => {
    const { nodes: [A, B, C] } = await cluster(t, 3);
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

test('object tokens: isHost and objectType from the token travel to other instances', async (t) => {
    const { nodes: [A, B] } = await cluster(t, 2);
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

test('broadcast: every other connection on every instance gets the exact ovice_message; echo only on request', async (t) => {
    const { nodes: [A, B, C] } = await cluster(t, 3);
    const ua = user('a');
    const a1 = await open(A, ua);
    const a2 = await open(B, ua);
    const b = await open(B, 'b');
    const c = await open(C, user(12));
    const off = await open(C, 'off');
    await subscribeAll([a1, a2, b, c]);
    await subscribe(off, 'L2');

    const msg = { key1: 'value1', key2: 42, key3: ['item1', 'item2'] };
    broadcast(a1, 'exampleEvent', msg, { ref: 'b1', source: 'forged' });
    const want = {
        type: 'ovice_message',
        objectId: 'L1',
        payload: { source: 'a', event: 'exampleEvent', objectId: 'L1', message: msg },
    };
    for (const r of [a2, b, c]) await expectNext(r, want, 'on another instance');
    await flush(a1);
    await expectSilence([a1, a2, b, c, off]);

    broadcast(c, 'echoed', [1, 'x'], { echo: true });
    for (const r of [a1, a2, b]) await expectNext(r, ovMessage(c, 'echoed', [1, 'x']));
    const echo = await expectNext(c, ovMessage(c, 'echoed', [1, 'x']), 'echo to the sender');
    assert.strictEqual(echo.payload.source, 12);
    await expectSilence([a1, a2, b, c, off]);
});

test('broadcast: the message text crosses Redis verbatim (every JSON type, odd spacing)', async (t) => {
    const { nodes: [A, B] } = await cluster(t, 2);
    const a = await open(A, 'a');
    const b = await open(B, 'b');
    await subscribeAll([a, b]);
    const cases = [
        '"esc \\u00e9 \\n \\"q\\" \\\\ \\/ \\ud83d\\ude00"',
        '"raw é ☃ 😀"',
        '1.50E+3',
        '12345678901234567890123',
        '[1 , "two" ,  [3], {"four" :4}]',
        '{"a" : "\\u00e9", "b" : [ 1 , 2.50 ] ,"c":{ "d" : null }}',
        'null',
        '"\\r\\n*1\\r\\n$4\\r\\nPING\\r\\n"',
    ];
    for (const [i, text] of cases.entries()) {
        broadcast(a, `t${i}`, undefined, { raw: text });
        await expectNext(b, ovMessage(a, `t${i}`, JSON.parse(text)), `message ${text}`);
        const raws = rawsWhere(b, (x) => x.payload?.event === `t${i}`);
        assert.equal(raws.length, 1);
        assert.ok(raws[0].includes(text), `raw frame ${raws[0]} contains ${text} verbatim`);
    }
});

test('broadcast: a 2,097,152-byte message reaches the other instance intact; one byte more -> too_large', async (t) => {
    const { nodes: [A, B] } = await cluster(t, 2);
    const a = await open(A, 'a');
    const b = await open(B, 'b');
    await subscribeAll([a, b]);
    const exact = `"${'é'.repeat(1000)}${'x'.repeat(MAX_MESSAGE - 2 - 2000)}"`;
    assert.equal(bytes(exact), MAX_MESSAGE);
    broadcast(a, 'big', undefined, { raw: exact });
    await expectNext(b, ovMessage(a, 'big', JSON.parse(exact)), 'the 2 MiB message', 15000);
    assert.ok(rawsWhere(b, (m) => m.payload?.event === 'big')[0].includes(exact), 'verbatim');
    const over = `"${'x'.repeat(MAX_MESSAGE - 1)}"`;
    broadcast(a, 'over', undefined, { raw: over, ref: 'ov' });
    await expectError(a, 'too_large', { objectId: OBJ, ref: 'ov', timeoutMs: 10000 });
    await expectSilence(b);
    await assertUsable(a, b);
});

test('emit: every connection of the target user, on every instance, and nobody else', async (t) => {
    const { nodes: [A, B, C] } = await cluster(t, 3);
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

test('emit: a user present only on another instance is present; one who left every instance is not_present', async (t) => {
    const { nodes: [A, B] } = await cluster(t, 2);
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

test('not_subscribed: a connection on another instance than the participants may not use the object', async (t) => {
    const { nodes: [A, B] } = await cluster(t, 2);
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

/* Saves data from c and checks the saver's reply (exact, with updated_at) and the
 * ovice_shared_data every other connection receives. */
async function saveAndCheck(c, data, { stored = data, version, others = [], ref = `s${version}`, ...opts } = {}) {
    saveData(c, data, { ref, ...opts });
    const before = nowSec();
    const m = await c.next(undefined, 5000);
    assert.equal(m.type, 'ovice_data_saved_success', JSON.stringify(m).slice(0, 300));
    const at = m.payload?.updated_at;
    assert.ok(Number.isInteger(at) && Math.abs(at - before) <= 5, `updated_at ${at} is unix seconds`);
    assert.deepStrictEqual(m, {
        type: 'ovice_data_saved_success', objectId: OBJ, ref, version, payload: { ...stored, updated_at: at },
    });
    for (const o of others) {
        await expectNext(o, { type: 'ovice_shared_data', objectId: OBJ, version, payload: stored }, 'shared data');
    }
    return m;
}

test('saved data: save on one instance, shared_data on the others, get_data anywhere; merge, ifVersion', async (t) => {
    const { nodes: [A, B, C] } = await cluster(t, 3);
    const ua = user('a');
    const a1 = await open(A, ua);
    const a2 = await open(B, ua);
    const b = await open(C, 'b');
    await subscribeAll([a1, a2, b]);

    b.send({ type: 'ovice_get_data', objectId: OBJ, ref: 'g0' });
    await expectNext(b, { type: 'ovice_saved_data', objectId: OBJ, ref: 'g0', version: 0, payload: {} });

    const data = { value1: '12', value2: 'test', n: [1, { x: true }], u: 'é☃', z: null };
    await saveAndCheck(a1, data, { version: 1, others: [a2, b] });
    await flush(a1);
    await expectSilence([a1, a2, b]);
    await expectStored(b, data, 1);
    await expectStored(a2, data, 1);

    // merge from C: null deletes, shallow
    await saveAndCheck(b, { value2: null, obj: { deep: 1 }, missing: null }, {
        merge: true, version: 2, others: [a1, a2],
        stored: { value1: '12', n: [1, { x: true }], u: 'é☃', z: null, obj: { deep: 1 } },
    });
    // ifVersion: a match on B, a mismatch on A -> conflict, nothing stored, nobody told
    await saveAndCheck(a2, { only: 1 }, { ifVersion: 2, version: 3, others: [a1, b] });
    for (const [ifVersion, ref] of [[2, 'c1'], [0, 'c2'], [9, 'c3']]) {
        saveData(a1, { lost: true }, { ifVersion, ref, merge: true });
        await expectError(a1, 'conflict', { objectId: OBJ, ref });
    }
    await expectSilence([a2, b]);
    await expectStored(b, { only: 1 }, 3);
    await expectStored(a1, { only: 1 }, 3);

    // payload not an object -> bad_request; nothing stored
    saveData(b, [1, 2], { ref: 'bad' });
    await expectError(b, 'bad_request', { objectId: OBJ, ref: 'bad' });
    await expectSilence([a1, a2]);
    await expectStored(a2, { only: 1 }, 3);
});

test('saved data over max_data_bytes -> too_large on any instance; the merged result counts', async (t) => {
    const { nodes: [A, B] } = await cluster(t, 2, { max_data_bytes: 2000 });
    const a = await open(A, 'a');
    const b = await open(B, 'b');
    await subscribeAll([a, b]);
    // {"k":"xxx..."} of exactly 2000 compact bytes
    const fill = (n) => ({ k: 'x'.repeat(n - bytes('{"k":""}')) });
    assert.equal(bytes(JSON.stringify(fill(2000))), 2000);
    await saveAndCheck(a, fill(2000), { version: 1, others: [b] });
    saveData(b, fill(2001), { ref: 'big' });
    await expectError(b, 'too_large', { objectId: OBJ, ref: 'big' });
    // a merge whose result passes the limit
    await saveAndCheck(a, fill(1900), { version: 2, others: [b] });
    saveData(b, { extra: 'y'.repeat(100) }, { ref: 'mbig', merge: true });
    await expectError(b, 'too_large', { objectId: OBJ, ref: 'mbig' });
    await expectSilence(a);
    await expectStored(a, fill(1900), 2);
});

test('workspaces stay apart across instances: same object id, different workspaces', async (t) => {
    const { nodes: [A, B] } = await cluster(t, 2);
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
