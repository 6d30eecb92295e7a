// The compose cluster (docker/compose.yml) run for real by scripts/docker-test, driven from
// the outside through haproxy: what the compose file promises an operator. The script
// gives the cluster in the environment:
//   OBJCAST_DOCKER_URL            haproxy's address (http://127.0.0.1:PORT)
//   OBJCAST_TOKEN_SECRET          the instances' token secret
//   OBJCAST_DOCKER_PROJECT        the compose project (container labels and names)
//   OBJCAST_DOCKER_COMPOSE        the compose command, a JSON array of words
//   OBJCAST_DOCKER_PRESENCE_TTL   the instances' presence_ttl
// The steps run in order on one cluster and build on each other: after a failure the later
// ones may fail for it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, test } from 'node:test';
import { promisify } from 'node:util';

import {
    broadcast, expectNext, join, open, ovMessage, presence, saveAndCheck, user,
} from '../integration/lib/proto.mjs';
import { httpGet, mintToken, sleep, waitFor } from '../integration/lib/server.mjs';

const run = promisify(execFile);
const env = (k) => {
    const v = process.env[k];
    if (!v) throw new Error(`${k} is not set: run this through scripts/docker-test`);
    return v;
};
const base = env('OBJCAST_DOCKER_URL');
const secret = env('OBJCAST_TOKEN_SECRET');
const project = env('OBJCAST_DOCKER_PROJECT');
const compose = JSON.parse(env('OBJCAST_DOCKER_COMPOSE'));
const TTL = Number(env('OBJCAST_DOCKER_PRESENCE_TTL'));

/* haproxy as the "server" the integration helpers connect to; connect() records every
 * client in lb.clients. */
const lb = {
    port: Number(new URL(base).port),
    secret,
    url: (p) => `${base}${p}`,
    token: (claims) => mintToken(claims, secret),
    clients: new Set(),
};
// An open connection would keep this process, and scripts/docker-test, waiting after a
// failure.
after(() => {
    for (const c of lb.clients) c.destroy();
});

async function podman(...args) {
    const { stdout } = await run('podman', args, { timeout: 60000 });
    return stdout.trim();
}

/* The container of compose service svc (podman-compose names it project_svc_1). */
const ctr = (svc) => `${project}_${svc}_1`;
const inspect = async (svc, fmt) => podman('inspect', '-f', fmt, ctr(svc));
const address = (svc) => inspect(svc, '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}');

/* /readyz of one instance, asked inside its container (haproxy answers for the healthy ones). */
async function readyz(svc) {
    try {
        return await podman('exec', ctr(svc), 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}',
            'http://127.0.0.1:8080/readyz');
    } catch (e) {
        return `error: ${e.message.split('\n')[0]}`;
    }
}

const INSTANCES = ['objcast-1', 'objcast-2', 'objcast-3'];

/*
 * Connections through haproxy for subs, which must land on as many distinct instances (haproxy
 * balances leastconn, so they do once it serves that many). Retries until timeoutMs.
 * Returns them, each with c.instance.
 */
async function spread(subs, timeoutMs = 20000, want = subs.length) {
    return waitFor(async () => {
        const cs = [];
        try {
            for (const s of subs) {
                const c = await open(lb, user(s));
                c.instance = c.ready.payload.instance;
                cs.push(c);
            }
        } catch (e) {
            for (const c of cs) c.destroy();
            throw e;
        }
        if (new Set(cs.map((c) => c.instance)).size >= want) return cs;
        for (const c of cs) c.destroy();
        await sleep(500);
        return null;
    }, timeoutMs, `${want} connections on ${want} instances through haproxy`, 100);
}

/*
 * A connection through haproxy that lands on instance svc, once haproxy serves it: of four
 * new connections, leastconn sends one there whenever the others hold one each. Retries
 * until timeoutMs.
 */
async function reach(svc, timeoutMs = 30000) {
    return waitFor(async () => {
        const probes = [];
        try {
            for (let i = 0; i < 4; i++) {
                const x = await open(lb, user('probe'));
                if (x.ready.payload.instance === svc) return x;
                probes.push(x);
            }
        } finally {
            for (const x of probes) x.destroy();
        }
        await sleep(250);
        return null;
    }, timeoutMs, `haproxy sending a connection to ${svc}`, 100);
}

/* reach(svc), and when haproxy never sends a connection there, what haproxy said (its
 * log has every server's DOWN, UP and address change) and what the name resolves to. */
async function reachOrExplain(svc, timeoutMs = 30000) {
    try {
        return await reach(svc, timeoutMs);
    } catch (e) {
        // Who would answer it: the neighbour (ARP) entries for its address on the host and
        // in Redis's container, against its MAC address now, and the bridge's ports.
        const ip = await address(svc).catch(() => '?');
        const mac = await inspect(svc, '{{range .NetworkSettings.Networks}}{{.MacAddress}}{{end}}').catch((x) => x.message);
        const hostNeigh = await run('ip', ['neigh', 'show', ip]).then((r) => r.stdout.trim(), (x) => x.message);
        const redisArp = await podman('exec', ctr('redis'), 'cat', '/proc/net/arp').catch((x) => x.message);
        const ownArp = await podman('exec', ctr(svc), 'cat', '/proc/net/arp').catch((x) => x.message);
        const ports = await run('bridge', ['link', 'show']).then((r) => r.stdout.trim(), (x) => x.message);
        const tcp = await podman('exec', ctr(svc), 'timeout', '3', 'bash', '-c', 'echo > /dev/tcp/redis/6379 && echo connected')
            .catch((x) => x.message);
        const log = await podman('logs', '--tail', '20', ctr('haproxy')).catch((x) => x.message);
        const dns = await podman('exec', ctr('haproxy'), 'getent', 'hosts', svc).catch((x) => x.message);
        // Whether the instance answers inside its own container (haproxy once saw its checks
        // time out for good after a restart), and what it logged since.
        const local = await podman('exec', ctr(svc), 'curl', '-sS', '-m', '2', '-w', ' %{http_code}',
            'http://127.0.0.1:8080/readyz').catch((x) => x.message);
        // its log since the restart, without the debug lines of haproxy's checks
        const own = (await podman('logs', ctr(svc)).catch((x) => x.message)).split('\n')
            .filter((l) => !/ debug .*(conn state|conn closed|conn peer gone)/.test(l)).slice(-40).join('\n');
        // How it would reach Redis: the name from inside (with the time it takes), and its
        // sockets to Redis (port 6379, hex 18EB) and to nameservers (53, hex 0035).
        const t0 = Date.now();
        const redisName = await podman('exec', ctr(svc), 'timeout', '25', 'getent', 'ahostsv4', 'redis')
            .catch((x) => x.message);
        const took = Date.now() - t0;
        const sockets = await podman('exec', ctr(svc), 'sh', '-c',
            'grep -hiE ":(18EB|0035) " /proc/net/tcp /proc/net/udp || echo none').catch((x) => x.message);
        e.message += `\n--- ${svc} is ${ip} at ${mac}; the host's neighbour entry: ${hostNeigh}` +
            `\n--- Redis's ARP table:\n${redisArp}\n--- ${svc}'s ARP table:\n${ownArp}\n--- bridge ports:\n${ports}` +
            `\n--- a TCP connection to redis:6379 from ${svc}: ${tcp}`;
        e.message += `\n--- ${svc} resolves in haproxy's container to: ${dns}\n--- haproxy's log:\n${log}` +
            `\n--- ${svc}'s /readyz from inside its container: ${local}\n--- ${svc}'s log:\n${own}` +
            `\n--- redis from inside ${svc} (${took} ms): ${redisName}\n--- its sockets to Redis and DNS:\n${sockets}`;
        throw e;
    }
}

/* The next message of c must be presence event `kind` about connection `of`. */
async function expectPresence(c, kind, of, timeoutMs) {
    await expectNext(c, presence(kind, of, c), `${kind} of ${of.claims.sub}`, timeoutMs);
}

/* The saved data c (subscribed to L1) reads must be DATA at version 1. Presence events
 * before the answer are skipped: after Redis came back, presence may be told again. */
async function expectSaved(c) {
    const ref = `gd-${Math.random().toString(36).slice(2, 8)}`;
    c.send({ type: 'ovice_get_data', objectId: 'L1', ref });
    const m = await waitFor(async () => {
        const x = await c.next(undefined, 5000);
        return x.ref === ref ? x : null;
    }, 5000, `the answer to get_data ${ref}`, 10);
    assert.deepStrictEqual(m, { type: 'ovice_saved_data', objectId: 'L1', ref, version: 1, payload: DATA });
}

const DATA = { board: 'docker', n: [1, 2, { deep: 'é' }] };
let a;
let b;

test('three instances behind haproxy: two users on different instances share a broadcast and a save', async () => {
    const cs = await spread(['a', 'b', 'probe']);
    [a, b] = cs;
    cs[2].close();
    assert.deepStrictEqual(new Set(cs.map((c) => c.instance)), new Set(INSTANCES), 'every instance serves');
    await join(a);
    await join(b);
    await expectPresence(a, 'joined', b);
    broadcast(a, 'hello', { from: 'a' });
    await expectNext(b, ovMessage(a, 'hello', { from: 'a' }), 'the broadcast, across instances');
    await saveAndCheck(a, DATA, { version: 1, others: [b] });
    await expectSaved(b);
});

test('kill -9 of an instance: its user leaves the others within presence_ttl + 2 s; the restart policy brings it back and haproxy serves it again', async (t) => {
    const victim = a.instance;
    const before = { addr: await address(victim), restarts: Number(await inspect(victim, '{{.RestartCount}}')) };
    const pid = Number(await inspect(victim, '{{.State.Pid}}'));
    assert.ok(pid > 1, `the host pid of ${victim}'s objcastd`);
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');

    const closed = await a.closed(5000);
    t.diagnostic(`a's connection closed with ${closed.code} after ${Date.now() - killedAt} ms`);
    await expectPresence(b, 'unsubscribed', a, Math.max(1, killedAt + (TTL + 2) * 1000 - Date.now()));
    t.diagnostic(`b saw a unsubscribed ${Date.now() - killedAt} ms after the kill`);

    // a comes back through haproxy (on another instance while the victim is down) and joins
    a = await open(lb, user('a'));
    a.instance = a.ready.payload.instance;
    await join(a);
    await expectPresence(b, 'joined', a, 5000);

    // the restart policy
    await waitFor(async () => Number(await inspect(victim, '{{.RestartCount}}')) > before.restarts &&
        (await inspect(victim, '{{.State.Running}}')) === 'true', 30000, `${victim} restarted`, 250);
    const after = await address(victim);
    t.diagnostic(`${victim} restarted ${Date.now() - killedAt} ms after the kill; address ${before.addr} -> ${after}`);

    // haproxy takes it back
    // Within milliseconds as a rule. But podman's DNS (aardvark-dns 1.4) sometimes does not
    // know a container its restart policy just restarted: its lookups of Redis go
    // unanswered (glibc waits 5 s per try) or get NXDOMAIN, for up to about 50 s seen
    // here. The instance answers /healthz all along and connects once the name resolves.
    const t0 = Date.now();
    const c = await reachOrExplain(victim, 120000);
    t.diagnostic(`haproxy served ${victim} again ${Date.now() - t0} ms after its restart was seen`);
    const slow = (await podman('logs', '--since', `${Math.floor(killedAt / 1000)}`, ctr(victim)))
        .split('\n').filter((l) => / warning .*redis host lookup/.test(l));
    for (const l of slow) t.diagnostic(`${victim}: ${l.replace(/^\S+ /, '')}`);
    await join(c);
    await expectPresence(a, 'joined', c, 5000);
    await expectPresence(b, 'joined', c, 5000);
    c.close();
    await expectPresence(a, 'unsubscribed', c, 5000);
    await expectPresence(b, 'unsubscribed', c, 5000);
    await expectSaved(a);
});

test('an instance recreated with a new address (as up does after a new image): haproxy finds it again', async (t) => {
    // the instance that holds neither a nor b
    const victim = INSTANCES.find((s) => s !== a.instance && s !== b.instance);
    const before = await address(victim);
    await podman('stop', '-t', '15', ctr(victim));
    await podman('rm', ctr(victim));
    // up creates what is missing; the running containers, haproxy among them, stay
    const [cmd, ...args] = compose;
    await run(cmd, [...args, 'up', '-d', '--no-build'], { timeout: 120000 });
    const after = await address(victim);
    t.diagnostic(`${victim} recreated: address ${before} -> ${after}`);
    assert.notEqual(after, before, 'the new container has another address (else this proves nothing)');
    const t0 = Date.now();
    const c = await reachOrExplain(victim);
    t.diagnostic(`haproxy served the recreated ${victim} after ${Date.now() - t0} ms`);
    c.close();
});

test('Redis stopped: every instance turns /readyz 503; started again: 200, saved data intact', async (t) => {
    await sleep(1500); // appendfsync everysec: the save is on disk
    await podman('stop', '-t', '10', ctr('redis'));
    for (const s of INSTANCES) {
        await waitFor(async () => (await readyz(s)) === '503', 10000, `${s} /readyz 503`, 200);
    }
    // (haproxy marks them down after two failed checks, 1 s apart)
    await waitFor(async () => (await httpGet(lb, '/healthz')).status === 503, 5000,
        'haproxy answering 503 itself: no instance to offer', 200);
    await podman('start', ctr('redis'));
    const t0 = Date.now();
    for (const s of INSTANCES) {
        await waitFor(async () => (await readyz(s)) === '200', 20000, `${s} /readyz 200`, 200);
    }
    t.diagnostic(`every instance ready ${Date.now() - t0} ms after Redis started`);
    await waitFor(async () => (await httpGet(lb, '/readyz')).status === 200, 10000, 'haproxy /readyz 200', 200);
    await expectSaved(b);
    const c = await open(lb, user('c'));
    await join(c);
    await expectSaved(c);
    c.close();
});

test('compose down and up: the saved data is still there (Redis AOF on its volume)', async () => {
    for (const c of [a, b]) c.destroy();
    const [cmd, ...args] = compose;
    await run(cmd, [...args, 'down'], { timeout: 120000 });
    await assert.rejects(httpGet(lb, '/healthz'), 'nothing listens after down');
    await run(cmd, [...args, 'up', '-d', '--no-build'], { timeout: 120000 });
    await waitFor(async () => (await httpGet(lb, '/readyz')).status === 200, 60000, 'haproxy /readyz 200 after up', 500);
    [a, b] = await spread(['a', 'b'], 30000);
    await join(a);
    await join(b);
    await expectPresence(a, 'joined', b);
    await expectSaved(a);
    await expectSaved(b);
});

test('SIGTERM of an objcastd container: its clients get 1001, the others its leave at once, exit status 0', async (t) => {
    const victim = b.instance;
    const t0 = Date.now();
    const stop = podman('stop', '-t', '15', ctr(victim));
    const closed = await b.closed(15000);
    assert.equal(closed.code, 1001, 'close code 1001 (going away)');
    await expectPresence(a, 'unsubscribed', b, 2000);
    await stop;
    t.diagnostic(`${victim} stopped in ${Date.now() - t0} ms`);
    assert.equal(await inspect(victim, '{{.State.ExitCode}}'), '0', 'exit status 0');
    a.close();
});
