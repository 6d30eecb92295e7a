/*
 * Unit tests of redis_cluster_map.c: CLUSTER SLOTS replies written as RESP and read by
 * hiredis's own reader (the shapes Redis 7 sends, unknown endpoints, and malformed ones), then
 * a real two-node cluster of redis-server processes: its CLUSTER SLOTS read over redis_conn
 * becomes a covered map, and an SSUBSCRIBE to the other node's slot is answered with a MOVED
 * that names what the map says. The live part is left out when redis-server is missing.
 */
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "buf.h"
#include "cluster_slots.h"
#include "conf.h"
#include "log.h"
#include "redis_child.h"
#include "redis_cluster_map.h"
#include "redis_conn.h"
#include "unit.h"

/* ---- replies written as RESP --------------------------------------------------------------- */

/* A reply being written: RESP text that hiredis's reader turns into a redisReply. */
static struct buf resp;

static void arr(int n)
{
    buf_printf(&resp, "*%d\r\n", n);
}
static void num(long long v)
{
    buf_printf(&resp, ":%lld\r\n", v);
}
static void str(const char *s)
{
    buf_printf(&resp, "$%zu\r\n%s\r\n", strlen(s), s);
}
static void nil(void)
{
    buf_append_str(&resp, "$-1\r\n");
}

/* One node entry as Redis 7 writes it: host, port, id, and the metadata array. */
static void node(const char *host, int port)
{
    arr(4);
    if (host)
        str(host);
    else
        nil();
    num(port);
    str("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca");
    arr(0);
}

/* Parses what was written and starts the next reply. The reply is the caller's. */
static redisReply *parsed(void)
{
    redisReader *rd = redisReaderCreate();
    ck_assert_int_eq(redisReaderFeed(rd, resp.p, resp.len), REDIS_OK);
    void *reply = NULL;
    ck_assert_int_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
    ck_assert_ptr_nonnull(reply);
    redisReaderFree(rd);
    buf_reset(&resp);
    return reply;
}

/* Three masters with a replica each, as redis-cli --cluster create lays them out. */
START_TEST(three_masters)
{
    arr(3);
    int ports[] = {30001, 30002, 30003};
    int bounds[][2] = {{0, 5460}, {5461, 10922}, {10923, 16383}};
    for (int i = 0; i < 3; i++) {
        arr(4);
        num(bounds[i][0]);
        num(bounds[i][1]);
        node("127.0.0.1", ports[i]);
        node("127.0.0.1", ports[i] + 3);
    }
    redisReply *r = parsed();
    const char *err = NULL;
    struct cluster_slots *m = cluster_slots_from_reply(r, "seed", &err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(m->nnodes, 3); /* masters only */
    ck_assert(cluster_slots_covered(m, NULL));
    ck_assert_int_eq(cluster_slots_lookup(m, 0)->port, 30001);
    ck_assert_int_eq(cluster_slots_lookup(m, 5461)->port, 30002);
    ck_assert_int_eq(cluster_slots_lookup(m, 12182)->port, 30003);
    ck_assert_str_eq(cluster_slots_lookup(m, 12182)->host, "127.0.0.1");
    cluster_slots_free(m);
    freeReplyObject(r);
}
END_TEST

/* A master with ranges that are not next to each other is one node; the entries of older
 * Redis versions (no metadata, even no id) are fine. */
START_TEST(split_ranges_and_short_entries)
{
    arr(3);
    arr(3), num(0), num(99), node("redis-a.internal", 6379);
    arr(3), num(100), num(16283), arr(2), str("::1"), num(7000);
    arr(3), num(16284), num(16383), arr(3), str("redis-a.internal"), num(6379), str("id");
    redisReply *r = parsed();
    const char *err = NULL;
    struct cluster_slots *m = cluster_slots_from_reply(r, "seed", &err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(m->nnodes, 2);
    ck_assert(cluster_slots_covered(m, NULL));
    ck_assert_int_eq(cluster_slots_lookup(m, 16383)->index, cluster_slots_lookup(m, 0)->index);
    ck_assert_str_eq(cluster_slots_lookup(m, 100)->host, "::1");
    cluster_slots_free(m);
    freeReplyObject(r);
}
END_TEST

/* A nil endpoint (cluster-preferred-endpoint-type unknown-endpoint) and an empty one (a
 * node alone in its cluster) mean the host CLUSTER SLOTS was sent to. */
START_TEST(unknown_endpoints)
{
    arr(2);
    arr(3), num(0), num(8191), node(NULL, 7001);
    arr(3), num(8192), num(16383), node("", 7002);
    redisReply *r = parsed();
    const char *err = NULL;
    struct cluster_slots *m = cluster_slots_from_reply(r, "10.1.2.3", &err);
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_str_eq(cluster_slots_lookup(m, 0)->host, "10.1.2.3");
    ck_assert_int_eq(cluster_slots_lookup(m, 0)->port, 7001);
    ck_assert_str_eq(cluster_slots_lookup(m, 16383)->host, "10.1.2.3");
    ck_assert_int_eq(cluster_slots_lookup(m, 16383)->port, 7002);
    cluster_slots_free(m);
    /* Without a host to stand in, the map cannot be made. */
    ck_assert_ptr_null(cluster_slots_from_reply(r, NULL, &err));
    ck_assert_str_eq(err, "a master's endpoint is unknown and so is the node asked");
    freeReplyObject(r);
}
END_TEST

/* A node with no slots yet answers an empty array: an empty map, the caller sees it is not
 * covered. */
START_TEST(no_slots)
{
    arr(0);
    redisReply *r = parsed();
    const char *err = NULL;
    struct cluster_slots *m = cluster_slots_from_reply(r, "seed", &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->nnodes, 0);
    int first = -1;
    ck_assert(!cluster_slots_covered(m, &first));
    ck_assert_int_eq(first, 0);
    cluster_slots_free(m);
    freeReplyObject(r);
}
END_TEST

/* Each writes one malformed reply; all are refused with their reason. */
static void bad_not_array(void)
{
    buf_append_str(&resp, "+OK\r\n");
}
static void bad_error(void)
{
    buf_append_str(&resp, "-ERR This instance has cluster support disabled\r\n");
}
static void bad_range_not_array(void)
{
    arr(1), num(5);
}
static void bad_range_short(void)
{
    arr(1), arr(2), num(0), num(5);
}
static void bad_start_after_end(void)
{
    arr(1), arr(3), num(6), num(5), node("h", 1);
}
static void bad_end_too_big(void)
{
    arr(1), arr(3), num(0), num(16384), node("h", 1);
}
static void bad_start_negative(void)
{
    arr(1), arr(3), num(-1), num(5), node("h", 1);
}
static void bad_start_string(void)
{
    arr(1), arr(3), str("0"), num(5), node("h", 1);
}
static void bad_master_not_array(void)
{
    arr(1), arr(3), num(0), num(5), str("h:1");
}
static void bad_master_short(void)
{
    arr(1), arr(3), num(0), num(5), arr(1), str("h");
}
static void bad_port_zero(void)
{
    arr(1), arr(3), num(0), num(5), node("h", 0);
}
static void bad_port_big(void)
{
    arr(1), arr(3), num(0), num(5), node("h", 65536);
}
static void bad_port_string(void)
{
    arr(1), arr(3), num(0), num(5), arr(2), str("h"), str("7000");
}
static void bad_host_integer(void)
{
    arr(1), arr(3), num(0), num(5), arr(2), num(1), num(7000);
}
static void bad_host_space(void)
{
    arr(1), arr(3), num(0), num(5), node("h st", 7000);
}
static void bad_host_question(void)
{
    arr(1), arr(3), num(0), num(5), node("?", 7000);
}
static void bad_host_nul(void)
{
    arr(1), arr(3), num(0), num(5), arr(2);
    buf_append(&resp, "$3\r\nh\0x\r\n", 9);
    num(7000);
}
static void bad_overlap(void)
{
    arr(2);
    arr(3), num(0), num(100), node("h1", 1);
    arr(3), num(100), num(200), node("h2", 1);
}
static void bad_overlap_same_node(void)
{
    arr(2);
    arr(3), num(0), num(100), node("h1", 1);
    arr(3), num(50), num(60), node("h1", 1);
}

static const struct {
    void (*write)(void);
    const char *err;
} bad[] = {
    {bad_not_array, "CLUSTER SLOTS answered something other than an array"},
    {bad_error, "CLUSTER SLOTS refused (not a cluster node?)"},
    {bad_range_not_array, "a range is not [start, end, master, ...]"},
    {bad_range_short, "a range is not [start, end, master, ...]"},
    {bad_start_after_end, "a range's slots are not start <= end within 0..16383"},
    {bad_end_too_big, "a range's slots are not start <= end within 0..16383"},
    {bad_start_negative, "a range's slots are not start <= end within 0..16383"},
    {bad_start_string, "a range's slots are not start <= end within 0..16383"},
    {bad_master_not_array, "a master is not [host, port, ...]"},
    {bad_master_short, "a master is not [host, port, ...]"},
    {bad_port_zero, "a master's port is not 1..65535"},
    {bad_port_big, "a master's port is not 1..65535"},
    {bad_port_string, "a master's port is not 1..65535"},
    {bad_host_integer, "a master's host is not a string"},
    {bad_host_space, "bad host"},
    {bad_host_question, "a master's endpoint is unknown (?)"},
    {bad_host_nul, "bad host"},
    {bad_overlap, "ranges overlap"},
    {bad_overlap_same_node, "ranges overlap"},
};

static void reset_resp(void)
{
    buf_reset(&resp);
}

START_TEST(malformed)
{
    bad[_i].write();
    redisReply *r = parsed();
    const char *err = NULL;
    ck_assert_ptr_null(cluster_slots_from_reply(r, "seed", &err));
    ck_assert_pstr_eq(err, bad[_i].err);
    freeReplyObject(r);
}
END_TEST

START_TEST(no_reply)
{
    const char *err = NULL;
    ck_assert_ptr_null(cluster_slots_from_reply(NULL, "seed", &err));
    ck_assert_str_eq(err, "no reply");
}
END_TEST

/* ---- a real cluster of two nodes ------------------------------------------------------------- */

static struct redis_child node_a, node_b;
static int bus_a, bus_b; /* their cluster bus ports */
static redisContext *sync_a, *sync_b;
static struct event_base *evbase;
static struct conf conf;

static int64_t mono_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void run_until(int64_t ms, const int *done)
{
    int64_t deadline = mono_ms() + ms;
    while (!*done && mono_ms() < deadline)
        event_base_loop(evbase, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(500);
}

/* A cluster-enabled redis-server, with its bus on a free port of its own (the default, port
 * + 10000, may be past 65535 for a port picked from the ephemeral range). */
static void start_node(struct redis_child *r, redisContext **sync, int *bus_port)
{
    char bus[16];
    *bus_port = redis_child_free_port();
    snprintf(bus, sizeof(bus), "%d", *bus_port);
    const char *extra[] = {"--cluster-enabled", "yes", "--cluster-port", bus, NULL};
    redis_child_start_args(r, extra);
    struct timeval tv = {2, 0};
    *sync = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!*sync || (*sync)->err) {
        fprintf(stderr, "cannot connect to redis-server on port %d\n", r->port);
        exit(EXIT_FAILURE);
    }
}

static void sync_ok(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, cmd);
    ck_assert_msg(r && r->type == REDIS_REPLY_STATUS, "%s: %s", cmd, r ? r->str : c->errstr);
    freeReplyObject(r);
}

/* sync_ok() before the suite runs, where a failure ends the program. */
static void add_slots(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, cmd);
    if (!r || r->type != REDIS_REPLY_STATUS) {
        fprintf(stderr, "%s: %s\n", cmd, r ? r->str : c->errstr);
        exit(EXIT_FAILURE);
    }
    freeReplyObject(r);
}

/* What a redis_conn command answered, copied out of the callback. */
static struct cluster_slots *got_map;
static const char *got_err;
static int got;

static void on_slots(struct redis_conn *rc, redisReply *r, void *privdata)
{
    got_map = cluster_slots_from_reply(r, "127.0.0.1", &got_err);
    got = 1;
}

static int ups;
static void on_state(struct redis_conn *rc, int up, void *privdata)
{
    ups += up;
}

/* CLUSTER SLOTS sent to node r over a redis_conn of a cluster conf. */
static struct cluster_slots *slots_of(struct redis_child *r)
{
    ups = 0;
    struct redis_conn *rc =
        redis_conn_new_at(evbase, &conf, "127.0.0.1", r->port, "slots", 0, on_state, NULL, NULL);
    run_until(5000, &ups);
    ck_assert_msg(ups == 1, "no connection to port %d", r->port);
    const char *argv[] = {"CLUSTER", "SLOTS"};
    size_t lens[] = {7, 5};
    got = 0;
    got_map = NULL;
    ck_assert_int_eq(redis_conn_command(rc, on_slots, NULL, 2, argv, lens), 0);
    run_until(3000, &got);
    ck_assert_int_eq(got, 1);
    redis_conn_free(rc);
    ck_assert_msg(got_map != NULL, "%s", got_err);
    return got_map;
}

/* A node alone, before it meets the other: it does not know its own address and says "". */
START_TEST(live_single_node)
{
    struct cluster_slots *m = slots_of(&node_a);
    ck_assert(cluster_slots_covered(m, NULL) == 0);
    ck_assert_int_eq(m->nnodes, 1);
    ck_assert_str_eq(cluster_slots_lookup(m, 0)->host, "127.0.0.1");
    ck_assert_int_eq(cluster_slots_lookup(m, 0)->port, node_a.port);
    ck_assert_ptr_null(cluster_slots_lookup(m, 8192));
    cluster_slots_free(m);
}
END_TEST

/* After MEET, both nodes tell the same map, and it covers every slot. */
static void wait_cluster_ok(void)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "CLUSTER MEET 127.0.0.1 %d %d", node_b.port, bus_b);
    sync_ok(sync_a, cmd);
    int64_t deadline = mono_ms() + 20000;
    int ok = 0;
    while (!ok && mono_ms() < deadline) {
        ok = 1;
        redisContext *cs[] = {sync_a, sync_b};
        for (int i = 0; i < 2; i++) {
            redisReply *r = redisCommand(cs[i], "CLUSTER INFO");
            ok = ok && r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") &&
                 strstr(r->str, "cluster_known_nodes:2");
            freeReplyObject(r);
        }
        if (!ok)
            usleep(50 * 1000);
    }
    ck_assert_msg(ok, "the two nodes did not form a cluster");
}

static struct redis_conn *sub;
static int sub_replies;
static char sub_last[512];
static int sub_last_type;

static void on_sub(struct redis_conn *rc, redisReply *r, void *privdata)
{
    sub_replies++;
    sub_last_type = r->type;
    if (r->type == REDIS_REPLY_ERROR)
        snprintf(sub_last, sizeof(sub_last), "%s", r->str);
    else if (r->type == REDIS_REPLY_ARRAY && r->elements >= 3 &&
             r->element[2]->type == REDIS_REPLY_STRING)
        snprintf(sub_last, sizeof(sub_last), "%s %s %s", r->element[0]->str, r->element[1]->str,
                 r->element[2]->str);
    else if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2)
        snprintf(sub_last, sizeof(sub_last), "%s %s", r->element[0]->str, r->element[1]->str);
}

static void ssubscribe(const char *channel)
{
    const char *argv[] = {"SSUBSCRIBE", channel};
    size_t lens[] = {10, strlen(channel)};
    int before = sub_replies;
    ck_assert_int_eq(redis_conn_command(sub, NULL, NULL, 2, argv, lens), 0);
    int64_t deadline = mono_ms() + 3000;
    while (sub_replies == before && mono_ms() < deadline)
        event_base_loop(evbase, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(500);
    ck_assert_int_gt(sub_replies, before);
}

START_TEST(live_two_nodes)
{
    wait_cluster_ok();

    /* Both nodes give the same covered map. */
    struct cluster_slots *a = slots_of(&node_a);
    struct cluster_slots *b = slots_of(&node_b);
    int first = -1;
    ck_assert_msg(cluster_slots_covered(a, &first), "slot %d not covered", first);
    ck_assert_int_eq(a->nnodes, 2);
    ck_assert_int_eq(cluster_slots_diff(a, b, NULL), 0);
    ck_assert_int_eq(cluster_slots_lookup(a, 0)->port, node_a.port);
    ck_assert_int_eq(cluster_slots_lookup(a, 16383)->port, node_b.port);

    /* The map built by hand from what the nodes were given is the same. */
    struct cluster_slots *want = cluster_slots_new();
    const char *err = NULL;
    ck_assert_int_ge(cluster_slots_add_range(want, 0, 8191, "127.0.0.1", node_a.port, &err), 0);
    ck_assert_int_ge(cluster_slots_add_range(want, 8192, 16383, "127.0.0.1", node_b.port, &err), 0);
    ck_assert_int_eq(cluster_slots_diff(want, a, NULL), 0);

    /* Sharded pub/sub on node A: a channel of its own slots is subscribed... */
    ups = 0;
    sub = redis_conn_new_at(evbase, &conf, "127.0.0.1", node_a.port, "sub", 1, on_state, on_sub,
                            NULL);
    run_until(5000, &ups);
    ck_assert_int_eq(ups, 1);
    const char *ours = "objcast:{1:L3}:ch";   /* slot 5800: node A's */
    const char *theirs = "objcast:{1:L1}:ch"; /* slot 14058: node B's */
    ck_assert_int_eq(cluster_key_slot(ours, strlen(ours)), 5800);
    ck_assert_int_eq(cluster_key_slot(theirs, strlen(theirs)), 14058);
    ssubscribe(ours);
    ck_assert_int_eq(sub_last_type, REDIS_REPLY_ARRAY);
    ck_assert_msg(strncmp(sub_last, "ssubscribe ", 11) == 0, "%s", sub_last);
    redisReply *r = redisCommand(sync_a, "SPUBLISH %s %s", ours, "hello");
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
    int before = sub_replies;
    int64_t deadline = mono_ms() + 3000;
    while (sub_replies == before && mono_ms() < deadline)
        event_base_loop(evbase, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(500);
    char want_msg[128];
    snprintf(want_msg, sizeof(want_msg), "smessage %s hello", ours);
    ck_assert_str_eq(sub_last, want_msg);

    /* ...and one of node B's slots is answered with a MOVED naming what the map says. */
    ssubscribe(theirs);
    ck_assert_int_eq(sub_last_type, REDIS_REPLY_ERROR);
    struct cluster_redirect redirect;
    ck_assert_int_eq(cluster_redirect_parse(sub_last, strlen(sub_last), &redirect, &err),
                     CLUSTER_REDIRECT_MOVED);
    ck_assert_int_eq(redirect.slot, 14058);
    const struct cluster_node *owner = cluster_slots_lookup(a, redirect.slot);
    ck_assert_int_eq(redirect.port, owner->port);
    ck_assert_str_eq(redirect.host, owner->host);

    redis_conn_free(sub);
    sub = NULL;
    cluster_slots_free(want);
    cluster_slots_free(a);
    cluster_slots_free(b);
}
END_TEST

static Suite *redis_cluster_map_suite(int live)
{
    Suite *s = suite_create("redis_cluster_map");
    TCase *tc = tcase_create("replies");
    tcase_add_checked_fixture(tc, reset_resp, NULL);
    tcase_add_test(tc, three_masters);
    tcase_add_test(tc, split_ranges_and_short_entries);
    tcase_add_test(tc, unknown_endpoints);
    tcase_add_test(tc, no_slots);
    tcase_add_loop_test(tc, malformed, 0, sizeof(bad) / sizeof(bad[0]));
    tcase_add_test(tc, no_reply);
    suite_add_tcase(s, tc);

    if (live) {
        /* In this order: the single node is looked at before it meets the other. */
        tc = tcase_create("live");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, live_single_node);
        tcase_add_test(tc, live_two_nodes);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    int live = redis_child_available();
    if (live) {
        log_set_level(LOG_LEVEL_ERROR);
        start_node(&node_a, &sync_a, &bus_a);
        start_node(&node_b, &sync_b, &bus_b);
        add_slots(sync_a, "CLUSTER ADDSLOTSRANGE 0 8191");
        add_slots(sync_b, "CLUSTER ADDSLOTSRANGE 8192 16383");
        evbase = event_base_new();
        conf_init(&conf);
        char *yes[] = {"yes"};
        struct buf err = {0};
        if (conf_set(&conf, "redis_cluster", 1, yes, "test", 1, &err) != 0) {
            fprintf(stderr, "%s\n", err.p);
            return EXIT_FAILURE;
        }
    } else {
        fprintf(stderr, "redis-server not found: the live cluster tests are left out\n");
    }
    /* The live cases keep a loop and connections in this process. */
    int failed = unit_run(redis_cluster_map_suite(live), live ? CK_NOFORK : CK_FORK_GETENV);
    if (live) {
        redisFree(sync_a);
        redisFree(sync_b);
        redis_child_stop(&node_a);
        redis_child_stop(&node_b);
        conf_free(&conf);
        event_base_free(evbase);
    }
    buf_free(&resp);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
