// The envelope of every message after auth (docs/protocol.md, "Envelope and participant
// object" and "Errors"): a JSON object with a string type, unknown fields ignored, ref
// echoed; anything else -> bad_request, an unknown type -> unknown_type, and the connection
// stays open. What each ovice_* and objcast_* message does has its own file in this folder.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import { connectAuthed } from '../lib/server.mjs';

function assertError(m, code, ref) {
    assert.equal(m.type, 'objcast_error', JSON.stringify(m));
    assert.equal(typeof m.payload, 'object');
    assert.equal(m.payload.code, code, JSON.stringify(m));
    assert.equal(typeof m.payload.message, 'string');
    assert.ok(m.payload.message.length > 0, 'message is not empty');
    if (ref !== undefined) assert.equal(m.ref, ref, `ref echoed in ${JSON.stringify(m)}`);
}

eachEngine('invalid JSON -> bad_request and the connection stays open', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const c = await connectAuthed(s);
    c.send('{"type": "nope", ');
    assertError(await c.next(), 'bad_request');
    assert.ok(c.isOpen);
    c.send('not json at all');
    assertError(await c.next(), 'bad_request');
    c.send({ type: 'nope', ref: 2 });
    assertError(await c.next(), 'unknown_type', 2);
    assert.ok(c.isOpen);
});

eachEngine('JSON that is not an object with a string type -> bad_request', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const c = await connectAuthed(s);
    for (const text of ['[1,2,3]', '[{"type":"nope"}]', '"objcast_auth"', '42', 'null', 'true',
        '{}', '{"type":5}', '{"type":null}', '{"type":["nope"]}', '{"type":{"a":1}}', '{"notype":"x"}']) {
        c.send(text);
        const m = await c.next();
        assertError(m, 'bad_request');
        assert.ok(c.isOpen, `open after ${text}`);
    }
    c.send({ type: 'nope', ref: 'after' });
    assertError(await c.next(), 'unknown_type', 'after');
});

eachEngine('bad_request for an object with a non-string type still echoes its ref', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const c = await connectAuthed(s);
    c.send({ type: 5, ref: 'x1' });
    assertError(await c.next(), 'bad_request', 'x1');
    c.send({ ref: 11 });
    assertError(await c.next(), 'bad_request', 11);
});

eachEngine('unknown type -> unknown_type echoing a string or number ref', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const c = await connectAuthed(s);
    c.send({ type: 'nope', ref: 'r1' });
    assertError(await c.next(), 'unknown_type', 'r1');
    c.send({ type: 'nope', ref: 12345 });
    assertError(await c.next(), 'unknown_type', 12345);
    c.send({ type: 'nope' });
    const m = await c.next();
    assertError(m, 'unknown_type');
    assert.equal(m.ref, undefined, 'no ref when none was sent');
});

eachEngine('unknown fields are ignored and replies come in the order sent', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const c = await connectAuthed(s);
    for (let i = 0; i < 50; i++) c.send({ type: `nope${i}`, ref: i, extra: { nested: [1, 2, 3] } });
    for (let i = 0; i < 50; i++) assertError(await c.next(), 'unknown_type', i);
});

eachEngine('JSON with escapes and non-ASCII text is parsed', async (t, engine) => {
    const { nodes: [s] } = await engine.start(t);
    const c = await connectAuthed(s);
    c.send('{"type":"n\\u006fpe","ref":"\\u00e9t\\u00e9 \u2603 \ud83d\ude00","x":"\\"\\\\\\/"}');
    assertError(await c.next(), 'unknown_type', 'été ☃ 😀');
});
