// Encode once (decisions: "/metrics has objcast_frames_encoded_total: a broadcast to N
// connections adds 1"), with 1,000 connections on one object.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { getMetrics, sleep, startServer, waitFor } from './lib/server.mjs';
import { broadcast, open, ovMessage, subscribe, user } from './lib/proto.mjs';

const CONNECTIONS = 1000;
const USERS = 10;
const BATCH = 50;

test(`a broadcast to ${CONNECTIONS - 1} connections is encoded once`, async (t) => {
    const s = await startServer({ t });
    const users = Array.from({ length: USERS }, (_, i) => user(`u${i}`));
    const conns = [];
    for (let i = 0; i < CONNECTIONS; i += BATCH) {
        const batch = [];
        for (let j = i; j < Math.min(i + BATCH, CONNECTIONS); j++) batch.push(open(s, users[j % USERS], { raw: false }));
        conns.push(...(await Promise.all(batch)));
    }
    // first connection of each user one by one, the rest (own events only) in batches
    for (const c of conns.slice(0, USERS)) await subscribe(c);
    for (let i = USERS; i < CONNECTIONS; i += BATCH) {
        await Promise.all(conns.slice(i, i + BATCH).map((c) => subscribe(c)));
    }
    await sleep(300);
    for (const c of conns) {
        for (const m of c.queue) assert.equal(m.type, 'ovice_participant_subscribed', JSON.stringify(m));
        c.queue.length = 0;
    }

    const before = (await getMetrics(s)).samples.objcast_frames_encoded_total;
    assert.equal(typeof before, 'number', 'objcast_frames_encoded_total is exported');
    const sender = conns[0];
    broadcast(sender, 'fanout', { big: 'x'.repeat(1000) });
    const receivers = conns.slice(1);
    await waitFor(() => receivers.every((c) => c.queue.length >= 1), 20000,
        `all ${receivers.length} receivers to get the broadcast`, 20);
    const want = ovMessage(sender, 'fanout', { big: 'x'.repeat(1000) });
    for (const c of receivers) assert.deepStrictEqual(c.queue, [want]);
    const after = (await getMetrics(s)).samples.objcast_frames_encoded_total;
    assert.equal(after - before, 1, `frames encoded grew by ${after - before} for one broadcast to ${receivers.length}`);
    assert.deepStrictEqual(sender.queue, [], 'no echo');
});
