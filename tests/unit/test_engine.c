/*
 * The engine contract: one table of cases, run against every engine. Each case talks to the
 * engine only through its ops and checks what comes back through callbacks and deliveries.
 * engine memory answers at once; an engine that answers later supplies pump(), which runs
 * its loop until the awaited callback arrived.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
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

#define MAX_SEEN 256

/* What the deliver callback saw. */
struct seen {
    char okey[64];
    enum envelope_kind kind;
    char text[256];       /* frame payload, or user key for presence */
    int removed;          /* presence: the entry was removed */
    long long version;    /* data */
    uint64_t origin_sid;
    long long offset;     /* the place in the object's order (presence: its position) */
    char epoch[32];
};

static struct seen seen[MAX_SEEN];
static int nseen;

static void on_deliver(void *privdata, const char *okey, const struct envelope *env)
{
    ck_assert_int_lt(nseen, MAX_SEEN);
    struct seen *s = &seen[nseen++];
    memset(s, 0, sizeof(*s));
    snprintf(s->okey, sizeof(s->okey), "%s", okey);
    s->kind = env->kind;
    s->origin_sid = env->origin_sid;
    s->offset = env->offset;
    snprintf(s->epoch, sizeof(s->epoch), "%s", env->epoch ? env->epoch : "");
    if (env->payload) {
        snprintf(s->text, sizeof(s->text), "%.*s", (int)env->payload->len, env->payload->text);
    }
    if (env->kind == ENVELOPE_PRESENCE) {
        snprintf(s->text, sizeof(s->text), "%s", env->user_key);
        s->removed = env->participant == NULL;
    }
    if (env->kind == ENVELOPE_DATA)
        s->version = env->version;
}

/* An engine under test. */
struct fixture {
    const char *name;
    struct engine *(*make)(void);
    void (*pump)(const int *done); /* runs until *done; NULL when answers come at once */
};

/* engine memory's conf: history_size 100, history_ttl 300 (the defaults), history_max_bytes
 * 64 KiB (as the redis fixture sets it). */
static struct conf engine_conf = {
    .history_size = 100, .history_ttl = 300, .history_max_bytes = 65536};

static struct engine *make_memory(void)
{
    return engine_memory_new(&engine_conf, "inst-a");
}

/* --- engine redis against a real redis-server ------------------------------------------- */

static struct event_base *evbase;
static struct conf redis_conf;
static struct redis_child redis;

static int64_t mono_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Runs the loop until *done or 3 s passed. */
static void pump(const int *done)
{
    int64_t deadline = mono_ms() + 3000;
    while (!*done && mono_ms() < deadline)
        event_base_loop(evbase, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(500);
}

/* One redis-server for the whole run, in a temp dir, killed at exit. */
static void start_redis(void)
{
    redis_child_start(&redis);
    conf_init(&redis_conf);
    redis_child_conf(&redis, &redis_conf);
    redis_conf.history_max_bytes = 65536;
    evbase = event_base_new();
}

static void stop_redis(void)
{
    redis_child_stop(&redis);
    conf_free(&redis_conf);
    if (evbase)
        event_base_free(evbase);
}

static int redis_serial;

static struct engine *make_redis(void)
{
    /* A fresh prefix per case keeps the cases apart on one Redis. */
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "t%d", ++redis_serial);
    free(redis_conf.redis_prefix);
    redis_conf.redis_prefix = strdup(prefix);
    struct engine *e = engine_redis_new(evbase, &redis_conf, "inst-a");
    int64_t deadline = mono_ms() + 5000;
    while (!e->ops->ready(e) && mono_ms() < deadline)
        event_base_loop(evbase, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
    return e;
}

static const struct fixture fixtures[] = {
    {"memory", make_memory, NULL},
    {"redis", make_redis, pump},
};

static const struct fixture *fx;
static struct engine *E;

static void wait_for(const int *done)
{
    if (fx->pump)
        fx->pump(done);
    ck_assert_msg(*done, "%s: callback never came", fx->name);
}

/* Fields of a flat JSON object text (counts top-level commas: the values here hold none
 * outside brackets). Engines may keep fields in any order. */
static int json_len_fields(const char *json)
{
    int depth = 0, n = strcmp(json, "{}") != 0;
    for (const char *p = json; *p; p++) {
        if (*p == '[' || *p == '{')
            depth++;
        else if (*p == ']' || *p == '}')
            depth--;
        else if (*p == ',' && depth == 1)
            n++;
    }
    return n;
}

static void setup(void)
{
    nseen = 0;
    E = fx->make();
    E->deliver = on_deliver;
    E->deliver_privdata = NULL;
}

static void teardown(void)
{
    E->ops->free(E);
}

/* --- helpers ----------------------------------------------------------------------------- */

/* Lets deliveries arrive: until n were seen (or, for n < 0, a short while to show that no
 * more come). */
static void settle(int n)
{
    if (!fx->pump)
        return;
    int64_t deadline = mono_ms() + (n < 0 ? 150 : 3000);
    while ((n < 0 || nseen < n) && mono_ms() < deadline)
        event_base_loop(evbase, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(500);
}

struct result {
    int done;
    enum engine_status st;
    long long version;
    long long updated_at;
    char json[1024];
    size_t n;            /* presence_list entries */
    char users[8][32];
    char instances[8][32];
};

static void on_done(void *privdata, enum engine_status st)
{
    struct result *r = privdata;
    r->st = st;
    r->done = 1;
}

static void on_data(void *privdata, enum engine_status st, const struct engine_data *d)
{
    struct result *r = privdata;
    r->st = st;
    r->done = 1;
    if (st == ENGINE_OK) {
        r->version = d->version;
        r->updated_at = d->updated_at;
        struct buf b = {0};
        data_encode(d->doc, &b);
        snprintf(r->json, sizeof(r->json), "%s", b.p);
        buf_free(&b);
    }
}

static void on_list(void *privdata, enum engine_status st, size_t n,
                    const char *const *instances, const struct participant *const *ps)
{
    struct result *r = privdata;
    r->st = st;
    r->done = 1;
    r->n = n;
    for (size_t i = 0; i < n && i < 8; i++) {
        snprintf(r->users[i], sizeof(r->users[i]), "%s", ps[i]->user_key);
        snprintf(r->instances[i], sizeof(r->instances[i]), "%s", instances[i]);
    }
}

/* Subscribes and waits until the engine confirmed it (a presence read waits for that). */
static void subscribe(const char *okey)
{
    E->ops->subscribe(E, okey);
    struct result r = {0};
    E->ops->presence_list(E, okey, on_list, &r);
    wait_for(&r.done);
    ck_assert_int_eq(r.st, ENGINE_OK);
}

static void publish(const char *okey, const char *text)
{
    struct payload *f = payload_copy(text, strlen(text));
    struct envelope env = {.kind = ENVELOPE_BROADCAST, .origin_instance = "inst-a",
                           .origin_sid = 7, .payload = f};
    struct result r = {0};
    E->ops->publish(E, okey, &env, on_done, &r);
    wait_for(&r.done);
    ck_assert_int_eq(r.st, ENGINE_OK);
    payload_unref(f);
}

static struct participant *part(const char *user, enum presence_state st)
{
    char json[64];
    snprintf(json, sizeof(json), "\"%s\"", user); /* the id as JSON, as tokens give it */
    struct identity id = {.user_key = (char *)user, .user_json = json,
                          .ws_json = "1", .ws_key = "1", .name = "n", .avatar_url = ""};
    return participant_new(&id, NULL, 0, st);
}

static void presence(const char *okey, const char *inst, const char *user, enum presence_state st)
{
    struct participant *p = st == PRESENCE_NONE ? NULL : part(user, st);
    const char *colon = strchr(okey, ':');
    struct envelope env = {.kind = ENVELOPE_PRESENCE, .origin_instance = inst, .origin_sid = 3,
                           .user_key = user, .participant = p,
                           .object_id = colon ? colon + 1 : okey};
    struct result r = {0};
    E->ops->presence(E, okey, &env, on_done, &r);
    wait_for(&r.done);
    ck_assert_int_eq(r.st, ENGINE_OK);
    participant_free(p);
}

static struct result save(const char *okey, const char *json, int merge, long long if_version,
                          size_t max)
{
    struct data_doc d;
    const char *err;
    data_doc_init(&d);
    ck_assert_int_eq(data_parse(json, strlen(json), &d, &err), 0);
    struct engine_save req = {.update = &d, .merge = merge, .if_version = if_version,
                              .max_bytes = max, .origin_instance = "inst-a", .origin_sid = 9};
    struct result r = {0};
    E->ops->data_save(E, okey, &req, on_data, &r);
    wait_for(&r.done);
    data_doc_clear(&d);
    return r;
}

static struct result get(const char *okey)
{
    struct result r = {0};
    E->ops->data_get(E, okey, on_data, &r);
    wait_for(&r.done);
    ck_assert_int_eq(r.st, ENGINE_OK);
    return r;
}

/* A history read's answer. */
struct hist {
    int done;
    enum engine_status st;
    char epoch[32];
    long long last;
    size_t n;
    long long offsets[256];
    enum envelope_kind kinds[256];
    int missing[256];
    char texts[4][128]; /* the first payloads (data: the JSON) */
};

static void on_history(void *privdata, enum engine_status st, const char *epoch, long long last,
                       size_t n, const struct envelope *envs)
{
    struct hist *h = privdata;
    h->done = 1;
    h->st = st;
    snprintf(h->epoch, sizeof(h->epoch), "%s", epoch ? epoch : "");
    h->last = last;
    h->n = n;
    for (size_t i = 0; i < n && i < 256; i++) {
        h->offsets[i] = envs[i].offset;
        h->kinds[i] = envs[i].kind;
        h->missing[i] = envs[i].missing;
        ck_assert_str_eq(envs[i].epoch, h->epoch);
        if (i >= 4)
            continue;
        if (envs[i].payload) {
            snprintf(h->texts[i], sizeof(h->texts[i]), "%.*s", (int)envs[i].payload->len,
                     envs[i].payload->text);
        } else if (envs[i].data) {
            struct buf b = {0};
            data_encode(envs[i].data, &b);
            snprintf(h->texts[i], sizeof(h->texts[i]), "%s", b.p);
            buf_free(&b);
        }
    }
}

static struct hist history(const char *okey, long long after, size_t max_bytes)
{
    struct hist h = {0};
    E->ops->history(E, okey, after, max_bytes, on_history, &h);
    wait_for(&h.done);
    ck_assert_int_eq(h.st, ENGINE_OK);
    return h;
}

/* --- the cases --------------------------------------------------------------------------- */

START_TEST(publish_reaches_subscribers_only)
{
    ck_assert(E->ops->ready(E));
    publish("1:A", "{\"n\":0}");
    settle(-1);
    ck_assert_int_eq(nseen, 0); /* nobody subscribed */
    subscribe("1:A");
    publish("1:A", "{\"n\":1}");
    publish("1:B", "{\"n\":2}");
    settle(1);
    settle(-1);
    ck_assert_int_eq(nseen, 1);
    ck_assert_str_eq(seen[0].okey, "1:A");
    ck_assert_int_eq(seen[0].kind, ENVELOPE_BROADCAST);
    ck_assert_str_eq(seen[0].text, "{\"n\":1}");
    ck_assert_uint_eq(seen[0].origin_sid, 7);
    E->ops->unsubscribe(E, "1:A");
    publish("1:A", "{\"n\":3}");
    settle(-1);
    ck_assert_int_eq(nseen, 1);
}
END_TEST

START_TEST(publish_keeps_order)
{
    subscribe("1:A");
    char text[32];
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof(text), "%d", i);
        publish("1:A", text);
    }
    settle(100);
    ck_assert_int_eq(nseen, 100);
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof(text), "%d", i);
        ck_assert_str_eq(seen[i].text, text);
    }
}
END_TEST

START_TEST(presence_set_list_remove)
{
    subscribe("1:A");
    presence("1:A", "inst-a", "u1", PRESENCE_SUBSCRIBED);
    presence("1:A", "inst-b", "u1", PRESENCE_JOINED);
    presence("1:A", "inst-a", "u2", PRESENCE_JOINED);
    settle(3);
    ck_assert_int_eq(nseen, 3);
    ck_assert_int_eq(seen[1].kind, ENVELOPE_PRESENCE);
    ck_assert_str_eq(seen[1].text, "u1");
    ck_assert_int_eq(seen[1].removed, 0);

    struct result r = {0};
    E->ops->presence_list(E, "1:A", on_list, &r);
    wait_for(&r.done);
    ck_assert_uint_eq(r.n, 3);
    int u1 = 0, u2 = 0;
    for (size_t i = 0; i < r.n; i++) {
        u1 += strcmp(r.users[i], "u1") == 0;
        u2 += strcmp(r.users[i], "u2") == 0 && strcmp(r.instances[i], "inst-a") == 0;
    }
    ck_assert_int_eq(u1, 2);
    ck_assert_int_eq(u2, 1);

    presence("1:A", "inst-b", "u1", PRESENCE_NONE);
    settle(4);
    ck_assert_int_eq(nseen, 4);
    ck_assert_int_eq(seen[nseen - 1].removed, 1);
    memset(&r, 0, sizeof(r));
    E->ops->presence_list(E, "1:A", on_list, &r);
    wait_for(&r.done);
    ck_assert_uint_eq(r.n, 2);

    /* other objects see none of it */
    memset(&r, 0, sizeof(r));
    E->ops->presence_list(E, "2:A", on_list, &r);
    wait_for(&r.done);
    ck_assert_uint_eq(r.n, 0);
}
END_TEST

START_TEST(data_starts_empty)
{
    struct result r = get("1:A");
    ck_assert_int_eq(r.version, 0);
    ck_assert_str_eq(r.json, "{}");
}
END_TEST

START_TEST(data_replace_merge_and_publish)
{
    subscribe("1:A");
    struct result r = save("1:A", "{\"a\":1,\"b\":[1, 2],\"c\":null}", 0, -1, 512000);
    ck_assert_int_eq(r.st, ENGINE_OK);
    ck_assert_int_eq(r.version, 1);
    ck_assert_int_eq(json_len_fields(r.json), 3);
    ck_assert_ptr_nonnull(strstr(r.json, "\"b\":[1,2]"));
    ck_assert_ptr_nonnull(strstr(r.json, "\"c\":null"));
    ck_assert_int_gt(r.updated_at, 1600000000);
    settle(1);
    ck_assert_int_eq(nseen, 1);
    ck_assert_int_eq(seen[0].kind, ENVELOPE_DATA);
    ck_assert_int_eq(seen[0].version, 1);
    ck_assert_uint_eq(seen[0].origin_sid, 9);

    r = save("1:A", "{\"a\":null,\"d\":\"x\"}", 1, -1, 512000);
    ck_assert_int_eq(r.version, 2);
    ck_assert_int_eq(json_len_fields(r.json), 3);
    ck_assert_ptr_null(strstr(r.json, "\"a\""));
    ck_assert_ptr_nonnull(strstr(r.json, "\"d\":\"x\""));
    ck_assert_str_eq(get("1:A").json, r.json);

    r = save("1:A", "{\"z\":true}", 0, -1, 512000);
    ck_assert_str_eq(r.json, "{\"z\":true}");
    ck_assert_int_eq(get("1:A").version, 3);
    ck_assert_str_eq(get("2:A").json, "{}");
}
END_TEST

START_TEST(data_if_version)
{
    subscribe("1:A");
    ck_assert_int_eq(save("1:A", "{\"a\":1}", 0, 0, 512000).st, ENGINE_OK);
    ck_assert_int_eq(save("1:A", "{\"a\":2}", 0, 0, 512000).st, ENGINE_CONFLICT);
    settle(1);
    settle(-1);
    ck_assert_int_eq(nseen, 1); /* the refused save published nothing */
    ck_assert_str_eq(get("1:A").json, "{\"a\":1}");
    struct result r = save("1:A", "{\"a\":3}", 1, 1, 512000);
    ck_assert_int_eq(r.st, ENGINE_OK);
    ck_assert_int_eq(r.version, 2);
}
END_TEST

START_TEST(data_limit)
{
    subscribe("1:A");
    /* {"a":"xxxxx"} is 13 bytes */
    ck_assert_int_eq(save("1:A", "{\"a\":\"xxxxx\"}", 0, -1, 13).st, ENGINE_OK);
    ck_assert_int_eq(save("1:A", "{\"a\":\"xxxxxx\"}", 0, -1, 13).st, ENGINE_TOO_LARGE);
    /* a merge is measured on its result: {"a":"xxxxx","b":1} is 19 bytes */
    ck_assert_int_eq(save("1:A", "{\"b\":1}", 1, -1, 18).st, ENGINE_TOO_LARGE);
    struct result r = get("1:A");
    ck_assert_str_eq(r.json, "{\"a\":\"xxxxx\"}");
    ck_assert_int_eq(r.version, 1);
    settle(1);
    settle(-1);
    ck_assert_int_eq(nseen, 1);
    ck_assert_int_eq(save("1:A", "{\"b\":1}", 1, -1, 19).st, ENGINE_OK);
}
END_TEST

START_TEST(offsets_epoch_and_history)
{
    subscribe("1:A");
    /* an object without a message yet: offset 0, and a presence change carries that */
    presence("1:A", "inst-a", "u1", PRESENCE_SUBSCRIBED);
    settle(1);
    ck_assert_int_eq(seen[0].offset, 0);
    ck_assert_int_gt(strlen(seen[0].epoch), 0);
    publish("1:A", "{\"type\":\"ovice_message\",\"n\":1}");
    publish("1:A", "{\"type\":\"ovice_message\",\"n\":2}");
    ck_assert_int_eq(save("1:A", "{\"k\":1}", 0, -1, 100).st, ENGINE_OK);
    publish("1:A", "{\"type\":\"ovice_message\",\"n\":3}");
    settle(5);
    ck_assert_int_eq(nseen, 5);
    /* offsets 1, 2, 3 (the save), 4 in one epoch, and in each message's text after its type */
    for (int i = 1; i <= 4; i++) {
        ck_assert_int_eq(seen[i].offset, i);
        ck_assert_str_eq(seen[i].epoch, seen[0].epoch);
    }
    char want[128];
    snprintf(want, sizeof(want), "{\"type\":\"ovice_message\",\"offset\":2,\"epoch\":\"%s\",\"n\":2}",
             seen[0].epoch);
    ck_assert_str_eq(seen[2].text, want);
    ck_assert_int_eq(seen[3].kind, ENVELOPE_DATA);

    /* after 1: 2, 3 and 4 as delivered; after 4: none */
    struct hist h = history("1:A", 1, 1 << 20);
    ck_assert_str_eq(h.epoch, seen[0].epoch);
    ck_assert_int_eq(h.last, 4);
    ck_assert_uint_eq(h.n, 3);
    ck_assert_int_eq(h.offsets[0], 2);
    ck_assert_int_eq(h.offsets[2], 4);
    ck_assert_str_eq(h.texts[0], want);
    ck_assert_int_eq(h.kinds[1], ENVELOPE_DATA);
    ck_assert_str_eq(h.texts[1], "{\"k\":1}");
    h = history("1:A", 4, 1 << 20);
    ck_assert_int_eq(h.last, 4);
    ck_assert_uint_eq(h.n, 0);
    /* a byte budget (of what the engine stores: redis counts its channel header too) keeps
     * the newest that fit */
    h = history("1:A", 0, strlen(want) + 2);
    ck_assert_uint_le(h.n, 1);
    if (h.n)
        ck_assert_int_eq(h.offsets[0], 4);
}
END_TEST

START_TEST(history_is_capped)
{
    /* history_size 100 (both fixtures): the oldest of 150 are gone */
    subscribe("1:A");
    for (int i = 0; i < 150; i++)
        publish("1:A", "{\"type\":\"ovice_message\"}");
    settle(150);
    struct hist h = history("1:A", 0, 1 << 20);
    ck_assert_int_eq(h.last, 150);
    ck_assert_uint_eq(h.n, 100);
    ck_assert_int_eq(h.offsets[0], 51);
    ck_assert_int_eq(h.offsets[99], 150);
    /* an object nobody used: offset 0 */
    h = history("1:B", 0, 1 << 20);
    ck_assert_int_eq(h.last, 0);
    ck_assert_uint_eq(h.n, 0);
}
END_TEST

START_TEST(history_marks_big_messages)
{
    /* over history_max_bytes (64 KiB, both fixtures) only a mark is kept, and the oldest
     * messages go to keep the history within it */
    subscribe("1:A");
    size_t big = 70000;
    char *text = malloc(big + 1);
    memset(text, 'x', big);
    static const char start[] = "{\"type\":\"ovice_message\",\"m\":\"";
    memcpy(text, start, strlen(start));
    memcpy(text + big - 2, "\"}", 2);
    text[big] = '\0';
    publish("1:A", "{\"type\":\"ovice_message\",\"n\":1}");
    publish("1:A", text);
    publish("1:A", "{\"type\":\"ovice_message\",\"n\":3}");
    free(text);
    settle(3);
    ck_assert_int_eq(nseen, 3); /* delivered live whole */
    struct hist h = history("1:A", 0, 1 << 20);
    ck_assert_uint_eq(h.n, 3);
    ck_assert_int_eq(h.offsets[1], 2);
    ck_assert_int_eq(h.missing[0], 0);
    ck_assert_int_eq(h.missing[1], 1);
    ck_assert_int_eq(h.kinds[1], ENVELOPE_BROADCAST);
    ck_assert_int_eq(h.missing[2], 0);

    /* three of 30,000 bytes: with them the history would be over 64 KiB, so the oldest go */
    char *mid = malloc(30001);
    memset(mid, 'y', 30000);
    memcpy(mid, start, strlen(start));
    memcpy(mid + 30000 - 2, "\"}", 2);
    mid[30000] = '\0';
    for (int i = 0; i < 3; i++)
        publish("1:A", mid);
    free(mid);
    settle(6);
    h = history("1:A", 0, 1 << 20);
    ck_assert_int_eq(h.last, 6);
    ck_assert_uint_eq(h.n, 2);
    ck_assert_int_eq(h.offsets[0], 5);
    ck_assert_int_eq(h.offsets[1], 6);
}
END_TEST

int main(void)
{
    int failed = 0;
    log_set_level(LOG_LEVEL_WARNING);
    start_redis();
    /* One run per engine, so the cases know which fixture they run against. */
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        fx = &fixtures[i];
        Suite *s = suite_create("engine");
        TCase *tc = tcase_create(fx->name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, publish_reaches_subscribers_only);
        tcase_add_test(tc, publish_keeps_order);
        tcase_add_test(tc, presence_set_list_remove);
        tcase_add_test(tc, data_starts_empty);
        tcase_add_test(tc, data_replace_merge_and_publish);
        tcase_add_test(tc, data_if_version);
        tcase_add_test(tc, data_limit);
        tcase_add_test(tc, offsets_epoch_and_history);
        tcase_add_test(tc, history_is_capped);
        tcase_add_test(tc, history_marks_big_messages);
        suite_add_tcase(s, tc);
        /* The loop and the Redis connections live in this process. */
        failed += unit_run(s, CK_NOFORK);
    }
    stop_redis();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
