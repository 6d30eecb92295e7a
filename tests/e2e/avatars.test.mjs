// Everyone's avatar in everyone's window: the demo host pages share positions over a hidden
// static object ("space") with the bridge's host API, no plugin and no server support.
// Two (then three) users in separate browser contexts: each page draws the others at the
// positions they walked to (by click and by keyboard), a newcomer sees who is already there,
// a page that closes disappears from the others, and a page whose connection dropped comes
// back in the others' windows and forgets who left meanwhile.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertNoPageErrors, launchBrowser, openUser, screenshot, sleep, startStack, waitFor } from './lib.mjs';

/* What viewer's page shows of subject's avatar: {x, y, title, initial, label, color}, or null. */
async function avatarOf(viewer, subject) {
    return viewer.page.evaluate((id) => {
        const el = document.querySelector(`#space .avatar.other[data-user-id="${CSS.escape(id)}"]`);
        if (!el) return null;
        return {
            x: Number(el.dataset.x),
            y: Number(el.dataset.y),
            title: el.title,
            initial: el.querySelector('.initial').textContent,
            label: el.querySelector('.label').textContent,
            color: getComputedStyle(el).backgroundColor,
            count: document.querySelectorAll(`#space [data-user-id="${CSS.escape(id)}"]`).length,
        };
    }, subject.userId);
}

/* Waits until viewer shows subject's avatar at subject's own position (or at `at`). */
async function waitAvatarAt(viewer, subject, at = null, timeoutMs = 2500) {
    const want = at || await subject.page.evaluate(() => window.demo.pos);
    let last = null;
    try {
        await waitFor(async () => {
            last = await avatarOf(viewer, subject);
            return last && last.x === want.x && last.y === want.y;
        }, timeoutMs, `${viewer.name}'s page to show ${subject.name} at ${want.x},${want.y}`, 50);
    } catch (e) {
        e.message += ` (shows ${JSON.stringify(last)})`;
        throw e;
    }
    return last;
}

async function waitAvatarGone(viewer, subject, timeoutMs = 5000) {
    await waitFor(async () => (await avatarOf(viewer, subject)) === null, timeoutMs,
        `${viewer.name}'s page to remove ${subject.name}'s avatar`, 50);
}

async function press(user, key, times) {
    await user.page.focus('#space');
    for (let i = 0; i < times; i++) await user.page.keyboard.press(key);
}

test('each demo window shows the other users\' avatars where they stand', async (t) => {
    const stack = await startStack(t);
    const browser = await launchBrowser(t);
    const alice = await openUser(browser, stack, 'Alice', { query: '&host=1' });
    const bob = await openUser(browser, stack, 'Bob');

    // --- both start at the same spot and see each other there --------------------------------
    let a = await waitAvatarAt(bob, alice);
    assert.equal(a.title, 'Alice', 'the name as tooltip');
    assert.equal(a.initial, 'A');
    assert.equal(a.label, 'Alice');
    assert.equal(a.count, 1, 'one avatar per user');
    let b = await waitAvatarAt(alice, bob);
    assert.equal(b.title, 'Bob');
    assert.equal(b.initial, 'B');
    const ownColor = await alice.page.evaluate(() => getComputedStyle(document.querySelector('#avatar')).backgroundColor);
    assert.notEqual(b.color, ownColor, 'another user has another color than one\'s own avatar');
    // the own avatar is not drawn twice, and no panel for the hidden object
    for (const u of [alice, bob]) {
        assert.equal(await u.page.locator('#space .avatar.other').count(), 1, `${u.name}: one other avatar`);
        assert.equal(await u.page.locator('#panel-space').count(), 0, `${u.name}: no panel for the hidden object`);
    }

    // --- walking by click ----------------------------------------------------------------------
    await alice.walk('notes');
    await waitAvatarAt(bob, alice);
    await bob.walk('chat');
    await waitAvatarAt(alice, bob);

    // --- walking by keyboard: quick steps, the last position arrives ---------------------------
    await press(alice, 'ArrowRight', 5);
    await press(alice, 'ArrowUp', 2);
    const alicePos = await alice.page.evaluate(() => window.demo.pos);
    assert.deepStrictEqual(alicePos, { x: 240 + 5 * 20, y: 400 - 2 * 20 });
    await waitAvatarAt(bob, alice, alicePos, 2000);
    await press(bob, 'ArrowDown', 3);
    await waitAvatarAt(alice, bob, { x: 560, y: 430 }, 2000);
    // throttled: seven key presses did not make seven broadcasts
    const moves = await bob.page.evaluate((id) => window.demo.log.filter((m) => m.objectId === 'space' &&
        m.type === 'ovice_message' && m.payload.source === id).length, alice.userId);
    assert.ok(moves >= 1 && moves <= 12, `Bob received ${moves} position messages from Alice`);

    // --- a newcomer sees everyone where they stand, and everyone sees the newcomer ------------
    const carol = await openUser(browser, stack, 'Carol');
    await waitAvatarAt(carol, alice, alicePos);
    await waitAvatarAt(carol, bob, { x: 560, y: 430 });
    await carol.walk({ x: 800, y: 590 });
    await waitAvatarAt(alice, carol);
    await waitAvatarAt(bob, carol);
    // the plugins' participant panels are unchanged: only who is in range of the object
    await alice.page.waitForSelector(`#panel-notes li[data-id="${alice.userId}"]`);
    assert.equal(await alice.page.locator(`#panel-notes li[data-id="${carol.userId}"]`).count(), 0);

    // --- closing a page removes its avatar from the others -------------------------------------
    await carol.page.close();
    await waitAvatarGone(alice, carol);
    await waitAvatarGone(bob, carol);

    // --- Bob's connection drops: he vanishes from Alice's window and comes back ----------------
    const dave = await openUser(browser, stack, 'Dave');
    await waitAvatarAt(bob, dave);
    // Offline keeps the bridge from reconnecting; offline emulation leaves an open WebSocket
    // alone, so drop that one by hand (as a network failure would).
    await bob.context.setOffline(true);
    await bob.page.evaluate(() => window.demo.client._ws.close(4000, 'test: network lost'));
    await waitFor(() => bob.page.evaluate(() => window.demo.client.state === 'reconnecting'), 3000, 'Bob to be reconnecting');
    await waitAvatarGone(alice, bob);
    await dave.page.close(); // leaves while Bob cannot hear it
    await waitAvatarGone(alice, dave);
    await sleep(300);
    assert.notEqual(await bob.page.evaluate(() => window.demo.client.state), 'open', 'Bob is still offline');
    assert.ok(await avatarOf(bob, dave), 'Bob did not hear Dave leave');
    await bob.context.setOffline(false);
    await waitFor(() => bob.page.evaluate(() => window.demo.client.state === 'open'), 10000, 'Bob to reconnect');
    await waitAvatarAt(alice, bob, null, 5000);
    await waitAvatarAt(bob, alice, null, 5000);
    await waitAvatarGone(bob, dave, 5000);

    // --- still live after the reconnection ------------------------------------------------------
    await bob.walk({ x: 520, y: 560 });
    await waitAvatarAt(alice, bob);
    await alice.walk('both');
    await waitAvatarAt(bob, alice);

    await sleep(300); // let the avatar transitions finish
    console.log(await screenshot(alice, 'avatars-alice.png'));
    console.log(await screenshot(bob, 'avatars-bob.png'));
    assertNoPageErrors(alice, bob);
});
