// Ordering (docs/protocol.md section 8, decisions "Ordering"): one total order per object, the
// same at every recipient on every instance, and each sender's messages in the order sent.
// Senders and receivers are spread over three instances (with engine memory, the one
// server is all three).
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import { broadcast, collect, expectSilence, open, subscribeAll } from '../lib/proto.mjs';

const PER_SENDER = 1000;

eachEngine(`two senders on two instances x ${PER_SENDER} broadcasts: every receiver on every instance sees the same order, each sender's increasing`, async (t, engine) => {
    // the default client_rate (200/s, burst 400) would refuse a burst of 1,000
    const { nodes: [A, B, C] } = await engine.start(t, { instances: 3, conf: { client_rate: [1000000, 1000000] } });
    const s1 = await open(A, 's1', { raw: false });
    const s2 = await open(B, 's2', { raw: false });
    const receivers = [];
    for (const [id, node] of [['r1', A], ['r2', B], ['r3', C], ['r4', C]]) receivers.push(await open(node, id, { raw: false }));
    await subscribeAll([s1, s2, ...receivers]);

    for (let i = 0; i < PER_SENDER; i++) {
        broadcast(s1, 'seq', { from: 's1', n: i });
        broadcast(s2, 'seq', { from: 's2', n: i });
    }

    const key = (m) => `${m.payload.message.from}:${m.payload.message.n}`;
    const orders = [];
    for (const r of receivers) {
        const msgs = await collect(r, 2 * PER_SENDER, 30000);
        const last = { s1: -1, s2: -1 };
        for (const m of msgs) {
            assert.equal(m.type, 'ovice_message', JSON.stringify(m).slice(0, 200));
            assert.equal(m.payload.source, m.payload.message.from, 'source is the sender');
            const { from, n } = m.payload.message;
            assert.equal(n, last[from] + 1, `${r.claims.sub}: ${from}'s messages in the order sent (after ${last[from]} got ${n})`);
            last[from] = n;
        }
        orders.push(msgs.map(key));
    }
    for (let i = 1; i < orders.length; i++) {
        assert.deepStrictEqual(orders[i], orders[0], `${receivers[i].claims.sub} saw the order r1 saw`);
    }
    // each sender gets the other's messages in order, none of its own
    for (const [sender, otherId] of [[s1, 's2'], [s2, 's1']]) {
        const msgs = await collect(sender, PER_SENDER, 30000);
        assert.deepStrictEqual(msgs.map((m) => m.payload.message), Array.from({ length: PER_SENDER }, (_, n) => ({ from: otherId, n })));
    }
    // the senders' views agree with the receivers' total order restricted to the other sender
    assert.deepStrictEqual(orders[0].filter((k) => k.startsWith('s2:')), Array.from({ length: PER_SENDER }, (_, n) => `s2:${n}`));
    await expectSilence([s1, s2, ...receivers]);
});

eachEngine('presence events, messages and data of one object keep one order across instances', async (t, engine) => {
    const { nodes: [A, B, C] } = await engine.start(t, { instances: 3, conf: { client_rate: [1000000, 1000000] } });
    const s1 = await open(A, 's1', { raw: false });
    const s2 = await open(B, 's2', { raw: false });
    const r1 = await open(C, 'r1', { raw: false });
    const r2 = await open(A, 'r2', { raw: false });
    await subscribeAll([s1, s2, r1, r2]);
    // interleave broadcasts, saves (merge) and presence changes from two instances
    const N = 100;
    for (let i = 0; i < N; i++) {
        broadcast(s1, 'm', i);
        s2.send({ type: 'ovice_save_and_emit_data', objectId: 'L1', merge: true, payload: { [`k${i}`]: i } });
        s1.send({ type: i % 2 ? 'objcast_leave' : 'objcast_join', objectId: 'L1' });
    }
    const summary = (m) => {
        if (m.type === 'ovice_message') return `m${m.payload.message}`;
        if (m.type === 'ovice_shared_data') return `d${m.version}`;
        if (m.type.startsWith('ovice_participant_')) return `p:${m.payload.id}:${m.type.slice(18)}`;
        return m.type;
    };
    // r1, r2: N messages + N shared data + N presence events of s1 (joined/left alternate)
    const seen = [];
    for (const r of [r1, r2]) {
        const msgs = await collect(r, 3 * N, 30000);
        seen.push(msgs.map(summary));
    }
    assert.deepStrictEqual(seen[1], seen[0], 'r2 (instance A) and r1 (instance C) saw one order');
    const data = seen[0].filter((x) => x.startsWith('d'));
    assert.deepStrictEqual(data, Array.from({ length: N }, (_, i) => `d${i + 1}`), 'versions in order');
    const msgs = seen[0].filter((x) => x.startsWith('m'));
    assert.deepStrictEqual(msgs, Array.from({ length: N }, (_, i) => `m${i}`));
    const pres = seen[0].filter((x) => x.startsWith('p:'));
    assert.deepStrictEqual(pres, Array.from({ length: N }, (_, i) => `p:s1:${i % 2 ? 'left' : 'joined'}`));
});
