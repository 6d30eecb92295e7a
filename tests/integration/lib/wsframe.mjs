// The WebSocket frame codec of the integration tests (RFC 6455 section 5): client frames
// built by hand (any opcode, flags, length encoding or mask, also invalid ones), server
// frames parsed, and the handshake's Sec-WebSocket-Accept; and permessage-deflate (RFC
// 7692) messages compressed and inflated by hand. No I/O: RawConn in server.mjs sends and
// reads these on a socket.

import crypto from 'node:crypto';
import zlib from 'node:zlib';

export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

/* The reserved bits as buildFrame()'s rsv and a parsed frame's rsv hold them. RSV1 marks a
 * compressed message under permessage-deflate (RFC 7692 section 6). */
export const RSV1 = 4;
export const RSV2 = 2;
export const RSV3 = 1;

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
    frame.compressed = !!(frame.rsv & RSV1);
    if (frame.opcode === OP.CLOSE) {
        frame.code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
        frame.reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
    }
    // A compressed frame's text is its inflated payload: frameText().
    if (frame.opcode === OP.TEXT && !frame.compressed) frame.text = payload.toString('utf8');
    return { frame, size: off + len };
}

/* Sec-WebSocket-Accept for key (RFC 6455 section 4.2.2). */
export function acceptKey(key) {
    return crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

// ---------------------------------------------------------------------------------------
// permessage-deflate (RFC 7692 section 7.2)

/* The 4 bytes a sender removes from the end of every compressed message and a receiver
 * appends before inflating it (section 7.2.1 and 7.2.2). */
export const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/*
 * text (string or Buffer) compressed as one message of its own, as section 7.2.1 says: raw
 * deflate flushed with Z_SYNC_FLUSH, the trailing 00 00 ff ff removed. Options:
 *   windowBits  (15) 9 to 15
 *   level       zlib level (6); 0 makes stored blocks only
 *   final       end with a final block (Z_FINISH, BFINAL=1) instead: nothing is removed
 */
export function deflateMessage(text, { windowBits = 15, level = 6, final = false } = {}) {
    const data = Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8');
    if (final) return zlib.deflateRawSync(data, { windowBits, level });
    const out = zlib.deflateRawSync(data, { windowBits, level, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    if (!out.subarray(-4).equals(DEFLATE_TAIL)) throw new Error('Z_SYNC_FLUSH did not end with 00 00 ff ff');
    return out.subarray(0, -4);
}

/*
 * Inflates one compressed message's payload (the tail appended again) with a fresh raw
 * inflater of windowBits (15): a Buffer. The message needs no final block (Z_SYNC_FLUSH as
 * the finishing flush). Throws when it does not inflate. zlib takes a distance as far back
 * as its window and the output buffer of the call reach together, so with a smaller window
 * the output is made 64 bytes at a time: a distance past the window fails.
 */
export function inflateMessage(payload, { windowBits = 15 } = {}) {
    return zlib.inflateRawSync(Buffer.concat([payload, DEFLATE_TAIL]), {
        windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH, ...(windowBits < 15 ? { chunkSize: 64 } : {}),
    });
}

/* The text of a parsed text frame: its payload, inflated when RSV1 says it is compressed. */
export function frameText(frame) {
    return frame.compressed ? inflateMessage(frame.payload).toString('utf8') : frame.payload.toString('utf8');
}

/* A non-final stored block (no compression) of bytes, at most 65,535 (RFC 1951 section
 * 3.2.4): it inflates to bytes as they are. It starts at a byte boundary, so it may follow
 * a message made by deflateMessage() with its tail kept (a whole block sequence). */
export function storedBlock(bytes = Buffer.alloc(0)) {
    const data = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'utf8');
    if (data.length > 65535) throw new Error('a stored block holds at most 65,535 bytes');
    const head = Buffer.from([0x00, 0, 0, 0, 0]);
    head.writeUInt16LE(data.length, 1);
    head.writeUInt16LE(~data.length & 0xffff, 3);
    return Buffer.concat([head, data]);
}

let bombMiB = null; // one MiB of 'a', deflated and fully flushed: about 1 KB
/*
 * A compressed message (tail removed) that inflates to mib MiB of the letter a: about
 * 1,040 bytes per MiB, deflate's best ratio. Each MiB is the same full-flushed piece, which
 * refers to nothing before it, so the copies make one valid stream.
 */
export function deflateBomb(mib) {
    bombMiB ??= zlib.deflateRawSync(Buffer.alloc(1 << 20, 0x61), {
        level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH,
    });
    return Buffer.concat(Array(mib).fill(bombMiB)).subarray(0, -DEFLATE_TAIL.length);
}
