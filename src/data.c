#include "data.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "json.h"
#include "utf8.h"

#define NOT_FOUND ((size_t)-1)

/* --- the document ------------------------------------------------------------------------- */

static size_t commas(size_t count)
{
    return count ? count - 1 : 0;
}

static int is_null(const struct data_field *f)
{
    return f->vlen == 4 && memcmp(f->value, "null", 4) == 0;
}

size_t data_field_bytes(const char *key, size_t klen, size_t vlen)
{
    /* Must agree with json_append_string(), byte for byte: data_encode() asserts it. */
    size_t n = 2;
    for (size_t i = 0; i < klen; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            n += 2;
        else if (c < 0x20)
            n += 6;
        else
            n += 1;
    }
    return n + 1 + vlen;
}

void data_doc_init(struct data_doc *d)
{
    memset(d, 0, sizeof(*d));
    d->bytes = 2;
}

void data_doc_clear(struct data_doc *d)
{
    for (size_t i = 0; i < d->count; i++) {
        free(d->fields[i].key);
        free(d->fields[i].value);
    }
    free(d->fields);
    dict_free(&d->index);
    data_doc_init(d);
}

/* Position of key in d, or NOT_FOUND. */
static size_t find(const struct data_doc *d, const char *key, size_t klen)
{
    void *v = dict_get(&d->index, key, klen);
    return v ? (size_t)(uintptr_t)v - 1 : NOT_FOUND;
}

static void index_put(struct data_doc *d, size_t pos)
{
    dict_set(&d->index, d->fields[pos].key, d->fields[pos].klen, (void *)(uintptr_t)(pos + 1));
}

static void reserve(struct data_doc *d, size_t n)
{
    if (d->cap >= n)
        return;
    size_t cap = d->cap ? d->cap : 8;
    while (cap < n)
        cap *= 2;
    d->fields = oc_realloc(d->fields, cap * sizeof(*d->fields));
    d->cap = cap;
}

/* Appends a member whose key is known to be absent; takes ownership of key and value, which
 * must be allocated and NUL-terminated. */
static void append_owned(struct data_doc *d, char *key, size_t klen, char *value, size_t vlen)
{
    reserve(d, d->count + 1);
    struct data_field *f = &d->fields[d->count];
    f->key = key;
    f->klen = klen;
    f->value = value;
    f->vlen = vlen;
    f->bytes = data_field_bytes(key, klen, vlen);
    d->bytes += f->bytes + (d->count ? 1 : 0);
    index_put(d, d->count);
    d->count++;
}

/* Gives field pos a new value (taken over); the key and its position stay. */
static void replace_owned(struct data_doc *d, size_t pos, char *value, size_t vlen)
{
    struct data_field *f = &d->fields[pos];
    size_t bytes = data_field_bytes(f->key, f->klen, vlen);
    d->bytes = d->bytes - f->bytes + bytes;
    free(f->value);
    f->value = value;
    f->vlen = vlen;
    f->bytes = bytes;
}

void data_doc_copy(struct data_doc *dst, const struct data_doc *src)
{
    data_doc_init(dst);
    reserve(dst, src->count);
    for (size_t i = 0; i < src->count; i++) {
        const struct data_field *s = &src->fields[i];
        struct data_field *f = &dst->fields[i];
        f->key = oc_strndup(s->key, s->klen);
        f->klen = s->klen;
        f->value = oc_strndup(s->value, s->vlen);
        f->vlen = s->vlen;
        f->bytes = s->bytes;
        index_put(dst, i);
    }
    dst->count = src->count;
    dst->bytes = src->bytes;
}

const struct data_field *data_doc_get(const struct data_doc *d, const char *key, size_t klen)
{
    size_t pos = find(d, key, klen);
    return pos == NOT_FOUND ? NULL : &d->fields[pos];
}

/* Sets key to value (both copied): in place when the key exists, else appended. */
static void doc_set(struct data_doc *d, const char *key, size_t klen, const char *value,
                    size_t vlen)
{
    size_t pos = find(d, key, klen);
    if (pos == NOT_FOUND)
        append_owned(d, oc_strndup(key, klen), klen, oc_strndup(value, vlen), vlen);
    else
        replace_owned(d, pos, oc_strndup(value, vlen), vlen);
}

/* --- parsing ------------------------------------------------------------------------------ */

/*
 * yajl only lexes and checks the grammar here; the compact text is written by the callbacks
 * below rather than by yajl_gen, because yajl_gen_string() writes control characters as
 * \u001F where json_append_string() writes \u001f. Both are valid JSON of the same length,
 * but the stored bytes would then depend on which writer a value went through, and the
 * Redis engine compares and re-sends these bytes. One escaping rule, one writer.
 */
struct parser {
    struct data_doc *doc;
    struct buf val;                            /* the member value being written */
    char *key;                                 /* the member key waiting for its value */
    size_t klen;                               /* bytes in key */
    size_t pos;                                /* key's position in doc, or NOT_FOUND when
                                                * its value will append a member */
    size_t max_bytes;                          /* stop once floor exceeds this */
    size_t floor;                              /* the least the finished document can
                                                * weigh: see data_parse_limited() */
    int too_large;                             /* floor passed max_bytes */
    int depth;                                 /* containers open, the top object included */
    char kind[JSON_MAX_DEPTH + 1];             /* '{' or '[' of the container at each depth */
    unsigned char started[JSON_MAX_DEPTH + 1]; /* 1 once that container has an element, so
                                                * the next one needs a comma */
    int done;                                  /* the top-level object was closed */
    const char *err;                           /* why a callback stopped the parse */
};

/* Called before every value; returns 0 (stopping yajl) when the value is the document. */
static int value_begin(struct parser *p)
{
    if (p->depth == 0) {
        p->err = "payload must be a JSON object";
        return 0;
    }
    if (p->kind[p->depth] == '[') {
        if (p->started[p->depth])
            buf_append_char(&p->val, ',');
        p->started[p->depth] = 1;
    }
    return 1;
}

/* Called after every value; a value at depth 1 is a complete member. */
static void value_end(struct parser *p)
{
    if (p->depth != 1)
        return;
    struct data_doc *d = p->doc;
    char *value = oc_strndup(p->val.p, p->val.len);
    /* on_map_key() looked the key up, and no member was added since. */
    if (p->pos == NOT_FOUND) {
        append_owned(d, p->key, p->klen, value, p->val.len);
    } else {
        replace_owned(d, p->pos, value, p->val.len);
        free(p->key);
    }
    p->key = NULL;
    buf_reset(&p->val);
}

static int scalar(void *ctx, const char *text, size_t len)
{
    struct parser *p = ctx;
    if (!value_begin(p))
        return 0;
    buf_append(&p->val, text, len);
    value_end(p);
    return 1;
}

static int on_null(void *ctx)
{
    return scalar(ctx, "null", 4);
}

static int on_boolean(void *ctx, int b)
{
    return b ? scalar(ctx, "true", 4) : scalar(ctx, "false", 5);
}

/* Numbers keep the client's text (1e3 stays 1e3, 1.50 stays 1.50): no rounding through a
 * double, and the client gets back what it saved. yajl has checked the grammar. */
static int on_number(void *ctx, const char *s, size_t len)
{
    return scalar(ctx, s, len);
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    struct parser *p = ctx;
    if (!value_begin(p))
        return 0;
    json_append_string(&p->val, (const char *)s, len);
    value_end(p);
    return 1;
}

static int open_container(struct parser *p, char kind)
{
    if (p->depth == 0 && kind == '{') {
        p->depth = 1;
        p->kind[1] = '{';
        return 1;
    }
    if (!value_begin(p))
        return 0;
    /* yajl has no depth limit of its own; ours matches json_parse(). */
    if (p->depth == JSON_MAX_DEPTH) {
        p->err = "nested too deeply";
        return 0;
    }
    p->depth++;
    p->kind[p->depth] = kind;
    p->started[p->depth] = 0;
    buf_append_char(&p->val, kind);
    return 1;
}

static int close_container(struct parser *p, char close)
{
    if (--p->depth == 0) {
        p->done = 1;
        return 1;
    }
    buf_append_char(&p->val, close);
    value_end(p);
    return 1;
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, '{');
}

static int on_end_map(void *ctx)
{
    return close_container(ctx, '}');
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, '[');
}

static int on_end_array(void *ctx)
{
    return close_container(ctx, ']');
}

static int on_map_key(void *ctx, const unsigned char *s, size_t len)
{
    struct parser *p = ctx;
    if (p->depth == 1) {
        p->key = oc_strndup((const char *)s, len);
        p->klen = len;
        p->pos = find(p->doc, p->key, p->klen);
        if (p->pos == NOT_FOUND) {
            /* A new key stays in the document whatever follows, with a value of at least
             * one byte, and a comma when it is not the first. */
            p->floor += data_field_bytes(p->key, p->klen, 1) + (p->doc->count ? 1 : 0);
            if (p->floor > p->max_bytes) {
                p->too_large = 1;
                return 0;
            }
        }
        return 1;
    }
    if (p->started[p->depth])
        buf_append_char(&p->val, ',');
    p->started[p->depth] = 1;
    json_append_string(&p->val, (const char *)s, len);
    buf_append_char(&p->val, ':');
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number, /* set, so yajl_integer and yajl_double are never called */
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_array,
};

/*
 * True unless a string holds a \u escape of an unpaired UTF-16 surrogate. yajl decodes a lone
 * high surrogate to "?", pairs it with whatever \u escape follows, and writes a lone low one
 * as invalid UTF-8: each would store something other than what the client sent, or text a
 * WebSocket peer must refuse. Only string boundaries and escapes matter here; anything else
 * malformed is yajl's to find.
 */
static int surrogates_paired(const char *s, size_t n)
{
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_str) {
            in_str = s[i] == '"';
            continue;
        }
        if (s[i] == '"') {
            in_str = 0;
            continue;
        }
        if (s[i] != '\\')
            continue;
        if (n - i < 6 || s[i + 1] != 'u') {
            i++; /* the escaped character, a quote included */
            continue;
        }
        /* Bad hex is yajl's to refuse: skip what would be the escape, as before. */
        size_t len = 6;
        if (json_u_escape(s + i, n - i, &len) == JSON_U_LONE)
            return 0;
        i += len - 1;
    }
    return 1;
}

int data_parse(const char *json, size_t len, struct data_doc *out, const char **err)
{
    return data_parse_limited(json, len, SIZE_MAX, out, err);
}

/*
 * The floor. Of what has been parsed, only the distinct keys are sure to end up in the
 * document: a later duplicate may give any value a one-byte replacement. So the document
 * weighs at least 2 + the sum over those keys of data_field_bytes(key, klen, 1) + the
 * commas between them; once that passes max_bytes no input can bring it back under, and
 * the rest of the text need not be parsed. Whitespace never counts: only keys do.
 */
int data_parse_limited(const char *json, size_t len, size_t max_bytes, struct data_doc *out,
                       const char **err)
{
    data_doc_init(out);
    /* The caller has checked UTF-8 already; checking again costs far less than the parse
     * and lets this module promise valid UTF-8 on its own (yajl's check is looser). */
    if (utf8_validate(UTF8_ACCEPT, (const unsigned char *)json, len) != UTF8_ACCEPT) {
        *err = "invalid UTF-8";
        return -1;
    }
    if (!surrogates_paired(json, len)) {
        *err = "unsupported \\u escape";
        return -1;
    }
    if (!json_single_value(json, len)) {
        *err = "invalid JSON";
        return -1;
    }

    struct parser p = {.doc = out, .max_bytes = max_bytes, .floor = 2};
    yajl_handle h = yajl_alloc(&callbacks, NULL, &p);
    yajl_status st = yajl_parse(h, (const unsigned char *)json, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    yajl_free(h);
    buf_free(&p.val);
    free(p.key);

    if (st == yajl_status_ok && p.done && out->bytes <= max_bytes)
        return 0;
    int rc = -1;
    if (p.too_large || (st == yajl_status_ok && p.done)) {
        *err = "data too large";
        rc = DATA_TOO_LARGE;
    } else {
        *err = st == yajl_status_client_canceled && p.err ? p.err : "invalid JSON";
    }
    data_doc_clear(out);
    return rc;
}

/* --- saving ------------------------------------------------------------------------------- */

/* Size of stored after merging update into it, computed without touching either. Only the
 * update's keys are looked at: the stored fields' sum is recovered from stored->bytes. */
static size_t merged_bytes(const struct data_doc *stored, const struct data_doc *update)
{
    size_t sum = stored->bytes - 2 - commas(stored->count);
    size_t count = stored->count;
    for (size_t i = 0; i < update->count; i++) {
        const struct data_field *u = &update->fields[i];
        size_t pos = find(stored, u->key, u->klen);
        if (pos != NOT_FOUND) {
            /* Same key, so its share of the size changes by the value only. */
            sum -= stored->fields[pos].bytes;
            if (is_null(u))
                count--;
            else
                sum += u->bytes;
        } else if (!is_null(u)) {
            sum += u->bytes;
            count++;
        }
    }
    return 2 + sum + commas(count);
}

static void merge(struct data_doc *stored, const struct data_doc *update, size_t bytes)
{
    size_t deleted = 0;
    for (size_t i = 0; i < update->count; i++) {
        const struct data_field *u = &update->fields[i];
        if (!is_null(u)) {
            doc_set(stored, u->key, u->klen, u->value, u->vlen);
            continue;
        }
        size_t pos = find(stored, u->key, u->klen);
        if (pos == NOT_FOUND)
            continue;
        struct data_field *f = &stored->fields[pos];
        /* Leave a hole and close all holes in one pass below: removing each at once would
         * make a save that deletes many keys quadratic. */
        dict_del(&stored->index, f->key, f->klen);
        free(f->key);
        free(f->value);
        f->key = NULL;
        deleted++;
    }
    if (deleted) {
        size_t to = 0;
        for (size_t from = 0; from < stored->count; from++) {
            if (!stored->fields[from].key)
                continue;
            if (from != to) {
                stored->fields[to] = stored->fields[from];
                index_put(stored, to);
            }
            to++;
        }
        stored->count = to;
    }
    /* append_owned() and replace_owned() kept bytes for what they did, but not for the holes;
     * the size computed up front covers everything. */
    stored->bytes = bytes;
}

int data_apply(struct data_doc *stored, const struct data_doc *update, int do_merge,
               size_t max_bytes, const char **err)
{
    size_t bytes = do_merge ? merged_bytes(stored, update) : update->bytes;
    if (bytes > max_bytes) {
        *err = "data too large";
        return DATA_TOO_LARGE;
    }
    if (do_merge) {
        merge(stored, update, bytes);
    } else {
        struct data_doc copy;
        data_doc_copy(&copy, update);
        data_doc_clear(stored);
        *stored = copy;
    }
    return 0;
}

/* --- encoding ----------------------------------------------------------------------------- */

static void encode_field(const struct data_field *f, struct buf *out)
{
    json_append_string(out, f->key, f->klen);
    buf_append_char(out, ':');
    buf_append(out, f->value, f->vlen);
}

void data_encode(const struct data_doc *d, struct buf *out)
{
    size_t start = out->len;
    buf_reserve(out, d->bytes);
    buf_append_char(out, '{');
    for (size_t i = 0; i < d->count; i++) {
        if (i)
            buf_append_char(out, ',');
        encode_field(&d->fields[i], out);
    }
    buf_append_char(out, '}');
    /* The size limit is enforced on bytes; what goes out must be what was counted. */
    assert(out->len - start == d->bytes);
}

void data_encode_with_updated_at(const struct data_doc *d, long long updated_at, struct buf *out)
{
    static const char key[] = "updated_at";
    size_t stored = find(d, key, sizeof(key) - 1);
    buf_reserve(out, d->bytes + sizeof(key) + 24);
    buf_append_char(out, '{');
    for (size_t i = 0; i < d->count; i++) {
        if (i)
            buf_append_char(out, ',');
        if (i == stored)
            buf_printf(out, "\"%s\":%lld", key, updated_at);
        else
            encode_field(&d->fields[i], out);
    }
    if (stored == NOT_FOUND)
        buf_printf(out, "%s\"%s\":%lld", d->count ? "," : "", key, updated_at);
    buf_append_char(out, '}');
}
