#include "redis_cluster_map.h"

#include <hiredis/hiredis.h>
#include <string.h>

#include "cluster_slots.h"

/* r as an integer within lo..hi; -1 when it is not one. */
static int integer_in(const redisReply *r, long long lo, long long hi, long long *out)
{
    if (r->type != REDIS_REPLY_INTEGER || r->integer < lo || r->integer > hi)
        return -1;
    *out = r->integer;
    return 0;
}

/* The host of a master entry; NULL with *err set when it is unusable. */
static const char *master_host(const redisReply *endpoint, const char *asked_host, const char **err)
{
    if (endpoint->type == REDIS_REPLY_NIL ||
        (endpoint->type == REDIS_REPLY_STRING && endpoint->len == 0)) {
        if (!asked_host || !asked_host[0]) {
            *err = "a master's endpoint is unknown and so is the node asked";
            return NULL;
        }
        return asked_host;
    }
    if (endpoint->type != REDIS_REPLY_STRING) {
        *err = "a master's host is not a string";
        return NULL;
    }
    if (endpoint->len == 1 && endpoint->str[0] == '?') {
        *err = "a master's endpoint is unknown (?)";
        return NULL;
    }
    if (strlen(endpoint->str) != endpoint->len) {
        *err = "bad host"; /* a NUL inside: cluster_slots_add_range() would see less */
        return NULL;
    }
    return endpoint->str;
}

struct cluster_slots *cluster_slots_from_reply(const struct redisReply *reply,
                                               const char *asked_host, const char **err)
{
    if (!reply) {
        *err = "no reply";
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        *err = "CLUSTER SLOTS refused (not a cluster node?)";
        return NULL;
    }
    if (reply->type != REDIS_REPLY_ARRAY) {
        *err = "CLUSTER SLOTS answered something other than an array";
        return NULL;
    }

    struct cluster_slots *m = cluster_slots_new();
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *range = reply->element[i];
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) {
            *err = "a range is not [start, end, master, ...]";
            goto fail;
        }
        long long lo, hi;
        if (integer_in(range->element[0], 0, CLUSTER_SLOTS - 1, &lo) < 0 ||
            integer_in(range->element[1], 0, CLUSTER_SLOTS - 1, &hi) < 0 || lo > hi) {
            *err = "a range's slots are not start <= end within 0..16383";
            goto fail;
        }
        const redisReply *master = range->element[2];
        if (master->type != REDIS_REPLY_ARRAY || master->elements < 2) {
            *err = "a master is not [host, port, ...]";
            goto fail;
        }
        const char *host = master_host(master->element[0], asked_host, err);
        if (!host)
            goto fail;
        long long port;
        if (integer_in(master->element[1], 1, 65535, &port) < 0) {
            *err = "a master's port is not 1..65535";
            goto fail;
        }
        /* Redis lists every slot once; a slot listed twice is a reply to distrust whole. */
        for (long long s = lo; s <= hi; s++) {
            if (m->master[s] >= 0) {
                *err = "ranges overlap";
                goto fail;
            }
        }
        if (cluster_slots_add_range(m, (int)lo, (int)hi, host, (int)port, err) < 0)
            goto fail;
    }
    return m;

fail:
    cluster_slots_free(m);
    return NULL;
}
