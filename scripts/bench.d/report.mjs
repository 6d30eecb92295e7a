// Writes the benchmark report (Markdown) and the data of its plots from the results of
// scripts/bench.
//
//   node scripts/bench.d/report.mjs --results build/bench/results.jsonl \
//       --out docs/benchmarks.md --plot-data build/bench/plot
//
// results.jsonl: one line per run, objcast-bench's --json object with bench_id (W1a, W1b,
// W2, W3, W4, W5, idle, W1z, idlez), bench_target, bench_param (subscribers / connections, or
// the payload size for W4), bench_rep, bench_ok, bench_exit, (newer runs) bench_instances
// and (W1z, idlez) bench_variant (plain or deflate) added by scripts/bench (a failed run may
// carry only those). The machine and the settings come from
// BENCH_* environment variables (see make_report in scripts/bench); W5's settings from its
// lines (rest_s, rate, warmup_s, duration_s), so results of runs without W5 work too.
//
// Plot data in --plot-data: fanout-<target>.dat ("subscribers median min max" of W1a/W3
// deliveries/s), lat-<N>-<target>.dat (W1b percentiles as step-CDF points) and, for each
// plot, <plot>.gpvars: gnuplot assignments naming the series, read by scripts/bench.d/*.gp.
import fs from 'node:fs';
import path from 'node:path';

function args() {
    const a = { results: 'build/bench/results.jsonl', out: 'docs/benchmarks.md', plotData: '' };
    const v = process.argv.slice(2);
    for (let i = 0; i < v.length; i++) {
        const next = () => {
            if (i + 1 >= v.length) throw new Error(`${v[i]} needs a value`);
            return v[++i];
        };
        if (v[i] === '--results') a.results = next();
        else if (v[i] === '--out') a.out = next();
        else if (v[i] === '--plot-data') a.plotData = next();
        else throw new Error(`unknown argument ${v[i]}`);
    }
    return a;
}

const opt = args();
const env = (k, d = '') => process.env[`BENCH_${k}`] ?? d;

// ---------------------------------------------------------------------------------
// Results

const runs = [];
for (const [i, line] of fs.readFileSync(opt.results, 'utf8').split('\n').entries()) {
    if (!line.trim()) continue;
    try {
        runs.push(JSON.parse(line));
    } catch {
        process.stderr.write(`report: ${opt.results}:${i + 1}: not JSON, skipped\n`);
    }
}

const TARGETS = {
    'objcast-memory': 'objcast, engine memory',
    'objcast-redis': 'objcast, engine redis (1 instance)',
    'objcast-redis-nohist': 'objcast, engine redis (1 instance), history_size 0',
    'objcast-redis-workers2': 'objcast, engine redis, workers 2',
    'objcast-redis-2inst': 'objcast, engine redis, 2 instances',
    'objcast-redis-cluster': 'objcast, engine redis, Redis Cluster (3 masters + 3 replicas), 1 instance',
    'objcast-redis-cluster-2inst': 'objcast, engine redis, Redis Cluster (3 masters + 3 replicas), 2 instances',
    'nchan-memory': 'Nchan, memory storage',
    'nchan-redis': 'Nchan, Redis storage',
    'nchan-redis-2nginx': 'Nchan, Redis storage, 2 nginx',
};
const targetOrder = Object.keys(TARGETS);
const label = (t) => TARGETS[t] ?? t;

// groups[id][param][target] = [run, ...] (every run, failed ones included)
const groups = {};
for (const r of runs) {
    const g = ((groups[r.bench_id] ??= {})[r.bench_param] ??= {});
    (g[r.bench_target] ??= []).push(r);
}
const params = (id) =>
    Object.keys(groups[id] ?? {})
        .map(Number)
        .sort((a, b) => a - b);
const targetsOf = (id, p) =>
    Object.keys(groups[id]?.[p] ?? {}).sort((a, b) => targetOrder.indexOf(a) - targetOrder.indexOf(b));
const okRuns = (id, p, t) => (groups[id]?.[p]?.[t] ?? []).filter((r) => r.bench_ok);

function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// {med, min, max, n} of metric f (a key or a function of a run) over some runs, or null
function statOf(list, f) {
    const get = typeof f === 'function' ? f : (r) => r[f];
    const xs = list.map(get).filter((x) => typeof x === 'number' && Number.isFinite(x));
    if (!xs.length) return null;
    return { med: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}
// the same over the ok runs of a workload, parameter and target
const stat = (id, p, t, f) => statOf(okRuns(id, p, t), f);

// W1z and idlez (issue 15) run every repeat twice, without and with permessage-deflate:
// the runs of one variant, and the ratio with / without of metric f, paired by repeat (the
// two ran back to back, so the machine's drift between repeats stays out of it).
const variantOf = (r) => r.bench_variant ?? (r.deflate ? 'deflate' : 'plain');
const variantRuns = (id, p, t, v) => okRuns(id, p, t).filter((r) => variantOf(r) === v);
function pairedRatio(id, p, t, f) {
    const get = typeof f === 'function' ? f : (r) => r[f];
    const plain = new Map(variantRuns(id, p, t, 'plain').map((r) => [r.bench_rep, get(r)]));
    const ratios = variantRuns(id, p, t, 'deflate')
        .filter((r) => plain.get(r.bench_rep) > 0)
        .map((r) => ({ ratio: get(r) / plain.get(r.bench_rep) }));
    return statOf(ratios, 'ratio');
}

// deliveries per second of server CPU (what one server core delivers)
const perCore = (r) => (r.server_cpu_s > 0 ? r.deliveries / r.server_cpu_s : NaN);

// Redis figures of a run, summed over its masters (a replica replays its master's writes, so
// the sum over every node counts them twice): `<prefix>redis_masters_<key>`, or for runs
// before objcast-bench told masters apart (one Redis then) `<prefix>redis_<key>`.
const masters = (prefix, key) => (r) => r[`${prefix}redis_masters_${key}`] ?? r[`${prefix}redis_${key}`];
// The same summed over every node (masters and replicas).
const allNodes = (prefix, key) => (r) => r[`${prefix}redis_${key}`];
// How many Redis servers, and how many of them masters, a run read.
const nodeCount = (r) => r.redis_servers ?? 1;
const masterCount = (r) => r.redis_masters ?? r.rest_redis_masters ?? 1;

// W5: Redis commands/s at rest per objcastd instance, on the masters (runs before
// bench_instances: one instance)
const restCmdsPerInstance = (r) =>
    masters('rest_', 'cmds_per_s')(r) / (r.bench_instances > 0 ? r.bench_instances : 1);

// The masters' values of `key` (cmds_per_s, cpu_pct) in `<prefix>redis_nodes`, the largest
// first; a run without per-node figures (one Redis) has its whole value as its one master.
function masterValues(r, prefix, key) {
    const nodes = r[`${prefix}redis_nodes`];
    if (Array.isArray(nodes) && nodes.length)
        return nodes
            .filter((n) => n.role === 'master')
            .map((n) => n[key])
            .sort((a, b) => b - a);
    const whole = r[`${prefix}redis_${key}`];
    return typeof whole === 'number' ? [whole] : [];
}
// `key` of the rank-th busiest master (0: the busiest) of a run
const masterRank = (prefix, key, rank) => (r) => masterValues(r, prefix, key)[rank];

// Redis CPU µs per delivered message in the measured window: masters, or every node
const redisUsPerDelivery = (sel) => (r) => (r.deliveries > 0 ? (sel('', 'cpu_s')(r) * 1e6) / r.deliveries : NaN);

// ---------------------------------------------------------------------------------
// Formatting

const group3 = (s) => s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
function num(x) {
    if (x == null || !Number.isFinite(x)) return 'n/a';
    const a = Math.abs(x);
    if (a >= 1000) return group3(Math.round(x).toString());
    if (a >= 100) return x.toFixed(0);
    if (a >= 10) return x.toFixed(1);
    if (a >= 1) return x.toFixed(2);
    return x.toFixed(3);
}
function us(x) {
    if (x == null || !Number.isFinite(x)) return 'n/a';
    if (x >= 1000) return `${num(x / 1000)} ms`;
    return `${num(x)} µs`;
}
const int = (x) => (x == null || !Number.isFinite(x) ? 'n/a' : group3(Math.round(x).toString()));
const pct = (x) => (x == null || !Number.isFinite(x) ? 'n/a' : `${x.toFixed(0)}%`);
const kib = (x) => (x == null || !Number.isFinite(x) ? 'n/a' : `${num(x / 1024)} MiB`);
const bytes = (x) => (x == null || !Number.isFinite(x) ? 'n/a' : `${num(x)} B`);
const sizeName = (b) => (b % 1024 === 0 ? `${b / 1024} KiB` : b % 1000 === 0 ? `${b / 1000} KB` : `${b} B`);

// "median (min–max)", or the value alone for one run
function cell(s, fmt = num) {
    if (!s) return '—';
    if (s.n === 1 || s.min === s.max) return fmt(s.med);
    return `${fmt(s.med)} (${fmt(s.min)}–${fmt(s.max)})`;
}

// left-aligned text columns: the first `left` ones
function table(head, rows, left = 2) {
    const out = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i < left ? '---' : '---:')).join('|')}|`];
    for (const r of rows) out.push(`| ${r.join(' | ')} |`);
    return out.join('\n');
}

function runsCell(id, p, t) {
    const all = groups[id]?.[p]?.[t] ?? [];
    const ok = all.filter((r) => r.bench_ok).length;
    const bad = all.length - ok;
    const incomplete = all.filter((r) => r.bench_ok && (r.missing > 0 || r.errors > 0)).length;
    let s = `${ok}`;
    if (bad) s += `, ${bad} failed`;
    if (incomplete) s += `, ${incomplete} with missing/errors`;
    return s;
}

// ---------------------------------------------------------------------------------
// The document

const quick = env('QUICK') === '1';
const memory = (s) => (/^\d+ kB$/.test(s) ? `${(parseInt(s, 10) / 1048576).toFixed(1)} GiB` : s || '?');
const reps = Number(env('REPEATS', '3'));
const md = [];
const p = (...lines) => md.push(...lines);

p('# Benchmarks: objcast vs Nchan', '');
if (quick) {
    p(
        '> **Quick run** (`scripts/bench --quick`): one repeat, short windows, at most 1,000',
        '> subscribers/connections, taken while other work shared this 2-core machine. It checks',
        '> that the benchmark runs; its numbers are noisy and are **not** the benchmark. The full',
        '> run is `scripts/bench` (3 repeats, 100/1,000/5,000 subscribers, 10,000 connections).',
        '',
    );
}
p(
    `Generated by \`scripts/bench\` on ${env('DATE', '?')} from \`${path.relative(process.cwd(), opt.results) || opt.results}\``,
    '(one line per run). Each figure is the **median** of the runs with the **min–max** in',
    'parentheses (a single value when there was one run). Regenerate the document from the same',
    'results with `scripts/bench --report`.',
    '',
);

p('## Machine', '');
p(
    table(
        ['what', 'value'],
        [
            ['CPUs (nproc)', env('MACHINE_NPROC', '?')],
            ['CPU model', env('MACHINE_MODEL', '?')],
            ['memory', memory(env('MACHINE_MEM'))],
            ['kernel', env('MACHINE_KERNEL', '?')],
            ['OS', env('MACHINE_OS', '?')],
            ['load average at the start', env('MACHINE_LOAD', '?')],
            ['software', env('VERSIONS', '?')],
        ],
    ),
    '',
);

const dur = env('DURATION'), warm = env('WARMUP'), drain = env('DRAIN');
p('## Settings', '');
p(
    `- Repeats: ${reps} of every workload × target${env('ONLY') ? ` (only ${env('ONLY')})` : ''}; the repeats are interleaved (all runs once, then again).`,
    `- Window: ${warm} s warmup, then ${dur} s measured; drain up to ${drain} s, then every expected delivery is checked (idle: ${env('IDLE_WARMUP')} s + ${env('IDLE_DURATION')} s).`,
    `- Pinning (taskset): every server process of a run (objcastd and its workers, nginx master and its one worker with \`worker_cpu_affinity\`, redis-server) on CPU ${env('SERVER_CPU')}; the generator (\`objcast-bench --procs 1 --pin ${env('GEN_CPU')}\`) on CPU ${env('GEN_CPU')}. So the server side always has exactly one core: "server CPU" is % of that core.`,
    '- Fresh servers for every run, all on 127.0.0.1: objcastd (`-O2` build in build/bench, `--client_rate 1000000 1000000`, `--log_level warning`); redis-server with conf/redis.conf without persistence; nginx with `scripts/bench.d/nchan.conf.in` (1 worker, `nchan_subscriber websocket` on `/sub/<channel>`, `nchan_publisher` on `/pub/<channel>`, Redis storage through `nchan_redis_pass`).',
    '- Redis Cluster targets: six redis-server (scripts/lib/rediscluster.sh: conf/redis.conf with `cluster-enabled yes`, `cluster-node-timeout 5000`, here without persistence), joined by `redis-cli --cluster create --cluster-replicas 1` into 3 masters with a replica each, all six on the server CPU like every other server; objcastd with `--redis_cluster yes` and the masters as `redis_url`. Redis figures are given for the **masters** (what the instances make Redis do: a replica replays its master\'s writes and the sum over every node counts them twice; the masters\' `replconf` 1/s per replica is in it) and for **all nodes** (masters and replicas: what the cluster costs the machine), and per master.',
    `- Server CPU and RSS: from /proc for the server processes only (objcastd or the nginx master, their children, and redis-server when the target uses Redis). "µs/delivery" = server CPU time in the window / deliveries in the window; "per core" = deliveries per second of server CPU time.`,
    `- Connections open at ${num(Number(env('CONNECT_RATE')))}/s; setup may take ${env('SETUP_TIMEOUT')} s.`,
    `- Messages: ${env('MSG_SIZE')} bytes of JSON. W1b offers ${num(Number(env('FIXED_TOTAL')))} deliveries/s (${num(Number(env('FIXED_TOTAL')))}/N messages/s). W4: ${env('DATA_RECEIVERS')} receivers, one save outstanding.`,
    '- Latency = receive time − send time stamped in the message (same clock, same machine). At max rate (W1a, W3) the sender keeps 64 messages in flight, so latency there is queueing: compare latency at the fixed rate (W1b).',
    '- objcast-bench drives Nchan for fan-out and idle only: W2 (many objects), W4 (saved data, an objcast operation) and W5 (office, objcast\'s presence and Redis housekeeping) have no Nchan column.',
    '- Nchan at "max rate": objcast-bench publishes to Nchan by HTTP POST on one keep-alive connection with up to 16 requests pipelined at max rate, and keeps the same 64-message window as for objcast, so nginx, not the publisher\'s round trip, sets the pace (its server CPU shows it: near 100%). At the fixed rate of W1b it sends one POST at a time: nginx turns `TCP_NODELAY` on only for idle keep-alive connections, and pipelined answers could wait ~40 ms for a delayed ACK.',
);
// W5's settings come from its results (objcast-bench's JSON), not from the environment
const w5 = runs.find((r) => r.bench_id === 'W5' && r.bench_ok);
const secs = (x) => `${+Number(x).toFixed(2)} s`;
if (w5)
    p(
        `- W5: connections over half as many objects, subscribed and joined; ${secs(w5.rest_s)} at rest (nothing sent, from 2 s after the setup until 0.2 s before the first message), then one ${w5.size}-byte message per object every ${secs(1 / w5.rate)}, spread evenly, ${secs(w5.warmup_s)} warmup and ${secs(w5.duration_s)} measured. Redis is read through its INFO at the windows' edges: CPU from \`used_cpu_user\` + \`used_cpu_sys\`, commands from \`total_commands_processed\` and the \`cmdstat_\` lines (commands Lua scripts call count; objcast-bench's own \`INFO\` does not), summed over the masters and over every redis-server of the target; "objcastd CPU" is objcastd alone.`,
    );
if (runs.some((r) => r.bench_id === 'W3' && r.bench_ok && r.redis_cpu_s != null))
    p(
        '- W3: Redis is read through its INFO as for W5 (its CPU stays in "server CPU" too). "Redis µs/delivery" = Redis CPU time in the window / deliveries in the window.',
    );
p('');

// --- floors ----------------------------------------------------------------------

const floorRows = [];
function floor(name, detail, value, ok, ratioText) {
    floorRows.push([name, detail, value, ratioText, ok == null ? 'not run' : ok ? '**PASS**' : '**MISS**']);
}
// "the load per master is about a third of one Redis's": the busiest master of target rc
// against the one Redis of target one, in the window of prefix ('' measured, 'rest_' at
// rest), as commands/s and as Redis CPU (every redis-server burns some CPU doing nothing:
// its cron, the cluster bus, replication pings). PASS at 0.4 or less.
function busiestMasterFloor(id, n, rc, one, prefix, what) {
    for (const [key, name, fmt] of [
        ['cmds_per_s', 'commands/s', num],
        ['cpu_pct', 'Redis CPU', (x) => `${x.toFixed(1)}%`],
    ]) {
        const a = n != null ? stat(id, n, rc, masterRank(prefix, key, 0)) : null;
        const b = n != null ? stat(id, n, one, masters(prefix, key)) : null;
        const r = a && b && b.med > 0 ? a.med / b.med : null;
        floor(
            `${id} ${name} of the busiest master ≈ ⅓ of one Redis's (≤ 0.4×)`,
            what,
            a && b ? `${fmt(a.med)} vs ${fmt(b.med)}` : 'n/a',
            r == null ? null : r <= 0.4,
            r == null ? 'n/a' : `${r.toFixed(2)}×`,
        );
    }
}
const refN = params('W1a').includes(1000) || !params('W1a').length ? 1000 : params('W1a').at(-1);
const pairs = [
    ['objcast-memory', 'nchan-memory'],
    ['objcast-redis', 'nchan-redis'],
];
for (const [o, n] of pairs) {
    const a = stat('W1a', refN, o, 'deliveries_per_s');
    const b = stat('W1a', refN, n, 'deliveries_per_s');
    const r = a && b ? a.med / b.med : null;
    floor(
        `W1 max deliveries/s at ${num(refN)} subscribers ≥ 2× Nchan`,
        `${label(o)} vs ${label(n)}`,
        a && b ? `${num(a.med)} vs ${num(b.med)}` : 'n/a',
        r == null ? null : r >= 2,
        r == null ? 'n/a' : `${r.toFixed(2)}×`,
    );
}
// History (issue 14): the default history_size against none, engine redis.
{
    const a = stat('W1a', refN, 'objcast-redis', 'deliveries_per_s');
    const b = stat('W1a', refN, 'objcast-redis-nohist', 'deliveries_per_s');
    const r = a && b && b.med > 0 ? a.med / b.med : null;
    floor(
        `W1 max deliveries/s at ${num(refN)} subscribers with history ≥ 0.8× history_size 0`,
        `${label('objcast-redis')} vs ${label('objcast-redis-nohist')}`,
        a && b ? `${num(a.med)} vs ${num(b.med)}` : 'n/a',
        r == null ? null : r >= 0.8,
        r == null ? 'n/a' : `${r.toFixed(2)}×`,
    );
    for (const size of params('W4')) {
        const x = stat('W4', size, 'objcast-redis', 'saves_per_s');
        const y = stat('W4', size, 'objcast-redis-nohist', 'saves_per_s');
        const q = x && y && y.med > 0 ? x.med / y.med : null;
        floor(
            `W4 saves/s (${num(size)} bytes) with history ≥ 0.8× history_size 0`,
            `${label('objcast-redis')} vs ${label('objcast-redis-nohist')}`,
            x && y ? `${num(x.med)} vs ${num(y.med)}` : 'n/a',
            q == null ? null : q >= 0.8,
            q == null ? 'n/a' : `${q.toFixed(2)}×`,
        );
    }
}
for (const [o, n] of pairs) {
    const a = stat('W1a', refN, o, 'server_us_per_delivery');
    floor(
        'Server CPU per delivery ≤ 1.0 µs (W1 max rate)',
        `${label(o)}, ${num(refN)} subscribers`,
        a ? `${a.med.toFixed(3)} µs` : 'n/a',
        a ? a.med <= 1.0 : null,
        a ? `${a.med.toFixed(2)}× the floor` : 'n/a',
    );
    const b = stat('W1a', refN, n, 'server_us_per_delivery');
    const r = a && b ? a.med / b.med : null;
    floor(
        "Server CPU per delivery ≤ 0.4× Nchan's",
        `${label(o)} vs ${label(n)}`,
        a && b ? `${a.med.toFixed(3)} vs ${b.med.toFixed(3)} µs` : 'n/a',
        r == null ? null : r <= 0.4,
        r == null ? 'n/a' : `${r.toFixed(2)}×`,
    );
}
{
    const n3 = params('W3').includes(1000) || !params('W3').length ? 1000 : params('W3').at(-1);
    const a = n3 != null ? stat('W3', n3, 'objcast-redis-2inst', 'deliveries_per_s') : null;
    const b = n3 != null ? stat('W3', n3, 'nchan-redis-2nginx', 'deliveries_per_s') : null;
    const r = a && b ? a.med / b.med : null;
    floor(
        'W3 cross-instance deliveries/s ≥ 2× Nchan+Redis with 2 nginx',
        `${label('objcast-redis-2inst')} vs ${label('nchan-redis-2nginx')}${n3 != null ? `, ${num(n3)} subscribers` : ''}`,
        a && b ? `${num(a.med)} vs ${num(b.med)}` : 'n/a',
        r == null ? null : r >= 2,
        r == null ? 'n/a' : `${r.toFixed(2)}×`,
    );
}
// W3 on a Redis Cluster (issue 13): as fast as on one Redis, and the load per master a third
{
    const n3 = params('W3').includes(1000) || !params('W3').length ? 1000 : params('W3').at(-1);
    const one = 'objcast-redis-2inst', rc = 'objcast-redis-cluster-2inst';
    const what = `${label(rc)} vs ${label(one)}${n3 != null ? `, ${num(n3)} subscribers` : ''}`;
    const a = n3 != null ? stat('W3', n3, rc, 'deliveries_per_s') : null;
    const b = n3 != null ? stat('W3', n3, one, 'deliveries_per_s') : null;
    const r = a && b ? a.med / b.med : null;
    floor(
        'W3 deliveries/s on a Redis Cluster within 10% of one Redis',
        what,
        a && b ? `${num(a.med)} vs ${num(b.med)}` : 'n/a',
        r == null ? null : r >= 0.9,
        r == null ? 'n/a' : `${r.toFixed(2)}×`,
    );
    busiestMasterFloor('W3', n3, rc, one, '', what);
}
for (const t of ['objcast-memory', 'objcast-redis']) {
    const c = params('idle').at(-1) ?? 10000;
    const a = c != null ? stat('idle', c, t, 'server_bytes_per_conn') : null;
    floor(
        'Idle RSS ≤ 4 KiB per connection',
        `${label(t)}${c != null ? `, ${num(c)} connections` : ''}`,
        a ? `${num(a.med)} B` : 'n/a',
        a ? a.med <= 4096 : null,
        a ? `${(a.med / 4096).toFixed(2)}× the floor` : 'n/a',
    );
}
// Compression (issue 15): with every receiver negotiating permessage-deflate, against none
{
    const zn = params('W1z').includes(1000) || !params('W1z').length ? 1000 : params('W1z').at(-1);
    const zt = params('W1z').length ? targetsOf('W1z', zn) : ['objcast-memory'];
    for (const t of zt) {
        const what = `${label(t)}, ${num(zn)} subscribers, ${sizeName(Number(env('Z_SIZE', '4096')))} ${env('Z_BODY', 'notes')} body`;
        for (const [k, name, limit] of [
            ['server_us_per_delivery', 'W1z server CPU per delivery with permessage-deflate ≤ 1.3× without', 1.3],
            ['wire_bytes_per_delivery', 'W1z bytes on the wire per delivery with permessage-deflate ≤ 0.3× without', 0.3],
        ]) {
            const a = stat('W1z', zn, t, (r) => (variantOf(r) === 'deflate' ? r[k] : NaN));
            const b = stat('W1z', zn, t, (r) => (variantOf(r) === 'plain' ? r[k] : NaN));
            const r = pairedRatio('W1z', zn, t, k);
            const fmt = k === 'wire_bytes_per_delivery' ? bytes : (x) => `${x.toFixed(3)} µs`;
            floor(name, what, a && b ? `${fmt(a.med)} vs ${fmt(b.med)}` : 'n/a', r ? r.med <= limit : null, r ? cell(r, (x) => `${x.toFixed(2)}×`) : 'n/a');
        }
    }
    const c = params('idlez').at(-1) ?? params('idle').at(-1) ?? 10000;
    for (const t of params('idlez').length ? targetsOf('idlez', c) : ['objcast-memory']) {
        const a = statOf(variantRuns('idlez', c, t, 'deflate'), 'server_bytes_per_conn');
        floor(
            'Idle RSS ≤ 4 KiB per connection with permessage-deflate',
            `${label(t)}, ${num(c)} connections`,
            a ? `${num(a.med)} B` : 'n/a',
            a ? a.med <= 4096 : null,
            a ? `${(a.med / 4096).toFixed(2)}× the floor` : 'n/a',
        );
    }
}
for (const n of params('W1b')) {
    for (const [o, c] of pairs) {
        const a = stat('W1b', n, o, 'lat_p99_us');
        const b = stat('W1b', n, c, 'lat_p99_us');
        const r = a && b ? a.med / b.med : null;
        floor(
            `W1 p99 latency at ${num(Number(env('FIXED_TOTAL', '50000')))} deliveries/s ≤ Nchan's`,
            `${label(o)} vs ${label(c)}, ${num(n)} subscribers`,
            a && b ? `${us(a.med)} vs ${us(b.med)}` : 'n/a',
            r == null ? null : r <= 1,
            r == null ? 'n/a' : `${r.toFixed(2)}×`,
        );
    }
}
// W5 (issue 13): absolute floors, for every size and target run (or one "not run" row each)
{
    const cases = params('W5').flatMap((n) => targetsOf('W5', n).map((t) => [n, t]));
    if (!cases.length) cases.push([null, 'objcast-redis']);
    for (const [n, t] of cases) {
        const what = `${label(t)}${n != null ? `, ${num(n)} connections / ${num(n / 2)} objects` : ''}`;
        const c = n != null ? stat('W5', n, t, restCmdsPerInstance) : null;
        const all = n != null ? stat('W5', n, t, allNodes('rest_', 'cmds_per_s')) : null;
        const several = okRuns('W5', n, t).some((r) => nodeCount(r) > 1);
        floor(
            'W5 Redis commands/s at rest ≤ 50 per instance',
            what,
            c ? `${num(c.med)}${several && all ? ` (masters; all nodes ${num(all.med)})` : ''}` : 'n/a',
            c ? c.med <= 50 : null,
            c ? `${num(c.med / 50)}× the floor` : 'n/a',
        );
        for (const [k, name, limit] of [
            ['lat_p99_us', 'p99', 5000],
            ['lat_p999_us', 'p99.9', 10000],
        ]) {
            const a = n != null ? stat('W5', n, t, k) : null;
            floor(
                `W5 message ${name} ≤ ${limit / 1000} ms`,
                what,
                a ? us(a.med) : 'n/a',
                a ? a.med <= limit : null,
                a ? `${(a.med / limit).toFixed(2)}× the floor` : 'n/a',
            );
        }
        if (t === 'objcast-redis-cluster' && n != null && targetsOf('W5', n).includes('objcast-redis'))
            busiestMasterFloor('W5', n, t, 'objcast-redis', '', `${what}, with messages, vs ${label('objcast-redis')}`);
    }
}
p('## Floors', '');
p(
    'The targets of the issues: objcast against Nchan like for like (memory against memory storage,',
    'Redis against Redis storage), and the absolute floors of W5, on the medians below. Ratio:',
    'objcast / Nchan (or / the floor).',
    '',
);
if (quick) p('*Quick run: these verdicts come from single short runs and say nothing yet.*', '');
p(table(['floor', 'compared', 'value', 'ratio', 'verdict'], floorRows, 3), '');

// --- workload tables -------------------------------------------------------------

function section(id, title, intro, headParam, paramFmt, cols) {
    if (!groups[id]) return;
    p(`## ${title}`, '', ...intro, '');
    const rows = [];
    for (const n of params(id))
        for (const t of targetsOf(id, n))
            rows.push([paramFmt(n), label(t), ...cols.map(([, f, fmt]) => cell(stat(id, n, t, f), fmt)), runsCell(id, n, t)]);
    p(table([headParam, 'target', ...cols.map(([h]) => h), 'runs'], rows), '');
}

section(
    'W1a',
    'W1a: fan-out at max rate',
    [
        'One object, N subscribers, one sender broadcasting 1 KiB messages as fast as 64 messages in',
        'flight allow. Plot: [bench-fanout.png](bench-fanout.png).',
    ],
    'subscribers',
    num,
    [
        ['deliveries/s', 'deliveries_per_s', num],
        ['messages/s', 'sent_per_s', num],
        ['server CPU', 'server_cpu_pct', pct],
        ['µs/delivery', 'server_us_per_delivery', (x) => x.toFixed(3)],
        ['per server core /s', perCore, num],
        ['generator CPU', (r) => (100 * r.gen_cpu_s) / r.duration_s, pct],
    ],
);
section(
    'W1b',
    'W1b: fan-out at a fixed 50,000 deliveries/s',
    [
        'The same fan-out at 50,000/N messages/s: end-to-end latency. Plot (percentiles as a step',
        'CDF): [bench-latency.png](bench-latency.png).',
    ],
    'subscribers',
    num,
    [
        ['deliveries/s', 'deliveries_per_s', num],
        ['p50', 'lat_p50_us', us],
        ['p99', 'lat_p99_us', us],
        ['p99.9', 'lat_p999_us', us],
        ['max', 'lat_max_us', us],
        ['server CPU', 'server_cpu_pct', pct],
        ['µs/delivery', 'server_us_per_delivery', (x) => x.toFixed(3)],
        ['late sends', 'late', int],
    ],
);
section(
    'W2',
    'W2: many objects',
    [
        `Connections spread over ${num(runs.find((r) => r.bench_id === 'W2' && r.objects)?.objects ?? NaN)} objects (connection i on object i mod K), each object`,
        'receiving 1 message/s from one of its members, delivered to the others.',
    ],
    'connections',
    num,
    [
        ['deliveries/s', 'deliveries_per_s', num],
        ['server CPU', 'server_cpu_pct', pct],
        ['server RSS', 'server_rss_kb', kib],
        ['p50', 'lat_p50_us', us],
        ['p99', 'lat_p99_us', us],
        ['µs/delivery', 'server_us_per_delivery', (x) => x.toFixed(3)],
    ],
);
section(
    'W3',
    'W3: cross-instance fan-out',
    [
        'W1a with the receivers spread over two instances (receiver i on instance i mod 2; the',
        'sender on the first): two objcastd with engine redis on one Redis or on a Redis Cluster,',
        'or two nginx with Nchan Redis storage on one Redis. All of them and Redis (every node of',
        'the cluster) share the server core.',
    ],
    'subscribers',
    num,
    [
        ['deliveries/s', 'deliveries_per_s', num],
        ['server CPU', 'server_cpu_pct', pct],
        ['µs/delivery', 'server_us_per_delivery', (x) => x.toFixed(3)],
        ['per server core /s', perCore, num],
        ['generator CPU', (r) => (100 * r.gen_cpu_s) / r.duration_s, pct],
    ],
);
// W3: what Redis did in the window, for the runs that read its INFO
{
    const rows = [];
    for (const n of params('W3'))
        for (const t of targetsOf('W3', n)) {
            if (!okRuns('W3', n, t).some((r) => r.redis_cpu_s != null)) continue;
            const nm = stat('W3', n, t, masterCount);
            const perMaster = (key, fmt) => {
                const k = Math.max(...okRuns('W3', n, t).map((r) => masterValues(r, '', key).length));
                return Array.from({ length: k }, (_, i) => cell(stat('W3', n, t, masterRank('', key, i)), fmt)).join(' / ');
            };
            const pct1 = (x) => `${x.toFixed(1)}%`;
            rows.push([
                num(n),
                label(t),
                nm ? `${nm.med}` : '—',
                cell(stat('W3', n, t, masters('', 'cmds_per_s')), num),
                cell(stat('W3', n, t, masters('', 'cpu_pct')), pct1),
                cell(stat('W3', n, t, allNodes('', 'cpu_pct')), pct1),
                perMaster('cmds_per_s', num),
                perMaster('cpu_pct', pct1),
                cell(stat('W3', n, t, redisUsPerDelivery(masters)), (x) => x.toFixed(3)),
                cell(stat('W3', n, t, redisUsPerDelivery(allNodes)), (x) => x.toFixed(3)),
            ]);
        }
    if (rows.length) {
        p(
            'Redis in the W3 window (INFO at its edges): commands/s and CPU of the masters together and of every node',
            '(masters and replicas), each master apart (busiest first), and Redis CPU per delivered message.',
            'All the messages of one object go through one channel, and on a cluster one channel is on',
            'one slot, so one master: a fan-out on one object does not spread over the masters.',
            '',
        );
        p(
            table(
                [
                    'subscribers',
                    'target',
                    'masters',
                    'Redis cmds/s (masters)',
                    'Redis CPU (masters)',
                    'Redis CPU (all nodes)',
                    'cmds/s per master',
                    'CPU per master',
                    'Redis µs/delivery (masters)',
                    'Redis µs/delivery (all nodes)',
                ],
                rows,
            ),
            '',
        );
    }
}
section(
    'W4',
    'W4: saved data',
    [
        '`ovice_save_and_emit_data` in a closed loop (one save outstanding), engine redis; every',
        'save is emitted as `ovice_shared_data` to the receivers. Save latency: until',
        '`ovice_data_saved_success`.',
    ],
    'payload',
    sizeName,
    [
        ['saves/s', 'saves_per_s', num],
        ['save p50', 'save_p50_us', us],
        ['save p99', 'save_p99_us', us],
        ['delivery p99', 'lat_p99_us', us],
        ['deliveries/s', 'deliveries_per_s', num],
        ['server CPU', 'server_cpu_pct', pct],
    ],
);
// W5: a table of its own (the top commands are a list, not a number)
if (groups.W5) {
    p(
        '## W5: office',
        '',
        'Two users per object (connection i on object i mod K, K = connections / 2), each',
        'subscribed and joined, one objcastd with engine redis. **At rest**: nothing sent; what',
        'objcastd and Redis do then is housekeeping, the cost of merely having the connections and',
        `objects. **Messages**: one per object ${w5 ? `every ${secs(1 / w5.rate)}` : 'at a fixed rate'} from one member to the other.`,
        'Top commands: the most called at rest on the masters, calls/s (median over the runs). Redis',
        'figures: the masters (on one Redis, that Redis), and all nodes (masters and replicas) beside',
        'them. CPU: % of one core.',
        '',
    );
    // per-command median calls/s at rest over the ok runs, most called first
    const topCell = (n, t) => {
        const ok = okRuns('W5', n, t);
        const top = (r) => r.rest_redis_masters_top ?? r.rest_redis_top ?? [];
        const names = new Set(ok.flatMap((r) => top(r).map((c) => c.cmd)));
        const rows = [...names]
            .map((cmd) => [cmd, median(ok.map((r) => top(r).find((c) => c.cmd === cmd)?.per_s ?? 0))])
            .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
            .slice(0, 4);
        const rate = (x) => (x < 10 ? `${+x.toFixed(1)}` : num(x)); // 0.5, not 0.500
        return rows.length ? rows.map(([cmd, v]) => `${cmd} ${rate(v)}`).join(', ') : '—';
    };
    const pct1 = (x) => `${x.toFixed(1)}%`; // at rest a few % or less: one decimal
    const cols = [
        ['Redis cmds/s at rest', masters('rest_', 'cmds_per_s'), num],
        ['(all nodes)', allNodes('rest_', 'cmds_per_s'), num],
        ['Redis CPU at rest', masters('rest_', 'cpu_pct'), pct1],
        ['(all nodes)', allNodes('rest_', 'cpu_pct'), pct1],
        ['objcastd CPU at rest', 'rest_server_cpu_pct', pct1],
        ['Redis cmds/s, messages', masters('', 'cmds_per_s'), num],
        ['(all nodes)', allNodes('', 'cmds_per_s'), num],
        ['Redis CPU, messages', masters('', 'cpu_pct'), pct1],
        ['(all nodes)', allNodes('', 'cpu_pct'), pct1],
        ['objcastd CPU, messages', 'server_cpu_pct', pct1],
        ['p50', 'lat_p50_us', us],
        ['p99', 'lat_p99_us', us],
        ['p99.9', 'lat_p999_us', us],
        ['max', 'lat_max_us', us],
    ];
    const rows = [];
    for (const n of params('W5'))
        for (const t of targetsOf('W5', n))
            rows.push([
                `${num(n)} / ${num(n / 2)}`,
                label(t),
                topCell(n, t),
                ...cols.map(([, f, fmt]) => cell(stat('W5', n, t, f), fmt)),
                runsCell('W5', n, t),
            ]);
    p(table(['connections / objects', 'target', 'top commands at rest (calls/s)', ...cols.map(([h]) => h), 'runs'], rows, 3), '');
    // per master, for the targets with more than one (busiest first)
    const mrows = [];
    for (const n of params('W5'))
        for (const t of targetsOf('W5', n)) {
            const ok = okRuns('W5', n, t);
            if (!ok.some((r) => masterValues(r, '', 'cpu_pct').length > 1)) continue;
            const list = (prefix, key, fmt) => {
                const k = Math.max(...ok.map((r) => masterValues(r, prefix, key).length));
                return Array.from({ length: k }, (_, i) => cell(stat('W5', n, t, masterRank(prefix, key, i)), fmt)).join(' / ');
            };
            mrows.push([
                `${num(n)} / ${num(n / 2)}`,
                label(t),
                list('rest_', 'cmds_per_s', num),
                list('rest_', 'cpu_pct', pct1),
                list('', 'cmds_per_s', num),
                list('', 'cpu_pct', pct1),
            ]);
        }
    if (mrows.length) {
        p(
            'Each master of a Redis Cluster apart, busiest first: the objects spread over the slots and so over',
            "the masters; the instances' housekeeping at rest is on the slots of two keys (the heartbeats",
            'under the `{instances}` hash tag, and `objcast:instances`), so on one or two masters.',
            '',
        );
        p(
            table(
                ['connections / objects', 'target', 'cmds/s per master at rest', 'CPU per master at rest', 'cmds/s per master, messages', 'CPU per master, messages'],
                mrows,
            ),
            '',
        );
    }
}
section(
    'idle',
    'Idle connections',
    [
        'N connections set up and left idle (objcast: authenticated and subscribed; Nchan: WebSocket',
        'subscribers of one channel). Per connection: (server RSS at the end − RSS before the',
        'connections) / N, Redis included where used.',
    ],
    'connections',
    num,
    [
        ['bytes per connection', 'server_bytes_per_conn', bytes],
        ['server RSS before', 'server_rss_before_kb', kib],
        ['server RSS after', 'server_rss_kb', kib],
        ['setup s', 'setup_s', num],
    ],
);

// --- compression -------------------------------------------------------------------

if (groups.W1z || groups.idlez) {
    p(
        '## Compression (permessage-deflate)',
        '',
        'Each repeat runs twice, back to back on fresh servers: **without** (the receivers offer no',
        'extension) and **with** `objcast-bench --deflate` (every connection offers',
        '`permessage-deflate; client_max_window_bits` as browsers do; objcastd, compressing by',
        'default, accepts with `server_no_context_takeover`, compresses every message of',
        '`compression_min_bytes` or more once for all its recipients, and the generator inflates',
        'each before it is measured). "Wire" = the frames as they arrived, headers included; "text" =',
        'the JSON after inflating. Ratio = with / without of the same repeat: median (min–max).',
        '',
    );
    const pctOf = (x) => `${x.toFixed(0)}%`;
    const rows = [];
    const ratios = [];
    for (const n of params('W1z'))
        for (const t of targetsOf('W1z', n)) {
            for (const v of ['plain', 'deflate']) {
                const list = variantRuns('W1z', n, t, v);
                const all = (groups.W1z[n][t] ?? []).filter((r) => variantOf(r) === v);
                const st = (f) => statOf(list, f);
                rows.push([
                    num(n),
                    label(t),
                    v === 'deflate' ? 'with' : 'without',
                    cell(st('deliveries_per_s'), num),
                    cell(st('server_cpu_pct'), pctOf),
                    cell(st('server_us_per_delivery'), (x) => x.toFixed(3)),
                    cell(st('wire_bytes_per_delivery'), num),
                    cell(st('text_bytes_per_delivery'), num),
                    cell(st('lat_p50_us'), us),
                    cell(st('lat_p99_us'), us),
                    cell(st((r) => (100 * r.gen_cpu_s) / r.duration_s), pctOf),
                    `${list.length}${all.length > list.length ? `, ${all.length - list.length} failed` : ''}`,
                ]);
            }
            const x = (r) => (r ? cell(r, (y) => `${y.toFixed(2)}×`) : '—');
            ratios.push([
                num(n),
                label(t),
                x(pairedRatio('W1z', n, t, 'server_us_per_delivery')),
                x(pairedRatio('W1z', n, t, 'wire_bytes_per_delivery')),
                x(pairedRatio('W1z', n, t, 'lat_p99_us')),
                cell(
                    statOf(variantRuns('W1z', n, t, 'deflate'), (r) => r.wire_bytes_received / r.text_bytes_received),
                    (y) => y.toFixed(3),
                ),
            ]);
        }
    if (rows.length) {
        const w = runs.find((r) => r.bench_id === 'W1z' && r.bench_ok);
        p(
            `**W1z**: W1b's fan-out to N subscribers of one object${w ? ` at ${num(w.rate)} messages/s (${num(w.rate * w.receivers)} deliveries/s)` : ''}, each`,
            `message a ${sizeName(Number(env('Z_SIZE', '4096')))} notes board as the demo's notes plugin saves it (\`--body notes\`). At this`,
            'rate objcastd writes every delivery with a write of its own, so its CPU per delivery is',
            'several times that of W1a (max rate, where the writes carry many messages each). Latency',
            'includes the generator: one core reads (and with the extension inflates) every copy of a',
            'message one after the other, so the later receivers of a broadcast wait for the earlier',
            'ones; "p99 with / without" is mostly that.',
            '',
        );
        p(
            table(
                ['subscribers', 'target', 'permessage-deflate', 'deliveries/s', 'server CPU', 'µs/delivery', 'wire B/delivery', 'text B/delivery', 'p50', 'p99', 'generator CPU', 'runs'],
                rows,
                3,
            ),
            '',
        );
        p(table(['subscribers', 'target', 'µs/delivery with / without', 'wire bytes with / without', 'p99 with / without', 'wire / text with'], ratios), '');
    }
    const irows = [];
    for (const n of params('idlez'))
        for (const t of targetsOf('idlez', n)) {
            for (const v of ['plain', 'deflate']) {
                const list = variantRuns('idlez', n, t, v);
                irows.push([
                    num(n),
                    label(t),
                    v === 'deflate' ? 'with' : 'without',
                    cell(statOf(list, 'server_bytes_per_conn'), bytes),
                    cell(statOf(list, 'server_rss_kb'), kib),
                    v === 'deflate' ? cell(pairedRatio('idlez', n, t, 'server_bytes_per_conn'), (y) => `${y.toFixed(2)}×`) : '',
                    `${list.length}`,
                ]);
            }
        }
    if (irows.length) {
        p('**idlez**: idle authenticated connections, per connection as in "Idle connections".', '');
        p(table(['connections', 'target', 'permessage-deflate', 'bytes per connection', 'server RSS after', 'with / without', 'runs'], irows, 3), '');
    }
}

// --- problems --------------------------------------------------------------------

const problems = [];
for (const r of runs) {
    const what = `${r.bench_id} ${label(r.bench_target)} ${r.bench_param}${r.bench_variant ? ` ${r.bench_variant}` : ''} (repeat ${r.bench_rep})`;
    if (!r.bench_ok) problems.push(`- ${what}: failed (exit ${r.bench_exit})${r.first_error ? `: ${r.first_error}` : ''}`);
    else if (r.missing > 0 || r.errors > 0)
        problems.push(`- ${what}: ${num(r.missing ?? 0)} deliveries missing after the drain, ${num(r.errors ?? 0)} errors${r.first_error ? ` (first: ${r.first_error})` : ''}`);
}
// The profile is measured apart (scripts/profile) and kept in a file of its own beside the
// report: a benchmark run does not record it.
const profileFile = path.join(path.dirname(opt.out), 'bench-profile.md');
if (fs.existsSync(profileFile)) p(fs.readFileSync(profileFile, 'utf8').trimEnd(), '');
p('## Problems', '');
p(...(problems.length ? problems : ['None: every run completed and every expected delivery arrived.']), '');
p(
    '## Reproducing',
    '',
    '```sh',
    'scripts/bench                 # everything, 3 repeats (installs nginx-light/-core + libnginx-mod-nchan, redis-server, gnuplot-nox)',
    'scripts/bench --quick         # a short check of the script',
    'scripts/bench --only W1,idle  # a subset',
    'scripts/bench --only W5 --office 4000,15000  # W5 at two sizes (one Redis, then a Redis Cluster)',
    'scripts/bench --only W3 --targets objcast-redis-2inst,objcast-redis-cluster-2inst  # W3, one Redis vs a Redis Cluster',
    'scripts/bench --only W1z,idlez  # permessage-deflate on and off',
    'scripts/bench --report        # rebuild this file and the plots from build/bench/results.jsonl',
    '```',
    '',
);

fs.mkdirSync(path.dirname(opt.out), { recursive: true });
fs.writeFileSync(opt.out, md.join('\n'));

// ---------------------------------------------------------------------------------
// Plot data

if (opt.plotData) {
    fs.mkdirSync(opt.plotData, { recursive: true });
    const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
    const style = (t) => ({
        lc: {
            'objcast-memory': '#1f77b4',
            'objcast-redis': '#2ca02c',
            'objcast-redis-workers2': '#17becf',
            'objcast-redis-2inst': '#9467bd',
            'objcast-redis-cluster': '#bcbd22',
            'objcast-redis-cluster-2inst': '#e377c2',
            'nchan-memory': '#d62728',
            'nchan-redis': '#ff7f0e',
            'nchan-redis-2nginx': '#8c564b',
        }[t] ?? '#000000',
        dt: t.startsWith('nchan') ? 2 : 1,
    });

    // deliveries/s by subscribers: W1a targets, then W3's
    const fan = [];
    for (const id of ['W1a', 'W3']) {
        const ts = new Set(params(id).flatMap((n) => targetsOf(id, n)));
        for (const t of targetOrder.filter((x) => ts.has(x))) {
            const lines = [];
            for (const n of params(id)) {
                const s = stat(id, n, t, 'deliveries_per_s');
                if (s) lines.push(`${n} ${s.med} ${s.min} ${s.max}`);
            }
            if (!lines.length) continue;
            const file = `fanout-${id}-${t}.dat`;
            fs.writeFileSync(path.join(opt.plotData, file), lines.join('\n') + '\n');
            fan.push({ file, title: id === 'W3' ? `${label(t)} (W3)` : label(t), ...style(t) });
        }
    }
    const vars = (series, extra = []) =>
        [
            `nseries = ${series.length}`,
            ...series.flatMap((s, i) => [
                `file${i + 1} = ${q(path.join(opt.plotData, s.file))}`,
                `title${i + 1} = ${q(s.title)}`,
                `color${i + 1} = ${q(s.lc)}`,
                `dash${i + 1} = ${s.dt}`,
            ]),
            ...extra,
        ].join('\n') + '\n';
    const quickNote = quick ? ' (quick run)' : '';
    if (fan.length)
        fs.writeFileSync(
            path.join(opt.plotData, 'fanout.gpvars'),
            vars(fan, [`plottitle = ${q(`W1a / W3 fan-out at max rate: deliveries/s (median, min-max)${quickNote}`)}`]),
        );

    // latency at the fixed rate, one panel per subscriber count: percentiles as step-CDF
    // points on a "nines" axis (y = -log10(1 - q); max drawn at 4)
    const ns = params('W1b');
    const lat = [];
    const panels = [];
    for (const n of ns) {
        const series = [];
        for (const t of targetsOf('W1b', n)) {
            const pts = [
                ['lat_p50_us', 0.5],
                ['lat_p90_us', 0.9],
                ['lat_p99_us', 0.99],
                ['lat_p999_us', 0.999],
                ['lat_max_us', null],
            ].map(([k, qq]) => [stat('W1b', n, t, k)?.med, qq == null ? 4 : -Math.log10(1 - qq)]);
            if (pts.some(([x]) => x == null || !(x > 0))) continue;
            const file = `lat-${n}-${t}.dat`;
            fs.writeFileSync(path.join(opt.plotData, file), pts.map(([x, y]) => `${x} ${y}`).join('\n') + '\n');
            series.push({ file, title: label(t), ...style(t) });
        }
        if (series.length) panels.push({ n, series });
    }
    if (panels.length) {
        const extra = [`npanels = ${panels.length}`, `plottitle = ${q(`W1b latency at ${num(Number(env('FIXED_TOTAL', '50000')))} deliveries/s: percentiles as a step CDF${quickNote}`)}`];
        panels.forEach((pn, j) => {
            extra.push(`pn${j + 1} = ${pn.series.length}`, `ptitle${j + 1} = ${q(`${num(pn.n)} subscribers`)}`);
            pn.series.forEach((s, i) => {
                const k = `${j + 1}_${i + 1}`;
                extra.push(
                    `file${k} = ${q(path.join(opt.plotData, s.file))}`,
                    `title${k} = ${q(s.title)}`,
                    `color${k} = ${q(s.lc)}`,
                    `dash${k} = ${s.dt}`,
                );
            });
        });
        lat.push(...extra);
        fs.writeFileSync(path.join(opt.plotData, 'latency.gpvars'), lat.join('\n') + '\n');
    }
}
