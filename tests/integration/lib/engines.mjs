// The engines every protocol scenario runs on. As in the engine contract suite
// (tests/unit/test_engine.c), one table lists them, each with its own start function, and
// eachEngine() declares a scenario once per engine, as `memory: <name>` and `redis: <name>`.
//
// engine.start(t, {instances = 1, conf}) resolves {nodes, redis}: `instances` servers for
// the scenario's clients, each started with conf, all stopped in t's teardown.
//   memory  one objcastd, which is every node (nodes[0] === nodes[1]): a scenario that
//           spreads its clients over several instances runs on one server unchanged.
//   redis   a private redis-server (redis: its handle from lib/redis.mjs, to look at the
//           keys) and `instances` objcastd sharing it, distinct instances, each connected
//           to Redis (/readyz 200: before that, commands that need Redis are unavailable).
//   cluster a Redis Cluster of 3 masters with a replica each (redis: its handle from
//           lib/rediscluster.mjs, whose command() follows MOVED) and `instances` objcastd
//           with redis_cluster yes. One cluster serves every scenario of a test file (it
//           takes seconds to make); each scenario starts on an empty one (FLUSHALL on
//           every master), and no scenario changes its topology.

import { after, test } from 'node:test';

import { startCluster, startRedis, waitReady } from './redis.mjs';
import { startRedisCluster } from './rediscluster.mjs';
import { startServer } from './server.mjs';

let shared = null; // the file's Redis Cluster, made by its first cluster scenario
// Registered while the file loads, so on the file's root: after its last scenario.
after(async () => {
    if (shared) await (await shared).teardown();
});

async function sharedRedisCluster() {
    if (!shared) shared = startRedisCluster({});
    const cluster = await shared;
    for (const m of await cluster.masters()) await cluster.nodeCommand(m.port, 'FLUSHALL');
    return cluster;
}

export const ENGINES = [
    {
        name: 'memory',
        async start(t, { instances = 1, conf = {} } = {}) {
            const server = await startServer({ t, conf });
            return { nodes: Array(instances).fill(server), redis: null };
        },
    },
    {
        name: 'redis',
        async start(t, { instances = 1, conf = {} } = {}) {
            const redis = await startRedis({ t });
            const nodes = await startCluster({ t, instances, redis, conf });
            for (const node of nodes) await waitReady(node);
            return { nodes, redis };
        },
    },
    {
        name: 'cluster',
        async start(t, { instances = 1, conf = {} } = {}) {
            const redis = await sharedRedisCluster();
            const nodes = await startCluster({ t, instances, redis, conf: { redis_cluster: 'yes', ...conf } });
            for (const node of nodes) await waitReady(node);
            return { nodes, redis };
        },
    },
];

/* Declares the test `<engine>: <name>` for every engine of ENGINES; fn(t, engine). */
export function eachEngine(name, fn) {
    for (const engine of ENGINES) test(`${engine.name}: ${name}`, (t) => fn(t, engine));
}
