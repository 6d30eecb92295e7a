/*
 * Unit tests of redis_url.c on its own: the host list of a cluster's seed nodes (each host
 * with its own port, IPv6 in brackets, the first one also as host/port for callers that want
 * one server), its bounds, and that a refused URL hands nothing back. What conf.c does with
 * the URL, and the messages of the single-host shapes, are in test_conf.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "redis_url.h"
#include "unit.h"

/* A URL and the hosts it names, "host:port" each ([] left out for IPv6). */
static const struct {
    const char *url;
    const char *password; /* NULL: none */
    int db;
    int nhosts;
    const char *hosts[4];
    int ports[4];
} lists[] = {
    {"redis://127.0.0.1:6379", NULL, 0, 1, {"127.0.0.1"}, {6379}},
    {"redis://h", NULL, 0, 1, {"h"}, {6379}},
    {"redis://h1:7000,h2:7001", NULL, 0, 2, {"h1", "h2"}, {7000, 7001}},
    {"redis://h1,h2:7001,h3", NULL, 0, 3, {"h1", "h2", "h3"}, {6379, 7001, 6379}},
    {"redis://:pw@h1:7000,h2:7001", "pw", 0, 2, {"h1", "h2"}, {7000, 7001}},
    {"redis://user:p@ss,w@h1:1,h2:2/0", "p@ss,w", 0, 2, {"h1", "h2"}, {1, 2}},
    {"redis://h1:7000,[::1]:7001,10.0.0.3:7002",
     NULL,
     0,
     3,
     {"h1", "::1", "10.0.0.3"},
     {7000, 7001, 7002}},
    {"redis://[::1],[fe80::1:2]:7001", NULL, 0, 2, {"::1", "fe80::1:2"}, {6379, 7001}},
    {"redis://h1:7000,h2:7001/", NULL, 0, 2, {"h1", "h2"}, {7000, 7001}},
    {"redis://h1,h2/3", NULL, 3, 2, {"h1", "h2"}, {6379, 6379}},
    {"REDIS://a,b,c,d", NULL, 0, 4, {"a", "b", "c", "d"}, {6379, 6379, 6379, 6379}},
    /* The same seed twice is harmless: the caller connects to one of them. */
    {"redis://h:1,h:1", NULL, 0, 2, {"h", "h"}, {1, 1}},
};

START_TEST(host_lists)
{
    struct redis_url u;
    const char *err = NULL;
    int rc = redis_url_parse(lists[_i].url, &u, &err);
    ck_assert_msg(rc == 0, "%s: %s", lists[_i].url, err);
    ck_assert_int_eq(u.nhosts, lists[_i].nhosts);
    for (int i = 0; i < u.nhosts; i++) {
        ck_assert_str_eq(u.hosts[i].host, lists[_i].hosts[i]);
        ck_assert_int_eq(u.hosts[i].port, lists[_i].ports[i]);
    }
    /* The first host, for callers that want one server; a copy of its own. */
    ck_assert_str_eq(u.host, lists[_i].hosts[0]);
    ck_assert_int_eq(u.port, lists[_i].ports[0]);
    ck_assert_ptr_ne(u.host, u.hosts[0].host);
    if (lists[_i].password)
        ck_assert_pstr_eq(u.password, lists[_i].password);
    else
        ck_assert_ptr_null(u.password);
    ck_assert_int_eq(u.db, lists[_i].db);
    redis_url_free(&u);
    ck_assert_ptr_null(u.host);
    ck_assert_ptr_null(u.hosts);
    ck_assert_int_eq(u.nhosts, 0);
    redis_url_free(&u); /* twice is fine */
}
END_TEST

static const struct {
    const char *url;
    const char *err;
} bad[] = {
    /* empty elements */
    {"redis://h1,,h2", "empty host in the list"},
    {"redis://,h1", "empty host in the list"},
    {"redis://h1,:7000", "empty host in the list"},
    {"redis://:pw@,h1", "empty host in the list"},
    {"redis://h1,", "trailing comma after the last host"},
    {"redis://h1:7000,h2:7001,", "trailing comma after the last host"},
    {"redis://h1,/0", "trailing comma after the last host"},
    {"redis://,", "empty host in the list"},
    /* ports, anywhere in the list */
    {"redis://h1:7000,h2:0", "port must be between 1 and 65535"},
    {"redis://h1:7000,h2:65536", "port must be between 1 and 65535"},
    {"redis://h1:,h2", "port must be between 1 and 65535"},
    {"redis://h1:70x0,h2", "port must be between 1 and 65535"},
    {"redis://h1,[::1]:", "port must be between 1 and 65535"},
    {"redis://h1,[::1]:-1", "port must be between 1 and 65535"},
    /* hosts */
    {"redis://h1,h 2", "bad host (an IPv6 address goes in [...])"},
    {"redis://h1,::1:7000", "empty host in the list"},
    {"redis://h1,[::1", "unclosed [ in host"},
    {"redis://h1,[zz]:1", "bad IPv6 address in [...]"},
    {"redis://h1,[::1]x", "expected :port, a comma or /db after a host"},
    {"redis://[::1]x,h2", "expected :port, a comma or /db after a host"},
    /* the rest of the URL still holds */
    {"redis://h1,h2/1024", "db must be between 0 and 1023"},
    {"redis://h1,h2/x", "db must be between 0 and 1023"},
    {"redis://:@h1,h2", "empty password"},
    {"redis://", "missing host"},
    {"redis://:6379", "missing host"},
    {"http://h1,h2", "must look like redis://[:password@]host[:port][/db]"},
};

START_TEST(bad_urls)
{
    struct redis_url u;
    memset(&u, 0x5a, sizeof(u));
    const char *err = NULL;
    ck_assert_int_eq(redis_url_parse(bad[_i].url, &u, &err), -1);
    ck_assert_msg(err && strcmp(err, bad[_i].err) == 0, "%s: \"%s\", want \"%s\"", bad[_i].url,
                  err ? err : "(null)", bad[_i].err);
    /* *out untouched (and nothing leaked: LeakSanitizer runs with the tests). */
    ck_assert_int_eq(u.nhosts, 0x5a5a5a5a);
}
END_TEST

/* Builds "redis://h0:7000,h1:7001,..." with n hosts. */
static void url_of(struct buf *b, int n)
{
    buf_reset(b);
    buf_append_str(b, "redis://:pw@");
    for (int i = 0; i < n; i++)
        buf_printf(b, "%sh%d:%d", i ? "," : "", i, 7000 + i);
    buf_append_str(b, "/0");
}

START_TEST(host_bound)
{
    struct buf b = {0};
    struct redis_url u;
    const char *err = NULL;
    url_of(&b, REDIS_URL_MAX_HOSTS);
    ck_assert_int_eq(redis_url_parse(b.p, &u, &err), 0);
    ck_assert_int_eq(u.nhosts, REDIS_URL_MAX_HOSTS);
    ck_assert_str_eq(u.hosts[REDIS_URL_MAX_HOSTS - 1].host, "h63");
    ck_assert_int_eq(u.hosts[REDIS_URL_MAX_HOSTS - 1].port, 7063);
    redis_url_free(&u);
    url_of(&b, REDIS_URL_MAX_HOSTS + 1);
    ck_assert_int_eq(redis_url_parse(b.p, &u, &err), -1);
    ck_assert_str_eq(err, "more than 64 hosts");
    url_of(&b, 1000);
    ck_assert_int_eq(redis_url_parse(b.p, &u, &err), -1);
    ck_assert_str_eq(err, "more than 64 hosts");
    buf_free(&b);
}
END_TEST

static Suite *redis_url_suite(void)
{
    Suite *s = suite_create("redis_url");
    TCase *tc = tcase_create("hosts");
    tcase_add_loop_test(tc, host_lists, 0, sizeof(lists) / sizeof(lists[0]));
    tcase_add_loop_test(tc, bad_urls, 0, sizeof(bad) / sizeof(bad[0]));
    tcase_add_test(tc, host_bound);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(redis_url_suite)
