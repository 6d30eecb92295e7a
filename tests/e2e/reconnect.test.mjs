// Outages under a live page: Redis lost while objcastd runs (the server answers unavailable,
// the bridge retries), objcastd killed and restarted (the bridge reconnects, authenticates
// again, restores presence, sends what the plugins queued), and objcastd restarted while
// Redis is still down. The plugins never reload and never see an error; presence and saved
// data come back.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
    assertNoPageErrors, launchBrowser, openUser, positionless, receivedCount, screenshot, sleep, startStack, waitFor,
    waitReceived,
} from './lib.mjs';

const chatLine = (text) => (m) => m.type === 'ovice_message' && m.payload.event === 'chat' && m.payload.message.text === text;

async function say(user, text) {
    await user.frame('chat').fill('#msg', text);
    await user.frame('chat').click('#send');
}

async function addNote(user, text) {
    await user.frame('notes').fill('#text', text);
    await user.frame('notes').click('#add');
}

/* The participants Bob's chat plugin gets when it asks: [[id, status, isSelf]], sorted. */
async function participantsSeenBy(user, objectId) {
    const from = await receivedCount(user, objectId);
    await user.pluginPost(objectId, { type: 'ovice_get_participants' });
    const m = await waitReceived(user, objectId, (x) => x.type === 'ovice_participants', 'the participants', { from, timeoutMs: 10000 });
    return m.payload.map((p) => [p.id, p.status, p.isSelf]).sort();
}

async function waitState(user, state, timeoutMs = 10000) {
    await waitFor(() => user.page.evaluate((s) => window.demo.client.state === s, state), timeoutMs,
        `${user.name}'s connection to be ${state}`);
}

test('Redis lost, objcastd killed, objcastd restarted before Redis: the plugins keep working without a reload', async (t) => {
    const stack = await startStack(t);
    const browser = await launchBrowser(t);
    const alice = await openUser(browser, stack, 'Alice', { query: '&host=1' });
    const bob = await openUser(browser, stack, 'Bob');
    const users = [alice, bob];

    // Both stand by both objects; Alice joins both, Bob joins the notes.
    await alice.walk('both');
    await bob.walk('both');
    await waitReceived(alice, 'chat', (m) => m.type === 'ovice_participant_subscribed' && m.payload.id === bob.userId, 'Bob');
    await alice.clickTitle('chat');
    await alice.clickTitle('notes');
    await bob.clickTitle('notes');
    await waitReceived(alice, 'notes', (m) => m.type === 'ovice_participant_joined' && m.payload.id === bob.userId, 'Bob joined');
    await waitReceived(bob, 'chat', (m) => m.type === 'ovice_participant_joined' && m.payload.id === alice.userId, 'Alice joined');
    await addNote(alice, 'before the outages');
    await waitReceived(bob, 'notes', (m) => m.type === 'ovice_shared_data', 'the first note');
    const expected = [[alice.userId, 'joined', false], [bob.userId, 'subscribed', true]].sort();
    assert.deepStrictEqual(await participantsSeenBy(bob, 'chat'), expected);

    // Marks that a reload would wipe out.
    for (const u of users) {
        await u.page.evaluate(() => {
            window.__mark = 'no reload';
        });
        for (const id of ['chat', 'notes']) await u.frame(id).evaluate(() => {
            window.__mark = 'no reload';
        });
    }

    // --- 1. Redis lost under a running objcastd: unavailable, retried -----------------------
    await sleep(1100); // appendfsync everysec
    await stack.redis.stop('SIGTERM');
    let aliceFrom = await receivedCount(alice, 'chat');
    await say(bob, 'while Redis is down');
    await addNote(alice, 'saved while Redis is down');
    await waitFor(() => bob.page.evaluate(() => window.demo.errors.some((e) => e.code === 'unavailable' && e.retrying)),
        5000, 'Bob\'s bridge to be told unavailable (and retry)');
    await sleep(1000);
    await stack.redis.start();
    await waitReceived(alice, 'chat', chatLine('while Redis is down'), 'the line sent while Redis was down',
        { from: aliceFrom, timeoutMs: 15000 });
    let saved = await waitReceived(alice, 'notes', (m) => m.type === 'ovice_data_saved_success' &&
        Object.values(m.payload).some((n) => n.text === 'saved while Redis is down'), 'the save', { timeoutMs: 15000 });
    assert.equal(saved.version, 2);
    await waitReceived(bob, 'notes', (m) => m.type === 'ovice_shared_data' && m.version === 2, 'the second note');

    // --- 2. objcastd killed and restarted: reconnect, re-authenticate, restore presence ------
    await stack.killObjcastd('SIGKILL');
    for (const u of users) await waitState(u, 'reconnecting', 5000);
    aliceFrom = await receivedCount(alice, 'chat');
    const aliceNotesFrom = await receivedCount(alice, 'notes');
    await say(bob, 'while objcastd is down'); // queued in Bob's bridge
    // Keep Bob off the network until Alice is back, so his queued line reaches her live (what
    // a page missed while away comes back by recovery: recovery.test.mjs).
    await bob.context.setOffline(true);
    await sleep(500);
    await stack.startObjcastd();
    await waitState(alice, 'open');
    // the restored presence tells each iframe where it stands again
    const own = await waitReceived(alice, 'chat', (m) => m.type === 'ovice_participant_joined' && m.payload.isSelf,
        'her own joined again', { from: aliceFrom });
    assert.deepStrictEqual(Object.keys(positionless(own)), ['type', 'objectId', 'payload']);
    assert.equal(typeof own.recovered, 'boolean', 'the bridge resumed the object (since)');
    await waitReceived(alice, 'notes', (m) => m.type === 'ovice_participant_joined' && m.payload.isSelf,
        'her own joined on the notes again', { from: aliceNotesFrom });
    assert.notEqual(await bob.page.evaluate(() => window.demo.client.state), 'open', 'Bob is still offline');
    await bob.context.setOffline(false);
    await waitState(bob, 'open');
    await waitReceived(alice, 'chat', chatLine('while objcastd is down'), 'the queued line', { from: aliceFrom });
    await waitFor(async () => JSON.stringify(await participantsSeenBy(bob, 'chat')) === JSON.stringify(expected),
        10000, 'presence to be back');
    // messages flow both ways again
    const bobFrom = await receivedCount(bob, 'chat');
    await say(alice, 'after the restart');
    await waitReceived(bob, 'chat', chatLine('after the restart'), 'Alice\'s line', { from: bobFrom });

    // --- 3. objcastd restarted while Redis is down -------------------------------------------
    await sleep(1100);
    const errorsBefore = await alice.page.evaluate(() => window.demo.errors.length);
    const bobNotesFrom = await receivedCount(bob, 'notes');
    aliceFrom = await receivedCount(alice, 'chat');
    // Bob stays off the network until Alice is back on the object (see above).
    await bob.context.setOffline(true);
    await stack.redis.stop('SIGTERM');
    await stack.killObjcastd('SIGKILL');
    await stack.startObjcastd(); // starts without Redis
    await waitState(alice, 'open'); // authentication needs no Redis
    await waitFor(() => alice.page.evaluate((n) => window.demo.errors.slice(n)
        .some((e) => e.code === 'unavailable' && e.retrying && e.request === 'objcast_join'), errorsBefore),
    5000, 'Alice\'s presence commands to be answered unavailable');
    await say(bob, 'while everything is down'); // queued in Bob's bridge
    await sleep(1500);
    await stack.redis.start();
    await waitReceived(alice, 'chat', (m) => m.type === 'ovice_participant_joined' && m.payload.isSelf,
        'her own joined after Redis came back', { from: aliceFrom, timeoutMs: 15000 });
    await bob.context.setOffline(false);
    await waitReceived(alice, 'chat', chatLine('while everything is down'), 'the line sent while everything was down',
        { from: aliceFrom, timeoutMs: 15000 });
    await waitFor(async () => JSON.stringify(await participantsSeenBy(bob, 'chat')) === JSON.stringify(expected),
        10000, 'presence on the chat to be back again');
    const notesExpected = [[alice.userId, 'joined', true], [bob.userId, 'joined', false]].sort();
    await waitFor(async () => JSON.stringify(await participantsSeenBy(alice, 'notes')) === JSON.stringify(notesExpected),
        10000, 'presence on the notes to be back again');
    // the saved board survived every restart
    const board = await waitReceived(bob, 'notes', (m) => m.type === 'ovice_saved_data' && m.version === 2,
        'the board read again after the restart', { from: bobNotesFrom, timeoutMs: 10000 });
    assert.deepStrictEqual(Object.values(board.payload).map((n) => n.text).sort(),
        ['before the outages', 'saved while Redis is down']);
    await bob.frame('notes').waitForSelector('.note:has-text("saved while Redis is down")');

    // --- no reload, no error shown to the plugins --------------------------------------------
    for (const u of users) {
        assert.equal(await u.page.evaluate(() => window.__mark), 'no reload', `${u.name}: the page was not reloaded`);
        for (const id of ['chat', 'notes']) {
            assert.equal(await u.frame(id).evaluate(() => window.__mark), 'no reload', `${u.name}/${id}: not reloaded`);
            const errs = (await u.received(id)).filter((m) => m.type === 'objcast_error' && m.payload.code !== 'not_subscribed');
            assert.deepStrictEqual(errs, [], `${u.name}/${id}: no error reached the plugin`);
        }
        const states = await u.page.evaluate(() => window.demo.states);
        assert.ok(states.filter((s) => s === 'open').length >= 3, `${u.name}: reconnected twice (${states.join(',')})`);
    }
    // each window shows the other's avatar again; Bob steps up (still in range of both
    // objects) so that the screenshots show both avatars apart
    await bob.page.focus('#space');
    for (let i = 0; i < 3; i++) await bob.page.keyboard.press('ArrowUp');
    const avatarAt = (viewer, who, pos) => waitFor(() => viewer.page.evaluate(({ id, x, y }) => {
        const el = document.querySelector(`#space .avatar.other[data-user-id="${id}"]`);
        return !!el && Number(el.dataset.x) === x && Number(el.dataset.y) === y;
    }, { id: who.userId, ...pos }), 5000, `${viewer.name}'s window to show ${who.name} at ${pos.x},${pos.y}`);
    const posOf = (u) => u.page.evaluate(() => window.demo.pos);
    assert.deepStrictEqual(await posOf(bob), { x: 520, y: 240 });
    await avatarAt(alice, bob, await posOf(bob));
    await avatarAt(bob, alice, await posOf(alice));
    assert.deepStrictEqual(await bob.page.evaluate(() => [window.demo.objects.notes.state, window.demo.objects.chat.state]),
        ['joined', 'subscribed'], 'Bob is still on both objects');
    await sleep(300);
    await screenshot(alice, 'reconnect-alice.png');
    await screenshot(bob, 'reconnect-bob.png');
    assertNoPageErrors(alice, bob);
});
