// Browser test harness: Redis + objcastd (engine redis, demo on) + headless Chromium driven
// by playwright-core. Each test file launches one browser; every user is a browser context
// of its own (separate storage, like two people on two machines).
//
// The demo host page is http://127.0.0.1:PORT/demo/?name=NAME; its plugins come from the
// demo port (a second origin). Plugins record what they receive in window.received and what
// they send in window.sent; the host page keeps its view in window.demo (web/demo/demo.js).

import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { freePort, startNode, startRedis } from '../integration/lib/redis.mjs';
import { sleep, srcDir, waitFor } from '../integration/lib/server.mjs';

export { sleep, srcDir, waitFor };

export const OUT_DIR = path.join(srcDir, 'tests', 'e2e', 'out');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Where an avatar must stand (floor coordinates in #space, see web/demo/demo.js). */
export const SPOTS = {
    far: { x: 300, y: 600 }, // out of range of both objects
    notes: { x: 240, y: 400 }, // in range of the notes board only
    chat: { x: 560, y: 370 }, // in range of the chat only
    both: { x: 520, y: 300 }, // in range of both
};

/** The participant keys of the seed document, in objcast's order. */
export const PARTICIPANT_KEYS = ['id', 'name', 'objectId', 'objectType', 'avatarUrl', 'workspaceId', 'language',
    'status', 'isHost', 'isSelf', 'isVisitor', 'email'];

// ---------------------------------------------------------------------------------------
// Servers

/*
 * Starts Redis and one objcastd (engine redis) with the demo on a second port, serving the
 * repository's web/. Returns {redis, server, port, demoPort, hostOrigin, pluginOrigin,
 * startObjcastd(), killObjcastd()}; the objcastd can be killed and started again on the
 * same ports (the pages reconnect to the same URL).
 */
export async function startStack(t, { conf = {} } = {}) {
    const redis = await startRedis({ t });
    const port = await freePort();
    let demoPort = await freePort();
    while (demoPort === port) demoPort = await freePort();
    const stack = {
        redis,
        server: null,
        port,
        demoPort,
        hostOrigin: `http://127.0.0.1:${port}`,
        pluginOrigin: `http://127.0.0.1:${demoPort}`,
        secret: undefined,
        async startObjcastd() {
            const s = await startNode({
                t,
                redis,
                secret: stack.secret,
                conf: {
                    port,
                    demo: 'yes',
                    demo_port: demoPort,
                    static_dir: path.join(srcDir, 'web'),
                    log_level: 'info',
                    ...conf,
                },
            });
            stack.secret = s.secret;
            stack.server = s;
            return s;
        },
        async killObjcastd(signal = 'SIGKILL') {
            await stack.server.stop(signal);
        },
    };
    await stack.startObjcastd();
    return stack;
}

/*
 * An HTTP server of static pages on an origin of its own (127.0.0.1, a free port): pages maps
 * a path to its HTML; anything else is a 404. Every requested URL is kept in requests.
 * Closed at teardown. Resolves {origin, server, requests}.
 */
export async function serveOrigin(t, pages) {
    const requests = [];
    const srv = http.createServer((req, res) => {
        requests.push(req.url);
        const page = pages[req.url.split('?')[0]];
        if (page !== undefined) {
            res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
            res.end(page);
        } else {
            res.writeHead(404);
            res.end();
        }
    });
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => {
        srv.closeAllConnections?.();
        srv.close(() => resolve());
    }));
    return { origin: `http://127.0.0.1:${srv.address().port}`, server: srv, requests };
}

/*
 * A one-page HTTP server on a third origin: GET /evil.html is a page that records every
 * message it receives (window.received) and can post to its parent (window.post(msg)).
 */
export async function startThirdOrigin(t) {
    const page = `<!doctype html><meta charset="utf-8"><title>third origin</title>
<body style="background:#fdd;font:14px sans-serif">a page on a third origin
<script>
window.received = [];
window.addEventListener('message', function (ev) { window.received.push({ origin: ev.origin, data: ev.data }); });
window.post = function (msg) { parent.postMessage(msg, '*'); };
</script></body>`;
    return serveOrigin(t, { '/evil.html': page });
}

// ---------------------------------------------------------------------------------------
// Browser

/* Launches headless Chromium; closed at teardown. */
export async function launchBrowser(t) {
    if (!existsSync(CHROMIUM)) {
        throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM)`);
    }
    const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update',
            '--disable-sync', '--no-first-run'],
    });
    t.after(() => browser.close());
    return browser;
}

/*
 * Opens the demo as `name` in a new context of browser. Options: query (appended to the
 * page's URL), origin (where the page is loaded from, default stack.hostOrigin: e.g. a relay
 * in front of objcastd; the demo's token endpoint builds the WebSocket URL from the Host
 * header, so the page connects there too), beforeGoto(page) (called before the page loads,
 * e.g. to open a DevTools session), viewport ({width, height}, default 1420x720). Resolves a
 * User:
 *   page, context, name, userId, info (the /demo/token answer)
 *   frame(objectId)      the plugin iframe's Frame ("notes" or "chat")
 *   received(objectId)   what that plugin received (the messages, in order)
 *   walk(spot)           clicks the floor at spot ({x, y} or a SPOTS key)
 *   clickTitle(objectId) clicks the object's title (join / leave)
 * Page errors fail the test at the end (pageErrors).
 */
export async function openUser(browser, stack, name,
    { query = '', origin = stack.hostOrigin, beforeGoto, viewport = { width: 1420, height: 720 } } = {}) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
    if (beforeGoto) await beforeGoto(page);
    await page.goto(`${origin}/demo/?name=${encodeURIComponent(name)}${query}`);
    return userOfPage(page, name, { pageErrors });
}

/*
 * The User (see openUser) of a demo page that is loaded or loading, e.g. a window the demo
 * opened itself (the playground's "Second user"). pageErrors: where the page's uncaught
 * errors are being collected (default: from now on).
 */
export async function userOfPage(page, name, { pageErrors } = {}) {
    if (!pageErrors) {
        pageErrors = [];
        page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
    }
    const context = page.context();
    await page.waitForFunction(() => window.demo && window.demo.client && window.demo.client.state === 'open',
        null, { timeout: 10000 });
    const info = await page.evaluate(() => window.demo.user);
    const u = {
        name,
        page,
        context,
        info,
        userId: info.userId,
        pageErrors,
        frame(objectId) {
            const f = page.frame({ name: `plugin-${objectId}` });
            assert.ok(f, `${name}: the ${objectId} plugin frame exists`);
            return f;
        },
        async received(objectId) {
            return (await u.frame(objectId).evaluate(() => window.received || [])).map((r) => r.data);
        },
        async receivedWithOrigin(objectId) {
            return u.frame(objectId).evaluate(() => window.received || []);
        },
        async walk(spot) {
            const p = typeof spot === 'string' ? SPOTS[spot] : spot;
            await page.click('#space', { position: p });
            await waitFor(async () => {
                const pos = await page.evaluate(() => window.demo.pos);
                return pos.x === p.x && pos.y === p.y;
            }, 3000, `${name}'s avatar at ${p.x},${p.y}`);
        },
        async clickTitle(objectId) {
            await page.click(`#object-${objectId} .title`);
        },
        /* Posts msg from inside the plugin iframe to the host, as a plugin does. */
        async pluginPost(objectId, msg) {
            await u.frame(objectId).evaluate((m) => parent.postMessage(m, '*'), msg);
        },
    };
    // Every plugin frame has loaded its script.
    for (const id of ['notes', 'chat']) {
        await waitFor(async () => {
            const f = page.frame({ name: `plugin-${id}` });
            return f && await f.evaluate(() => Array.isArray(window.received)).catch(() => false);
        }, 10000, `${name}'s ${id} plugin to load`);
    }
    return u;
}

/*
 * Waits until the plugin objectId of user has received a message matching pred (called with
 * the message and its index); returns it. Only messages at index >= from count.
 */
export async function waitReceived(user, objectId, pred, what, { timeoutMs = 8000, from = 0 } = {}) {
    let seen = [];
    try {
        return await waitFor(async () => {
            seen = await user.received(objectId);
            for (let i = from; i < seen.length; i++) if (pred(seen[i], i)) return seen[i];
            return null;
        }, timeoutMs, `${user.name}'s ${objectId} plugin to receive ${what}`, 50);
    } catch (e) {
        e.message += `\n${user.name}'s ${objectId} plugin received:\n${seen.map((m) => JSON.stringify(m)).join('\n')}`;
        throw e;
    }
}

/* How many messages the plugin has received so far (to wait for newer ones only). */
export async function receivedCount(user, objectId) {
    return (await user.received(objectId)).length;
}

/* Saves a screenshot of the user's page as tests/e2e/out/<file>. */
export async function screenshot(user, file) {
    mkdirSync(OUT_DIR, { recursive: true });
    const p = path.join(OUT_DIR, file);
    await user.page.screenshot({ path: p });
    return p;
}

// ---------------------------------------------------------------------------------------
// Seed shapes

/* Asserts that a message has exactly the seed's top-level shape plus objcast's harmless extras. */
export function assertEnvelope(m, type, objectId, extras = []) {
    assert.equal(m.type, type);
    assert.equal(m.objectId, objectId, `${type}: top-level objectId`);
    const allowed = ['type', 'objectId', 'payload', ...extras];
    for (const k of Object.keys(m)) assert.ok(allowed.includes(k), `${type}: unexpected top-level key ${k}`);
    assert.ok('payload' in m, `${type} has a payload`);
}

/*
 * Asserts that p is a participant as the seed defines it: the seed's keys only, the required
 * ones present with the right types, and the given values.
 */
export function assertParticipant(p, expect, { list = false } = {}) {
    const keys = Object.keys(p);
    for (const k of keys) assert.ok(PARTICIPANT_KEYS.includes(k), `participant key ${k} is the seed's`);
    for (const k of ['id', 'name', 'objectId', 'objectType', 'avatarUrl', 'workspaceId', 'isHost', 'isSelf', 'isVisitor']) {
        assert.ok(k in p, `participant has ${k}: ${JSON.stringify(p)}`);
    }
    for (const k of ['isHost', 'isSelf', 'isVisitor']) assert.equal(typeof p[k], 'boolean', `${k} is a boolean`);
    assert.ok(['static', 'dynamic'].includes(p.objectType));
    if (list) assert.ok(['subscribed', 'joined', 'left'].includes(p.status), `status in a list: ${p.status}`);
    else assert.ok(!('status' in p), 'presence events carry no status');
    for (const [k, v] of Object.entries(expect)) assert.deepStrictEqual(p[k], v, `participant ${k}`);
}

/*
 * Asserts that m carries its place in the object's order (protocol section 10: top-level
 * integer offset and string epoch on ovice_message, ovice_shared_data and the own presence
 * event that answers a subscribe, join or leave; recovered, a boolean, on that event after a
 * resume)
 * and returns m without those fields: the seed's shape plus objcast's other extras.
 */
export function positionless(m) {
    const { offset, epoch, recovered, ...rest } = m;
    assert.ok(Number.isInteger(offset) && offset >= 0, `${m.type}: offset is an integer >= 0 (${JSON.stringify(m)})`);
    assert.equal(typeof epoch, 'string', `${m.type}: epoch is a string`);
    if ('recovered' in m) assert.equal(typeof recovered, 'boolean', `${m.type}: recovered is a boolean`);
    return rest;
}

/* Fails when a page threw. */
export function assertNoPageErrors(...users) {
    const errs = users.flatMap((u) => u.pageErrors);
    assert.deepStrictEqual(errs, [], 'no uncaught errors in the pages');
}
