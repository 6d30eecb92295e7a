// The Redis layout (docs/operations.md, "Redis") as an operator sees it with redis-cli: saved data
// as readable JSON per top-level key, meta, presence hash and generations, heartbeats and object indexes, the instances
// hash, pub/sub channels, named client connections, and redis_prefix.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { pairs, parseClientList, startCluster, startRedis } from '../lib/redis.mjs';
import { waitFor } from '../lib/server.mjs';
import {
    OBJ, broadcast, expectNext, expectSilence, join, nowSec, open, presence, saveData, subscribe, subscribeAll, user,
} from '../lib/proto.mjs';

const TTL = 3;
const bytes = (s) => Buffer.byteLength(s, 'utf8');

/* {a: {b: 1}, c: 2} -> {'a.b': 1, c: 2} */
function flatten(o, prefix = '', out = {}) {
    for (const [k, v] of Object.entries(o)) {
        const p = prefix ? `${prefix}.${k}` : k;
        if (v && typeof v === 'object' && !Array.isArray(v)) flatten(v, p, out);
        else out[p] = v;
    }
    return out;
}

test('data, meta, presence and presence:gen keys of an object, heartbeats and object indexes', async (t) => {
    const redis = await startRedis({ t });
    const [A, B] = await startCluster({ t, instances: 2, redis });
    const a = await open(A, user('a', { email: 'a@x.invalid', language: 'en' }));
    const b = await open(B, user(5, { visitor: true }));
    await subscribeAll([b, a]);
    await join(a);
    await expectNext(b, presence('joined', a, b));

    const data = { value1: '12', n: 42, f: 1.5, list: [1, true, null], obj: { x: 'y', z: [] }, nul: null, u: 'é ☃' };
    saveData(a, data, { ref: 's' });
    const saved = await a.next();
    assert.equal(saved.type, 'ovice_data_saved_success');

    // data: top-level key -> compact JSON text of its value
    const stored = pairs(await redis.command('HGETALL', 'objcast:{987:L1}:data'));
    assert.deepStrictEqual(Object.keys(stored).sort(), Object.keys(data).sort());
    for (const k of ['value1', 'n', 'f', 'list', 'obj', 'nul']) {
        assert.equal(stored[k], JSON.stringify(data[k]), `field ${k} holds compact JSON`);
    }
    assert.equal(JSON.parse(stored.u), 'é ☃');
    assert.equal(await redis.command('TYPE', 'objcast:{987:L1}:data'), 'hash');

    // meta: version, updated_at (unix seconds), bytes (compact size of the stored object)
    const meta = pairs(await redis.command('HGETALL', 'objcast:{987:L1}:meta'));
    assert.equal(meta.version, '1');
    assert.equal(meta.updated_at, String(saved.payload.updated_at));
    assert.ok(Math.abs(Number(meta.updated_at) - nowSec()) <= 5);
    assert.equal(Number(meta.bytes), bytes(JSON.stringify(data)));

    // presence: <userId>|<instance> -> participant JSON
    const hash = pairs(await redis.command('HGETALL', 'objcast:{987:L1}:presence'));
    const fa = `a|${A.instance}`;
    const fb = `5|${B.instance}`;
    assert.deepStrictEqual(Object.keys(hash).sort(), [fa, fb].sort());
    // the values are participant JSON (docs/protocol.md section 4.1): at least the seed's fields
    const seedFields = ['id', 'name', 'objectId', 'objectType', 'avatarUrl', 'workspaceId'];
    const pick = (text) => {
        const p = JSON.parse(text);
        return Object.fromEntries(seedFields.map((k) => [k, p[k]]));
    };
    assert.deepStrictEqual(pick(hash[fa]), { id: 'a', name: 'Name a', objectId: OBJ, objectType: 'static',
        avatarUrl: 'https://example.invalid/avatar/a.png', workspaceId: 987 }, `participant JSON of a: ${hash[fa]}`);
    assert.deepStrictEqual(pick(hash[fb]), { id: 5, name: 'Name 5', objectId: OBJ, objectType: 'static',
        avatarUrl: 'https://example.invalid/avatar/5.png', workspaceId: 987 }, `participant JSON of 5: ${hash[fb]}`);
    // presence:gen: the same members -> the generation of their instance, which beats
    // (objcast:{instances}:beats, expiry in ms) and indexes the object under it
    const gen = pairs(await redis.command('HGETALL', 'objcast:{987:L1}:presence:gen'));
    const gens = pairs(await redis.command('HGETALL', 'objcast:{instances}:gens'));
    assert.deepStrictEqual(gen, { [fa]: gens[A.instance], [fb]: gens[B.instance] });
    const beats = pairs(await redis.command('ZRANGE', 'objcast:{instances}:beats', '0', '-1', 'WITHSCORES'));
    assert.deepStrictEqual(Object.keys(beats).sort(), [A.instance, B.instance].sort());
    const now = Date.now();
    for (const [i, score] of Object.entries(beats)) {
        assert.ok(Number(score) > now, `${i}'s heartbeat expires in the future (${score} > ${now})`);
        assert.ok(Number(score) <= now + TTL * 1000 + 1000, `${i}'s heartbeat expires within presence_ttl (${score})`);
    }
    const indexKey = (inst) => `objcast:{${inst.replaceAll(':', '%3A')}}:objects:${gens[inst]}`;
    for (const inst of [A.instance, B.instance]) {
        assert.deepStrictEqual(await redis.command('SMEMBERS', indexKey(inst)), ['987:L1'], `object index of ${inst}`);
    }
    // the heartbeats go on; the entries themselves are never touched again
    await waitFor(async () => {
        const later = pairs(await redis.command('ZRANGE', 'objcast:{instances}:beats', '0', '-1', 'WITHSCORES'));
        return Number(later[A.instance]) > Number(beats[A.instance]) && Number(later[B.instance]) > Number(beats[B.instance]);
    }, 3000, 'heartbeats pushed forward');
    assert.deepStrictEqual(pairs(await redis.command('HGETALL', 'objcast:{987:L1}:presence:gen')), gen);

    // pub/sub: one channel per object, both instances subscribed
    const channels = await redis.command('PUBSUB', 'CHANNELS', 'objcast:*');
    assert.ok(channels.includes('objcast:{987:L1}:ch'), `channels: ${channels}`);
    const numsub = await redis.command('PUBSUB', 'NUMSUB', 'objcast:{987:L1}:ch');
    assert.deepStrictEqual(numsub, ['objcast:{987:L1}:ch', 2]);

    // a user leaving removes its fields from both
    b.close(1000);
    await expectNext(a, presence('unsubscribed', b, a));
    await waitFor(async () => {
        const h = pairs(await redis.command('HGETALL', 'objcast:{987:L1}:presence'));
        const g = pairs(await redis.command('HGETALL', 'objcast:{987:L1}:presence:gen'));
        return !(fb in h) && !(fb in g) && fa in h && fa in g;
    }, 3000, 'the leaving user removed from presence and presence:gen');
    // and the object from its instance's index, as its last entry there went
    await waitFor(async () => (await redis.command('EXISTS', indexKey(B.instance))) === 0, 3000,
        `object index of ${B.instance} emptied`);
    assert.deepStrictEqual(await redis.command('SMEMBERS', indexKey(A.instance)), ['987:L1']);
});

test('string workspace and integer ids go into keys as their string form', async (t) => {
    const redis = await startRedis({ t });
    const [A] = await startCluster({ t, instances: 1, redis });
    const a = await open(A, user(77, { ws: 'w-1' }));
    await subscribe(a, 'obj-9');
    saveData(a, { k: 'v' }, { objectId: 'obj-9', ref: 's' });
    assert.equal((await a.next()).type, 'ovice_data_saved_success');
    assert.deepStrictEqual(pairs(await redis.command('HGETALL', 'objcast:{w-1:obj-9}:data')), { k: '"v"' });
    assert.deepStrictEqual(Object.keys(pairs(await redis.command('HGETALL', 'objcast:{w-1:obj-9}:presence'))),
        [`77|${A.instance}`]);
    const b = await open(A, user(3, { ws: 55 }));
    await subscribe(b, '9');
    await waitFor(async () => (await redis.command('EXISTS', 'objcast:{55:9}:presence')) === 1, 3000,
        'objcast:{55:9}:presence');
});

test('objcast:instances: one JSON entry per instance, refreshed; CLIENT SETNAME objcast:<instance>', async (t) => {
    const redis = await startRedis({ t });
    const nodes = await startCluster({ t, instances: 2, redis });
    const [A, B] = nodes;
    const a = await open(A, 'a');
    const b = await open(B, 'b');
    await subscribeAll([a, b]);
    broadcast(a, 'count-me', 1);
    await expectNext(b, { type: 'ovice_message', objectId: OBJ, payload: { source: 'a', event: 'count-me', objectId: OBJ, message: 1 } });

    const entries = await waitFor(async () => {
        const h = pairs(await redis.command('HGETALL', 'objcast:instances'));
        return nodes.every((s) => h[s.instance]) && h;
    }, 6000, 'both instances in objcast:instances');
    for (const s of nodes) {
        const text = entries[s.instance];
        const st = JSON.parse(text);
        assert.equal(st.id, s.instance, 'id');
        const flat = flatten(st);
        const keys = Object.keys(flat);
        const num = (re, what) => {
            const k = keys.find((x) => re.test(x));
            assert.ok(k, `${what} in ${text}`);
            assert.equal(typeof flat[k], 'number', `${what} (${k}) is a number in ${text}`);
            return flat[k];
        };
        assert.ok(text.includes(String(s.port)), `address with port ${s.port} in ${text}`);
        const started = num(/start/i, 'start time');
        assert.ok(started > 1.6e9, `start time ${started} is a unix time`);
        num(/conn/i, 'connections');
        num(/obj/i, 'objects');
        num(/(messages?|msgs?)\W?_?in|in\W?_?(messages?|msgs?)|^in$/i, 'messages in');
        num(/(messages?|msgs?)\W?_?out|out\W?_?(messages?|msgs?)|^out$/i, 'messages out');
    }
    // refreshed: three more connections on A show up within a few seconds
    const connKey = Object.keys(flatten(JSON.parse(entries[A.instance]))).find((x) => /conn/i.test(x));
    const extra = [];
    for (const id of ['x1', 'x2', 'x3']) extra.push(await open(A, id));
    await waitFor(async () => {
        const st = flatten(JSON.parse(await redis.command('HGET', 'objcast:instances', A.instance)));
        return st[connKey] === 4;
    }, 8000, `${A.instance}'s ${connKey} to become 4`, 250);

    // every connection of the instances carries its name
    await redis.command('CLIENT', 'SETNAME', 'test-probe');
    const list = parseClientList(await redis.command('CLIENT', 'LIST'));
    const names = list.map((c) => c.name).filter((n) => n !== 'test-probe');
    for (const s of nodes) {
        assert.ok(names.includes(`objcast:${s.instance}`), `a connection named objcast:${s.instance} in ${names}`);
    }
    for (const n of names) {
        assert.ok(nodes.some((s) => n === `objcast:${s.instance}`), `connection name ${JSON.stringify(n)} is objcast:<instance>`);
    }
});

test('redis_prefix: deployments with different prefixes share a Redis without seeing each other', async (t) => {
    const redis = await startRedis({ t });
    const [P1, P2] = await startCluster({ t, instances: 2, redis, conf: { redis_prefix: 'p1' }, idPrefix: 'p1' });
    const [D] = await startCluster({ t, instances: 1, redis, idPrefix: 'dflt' });
    const a = await open(P1, 'a');
    const b = await open(P2, 'b');
    const d = await open(D, 'd');
    await subscribe(d);
    await subscribeAll([a, b]);
    broadcast(a, 'p1-only', 1);
    await expectNext(b, { type: 'ovice_message', objectId: OBJ, payload: { source: 'a', event: 'p1-only', objectId: OBJ, message: 1 } });
    saveData(b, { p: 1 }, { ref: 'p' });
    assert.equal((await b.next()).type, 'ovice_data_saved_success');
    await expectNext(a, { type: 'ovice_shared_data', objectId: OBJ, version: 1, payload: { p: 1 } });
    await expectSilence(d);
    d.send({ type: 'ovice_get_data', objectId: OBJ, ref: 'g' });
    await expectNext(d, { type: 'ovice_saved_data', objectId: OBJ, ref: 'g', version: 0, payload: {} });

    assert.deepStrictEqual(pairs(await redis.command('HGETALL', 'p1:{987:L1}:data')), { p: '1' });
    assert.equal(await redis.command('EXISTS', 'objcast:{987:L1}:data'), 0);
    assert.deepStrictEqual(Object.keys(pairs(await redis.command('HGETALL', 'p1:{987:L1}:presence'))).sort(),
        [`a|${P1.instance}`, `b|${P2.instance}`].sort());
    assert.deepStrictEqual(Object.keys(pairs(await redis.command('HGETALL', 'objcast:{987:L1}:presence'))), [`d|${D.instance}`]);
    const ch = await redis.command('PUBSUB', 'CHANNELS', '*');
    assert.ok(ch.includes('p1:{987:L1}:ch') && ch.includes('objcast:{987:L1}:ch'), `channels ${ch}`);
    await waitFor(async () => {
        const inst = pairs(await redis.command('HGETALL', 'p1:instances'));
        return inst[P1.instance] && inst[P2.instance] && !inst[D.instance];
    }, 6000, 'p1:instances lists the p1 instances only');
});
