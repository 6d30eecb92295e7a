// Object keys cannot be forged from ids (docs/operations.md "Redis", issue 11 item 4). An
// attacker in workspace `acme:eng` on object `board` must not reach the victim in
// workspace `acme` on object `eng:board` (they were one object when keys were "ws:obj"),
// with either engine, and ids with spaces, ':', braces, '%' and non-ASCII UTF-8 work
// everywhere. With engine redis the keys are exactly the encoded ones.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import { pairs } from '../lib/redis.mjs';
import { httpRequest } from '../lib/server.mjs';
import {
    broadcast, expectNext, expectSilence, getParticipants, open, ovMessage, participant, presence,
    saveData, subscribe, user,
} from '../lib/proto.mjs';

const KEY = 'abuse-ids-api-key';

/* The key encoding (docs/operations.md, "Redis"), written again here from the text (not from
 * the server's code): the UTF-8 bytes of the id's string form, with '%', ':', '{', '}' and
 * bytes below 0x21 or equal to 0x7f as %XY (upper-case hex), other bytes as they are. */
function encodeId(id) {
    const out = [];
    for (const b of Buffer.from(String(id), 'utf8')) {
        if (b < 0x21 || b === 0x7f || b === 0x25 || b === 0x3a || b === 0x7b || b === 0x7d) {
            out.push(...Buffer.from(`%${b.toString(16).toUpperCase().padStart(2, '0')}`));
        } else {
            out.push(b);
        }
    }
    return Buffer.from(out).toString('utf8');
}
const redisKey = (ws, obj, suffix) => `objcast:{${encodeId(ws)}:${encodeId(obj)}}:${suffix}`;

async function saved(c, payload, objectId) {
    saveData(c, payload, { objectId, ref: 's' });
    const m = await c.next();
    assert.equal(m.type, 'ovice_data_saved_success', JSON.stringify(m));
    return m;
}

async function getData(c, objectId, ref) {
    c.send({ type: 'ovice_get_data', objectId, ref });
    const m = await c.next();
    assert.equal(m.type, 'ovice_saved_data', JSON.stringify(m));
    return m;
}

function api(s, method, ws, obj, action, body) {
    const p = `/api/v1/workspaces/${encodeURIComponent(ws)}/objects/${encodeURIComponent(obj)}/${action}`;
    return httpRequest(s, method, p, { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body);
}

eachEngine('workspace acme:eng + object board is not workspace acme + object eng:board', async (t, engine) => {
    const { nodes: [s], redis } = await engine.start(t, { conf: { api_key: KEY } });
    const victim = await open(s, user('victim', { ws: 'acme' }));
    const attacker = await open(s, user('attacker', { ws: 'acme:eng' }));
    const V = 'eng:board';
    const A = 'board';
    await subscribe(victim, V);
    await saved(victim, { secret: 'victim data' }, V);
    // The attacker arrives: only its own event, the victim hears nothing.
    await subscribe(attacker, A);
    await expectSilence([victim]);

    // No saved data, no participants of the victim's object.
    assert.deepStrictEqual(await getData(attacker, A, 'g'),
        { type: 'ovice_saved_data', objectId: A, ref: 'g', version: 0, payload: {} });
    const seen = await getParticipants(attacker, { objectId: A, ref: 'p' });
    assert.deepStrictEqual(seen.payload, [participant(attacker, attacker, { objectId: A, status: 'subscribed' })]);

    // Broadcasts stay on their own object, both ways.
    broadcast(attacker, 'evil', 'to the victim?', { objectId: A, echo: true });
    await expectNext(attacker, ovMessage(attacker, 'evil', 'to the victim?', { objectId: A }));
    broadcast(victim, 'private', 'to the attacker?', { objectId: V, echo: true });
    await expectNext(victim, ovMessage(victim, 'private', 'to the attacker?', { objectId: V }));
    await expectSilence([victim, attacker]);

    // The attacker's save does not touch the victim's data, nor the other way round.
    await saved(attacker, { secret: 'overwritten' }, A);
    await expectSilence([victim]);
    assert.deepStrictEqual((await getData(victim, V, 'gv')).payload, { secret: 'victim data' });
    assert.deepStrictEqual((await getData(attacker, A, 'ga')).payload, { secret: 'overwritten' });
    const vp = await getParticipants(victim, { objectId: V, ref: 'pv' });
    assert.deepStrictEqual(vp.payload, [participant(victim, victim, { objectId: V, status: 'subscribed' })]);

    // The server API names the two objects apart too.
    const got = await api(s, 'GET', 'acme', V, 'data');
    assert.equal(got.status, 200, got.body);
    assert.deepStrictEqual(JSON.parse(got.body).payload, { secret: 'victim data' });
    const gotA = await api(s, 'GET', 'acme:eng', A, 'data');
    assert.deepStrictEqual(JSON.parse(gotA.body).payload, { secret: 'overwritten' });

    // The victim leaving is not announced to the attacker.
    victim.close(1000);
    await expectSilence([attacker], 300);

    if (redis) {
        // Two objects, two sets of keys, named as docs/operations.md ("Redis") says.
        assert.deepStrictEqual(pairs(await redis.command('HGETALL', 'objcast:{acme:eng%3Aboard}:data')),
            { secret: '"victim data"' });
        assert.deepStrictEqual(pairs(await redis.command('HGETALL', 'objcast:{acme%3Aeng:board}:data')),
            { secret: '"overwritten"' });
        assert.equal(await redis.command('EXISTS', 'objcast:{acme:eng:board}:data'), 0);
    }
});

eachEngine('ids with spaces, \':\', braces, \'%\' and UTF-8 work end to end', async (t, engine) => {
    const { nodes: [s], redis } = await engine.start(t, { conf: { api_key: KEY } });
    const cases = [
        { ws: 'my ws {1}', obj: 'a:b {c} 100% é ☃' },
        { ws: '%3A', obj: '%' },
        { ws: 'sp ace', obj: '}{' },
    ];
    for (const [n, { ws, obj }] of cases.entries()) {
        const a = await open(s, user(`a${n}`, { ws }));
        const b = await open(s, user(`b${n}`, { ws }));
        await subscribe(a, obj);
        await subscribe(b, obj);
        await expectNext(a, presence('subscribed', b, a, { objectId: obj }));

        broadcast(a, 'hi', { n, obj }, { objectId: obj });
        await expectNext(b, ovMessage(a, 'hi', { n, obj }, { objectId: obj }));

        const m = await saved(a, { who: ws, what: obj }, obj);
        await expectNext(b, { type: 'ovice_shared_data', objectId: obj, version: m.version,
            payload: { who: ws, what: obj } });
        assert.deepStrictEqual(await getData(b, obj, 'g'),
            { type: 'ovice_saved_data', objectId: obj, ref: 'g', version: 1, payload: { who: ws, what: obj } });
        const ps = await getParticipants(b, { objectId: obj, ref: 'p' });
        assert.deepStrictEqual(ps.payload, [participant(a, b, { objectId: obj, status: 'subscribed' }),
            participant(b, b, { objectId: obj, status: 'subscribed' })]);

        const got = await api(s, 'GET', ws, obj, 'data');
        assert.equal(got.status, 200, got.body);
        assert.deepStrictEqual(JSON.parse(got.body).payload, { who: ws, what: obj });
        const parts = await api(s, 'GET', ws, obj, 'participants');
        assert.equal(parts.status, 200, parts.body);

        if (redis) {
            const data = redisKey(ws, obj, 'data');
            assert.deepStrictEqual(pairs(await redis.command('HGETALL', data)),
                { who: JSON.stringify(ws), what: JSON.stringify(obj) }, data);
            const meta = pairs(await redis.command('HGETALL', redisKey(ws, obj, 'meta')));
            assert.equal(meta.version, '1');
            const presenceKey = redisKey(ws, obj, 'presence');
            const members = Object.keys(pairs(await redis.command('HGETALL', presenceKey))).sort();
            assert.deepStrictEqual(members, [`a${n}|${s.instance}`, `b${n}|${s.instance}`], presenceKey);
            // the stored participant names the object as clients do, not encoded
            const entry = JSON.parse(pairs(await redis.command('HGETALL', presenceKey))[`a${n}|${s.instance}`]);
            assert.equal(entry.objectId, obj);
            const ch = redisKey(ws, obj, 'ch');
            // a Redis Cluster's channels are sharded: asked of the object's master
            const numsub = engine.name === 'cluster'
                ? await redis.keyCommand(ch, 'PUBSUB', 'SHARDNUMSUB', ch)
                : await redis.command('PUBSUB', 'NUMSUB', ch);
            assert.deepStrictEqual(numsub, [ch, 1]);
        }
        a.close(1000);
        await expectNext(b, presence('unsubscribed', a, b, { objectId: obj }));
        b.close(1000);
    }
    if (redis) {
        // Every key of these objects is well formed: one hash tag, no raw space, brace
        // or '%' that is not an escape inside it. (The instances' keys have tags without
        // ':', `{instances}` and an instance's own: docs/operations.md, "Key layout".)
        const keys = [];
        if (engine.name === 'cluster') {
            for (const m of await redis.masters()) keys.push(...await redis.nodeCommand(m.port, 'KEYS', 'objcast:{*'));
        } else {
            keys.push(...await redis.command('KEYS', 'objcast:{*'));
        }
        const objectKeys = keys.filter((k) => !/^objcast:\{[^{}:]*\}:/.test(k));
        assert.ok(objectKeys.length >= 3 * cases.length, `object keys: ${objectKeys}`);
        for (const k of objectKeys) {
            const m = /^objcast:\{([^{}]*)\}:[a-z:]+$/.exec(k);
            assert.ok(m, `key ${JSON.stringify(k)} has one hash tag`);
            assert.ok(!/[\x00-\x20\x7f]|%(?![0-9A-F]{2})/.test(m[1]), `key ${JSON.stringify(k)} is encoded`);
            assert.equal(m[1].split(':').length, 2, `key ${JSON.stringify(k)}: one ':' in the tag`);
        }
    }
});
