// permessage-deflate (RFC 7692) between the real Chromium and a real objcastd, seen from two
// places: the DevTools protocol (the handshake's headers, and every message as the page
// gets it) and a TCP relay between the browser and objcastd that copies bytes both ways
// unchanged and parses the WebSocket frames it carries (DevTools gives whole messages after
// inflating, with no RSV bits: a frame's RSV1 is only on the wire). Each user's demo page is
// loaded through a relay of its own, so its bridge connects through it too (the demo's
// token endpoint builds the WebSocket URL from the Host header).
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import zlib from 'node:zlib';

import { OP, parseFrame } from '../integration/lib/wsframe.mjs';
import { assertNoPageErrors, launchBrowser, openUser, startStack, waitFor, waitReceived } from './lib.mjs';

const MIN_BYTES = 512; // compression_min_bytes' default
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]); // RFC 7692 section 7.2.2

/* The value of header name in a CDP headers object (any case), or undefined. */
function header(headers, name) {
    const k = Object.keys(headers || {}).find((h) => h.toLowerCase() === name.toLowerCase());
    return k === undefined ? undefined : headers[k];
}

/* The value of header name in a raw HTTP head, or undefined. */
function rawHeader(head, name) {
    const re = new RegExp(`^${name}:[ \\t]*(.*?)[ \\t]*$`, 'im');
    const m = re.exec(head);
    return m ? m[1] : undefined;
}

/* An extension header's value as [{name, params: {param: value|true}}]. */
function parseExtensions(value) {
    return value.split(',').map((offer) => {
        const [name, ...params] = offer.split(';').map((s) => s.trim());
        return { name, params: Object.fromEntries(params.map((p) => {
            const [k, v] = p.split('=').map((s) => s.trim());
            return [k, v === undefined ? true : v];
        })) };
    });
}

/*
 * One direction of one relayed connection. The bytes up to the first blank line are the
 * HTTP head; when isWebSocket(head) says so, the rest is parsed as frames:
 *   frames    every frame: {fin, rsv, rsv1, opcode, masked, length} (length: payload bytes
 *             on the wire)
 *   messages  every text or binary message, reassembled: {opcode, rsv1, wireLength, frames,
 *             text} where text is the payload inflated when RSV1 was set
 * A message compressed on a context-free stream inflates on its own: both sides agreed
 * no_context_takeover, so this also checks that Chromium and objcastd keep to it.
 */
class Tap {
    constructor(isWebSocket) {
        this.isWebSocket = isWebSocket;
        this.buf = Buffer.alloc(0);
        this.head = null;
        this.websocket = false;
        this.frames = [];
        this.messages = [];
        this.partial = null;
        this.error = null;
    }

    push(data) {
        if (this.error || (this.head !== null && !this.websocket)) return;
        this.buf = Buffer.concat([this.buf, data]);
        if (this.head === null) {
            const end = this.buf.indexOf('\r\n\r\n');
            if (end < 0) return;
            this.head = this.buf.subarray(0, end).toString('latin1');
            this.buf = this.buf.subarray(end + 4);
            this.websocket = this.isWebSocket(this.head);
            if (!this.websocket) return;
        }
        try {
            for (let r = parseFrame(this.buf); r; r = parseFrame(this.buf)) {
                this.buf = this.buf.subarray(r.size);
                this.onFrame(r.frame);
            }
        } catch (e) {
            this.error = e;
        }
    }

    onFrame(f) {
        const rsv1 = (f.rsv & 4) !== 0;
        this.frames.push({ fin: f.fin, rsv: f.rsv, rsv1, opcode: f.opcode, masked: f.masked, length: f.payload.length });
        if (f.opcode >= 8) return; // control frames: never compressed, never in a message
        if (f.opcode !== OP.CONT) this.partial = { opcode: f.opcode, rsv1, parts: [], frames: 0 };
        const m = this.partial;
        m.parts.push(f.payload);
        m.frames++;
        if (!f.fin) return;
        this.partial = null;
        const wire = Buffer.concat(m.parts);
        // The tail is an empty stored block, not a final one: inflate up to it, no further.
        const data = m.rsv1
            ? zlib.inflateRawSync(Buffer.concat([wire, DEFLATE_TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
            : wire;
        this.messages.push({ opcode: m.opcode, rsv1: m.rsv1, wireLength: wire.length, frames: m.frames,
            text: data.toString('utf8') });
    }
}

/*
 * A TCP relay on 127.0.0.1 (port 0) in front of targetPort: each connection it accepts gets
 * one to the target, and bytes go both ways unchanged. relay.conns lists every connection
 * as {up, down}: the Taps of the client->server and server->client bytes; relay.websockets()
 * only the upgraded ones. Closed (with every connection) at teardown.
 */
async function startRelay(t, targetPort) {
    const conns = [];
    const sockets = new Set();
    const srv = net.createServer((client) => {
        const server = net.connect({ host: '127.0.0.1', port: targetPort });
        const conn = {
            up: new Tap((head) => /^GET /.test(head) && /^upgrade:[ \t]*websocket/im.test(head)),
            down: new Tap((head) => /^HTTP\/1\.1 101 /.test(head)),
        };
        conns.push(conn);
        for (const [from, to, tap] of [[client, server, conn.up], [server, client, conn.down]]) {
            sockets.add(from);
            from.setNoDelay(true);
            from.on('data', (d) => {
                tap.push(d);
                to.write(d);
            });
            from.on('end', () => to.end());
            from.on('close', () => {
                sockets.delete(from);
                to.destroy();
            });
            from.on('error', () => {});
        }
    });
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
    }));
    const port = srv.address().port;
    return {
        port,
        origin: `http://127.0.0.1:${port}`,
        conns,
        websockets: () => conns.filter((c) => c.up.websocket),
    };
}

/* Records the page's WebSocket events from the DevTools protocol (Network domain). */
async function watchWebSockets(page) {
    const cdp = await page.context().newCDPSession(page);
    const ws = { requests: [], responses: [], received: [], sent: [] };
    cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => ws.requests.push(e.request));
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => ws.responses.push(e.response));
    cdp.on('Network.webSocketFrameReceived', (e) => ws.received.push(e.response));
    cdp.on('Network.webSocketFrameSent', (e) => ws.sent.push(e.response));
    await cdp.send('Network.enable');
    return ws;
}

/* Opens the demo as name through its own relay, watched by DevTools: the User plus relay, ws. */
async function openWatched(t, browser, stack, name) {
    const relay = await startRelay(t, stack.port);
    let ws;
    const user = await openUser(browser, stack, name, {
        origin: relay.origin,
        beforeGoto: async (page) => {
            ws = await watchWebSockets(page);
        },
    });
    assert.equal(user.info.url, `ws://127.0.0.1:${relay.port}/ws`, `${name}'s bridge connects through the relay`);
    return Object.assign(user, { relay, ws });
}

/* The user's one WebSocket connection through the relay (asserts there is exactly one). */
function theWebSocket(user) {
    const list = user.relay.websockets();
    assert.equal(list.length, 1, `${user.name}: one WebSocket connection through the relay`);
    const c = list[0];
    for (const tap of [c.up, c.down]) assert.equal(tap.error, null, `${user.name}: the relay parsed every frame`);
    return c;
}

/*
 * Waits until DevTools has reported, in order, exactly the text messages the relay saw in
 * each direction (received: server->client after inflating; sent: client->server), so
 * what the page got is what went on the wire.
 */
async function assertPageSawTheWire(user) {
    const c = theWebSocket(user);
    const same = (cdpFrames, msgs) => {
        const a = cdpFrames.filter((f) => f.opcode === OP.TEXT).map((f) => f.payloadData);
        const b = msgs.filter((m) => m.opcode === OP.TEXT).map((m) => m.text);
        return a.length === b.length && a.every((x, i) => x === b[i]);
    };
    try {
        await waitFor(() => same(user.ws.received, c.down.messages) && same(user.ws.sent, c.up.messages),
            3000, `${user.name}: DevTools and the relay to agree`, 20);
    } catch (e) {
        // the same comparison as assertions, for a readable diff
        assert.deepStrictEqual(user.ws.received.filter((f) => f.opcode === OP.TEXT).map((f) => f.payloadData),
            c.down.messages.filter((m) => m.opcode === OP.TEXT).map((m) => m.text), `${user.name}: received`);
        assert.deepStrictEqual(user.ws.sent.filter((f) => f.opcode === OP.TEXT).map((f) => f.payloadData),
            c.up.messages.filter((m) => m.opcode === OP.TEXT).map((m) => m.text), `${user.name}: sent`);
        throw e;
    }
}

/* RFC 7692 on every frame: RSV2/RSV3 never, RSV1 only on a message's first data frame. */
function assertFrameBits(user) {
    const c = theWebSocket(user);
    for (const [dir, tap] of [['sent', c.up], ['received', c.down]]) {
        for (const f of tap.frames) {
            assert.equal(f.rsv & 3, 0, `${user.name} ${dir}: RSV2 and RSV3 clear (${JSON.stringify(f)})`);
            if (f.opcode === OP.CONT || f.opcode >= 8) {
                assert.equal(f.rsv1, false, `${user.name} ${dir}: RSV1 clear on continuation and control frames`);
            }
            assert.equal(f.masked, tap === c.up, `${user.name} ${dir}: masked from the client only`);
        }
    }
}

/* The relay's server->client message whose JSON matches pred. */
function findReceived(user, pred, what) {
    const m = theWebSocket(user).down.messages.find((x) => x.opcode === OP.TEXT && pred(JSON.parse(x.text)));
    assert.ok(m, `${user.name}: the relay saw ${what}`);
    return m;
}

/* A sticky-notes board of n notes, as the notes plugin saves it (several KB of JSON for 40). */
function board(n, by) {
    const colors = ['#fff3a3', '#c8f7c5', '#cde3ff', '#ffd6e0'];
    const topics = ['ship the compression change', 'review the retry backoff', 'plan the Redis upgrade',
        'write the release notes', 'book the room for Thursday', 'answer the support ticket'];
    const out = {};
    for (let i = 0; i < n; i++) {
        out[`n-${(1700000000 + i * 37).toString(36)}${i.toString(36).padStart(4, 'x')}`] = {
            text: `Item ${i + 1}: ${topics[i % topics.length]} (${['Mon', 'Tue', 'Wed', 'Thu', 'Fri'][i % 5]})`,
            color: colors[i % colors.length],
            by,
            at: 1767225600 + i * 61,
        };
    }
    return out;
}

/* Walks to the notes board and joins it; waits for the user's own joined event. */
async function joinNotes(u) {
    await u.walk('notes');
    await waitReceived(u, 'notes', (m) => m.type === 'ovice_participant_subscribed' && m.payload.isSelf, 'own subscribed');
    await u.clickTitle('notes');
    await waitReceived(u, 'notes', (m) => m.type === 'ovice_participant_joined' && m.payload.isSelf, 'own joined');
}

test('compression yes (default): Chromium negotiates permessage-deflate, large messages go compressed both ways, small ones plain', async (t) => {
    const stack = await startStack(t);
    const browser = await launchBrowser(t);
    const alice = await openWatched(t, browser, stack, 'Alice');
    const bob = await openWatched(t, browser, stack, 'Bob');

    // --- the handshake, as DevTools and the wire show it --------------------------------------
    for (const u of [alice, bob]) {
        assert.equal(u.ws.responses.length, 1, `${u.name}: one handshake`);
        const res = u.ws.responses[0];
        assert.equal(res.status, 101);
        const ext = header(res.headers, 'Sec-WebSocket-Extensions');
        assert.ok(ext, `${u.name}: the 101 has Sec-WebSocket-Extensions (${JSON.stringify(res.headers)})`);
        assert.deepStrictEqual(parseExtensions(ext), [{ name: 'permessage-deflate',
            params: { server_no_context_takeover: true, client_no_context_takeover: true } }], `${u.name}: ${ext}`);
        const offer = header(u.ws.requests[0]?.headers, 'Sec-WebSocket-Extensions');
        assert.ok(offer && parseExtensions(offer).some((o) => o.name === 'permessage-deflate'),
            `${u.name}: Chromium offers permessage-deflate (${offer})`);
        const c = theWebSocket(u);
        assert.equal(rawHeader(c.up.head, 'Sec-WebSocket-Extensions'), offer, 'the offer on the wire is what DevTools shows');
        assert.equal(rawHeader(c.down.head, 'Sec-WebSocket-Extensions'), ext, 'the answer on the wire is what DevTools shows');
        t.diagnostic(`${u.name}: Chromium offered "${offer}", objcastd answered "${ext}"`);
    }

    // --- a small save: plain both ways ------------------------------------------------------------
    await joinNotes(alice);
    await joinNotes(bob);
    await alice.frame('notes').fill('#text', 'Buy milk');
    await alice.frame('notes').click('#add');
    const small = await waitReceived(bob, 'notes', (m) => m.type === 'ovice_shared_data', 'the small board');
    assert.deepStrictEqual(Object.values(small.payload).map((n) => n.text), ['Buy milk']);
    const smallWire = findReceived(bob, (m) => m.type === 'ovice_shared_data' && m.version === small.version, 'the small board');
    assert.ok(smallWire.text.length < MIN_BYTES, `the small board is under ${MIN_BYTES} bytes (${smallWire.text.length})`);
    assert.equal(smallWire.rsv1, false, 'a message under compression_min_bytes goes with RSV1 clear');
    assert.equal(smallWire.wireLength, Buffer.byteLength(smallWire.text), 'and as the plain text');

    // --- a large save from Alice's plugin: compressed by Chromium, then by objcastd -----------
    const big = board(40, 'Alice');
    const bigText = JSON.stringify(big);
    assert.ok(bigText.length > 4000, `the board is several KB (${bigText.length})`);
    await alice.pluginPost('notes', { type: 'ovice_save_and_emit_data', payload: big });
    const shared = await waitReceived(bob, 'notes', (m) => m.type === 'ovice_shared_data' && m.version > small.version,
        'the large board');
    assert.deepStrictEqual(shared.payload, big, 'Bob\'s plugin got the board intact');
    await bob.frame('notes').waitForFunction((n) => document.querySelectorAll('.note').length === n, 40);
    const saved = await waitReceived(alice, 'notes', (m) => m.type === 'ovice_data_saved_success' && m.version === shared.version,
        'her saved success');
    const { updated_at: updatedAt, ...savedBoard } = saved.payload;
    assert.deepStrictEqual(savedBoard, big, 'the server stored what Alice sent');
    assert.equal(typeof updatedAt, 'number');

    // Alice's Chromium sent the save compressed, and objcastd inflated it.
    const up = theWebSocket(alice).up.messages.find((m) => m.text.includes('"ovice_save_and_emit_data"') &&
        JSON.parse(m.text).payload?.[Object.keys(big)[0]]);
    assert.ok(up, 'the relay saw Alice\'s save');
    assert.equal(up.rsv1, true, 'Chromium sent the large save with RSV1 set');
    assert.ok(up.wireLength < up.text.length, `compressed on the wire (${up.wireLength} < ${up.text.length} bytes)`);
    assert.deepStrictEqual(JSON.parse(up.text).payload, big);

    // objcastd sent the large messages compressed: Bob's shared data, Alice's saved success.
    const down = findReceived(bob, (m) => m.type === 'ovice_shared_data' && m.version === shared.version, 'the large board');
    assert.equal(down.rsv1, true, 'the large shared data went with RSV1 set');
    assert.ok(down.wireLength < down.text.length / 2, `and compressed (${down.wireLength} of ${down.text.length} bytes)`);
    assert.deepStrictEqual(JSON.parse(down.text).payload, big, 'the inflated wire bytes hold the board');
    const ack = findReceived(alice, (m) => m.type === 'ovice_data_saved_success' && m.version === shared.version, 'her saved success');
    assert.equal(ack.rsv1, true, 'the large saved success went with RSV1 set');

    // Bob reads the board again: saved data, large, compressed.
    await bob.pluginPost('notes', { type: 'ovice_get_data' });
    await waitReceived(bob, 'notes', (m) => m.type === 'ovice_saved_data' && m.version === shared.version, 'the saved data');
    const get = findReceived(bob, (m) => m.type === 'ovice_saved_data' && m.version === shared.version, 'the saved data');
    assert.equal(get.rsv1, true, 'the large saved data went with RSV1 set');
    assert.deepStrictEqual(JSON.parse(get.text).payload, big);

    // --- every message: the page got exactly the wire's text; RSV1 as RFC 7692 wants --------------
    for (const u of [alice, bob]) {
        await assertPageSawTheWire(u);
        assertFrameBits(u);
        const { up: sent, down: got } = theWebSocket(u);
        for (const m of got.messages) {
            if (m.text.length < MIN_BYTES) assert.equal(m.rsv1, false, `${u.name}: under ${MIN_BYTES} bytes, plain: ${m.text}`);
            if (m.rsv1) assert.ok(m.wireLength < Buffer.byteLength(m.text), `${u.name}: compressed only when it shrinks`);
        }
        // What Chromium compresses is its business (RFC 7692 lets it); the log says what it did.
        t.diagnostic(`${u.name}: received ${got.messages.length} messages (${got.messages.filter((m) => m.rsv1).length} ` +
            `compressed), sent ${sent.messages.length} (${sent.messages.filter((m) => m.rsv1).length} compressed, ` +
            `bytes ${sent.messages.map((m) => `${m.text.length}${m.rsv1 ? `->${m.wireLength}` : ''}`).join(' ')})`);
    }
    assertNoPageErrors(alice, bob);
});

test('compression no: no Sec-WebSocket-Extensions in the 101, every frame with RSV1 clear', async (t) => {
    const stack = await startStack(t, { conf: { compression: 'no' } });
    const browser = await launchBrowser(t);
    const alice = await openWatched(t, browser, stack, 'Alice');

    assert.equal(alice.ws.responses.length, 1, 'one handshake');
    const res = alice.ws.responses[0];
    assert.equal(res.status, 101);
    const offer = header(alice.ws.requests[0]?.headers, 'Sec-WebSocket-Extensions');
    assert.ok(offer && offer.includes('permessage-deflate'), `Chromium still offers it (${offer})`);
    assert.equal(header(res.headers, 'Sec-WebSocket-Extensions'), undefined,
        `no extension agreed (${JSON.stringify(res.headers)})`);
    assert.equal(rawHeader(theWebSocket(alice).down.head, 'Sec-WebSocket-Extensions'), undefined, 'nor on the wire');

    // the same large save: plain both ways
    await joinNotes(alice);
    const big = board(40, 'Alice');
    await alice.pluginPost('notes', { type: 'ovice_save_and_emit_data', payload: big });
    const saved = await waitReceived(alice, 'notes', (m) => m.type === 'ovice_data_saved_success', 'her saved success');
    const { updated_at: updatedAt, ...savedBoard } = saved.payload;
    assert.deepStrictEqual(savedBoard, big);
    assert.equal(typeof updatedAt, 'number');
    await alice.pluginPost('notes', { type: 'ovice_get_data' });
    await waitReceived(alice, 'notes', (m) => m.type === 'ovice_saved_data' && m.version === saved.version, 'the saved data');

    await assertPageSawTheWire(alice);
    assertFrameBits(alice);
    const c = theWebSocket(alice);
    const large = (msgs) => msgs.filter((m) => m.text.length >= 4000);
    assert.equal(large(c.up.messages).length, 1, 'the large save went through the relay');
    assert.equal(large(c.down.messages).length, 2, 'the large saved success and saved data went through the relay');
    for (const [dir, tap] of [['sent', c.up], ['received', c.down]]) {
        assert.ok(tap.frames.length > 3, `${dir}: frames seen (${tap.frames.length})`);
        for (const f of tap.frames) assert.equal(f.rsv, 0, `${dir}: RSV bits clear (${JSON.stringify(f)})`);
        for (const m of tap.messages) assert.equal(m.wireLength, Buffer.byteLength(m.text), `${dir}: the plain text on the wire`);
    }
    assertNoPageErrors(alice);
});
