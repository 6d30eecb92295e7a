// Redis for the engine-redis integration tests: a private redis-server per test (free
// port, temp dir, AOF on), a tiny RESP client to look at what objcastd keeps there, and
// clusters of objcastd instances sharing it.
//
// Teardown order: every objcastd started through startNode()/startCluster() with a Redis is
// stopped (SIGTERM, as startServer's own teardown does) before that Redis is killed, so
// shutdowns never wait for a Redis that is gone. Whatever is still running when this
// process exits is killed.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { httpGet, randomSecret, sleep, startServer, waitFor } from './server.mjs';

/* The redis-server binary: $REDIS_SERVER, else Debian's, else whatever PATH has. */
export function redisServerPath() {
    if (process.env.REDIS_SERVER) return process.env.REDIS_SERVER;
    return existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server';
}

/* A TCP port that was free a moment ago (bound on 127.0.0.1:0, then released). */
export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.once('error', reject);
        srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

/* Several distinct free ports. */
export async function freePorts(n) {
    const out = new Set();
    while (out.size < n) out.add(await freePort());
    return [...out];
}

// ---------------------------------------------------------------------------------------
// RESP (REdis Serialization Protocol, v2): requests are arrays of bulk strings; replies
// are simple strings, errors, integers, bulk strings and arrays (nested).

/* Encodes one command (strings, numbers or Buffers) as a RESP array of bulk strings. */
export function encodeCommand(args) {
    const parts = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
        const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a), 'utf8');
        parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
    return Buffer.concat(parts);
}

/* An error reply (-ERR ...) as the client hands it out. */
export class RedisReplyError extends Error {
    constructor(text) {
        super(text);
        this.name = 'RedisReplyError';
        this.code = text.split(' ')[0];
    }
}

const INCOMPLETE = Symbol('incomplete');

/*
 * Parses one reply at buf[off]: {value, end} or INCOMPLETE. Bulk strings become UTF-8
 * strings (null for $-1), integers numbers, errors RedisReplyError objects (not thrown:
 * an error can sit inside an array, e.g. in EXEC replies), arrays arrays (null for *-1).
 */
export function parseReply(buf, off = 0) {
    if (off >= buf.length) return INCOMPLETE;
    const eol = buf.indexOf('\r\n', off);
    if (eol < 0) return INCOMPLETE;
    const kind = String.fromCharCode(buf[off]);
    const line = buf.toString('utf8', off + 1, eol);
    const next = eol + 2;
    switch (kind) {
    case '+':
        return { value: line, end: next };
    case '-':
        return { value: new RedisReplyError(line), end: next };
    case ':':
        return { value: Number(line), end: next };
    case '$': {
        const len = Number(line);
        if (len < 0) return { value: null, end: next };
        if (buf.length < next + len + 2) return INCOMPLETE;
        return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case '*': {
        const n = Number(line);
        if (n < 0) return { value: null, end: next };
        const arr = [];
        let pos = next;
        for (let i = 0; i < n; i++) {
            const r = parseReply(buf, pos);
            if (r === INCOMPLETE) return INCOMPLETE;
            arr.push(r.value);
            pos = r.end;
        }
        return { value: arr, end: pos };
    }
    default:
        throw new Error(`bad RESP reply type ${JSON.stringify(kind)} in ${
            JSON.stringify(buf.toString('latin1', off, Math.min(buf.length, off + 80)))}`);
    }
}

/*
 * One connection to Redis. command(...args) resolves the reply (an error reply rejects
 * with a RedisReplyError); commands pipeline, replies come back in order. When the
 * connection breaks every pending command rejects.
 */
export class RespClient {
    constructor(sock) {
        this.sock = sock;
        this.buf = Buffer.alloc(0);
        this.pending = [];
        this.closed = false;
        sock.on('data', (d) => this._onData(d));
        const fail = (e) => {
            this.closed = true;
            const err = e || new Error('redis connection closed');
            for (const p of this.pending.splice(0)) p.reject(err);
        };
        sock.on('error', (e) => fail(e));
        sock.on('close', () => fail());
    }

    static connect(port, { host = '127.0.0.1', timeoutMs = 2000 } = {}) {
        return new Promise((resolve, reject) => {
            const sock = net.connect({ port, host });
            sock.setNoDelay(true);
            const timer = setTimeout(() => {
                sock.destroy();
                reject(new Error(`connect to redis ${host}:${port} timed out`));
            }, timeoutMs);
            sock.once('connect', () => {
                clearTimeout(timer);
                sock.removeAllListeners('error');
                resolve(new RespClient(sock));
            });
            sock.once('error', (e) => {
                clearTimeout(timer);
                reject(e);
            });
        });
    }

    _onData(d) {
        this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
        let off = 0;
        for (;;) {
            let r;
            try {
                r = parseReply(this.buf, off);
            } catch (e) {
                this.sock.destroy(e);
                return;
            }
            if (r === INCOMPLETE) break;
            off = r.end;
            const p = this.pending.shift();
            if (!p) continue; // nothing asked for it (cannot happen outside pub/sub)
            if (r.value instanceof RedisReplyError) p.reject(r.value);
            else p.resolve(r.value);
        }
        this.buf = off ? this.buf.subarray(off) : this.buf;
    }

    command(...args) {
        if (this.closed) return Promise.reject(new Error('redis connection closed'));
        return new Promise((resolve, reject) => {
            this.pending.push({ resolve, reject });
            this.sock.write(encodeCommand(args));
        });
    }

    close() {
        this.closed = true;
        this.sock.destroy();
    }
}

/* ['k1', 'v1', 'k2', 'v2'] (HGETALL, CONFIG GET) -> {k1: 'v1', k2: 'v2'}. */
export function pairs(arr) {
    const out = {};
    for (let i = 0; i + 1 < (arr || []).length; i += 2) out[arr[i]] = arr[i + 1];
    return out;
}

/* CLIENT LIST text -> [{id, addr, name, ...}]. */
export function parseClientList(text) {
    return text.split('\n').filter((l) => l.trim()).map((l) => {
        const o = {};
        for (const kv of l.trim().split(' ')) {
            const i = kv.indexOf('=');
            if (i > 0) o[kv.slice(0, i)] = kv.slice(i + 1);
        }
        return o;
    });
}

// ---------------------------------------------------------------------------------------
// redis-server

const liveRedis = new Set();

function killAllRedis() {
    for (const p of liveRedis) {
        try {
            p.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
    liveRedis.clear();
}
process.on('exit', killAllRedis);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
        killAllRedis();
        process.exit(128 + (os.constants.signals[sig] || 1));
    });
}

/*
 * Starts redis-server on 127.0.0.1 (port: given, else a free one) with its data in dir
 * (given, else a fresh temp dir, removed at teardown), AOF on (appendfsync everysec) unless
 * aof is false, no RDB snapshots. Resolves once it answers PING with PONG (after loading
 * its AOF). Returns:
 *   port, url ('redis://127.0.0.1:PORT'), dir
 *   command(...args)  one command on a shared connection (reconnects after a restart)
 *   client()          a fresh RespClient (closed at teardown)
 *   stop(signal)      SIGTERM by default (Redis fsyncs its AOF and exits); resolves {code, signal}
 *   start()           starts it again (same port and dir) after stop()
 *   restart(signal)   stop(signal) then start()
 *   running()         whether the process is up
 *   log()             what redis-server printed
 * With t, teardown stops the objcastd instances registered on it (startNode), then kills
 * Redis and removes its temp dir.
 */
export async function startRedis({ t, dir, port, aof = true, args = [] } = {}) {
    const ownDir = !dir;
    const dataDir = dir || mkdtempSync(path.join(os.tmpdir(), 'objcast-redis-'));
    const redisPort = port || await freePort();
    let proc = null;
    let exitPromise = null;
    let log = '';
    let shared = null;
    const clients = new Set();
    const dependents = new Set(); // objcastd servers to stop before Redis goes

    const argv = () => [
        '--port', String(redisPort),
        '--bind', '127.0.0.1',
        '--dir', dataDir,
        '--appendonly', aof ? 'yes' : 'no',
        '--appendfsync', 'everysec',
        '--save', '',
        '--daemonize', 'no',
        '--protected-mode', 'no',
        '--logfile', '',
        ...args,
    ];

    async function ping() {
        const c = await RespClient.connect(redisPort, { timeoutMs: 500 });
        try {
            return (await c.command('PING')) === 'PONG';
        } finally {
            c.close();
        }
    }

    async function start() {
        if (proc) throw new Error('redis-server is already running');
        const p = spawn(redisServerPath(), argv(), { stdio: ['ignore', 'pipe', 'pipe'] });
        proc = p;
        liveRedis.add(p);
        let exited = null;
        exitPromise = new Promise((resolve) => {
            p.on('close', (code, signal) => {
                exited = { code, signal };
                liveRedis.delete(p);
                resolve(exited);
            });
        });
        p.on('error', (e) => {
            log += `spawn error: ${e.message}\n`;
        });
        p.stdout.setEncoding('utf8').on('data', (d) => (log += d));
        p.stderr.setEncoding('utf8').on('data', (d) => (log += d));
        try {
            await waitFor(async () => exited || ping(), 10000, `redis-server on port ${redisPort} to answer PING`, 25);
            if (exited) throw new Error(`exited with ${JSON.stringify(exited)}`);
        } catch (e) {
            p.kill('SIGKILL');
            await exitPromise;
            proc = null;
            throw new Error(`redis-server did not start (${e.message})\nargs: ${argv().join(' ')}\n--- log ---\n${log}`);
        }
    }

    async function stop(signal = 'SIGTERM', { killAfterMs = 10000 } = {}) {
        if (!proc) return null;
        const p = proc;
        if (shared) {
            shared.close();
            shared = null;
        }
        p.kill(signal);
        const timer = setTimeout(() => p.kill('SIGKILL'), killAfterMs);
        const res = await exitPromise;
        clearTimeout(timer);
        proc = null;
        return res;
    }

    const redis = {
        port: redisPort,
        url: `redis://127.0.0.1:${redisPort}`,
        dir: dataDir,
        dependents,
        log: () => log,
        running: () => !!proc,
        /* Sends sig to the running redis-server (SIGSTOP/SIGCONT: a replica that stalls). */
        signal: (sig) => proc && proc.kill(sig),
        start,
        stop,
        async restart(signal = 'SIGTERM') {
            await stop(signal);
            await start();
        },
        async command(...cmd) {
            if (!shared || shared.closed) shared = await RespClient.connect(redisPort);
            return shared.command(...cmd);
        },
        async client() {
            const c = await RespClient.connect(redisPort);
            clients.add(c);
            return c;
        },
        async teardown() {
            // objcastd first (in parallel): their shutdown talks to Redis. Their own
            // teardown hooks report failures; here they only have to be gone.
            await Promise.allSettled([...dependents].map((s) => s.stop('SIGTERM', { teardown: true })));
            for (const c of clients) c.close();
            clients.clear();
            await stop('SIGKILL');
            if (ownDir) rmSync(dataDir, { recursive: true, force: true });
        },
    };
    await start();
    if (t) t.after(() => redis.teardown());
    return redis;
}

// ---------------------------------------------------------------------------------------
// objcastd on Redis

/* The conf every clustered instance gets (before the test's own conf). */
export function clusterConf(redis, conf = {}) {
    return {
        engine: 'redis',
        redis_url: redis.url,
        presence_ttl: 3,
        shutdown_timeout: 5,
        ...conf,
    };
}

/*
 * Starts one objcastd with engine redis on `redis` (see clusterConf), stopped before Redis
 * at teardown. opts go to startServer (secret, conf, args, env, t).
 */
export async function startNode({ t, redis, conf = {}, ...opts }) {
    const s = await startServer({ t, ...opts, conf: clusterConf(redis, conf) });
    redis.dependents.add(s);
    return s;
}

/*
 * Starts `instances` objcastd sharing `redis` and one token secret. conf goes to every
 * instance; confs[i] (optional) to instance i only. Every instance gets a readable
 * instance_id (`<prefix>-<i+1>-<random>`) unless conf or confs[i] sets one. Resolves an
 * array of servers (startServer's objects) with .secret shared, once each answers /readyz
 * 200 (its Redis connections are up: a command sent before would be answered
 * unavailable), unless ready is false.
 */
export async function startCluster({
    t, instances = 2, redis, conf = {}, confs = [], secret, idPrefix = 'it', ready = true,
}) {
    const sec = secret || randomSecret();
    const tag = crypto.randomBytes(3).toString('hex');
    const servers = [];
    for (let i = 0; i < instances; i++) {
        const c = { instance_id: `${idPrefix}-${i + 1}-${tag}`, ...conf, ...(confs[i] || {}) };
        servers.push(await startNode({ t, redis, secret: sec, conf: c }));
    }
    if (ready) for (const server of servers) await waitReady(server);
    return servers;
}

/* Polls GET /readyz on server until it answers status (200 or 503). */
export async function waitReady(server, status = 200, timeoutMs = 10000) {
    return waitFor(async () => (await httpGet(server, '/readyz')).status === status, timeoutMs,
        `/readyz of ${server.instance} to answer ${status}`, 100);
}

export { sleep };
