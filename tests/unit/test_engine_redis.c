/*
 * engine redis against a real redis-server, for what only this engine has: the
 * bookkeeping of SUBSCRIBE confirmations on its subscriber connection. After SUBSCRIBE,
 * UNSUBSCRIBE, SUBSCRIBE of one channel, the answer to the first SUBSCRIBE must not count
 * as the confirmation of the last: a participants read (which waits for the confirmation so
 * that no presence change falls between its snapshot and the channel) would otherwise start
 * while the channel is not subscribed. The test holds the later commands in Redis with
 * CLIENT PAUSE while the first answer is read.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "engine.h"
#include "log.h"
#include "redis_child.h"
#include "unit.h"

static struct event_base *evbase;
static struct conf conf;
static struct redis_child redis;
static redisContext *sync_redis; /* the test's own blocking connection */
/* The engine of the running case and what its callbacks write: not on a case's stack, since
 * a failed check leaves the case at once and the teardown frees the engine after it. */
static struct engine *E;
static int delivered;

static int64_t mono_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void start_redis(void)
{
    redis_child_start(&redis);
    struct timeval tv = {1, 0};
    sync_redis = redisConnectWithTimeout("127.0.0.1", redis.port, tv);
    if (!sync_redis || sync_redis->err) {
        fprintf(stderr, "cannot connect to redis-server on port %d\n", redis.port);
        exit(EXIT_FAILURE);
    }
    conf_init(&conf);
    redis_child_conf(&redis, &conf);
    evbase = event_base_new();
}

static void stop_redis(void)
{
    redisFree(sync_redis);
    redis_child_stop(&redis);
    conf_free(&conf);
    event_base_free(evbase);
}

/* Runs the loop for ms, or until *done when done is not NULL. */
static void run_loop(int64_t ms, const int *done)
{
    int64_t deadline = mono_ms() + ms;
    while ((!done || !*done) && mono_ms() < deadline)
        event_base_loop(evbase, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(500);
}

static long long numsub(const char *channel)
{
    redisReply *r = redisCommand(sync_redis, "PUBSUB NUMSUB %s", channel);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    long long n = r->element[1]->integer;
    freeReplyObject(r);
    return n;
}

struct list_result {
    int done;
    enum engine_status st;
};

static void on_list(void *privdata, enum engine_status st, size_t n, const char *const *instances,
                    const struct participant *const *ps)
{
    struct list_result *r = privdata;
    r->done = 1;
    r->st = st;
}

static void on_deliver(void *privdata, const char *okey, const struct envelope *env)
{
    int *count = privdata;
    (*count)++;
}

static struct engine *make_engine(const char *prefix)
{
    free(conf.redis_prefix);
    conf.redis_prefix = strdup(prefix);
    struct engine *e = engine_redis_new(evbase, &conf, "inst-a");
    e->deliver = on_deliver;
    e->deliver_privdata = &delivered;
    E = e;
    int64_t deadline = mono_ms() + 5000;
    while (!e->ops->ready(e) && mono_ms() < deadline)
        run_loop(1, NULL);
    ck_assert_msg(e->ops->ready(e), "engine redis did not connect");
    return e;
}

/* Subscribes okey and waits for the confirmation (a participants read waits for it). */
static void subscribe_confirmed(struct engine *e, const char *okey)
{
    e->ops->subscribe(e, okey);
    static struct list_result r;
    memset(&r, 0, sizeof(r));
    e->ops->presence_list(e, okey, on_list, &r);
    run_loop(3000, &r.done);
    ck_assert_int_eq(r.done, 1);
    ck_assert_int_eq(r.st, ENGINE_OK);
}

START_TEST(stale_subscribe_confirmation)
{
    struct engine *e = make_engine("stale");
    /* Every housekeeping tick sends a heartbeat (one command), so the tick shows itself in
     * pending(): the checked window below starts right after a tick and ends well before
     * the next, and pending() then counts only our commands. */
    subscribe_confirmed(e, "1:B");
    int64_t deadline = mono_ms() + 3000;
    while (e->ops->pending(e) == 0 && mono_ms() < deadline)
        run_loop(1, NULL);
    ck_assert_msg(e->ops->pending(e) > 0, "no housekeeping tick seen");
    while (e->ops->pending(e) > 0 && mono_ms() < deadline)
        run_loop(1, NULL);
    ck_assert_int_eq(e->ops->pending(e), 0);

    /* The first SUBSCRIBE is written and done by Redis; its answer is left unread. */
    e->ops->subscribe(e, "1:A");
    event_base_loop(evbase, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    deadline = mono_ms() + 1000;
    while (numsub("stale:{1:A}:ch") != 1 && mono_ms() < deadline)
        usleep(1000);
    ck_assert_int_eq(numsub("stale:{1:A}:ch"), 1);

    /* Redis holds every command for a while; UNSUBSCRIBE and SUBSCRIBE are sent and wait. */
    redisReply *r = redisCommand(sync_redis, "CLIENT PAUSE 800 ALL");
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->str, "OK");
    freeReplyObject(r);
    e->ops->unsubscribe(e, "1:A");
    e->ops->subscribe(e, "1:A");
    static struct list_result list;
    memset(&list, 0, sizeof(list));
    e->ops->presence_list(e, "1:A", on_list, &list);

    /* Reads the first SUBSCRIBE's answer: stale, the participants read must keep waiting
     * (nothing sent on the command connection). */
    run_loop(150, NULL);
    ck_assert_msg(e->ops->pending(e) == 0,
                  "a stale SUBSCRIBE answer started the participants read (%zu commands sent)",
                  e->ops->pending(e));
    ck_assert_int_eq(list.done, 0);

    /* Once Redis goes on, the last SUBSCRIBE is confirmed and the read runs. */
    run_loop(3000, &list.done);
    ck_assert_int_eq(list.done, 1);
    ck_assert_int_eq(list.st, ENGINE_OK);
    ck_assert_int_eq(numsub("stale:{1:A}:ch"), 1);

    /* And the channel is live: a message published on it is delivered. */
    r = redisCommand(sync_redis, "PUBLISH stale:{1:A}:ch %s",
                     "{\"k\":\"b\",\"i\":\"inst-z\",\"s\":1}\n{\"type\":\"x\"}");
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->integer, 1);
    freeReplyObject(r);
    run_loop(2000, &delivered);
    ck_assert_int_eq(delivered, 1);
}
END_TEST

/* Subscribe and unsubscribe in one turn leave nothing subscribed, and a later subscribe
 * is confirmed as usual (the counts of answers due start again from nothing). */
START_TEST(subscribe_unsubscribe_then_subscribe)
{
    struct engine *e = make_engine("subunsub");
    e->ops->subscribe(e, "1:C");
    e->ops->unsubscribe(e, "1:C");
    run_loop(200, NULL);
    ck_assert_int_eq(numsub("subunsub:{1:C}:ch"), 0);
    subscribe_confirmed(e, "1:C");
    ck_assert_int_eq(numsub("subunsub:{1:C}:ch"), 1);
}
END_TEST

static void setup(void)
{
    delivered = 0;
}

static void teardown(void)
{
    if (E)
        E->ops->free(E);
    E = NULL;
}

static Suite *engine_redis_suite(void)
{
    Suite *s = suite_create("engine_redis");
    TCase *tc = tcase_create("subscriptions");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, stale_subscribe_confirmation);
    tcase_add_test(tc, subscribe_unsubscribe_then_subscribe);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    log_set_level(LOG_LEVEL_WARNING);
    start_redis();
    /* The loop and the Redis connections live in this process. */
    int failed = unit_run(engine_redis_suite(), CK_NOFORK);
    stop_redis();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
