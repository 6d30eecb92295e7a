// Token lifetime in the browser (docs/protocol.md section 2.5): objcast closes a connection (4001)
// once its token expires, so the bridge refreshes the token ahead of exp through the host's
// token function. Here the demo hands out 4-second tokens (?ttl=4) and two users keep
// chatting through a plugin across several expiries: no reconnection, every message
// delivered, and objcastd never closed a connection for an expired token.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { httpGet, waitFor } from '../integration/lib/server.mjs';
import { assertNoPageErrors, launchBrowser, openUser, sleep, startStack, waitReceived } from './lib.mjs';

const TTL = 4;

test('short tokens: the bridge refreshes them and the plugin stays connected across several expiries', async (t) => {
    const stack = await startStack(t);
    const browser = await launchBrowser(t);
    const alice = await openUser(browser, stack, 'Alice', { query: `&ttl=${TTL}` });
    const bob = await openUser(browser, stack, 'Bob', { query: `&ttl=${TTL}` });
    const first = await alice.page.evaluate(() => window.demo.user);
    assert.ok(first.exp - Math.floor(Date.now() / 1000) <= TTL, 'the demo gave a short token');

    await alice.walk('chat');
    await bob.walk('chat');
    await waitReceived(alice, 'chat', (m) => m.type === 'ovice_participant_subscribed' && m.payload.id === bob.userId,
        'Bob on the chat');

    // Chat for more than three token lifetimes, one line a second, Alice then Bob.
    const until = Date.now() + (3 * TTL + 2) * 1000;
    let n = 0;
    while (Date.now() < until) {
        n++;
        const [from, to] = n % 2 ? [alice, bob] : [bob, alice];
        await from.frame('chat').fill('#msg', `line ${n}`);
        await from.frame('chat').click('#send');
        await waitReceived(to, 'chat', (m) => m.type === 'ovice_message' && m.payload.event === 'chat' &&
            m.payload.message.text === `line ${n}`, `line ${n} at ${to.name}`, { timeoutMs: 3000 });
        await sleep(1000);
    }

    for (const u of [alice, bob]) {
        // A refresh may be on its way at this moment (the token function called, its
        // objcast_refreshed not back yet): let it land before counting.
        await waitFor(() => u.page.evaluate(() => window.demo.tokens === 1 + window.demo.refreshes.length),
            3000, `${u.name}: a refresh in flight to land`);
        const d = await u.page.evaluate(() => ({
            states: window.demo.states, refreshes: window.demo.refreshes, tokens: window.demo.tokens,
            errors: window.demo.errors, exp: window.demo.user.exp,
        }));
        assert.ok(!d.states.includes('reconnecting'), `${u.name} never reconnected: ${d.states.join(',')}`);
        assert.ok(d.refreshes.length >= 3, `${u.name}: at least 3 refreshes (${d.refreshes.length})`);
        assert.ok(d.refreshes.at(-1) > d.exp + 2 * TTL - 2, `${u.name}: the connection lives well past its first token`);
        for (let i = 1; i < d.refreshes.length; i++) assert.ok(d.refreshes[i] > d.refreshes[i - 1], 'each refresh extends it');
        assert.equal(d.tokens, 1 + d.refreshes.length, `${u.name}: one token function call per refresh`);
        // (A plugin's first get_participants before its user is on the object is answered
        // not_subscribed: that is the page starting, not the tokens.)
        assert.deepStrictEqual(d.errors.filter((e) => e.code !== 'not_subscribed'), [], `${u.name}: no token errors`);
    }
    // Same users throughout: the plugins saw no one leave.
    for (const u of [alice, bob]) {
        const left = (await u.received('chat')).filter((m) => m.type === 'ovice_participant_unsubscribed');
        assert.deepStrictEqual(left, [], `${u.name}: nobody was unsubscribed`);
    }
    const metrics = (await httpGet(stack.port, '/metrics')).body;
    assert.match(metrics, /^objcast_server_closes_total\{reason="token_expired"\} 0$/m);
    assert.match(metrics, /^objcast_messages_received_by_type_total\{type="objcast_refresh"\} ([6-9]|\d\d+)$/m);
    assertNoPageErrors(alice, bob);
});

test('a refresh the token function cannot give: the connection expires (4001) and the bridge reconnects', async (t) => {
    const stack = await startStack(t);
    const browser = await launchBrowser(t);
    const alice = await openUser(browser, stack, 'Alice', { query: `&ttl=${TTL}` });
    // The backend goes away: every later token request fails.
    await alice.page.route('**/demo/token?*', (route) => route.fulfill({ status: 503, body: 'down' }));
    await alice.page.waitForFunction(() => window.demo.states.includes('reconnecting'), null, { timeout: (TTL + 4) * 1000 });
    const d = await alice.page.evaluate(() => ({ log: window.demo.log.length, errors: window.demo.errors }));
    assert.ok(d.errors.some((e) => e.code === 'token' && e.request === 'objcast_refresh'), 'the failed refresh was reported');
    // The backend is back: the reconnection gets a token again and the page is open.
    await alice.page.unroute('**/demo/token?*');
    await alice.page.waitForFunction(() => window.demo.client.state === 'open' && window.demo.states.at(-1) === 'open',
        null, { timeout: 15000 });
    const metrics = (await httpGet(stack.port, '/metrics')).body;
    assert.match(metrics, /^objcast_server_closes_total\{reason="token_expired"\} 1$/m);
    assertNoPageErrors(alice);
});
