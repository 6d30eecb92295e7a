#include "outq.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "buf.h"
#include "payload.h"

/* Payloads gathered into one writev() at most (Linux takes up to 1024). */
#define OUTQ_IOV_MAX 256
/* An empty queue keeps a ring this small; a larger one is freed. */
#define OUTQ_KEEP_CAP 8
#define OUTQ_FIRST_CAP 8

static void grow(struct outq *q)
{
    unsigned cap = q->cap ? q->cap * 2 : OUTQ_FIRST_CAP;
    struct payload **ring = oc_malloc(sizeof(*ring) * cap);
    /* Unwrap: the payloads go to slots 0 .. count-1 of the new ring. */
    for (unsigned i = 0; i < q->count; i++)
        ring[i] = q->ring[(q->head + i) & (q->cap - 1)];
    free(q->ring);
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
}

void outq_push(struct outq *q, struct payload *p)
{
    assert(p->wire);
    if (q->count == q->cap)
        grow(q);
    q->ring[(q->head + q->count) & (q->cap - 1)] = payload_ref(p);
    q->count++;
    q->bytes += p->wire_len;
}

void outq_push_bytes(struct outq *q, const void *data, size_t len)
{
    struct payload *p = payload_new_raw(data, len);
    outq_push(q, p);
    payload_unref(p);
}

/* Drops the first payload. */
static void pop(struct outq *q)
{
    payload_unref(q->ring[q->head]);
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
    q->offset = 0;
}

static void shrink_if_empty(struct outq *q)
{
    if (q->count)
        return;
    q->head = 0;
    if (q->cap > OUTQ_KEEP_CAP) {
        free(q->ring);
        q->ring = NULL;
        q->cap = 0;
    }
}

ssize_t outq_write(struct outq *q, int fd)
{
    if (q->count == 0)
        return 0;
    struct iovec iov[OUTQ_IOV_MAX];
    unsigned n = q->count < OUTQ_IOV_MAX ? q->count : OUTQ_IOV_MAX;
    for (unsigned i = 0; i < n; i++) {
        const struct payload *p = q->ring[(q->head + i) & (q->cap - 1)];
        size_t skip = i == 0 ? q->offset : 0;
        iov[i].iov_base = (void *)(p->wire + skip);
        iov[i].iov_len = p->wire_len - skip;
    }
    ssize_t w = writev(fd, iov, (int)n);
    if (w < 0)
        return -1;
    size_t left = (size_t)w;
    q->bytes -= left;
    while (left > 0) {
        size_t first = q->ring[q->head]->wire_len - q->offset;
        if (left < first) {
            q->offset += left;
            break;
        }
        left -= first;
        pop(q);
    }
    shrink_if_empty(q);
    return w;
}

void outq_clear(struct outq *q)
{
    while (q->count)
        pop(q);
    free(q->ring);
    *q = (struct outq){0};
}
