// Every seed event reaches the plugin iframe exactly as the seed document shows it, read
// from inside the cross-origin plugin iframes of two users (two browser contexts) walking
// around the demo space: presence (subscribed, joined, left, unsubscribed), participants
// with isSelf per user, broadcast, emit with `to`, saved data, shared data, saved success
// with updated_at. Screenshots of both windows (each showing both avatars) go to
// tests/e2e/out/.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
    assertEnvelope, assertNoPageErrors, assertParticipant, launchBrowser, openUser, positionless, receivedCount,
    screenshot, sleep, startStack, waitReceived,
} from './lib.mjs';

const presence = (state, who) => (m) => m.type === `ovice_participant_${state}` && m.payload.id === who.userId;

test('seed events reach the plugin iframes exactly as the seed shows, for two users', async (t) => {
    const stack = await startStack(t);
    const browser = await launchBrowser(t);
    // Alice owns the dynamic chat object (an object token with host: true).
    const alice = await openUser(browser, stack, 'Alice', { query: '&host=1' });
    const bob = await openUser(browser, stack, 'Bob');
    const hostOrigin = stack.hostOrigin;
    const person = (u) => ({ id: u.userId, name: u.name, avatarUrl: '', workspaceId: 1, language: 'en', isVisitor: false });

    // --- subscribed: Alice, then Bob, walk up to the chat -----------------------------------
    await alice.walk('chat');
    let m = await waitReceived(alice, 'chat', presence('subscribed', alice), 'her own subscribed');
    assertEnvelope(positionless(m), 'ovice_participant_subscribed', 'chat');
    assertParticipant(m.payload, { ...person(alice), objectId: 'chat', objectType: 'dynamic', isHost: true, isSelf: true });
    assert.deepStrictEqual(Object.keys(m.payload),
        ['id', 'name', 'objectId', 'objectType', 'avatarUrl', 'workspaceId', 'language', 'isHost', 'isSelf', 'isVisitor'],
        'the seed keys, in objcast order (no email: the demo tokens have none)');

    await bob.walk('chat');
    m = await waitReceived(bob, 'chat', presence('subscribed', bob), 'his own subscribed');
    assertEnvelope(positionless(m), 'ovice_participant_subscribed', 'chat');
    assertParticipant(m.payload, { ...person(bob), objectId: 'chat', objectType: 'dynamic', isHost: false, isSelf: true });
    m = await waitReceived(alice, 'chat', presence('subscribed', bob), 'Bob subscribed');
    assertParticipant(m.payload, { ...person(bob), objectId: 'chat', objectType: 'dynamic', isHost: false, isSelf: false });

    // --- participants: each user's plugin asks, isSelf is per user ---------------------------
    for (const u of [alice, bob]) {
        const from = await receivedCount(u, 'chat');
        await u.pluginPost('chat', { type: 'ovice_get_participants' });
        m = await waitReceived(u, 'chat', (x) => x.type === 'ovice_participants', 'the participants', { from });
        assertEnvelope(m, 'ovice_participants', 'chat');
        assert.equal(m.payload.length, 2, `${u.name}: two participants`);
        const byId = Object.fromEntries(m.payload.map((p) => [p.id, p]));
        assertParticipant(byId[alice.userId], { ...person(alice), objectId: 'chat', objectType: 'dynamic', status: 'subscribed',
            isHost: true, isSelf: u === alice }, { list: true });
        assertParticipant(byId[bob.userId], { ...person(bob), objectId: 'chat', objectType: 'dynamic', status: 'subscribed',
            isHost: false, isSelf: u === bob }, { list: true });
    }

    // --- joined: Alice clicks the chat --------------------------------------------------------
    await alice.clickTitle('chat');
    m = await waitReceived(alice, 'chat', presence('joined', alice), 'her own joined');
    assertEnvelope(positionless(m), 'ovice_participant_joined', 'chat');
    assertParticipant(m.payload, { ...person(alice), objectId: 'chat', objectType: 'dynamic', isHost: true, isSelf: true });
    m = await waitReceived(bob, 'chat', presence('joined', alice), 'Alice joined');
    assertParticipant(m.payload, { ...person(alice), objectId: 'chat', objectType: 'dynamic', isHost: true, isSelf: false });
    // the host page's panel shows it too
    await bob.page.waitForSelector(`#panel-chat li[data-id="${alice.userId}"][data-status="joined"]`);

    // --- broadcast: Bob types a chat line, Alice clicks a reaction ---------------------------
    const bobSentFrom = await receivedCount(bob, 'chat');
    await bob.frame('chat').fill('#msg', 'hello from Bob');
    await bob.frame('chat').click('#send');
    m = await waitReceived(alice, 'chat', (x) => x.type === 'ovice_message' && x.payload.event === 'chat', 'the chat line');
    assert.deepStrictEqual(positionless(m), {
        type: 'ovice_message',
        objectId: 'chat',
        payload: { source: bob.userId, event: 'chat', objectId: 'chat', message: { text: 'hello from Bob', name: 'Bob' } },
    }, 'ovice_message as the seed shows it: source is the sender, objectId the object');
    await alice.frame('chat').click('.react[data-emoji="★"]');
    m = await waitReceived(bob, 'chat', (x) => x.type === 'ovice_message' && x.payload.event === 'reaction', 'the reaction');
    assert.deepStrictEqual(positionless(m), {
        type: 'ovice_message',
        objectId: 'chat',
        payload: { source: alice.userId, event: 'reaction', objectId: 'chat', message: '★' },
    });

    // --- emit with `to`: Bob pokes Alice -----------------------------------------------------
    await bob.frame('chat').click(`.poke[data-id="${alice.userId}"]`);
    m = await waitReceived(alice, 'chat', (x) => x.type === 'ovice_message' && x.payload.event === 'poke', 'the poke');
    assert.deepStrictEqual(positionless(m), {
        type: 'ovice_message',
        objectId: 'chat',
        payload: { source: bob.userId, event: 'poke', objectId: 'chat', message: { name: 'Bob' }, to: alice.userId },
    }, 'ovice_message of an emit carries `to`');
    await alice.frame('chat').waitForSelector('#poked:has-text("Bob poked you!")');
    // Bob's own broadcast and poke did not come back to him
    const bobGot = (await bob.received('chat')).slice(bobSentFrom);
    assert.deepStrictEqual(bobGot.filter((x) => x.type === 'ovice_message').map((x) => x.payload.event), ['reaction'],
        'Bob received only Alice\'s reaction');

    // --- unsubscribed: Alice walks from the chat to the notes board --------------------------
    await alice.walk('notes');
    m = await waitReceived(alice, 'chat', presence('unsubscribed', alice), 'her own unsubscribed');
    assertEnvelope(m, 'ovice_participant_unsubscribed', 'chat');
    assertParticipant(m.payload, { ...person(alice), objectId: 'chat', objectType: 'dynamic', isHost: true, isSelf: true });
    m = await waitReceived(bob, 'chat', presence('unsubscribed', alice), 'Alice unsubscribed');
    assertParticipant(m.payload, { ...person(alice), objectId: 'chat', objectType: 'dynamic', isHost: true, isSelf: false });

    // --- saved data: the board is empty at first ---------------------------------------------
    m = await waitReceived(alice, 'notes', presence('subscribed', alice), 'her own subscribed on the notes');
    assertParticipant(m.payload, { ...person(alice), objectId: 'notes', objectType: 'static', isHost: false, isSelf: true });
    m = await waitReceived(alice, 'notes', (x) => x.type === 'ovice_saved_data', 'the saved data');
    assertEnvelope(m, 'ovice_saved_data', 'notes', ['version']);
    assert.deepStrictEqual(m.payload, {}, 'an object never saved has {}');
    assert.equal(m.version, 0);

    // --- saved success with updated_at: Alice joins and adds a note --------------------------
    await alice.clickTitle('notes');
    await waitReceived(alice, 'notes', presence('joined', alice), 'her own joined on the notes');
    await alice.frame('notes').fill('#text', 'Buy milk');
    const before = Math.floor(Date.now() / 1000);
    await alice.frame('notes').click('#add');
    m = await waitReceived(alice, 'notes', (x) => x.type === 'ovice_data_saved_success', 'saved success');
    assertEnvelope(m, 'ovice_data_saved_success', 'notes', ['version']);
    assert.equal(m.version, 1);
    const { updated_at: updatedAt, ...aliceBoard } = m.payload;
    assert.equal(typeof updatedAt, 'number', 'updated_at is a number');
    assert.ok(Number.isInteger(updatedAt) && updatedAt >= before - 1 && updatedAt <= Math.ceil(Date.now() / 1000) + 1,
        `updated_at is the save time in unix seconds (${updatedAt})`);
    const aliceNotes = Object.values(aliceBoard);
    assert.equal(aliceNotes.length, 1);
    assert.equal(aliceNotes[0].text, 'Buy milk');
    assert.equal(aliceNotes[0].by, 'Alice');
    const sent = await alice.frame('notes').evaluate(() => window.sent.filter((x) => x.type === 'ovice_save_and_emit_data'));
    assert.deepStrictEqual(m.payload, { ...sent[0].payload, updated_at: updatedAt }, 'the stored payload plus updated_at');

    // --- Bob comes to the notes: saved data, then shared data from his save ------------------
    await bob.walk('notes');
    await waitReceived(bob, 'chat', presence('unsubscribed', bob), 'his own unsubscribed on the chat');
    m = await waitReceived(alice, 'notes', presence('subscribed', bob), 'Bob subscribed to the notes');
    assertParticipant(m.payload, { ...person(bob), objectId: 'notes', objectType: 'static', isHost: false, isSelf: false });
    m = await waitReceived(bob, 'notes', (x) => x.type === 'ovice_saved_data', 'the saved data');
    assert.deepStrictEqual(m, { type: 'ovice_saved_data', objectId: 'notes', version: 1, payload: aliceBoard });
    await bob.clickTitle('notes');
    await waitReceived(alice, 'notes', presence('joined', bob), 'Bob joined the notes');
    await bob.frame('notes').fill('#text', 'Call Carol');
    await bob.frame('notes').click('label:nth-child(3)'); // the blue note
    await bob.frame('notes').click('#add');
    m = await waitReceived(alice, 'notes', (x) => x.type === 'ovice_shared_data', 'the shared data');
    assertEnvelope(positionless(m), 'ovice_shared_data', 'notes', ['version']);
    assert.equal(m.version, 2);
    assert.ok(!('updated_at' in m.payload), 'shared data has no updated_at');
    assert.deepStrictEqual(Object.values(m.payload).map((n) => n.text).sort(), ['Buy milk', 'Call Carol']);
    const bobSaved = await waitReceived(bob, 'notes', (x) => x.type === 'ovice_data_saved_success', 'his saved success');
    const { updated_at: bobUpdatedAt, ...bobBoard } = bobSaved.payload;
    assert.equal(typeof bobUpdatedAt, 'number');
    assert.deepStrictEqual(m.payload, bobBoard, 'everyone sees the stored board');
    await alice.frame('notes').waitForSelector('.note:has-text("Call Carol")');

    // --- left: Alice clicks the notes again ---------------------------------------------------
    await alice.clickTitle('notes');
    m = await waitReceived(alice, 'notes', presence('left', alice), 'her own left');
    assertEnvelope(positionless(m), 'ovice_participant_left', 'notes');
    assertParticipant(m.payload, { ...person(alice), objectId: 'notes', objectType: 'static', isHost: false, isSelf: true });
    m = await waitReceived(bob, 'notes', presence('left', alice), 'Alice left');
    assertParticipant(m.payload, { ...person(alice), objectId: 'notes', objectType: 'static', isHost: false, isSelf: false });
    const from = await receivedCount(bob, 'notes');
    await bob.pluginPost('notes', { type: 'ovice_get_participants' });
    m = await waitReceived(bob, 'notes', (x) => x.type === 'ovice_participants', 'the participants', { from });
    assert.deepStrictEqual(m.payload.map((p) => [p.id, p.status, p.isSelf]).sort(),
        [[alice.userId, 'left', false], [bob.userId, 'joined', true]].sort(), 'statuses left and joined');
    await bob.page.waitForSelector(`#panel-notes li[data-id="${alice.userId}"][data-status="left"]`);

    // --- everything came from the host page's origin, nothing unexpected ---------------------
    for (const u of [alice, bob]) {
        for (const id of ['chat', 'notes']) {
            const got = await u.receivedWithOrigin(id);
            for (const r of got) {
                assert.equal(r.origin, hostOrigin, `${u.name}/${id}: posted by the host page`);
                assert.ok(r.data.type.startsWith('ovice_') || r.data.type === 'objcast_error', r.data.type);
                if (r.data.type === 'objcast_error') {
                    // only the answer to the first ovice_get_participants, before walking up
                    assert.equal(r.data.payload.code, 'not_subscribed', JSON.stringify(r.data));
                }
            }
        }
    }
    // the keyboard walks too: Bob steps right four times (still by the notes), and Alice's
    // window shows his avatar there (tests/e2e/avatars.test.mjs has the details)
    await bob.page.focus('#space');
    const p0 = await bob.page.evaluate(() => window.demo.pos);
    for (let i = 0; i < 4; i++) await bob.page.keyboard.press('ArrowRight');
    const p1 = { x: p0.x + 80, y: p0.y };
    assert.deepStrictEqual(await bob.page.evaluate(() => window.demo.pos), p1);
    await alice.page.waitForFunction(({ id, x, y }) => {
        const el = document.querySelector(`#space .avatar.other[data-user-id="${id}"]`);
        return el && Number(el.dataset.x) === x && Number(el.dataset.y) === y;
    }, { id: bob.userId, ...p1 }, { timeout: 3000 });
    await bob.page.waitForSelector(`#space .avatar.other[data-user-id="${alice.userId}"]`, { timeout: 3000 });

    await sleep(300); // let the avatar transition finish
    await screenshot(alice, 'events-alice.png');
    await screenshot(bob, 'events-bob.png');
    assertNoPageErrors(alice, bob);
});
