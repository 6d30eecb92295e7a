// SIGHUP reads the conf file again: log level, limits, and token_secret rotation with a
// grace period for the previous secret.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { connect, mintToken, objcastdPath, sanitizerReport, sleep, waitFor } from '../lib/server.mjs';

/* objcastd on a conf file of its own (the harness puts the secret on the command line,
 * which a reload would read again). */
async function startWithFile(t, text) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'objcast-reload-'));
    const file = path.join(dir, 'objcast.conf');
    writeFileSync(file, text);
    const proc = spawn(objcastdPath(), ['-c', file, '--bind', '127.0.0.1', '--port', '0'],
        { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    const port = await waitFor(() => Number(/listening on [^ ]*:(\d+)/.exec(out)?.[1]), 10000, 'listening');
    const server = { port, url: (p) => `http://127.0.0.1:${port}${p}` };
    t.after(async () => {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
        rmSync(dir, { recursive: true, force: true });
        assert.equal(sanitizerReport(err), null, err);
    });
    return { server, proc, file, stdout: () => out };
}

async function tryAuth(server, secret) {
    const c = await connect(server);
    c.send({ type: 'objcast_auth', token: mintToken({ sub: 'u', ws: 1 }, secret) });
    const m = await c.next(undefined, 5000);
    c.close();
    return m.type === 'objcast_ready';
}

const A = 'secret-A-0123456789012345678901234567';
const B = 'secret-B-0123456789012345678901234567';

test('SIGHUP rotates token_secret: the old one verifies during the grace period only', async (t) => {
    const s = await startWithFile(t, `token_secret ${A}\ntoken_secret_grace 2\nlog_level info\n`);
    assert.equal(await tryAuth(s.server, A), true);
    assert.equal(await tryAuth(s.server, B), false);
    writeFileSync(s.file, `token_secret ${B}\ntoken_secret_grace 2\nlog_level info\n`);
    s.proc.kill('SIGHUP');
    await waitFor(() => /reload done/.test(s.stdout()), 5000, 'reload done');
    assert.equal(await tryAuth(s.server, B), true);
    assert.equal(await tryAuth(s.server, A), true, 'the previous secret during the grace period');
    await sleep(2500);
    assert.equal(await tryAuth(s.server, A), false, 'the previous secret after the grace period');
    assert.equal(await tryAuth(s.server, B), true);
});

test('SIGHUP applies log level and limits; an invalid file changes nothing', async (t) => {
    const s = await startWithFile(t, `token_secret ${A}\nlog_level warning\nclient_rate 200 400\n`);
    writeFileSync(s.file, `token_secret ${A}\nlog_level debug\nclient_rate 1 1\n`);
    s.proc.kill('SIGHUP');
    await waitFor(() => /reload done log_level=debug/.test(s.stdout()), 5000, 'reload done');
    const c = await connect(s.server);
    c.send({ type: 'objcast_auth', token: mintToken({ sub: 'u', ws: 1 }, A) });
    assert.equal((await c.next()).type, 'objcast_ready');
    c.send({ type: 'nope', ref: 1 });
    c.send({ type: 'nope', ref: 2 });
    assert.equal((await c.next()).payload.code, 'unknown_type');
    assert.equal((await c.next()).payload.code, 'rate_limited', 'client_rate 1 1 applies');
    // a broken file: refused, the running configuration stays
    writeFileSync(s.file, `token_secret ${A}\nport nope\n`);
    s.proc.kill('SIGHUP');
    await waitFor(() => /reload refused/.test(s.stdout()), 5000, 'reload refused');
    assert.equal(await tryAuth(s.server, A), true);
});
