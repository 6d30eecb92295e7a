/*
 * Unit tests of cluster_slots.c: CRC16 and key slots against the spec's vector and values
 * CLUSTER KEYSLOT of redis-server 7.0 gave, the hash tag rule, MOVED and ASK errors as Redis
 * writes them (and as it must not), and the slot map: ranges, lookups, coverage and diffs.
 */
#include <stdio.h>
#include <string.h>

#include "cluster_slots.h"
#include "unit.h"

static int slot_of(const char *key)
{
    return cluster_key_slot(key, strlen(key));
}

/* ---- CRC16 and slots ------------------------------------------------------------------------ */

START_TEST(crc16_vectors)
{
    ck_assert_uint_eq(cluster_crc16("123456789", 9), 0x31C3); /* the spec's test vector */
    ck_assert_uint_eq(cluster_crc16("", 0), 0);
    ck_assert_uint_eq(cluster_crc16("A", 1), 0x58E5); /* XMODEM of one byte */
    /* High bytes count as unsigned. */
    ck_assert_uint_ne(cluster_crc16("\xff", 1), cluster_crc16("\x7f", 1));
}
END_TEST

/* Values from CLUSTER KEYSLOT of redis-server 7.0. */
static const struct {
    const char *key;
    int slot;
} keyslots[] = {
    {"foo", 12182},
    {"123456789", 12739},
    {"{user1000}.following", 3443},
    {"{user1000}.followers", 3443},
    {"foo{}{bar}", 8363},    /* empty first tag: the whole key */
    {"foo{{bar}}zap", 4015}, /* the tag is "{bar" */
    {"{bar", 4015},
    {"foo{bar}{zap}", 5061}, /* the first tag only */
    {"bar", 5061},
    {"objcast:{1:L1}:ch", 14058},
    {"", 0},
    {"{}", 15257},
    {"{", 4092},
    {"a{b", 13340},
};

START_TEST(key_slot_values)
{
    ck_assert_msg(slot_of(keyslots[_i].key) == keyslots[_i].slot, "\"%s\": %d, want %d",
                  keyslots[_i].key, slot_of(keyslots[_i].key), keyslots[_i].slot);
}
END_TEST

START_TEST(hash_tags)
{
    ck_assert_int_eq(slot_of("{user1000}.following"), slot_of("{user1000}.followers"));
    ck_assert_int_eq(slot_of("{user1000}.following"), slot_of("user1000"));
    ck_assert_int_eq(slot_of("foo{}{bar}"), cluster_crc16("foo{}{bar}", 10) % CLUSTER_SLOTS);
    ck_assert_int_eq(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    ck_assert_int_eq(slot_of("x{a}y"), slot_of("z{a}"));
    ck_assert_int_eq(slot_of("}{a}"), slot_of("a")); /* a '}' before the '{' is no close */
    ck_assert_int_ne(slot_of("{a"), slot_of("a"));   /* no close: the whole key */
    /* Every object key of the protocol shares its object's slot (PROTOCOL.md section 8). */
    ck_assert_int_eq(slot_of("objcast:{acme:eng%3Aboard}:data"),
                     slot_of("objcast:{acme:eng%3Aboard}:ch"));
    ck_assert_int_eq(slot_of("objcast:{acme:eng%3Aboard}:presence"), slot_of("acme:eng%3Aboard"));
    /* The length is what counts, not a NUL. */
    ck_assert_int_eq(cluster_key_slot("{a}\0b", 5), slot_of("a"));
    ck_assert_int_eq(cluster_key_slot("a\0{b}", 5), slot_of("b"));
    ck_assert_int_eq(cluster_key_slot("{ab}", 2), cluster_crc16("{a", 2) % CLUSTER_SLOTS);
    for (int i = 0; i < 1000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "key:%d", i);
        int s = slot_of(key);
        ck_assert(s >= 0 && s < CLUSTER_SLOTS);
    }
}
END_TEST

/* ---- MOVED and ASK ------------------------------------------------------------------------ */

static const struct {
    const char *text;
    int kind;
    int slot;
    const char *host;
    int port;
} redirects[] = {
    {"MOVED 3999 127.0.0.1:6381", CLUSTER_REDIRECT_MOVED, 3999, "127.0.0.1", 6381},
    {"ASK 3999 127.0.0.1:6381", CLUSTER_REDIRECT_ASK, 3999, "127.0.0.1", 6381},
    {"MOVED 0 redis-1.internal:1", CLUSTER_REDIRECT_MOVED, 0, "redis-1.internal", 1},
    {"MOVED 16383 h_1:65535", CLUSTER_REDIRECT_MOVED, 16383, "h_1", 65535},
    {"MOVED 3999 ::1:7000", CLUSTER_REDIRECT_MOVED, 3999, "::1", 7000},
    {"ASK 12 fe80::1:2:7000", CLUSTER_REDIRECT_ASK, 12, "fe80::1:2", 7000},
    {"MOVED 12 ::ffff:10.0.0.1:7000", CLUSTER_REDIRECT_MOVED, 12, "::ffff:10.0.0.1", 7000},
    {"MOVED 12 [::1]:7000", CLUSTER_REDIRECT_MOVED, 12, "::1", 7000},
    {"MOVED 3999 :6380", CLUSTER_REDIRECT_MOVED, 3999, "", 6380}, /* unknown endpoint */
    {"ASK 1 :6380", CLUSTER_REDIRECT_ASK, 1, "", 6380},
};

START_TEST(redirect_ok)
{
    struct cluster_redirect r;
    const char *err = NULL;
    const char *text = redirects[_i].text;
    int rc = cluster_redirect_parse(text, strlen(text), &r, &err);
    ck_assert_msg(rc == redirects[_i].kind, "%s: %d (%s)", text, rc, err ? err : "-");
    ck_assert_int_eq(r.kind, redirects[_i].kind);
    ck_assert_int_eq(r.slot, redirects[_i].slot);
    ck_assert_str_eq(r.host, redirects[_i].host);
    ck_assert_int_eq(r.port, redirects[_i].port);
}
END_TEST

/* Not redirects at all: left to the caller, *out untouched. */
static const char *const not_redirects[] = {
    "",
    "ERR unknown command 'FOO'",
    "CROSSSLOT Keys in request don't hash to the same slot",
    "CLUSTERDOWN The cluster is down",
    "TRYAGAIN Multiple keys request during rehashing of slot",
    "MOVED", /* no space: not the MOVED error's shape */
    "ASK",
    "moved 1 h:1", /* Redis writes it upper-case */
    "ASKING",
    "MOVEDX 1 h:1",
};

START_TEST(redirect_none)
{
    struct cluster_redirect r;
    memset(&r, 0x5a, sizeof(r));
    const char *err = NULL;
    const char *text = not_redirects[_i];
    ck_assert_int_eq(cluster_redirect_parse(text, strlen(text), &r, &err), CLUSTER_REDIRECT_NONE);
    ck_assert_ptr_null(err);
    ck_assert_int_eq(r.slot, 0x5a5a5a5a);
}
END_TEST

static const struct {
    const char *text;
    const char *err;
} bad_redirects[] = {
    {"MOVED ", "slot must be a number from 0 to 16383"},
    {"MOVED 3999", "slot must be a number from 0 to 16383"},
    {"MOVED 16384 h:1", "slot must be a number from 0 to 16383"},
    {"MOVED -1 h:1", "slot must be a number from 0 to 16383"},
    {"MOVED +1 h:1", "slot must be a number from 0 to 16383"},
    {"MOVED 1x h:1", "slot must be a number from 0 to 16383"},
    {"MOVED  1 h:1", "slot must be a number from 0 to 16383"},
    {"MOVED 99999999999999999999 h:1", "slot must be a number from 0 to 16383"},
    {"MOVED 1 ", "expected host:port after the slot"},
    {"MOVED 1 h", "expected host:port after the slot"},
    {"MOVED 1 h:", "port must be a number from 1 to 65535"},
    {"MOVED 1 h:0", "port must be a number from 1 to 65535"},
    {"MOVED 1 h:65536", "port must be a number from 1 to 65535"},
    {"MOVED 1 h:63x79", "port must be a number from 1 to 65535"},
    {"MOVED 1 h:-1", "port must be a number from 1 to 65535"},
    {"MOVED 1 ::1:", "port must be a number from 1 to 65535"},
    {"MOVED 1 h:1 ", "unexpected space or control character after the slot"},
    {"MOVED 1 h :1", "unexpected space or control character after the slot"},
    {"MOVED 1 h:1\r\n", "unexpected space or control character after the slot"},
    {"ASK 1 h\t:1", "unexpected space or control character after the slot"},
    {"MOVED 1 ?:7000", "the node's endpoint is unknown (?)"},
    {"MOVED 1 h/x:1", "bad host"},
    {"MOVED 1 []:1", "bad host"},
    {"MOVED 1 [::1:1", "bad host"},
    {"MOVED 1 zz::1:1", "bad host"},
    {"MOVED 1 a:b:1", "bad host"},
};

START_TEST(redirect_malformed)
{
    struct cluster_redirect r;
    memset(&r, 0x5a, sizeof(r));
    const char *err = NULL;
    const char *text = bad_redirects[_i].text;
    int rc = cluster_redirect_parse(text, strlen(text), &r, &err);
    ck_assert_msg(rc == -1, "%s: %d", text, rc);
    ck_assert_pstr_eq(err, bad_redirects[_i].err);
    ck_assert_int_eq(r.slot, 0x5a5a5a5a);
}
END_TEST

START_TEST(redirect_edges)
{
    struct cluster_redirect r;
    const char *err = NULL;
    /* The length bounds the text: what follows is not read. */
    ck_assert_int_eq(cluster_redirect_parse("MOVED 7 h:12345", 12, &r, &err),
                     CLUSTER_REDIRECT_MOVED);
    ck_assert_int_eq(r.port, 12);
    /* The longest host there is room for, and one byte more. */
    char text[CLUSTER_HOST_MAX + 32], host[CLUSTER_HOST_MAX + 2];
    memset(host, 'a', sizeof(host));
    host[CLUSTER_HOST_MAX] = '\0';
    snprintf(text, sizeof(text), "MOVED 1 %s:1", host);
    ck_assert_int_eq(cluster_redirect_parse(text, strlen(text), &r, &err), CLUSTER_REDIRECT_MOVED);
    ck_assert_str_eq(r.host, host);
    host[CLUSTER_HOST_MAX] = 'a';
    host[CLUSTER_HOST_MAX + 1] = '\0';
    snprintf(text, sizeof(text), "MOVED 1 %s:1", host);
    ck_assert_int_eq(cluster_redirect_parse(text, strlen(text), &r, &err), -1);
    ck_assert_str_eq(err, "host too long");
}
END_TEST

/* ---- the slot map -------------------------------------------------------------------------- */

/* Three masters splitting the slots as redis-cli --cluster create does. */
static struct cluster_slots *three_masters(void)
{
    struct cluster_slots *m = cluster_slots_new();
    const char *err = NULL;
    ck_assert_int_eq(cluster_slots_add_range(m, 0, 5460, "10.0.0.1", 7000, &err), 0);
    ck_assert_int_eq(cluster_slots_add_range(m, 5461, 10922, "10.0.0.2", 7000, &err), 1);
    ck_assert_int_eq(cluster_slots_add_range(m, 10923, 16383, "10.0.0.3", 7000, &err), 2);
    return m;
}

START_TEST(map_empty)
{
    struct cluster_slots *m = cluster_slots_new();
    ck_assert_int_eq(m->nnodes, 0);
    int first = -1;
    ck_assert_int_eq(cluster_slots_covered(m, &first), 0);
    ck_assert_int_eq(first, 0);
    ck_assert_ptr_null(cluster_slots_lookup(m, 0));
    ck_assert_ptr_null(cluster_slots_lookup(m, 16383));
    ck_assert_int_eq(cluster_slots_find_node(m, "h", 1), -1);
    ck_assert_int_eq(cluster_slots_diff(NULL, m, NULL), 0);
    cluster_slots_free(m);
    cluster_slots_free(NULL);
}
END_TEST

START_TEST(map_build_and_lookup)
{
    struct cluster_slots *m = three_masters();
    ck_assert_int_eq(m->nnodes, 3);
    ck_assert(cluster_slots_covered(m, NULL));
    const struct cluster_node *n = cluster_slots_lookup(m, 0);
    ck_assert_str_eq(n->host, "10.0.0.1");
    ck_assert_int_eq(n->port, 7000);
    ck_assert_int_eq(n->index, 0);
    ck_assert_int_eq(cluster_slots_lookup(m, 5460)->index, 0);
    ck_assert_int_eq(cluster_slots_lookup(m, 5461)->index, 1);
    ck_assert_int_eq(cluster_slots_lookup(m, 12182)->index, 2);
    ck_assert_int_eq(cluster_slots_lookup(m, slot_of("foo"))->index, 2);
    ck_assert_ptr_null(cluster_slots_lookup(m, -1));
    ck_assert_ptr_null(cluster_slots_lookup(m, CLUSTER_SLOTS));
    ck_assert_int_eq(cluster_slots_find_node(m, "10.0.0.2", 7000), 1);
    ck_assert_int_eq(cluster_slots_find_node(m, "10.0.0.2", 7001), -1);
    /* A node that comes back is the same node, whatever the case of its name. */
    const char *err = NULL;
    ck_assert_int_eq(cluster_slots_add_range(m, 1, 1, "10.0.0.3", 7000, &err), 2);
    ck_assert_int_eq(cluster_slots_lookup(m, 1)->index, 2);
    ck_assert_int_eq(cluster_slots_add_range(m, 2, 3, "Redis-A", 7000, &err), 3);
    ck_assert_int_eq(cluster_slots_add_range(m, 4, 4, "redis-a", 7000, &err), 3);
    ck_assert_int_eq(m->nnodes, 4);
    cluster_slots_free(m);
}
END_TEST

START_TEST(map_coverage)
{
    struct cluster_slots *m = cluster_slots_new();
    const char *err = NULL;
    int first = -1;
    ck_assert_int_eq(cluster_slots_add_range(m, 0, 16382, "h", 1, &err), 0);
    ck_assert_int_eq(cluster_slots_covered(m, &first), 0);
    ck_assert_int_eq(first, 16383);
    ck_assert_int_eq(cluster_slots_add_range(m, 16383, 16383, "h2", 1, &err), 1);
    ck_assert_int_eq(cluster_slots_covered(m, &first), 1);
    /* A hole in the middle. */
    cluster_slots_free(m);
    m = cluster_slots_new();
    ck_assert_int_eq(cluster_slots_add_range(m, 0, 99, "h", 1, &err), 0);
    ck_assert_int_eq(cluster_slots_add_range(m, 101, 16383, "h", 1, &err), 0);
    ck_assert_int_eq(cluster_slots_covered(m, &first), 0);
    ck_assert_int_eq(first, 100);
    cluster_slots_free(m);
}
END_TEST

static const struct {
    int lo, hi;
    const char *host;
    int port;
    const char *err;
} bad_ranges[] = {
    {-1, 5, "h", 1, "slot range must be within 0..16383, start <= end"},
    {0, 16384, "h", 1, "slot range must be within 0..16383, start <= end"},
    {6, 5, "h", 1, "slot range must be within 0..16383, start <= end"},
    {0, 1, "", 1, "host must be 1 to 255 characters"},
    {0, 1, "h st", 1, "bad host"},
    {0, 1, "[::1]", 1, "bad host"},
    {0, 1, "?", 1, "bad host"},
    {0, 1, "a:b", 1, "bad host"},
    {0, 1, "h", 0, "port must be between 1 and 65535"},
    {0, 1, "h", 65536, "port must be between 1 and 65535"},
};

START_TEST(map_bad_range)
{
    struct cluster_slots *m = three_masters();
    const char *err = NULL;
    ck_assert_int_eq(cluster_slots_add_range(m, bad_ranges[_i].lo, bad_ranges[_i].hi,
                                             bad_ranges[_i].host, bad_ranges[_i].port, &err),
                     -1);
    ck_assert_pstr_eq(err, bad_ranges[_i].err);
    /* Nothing changed. */
    ck_assert_int_eq(m->nnodes, 3);
    ck_assert_int_eq(cluster_slots_lookup(m, 0)->index, 0);
    ck_assert(cluster_slots_covered(m, NULL));
    cluster_slots_free(m);
}
END_TEST

START_TEST(map_diff)
{
    struct cluster_slots *a = three_masters();
    struct cluster_slots *b = three_masters();
    static int out[CLUSTER_SLOTS];
    const char *err = NULL;

    /* Same layout: nothing moved. */
    ck_assert_int_eq(cluster_slots_diff(a, b, out), 0);
    ck_assert_int_eq(cluster_slots_diff(a, a, NULL), 0);

    /* A failover: a replica takes over the second master's slots. */
    ck_assert_int_eq(cluster_slots_add_range(b, 5461, 10922, "10.0.0.5", 7000, &err), 3);
    ck_assert_int_eq(cluster_slots_diff(a, b, NULL), 10922 - 5461 + 1);
    ck_assert_int_eq(cluster_slots_diff(a, b, out), 10922 - 5461 + 1);
    ck_assert_int_eq(out[0], 5461);
    ck_assert_int_eq(out[10922 - 5461], 10922);
    ck_assert_int_eq(cluster_slots_diff(b, a, NULL), 10922 - 5461 + 1);

    /* One slot migrated, by a MOVED. */
    ck_assert_int_eq(cluster_slots_add_range(b, 12182, 12182, "10.0.0.1", 7000, &err), 0);
    ck_assert_int_eq(cluster_slots_diff(a, b, out), 10922 - 5461 + 2);
    ck_assert_int_eq(out[10922 - 5461 + 1], 12182);

    /* The same host:port under another index is no change. */
    struct cluster_slots *c = cluster_slots_new();
    ck_assert_int_eq(cluster_slots_add_range(c, 10923, 16383, "10.0.0.3", 7000, &err), 0);
    ck_assert_int_eq(cluster_slots_add_range(c, 5461, 10922, "10.0.0.2", 7000, &err), 1);
    ck_assert_int_eq(cluster_slots_add_range(c, 0, 5460, "10.0.0.1", 7000, &err), 2);
    ck_assert_int_eq(cluster_slots_diff(a, c, out), 0);

    /* A port is part of the node. */
    ck_assert_int_eq(cluster_slots_add_range(c, 100, 100, "10.0.0.1", 7001, &err), 3);
    ck_assert_int_eq(cluster_slots_diff(a, c, out), 1);
    ck_assert_int_eq(out[0], 100);

    /* Served in one map only counts both ways; no map before: every served slot. */
    struct cluster_slots *d = cluster_slots_new();
    ck_assert_int_eq(cluster_slots_add_range(d, 0, 9, "10.0.0.1", 7000, &err), 0);
    ck_assert_int_eq(cluster_slots_diff(a, d, NULL), CLUSTER_SLOTS - 10);
    ck_assert_int_eq(cluster_slots_diff(d, a, out), CLUSTER_SLOTS - 10);
    ck_assert_int_eq(out[0], 10);
    ck_assert_int_eq(cluster_slots_diff(NULL, d, out), 10);
    ck_assert_int_eq(out[9], 9);
    ck_assert_int_eq(cluster_slots_diff(NULL, a, NULL), CLUSTER_SLOTS);

    cluster_slots_free(a);
    cluster_slots_free(b);
    cluster_slots_free(c);
    cluster_slots_free(d);
}
END_TEST

/* Many masters: the node table grows and every index stays where it was. */
START_TEST(map_many_nodes)
{
    struct cluster_slots *m = cluster_slots_new();
    const char *err = NULL;
    for (int i = 0; i < 1000; i++) {
        char host[32];
        snprintf(host, sizeof(host), "node-%d", i);
        ck_assert_int_eq(cluster_slots_add_range(m, i * 16, i * 16 + 15, host, 6379, &err), i);
    }
    ck_assert_int_eq(m->nnodes, 1000);
    ck_assert_str_eq(cluster_slots_lookup(m, 16 * 999)->host, "node-999");
    ck_assert_str_eq(cluster_slots_lookup(m, 17)->host, "node-1");
    for (int i = 0; i < m->nnodes; i++)
        ck_assert_int_eq(m->nodes[i].index, i);
    cluster_slots_free(m);
}
END_TEST

static Suite *cluster_slots_suite(void)
{
    Suite *s = suite_create("cluster_slots");

    TCase *tc = tcase_create("slots");
    tcase_add_test(tc, crc16_vectors);
    tcase_add_loop_test(tc, key_slot_values, 0, sizeof(keyslots) / sizeof(keyslots[0]));
    tcase_add_test(tc, hash_tags);
    suite_add_tcase(s, tc);

    tc = tcase_create("redirects");
    tcase_add_loop_test(tc, redirect_ok, 0, sizeof(redirects) / sizeof(redirects[0]));
    tcase_add_loop_test(tc, redirect_none, 0, sizeof(not_redirects) / sizeof(not_redirects[0]));
    tcase_add_loop_test(tc, redirect_malformed, 0,
                        sizeof(bad_redirects) / sizeof(bad_redirects[0]));
    tcase_add_test(tc, redirect_edges);
    suite_add_tcase(s, tc);

    tc = tcase_create("map");
    tcase_add_test(tc, map_empty);
    tcase_add_test(tc, map_build_and_lookup);
    tcase_add_test(tc, map_coverage);
    tcase_add_loop_test(tc, map_bad_range, 0, sizeof(bad_ranges) / sizeof(bad_ranges[0]));
    tcase_add_test(tc, map_diff);
    tcase_add_test(tc, map_many_nodes);
    suite_add_tcase(s, tc);

    return s;
}

UNIT_MAIN(cluster_slots_suite)
