// The conf file and the command line: --check-config, errors naming FILE:LINE: key, exit 2.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { packageVersion, runObjcastd } from '../lib/server.mjs';

function confFile(t, text) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'objcast-conf-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'objcast.conf');
    writeFileSync(file, text);
    return file;
}

const VALID = `# objcast test conf
bind 127.0.0.1
port 0

engine memory
token_secret "a secret with spaces"
allowed_origins https://a.example https://b.example
auth_timeout 5
max_frame_bytes 65536
max_message_bytes 32768
max_data_bytes 16384
client_rate 100 200
log_level info
`;

test('--check-config accepts a valid file and exits 0', async (t) => {
    const file = confFile(t, VALID);
    const r = await runObjcastd(['--check-config', '-c', file]);
    assert.equal(r.code, 0, `stderr: ${r.stderr}`);
    assert.ok(!r.stdout.includes('listening on'), 'did not start listening');
});

const BAD = [
    { name: 'unknown key', line: 3, key: 'no_such_key', text: 'bind 127.0.0.1\nport 0\nno_such_key 1\n' },
    { name: 'bad number', line: 2, key: 'max_frame_bytes', text: '# sizes\nmax_frame_bytes 12abc\nport 0\n' },
    { name: 'out of range', line: 4, key: 'port', text: 'bind 127.0.0.1\n\n# too big\nport 70000\n' },
    { name: 'negative duration', line: 1, key: 'auth_timeout', text: 'auth_timeout -3\n' },
    { name: 'bad enum', line: 2, key: 'engine', text: 'port 0\nengine floppy\n' },
    { name: 'bad yes/no', line: 2, key: 'redis_cluster', text: 'engine redis\nredis_cluster maybe\n' },
    { name: 'trailing comma in the seed list', line: 3, key: 'redis_url',
        text: 'engine redis\nredis_cluster yes\nredis_url redis://127.0.0.1:7000,\n' },
    // Rules between keys that blame the URL name the line it was set on.
    { name: 'several hosts without redis_cluster', line: 3, key: 'redis_url',
        text: 'engine redis\n# three seeds\nredis_url redis://127.0.0.1:7000,127.0.0.1:7001,[::1]:7002\n' },
    { name: 'redis_cluster with a db other than 0', line: 1, key: 'redis_url',
        text: 'redis_url redis://:pw@127.0.0.1:7000/2\nengine redis\nredis_cluster yes\n' },
];

for (const bad of BAD) {
    test(`conf error (${bad.name}) names FILE:LINE: key and exits 2`, async (t) => {
        const file = confFile(t, bad.text);
        const want = `${file}:${bad.line}: ${bad.key}:`;

        const checked = await runObjcastd(['--check-config', '-c', file]);
        assert.equal(checked.code, 2, `--check-config exit code; stderr: ${checked.stderr}`);
        assert.ok(checked.stderr.includes(want), `stderr ${JSON.stringify(checked.stderr)} names ${want}`);

        // Without --check-config the server must refuse to start, before listening.
        const started = await runObjcastd(['-c', file, '--port', '0', '--bind', '127.0.0.1']);
        assert.equal(started.timedOut, false, 'exited by itself');
        assert.equal(started.code, 2, `exit code; stderr: ${started.stderr}`);
        assert.ok(started.stderr.includes(want), `stderr ${JSON.stringify(started.stderr)} names ${want}`);
        assert.ok(!started.stdout.includes('listening on'), 'never listened');
    });
}

test('--check-config accepts a Redis Cluster given by seed nodes', async (t) => {
    const file = confFile(t, `${VALID}engine redis\nredis_cluster yes\n` +
        'redis_url redis://:pw@127.0.0.1:7000,127.0.0.1:7001,[::1]:7002\n');
    const r = await runObjcastd(['--check-config', '-c', file]);
    assert.equal(r.code, 0, `stderr: ${r.stderr}`);
});

test('a rule between keys (max_message_bytes over max_frame_bytes) exits 2 naming the key', async (t) => {
    const file = confFile(t, 'max_frame_bytes 65536\nmax_data_bytes 2000\nmax_message_bytes 70000\n');
    const r = await runObjcastd(['--check-config', '-c', file]);
    assert.equal(r.code, 2, `stderr: ${r.stderr}`);
    assert.match(r.stderr, /max_message_bytes|max_frame_bytes/);
});

test('a conf file that does not exist exits 2', async () => {
    const r = await runObjcastd(['--check-config', '-c', '/nonexistent/objcast.conf']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\/nonexistent\/objcast\.conf/);
});

test('--version prints the version and exits 0', async () => {
    const r = await runObjcastd(['--version']);
    assert.equal(r.code, 0);
    const v = packageVersion();
    assert.match(r.stdout, /\d+\.\d+\.\d+/);
    if (v) assert.ok(r.stdout.includes(v), `stdout ${JSON.stringify(r.stdout)} has ${v}`);
    assert.ok(!r.stdout.includes('listening on'));
});

test('--help exits 0 and lists the conf keys', async () => {
    const r = await runObjcastd(['--help']);
    assert.equal(r.code, 0);
    for (const key of ['max_frame_bytes', 'max_message_bytes', 'token_secret', 'auth_timeout',
        'ping_interval', 'allowed_origins', 'client_output_limit', 'shutdown_timeout']) {
        assert.ok(r.stdout.includes(key), `--help lists ${key}`);
    }
});

test('a bad command-line override (--port abc) exits 2 naming the key', async () => {
    const r = await runObjcastd(['--bind', '127.0.0.1', '--port', 'abc']);
    assert.equal(r.timedOut, false, 'exited by itself');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /port/);
    assert.ok(!r.stdout.includes('listening on'));
});

test('an unknown command-line option exits 2', async () => {
    const r = await runObjcastd(['--bind', '127.0.0.1', '--port', '0', '--no_such_option', '1']);
    assert.equal(r.timedOut, false, 'exited by itself');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no_such_option/);
});
