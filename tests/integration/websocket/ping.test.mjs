// Ping/pong both ways and the idle-connection keepalive (ping_interval, ping_timeout).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { connectAuthed, rawSocket, sleep, startServer } from '../lib/server.mjs';
import { OP, buildFrame } from '../lib/wsframe.mjs';

test('a client ping is answered by a pong echoing its payload', async (t) => {
    const s = await startServer({ t });
    const c = await rawSocket(s);
    await c.handshake();
    await c.auth(s.token());
    for (const payload of ['hello', '', 'x'.repeat(125)]) {
        c.write(buildFrame({ opcode: OP.PING, payload }));
        const f = await c.readFrame();
        assert.equal(f.opcode, OP.PONG);
        assert.equal(f.fin, true);
        assert.equal(f.masked, false, 'server frames are not masked');
        assert.equal(f.payload.toString(), payload);
    }
});

test('a ping before auth is answered too', async (t) => {
    const s = await startServer({ t });
    const c = await rawSocket(s);
    await c.handshake();
    c.write(buildFrame({ opcode: OP.PING, payload: Buffer.from([0, 1, 2, 0xff]) }));
    const f = await c.readFrame();
    assert.equal(f.opcode, OP.PONG);
    assert.deepEqual([...f.payload], [0, 1, 2, 0xff]);
    await c.auth(s.token());
});

test('the ws client gets a pong for its ping', async (t) => {
    const s = await startServer({ t });
    const c = await connectAuthed(s);
    const pong = new Promise((resolve) => c.ws.once('pong', (d) => resolve(d.toString())));
    c.ws.ping('are you there');
    assert.equal(await pong, 'are you there');
});

test('the server pings an idle client that answers, and keeps it open', async (t) => {
    const s = await startServer({ t, conf: { ping_interval: 1, ping_timeout: 1 } });
    const c = await connectAuthed(s); // the ws client answers pings by itself
    await sleep(3500);
    assert.ok(c.isOpen, `closed: ${JSON.stringify(c.closeInfo)}`);
    assert.ok(c.pings >= 2, `server sent ${c.pings} pings in 3.5 s`);
    c.send({ type: 'nope', ref: 'alive' });
    const m = await c.next();
    assert.equal(m.ref, 'alive');
});

test('a client that never answers pings is dropped within ping_interval + ping_timeout', async (t) => {
    const s = await startServer({ t, conf: { ping_interval: 1, ping_timeout: 1, auth_timeout: 30 } });
    const c = await rawSocket(s);
    await c.handshake();
    await c.auth(s.token());
    const t0 = Date.now();
    const ping = await c.readFrameOf(OP.PING, 2500);
    assert.equal(ping.masked, false);
    await c.waitEnd(4000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed <= 4000, `dropped after ${elapsed} ms`);
    assert.ok(elapsed >= 900, `dropped after only ${elapsed} ms`);
});

test('a raw client that answers pings with pongs is kept', async (t) => {
    const s = await startServer({ t, conf: { ping_interval: 1, ping_timeout: 1 } });
    const c = await rawSocket(s);
    await c.handshake();
    await c.auth(s.token());
    const deadline = Date.now() + 3500;
    let pings = 0;
    while (Date.now() < deadline) {
        const f = await c.readFrame(Math.max(1, deadline - Date.now())).catch((e) => {
            if (e.ended) throw e;
            return null;
        });
        if (!f) break;
        if (f.opcode === OP.PING) {
            pings++;
            c.write(buildFrame({ opcode: OP.PONG, payload: f.payload }));
        }
    }
    assert.ok(pings >= 2, `${pings} pings`);
    assert.equal(c.ended, false, 'still connected');
    c.sendText({ type: 'nope', ref: 'p' });
    assert.equal((await c.readMessage()).ref, 'p');
});
