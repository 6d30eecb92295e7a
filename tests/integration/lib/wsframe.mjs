// The WebSocket frame codec of the integration tests (RFC 6455 section 5): client frames
// built by hand (any opcode, flags, length encoding or mask, also invalid ones), server
// frames parsed, and the handshake's Sec-WebSocket-Accept. No I/O: RawConn in server.mjs
// sends and reads these on a socket.

import crypto from 'node:crypto';

export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

/* XORs buf in place with the 4-byte masking key (RFC 6455 section 5.3); returns buf. */
function applyMask(buf, key) {
    for (let i = 0; i < buf.length; i++) buf[i] ^= key[i & 3];
    return buf;
}

/*
 * A client frame. Options:
 *   opcode (TEXT), fin (true), rsv (0..7, bit 4 = RSV1), mask (true), maskKey (random)
 *   payload   Buffer | string | undefined
 *   lenBits   7 | 16 | 64 to force the length encoding (default: minimal)
 *   declaredLength  the length put in the header (default payload length), to announce
 *                   more bytes than are sent
 */
export function buildFrame({
    opcode = OP.TEXT,
    fin = true,
    rsv = 0,
    mask = true,
    maskKey,
    payload = Buffer.alloc(0),
    lenBits,
    declaredLength,
} = {}) {
    const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
    const len = declaredLength ?? data.length;
    const bits = lenBits ?? (len < 126 ? 7 : len < 65536 ? 16 : 64);
    const head = [((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f))];
    const m = mask ? 0x80 : 0;
    let ext = Buffer.alloc(0);
    if (bits === 7) {
        head.push(m | len);
    } else if (bits === 16) {
        head.push(m | 126);
        ext = Buffer.alloc(2);
        ext.writeUInt16BE(len);
    } else {
        head.push(m | 127);
        ext = Buffer.alloc(8);
        ext.writeBigUInt64BE(BigInt(len));
    }
    const parts = [Buffer.from(head), ext];
    if (mask) {
        const key = maskKey ? Buffer.from(maskKey) : crypto.randomBytes(4);
        parts.push(key, applyMask(Buffer.from(data), key));
    } else {
        parts.push(data);
    }
    return Buffer.concat(parts);
}

/* A masked close frame with code (omitted when null) and reason. */
export function closeFrame(code, reason = '', opts = {}) {
    let payload = Buffer.alloc(0);
    if (code !== null && code !== undefined) {
        payload = Buffer.alloc(2);
        payload.writeUInt16BE(code);
        payload = Buffer.concat([payload, Buffer.from(reason, 'utf8')]);
    }
    return buildFrame({ opcode: OP.CLOSE, payload, ...opts });
}

/* Parses one server frame at the start of buf: {frame, size} or null when incomplete. */
export function parseFrame(buf) {
    if (buf.length < 2) return null;
    const b0 = buf[0];
    const b1 = buf[1];
    let len = b1 & 0x7f;
    let off = 2;
    if (len === 126) {
        if (buf.length < 4) return null;
        len = buf.readUInt16BE(2);
        off = 4;
    } else if (len === 127) {
        if (buf.length < 10) return null;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
    }
    const masked = !!(b1 & 0x80);
    let key = null;
    if (masked) {
        if (buf.length < off + 4) return null;
        key = buf.subarray(off, off + 4);
        off += 4;
    }
    if (buf.length < off + len) return null;
    const payload = Buffer.from(buf.subarray(off, off + len));
    if (key) applyMask(payload, key);
    const frame = { fin: !!(b0 & 0x80), rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload };
    if (frame.opcode === OP.CLOSE) {
        frame.code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
        frame.reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
    }
    if (frame.opcode === OP.TEXT) frame.text = payload.toString('utf8');
    return { frame, size: off + len };
}

/* Sec-WebSocket-Accept for key (RFC 6455 section 4.2.2). */
export function acceptKey(key) {
    return crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}
