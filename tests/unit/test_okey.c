/*
 * Unit tests for object keys (okey.c, docs/operations.md "Redis"): the exact encoding of every
 * byte class, the examples of the protocol, that the pairs that used to collide no longer
 * do, and that the decoder takes back exactly what the encoder writes.
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "okey.h"
#include "registry.h"
#include "unit.h"

static char *key_of(struct buf *b, const char *ws, const char *obj)
{
    okey_build(b, ws, strlen(ws), obj, strlen(obj));
    return b->p;
}

START_TEST(protocol_examples)
{
    struct buf b = {0};
    ck_assert_str_eq(key_of(&b, "987", "L1"), "987:L1");
    ck_assert_str_eq(key_of(&b, "acme", "eng:board"), "acme:eng%3Aboard");
    ck_assert_str_eq(key_of(&b, "acme:eng", "board"), "acme%3Aeng:board");
    buf_free(&b);
}
END_TEST

START_TEST(colliding_pairs_differ)
{
    struct buf a = {0}, b = {0};
    ck_assert_str_ne(key_of(&a, "acme", "eng:board"), key_of(&b, "acme:eng", "board"));
    ck_assert_str_ne(key_of(&a, "a%3Ab", "c"), key_of(&b, "a:b", "c"));
    ck_assert_str_ne(key_of(&a, "a", "b}:{c"), key_of(&b, "a:b}", "{c"));
    /* The registry names objects this way too. */
    registry_object_key(&a, "acme", "eng:board");
    registry_object_key(&b, "acme:eng", "board");
    ck_assert_str_eq(a.p, "acme:eng%3Aboard");
    ck_assert_str_eq(b.p, "acme%3Aeng:board");
    buf_free(&a);
    buf_free(&b);
}
END_TEST

/* Every byte value: the ones the protocol names become %XY, all others stay. */
START_TEST(every_byte)
{
    struct buf b = {0};
    for (int c = 1; c < 256; c++) {
        char id[2] = {(char)c, 0};
        okey_build(&b, id, 1, "o", 1);
        int encoded = c < 0x21 || c == 0x7f || c == '%' || c == ':' || c == '{' || c == '}';
        char want[8];
        if (encoded)
            snprintf(want, sizeof(want), "%%%02X:o", c);
        else
            snprintf(want, sizeof(want), "%c:o", c);
        ck_assert_msg(strcmp(b.p, want) == 0, "byte 0x%02x: %s, want %s", c, b.p, want);
    }
    /* NUL is a byte like the others when an id is given with its length. */
    okey_build(&b, "a\0b", 3, "", 0);
    ck_assert_str_eq(b.p, "a%00b:");
    buf_free(&b);
}
END_TEST

START_TEST(spaces_braces_percent_utf8)
{
    struct buf b = {0};
    ck_assert_str_eq(key_of(&b, "my ws", "{x}"), "my%20ws:%7Bx%7D");
    ck_assert_str_eq(key_of(&b, "100%", "a\tb\x7f"), "100%25:a%09b%7F");
    /* Bytes from 0x80 up (UTF-8 here) are kept as they are. */
    ck_assert_str_eq(key_of(&b, "\xc3\xa9quipe", "\xe2\x9c\x93 ok"),
                     "\xc3\xa9quipe:\xe2\x9c\x93%20ok");
    ck_assert_str_eq(key_of(&b, "", ""), ":");
    buf_free(&b);
}
END_TEST

START_TEST(round_trip)
{
    static const char *ids[] = {"", "987", "eng:board", "a%b", "{}", "x y\n", "\xc3\xa9", "%3A",
                                "::", "%", "\x01\x1f\x20\x21\x7e\x7f\x80\xff"};
    size_t n = sizeof(ids) / sizeof(ids[0]);
    struct buf k = {0}, ws = {0}, obj = {0};
    const char *err = NULL;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            key_of(&k, ids[i], ids[j]);
            ck_assert_msg(okey_parse(k.p, k.len, &ws, &obj, &err) == 0, "%s: %s", k.p, err);
            ck_assert_str_eq(ws.p, ids[i]);
            ck_assert_str_eq(obj.p, ids[j]);
        }
    buf_free(&k);
    buf_free(&ws);
    buf_free(&obj);
}
END_TEST

/* Only what the encoder writes is read back, so a key names one pair in one way. */
START_TEST(parse_refuses_non_keys)
{
    static const char *bad[] = {
        "",           /* no ':' */
        "acme",       /* no ':' */
        "a:b:c",      /* the separator twice */
        "a%3a:b",     /* lower-case hex */
        "a%41:b",     /* 'A' is never encoded */
        "a%:b",       /* short escape */
        "a:b%2",      /* short escape at the end */
        "a:b%",       /* '%' alone */
        "a%G0:b",     /* not hex */
        "a b:c",      /* raw space */
        "a:{b}",      /* raw braces */
        "a\x7f:b",    /* raw DEL */
    };
    struct buf ws = {0}, obj = {0};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *err = NULL;
        ck_assert_msg(okey_parse(bad[i], strlen(bad[i]), &ws, &obj, &err) == -1, "%s", bad[i]);
        ck_assert_ptr_nonnull(err);
    }
    const char *err = NULL;
    ck_assert_int_eq(okey_parse("a\0b:c", 5, &ws, &obj, &err), -1); /* raw NUL */
    buf_free(&ws);
    buf_free(&obj);
}
END_TEST

static Suite *okey_suite(void)
{
    Suite *s = suite_create("okey");
    TCase *tc = tcase_create("encode");
    tcase_add_test(tc, protocol_examples);
    tcase_add_test(tc, colliding_pairs_differ);
    tcase_add_test(tc, every_byte);
    tcase_add_test(tc, spaces_braces_percent_utf8);
    suite_add_tcase(s, tc);
    tc = tcase_create("decode");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, parse_refuses_non_keys);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(okey_suite)
