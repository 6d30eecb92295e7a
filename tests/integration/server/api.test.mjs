// The server API for the platform's backend (README.md, "Server API").
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { connectAuthed, httpRequest, startServer } from '../lib/server.mjs';

const KEY = 'api-key-0123456789';
const base = '/api/v1/workspaces/987/objects/L1';
const auth = { Authorization: `Bearer ${KEY}` };

async function api(s, method, path, body, headers = auth) {
    const res = await httpRequest(s, method, path, headers, body);
    let json = null;
    try {
        json = JSON.parse(res.body);
    } catch {
        /* not JSON */
    }
    return { ...res, json };
}

test('without or with a wrong key: 401; with the API disabled: 404', async (t) => {
    const s = await startServer({ t, conf: { api_key: KEY } });
    assert.equal((await api(s, 'GET', `${base}/data`, undefined, {})).status, 401);
    const wrong = await api(s, 'GET', `${base}/data`, undefined, { Authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, 'unauthorized');
    const prefix = await api(s, 'GET', `${base}/data`, undefined, { Authorization: `Bearer ${KEY}x` });
    assert.equal(prefix.status, 401);
    const off = await startServer({ t });
    assert.equal((await api(off, 'GET', `${base}/data`)).status, 404);
});

test('PUT data saves and emits to every connection; GET data reads it', async (t) => {
    const s = await startServer({ t, conf: { api_key: KEY } });
    const a = await connectAuthed(s, { sub: 'a', ws: 987 });
    a.send({ type: 'objcast_subscribe', objectId: 'L1' });
    assert.equal((await a.next()).type, 'ovice_participant_subscribed');
    const put = await api(s, 'PUT', `${base}/data`, '{"notes": [ "x" ], "n": 1}');
    assert.equal(put.status, 200);
    assert.equal(put.json.version, 1);
    assert.deepEqual(put.json.payload, { notes: ['x'], n: 1 });
    assert.ok(Math.abs(put.json.updated_at - Date.now() / 1000) < 10);
    assert.deepEqual(await a.next(), {
        type: 'ovice_shared_data', objectId: 'L1', version: 1, payload: { notes: ['x'], n: 1 },
    });
    const merged = await api(s, 'PUT', `${base}/data?merge=true&ifVersion=1`, '{"n":null,"m":2}');
    assert.equal(merged.status, 200);
    assert.deepEqual(merged.json.payload, { notes: ['x'], m: 2 });
    assert.equal((await api(s, 'PUT', `${base}/data?ifVersion=1`, '{}')).status, 409);
    const got = await api(s, 'GET', `${base}/data`);
    assert.equal(got.json.version, 2);
    assert.deepEqual(got.json.payload, { notes: ['x'], m: 2 });
    a.send({ type: 'ovice_get_data', objectId: 'L1', ref: 1 });
    const seen = await a.next('ovice_saved_data');
    assert.deepEqual(seen.payload, { notes: ['x'], m: 2 });
});

test('POST broadcast reaches every connection with the given source', async (t) => {
    const s = await startServer({ t, conf: { api_key: KEY } });
    const a = await connectAuthed(s, { sub: 'a', ws: 987 });
    a.send({ type: 'objcast_join', objectId: 'L1' });
    await a.next();
    const res = await api(s, 'POST', `${base}/broadcast`, '{"event":"news","message":{"k":[1]},"source":"bot"}');
    assert.equal(res.status, 200);
    assert.deepEqual(await a.next(), {
        type: 'ovice_message', objectId: 'L1',
        payload: { source: 'bot', event: 'news', objectId: 'L1', message: { k: [1] } },
    });
    await api(s, 'POST', `${base}/broadcast`, '{"event":"e","message":1}');
    assert.equal((await a.next()).payload.source, 'server');
});

test('GET participants lists everyone on the object with status', async (t) => {
    const s = await startServer({ t, conf: { api_key: KEY } });
    const a = await connectAuthed(s, { sub: 'a', ws: 987, email: 'a@example.com' });
    const b = await connectAuthed(s, { sub: 7, ws: 987 });
    a.send({ type: 'objcast_subscribe', objectId: 'L1' });
    await a.next();
    b.send({ type: 'objcast_join', objectId: 'L1' });
    await b.next();
    const res = await api(s, 'GET', `${base}/participants`);
    assert.equal(res.status, 200);
    assert.equal(res.json.objectId, 'L1');
    const byId = Object.fromEntries(res.json.participants.map((p) => [p.id, p]));
    assert.equal(byId.a.status, 'subscribed');
    assert.equal(byId[7].status, 'joined');
    assert.equal(byId[7].isSelf, false);
    assert.equal(res.json.participants.length, 2);
    const other = await api(s, 'GET', '/api/v1/workspaces/988/objects/L1/participants');
    assert.deepEqual(other.json.participants, []);
});

test('bad input: 400 with a JSON error, 413 over the limits, 404 and 405', async (t) => {
    const s = await startServer({ t, conf: { api_key: KEY, max_data_bytes: 1024 } });
    const bad = await api(s, 'PUT', `${base}/data`, '{"a":');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'bad_request');
    assert.equal((await api(s, 'PUT', `${base}/data`, '[1,2]')).status, 400);
    assert.equal((await api(s, 'POST', `${base}/broadcast`, '{"message":1}')).status, 400);
    const big = await api(s, 'PUT', `${base}/data`, JSON.stringify({ a: 'x'.repeat(2000) }));
    assert.equal(big.status, 413);
    assert.equal(big.json.error.code, 'too_large');
    assert.equal((await api(s, 'GET', `${base}/nope`)).status, 404);
    assert.equal((await api(s, 'DELETE', `${base}/data`)).status, 405);
    assert.equal((await api(s, 'POST', `${base}/participants`, '{}')).status, 405);
});
