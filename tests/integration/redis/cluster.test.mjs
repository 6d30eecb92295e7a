// The cluster topology of scripts/cluster, run natively: redis-server, three objcastd
// (engine redis) and haproxy in front. Clients connect through haproxy only; the
// objcast_ready payload's `instance` tells where each one landed. And the six-node Redis
// Cluster that scripts/cluster --redis-cluster runs (scripts/lib/rediscluster.sh).
//
// scripts/cluster uses the daemon under test (OBJCAST_BUILD_DIR), free ports and a temp
// state dir. haproxy must be installed (scripts/test installs it): without it this test
// fails, it is not skipped.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { RespClient, freePorts } from '../lib/redis.mjs';
import { freePortRun, keySlot, objcastKey, parseClusterShards, parseInfo } from '../lib/rediscluster.mjs';
import { alive, httpGet, mintToken, objcastdPath, randomSecret, sanitizerReport, srcDir, waitFor } from '../lib/server.mjs';
import {
    OBJ, broadcast, collect, expectNext, expectSilence, getData, getParticipants, open, ovMessage, participant, presence,
    saveData, sortById, subscribe, subscribeAll,
} from '../lib/proto.mjs';

const TTL = 3;
const INSTANCES = ['objcast-1', 'objcast-2', 'objcast-3'];
const live = new Set();

process.on('exit', () => {
    for (const pid of live) {
        try {
            process.kill(-pid, 'SIGKILL');
        } catch {
            /* gone */
        }
    }
});

/*
 * Runs scripts/cluster (its own process group) and resolves once it printed its URL:
 * {port, secret, dir, pids: {name: pid}, url(), token(), clients, output()}. A pseudo
 * server for lib/proto.mjs's open(): connections go to haproxy's port. With redisCluster,
 * scripts/cluster --redis-cluster: six Redis Cluster nodes (pids redis-1 .. redis-6).
 */
async function startScriptCluster(t, { redisCluster = false } = {}) {
    // one call for every port, so none is handed out twice (each call finds free ports
    // alone, and two calls can get the same one)
    const [port, ...iports] = await freePorts(redisCluster ? 4 : 5);
    const redisPort = redisCluster ? (await freePortRun(6))[0] : iports.pop();
    const redisNames = redisCluster ? ['redis-1', 'redis-2', 'redis-3', 'redis-4', 'redis-5', 'redis-6'] : ['redis'];
    const dir = mkdtempSync(path.join(os.tmpdir(), 'objcast-cluster-'));
    const secret = randomSecret();
    const env = {
        ...process.env,
        OBJCAST_CLUSTER_PORT: String(port),
        OBJCAST_CLUSTER_BIND: '127.0.0.1',
        OBJCAST_CLUSTER_INSTANCE_PORTS: iports.join(' '),
        OBJCAST_CLUSTER_REDIS_PORT: String(redisPort),
        OBJCAST_CLUSTER_DIR: dir,
        OBJCAST_BUILD_DIR: path.resolve(path.dirname(objcastdPath()), '..'),
        OBJCAST_TOKEN_SECRET: secret,
    };
    const args = [...(redisCluster ? ['--redis-cluster'] : []), '--', '--presence_ttl', String(TTL), '--log_level', 'debug'];
    const proc = spawn(path.join(srcDir, 'scripts', 'cluster'), args, {
        env, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(proc.pid);
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    proc.stderr.setEncoding('utf8').on('data', (d) => (out += d));
    let exited = null;
    const exitPromise = new Promise((resolve) => proc.on('close', (code, signal) => {
        exited = { code, signal };
        live.delete(proc.pid);
        resolve(exited);
    }));

    const cluster = {
        host: '127.0.0.1',
        port,
        secret,
        dir,
        pids: {},
        clients: new Set(),
        url: (p = '/') => `http://127.0.0.1:${port}${p}`,
        token: (claims = {}) => mintToken(claims, secret),
        output: () => out,
        log: (name) => {
            try {
                return readFileSync(path.join(dir, `${name}.log`), 'utf8');
            } catch {
                return '';
            }
        },
    };

    t.after(async () => {
        for (const c of cluster.clients) c.destroy();
        if (!exited) proc.kill('SIGTERM');
        const timer = setTimeout(() => {
            try {
                process.kill(-proc.pid, 'SIGKILL');
            } catch {
                /* gone */
            }
        }, 30000);
        const res = await exitPromise;
        clearTimeout(timer);
        // whatever the script started must be gone with it
        const left = Object.entries(cluster.pids).filter(([, pid]) => alive(pid));
        for (const [, pid] of left) process.kill(pid, 'SIGKILL');
        const logs = Object.fromEntries(INSTANCES.map((n) => [n, cluster.log(n)]));
        rmSync(dir, { recursive: true, force: true });
        for (const [n, text] of Object.entries(logs)) {
            const line = sanitizerReport(text);
            assert.equal(line, null, `${n}: sanitizer report: ${line}\n${text.slice(-20000)}`);
        }
        assert.deepStrictEqual(left.map(([n]) => n), [], 'scripts/cluster stopped everything it started');
        assert.ok(res.code === 0 || res.code === 143 || res.signal === 'SIGTERM',
            `scripts/cluster exit: ${JSON.stringify(res)}\n${out.slice(-4000)}`);
    });

    // up when it prints its URL; a script that exits first (haproxy missing, a port in
    // use, a build error) fails the test at once
    const up = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve('timed out after 120 s'), 120000);
        const check = () => {
            if (/==> objcast cluster on ws:\/\/\S+\/ws/.test(out)) {
                clearTimeout(timer);
                resolve(null);
            }
        };
        proc.stdout.on('data', check);
        exitPromise.then((r) => {
            clearTimeout(timer);
            resolve(`exited with ${JSON.stringify(r)}`);
        });
    });
    if (up) throw new Error(`scripts/cluster did not come up (${up})\n${out.slice(-6000)}`);
    for (const name of [...redisNames, 'haproxy', ...INSTANCES]) {
        const f = path.join(dir, `${name}.pid`);
        assert.ok(existsSync(f), `${f} written`);
        cluster.pids[name] = Number(readFileSync(f, 'utf8').trim());
        assert.ok(alive(cluster.pids[name]), `${name} (pid ${cluster.pids[name]}) runs`);
    }
    assert.match(out, new RegExp(`ws://127\\.0\\.0\\.1:${port}/ws`));
    return cluster;
}

/* Opens connections through haproxy (users `${prefix}1`, ...) until every instance in
 * `want` has at least one; returns them with .instance set. */
async function spread(cluster, prefix, want, max = 15) {
    const conns = [];
    const seen = new Set();
    for (let i = 1; i <= max && want.some((w) => !seen.has(w)); i++) {
        const c = await open(cluster, `${prefix}${i}`);
        c.instance = c.ready.payload.instance;
        assert.ok(INSTANCES.includes(c.instance), `landed on ${c.instance}`);
        seen.add(c.instance);
        conns.push(c);
    }
    assert.deepStrictEqual([...seen].sort(), [...want].sort(),
        `connections through haproxy reach every instance (${conns.map((c) => c.instance)})`);
    return conns;
}

test('through haproxy: clients land on all three instances and see each other', async (t) => {
    const cl = await startScriptCluster(t);
    assert.equal((await httpGet(cl, '/readyz')).status, 200, '/readyz through haproxy');
    assert.equal((await httpGet(cl, '/healthz')).status, 200);
    const conns = await spread(cl, 'u', INSTANCES);
    await subscribeAll(conns);
    for (const c of conns) {
        const list = await getParticipants(c);
        assert.deepStrictEqual(list.payload, sortById(conns.map((w) => participant(w, c, { status: 'subscribed' }))),
            `${c.claims.sub} on ${c.instance} lists everyone`);
    }
    const [first, ...rest] = conns;
    broadcast(first, 'via-lb', { from: first.instance });
    for (const r of rest) await expectNext(r, ovMessage(first, 'via-lb', { from: first.instance }), `${r.claims.sub} on ${r.instance}`);
    await expectSilence(conns, 200);
});

test('through haproxy: an instance killed, its clients reconnect elsewhere and are presented again', async (t) => {
    const cl = await startScriptCluster(t);
    const conns = await spread(cl, 'u', INSTANCES);
    await subscribeAll(conns);
    const victim = conns[0].instance;
    const gone = conns.filter((c) => c.instance === victim);
    const stay = conns.filter((c) => c.instance !== victim);
    assert.ok(stay.length >= 2);

    const killedAt = Date.now();
    process.kill(cl.pids[victim], 'SIGKILL');
    for (const c of gone) await c.closed(5000);
    // the others hear of every user of the dead instance within presence_ttl + 2 s
    for (const r of stay) {
        const msgs = await collect(r, gone.length, Math.max(1, killedAt + (TTL + 2) * 1000 - Date.now()));
        assert.deepStrictEqual(sortById(msgs.map((m) => m.payload)).map((p) => p.id), gone.map((c) => c.claims.sub).sort());
        for (const m of msgs) {
            const who = gone.find((c) => c.claims.sub === m.payload.id);
            assert.deepStrictEqual(m, presence('unsubscribed', who, r));
        }
    }
    await expectSilence(stay, 300);

    // they reconnect through the same address: haproxy sends them to the live instances
    const back = [];
    for (const old of gone) {
        const c = await open(cl, old.claims);
        c.instance = c.ready.payload.instance;
        assert.notEqual(c.instance, victim, `${old.claims.sub} reconnected to a live instance`);
        assert.ok(INSTANCES.includes(c.instance));
        await subscribe(c);
        for (const r of [...stay, ...back]) await expectNext(r, presence('subscribed', c, r), `${r.claims.sub} sees ${c.claims.sub} again`);
        back.push(c);
    }
    const everyone = [...stay, ...back];
    for (const c of everyone) {
        const list = await getParticipants(c);
        assert.deepStrictEqual(list.payload, sortById(everyone.map((w) => participant(w, c, { status: 'subscribed' }))));
    }
    broadcast(back[0], 'i-am-back', 1);
    for (const r of everyone.filter((c) => c !== back[0])) await expectNext(r, ovMessage(back[0], 'i-am-back', 1));
    assert.equal((await httpGet(cl, '/readyz')).status, 200, 'the balancer still answers');
    // the script noticed and said so, and keeps the rest running
    await waitFor(() => cl.output().includes(`${victim} (pid ${cl.pids[victim]}) exited`), 3000, 'the script to report the death');
    for (const n of ['redis', 'haproxy', ...INSTANCES.filter((x) => x !== victim)]) assert.ok(alive(cl.pids[n]), `${n} still runs`);
});

test('scripts/cluster --redis-cluster: through haproxy, a message between two instances and a save, kept on the slot\'s master', async (t) => {
    const cl = await startScriptCluster(t, { redisCluster: true });
    assert.equal((await httpGet(cl, '/readyz')).status, 200, '/readyz through haproxy');
    const ports = readFileSync(path.join(cl.dir, 'redis-cluster.ports'), 'utf8').trim().split(' ').map(Number);
    assert.equal(ports.length, 6);
    // the instances are on the cluster: every one of them says so in its log line
    for (const n of INSTANCES) assert.match(cl.log(n), /objcastd listening on .* engine=redis/, n);
    // clients through the balancer until two instances have one
    const conns = [];
    for (let i = 1; i <= 10 && new Set(conns.map((c) => c.instance)).size < 2; i++) {
        const c = await open(cl, `r${i}`);
        c.instance = c.ready.payload.instance;
        assert.ok(INSTANCES.includes(c.instance), `landed on ${c.instance}`);
        if (!conns.some((x) => x.instance === c.instance)) conns.push(c);
        else c.destroy();
    }
    assert.equal(conns.length, 2, 'two instances reached through haproxy');
    const [x, y] = conns;
    await subscribeAll(conns);
    broadcast(x, 'via-lb', { from: x.instance });
    await expectNext(y, ovMessage(x, 'via-lb', { from: x.instance }), `${y.claims.sub} on ${y.instance}`);
    saveData(x, { title: 'on the cluster' }, { ref: 's1' });
    const saved = await x.next(undefined, 5000);
    assert.equal(saved.type, 'ovice_data_saved_success', JSON.stringify(saved));
    const shared = await y.next(undefined, 5000);
    assert.equal(shared.type, 'ovice_shared_data', JSON.stringify(shared));
    assert.deepStrictEqual(shared.payload, { title: 'on the cluster' });
    assert.deepStrictEqual((await getData(y)).payload, { title: 'on the cluster' });
    // the object's data is on the master of its slot (asked without following redirections)
    const key = objcastKey('987', OBJ, 'data');
    const slots = await nodeCmd(ports[0], 'CLUSTER', 'SLOTS');
    const owner = Number(slots.find(([a, b]) => a <= keySlot(key) && keySlot(key) <= b)[2][1]);
    assert.ok(ports.includes(owner), `slot owner ${owner} is a node of the script's cluster`);
    assert.equal(await nodeCmd(owner, 'HGET', key, 'title'), '"on the cluster"');
    await expectSilence(conns, 200);
});

/* Runs a bash script with scripts/lib/common.sh and scripts/lib/rediscluster.sh sourced
 * (set -euo pipefail, as the scripts have it): resolves {code, out}. */
function libBash(script, env = {}) {
    const full = `set -euo pipefail\n. scripts/lib/common.sh\n. scripts/lib/rediscluster.sh\n${script}`;
    return new Promise((resolve) => {
        execFile('bash', ['-c', full], { cwd: srcDir, env: { ...process.env, ...env }, timeout: 90000 },
            (err, stdout, stderr) => resolve({ code: err ? err.code : 0, out: `${stdout}${stderr}` }));
    });
}

/* One command to one node on a fresh connection. */
async function nodeCmd(port, ...args) {
    const c = await RespClient.connect(port);
    try {
        return await c.command(...args);
    } finally {
        c.close();
    }
}

test('scripts/lib/rediscluster.sh: six nodes become 3 masters with a replica each, and the same cluster after a restart', async (t) => {
    const ports = await freePortRun(6);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'objcast-rcluster-sh-'));
    const pids = new Set();
    t.after(() => {
        for (const pid of pids) {
            try {
                process.kill(pid, 'SIGKILL');
            } catch {
                /* gone */
            }
        }
        rmSync(dir, { recursive: true, force: true });
    });
    // the nodes outlive the shell that started them: the test stops them
    const startJoin = `rediscluster_start "$STATE" ${ports.join(' ')}
echo "pids \${RC_PIDS[*]}"
rediscluster_join "$STATE" 60
echo "url $(rediscluster_url)"`;
    const up = async (what) => {
        const r = await libBash(startJoin, { STATE: dir });
        const pidLine = /^pids (.*)$/m.exec(r.out);
        if (pidLine) for (const p of pidLine[1].split(' ')) pids.add(Number(p));
        assert.equal(r.code, 0, `${what}:\n${r.out}`);
        return /^url (.*)$/m.exec(r.out)[1];
    };

    const url = await up('start and join');
    assert.equal(url, `redis://${ports.slice(0, 3).map((p) => `127.0.0.1:${p}`).join(',')}`, 'the first three are the masters');
    const ids = {};
    for (const p of ports) {
        const info = parseInfo(await nodeCmd(p, 'CLUSTER', 'INFO'));
        assert.equal(info.cluster_state, 'ok', `${p} cluster_state`);
        assert.equal(Number(info.cluster_known_nodes), 6);
        assert.equal(Number(info.cluster_size), 3);
        const shards = parseClusterShards(await nodeCmd(p, 'CLUSTER', 'SHARDS'));
        assert.deepStrictEqual(shards.map((s) => s.nodes.map((n) => n.role).sort().join()),
            ['master,replica', 'master,replica', 'master,replica'], `${p}: three shards of a master and a replica`);
        const repl = parseInfo(await nodeCmd(p, 'INFO', 'replication'));
        if (repl.role === 'slave') assert.equal(repl.master_link_status, 'up', `${p}'s link to its master`);
        // conf/redis.conf's settings hold on every node
        assert.deepStrictEqual(await nodeCmd(p, 'CONFIG', 'GET', 'appendonly'), ['appendonly', 'yes']);
        assert.deepStrictEqual(await nodeCmd(p, 'CONFIG', 'GET', 'maxmemory-policy'), ['maxmemory-policy', 'noeviction']);
        ids[p] = await nodeCmd(p, 'CLUSTER', 'MYID');
    }

    // a saved object, on its master and acknowledged by the replica
    const key = 'objcast:{987:L1}:data';
    const slots = await nodeCmd(ports[0], 'CLUSTER', 'SLOTS');
    const owner = Number(slots.find(([a, b]) => a <= keySlot(key) && keySlot(key) <= b)[2][1]);
    const c = await RespClient.connect(owner);
    await c.command('HSET', key, 'title', '"kept"');
    assert.equal(await c.command('WAIT', 1, 2000), 1);
    c.close();

    // stopped (SIGTERM, as scripts/cluster does) and started again on the same state
    assert.equal((await libBash(`RC_PIDS=(${[...pids].join(' ')}); rediscluster_stop`)).code, 0);
    for (const pid of pids) assert.ok(!alive(pid), `node pid ${pid} stopped`);
    pids.clear();
    assert.equal(await up('restart on the same state'), url);
    for (const p of ports) assert.equal(await nodeCmd(p, 'CLUSTER', 'MYID'), ids[p], `${p} is the same node`);
    const again = await RespClient.connect(owner);
    assert.equal(await again.command('HGET', key, 'title'), '"kept"', 'the AOF kept the data');
    again.close();

    // a state made on other ports is refused (nodes.conf names the nodes by address)
    const other = await libBash(`rediscluster_start "$STATE" ${ports.map((p) => p + 1).join(' ')}`, { STATE: dir });
    assert.notEqual(other.code, 0);
    assert.match(other.out, /was made on ports/);
    assert.equal(existsSync(path.join(dir, 'redis-1', 'nodes.conf')), true);
});
