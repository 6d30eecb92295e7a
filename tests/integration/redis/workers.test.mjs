// `workers N` (DESIGN.md): N processes share the port, each its own instance on the Redis
// engine; engine memory refuses workers > 1; presence_ttl has a minimum of 3.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { freePort, startNode, startRedis } from '../lib/redis.mjs';
import { alive, httpGet, runObjcastd, waitFor } from '../lib/server.mjs';
import { broadcast, expectNext, getParticipants, open, ovMessage, participant, subscribeAll } from '../lib/proto.mjs';

const LISTEN_RE = /objcastd listening on (\S+):(\d+) instance=(\S+) engine=(\S+)/g;

test('workers 2 with engine redis: two processes, two instances, one port; clients on both see each other', async (t) => {
    const redis = await startRedis({ t });
    const port = await freePort();
    const s = await startNode({ t, redis, conf: { workers: 2, port } });
    const lines = await waitFor(() => {
        const m = [...s.stdout().matchAll(LISTEN_RE)];
        return m.length >= 2 && m;
    }, 10000, 'two listening lines');
    assert.equal(lines.length, 2, `exactly two listening lines:\n${s.stdout()}`);
    const ids = lines.map((m) => m[3]);
    assert.notEqual(ids[0], ids[1], 'distinct instance ids');
    for (const m of lines) {
        assert.equal(Number(m[2]), port, 'both on the same port');
        assert.equal(m[4], 'redis');
    }
    // the default instance id is hostname:pid: the worker pids, neither of them the parent's
    const pids = ids.map((id) => Number(/:(\d+)$/.exec(id)?.[1]));
    t.after(() => {
        for (const pid of pids) {
            if (pid > 0 && alive(pid)) {
                process.kill(pid, 'SIGKILL');
            }
        }
    });
    assert.ok(pids.every((p) => p > 0), `instance ids end in a pid: ${ids}`);
    assert.notEqual(pids[0], pids[1]);

    // connect until both workers have clients (the kernel spreads connections)
    const byInstance = new Map();
    const conns = [];
    for (let i = 0; i < 60 && byInstance.size < 2; i++) {
        const c = await open(s, `u${i}`);
        conns.push(c);
        const inst = c.ready.payload.instance;
        assert.ok(ids.includes(inst), `objcast_ready instance ${inst} is one of ${ids}`);
        if (!byInstance.has(inst)) byInstance.set(inst, c);
    }
    assert.equal(byInstance.size, 2, `clients landed on both workers (${conns.length} connections tried)`);
    const [x, y] = [...byInstance.values()];
    await subscribeAll([x, y]);
    broadcast(x, 'cross-worker', { from: x.ready.payload.instance });
    await expectNext(y, ovMessage(x, 'cross-worker', { from: x.ready.payload.instance }));
    broadcast(y, 'back', 2);
    await expectNext(x, ovMessage(y, 'back', 2));
    const list = await getParticipants(y);
    assert.deepStrictEqual(list.payload, [x, y].map((w) => participant(w, y, { status: 'subscribed' }))
        .sort((p, q) => String(p.id).localeCompare(String(q.id))));
    assert.equal((await httpGet(s, '/readyz')).status, 200);

    // both are instances in Redis
    await waitFor(async () => {
        const inst = await redis.command('HKEYS', 'objcast:instances');
        return ids.every((id) => inst.includes(id));
    }, 6000, 'both workers in objcast:instances');

    // SIGTERM to the parent stops both workers
    const res = await s.stop('SIGTERM');
    assert.equal(res.code, 0, 'exit status 0');
    await waitFor(() => pids.every((p) => !alive(p)), 5000, 'both worker processes gone');
});

test('engine memory refuses workers > 1 (exit 2); workers 2 with engine redis passes --check-config', async () => {
    const r = await runObjcastd(['--engine', 'memory', '--workers', '2', '--port', '0']);
    assert.equal(r.code, 2, `exit 2, got ${r.code}\n${r.stderr}`);
    assert.match(r.stderr + r.stdout, /workers/);
    const ok = await runObjcastd(['--check-config', '--engine', 'redis', '--workers', '2', '--port', '0']);
    assert.equal(ok.code, 0, ok.stderr);
});

test('presence_ttl below 3 is refused (exit 2); 3 is accepted', async () => {
    const r = await runObjcastd(['--check-config', '--engine', 'redis', '--presence_ttl', '2']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr + r.stdout, /presence_ttl/);
    const ok = await runObjcastd(['--check-config', '--engine', 'redis', '--presence_ttl', '3']);
    assert.equal(ok.code, 0, ok.stderr);
});
