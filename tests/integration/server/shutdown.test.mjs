// SIGTERM: close every client with 1001 and exit 0 within shutdown_timeout.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { connect, connectAuthed, rawSocket, startServer } from '../lib/server.mjs';
import { OP } from '../lib/wsframe.mjs';

test('SIGTERM closes two authenticated clients with 1001 and exits 0', async (t) => {
    const s = await startServer({ t, conf: { shutdown_timeout: 3 } });
    const a = await connectAuthed(s, { sub: 'a' });
    const b = await connectAuthed(s, { sub: 'b' });
    const t0 = Date.now();
    const exit = s.stop('SIGTERM', { killAfterMs: 8000 });
    const [ca, cb] = await Promise.all([a.closed(5000), b.closed(5000)]);
    assert.equal(ca.code, 1001);
    assert.equal(cb.code, 1001);
    const { code, signal } = await exit;
    const elapsed = Date.now() - t0;
    assert.equal(signal, null, 'exited by itself');
    assert.equal(code, 0);
    assert.ok(elapsed < 4000, `exit took ${elapsed} ms (shutdown_timeout 3 s)`);
    assert.match(s.stdout(), /listening/);
});

test('SIGTERM also closes unauthenticated WebSocket clients with 1001', async (t) => {
    const s = await startServer({ t, conf: { shutdown_timeout: 3 } });
    const a = await connect(s);
    const exit = s.stop('SIGTERM', { killAfterMs: 8000 });
    assert.equal((await a.closed(5000)).code, 1001);
    assert.equal((await exit).code, 0);
});

test('a client that never answers the close does not hold the exit past shutdown_timeout', async (t) => {
    const s = await startServer({ t, conf: { shutdown_timeout: 2 } });
    const raw = await rawSocket(s);
    await raw.handshake();
    await raw.auth(s.token());
    const ok = await connectAuthed(s, { sub: 'ok' });
    const t0 = Date.now();
    const exit = s.stop('SIGTERM', { killAfterMs: 8000 });
    const f = await raw.readFrameOf(OP.CLOSE, 3000);
    assert.equal(f.code, 1001);
    // raw never sends its close frame back
    const { code, signal } = await exit;
    const elapsed = Date.now() - t0;
    assert.equal(signal, null, 'exited by itself');
    assert.equal(code, 0);
    assert.ok(elapsed < 3000, `exit took ${elapsed} ms (shutdown_timeout 2 s)`);
    assert.equal((await ok.closed(1000)).code, 1001);
});
