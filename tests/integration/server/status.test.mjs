// GET /api/v1/status and the /status page's files (docs/operations.md, "Status"): behind the
// api_key always, loopback included; every instance of the registry with its numbers; the
// busiest objects and errors merged across instances; Redis's health, also while it is down.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { broadcast, expectError, open, saveData, subscribe, subscribeAll } from '../lib/proto.mjs';
import { startCluster, startRedis, waitReady } from '../lib/redis.mjs';
import { httpGet, httpRequest, sleep, startServer, waitFor } from '../lib/server.mjs';

const KEY = 'status-key-0123456789';
const auth = { Authorization: `Bearer ${KEY}` };

async function status(s, headers = auth) {
    const res = await httpRequest(s, 'GET', '/api/v1/status', headers);
    return { status: res.status, json: res.status === 200 ? JSON.parse(res.body) : null, res };
}

test('status: 401 without the key (from loopback too), with a wrong or longer one; 404 with the API off; GET only', async (t) => {
    const s = await startServer({ t, conf: { api_key: KEY } });
    for (const headers of [{}, { Authorization: 'Bearer nope' }, { Authorization: `Bearer ${KEY}x` },
        { Authorization: KEY }, { 'X-Forwarded-For': '127.0.0.1' }]) {
        const r = await status(s, headers);
        assert.equal(r.status, 401, JSON.stringify(headers));
        assert.equal(JSON.parse(r.res.body).error.code, 'unauthorized');
    }
    assert.equal((await httpRequest(s, 'POST', '/api/v1/status', auth, '{}')).status, 405);
    const off = await startServer({ t });
    const r = await status(off);
    assert.equal(r.status, 404);
    assert.match(JSON.parse(r.res.body).error.message, /api_key/);
});

test('status, engine memory: this instance with its connections, rates, busiest objects and errors', async (t) => {
    const s = await startServer({ t, conf: { api_key: KEY } });
    const a = await open(s, 'a');
    const b = await open(s, 'b');
    await subscribeAll([a, b], 'busy');
    await subscribe(a, 'quiet');
    // messages on "busy", an error of code not_subscribed
    for (let i = 0; i < 30; i++) broadcast(a, 'tick', i, { objectId: 'busy' });
    broadcast(a, 'oops', 1, { objectId: 'nowhere' });
    await expectError(a, 'not_subscribed', { objectId: 'nowhere' });
    const st = await waitFor(async () => {
        const r = (await status(s)).json;
        return r.busiest.length && r;
    }, 6000, 'a window with busy in it', 250);
    assert.equal(st.engine, 'memory');
    assert.equal(st.redis, null);
    assert.equal(st.answered_by, s.instance);
    assert.ok(Math.abs(st.now - Date.now() / 1000) < 5);
    assert.equal(st.instances.length, 1);
    const me = st.instances[0];
    assert.equal(me.id, s.instance);
    assert.equal(me.self, true);
    assert.equal(me.state, 'up');
    assert.equal(me.connections, 2);
    assert.equal(me.objects, 2);
    assert.ok(me.address.endsWith(`:${s.port}`), me.address);
    assert.ok(me.uptime_s >= 0 && me.uptime_s < 60, `uptime ${me.uptime_s}`);
    assert.ok(me.messages_in >= 31, `messages_in ${me.messages_in}`);
    assert.equal(st.totals.connections, 2);
    assert.equal(st.totals.instances_up, 1);
    const busy = st.busiest[0];
    assert.equal(busy.objectId, 'busy');
    assert.equal(busy.workspaceId, '987');
    assert.equal(busy.key, '987:busy');
    assert.equal(busy.participants, 2);
    assert.ok(busy.messages_per_s > 0, `messages_per_s ${busy.messages_per_s}`);
    assert.deepEqual(busy.instances, [s.instance]);
    assert.ok(!st.busiest.some((o) => o.objectId === 'quiet'), 'an object without messages is not busy');
    assert.equal(st.errors.not_subscribed, 1);
    // the window passes: rates come back to 0 and the object leaves the list
    const later = await waitFor(async () => {
        const r = (await status(s)).json;
        return r.busiest.length === 0 && r;
    }, 8000, 'the next windows without messages', 250);
    assert.equal(later.instances[0].messages_in_per_s, 0);
});

test('status, engine redis: every instance, the busiest object once with both instances, Redis health; Redis down then back', async (t) => {
    const redis = await startRedis({ t });
    const nodes = await startCluster({ t, instances: 2, redis, conf: { api_key: KEY } });
    const [A, B] = nodes;
    const a = await open(A, 'a');
    const b = await open(B, 'b');
    await subscribeAll([a, b], 'room');
    for (let i = 0; i < 20; i++) broadcast(a, 'tick', i, { objectId: 'room' });
    saveData(b, { n: 1 }, { objectId: 'room' });
    const st = await waitFor(async () => {
        const r = (await status(B)).json;
        const room = r.busiest.find((o) => o.objectId === 'room');
        return r.instances.length === 2 && room && room.instances.length === 2 && r;
    }, 10000, 'both instances with room in their busiest', 250);
    assert.equal(st.engine, 'redis');
    assert.equal(st.answered_by, B.instance);
    assert.deepEqual(st.instances.map((i) => i.id), [A.instance, B.instance].sort());
    for (const i of st.instances) {
        assert.equal(i.state, 'up');
        assert.ok(i.heartbeat_age_s <= 3, `heartbeat ${i.heartbeat_age_s} s ago`);
        assert.equal(i.connections, 1);
        assert.equal(typeof i.redis_latency_ms, 'number');
        assert.equal(i.self, i.id === B.instance);
    }
    const room = st.busiest.find((o) => o.objectId === 'room');
    assert.equal(room.participants, 2);
    assert.deepEqual([...room.instances].sort(), [A.instance, B.instance].sort());
    assert.equal(st.busiest.filter((o) => o.objectId === 'room').length, 1, 'listed once');
    assert.equal(st.redis.up, true);
    assert.equal(st.redis.cluster, false);
    assert.ok(st.redis.latency_ms > 0 && st.redis.latency_ms < 1000, `latency ${st.redis.latency_ms}`);
    assert.match(st.redis.version, /^\d+\.\d+/);
    assert.ok(st.redis.used_memory > 0);
    assert.ok(st.redis.connected_clients >= 4, `clients ${st.redis.connected_clients}`);
    assert.equal(st.totals.connections, 2);

    // Redis away: the page still answers, with this instance and Redis down
    await redis.stop();
    await waitReady(A, 503);
    const down = await status(A);
    assert.equal(down.status, 200);
    assert.equal(down.json.redis.up, false);
    assert.equal(down.json.redis.latency_ms, null);
    assert.deepEqual(down.json.instances.map((i) => i.id), [A.instance]);
    await redis.start();
    await waitReady(A, 200);
    await waitFor(async () => {
        const r = (await status(A)).json;
        return r.redis.up && r.instances.length === 2;
    }, 10000, 'Redis up and both instances again', 250);
});

test('status page: /status and its files served with a policy that forbids framing and other origins', async (t) => {
    const s = await startServer({ t });
    for (const p of ['/status', '/status/', '/status/status.js', '/status/status.css']) {
        const res = await httpGet(s, p);
        assert.equal(res.status, 200, p);
        assert.match(res.headers['content-security-policy'], /default-src 'self'/, p);
        assert.match(res.headers['content-security-policy'], /frame-ancestors 'none'/, p);
        assert.equal(res.headers['x-frame-options'], 'DENY', p);
    }
    assert.match((await httpGet(s, '/status')).body, /api_key/);
    assert.equal((await httpGet(s, '/status/../demo.conf')).status, 404);
    assert.equal((await httpGet(s, '/status/nothing.js')).status, 404);
});

test('instances registry: an instance sweeps out entries older than 60 s (and ones without "updated") when it starts, and keeps fresh ones', async (t) => {
    const redis = await startRedis({ t });
    const now = Math.floor(Date.now() / 1000);
    await redis.command('HSET', 'objcast:instances',
        'gone', JSON.stringify({ id: 'gone', started: now - 500, updated: now - 120 }),
        'garbage', 'not json',
        'alive', JSON.stringify({ id: 'alive', started: now - 500, updated: now, connections: 0 }));
    const [A] = await startCluster({ t, instances: 1, redis, conf: { api_key: KEY } });
    await waitFor(async () => {
        const ids = await redis.command('HKEYS', 'objcast:instances');
        return ids.includes(A.instance) && !ids.includes('gone') && !ids.includes('garbage') && ids;
    }, 6000, 'the sweep at the first refresh');
    assert.ok((await redis.command('HKEYS', 'objcast:instances')).includes('alive'), 'a fresh entry stays');
    const st = (await status(A)).json;
    assert.deepEqual(st.instances.map((i) => i.id), [A.instance, 'alive'].sort());

    // One sweep a minute for the whole fleet (the time of the last one in the field
    // "|swept"): a stale entry written now stays through the next refreshes of two
    // instances, and goes at the first refresh once the last sweep is a minute old.
    const [B] = await startCluster({ t, instances: 1, redis, conf: { api_key: KEY } });
    await redis.command('HSET', 'objcast:instances', 'gone2', JSON.stringify({ id: 'gone2', updated: now - 120 }));
    await sleep(4500); // two refreshes of each instance
    assert.ok((await redis.command('HKEYS', 'objcast:instances')).includes('gone2'), 'no second sweep within the minute');
    assert.ok(Number(await redis.command('HGET', 'objcast:instances', '|swept')) >= now, 'the last sweep\'s time');
    await redis.command('HSET', 'objcast:instances', '|swept', String(Math.floor(Date.now() / 1000) - 61));
    await waitFor(async () => !(await redis.command('HKEYS', 'objcast:instances')).includes('gone2'),
        6000, 'the sweep once the last one is a minute old');
    assert.deepEqual((await status(B)).json.instances.map((i) => i.id), [A.instance, B.instance, 'alive'].sort());
});
