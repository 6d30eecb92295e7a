// scripts/failover-loop: kill -9 of the master of an object's slot, N times, with saves and
// broadcasts going on; see the comment at the top of scripts/failover-loop. Run it through
// that script (it builds objcastd and sets OBJCASTD), or as
//   OBJCASTD=build/rel/src/objcastd node scripts/failover-loop.d/loop.mjs [options]
//
// The Redis Cluster, the objcastd instances and the token helpers are the integration
// tests' (tests/integration/lib), used without a test context: everything is stopped here
// at the end, and whatever still runs when the process exits (Ctrl-C included) is killed by
// their exit hooks.
import WebSocket from 'ws';

import { startCluster, waitReady } from '../../tests/integration/lib/redis.mjs';
import { objcastKey, objectOnMaster, startRedisCluster } from '../../tests/integration/lib/rediscluster.mjs';
import { broadcast, saveData, user } from '../../tests/integration/lib/proto.mjs';
import { sleep, waitFor } from '../../tests/integration/lib/server.mjs';

const WS = '987'; // the workspace of every client (user() claims)
const PROBE_MS = 50; // broadcast period of each client
const SAVE_TIMEOUT_MS = 15000; // a save not answered by then counts as unanswered
const INFLIGHT = 4; // saves outstanding per writer

function parseArgs(argv) {
    const o = { tries: 20, nodeTimeout: 2000, rate: 50, steady: 2, keep: false, waitReplicas: 1 };
    const num = (name, v, min) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < min) throw new Error(`${name}: a number of at least ${min}, not '${v}'`);
        return n;
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
            return argv[++i];
        };
        if (a === '--tries') o.tries = Math.floor(num(a, value(), 1));
        else if (a === '--node-timeout') o.nodeTimeout = Math.floor(num(a, value(), 500));
        else if (a === '--rate') o.rate = num(a, value(), 1);
        else if (a === '--steady') o.steady = num(a, value(), 0.5);
        else if (a === '--keep') o.keep = true;
        else if (a === '--wait-replicas') o.waitReplicas = Math.floor(num(a, value(), 0));
        else throw new Error(`unknown argument '${a}' (see scripts/failover-loop --help)`);
    }
    return o;
}

const log = (...a) => console.log(...a);
const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : Math.round((s[m - 1] + s[m]) / 2);
};

/*
 * One client connection on an objcastd: authenticated, on the object (joined), with a
 * handler per message type. send(obj) is what lib/proto.mjs's senders call. Messages are
 * handled as they come and never queued: saves answer with the whole object, and the loop
 * receives thousands of them.
 */
class Conn {
    static async open(server, claims, objectId) {
        const ws = new WebSocket(server.wsUrl, { handshakeTimeout: 5000 });
        await new Promise((resolve, reject) => {
            ws.once('open', resolve);
            ws.once('error', reject);
        });
        const c = new Conn(ws, claims);
        c.send({ type: 'objcast_auth', token: server.token(claims) });
        const ready = await c.until((m) => m.type === 'objcast_ready' || m.type === 'objcast_error');
        if (ready.type !== 'objcast_ready') throw new Error(`auth: ${JSON.stringify(ready)}`);
        c.instance = ready.payload.instance;
        c.send({ type: 'objcast_join', objectId });
        const own = await c.until((m) => m.type === 'ovice_participant_joined' && m.payload?.isSelf);
        if (!own) throw new Error('no own join event');
        return c;
    }

    constructor(ws, claims) {
        this.ws = ws;
        this.claims = claims;
        this.handlers = new Map(); // message type -> fn(msg)
        this.waiters = [];
        this.closed = false;
        ws.on('message', (data) => {
            let m;
            try {
                m = JSON.parse(data.toString('utf8'));
            } catch {
                return;
            }
            for (const w of this.waiters.splice(0)) {
                if (w.pred(m)) w.resolve(m);
                else this.waiters.push(w);
            }
            this.handlers.get(m.type)?.(m);
        });
        ws.on('close', (code) => {
            this.closed = code;
            for (const w of this.waiters.splice(0)) w.reject(new Error(`connection closed (${code})`));
        });
        ws.on('error', () => {});
    }

    send(obj) {
        if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
    }

    on(type, fn) {
        this.handlers.set(type, fn);
    }

    /* The next message with pred(m); rejects after timeoutMs. */
    until(pred, timeoutMs = 5000) {
        return new Promise((resolve, reject) => {
            const w = { pred, resolve, reject };
            const timer = setTimeout(() => {
                const i = this.waiters.indexOf(w);
                if (i >= 0) this.waiters.splice(i, 1);
                reject(new Error(`nothing expected within ${timeoutMs} ms`));
            }, timeoutMs);
            w.resolve = (m) => {
                clearTimeout(timer);
                resolve(m);
            };
            this.waiters.push(w);
        });
    }

    close() {
        this.ws.terminate();
    }
}

/*
 * Saves continuously on conn: merge saves of one new key each ({`<tag><try>_<n>`: n}), at
 * most `rate` a second and INFLIGHT outstanding. Remembers every acknowledged key with its
 * value, and when each save was sent and answered.
 */
class Writer {
    constructor(conn, tag, objectId, rate) {
        this.conn = conn;
        this.tag = tag;
        this.objectId = objectId;
        this.rate = rate;
        this.pending = new Map(); // ref -> {key, value, sentAt}
        this.acked = new Map(); // key -> value, since reset()
        this.answers = []; // {sentAt, at, ok} since reset()
        this.errors = {}; // error code -> count, since reset()
        this.unanswered = 0;
        this.seq = 0;
        this.try = 0;
        this.timer = null;
        conn.on('ovice_data_saved_success', (m) => this.answer(m, true));
        conn.on('objcast_error', (m) => this.answer(m, false));
    }

    answer(m, ok) {
        const p = this.pending.get(m.ref);
        if (!p) return;
        this.pending.delete(m.ref);
        if (p.try !== this.try) return; // a save of an earlier try, answered late
        this.answers.push({ sentAt: p.sentAt, at: Date.now(), ok });
        if (ok) this.acked.set(p.key, p.value);
        else this.errors[m.payload?.code] = (this.errors[m.payload?.code] || 0) + 1;
    }

    reset(tryNo) {
        this.try = tryNo;
        this.acked = new Map();
        this.answers = [];
        this.errors = {};
        this.unanswered = 0;
    }

    start() {
        const period = 1000 / this.rate;
        let next = Date.now();
        this.timer = setInterval(() => {
            const now = Date.now();
            for (const [ref, p] of this.pending) {
                if (now - p.sentAt > SAVE_TIMEOUT_MS) {
                    this.pending.delete(ref);
                    if (p.try === this.try) this.unanswered++;
                }
            }
            while (next <= now && this.pending.size < INFLIGHT) {
                next += period;
                const n = ++this.seq;
                const key = `${this.tag}${this.try}_${n}`;
                const ref = `${this.tag}${n}`;
                this.pending.set(ref, { key, value: n, sentAt: now, try: this.try });
                saveData(this.conn, { [key]: n }, { objectId: this.objectId, ref, merge: true });
            }
            if (next < now - 1000) next = now; // do not make up for a long stall at once
        }, Math.max(1, Math.min(10, period / 2)));
    }

    stop() {
        clearInterval(this.timer);
        this.timer = null;
    }

    /* Resolves once no save is outstanding (or after timeoutMs). */
    async settle(timeoutMs = SAVE_TIMEOUT_MS + 1000) {
        await waitFor(() => this.pending.size === 0, timeoutMs, `${this.tag}'s saves to be answered`, 20).catch(() => {});
        this.unanswered += this.pending.size;
        this.pending.clear();
    }

    /* When the first save sent at or after t was acknowledged, or null. */
    firstAckSentAfter(t) {
        const a = this.answers.filter((x) => x.ok && x.sentAt >= t).sort((x, y) => x.at - y.at)[0];
        return a ? a.at : null;
    }
}

/* Broadcasts from `from` to `to` every PROBE_MS; remembers when each arrived. */
class Prober {
    constructor(from, to, objectId) {
        this.from = from;
        this.objectId = objectId;
        this.seq = 0;
        this.arrivals = []; // {sentAt, at}
        this.timer = null;
        const name = `probe-${from.claims.sub}`;
        this.event = name;
        const prev = to.handlers.get('ovice_message');
        to.on('ovice_message', (m) => {
            prev?.(m);
            if (m.payload?.event === name) this.arrivals.push({ sentAt: m.payload.message.t, at: Date.now() });
        });
    }

    start() {
        this.timer = setInterval(() => {
            broadcast(this.from, this.event, { n: ++this.seq, t: Date.now() }, { objectId: this.objectId });
        }, PROBE_MS);
    }

    stop() {
        clearInterval(this.timer);
    }

    firstArrivalSentAfter(t) {
        const a = this.arrivals.find((x) => x.sentAt >= t);
        return a ? a.at : null;
    }

    reset() {
        this.arrivals = [];
    }
}

/* ovice_get_data through conn: the stored payload. */
async function readData(conn, objectId) {
    const ref = `read-${Date.now()}`;
    const p = conn.until((m) => m.ref === ref && (m.type === 'ovice_saved_data' || m.type === 'objcast_error'), 10000);
    conn.send({ type: 'ovice_get_data', objectId, ref });
    const m = await p;
    if (m.type !== 'ovice_saved_data') throw new Error(`ovice_get_data: ${JSON.stringify(m)}`);
    return m.payload;
}

/* Keys of acked (key -> value) missing from data or with another value. */
function lostOf(acked, data) {
    return [...acked].filter(([k, v]) => data[k] !== v).map(([k]) => k);
}

/* A replace save through conn that must be acknowledged (retried for up to timeoutMs). */
async function resetObject(conn, objectId, tryNo, timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; ; i++) {
        const ref = `reset-${tryNo}-${i}`;
        const p = conn.until((m) => m.ref === ref, 5000).catch((e) => ({ type: 'timeout', e }));
        saveData(conn, { reset: tryNo }, { objectId, ref });
        const m = await p;
        if (m.type === 'ovice_data_saved_success') return;
        if (Date.now() > deadline) throw new Error(`the object could not be reset: ${JSON.stringify(m)}`);
        await sleep(200);
    }
}

async function main() {
    const o = parseArgs(process.argv.slice(2));
    const limit = o.nodeTimeout + 5000;
    const started = Date.now();
    log(`failover-loop: ${o.tries} tries, cluster-node-timeout ${o.nodeTimeout} ms (service must be back within ${limit} ms), ` +
        `${o.rate} saves/s per writer, ${o.steady} s of saving before each kill; objcastd ${process.env.OBJCASTD}`);

    const redis = await startRedisCluster({ nodeTimeout: o.nodeTimeout });
    const servers = [];
    const conns = [];
    const results = [];
    let failed = null;
    try {
        const [A, B] = await startCluster({
            redis, instances: 2, idPrefix: 'fl',
            conf: { redis_cluster: 'yes', log_level: 'info' },
            confs: [{ redis_wait_replicas: o.waitReplicas }, {}],
        });
        servers.push(A, B);
        for (const s of servers) await waitReady(s);
        const first = (await redis.masters())[0];
        const objectId = await objectOnMaster(redis, first.port, WS, { prefix: 'fo' });
        const slot = redis.keySlot(objcastKey(WS, objectId, 'data'));
        log(`cluster: ${redis.nodes.map((n) => `${n.port} ${n.role}`).join(', ')}; object ${objectId} (slot ${slot}); ` +
            `instances ${A.instance} (redis_wait_replicas ${o.waitReplicas}) and ${B.instance}`);

        const a = await Conn.open(A, user('a'), objectId);
        const b = await Conn.open(B, user('b'), objectId);
        conns.push(a, b);
        const wa = new Writer(a, 'a', objectId, o.rate);
        const wb = new Writer(b, 'b', objectId, o.rate);
        const ab = new Prober(a, b, objectId);
        const ba = new Prober(b, a, objectId);

        for (let k = 1; k <= o.tries; k++) {
            const r = { try: k };
            results.push(r);
            // a fresh object state for the try: its keys stay few, so saves stay small
            await resetObject(a, objectId, k);
            wa.reset(k);
            wb.reset(k);
            ab.reset();
            ba.reset();
            for (const x of [wa, wb, ab, ba]) x.start();
            await sleep(o.steady * 1000);
            if (!wa.acked.size || !wb.acked.size) throw new Error(`try ${k}: no save acknowledged before the kill (A ${wa.acked.size}, B ${wb.acked.size})`);

            const victim = await redis.masterOf(slot);
            r.victim = victim.port;
            // recovery counts from just before the signal; only what is sent once the node
            // is seen dead counts as sent after the kill
            const killedAt = Date.now();
            await redis.killMaster(slot);
            const deadAt = Date.now();
            const failover = redis.waitFailover(slot, { timeout: o.nodeTimeout + 30000 }).then((ms) => ms, (e) => e);
            // service back: B saves, and broadcasts arrive both ways (sent after the kill)
            let back = null;
            await waitFor(() => {
                const s = wb.firstAckSentAfter(deadAt);
                const x = ab.firstArrivalSentAfter(deadAt);
                const y = ba.firstArrivalSentAfter(deadAt);
                if (s && x && y) back = { save: s - killedAt, ab: x - killedAt, ba: y - killedAt };
                return back;
            }, o.nodeTimeout + 30000, 'saves and broadcasts after the kill', 10).catch(() => {});
            const fo = await failover;
            if (fo instanceof Error) throw new Error(`try ${k}: no new master: ${fo.message}`);
            r.failover = fo;
            r.newMaster = (await redis.masterOf(slot)).port;
            if (!back) throw new Error(`try ${k}: service not back within ${o.nodeTimeout + 30000} ms of the kill`);
            r.save = back.save;
            r.ab = back.ab;
            r.ba = back.ba;
            r.back = Math.max(back.save, back.ab, back.ba);

            // the killed node back: a replica of the new master; A confirms saves again
            await sleep(500);
            const restartAt = Date.now();
            const node = await redis.restartNode(victim.port);
            r.rejoin = Date.now() - restartAt;
            r.role = node.role;
            let aBack = null;
            await waitFor(() => (aBack = wa.firstAckSentAfter(restartAt)), 30000, "A's saves after the restart", 10).catch(() => {});
            r.waitBack = aBack ? aBack - restartAt : null;

            // every acknowledged save of the try is there
            for (const x of [wa, wb, ab, ba]) x.stop();
            await Promise.all([wa.settle(), wb.settle()]);
            const data = await readData(b, objectId);
            r.ackedA = wa.acked.size;
            r.ackedB = wb.acked.size;
            r.lostA = lostOf(wa.acked, data);
            r.lostB = lostOf(wb.acked, data);
            r.errorsA = { ...wa.errors };
            r.errorsB = { ...wb.errors };
            r.unanswered = wa.unanswered + wb.unanswered;
            for (const s of servers) s.assertAlive();

            const errs = (e) => Object.entries(e).map(([c, n]) => `${n} ${c}`).join(', ') || 'none';
            log(`try ${String(k).padStart(2)}/${o.tries}: kill -9 master :${r.victim}; new master :${r.newMaster} after ${r.failover} ms; ` +
                `service back ${r.back} ms (save on B ${r.save} ms, broadcast A->B ${r.ab} ms, B->A ${r.ba} ms)${r.back > limit ? ' OVER THE LIMIT' : ''}; ` +
                `:${r.victim} back as ${r.role} in ${r.rejoin} ms, A confirms again ${r.waitBack ?? 'never'} ms after; ` +
                `acknowledged A ${r.ackedA} (lost ${r.lostA.length}), B ${r.ackedB} (lost ${r.lostB.length}); ` +
                `refused A: ${errs(r.errorsA)}; B: ${errs(r.errorsB)}; unanswered ${r.unanswered}`);
            if (r.lostA.length) log(`         lost on A (redis_wait_replicas ${o.waitReplicas}): ${r.lostA.slice(0, 20).join(' ')}`);
            if (r.lostB.length) log(`         lost on B (no WAIT): ${r.lostB.slice(0, 20).join(' ')}`);
            const broke = r.back > limit || (o.waitReplicas > 0 && r.lostA.length > 0) || r.role !== 'replica' || r.waitBack === null;
            if (broke && !o.keep) {
                failed = `try ${k} broke a promise`;
                break;
            }
        }
    } catch (e) {
        failed = e.stack || String(e);
    } finally {
        for (const c of conns) c.close();
        for (const s of servers) {
            try {
                await s.stop('SIGTERM', { teardown: true });
            } catch (e) {
                failed ??= '';
                failed += `\n${e.message.slice(0, 4000)}`;
            }
        }
        if (failed) {
            log(`\n--- objcastd logs (tail) ---`);
            for (const s of servers) log(`[${s.instance}]\n${(s.stdout() + s.stderr()).slice(-3000)}`);
            log(`--- redis nodes (tail) ---\n${redis.logs()}`);
        }
        await redis.teardown();
    }

    const done = results.filter((r) => r.back !== undefined && r.lostA !== undefined);
    const backs = done.map((r) => r.back);
    const sum = (f) => done.reduce((s, r) => s + f(r), 0);
    log('');
    if (done.length) {
        log(`summary: ${done.length} of ${o.tries} tries in ${Math.round((Date.now() - started) / 1000)} s, cluster-node-timeout ${o.nodeTimeout} ms`);
        log(`  service back (saves and broadcasts): max ${Math.max(...backs)} ms, median ${median(backs)} ms, min ${Math.min(...backs)} ms; ` +
            `limit ${limit} ms, ${backs.filter((x) => x > limit).length} over`);
        log(`  new master elected: max ${Math.max(...done.map((r) => r.failover))} ms, median ${median(done.map((r) => r.failover))} ms`);
        log(`  A (redis_wait_replicas ${o.waitReplicas}) confirms again after the killed node is back: max ${Math.max(...done.map((r) => r.waitBack ?? Infinity))} ms`);
        log(`  acknowledged saves lost: ${sum((r) => r.lostA.length)} of ${sum((r) => r.ackedA)} with redis_wait_replicas ${o.waitReplicas}${o.waitReplicas > 0 ? ' (must be 0)' : ''}; ` +
            `${sum((r) => r.lostB.length)} of ${sum((r) => r.ackedB)} without WAIT`);
        log(`  killed node back as a replica: ${done.filter((r) => r.role === 'replica').length} of ${done.length}`);
    }
    const ok = !failed && done.length === o.tries && backs.every((x) => x <= limit) && done.every((r) => (o.waitReplicas === 0 || r.lostA.length === 0) &&
        r.role === 'replica' && r.waitBack !== null);
    if (failed) log(`\nfailed: ${failed}`);
    log(ok ? 'RESULT: every try kept both promises' : 'RESULT: FAILED');
    process.exit(ok ? 0 : 1);
}

main().catch((e) => {
    console.error(e.stack || String(e));
    process.exit(1);
});
