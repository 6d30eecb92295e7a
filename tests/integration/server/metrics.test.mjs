// GET /metrics: Prometheus text; after traffic the connection gauge follows open WebSockets,
// counters grow, and a broadcast is encoded once (decisions: "/metrics has
// objcast_frames_encoded_total: a broadcast to N connections adds 1"), here with 1,000
// connections on one object.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { broadcast, open, ovMessage, subscribe, user } from '../lib/proto.mjs';
import {
    connect, connectAuthed, getMetrics, httpGet, parseMetrics, sleep, startServer, waitFor,
} from '../lib/server.mjs';

const sumOf = (samples, re) => Object.entries(samples).filter(([k]) => re.test(k)).reduce((a, [, v]) => a + v, 0);
const BYTES_RE = /^objcast_\w*bytes\w*_total$/;
const CONNECTIONS = 1000;
const USERS = 10;
const BATCH = 50;

test('GET /metrics is Prometheus text with the connection gauge and message counter', async (t) => {
    const s = await startServer({ t });
    const res = await httpGet(s, '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] || '', /^text\/plain/);
    const { samples, types } = parseMetrics(res.body);
    assert.ok('objcast_connections' in samples, 'objcast_connections sample');
    assert.equal(types.objcast_connections, 'gauge');
    assert.ok('objcast_messages_received_total' in samples, 'objcast_messages_received_total sample');
    const counterType = types.objcast_messages_received_total ?? types.objcast_messages_received;
    assert.equal(counterType, 'counter');
    assert.equal(samples.objcast_connections, 0, 'no connections yet');
});

test('objcast_connections follows open WebSockets and message/byte counters increase', async (t) => {
    const s = await startServer({ t });
    const m0 = await getMetrics(s);
    assert.equal(m0.samples.objcast_connections, 0);
    const byteCounters = Object.keys(m0.samples).filter((k) => BYTES_RE.test(k));
    assert.ok(byteCounters.length > 0, `a bytes counter among ${Object.keys(m0.samples).join(', ')}`);

    const a = await connectAuthed(s, { sub: 'a' });
    const b = await connectAuthed(s, { sub: 'b' });
    const c = await connectAuthed(s, { sub: 'c' });
    const conns = async () => (await getMetrics(s)).samples.objcast_connections;
    await waitFor(async () => (await conns()) === 3, 3000, 'objcast_connections == 3');

    for (let i = 0; i < 10; i++) {
        a.send({ type: 'nope', ref: i, pad: 'z'.repeat(1000) });
        assert.equal((await a.next()).ref, i);
    }
    const m1 = await getMetrics(s);
    const received = m1.samples.objcast_messages_received_total - m0.samples.objcast_messages_received_total;
    assert.ok(received >= 13, `messages received grew by ${received} (3 auths + 10)`);
    const bytes = sumOf(m1.samples, BYTES_RE) - sumOf(m0.samples, BYTES_RE);
    assert.ok(bytes >= 10000, `byte counters grew by ${bytes}`);
    if ('objcast_messages_sent_total' in m1.samples) {
        const sent = m1.samples.objcast_messages_sent_total - (m0.samples.objcast_messages_sent_total || 0);
        assert.ok(sent >= 13, `messages sent grew by ${sent}`);
    }

    c.close(1000);
    await c.closed(3000);
    await waitFor(async () => (await conns()) === 2, 3000, 'objcast_connections == 2 after a close');
    b.ws.terminate(); // abrupt: no close frame
    await waitFor(async () => (await conns()) === 1, 3000, 'objcast_connections == 1 after a drop');
    a.close(1000);
    await a.closed(3000);
    await waitFor(async () => (await conns()) === 0, 3000, 'objcast_connections == 0');
});

test('objcast_connections counts a WebSocket that has not authenticated yet', async (t) => {
    const s = await startServer({ t, conf: { auth_timeout: 30 } });
    const a = await connect(s);
    const conns = async () => (await getMetrics(s)).samples.objcast_connections;
    await waitFor(async () => (await conns()) === 1, 3000, 'objcast_connections == 1');
    a.close(1000);
    await a.closed(3000);
    await waitFor(async () => (await conns()) === 0, 3000, 'objcast_connections == 0');
});

test('metric values are numbers and HTTP requests are not WebSocket connections', async (t) => {
    const s = await startServer({ t });
    for (let i = 0; i < 3; i++) {
        const m = await getMetrics(s);
        for (const [k, v] of Object.entries(m.samples)) assert.ok(Number.isFinite(v), `${k} = ${v}`);
        assert.equal(m.samples.objcast_connections, 0);
    }
});

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
