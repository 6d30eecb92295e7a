// The plugin playground (/demo/?plugin=URL, docs/plugins.md section 9): an author's plugin,
// served from an origin this file starts (as an author's own dev server would be), runs in
// the demo space as a third object; a second user comes through the page's own button; the
// posts panel lists every postMessage in and out of the plugin's iframe and explains errors.
// The plugin is the demo's copyable example, web/demo/plugins/hello.html.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import {
    assertNoPageErrors, launchBrowser, openUser, screenshot, serveOrigin, srcDir, startStack, userOfPage, waitFor,
    waitReceived,
} from './lib.mjs';

const HD = { width: 1280, height: 720 };
/* In range of the playground object only (web/demo/playground.js, PLACE.stand), and a
 * second such spot, so that two avatars standing there both show. */
const STAND = { x: 530, y: 100 };
const STAND2 = { x: 540, y: 40 };

/*
 * The author's server: 127.0.0.1 on a port of its own, so another origin than the demo's
 * two. GET /hello.html is the example plugin; requests lists what was asked.
 */
async function startAuthor(t) {
    const html = readFileSync(path.join(srcDir, 'web', 'demo', 'plugins', 'hello.html'));
    const { origin, requests } = await serveOrigin(t, { '/hello.html': html });
    return { origin, url: `${origin}/hello.html`, requests };
}

const withPlugin = (url) => `&plugin=${encodeURIComponent(url)}`;

/* Waits until the user's playground plugin has run its script. */
async function pluginLoaded(user) {
    await waitFor(async () => {
        const f = user.page.frame({ name: 'plugin-playground' });
        return f && await f.evaluate(() => Array.isArray(window.received)).catch(() => false);
    }, 10000, `${user.name}'s playground plugin to load`);
}

/* The page's record of the plugin's posts (demo.playground.posts), oldest first. */
async function postsOf(user) {
    return user.page.evaluate(() => window.demo.playground.posts);
}

/* Waits for a post matching pred; returns it. */
async function waitPost(user, pred, what) {
    let seen = [];
    try {
        return await waitFor(async () => (seen = await postsOf(user)).find(pred), 8000, `${user.name}'s posts: ${what}`, 50);
    } catch (e) {
        e.message += `\nposts: ${seen.map((p) => `${p.dir} ${p.type} ${p.code || ''}`).join(', ')}`;
        throw e;
    }
}

/* What the plugin shows: the people (a sorted list), the count and its last news. */
async function pluginView(user) {
    return user.frame('playground').evaluate(() => {
        const people = document.querySelector('#people').textContent;
        return {
            people: people.startsWith('here: ') ? people.slice(6).split(', ').sort() : [],
            count: document.querySelector('#count').textContent,
            news: document.querySelector('#news').textContent,
        };
    });
}

async function waitView(user, pred, what) {
    let last = null;
    try {
        return await waitFor(async () => pred(last = await pluginView(user)) && last, 8000, `${user.name}'s plugin: ${what}`, 50);
    } catch (e) {
        e.message += ` (shows ${JSON.stringify(last)})`;
        throw e;
    }
}

const bytesOf = (v) => (v === undefined ? 0 : Buffer.byteLength(JSON.stringify(v)));

/* A box as plain numbers. */
function boxOf(page, sel) {
    return page.evaluate((s) => {
        const r = document.querySelector(s).getBoundingClientRect();
        return { left: r.left, right: r.right, top: r.top, bottom: r.bottom };
    }, sel);
}

function overlap(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

test('?plugin=URL places the author\'s plugin; a second user through the button; both directions logged', async (t) => {
    const stack = await startStack(t);
    const author = await startAuthor(t);
    const browser = await launchBrowser(t);
    const alice = await openUser(browser, stack, 'Alice', { query: withPlugin(author.url), viewport: HD });
    await pluginLoaded(alice);

    // --- placed: the object, its iframe from the author's origin ---------------------------
    const pg = await alice.page.evaluate(() => {
        const { url, origin, objectType, error } = window.demo.playground;
        return { url, origin, objectType, error, src: document.querySelector('#object-playground iframe').src };
    });
    assert.deepStrictEqual(pg, { url: author.url, origin: author.origin, objectType: 'static', error: undefined, src: author.url });
    assert.equal(await alice.frame('playground').evaluate(() => location.origin), author.origin, 'the plugin runs on its own origin');
    assert.notEqual(author.origin, stack.hostOrigin);
    assert.notEqual(author.origin, stack.pluginOrigin);
    assert.ok(author.requests.includes('/hello.html'), 'the browser fetched the plugin from the author\'s server');
    const space = await boxOf(alice.page, '#space');
    const box = await boxOf(alice.page, '#object-playground');
    for (const other of ['notes', 'chat']) {
        assert.ok(!overlap(box, await boxOf(alice.page, `#object-${other}`)), `the playground does not cover the ${other} object`);
    }
    assert.ok(box.left >= space.left && box.right <= space.right && box.top >= space.top && box.bottom <= space.bottom,
        'the playground is on the floor');
    const overflow = await alice.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(overflow, 0, 'no horizontal scrollbar at 1280x720');

    // --- the plugin's first request comes while Alice stands away: explained -----------------
    await waitPost(alice, (p) => p.dir === 'up' && p.type === 'ovice_get_participants', 'its first request');
    const early = await waitPost(alice, (p) => p.dir === 'down' && p.code === 'not_subscribed', 'the not_subscribed answer');
    assert.match(early.explanation, /^walk to the object first \(you are not subscribed\)/);

    // --- the second user: the page's button opens a window of another user -----------------
    const [popup] = await Promise.all([alice.context.waitForEvent('page'), alice.page.click('#playground-second')]);
    const bob = await userOfPage(popup, 'Alice 2');
    const q = new URL(popup.url()).searchParams;
    assert.equal(q.get('plugin'), author.url, 'the same plugin');
    assert.equal(q.get('name'), 'Alice 2', 'another name');
    assert.notEqual(bob.userId, alice.userId, 'another user');
    await pluginLoaded(bob);

    // --- both walk up: each plugin sees both -----------------------------------------------
    await alice.walk(STAND);
    await bob.walk(STAND2);
    await waitView(alice, (v) => v.people.join() === ['Alice (you)', 'Alice 2'].join(), 'both, Alice being you');
    await waitView(bob, (v) => v.people.join() === ['Alice', 'Alice 2 (you)'].join(), 'both, Alice 2 being you');
    await alice.page.waitForSelector(`#panel-playground li[data-id="${bob.userId}"]`);

    // --- a broadcast from one arrives in the other's plugin; a save reaches both ----------------
    const from = (await bob.received('playground')).length;
    await alice.frame('playground').click('#wave');
    const wave = await waitReceived(bob, 'playground', (m) => m.type === 'ovice_message' && m.payload.event === 'wave',
        'Alice\'s wave', { from });
    assert.equal(String(wave.payload.source), alice.userId, 'objcast names the sender');
    await waitView(bob, (v) => v.news === 'Alice waved', 'Alice waved');
    await bob.frame('playground').click('#plus');
    await waitView(alice, (v) => v.count === '1', 'the count Bob saved');
    await waitView(bob, (v) => v.count === '1', 'his own count, saved');

    // --- the posts panel: every post, both directions, as the plugin sent and got them -------
    await waitPost(alice, (p) => p.dir === 'down' && p.type === 'ovice_shared_data', 'the shared data');
    const posts = await postsOf(alice);
    const sent = await alice.frame('playground').evaluate(() => window.sent);
    const got = await alice.received('playground');
    const shape = (m) => ({ type: m.type, payload: m.payload });
    assert.deepStrictEqual(posts.filter((p) => p.dir === 'up').map(shape), sent.map(shape), 'every post the plugin made, in order');
    assert.deepStrictEqual(posts.filter((p) => p.dir === 'down').map(shape), got.map(shape), 'every post into the plugin, in order');
    for (const p of posts) assert.equal(p.bytes, bytesOf(p.payload), `${p.type}: size of the payload's JSON`);
    const waveSent = sent.find((m) => m.type === 'ovice_broadcast_message');
    const lines = await alice.page.evaluate(() => [...document.querySelectorAll('#posts li')].reverse().map((li) => ({
        dir: li.dataset.dir, type: li.dataset.type, size: li.querySelector('.size').textContent,
    })));
    assert.deepStrictEqual(lines, posts.map((p) => ({ dir: p.dir, type: p.type, size: `${bytesOf(p.payload)} B` })),
        'one line per post, newest on top, with its size');
    assert.ok(lines.some((l) => l.dir === 'up' && l.type === 'ovice_broadcast_message' && l.size === `${bytesOf(waveSent.payload)} B`));

    // --- a click on a line shows its payload --------------------------------------------------
    const waveLine = alice.page.locator('#posts li.up[data-type="ovice_broadcast_message"]');
    await waveLine.click();
    const shown = await waveLine.locator('pre').textContent();
    assert.deepStrictEqual(JSON.parse(shown), waveSent.payload, 'the payload, as the plugin posted it');
    assert.equal(shown, JSON.stringify(waveSent.payload, null, 2), 'pretty-printed');
    const dataLine = alice.page.locator('#posts li.down[data-type="ovice_shared_data"]').first();
    await dataLine.click();
    const dataText = await dataLine.locator('pre').textContent();
    assert.deepStrictEqual(JSON.parse(dataText.split('\n\nbeside the payload: ')[0]), { count: 1 });
    assert.match(dataText, /beside the payload: \{[^]*"version": 1/, 'the other top-level fields too');
    console.log(await screenshot(alice, 'playground-alice.png'));
    console.log(await screenshot(bob, 'playground-second-user.png'));
    await dataLine.locator('.head').click(); // a click in the payload itself keeps it (to select text)
    assert.equal(await dataLine.locator('pre').count(), 0, 'a second click on the line hides it');
    assertNoPageErrors(alice, bob);
});

test('a request while the avatar is away is answered not_subscribed, explained in words', async (t) => {
    const stack = await startStack(t);
    const author = await startAuthor(t);
    const browser = await launchBrowser(t);
    const alice = await openUser(browser, stack, 'Alice', { query: withPlugin(author.url), viewport: HD });
    await pluginLoaded(alice);
    await alice.walk(STAND);
    await waitView(alice, (v) => v.people.join() === 'Alice (you)', 'Alice on the object');
    await alice.walk('far');
    await waitReceived(alice, 'playground', (m) => m.type === 'ovice_participant_unsubscribed' && m.payload.isSelf, 'her own unsubscribed');
    const before = (await postsOf(alice)).length;
    await alice.pluginPost('playground', { type: 'ovice_broadcast_message', ref: 'away', payload: { event: 'wave', message: 'hi' } });
    const err = await waitReceived(alice, 'playground', (m) => m.type === 'objcast_error' && m.ref === 'away', 'the error');
    assert.equal(err.payload.code, 'not_subscribed');
    const post = (await postsOf(alice)).slice(before).find((p) => p.code === 'not_subscribed');
    assert.ok(post, 'the error is in the posts');
    assert.equal(post.rest.ref, 'away');
    const line = alice.page.locator('#posts li.error[data-type="objcast_error"]').first();
    assert.equal(await line.locator('.type').textContent(), 'objcast_error not_subscribed');
    assert.match(await line.locator('.why').textContent(), /^walk to the object first \(you are not subscribed\)/);

    // a host command from the plugin: listed, and said to be ignored by the bridge
    await alice.pluginPost('playground', { type: 'objcast_join' });
    const ignored = await waitPost(alice, (p) => p.dir === 'up' && p.type === 'objcast_join', 'the objcast_join');
    assert.match(ignored.note, /^ignored by the bridge/);
    assert.match(await alice.page.locator('#posts li.ignored .why').first().textContent(), /only the five ovice_\* requests/);
    console.log(await screenshot(alice, 'playground-not-subscribed.png'));
    assertNoPageErrors(alice);
});

test('a URL that is not http or https: a clear message and no object; the field loads a plugin', async (t) => {
    const stack = await startStack(t);
    const author = await startAuthor(t);
    const browser = await launchBrowser(t);
    const bob = await openUser(browser, stack, 'Bob', { query: withPlugin('javascript:alert(1)'), viewport: HD });
    const status = bob.page.locator('#playground-status');
    assert.match(await status.textContent(), /No plugin placed: "javascript:alert\(1\)" is not an http:\/\/ or https:\/\/ URL/);
    assert.ok(await status.isVisible(), 'the message shows');
    assert.equal(await status.getAttribute('class'), 'error');
    assert.equal(await bob.page.locator('#object-playground').count(), 0, 'no object');
    assert.equal(bob.page.frame({ name: 'plugin-playground' }), null, 'no plugin frame');
    assert.equal(await bob.page.locator('#playground-second').isVisible(), false, 'no second-user button');
    assert.match(await bob.page.evaluate(() => window.demo.playground.error), /not an http/);
    console.log(await screenshot(bob, 'playground-bad-url.png'));

    for (const [bad, want] of [['ftp://example.com/p.html', /is not an http/], ['localhost:5173/p.html', /did you mean http:\/\/localhost:5173\/p\.html\?/],
        ['/demo/plugins/hello.html', /is not an http/]]) {
        await bob.page.goto(`${stack.hostOrigin}/demo/?name=Bob${withPlugin(bad)}`);
        await bob.page.waitForFunction(() => window.demo?.client?.state === 'open');
        assert.match(await status.textContent(), want, bad);
        assert.equal(await bob.page.locator('#object-playground').count(), 0, `${bad}: no object`);
    }

    // --- the field: enter the URL, Load reloads with ?plugin= ---------------------------------
    await bob.page.fill('#playground-url', author.url);
    await Promise.all([bob.page.waitForURL((u) => u.searchParams.get('plugin') === author.url), bob.page.click('#playground-form button')]);
    assert.equal(new URL(bob.page.url()).searchParams.get('name'), 'Bob', 'the name is kept');
    const again = await userOfPage(bob.page, 'Bob');
    await pluginLoaded(again);
    assert.equal(await again.frame('playground').evaluate(() => location.origin), author.origin);
    assert.equal(await again.page.inputValue('#playground-url'), author.url, 'the field shows the plugin\'s URL');
    assert.doesNotMatch(await status.getAttribute('class') || '', /error/);
    // an empty field takes the playground away
    await again.page.fill('#playground-url', '');
    await Promise.all([again.page.waitForURL((u) => !u.searchParams.has('plugin')), again.page.click('#playground-form button')]);
    await again.page.waitForFunction(() => window.demo?.client?.state === 'open');
    assert.equal(await again.page.locator('#object-playground').count(), 0);
    assert.equal(await again.page.evaluate(() => window.demo.playground), null);
    assertNoPageErrors(bob, again);
});

test('&type=dynamic makes the playground dynamic; &host=1 makes its first user the host, not the second', async (t) => {
    const stack = await startStack(t);
    const author = await startAuthor(t);
    const browser = await launchBrowser(t);
    const alice = await openUser(browser, stack, 'Alice', { query: `${withPlugin(author.url)}&type=dynamic&host=1`, viewport: HD });
    await pluginLoaded(alice);
    const [popup] = await Promise.all([alice.context.waitForEvent('page'), alice.page.click('#playground-second')]);
    const bob = await userOfPage(popup, 'Alice 2');
    await pluginLoaded(bob);
    assert.equal(new URL(popup.url()).searchParams.get('type'), 'dynamic');
    for (const u of [alice, bob]) await u.walk(STAND);
    for (const [u, host] of [[alice, true], [bob, false]]) {
        const own = await waitReceived(u, 'playground', (m) => m.type === 'ovice_participant_subscribed' && m.payload.isSelf, 'its own event');
        assert.equal(own.payload.objectType, 'dynamic', `${u.name}: a dynamic object`);
        assert.equal(own.payload.isHost, host, `${u.name}: isHost ${host}`);
    }
    assertNoPageErrors(alice, bob);
});
