// engine redis's Lua scripts straight from their files (src/lua/*.lua), as an operator
// runs them: redis-cli --eval FILE KEYS... , ARGV... against a private redis-server. Each
// script's effect on the keys and what it publishes on the channel (the header of
// src/chanmsg.h), and that objcastd runs exactly the files' text (the build embeds them).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';

import { encodeCommand, pairs, parseReply, redisServerPath, startNode, startRedis, waitReady } from '../lib/redis.mjs';
import { srcDir, withTimeout } from '../lib/server.mjs';

const luaDir = path.join(srcDir, 'src', 'lua');

/* redis-cli beside redis-server (Debian's redis-tools), else whatever PATH has. */
function redisCliPath() {
    const beside = path.join(path.dirname(redisServerPath()), 'redis-cli');
    return existsSync(beside) ? beside : 'redis-cli';
}

/* redis-cli -p PORT --eval src/lua/NAME.lua keys... , args...: its output lines (a reply
 * array one element a line). */
function evalFile(redis, name, keys, args) {
    const argv = ['-p', String(redis.port), '--eval', path.join(luaDir, name), ...keys, ',', ...args.map(String)];
    return withTimeout(new Promise((resolve, reject) => {
        const p = spawn(redisCliPath(), argv, { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        p.stdout.setEncoding('utf8').on('data', (d) => (out += d));
        p.stderr.setEncoding('utf8').on('data', (d) => (err += d));
        p.on('error', reject);
        p.on('close', (code) => {
            if (code !== 0 || /^\(error\)|^ERR/m.test(out)) reject(new Error(`redis-cli ${argv.join(' ')}: ${code}\n${out}${err}`));
            else resolve(out.replace(/\n$/, '').split('\n'));
        });
    }), 5000, `redis-cli --eval ${name}`);
}

/* A connection subscribed to channel; next() resolves the next published message. */
async function subscriber(t, redis, channel) {
    const sock = net.connect({ port: redis.port, host: '127.0.0.1' });
    t.after(() => sock.destroy());
    let buf = Buffer.alloc(0);
    const replies = [];
    const waiting = [];
    sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
            const r = parseReply(buf, 0);
            if (typeof r === 'symbol') break; // incomplete
            buf = buf.subarray(r.end);
            if (waiting.length) waiting.shift()(r.value);
            else replies.push(r.value);
        }
    });
    const next = () => withTimeout(new Promise((resolve) => {
        if (replies.length) resolve(replies.shift());
        else waiting.push(resolve);
    }), 3000, `a reply on ${channel}`);
    sock.write(encodeCommand(['SUBSCRIBE', channel]));
    assert.deepStrictEqual(await next(), ['subscribe', channel, 1]);
    return {
        async message() {
            const [type, ch, text] = await next();
            assert.equal(type, 'message');
            assert.equal(ch, channel);
            return text;
        },
    };
}

const K = (suffix) => `lt:{9:L1}:${suffix}`;

test('data_save.lua and data_get.lua from their files: stored fields, meta, the published data message, the history', async (t) => {
    const redis = await startRedis({ t, aof: false });
    const sub = await subscriber(t, redis, K('ch'));
    const head = '{"k":"d","i":"cli","s":0,"v":';
    const keys = [K('data'), K('meta'), K('ch'), K('hist')];
    // replace with {"n":1,"s":"x"}: field sizes 3 + 1 + 1 and 3 + 1 + 3, one comma
    const saved = await evalFile(redis, 'data_save.lua', keys,
        [0, -1, 1000, 1700000000, head, 100, 60000, 65536, 'n', 3, '1', 's', 3, '"x"']);
    assert.deepStrictEqual(saved, ['ok', '1', '1700000000', '{"n":1,"s":"x"}']);
    // the object's epoch is made with its first offset, from Redis's clock
    const ep = await redis.command('HGET', K('meta'), 'epoch');
    assert.match(ep, /^[0-9]{16,}$/);
    const first = `${head}1,"a":1700000000,"o":1,"h":"${ep}"}\n{"n":1,"s":"x"}`;
    assert.equal(await sub.message(), first);
    assert.deepStrictEqual(pairs(await redis.command('HGETALL', K('data'))), { n: '1', s: '"x"' });
    assert.deepStrictEqual(pairs(await redis.command('HGETALL', K('meta'))),
        { version: '1', updated_at: '1700000000', bytes: String('{"n":1,"s":"x"}'.length), fbytes: '12', off: '1', epoch: ep, hbytes: String(Buffer.byteLength(first)) });
    // the object has data: its meta stays
    assert.equal(await redis.command('PTTL', K('meta')), -1);
    // the message is kept in the object's history too, which expires
    assert.deepStrictEqual(await redis.command('LRANGE', K('hist'), 0, -1), [first]);
    const pttl = await redis.command('PTTL', K('hist'));
    assert.ok(pttl > 50000 && pttl <= 60000, `history expires (${pttl} ms)`);

    // merge: null deletes; ifVersion and the limit are checked before anything changes
    assert.deepStrictEqual(await evalFile(redis, 'data_save.lua', keys,
        [1, 7, 1000, 1700000001, head, 100, 60000, 65536, 'n', 3, 'null']), ['conflict']);
    assert.deepStrictEqual(await evalFile(redis, 'data_save.lua', keys,
        [1, 1, 10, 1700000001, head, 100, 60000, 65536, 'big', 5, '"0123456789"']), ['too_large']);
    // history_size 0: nothing more kept, the offset counts on
    assert.deepStrictEqual(await evalFile(redis, 'data_save.lua', keys,
        [1, 1, 1000, 1700000002, head, 0, 60000, 65536, 'n', 3, 'null']), ['ok', '2', '1700000002', '{"s":"x"}']);
    assert.equal(await sub.message(), `${head}2,"a":1700000002,"o":2,"h":"${ep}"}\n{"s":"x"}`);
    assert.equal(await redis.command('LLEN', K('hist')), 1);

    assert.deepStrictEqual(await evalFile(redis, 'data_get.lua', [K('data'), K('meta')], []),
        ['2', '1700000002', '{"s":"x"}']);
    assert.deepStrictEqual(await evalFile(redis, 'data_get.lua', [K('none'), K('none:meta')], []), ['0', '0', '{}']);
});

test('publish.lua and history_since.lua from their files: offsets, the capped history, reading it back', async (t) => {
    const redis = await startRedis({ t, aof: false });
    const sub = await subscriber(t, redis, K('ch'));
    const keys = [K('meta'), K('hist'), K('ch'), K('presence')];
    const head = '{"k":"b","i":"inst-a","s":3,"o":';
    // a history left by an epoch whose meta is gone goes when the new epoch begins
    await redis.command('RPUSH', K('hist'), 'stale');
    const sent = [];
    let ep;
    for (let i = 1; i <= 5; i++) {
        const tail = `}\n{"type":"ovice_message","n":${i}}`;
        // a history of 3 messages
        assert.deepStrictEqual(await evalFile(redis, 'publish.lua', keys, [head, tail, 3, 60000, 65536]), [String(i)]);
        ep ??= await redis.command('HGET', K('meta'), 'epoch');
        sent.push(`${head}${i},"h":"${ep}"${tail}`);
        assert.equal(await sub.message(), sent[i - 1], `message ${i} published with offset ${i}`);
    }
    assert.match(ep, /^[0-9]{16,}$/);
    assert.equal(await redis.command('HGET', K('meta'), 'off'), '5');
    // nobody on the object and no saved data: its meta goes with the history
    const metaTtl = await redis.command('PTTL', K('meta'));
    assert.ok(metaTtl > 50000 && metaTtl <= 60000, `meta expires (${metaTtl} ms)`);
    assert.deepStrictEqual(await redis.command('LRANGE', K('hist'), 0, -1), sent.slice(2));
    // (its messages hold newlines, which redis-cli --eval prints as they are: EVAL of the file)
    const text = readFileSync(path.join(luaDir, 'history_since.lua'), 'utf8');
    const since = (off, max = 100, bytes = 1e9) => redis.command('EVAL', text, 2, K('meta'), K('hist'), off, max, bytes);
    // after offset 3: 4 and 5; after 5: nothing; after 0: only what is kept (3, 4, 5)
    assert.deepStrictEqual(await since(3), ['5', ep, sent[3], sent[4]]);
    assert.deepStrictEqual(await since(5), ['5', ep]);
    assert.deepStrictEqual(await since(0), ['5', ep, ...sent.slice(2)]);
    assert.deepStrictEqual(await since(0, 1), ['5', ep, sent[4]]);
    // a byte budget leaves the oldest out: the newest that fit
    assert.deepStrictEqual(await since(0, 100, sent[3].length + sent[4].length), ['5', ep, sent[3], sent[4]]);
    assert.deepStrictEqual(await since(0, 100, sent[4].length - 1), ['5', ep]);
    // an object without a meta: offset 0, no epoch
    assert.deepStrictEqual(await redis.command('EVAL', text, 2, K('x:meta'), K('x:hist'), 0, 100, 1e9), ['0', '']);
    // history_size 0 keeps nothing; the offset goes on
    assert.deepStrictEqual(await evalFile(redis, 'publish.lua', keys, [head, '}\n{}', 0, 60000, 65536]), ['6']);
    assert.equal(await sub.message(), `${head}6,"h":"${ep}"}\n{}`);
    assert.equal(await redis.command('LLEN', K('hist')), 3);
    // the history's bytes are counted in meta (hbytes)
    const listBytes = async () => (await redis.command('LRANGE', K('hist'), 0, -1)).reduce((n, m) => n + Buffer.byteLength(m), 0);
    assert.equal(Number(await redis.command('HGET', K('meta'), 'hbytes')), await listBytes());
    // a message longer than history_max_bytes is published whole and kept as a mark; the
    // oldest messages go to keep the history within it
    const big = `}\n{"type":"ovice_message","m":"${'x'.repeat(200)}"}`;
    assert.deepStrictEqual(await evalFile(redis, 'publish.lua', keys, [head, big, 3, 60000, 100]), ['7']);
    assert.equal(await sub.message(), `${head}7,"h":"${ep}"${big}`);
    assert.deepStrictEqual(await redis.command('LRANGE', K('hist'), 0, -1), [`${head}7,"h":"${ep}","x":true}\n`]);
    assert.equal(Number(await redis.command('HGET', K('meta'), 'hbytes')), await listBytes());
});

test('presence_set.lua, presence_snapshot.lua and presence_reap.lua from their files', async (t) => {
    const redis = await startRedis({ t, aof: false });
    const sub = await subscriber(t, redis, K('ch'));
    const keys = [K('presence'), K('presence:gen'), K('presence:dead'), K('meta'), K('ch'), K('hist')];
    const part = '{"id":"u1","name":"U"}';
    const head = '{"k":"p","i":"inst-a","s":4,"u":"u1","q":';
    const headB = (u) => `{"k":"p","i":"inst-b","s":5,"u":"${u}","q":`;
    // entries of two instances, each stored with its instance's generation
    assert.deepStrictEqual(await evalFile(redis, 'presence_set.lua', keys,
        ['u1|inst-a', part, 'inst-a', 100, head, `}\n${part}`, 60000]), ['1']);
    // with the object's position: offset 0 (no message yet) in its epoch, made now
    const ep = await redis.command('HGET', K('meta'), 'epoch');
    assert.match(ep, /^[0-9]{16,}$/);
    const at = (off) => `,"w":${off},"h":"${ep}"`;
    assert.equal(await sub.message(), `${head}1${at(0)}}\n${part}`);
    assert.deepStrictEqual(await evalFile(redis, 'presence_set.lua', keys,
        ['u2|inst-b', '{"id":"u2"}', 'inst-b', 200, headB('u2'), '}\n{"id":"u2"}', 60000]), ['2']);
    await sub.message();
    assert.deepStrictEqual(await evalFile(redis, 'presence_set.lua', keys,
        ['u3|inst-b', '{"id":"u3"}', 'inst-b', 201, headB('u3'), '}\n{"id":"u3"}', 60000]), ['3']);
    await sub.message();
    assert.deepStrictEqual(pairs(await redis.command('HGETALL', K('presence:gen'))),
        { 'u1|inst-a': '100', 'u2|inst-b': '200', 'u3|inst-b': '201' });

    // the snapshot: the last change's number, then every entry
    const snap = await evalFile(redis, 'presence_snapshot.lua', [K('presence'), K('meta')], [60000]);
    assert.equal(snap[0], '3');
    assert.deepStrictEqual(pairs(snap.slice(1)), { 'u1|inst-a': part, 'u2|inst-b': '{"id":"u2"}', 'u3|inst-b': '{"id":"u3"}' });

    // reaping generation 200 of inst-b removes its entries of that generation or older,
    // each published once and numbered, and nothing of inst-a or of inst-b's newer generation
    assert.deepStrictEqual(await evalFile(redis, 'presence_reap.lua', keys, ['inst-b', 200, 60000, 60000]), ['1']);
    const text = await sub.message();
    assert.ok(text.endsWith('\n') && text.indexOf('\n') === text.length - 1, JSON.stringify(text));
    assert.deepStrictEqual(JSON.parse(text), { k: 'p', i: 'inst-b', s: 0, u: 'u2', q: 4 });
    assert.deepStrictEqual(Object.keys(pairs(await redis.command('HGETALL', K('presence')))).sort(), ['u1|inst-a', 'u3|inst-b']);
    assert.deepStrictEqual(Object.keys(pairs(await redis.command('HGETALL', K('presence:gen')))).sort(), ['u1|inst-a', 'u3|inst-b']);
    // twice removes nothing twice; the dead generation is remembered for a while
    assert.deepStrictEqual(await evalFile(redis, 'presence_reap.lua', keys, ['inst-b', 200, 60000, 60000]), ['0']);
    assert.deepStrictEqual(pairs(await redis.command('HGETALL', K('presence:dead'))), { 'inst-b': '200' });
    const pttl = await redis.command('PTTL', K('presence:dead'));
    assert.ok(pttl > 50000 && pttl <= 60000, `presence:dead expires (${pttl} ms)`);

    // a write of the dead generation still on its way is refused, unpublished; a newer one is not
    assert.deepStrictEqual(await evalFile(redis, 'presence_set.lua', keys,
        ['u2|inst-b', '{"id":"u2"}', 'inst-b', 200, headB('u2'), '}\n{"id":"u2"}', 60000]), ['-1']);
    assert.equal(await redis.command('HEXISTS', K('presence'), 'u2|inst-b'), 0);
    assert.deepStrictEqual(await evalFile(redis, 'presence_set.lua', keys,
        ['u2|inst-b', '{"id":"u2"}', 'inst-b', 300, headB('u2'), '}\n{"id":"u2"}', 60000]), ['5']);
    // after a message, the position is its offset
    await redis.command('HSET', K('meta'), 'off', 7);
    assert.equal(await sub.message(), `${headB('u2')}5${at(0)}}\n{"id":"u2"}`);

    // an entry left without a generation (stored by an older objcastd) counts as the oldest
    await redis.command('HSET', K('presence'), 'u9|inst-b', '{"id":"u9"}');
    assert.deepStrictEqual(await evalFile(redis, 'presence_reap.lua', keys, ['inst-b', 250, 60000, 60000]), ['2']);
    const gone = [JSON.parse(await sub.message()), JSON.parse(await sub.message())].map((m) => m.u).sort();
    assert.deepStrictEqual(gone, ['u3', 'u9']);
    assert.deepStrictEqual(Object.keys(pairs(await redis.command('HGETALL', K('presence')))).sort(), ['u1|inst-a', 'u2|inst-b']);

    // removing an entry: "" as the participant, an empty body
    assert.deepStrictEqual(await evalFile(redis, 'presence_set.lua', keys, ['u1|inst-a', '', 'inst-a', 100, head, '}\n', 60000]), ['8']);
    assert.equal(await sub.message(), `${head}8${at(7)}}\n`);
    assert.equal(await redis.command('HEXISTS', K('presence:gen'), 'u1|inst-a'), 0);

    // the meta stays while anyone is on the object; with the last entry gone it expires
    // like a history, a snapshot keeps it a while longer, a new entry for good
    assert.equal(await redis.command('PTTL', K('meta')), -1);
    assert.deepStrictEqual(await evalFile(redis, 'presence_set.lua', keys,
        ['u2|inst-b', '', 'inst-b', 300, headB('u2'), '}\n', 60000]), ['9']);
    await sub.message();
    assert.equal(await redis.command('HLEN', K('presence')), 0);
    await redis.command('PEXPIRE', K('meta'), 5000);
    await evalFile(redis, 'presence_snapshot.lua', [K('presence'), K('meta')], [60000]);
    assert.ok(await redis.command('PTTL', K('meta')) > 50000, 'a snapshot keeps the meta');
    assert.deepStrictEqual(await evalFile(redis, 'presence_set.lua', keys,
        ['u1|inst-a', part, 'inst-a', 100, head, `}\n${part}`, 60000]), ['10']);
    assert.equal(await redis.command('PTTL', K('meta')), -1);
});

test('house.lua from its file: heartbeats, generations, dead instances and reap jobs', async (t) => {
    const redis = await startRedis({ t, aof: false });
    const keys = ['lt:{instances}:beats', 'lt:{instances}:gens', 'lt:{instances}:reap'];
    const ttl = 1500;
    const beat = (id, gen, { renew = 0, declare = 1, job = 1 } = {}) =>
        evalFile(redis, 'house.lua', keys, [id, gen, renew, ttl, declare, 60000, job]);
    const redisMs = async () => {
        const [s, us] = await redis.command('TIME');
        return Number(s) * 1000 + Math.floor(Number(us) / 1000);
    };

    // a new process gets a generation (Redis's clock in ms) and a heartbeat
    const before = await redisMs();
    const [genA, freshA, jobA] = await beat('a', 0);
    assert.equal(freshA, '1');
    assert.equal(jobA ?? '', '');
    assert.ok(Number(genA) >= before && Number(genA) <= before + 1000, `generation ${genA} near ${before}`);
    const score = Number(await redis.command('ZSCORE', keys[0], 'a'));
    assert.ok(score >= Number(genA) + ttl && score <= Number(genA) + ttl + 1000, `expiry ${score}`);
    // beating with it keeps it
    assert.deepStrictEqual((await beat('a', genA)).slice(0, 2), [genA, '0']);

    // b beats once, then stops; once its heartbeat lapses, a's next beat declares it dead
    // and, wanting a job, takes the reaping of b's generation
    const [genB] = await beat('b', 0, { job: 0 });
    assert.deepStrictEqual((await beat('a', genA, { declare: 0, job: 0 })).slice(0, 2), [genA, '0']);
    await new Promise((r) => setTimeout(r, ttl + 200));
    // (a's own heartbeat lapsed too: it gets a new generation, and its old one is queued
    // for after presence_ttl, when its entries are stored again)
    const [genA2, freshA2, job] = await beat('a', genA, { declare: 1, job: 1 });
    assert.equal(freshA2, '1');
    assert.ok(Number(genA2) > Number(genA));
    assert.equal(job, `b|${genB}`);
    assert.deepStrictEqual(await redis.command('ZRANGE', keys[0], 0, -1), ['a']);
    assert.deepStrictEqual(pairs(await redis.command('HGETALL', keys[1])), { a: genA2 });
    const jobs = pairs(await redis.command('ZRANGE', keys[2], 0, -1, 'WITHSCORES'));
    const now = await redisMs();
    assert.deepStrictEqual(Object.keys(jobs).sort(), [`a|${genA}|r`, `b|${genB}`].sort());
    assert.ok(Number(jobs[`b|${genB}`]) > now + 55000, 'the taken job is leased');
    assert.ok(Number(jobs[`a|${genA}|r`]) > now && Number(jobs[`a|${genA}|r`]) <= now + ttl, 'the own old generation waits');
    // nobody else gets a leased job
    assert.equal((await beat('c', 0))[2] ?? '', '');

    // renew: a new generation on demand, the old one queued
    const [genA3, fresh3] = await beat('a', genA2, { renew: 1, job: 0 });
    assert.equal(fresh3, '1');
    assert.ok(Number(genA3) > Number(genA2));
    assert.ok(`a|${genA2}|r` in pairs(await redis.command('ZRANGE', keys[2], 0, -1, 'WITHSCORES')));

    // a process restarted under the same id while its old heartbeat still stood: the old
    // generation is free to reap at once
    const [genC] = await beat('c', 0, { job: 0 });
    const [genC2] = await beat('c', 0, { job: 0 });
    assert.ok(Number(genC2) > Number(genC));
    assert.equal(Number(await redis.command('ZSCORE', keys[2], `c|${genC}`)), 0);
});

test('objcastd loads exactly the text of every src/lua file (SCRIPT EXISTS of their SHA1s)', async (t) => {
    const redis = await startRedis({ t, aof: false });
    const files = readdirSync(luaDir).filter((f) => f.endsWith('.lua')).sort();
    assert.ok(files.length >= 6, `scripts: ${files}`);
    const shas = files.map((f) => crypto.createHash('sha1').update(readFileSync(path.join(luaDir, f))).digest('hex'));
    assert.deepStrictEqual(await redis.command('SCRIPT', 'EXISTS', ...shas), files.map(() => 0));
    const s = await startNode({ t, redis });
    await waitReady(s);
    const exists = await redis.command('SCRIPT', 'EXISTS', ...shas);
    assert.deepStrictEqual(Object.fromEntries(files.map((f, i) => [f, exists[i]])),
        Object.fromEntries(files.map((f) => [f, 1])));
});
