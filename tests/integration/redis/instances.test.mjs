// Several objcastd on one Redis are distinct instances: objcast_ready names the one each
// client landed on. What the instances share is tested with every engine in protocol/ (a
// scenario's clients spread over the instances of engine redis).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { startCluster, startRedis } from '../lib/redis.mjs';
import { open } from '../lib/proto.mjs';

test('objcast_ready names the instance each client landed on; instances are distinct', async (t) => {
    const redis = await startRedis({ t });
    const nodes = await startCluster({ t, instances: 3, redis });
    const ids = new Set();
    for (const [i, s] of nodes.entries()) {
        assert.equal(s.engine, 'redis', 'the listening line says engine=redis');
        const c = await open(s, `u${i}`);
        assert.deepStrictEqual(c.ready, {
            type: 'objcast_ready',
            payload: { userId: `u${i}`, instance: s.instance, limits: { maxMessageBytes: 2097152, maxDataBytes: 512000 } },
        });
        ids.add(c.ready.payload.instance);
    }
    assert.equal(ids.size, 3);
});
