// The bridge on its own, against a scripted fake WebSocket inside the page: what goes on the
// wire and when (auth first, presence before queued requests, refs), what the plugin gets
// back (its own ref), retries of unavailable in order, resending what was in flight after
// a drop, the state restored after a reconnection (left comes back as subscribed), the
// queue limit and a refused static token. The real-server paths are in the other files.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';

import { launchBrowser, srcDir, waitFor } from './lib.mjs';

/* A loopback server for the bridge and a blank host page. */
async function startStatic(t) {
    const srv = http.createServer((req, res) => {
        if (req.url === '/objcast.js') {
            res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
            res.end(readFileSync(path.join(srcDir, 'web', 'objcast.js')));
        } else {
            res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
            res.end('<!doctype html><meta charset="utf-8"><title>host</title><body>');
        }
    });
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => {
        srv.closeAllConnections?.();
        srv.close(() => resolve());
    }));
    return `http://127.0.0.1:${srv.address().port}`;
}

/*
 * Opens the host page with the bridge, a fake WebSocket (window.fake: sockets, sent(),
 * serve(msg), drop(code)) and one same-origin plugin iframe "p" recording what it receives
 * (window.got in the frame).
 */
async function setup(t, browser, origin) {
    const page = await (await browser.newContext()).newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    t.after(() => assert.deepStrictEqual(errors, [], 'no page errors'));
    await page.goto(`${origin}/host`);
    await page.addScriptTag({ url: '/objcast.js' });
    await page.evaluate(() => {
        const fake = { sockets: [], log: [] };
        class FakeWS {
            constructor(url) {
                this.url = url;
                this.readyState = 0;
                this.sent = [];
                fake.sockets.push(this);
                setTimeout(() => {
                    if (this.readyState !== 0) return;
                    this.readyState = 1;
                    this.onopen?.({});
                }, 0);
            }
            send(text) {
                const m = JSON.parse(text);
                this.sent.push(m);
                fake.log.push(m);
            }
            close(code) {
                this.readyState = 3;
                setTimeout(() => this.onclose?.({ code: code || 1000 }), 0);
            }
        }
        fake.current = () => fake.sockets[fake.sockets.length - 1];
        fake.serve = (m) => fake.current().onmessage({ data: JSON.stringify(m) });
        fake.drop = (code = 1006) => {
            const ws = fake.current();
            ws.readyState = 3;
            ws.onclose({ code });
        };
        window.fake = fake;
        window.FakeWS = FakeWS;
        const f = document.createElement('iframe');
        f.name = 'p';
        f.srcdoc = `<script>window.got = []; addEventListener('message', (e) => got.push(e.data));
            window.post = (m) => parent.postMessage(m, '*');<\/script>`;
        document.body.append(f);
        window.pluginFrame = f;
        return new Promise((resolve) => {
            f.onload = resolve;
        });
    });
    const frame = page.frame({ name: 'p' });
    return {
        page,
        frame,
        /* What the fake sockets were sent (all of them, in order). */
        wire: () => page.evaluate(() => window.fake.log),
        serve: (m) => page.evaluate((x) => window.fake.serve(x), m),
        got: () => frame.evaluate(() => window.got),
        post: (m) => frame.evaluate((x) => window.post(x), m),
        async waitWire(pred, what, timeoutMs = 3000) {
            return waitFor(async () => (await this.wire()).find(pred), timeoutMs, what, 10);
        },
        async waitGot(pred, what, timeoutMs = 3000) {
            return waitFor(async () => (await this.got()).find(pred), timeoutMs, what, 10);
        },
    };
}

const READY = { type: 'objcast_ready', payload: { userId: 'u1', instance: 'fake', limits: {} } };

test('bridge: auth first, presence before queued requests, refs mapped, unavailable retried in order', async (t) => {
    const origin = await startStatic(t);
    const browser = await launchBrowser(t);
    const h = await setup(t, browser, origin);
    await h.page.evaluate((o) => {
        window.tokens = 0;
        window.client = window.objcast.connect({
            url: 'ws://fake/ws',
            token: async () => `tok-${++window.tokens}`,
            WebSocket: window.FakeWS,
            backoff: { initial: 40, max: 160, jitter: 0 },
        });
        window.states = [];
        window.client.on('state', (e) => window.states.push([e.state, e.delay]));
        window.client.attach(window.pluginFrame, { objectId: 'L1', objectType: 'dynamic', pluginOrigin: o, objectToken: () => 'otok' });
        window.client.join('L1');
    }, origin);
    // the plugin asks before anything is connected: queued
    await h.post({ type: 'ovice_get_data', ref: 'mine' });
    await h.post({ type: 'ovice_get_participants' });
    const auth = await h.waitWire((m) => m.type === 'objcast_auth', 'auth');
    assert.equal(auth.token, 'tok-1');
    assert.deepStrictEqual((await h.wire()).map((m) => m.type), ['objcast_auth'], 'nothing but auth before ready');
    await h.serve({ ...READY, ref: auth.ref });
    const join = await h.waitWire((m) => m.type === 'objcast_join', 'join');
    assert.deepStrictEqual({ ...join, ref: 0 }, { type: 'objcast_join', objectId: 'L1', position: true, objectType: 'dynamic', objectToken: 'otok', ref: 0 });
    await new Promise((r) => setTimeout(r, 100));
    assert.deepStrictEqual((await h.wire()).map((m) => m.type), ['objcast_auth', 'objcast_join'],
        'plugin requests wait for the server to put the connection on the object');
    const self = { id: 'u1', name: 'U', objectId: 'L1', objectType: 'dynamic', avatarUrl: '', workspaceId: 1, isHost: false, isSelf: true, isVisitor: false };
    await h.serve({ type: 'ovice_participant_joined', objectId: 'L1', payload: self });
    const get = await h.waitWire((m) => m.type === 'ovice_get_data', 'the queued get_data');
    const parts = await h.waitWire((m) => m.type === 'ovice_get_participants', 'the queued get_participants');
    assert.equal(typeof get.ref, 'number', 'the bridge uses refs of its own');
    assert.deepStrictEqual(Object.keys(get).sort(), ['objectId', 'ref', 'type']);
    assert.equal(get.objectId, 'L1');
    await h.serve({ type: 'ovice_saved_data', objectId: 'L1', ref: get.ref, version: 3, payload: { a: 1 } });
    await h.serve({ type: 'ovice_participants', objectId: 'L1', ref: parts.ref, payload: [{ ...self, status: 'joined' }] });
    await h.waitGot((m) => m.type === 'ovice_participants', 'the participants');
    const got = await h.got();
    assert.deepStrictEqual(got, [
        { type: 'ovice_participant_joined', objectId: 'L1', payload: self },
        { type: 'ovice_saved_data', objectId: 'L1', ref: 'mine', version: 3, payload: { a: 1 } },
        { type: 'ovice_participants', objectId: 'L1', payload: [{ ...self, status: 'joined' }] },
    ], 'replies carry the plugin\'s ref, or none');

    // unavailable: both broadcasts fail, come back in their order after the delay
    await h.post({ type: 'ovice_broadcast_message', payload: { event: 'e', message: 'A', objectId: 'nope', source: 'x' } });
    await h.post({ type: 'ovice_broadcast_message', payload: { event: 'e', message: 'B' } });
    const a = await h.waitWire((m) => m.payload?.message === 'A', 'A');
    const b = await h.waitWire((m) => m.payload?.message === 'B', 'B');
    assert.deepStrictEqual(a.payload, { event: 'e', message: 'A', objectId: 'L1', source: 'x' }, 'payload.objectId is the object\'s');
    const unavailable = (ref) => ({ type: 'objcast_error', objectId: 'L1', ref, payload: { code: 'unavailable', message: 'storage unavailable, try again' } });
    await h.serve(unavailable(a.ref));
    await h.serve(unavailable(b.ref));
    await h.post({ type: 'ovice_broadcast_message', payload: { event: 'e', message: 'C' } }); // waits behind them
    await waitFor(async () => (await h.wire()).filter((m) => m.type === 'ovice_broadcast_message').length === 5,
        3000, 'A and B sent again, then C', 10);
    const again = (await h.wire()).filter((m) => m.type === 'ovice_broadcast_message').map((m) => m.payload.message);
    assert.deepStrictEqual(again, ['A', 'B', 'A', 'B', 'C'], 'retried in the original order, C behind them');
    assert.ok(!(await h.got()).some((m) => m.type === 'objcast_error'), 'the plugin saw no error');

    // another error goes to the plugin with its ref
    await h.post({ type: 'ovice_emit_message', ref: 7, payload: { event: 'e', message: 1, to: 'ghost' } });
    const emit = await h.waitWire((m) => m.type === 'ovice_emit_message', 'emit');
    await h.serve({ type: 'objcast_error', objectId: 'L1', ref: emit.ref, payload: { code: 'not_present', message: 'x' } });
    const err = await h.waitGot((m) => m.type === 'objcast_error', 'the error');
    assert.deepStrictEqual(err, { type: 'objcast_error', objectId: 'L1', ref: 7, payload: { code: 'not_present', message: 'x' } });

    // a drop: what was in flight with a reply is sent again after the restored presence
    await h.post({ type: 'ovice_save_and_emit_data', merge: true, ifVersion: 3, payload: { k: 'v' } });
    const save = await h.waitWire((m) => m.type === 'ovice_save_and_emit_data', 'the save');
    assert.deepStrictEqual({ ...save, ref: 0 }, { type: 'ovice_save_and_emit_data', objectId: 'L1', merge: true, ifVersion: 3, payload: { k: 'v' }, ref: 0 });
    await h.page.evaluate(() => window.client.leave('L1'));
    await h.waitWire((m) => m.type === 'objcast_leave', 'leave');
    const before = (await h.wire()).length;
    await h.page.evaluate(() => window.fake.drop(1006));
    const auth2 = await waitFor(async () => (await h.wire()).slice(before).find((m) => m.type === 'objcast_auth'), 3000, 'auth again', 10);
    assert.equal(auth2.token, 'tok-2', 'the token function is called again');
    await h.serve({ ...READY, ref: auth2.ref });
    const restored = await waitFor(async () => (await h.wire()).slice(before).find((m) => m.type.startsWith('objcast_') && m.type !== 'objcast_auth'),
        3000, 'presence restored', 10);
    assert.equal(restored.type, 'objcast_subscribe', 'a left object comes back as subscribed');
    assert.equal(restored.objectToken, 'otok');
    await h.serve({ type: 'ovice_participant_subscribed', objectId: 'L1', payload: self });
    const save2 = await waitFor(async () => (await h.wire()).slice(before).find((m) => m.type === 'ovice_save_and_emit_data'),
        3000, 'the save sent again', 10);
    assert.notEqual(save2.ref, save.ref);
    assert.deepStrictEqual(save2.payload, { k: 'v' });
    const states = await h.page.evaluate(() => window.states);
    assert.deepStrictEqual(states.map((s) => s[0]), ['open', 'reconnecting', 'open']);
    assert.ok(states[1][1] >= 40 && states[1][1] <= 40, `the first retry after a drop waits the initial delay (${states[1][1]})`);
});

test('bridge: "posted" reports each message posted into an iframe, as the plugin gets it', async (t) => {
    const origin = await startStatic(t);
    const browser = await launchBrowser(t);
    const h = await setup(t, browser, origin);
    await h.page.evaluate((o) => {
        window.client = window.objcast.connect({ url: 'ws://fake/ws', token: 'tok', WebSocket: window.FakeWS });
        window.posted = [];
        window.client.on('posted', (e) => {
            window.posted.push(structuredClone(e));
            e.message.type = 'changed by a listener'; // too late to change what the plugin got
        });
        window.client.attach(window.pluginFrame, { objectId: 'L3', objectType: 'static', pluginOrigin: o });
        window.client.subscribe('L3');
    }, origin);
    const auth = await h.waitWire((m) => m.type === 'objcast_auth', 'auth');
    await h.serve({ ...READY, ref: auth.ref });
    await h.waitWire((m) => m.type === 'objcast_subscribe', 'subscribe');
    const self = { id: 'u1', name: 'U', objectId: 'L3', objectType: 'static', avatarUrl: '', workspaceId: 1, isHost: false, isSelf: true, isVisitor: false };
    await h.serve({ type: 'ovice_participant_subscribed', objectId: 'L3', payload: self });
    // a reply to the plugin (its ref given back), an error for it, and a message about
    // another object, which no iframe gets and "posted" does not report
    await h.post({ type: 'ovice_get_data', ref: 'r1' });
    const get = await h.waitWire((m) => m.type === 'ovice_get_data', 'get_data');
    await h.serve({ type: 'ovice_saved_data', objectId: 'L3', ref: get.ref, version: 0, payload: {} });
    await h.post({ type: 'ovice_emit_message', payload: { event: 'e', message: 1, to: 'ghost' } });
    const emit = await h.waitWire((m) => m.type === 'ovice_emit_message', 'emit');
    await h.serve({ type: 'ovice_message', objectId: 'elsewhere', payload: { event: 'e', message: 0 } });
    await h.serve({ type: 'objcast_error', objectId: 'L3', ref: emit.ref, payload: { code: 'not_present', message: 'x' } });
    await h.waitGot((m) => m.type === 'objcast_error', 'the error');
    const got = await h.got();
    const posted = await h.page.evaluate(() => window.posted);
    assert.deepStrictEqual(posted.map((e) => e.message), got, 'one event per message the plugin got, the same message');
    assert.deepStrictEqual(got.map((m) => m.type), ['ovice_participant_subscribed', 'ovice_saved_data', 'objcast_error']);
    assert.equal(got[1].ref, 'r1');
    for (const e of posted) {
        assert.equal(e.objectId, 'L3');
        assert.equal(e.targetOrigin, origin);
    }
    // detached: nothing is posted, nothing reported
    await h.page.evaluate(() => window.client.detach('L3'));
    await h.serve({ type: 'ovice_message', objectId: 'L3', payload: { event: 'e', message: 2 } });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await h.page.evaluate(() => window.posted)).length, 3, 'no event once detached');
});

test('bridge: capped backoff, queue limit, a refused static token closes', async (t) => {
    const origin = await startStatic(t);
    const browser = await launchBrowser(t);
    const h = await setup(t, browser, origin);
    // Sockets that never authenticate: the delays double up to the cap.
    await h.page.evaluate((o) => {
        window.delays = [];
        window.client = window.objcast.connect({
            url: 'ws://fake/ws', token: () => 'tok', WebSocket: window.FakeWS, queueLimit: 2,
            backoff: { initial: 10, max: 80, jitter: 0.5 },
        });
        window.client.on('state', (e) => {
            if (e.state === 'reconnecting') window.delays.push(e.delay);
        });
        window.client.attach(window.pluginFrame, { objectId: 'L2', pluginOrigin: o });
        window.dropper = setInterval(() => {
            const ws = window.fake.current();
            if (ws && ws.readyState === 1 && ws.sent.length) window.fake.drop(1006);
        }, 5);
    }, origin);
    await waitFor(() => h.page.evaluate(() => window.delays.length >= 6), 5000, 'six reconnections', 10);
    await h.page.evaluate(() => clearInterval(window.dropper));
    const delays = await h.page.evaluate(() => window.delays.slice(0, 6));
    const caps = [10, 20, 40, 80, 80, 80];
    delays.forEach((d, i) => assert.ok(d >= caps[i] / 2 && d <= caps[i], `delay ${i} = ${d} in [${caps[i] / 2}, ${caps[i]}]`));
    // three plugin messages while not connected: the oldest is dropped, the plugin is told
    for (const m of ['1', '2', '3']) await h.post({ type: 'ovice_broadcast_message', payload: { event: 'e', message: m } });
    const full = await h.waitGot((m) => m.type === 'objcast_error', 'queue_full');
    assert.equal(full.payload.code, 'queue_full');
    // a host command from the plugin is never queued nor sent
    await h.post({ type: 'objcast_unsubscribe', objectId: 'L2' });

    // a static token refused: error then close 1008, the client stops
    const h2 = await setup(t, browser, origin);
    await h2.page.evaluate(() => {
        window.client = window.objcast.connect({ url: 'ws://fake/ws', token: 'bad', WebSocket: window.FakeWS });
        window.errs = [];
        window.client.on('error', (e) => window.errs.push(e.code));
    });
    const auth = await h2.waitWire((m) => m.type === 'objcast_auth', 'auth');
    await h2.serve({ type: 'objcast_error', ref: auth.ref, payload: { code: 'unauthorized', message: 'authentication failed' } });
    await h2.page.evaluate(() => window.fake.drop(1008));
    await waitFor(() => h2.page.evaluate(() => window.client.state === 'closed'), 3000, 'closed', 10);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await h2.page.evaluate(() => window.fake.sockets.length), 1, 'no reconnection with the same token');
    assert.deepStrictEqual(await h2.page.evaluate(() => window.errs), ['unauthorized']);

    // back on the first page: a connection at last, the queued messages go out (2 and 3)
    await h.page.evaluate(() => {
        window.serveAuth = setInterval(() => {
            const ws = window.fake.current();
            const auth = ws && ws.readyState === 1 && ws.sent.find((m) => m.type === 'objcast_auth');
            if (auth && !ws.answered) {
                ws.answered = true;
                window.fake.serve({ type: 'objcast_ready', ref: auth.ref, payload: { userId: 'u', instance: 'f', limits: {} } });
            }
        }, 5);
    });
    await waitFor(async () => (await h.wire()).filter((m) => m.type === 'ovice_broadcast_message').length === 2, 3000, 'two broadcasts', 10);
    assert.deepStrictEqual((await h.wire()).filter((m) => m.type === 'ovice_broadcast_message').map((m) => m.payload.message), ['2', '3']);
    assert.ok(!(await h.wire()).some((m) => m.type === 'objcast_unsubscribe'), 'the plugin\'s objcast_unsubscribe never went out');
    await h.page.evaluate(() => clearInterval(window.serveAuth));
});

test('bridge: resumes each object where it left off (since) and waits for the replay', async (t) => {
    const origin = await startStatic(t);
    const browser = await launchBrowser(t);
    const h = await setup(t, browser, origin);
    await h.page.evaluate((o) => {
        window.client = window.objcast.connect({
            url: 'ws://fake/ws', token: () => 'tok', WebSocket: window.FakeWS, backoff: { initial: 20, max: 20, jitter: 0 },
        });
        window.presence = [];
        window.client.on('presence', (e) => window.presence.push(e));
        window.client.attach(window.pluginFrame, { objectId: 'L1', objectType: 'static', pluginOrigin: o });
        window.client.subscribe('L1');
    }, origin);
    const self = { id: 'u1', name: 'U', objectId: 'L1', objectType: 'static', avatarUrl: '', workspaceId: 1, isHost: false, isSelf: true, isVisitor: false };
    const own = (extra = {}, type = 'ovice_participant_subscribed') => ({ type, objectId: 'L1', ...extra, payload: self });
    const msg = (epoch, offset, text) => ({ type: 'ovice_message', offset, epoch, objectId: 'L1',
        payload: { source: 'u2', event: 'chat', objectId: 'L1', message: text } });
    /* A new connection: authenticates with session, resolves the first command it sent then. */
    let mark = 0;
    const connectAs = async (session, what = 'the presence command') => {
        const auth = await waitFor(async () => (await h.wire()).slice(mark).find((m) => m.type === 'objcast_auth'), 3000, 'auth', 10);
        mark = (await h.wire()).length;
        await h.serve({ type: 'objcast_ready', ref: auth.ref, payload: { userId: 'u1', instance: 'fake', session, limits: {} } });
        if (!what) return null;
        return h.waitWire((m, i) => i >= mark && m.type.startsWith('objcast_'), what);
    };
    const sentSince = (from = mark) => h.wire().then((w) => w.slice(from));
    const drop = () => h.page.evaluate(() => window.fake.drop(1006));
    const texts = async () => (await h.got()).filter((m) => m.type === 'ovice_message').map((m) => m.payload.message);

    // first connection: no position yet, no since; the own event gives one (e1, 5)
    let sub = await connectAs('s1');
    assert.equal(sub.type, 'objcast_subscribe');
    assert.ok(!('since' in sub), 'nothing to resume on the first connection');
    await h.serve(own({ epoch: 'e1', offset: 5 }));
    await h.serve(msg('e1', 6, 'a'));
    await h.serve(msg('e1', 8, 'b')); // a gap: 7 was not for this connection
    await h.waitGot((m) => m.payload?.message === 'b', 'b');
    const b = (await h.got()).find((m) => m.payload?.message === 'b');
    assert.deepStrictEqual(b, msg('e1', 8, 'b'), 'offset and epoch reach the plugin as they came');

    // drop: resumes from (e1, 8) of session s1; the plugin's broadcast waits for the replay
    await drop();
    sub = await connectAs('s2');
    assert.deepStrictEqual(sub.since, { epoch: 'e1', offset: 8, session: 's1' });
    await h.page.evaluate(() => window.client.join('L1')); // a second command: no since
    const join = await h.waitWire((m, i) => i >= mark && m.type === 'objcast_join', 'the join');
    assert.ok(!('since' in join), 'only the first subscribe/join of a connection resumes');
    await h.post({ type: 'ovice_broadcast_message', payload: { event: 'chat', message: 'mine' } });
    await h.serve(own({ epoch: 'e1', offset: 12, recovered: true }));
    const fence = await h.waitWire((m, i) => i >= mark && m.type === 'ovice_get_participants', 'a request behind the replay');
    await h.serve(msg('e1', 9, 'c'));
    await h.serve(own({ epoch: 'e1', offset: 12 }, 'ovice_participant_joined'));
    await h.serve(msg('e1', 11, 'd'));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(!(await sentSince()).some((m) => m.type === 'ovice_broadcast_message'), 'the plugin waits for the replay');
    await h.serve({ type: 'ovice_participants', objectId: 'L1', ref: fence.ref, payload: [{ ...self, status: 'joined' }] });
    await h.waitWire((m, i) => i >= mark && m.type === 'ovice_broadcast_message', 'the broadcast after the replay');
    assert.deepStrictEqual(await texts(), ['a', 'b', 'c', 'd'], 'every message once, in order');
    assert.ok(!(await h.got()).some((m) => m.type === 'ovice_participants'), 'the bridge\'s own request stays with it');
    assert.deepStrictEqual((await h.got()).filter((m) => m.recovered !== undefined).map((m) => m.recovered), [true],
        'the plugin sees recovered on its own event');
    assert.deepStrictEqual(await h.page.evaluate(() => window.presence.map((e) => e.recovered)), [undefined, true, undefined]);

    // drop with nothing received since: the replay ended on 11 but reached 12 (this
    // connection's own broadcast): resume from 12 as s2, else s1's view would send it back
    await drop();
    let cmd = await connectAs('s3');
    assert.equal(cmd.type, 'objcast_join', 'joined comes back as joined');
    assert.deepStrictEqual(cmd.since, { epoch: 'e1', offset: 12, session: 's2' });
    // not recovered (the history was lost: another epoch): the event's position counts, the
    // plugin re-reads, nothing waits
    await h.serve(own({ epoch: 'e2', offset: 0, recovered: false }, 'ovice_participant_joined'));
    await h.post({ type: 'ovice_get_data' });
    await h.waitWire((m, i) => i >= mark && m.type === 'ovice_get_data', 'get_data right away');
    assert.ok(!(await sentSince()).some((m) => m.type === 'ovice_get_participants'), 'no replay to wait for');
    await h.serve(msg('e2', 1, 'e2 first')); // offsets of a new epoch start again
    await h.serve(msg('e2', 4, 'e'));

    // drop in the middle of a replay: the position stays the old session's
    await drop();
    cmd = await connectAs('s4');
    assert.deepStrictEqual(cmd.since, { epoch: 'e2', offset: 4, session: 's3' });
    await h.serve(own({ epoch: 'e2', offset: 10, recovered: true }, 'ovice_participant_joined'));
    await h.waitWire((m, i) => i >= mark && m.type === 'ovice_get_participants', 'the fence');
    await h.serve(msg('e2', 6, 'f'));
    await drop();
    cmd = await connectAs('s5');
    assert.deepStrictEqual(cmd.since, { epoch: 'e2', offset: 6, session: 's3' }, 'a replay cut short resumes as the old session');
    // an error answer to the resuming join: nothing was done, the retry resumes again
    await h.serve({ type: 'objcast_error', objectId: 'L1', ref: cmd.ref, payload: { code: 'unavailable', message: 'x' } });
    const retry = await h.waitWire((m, i) => i > mark && m.type === 'objcast_join' && m.ref !== cmd.ref, 'the join again');
    assert.deepStrictEqual(retry.since, { epoch: 'e2', offset: 6, session: 's3' });
    await h.post({ type: 'ovice_broadcast_message', payload: { event: 'chat', message: 'mine 2' } });
    await h.serve(own({ epoch: 'e2', offset: 10, recovered: true }, 'ovice_participant_joined'));
    await h.waitWire((m, i) => i >= mark && m.type === 'ovice_get_participants', 'the fence');
    await h.serve(msg('e2', 8, 'g'));
    await h.serve(msg('e2', 11, 'h')); // live: the replay is over before the fence's answer
    await h.waitWire((m, i) => i >= mark && m.type === 'ovice_broadcast_message', 'the broadcast after the replay');
    assert.deepStrictEqual(await texts(), ['a', 'b', 'c', 'd', 'e2 first', 'e', 'f', 'g', 'h']);

    // unsubscribe forgets the position: coming back later does not resume
    await h.page.evaluate(() => window.client.unsubscribe('L1'));
    await drop();
    await connectAs('s6', null);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(!(await sentSince()).some((m) => m.type === 'objcast_subscribe' || m.type === 'objcast_join'), 'not on the object');
    await h.page.evaluate(() => window.client.subscribe('L1'));
    sub = await h.waitWire((m, i) => i >= mark && m.type === 'objcast_subscribe', 'subscribe');
    assert.ok(!('since' in sub), 'no resume after an unsubscribe');
});
