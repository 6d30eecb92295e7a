#ifndef OC_BUSIEST_H
#define OC_BUSIEST_H

#include <stddef.h>
#include <stdint.h>

/*
 * The busiest objects of a time window, for the status page: each object counts its
 * messages in a counter of its own, and a table of BUSIEST_SLOTS slots holds the objects
 * with the highest counts so far. A hit costs O(1), or O(BUSIEST_SLOTS) when the table
 * changes; closing a window costs O(BUSIEST_SLOTS). Nothing ever walks the objects, so the
 * cost does not grow with them.
 *
 * The table is exact while it is full: an object outside it never has more hits than the
 * least one inside (a hit that would make it so moves it in, in place of that one). When an
 * object in it goes away, the next object hit takes the free slot. Counters start again at 0
 * in each window without being touched: a counter of an older window reads as 0.
 */

#define BUSIEST_SLOTS 16

/* Embedded in each counted object; zeroed before first use. */
struct busiest_counter {
    uint32_t window; /* the window its count belongs to */
    uint32_t hits;
    int slot; /* its place in the table during that window, -1 when outside */
};

struct busiest_slot {
    struct busiest_counter *c;
    void *item; /* what the caller counts, handed back by busiest_close() */
};

struct busiest {
    uint32_t window; /* starts at 1, so a zeroed counter belongs to no window */
    size_t n;
    size_t least; /* the slot with the fewest hits, when n == BUSIEST_SLOTS */
    struct busiest_slot slots[BUSIEST_SLOTS];
};

/* One object of a closed window. */
struct busiest_entry {
    void *item;
    uint32_t hits;
};

void busiest_init(struct busiest *b);
/* One hit of item, whose counter is c. */
void busiest_hit(struct busiest *b, struct busiest_counter *c, void *item);
/* The item is going away: it leaves the table. */
void busiest_forget(struct busiest *b, struct busiest_counter *c);
/* Closes the window: fills out (room for BUSIEST_SLOTS) with the table, most hits first,
 * returns how many, and starts the next window empty. */
size_t busiest_close(struct busiest *b, struct busiest_entry *out);

#endif
