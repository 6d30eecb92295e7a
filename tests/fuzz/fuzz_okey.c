/*
 * libFuzzer target for src/okey.c (object keys, docs/operations.md "Redis"). The input is two
 * (workspace, object) pairs, four ids separated by 0xff 0xfe (missing ids are empty):
 *  1. each pair's key decodes back to the same pair, holds exactly one ':' and no byte
 *     the protocol says must be encoded;
 *  2. two different pairs never give the same key, and the same pair always does;
 *  3. the whole input read as a key is either refused or, once decoded, encodes back to
 *     exactly the input (a key names one pair in one way).
 * Build: scripts/fuzz okey
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "okey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_okey: %s\n", what);
        abort();
    }
}

struct id {
    const char *p;
    size_t len;
};

/* Cuts the input at each 0xff 0xfe into up to four ids. */
static void split(const uint8_t *data, size_t size, struct id ids[4])
{
    size_t n = 0, start = 0;
    memset(ids, 0, 4 * sizeof(ids[0]));
    for (size_t i = 0; i + 1 < size && n < 3; i++) {
        if (data[i] == 0xff && data[i + 1] == 0xfe) {
            ids[n].p = (const char *)data + start;
            ids[n++].len = i - start;
            start = i + 2;
            i++;
        }
    }
    ids[n].p = (const char *)data + start;
    ids[n].len = size - start;
}

static int same(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void check_key(const struct buf *k, struct id ws, struct id obj)
{
    size_t colons = 0;
    for (size_t i = 0; i < k->len; i++) {
        unsigned char c = (unsigned char)k->p[i];
        colons += c == ':';
        require(c > 0x20 && c != 0x7f && c != '{' && c != '}', "a raw byte that must be encoded");
    }
    require(colons == 1, "not exactly one ':'");
    struct buf dws = {0}, dobj = {0};
    const char *err = NULL;
    require(okey_parse(k->p, k->len, &dws, &dobj, &err) == 0, "own key refused");
    require(same(dws.p, dws.len, ws.p, ws.len), "workspace changed in the round trip");
    require(same(dobj.p, dobj.len, obj.p, obj.len), "object changed in the round trip");
    buf_free(&dws);
    buf_free(&dobj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct id ids[4];
    split(data, size, ids);
    struct buf a = {0}, b = {0};
    okey_build(&a, ids[0].p ? ids[0].p : "", ids[0].len, ids[1].p ? ids[1].p : "", ids[1].len);
    okey_build(&b, ids[2].p ? ids[2].p : "", ids[2].len, ids[3].p ? ids[3].p : "", ids[3].len);
    check_key(&a, ids[0], ids[1]);
    check_key(&b, ids[2], ids[3]);
    int pairs_same = same(ids[0].p, ids[0].len, ids[2].p, ids[2].len) &&
                     same(ids[1].p, ids[1].len, ids[3].p, ids[3].len);
    require(pairs_same == same(a.p, a.len, b.p, b.len), "two pairs, one key (or one pair, two)");

    /* The raw input as a key. */
    struct buf ws = {0}, obj = {0}, again = {0};
    const char *err = NULL;
    if (okey_parse((const char *)data, size, &ws, &obj, &err) == 0) {
        okey_build(&again, ws.p, ws.len, obj.p, obj.len);
        require(same(again.p, again.len, (const char *)data, size), "a key read two ways");
    } else {
        require(err != NULL, "refusal without a reason");
    }
    buf_free(&a);
    buf_free(&b);
    buf_free(&ws);
    buf_free(&obj);
    buf_free(&again);
    return 0;
}
