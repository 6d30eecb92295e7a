/*
 * Unit tests for the busiest objects' table (busiest.c): against a plain count of every
 * hit, the table holds exactly the objects with the most hits; windows start from 0 without
 * touching the counters; objects that go away leave it.
 */
#include <stdint.h>
#include <stdlib.h>

#include "busiest.h"
#include "unit.h"

#define OBJECTS 200

struct thing {
    struct busiest_counter c;
    unsigned truth; /* hits in the current window, counted plainly */
    int gone;
};

/* What a closed window must be: every entry's hits its true count, most first, and no
 * object left out with more hits than the least one in. */
static void check_closed(struct thing *t, size_t nt, const struct busiest_entry *e, size_t n)
{
    unsigned least = UINT32_MAX;
    int in[OBJECTS] = {0};
    for (size_t i = 0; i < n; i++) {
        struct thing *x = e[i].item;
        ck_assert_uint_eq(e[i].hits, x->truth);
        ck_assert_int_eq(x->gone, 0);
        if (i)
            ck_assert_uint_ge(e[i - 1].hits, e[i].hits);
        least = e[i].hits < least ? e[i].hits : least;
        in[x - t] = 1;
    }
    size_t hit = 0;
    for (size_t i = 0; i < nt; i++) {
        hit += t[i].truth && !t[i].gone;
        if (!in[i] && !t[i].gone)
            ck_assert_msg(t[i].truth <= least, "object %zu: %u hits left out (least in: %u)", i,
                          t[i].truth, least);
    }
    ck_assert_uint_eq(n, hit < BUSIEST_SLOTS ? hit : BUSIEST_SLOTS);
}

START_TEST(exact_against_plain_counts)
{
    static struct thing t[OBJECTS];
    struct busiest b;
    struct busiest_entry out[BUSIEST_SLOTS];
    busiest_init(&b);
    srand(7);
    for (int window = 0; window < 20; window++) {
        for (size_t i = 0; i < OBJECTS; i++)
            t[i].truth = 0;
        /* Skewed: a few objects get most hits, and their order changes window to window. */
        for (int k = 0; k < 5000; k++) {
            size_t i = (size_t)(rand() % OBJECTS);
            if (rand() % 3 == 0)
                i = (size_t)((i % 24) * 7 + window) % OBJECTS;
            t[i].truth++;
            busiest_hit(&b, &t[i].c, &t[i]);
        }
        size_t n = busiest_close(&b, out);
        check_closed(t, OBJECTS, out, n);
    }
}
END_TEST

START_TEST(few_objects_all_listed)
{
    static struct thing t[3];
    struct busiest b;
    struct busiest_entry out[BUSIEST_SLOTS];
    busiest_init(&b);
    for (int k = 0; k < 5; k++)
        busiest_hit(&b, &t[1].c, &t[1]);
    busiest_hit(&b, &t[2].c, &t[2]);
    size_t n = busiest_close(&b, out);
    ck_assert_uint_eq(n, 2);
    ck_assert_ptr_eq(out[0].item, &t[1]);
    ck_assert_uint_eq(out[0].hits, 5);
    ck_assert_ptr_eq(out[1].item, &t[2]);
    ck_assert_uint_eq(out[1].hits, 1);
    /* The next window starts empty, and an old count does not carry over. */
    ck_assert_uint_eq(busiest_close(&b, out), 0);
    busiest_hit(&b, &t[1].c, &t[1]);
    n = busiest_close(&b, out);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(out[0].hits, 1);
}
END_TEST

START_TEST(forgotten_objects_leave)
{
    static struct thing t[OBJECTS];
    struct busiest b;
    struct busiest_entry out[BUSIEST_SLOTS];
    busiest_init(&b);
    for (size_t i = 0; i < OBJECTS; i++)
        for (size_t k = 0; k <= i % 40; k++) {
            t[i].truth++;
            busiest_hit(&b, &t[i].c, &t[i]);
        }
    /* The busiest go away (objects freed when their last member leaves). */
    for (size_t i = 0; i < OBJECTS; i++)
        if (i % 40 >= 37) {
            busiest_forget(&b, &t[i].c);
            t[i].gone = 1;
        }
    /* Forgetting one not in the table, or one of an old window, changes nothing. */
    busiest_forget(&b, &t[0].c);
    size_t n = busiest_close(&b, out);
    ck_assert_uint_lt(n, BUSIEST_SLOTS);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(((struct thing *)out[i].item)->gone, 0);
    busiest_forget(&b, &t[39].c);
    ck_assert_uint_eq(busiest_close(&b, out), 0);
}
END_TEST

START_TEST(forget_keeps_slots_consistent)
{
    /* After a forget moves the last slot into the freed one, hits still land right. */
    static struct thing t[BUSIEST_SLOTS + 4];
    size_t nt = sizeof(t) / sizeof(t[0]);
    struct busiest b;
    struct busiest_entry out[BUSIEST_SLOTS];
    busiest_init(&b);
    for (size_t i = 0; i < nt; i++) {
        t[i].truth = 1;
        busiest_hit(&b, &t[i].c, &t[i]);
    }
    busiest_forget(&b, &t[0].c);
    busiest_forget(&b, &t[3].c);
    t[0].gone = t[3].gone = 1;
    for (size_t round = 0; round < 50; round++)
        for (size_t i = 0; i < nt; i++)
            if (!t[i].gone && (i + round) % 3 == 0) {
                t[i].truth++;
                busiest_hit(&b, &t[i].c, &t[i]);
            }
    size_t n = busiest_close(&b, out);
    ck_assert_uint_eq(n, BUSIEST_SLOTS);
    for (size_t i = 0; i < n; i++) {
        struct thing *x = out[i].item;
        ck_assert_int_eq(x->gone, 0);
        ck_assert_uint_eq(out[i].hits, x->truth);
    }
}
END_TEST

static Suite *busiest_suite(void)
{
    Suite *s = suite_create("busiest");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, exact_against_plain_counts);
    tcase_add_test(tc, few_objects_all_listed);
    tcase_add_test(tc, forgotten_objects_leave);
    tcase_add_test(tc, forget_keeps_slots_consistent);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(busiest_suite)
