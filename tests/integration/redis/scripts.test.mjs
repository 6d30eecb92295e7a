// The Lua scripts of engine redis (docs/operations.md, "Redis") are loaded when the command
// connection is made, before any EVALSHA: a crowd arriving on a fresh Redis must not cost
// one NOSCRIPT error (and an EVAL with the whole source) per early command. A script cache
// emptied later (SCRIPT FLUSH) must still work through the EVAL fallback.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { startNode, startRedis, waitReady } from '../lib/redis.mjs';
import { open, saveData, subscribe, user } from '../lib/proto.mjs';

const CLIENTS = 300;
const BATCH = 50;

/* INFO errorstats as {NAME: count}. */
async function errorStats(redis) {
    const text = await redis.command('INFO', 'errorstats');
    const out = {};
    for (const line of String(text).split(/\r?\n/)) {
        const m = /^errorstat_([^:]+):count=(\d+)/.exec(line);
        if (m) out[m[1]] = Number(m[2]);
    }
    return out;
}

/* Opens, subscribes and saves for clients [from, to), all at once. */
async function crowd(server, from, to) {
    await Promise.all(Array.from({ length: to - from }, async (_, k) => {
        const i = from + k;
        const obj = `o-${i}`;
        const c = await open(server, user(`u${i}`), { raw: false });
        await subscribe(c, obj);
        saveData(c, { i }, { objectId: obj, ref: `s${i}` });
        const m = await c.next(undefined, 10000);
        assert.equal(m.type, 'ovice_data_saved_success', `${obj}: ${JSON.stringify(m)}`);
        c.close(1000);
    }));
}

test(`${CLIENTS} clients at once on a fresh Redis: no NOSCRIPT error`, async (t) => {
    const redis = await startRedis({ t, aof: false });
    assert.deepStrictEqual(await redis.command('SCRIPT', 'FLUSH'), 'OK');
    const before = await errorStats(redis);
    const s = await startNode({ t, redis });
    await waitReady(s);
    for (let i = 0; i < CLIENTS; i += BATCH) await crowd(s, i, Math.min(CLIENTS, i + BATCH));
    const stats = await errorStats(redis);
    assert.equal(stats.NOSCRIPT ?? 0, before.NOSCRIPT ?? 0, `errorstats: ${JSON.stringify(stats)}`);
    assert.deepStrictEqual(stats, before, 'no Redis command failed at all');
});

test('after SCRIPT FLUSH, saves and presence still work (EVAL fallback), then scripts are cached again', async (t) => {
    const redis = await startRedis({ t, aof: false });
    const s = await startNode({ t, redis });
    await waitReady(s);
    await crowd(s, 0, 5);
    assert.equal(await redis.command('SCRIPT', 'FLUSH'), 'OK');
    await crowd(s, 5, 10);
    const afterFlush = (await errorStats(redis)).NOSCRIPT ?? 0;
    assert.ok(afterFlush >= 1, 'the flush was noticed (EVALSHA refused, EVAL sent)');
    // EVAL cached the scripts again: more of the same costs no further NOSCRIPT.
    await crowd(s, 10, 20);
    assert.equal((await errorStats(redis)).NOSCRIPT ?? 0, afterFlush, 'scripts cached again by EVAL');
});
