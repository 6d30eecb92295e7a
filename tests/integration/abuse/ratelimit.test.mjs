// client_rate RATE BURST: a token bucket per connection; rate_limited errors, then close 1008.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { connectAuthed, sleep, startServer } from '../lib/server.mjs';

test('over client_rate: rate_limited with ref, others unaffected, bucket refills', async (t) => {
    const s = await startServer({ t, conf: { client_rate: '10 20' } });
    const a = await connectAuthed(s, { sub: 'a', ws: 1 });
    const b = await connectAuthed(s, { sub: 'b', ws: 1 });
    for (let i = 0; i < 25; i++) a.send({ type: 'nope', ref: i });
    const codes = [];
    for (let i = 0; i < 25; i++) {
        const m = await a.next();
        assert.equal(m.type, 'objcast_error');
        assert.equal(m.ref, i);
        codes.push(m.payload.code);
    }
    // the burst (20) passes, the rest is refused
    assert.equal(codes.filter((c) => c === 'unknown_type').length, 20);
    assert.equal(codes.filter((c) => c === 'rate_limited').length, 5);
    // another client has its own bucket
    b.send({ type: 'nope', ref: 'b' });
    assert.equal((await b.next()).payload.code, 'unknown_type');
    // after a while the bucket has refilled
    await sleep(300);
    a.send({ type: 'nope', ref: 'later' });
    const m = await a.next();
    assert.equal(m.ref, 'later');
    assert.equal(m.payload.code, 'unknown_type');
});

test('a client that keeps flooding far over client_rate is closed with 1008', async (t) => {
    const s = await startServer({ t, conf: { client_rate: '10 20' } });
    const a = await connectAuthed(s, { sub: 'a', ws: 1 });
    const b = await connectAuthed(s, { sub: 'b', ws: 1 });
    for (let i = 0; i < 200; i++) a.send({ type: 'nope', ref: i });
    const closed = await a.closed();
    assert.equal(closed.code, 1008);
    b.send({ type: 'nope', ref: 'still' });
    assert.equal((await b.next()).ref, 'still');
});
