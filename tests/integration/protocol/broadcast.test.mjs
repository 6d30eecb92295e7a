// ovice_broadcast_message (docs/protocol.md section 4.3, decisions "Plugin messages"): every other
// connection on the object gets the exact ovice_message, the sender only with echo:true,
// source is the authenticated id, message is forwarded as the raw text received.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import {
    OBJ, assertUsable, broadcast, expectError, expectNext, expectSilence, flush, join, open, ovMessage,
    presence, rawsWhere, sendLeave, subscribe, subscribeAll, user,
} from '../lib/proto.mjs';

eachEngine('others (the sender\'s other connection included) get the exact ovice_message; no echo, no reply', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const ua = user('a');
    const a1 = await open(s, ua);
    const a2 = await open(s, ua);
    const b = await open(s, 'b');
    const c = await open(s, 'c');
    const d = await open(s, 'd');
    const other = await open(s, 'other');
    await subscribeAll([a1, a2, b]);
    await join(c);
    await expectNext(a1, presence('joined', c, a1));
    await expectNext(a2, presence('joined', c, a2));
    await expectNext(b, presence('joined', c, b));
    await join(d);
    for (const r of [a1, a2, b, c]) await expectNext(r, presence('joined', d, r));
    sendLeave(d, OBJ);
    for (const r of [d, a1, a2, b, c]) await expectNext(r, presence('left', d, r));
    await subscribe(other, 'L2');

    const msg = { key1: 'value1', key2: 42, key3: ['item1', 'item2'] };
    broadcast(a1, 'exampleEvent', msg, { ref: 'b1' });
    const want = {
        type: 'ovice_message',
        objectId: 'L1',
        payload: { source: 'a', event: 'exampleEvent', objectId: 'L1', message: msg },
    };
    for (const r of [a2, b, c, d]) await expectNext(r, want, 'subscribed, joined and left participants receive it');
    await flush(a1); // nothing (no echo, no ack) came before the flush reply
    await expectSilence([a1, a2, b, c, d, other]);

    // a left participant may broadcast too
    broadcast(d, 'fromLeft', 1);
    for (const r of [a1, a2, b, c]) await expectNext(r, ovMessage(d, 'fromLeft', 1));
    await expectSilence([d, other]);
});

eachEngine('echo:true sends the same frame back to the sender; echo:false does not', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    await subscribeAll([a, b]);
    broadcast(a, 'e1', { x: 1 }, { echo: true, ref: 9 });
    await expectNext(b, ovMessage(a, 'e1', { x: 1 }));
    await expectNext(a, ovMessage(a, 'e1', { x: 1 }), 'echo to the sender');
    broadcast(a, 'e2', 'two', { echo: false });
    await expectNext(b, ovMessage(a, 'e2', 'two'));
    await flush(a);
    await expectSilence(a);
    // echo inside payload is not the top-level flag
    a.send({ type: 'ovice_broadcast_message', objectId: OBJ, payload: { event: 'e3', message: 3, echo: true } });
    await expectNext(b, ovMessage(a, 'e3', 3));
    await flush(a);
});

eachEngine('source and payload objectId are overwritten with the authenticated id and the object', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, user(12, { ws: 'w-x' }));
    const b = await open(s, user('b', { ws: 'w-x' }));
    await subscribeAll([a, b]);
    a.send({ type: 'ovice_broadcast_message', objectId: OBJ,
        payload: { source: 'admin', event: 'forged', objectId: 'L999', message: 'm' } });
    const m = await expectNext(b, {
        type: 'ovice_message', objectId: 'L1',
        payload: { source: 12, event: 'forged', objectId: 'L1', message: 'm' },
    });
    assert.strictEqual(m.payload.source, 12, 'integer sub stays an integer');
    broadcast(b, 'forged2', 'n', { source: 12 });
    await expectNext(a, ovMessage(b, 'forged2', 'n'));
});

eachEngine('message of every JSON type arrives equal and byte-identical, also on another instance', async (t, engine) => {
    const { nodes: [A, B] } = await engine.start(t, { instances: 2 });
    const a = await open(A, 'a');
    const b = await open(B, 'b');
    await subscribeAll([a, b]);
    const cases = [
        '"plain string"',
        '"esc \\u00e9 \\n \\"q\\" \\\\ \\/ \\ud83d\\ude00"',
        '"raw é ☃ 😀"',
        '42',
        '-0.5',
        '1.50E+3',
        '1e-7',
        '12345678901234567890123',
        '[]',
        '[1 , "two" ,  [3], {"four" :4}]',
        '{}',
        '{"a" : "\\u00e9", "b" : [ 1 , 2.50 ] ,"c":{ "d" : null }}',
        'null',
        'true',
        'false',
        '{"nested":{"deep":[[[[{"x":[true,false,null]}]]]]}}',
        '"\\r\\n*1\\r\\n$4\\r\\nPING\\r\\n"', // a Redis (RESP) command inside the string
    ];
    for (let i = 0; i < cases.length; i++) {
        const text = cases[i];
        const ev = `t${i}`;
        broadcast(a, ev, undefined, { raw: text });
        const m = await expectNext(b, ovMessage(a, ev, JSON.parse(text)), `message ${text}`);
        assert.ok('message' in m.payload, 'message key present (also for null)');
        const raws = rawsWhere(b, (x) => x.payload?.event === ev);
        assert.equal(raws.length, 1);
        assert.ok(raws[0].includes(text), `raw frame ${raws[0]} contains the message text ${text} verbatim`);
    }
    await flush(a);
});

eachEngine('missing or invalid event/message -> bad_request with objectId and ref; nothing delivered', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    await subscribeAll([a, b]);
    const bad = [
        { event: 'no-message' },
        { message: 'no event' },
        { event: 5, message: 'x' },
        { event: null, message: 'x' },
        { event: { e: 1 }, message: 'x' },
        {},
    ];
    let i = 0;
    for (const payload of bad) {
        const ref = `bad${i++}`;
        a.send({ type: 'ovice_broadcast_message', objectId: OBJ, ref, payload });
        await expectError(a, 'bad_request', { objectId: OBJ, ref });
        await assertUsable(a, b);
    }
    for (const payload of [undefined, 'str', [1, 2], null]) {
        const ref = `badp${i++}`;
        const msg = { type: 'ovice_broadcast_message', objectId: OBJ, ref };
        if (payload !== undefined) msg.payload = payload;
        a.send(msg);
        await expectError(a, 'bad_request', { objectId: OBJ, ref });
        await assertUsable(a, b);
    }
    await expectSilence([a, b]);
});

eachEngine('connections on another object or not subscribed receive nothing', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    const x = await open(s, 'x'); // authenticated, on no object
    const y = await open(s, 'y');
    await subscribeAll([a, b]);
    await subscribe(y, 'L2');
    broadcast(a, 'only-L1', [1]);
    await expectNext(b, ovMessage(a, 'only-L1', [1]));
    broadcast(y, 'only-L2', [2], { objectId: 'L2' });
    await expectSilence([a, b, x, y]);
});

eachEngine('broadcast: every other connection on every instance gets the exact ovice_message; echo only on request', async (t, engine) => {
    const { nodes: [A, B, C] } = await engine.start(t, { instances: 3 });
    const ua = user('a');
    const a1 = await open(A, ua);
    const a2 = await open(B, ua);
    const b = await open(B, 'b');
    const c = await open(C, user(12));
    const off = await open(C, 'off');
    await subscribeAll([a1, a2, b, c]);
    await subscribe(off, 'L2');

    const msg = { key1: 'value1', key2: 42, key3: ['item1', 'item2'] };
    broadcast(a1, 'exampleEvent', msg, { ref: 'b1', source: 'forged' });
    const want = {
        type: 'ovice_message',
        objectId: 'L1',
        payload: { source: 'a', event: 'exampleEvent', objectId: 'L1', message: msg },
    };
    for (const r of [a2, b, c]) await expectNext(r, want, 'on another instance');
    await flush(a1);
    await expectSilence([a1, a2, b, c, off]);

    broadcast(c, 'echoed', [1, 'x'], { echo: true });
    for (const r of [a1, a2, b]) await expectNext(r, ovMessage(c, 'echoed', [1, 'x']));
    const echo = await expectNext(c, ovMessage(c, 'echoed', [1, 'x']), 'echo to the sender');
    assert.strictEqual(echo.payload.source, 12);
    await expectSilence([a1, a2, b, c, off]);
});
