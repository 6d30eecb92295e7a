/*
 * libFuzzer target for src/redis_cluster_map.c. The input is RESP, as a node would send it,
 * read by hiredis's own reader; each complete reply is given to cluster_slots_from_reply():
 *  1. a refusal sets a reason; a map has every served slot pointing at one of its nodes, each
 *     node a non-empty host with a port of 1..65535 and its own index;
 *  2. a map compares equal to itself and to nothing else than what it serves;
 *  3. everything is freed (LeakSanitizer reports the rest).
 * Build: scripts/fuzz redis_cluster_map
 */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_slots.h"
#include "redis_cluster_map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_redis_cluster_map: %s\n", what);
        abort();
    }
}

static void check_map(const struct cluster_slots *m)
{
    require(m->nnodes >= 0 && m->nnodes <= m->nalloc, "node count");
    for (int i = 0; i < m->nnodes; i++) {
        require(m->nodes[i].index == i, "node index");
        require(m->nodes[i].host && m->nodes[i].host[0], "empty host");
        require(strlen(m->nodes[i].host) <= CLUSTER_HOST_MAX, "host too long");
        require(m->nodes[i].port >= 1 && m->nodes[i].port <= 65535, "port out of range");
    }
    int served = 0;
    for (int s = 0; s < CLUSTER_SLOTS; s++) {
        require(m->master[s] >= -1 && m->master[s] < m->nnodes, "slot points nowhere");
        served += m->master[s] >= 0;
    }
    require(cluster_slots_diff(m, m, NULL) == 0, "a map differs from itself");
    require(cluster_slots_diff(NULL, m, NULL) == served, "diff from nothing");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redisReader *rd = redisReaderCreate();
    require(rd != NULL, "no reader");
    if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
        void *reply = NULL;
        /* A few replies at most: each one is a whole map to check. */
        for (int n = 0; n < 4 && redisReaderGetReply(rd, &reply) == REDIS_OK && reply; n++) {
            const char *err = NULL;
            struct cluster_slots *m = cluster_slots_from_reply(reply, "seed", &err);
            if (m) {
                check_map(m);
                cluster_slots_free(m);
            } else {
                require(err && err[0], "refused without a reason");
            }
            freeReplyObject(reply);
            reply = NULL;
        }
    }
    redisReaderFree(rd);
    return 0;
}
