#!/usr/bin/env node
// The cost of a resume (docs/protocol.md section 10), engine redis: how long a reconnecting
// client waits for the messages it missed, and what the server spends on it.
//
//   node scripts/bench.d/resume.mjs --objcastd PATH [--missed 100] [--size 1024] [--runs 300]
//
// One objcastd and one redis-server, started here on 127.0.0.1 (objcastd and Redis pinned
// to CPU 0 with taskset when BENCH_SERVER_CPU is set, as scripts/bench does). A sender is
// on object L1. Each run: the sender broadcasts --missed messages of --size bytes (waiting
// for the echo of the last, so all are stored); a new, authenticated connection subscribes
// with since = the offset before them and waits for the last one of the replay. Measured:
// the time from sending that subscribe to the last replayed message (loopback, so it is
// server time plus two small hops), and the CPU objcastd and Redis spent per run, minus the
// same runs with a plain subscribe (no since, nothing replayed): the replay's own cost.
// Prints one JSON line.
import { spawn, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const opt = { objcastd: path.join(root, 'build/bench/src/objcastd'), missed: 100, size: 1024, runs: 300 };
for (let i = 2; i < process.argv.length; i += 2) {
    const k = process.argv[i].replace(/^--/, '');
    if (!(k in opt)) throw new Error(`unknown option ${process.argv[i]}`);
    opt[k] = k === 'objcastd' ? process.argv[i + 1] : Number(process.argv[i + 1]);
}
const cpu = process.env.BENCH_SERVER_CPU;
const pinned = (cmd, args) => (cpu !== undefined ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
    return new Promise((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

/* utime + stime of pid, in clock ticks. */
function ticks(pid) {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
}
const hz = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const dir = mkdtempSync(path.join(os.tmpdir(), 'objcast-resume-'));
const children = [];
process.on('exit', () => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
});

const redisPort = await freePort();
const redis = spawn(...pinned('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1',
    '--dir', dir, '--appendonly', 'no', '--save', '']), { stdio: 'ignore' });
children.push(redis);
const port = await freePort();
const secret = 'resume-bench-secret-0123456789abcdef';
const objcastd = spawn(...pinned(opt.objcastd, ['--engine', 'redis', '--redis_url', `redis://127.0.0.1:${redisPort}`,
    '--port', String(port), '--bind', '127.0.0.1', '--token_secret', secret, '--log_level', 'warning',
    '--client_rate', '100000 100000', '--static_dir', path.join(root, 'web')]), { stdio: ['ignore', 'ignore', 'inherit'] });
children.push(objcastd);

for (let i = 0; ; i++) {
    try {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        if (r.status === 200) break;
    } catch { /* not listening yet */ }
    if (i > 200) throw new Error('objcastd did not become ready');
    await sleep(50);
}

function token(sub) {
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, ws: 1, name: sub, avatarUrl: '', exp: Math.floor(Date.now() / 1000) + 3600 })}`;
    return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/* An authenticated connection: next(pred) resolves the next message that satisfies pred. */
async function connect(sub) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const waiters = [];
    ws.on('message', (data) => {
        const m = JSON.parse(data.toString());
        for (let i = 0; i < waiters.length; i++) {
            if (waiters[i].pred(m)) {
                waiters.splice(i, 1)[0].resolve(m);
                break;
            }
        }
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const c = {
        ws,
        next: (pred) => new Promise((resolve) => waiters.push({ pred, resolve })),
        send: (o) => ws.send(JSON.stringify(o)),
    };
    const ready = c.next((m) => m.type === 'objcast_ready');
    c.send({ type: 'objcast_auth', token: token(sub) });
    c.session = (await ready).payload.session;
    return c;
}

const sender = await connect('sender');
const joined = sender.next((m) => m.type === 'ovice_participant_joined');
sender.send({ type: 'objcast_join', objectId: 'L1' });
const own = await joined;
let epoch = own.epoch;
const text = 'x'.repeat(Math.max(0, opt.size - 2));
let seq = 0;

/* Broadcasts `missed` messages; resolves the offset of the last. */
async function sendMissed() {
    let last;
    for (let i = 0; i < opt.missed; i++) {
        const echo = i === opt.missed - 1;
        const message = `${++seq}|${text}`;
        if (echo) last = sender.next((m) => m.type === 'ovice_message' && m.payload.message === message);
        sender.send({ type: 'ovice_broadcast_message', objectId: 'L1', echo, payload: { event: 'e', message } });
    }
    const m = await last;
    epoch = m.epoch;
    return m.offset;
}

async function runs(withSince) {
    const times = [];
    let cpuObj = 0;
    let cpuRedis = 0;
    for (let r = 0; r < opt.runs; r++) {
        const last = await sendMissed();
        const c = await connect(`reader${r % 50}`);
        const o0 = ticks(objcastd.pid);
        const r0 = ticks(redis.pid);
        const t0 = process.hrtime.bigint();
        const done = withSince
            ? c.next((m) => m.type === 'ovice_message' && m.offset === last)
            : c.next((m) => m.type === 'ovice_participant_subscribed');
        const sub = { type: 'objcast_subscribe', objectId: 'L1' };
        if (withSince) sub.since = { epoch, offset: last - opt.missed, session: sender.session.replace(/^[0-9]+/, '0') };
        c.send(sub);
        const m = await done;
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        cpuObj += ticks(objcastd.pid) - o0;
        cpuRedis += ticks(redis.pid) - r0;
        if (withSince && m.offset !== last) throw new Error('replay ended elsewhere');
        c.ws.close();
    }
    times.sort((a, b) => a - b);
    return {
        median_ms: times[Math.floor(times.length / 2)],
        p99_ms: times[Math.floor(times.length * 0.99)],
        objcastd_cpu_ms: (cpuObj / hz) * 1000 / opt.runs,
        redis_cpu_ms: (cpuRedis / hz) * 1000 / opt.runs,
    };
}

await runs(true); // warm up
const plain = await runs(false);
const resume = await runs(true);
const out = {
    missed: opt.missed,
    size: opt.size,
    runs: opt.runs,
    resume,
    plain_subscribe: plain,
    replay_cpu_ms: {
        objcastd: resume.objcastd_cpu_ms - plain.objcastd_cpu_ms,
        redis: resume.redis_cpu_ms - plain.redis_cpu_ms,
    },
};
console.log(JSON.stringify(out));
process.exit(0);
