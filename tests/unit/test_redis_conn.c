/*
 * redis_conn.c against a real redis-server (7.0 or later for sharded pub/sub): a connection to
 * an explicit host and port with conf's password, no SELECT in cluster mode, and a subscriber
 * connection that hands every push to on_message in order: plain and sharded pub/sub side by
 * side (hiredis 0.14's async API aborts the process on the first smessage after a lone
 * SSUBSCRIBE), error replies, a reconnect, and a connection freed from its own on_message.
 * Skipped (exit 77) when redis-server is not installed.
 */
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "redis_child.h"
#include "redis_conn.h"
#include "unit.h"

static struct event_base *evbase;
static struct redis_child redis;
static redisContext *sync_redis; /* the test's own blocking connection */

/* What the callbacks saw; static, since a failed check leaves a case at once. */
static struct conf conf;
static struct redis_conn *RC;
static int ups, downs;
static struct buf seen; /* on_message's replies, one line each: "type a b c" */
static int nseen;
static int free_on_message; /* on_message frees RC at its first message */

static int64_t mono_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Runs the loop for ms, or until *done >= want when done is not NULL. */
static void run_until(int64_t ms, const int *done, int want)
{
    int64_t deadline = mono_ms() + ms;
    while ((!done || *done < want) && mono_ms() < deadline)
        event_base_loop(evbase, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(500);
}

static redisReply *sync_cmd(const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(sync_redis, fmt, arg);
    ck_assert_msg(r != NULL, "sync command %s failed", fmt);
    return r;
}

static long long sync_int(const char *fmt, const char *arg)
{
    redisReply *r = sync_cmd(fmt, arg);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* The CLIENT LIST line of the client named objcast:name, "" when there is none. */
static void client_line(const char *name, char *out, size_t cap)
{
    redisReply *r = sync_cmd("CLIENT LIST", NULL);
    char want[128];
    snprintf(want, sizeof(want), "name=objcast:%s ", name);
    out[0] = '\0';
    for (char *line = strtok(r->str, "\n"); line; line = strtok(NULL, "\n"))
        if (strstr(line, want))
            snprintf(out, cap, "%s", line);
    freeReplyObject(r);
}

static void on_state(struct redis_conn *rc, int up, void *privdata)
{
    if (up)
        ups++;
    else
        downs++;
}

/* Writes one reply as a line: an array as its elements, an error as "error TEXT". */
static void on_message(struct redis_conn *rc, redisReply *r, void *privdata)
{
    if (r->type == REDIS_REPLY_ERROR) {
        buf_printf(&seen, "error %s\n", r->str);
    } else if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *e = r->element[i];
            if (e->type == REDIS_REPLY_INTEGER)
                buf_printf(&seen, "%s%lld", i ? " " : "", e->integer);
            else
                buf_printf(&seen, "%s%s", i ? " " : "", e->str ? e->str : "(nil)");
        }
        buf_append_str(&seen, "\n");
    } else {
        buf_printf(&seen, "type %d\n", r->type);
    }
    nseen++;
    if (free_on_message) {
        free_on_message = 0;
        redis_conn_free(RC);
        RC = NULL;
    }
}

static const char *seen_text(void)
{
    return seen.p ? seen.p : "";
}

/* Sends a command of argc words on RC. */
static void send_words(int argc, const char **argv)
{
    size_t lens[8];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    ck_assert_int_eq(redis_conn_command(RC, NULL, NULL, argc, argv, lens), 0);
}

#define SEND(...)                                                                                  \
    do {                                                                                           \
        const char *words_[] = {__VA_ARGS__};                                                      \
        send_words((int)(sizeof(words_) / sizeof(words_[0])), words_);                             \
    } while (0)

/* Waits until on_message has seen n replies in all. */
static void wait_seen(int n)
{
    run_until(3000, &nseen, n);
    ck_assert_msg(nseen >= n, "saw %d replies, want %d:\n%s", nseen, n, seen_text());
}

static void wait_up(int n)
{
    run_until(5000, &ups, n);
    ck_assert_msg(ups >= n, "the connection did not come up");
}

/* Sets conf's redis_url (validated, as a conf line would). */
static void set_url(const char *url)
{
    char *argv[] = {(char *)url};
    struct buf err = {0};
    int rc = conf_set(&conf, "redis_url", 1, argv, "test", 1, &err);
    ck_assert_msg(rc == 0, "%s", err.p);
    buf_free(&err);
}

/* A URL nobody listens on: what the connections below reach must come from their host and
 * port, not from conf. */
#define NOWHERE "redis://127.0.0.1:1"

/* ---- an explicit host and port ------------------------------------------------------------ */

static void on_pong(struct redis_conn *rc, redisReply *r, void *privdata)
{
    int *got = privdata;
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    ck_assert_str_eq(r->str, "PONG");
    (*got)++;
}

START_TEST(new_at_connects_there)
{
    set_url(NOWHERE);
    RC = redis_conn_new_at(evbase, &conf, "127.0.0.1", redis.port, "at-1", 0, on_state, NULL, NULL);
    wait_up(1);
    char line[1024];
    client_line("at-1", line, sizeof(line));
    ck_assert_msg(line[0], "no client named objcast:at-1");
    ck_assert_msg(strstr(line, " db=0 "), "%s", line);

    static int got;
    got = 0;
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    ck_assert_int_eq(redis_conn_command(RC, on_pong, &got, 1, argv, lens), 0);
    run_until(2000, &got, 1);
    ck_assert_int_eq(got, 1);
}
END_TEST

/* conf's password applies to a connection to an explicit host. */
START_TEST(new_at_uses_conf_password)
{
    redisReply *r = sync_cmd("CONFIG SET requirepass %s", "s3cret");
    freeReplyObject(r);
    /* Without the password: the handshake is refused and the connection never comes up. */
    set_url(NOWHERE);
    RC = redis_conn_new_at(evbase, &conf, "127.0.0.1", redis.port, "nopw", 0, on_state, NULL, NULL);
    run_until(600, &ups, 1);
    ck_assert_int_eq(ups, 0);
    redis_conn_free(RC);

    set_url("redis://:s3cret@127.0.0.1:1");
    RC = redis_conn_new_at(evbase, &conf, "127.0.0.1", redis.port, "pw", 1, on_state, on_message,
                           NULL);
    wait_up(1);
    /* The test's own connection authenticated before requirepass was set. */
    r = sync_cmd("CONFIG SET requirepass %s", "");
    freeReplyObject(r);
}
END_TEST

/* db comes from conf, but a cluster connection never sends SELECT (a cluster node refuses
 * it). conf refuses redis_cluster yes with a db other than 0; set here by hand to see the
 * connection hold its side too. */
START_TEST(cluster_connection_sends_no_select)
{
    char line[1024];
    set_url("redis://127.0.0.1:1/3");
    RC = redis_conn_new_at(evbase, &conf, "127.0.0.1", redis.port, "db3", 0, on_state, NULL, NULL);
    wait_up(1);
    client_line("db3", line, sizeof(line));
    ck_assert_msg(strstr(line, " db=3 "), "%s", line);
    redis_conn_free(RC);

    conf.redis_cluster = 1;
    RC = redis_conn_new_at(evbase, &conf, "127.0.0.1", redis.port, "cluster-db", 0, on_state, NULL,
                           NULL);
    wait_up(2);
    client_line("cluster-db", line, sizeof(line));
    ck_assert_msg(strstr(line, " db=0 "), "%s", line);
}
END_TEST

/* ---- subscriber connections -------------------------------------------------------------- */

static void subscriber(const char *name)
{
    set_url(NOWHERE);
    RC = redis_conn_new_at(evbase, &conf, "127.0.0.1", redis.port, name, 1, on_state, on_message,
                           NULL);
    wait_up(1);
}

/* SSUBSCRIBE first, alone: the case that aborts hiredis 0.14's own dispatch. */
START_TEST(sharded_pubsub)
{
    subscriber("sharded");
    SEND("SSUBSCRIBE", "{o1}:ch");
    wait_seen(1);
    ck_assert_int_eq(sync_int("SPUBLISH {o1}:ch %s", "one"), 1);
    wait_seen(2);
    ck_assert_str_eq(seen_text(), "ssubscribe {o1}:ch 1\n"
                                  "smessage {o1}:ch one\n");

    /* Plain and sharded side by side, in the order Redis sent them. */
    SEND("SUBSCRIBE", "plain");
    wait_seen(3);
    ck_assert_int_eq(sync_int("PUBLISH plain %s", "two"), 1);
    ck_assert_int_eq(sync_int("SPUBLISH {o1}:ch %s", "three"), 1);
    ck_assert_int_eq(sync_int("PUBLISH plain %s", "four"), 1);
    SEND("SSUBSCRIBE", "{o2}:ch");
    wait_seen(7);
    ck_assert_int_eq(sync_int("SPUBLISH {o2}:ch %s", "five"), 1);
    SEND("SUNSUBSCRIBE", "{o1}:ch");
    wait_seen(9);
    ck_assert_int_eq(sync_int("SPUBLISH {o1}:ch %s", "gone"), 0);
    SEND("UNSUBSCRIBE", "plain");
    SEND("SUNSUBSCRIBE", "{o2}:ch");
    wait_seen(11);
    ck_assert_str_eq(seen_text(), "ssubscribe {o1}:ch 1\n"
                                  "smessage {o1}:ch one\n"
                                  "subscribe plain 1\n"
                                  "message plain two\n"
                                  "smessage {o1}:ch three\n"
                                  "message plain four\n"
                                  "ssubscribe {o2}:ch 2\n"
                                  "smessage {o2}:ch five\n"
                                  "sunsubscribe {o1}:ch 1\n"
                                  "unsubscribe plain 0\n"
                                  "sunsubscribe {o2}:ch 0\n");
    ck_assert_int_eq(sync_int("PUBLISH plain %s", "nobody"), 0);
    ck_assert_int_eq(downs, 0);
}
END_TEST

/* An error answering a command reaches on_message in its place, and the connection goes on. */
START_TEST(subscriber_errors_in_order)
{
    subscriber("errors");
    SEND("SSUBSCRIBE", "{o3}:ch");
    SEND("GET", "x"); /* refused in a subscribed context */
    SEND("SUBSCRIBE", "p3");
    wait_seen(3);
    ck_assert_int_eq(sync_int("SPUBLISH {o3}:ch %s", "after"), 1);
    wait_seen(4);
    const char *t = seen_text();
    ck_assert_msg(strncmp(t, "ssubscribe {o3}:ch 1\nerror ", 27) == 0, "%s", t);
    ck_assert_msg(strstr(t, "\nsubscribe p3 1\nsmessage {o3}:ch after\n"), "%s", t);
    ck_assert_int_eq(downs, 0);
}
END_TEST

/* A killed subscriber connection goes down, comes back, and subscribes anew. */
START_TEST(subscriber_reconnects)
{
    subscriber("reconnect");
    SEND("SSUBSCRIBE", "{o4}:ch");
    wait_seen(1);
    redisReply *r = sync_cmd("CLIENT KILL TYPE %s", "pubsub");
    ck_assert_int_ge(r->integer, 1);
    freeReplyObject(r);
    run_until(3000, &downs, 1);
    ck_assert_int_eq(downs, 1);
    wait_up(2);
    SEND("SSUBSCRIBE", "{o4}:ch");
    wait_seen(2);
    ck_assert_int_eq(sync_int("SPUBLISH {o4}:ch %s", "back"), 1);
    wait_seen(3);
    ck_assert_str_eq(seen_text(), "ssubscribe {o4}:ch 1\n"
                                  "ssubscribe {o4}:ch 1\n"
                                  "smessage {o4}:ch back\n");
}
END_TEST

/* Freed from on_message with more replies in the same read: the rest are dropped, nothing
 * is touched after the free (AddressSanitizer watches). */
START_TEST(subscriber_freed_from_on_message)
{
    subscriber("freed");
    SEND("SSUBSCRIBE", "{o5}:ch");
    wait_seen(1);
    /* Five messages in one pipeline, so they arrive in one read. */
    for (int i = 0; i < 5; i++)
        redisAppendCommand(sync_redis, "SPUBLISH {o5}:ch m%d", i);
    for (int i = 0; i < 5; i++) {
        void *reply = NULL;
        ck_assert_int_eq(redisGetReply(sync_redis, &reply), REDIS_OK);
        freeReplyObject(reply);
    }
    free_on_message = 1;
    run_until(500, NULL, 0);
    ck_assert_ptr_null(RC);
    ck_assert_int_eq(nseen, 2);
    ck_assert_str_eq(seen_text(), "ssubscribe {o5}:ch 1\n"
                                  "smessage {o5}:ch m0\n");
    ck_assert_int_eq(downs, 0); /* freeing is not going down */
}
END_TEST

static void setup(void)
{
    conf_init(&conf);
    ups = downs = nseen = free_on_message = 0;
    buf_reset(&seen);
}

static void teardown(void)
{
    redis_conn_free(RC);
    RC = NULL;
    conf_free(&conf);
}

static Suite *redis_conn_suite(void)
{
    Suite *s = suite_create("redis_conn");
    TCase *tc = tcase_create("connect");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, new_at_connects_there);
    tcase_add_test(tc, new_at_uses_conf_password);
    tcase_add_test(tc, cluster_connection_sends_no_select);
    suite_add_tcase(s, tc);

    tc = tcase_create("subscriber");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sharded_pubsub);
    tcase_add_test(tc, subscriber_errors_in_order);
    tcase_add_test(tc, subscriber_reconnects);
    tcase_add_test(tc, subscriber_freed_from_on_message);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!redis_child_available()) {
        fprintf(stderr, "redis-server not found: test_redis_conn skipped\n");
        return REDIS_CHILD_SKIP;
    }
    log_set_level(LOG_LEVEL_ERROR);
    redis_child_start(&redis);
    struct timeval tv = {1, 0};
    sync_redis = redisConnectWithTimeout("127.0.0.1", redis.port, tv);
    if (!sync_redis || sync_redis->err) {
        fprintf(stderr, "cannot connect to redis-server on port %d\n", redis.port);
        return EXIT_FAILURE;
    }
    evbase = event_base_new();
    /* The loop and the Redis connections live in this process. */
    int failed = unit_run(redis_conn_suite(), CK_NOFORK);
    redisFree(sync_redis);
    redis_child_stop(&redis);
    event_base_free(evbase);
    buf_free(&seen);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
