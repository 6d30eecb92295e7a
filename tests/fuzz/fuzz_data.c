/*
 * libFuzzer target for src/data.c. The input is a save payload:
 *  1. data_parse() it; a refusal must name a reason and leave an empty document;
 *  2. on success, data_encode() must write exactly bytes bytes of valid JSON that parses back
 *     to the same text, and so must data_encode_with_updated_at() (with one updated_at);
 *  3. merge and replace it into a small fixed document under a limit taken from the input's
 *     length, and check the result against what the protocol says a merge does, or that a
 *     refusal left the stored document byte for byte as it was.
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc src/data.c src/dict.c \
 *        src/json.c src/utf8.c src/buf.c tests/fuzz/fuzz_data.c -lyajl -lm
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "data.h"
#include "json.h"

#define STORED "{\"a\":1,\"b\":[true,{\"c\":null}],\"updated_at\":\"x\",\"\xc3\xa9\":\"\\n\"}"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_data: %s\n", what);
    abort();
}

static void require(int cond, const char *what)
{
    if (!cond)
        fail(what);
}

static int is_null(const struct data_field *f)
{
    return f->vlen == 4 && memcmp(f->value, "null", 4) == 0;
}

/* Encodes d, checks length and JSON validity, and returns the text (caller frees). */
static char *encode_checked(const struct data_doc *d)
{
    struct buf b = {0};
    data_encode(d, &b);
    require(b.len == d->bytes, "encoding length differs from bytes");
    require(json_validate(b.p, b.len), "encoding is not JSON");
    return buf_detach(&b);
}

/* The document behind text must parse back to exactly text. */
static void check_reparse(const char *text, size_t count)
{
    struct data_doc again;
    const char *err = NULL;
    if (data_parse(text, strlen(text), &again, &err) != 0)
        fail(err ? err : "own encoding refused");
    require(again.count == count, "re-parse changed the member count");
    char *twice = encode_checked(&again);
    require(strcmp(twice, text) == 0, "re-encoding differs");
    free(twice);
    data_doc_clear(&again);
}

static void check_doc(const struct data_doc *d)
{
    size_t sum = 2 + (d->count ? d->count - 1 : 0);
    for (size_t i = 0; i < d->count; i++) {
        const struct data_field *f = &d->fields[i];
        require(json_validate(f->value, f->vlen), "member value is not JSON");
        require(f->bytes == data_field_bytes(f->key, f->klen, f->vlen), "stale field bytes");
        require(data_doc_get(d, f->key, f->klen) == f, "index points elsewhere");
        sum += f->bytes;
    }
    require(sum == d->bytes, "bytes differs from the size rule");
    char *text = encode_checked(d);
    check_reparse(text, d->count);
    free(text);
}

static void check_updated_at(const struct data_doc *d)
{
    struct buf b = {0};
    data_encode_with_updated_at(d, 1700000000, &b);
    require(json_validate(b.p, b.len), "updated_at encoding is not JSON");
    struct data_doc with;
    const char *err = NULL;
    if (data_parse(b.p, b.len, &with, &err) != 0)
        fail("updated_at encoding refused");
    const struct data_field *f = data_doc_get(&with, "updated_at", 10);
    require(f && strcmp(f->value, "1700000000") == 0, "updated_at missing or wrong");
    /* A repeated key would have collapsed in the parse: count tells. */
    size_t want = d->count + (data_doc_get(d, "updated_at", 10) ? 0 : 1);
    require(with.count == want, "updated_at duplicated or a member lost");
    data_doc_clear(&with);
    buf_free(&b);
}

/* Applies update to a fresh copy of STORED and checks the outcome. */
static void check_apply(const struct data_doc *update, int merge, size_t max)
{
    struct data_doc stored, orig;
    const char *err = NULL;
    if (data_parse(STORED, strlen(STORED), &orig, &err) != 0)
        fail("fixed document refused");
    data_doc_copy(&stored, &orig);
    char *before = encode_checked(&stored);

    int rc = data_apply(&stored, update, merge, max, &err);
    if (rc == DATA_TOO_LARGE) {
        char *after = encode_checked(&stored);
        require(strcmp(after, before) == 0, "refused apply changed the document");
        free(after);
        /* Refused only when the result really is too large: compute it the slow way. */
        struct data_doc slow;
        data_doc_copy(&slow, &orig);
        require(data_apply(&slow, update, merge, (size_t)-1, &err) == 0, "unlimited refused");
        require(slow.bytes > max, "refused a result within the limit");
        data_doc_clear(&slow);
    } else {
        require(rc == 0, "unknown return value");
        require(stored.bytes <= max, "accepted a result over the limit");
        check_doc(&stored);
        if (!merge) {
            char *got = encode_checked(&stored), *want = encode_checked(update);
            require(strcmp(got, want) == 0, "replace is not a copy");
            free(got);
            free(want);
        } else {
            /* Every update key is set or deleted, every other stored key kept as it was. */
            for (size_t i = 0; i < update->count; i++) {
                const struct data_field *u = &update->fields[i];
                const struct data_field *f = data_doc_get(&stored, u->key, u->klen);
                if (is_null(u))
                    require(f == NULL, "null did not delete");
                else
                    require(f && f->vlen == u->vlen && memcmp(f->value, u->value, u->vlen) == 0,
                            "merged value differs");
            }
            for (size_t i = 0; i < orig.count; i++) {
                const struct data_field *o = &orig.fields[i];
                if (data_doc_get(update, o->key, o->klen))
                    continue;
                const struct data_field *f = data_doc_get(&stored, o->key, o->klen);
                require(f && strcmp(f->value, o->value) == 0, "untouched key changed");
            }
        }
    }
    free(before);
    data_doc_clear(&stored);
    data_doc_clear(&orig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct data_doc d;
    const char *err = NULL;
    if (data_parse((const char *)data, size, &d, &err) != 0) {
        require(err != NULL, "refused without a reason");
        require(d.count == 0 && d.bytes == 2 && d.fields == NULL, "refusal left members");
        data_doc_clear(&d);
        return 0;
    }
    check_doc(&d);
    check_updated_at(&d);

    /* Limits around the interesting sizes: STORED is 56 bytes. */
    size_t max = 40 + size % 64;
    check_apply(&d, 1, max);
    check_apply(&d, 0, max);
    check_apply(&d, 1, d.bytes + 56);
    data_doc_clear(&d);
    return 0;
}
