/*
 * libFuzzer target for src/cluster_slots.c. The input is the text of an error reply, and
 * also a key:
 *  1. cluster_redirect_parse() says NONE exactly when the text starts with neither "MOVED "
 *     nor "ASK "; a redirect has a slot of 0..16383, a port of 1..65535 and a host without
 *     spaces that fits its buffer; a malformed one has a reason;
 *  2. a redirect written back as Redis writes it parses to the same redirect;
 *  3. the key's slot is 0..16383 and only depends on its hash tag when it has one;
 *  4. a map given the redirect as a range serves that slot from that host:port (the empty
 *     host of an unknown endpoint stands for "the node asked", here "self").
 * Build: scripts/fuzz cluster_slots
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_slots.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_cluster_slots: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct cluster_redirect r;
    const char *err = NULL;
    int rc = cluster_redirect_parse(text, size, &r, &err);
    int shaped = (size >= 6 && memcmp(text, "MOVED ", 6) == 0) ||
                 (size >= 4 && memcmp(text, "ASK ", 4) == 0);
    require(rc == -1 || rc == CLUSTER_REDIRECT_NONE || rc == CLUSTER_REDIRECT_MOVED ||
                rc == CLUSTER_REDIRECT_ASK,
            "unknown return value");
    require((rc == CLUSTER_REDIRECT_NONE) == !shaped, "NONE for a redirect's shape, or not");
    if (rc == -1)
        require(err && err[0], "malformed without a reason");

    if (rc == CLUSTER_REDIRECT_MOVED || rc == CLUSTER_REDIRECT_ASK) {
        require(r.kind == rc, "kind");
        require(r.slot >= 0 && r.slot < CLUSTER_SLOTS, "slot out of range");
        require(r.port >= 1 && r.port <= 65535, "port out of range");
        size_t n = strlen(r.host);
        require(n <= CLUSTER_HOST_MAX, "host too long");
        for (size_t i = 0; i < n; i++)
            require((unsigned char)r.host[i] > ' ' && r.host[i] != 0x7f, "space in host");

        char again[CLUSTER_HOST_MAX + 32];
        int len = snprintf(again, sizeof(again), "%s %d %s:%d",
                           rc == CLUSTER_REDIRECT_MOVED ? "MOVED" : "ASK", r.slot, r.host, r.port);
        struct cluster_redirect s;
        require(cluster_redirect_parse(again, (size_t)len, &s, &err) == rc, "rewritten refused");
        require(s.slot == r.slot && s.port == r.port && strcmp(s.host, r.host) == 0,
                "rewritten differs");

        struct cluster_slots *m = cluster_slots_new();
        const char *host = r.host[0] ? r.host : "self";
        require(cluster_slots_add_range(m, r.slot, r.slot, host, r.port, &err) == 0, "range");
        const struct cluster_node *node = cluster_slots_lookup(m, r.slot);
        require(node && node->port == r.port && strcmp(node->host, host) == 0, "lookup");
        require(!cluster_slots_covered(m, NULL) && cluster_slots_diff(NULL, m, NULL) == 1,
                "one slot served");
        cluster_slots_free(m);
    }

    int slot = cluster_key_slot(text, size);
    require(slot >= 0 && slot < CLUSTER_SLOTS, "key slot out of range");
    const char *open = memchr(text, '{', size);
    if (open) {
        const char *close = memchr(open + 1, '}', size - (size_t)(open + 1 - text));
        if (close && close > open + 1)
            require(slot == cluster_key_slot(open + 1, (size_t)(close - open - 1)),
                    "tag not what is hashed");
    }
    return 0;
}
