// Ordering (PROTOCOL.md section 5, decisions "Ordering"): one total order per object, the
// same at every recipient, and each sender's messages in the order sent.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import { broadcast, collect, expectSilence, open, subscribeAll } from '../lib/proto.mjs';

const PER_SENDER = 1000;

eachEngine(`two senders x ${PER_SENDER} broadcasts: every receiver sees the same order, each sender's increasing`, async (t, engine) => {
    // the default client_rate (200/s, burst 400) would refuse a burst of 1,000
    const { nodes: [s] } = await engine.start(t, { conf: { client_rate: [1000000, 1000000] } });
    const s1 = await open(s, 's1', { raw: false });
    const s2 = await open(s, 's2', { raw: false });
    const receivers = [];
    for (const id of ['r1', 'r2', 'r3']) receivers.push(await open(s, id, { raw: false }));
    await subscribeAll([s1, s2, ...receivers]);

    for (let i = 0; i < PER_SENDER; i++) {
        broadcast(s1, 'seq', { from: 's1', n: i });
        broadcast(s2, 'seq', { from: 's2', n: i });
    }

    const key = (m) => `${m.payload.message.from}:${m.payload.message.n}`;
    const orders = [];
    for (const r of receivers) {
        const msgs = await collect(r, 2 * PER_SENDER, 30000);
        for (const m of msgs) {
            assert.equal(m.type, 'ovice_message');
            assert.equal(m.payload.source, m.payload.message.from, 'source is the sender');
        }
        const last = { s1: -1, s2: -1 };
        for (const m of msgs) {
            const { from, n } = m.payload.message;
            assert.equal(n, last[from] + 1, `${r.claims.sub}: ${from}'s messages in the order sent (after ${last[from]} got ${n})`);
            last[from] = n;
        }
        orders.push(msgs.map(key));
    }
    assert.deepStrictEqual(orders[1], orders[0], 'r2 saw the order r1 saw');
    assert.deepStrictEqual(orders[2], orders[0], 'r3 saw the order r1 saw');

    // each sender gets the other's messages (in order), none of its own
    for (const [sender, otherId] of [[s1, 's2'], [s2, 's1']]) {
        const msgs = await collect(sender, PER_SENDER, 30000);
        assert.deepStrictEqual(msgs.map((m) => m.payload.message), Array.from({ length: PER_SENDER }, (_, n) => ({ from: otherId, n })));
    }
    const theirOrder = orders[0];
    // the senders' views agree with the receivers' total order restricted to the other sender
    assert.deepStrictEqual(theirOrder.filter((k) => k.startsWith('s2:')), Array.from({ length: PER_SENDER }, (_, n) => `s2:${n}`));
    await expectSilence([s1, s2, ...receivers]);
});
