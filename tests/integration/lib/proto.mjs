// Helpers for the plugin-protocol tests (docs/protocol.md sections 2-7): users and their
// connections, presence commands, the exact messages the server must send, and silence.
//
// A "user" here is a set of token claims; every connection opened for it remembers them
// (c.claims), so expected participants and messages are built from the same claims the
// token carried.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { auth, connect, defaultClaims, sleep, waitFor } from './server.mjs';

export const OBJ = 'L1';

/* Full connection-token claims for user sub (defaults for name, avatarUrl, ws 987, exp);
 * extra overrides them, an undefined value drops a claim. */
export function user(sub, extra = {}) {
    const c = {
        ...defaultClaims(),
        sub,
        name: `Name ${sub}`,
        avatarUrl: `https://example.invalid/avatar/${sub}.png`,
        ...extra,
    };
    for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
    return c;
}

/*
 * Opens an authenticated connection for claims (a user() object, or a sub for user(sub)).
 * The connection records the raw text of every text frame it receives in c.raws (unless
 * raw: false) and its claims in c.claims. deflate goes to connect() (permessage-deflate
 * offered or not; by default every other connection offers it).
 */
export async function open(server, claims, { raw = true, deflate } = {}) {
    const cl = typeof claims === 'object' && claims !== null ? claims : user(claims);
    const c = await connect(server, { deflate });
    c.claims = cl;
    c.raws = [];
    if (raw) {
        c.ws.on('message', (data, isBinary) => {
            if (!isBinary) c.raws.push(data.toString('utf8'));
        });
    }
    c.ready = await auth(c, server.token(cl));
    return c;
}

/* Same user: same sub, same workspace (strict: a string sub never equals an integer). */
export function sameUser(a, b) {
    const x = a.claims ?? a;
    const y = b.claims ?? b;
    return x.sub === y.sub && x.ws === y.ws;
}

/*
 * The participant object of `of` (connection or claims) as `to` (connection or claims)
 * must see it. opts: objectId, objectType ('static'), isHost (false), status (absent by
 * default: events carry none).
 */
export function participant(of, to, { objectId = OBJ, objectType = 'static', isHost = false, status } = {}) {
    const cl = of.claims ?? of;
    const self = sameUser(of, to);
    const p = {
        id: cl.sub,
        name: cl.name,
        objectId,
        objectType,
        avatarUrl: cl.avatarUrl,
        workspaceId: cl.ws,
    };
    if (cl.language !== undefined) p.language = cl.language;
    if (status !== undefined) p.status = status;
    p.isHost = isHost;
    p.isSelf = self;
    p.isVisitor = cl.visitor ?? false;
    if (self && cl.email !== undefined) p.email = cl.email;
    return p;
}

/* The presence event `kind` (subscribed, joined, left, unsubscribed) about `of` as `to`
 * receives it. */
export function presence(kind, of, to, opts = {}) {
    return {
        type: `ovice_participant_${kind}`,
        objectId: opts.objectId ?? OBJ,
        payload: participant(of, to, opts),
    };
}

// ---------------------------------------------------------------------------------------
// Commands

function withOpts(msg, { objectType, objectToken, ref, ...extra } = {}) {
    if (objectType !== undefined) msg.objectType = objectType;
    if (objectToken !== undefined) msg.objectToken = objectToken;
    if (ref !== undefined) msg.ref = ref;
    return { ...msg, ...extra };
}

export function sendSubscribe(c, objectId = OBJ, opts = {}) {
    c.send(withOpts({ type: 'objcast_subscribe', objectId }, opts));
}
export function sendJoin(c, objectId = OBJ, opts = {}) {
    c.send(withOpts({ type: 'objcast_join', objectId }, opts));
}
export function sendLeave(c, objectId = OBJ, opts = {}) {
    c.send(withOpts({ type: 'objcast_leave', objectId }, opts));
}
export function sendUnsubscribe(c, objectId = OBJ, opts = {}) {
    c.send(withOpts({ type: 'objcast_unsubscribe', objectId }, opts));
}

/* Subscribes c (or joins with join: true) and returns the event it receives, which must be
 * its own presence event (checked exactly, with objectType/isHost from opts.expect). */
export async function subscribe(c, objectId = OBJ, opts = {}) {
    const { expect = {}, join = false, ...send } = opts;
    (join ? sendJoin : sendSubscribe)(c, objectId, send);
    const m = await c.next();
    const want = presence(join ? 'joined' : 'subscribed', c, c, {
        objectId,
        objectType: send.objectType ?? 'static',
        ...expect,
    });
    assert.deepStrictEqual(m, want, `${c.claims.sub}: own ${join ? 'join' : 'subscribe'} event on ${objectId}`);
    return m;
}
export const join = (c, objectId = OBJ, opts = {}) => subscribe(c, objectId, { ...opts, join: true });

/* Subscribes every connection in order; each connection already on the object receives
 * the new user's event (only when the user is new), which is checked and consumed. */
export async function subscribeAll(conns, objectId = OBJ, opts = {}) {
    const on = [];
    for (const c of conns) {
        await subscribe(c, objectId, opts);
        const isNewUser = !on.some((o) => sameUser(o, c));
        if (isNewUser) {
            for (const o of on) {
                await expectNext(o, presence(opts.join ? 'joined' : 'subscribed', c, o, {
                    objectId, objectType: opts.objectType ?? 'static', ...(opts.expect || {}),
                }), `${o.claims.sub} sees ${c.claims.sub} arrive`);
            }
        }
        on.push(c);
    }
}

export function broadcast(c, event, message, { objectId = OBJ, ref, echo, source, raw } = {}) {
    if (raw !== undefined) {
        // message given as raw JSON text, spliced in verbatim
        const head = { type: 'ovice_broadcast_message', objectId };
        if (ref !== undefined) head.ref = ref;
        if (echo !== undefined) head.echo = echo;
        const p = { event };
        if (source !== undefined) p.source = source;
        const h = JSON.stringify(head).slice(0, -1);
        const pt = JSON.stringify(p).slice(0, -1);
        c.send(`${h},"payload":${pt},"message":${raw}}}`);
        return;
    }
    const payload = { event, message };
    if (source !== undefined) payload.source = source;
    const msg = { type: 'ovice_broadcast_message', objectId, payload };
    if (ref !== undefined) msg.ref = ref;
    if (echo !== undefined) msg.echo = echo;
    c.send(msg);
}

export function emit(c, to, event, message, { objectId = OBJ, ref, source } = {}) {
    const payload = { event, message, to };
    if (source !== undefined) payload.source = source;
    const msg = { type: 'ovice_emit_message', objectId, payload };
    if (ref !== undefined) msg.ref = ref;
    c.send(msg);
}

/* The ovice_message a recipient must receive for a broadcast (or, with to, an emit). */
export function ovMessage(from, event, message, { objectId = OBJ, to } = {}) {
    const payload = { source: (from.claims ?? from).sub, event, objectId, message };
    if (to !== undefined) payload.to = to;
    return { type: 'ovice_message', objectId, payload };
}

export function saveData(c, payload, { objectId = OBJ, ref, merge, ifVersion } = {}) {
    const msg = { type: 'ovice_save_and_emit_data', objectId };
    if (payload !== undefined) msg.payload = payload;
    if (ref !== undefined) msg.ref = ref;
    if (merge !== undefined) msg.merge = merge;
    if (ifVersion !== undefined) msg.ifVersion = ifVersion;
    c.send(msg);
}

/*
 * Saves data from c on OBJ with ref (default `s<version>`; opts: merge, ifVersion) and
 * checks the saver's reply exactly (version, updated_at in unix seconds) and the
 * ovice_shared_data each of others receives. stored is what the object holds afterwards
 * (default: data). Returns the reply.
 */
export async function saveAndCheck(c, data, { stored = data, version, others = [], ref = `s${version}`, ...opts } = {}) {
    saveData(c, data, { ref, ...opts });
    const before = nowSec();
    const m = await c.next(undefined, 5000);
    assert.equal(m.type, 'ovice_data_saved_success', JSON.stringify(m).slice(0, 300));
    const at = m.payload?.updated_at;
    assert.ok(Number.isInteger(at), `updated_at ${at} is an integer`);
    assert.ok(Math.abs(at - before) <= 5, `updated_at ${at} is unix seconds close to ${before}`);
    assert.deepStrictEqual(m, {
        type: 'ovice_data_saved_success', objectId: OBJ, ref, version, payload: { ...stored, updated_at: at },
    });
    for (const o of others) {
        await expectNext(o, { type: 'ovice_shared_data', objectId: OBJ, version, payload: stored }, 'shared data');
    }
    return m;
}

/* ovice_get_data and its reply (checked: type, objectId, ref); returns the reply. */
export async function getData(c, { objectId = OBJ, ref = `gd-${crypto.randomBytes(3).toString('hex')}` } = {}) {
    c.send({ type: 'ovice_get_data', objectId, ref });
    const m = await c.next(undefined, 5000);
    assert.equal(m.type, 'ovice_saved_data', JSON.stringify(m).slice(0, 300));
    assert.equal(m.ref, ref);
    assert.equal(m.objectId, objectId);
    return m;
}

/* Requires get_data to answer exactly {payload: data, version}. */
export async function expectStored(c, data, version, opts = {}) {
    const ref = opts.ref ?? `st-${crypto.randomBytes(3).toString('hex')}`;
    const m = await getData(c, { ...opts, ref });
    assert.deepStrictEqual(m, { type: 'ovice_saved_data', objectId: opts.objectId ?? OBJ, ref, version, payload: data },
        'stored data and version');
}

/* ovice_get_participants and its reply; returns the reply with payload sorted by id. */
export async function getParticipants(c, { objectId = OBJ, ref } = {}) {
    const msg = { type: 'ovice_get_participants', objectId };
    if (ref !== undefined) msg.ref = ref;
    c.send(msg);
    const m = await c.next();
    assert.equal(m.type, 'ovice_participants', JSON.stringify(m));
    assert.ok(Array.isArray(m.payload), 'payload is an array');
    m.payload = sortById(m.payload);
    return m;
}

export const sortById = (arr) => [...arr].sort((a, b) => String(a.id).localeCompare(String(b.id)));

// ---------------------------------------------------------------------------------------
// Expectations

/* The next message of c must be exactly `want`. */
export async function expectNext(c, want, what = 'next message', timeoutMs = 3000) {
    const m = await c.next(undefined, timeoutMs);
    assert.deepStrictEqual(m, want, `${c.claims?.sub ?? '?'}: ${what}`);
    return m;
}

/* Waits ms, then requires that none of clients received anything. */
export async function expectSilence(clients, ms = 200) {
    await sleep(ms);
    for (const c of [].concat(clients)) {
        assert.deepStrictEqual(c.queue, [], `${c.claims?.sub ?? '?'} received nothing`);
    }
}

/*
 * Requires m to be exactly {type: objcast_error, payload: {code, message}, objectId?, ref?}:
 * objectId and ref present (and equal) when given, absent otherwise. With loose, only the
 * type, code and message are checked.
 */
export function assertError(m, code, { objectId, ref, loose = false } = {}) {
    assert.equal(m.type, 'objcast_error', JSON.stringify(m).slice(0, 500));
    assert.equal(typeof m.payload?.message, 'string', 'error message is a string');
    assert.ok(m.payload.message.length > 0, 'error message is not empty');
    if (loose) {
        assert.equal(m.payload.code, code, JSON.stringify(m));
        if (ref !== undefined) assert.equal(m.ref, ref, 'ref echoed');
        return;
    }
    const want = { type: 'objcast_error', payload: { code, message: m.payload.message } };
    if (objectId !== undefined) want.objectId = objectId;
    if (ref !== undefined) want.ref = ref;
    assert.deepStrictEqual(m, want);
}

export async function expectError(c, code, opts = {}) {
    const m = await c.next(undefined, opts.timeoutMs ?? 3000);
    assertError(m, code, opts);
    return m;
}

let usable = 0;
/* sender broadcasts a fresh event on objectId; receiver's next message must be exactly it
 * (so receiver got nothing before it, and sender's connection works). */
export async function assertUsable(sender, receiver, objectId = OBJ) {
    const n = ++usable;
    const ev = `usable-${n}`;
    broadcast(sender, ev, { usable: n }, { objectId });
    await expectNext(receiver, ovMessage(sender, ev, { usable: n }, { objectId }), `broadcast ${ev} after the previous step`);
}

/* Sends a message the server answers with unknown_type and requires that answer next: c
 * received nothing else in between (replies to one connection come in order). */
let flushes = 0;
export async function flush(c) {
    const ref = `flush-${++flushes}`;
    c.send({ type: 'objcast_nope', ref });
    const m = await c.next();
    assert.equal(m.type, 'objcast_error', `${c.claims?.sub}: expected only the flush reply, got ${JSON.stringify(m).slice(0, 300)}`);
    assert.equal(m.ref, ref);
}

/* Waits until c's queue holds at least n messages; returns them (removed from the queue). */
export async function collect(c, n, timeoutMs = 10000) {
    await waitFor(() => c.queue.length >= n, timeoutMs, `${n} messages on ${c.claims?.sub} (have ${c.queue.length})`, 10);
    return c.queue.splice(0, n);
}

/* Raw texts received by c whose parsed form satisfies pred. */
export function rawsWhere(c, pred) {
    return c.raws.filter((r) => {
        try {
            return pred(JSON.parse(r));
        } catch {
            return false;
        }
    });
}

// ---------------------------------------------------------------------------------------
// Tokens

/* An HS256 JWT of exactly claims (no defaults), signed with secret (alg as given). */
export function signJwt(claims, secret, alg = 'HS256') {
    const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc({ alg, typ: 'JWT' })}.${enc(claims)}`;
    const hashes = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };
    const sig = hashes[alg] ? crypto.createHmac(hashes[alg], secret).update(input).digest('base64url') : '';
    return `${input}.${sig}`;
}

export const nowSec = () => Math.floor(Date.now() / 1000);

/* The claims of a JWT, unverified. */
export const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

/* An object token for connection c (its sub, its workspace) on objectId, claims overridable
 * (an undefined value drops a claim). */
export function objectToken(server, c, objectId = OBJ, claims = {}, { secret = server.secret, alg } = {}) {
    const cl = c.claims ?? c;
    const body = { sub: cl.sub, ws: cl.ws, obj: objectId, exp: nowSec() + 600, ...claims };
    for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
    return signJwt(body, secret, alg);
}
