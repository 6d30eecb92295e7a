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

test('data_save.lua and data_get.lua from their files: stored fields, meta, the published data message', async (t) => {
    const redis = await startRedis({ t, aof: false });
    const sub = await subscriber(t, redis, K('ch'));
    const head = '{"k":"d","i":"cli","s":0,"v":';
    // replace with {"n":1,"s":"x"}: field sizes 3 + 1 + 1 and 3 + 1 + 3, one comma
    const saved = await evalFile(redis, 'data_save.lua', [K('data'), K('meta'), K('ch')],
        [0, -1, 1000, 1700000000, head, 'n', 3, '1', 's', 3, '"x"']);
    assert.deepStrictEqual(saved, ['ok', '1', '1700000000', '{"n":1,"s":"x"}']);
    assert.equal(await sub.message(), `${head}1,"a":1700000000}\n{"n":1,"s":"x"}`);
    assert.deepStrictEqual(pairs(await redis.command('HGETALL', K('data'))), { n: '1', s: '"x"' });
    assert.deepStrictEqual(pairs(await redis.command('HGETALL', K('meta'))),
        { version: '1', updated_at: '1700000000', bytes: String('{"n":1,"s":"x"}'.length), fbytes: '12' });

    // merge: null deletes; ifVersion and the limit are checked before anything changes
    assert.deepStrictEqual(await evalFile(redis, 'data_save.lua', [K('data'), K('meta'), K('ch')],
        [1, 7, 1000, 1700000001, head, 'n', 3, 'null']), ['conflict']);
    assert.deepStrictEqual(await evalFile(redis, 'data_save.lua', [K('data'), K('meta'), K('ch')],
        [1, 1, 10, 1700000001, head, 'big', 5, '"0123456789"']), ['too_large']);
    assert.deepStrictEqual(await evalFile(redis, 'data_save.lua', [K('data'), K('meta'), K('ch')],
        [1, 1, 1000, 1700000002, head, 'n', 3, 'null']), ['ok', '2', '1700000002', '{"s":"x"}']);
    assert.equal(await sub.message(), `${head}2,"a":1700000002}\n{"s":"x"}`);

    assert.deepStrictEqual(await evalFile(redis, 'data_get.lua', [K('data'), K('meta')], []),
        ['2', '1700000002', '{"s":"x"}']);
    assert.deepStrictEqual(await evalFile(redis, 'data_get.lua', [K('none'), K('none:meta')], []), ['0', '0', '{}']);
});

test('presence_set.lua, presence_snapshot.lua and presence_sweep.lua from their files', async (t) => {
    const redis = await startRedis({ t, aof: false });
    const sub = await subscriber(t, redis, K('ch'));
    const keys = [K('presence'), K('presence:exp'), K('meta'), K('ch')];
    const now = Date.now();
    const part = '{"id":"u1","name":"U"}';
    const head = '{"k":"p","i":"inst-a","s":4,"u":"u1","q":';
    // one live entry, then one that has already expired (its instance died)
    assert.deepStrictEqual(await evalFile(redis, 'presence_set.lua', keys,
        ['u1|inst-a', part, now + 60000, head, `}\n${part}`]), ['1']);
    assert.equal(await sub.message(), `${head}1}\n${part}`);
    assert.deepStrictEqual(await evalFile(redis, 'presence_set.lua', keys,
        ['u2|inst-b', '{"id":"u2"}', now - 1000, '{"k":"p","i":"inst-b","s":5,"u":"u2","q":', '}\n{"id":"u2"}']), ['2']);
    await sub.message();
    assert.deepStrictEqual(pairs(await redis.command('HGETALL', K('presence'))), { 'u1|inst-a': part, 'u2|inst-b': '{"id":"u2"}' });

    // the snapshot: the last change's number, then the live entries (expired ones too with "1")
    assert.deepStrictEqual(await evalFile(redis, 'presence_snapshot.lua', keys.slice(0, 3), [now, 0]),
        ['2', 'u1|inst-a', part]);
    const all = await evalFile(redis, 'presence_snapshot.lua', keys.slice(0, 3), [now, 1]);
    assert.equal(all.length, 5);

    // the sweep removes the expired entry and publishes its removal, numbered
    assert.deepStrictEqual(await evalFile(redis, 'presence_sweep.lua', keys, [now]), ['1']);
    const text = await sub.message();
    assert.ok(text.endsWith('\n') && text.indexOf('\n') === text.length - 1, JSON.stringify(text));
    assert.deepStrictEqual(JSON.parse(text), { k: 'p', i: 'inst-b', s: 0, u: 'u2', q: 3 });
    assert.deepStrictEqual(Object.keys(pairs(await redis.command('HGETALL', K('presence')))), ['u1|inst-a']);
    assert.deepStrictEqual(await redis.command('ZRANGE', K('presence:exp'), 0, -1), ['u1|inst-a']);
    assert.deepStrictEqual(await evalFile(redis, 'presence_sweep.lua', keys, [now]), ['0']);

    // removing an entry: "" as the participant, an empty body
    assert.deepStrictEqual(await evalFile(redis, 'presence_set.lua', keys, ['u1|inst-a', '', 0, head, '}\n']), ['4']);
    assert.equal(await sub.message(), `${head}4}\n`);
    assert.equal(await redis.command('EXISTS', K('presence')), 0);
});

test('instances_refresh.lua from its file: writes this entry, drops stale ones', async (t) => {
    const redis = await startRedis({ t, aof: false });
    const now = 1700000000;
    await redis.command('HSET', 'lt:instances', 'old', JSON.stringify({ id: 'old', updated: now - 61 }), 'bad', 'not json');
    const me = JSON.stringify({ id: 'me', updated: now });
    assert.deepStrictEqual(await evalFile(redis, 'instances_refresh.lua', ['lt:instances'], ['me', me, now]), ['1']);
    assert.deepStrictEqual(pairs(await redis.command('HGETALL', 'lt:instances')), { me });
});

/* The text of `local function data_json ... end` in a script. */
function dataJson(file) {
    const text = readFileSync(path.join(luaDir, file), 'utf8');
    const m = /^local function data_json\(key\)\n[\s\S]*?^end\n/m.exec(text);
    assert.ok(m, `data_json in ${file}`);
    return m[0];
}

test('data_get.lua and data_save.lua carry the same data_json', () => {
    assert.equal(dataJson('data_get.lua'), dataJson('data_save.lua'));
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
