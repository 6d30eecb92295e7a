#include "payload.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

void payload_begin(struct buf *b)
{
    buf_reset(b);
    buf_reserve(b, PAYLOAD_HEADROOM + 256);
    memset(b->p, 0, PAYLOAD_HEADROOM);
    b->len = PAYLOAD_HEADROOM;
}

static struct payload *wrap(char *storage, size_t len)
{
    struct payload *p = oc_malloc(sizeof(*p));
    p->refs = 1;
    p->storage = storage;
    p->text = storage + PAYLOAD_HEADROOM;
    p->len = len;
    p->wire = NULL;
    p->wire_len = 0;
    p->variant = NULL;
    p->variant_param = 0;
    p->no_variant = 0;
    return p;
}

struct payload *payload_finish(struct buf *b)
{
    assert(b->len >= PAYLOAD_HEADROOM);
    size_t len = b->len - PAYLOAD_HEADROOM;
    metrics.encoded++;
    return wrap(buf_detach(b), len);
}

struct payload *payload_copy(const char *text, size_t len)
{
    char *storage = oc_malloc(PAYLOAD_HEADROOM + len + 1);
    if (len)
        memcpy(storage + PAYLOAD_HEADROOM, text, len);
    storage[PAYLOAD_HEADROOM + len] = '\0';
    return wrap(storage, len);
}

struct payload *payload_copy_insert(const char *text, size_t len, size_t at, const char *ins,
                                    size_t inslen)
{
    assert(at <= len);
    char *storage = oc_malloc(PAYLOAD_HEADROOM + len + inslen + 1);
    char *p = storage + PAYLOAD_HEADROOM;
    if (at)
        memcpy(p, text, at);
    if (inslen)
        memcpy(p + at, ins, inslen);
    if (len > at)
        memcpy(p + at + inslen, text + at, len - at);
    p[len + inslen] = '\0';
    return wrap(storage, len + inslen);
}

struct payload *payload_alloc(size_t cap)
{
    return wrap(oc_malloc(PAYLOAD_HEADROOM + cap + 1), 0);
}

void payload_set_len(struct payload *p, size_t len)
{
    assert(!p->wire && p->refs == 1);
    p->storage = oc_realloc(p->storage, PAYLOAD_HEADROOM + len + 1);
    p->text = p->storage + PAYLOAD_HEADROOM;
    p->storage[PAYLOAD_HEADROOM + len] = '\0';
    p->len = len;
}

struct payload *payload_new_raw(const void *bytes, size_t len)
{
    struct payload *p = payload_copy(bytes, len);
    p->wire = (const uint8_t *)p->text;
    p->wire_len = len;
    return p;
}

void payload_set_head(struct payload *p, const void *head, size_t hlen)
{
    assert(hlen <= PAYLOAD_HEADROOM);
    if (p->wire)
        return;
    uint8_t *at = (uint8_t *)p->storage + PAYLOAD_HEADROOM - hlen;
    memcpy(at, head, hlen);
    p->wire = at;
    p->wire_len = hlen + p->len;
}

struct payload *payload_ref(struct payload *p)
{
    p->refs++;
    return p;
}

void payload_unref(struct payload *p)
{
    if (!p)
        return;
    assert(p->refs > 0);
    if (--p->refs > 0)
        return;
    payload_unref(p->variant);
    free(p->storage);
    free(p);
}
