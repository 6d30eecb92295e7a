// Helpers for the abuse tests (tests/integration/abuse/*.test.mjs): the release daemon
// whose memory can be measured, the server's resident set size, raw attacker sockets that
// write without ever reading, and a probe that checks other clients are served meanwhile.
//
// RSS cannot be judged under AddressSanitizer (quarantine and shadow memory), so the
// memory tests run $OBJCASTD_RELEASE (scripts/test builds it in build/rel). Without it
// they fall back to the daemon under test and, if that one is sanitized, only report the
// RSS numbers instead of asserting them.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { auth, connect, httpGet, mintToken, objcastdPath, rawSocket, srcDir, startServer } from './server.mjs';

export const MiB = 1024 * 1024;
/* What a server may grow under an attack besides one client's queue. */
export const SLACK_RSS = 8 * MiB;

/* The daemon for memory measurements: {bin, sanitized, note}. */
export function releaseBinary() {
    const rel = process.env.OBJCASTD_RELEASE;
    const bin = rel || objcastdPath();
    const sanitized = isSanitized(bin);
    let note = null;
    if (!rel) {
        note = `OBJCASTD_RELEASE is not set: measuring ${bin}${
            sanitized ? ', a sanitized build: RSS bounds are reported, not asserted' : ''}`;
    } else if (sanitized) {
        note = `OBJCASTD_RELEASE (${bin}) is a sanitized build: RSS bounds are reported, not asserted`;
    }
    return { bin, sanitized, note };
}

/* Whether the binary at bin was built with AddressSanitizer. */
export function isSanitized(bin) {
    try {
        return readFileSync(bin).includes('__asan_init');
    } catch {
        return false;
    }
}

/* The conf every abuse test starts from: small limits and timeouts, quiet logs, and the
 * repository's web/ so /objcast.js is served. */
export function abuseConf(extra = {}) {
    return {
        client_output_limit: 4 * MiB,
        auth_timeout: 10,
        ping_interval: 5,
        ping_timeout: 5,
        log_level: 'warning',
        static_dir: path.join(srcDir, 'web'),
        ...extra,
    };
}

/*
 * Starts the release daemon (releaseBinary()) with abuseConf(conf). Resolves the server
 * with .release = releaseBinary()'s answer. The note, if any, goes to t.diagnostic.
 */
export async function startMeasured(t, conf = {}, opts = {}) {
    const release = releaseBinary();
    if (release.note) t.diagnostic(release.note);
    const s = await startServer({ t, ...opts, bin: release.bin, conf: abuseConf(conf) });
    s.release = release;
    return s;
}

/* VmRSS of the server's process, in bytes. */
export function rssBytes(server) {
    const status = readFileSync(`/proc/${server.proc.pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (!m) throw new Error(`no VmRSS in /proc/${server.proc.pid}/status`);
    return Number(m[1]) * 1024;
}

/* CPU seconds (user + system) the server's process has used so far. */
export function cpuSeconds(server) {
    const stat = readFileSync(`/proc/${server.proc.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/* Samples the server's RSS every stepMs until stop(); .max is the highest value seen. stop()
 * also leaves the CPU seconds the server used meanwhile in server.sampledCpu, for the report. */
export function sampleRss(server, stepMs = 50) {
    const cpu0 = cpuSeconds(server);
    const r = { max: rssBytes(server), last: 0 };
    const tick = () => {
        try {
            r.last = rssBytes(server);
            r.max = Math.max(r.max, r.last);
        } catch {
            /* the process is gone: stop() and the server's teardown report it */
        }
    };
    // unref: a test that fails before stop() must not keep its file's process alive
    const timer = setInterval(tick, stepMs).unref();
    r.stop = () => {
        clearInterval(timer);
        tick();
        try {
            server.sampledCpu = cpuSeconds(server) - cpu0;
        } catch {
            server.sampledCpu = undefined;
        }
        return r.max;
    };
    return r;
}

export const mb = (bytes) => (bytes / MiB).toFixed(1);

/*
 * Requires RSS growth (max - base) to stay within bound bytes; under a sanitized build
 * only reports it. Always reports the numbers through t.diagnostic.
 */
export function assertRssGrowth(t, server, base, max, bound, what) {
    const growth = max - base;
    const cpu = server.sampledCpu === undefined ? '' : `, server CPU ${server.sampledCpu.toFixed(2)} s`;
    t.diagnostic(`${what}: RSS ${mb(base)} -> peak ${mb(max)} MiB (growth ${mb(growth)} MiB, bound ${mb(bound)} MiB)${cpu}`);
    if (server.release?.sanitized) return;
    assert.ok(growth <= bound, `${what}: RSS grew by ${mb(growth)} MiB, more than ${mb(bound)} MiB ` +
        `(from ${mb(base)} to ${mb(max)} MiB)`);
}

// ---------------------------------------------------------------------------------------
// Attackers

/*
 * A raw connection (rawSocket(), so teardown drops it before the server stops) that does
 * not read: its socket is paused, so what the server sends piles up on the server's side.
 * conn.sock.resume() reads again (into conn.buf, as RawConn does).
 */
export async function attacker(server) {
    const a = await rawSocket(server);
    a.sock.pause();
    return a;
}

/*
 * Writes chunk up to count times on a (a RawConn), waiting for the socket to drain
 * between writes, and stops early when one drain takes longer than stallMs (the server no
 * longer reads) or after maxMs in all. Resolves {writes, bytes, stalled, ms}.
 */
export async function pump(a, chunk, count, { stallMs = 1000, maxMs = 8000 } = {}) {
    const sock = a.sock;
    const start = Date.now();
    let writes = 0;
    let stalled = false;
    while (writes < count && !sock.destroyed && !a.ended) {
        writes++;
        if (sock.write(chunk)) continue;
        const left = maxMs - (Date.now() - start);
        if (left <= 0) {
            stalled = true;
            break;
        }
        const drained = await new Promise((res) => {
            const onDrain = () => {
                clearTimeout(timer);
                res(true);
            };
            const timer = setTimeout(() => {
                sock.off('drain', onDrain);
                res(false);
            }, Math.min(stallMs, left));
            sock.once('drain', onDrain);
        });
        if (!drained) {
            stalled = true;
            break;
        }
    }
    return { writes, bytes: writes * chunk.length, stalled, ms: Date.now() - start };
}

/* Upgrades a (paused afterwards) and, with token, authenticates it; the server's answers
 * are read and checked. */
export async function upgradeAttacker(a, token) {
    a.sock.resume();
    await a.handshake();
    if (token) await a.auth(token);
    a.sock.pause();
}

/*
 * Checks that the server serves others normally: GET /healthz answers 200, and a fresh
 * WebSocket authenticates, subscribes and gets its participants, all within maxMs.
 * Resolves the milliseconds it took.
 */
export async function probe(server, { maxMs = 2000, objectId = 'probe', what = 'probe' } = {}) {
    const start = Date.now();
    const h = await httpGet(server, '/healthz');
    assert.equal(h.status, 200, `${what}: /healthz`);
    const sub = `probe-${Math.random().toString(36).slice(2, 8)}`;
    const c = await connect(server, { timeoutMs: maxMs });
    try {
        await auth(c, mintToken({ sub }, server.secret), { timeoutMs: maxMs });
        c.send({ type: 'objcast_subscribe', objectId });
        const ev = await c.next(undefined, maxMs);
        assert.equal(ev.type, 'ovice_participant_subscribed', `${what}: ${JSON.stringify(ev).slice(0, 200)}`);
        c.send({ type: 'ovice_get_participants', objectId, ref: 'p' });
        const m = await c.next(undefined, maxMs);
        assert.equal(m.type, 'ovice_participants', `${what}: ${JSON.stringify(m).slice(0, 200)}`);
        assert.ok(m.payload.some((p) => p.id === sub && p.isSelf), `${what}: the prober is listed`);
    } finally {
        c.destroy();
    }
    const ms = Date.now() - start;
    assert.ok(ms <= maxMs, `${what}: other clients waited ${ms} ms (more than ${maxMs} ms)`);
    return ms;
}

/*
 * Runs probe() every stepMs until done settles (and once more at least); resolves the
 * probes' times in ms. The first failing probe rejects.
 */
export async function probeWhile(server, done, { stepMs = 1000, ...opts } = {}) {
    let settled = false;
    done.then(() => (settled = true), () => (settled = true));
    const times = [];
    do {
        times.push(await probe(server, opts));
        if (settled) break;
        await Promise.race([done.catch(() => {}), new Promise((r) => setTimeout(r, stepMs))]);
    } while (!settled || times.length < 2);
    return times;
}
