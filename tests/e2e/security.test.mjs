// The bridge trusts only the attached iframe's window on its pluginOrigin, forwards only the
// seed's ovice_* messages, sets objectId itself, and posts to the iframe with pluginOrigin as
// targetOrigin: a plugin that navigates to a third origin gets nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
    assertNoPageErrors, launchBrowser, openUser, positionless, receivedCount, screenshot, sleep, startStack,
    startThirdOrigin, waitFor, waitReceived,
} from './lib.mjs';

const isEvent = (event) => (m) => m.type === 'ovice_message' && m.payload.event === event;
const broadcast = (event, extra = {}, payload = {}) => ({
    type: 'ovice_broadcast_message', ...extra, payload: { source: 'x', event, objectId: 'x', message: event, ...payload },
});

test('the bridge ignores other windows, other origins and host commands, and sets objectId itself', async (t) => {
    const stack = await startStack(t);
    const browser = await launchBrowser(t);
    const alice = await openUser(browser, stack, 'Alice');
    const bob = await openUser(browser, stack, 'Bob');
    await alice.walk('chat');
    await bob.walk('both'); // Bob is on the chat and on the notes
    await waitReceived(alice, 'chat', (m) => m.type === 'ovice_participant_subscribed' && m.payload.id === bob.userId, 'Bob');
    await waitReceived(bob, 'notes', (m) => m.type === 'ovice_participant_subscribed' && m.payload.isSelf, 'his notes');
    // (the two objects' events come in no particular order between them)
    await waitReceived(bob, 'chat', (m) => m.type === 'ovice_participant_subscribed' && m.payload.isSelf, 'his chat');
    const bobChatFrom = await receivedCount(bob, 'chat');
    const bobNotesFrom = await receivedCount(bob, 'notes');

    // 1. the host page's own window
    await alice.page.evaluate((m) => window.postMessage(m, '*'), broadcast('evil-top'));
    // 2. another iframe from the plugin origin that is not attached
    await alice.page.evaluate((src) => new Promise((resolve) => {
        const f = document.createElement('iframe');
        f.name = 'stranger';
        f.src = src;
        f.onload = () => resolve();
        document.body.append(f);
    }), `${stack.pluginOrigin}/demo/plugins/chat.html`);
    const stranger = alice.page.frame({ name: 'stranger' });
    await stranger.evaluate((m) => parent.postMessage(m, '*'), broadcast('evil-stranger'));
    // 3. the attached plugin sending host commands and unknown types
    for (const type of ['objcast_join', 'objcast_unsubscribe', 'objcast_leave', 'objcast_subscribe']) {
        await alice.pluginPost('chat', { type, objectId: 'chat' });
    }
    await alice.pluginPost('chat', { type: 'objcast_auth', token: 'x' });
    await alice.pluginPost('chat', { type: 'ovice_frobnicate', payload: {} });
    await alice.pluginPost('chat', 'ovice_broadcast_message');
    // 4. the attached plugin naming another object: the attached object wins
    await alice.pluginPost('chat', broadcast('other-object', { objectId: 'notes' }, { objectId: 'notes' }));
    // then a marker: the plugin's messages arrive in order, so everything above was handled
    await alice.pluginPost('chat', broadcast('marker-1'));
    await waitReceived(bob, 'chat', isEvent('marker-1'), 'the marker', { from: bobChatFrom });

    const bobChat = (await bob.received('chat')).slice(bobChatFrom);
    assert.deepStrictEqual(bobChat.filter((m) => m.type === 'ovice_message').map((m) => m.payload.event),
        ['other-object', 'marker-1'], 'only the attached plugin\'s broadcasts arrived');
    const other = bobChat.find(isEvent('other-object'));
    assert.deepStrictEqual(positionless(other), {
        type: 'ovice_message',
        objectId: 'chat',
        payload: { source: alice.userId, event: 'other-object', objectId: 'chat', message: 'other-object' },
    }, 'objectId (top level and payload) and source are the attached object\'s and the user\'s');
    assert.ok(!bobChat.some((m) => m.type.startsWith('ovice_participant_')),
        'the plugin\'s objcast_* commands changed no presence');
    await sleep(200);
    assert.deepStrictEqual((await bob.received('notes')).slice(bobNotesFrom), [], 'nothing reached the notes object');
    assert.equal(await alice.page.evaluate(() => window.demo.client.presence('chat')), 'subscribed');

    const rejected = await alice.page.evaluate(() => window.demo.rejected);
    const reasons = rejected.map((r) => `${r.reason}: ${typeof r.data === 'object' ? r.data.type : r.data}`);
    for (const want of [
        'not from an attached iframe: ovice_broadcast_message', // top window and the stranger
        'not a plugin message: objcast_join',
        'not a plugin message: objcast_unsubscribe',
        'not a plugin message: objcast_auth',
        'not a plugin message: ovice_frobnicate',
        'not a plugin message: ovice_broadcast_message', // a string, not an object
    ]) {
        assert.ok(reasons.includes(want), `rejected "${want}" (got ${JSON.stringify(reasons)})`);
    }
    assert.equal(reasons.filter((r) => r === 'not from an attached iframe: ovice_broadcast_message').length, 2);
    // the host's sent messages never named another object or carried an objcast_* type from the plugin
    const errors = await alice.page.evaluate(() => window.demo.errors.filter((e) => e.fromPlugin));
    assert.deepStrictEqual(errors.filter((e) => e.code !== 'not_subscribed'), [], 'no server error for the plugin');

    // 5. the plugin navigates its iframe to a third origin
    const third = await startThirdOrigin(t);
    const chat = alice.frame('chat');
    await chat.evaluate((url) => {
        location.href = url;
    }, `${third.origin}/evil.html`);
    await waitFor(async () => {
        const f = alice.page.frame({ name: 'plugin-chat' });
        return f && f.url().startsWith(third.origin) && await f.evaluate(() => typeof window.post === 'function').catch(() => false);
    }, 5000, 'the iframe to show the third-origin page');
    const evil = alice.page.frame({ name: 'plugin-chat' });
    // its messages come from the attached iframe's window but not from the pluginOrigin
    await evil.evaluate((m) => window.post(m), broadcast('evil-navigated'));
    await evil.evaluate(() => window.post({ type: 'ovice_get_participants' }));
    await waitFor(() => alice.page.evaluate((o) => window.demo.rejected.filter((r) => r.origin === o).length >= 2, third.origin),
        3000, 'both rejected for their origin');
    const evilRejected = await alice.page.evaluate((o) => window.demo.rejected.filter((r) => r.origin === o), third.origin);
    assert.ok(evilRejected.every((r) => r.reason === 'origin is not the pluginOrigin'), JSON.stringify(evilRejected));
    // what the server sends for the object reaches the bridge but is not posted to that origin
    const logFrom = await alice.page.evaluate(() => window.demo.log.length);
    await bob.pluginPost('chat', broadcast('for-alice'));
    await bob.frame('chat').click('.react[data-emoji="♥"]');
    await waitFor(() => alice.page.evaluate((n) => window.demo.log.slice(n)
        .filter((m) => m.type === 'ovice_message' && m.objectId === 'chat').length >= 2, logFrom),
    5000, 'Bob\'s messages at Alice\'s bridge');
    await sleep(300);
    assert.deepStrictEqual(await evil.evaluate(() => window.received), [], 'the third origin received nothing');

    // 6. back to the plugin: trusted again, and the third origin's messages never went out
    await evil.evaluate((url) => {
        location.href = url;
    }, `${stack.pluginOrigin}/demo/plugins/chat.html`);
    await waitFor(async () => {
        const f = alice.page.frame({ name: 'plugin-chat' });
        return f && f.url().startsWith(stack.pluginOrigin) &&
            await f.evaluate(() => (window.received || []).some((m) => m.data.type === 'ovice_participants')).catch(() => false);
    }, 5000, 'the reloaded plugin to get its participants');
    const from = await receivedCount(bob, 'chat');
    await alice.pluginPost('chat', broadcast('marker-2'));
    await waitReceived(bob, 'chat', isEvent('marker-2'), 'the second marker', { from });
    const all = await bob.received('chat');
    for (const e of ['evil-top', 'evil-stranger', 'evil-navigated']) {
        assert.ok(!all.some(isEvent(e)), `${e} never reached Bob`);
    }
    // the page posted only to the plugin origin
    for (const r of await alice.receivedWithOrigin('chat')) assert.equal(r.origin, stack.hostOrigin);

    await screenshot(alice, 'security-alice.png');
    await screenshot(bob, 'security-bob.png');
    assertNoPageErrors(alice, bob);
});

test('objcast.js and objcast.mjs load as a script and as a module, with CORS; bad attach options throw', async (t) => {
    const stack = await startStack(t);
    for (const p of ['/objcast.js', '/objcast.mjs']) {
        const res = await fetch(`${stack.hostOrigin}${p}`);
        assert.equal(res.status, 200, p);
        assert.equal(res.headers.get('content-type'), 'text/javascript; charset=utf-8', p);
        assert.equal(res.headers.get('access-control-allow-origin'), '*', p);
    }
    const browser = await launchBrowser(t);
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // A page on another origin (the plugin port) loads the bridge both ways.
    await page.goto(`${stack.pluginOrigin}/demo/plugins/notes.html`);
    const res = await page.evaluate(async (base) => {
        const s = document.createElement('script');
        s.src = `${base}/objcast.js`;
        await new Promise((resolve, reject) => {
            s.onload = resolve;
            s.onerror = reject;
            document.head.append(s);
        });
        const classic = window.objcast;
        const mod = await import(`${base}/objcast.mjs`);
        const out = {
            classic: typeof classic.connect,
            same: mod.default === classic,
            named: mod.connect === classic.connect && typeof mod.Client === 'function',
            types: mod.PLUGIN_TYPES,
            version: mod.version,
            throws: [],
        };
        const client = classic.connect({ url: `${base.replace('http', 'ws')}/ws`, token: 'not-a-token' });
        const iframe = document.createElement('iframe');
        for (const o of [{ objectId: 'a', pluginOrigin: '*' }, { objectId: 'a' }, { objectId: '', pluginOrigin: 'http://x.test' },
            { objectId: 'a', pluginOrigin: 'http://x.test', objectType: 'round' }]) {
            try {
                client.attach(iframe, o);
                out.throws.push(false);
            } catch (e) {
                out.throws.push(e instanceof TypeError);
            }
        }
        // a refused static token: the client reports it and stops
        await new Promise((resolve) => {
            client.on('state', (e) => {
                if (e.state === 'closed') resolve();
            });
        });
        out.state = client.state;
        return out;
    }, stack.hostOrigin);
    assert.deepStrictEqual(res, {
        classic: 'function',
        same: true,
        named: true,
        types: ['ovice_get_participants', 'ovice_broadcast_message', 'ovice_emit_message', 'ovice_get_data',
            'ovice_save_and_emit_data'],
        version: '1',
        throws: [true, true, true, true],
        state: 'closed',
    });
    assert.deepStrictEqual(errors, []);
});
