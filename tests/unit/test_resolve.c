/*
 * resolve.c: names looked up beside the loop and answered on it, IPv4 first, failures with
 * their reason, lookups cancelled before they answer (never called back), and many at once.
 * The names are the machine's own (/etc/hosts' localhost) and ones that cannot exist
 * (.invalid, RFC 6761), so no network is needed.
 */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "resolve.h"
#include "unit.h"

static struct event_base *evbase;

struct answer {
    int calls;
    char addr[64];
    char error[160];
};

static void on_answer(const char *addr, const char *error, void *arg)
{
    struct answer *a = arg;
    a->calls++;
    snprintf(a->addr, sizeof(a->addr), "%s", addr ? addr : "");
    snprintf(a->error, sizeof(a->error), "%s", error ? error : "");
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Runs the loop until every answer came or ms passed. */
static void run_until(struct answer *a, int n, int64_t ms)
{
    int64_t deadline = now_ms() + ms;
    for (;;) {
        int left = 0;
        for (int i = 0; i < n; i++)
            left += a[i].calls == 0;
        if (!left || now_ms() > deadline)
            return;
        event_base_loop(evbase, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
}

static void setup(void)
{
    evbase = event_base_new();
}

static void teardown(void)
{
    event_base_free(evbase);
}

START_TEST(numeric_hosts)
{
    ck_assert_int_eq(resolve_is_numeric("127.0.0.1"), 1);
    ck_assert_int_eq(resolve_is_numeric("10.89.0.4"), 1);
    ck_assert_int_eq(resolve_is_numeric("::1"), 1);
    ck_assert_int_eq(resolve_is_numeric("fe80::1:2"), 1);
    ck_assert_int_eq(resolve_is_numeric("localhost"), 0);
    ck_assert_int_eq(resolve_is_numeric("redis"), 0);
    ck_assert_int_eq(resolve_is_numeric("[::1]"), 0);
    ck_assert_int_eq(resolve_is_numeric("127.1"), 0);
    ck_assert_int_eq(resolve_is_numeric("1.2.3.4.example"), 0);
    ck_assert_int_eq(resolve_is_numeric(""), 0);
}
END_TEST

START_TEST(localhost_answers_ipv4_on_the_loop)
{
    struct answer a = {0};
    struct resolve *r = resolve_start(evbase, "localhost", on_answer, &a);
    ck_assert_ptr_nonnull(r);
    /* Never called back from inside resolve_start(). */
    ck_assert_int_eq(a.calls, 0);
    run_until(&a, 1, 10000);
    ck_assert_int_eq(a.calls, 1);
    /* IPv4 first, also where /etc/hosts gives localhost ::1 too. */
    ck_assert_str_eq(a.addr, "127.0.0.1");
    ck_assert_str_eq(a.error, "");
    /* Once only. */
    run_until(&a, 1, 50);
    ck_assert_int_eq(a.calls, 1);
}
END_TEST

START_TEST(unknown_name_fails_with_a_reason)
{
    struct answer a = {0};
    ck_assert_ptr_nonnull(resolve_start(evbase, "no-such-host.invalid", on_answer, &a));
    run_until(&a, 1, 30000);
    ck_assert_int_eq(a.calls, 1);
    ck_assert_str_eq(a.addr, "");
    ck_assert_msg(a.error[0] != '\0', "a failed lookup says why");
}
END_TEST

START_TEST(cancelled_lookup_is_never_answered)
{
    /* Four lookups kept and four cancelled at once, before their thread can have answered. */
    struct answer kept[4] = {{0}}, cancelled[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_nonnull(resolve_start(evbase, "localhost", on_answer, &kept[i]));
        resolve_cancel(resolve_start(evbase, "no-such-host.invalid", on_answer, &cancelled[i]));
    }
    run_until(kept, 4, 10000);
    /* Give the cancelled ones time to finish in their threads. */
    struct answer idle = {0};
    run_until(&idle, 1, 300);
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(kept[i].addr, "127.0.0.1");
        ck_assert_int_eq(cancelled[i].calls, 0);
    }
    resolve_cancel(NULL);
}
END_TEST

START_TEST(many_at_once)
{
    enum { N = 64 };
    static struct answer a[N];
    memset(a, 0, sizeof(a));
    for (int i = 0; i < N; i++)
        ck_assert_ptr_nonnull(resolve_start(evbase, "localhost", on_answer, &a[i]));
    run_until(a, N, 20000);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(a[i].calls, 1);
        ck_assert_str_eq(a[i].addr, "127.0.0.1");
    }
}
END_TEST

static Suite *resolve_suite(void)
{
    Suite *s = suite_create("resolve");
    TCase *tc = tcase_create("lookups");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, numeric_hosts);
    tcase_add_test(tc, localhost_answers_ipv4_on_the_loop);
    tcase_add_test(tc, unknown_name_fails_with_a_reason);
    tcase_add_test(tc, cancelled_lookup_is_never_answered);
    tcase_add_test(tc, many_at_once);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(resolve_suite)
