// Frame-level rules of RFC 6455 on a raw socket after auth, and the size limits.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { rawSocket, sleep, startServer } from '../lib/server.mjs';
import { OP, buildFrame } from '../lib/wsframe.mjs';

async function authedRaw(s) {
    const c = await rawSocket(s);
    await c.handshake();
    await c.auth(s.token());
    return c;
}

/* Sends frames and requires the server to close with code (close frame, then TCP end). */
async function expectCloseAfter(t, code, frames, conf) {
    const s = await startServer({ t, conf });
    const c = await authedRaw(s);
    for (const f of frames) c.write(buildFrame(f));
    const r = await c.expectClose(3000);
    assert.equal(r.code, code, `close code (reason ${JSON.stringify(r.reason)})`);
    return { s, c };
}

const text = (s) => Buffer.from(s, 'utf8');

test('an unmasked client frame closes with 1002', async (t) => {
    await expectCloseAfter(t, 1002, [{ payload: '{"type":"nope"}', mask: false }]);
});

test('RSV1 set closes with 1002', async (t) => {
    await expectCloseAfter(t, 1002, [{ payload: '{"type":"nope"}', rsv: 4 }]);
});

test('RSV2 and RSV3 set close with 1002', async (t) => {
    await expectCloseAfter(t, 1002, [{ payload: '{"type":"nope"}', rsv: 3 }]);
});

test('reserved opcode 3 closes with 1002', async (t) => {
    await expectCloseAfter(t, 1002, [{ opcode: 3, payload: 'x' }]);
});

test('reserved control opcode 0xB closes with 1002', async (t) => {
    await expectCloseAfter(t, 1002, [{ opcode: 0xb, payload: '' }]);
});

test('a binary frame closes with 1003', async (t) => {
    await expectCloseAfter(t, 1003, [{ opcode: OP.BINARY, payload: Buffer.from([1, 2, 3]) }]);
});

test('a fragmented ping closes with 1002', async (t) => {
    await expectCloseAfter(t, 1002, [{ opcode: OP.PING, fin: false, payload: 'a' }]);
});

test('a 126-byte ping closes with 1002', async (t) => {
    await expectCloseAfter(t, 1002, [{ opcode: OP.PING, payload: Buffer.alloc(126, 0x61) }]);
});

test('a continuation frame without a started message closes with 1002', async (t) => {
    await expectCloseAfter(t, 1002, [{ opcode: OP.CONT, payload: '{"type":"nope"}' }]);
});

test('a new text frame while a fragmented message is open closes with 1002', async (t) => {
    await expectCloseAfter(t, 1002, [
        { opcode: OP.TEXT, fin: false, payload: '{"type":' },
        { opcode: OP.TEXT, fin: true, payload: '"nope"}' },
    ]);
});

test('a text message in 3 fragments with a ping in between is received whole', async (t) => {
    const s = await startServer({ t });
    const c = await authedRaw(s);
    c.write(buildFrame({ opcode: OP.TEXT, fin: false, payload: '{"type":"no' }));
    c.write(buildFrame({ opcode: OP.PING, payload: 'mid' }));
    c.write(buildFrame({ opcode: OP.CONT, fin: false, payload: 'pe","ref":' }));
    c.write(buildFrame({ opcode: OP.CONT, fin: true, payload: '"frag"}' }));
    const pong = await c.readFrame();
    assert.equal(pong.opcode, OP.PONG);
    assert.equal(pong.payload.toString(), 'mid');
    const m = await c.readMessage();
    assert.equal(m.type, 'objcast_error');
    assert.equal(m.payload.code, 'unknown_type');
    assert.equal(m.ref, 'frag');
});

test('fragments sent byte by byte, and empty fragments, are reassembled', async (t) => {
    const s = await startServer({ t });
    const c = await authedRaw(s);
    const bytes = Buffer.concat([
        buildFrame({ opcode: OP.TEXT, fin: false, payload: '' }),
        buildFrame({ opcode: OP.CONT, fin: false, payload: '{"type":"nope",' }),
        buildFrame({ opcode: OP.CONT, fin: false, payload: '' }),
        buildFrame({ opcode: OP.CONT, fin: true, payload: '"ref":"bytes"}' }),
    ]);
    for (const b of bytes) {
        c.write(Buffer.from([b]));
        await c.flush();
    }
    const m = await c.readMessage();
    assert.equal(m.ref, 'bytes');
    assert.equal(m.payload.code, 'unknown_type');
});

test('several frames in one TCP write are all handled', async (t) => {
    const s = await startServer({ t });
    const c = await authedRaw(s);
    const frames = [];
    for (let i = 0; i < 20; i++) frames.push(buildFrame({ payload: JSON.stringify({ type: 'nope', ref: i }) }));
    c.write(Buffer.concat(frames));
    for (let i = 0; i < 20; i++) assert.equal((await c.readMessage()).ref, i);
});

test('invalid UTF-8 (C0 AF) closes with 1007', async (t) => {
    await expectCloseAfter(t, 1007, [{ payload: Buffer.concat([text('{"type":"x'), Buffer.from([0xc0, 0xaf]), text('"}')]) }]);
});

test('invalid UTF-8 split across two fragments closes with 1007', async (t) => {
    // E2 82 is a valid prefix (of U+20AC); the next fragment breaks it with 28 '('.
    const s = await startServer({ t });
    const c = await authedRaw(s);
    c.write(buildFrame({ opcode: OP.TEXT, fin: false, payload: Buffer.concat([text('{"type":"x'), Buffer.from([0xe2, 0x82])]) }));
    await sleep(100);
    assert.equal(c.ended, false, 'a valid prefix at the end of a fragment is not an error');
    c.write(buildFrame({ opcode: OP.CONT, fin: true, payload: Buffer.concat([Buffer.from([0x28]), text('"}')]) }));
    const r = await c.expectClose();
    assert.equal(r.code, 1007);
});

test('C0 AF split across two fragments closes with 1007', async (t) => {
    await expectCloseAfter(t, 1007, [
        { opcode: OP.TEXT, fin: false, payload: Buffer.concat([text('{"type":"x'), Buffer.from([0xc0])]) },
        { opcode: OP.CONT, fin: true, payload: Buffer.concat([Buffer.from([0xaf]), text('"}')]) },
    ]);
});

test('a message ending inside a UTF-8 sequence closes with 1007', async (t) => {
    await expectCloseAfter(t, 1007, [{ payload: Buffer.concat([text('{"type":"x"}'), Buffer.from([0xf0, 0x9f])]) }]);
});

test('UTF-16 surrogates encoded in UTF-8 (ED A0 80) close with 1007', async (t) => {
    await expectCloseAfter(t, 1007, [{ payload: Buffer.concat([text('{"type":"'), Buffer.from([0xed, 0xa0, 0x80]), text('"}')]) }]);
});

test('a valid multi-byte character split across fragments is accepted', async (t) => {
    const s = await startServer({ t });
    const c = await authedRaw(s);
    const euro = Buffer.from('€', 'utf8'); // E2 82 AC
    const emoji = Buffer.from('😀', 'utf8'); // F0 9F 98 80
    c.write(buildFrame({ opcode: OP.TEXT, fin: false, payload: Buffer.concat([text('{"type":"nope","ref":"'), euro.subarray(0, 1)]) }));
    c.write(buildFrame({ opcode: OP.CONT, fin: false, payload: Buffer.concat([euro.subarray(1), emoji.subarray(0, 3)]) }));
    c.write(buildFrame({ opcode: OP.CONT, fin: true, payload: Buffer.concat([emoji.subarray(3), text('"}')]) }));
    const m = await c.readMessage();
    assert.equal(m.payload.code, 'unknown_type');
    assert.equal(m.ref, '€😀');
});

// Limits: max_frame_bytes bounds a whole message (all fragments). The conf requires
// max_data_bytes and max_message_bytes to fit in a frame, so both come down with it.
const LIMITS = { max_frame_bytes: 65536, max_message_bytes: 32768, max_data_bytes: 16384 };

/* A JSON message of exactly n bytes with the given ref. */
function messageOfSize(n, ref) {
    const base = JSON.stringify({ type: 'nope', ref, pad: '' });
    assert.ok(n >= base.length);
    return JSON.stringify({ type: 'nope', ref, pad: 'p'.repeat(n - base.length) });
}

test('a frame header announcing 1 MiB closes with 1009 without waiting for the payload', async (t) => {
    const s = await startServer({ t, conf: LIMITS });
    const c = await authedRaw(s);
    const t0 = Date.now();
    c.write(buildFrame({ opcode: OP.TEXT, payload: '{"type":"nope",', declaredLength: 1 << 20 }));
    const r = await c.expectClose(2000);
    assert.equal(r.code, 1009);
    assert.ok(Date.now() - t0 < 2000);
});

test('a 16-bit length header over the limit (max_frame_bytes 4096) closes with 1009', async (t) => {
    const s = await startServer({ t, conf: { max_frame_bytes: 4096, max_message_bytes: 1024, max_data_bytes: 1024 } });
    const c = await authedRaw(s);
    c.write(buildFrame({ opcode: OP.TEXT, payload: '{"type":', declaredLength: 5000 }));
    const r = await c.expectClose(2000);
    assert.equal(r.code, 1009);
});

test('fragments summing over max_frame_bytes close with 1009', async (t) => {
    const s = await startServer({ t, conf: LIMITS });
    const c = await authedRaw(s);
    const chunk = 'x'.repeat(30000);
    c.write(buildFrame({ opcode: OP.TEXT, fin: false, payload: `{"type":"nope","pad":"${chunk}` }));
    c.write(buildFrame({ opcode: OP.CONT, fin: false, payload: chunk }));
    c.write(buildFrame({ opcode: OP.CONT, fin: false, payload: chunk }));
    c.write(buildFrame({ opcode: OP.CONT, fin: true, payload: '"}' }));
    const r = await c.expectClose(3000);
    assert.equal(r.code, 1009);
});

test('a 16-bit length frame just under max_frame_bytes is accepted', async (t) => {
    const s = await startServer({ t, conf: LIMITS });
    const c = await authedRaw(s);
    c.write(buildFrame({ opcode: OP.TEXT, payload: messageOfSize(65535, 'len16'), lenBits: 16 }));
    const m = await c.readMessage(5000);
    assert.equal(m.type, 'objcast_error');
    assert.equal(m.ref, 'len16');
    c.sendText({ type: 'nope', ref: 'after16' });
    assert.equal((await c.readMessage()).ref, 'after16');
});

test('a 64-bit length frame at max_frame_bytes is accepted', async (t) => {
    const s = await startServer({ t, conf: LIMITS });
    const c = await authedRaw(s);
    c.write(buildFrame({ opcode: OP.TEXT, payload: messageOfSize(65536, 'len64'), lenBits: 64 }));
    const m = await c.readMessage(5000);
    assert.equal(m.type, 'objcast_error');
    assert.equal(m.ref, 'len64');
    c.sendText({ type: 'nope', ref: 'after64' });
    assert.equal((await c.readMessage()).ref, 'after64');
});

test('a fragmented message just under max_frame_bytes is accepted', async (t) => {
    const s = await startServer({ t, conf: LIMITS });
    const c = await authedRaw(s);
    const msg = Buffer.from(messageOfSize(65536, 'frag64k'));
    const parts = [msg.subarray(0, 20000), msg.subarray(20000, 40000), msg.subarray(40000)];
    parts.forEach((p, i) => c.write(buildFrame({ opcode: i ? OP.CONT : OP.TEXT, fin: i === 2, payload: p })));
    const m = await c.readMessage(5000);
    assert.equal(m.ref, 'frag64k');
});

test('a 64-bit length with the top bit set closes with 1002 or 1009', async (t) => {
    const s = await startServer({ t });
    const c = await authedRaw(s);
    const f = buildFrame({ opcode: OP.TEXT, payload: 'x', declaredLength: 1 });
    // rewrite as a 64-bit length of 2^63 + 1
    const head = Buffer.from([0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1]);
    c.write(Buffer.concat([head, f.subarray(2)]));
    const r = await c.expectClose(2000);
    assert.ok([1002, 1009].includes(r.code), `code ${r.code}`);
});
