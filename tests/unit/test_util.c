/*
 * Unit tests for util.c: hex digits, %-decoding (with and without '+' as a space, in place),
 * plain decimal integers and their bounds, host-name and IPv6 syntax, and the two clocks.
 */
#include <limits.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "unit.h"
#include "util.h"

START_TEST(hex_value)
{
    const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        ck_assert_int_eq(util_hex_value(digits[i]), i);
        if (i >= 10)
            ck_assert_int_eq(util_hex_value((char)(digits[i] - 'a' + 'A')), i);
    }
    /* Every other byte is no digit. */
    for (int c = 0; c < 256; c++) {
        if (strchr("0123456789abcdefABCDEF", c) && c != 0)
            continue;
        ck_assert_msg(util_hex_value((char)c) == -1, "byte 0x%02x", c);
    }
}
END_TEST

/* Decodes text with util_percent_decode(); returns its result and the text in out. */
static long decode(const char *text, int plus_space, char *out)
{
    return util_percent_decode(text, strlen(text), plus_space, out);
}

START_TEST(percent_decode)
{
    char out[64];
    ck_assert_int_eq(decode("", 0, out), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(decode("plain", 0, out), 5);
    ck_assert_str_eq(out, "plain");
    ck_assert_int_eq(decode("p%40ss%25", 0, out), 5);
    ck_assert_str_eq(out, "p@ss%");
    ck_assert_int_eq(decode("%e6%97%A5", 0, out), 3);
    ck_assert_str_eq(out, "\xe6\x97\xa5");
    /* '+' is a space only when asked (query strings), never inside an escape. */
    ck_assert_int_eq(decode("a+b%2B", 0, out), 4);
    ck_assert_str_eq(out, "a+b+");
    ck_assert_int_eq(decode("a+b%2B", 1, out), 4);
    ck_assert_str_eq(out, "a b+");
}
END_TEST

START_TEST(percent_decode_refuses)
{
    static const char *const bad[] = {
        "%",    /* cut short */
        "a%4",  /* one digit */
        "%4g",  /* not hex */
        "%g4",  /* not hex */
        "%00",  /* NUL */
        "ok%0", /* cut short at the end */
        "%%41", /* a '%' is never literal */
    };
    char out[64];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(decode(bad[i], 0, out) == -1, "%s", bad[i]);
        ck_assert_msg(decode(bad[i], 1, out) == -1, "%s with plus_space", bad[i]);
    }
}
END_TEST

START_TEST(percent_decode_in_place)
{
    char s[] = "a%20b%2Fc+d";
    ck_assert_int_eq(util_percent_decode(s, strlen(s), 1, s), 7);
    ck_assert_str_eq(s, "a b/c d");
}
END_TEST

START_TEST(parse_integer)
{
    long long v = 42;
    ck_assert_int_eq(util_parse_integer("0", 1, &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(util_parse_integer("0080", 4, &v), 0); /* decimal, not octal */
    ck_assert_int_eq(v, 80);
    ck_assert_int_eq(util_parse_integer("-17", 3, &v), 0);
    ck_assert_int_eq(v, -17);
    ck_assert_int_eq(util_parse_integer("6379/2", 4, &v), 0); /* only n bytes count */
    ck_assert_int_eq(v, 6379);
    ck_assert_int_eq(util_parse_integer("9223372036854775807", 19, &v), 0);
    ck_assert(v == LLONG_MAX);
    ck_assert_int_eq(util_parse_integer("-9223372036854775808", 20, &v), 0);
    ck_assert(v == LLONG_MIN);

    v = 42;
    static const char *const garbage[] = {"",   "-",    " 1",  "1 ",  "+1",
                                          "1k", "0x10", "1e3", "--1", "99999999999999999999x"};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        ck_assert_msg(util_parse_integer(garbage[i], strlen(garbage[i]), &v) == -1, "%s",
                      garbage[i]);
    ck_assert_int_eq(v, 42); /* untouched */
    ck_assert_int_eq(util_parse_integer("9223372036854775808", 19, &v), -2);
    ck_assert_int_eq(util_parse_integer("-9223372036854775809", 20, &v), -2);
    ck_assert_int_eq(util_parse_integer("99999999999999999999", 20, &v), -2);
    ck_assert_int_eq(v, 42);
}
END_TEST

START_TEST(parse_bounded)
{
    long long v = 42;
    ck_assert_int_eq(util_parse_bounded("1", 1, 65535, &v), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(util_parse_bounded("65535", 1, 65535, &v), 0);
    ck_assert_int_eq(v, 65535);
    v = 42;
    ck_assert_int_eq(util_parse_bounded("0", 1, 65535, &v), -2);
    ck_assert_int_eq(util_parse_bounded("65536", 1, 65535, &v), -2);
    ck_assert_int_eq(util_parse_bounded("-1", 0, 10, &v), -2);
    ck_assert_int_eq(util_parse_bounded("99999999999999999999", 0, 10, &v), -2);
    ck_assert_int_eq(util_parse_bounded("10s", 0, 10, &v), -1);
    ck_assert_int_eq(util_parse_bounded("", 0, 10, &v), -1);
    ck_assert_int_eq(v, 42);
}
END_TEST

START_TEST(host_syntax)
{
    static const struct {
        int (*valid)(const char *, size_t);
        const char *s;
        int ok;
    } cases[] = {
        {util_host_name_valid, "localhost", 1},
        {util_host_name_valid, "redis_1", 1},
        {util_host_name_valid, "a-b.example.COM", 1},
        {util_host_name_valid, "10.0.0.1", 1},
        {util_host_name_valid, "", 0},
        {util_host_name_valid, "a b", 0},
        {util_host_name_valid, "a:b", 0},
        {util_host_name_valid, "a/b", 0},
        {util_host_name_valid, "[::1]", 0},
        {util_host_name_valid, "h\xc3\xa9", 0},
        {util_ipv6_valid, "::1", 1},
        {util_ipv6_valid, "fe80::1:2", 1},
        {util_ipv6_valid, "::ffff:10.0.0.1", 1},
        {util_ipv6_valid, "2001:DB8::A", 1},
        {util_ipv6_valid, "", 0},
        {util_ipv6_valid, ":", 0},
        {util_ipv6_valid, "1:2", 0},
        {util_ipv6_valid, "::g", 0},
        {util_ipv6_valid, "[::1]", 0},
        {util_ipv6_valid, "::1%eth0", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(!!cases[i].valid(cases[i].s, strlen(cases[i].s)) == cases[i].ok, "%s",
                      cases[i].s);
    ck_assert(!util_host_name_valid("ab", 0));
    ck_assert(util_host_name_valid("ab:", 2)); /* only n bytes count */
}
END_TEST

START_TEST(clocks)
{
    /* The wall clock is gettimeofday's, in milliseconds. */
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t before = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    int64_t wall = util_wall_ms();
    gettimeofday(&tv, NULL);
    int64_t after = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    ck_assert(before <= wall && wall <= after);

    /* The monotonic one is CLOCK_MONOTONIC_COARSE's: the precise monotonic clock as of its
     * last tick, so never ahead of it and behind it by one resolution at the most. */
    struct timespec res, ts;
    clock_getres(CLOCK_MONOTONIC_COARSE, &res);
    int64_t slack = (int64_t)res.tv_sec * 1000 + res.tv_nsec / 1000000 + 1;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t first = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t a = util_monotonic_coarse_ms();
    int64_t b = util_monotonic_coarse_ms();
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t last = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    ck_assert(a <= b);
    ck_assert_msg(first - slack <= a && b <= last, "coarse %lld..%lld, precise %lld..%lld",
                  (long long)a, (long long)b, (long long)first, (long long)last);
}
END_TEST

static Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("text");
    tcase_add_test(tc, hex_value);
    tcase_add_test(tc, percent_decode);
    tcase_add_test(tc, percent_decode_refuses);
    tcase_add_test(tc, percent_decode_in_place);
    tcase_add_test(tc, parse_integer);
    tcase_add_test(tc, parse_bounded);
    tcase_add_test(tc, host_syntax);
    suite_add_tcase(s, tc);
    tc = tcase_create("clocks");
    tcase_add_test(tc, clocks);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(util_suite)
