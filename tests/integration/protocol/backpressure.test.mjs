// Output limit (the TODO of abuse/robustness.test.mjs; conf client_output_limit): a receiver that
// stops reading is closed once its pending output passes the limit; the other receiver and
// the sender never wait for it. The limit counts the bytes queued, compressed where the
// receiver agreed to permessage-deflate, so the messages are random text that deflate
// cannot shrink much (base64: about a quarter).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { eachEngine } from '../lib/engines.mjs';
import { getMetrics, waitFor } from '../lib/server.mjs';
import { assertUsable, broadcast, expectSilence, open, presence, subscribeAll } from '../lib/proto.mjs';

const MESSAGE_CHARS = 15000; // ~15 KB frames: 4 of them stay under the 64 KiB limit
const IN_FLIGHT = 4;
const MAX_MESSAGES = 2000;

eachEngine('a receiver that stops reading is closed; the other receiver gets everything; the sender is unaffected', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t, {
        conf: {
            client_output_limit: 65536,
            max_frame_bytes: 65536,
            max_message_bytes: 32768,
            max_data_bytes: 32768,
            client_rate: [1000000, 1000000],
        },
    });
    const sender = await open(s, 'sender', { raw: false });
    const good = await open(s, 'good', { raw: false });
    const slow = await open(s, 'slow', { raw: false });
    await subscribeAll([sender, good, slow]);
    slow.queue.length = 0;
    const conns = async () => (await getMetrics(s)).samples.objcast_connections;
    assert.equal(await conns(), 3);

    let slowGot = 0;
    slow.ws.on('message', () => slowGot++);
    slow.ws._socket.pause(); // stop reading: the kernel buffers fill, then the server's

    let sent = 0;
    let expectN = 0;
    let closedAt = null;
    const gone = (to) => presence('unsubscribed', slow, to);
    const pad = crypto.randomBytes(MESSAGE_CHARS * 3 / 4).toString('base64');
    while (sent < MAX_MESSAGES && closedAt === null) {
        for (let i = 0; i < IN_FLIGHT; i++) broadcast(sender, 'bulk', { n: sent++, pad });
        // the good receiver gets every message in order (and, once, the slow one's departure)
        while (expectN < sent) {
            await waitFor(() => good.queue.length > 0, 10000, `message ${expectN} on the good receiver`, 5);
            const m = good.queue.shift();
            if (m.type === 'ovice_participant_unsubscribed' && closedAt === null) {
                assert.deepStrictEqual(m, gone(good));
                closedAt = sent;
                continue;
            }
            assert.equal(m.type, 'ovice_message', JSON.stringify(m).slice(0, 200));
            assert.equal(m.payload.message.n, expectN, 'the good receiver gets every message in order');
            assert.equal(m.payload.message.pad.length, MESSAGE_CHARS);
            expectN++;
        }
    }
    assert.ok(closedAt !== null, `the paused receiver was not closed after ${sent} messages of ~${MESSAGE_CHARS} bytes`);
    t.diagnostic(`slow receiver closed after ${closedAt} messages`);
    await waitFor(async () => (await conns()) === 2, 3000, 'objcast_connections == 2');

    // reading again, the slow client sees what the kernel held, then the end of the connection
    slow.ws._socket.resume();
    await slow.closed(10000);
    assert.ok(slowGot < closedAt, `the slow receiver got ${slowGot} of ${closedAt}: the rest was dropped with it`);

    // the sender was never refused or closed, and goes on
    assert.ok(sender.isOpen);
    assert.deepStrictEqual(sender.queue, [gone(sender)], 'the sender got no error, only the departure');
    sender.queue.length = 0;
    await assertUsable(sender, good);
    await expectSilence([sender, good]);
    assert.equal(await conns(), 2);
});
