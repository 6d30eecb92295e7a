// The demo space as a new user first sees it (issue 16): the tests below keep the surprises of
// a first run away, one or two each.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertNoPageErrors, launchBrowser, openUser, screenshot, startStack, waitFor, waitReceived } from './lib.mjs';

const HD = { width: 1280, height: 720 };

/* The user's log, oldest line first: [{n (the number shown), text, cls}]. */
async function logOf(user) {
    return user.page.evaluate(() => [...document.querySelectorAll('#log li')].reverse().map((li) => ({
        n: li.querySelector('.n')?.textContent, text: li.querySelector('.t')?.textContent, cls: li.className,
    })));
}

/* Asserts that the log has no line about an error and the page recorded none. */
async function assertNoErrorLogged(user, when) {
    const lines = (await logOf(user)).filter((l) => /error/i.test(l.text));
    assert.deepStrictEqual(lines, [], `${user.name} ${when}: no error in the log`);
    assert.deepStrictEqual(await user.page.evaluate(() => window.demo.errors), [], `${user.name} ${when}: no error event`);
}

test('a normal load of two users logs no error, and the log\'s numbers show whole', async (t) => {
    const stack = await startStack(t);
    const browser = await launchBrowser(t);
    const alice = await openUser(browser, stack, 'Alice', { query: '&host=1', viewport: HD });
    const bob = await openUser(browser, stack, 'Bob', { viewport: HD });
    // each page sees the other on the hidden object: the start is over
    for (const [u, other] of [[alice, bob], [bob, alice]]) {
        await u.page.waitForSelector(`#space .avatar.other[data-user-id="${other.userId}"]`, { timeout: 5000 });
    }

    // --- the load: the plugins' first requests come out of range, which is no error ---------
    for (const u of [alice, bob]) {
        await assertNoErrorLogged(u, 'after the load');
        const notYet = await u.page.evaluate(() => window.demo.notYet.map((e) => [e.objectId, e.request, e.fromPlugin]));
        assert.deepStrictEqual(notYet.sort(), [['chat', 'ovice_get_participants', true], ['notes', 'ovice_get_participants', true]],
            `${u.name}: only the plugins' first requests were answered not_subscribed`);
    }

    // --- walking up, joining, chatting and walking off: still none --------------------------
    for (const u of [alice, bob]) await u.walk('both');
    for (const u of [alice, bob]) {
        await waitReceived(u, 'chat', (m) => m.type === 'ovice_participants', 'the participants, once on the chat');
        await waitReceived(u, 'notes', (m) => m.type === 'ovice_saved_data', 'the board, once by the notes');
    }
    await alice.clickTitle('chat');
    await alice.frame('chat').fill('#msg', 'hello');
    await alice.frame('chat').click('#send');
    await waitReceived(bob, 'chat', (m) => m.type === 'ovice_message' && m.payload.event === 'chat', 'Alice\'s line');
    for (let i = 0; i < 3; i++) {
        await bob.walk('far');
        await bob.walk('both');
    }
    await waitReceived(bob, 'chat', (m) => m.type === 'ovice_participants', 'the participants, back on the chat',
        { from: (await bob.received('chat')).findLastIndex((m) => m.type === 'ovice_participant_subscribed' && m.payload.isSelf) });
    for (const u of [alice, bob]) await assertNoErrorLogged(u, 'after walking');

    // --- the numbers: one per line, counting up, each whole inside the log ------------------
    const lines = await logOf(bob);
    assert.ok(lines.length >= 12, `enough lines for two digits (${lines.length})`);
    assert.deepStrictEqual(lines.map((l) => l.n), lines.map((_, i) => String(i + 1)), 'numbered 1, 2, ... from the oldest');
    const cut = await bob.page.evaluate(() => {
        const log = document.querySelector('#log');
        const r = log.getBoundingClientRect();
        const left = r.left + log.clientLeft;
        const right = left + log.clientWidth;
        return [...log.querySelectorAll('li .n')].filter((n) => {
            const b = n.getBoundingClientRect();
            return b.left < left - 0.5 || b.right > right + 0.5 || n.scrollWidth > n.clientWidth;
        }).map((n) => n.textContent);
    });
    assert.deepStrictEqual(cut, [], 'no number is cut');
    await screenshot(bob, 'demo-log-bob.png');
    assertNoPageErrors(alice, bob);
});

/* How far the page reaches beyond the window: {x, y} in px (0: it fits). */
async function overflowOf(user) {
    return user.page.evaluate(() => {
        const d = document.documentElement;
        return { x: d.scrollWidth - d.clientWidth, y: d.scrollHeight - d.clientHeight };
    });
}

test('the page fits the window: exactly 1280x720, and other common sizes', async (t) => {
    const stack = await startStack(t);
    const browser = await launchBrowser(t);
    const alice = await openUser(browser, stack, 'Alice', { query: '&host=1', viewport: HD });
    const bob = await openUser(browser, stack, 'Bob', { viewport: HD });
    assert.deepStrictEqual(await overflowOf(alice), { x: 0, y: 0 }, 'no scrollbar at 1280x720 after the load');
    // by both objects, joined to the chat: the panels list people
    for (const u of [alice, bob]) await u.walk('both');
    await alice.clickTitle('chat');
    await bob.page.waitForSelector(`#panel-chat li[data-id="${alice.userId}"][data-status="joined"]`);
    await alice.page.waitForSelector(`#panel-notes li[data-id="${bob.userId}"]`);
    for (const u of [alice, bob]) {
        // no vertical scrollbar either: where scrollbars take room, one would make the page too wide
        assert.deepStrictEqual(await overflowOf(u), { x: 0, y: 0 }, `${u.name}: no scrollbar at 1280x720`);
    }
    const panel = await alice.page.evaluate(() => {
        const r = document.querySelector('#panel').getBoundingClientRect();
        return { top: r.top, right: r.right };
    });
    assert.ok(panel.right <= HD.width && panel.top < 100, `the panel beside the floor, inside the window (${JSON.stringify(panel)})`);
    await screenshot(alice, 'demo-1280x720-alice.png');

    // 1265: 1280 less a classic scrollbar; 1024: the floor and its margins exactly
    for (const size of [[1265, 720], [1280, 800], [1366, 768], [1440, 900], [1536, 864], [1920, 1080], [1024, 768]]) {
        await alice.page.setViewportSize({ width: size[0], height: size[1] });
        const o = await overflowOf(alice);
        assert.equal(o.x, 0, `no horizontal scrollbar at ${size.join('x')} (${o.x} px too wide)`);
    }
    assertNoPageErrors(alice, bob);
});

/* Whether two DOMRect-like boxes share any area. */
function overlap(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

test('the poke banner covers no chat line', async (t) => {
    const stack = await startStack(t);
    const browser = await launchBrowser(t);
    const alice = await openUser(browser, stack, 'Alice', { query: '&host=1', viewport: HD });
    const bob = await openUser(browser, stack, 'Bob', { viewport: HD });
    await alice.walk('chat');
    await waitReceived(alice, 'chat', (m) => m.type === 'ovice_participants', 'the participants');
    await bob.walk('chat');
    await bob.frame('chat').waitForSelector(`#people .poke[data-id="${alice.userId}"]`);
    await bob.frame('chat').fill('#msg', 'hello Alice');
    await bob.frame('chat').click('#send');
    const chat = alice.frame('chat');
    await chat.waitForSelector('#log li:has-text("hello Alice")');

    await bob.frame('chat').click(`#people .poke[data-id="${alice.userId}"]`);
    await chat.waitForSelector('#poked:has-text("Bob poked you!")', { state: 'visible' });
    const boxes = await chat.evaluate(() => {
        const box = (el) => {
            const r = el.getBoundingClientRect();
            return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, text: el.textContent };
        };
        return { poked: box(document.querySelector('#poked')), log: box(document.querySelector('#log')),
            lines: [...document.querySelectorAll('#log li')].map(box) };
    });
    assert.ok(boxes.lines.length >= 2, `lines in the chat: ${boxes.lines.map((l) => l.text)}`);
    for (const line of boxes.lines) {
        assert.ok(!overlap(boxes.poked, line), `the banner ${JSON.stringify(boxes.poked)} covers no line: ${JSON.stringify(line)}`);
    }
    assert.ok(boxes.lines[0].top >= boxes.log.top, 'the first line is in view');
    await screenshot(alice, 'demo-poked-alice.png');
    assertNoPageErrors(alice, bob);
});

/* What the user's notes board shows: {notes: [text, ...] in board order, removable, readonly, status}. */
async function boardOf(user) {
    return user.frame('notes').evaluate(() => ({
        notes: [...document.querySelectorAll('#board .note .text')].map((e) => e.textContent),
        removable: [...document.querySelectorAll('#board .note button')].filter((b) => b.offsetParent !== null).length,
        readonly: document.body.classList.contains('readonly'),
        status: document.querySelector('#status').textContent,
    }));
}

/* Waits until the user's board satisfies pred; returns it. */
async function waitBoard(user, pred, what, timeoutMs = 8000) {
    let last = null;
    try {
        await waitFor(async () => pred(last = await boardOf(user)), timeoutMs, `${user.name}'s board: ${what}`, 50);
    } catch (e) {
        e.message += ` (shows ${JSON.stringify(last)})`;
        throw e;
    }
    return last;
}

async function addNote(user, text) {
    await user.frame('notes').fill('#text', text);
    await user.frame('notes').click('#add');
}

/* Alice and Bob at 1280x720, Alice joined on the notes object with the board editable. */
async function aliceOnNotes(t) {
    const stack = await startStack(t);
    const browser = await launchBrowser(t);
    const alice = await openUser(browser, stack, 'Alice', { viewport: HD });
    const bob = await openUser(browser, stack, 'Bob', { viewport: HD });
    await alice.walk('notes');
    await alice.clickTitle('notes');
    await waitBoard(alice, (b) => !b.readonly, 'editable once joined');
    return { stack, alice, bob };
}

test('the notes board shows what the user may see: editable joined, read-only in range, nothing away', async (t) => {
    const { alice, bob } = await aliceOnNotes(t);
    await addNote(alice, 'Buy milk');
    await waitBoard(alice, (b) => b.status.startsWith('saved at'), 'the note saved');

    // --- in range, not joined: the notes, read-only, and a hint saying so -------------------
    await bob.walk('notes');
    let b = await waitBoard(bob, (x) => x.notes.length === 1, 'the note, in range');
    assert.deepStrictEqual(b.notes, ['Buy milk']);
    assert.ok(b.readonly, 'read-only');
    assert.equal(b.removable, 0, 'no remove button');
    assert.match(b.status, /read-only: join the object to add or remove notes/);

    // --- out of range: no notes, and "walk closer" ------------------------------------------
    await bob.walk('far');
    b = await waitBoard(bob, (x) => x.status === 'walk closer to see the board', 'walk closer');
    assert.deepStrictEqual(b.notes, [], 'no notes while away');
    // a note added meanwhile is there on the way back
    await addNote(alice, 'Call Carol');
    await waitBoard(alice, (x) => x.notes.length === 2 && x.status.startsWith('saved at'), 'two notes saved');
    await bob.walk('notes');
    b = await waitBoard(bob, (x) => x.notes.length === 2, 'both notes, back in range');
    assert.deepStrictEqual([...b.notes].sort(), ['Buy milk', 'Call Carol']);

    // --- joined: editable, no hint; left again: read-only -----------------------------------
    await bob.clickTitle('notes');
    b = await waitBoard(bob, (x) => !x.readonly, 'editable once joined');
    assert.equal(b.removable, 2, 'a remove button per note');
    assert.doesNotMatch(b.status, /read-only/);
    await bob.clickTitle('notes');
    b = await waitBoard(bob, (x) => x.readonly, 'read-only once left');
    assert.equal(b.removable, 0, 'no remove button once left');
    assert.match(b.status, /read-only/);
    assert.deepStrictEqual([...b.notes].sort(), ['Buy milk', 'Call Carol'], 'the notes stay in view while in range');
    await screenshot(bob, 'demo-notes-readonly-bob.png');
    assertNoPageErrors(alice, bob);
});

test('the notes keep their order (creation time, then id) across a reload and an objcastd restart', async (t) => {
    const { stack, alice, bob } = await aliceOnNotes(t);
    // A board whose keys are not in creation order, as the store may give it back; two notes
    // of the same second go by id.
    const note = (text, at) => ({ text, color: '#fff3a3', by: 'Alice', at });
    await alice.pluginPost('notes', {
        type: 'ovice_save_and_emit_data',
        payload: { 'n-3': note('third', 1700000200), 'n-9': note('fourth', 1700000300),
            'n-7': note('first', 1700000100), 'n-2': note('second', 1700000200) },
    });
    await waitBoard(alice, (b) => b.notes.length === 4, 'the four notes');
    await addNote(alice, 'typed last');
    const want = ['first', 'second', 'third', 'fourth', 'typed last'];
    const allFive = (b) => b.notes.length === want.length;
    assert.deepStrictEqual((await waitBoard(alice, allFive, 'five notes')).notes, want, 'Alice: oldest first');
    await bob.walk('notes');
    assert.deepStrictEqual((await waitBoard(bob, allFive, 'five notes')).notes, want, 'Bob: the same order');

    // --- a reload ---------------------------------------------------------------------------
    async function reload(u) {
        await u.page.reload();
        await u.page.waitForFunction(() => window.demo && window.demo.client && window.demo.client.state === 'open',
            null, { timeout: 10000 });
        await waitFor(async () => u.page.frame({ name: 'plugin-notes' })?.evaluate(() => Array.isArray(window.received))
            .catch(() => false), 10000, `${u.name}'s notes plugin to load again`);
        await u.walk('notes');
    }
    await reload(bob);
    assert.deepStrictEqual((await waitBoard(bob, allFive, 'five notes after a reload')).notes, want, 'Bob after a reload');

    // --- an objcastd restart (Redis keeps the board) ----------------------------------------
    await stack.killObjcastd();
    await stack.startObjcastd();
    await alice.page.waitForFunction(() => window.demo.client.state === 'open', null, { timeout: 15000 });
    await reload(bob);
    assert.deepStrictEqual((await waitBoard(bob, allFive, 'five notes after the restart')).notes, want, 'Bob after the restart');
    await waitFor(() => alice.page.evaluate(() => window.demo.on.notes === true), 10000, 'Alice back on the notes');
    assert.deepStrictEqual((await boardOf(alice)).notes, want, 'Alice after the restart');
    await screenshot(bob, 'demo-notes-order-bob.png');
    assertNoPageErrors(alice, bob);
});
