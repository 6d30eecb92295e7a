// Recovery after a reconnect, in the browser: Alice's chat plugin counts 200 chat lines that
// another user (a ws client) sends, while the WebSocket of Alice's host page is cut twice:
//   1. objcastd killed (SIGKILL) and started again on the same port (engine redis: the
//      object's history is in Redis and survives);
//   2. the TCP connection reset under the page by a proxy between the browser and objcastd
//      (the page is served through it too, so the bridge reconnects through it).
// Each time the proxy holds Alice's new connections while lines are sent, so her page misses
// them for real; on her way back the lines keep coming, across the seam between the replay
// and the live messages. The plugin must see 1..200, each once, in order, without a reload.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';

import { waitReady } from '../integration/lib/redis.mjs';
import { auth, connect } from '../integration/lib/server.mjs';
import { assertNoPageErrors, launchBrowser, openUser, sleep, startStack, waitFor, waitReceived } from './lib.mjs';

const TOTAL = 200;

/*
 * A TCP proxy on 127.0.0.1 to targetPort. cut() resets every connection on both sides (RST);
 * while hold() is on, new connections are accepted but not forwarded (what the client sends
 * waits in the socket) until release(). Closed at teardown.
 */
async function startProxy(t, targetPort) {
    const pairs = new Set();
    const held = [];
    let holding = false;
    const forward = (client) => {
        const upstream = net.connect(targetPort, '127.0.0.1');
        const pair = { client, upstream };
        pairs.add(pair);
        const end = () => {
            pairs.delete(pair);
            client.destroy();
            upstream.destroy();
        };
        for (const s of [client, upstream]) {
            s.on('error', end);
            s.on('close', end);
        }
        client.pipe(upstream);
        upstream.pipe(client);
    };
    const server = net.createServer((client) => {
        if (holding) {
            client.on('error', () => {});
            held.push(client);
        } else {
            forward(client);
        }
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = {
        origin: `http://127.0.0.1:${server.address().port}`,
        hold() {
            holding = true;
        },
        release() {
            holding = false;
            for (const c of held.splice(0)) if (!c.destroyed) forward(c);
        },
        cut() {
            for (const { client, upstream } of [...pairs]) {
                client.resetAndDestroy();
                upstream.resetAndDestroy();
            }
        },
    };
    t.after(() => new Promise((resolve) => {
        for (const c of held.splice(0)) c.destroy();
        proxy.cut();
        server.close(() => resolve());
    }));
    return proxy;
}

/* The chat lines' texts Alice's plugin received, in order. */
async function linesOf(user) {
    return (await user.received('chat'))
        .filter((m) => m.type === 'ovice_message' && m.payload.event === 'chat')
        .map((m) => m.payload.message.text);
}

/* Her own presence events on the chat, in order. */
async function ownEvents(user) {
    return (await user.received('chat')).filter((m) => m.type.startsWith('ovice_participant_') && m.payload.isSelf);
}

test('a plugin sees 200 chat lines once each, in order, across an objcastd restart and a TCP reset', async (t) => {
    const stack = await startStack(t, { conf: { history_size: 1000 } });
    const proxy = await startProxy(t, stack.port);
    const browser = await launchBrowser(t);
    // Alice's page (and so her bridge's WebSocket) goes through the proxy.
    const alice = await openUser(browser, { ...stack, hostOrigin: proxy.origin }, 'Alice');
    // What Alice's page puts on its WebSockets and gets from them, as Chromium sees it.
    const wsSent = [];
    const wsGot = [];
    const parse = (f) => {
        try {
            return JSON.parse(f.payload);
        } catch {
            return null;
        }
    };
    alice.page.on('websocket', (ws) => {
        ws.on('framesent', (f) => wsSent.push(parse(f)));
        ws.on('framereceived', (f) => wsGot.push(parse(f)));
    });
    // (the page's first socket opened before these listeners: only the later ones are seen)
    await alice.frame('chat').evaluate(() => {
        window.__mark = 'no reload';
    });
    await alice.walk('chat');
    await waitReceived(alice, 'chat', (m) => m.type === 'ovice_participant_subscribed' && m.payload.isSelf, 'her own subscribed');

    // The sender: another user, a plain ws client straight to objcastd. Each line goes with
    // echo: true and the next waits for the echo, so every line is stored exactly once even
    // though the sender's own connection dies with objcastd.
    let sender = null;
    const senderUp = async () => {
        const c = await connect(stack.server);
        await auth(c, stack.server.token({ sub: 'sender', name: 'Sender', avatarUrl: '', ws: 1 }));
        c.send({ type: 'objcast_subscribe', objectId: 'chat', objectType: 'dynamic', ref: 'sub' });
        for (;;) {
            const m = await c.next(undefined, 5000);
            if (m.type === 'ovice_participant_subscribed' && m.payload.isSelf) break;
            if (m.type === 'objcast_error') throw new Error(`sender: ${JSON.stringify(m)}`);
        }
        sender = c;
    };
    let next = 1;
    const say = async (upTo, gapMs = 0) => {
        for (; next <= upTo; next++) {
            const text = String(next);
            sender.send({ type: 'ovice_broadcast_message', objectId: 'chat', echo: true,
                payload: { source: '', event: 'chat', objectId: 'chat', message: { text, name: 'Sender' } } });
            for (;;) {
                const m = await sender.next('ovice_message', 5000);
                if (m.payload.message?.text === text) break;
            }
            if (gapMs) await sleep(gapMs);
        }
    };
    const waitLines = (n, what) => waitFor(async () => (await linesOf(alice)).length >= n, 20000,
        `Alice's plugin to have ${n} lines (${what})`, 50);
    const waitState = (state) => waitFor(() => alice.page.evaluate((s) => window.demo.client.state === s, state), 15000,
        `Alice's connection to be ${state}`);
    const sessionNow = () => alice.page.evaluate(() => window.demo.client.session.session);
    await senderUp();

    // --- live -------------------------------------------------------------------------------
    await say(50);
    await waitLines(50, 'live');
    const session1 = await sessionNow();
    assert.equal(typeof session1, 'string', 'objcast_ready carries a session');
    let ownFrom = (await ownEvents(alice)).length;

    // --- 1. objcastd killed and started again: Alice stays away while lines are sent --------
    proxy.hold();
    await stack.killObjcastd('SIGKILL');
    await waitState('reconnecting');
    await stack.startObjcastd();
    await waitReady(stack.server); // connected to Redis
    await senderUp();
    await say(100);
    await sleep(300);
    assert.equal((await linesOf(alice)).length, 50, 'Alice was away for 51..100');
    proxy.release();
    await say(130, 10); // while she comes back: replay, then live
    await waitLines(130, 'after the restart');
    let own = (await ownEvents(alice)).slice(ownFrom);
    assert.equal(own.length, 1, `one own event after the restart: ${JSON.stringify(own)}`);
    assert.equal(own[0].recovered, true, 'the own event says recovered: true');
    assert.equal(typeof own[0].epoch, 'string');
    assert.ok(Number.isInteger(own[0].offset), 'the own event carries the object\'s offset');
    const resumed1 = wsSent.find((m) => m && m.type === 'objcast_subscribe' && m.objectId === 'chat');
    assert.ok(resumed1, 'Alice\'s bridge subscribed to the chat again');
    assert.deepStrictEqual(Object.keys(resumed1.since).sort(), ['epoch', 'offset', 'session']);
    assert.equal(resumed1.since.session, session1, 'since names the previous connection\'s session');
    const session2 = await sessionNow();
    assert.notEqual(session2, session1, 'a new session');

    // --- 2. the TCP connection reset under the page: the sender stays connected -------------
    ownFrom = (await ownEvents(alice)).length;
    const sentFrom = wsSent.length;
    proxy.hold();
    proxy.cut();
    await waitState('reconnecting');
    await say(170);
    await sleep(300);
    assert.equal((await linesOf(alice)).length, 130, 'Alice was away for 131..170');
    proxy.release();
    await say(TOTAL, 10);
    await waitLines(TOTAL, 'after the reset');
    own = (await ownEvents(alice)).slice(ownFrom);
    assert.equal(own.length, 1, `one own event after the reset: ${JSON.stringify(own)}`);
    assert.equal(own[0].recovered, true, 'the own event says recovered: true');
    const resumed2 = wsSent.slice(sentFrom).find((m) => m && m.type === 'objcast_subscribe' && m.objectId === 'chat');
    assert.equal(resumed2.since.session, session2, 'since names the previous connection\'s session');

    // --- every line once, in order ----------------------------------------------------------
    await sleep(500); // anything late or doubled would show now
    const lines = await linesOf(alice);
    assert.deepStrictEqual(lines, Array.from({ length: TOTAL }, (_, i) => String(i + 1)),
        'the plugin got 1..200, each once, in order');
    // and objcast sent none twice: the offsets Alice's page got on the chat only grow
    const offsets = wsGot.filter((m) => m && m.type === 'ovice_message' && m.objectId === 'chat').map((m) => [m.epoch, m.offset]);
    assert.ok(offsets.length >= TOTAL - 50, `the page's frames were seen (${offsets.length})`);
    for (let i = 1; i < offsets.length; i++) {
        assert.ok(offsets[i][0] === offsets[i - 1][0] && offsets[i][1] > offsets[i - 1][1],
            `offsets grow in one epoch: ${JSON.stringify(offsets[i - 1])} then ${JSON.stringify(offsets[i])}`);
    }
    assert.equal(await alice.frame('chat').evaluate(() => window.__mark), 'no reload', 'the plugin was not reloaded');
    // (the plugin's first request, before Alice walked up, is answered not_subscribed)
    const got = await alice.received('chat');
    const since = got.findIndex((m) => m.type === 'ovice_participant_subscribed' && m.payload.isSelf);
    assert.deepStrictEqual(got.slice(since).filter((m) => m.type === 'objcast_error'), [], 'no error reached the plugin');
    sender.close();
    assertNoPageErrors(alice);
});

test('two quick cuts after the plugin\'s own line: the line never comes back to it', async (t) => {
    // The resume after a cut names the old session, which objcast uses to leave out that
    // session's own broadcasts. Alice's line is the object's last message when her page is
    // cut; the resume that follows replays nothing. Cut again right away: the bridge must now
    // resume from her line as the new session, else the new session would be asked for what
    // the old one sent, and her own line would come back.
    const stack = await startStack(t);
    const proxy = await startProxy(t, stack.port);
    const browser = await launchBrowser(t);
    const alice = await openUser(browser, { ...stack, hostOrigin: proxy.origin }, 'Alice');
    await alice.walk('chat');
    await waitReceived(alice, 'chat', (m) => m.type === 'ovice_participant_subscribed' && m.payload.isSelf, 'her own subscribed');
    const sender = await connect(stack.server);
    await auth(sender, stack.server.token({ sub: 'sender', name: 'Sender', avatarUrl: '', ws: 1 }));
    sender.send({ type: 'objcast_subscribe', objectId: 'chat', objectType: 'dynamic' });
    const line = (text) => sender.send({ type: 'ovice_broadcast_message', objectId: 'chat',
        payload: { source: '', event: 'chat', objectId: 'chat', message: { text, name: 'Sender' } } });
    const senderGot = async (text) => {
        for (;;) {
            const m = await sender.next('ovice_message', 5000);
            if (m.payload.message?.text === text) return m;
        }
    };
    line('1');
    await waitFor(async () => (await linesOf(alice)).length === 1, 5000, 'line 1');
    await alice.frame('chat').fill('#msg', 'mine');
    await alice.frame('chat').click('#send');
    await senderGot('mine'); // stored: the object's last message

    for (const round of [1, 2]) {
        const from = (await alice.received('chat')).length;
        proxy.hold();
        proxy.cut();
        await waitFor(() => alice.page.evaluate(() => window.demo.client.state === 'reconnecting'), 5000, 'reconnecting');
        proxy.release();
        const own = await waitReceived(alice, 'chat', (m) => m.type === 'ovice_participant_subscribed' && m.payload.isSelf,
            `her own subscribed after cut ${round}`, { from, timeoutMs: 15000 });
        assert.equal(own.recovered, true, `cut ${round}: recovered`);
        // the chat plugin asks for the participants on its own event; the bridge holds that
        // until the replay is over, so its answer means the bridge has settled
        await waitReceived(alice, 'chat', (m) => m.type === 'ovice_participants', `the participants after cut ${round}`, { from });
    }
    line('2');
    await waitFor(async () => (await linesOf(alice)).length === 2, 5000, 'line 2');
    await sleep(300);
    assert.deepStrictEqual(await linesOf(alice), ['1', '2'], 'her own line did not come back');
    const mine = (await alice.received('chat')).filter((m) => m.type === 'ovice_message' && m.payload.message?.text === 'mine');
    assert.deepStrictEqual(mine, []);
    sender.close();
    assertNoPageErrors(alice);
});
