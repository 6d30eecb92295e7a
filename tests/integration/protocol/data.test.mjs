// Saved data (PROTOCOL.md section 5 "Saved data", decisions): get_data, save and emit,
// replace/merge semantics, versions and ifVersion, bad payloads.
import assert from 'node:assert/strict';

import { eachEngine } from '../lib/engines.mjs';
import {
    OBJ, assertUsable, expectError, expectNext, expectSilence, expectStored, flush, join, nowSec, open,
    presence, saveData, sendLeave, subscribeAll, user,
} from '../lib/proto.mjs';

async function setup(t, engine) {
    const { nodes: [s] } = await engine.start(t);
    const ua = user('a');
    const a1 = await open(s, ua);
    const a2 = await open(s, ua);
    const b = await open(s, 'b');
    const off = await open(s, 'off');
    await subscribeAll([a1, a2, b]);
    await subscribeAll([off], 'L2');
    return { s, a1, a2, b, off };
}

/* Saves data from c with ref and checks the saver's reply and what others receive. */
async function saveAndCheck(c, data, { stored = data, version, others = [], ref = `s${version}`, ...opts } = {}) {
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

eachEngine('get_data before any save -> {} and version 0, ref echoed', async (t, engine) => {
    const { a1, b } = await setup(t, engine);
    a1.send({ type: 'ovice_get_data', objectId: OBJ, ref: 'g1' });
    await expectNext(a1, { type: 'ovice_saved_data', objectId: OBJ, ref: 'g1', version: 0, payload: {} });
    b.send({ type: 'ovice_get_data', objectId: OBJ, ref: 77 });
    await expectNext(b, { type: 'ovice_saved_data', objectId: OBJ, ref: 77, version: 0, payload: {} });
    b.send({ type: 'ovice_get_data', objectId: OBJ });
    await expectNext(b, { type: 'ovice_saved_data', objectId: OBJ, version: 0, payload: {} });
});

eachEngine('save: saved_success to the saver, shared_data to everyone else incl. its other connection', async (t, engine) => {
    const { a1, a2, b, off } = await setup(t, engine);
    const data = { value1: '12', value2: 'test', n: [1, { x: true }] };
    await saveAndCheck(a1, data, { version: 1, others: [a2, b] });
    await flush(a1);
    await expectSilence([a1, a2, b, off]);
    await expectStored(b, data, 1);
    await expectStored(a1, data, 1);
    // a second save bumps the version
    await saveAndCheck(b, { value1: '13' }, { version: 2, others: [a1, a2] });
    await expectStored(a2, { value1: '13' }, 2);
});

eachEngine('save replaces the whole data; null is stored as null outside a merge', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await saveAndCheck(a1, { a: 1, b: 2 }, { version: 1, others: [a2, b] });
    await saveAndCheck(a1, { c: 3, d: null }, { version: 2, others: [a2, b] });
    await expectStored(b, { c: 3, d: null }, 2);
    await saveAndCheck(a1, {}, { version: 3, others: [a2, b] });
    await expectStored(b, {}, 3);
});

eachEngine('merge: top-level keys merged, null deletes a key, shallow', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await saveAndCheck(a1, { a: 1, b: 2, obj: { x: 1, y: 2 } }, { version: 1, others: [a2, b] });
    await saveAndCheck(b, { b: null, c: 3, obj: { z: 3 }, missing: null }, {
        merge: true, version: 2, others: [a1, a2],
        stored: { a: 1, c: 3, obj: { z: 3 } },
    });
    await expectStored(a1, { a: 1, c: 3, obj: { z: 3 } }, 2);
    // merge: false is a replace
    await saveAndCheck(a1, { only: true }, { merge: false, version: 3, others: [a2, b] });
    await expectStored(a1, { only: true }, 3);
});

eachEngine('merge into an object without data', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await saveAndCheck(a1, { k: 'v', gone: null }, { merge: true, version: 1, others: [a2, b], stored: { k: 'v' } });
    await expectStored(b, { k: 'v' }, 1);
});

eachEngine('ifVersion: a match saves, a mismatch -> conflict, nothing stored, nobody notified', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await saveAndCheck(a1, { v: 1 }, { ifVersion: 0, version: 1, others: [a2, b] });
    await saveAndCheck(b, { v: 2 }, { ifVersion: 1, version: 2, others: [a1, a2] });
    for (const [ifVersion, ref] of [[1, 'c1'], [0, 'c2'], [3, 'c3'], [99, 'c4']]) {
        saveData(a1, { v: 'lost' }, { ifVersion, ref });
        await expectError(a1, 'conflict', { objectId: OBJ, ref });
        saveData(a1, { v: 'lost' }, { ifVersion, ref, merge: true });
        await expectError(a1, 'conflict', { objectId: OBJ, ref });
    }
    await expectSilence([a2, b]);
    await expectStored(b, { v: 2 }, 2);
    await saveAndCheck(a2, { w: 3 }, { ifVersion: 2, merge: true, version: 3, others: [a1, b], stored: { v: 2, w: 3 } });
});

eachEngine('payload not a JSON object (array, string, number, null, missing) -> bad_request, data unchanged', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await saveAndCheck(a1, { keep: 1 }, { version: 1, others: [a2, b] });
    let i = 0;
    for (const payload of [[1, 2], [], 'str', 5, true, null, undefined]) {
        for (const merge of [undefined, true]) {
            const ref = `bp${i++}`;
            saveData(a1, payload, { ref, merge });
            await expectError(a1, 'bad_request', { objectId: OBJ, ref });
        }
    }
    await expectSilence([a2, b]);
    await expectStored(a1, { keep: 1 }, 1);
    await assertUsable(a1, b);
});

eachEngine('joined and left participants receive shared data; they may save', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    await join(b);
    for (const r of [a1, a2]) await expectNext(r, presence('joined', b, r));
    sendLeave(b, OBJ);
    for (const r of [b, a1, a2]) await expectNext(r, presence('left', b, r));
    await saveAndCheck(a1, { x: 1 }, { version: 1, others: [a2, b] });
    await saveAndCheck(b, { x: 2 }, { version: 2, others: [a1, a2] });
});

eachEngine('data with its own updated_at key is stored and shared as it is', async (t, engine) => {
    const { a1, a2, b } = await setup(t, engine);
    saveData(a1, { updated_at: 'mine', z: 1 }, { ref: 'u' });
    const m = await a1.next();
    assert.equal(m.type, 'ovice_data_saved_success');
    assert.equal(m.version, 1);
    await expectNext(a2, { type: 'ovice_shared_data', objectId: OBJ, version: 1, payload: { updated_at: 'mine', z: 1 } });
    await expectNext(b, { type: 'ovice_shared_data', objectId: OBJ, version: 1, payload: { updated_at: 'mine', z: 1 } });
    await expectStored(b, { updated_at: 'mine', z: 1 }, 1);
});
