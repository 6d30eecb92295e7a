#!/usr/bin/env node
// Measures objcastd's resident memory while it holds N idle authenticated WebSocket
// connections. Starts its own objcastd (OBJCASTD or build/run/src/objcastd) on port 0.
// Usage: node tools/idle-rss.mjs [N=10000]
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

const N = Number(process.argv[2] ?? 10000);
const bin = process.env.OBJCASTD ?? new URL('../build/run/src/objcastd', import.meta.url).pathname;
const secret = 'idle-rss-secret-0123456789abcdef0123456789';
const proc = spawn(bin, ['--bind', '127.0.0.1', '--port', '0', '--token_secret', secret,
    '--log_level', 'warning', '--ping_interval', '3600'], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
        out += d;
        const m = /listening on [^ ]*:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
    });
    proc.on('exit', () => reject(new Error('objcastd exited')));
});
const rss = () => {
    const s = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
    return { rss: Number(/VmRSS:\s+(\d+)/.exec(s)[1]), hwm: Number(/VmHWM:\s+(\d+)/.exec(s)[1]) };
};
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const token = (i) => {
    const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: `u${i}`, ws: 1, name: `User ${i}`,
        avatarUrl: '', exp: Math.floor(Date.now() / 1000) + 3600 })}`;
    return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
};
const base = rss();
const sockets = [];
const open = (i) => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'objcast_auth', token: token(i) })));
    ws.once('message', (d) => (JSON.parse(d).type === 'objcast_ready' ? resolve(ws) : reject(new Error(String(d)))));
    ws.on('error', reject);
});
for (let i = 0; i < N; i += 200) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 200); j++) batch.push(open(j));
    sockets.push(...(await Promise.all(batch)));
}
await new Promise((r) => setTimeout(r, 1000));
const held = rss();
const perConn = ((held.rss - base.rss) * 1024) / N;
console.log(`connections=${N} rss_before_kb=${base.rss} rss_kb=${held.rss} peak_rss_kb=${held.hwm} ` +
    `per_connection_bytes=${perConn.toFixed(0)}`);
for (const ws of sockets) ws.terminate();
proc.kill('SIGTERM');
await new Promise((r) => proc.on('exit', r));
