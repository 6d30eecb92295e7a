// Recovery after a reconnect (PROTOCOL.md section 10 with the decisions of issue 14;
// docs/protocol.md section 10): every
// ovice_message and ovice_shared_data carries the object's "offset" and "epoch"; the own
// event that answers objcast_subscribe / objcast_join carries the object's position
// (epoch, offset); a connection that comes back with "since": {epoch, offset, session} gets
// "recovered": true on its own event and then, before anything newer, every message of the
// object after that offset that the old session would have received (emits only to their
// target, its own broadcasts only with echo, its own saves never), each once, in order; or
// "recovered": false (history_size 0, another epoch, an offset past the object's, a history
// that no longer reaches back: history_size, history_ttl) and nothing replayed.
//
// The recovering user "a" and the sender "b" sit on different instances. A connection drops
// by losing its socket (no close frame); with engine redis and cluster also with kill -9 of
// its instance. Presence events are not replayed and not part of what is counted here:
// helpers skip them between data messages. lib/server.mjs makes offset, epoch, recovered
// and the session non-enumerable (whole-message comparisons ignore them); the helpers here
// read and check them one by one.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ENGINES, eachEngine } from '../lib/engines.mjs';
import { waitReady } from '../lib/redis.mjs';
import { sleep, waitFor } from '../lib/server.mjs';
import { OBJ, assertError, broadcast, emit, open, ovMessage, presence, saveData, user } from '../lib/proto.mjs';

const isData = (m) => m.type === 'ovice_message' || m.type === 'ovice_shared_data';
const isPresence = (m) => typeof m.type === 'string' && m.type.startsWith('ovice_participant_');
const who = (c) => c.claims?.sub ?? '?';
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/* A message as JSON with its position fields, which lib/server.mjs makes non-enumerable
 * (so JSON.stringify would leave them out), first. */
function show(m, max = 400) {
    if (!m || typeof m !== 'object') return JSON.stringify(m);
    const pos = {};
    for (const k of ['offset', 'epoch', 'recovered']) if (k in m) pos[k] = m[k];
    return JSON.stringify({ ...pos, ...m }).slice(0, max);
}

/* A message without its position: what sections 2-7 of PROTOCOL.md define. */
function bare(m) {
    const { offset, epoch, ...rest } = m;
    return rest;
}

/* One line per data message, for readable diffs: event/message@offset or data vN@offset. */
function line(m) {
    const at = `@${m.offset}`;
    if (m.type === 'ovice_shared_data') return `data v${m.version}${at}`;
    if (m.type === 'ovice_message') {
        const to = m.payload?.to !== undefined ? `>${m.payload.to}` : '';
        return `${m.payload?.source}${to}:${m.payload?.event}/${JSON.stringify(m.payload?.message)}${at}`;
    }
    return `${m.type}${at}`;
}

/* The ovice_shared_data a recipient gets for a save (without its position). */
const shared = (version, payload) => ({ type: 'ovice_shared_data', objectId: OBJ, version, payload });

/*
 * m must be `want` (a message without position) at epoch and offset (offset undefined:
 * any integer >= 1).
 */
function assertAt(m, want, epoch, offset, what = 'message') {
    assert.deepStrictEqual(bare(m), want, `${what}: ${show(m)}`);
    assert.ok(Number.isInteger(m.offset) && m.offset >= 1, `${what}: offset ${m.offset} is an integer >= 1`);
    assert.strictEqual(m.epoch, epoch, `${what}: epoch`);
    if (offset !== undefined) assert.strictEqual(m.offset, offset, `${what}: offset`);
}

/*
 * Sends objcast_subscribe (join: objcast_join) for c, with since when given (sent as is),
 * and requires c's next message to be its own event (kind: default subscribed/joined):
 * exactly the participant, plus a top-level epoch (a non-empty string) and offset (an
 * integer >= 0), plus "recovered" exactly when since was sent and not ignored (equal to
 * `recovered` when that is given). meanwhile() (optional) runs right after the send. Returns
 * the event.
 */
async function own(c, { join = false, since, recovered, ignored = false, kind, objectId = OBJ, meanwhile } = {}) {
    // position: true asks for the object's position on the own event
    const msg = { type: join ? 'objcast_join' : 'objcast_subscribe', objectId, position: true };
    if (since !== undefined) msg.since = since;
    c.send(msg);
    meanwhile?.();
    const m = await c.next(undefined, 5000);
    const k = kind ?? (join ? 'joined' : 'subscribed');
    const { epoch, offset, recovered: rec, ...rest } = m;
    assert.deepStrictEqual(rest, presence(k, c, c, { objectId }), `${who(c)}: own ${k} event: ${show(m)}`);
    assert.equal(typeof epoch, 'string', `${who(c)}: own event carries an epoch string: ${show(m)}`);
    assert.ok(epoch.length > 0, 'epoch is not empty');
    assert.ok(Number.isInteger(offset) && offset >= 0, `${who(c)}: own event carries an offset >= 0: ${show(m)}`);
    if (since === undefined || ignored) {
        assert.ok(!('recovered' in m), `${who(c)}: no recovered field: ${show(m)}`);
    } else {
        assert.equal(typeof rec, 'boolean', `${who(c)}: recovered true or false: ${show(m)}`);
        if (recovered !== undefined) assert.strictEqual(rec, recovered, `${who(c)}: recovered: ${show(m)}`);
    }
    return m;
}

/*
 * The next n data messages (ovice_message, ovice_shared_data) of c, in order; presence
 * events in between are skipped, anything else fails.
 */
async function data(c, n, timeoutMs = 5000) {
    const out = [];
    while (out.length < n) {
        let m;
        try {
            m = await c.next(undefined, timeoutMs);
        } catch (e) {
            throw new Error(`${who(c)}: ${out.length} of ${n} data messages came (${e.message}); got: ${
                out.map(line).join(' ')}`);
        }
        if (isPresence(m)) continue;
        assert.ok(isData(m), `${who(c)}: expected ovice_message or ovice_shared_data, got ${show(m)}`);
        out.push(m);
    }
    return out;
}

/* Skips c's messages up to the first data message for which pred holds; returns it. */
async function waitData(c, pred, what, timeoutMs = 5000) {
    for (;;) {
        let m;
        try {
            m = await c.next(undefined, timeoutMs);
        } catch (e) {
            throw new Error(`${who(c)}: waiting for ${what}: ${e.message}`);
        }
        if (isData(m) && pred(m)) return m;
    }
}
const waitEvent = (c, event, message) => waitData(c, (m) => m.type === 'ovice_message' &&
    m.payload?.event === event && (message === undefined || m.payload.message === message), `${event}/${message}`);
const waitVersion = (c, version) => waitData(c, (m) => m.type === 'ovice_shared_data' && m.version === version,
    `shared data v${version}`);

/* Waits ms, then requires that c received no data message meanwhile (presence events are
 * dropped). */
async function noMoreData(c, ms = 300) {
    await sleep(ms);
    const extra = c.queue.splice(0).filter((m) => !isPresence(m));
    assert.deepStrictEqual(extra.map((m) => (isData(m) ? line(m) : show(m))), [], `${who(c)}: nothing more`);
}

/* Every ovice_message and ovice_shared_data c received (raw texts: open() keeps them) begins
 * {"type":T,"offset":N,"epoch":E, (contract 14, 2); returns how many there were. */
function assertWireForm(c) {
    let n = 0;
    for (const raw of c.raws) {
        const m = JSON.parse(raw);
        if (!isData(m)) continue;
        n++;
        const head = `{"type":${JSON.stringify(m.type)},"offset":${m.offset},"epoch":${JSON.stringify(m.epoch)},`;
        assert.ok(raw.startsWith(head), `${who(c)}: ${raw.slice(0, 200)} begins with ${head}`);
    }
    return n;
}

/* Drops c's socket (no close frame) and waits until it is closed on this side. */
async function drop(c) {
    c.destroy();
    await c.closed(5000);
}

/* The saver's reply to a save sent with ref (other messages before it are skipped). */
async function saved(c, ref) {
    const m = await c.next('ovice_data_saved_success', 5000);
    assert.equal(m.ref, ref, JSON.stringify(m));
    assert.ok(!('offset' in m) && !('epoch' in m), `ovice_data_saved_success carries no position: ${show(m)}`);
    return m;
}

/*
 * a1 (user a) joins on N1, b subscribes on N2, an observer o on N1; b broadcasts `pre`
 * messages, which a1 and o receive. Returns {a1, b, o, epoch, last (the offset of the last
 * message a1 received), session (a1's), start (the offset of a1's own event)}.
 */
async function pair([N1, N2], { pre = 2, join = true } = {}) {
    const a1 = await open(N1, 'a');
    const b = await open(N2, 'b');
    const o = await open(N1, 'o');
    const first = await own(a1, { join });
    await own(b);
    await own(o);
    for (let i = 1; i <= pre; i++) broadcast(b, 'pre', i);
    const got = await data(a1, pre);
    got.forEach((m, i) => assertAt(m, ovMessage(b, 'pre', i + 1), first.epoch, first.offset + i + 1, `pre ${i + 1}`));
    if (pre) await waitEvent(o, 'pre', pre);
    const session = a1.ready.payload.session;
    assert.equal(typeof session, 'string', `objcast_ready.payload.session is a string: ${JSON.stringify(a1.ready)}`);
    return { a1, b, o, epoch: first.epoch, last: first.offset + pre, session, start: first.offset };
}

/* b broadcasts `missed` 1..n; resolves once o received the last (so every one has its
 * offset before anything that follows). */
async function missed(b, o, n) {
    for (let i = 1; i <= n; i++) broadcast(b, 'missed', i);
    await waitEvent(o, 'missed', n);
}

/*
 * a comes back (a new connection on node) with since and must get recovered:false and no
 * replay; a broadcast of b then arrives as a's first data message, at epoch and offset
 * `current + 1` (epoch null: since's epoch at current + 1, or a new epoch at any offset).
 */
async function expectNotRecovered(node, b, since, epoch, current) {
    const a2 = await open(node, 'a');
    await own(a2, { join: true, since, recovered: false });
    broadcast(b, 'live', 1);
    const [m] = await data(a2, 1);
    if (epoch === null && m.epoch !== since.epoch) {
        // the history expired with its epoch: a new order may begin anywhere
        assertAt(m, ovMessage(b, 'live', 1), m.epoch, undefined, 'the live message, nothing replayed before it');
    } else {
        assertAt(m, ovMessage(b, 'live', 1), epoch ?? since.epoch, current + 1, 'the live message, nothing replayed before it');
    }
    await noMoreData(a2);
    return a2;
}

// ---------------------------------------------------------------------------------------
// The scenario: drop, 50 broadcasts and 2 saves from another instance, resume

/*
 * a1 (user a) on nodes[0] subscribes or joins, b on nodes[1]; b sends 3 broadcasts a1
 * receives. Then a1's socket drops (kill: nodes[0] is killed with SIGKILL instead); b sends
 * 50 broadcasts and 2 saves (after the 25th and the 50th) and waits for the last save's
 * reply; a comes back on nodes[resumeOn] with since {epoch, the last offset a1 received, a1's
 * session}: its own event says recovered:true, then come exactly b's 52 messages at offsets
 * last+1..last+52, then b's live broadcasts (the first sent right behind the resume, before
 * its own event came), each once.
 */
async function dropAndResume(nodes, { join = false, resumeOn = 1, kill = false } = {}) {
    const [N1, N2] = nodes;
    const a1 = await open(N1, 'a');
    const b = await open(N2, 'b');
    const first = await own(a1, { join });
    await own(b);
    for (let i = 1; i <= 3; i++) broadcast(b, 'pre', i);
    const pre = await data(a1, 3);
    pre.forEach((m, i) => assertAt(m, ovMessage(b, 'pre', i + 1), first.epoch, first.offset + i + 1, `pre ${i + 1}`));
    const { epoch, offset: last } = pre[2];
    const session = a1.ready.payload.session;
    assert.equal(typeof session, 'string', `objcast_ready.payload.session is a string: ${JSON.stringify(a1.ready)}`);

    if (kill) await N1.stop('SIGKILL');
    else await drop(a1);

    const want = [];
    let version = 0;
    for (let i = 1; i <= 50; i++) {
        broadcast(b, 'missed', i);
        want.push(ovMessage(b, 'missed', i));
        if (i % 25 === 0) {
            saveData(b, { n: i, text: `save after ${i}` }, { ref: `save${i}` });
            want.push(shared(++version, { n: i, text: `save after ${i}` }));
        }
    }
    await saved(b, 'save25');
    await saved(b, 'save50');

    const a2 = await open(nodes[resumeOn], 'a');
    assert.notEqual(a2.ready.payload.session, session, 'a new connection has a new session');
    // the first live message races the resume
    await own(a2, { join, since: { epoch, offset: last, session }, recovered: true, meanwhile: () => broadcast(b, 'live', 1) });
    want.push(ovMessage(b, 'live', 1));
    const got = await data(a2, want.length);
    assert.deepStrictEqual(got.map(line), want.map((w, i) => line({ ...w, offset: last + 1 + i })),
        'the 52 missed messages in order, once, then the live one');
    got.forEach((m, i) => assertAt(m, want[i], epoch, last + 1 + i, `message ${i + 1} after the resume`));
    broadcast(b, 'live', 2);
    assertAt((await data(a2, 1))[0], ovMessage(b, 'live', 2), epoch, last + 54, 'the next live message');
    await noMoreData(a2);
    assert.equal(assertWireForm(a2), 54, 'replayed messages have the wire form of live ones');
}

eachEngine('dropped socket, 50 broadcasts and 2 saves from another instance, subscribe with since on the same instance: recovered:true, exactly the 52 in order, then live', async (t, engine) => {
    const { nodes } = await engine.start(t, { instances: 2 });
    await dropAndResume(nodes, { join: false, resumeOn: 0 });
});

eachEngine('dropped socket, 50 broadcasts and 2 saves from another instance, join with since on the sender\'s instance: recovered:true, exactly the 52 in order, then live', async (t, engine) => {
    const { nodes } = await engine.start(t, { instances: 2 });
    await dropAndResume(nodes, { join: true, resumeOn: 1 });
});

for (const engine of ENGINES.filter((e) => e.name !== 'memory')) {
    test(`${engine.name}: kill -9 of a's instance, 50 broadcasts and 2 saves from the other, join with since on the other: recovered:true, exactly the 52 in order, then live`, async (t) => {
        const { nodes } = await engine.start(t, { instances: 2 });
        await dropAndResume(nodes, { join: true, resumeOn: 1, kill: true });
    });
}

// ---------------------------------------------------------------------------------------
// Racing live traffic

const RESUMES = 8;

eachEngine(`${RESUMES} resumes in a row racing a sender at ~500 messages/s: what the connections received before their drops, replays and live together has no gap and no duplicate`, async (t, engine) => {
    const { nodes: [N1, N2] } = await engine.start(t, {
        instances: 2,
        conf: { history_size: 5000, client_rate: [1000000, 1000000] },
    });
    const s = await open(N2, 's', { raw: false });
    let a = await open(N1, 'a', { raw: false });
    await own(s);
    await own(a, { join: true });

    // one message every 2 ms on average, sequence numbers from 1, until told to stop
    let sent = 0;
    let stop = false;
    const sending = (async () => {
        const t0 = Date.now();
        while (!stop) {
            const due = Math.floor((Date.now() - t0) / 2);
            while (sent < due) broadcast(s, 'seq', ++sent);
            await sleep(1);
        }
    })();
    const dataIn = (c) => c.queue.filter(isData);
    const all = []; // what a's connections received, one after the other
    try {
        // a's connection drops after 40 messages; the next one resumes on the other instance
        for (let i = 1; i <= RESUMES; i++) {
            await waitFor(() => dataIn(a).length >= 40, 10000, `a's connection ${i} to receive 40 messages`, 2);
            const session = a.ready.payload.session;
            await drop(a);
            all.push(...dataIn(a));
            const last = all[all.length - 1];
            a = await open(i % 2 ? N2 : N1, 'a', { raw: false });
            await own(a, { join: true, since: { epoch: last.epoch, offset: last.offset, session }, recovered: true });
        }
        // the last one gets 100 more than were sent when it came back, then the sender stops
        const target = sent + 100;
        await waitFor(() => dataIn(a).some((m) => m.payload?.message >= target), 10000, `seq ${target}`, 5);
        stop = true;
        await sending;
        await waitFor(() => dataIn(a).some((m) => m.payload?.message === sent), 10000, `seq ${sent}`, 5);
        await sleep(200);
        const post = a.queue.splice(0).filter((m) => !isPresence(m));
        assert.ok(post.every(isData), `only data messages: ${show(post.find((m) => !isData(m)))}`);
        all.push(...post);

        const seqs = all.map((m) => m.payload?.message);
        const seen = new Set(seqs);
        const dups = seqs.filter((n, i) => seqs.indexOf(n) !== i);
        assert.deepStrictEqual({ missing: range(1, sent).filter((n) => !seen.has(n)), duplicates: dups },
            { missing: [], duplicates: [] }, `${sent} sent, ${all.length} received`);
        assert.deepStrictEqual(seqs, range(1, sent), 'in order');
        all.forEach((m, i) => assertAt(m, ovMessage(s, 'seq', i + 1), all[0].epoch, all[0].offset + i, `seq ${i + 1}`));
    } finally {
        stop = true;
        await sending;
    }
});

// ---------------------------------------------------------------------------------------
// Who gets what replayed

eachEngine('the replay is what the old session would have received: emits to a (from anyone), broadcasts with echo and a\'s other tab\'s messages and saves; not emits to others, not its own broadcasts without echo, not its own saves', async (t, engine) => {
    const { nodes: [N1, N2] } = await engine.start(t, { instances: 2 });
    const a1 = await open(N1, 'a');
    const ax = await open(N2, 'a'); // a's other tab
    const b = await open(N2, 'b');
    const c = await open(N1, 'c');
    const first = await own(a1);
    await own(b);
    await own(c);
    await own(ax);
    const { epoch, offset: start } = first;
    const session = a1.ready.payload.session;

    // Each step is sent once the previous one has reached someone, so the object's order is
    // the order of the steps; the offsets are taken from the recipient waited for.
    const steps = []; // {label, want (the message a gets, or null), offset}
    const step = async (label, send, wait, want) => {
        send();
        const m = await wait();
        steps.push({ label, want, offset: m.offset });
        return m;
    };
    const msg = (from, ev, to) => ovMessage(from, ev, { label: ev }, to === undefined ? {} : { to });
    await step('a1 broadcast', () => broadcast(a1, 'a-noecho', { label: 'a-noecho' }), () => waitEvent(b, 'a-noecho'), null);
    await step('a1 broadcast echo', () => broadcast(a1, 'a-echo', { label: 'a-echo' }, { echo: true }),
        () => waitEvent(b, 'a-echo'), msg(a1, 'a-echo'));
    await step('a1 save', () => saveData(a1, { by: 'a1' }, { ref: 'sa1' }), () => waitVersion(b, 1), null);
    await saved(a1, 'sa1');
    await step('a1 emit to a', () => emit(a1, 'a', 'a-self', { label: 'a-self' }), () => waitEvent(ax, 'a-self'),
        msg(a1, 'a-self', 'a'));
    await step('a1 emit to b', () => emit(a1, 'b', 'a-to-b', { label: 'a-to-b' }), () => waitEvent(b, 'a-to-b'), null);
    await drop(a1);
    await step('b emit to c', () => emit(b, 'c', 'b-to-c', { label: 'b-to-c' }), () => waitEvent(c, 'b-to-c'), null);
    await step('b emit to a', () => emit(b, 'a', 'b-to-a', { label: 'b-to-a' }), () => waitEvent(ax, 'b-to-a'),
        msg(b, 'b-to-a', 'a'));
    await step('b broadcast', () => broadcast(b, 'b-all', { label: 'b-all' }), () => waitEvent(c, 'b-all'), msg(b, 'b-all'));
    await step('c emit to a', () => emit(c, 'a', 'c-to-a', { label: 'c-to-a' }), () => waitEvent(ax, 'c-to-a'),
        msg(c, 'c-to-a', 'a'));
    await step('a\'s other tab broadcasts', () => broadcast(ax, 'ax-all', { label: 'ax-all' }), () => waitEvent(b, 'ax-all'),
        msg(ax, 'ax-all'));
    await step('a\'s other tab saves', () => saveData(ax, { by: 'ax' }, { ref: 'sax' }), () => waitVersion(b, 2),
        shared(2, { by: 'ax' }));
    await saved(ax, 'sax');
    await step('a\'s other tab emits to b', () => emit(ax, 'b', 'ax-to-b', { label: 'ax-to-b' }), () => waitEvent(b, 'ax-to-b'), null);
    await step('b save', () => saveData(b, { by: 'b' }, { ref: 'sb' }), () => waitVersion(c, 3), shared(3, { by: 'b' }));
    await saved(b, 'sb');
    await step('b broadcast echo', () => broadcast(b, 'b-echo', { label: 'b-echo' }, { echo: true }),
        () => waitEvent(c, 'b-echo'), msg(b, 'b-echo'));
    assert.deepStrictEqual(steps.map((s) => s.offset), range(start + 1, start + steps.length),
        'every broadcast, emit and save takes the next offset');

    const a2 = await open(N1, 'a');
    await own(a2, { since: { epoch, offset: start, session }, recovered: true });
    const want = steps.filter((s) => s.want);
    const got = await data(a2, want.length);
    assert.deepStrictEqual(got.map(line), want.map((s) => line({ ...s.want, offset: s.offset })),
        `replayed: ${want.map((s) => s.label).join(', ')}`);
    got.forEach((m, i) => assertAt(m, want[i].want, epoch, want[i].offset, want[i].label));
    broadcast(b, 'live', 1);
    assertAt((await data(a2, 1))[0], ovMessage(b, 'live', 1), epoch, start + steps.length + 1, 'then live');
    await noMoreData(a2);
    assert.equal(assertWireForm(a2), want.length + 1);
});

eachEngine('a user with an integer id: the emits to it, to:12 and to:"12", are replayed as written; an emit to another is not', async (t, engine) => {
    const { nodes: [N1, N2] } = await engine.start(t, { instances: 2 });
    const u12 = user(12);
    const a1 = await open(N1, u12);
    const ax = await open(N2, u12); // keeps 12 a participant: emits to it are taken
    const b = await open(N2, 'b');
    const o = await open(N2, 'o');
    const { epoch, offset: start } = await own(a1);
    await own(ax);
    await own(b);
    await own(o);
    const session = a1.ready.payload.session;
    await drop(a1);
    emit(b, 12, 'as-number', 1);
    emit(b, '12', 'as-string', 2);
    emit(b, 'o', 'to-o', 3);
    broadcast(b, 'all', 4);
    await waitEvent(ax, 'all');
    await waitEvent(o, 'all');

    const a2 = await open(N1, u12);
    await own(a2, { since: { epoch, offset: start, session }, recovered: true });
    const want = [
        [ovMessage(b, 'as-number', 1, { to: 12 }), start + 1],
        [ovMessage(b, 'as-string', 2, { to: '12' }), start + 2],
        [ovMessage(b, 'all', 4), start + 4],
    ];
    const got = await data(a2, want.length);
    assert.deepStrictEqual(got.map(line), want.map(([w, off]) => line({ ...w, offset: off })));
    got.forEach((m, i) => assertAt(m, want[i][0], epoch, want[i][1], `message ${i + 1}`));
    await noMoreData(a2);
});

// Big messages. Contract 14 lists when recovered is false (history_size 0, another epoch, an
// offset ahead, a history that no longer holds offset N+1); a big message in the replay is
// none of these, as long as the history holds it (history_max_bytes). The server also
// answers false when the replay would pass half of client_output_limit (docs/protocol.md
// section 10), which the contract does not list: the second test pins down the contract's
// letter there.

eachEngine('a missed broadcast of 100 KB (under max_message_bytes) in the history -> recovered:true, replayed', async (t, engine) => {
    const { nodes } = await engine.start(t, { instances: 2 });
    const { a1, b, o, epoch, last, session } = await pair(nodes);
    await drop(a1);
    const big = { pad: 'x'.repeat(100000) };
    broadcast(b, 'big', big);
    broadcast(b, 'small', 1);
    await waitEvent(o, 'small');
    const a2 = await open(nodes[1], 'a', { raw: false });
    await own(a2, { join: true, since: { epoch, offset: last, session }, recovered: true });
    const got = await data(a2, 2);
    assertAt(got[0], ovMessage(b, 'big', big), epoch, last + 1, 'the big one');
    assertAt(got[1], ovMessage(b, 'small', 1), epoch, last + 2, 'the small one');
    await noMoreData(a2);
});

// A replay goes through the connection's output like any message: one bigger than half of
// client_output_limit (where the server stops reading the connection) is not attempted.
eachEngine('a replay of 3 MB (5 messages of 600 KB): recovered:true with client_output_limit 8 MiB, all 5; recovered:false with 4 MiB (over half of it), nothing replayed', async (t, engine) => {
    for (const [limit, recovered] of [[8388608, true], [4194304, false]]) {
        const { nodes } = await engine.start(t, {
            instances: 2,
            conf: { client_output_limit: limit },
        });
        const { a1, b, o, epoch, last, session } = await pair(nodes);
        await drop(a1);
        const big = (i) => ({ i, pad: String(i).repeat(600000) });
        for (let i = 1; i <= 5; i++) broadcast(b, `big-${i}`, big(i));
        await waitEvent(o, 'big-5');
        const a2 = await open(nodes[1], 'a', { raw: false });
        await own(a2, { join: true, since: { epoch, offset: last, session }, recovered });
        if (recovered) {
            const got = await data(a2, 5);
            got.forEach((m, i) => assertAt(m, ovMessage(b, `big-${i + 1}`, big(i + 1)), epoch, last + 1 + i, `big-${i + 1}`));
        }
        await noMoreData(a2);
    }
});

eachEngine('history_max_bytes 1024: once the history\'s bytes have pushed out offset N+1 -> recovered:false; a resume the history still holds -> recovered:true', async (t, engine) => {
    const { nodes } = await engine.start(t, { instances: 2, conf: { history_max_bytes: 1024 } });
    const { a1, b, o, epoch, last, session } = await pair(nodes);
    await drop(a1);
    const pad = (i) => ({ i, pad: 'z'.repeat(300) });
    for (let i = 1; i <= 6; i++) broadcast(b, `pad-${i}`, pad(i));
    await waitEvent(o, 'pad-6');
    const a2 = await expectNotRecovered(nodes[1], b, { epoch, offset: last, session }, epoch, last + 6);
    const s2 = a2.ready.payload.session;
    await drop(a2);
    broadcast(b, 'tail', pad(7));
    await waitEvent(o, 'tail');
    const a3 = await open(nodes[0], 'a');
    await own(a3, { join: true, since: { epoch, offset: last + 7, session: s2 }, recovered: true });
    assertAt((await data(a3, 1))[0], ovMessage(b, 'tail', pad(7)), epoch, last + 8, 'the one missed');
    await noMoreData(a3);
});

eachEngine('big messages the old session would not have received (an emit to another, its own broadcast) do not stop the resume', async (t, engine) => {
    const { nodes: [N1, N2] } = await engine.start(t, { instances: 2 });
    const ua = user('a');
    const a1 = await open(N1, ua);
    const ax = await open(N2, ua);
    const b = await open(N2, 'b');
    const c = await open(N1, 'c');
    const { epoch, offset: start } = await own(a1);
    await own(ax);
    await own(b);
    await own(c);
    const session = a1.ready.payload.session;
    const big = { pad: 'y'.repeat(100000) };
    broadcast(a1, 'own-big', big); // no echo
    await waitEvent(b, 'own-big');
    await drop(a1);
    emit(b, 'c', 'big-to-c', big);
    await waitEvent(c, 'big-to-c');
    broadcast(b, 'small', 1);
    await waitEvent(ax, 'small');
    const a2 = await open(N1, ua);
    await own(a2, { since: { epoch, offset: start, session }, recovered: true });
    assertAt((await data(a2, 1))[0], ovMessage(b, 'small', 1), epoch, start + 3, 'only the small broadcast');
    await noMoreData(a2);
});

// ---------------------------------------------------------------------------------------
// The own event's position

eachEngine('without "position": true the own event is as before (no epoch or offset), also when it answers a since (recovered only)', async (t, engine) => {
    const { nodes: [N1, N2] } = await engine.start(t, { instances: 2 });
    const a1 = await open(N1, 'a');
    const b = await open(N2, 'b');
    a1.send({ type: 'objcast_subscribe', objectId: OBJ });
    const ev = await a1.next(undefined, 5000);
    assert.deepStrictEqual({ ...ev }, presence('subscribed', a1, a1));
    assert.ok(!('epoch' in ev) && !('offset' in ev) && !('recovered' in ev), show(ev));
    await own(b, { join: true });
    await a1.next(undefined, 5000);
    broadcast(b, 'one', 1);
    const [m] = await data(a1, 1);
    const session = a1.ready.payload.session;
    await drop(a1);
    broadcast(b, 'two', 2, { echo: true });
    await waitEvent(b, 'two');
    const a2 = await open(N1, 'a');
    a2.send({ type: 'objcast_subscribe', objectId: OBJ, since: { epoch: m.epoch, offset: m.offset, session } });
    const ev2 = await a2.next(undefined, 5000);
    assert.strictEqual(ev2.recovered, true, show(ev2));
    assert.ok(!('epoch' in ev2) && !('offset' in ev2), show(ev2));
    const { recovered, ...rest } = ev2;
    assert.deepStrictEqual(rest, presence('subscribed', a2, a2));
    assertAt((await data(a2, 1))[0], ovMessage(b, 'two', 2), m.epoch, m.offset + 1, 'the missed message');
});

eachEngine('the own event without since carries epoch and offset (0 on a fresh object, the same epoch on every instance); a client that received nothing resumes from it and gets everything', async (t, engine) => {
    const { nodes: [N1, N2] } = await engine.start(t, { instances: 2 });
    const a1 = await open(N1, 'a');
    const b = await open(N2, 'b');
    const ea = await own(a1, { join: true });
    assert.strictEqual(ea.offset, 0, 'a fresh object is at offset 0');
    const eb = await own(b);
    assert.strictEqual(eb.offset, 0, 'still 0: presence takes no offset');
    assert.strictEqual(eb.epoch, ea.epoch, 'one epoch on every instance');
    const session = a1.ready.payload.session;
    await drop(a1);

    const want = [];
    for (let i = 1; i <= 4; i++) {
        broadcast(b, 'missed', i);
        want.push(ovMessage(b, 'missed', i));
    }
    saveData(b, { k: 1 }, { ref: 's1' });
    want.push(shared(1, { k: 1 }));
    await saved(b, 's1');

    const a2 = await open(N1, 'a');
    await own(a2, { join: true, since: { epoch: ea.epoch, offset: 0, session }, recovered: true });
    const got = await data(a2, want.length);
    assert.deepStrictEqual(got.map(line), want.map((w, i) => line({ ...w, offset: i + 1 })));
    got.forEach((m, i) => assertAt(m, want[i], ea.epoch, i + 1, `message ${i + 1}`));
    await noMoreData(a2);

    // a newcomer's own event is at the object's offset now
    const c = await open(N2, 'c');
    const ec = await own(c);
    assert.deepStrictEqual({ epoch: ec.epoch, offset: ec.offset }, { epoch: ea.epoch, offset: 5 }, 'position after 5 messages');
    broadcast(b, 'live', 1);
    assertAt((await data(c, 1))[0], ovMessage(b, 'live', 1), ea.epoch, 6, 'the newcomer gets what follows');
    assertAt((await data(a2, 1))[0], ovMessage(b, 'live', 1), ea.epoch, 6, 'and so does a');
});

// ---------------------------------------------------------------------------------------
// When the history does not reach back: recovered false, nothing replayed, live flows

eachEngine('history_size 10: exactly 10 messages missed -> recovered:true with all 10', async (t, engine) => {
    const { nodes } = await engine.start(t, { instances: 2, conf: { history_size: 10 } });
    const { a1, b, o, epoch, last, session } = await pair(nodes);
    await drop(a1);
    await missed(b, o, 10);
    const a2 = await open(nodes[1], 'a');
    await own(a2, { join: true, since: { epoch, offset: last, session }, recovered: true });
    const got = await data(a2, 10);
    got.forEach((m, i) => assertAt(m, ovMessage(b, 'missed', i + 1), epoch, last + 1 + i, `missed ${i + 1}`));
    await noMoreData(a2);
});

eachEngine('history_size 10: 30 messages missed -> recovered:false, nothing replayed, live still flows', async (t, engine) => {
    const { nodes } = await engine.start(t, { instances: 2, conf: { history_size: 10 } });
    const { a1, b, o, epoch, last, session } = await pair(nodes);
    await drop(a1);
    await missed(b, o, 30);
    await expectNotRecovered(nodes[1], b, { epoch, offset: last, session }, epoch, last + 30);
});

eachEngine('history_ttl 1: resumed 2.5 s after the last message -> recovered:false, nothing replayed, live still flows', async (t, engine) => {
    const { nodes } = await engine.start(t, { instances: 2, conf: { history_ttl: 1 } });
    const { a1, b, o, epoch, last, session } = await pair(nodes);
    await drop(a1);
    await missed(b, o, 5);
    await sleep(2500);
    await expectNotRecovered(nodes[1], b, { epoch, offset: last, session }, null, last + 5);
});

eachEngine('since with another epoch -> recovered:false, nothing replayed, live still flows', async (t, engine) => {
    const { nodes } = await engine.start(t, { instances: 2 });
    const { a1, b, o, epoch, last, session } = await pair(nodes);
    await drop(a1);
    await missed(b, o, 3);
    await expectNotRecovered(nodes[1], b, { epoch: `${epoch}0`, offset: last, session }, epoch, last + 3);
});

eachEngine('history_size 0: messages still carry offsets, but recovered is always false', async (t, engine) => {
    const { nodes } = await engine.start(t, { instances: 2, conf: { history_size: 0 } });
    const { a1, b, o, epoch, last, session } = await pair(nodes);
    await drop(a1);
    await missed(b, o, 3);
    const a2 = await expectNotRecovered(nodes[1], b, { epoch, offset: last, session }, epoch, last + 3);
    // even with nothing missed
    const s2 = a2.ready.payload.session;
    await drop(a2);
    await expectNotRecovered(nodes[0], b, { epoch, offset: last + 4, session: s2 }, epoch, last + 4);
});

eachEngine('since at the object\'s offset -> recovered:true and nothing to replay; one past it -> recovered:false', async (t, engine) => {
    const { nodes } = await engine.start(t, { instances: 2 });
    const { a1, b, epoch, last, session } = await pair(nodes);
    await drop(a1);
    const a2 = await open(nodes[1], 'a');
    await own(a2, { join: true, since: { epoch, offset: last, session }, recovered: true });
    broadcast(b, 'live', 1);
    assertAt((await data(a2, 1))[0], ovMessage(b, 'live', 1), epoch, last + 1, 'the live message, nothing before it');
    await noMoreData(a2);
    const s2 = a2.ready.payload.session;
    await drop(a2);
    // the object is at last + 1
    await expectNotRecovered(nodes[0], b, { epoch, offset: last + 2, session: s2 }, epoch, last + 1);
});

test('redis: Redis loses the object (FLUSHALL): its epoch changes, and a since of the old epoch -> recovered:false even where the new offsets reach past it', async (t) => {
    const engine = ENGINES.find((e) => e.name === 'redis');
    const { nodes, redis } = await engine.start(t, { instances: 2 });
    const { a1, b, o, epoch, last, session } = await pair(nodes);
    await drop(a1);
    await redis.command('FLUSHALL');
    // the instances subscribe again (as after a Redis restart) and see the object anew
    await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    for (const n of nodes) await waitReady(n);
    await sleep(500);
    for (let i = 1; i <= 2 * last + 5; i++) broadcast(b, 'missed', i);
    const m = await waitEvent(o, 'missed', 2 * last + 5);
    assert.notStrictEqual(m.epoch, epoch, 'the epoch changed with the lost data');
    assert.ok(m.offset > last, `the new offsets (${m.offset}) reach past the old (${last})`);
    const a2 = await open(nodes[1], 'a');
    await own(a2, { join: true, since: { epoch, offset: last, session }, recovered: false });
    broadcast(b, 'live', 1);
    assertAt((await data(a2, 1))[0], ovMessage(b, 'live', 1), m.epoch, m.offset + 1, 'the live message, nothing replayed');
    await noMoreData(a2);
});

// ---------------------------------------------------------------------------------------
// since that is malformed or needless

eachEngine('a malformed since -> bad_request with ref and objectId, and nothing done', async (t, engine) => {
    const { nodes: [N1, N2] } = await engine.start(t, { instances: 2 });
    const a = await open(N1, 'a');
    const b = await open(N2, 'b');
    const { epoch } = await own(b);
    const session = b.ready.payload.session;
    const ok = { epoch, offset: 0, session };
    const bad = [
        5, 'since', true, [], [epoch, 0, session], null,
        { offset: 0, session }, { ...ok, epoch: 5 }, { ...ok, epoch: null }, { ...ok, epoch: {} },
        { epoch, session }, { ...ok, offset: -1 }, { ...ok, offset: 1.5 }, { ...ok, offset: '3' }, { ...ok, offset: null },
        { epoch, offset: 0 }, { ...ok, session: 7 }, { ...ok, session: null }, { ...ok, session: [session] },
    ];
    let i = 0;
    for (const since of bad) {
        for (const type of ['objcast_subscribe', 'objcast_join']) {
            const ref = `bad-${++i}`;
            a.send({ type, objectId: OBJ, ref, since });
            const m = await a.next(undefined, 3000);
            assert.doesNotThrow(() => assertError(m, 'bad_request', { objectId: OBJ, ref }),
                `${type} with since ${JSON.stringify(since)}: ${show(m)}`);
        }
    }
    // nothing done: a is not on the object, b heard nothing
    a.send({ type: 'ovice_broadcast_message', objectId: OBJ, ref: 'nb', payload: { event: 'e', message: 1 } });
    assertError(await a.next(undefined, 3000), 'not_subscribed', { objectId: OBJ, ref: 'nb' });
    await sleep(200);
    assert.deepStrictEqual(b.queue, [], 'b received nothing');
    // and a well-formed since is still taken on that connection
    await own(a, { since: { ...ok, session: a.ready.payload.session } });
    assert.deepStrictEqual(await b.next(undefined, 3000), presence('subscribed', a, b), 'b sees a arrive');
});

eachEngine('since on an object the connection is already on is ignored: no recovered field, nothing replayed', async (t, engine) => {
    const { nodes: [N1, N2] } = await engine.start(t, { instances: 2 });
    const a = await open(N1, 'a');
    const b = await open(N2, 'b');
    const { epoch } = await own(a);
    await own(b);
    for (let i = 1; i <= 3; i++) broadcast(b, 'pre', i);
    await data(a, 3);
    const since = { epoch, offset: 0, session: a.ready.payload.session };
    const again = await own(a, { since, ignored: true });
    assert.deepStrictEqual({ epoch: again.epoch, offset: again.offset }, { epoch, offset: 3 }, 'the object\'s position');
    await own(a, { join: true, since, ignored: true });
    broadcast(b, 'live', 1);
    assertAt((await data(a, 1))[0], ovMessage(b, 'live', 1), epoch, 4, 'the live message, nothing replayed before it');
    await own(a, { join: true, since, ignored: true });
    await noMoreData(a);
});

// ---------------------------------------------------------------------------------------
// Offsets and epochs on the wire

eachEngine('ovice_message and ovice_shared_data carry offset and epoch right after type, the same on every instance; sessions are strings, one per connection', async (t, engine) => {
    const { nodes: [N1, N2, N3] } = await engine.start(t, { instances: 3 });
    const r = [await open(N1, 'r'), await open(N2, 'r'), await open(N3, 'r')];
    const s1 = await open(N1, 's1');
    const s2 = await open(N3, 's2');
    const conns = [...r, s1, s2];
    const sessions = conns.map((c) => c.ready.payload.session);
    assert.ok(sessions.every((s) => typeof s === 'string' && s.length > 0), `sessions: ${JSON.stringify(sessions)}`);
    assert.equal(new Set(sessions).size, sessions.length, `one session per connection: ${JSON.stringify(sessions)}`);
    for (const c of conns) await own(c);

    // two senders on two instances, not waiting for each other
    for (let i = 1; i <= 3; i++) {
        broadcast(s1, 'from-s1', i);
        broadcast(s2, 'from-s2', i);
    }
    emit(s1, 'r', 'to-r', 1);
    saveData(s2, { k: 'v' }, { ref: 'sv' });
    emit(s1, 's2', 'to-s2', 1);

    const seen = await Promise.all(r.map((c) => data(c, 8)));
    const epoch = seen[0][0].epoch;
    for (const [i, got] of seen.entries()) {
        assert.deepStrictEqual(got.map(line), seen[0].map(line), `r on instance ${i + 1} sees what r on instance 1 sees, at the same offsets`);
        for (const m of got) assertAt(m, bare(m), epoch, undefined, line(m));
    }
    const offs = seen[0].map((m) => m.offset);
    assert.deepStrictEqual(offs, [...offs].sort((x, y) => x - y), 'offsets grow');
    const atS1 = await data(s1, 4); // s2's 3 broadcasts and save
    const atS2 = []; // s1's 3 broadcasts and emit to s2, and the reply to s2's save
    let reply = null;
    while (atS2.length < 4 || !reply) {
        const m = await s2.next(undefined, 5000);
        if (isPresence(m)) continue;
        if (m.type === 'ovice_data_saved_success' && !reply) {
            reply = m;
            assert.equal(m.ref, 'sv');
            assert.ok(!('offset' in m) && !('epoch' in m), `ovice_data_saved_success carries no position: ${show(m)}`);
            continue;
        }
        assert.ok(isData(m), `s2: ${show(m)}`);
        atS2.push(m);
    }
    const byLine = new Map(seen[0].map((m) => [line(m), m.offset]));
    for (const m of [...atS1, ...atS2]) {
        assert.strictEqual(m.epoch, epoch, `${line(m)}: the same epoch`);
        if (m.payload?.event !== 'to-s2') assert.ok(byLine.has(line(m)), `${line(m)} is at the same offset for r`);
    }
    const toS2 = atS2.find((m) => m.payload?.event === 'to-s2');
    assert.ok(toS2, 's2 got the emit to it');
    assert.deepStrictEqual([...offs, toS2.offset].sort((x, y) => x - y), range(1, 9),
        'nine messages, offsets 1..9: r sees a gap where the emit to s2 is');
    await noMoreData(s1, 0);
    await noMoreData(s2, 0);

    // the wire form: {"type":T,"offset":N,"epoch":E,...
    for (const c of conns) assertWireForm(c);
});
