// Limits that protect the server: max_connections and max_objects_per_connection.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { connect, connectAuthed, getMetrics, startServer } from './lib/server.mjs';

test('max_connections: one more WebSocket is refused (503 or closed); room again once one closes', async (t) => {
    const s = await startServer({ t, conf: { max_connections: 3 } });
    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await connectAuthed(s, { sub: `u${i}`, ws: 1 }));
    // Refused at accept: a 503 when it arrives before the close, else a hang-up.
    await assert.rejects(connect(s), (e) => e.statusCode === 503 || e.code === 'ECONNRESET' ||
        /socket hang up/.test(e.message));
    clients[0].close();
    await clients[0].closed();
    const m = await getMetrics(s);
    assert.equal(m.samples.objcast_connections, 2);
    assert.equal(m.samples.objcast_http_refused_total, 1, 'the refusal is counted');
    let ok = null;
    for (let i = 0; i < 50 && !ok; i++) {
        ok = await connect(s).catch(() => null);
        if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(ok, 'a connection is accepted again');
});

test('max_objects_per_connection: one more object is too_large, others still work', async (t) => {
    const s = await startServer({ t, conf: { max_objects_per_connection: 2 } });
    const a = await connectAuthed(s, { sub: 'a', ws: 1 });
    for (const o of ['O1', 'O2']) {
        a.send({ type: 'objcast_subscribe', objectId: o });
        assert.equal((await a.next()).type, 'ovice_participant_subscribed');
    }
    a.send({ type: 'objcast_subscribe', objectId: 'O3', ref: 'r' });
    const e = await a.next();
    assert.equal(e.type, 'objcast_error');
    assert.equal(e.payload.code, 'too_large');
    assert.equal(e.ref, 'r');
    assert.equal(e.objectId, 'O3');
    // joining an object it is already on is not one more object
    a.send({ type: 'objcast_join', objectId: 'O2' });
    assert.equal((await a.next()).type, 'ovice_participant_joined');
    a.send({ type: 'objcast_unsubscribe', objectId: 'O1' });
    assert.equal((await a.next()).type, 'ovice_participant_unsubscribed');
    a.send({ type: 'objcast_subscribe', objectId: 'O3' });
    assert.equal((await a.next()).type, 'ovice_participant_subscribed');
});
