/*
 * libFuzzer target for src/status.c (GET /api/v1/status, docs/operations.md "Status"). The
 * registry's entries come from Redis, written by other instances (other versions, or
 * anything with access to Redis), and INFO's text from Redis itself. The input is cut at
 * each 0xff 0xfe: the first piece is INFO, the rest are entries (the last one also stands in
 * as this instance's own). Whatever they hold:
 *  1. the answer is one valid JSON object;
 *  2. it lists no more instances than there were entries, and at most STATUS_BUSIEST busiest
 *     objects.
 * Build: scripts/fuzz status
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "json.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PIECES 8

static void require(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_status: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *piece[PIECES];
    size_t len[PIECES], n = 0, start = 0;
    for (size_t i = 0; i + 1 < size && n < PIECES - 1; i++) {
        if (data[i] == 0xff && data[i + 1] == 0xfe) {
            piece[n] = (const char *)data + start;
            len[n++] = i - start;
            start = i + 2;
            i++;
        }
    }
    piece[n] = (const char *)data + start;
    len[n++] = size - start;

    struct status_input in = {
        .self_id = "self",
        .self = piece[n - 1],
        .self_len = len[n - 1],
        .engine = size % 2 ? "redis" : "memory",
        .now = 1800000000LL + (long long)(size % 100),
        .n = n - 1,
        .entries = piece + 1,
        .lens = len + 1,
        .redis_up = (int)(size % 3 == 0),
        .cluster = (int)(size % 5 == 0),
        .latency_ms = size % 7 ? 0.5 : -1,
        .info = piece[0],
        .info_len = len[0],
    };
    if (n == 1)
        in.n = 0;
    struct buf out = {0};
    status_render(&in, &out);
    if (!json_validate(out.p, out.len))
        fprintf(stderr, "fuzz_status: the answer: %.*s\n", (int)out.len, out.p);
    require(json_validate(out.p, out.len), "the answer is not valid JSON");
    const char *err = NULL;
    struct json_value *v = json_parse(out.p, out.len, &err);
    require(v && json_typeof(v) == JSON_OBJECT, "the answer is not an object");
    require(json_count(json_get(v, "instances")) <= in.n + 1, "more instances than entries");
    require(json_count(json_get(v, "busiest")) <= STATUS_BUSIEST, "too many busiest objects");
    json_free(v);
    buf_free(&out);
    return 0;
}
