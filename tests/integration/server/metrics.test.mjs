// /metrics after traffic: the connection gauge follows open WebSockets, counters grow.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { connect, connectAuthed, getMetrics, startServer, waitFor } from '../lib/server.mjs';

const sumOf = (samples, re) => Object.entries(samples).filter(([k]) => re.test(k)).reduce((a, [, v]) => a + v, 0);
const BYTES_RE = /^objcast_\w*bytes\w*_total$/;

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
