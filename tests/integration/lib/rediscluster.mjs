// A real Redis Cluster for the tests of `redis_cluster yes`: redis-server processes with
// cluster-enabled on free ports in a temp dir, joined by `redis-cli --cluster create`, plus
// a small cluster-aware RESP client (MOVED and ASK followed) for assertions, and the
// operations a test needs to change the topology under load: kill a master and wait for
// its replica to take over, move one slot by hand (so ASK and MOVED happen when the test
// wants them), or reshard with redis-cli.
//
// Teardown order as in lib/redis.mjs: the objcastd instances registered in `dependents`
// (startNode({redis: cluster, ...}) does it) stop first, then every node is killed and the
// temp dir removed. Whatever still runs when this process exits is killed.

import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { RedisReplyError, RespClient, encodeCommand, freePorts, parseReply, redisServerPath } from './redis.mjs';
import { sleep, waitFor } from './server.mjs';

export const SLOTS = 16384;

/* The redis-cli binary: $REDIS_CLI, else Debian's, else whatever PATH has. */
export function redisCliPath() {
    if (process.env.REDIS_CLI) return process.env.REDIS_CLI;
    return existsSync('/usr/bin/redis-cli') ? '/usr/bin/redis-cli' : 'redis-cli';
}

/* Whether port can be listened on at 127.0.0.1 right now. */
function portFree(port) {
    return new Promise((resolve) => {
        const srv = net.createServer();
        srv.unref();
        srv.once('error', () => resolve(false));
        srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
    });
}

/*
 * n consecutive ports that were free a moment ago, and with bus (default) the n ports
 * 10000 above them too: what scripts/cluster --redis-cluster takes from
 * OBJCAST_CLUSTER_REDIS_PORT upward. All below the kernel's ephemeral range (32768 up),
 * so no outgoing connection takes one meanwhile.
 */
export async function freePortRun(n, { bus = true } = {}) {
    for (let attempt = 0; attempt < 100; attempt++) {
        const base = 10000 + Math.floor(Math.random() * (12768 - n));
        const run = Array.from({ length: n }, (_, i) => base + i);
        const want = bus ? [...run, ...run.map((p) => p + 10000)] : run;
        if ((await Promise.all(want.map(portFree))).every(Boolean)) return run;
    }
    throw new Error(`no ${n} free ports in a row`);
}

// ---------------------------------------------------------------------------------------
// Key slots (Redis Cluster spec: CRC16-XMODEM of the key, or of its hash tag, mod 16384)

const CRC16_TABLE = (() => {
    const table = new Uint16Array(256);
    for (let i = 0; i < 256; i++) {
        let c = i << 8;
        for (let j = 0; j < 8; j++) c = c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1;
        table[i] = c & 0xffff;
    }
    return table;
})();

/* CRC16-XMODEM (polynomial 0x1021, initial value 0) of a Buffer. */
export function crc16(buf) {
    let crc = 0;
    for (const b of buf) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b) & 0xff];
    return crc;
}

/*
 * The cluster slot of key (a string, hashed as UTF-8, or a Buffer). Only the part between
 * the first '{' and the first '}' after it is hashed, when that part is not empty; a key
 * with '{}' or with '{' and no '}' after it is hashed whole.
 */
export function keySlot(key) {
    const b = Buffer.isBuffer(key) ? key : Buffer.from(String(key), 'utf8');
    const open = b.indexOf(0x7b);
    if (open >= 0) {
        const close = b.indexOf(0x7d, open + 1);
        if (close > open + 1) return crc16(b.subarray(open + 1, close)) % SLOTS;
    }
    return crc16(b) % SLOTS;
}

/* An id as it goes into objcast's keys (PROTOCOL.md section 8): '%', ':', '{', '}' and
 * bytes below 0x21 or equal to 0x7f percent-encoded in upper-case hex. */
export function objcastKeyId(id) {
    let out = '';
    for (const b of Buffer.from(String(id), 'utf8')) {
        if (b === 0x25 || b === 0x3a || b === 0x7b || b === 0x7d || b < 0x21 || b === 0x7f) {
            out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
        } else {
            out += String.fromCharCode(b);
        }
    }
    // bytes from 0x80 up were copied one by one; put them back together as UTF-8
    return Buffer.from(out, 'latin1').toString('utf8');
}

/* The key of one object: objcastKey('987', 'L1', 'data') is 'objcast:{987:L1}:data'. */
export function objcastKey(ws, obj, suffix, prefix = 'objcast') {
    return `${prefix}:{${objcastKeyId(ws)}:${objcastKeyId(obj)}}:${suffix}`;
}

/*
 * An object id (`${prefix}${i}` for i = 1, 2, ...) of workspace ws whose keys live on the
 * master listening on masterPort (the slot map is read fresh). nth: 0 for the first such
 * id, 1 for the second, ...
 */
export async function objectOnMaster(cluster, masterPort, ws = '987', { prefix = 'obj', nth = 0 } = {}) {
    const owners = await cluster.slotOwners();
    if (!owners.includes(masterPort)) throw new Error(`port ${masterPort} owns no slot`);
    let seen = 0;
    for (let i = 1; i <= 1000000; i++) {
        const id = `${prefix}${i}`;
        if (owners[keySlot(objcastKey(ws, id, 'data'))] === masterPort && seen++ === nth) return id;
    }
    throw new Error(`no object id of workspace ${ws} lands on port ${masterPort}`);
}

// ---------------------------------------------------------------------------------------
// Small parsers

/* "k:v\r\n..." (INFO, CLUSTER INFO) -> {k: v}. */
export function parseInfo(text) {
    const out = {};
    for (const line of String(text).split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
    }
    return out;
}

/* CLUSTER NODES text -> [{id, addr, port, flags: [...], master, myself, fail, slots}]. */
export function parseClusterNodes(text) {
    return String(text).split('\n').filter((l) => l.trim()).map((l) => {
        const f = l.trim().split(' ');
        const flags = f[2].split(',');
        const addr = f[1].split('@')[0];
        return {
            id: f[0],
            addr,
            port: Number(addr.slice(addr.lastIndexOf(':') + 1)),
            flags,
            role: flags.includes('master') ? 'master' : 'replica',
            master: f[3] === '-' ? null : f[3],
            myself: flags.includes('myself'),
            fail: flags.includes('fail') || flags.includes('fail?'),
            connected: f[7] === 'connected',
            slots: f.slice(8),
        };
    });
}

/* CLUSTER SHARDS reply -> [{slots: [[start, end], ...], nodes: [{id, port, role, health, ...}]}]. */
export function parseClusterShards(reply) {
    const obj = (arr) => {
        const o = {};
        for (let i = 0; i + 1 < arr.length; i += 2) o[arr[i]] = arr[i + 1];
        return o;
    };
    return reply.map((s) => {
        const shard = obj(s);
        const ranges = [];
        for (let i = 0; i + 1 < shard.slots.length; i += 2) {
            ranges.push([Number(shard.slots[i]), Number(shard.slots[i + 1])]);
        }
        return { slots: ranges, nodes: shard.nodes.map((n) => obj(n)) };
    });
}

/* CLUSTER SLOTS reply -> an array of 16384 ports (the master of each slot, or null). */
function slotOwnersOf(reply) {
    const owners = new Array(SLOTS).fill(null);
    for (const [start, end, master] of reply) owners.fill(Number(master[1]), Number(start), Number(end) + 1);
    return owners;
}

/* Runs a program; resolves {code, out} (stdout and stderr together), never rejects. */
function run(file, args, { timeoutMs = 60000 } = {}) {
    return new Promise((resolve) => {
        execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
            const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
            // redis-cli colours its output even into a pipe
            resolve({ code, out: `${stdout}${stderr}`.replace(/\x1b\[[0-9;]*m/g, ''), error: err });
        });
    });
}

// ---------------------------------------------------------------------------------------
// Sharded pub/sub (what objcast's instances use on a cluster: SSUBSCRIBE, SPUBLISH)

/*
 * One SSUBSCRIBE connection to one node, for watching what is published on a shard channel.
 * Open it with shardSubscribe(). The node ends the subscription by itself (a sunsubscribe
 * it was not asked for) when it stops serving the channel's slot: the slot moved away, or a
 * failover made it a replica of another shard.
 */
export class ShardSubscriber {
    constructor(sock, channel, port) {
        this.sock = sock;
        this.channel = channel;
        this.port = port;
        this.messages = []; // received and not yet taken by next()
        this.unsubscribed = false; // the node ended the subscription
        this.closed = false;
        this._buf = Buffer.alloc(0);
        this._wakers = [];
        this.ready = new Promise((resolve, reject) => {
            this._ready = { resolve, reject };
        });
        sock.on('data', (d) => this._onData(d));
        const end = (e) => {
            this.closed = true;
            this._ready.reject(e || new Error(`connection to ${port} closed`));
            this._wake();
        };
        sock.on('error', end);
        sock.on('close', () => end());
    }

    _wake() {
        for (const w of this._wakers.splice(0)) w();
    }

    _onData(d) {
        this._buf = this._buf.length ? Buffer.concat([this._buf, d]) : d;
        let off = 0;
        for (;;) {
            const r = parseReply(this._buf, off);
            if (typeof r === 'symbol') break; // incomplete
            off = r.end;
            const v = r.value;
            if (v instanceof RedisReplyError) {
                this._ready.reject(v);
            } else if (Array.isArray(v) && v[0] === 'ssubscribe') {
                this._ready.resolve(this);
            } else if (Array.isArray(v) && v[0] === 'smessage') {
                this.messages.push(v[2]);
            } else if (Array.isArray(v) && v[0] === 'sunsubscribe') {
                this.unsubscribed = true;
            }
        }
        this._buf = this._buf.subarray(off);
        this._wake();
    }

    /* The next message (a string); rejects after timeoutMs, or once the subscription or
     * the connection has ended and nothing is left. */
    next(timeoutMs = 3000) {
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                const i = this._wakers.indexOf(attempt);
                if (i >= 0) this._wakers.splice(i, 1);
                reject(new Error(`no message on ${this.channel} within ${timeoutMs} ms`));
            }, timeoutMs);
            const attempt = () => {
                if (this.messages.length) {
                    clearTimeout(timer);
                    resolve(this.messages.shift());
                } else if (this.unsubscribed || this.closed) {
                    clearTimeout(timer);
                    reject(new Error(`subscription to ${this.channel} on ${this.port} ended ` +
                        `(${this.unsubscribed ? 'sunsubscribe from the node' : 'connection closed'})`));
                } else {
                    this._wakers.push(attempt);
                }
            };
            attempt();
        });
    }

    /* Resolves once the node has ended the subscription (true), or false after timeoutMs. */
    async waitUnsubscribed(timeoutMs = 3000) {
        return waitFor(() => this.unsubscribed, timeoutMs, 'sunsubscribe', 10).then(() => true, () => false);
    }

    close() {
        this.closed = true;
        this.sock.destroy();
    }
}

/* SSUBSCRIBE channel on the node at port. Resolves the ShardSubscriber once subscribed;
 * rejects with the node's error (MOVED when it does not serve the slot). */
export function shardSubscribe(port, channel, { timeoutMs = 3000 } = {}) {
    return new Promise((resolve, reject) => {
        const sock = net.connect({ port, host: '127.0.0.1' });
        sock.setNoDelay(true);
        const sub = new ShardSubscriber(sock, channel, port);
        const timer = setTimeout(() => {
            sub.close();
            reject(new Error(`SSUBSCRIBE ${channel} on ${port} timed out`));
        }, timeoutMs);
        sock.once('connect', () => sock.write(encodeCommand(['SSUBSCRIBE', channel])));
        sub.ready.then((s) => {
            clearTimeout(timer);
            resolve(s);
        }, (e) => {
            clearTimeout(timer);
            sub.close();
            reject(e);
        });
    });
}

// ---------------------------------------------------------------------------------------
// Processes

const liveNodes = new Set();
const liveDirs = new Set(); // temp dirs of clusters not torn down yet

// (lib/redis.mjs turns SIGINT, SIGTERM and SIGHUP into process.exit(), which lands here)
process.on('exit', () => {
    for (const p of liveNodes) {
        try {
            p.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
    liveNodes.clear();
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
});

const LOG_MAX = 256 * 1024;

/*
 * Starts (or restarts) the redis-server of node and resolves once it answers PING. A
 * start that fails rejects with the log; node.bindFailed tells whether the port was taken.
 */
async function spawnNode(node) {
    const p = spawn(redisServerPath(), node.argv(), { cwd: node.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    node.proc = p;
    node.pid = p.pid;
    node.exited = null;
    liveNodes.add(p);
    node.exitPromise = new Promise((resolve) => {
        p.on('close', (code, signal) => {
            liveNodes.delete(p);
            if (node.proc === p) node.exited = { code, signal };
            resolve({ code, signal });
        });
    });
    p.on('error', (e) => node.addLog(`spawn error: ${e.message}\n`));
    p.stdout.setEncoding('utf8').on('data', (d) => node.addLog(d));
    p.stderr.setEncoding('utf8').on('data', (d) => node.addLog(d));
    const ping = async () => {
        const c = await RespClient.connect(node.port, { timeoutMs: 500 });
        try {
            return (await c.command('PING')) === 'PONG';
        } finally {
            c.close();
        }
    };
    try {
        await waitFor(async () => node.exited || ping(), 10000, `redis-server on port ${node.port} to answer PING`, 20);
        if (node.exited) throw new Error(`exited with ${JSON.stringify(node.exited)}`);
    } catch (e) {
        p.kill('SIGKILL');
        await node.exitPromise;
        node.bindFailed = /Address already in use/i.test(node.log());
        throw new Error(`redis-server (cluster node ${node.port}) did not start: ${e.message}\n` +
            `args: ${node.argv().join(' ')}\n--- log ---\n${node.log().slice(-4000)}`);
    }
}

function makeNode(root, index, port, busPort, extraArgs, nodeTimeout) {
    const dir = path.join(root, `node-${index}`);
    mkdirSync(dir, { recursive: true });
    let log = '';
    const node = {
        index,
        port,
        busPort,
        dir,
        pid: null,
        proc: null,
        id: null,
        role: null,
        masterId: null,
        exited: null,
        exitPromise: Promise.resolve(null),
        addLog(d) {
            log += d;
            if (log.length > LOG_MAX) log = log.slice(-LOG_MAX / 2);
        },
        log: () => log,
        running() {
            return !!node.proc && !node.exited;
        },
        argv: () => [
            '--port', String(node.port),
            '--bind', '127.0.0.1',
            '--protected-mode', 'no',
            '--dir', dir,
            '--daemonize', 'no',
            '--logfile', '',
            '--cluster-enabled', 'yes',
            '--cluster-config-file', 'nodes.conf',
            '--cluster-node-timeout', String(nodeTimeout),
            // an explicit bus port: the default (port + 10000) can be taken, or past 65535
            '--cluster-port', String(node.busPort),
            '--appendonly', 'yes',
            '--appendfsync', 'everysec',
            '--save', '',
            // replicas sync at once instead of waiting 5 s for more replicas to come
            '--repl-diskless-sync-delay', '0',
            // CLUSTER SHARDS calls a replica "loading" until its replication offset is not
            // 0, which in an idle cluster only the master's first replication ping (10 s by
            // default) makes happen
            '--repl-ping-replica-period', '1',
            ...extraArgs,
        ],
    };
    return node;
}

// ---------------------------------------------------------------------------------------
// The cluster

const REDIRECT_HOPS = 16;
const RETRY_MS = 5000;

/* Keyless commands the client sends to any live node. */
const KEYLESS = new Set(['PING', 'ECHO', 'INFO', 'CLUSTER', 'CONFIG', 'DBSIZE', 'FLUSHALL', 'FLUSHDB', 'TIME',
    'READONLY', 'READWRITE', 'SCRIPT', 'FUNCTION', 'COMMAND', 'CLIENT', 'PUBLISH', 'PUBSUB', 'LASTSAVE', 'ROLE']);

/* The key the client routes args by, or null for any node. */
function routingKey(args) {
    const name = String(args[0]).toUpperCase();
    if (KEYLESS.has(name)) return null;
    if (/^(EVAL|EVALSHA|EVAL_RO|EVALSHA_RO|FCALL|FCALL_RO)$/.test(name)) {
        return Number(args[2]) > 0 ? args[3] : null;
    }
    if (name === 'WAIT') throw new Error('WAIT counts the writes of one connection: use keyCommand(key, "WAIT", ...)');
    return args.length > 1 ? args[1] : null;
}

/* The port of a MOVED or ASK error ('MOVED 3999 127.0.0.1:6381'). */
function redirectPort(err) {
    const addr = err.message.split(' ')[2] || '';
    return Number(addr.slice(addr.lastIndexOf(':') + 1));
}

/*
 * Starts a Redis Cluster of `masters` masters with `replicas` replicas each on 127.0.0.1
 * (cluster-node-timeout nodeTimeout ms, AOF on, no RDB; args go to every redis-server),
 * joined by `redis-cli --cluster create`, and resolves once every node sees
 * cluster_state:ok with all 16384 slots, knows every other node, and every replica's link
 * to its master is up. Returns a handle:
 *
 *   nodes          [{port, busPort, pid, proc, id, role ('master'|'replica'), masterId,
 *                    dir, log(), running()}] in start order; role and masterId are as of
 *                    the last refreshNodes() (every topology operation below calls it)
 *   url            'redis://127.0.0.1:P1,127.0.0.1:P2,...' of the masters at start
 *   dependents     objcastd servers to stop before the nodes at teardown (startNode adds)
 *   redirects      {moved, ask}: the redirections command() followed so far
 *   keySlot(key)   the slot of key
 *   command(...args)            routed by the key (args[1]; EVAL's first key), following
 *                               MOVED and ASK; retries CLUSTERDOWN, TRYAGAIN and refused
 *                               connections for up to 5 s. Keyless commands go to any node.
 *   keyCommand(key, ...args)    the same, routed by key (WAIT after a write of key:
 *                               keyCommand(key, 'WAIT', 1, 1000) runs on the connection
 *                               that wrote it)
 *   commandVia(port, ...args)   the same, but first sent to the node on port
 *   nodeCommand(port, ...args)  one command to one node, no redirection followed
 *   slotOwners()    fresh CLUSTER SLOTS: an array of 16384 master ports (null: uncovered)
 *   masterOf(slot)  fresh: the node handle of the slot's master (null: uncovered)
 *   masters()       fresh: the node handles of the live masters
 *   nodeById(id), nodeByPort(port)
 *   killMaster(slot)            kill -9 of the slot's master; resolves its handle
 *   waitFailover(slot, {timeout})  until a live master other than the killed one owns the
 *                               slot and every live node says cluster_state:ok; resolves
 *                               the ms since killMaster() (or since the call)
 *   restartNode(node)           starts a stopped node again (same port, dir, nodes.conf)
 *                               and waits until the cluster is whole again
 *   moveSlot(slot, toNodeId, {batch, during})  migrates one slot by the manual procedure;
 *                               during({source, target, moved}) runs after the first batch
 *                               moved (or at once for an empty slot), while the slot is
 *                               MIGRATING/IMPORTING. Resolves {source, target, keys, ms}
 *   reshardWithCli(fromId, toId, nSlots)  redis-cli --cluster reshard, then waits until
 *                               redis-cli --cluster check passes; resolves {ms, output}
 *   ssubscribe(channel)         a ShardSubscriber of channel on the master of its slot
 *   check()         redis-cli --cluster check: {ok, output}
 *   waitStable({timeout})       the start condition again, on the live nodes
 *   refreshNodes()  re-reads ids and roles from every live node
 *   teardown()      (registered with t.after) stops dependents, kills every node,
 *                   removes the temp dir
 */
export async function startRedisCluster({ t, masters = 3, replicas = 1, nodeTimeout = 2000, args = [] } = {}) {
    if (masters < 3) throw new Error('redis-cli --cluster create needs at least 3 masters');
    const count = masters * (1 + replicas);
    const root = mkdtempSync(path.join(os.tmpdir(), 'objcast-rcluster-'));
    liveDirs.add(root);
    const conns = new Map(); // port -> RespClient
    const dependents = new Set();
    const subscribers = new Set(); // ShardSubscribers to close at teardown
    const nodes = [];
    let slotCache = null; // ports by slot, as command() last learnt them
    let lastKill = null;
    let tornDown = false;

    const live = () => nodes.filter((n) => n.running());
    const nodeByPort = (port) => nodes.find((n) => n.port === Number(port)) || null;
    const nodeById = (id) => nodes.find((n) => n.id === id) || null;

    /* The shared connection to port; callers racing for a new one get the same one. */
    function conn(port) {
        const have = conns.get(port);
        if (have && !(have instanceof RespClient && have.closed)) return Promise.resolve(have);
        const p = RespClient.connect(port).then((c) => {
            if (conns.get(port) === p) conns.set(port, c);
            else c.close(); // dropped meanwhile
            return c;
        }, (e) => {
            if (conns.get(port) === p) conns.delete(port);
            throw e;
        });
        conns.set(port, p);
        return p;
    }

    function dropConn(port) {
        const c = conns.get(port);
        conns.delete(port);
        if (c instanceof RespClient) c.close();
    }

    async function nodeCommand(port, ...cmd) {
        return (await conn(Number(port))).command(...cmd);
    }

    /* The first live node's answer to cmd (some nodes may be down or not yet up). */
    async function anyNode(...cmd) {
        let last;
        for (const n of live()) {
            try {
                return await nodeCommand(n.port, ...cmd);
            } catch (e) {
                last = e;
            }
        }
        throw last || new Error('no live cluster node');
    }

    async function slotOwners() {
        const owners = slotOwnersOf(await anyNode('CLUSTER', 'SLOTS'));
        slotCache = owners;
        return owners;
    }

    async function refreshNodes() {
        await Promise.all(live().map(async (n) => {
            const me = parseClusterNodes(await nodeCommand(n.port, 'CLUSTER', 'NODES')).find((x) => x.myself);
            n.id = me.id;
            n.role = me.role;
            n.masterId = me.master;
        }));
    }

    async function masterOf(slot) {
        const owners = await slotOwners();
        const port = owners[slot];
        if (port === null) return null;
        const n = nodeByPort(port);
        if (n) n.role = 'master';
        return n;
    }

    async function mastersNow() {
        const ports = new Set((await slotOwners()).filter((p) => p !== null));
        return nodes.filter((n) => ports.has(n.port) && n.running());
    }

    /*
     * Sends args to the node of slot (or to firstPort), following MOVED and ASK. An ASK
     * redirection is answered on the target with ASKING and the command in one write, so
     * nothing of this client's gets in between.
     */
    async function routed(slot, firstPort, cmd) {
        const deadline = Date.now() + RETRY_MS;
        let port = firstPort;
        let asking = false;
        for (let hop = 0; ; hop++) {
            if (port === null || port === undefined) {
                if (slot === null) {
                    port = live()[0]?.port;
                } else {
                    if (!slotCache || slotCache[slot] === null) await slotOwners().catch(() => {});
                    port = slotCache?.[slot];
                }
            }
            let c = null;
            try {
                if (port === null || port === undefined) throw new Error(`slot ${slot} has no master`);
                c = await conn(port);
            } catch (e) {
                // nothing was sent: safe to ask again once the topology has settled
                if (Date.now() >= deadline) throw e;
                await sleep(50);
                await slotOwners().catch(() => {});
                port = null;
                asking = false;
                continue;
            }
            try {
                if (asking) return (await Promise.all([c.command('ASKING'), c.command(...cmd)]))[1];
                return await c.command(...cmd);
            } catch (e) {
                if (!(e instanceof RedisReplyError) || hop >= REDIRECT_HOPS) throw e;
                if (e.code === 'MOVED') {
                    cluster.redirects.moved++;
                    port = redirectPort(e);
                    if (slotCache && slot !== null) slotCache[slot] = port;
                    asking = false;
                } else if (e.code === 'ASK') {
                    cluster.redirects.ask++;
                    port = redirectPort(e);
                    asking = true;
                } else if ((e.code === 'CLUSTERDOWN' || e.code === 'TRYAGAIN') && Date.now() < deadline) {
                    await sleep(50);
                    await slotOwners().catch(() => {});
                    port = slot === null ? port : null;
                    asking = false;
                } else {
                    throw e;
                }
            }
        }
    }

    async function command(...cmd) {
        const key = routingKey(cmd);
        return routed(key === null ? null : keySlot(key), null, cmd);
    }

    async function commandVia(port, ...cmd) {
        const key = routingKey(cmd);
        return routed(key === null ? null : keySlot(key), Number(port), cmd);
    }

    async function keyCommand(key, ...cmd) {
        return routed(keySlot(key), null, cmd);
    }

    /* Why the live nodes do not form a whole cluster yet, or null when they do. */
    async function notStable({ expectNodes } = {}) {
        const up = live();
        const known = expectNodes ?? nodes.length;
        const views = new Map(); // port -> that node's CLUSTER NODES
        for (const n of up) {
            const info = parseInfo(await nodeCommand(n.port, 'CLUSTER', 'INFO'));
            if (info.cluster_state !== 'ok') return `${n.port}: cluster_state ${info.cluster_state}`;
            if (Number(info.cluster_slots_ok) !== SLOTS) return `${n.port}: ${info.cluster_slots_ok} slots ok`;
            if (Number(info.cluster_known_nodes) !== known) return `${n.port}: knows ${info.cluster_known_nodes} nodes`;
            const view = parseClusterNodes(await nodeCommand(n.port, 'CLUSTER', 'NODES'));
            const bad = view.find((x) => up.some((u) => u.port === x.port) && (x.fail || !x.connected));
            if (bad) return `${n.port} sees ${bad.port} as ${bad.flags.join(',')}`;
            views.set(n.port, view);
        }
        // every node sees every live node in the role that node gives itself (a replica is
        // announced by gossip, so for a moment others still take it for an empty master)
        const selves = [...views.values()].map((v) => v.find((x) => x.myself));
        for (const [port, view] of views) {
            for (const self of selves) {
                const seen = view.find((x) => x.id === self.id);
                if (!seen || seen.role !== self.role || seen.master !== self.master) {
                    return `${port} sees ${self.port} as ${seen ? `${seen.role} of ${seen.master}` : 'nothing'}`;
                }
            }
        }
        // every live replica has a master and its replication link is up
        for (const n of up) {
            const role = parseInfo(await nodeCommand(n.port, 'INFO', 'replication'));
            if (role.role === 'slave' && role.master_link_status !== 'up') {
                return `${n.port}: replica link ${role.master_link_status}`;
            }
        }
        // ... and is online in everybody's CLUSTER SHARDS
        for (const n of up) {
            const shards = parseClusterShards(await nodeCommand(n.port, 'CLUSTER', 'SHARDS'));
            for (const x of shards.flatMap((s) => s.nodes)) {
                const isUp = up.some((u) => u.port === Number(x.port));
                if (isUp && x.health !== 'online') return `${n.port} sees ${x.port} ${x.health}`;
            }
        }
        // everybody agrees on who owns what
        const maps = await Promise.all(up.map(async (n) => slotOwnersOf(
            await nodeCommand(n.port, 'CLUSTER', 'SLOTS'))));
        if (new Set(maps.map((m) => m.join())).size !== 1) return 'the nodes disagree about the slot owners';
        return null;
    }

    async function waitStable({ timeout = 15000, expectNodes } = {}) {
        let why = 'not checked';
        await waitFor(async () => {
            why = await notStable({ expectNodes });
            return why === null;
        }, timeout, 'the cluster to settle', 25).catch((e) => {
            throw new Error(`${e.message}; ${why}\n${logs()}`);
        });
        await refreshNodes();
        await slotOwners();
    }

    function logs() {
        return nodes.map((n) => `--- node ${n.port} (${n.role || '?'}) ---\n${n.log().slice(-1500)}`).join('\n');
    }

    async function killMaster(slot) {
        const m = await masterOf(slot);
        if (!m) throw new Error(`slot ${slot} has no master`);
        m.proc.kill('SIGKILL');
        await m.exitPromise;
        dropConn(m.port);
        lastKill = { node: m, at: Date.now() };
        slotCache = null;
        return m;
    }

    async function waitFailover(slot, { timeout = nodeTimeout + 10000 } = {}) {
        const since = lastKill ? lastKill.at : Date.now();
        const dead = nodes.filter((n) => !n.running()).map((n) => n.port);
        let why = 'not checked';
        await waitFor(async () => {
            for (const n of live()) {
                const info = parseInfo(await nodeCommand(n.port, 'CLUSTER', 'INFO'));
                if (info.cluster_state !== 'ok') return !(why = `${n.port}: cluster_state ${info.cluster_state}`);
                const owner = slotOwnersOf(await nodeCommand(n.port, 'CLUSTER', 'SLOTS'))[slot];
                if (owner === null || dead.includes(owner)) return !(why = `${n.port}: slot ${slot} on ${owner}`);
            }
            const owner = (await slotOwners())[slot];
            const role = parseInfo(await nodeCommand(owner, 'INFO', 'replication')).role;
            if (role !== 'master') return !(why = `${owner} is ${role}`);
            return true;
        }, timeout, `a new master for slot ${slot}`, 25).catch((e) => {
            throw new Error(`${e.message}; ${why}\n${logs()}`);
        });
        const ms = Date.now() - since;
        lastKill = null;
        await refreshNodes();
        return ms;
    }

    async function restartNode(node) {
        const n = typeof node === 'object' ? node : nodeByPort(node);
        if (!n) throw new Error(`no node ${node}`);
        if (n.running()) throw new Error(`node ${n.port} is running`);
        dropConn(n.port);
        await spawnNode(n);
        await waitStable();
        return n;
    }

    async function moveSlot(slot, toNodeId, { batch = 100, during, timeout = 10000 } = {}) {
        const started = Date.now();
        const source = await masterOf(slot);
        const target = nodeById(toNodeId);
        if (!source) throw new Error(`slot ${slot} has no master`);
        if (!target || !target.running() || target.role !== 'master') throw new Error(`${toNodeId} is no live master`);
        if (source === target) throw new Error(`slot ${slot} is already on ${target.port}`);
        // importing first: from the moment the source says ASK, the target must take ASKING
        await nodeCommand(target.port, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id);
        await nodeCommand(source.port, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id);
        let keys = 0;
        let called = false;
        for (;;) {
            const batchKeys = await nodeCommand(source.port, 'CLUSTER', 'GETKEYSINSLOT', slot, batch);
            if (batchKeys.length) {
                await nodeCommand(source.port, 'MIGRATE', '127.0.0.1', target.port, '', 0, 5000, 'KEYS', ...batchKeys);
                keys += batchKeys.length;
            }
            if (during && !called) {
                called = true;
                await during({ source, target, moved: keys });
                continue; // the hook may have written keys: look again
            }
            if (!batchKeys.length) break;
        }
        // the target first: it bumps its config epoch, so its claim wins everywhere
        await nodeCommand(target.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', target.id);
        await nodeCommand(source.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', target.id);
        const others = (await mastersNow()).filter((n) => n !== source && n !== target);
        await Promise.all(others.map((n) => nodeCommand(n.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', target.id)));
        await waitFor(async () => {
            for (const n of live()) {
                if (slotOwnersOf(await nodeCommand(n.port, 'CLUSTER', 'SLOTS'))[slot] !== target.port) return false;
            }
            return true;
        }, timeout, `every node to see slot ${slot} on ${target.port}`, 25);
        await refreshNodes();
        return { source, target, keys, ms: Date.now() - started };
    }

    /* A ShardSubscriber of channel on the master of its slot (closed at teardown). */
    async function ssubscribe(channel) {
        let port = (await slotOwners())[keySlot(channel)];
        for (let hop = 0; ; hop++) {
            try {
                const sub = await shardSubscribe(port, channel);
                subscribers.add(sub);
                return sub;
            } catch (e) {
                if (!(e instanceof RedisReplyError) || e.code !== 'MOVED' || hop >= 3) throw e;
                port = redirectPort(e);
            }
        }
    }

    async function check() {
        const at = live().find((n) => n.role === 'master') || live()[0];
        const r = await run(redisCliPath(), ['--cluster', 'check', `127.0.0.1:${at.port}`]);
        const ok = r.code === 0 && r.out.includes('[OK] All nodes agree about slots configuration.') &&
            r.out.includes(`[OK] All ${SLOTS} slots covered.`) && !/\[(ERR|WARNING)\]/.test(r.out);
        return { ok, output: r.out };
    }

    async function reshardWithCli(fromId, toId, nSlots, { timeout = 30000 } = {}) {
        const started = Date.now();
        const at = nodeById(toId);
        if (!at || !at.running()) throw new Error(`${toId} is no live node`);
        const r = await run(redisCliPath(), ['--cluster', 'reshard', `127.0.0.1:${at.port}`, '--cluster-from', fromId,
            '--cluster-to', toId, '--cluster-slots', String(nSlots), '--cluster-yes'], { timeoutMs: timeout });
        if (r.code !== 0) throw new Error(`redis-cli --cluster reshard failed (${r.code}):\n${r.out.slice(-4000)}`);
        let last = null;
        await waitFor(async () => (last = await check()).ok, timeout, 'redis-cli --cluster check to pass', 100)
            .catch((e) => {
                throw new Error(`${e.message}\n${last?.output || ''}`);
            });
        await waitStable();
        return { ms: Date.now() - started, output: r.out };
    }

    async function teardown() {
        if (tornDown) return;
        tornDown = true;
        await Promise.allSettled([...dependents].map((s) => s.stop('SIGTERM', { teardown: true })));
        for (const port of [...conns.keys()]) dropConn(port);
        for (const sub of subscribers) sub.close();
        for (const n of nodes) if (n.running()) n.proc.kill('SIGKILL');
        await Promise.all(nodes.map((n) => n.exitPromise));
        rmSync(root, { recursive: true, force: true });
        liveDirs.delete(root);
    }

    const cluster = {
        nodes,
        url: '',
        dir: root,
        nodeTimeout,
        dependents,
        redirects: { moved: 0, ask: 0 },
        keySlot,
        command,
        keyCommand,
        commandVia,
        nodeCommand,
        slotOwners,
        masterOf,
        masters: mastersNow,
        nodeById,
        nodeByPort,
        killMaster,
        waitFailover,
        restartNode,
        moveSlot,
        reshardWithCli,
        ssubscribe,
        check,
        waitStable,
        refreshNodes,
        logs,
        teardown,
    };
    if (t) t.after(() => teardown());

    try {
        const ports = await freePorts(count * 2);
        for (let i = 0; i < count; i++) {
            nodes.push(makeNode(root, i + 1, ports[i], ports[count + i], args, nodeTimeout));
        }
        // a port taken between freePorts() and the bind gets new ones, a few times
        await Promise.all(nodes.map(async (n) => {
            for (let attempt = 1; ; attempt++) {
                try {
                    await spawnNode(n);
                    return;
                } catch (e) {
                    if (!n.bindFailed || attempt >= 3) throw e;
                    [n.port, n.busPort] = await freePorts(2);
                }
            }
        }));
        const r = await run(redisCliPath(), ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`),
            '--cluster-replicas', String(replicas), '--cluster-yes']);
        if (r.code !== 0) throw new Error(`redis-cli --cluster create failed (${r.code}):\n${r.out}\n${logs()}`);
        await waitStable();
        const owners = await slotOwners();
        const masterPorts = [...new Set(owners)];
        cluster.url = `redis://${masterPorts.map((p) => `127.0.0.1:${p}`).join(',')}`;
        return cluster;
    } catch (e) {
        await teardown();
        throw e;
    }
}
