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

/* hiredis 0.14's reader allocates an array's elements as soon as it reads its header, with
 * no bound of its own: "*333333334" asks for gigabytes, from the reader, not from the code
 * under test. Inputs with an array header over 100,000 elements are skipped (a CLUSTER
 * SLOTS reply has one element per slot range, at most 16384). */
static int huge_array(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] != '*')
            continue;
        unsigned long long n = 0;
        size_t j = i + 1;
        for (; j < size && data[j] >= '0' && data[j] <= '9' && n <= 100000; j++)
            n = n * 10 + (unsigned)(data[j] - '0');
        if (n > 100000)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (huge_array(data, size))
        return 0;
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
