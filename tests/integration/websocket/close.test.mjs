// The close handshake (RFC 6455 section 5.5.1, 7).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { connectAuthed, rawSocket, startServer } from '../lib/server.mjs';
import { OP, buildFrame, closeFrame } from '../lib/wsframe.mjs';

async function authedRaw(s) {
    const c = await rawSocket(s);
    await c.handshake();
    await c.auth(s.token());
    return c;
}

test('client close 1000 "bye" is echoed with 1000 and the TCP connection ends', async (t) => {
    const s = await startServer({ t });
    const c = await authedRaw(s);
    c.write(closeFrame(1000, 'bye'));
    const f = await c.readFrameOf(OP.CLOSE);
    assert.equal(f.code, 1000);
    assert.equal(f.masked, false);
    await c.waitEnd(3000);
});

test('the ws client closing with 1000 gets 1000 back', async (t) => {
    const s = await startServer({ t });
    const c = await connectAuthed(s);
    c.close(1000, 'bye');
    const { code } = await c.closed(3000);
    assert.equal(code, 1000);
});

test('a close frame without a code is answered with a close and the connection ends', async (t) => {
    const s = await startServer({ t });
    const c = await authedRaw(s);
    c.write(closeFrame(null));
    const f = await c.readFrameOf(OP.CLOSE);
    assert.ok(f.code === null || f.code === 1000, `code ${f.code}`);
    await c.waitEnd(3000);
});

test('an application close code (4001) is accepted and echoed', async (t) => {
    const s = await startServer({ t });
    const c = await authedRaw(s);
    c.write(closeFrame(4001, 'app'));
    const f = await c.readFrameOf(OP.CLOSE);
    assert.ok(f.code === 4001 || f.code === 1000, `code ${f.code}`);
    await c.waitEnd(3000);
});

for (const code of [999, 1004, 1005, 1006, 1015, 2000, 5000]) {
    test(`a close with the invalid code ${code} is answered with 1002`, async (t) => {
        const s = await startServer({ t });
        const c = await authedRaw(s);
        c.write(closeFrame(code, 'x'));
        const r = await c.expectClose();
        assert.equal(r.code, 1002);
    });
}

test('a close frame with a 1-byte payload is answered with 1002', async (t) => {
    const s = await startServer({ t });
    const c = await authedRaw(s);
    c.write(buildFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03]) }));
    const r = await c.expectClose();
    assert.equal(r.code, 1002);
});

test('a close reason that is not UTF-8 is answered with 1007', async (t) => {
    const s = await startServer({ t });
    const c = await authedRaw(s);
    c.write(buildFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xe8, 0xc0, 0xaf]) }));
    const r = await c.expectClose();
    assert.equal(r.code, 1007);
});

test('a close before auth is answered and does not disturb other clients', async (t) => {
    const s = await startServer({ t });
    const other = await connectAuthed(s);
    const c = await rawSocket(s);
    await c.handshake();
    c.write(closeFrame(1000, ''));
    const f = await c.readFrameOf(OP.CLOSE);
    assert.equal(f.code, 1000);
    await c.waitEnd(3000);
    other.send({ type: 'nope', ref: 1 });
    assert.equal((await other.next()).payload.code, 'unknown_type');
});
