// Test harness for objcastd integration tests: start real servers on port 0, mint tokens,
// and talk to them with the `ws` client, raw TCP (frames made by hand with wsframe.mjs) or
// HTTP. Every other `ws` client offers permessage-deflate (OBJCAST_TEST_DEFLATE, at
// connect()), so every test runs with compressing and plain clients.
//
// Every server a test starts is stopped in that test's teardown (pass `t`), and the test
// fails if the server's stderr holds a sanitizer report or the server died on its own.
// Whatever is still running when this process exits is killed.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import WebSocket from 'ws';

import { OP, RSV1, acceptKey, buildFrame, deflateMessage, frameText, parseFrame } from './wsframe.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const srcDir = process.env.OBJCAST_SRCDIR || path.resolve(here, '../../..');

/* The daemon under test: $OBJCASTD, else $OBJCAST_BUILDDIR/src/objcastd, else the repo's. */
export function objcastdPath() {
    if (process.env.OBJCASTD) return process.env.OBJCASTD;
    return path.join(process.env.OBJCAST_BUILDDIR || srcDir, 'src', 'objcastd');
}

/* The version configure.ac declares, or null when it cannot be read. */
export function packageVersion() {
    try {
        const ac = readFileSync(path.join(srcDir, 'configure.ac'), 'utf8');
        const m = /AC_INIT\(\[[^\]]*\],\s*\[([^\]]+)\]/.exec(ac);
        return m ? m[1] : null;
    } catch {
        return null;
    }
}

/* A fresh token_secret. It never begins with '-': as the word after --token_secret on a
 * command line, "--x..." would be read as the next option (base64url has '-'). */
export function randomSecret() {
    return `s${crypto.randomBytes(24).toString('base64url')}`;
}

/* Whether a process with that pid exists. */
export function alive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return e.code === 'EPERM';
    }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/* Polls fn() until it returns a truthy value; returns it, or throws after timeoutMs. */
export async function waitFor(fn, timeoutMs = 3000, what = 'condition', stepMs = 50) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        try {
            last = await fn();
            if (last) return last;
        } catch (e) {
            last = e;
        }
        if (Date.now() >= deadline) {
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${
                last instanceof Error ? last.message : JSON.stringify(last)})`);
        }
        await sleep(stepMs);
    }
}

/* Rejects with a named error when p does not settle within ms. */
export function withTimeout(p, ms, what) {
    let timer;
    const t = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------
// Sanitizer reports and process bookkeeping

const SANITIZER_PATTERNS = [
    'ERROR: AddressSanitizer',
    'ERROR: LeakSanitizer',
    'runtime error:',
    'SUMMARY: UndefinedBehaviorSanitizer',
];

/* The first sanitizer report line in text, or null. */
export function sanitizerReport(text) {
    for (const line of text.split('\n')) {
        if (SANITIZER_PATTERNS.some((p) => line.includes(p))) return line.trim();
    }
    return null;
}

function assertNoSanitizerReport(what, stderr) {
    const line = sanitizerReport(stderr);
    if (line) {
        const err = new Error(`${what}: sanitizer report in stderr: ${line}\n--- stderr ---\n${
            stderr.slice(0, 20000)}`);
        err.code = 'ERR_SANITIZER';
        throw err;
    }
}

const liveProcs = new Set();

function killAll() {
    for (const p of liveProcs) {
        try {
            p.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
    liveProcs.clear();
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
        killAll();
        process.exit(128 + (os.constants.signals[sig] || 1));
    });
}

function makeTempDir() {
    return mkdtempSync(path.join(os.tmpdir(), 'objcast-it-'));
}

/* Turns {key: value | [values] | true} into ['--key', 'value', ...]. */
function confArgs(conf) {
    const out = [];
    for (const [k, v] of Object.entries(conf || {})) {
        if (v === undefined || v === null) continue;
        out.push(`--${k}`);
        if (Array.isArray(v)) out.push(...v.map(String));
        else if (v !== true) out.push(String(v));
    }
    return out;
}

/*
 * Runs objcastd to completion (for --help, --version, --check-config and conf errors).
 * Returns {code, signal, stdout, stderr, timedOut}. A process still running after
 * timeoutMs is killed. Throws if stderr holds a sanitizer report.
 */
export async function runObjcastd(args, { timeoutMs = 5000, env, cwd } = {}) {
    const dir = cwd || makeTempDir();
    const proc = spawn(objcastdPath(), args, {
        cwd: dir,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    liveProcs.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
        timedOut = true;
        proc.kill('SIGKILL');
    }, timeoutMs);
    const { code, signal } = await new Promise((resolve, reject) => {
        proc.on('error', reject);
        proc.on('close', (c, s) => resolve({ code: c, signal: s }));
    });
    clearTimeout(timer);
    liveProcs.delete(proc);
    if (!cwd) rmSync(dir, { recursive: true, force: true });
    assertNoSanitizerReport(`objcastd ${args.join(' ')}`, stderr);
    return { code, signal, stdout, stderr, timedOut };
}

// ---------------------------------------------------------------------------------------
// Servers

const READY_RE = /objcastd listening on (\S+):(\d+) instance=(\S+) engine=(\S+)/;

/*
 * Starts objcastd with --bind 127.0.0.1 --port 0 --token_secret SECRET --log_level debug,
 * then opts.conf ({key: value}) and opts.args (raw words), in a fresh temp dir. Resolves
 * once the "listening" line is on stdout. Options:
 *   t          node:test context: the server is stopped (and checked) in its teardown
 *   secret     token secret (random by default)
 *   conf       extra --key value overrides
 *   args       extra raw arguments
 *   env        extra environment
 *   bin        the daemon to run (default objcastdPath())
 *   wrap       words of a command that execs the daemon (unshare(1), say)
 *   readyTimeoutMs  how long to wait for the listening line (default 15000)
 */
export async function startServer(opts = {}) {
    const secret = opts.secret || randomSecret();
    const dir = makeTempDir();
    // opts.secretVia 'env': the secret goes in OBJCAST_TOKEN_SECRET, not on the command line
    const viaEnv = opts.secretVia === 'env';
    const args = [
        '--bind', '127.0.0.1',
        '--port', '0',
        ...(viaEnv ? [] : ['--token_secret', secret]),
        '--log_level', 'debug',
        ...confArgs(opts.conf),
        ...(opts.args || []),
    ];
    const bin = opts.bin || objcastdPath();
    if (!existsSync(bin)) throw new Error(`objcastd not found at ${bin} (set OBJCASTD)`);
    // opts.wrap execs the daemon, so the pid stays the daemon's
    const wrap = opts.wrap || [];
    const proc = spawn(wrap.length ? wrap[0] : bin, [...wrap.slice(1), ...(wrap.length ? [bin] : []), ...args], {
        cwd: dir,
        env: { ...process.env, ...(viaEnv ? { OBJCAST_TOKEN_SECRET: secret } : {}), ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    liveProcs.add(proc);

    let out = '';
    let err = '';
    let exited = null;
    let stopping = false;
    const exitPromise = new Promise((resolve) => {
        proc.on('close', (code, signal) => {
            exited = { code, signal };
            liveProcs.delete(proc);
            resolve(exited);
        });
    });
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => (err += d));

    const ready = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            proc.kill('SIGKILL');
            reject(new Error(`objcastd did not log its listening line within ${
                opts.readyTimeoutMs || 15000} ms\n--- stdout ---\n${out}\n--- stderr ---\n${err}`));
        }, opts.readyTimeoutMs || 15000);
        const onData = (d) => {
            out += d;
            const m = READY_RE.exec(out);
            if (m) {
                clearTimeout(timer);
                resolve(m);
            }
        };
        proc.stdout.on('data', onData);
        proc.on('error', (e) => {
            clearTimeout(timer);
            reject(e);
        });
        exitPromise.then(({ code, signal }) => {
            clearTimeout(timer);
            reject(new Error(`objcastd exited before listening (code=${code} signal=${signal})\n` +
                `args: ${args.join(' ')}\n--- stdout ---\n${out}\n--- stderr ---\n${err}`));
        });
    }).catch((e) => {
        rmSync(dir, { recursive: true, force: true });
        throw e;
    });

    const host = ready[1].replace(/^\[|\]$/g, '');
    const port = Number(ready[2]);
    const hostForUrl = host.includes(':') ? `[${host}]` : host;
    const clients = new Set(); // ws clients and raw sockets to tear down with the server
    let stopResult = null;

    const server = {
        host,
        port,
        instance: ready[3],
        engine: ready[4],
        secret,
        proc,
        dir,
        args,
        clients,
        url: (p = '/') => `http://${hostForUrl}:${port}${p}`,
        wsUrl: `ws://${hostForUrl}:${port}/ws`,
        stdout: () => out,
        stderr: () => err,
        exited: () => exited,
        /* Mints a connection token with this server's secret. */
        token: (claims = {}, header) => mintToken(claims, secret, header),
        /*
         * Sends signal (SIGTERM by default), waits for the exit (SIGKILL after
         * killAfterMs), closes what the test left open, removes the temp dir. Resolves
         * {code, signal}. Throws if stderr holds a sanitizer report, or if the process had
         * died before stop() was called. With teardown (the test's after hook), raw
         * sockets are dropped before the signal, and a hang or a crash on the way out
         * fails too.
         */
        async stop(signal = 'SIGTERM', { killAfterMs = 10000, teardown = false } = {}) {
            if (!stopResult) {
                const diedEarly = exited && !stopping ? exited : null;
                stopping = true;
                // Raw sockets never answer a close frame; teardown drops them first so the
                // shutdown does not wait for them. `ws` clients stay and see the shutdown.
                if (teardown) {
                    for (const c of clients) {
                        if (c instanceof RawConn) {
                            c.destroy();
                            clients.delete(c);
                        }
                    }
                }
                if (!exited) proc.kill(signal);
                let killed = false;
                const timer = setTimeout(() => {
                    killed = true;
                    proc.kill('SIGKILL');
                }, killAfterMs);
                const res = await exitPromise;
                clearTimeout(timer);
                if (teardown && !diedEarly && (killed || (res.signal && res.signal !== signal))) {
                    stopResult = { res, diedEarly, shutdownError: killed
                        ? `did not exit within ${killAfterMs} ms of ${signal}`
                        : `died with ${res.signal} after ${signal}` };
                }
                for (const c of clients) c.destroy();
                clients.clear();
                rmSync(dir, { recursive: true, force: true });
                stopResult ??= { res, diedEarly };
            }
            assertNoSanitizerReport(`objcastd (port ${port})`, err);
            if (stopResult.diedEarly) {
                const { code, signal: s } = stopResult.diedEarly;
                throw new Error(`objcastd exited during the test (code=${code} signal=${s})\n` +
                    `--- stderr ---\n${err.slice(-20000)}\n--- stdout tail ---\n${out.slice(-4000)}`);
            }
            if (stopResult.shutdownError) {
                throw new Error(`objcastd ${stopResult.shutdownError}\n--- stderr ---\n${err.slice(-20000)}`);
            }
            return stopResult.res;
        },
        /* Throws if the process is gone. */
        assertAlive() {
            if (exited) {
                throw new Error(`objcastd is not running (code=${exited.code} signal=${exited.signal})\n` +
                    `--- stderr ---\n${err.slice(-20000)}`);
            }
        },
    };
    if (opts.t) opts.t.after(() => server.stop('SIGTERM', { teardown: true }));
    return server;
}

// ---------------------------------------------------------------------------------------
// Tokens

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/* Default claims of a connection token; override or drop (value undefined) any of them. */
export function defaultClaims() {
    return {
        sub: 'u1',
        name: 'User One',
        avatarUrl: 'https://example.invalid/u1.png',
        ws: 987,
        exp: Math.floor(Date.now() / 1000) + 3600,
    };
}

/*
 * Signs claims (merged over defaultClaims(); undefined drops a claim) as a compact JWT.
 * header defaults to {alg: 'HS256', typ: 'JWT'}; alg HS256/HS384/HS512 sign with that HMAC,
 * any other alg (e.g. 'none') gets an empty signature.
 */
export function mintToken(claims = {}, secret, header = { alg: 'HS256', typ: 'JWT' }) {
    const body = { ...defaultClaims(), ...claims };
    const h = b64url(JSON.stringify(header));
    const p = b64url(JSON.stringify(body));
    const input = `${h}.${p}`;
    const algs = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };
    const hash = algs[header.alg];
    const sig = hash ? crypto.createHmac(hash, secret).update(input).digest('base64url') : '';
    return `${input}.${sig}`;
}

// ---------------------------------------------------------------------------------------
// `ws` clients

/*
 * A message's place in its object's order (docs/protocol.md section 10): every
 * ovice_message and ovice_shared_data must carry "offset" (an integer > 0) and "epoch" (a
 * string); own presence events carry them too, answers to a resume "recovered", and
 * objcast_ready's payload "session". Those fields are checked here and made non-enumerable,
 * so the scenarios that compare whole messages with deepStrictEqual (which looks at
 * enumerable fields only) need not know the values, while m.offset, m.epoch, m.recovered
 * and m.payload.session stay readable. Returns what is wrong, or null.
 */
const POSITION_FIELDS = ['offset', 'epoch', 'recovered'];
function placeInOrder(msg) {
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return null;
    if (msg.type === 'ovice_message' || msg.type === 'ovice_shared_data') {
        if (!Number.isInteger(msg.offset) || msg.offset < 1 || typeof msg.epoch !== 'string' || !msg.epoch) {
            return `${msg.type} without a valid offset and epoch: ${JSON.stringify(msg).slice(0, 300)}`;
        }
    }
    for (const k of POSITION_FIELDS) {
        if (Object.prototype.propertyIsEnumerable.call(msg, k)) {
            Object.defineProperty(msg, k, { value: msg[k], enumerable: false });
        }
    }
    const p = msg.payload;
    if (msg.type === 'objcast_ready' && p && Object.prototype.propertyIsEnumerable.call(p, 'session')) {
        if (typeof p.session !== 'string' || !p.session) return `objcast_ready without a session: ${JSON.stringify(msg)}`;
        Object.defineProperty(p, 'session', { value: p.session, enumerable: false });
    }
    return null;
}

/* A server message's text parsed, its place in the order checked and hidden as placeInOrder()
 * says (what Client and RawConn.readMessage() give). Throws when it is wrong. */
export function parseMessage(text) {
    const m = JSON.parse(text);
    const bad = placeInOrder(m);
    if (bad) throw new Error(bad);
    return m;
}

class Client {
    constructor(ws) {
        this.ws = ws;
        this.queue = []; // parsed messages not yet taken by next()
        this.waiters = []; // {type, resolve, reject, timer}
        this.pings = 0; // pings received from the server
        this.deflate = false; // permessage-deflate agreed in the handshake (set by connect())
        this.closeInfo = null;
        this._closed = new Promise((resolve) => {
            ws.on('close', (code, reason) => {
                this.closeInfo = { code, reason: reason.toString('utf8') };
                resolve(this.closeInfo);
                for (const w of this.waiters.splice(0)) {
                    clearTimeout(w.timer);
                    w.reject(new Error(`connection closed (code=${code} reason=${
                        this.closeInfo.reason}) while waiting for ${w.type || 'a message'}`));
                }
            });
        });
        ws.on('message', (data, isBinary) => {
            let msg;
            try {
                msg = JSON.parse(data.toString('utf8'));
            } catch {
                msg = { __raw: data.toString('utf8'), __binary: isBinary };
            }
            this._deliver(msg);
        });
        ws.on('ping', () => this.pings++);
        ws.on('error', (e) => {
            this.error = e;
        });
    }

    _deliver(msg) {
        const bad = placeInOrder(msg);
        const i = this.waiters.findIndex((w) => !w.type || w.type === msg.type);
        if (i >= 0) {
            const [w] = this.waiters.splice(i, 1);
            clearTimeout(w.timer);
            if (bad) w.reject(new Error(bad));
            else w.resolve(msg);
        } else {
            this.queue.push(msg);
        }
    }

    /*
     * The next message (parsed JSON), or with type the next message of that type (others
     * before it are dropped). Rejects on timeout or close.
     */
    next(type, timeoutMs = 3000) {
        while (this.queue.length) {
            const m = this.queue.shift();
            if (!type || m.type === type) {
                const bad = placeInOrder(m);
                return bad ? Promise.reject(new Error(bad)) : Promise.resolve(m);
            }
        }
        if (this.closeInfo) {
            return Promise.reject(new Error(`connection closed (code=${this.closeInfo.code}) ` +
                `before ${type || 'a message'} arrived`));
        }
        return new Promise((resolve, reject) => {
            const w = { type, resolve, reject };
            w.timer = setTimeout(() => {
                this.waiters.splice(this.waiters.indexOf(w), 1);
                reject(new Error(`no ${type || 'message'} within ${timeoutMs} ms`));
            }, timeoutMs);
            this.waiters.push(w);
        });
    }

    /* Resolves {code, reason} when the connection has closed. */
    closed(timeoutMs) {
        return timeoutMs ? withTimeout(this._closed, timeoutMs, 'the connection to close') : this._closed;
    }

    get isOpen() {
        return this.ws.readyState === WebSocket.OPEN;
    }

    /* Sends obj as JSON (a string is sent as is). */
    send(obj) {
        this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
    }

    close(code, reason) {
        this.ws.close(code, reason);
    }

    destroy() {
        this.ws.terminate();
    }
}

/*
 * Which connections of connect() offer permessage-deflate (RFC 7692), so the whole suite
 * runs both ways: OBJCAST_TEST_DEFLATE=alternate (the default) every other connection opened
 * by this process, starting with the first; all every connection; none no connection. A
 * test that needs one way passes connect()'s deflate option.
 */
const DEFLATE_MODES = ['alternate', 'all', 'none'];
export const deflateMode = process.env.OBJCAST_TEST_DEFLATE || 'alternate';
if (!DEFLATE_MODES.includes(deflateMode)) {
    throw new Error(`OBJCAST_TEST_DEFLATE=${deflateMode}: say one of ${DEFLATE_MODES.join(', ')}`);
}
let opened = 0;

/* What a connection that offers permessage-deflate asks of the ws client: compress every
 * message it sends, however short (as browsers do; ws's default threshold is 1024 bytes).
 * The offer itself is ws's: permessage-deflate; client_max_window_bits. */
export const DEFLATE_CLIENT = { threshold: 0 };

/* perMessageDeflate for ws as connect()'s deflate option and OBJCAST_TEST_DEFLATE say. */
function perMessageDeflate(deflate) {
    const n = opened++;
    if (deflate === undefined) deflate = deflateMode === 'all' || (deflateMode === 'alternate' && n % 2 === 0);
    if (deflate === true) return DEFLATE_CLIENT;
    return deflate || false;
}

/*
 * Opens a WebSocket to server's /ws (or opts.path). Resolves a Client once open; rejects
 * with err.statusCode set when the server refuses the upgrade. opts.deflate: true offers
 * permessage-deflate (DEFLATE_CLIENT), false does not, an object is ws's perMessageDeflate
 * options; by default OBJCAST_TEST_DEFLATE decides (deflateMode). The Client's `deflate`
 * says whether the server agreed.
 */
export function connect(server, { origin, headers, path: p = '/ws', timeoutMs = 5000, deflate } = {}) {
    const url = server.url(p).replace(/^http/, 'ws');
    const ws = new WebSocket(url, {
        origin, headers, handshakeTimeout: timeoutMs, perMessageDeflate: perMessageDeflate(deflate),
    });
    const client = new Client(ws);
    server.clients?.add(client);
    return new Promise((resolve, reject) => {
        ws.once('open', () => {
            client.deflate = /(^|,)\s*permessage-deflate\b/.test(ws.extensions);
            resolve(client);
        });
        ws.once('unexpected-response', (req, res) => {
            const e = new Error(`upgrade refused: HTTP ${res.statusCode}`);
            e.statusCode = res.statusCode;
            e.headers = res.headers;
            res.resume();
            ws.terminate();
            reject(e);
        });
        ws.once('error', reject);
    });
}

/* Sends objcast_auth and resolves the objcast_ready message; throws on anything else. */
export async function auth(client, token, { ref, timeoutMs = 5000 } = {}) {
    const msg = { type: 'objcast_auth', token };
    if (ref !== undefined) msg.ref = ref;
    client.send(msg);
    const m = await client.next(undefined, timeoutMs);
    if (m.type !== 'objcast_ready') throw new Error(`expected objcast_ready, got ${JSON.stringify(m)}`);
    return m;
}

/* connect() + auth() with a token for claims. */
export async function connectAuthed(server, claims = {}, opts = {}) {
    const c = await connect(server, opts);
    c.ready = await auth(c, server.token(claims));
    return c;
}

// ---------------------------------------------------------------------------------------
// Raw sockets (frames from wsframe.mjs)

/* Parses an HTTP response head at the start of buf, or null when incomplete. */
function parseHead(buf) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
    if (!m) throw new Error(`bad HTTP status line: ${JSON.stringify(lines[0])}`);
    const headers = {};
    for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const k = line.slice(0, i).trim().toLowerCase();
        const v = line.slice(i + 1).trim();
        headers[k] = headers[k] !== undefined ? `${headers[k]}, ${v}` : v;
    }
    return { version: m[1], status: Number(m[2]), statusText: m[3] || '', headers, headSize: end + 4 };
}

export class RawConn {
    constructor(sock) {
        this.sock = sock;
        this.buf = Buffer.alloc(0);
        this.ended = false; // the peer closed its side (or the socket is gone)
        this.error = null;
        this.frames = []; // frames skipped by expectClose()
        this._wakers = [];
        sock.on('data', (d) => {
            this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
            this._wake();
        });
        const onEnd = () => {
            this.ended = true;
            this._wake();
        };
        sock.on('end', onEnd);
        sock.on('close', onEnd);
        sock.on('error', (e) => {
            this.error = e;
            onEnd();
        });
        this._closed = new Promise((resolve) => sock.on('close', resolve));
    }

    _wake() {
        for (const w of this._wakers.splice(0)) w();
    }

    /* Waits until parse() returns non-null (it may consume this.buf). */
    _waitFor(parse, timeoutMs, what) {
        return new Promise((resolve, reject) => {
            let timer;
            const attempt = () => {
                let r;
                try {
                    r = parse();
                } catch (e) {
                    clearTimeout(timer);
                    reject(e);
                    return;
                }
                if (r !== null && r !== undefined) {
                    clearTimeout(timer);
                    resolve(r);
                } else if (this.ended) {
                    clearTimeout(timer);
                    const e = new Error(`connection ended while waiting for ${what} (${this.buf.length} ` +
                        `unparsed bytes: ${this.buf.subarray(0, 64).toString('hex')}${
                            this.error ? `; ${this.error.code || this.error.message}` : ''})`);
                    e.ended = true;
                    reject(e);
                } else {
                    this._wakers.push(attempt);
                }
            };
            timer = setTimeout(() => {
                const i = this._wakers.indexOf(attempt);
                if (i >= 0) this._wakers.splice(i, 1);
                reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
            }, timeoutMs);
            attempt();
        });
    }

    /* Writes bytes; errors from a peer that already closed (EPIPE, ECONNRESET) are kept
     * in this.error rather than thrown. */
    write(bytes) {
        if (this.sock.destroyed) return false;
        return this.sock.write(bytes);
    }

    /* Resolves when all written data was handed to the kernel. */
    flush() {
        return new Promise((resolve) => {
            if (this.sock.destroyed) resolve();
            else this.sock.write('', () => resolve());
        });
    }

    /* Reads one HTTP response: {status, statusText, headers, body}. */
    readResponse(timeoutMs = 3000) {
        return this._waitFor(() => {
            const head = parseHead(this.buf);
            if (!head) return null;
            const cl = head.headers['content-length'];
            let bodyLen;
            if (cl !== undefined) bodyLen = Number(cl);
            else if (head.status < 200 || head.status === 204 || head.status === 304) bodyLen = 0;
            else if (this.ended) bodyLen = this.buf.length - head.headSize;
            else return null; // no length: the body runs to the end of the connection
            if (this.buf.length < head.headSize + bodyLen) return null;
            const body = this.buf.subarray(head.headSize, head.headSize + bodyLen).toString('utf8');
            this.buf = this.buf.subarray(head.headSize + bodyLen);
            return { ...head, body };
        }, timeoutMs, 'an HTTP response');
    }

    /* Sends a WebSocket upgrade request for path and reads the response (any status). A
     * header whose value is an array is sent once per element, in order. */
    async upgrade({ path: p = '/ws', key = crypto.randomBytes(16).toString('base64'), headers = {},
        timeoutMs = 3000 } = {}) {
        const h = {
            Host: `127.0.0.1:${this.sock.remotePort}`,
            Upgrade: 'websocket',
            Connection: 'Upgrade',
            'Sec-WebSocket-Key': key,
            'Sec-WebSocket-Version': '13',
            ...headers,
        };
        let req = `GET ${p} HTTP/1.1\r\n`;
        for (const [k, v] of Object.entries(h)) {
            for (const one of [].concat(v)) if (one !== undefined && one !== null) req += `${k}: ${one}\r\n`;
        }
        this.write(`${req}\r\n`);
        const res = await this.readResponse(timeoutMs);
        res.key = key;
        return res;
    }

    /* upgrade() that must succeed with 101 and the right Sec-WebSocket-Accept. */
    async handshake(opts = {}) {
        const res = await this.upgrade(opts);
        if (res.status !== 101) throw new Error(`handshake refused: HTTP ${res.status} ${res.body}`);
        const want = acceptKey(res.key);
        if (res.headers['sec-websocket-accept'] !== want) {
            throw new Error(`bad Sec-WebSocket-Accept ${res.headers['sec-websocket-accept']} (want ${want})`);
        }
        return res;
    }

    /* Reads the next server frame. */
    readFrame(timeoutMs = 3000) {
        return this._waitFor(() => {
            const r = parseFrame(this.buf);
            if (!r) return null;
            this.buf = this.buf.subarray(r.size);
            return r.frame;
        }, timeoutMs, 'a WebSocket frame');
    }

    /* Reads frames until one with opcode (others are kept in this.frames). */
    async readFrameOf(opcode, timeoutMs = 3000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const f = await this.readFrame(Math.max(1, deadline - Date.now()));
            if (f.opcode === opcode) return f;
            this.frames.push(f);
        }
    }

    /* Reads the next text frame (other frames are kept in this.frames): {frame, text}, the
     * text inflated when the frame is compressed (RSV1). */
    async readText(timeoutMs = 3000) {
        const frame = await this.readFrameOf(OP.TEXT, timeoutMs);
        return { frame, text: frameText(frame) };
    }

    /* Reads the next text frame that is not a ping/pong and parses its JSON. */
    async readMessage(timeoutMs = 3000) {
        return parseMessage((await this.readText(timeoutMs)).text);
    }

    /* Sends a masked text frame with obj as JSON (strings as they are). With compress
     * (permessage-deflate agreed), the text goes compressed: deflateMessage(text, compress
     * when it is an object) with RSV1 set. Other options go to buildFrame(). */
    sendText(obj, { compress, ...opts } = {}) {
        const text = typeof obj === 'string' ? obj : JSON.stringify(obj);
        if (!compress) {
            this.write(buildFrame({ opcode: OP.TEXT, payload: text, ...opts }));
            return;
        }
        const payload = deflateMessage(text, typeof compress === 'object' ? compress : {});
        this.write(buildFrame({ opcode: OP.TEXT, rsv: RSV1, payload, ...opts }));
    }

    /* Sends objcast_auth and requires objcast_ready. */
    async auth(token, timeoutMs = 3000) {
        this.sendText({ type: 'objcast_auth', token });
        const m = await this.readMessage(timeoutMs);
        if (m.type !== 'objcast_ready') throw new Error(`expected objcast_ready, got ${JSON.stringify(m)}`);
        return m;
    }

    /*
     * Reads frames until the server's close frame (others are kept in this.frames), then
     * waits for the TCP connection to end. Resolves {code, reason, frame}. Rejects if the
     * connection ends without a close frame or does not end.
     */
    async expectClose(timeoutMs = 3000) {
        const frame = await this.readFrameOf(OP.CLOSE, timeoutMs);
        await this.waitEnd(timeoutMs);
        return { code: frame.code, reason: frame.reason, frame };
    }

    /* Resolves when the peer has closed the TCP connection. */
    waitEnd(timeoutMs = 3000) {
        return this._waitFor(() => (this.ended ? true : null), timeoutMs,
            'the server to close the TCP connection').catch((e) => {
            if (e.ended) return true;
            throw e;
        });
    }

    destroy() {
        this.sock.destroy();
    }
}

/* Opens a TCP connection to 127.0.0.1:port (server or port number). */
export function rawSocket(portOrServer, { timeoutMs = 3000 } = {}) {
    const server = typeof portOrServer === 'object' ? portOrServer : null;
    const port = server ? server.port : portOrServer;
    const host = server ? server.host : '127.0.0.1';
    return new Promise((resolve, reject) => {
        const sock = net.connect({ port, host });
        sock.setNoDelay(true);
        const timer = setTimeout(() => {
            sock.destroy();
            reject(new Error(`connect to ${host}:${port} timed out`));
        }, timeoutMs);
        sock.once('connect', () => {
            clearTimeout(timer);
            const conn = new RawConn(sock);
            server?.clients.add(conn);
            resolve(conn);
        });
        sock.once('error', (e) => {
            clearTimeout(timer);
            reject(e);
        });
    });
}

// ---------------------------------------------------------------------------------------
// HTTP

/* One HTTP request on a fresh connection: {status, headers, body}. */
export function httpRequest(portOrServer, method, p, headers = {}, body) {
    const port = typeof portOrServer === 'object' ? portOrServer.port : portOrServer;
    return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent: false, timeout: 5000 }, (res) => {
            let data = '';
            res.setEncoding('utf8');
            res.on('data', (d) => (data += d));
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
            res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)));
        req.on('error', reject);
        req.end(body);
    });
}

export function httpGet(portOrServer, p, headers = {}) {
    return httpRequest(portOrServer, 'GET', p, headers);
}

/* Prometheus text -> {samples: {name: sum of values over label sets}, types: {name: type}}. */
export function parseMetrics(text) {
    const samples = {};
    const types = {};
    for (const line of text.split('\n')) {
        const t = /^# TYPE (\S+) (\S+)/.exec(line);
        if (t) {
            types[t[1]] = t[2];
            continue;
        }
        if (!line || line.startsWith('#')) continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
        if (!m) throw new Error(`bad metrics line: ${JSON.stringify(line)}`);
        samples[m[1]] = (samples[m[1]] || 0) + Number(m[3]);
    }
    return { samples, types };
}

export async function getMetrics(server) {
    const res = await httpGet(server, '/metrics');
    if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
    return parseMetrics(res.body);
}

// ---------------------------------------------------------------------------------------
// Randomness for fuzz-like tests

export { prng } from './prng.mjs';
