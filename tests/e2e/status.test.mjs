// The status page (/status, web/status/) in Chromium against two real objcastd on one Redis:
// the login that keeps the api_key in the tab's session only, every instance, Redis, the
// busiest objects and the errors, updated live without a reload, and an instance killed
// turning stale. Screenshots: tests/e2e/out/status-*.png.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { broadcast, open, subscribeAll } from '../integration/lib/proto.mjs';
import { startNode } from '../integration/lib/redis.mjs';
import { launchBrowser, OUT_DIR, startStack, waitFor } from './lib.mjs';

const KEY = 'status-e2e-key-0123456789';

async function shot(page, file) {
    mkdirSync(OUT_DIR, { recursive: true });
    const p = path.join(OUT_DIR, file);
    await page.screenshot({ path: p, fullPage: true });
    console.log(`screenshot: ${p}`);
    return p;
}

const text = (page, sel) => page.locator(sel).innerText();

test('status page: sign in, every instance and Redis, busiest objects and errors, live updates, a killed instance goes stale', async (t) => {
    const stack = await startStack(t, { conf: { api_key: KEY, instance_id: 'east-1' } });
    const second = await startNode({ t, redis: stack.redis, secret: stack.secret,
        conf: { api_key: KEY, instance_id: 'east-2' } });
    const browser = await launchBrowser(t);

    // Traffic: two users on "standup" (one on each instance) talk all along; one asks for an
    // object it is not on (not_subscribed).
    const a = await open(stack.server, 'alice');
    const b = await open(second, 'bob');
    await subscribeAll([a, b], 'standup');
    broadcast(a, 'x', 1, { objectId: 'elsewhere' });
    let n = 0;
    const talk = setInterval(() => broadcast(n++ % 2 ? a : b, 'tick', n, { objectId: 'standup' }), 40);
    t.after(() => clearInterval(talk));

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Every failed load, by URL: the wrong key's 401 is the only one expected.
    const failed = [];
    page.on('response', (r) => r.status() >= 400 && failed.push(`${r.status()} ${new URL(r.url()).pathname}`));
    await page.goto(`${stack.hostOrigin}/status`);
    assert.equal(await page.locator('#login').isVisible(), true, 'the login form first');
    assert.equal(await page.locator('#status').isVisible(), false, 'no data before the key');
    await shot(page, 'status-login.png');

    // a wrong key: said so, nothing kept
    await page.fill('#key', 'wrong-key');
    await page.click('#login button[type=submit]');
    await waitFor(async () => (await text(page, '#login-error')).includes('not the api_key'), 5000, 'the wrong-key message');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);

    await page.fill('#key', KEY);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#status:not([hidden])', { timeout: 5000 });
    // the key: in this tab's session storage, nowhere else
    assert.equal(await page.evaluate(() => sessionStorage.getItem('objcast.status.apiKey')), KEY);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    assert.deepEqual(await context.cookies(), []);
    assert.ok(!page.url().includes(KEY));

    // both instances, Redis up, standup the busiest with both users, the error counted
    await waitFor(async () => (await page.locator('#instances tbody tr').count()) === 2 &&
        (await text(page, '#busiest tbody')).includes('standup'), 10000, 'two instances and standup busy');
    const rows = await page.locator('#instances tbody tr').allInnerTexts();
    assert.match(rows[0], /east-1/);
    assert.match(rows[1], /east-2/);
    for (const r of rows) assert.match(r, /\bup\b/);
    assert.match(await text(page, '#redis'), /up/);
    assert.match(await text(page, '#redis'), /latency: \d+\.\d+ ms/);
    assert.match(await text(page, '#redis'), /version: \d+\.\d+/);
    const busy = (await page.locator('#busiest tbody tr').allInnerTexts()).find((r) => r.includes('standup'));
    const cells = busy.split('\t');
    assert.equal(cells[0], '987', 'workspace');
    assert.equal(cells[2], '2', 'participants');
    assert.ok(Number(cells[3]) > 5, `messages/s ${cells[3]}`);
    assert.match(cells[4], /east-1/);
    assert.match(cells[4], /east-2/);
    await waitFor(async () => (await text(page, '#errors tbody')).includes('not_subscribed'), 6000, 'not_subscribed counted');
    assert.equal(await text(page, '#t-instances'), '2 / 2');

    // live: a third connection shows without a reload
    const polls = await page.evaluate(() => window.objcastStatus.polls);
    assert.equal(await text(page, '#t-connections'), '2');
    const c = await open(second, 'carol');
    t.after(() => c.close());
    await waitFor(async () => (await text(page, '#t-connections')) === '3', 8000, 'the tile to show 3 connections');
    assert.ok(await page.evaluate(() => window.objcastStatus.polls) > polls, 'polled again');
    assert.match(await text(page, '#live'), /live/);
    await shot(page, 'status-live.png');

    // the second instance killed: it turns stale, its connections leave the totals
    await second.stop('SIGKILL');
    await waitFor(async () => {
        const r = await page.locator('#instances tbody tr', { hasText: 'east-2' }).innerText();
        return /stale/.test(r);
    }, 20000, 'east-2 to show stale', 250);
    assert.equal(await text(page, '#t-instances'), '1 / 2');
    // its numbers leave the totals and the busiest objects
    await waitFor(async () => {
        const r = (await page.locator('#busiest tbody tr').allInnerTexts()).find((x) => x.includes('standup'));
        return r && !r.includes('east-2');
    }, 6000, 'standup listed with east-1 only');
    assert.equal(await text(page, '#t-connections'), '1');
    await shot(page, 'status-instance-stale.png');

    // a reload keeps the session; a new tab of another session asks again
    await page.reload();
    await page.waitForSelector('#status:not([hidden])', { timeout: 5000 });
    const other = await browser.newContext();
    const p2 = await other.newPage();
    await p2.goto(`${stack.hostOrigin}/status`);
    assert.equal(await p2.locator('#login').isVisible(), true);
    // signing out forgets the key
    await page.click('#signout');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.equal(await page.locator('#login').isVisible(), true);
    assert.deepEqual(errors, [], 'no errors in the page');
    assert.deepEqual(failed, ['401 /api/v1/status'], 'no load failed but the wrong key\'s');
});
