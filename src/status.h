#ifndef OC_STATUS_H
#define OC_STATUS_H

#include <stddef.h>

#include "buf.h"

/*
 * The answer of GET /api/v1/status (docs/operations.md, "Status"): every instance of the
 * instances registry with its age, and of the live ones (not stale) the totals, the busiest
 * objects merged across them and the errors by code summed; Redis's health. Made from what the
 * instances published; this instance's entry as it is now stands in for its own when the registry
 * has none (engine memory, Redis away, or not written yet).
 */

/* An entry whose heartbeat is older than this many seconds shows as "stale" and counts in
 * no total (entries are written every 2 s, and dropped by the next writer after 60 s). */
#define STATUS_STALE_SECONDS 10

/* The busiest objects shown, of the 16 each instance publishes. */
#define STATUS_BUSIEST 10

struct status_input {
    const char *self_id; /* the answering instance */
    const char *self;    /* its entry as it is now */
    size_t self_len;
    const char *engine; /* "memory" or "redis" */
    long long now;      /* unix seconds */
    /* engine redis only */
    size_t n; /* the registry's entries */
    const char *const *entries;
    const size_t *lens;
    int redis_up; /* the engine is ready */
    int cluster;
    double latency_ms; /* the read's round trip, -1 when it failed */
    const char *info;  /* Redis's INFO answer, or NULL */
    size_t info_len;
};

/* Appends the answer, a JSON object. Entries that are not JSON objects with a string "id"
 * are left out. */
void status_render(const struct status_input *in, struct buf *out);

#endif
