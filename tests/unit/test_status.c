/*
 * Unit tests for the status answer (status.c): instances merged from the registry with this
 * instance's entry, their ages and states, totals of the live ones, the busiest objects
 * merged across instances, errors summed by code, Redis's INFO read.
 */
#include <string.h>

#include "buf.h"
#include "json.h"
#include "status.h"
#include "unit.h"

#define NOW 1800000000LL

static struct json_value *render(const struct status_input *in, struct buf *b)
{
    buf_reset(b);
    status_render(in, b);
    ck_assert_msg(json_validate(b->p, b->len), "not JSON: %s", b->p);
    const char *err = NULL;
    struct json_value *v = json_parse(b->p, b->len, &err);
    ck_assert_ptr_nonnull(v);
    return v;
}

/* The input of instance self_id with its entry self, on engine, at NOW; no registry, Redis
 * down. A test sets what else it needs. */
static struct status_input input_of(const char *self_id, const char *self, const char *engine)
{
    return (struct status_input){.self_id = self_id,
                                 .self = self,
                                 .self_len = strlen(self),
                                 .engine = engine,
                                 .now = NOW,
                                 .latency_ms = -1};
}

static long long int_of(const struct json_value *v, const char *key)
{
    long long n = -12345;
    ck_assert_msg(json_integer(json_get(v, key), &n) == 0, "%s is not an integer", key);
    return n;
}

static double num_of(const struct json_value *v, const char *key)
{
    double d = -12345;
    ck_assert_msg(json_double(json_get(v, key), &d) == 0, "%s is not a number", key);
    return d;
}

START_TEST(memory_engine_self_only)
{
    const char *self = "{\"id\":\"i1\",\"started\":1799999990,\"updated\":1800000000,"
                       "\"connections\":3,\"objects\":2,\"messages_in_per_s\":1.5,"
                       "\"messages_out_per_s\":4,\"errors\":{\"not_subscribed\":2},\"busiest\":[]}";
    struct status_input in = input_of("i1", self, "memory");
    struct buf b = {0};
    struct json_value *v = render(&in, &b);
    ck_assert_int_eq(json_typeof(json_get(v, "redis")), JSON_NULL);
    ck_assert_str_eq(json_string(json_get(v, "answered_by")), "i1");
    const struct json_value *list = json_get(v, "instances");
    ck_assert_uint_eq(json_count(list), 1);
    const struct json_value *i1 = json_at(list, 0);
    ck_assert_int_eq(int_of(i1, "uptime_s"), 10);
    ck_assert_int_eq(int_of(i1, "heartbeat_age_s"), 0);
    ck_assert_str_eq(json_string(json_get(i1, "state")), "up");
    ck_assert_int_eq(json_typeof(json_get(i1, "self")), JSON_TRUE);
    ck_assert_int_eq(int_of(i1, "connections"), 3); /* the entry's own members stay */
    const struct json_value *t = json_get(v, "totals");
    ck_assert_int_eq(int_of(t, "connections"), 3);
    ck_assert(num_of(t, "messages_out_per_s") == 4.0);
    ck_assert_int_eq(int_of(json_get(v, "errors"), "not_subscribed"), 2);
    json_free(v);
    buf_free(&b);
}
END_TEST

START_TEST(registry_merged)
{
    const char *entries[] = {
        /* b: live, two busy objects */
        "{\"id\":\"b\",\"started\":1799999000,\"updated\":1799999998,\"connections\":10,"
        "\"objects\":2,\"messages_in_per_s\":2,\"messages_out_per_s\":20,"
        "\"errors\":{\"rate_limited\":5,\"not_subscribed\":1},\"busiest\":["
        "{\"key\":\"1:chat\",\"workspaceId\":\"1\",\"objectId\":\"chat\",\"participants\":7,"
        "\"messages_per_s\":3.5},"
        "{\"key\":\"1:notes\",\"workspaceId\":\"1\",\"objectId\":\"notes\",\"participants\":2,"
        "\"messages_per_s\":0.5}]}",
        /* a: the registry's entry of this instance, kept over the fresh one */
        "{\"id\":\"a\",\"started\":1799999900,\"updated\":1799999999,\"connections\":1,"
        "\"objects\":1,\"messages_in_per_s\":1,\"messages_out_per_s\":1,\"redis_latency_ms\":0.2,"
        "\"errors\":{\"not_subscribed\":4},\"busiest\":["
        "{\"key\":\"1:chat\",\"workspaceId\":\"1\",\"objectId\":\"chat\",\"participants\":8,"
        "\"messages_per_s\":3.0}]}",
        /* c: stale, left out of the totals */
        "{\"id\":\"c\",\"started\":1799990000,\"updated\":1799999950,\"connections\":99,"
        "\"objects\":9,\"errors\":{\"rate_limited\":100},\"busiest\":[{\"key\":\"2:x\","
        "\"workspaceId\":\"2\",\"objectId\":\"x\","
        "\"participants\":1,\"messages_per_s\":9}]}",
        "not json",
        "[1,2]",
        "{\"no\":\"id\"}",
    };
    size_t lens[6];
    for (size_t i = 0; i < 6; i++)
        lens[i] = strlen(entries[i]);
    const char *self = "{\"id\":\"a\",\"connections\":1000}";
    const char *info = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:3600\r\n"
                       "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n"
                       "role:master\r\nconnected_clients:4\r\n";
    struct status_input in = input_of("a", self, "redis");
    in.n = 6;
    in.entries = entries;
    in.lens = lens;
    in.redis_up = 1;
    in.latency_ms = 0.25;
    in.info = info;
    in.info_len = strlen(info);
    struct buf b = {0};
    struct json_value *v = render(&in, &b);

    const struct json_value *list = json_get(v, "instances");
    ck_assert_uint_eq(json_count(list), 3);
    const char *order[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(json_string(json_get(json_at(list, i), "id")), order[i]);
    ck_assert_int_eq(int_of(json_at(list, 0), "connections"), 1);
    ck_assert_int_eq(json_typeof(json_get(json_at(list, 0), "self")), JSON_TRUE);
    ck_assert_int_eq(json_typeof(json_get(json_at(list, 1), "self")), JSON_FALSE);
    ck_assert_str_eq(json_string(json_get(json_at(list, 1), "state")), "up");
    ck_assert_int_eq(int_of(json_at(list, 1), "heartbeat_age_s"), 2);
    ck_assert_str_eq(json_string(json_get(json_at(list, 2), "state")), "stale");
    ck_assert_int_eq(int_of(json_at(list, 2), "heartbeat_age_s"), 50);

    const struct json_value *t = json_get(v, "totals");
    ck_assert_int_eq(int_of(t, "instances"), 3);
    ck_assert_int_eq(int_of(t, "instances_up"), 2);
    ck_assert_int_eq(int_of(t, "connections"), 11);
    ck_assert_int_eq(int_of(t, "objects"), 3);
    ck_assert(num_of(t, "messages_out_per_s") == 21.0);

    /* chat is on a and b: counted once, with the larger numbers; the stale instance's
     * object is left out (its numbers are long past). */
    const struct json_value *busy = json_get(v, "busiest");
    ck_assert_uint_eq(json_count(busy), 2);
    const struct json_value *chat = json_at(busy, 0);
    ck_assert_str_eq(json_string(json_get(chat, "objectId")), "chat");
    ck_assert_str_eq(json_string(json_get(chat, "workspaceId")), "1");
    ck_assert_int_eq(int_of(chat, "participants"), 8);
    ck_assert(num_of(chat, "messages_per_s") == 3.5);
    ck_assert_uint_eq(json_count(json_get(chat, "instances")), 2);
    ck_assert_str_eq(json_string(json_get(json_at(busy, 1), "objectId")), "notes");

    const struct json_value *errs = json_get(v, "errors");
    ck_assert_int_eq(int_of(errs, "not_subscribed"), 5);
    ck_assert_int_eq(int_of(errs, "rate_limited"), 5);

    const struct json_value *redis = json_get(v, "redis");
    ck_assert_int_eq(json_typeof(json_get(redis, "up")), JSON_TRUE);
    ck_assert_int_eq(json_typeof(json_get(redis, "cluster")), JSON_FALSE);
    ck_assert(num_of(redis, "latency_ms") == 0.25);
    ck_assert_str_eq(json_string(json_get(redis, "version")), "7.0.15");
    ck_assert_str_eq(json_string(json_get(redis, "role")), "master");
    ck_assert_str_eq(json_string(json_get(redis, "used_memory_human")), "1.00M");
    ck_assert_int_eq(int_of(redis, "used_memory"), 1048576);
    ck_assert_int_eq(int_of(redis, "connected_clients"), 4);
    ck_assert_int_eq(int_of(redis, "uptime_s"), 3600);
    ck_assert_ptr_null(json_get(redis, "maxmemory")); /* not in this INFO */
    json_free(v);
    buf_free(&b);
}
END_TEST

START_TEST(redis_away)
{
    const char *self = "{\"id\":\"a\",\"updated\":1800000000,\"connections\":5}";
    struct status_input in = input_of("a", self, "redis");
    struct buf b = {0};
    struct json_value *v = render(&in, &b);
    const struct json_value *redis = json_get(v, "redis");
    ck_assert_int_eq(json_typeof(json_get(redis, "up")), JSON_FALSE);
    ck_assert_int_eq(json_typeof(json_get(redis, "latency_ms")), JSON_NULL);
    ck_assert_uint_eq(json_count(json_get(v, "instances")), 1);
    ck_assert_int_eq(int_of(json_get(v, "totals"), "connections"), 5);
    json_free(v);
    buf_free(&b);
}
END_TEST

START_TEST(busiest_capped)
{
    /* 3 instances of 16 objects each, all different: the 10 busiest are shown, in order. */
    struct buf e[3] = {{0}};
    const char *entries[3];
    size_t lens[3];
    for (int i = 0; i < 3; i++) {
        buf_printf(&e[i], "{\"id\":\"i%d\",\"updated\":%lld,\"busiest\":[", i, NOW);
        for (int k = 0; k < 16; k++)
            buf_printf(&e[i],
                       "%s{\"key\":\"1:o%d-%d\",\"objectId\":\"o%d-%d\",\"participants\":1,"
                       "\"messages_per_s\":%d}",
                       k ? "," : "", i, k, i, k, i * 16 + k);
        buf_append_str(&e[i], "]}");
        entries[i] = e[i].p;
        lens[i] = e[i].len;
    }
    struct status_input in = input_of("i0", "{}", "redis");
    in.n = 3;
    in.entries = entries;
    in.lens = lens;
    in.redis_up = 1;
    in.latency_ms = 1;
    struct buf b = {0};
    struct json_value *v = render(&in, &b);
    const struct json_value *busy = json_get(v, "busiest");
    ck_assert_uint_eq(json_count(busy), STATUS_BUSIEST);
    ck_assert(num_of(json_at(busy, 0), "messages_per_s") == 47);
    ck_assert(num_of(json_at(busy, STATUS_BUSIEST - 1), "messages_per_s") == 38);
    ck_assert_str_eq(json_string(json_get(json_at(busy, 0), "workspaceId")), "");
    json_free(v);
    buf_free(&b);
    for (int i = 0; i < 3; i++)
        buf_free(&e[i]);
}
END_TEST

static Suite *status_suite(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, memory_engine_self_only);
    tcase_add_test(tc, registry_merged);
    tcase_add_test(tc, redis_away);
    tcase_add_test(tc, busiest_capped);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(status_suite)
