#include "busiest.h"

#include <stdlib.h>
#include <string.h>

void busiest_init(struct busiest *b)
{
    memset(b, 0, sizeof(*b));
    b->window = 1;
}

static uint32_t hits_of(const struct busiest *b, const struct busiest_counter *c)
{
    return c->window == b->window ? c->hits : 0;
}

static void find_least(struct busiest *b)
{
    b->least = 0;
    for (size_t i = 1; i < b->n; i++)
        if (b->slots[i].c->hits < b->slots[b->least].c->hits)
            b->least = i;
}

void busiest_hit(struct busiest *b, struct busiest_counter *c, void *item)
{
    if (c->window != b->window) {
        c->window = b->window;
        c->hits = 0;
        c->slot = -1;
    }
    if (c->hits < UINT32_MAX)
        c->hits++;
    if (c->slot >= 0) {
        /* The least one may have passed another. */
        if (b->n == BUSIEST_SLOTS && (size_t)c->slot == b->least)
            find_least(b);
        return;
    }
    size_t i;
    if (b->n < BUSIEST_SLOTS) {
        i = b->n++;
    } else if (c->hits > b->slots[b->least].c->hits) {
        i = b->least;
        b->slots[i].c->slot = -1;
    } else {
        return;
    }
    b->slots[i].c = c;
    b->slots[i].item = item;
    c->slot = (int)i;
    if (b->n == BUSIEST_SLOTS)
        find_least(b);
}

void busiest_forget(struct busiest *b, struct busiest_counter *c)
{
    if (c->window != b->window || c->slot < 0)
        return;
    size_t i = (size_t)c->slot;
    c->slot = -1;
    b->n--;
    if (i != b->n) {
        b->slots[i] = b->slots[b->n];
        b->slots[i].c->slot = (int)i;
    }
    /* Below BUSIEST_SLOTS the table takes any object again: least is not used. The
     * objects outside it keep no more hits than the one forgotten, so it stays exact. */
}

static int by_hits(const void *a, const void *b)
{
    const struct busiest_entry *x = a, *y = b;
    return x->hits < y->hits ? 1 : x->hits > y->hits ? -1 : 0;
}

size_t busiest_close(struct busiest *b, struct busiest_entry *out)
{
    size_t n = b->n;
    for (size_t i = 0; i < n; i++) {
        out[i].item = b->slots[i].item;
        out[i].hits = hits_of(b, b->slots[i].c);
    }
    qsort(out, n, sizeof(*out), by_hits);
    b->n = 0;
    b->least = 0;
    /* Wrapping past UINT32_MAX skips 0, the window no counter belongs to. */
    if (++b->window == 0)
        b->window = 1;
    return n;
}
