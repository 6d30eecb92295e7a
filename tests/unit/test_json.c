/* Unit tests for src/json.c and src/base64.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "json.h"
#include "unit.h"

/* --- helpers ------------------------------------------------------------------------------ */

static struct json_value *parse_n(const char *text, size_t len, const char **err)
{
    *err = NULL;
    return json_parse(text, len, err);
}

static struct json_value *parse(const char *text)
{
    const char *err;
    struct json_value *v = parse_n(text, strlen(text), &err);
    ck_assert_msg(v != NULL, "refused (%s): %s", err ? err : "?", text);
    return v;
}

/* Asserts json_parse refuses len bytes of text and names a reason. */
static void assert_parse_refused_n(const char *text, size_t len)
{
    const char *err;
    struct json_value *v = parse_n(text, len, &err);
    ck_assert_msg(v == NULL, "accepted: %.*s", (int)(len < 120 ? len : 120), text);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_gt(strlen(err), 0);
}

static void assert_parse_refused(const char *text)
{
    assert_parse_refused_n(text, strlen(text));
}

/* open, then levels copies of open_c, middle, levels copies of close_c, then close. */
static char *nest(int levels, const char *open, const char *middle, const char *close)
{
    struct buf b = {0};
    for (int i = 0; i < levels; i++)
        buf_append_str(&b, open);
    buf_append_str(&b, middle);
    for (int i = 0; i < levels; i++)
        buf_append_str(&b, close);
    return buf_detach(&b);
}

/* Both json_parse and json_validate give verdict ok for text. */
static void assert_both(const char *text, int ok)
{
    const char *err;
    struct json_value *v = parse_n(text, strlen(text), &err);
    ck_assert_msg((v != NULL) == ok, "json_parse %s: %.80s...", ok ? "refused" : "accepted", text);
    json_free(v);
    ck_assert_msg(json_validate(text, strlen(text)) == ok, "json_validate %s: %.80s...",
                  ok ? "refused" : "accepted", text);
}

/* --- json_parse --------------------------------------------------------------------------- */

START_TEST(test_parse_valid)
{
    struct json_value *v = parse(" {\"a\":[1,2.5,\"x\",true,false,null,{}],\"b\":{\"c\":\"d\"}} ");
    ck_assert_int_eq(json_typeof(v), JSON_OBJECT);
    const struct json_value *a = json_get(v, "a");
    ck_assert_int_eq(json_typeof(a), JSON_ARRAY);
    ck_assert_str_eq(json_string(json_get(json_get(v, "b"), "c")), "d");
    json_free(v);

    static const struct {
        const char *text;
        enum json_type type;
    } scalars[] = {
        {"1", JSON_NUMBER},  {"-0.5e-3", JSON_NUMBER}, {"\"s\"", JSON_STRING},
        {"true", JSON_TRUE}, {"false", JSON_FALSE},    {"null", JSON_NULL},
        {"[]", JSON_ARRAY},  {"{}", JSON_OBJECT},      {"\t\r\n 7 \n", JSON_NUMBER},
    };
    for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
        v = parse(scalars[i].text);
        ck_assert_int_eq(json_typeof(v), scalars[i].type);
        json_free(v);
    }
}
END_TEST

/* Walking arrays and objects, and numbers that are not integers. */
START_TEST(test_walk_and_doubles)
{
    struct json_value *v = parse("{\"a\":[1,2.5,\"x\"],\"b\":{\"c\":3,\"d\":-0.25},\"e\":\"s\"}");
    ck_assert_uint_eq(json_count(v), 3);
    ck_assert_str_eq(json_key_at(v, 0), "a");
    ck_assert_str_eq(json_key_at(v, 2), "e");
    ck_assert_ptr_null(json_key_at(v, 3));
    const struct json_value *a = json_get(v, "a");
    ck_assert_uint_eq(json_count(a), 3);
    ck_assert_ptr_null(json_key_at(a, 0));
    double d = 0;
    ck_assert_int_eq(json_double(json_at(a, 1), &d), 0);
    ck_assert(d == 2.5);
    ck_assert_int_eq(json_double(json_at(a, 0), &d), 0);
    ck_assert(d == 1.0);
    ck_assert_int_eq(json_double(json_at(a, 2), &d), -1);
    ck_assert_ptr_null(json_at(a, 3));
    const struct json_value *b = json_at(v, 1);
    ck_assert_str_eq(json_key_at(b, 1), "d");
    ck_assert_int_eq(json_double(json_at(b, 1), &d), 0);
    ck_assert(d == -0.25);
    ck_assert_uint_eq(json_count(json_get(v, "e")), 0);
    ck_assert_ptr_null(json_at(json_get(v, "e"), 0));
    json_free(v);
}
END_TEST

/* A token cut short after a complete value is trailing garbage, not a token to come. */
START_TEST(test_cut_token_after_value)
{
    static const char *bad[] = {
        "{\"a\":1}\"",   "{\"a\":1}\"x",  "{\"a\":1}\":4.5}]}", "[1] 2",  "{} tru",
        "{} nul",        "1 2",           "\"a\" \"b",        "{}]",    "{}}",
        "true false",    "{\"a\":\"x}",    "\"open",            "[1,\"2]",
    };
    static const char *good[] = {
        "{\"a\":1}",  " {\"a\":1} \r\n\t", "[1, 2]", "1", " 12 ", "\"a\\\"b\"", "true",
        "{\"a\":\"}\\\"\"}", "[[],{}] ",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(!json_single_value(bad[i], strlen(bad[i])), "single value: %s", bad[i]);
        ck_assert_msg(!json_validate(bad[i], strlen(bad[i])), "valid: %s", bad[i]);
        const char *err = NULL;
        struct json_value *v = json_parse(bad[i], strlen(bad[i]), &err);
        ck_assert_msg(v == NULL, "parsed: %s", bad[i]);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(json_single_value(good[i], strlen(good[i])), "not single: %s", good[i]);
        ck_assert_msg(json_validate(good[i], strlen(good[i])), "not valid: %s", good[i]);
    }
}
END_TEST

START_TEST(test_parse_invalid)
{
    static const char *const bad[] = {
        "",        " ",   "{",        "}",          "[1,]",     "{\"a\":1,}", "{\"a\"}",    "{a:1}",
        "{'a':1}", "'a'", "tru",      "nul",        "01",       "+1",         ".5",         "1.",
        "1e",      "NaN", "Infinity", "\"abc",      "\"\\x\"",  "\"\\u12\"",  "\"a\tb\"",   "[1]]",
        "[1] x",   "1 2", "{}{}",     "\"a\"\"b\"", "/* c */1", "1 // c",     "[1,/*x*/2]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_parse_refused(bad[i]);
}
END_TEST

START_TEST(test_parse_length_respected)
{
    const char *err;
    /* Only the first len bytes are the document. */
    struct json_value *v = parse_n("[1]garbage", 3, &err);
    ck_assert_ptr_nonnull(v);
    json_free(v);
    assert_parse_refused_n("[1,2]", 4);
}
END_TEST

START_TEST(test_depth_limit)
{
    char *at = nest(JSON_MAX_DEPTH, "[", "", "]");
    char *over = nest(JSON_MAX_DEPTH + 1, "[", "", "]");
    assert_both(at, 1);
    assert_both(over, 0);
    free(at);
    free(over);

    /* Objects count the same as arrays. */
    at = nest(JSON_MAX_DEPTH, "{\"k\":", "1", "}");
    over = nest(JSON_MAX_DEPTH + 1, "{\"k\":", "1", "}");
    assert_both(at, 1);
    assert_both(over, 0);
    free(at);
    free(over);

    at = nest(JSON_MAX_DEPTH / 2, "[{\"k\":", "1", "}]");
    over = nest(JSON_MAX_DEPTH / 2, "[{\"k\":", "[]", "}]");
    assert_both(at, 1);
    assert_both(over, 0);
    free(at);
    free(over);

    /* Far beyond the limit: refused without yajl building (and recursively freeing) it. */
    char *huge = nest(100000, "[", "", "]");
    assert_both(huge, 0);
    free(huge);
}
END_TEST

START_TEST(test_depth_brackets_in_strings)
{
    /* Brackets and braces inside strings are text, not nesting... */
    char *s = nest(JSON_MAX_DEPTH, "[", "\"[[[{{{]]]\"", "]");
    assert_both(s, 1);
    free(s);
    /* ...also after an escaped quote or backslash, which must not end the string early... */
    s = nest(JSON_MAX_DEPTH, "[", "\"\\\"[[[{{\\\\\",\"\\\\\"", "]");
    assert_both(s, 1);
    free(s);
    /* ...and keys are strings too. */
    s = nest(JSON_MAX_DEPTH, "{\"[{\":", "0", "}");
    assert_both(s, 1);
    free(s);
    /* While a quote that really ends the string puts the brackets back in the count. */
    s = nest(JSON_MAX_DEPTH, "[", "\"\\\\\",[]", "]");
    assert_both(s, 0);
    free(s);
}
END_TEST

START_TEST(test_depth_hidden_in_comment)
{
    /* A quote inside a comment must not make the depth scan skip real brackets. */
    char *inner = nest(200, "[", "", "]");
    struct buf b = {0};
    buf_printf(&b, "[/*\"*/%s/*\"*/]", inner);
    assert_both(b.p, 0);
    buf_free(&b);
    free(inner);
}
END_TEST

/* Found by fuzz_proto: yajl takes \v and \f for whitespace, JSON and browsers do not. */
START_TEST(test_vertical_tab_and_form_feed)
{
    assert_both("{\"a\"\v:1}", 0);
    assert_both("\f[1]", 0);
    assert_both("[1,\v2]", 0);
    assert_both("{\"a\":1}\f", 0);
    assert_both("[\"\\f\\u000b\"]", 1); /* escaped inside a string they are fine */
}
END_TEST

START_TEST(test_parse_invalid_utf8)
{
    static const char *const bad[] = {
        "\"\xc3\x28\"",         /* bad continuation */
        "\"\xc0\xaf\"",         /* overlong '/' */
        "\"\xe0\x80\xaf\"",     /* overlong, 3 bytes */
        "\"\xed\xa0\x80\"",     /* UTF-16 surrogate */
        "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"\xf5\x80\x80\x80\"", /* never a lead byte */
        "\"\xe6\x97\"",         /* truncated */
        "\"\xff\"",             /* never valid */
        "\"\x80\"",             /* lone continuation */
        "{\"\xc3\x28\":1}",     /* in a key */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_parse_refused(bad[i]);
    struct json_value *v = parse("\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"");
    ck_assert_str_eq(json_string(v), "\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
    json_free(v);
}
END_TEST

START_TEST(test_parse_embedded_nul)
{
    assert_parse_refused_n("\"a\0b\"", 5);
    assert_parse_refused_n("[1]\0", 4);
    assert_parse_refused_n("\0", 1);
    assert_parse_refused_n("{\"a\0\":1}", 8);
}
END_TEST

START_TEST(test_parse_escapes)
{
    struct json_value *v = parse("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"");
    ck_assert_str_eq(json_string(v), "\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
    json_free(v);
    /* Escapes a C string cannot carry faithfully: \u0000 would cut the string short (two
     * different ids would compare equal), and yajl turns unpaired surrogates into invalid
     * UTF-8 or pairs them with whatever follows. */
    assert_parse_refused("\"a\\u0000b\"");
    assert_parse_refused("{\"a\\u0000\":1}");
    assert_parse_refused("\"\\udc00\"");
    assert_parse_refused("\"\\ud800\"");
    assert_parse_refused("\"\\ud800x\"");
    assert_parse_refused("\"\\ud800\\u0041\"");
    assert_parse_refused("\"\\uDBFF\\uDBFF\"");
    v = parse("\"\\uDBFF\\uDFFF\"");
    ck_assert_str_eq(json_string(v), "\xf4\x8f\xbf\xbf");
    json_free(v);
    /* An escaped backslash before "u0000" is just text. */
    v = parse("\"\\\\u0000\"");
    ck_assert_str_eq(json_string(v), "\\u0000");
    json_free(v);
}
END_TEST

/* --- json_u_escape ------------------------------------------------------------------------ */

/* json_u_escape() over the whole of text; *len starts at 99 to see whether it is set. */
static long u_escape(const char *text, size_t *len)
{
    *len = 99;
    return json_u_escape(text, strlen(text), len);
}

START_TEST(test_u_escape_code_points)
{
    static const struct {
        const char *text;
        long code;
        size_t len;
    } ok[] = {
        {"\\u0041", 0x41, 6},
        {"\\u00e9 and more", 0xe9, 6},
        {"\\uFFFF", 0xffff, 6},
        {"\\u0000", 0, 6},
        {"\\uD7FF", 0xd7ff, 6}, /* just outside the surrogates */
        {"\\uE000", 0xe000, 6},
        {"\\ud83d\\ude00", 0x1f600, 12}, /* pairs */
        {"\\uD800\\uDC00\"", 0x10000, 12},
        {"\\uDBFF\\uDFFF", 0x10ffff, 12},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        size_t len;
        long code = u_escape(ok[i].text, &len);
        ck_assert_msg(code == ok[i].code && len == ok[i].len, "%s: %ld, len %zu", ok[i].text, code,
                      len);
    }
}
END_TEST

START_TEST(test_u_escape_lone_surrogates)
{
    static const char *const lone[] = {
        "\\udc00",         /* a low surrogate first */
        "\\uDFFF\\uDC00",  /* two low ones */
        "\\ud800",         /* a high one at the end */
        "\\ud800x",        /* followed by text */
        "\\ud800\\u0041",  /* followed by another escape */
        "\\uDBFF\\uDBFF",  /* followed by a high one */
        "\\ud800\\udc0",   /* its low half cut short */
        "\\ud800\\uzzzz",  /* its low half with bad hex */
        "\\ud800\\n",      /* another kind of escape */
        "\\ud800\\\\udc00" /* an escaped backslash, then text */
    };
    for (size_t i = 0; i < sizeof(lone) / sizeof(lone[0]); i++) {
        size_t len;
        ck_assert_msg(u_escape(lone[i], &len) == JSON_U_LONE, "%s", lone[i]);
        ck_assert_msg(len == 6, "%s: len %zu", lone[i], len);
    }
}
END_TEST

START_TEST(test_u_escape_none)
{
    static const char *const none[] = {
        "\\u12g4", "\\uzzzz", "\\u-123",   "\\u 123",       /* bad hex */
        "\\u",     "\\u1",    "\\u12",     "\\u123",  "\\", /* cut short */
        "\\n",     "\\\"",    "\\\\u0041",                  /* other escapes */
        "u0041",   "x",                                     /* no backslash */
    };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        size_t len;
        ck_assert_msg(u_escape(none[i], &len) == JSON_U_NONE, "%s", none[i]);
        ck_assert_msg(len == 99, "%s: len set", none[i]);
    }
    /* Only n bytes count. */
    size_t len = 99;
    ck_assert_int_eq(json_u_escape("\\u0041", 5, &len), JSON_U_NONE);
    ck_assert_int_eq(json_u_escape("\\u0041", 0, &len), JSON_U_NONE);
    ck_assert_uint_eq(len, 99);
    ck_assert_int_eq(json_u_escape("\\ud800\\udc00", 11, &len), JSON_U_LONE);
}
END_TEST

/* How json_parse() uses it: a bad \u escape is skipped like any escape (yajl refuses it
 * later), so a lone surrogate after it is still found. data_parse() differs on purpose:
 * see test_data.c's test_parse_surrogates_after_bad_hex. */
START_TEST(test_parse_lone_surrogate_after_bad_hex)
{
    const char *err = NULL;
    const char *text = "{\"a\":\"\\uzz\",\"b\":\"\\ud800\"}";
    ck_assert_ptr_null(parse_n(text, strlen(text), &err));
    ck_assert_str_eq(err, "unsupported \\u escape");
    text = "{\"a\":\"x\\u12";
    ck_assert_ptr_null(parse_n(text, strlen(text), &err));
    ck_assert_str_eq(err, "invalid JSON");
    text = "{\"a\":\"\\ud800\\u";
    ck_assert_ptr_null(parse_n(text, strlen(text), &err));
    ck_assert_str_eq(err, "unsupported \\u escape");
}
END_TEST

/* --- access ------------------------------------------------------------------------------- */

START_TEST(test_get)
{
    struct json_value *v = parse("{\"a\":1,\"b\":\"x\",\"a\":2,\"n\":{\"a\":3},\"a\":3}");
    long long i;
    /* Last duplicate wins. */
    ck_assert_int_eq(json_integer(json_get(v, "a"), &i), 0);
    ck_assert_int_eq(i, 3);
    ck_assert_str_eq(json_string(json_get(v, "b")), "x");
    ck_assert_ptr_null(json_get(v, "c"));
    ck_assert_ptr_null(json_get(v, "A"));
    ck_assert_ptr_null(json_get(v, ""));
    ck_assert_ptr_null(json_get(json_get(v, "b"), "a"));
    ck_assert_ptr_null(json_get(NULL, "a"));
    ck_assert_int_eq(json_integer(json_get(json_get(v, "n"), "a"), &i), 0);
    ck_assert_int_eq(i, 3);
    json_free(v);

    v = parse("{\"k\":\"first\",\"k\":\"last\"}");
    ck_assert_str_eq(json_string(json_get(v, "k")), "last");
    json_free(v);

    v = parse("[{\"a\":1}]");
    ck_assert_ptr_null(json_get(v, "a"));
    json_free(v);
}
END_TEST

START_TEST(test_types_and_strings)
{
    struct json_value *v = parse("{\"s\":\"\",\"n\":1e3,\"t\":true,\"f\":false,\"z\":null,"
                                 "\"o\":{},\"a\":[]}");
    ck_assert_int_eq(json_typeof(json_get(v, "s")), JSON_STRING);
    ck_assert_int_eq(json_typeof(json_get(v, "n")), JSON_NUMBER);
    ck_assert_int_eq(json_typeof(json_get(v, "t")), JSON_TRUE);
    ck_assert_int_eq(json_typeof(json_get(v, "f")), JSON_FALSE);
    ck_assert_int_eq(json_typeof(json_get(v, "z")), JSON_NULL);
    ck_assert_int_eq(json_typeof(json_get(v, "o")), JSON_OBJECT);
    ck_assert_int_eq(json_typeof(json_get(v, "a")), JSON_ARRAY);
    ck_assert_int_eq(json_typeof(NULL), JSON_NULL);
    ck_assert_str_eq(json_string(json_get(v, "s")), "");
    ck_assert_ptr_null(json_string(json_get(v, "n")));
    ck_assert_ptr_null(json_string(json_get(v, "z")));
    ck_assert_ptr_null(json_string(NULL));
    ck_assert_str_eq(json_number_text(json_get(v, "n")), "1e3");
    ck_assert_ptr_null(json_number_text(json_get(v, "s")));
    ck_assert_ptr_null(json_number_text(NULL));
    json_free(v);
    json_free(NULL);
}
END_TEST

/* json_integer of text: returns the result and stores the value into *out. */
static int integer_of(const char *text, long long *out)
{
    struct json_value *v = parse(text);
    *out = 0x5a5a;
    int rc = json_integer(v, out);
    json_free(v);
    return rc;
}

START_TEST(test_integer)
{
    static const struct {
        const char *text;
        long long want;
    } ok[] = {
        {"12", 12},
        {"-5", -5},
        {"0", 0},
        {"-0", 0},
        {"1e3", 1000},
        {"1E3", 1000},
        {"12.0", 12},
        {"100e-2", 1},
        {"1.5e1", 15},
        {"9223372036854775807", 9223372036854775807LL},
        {"-9223372036854775808", -9223372036854775807LL - 1},
        {"9.2e18", 9200000000000000000LL},
    };
    long long i;
    for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
        ck_assert_msg(integer_of(ok[k].text, &i) == 0, "refused %s", ok[k].text);
        ck_assert_msg(i == ok[k].want, "%s gave %lld", ok[k].text, i);
    }
    static const char *const bad[] = {
        "1.5",
        "-0.25",
        "1e30",
        "-1e30",
        "1e-3",
        "9223372036854775808",
        "-9223372036854775809",
        "9223372036854775870",
        "9.3e18",
        "1e400",
        "\"12\"",
        "true",
        "null",
        "[12]",
        "{}",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        ck_assert_msg(integer_of(bad[k], &i) == -1, "accepted %s as %lld", bad[k], i);
    }
    ck_assert_int_eq(json_integer(NULL, &i), -1);
}
END_TEST

/* --- json_append_string ------------------------------------------------------------------- */

static char *quoted(const char *s, size_t len)
{
    struct buf b = {0};
    json_append_string(&b, s, len);
    return buf_detach(&b);
}

static void assert_quoted(const char *s, size_t len, const char *want)
{
    char *q = quoted(s, len);
    ck_assert_str_eq(q, want);
    free(q);
}

START_TEST(test_append_string_escapes)
{
    assert_quoted("", 0, "\"\"");
    assert_quoted("plain text", 10, "\"plain text\"");
    assert_quoted("a\"b", 3, "\"a\\\"b\"");
    assert_quoted("a\\b", 3, "\"a\\\\b\"");
    assert_quoted("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
    assert_quoted("\x01\x1f\x0b", 3, "\"\\u0001\\u001f\\u000b\"");
    assert_quoted("a\0b", 3, "\"a\\u0000b\"");
    assert_quoted("\x7f/", 2, "\"\x7f/\"");
    assert_quoted("\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80", 9,
                  "\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\"");
    assert_quoted("\"\"", 2, "\"\\\"\\\"\"");
    /* len, not the NUL, ends the input. */
    assert_quoted("abcdef", 3, "\"abc\"");
}
END_TEST

START_TEST(test_append_string_appends)
{
    struct buf b = {0};
    buf_append_str(&b, "{\"k\":");
    json_append_string(&b, "v\n", 2);
    buf_append_char(&b, '}');
    ck_assert_str_eq(b.p, "{\"k\":\"v\\n\"}");
    ck_assert_uint_eq(b.len, strlen(b.p));
    buf_free(&b);
}
END_TEST

START_TEST(test_append_string_round_trip)
{
    /* Every ASCII character but NUL, and some UTF-8, survive a trip through the parser. */
    char s[160];
    size_t n = 0;
    for (int c = 1; c < 128; c++)
        s[n++] = (char)c;
    memcpy(s + n, "\xc3\xa9\xf0\x9f\x98\x80", 6);
    n += 6;
    char *q = quoted(s, n);
    ck_assert(json_validate(q, strlen(q)));
    struct json_value *v = parse(q);
    ck_assert_uint_eq(strlen(json_string(v)), n);
    ck_assert_int_eq(memcmp(json_string(v), s, n), 0);
    json_free(v);
    free(q);
}
END_TEST

/* --- json_validate ------------------------------------------------------------------------ */

static int validate(const char *s)
{
    return json_validate(s, strlen(s));
}

START_TEST(test_validate_valid)
{
    static const char *const ok[] = {
        "0",
        "-1.5e3",
        "\"s\"",
        "\"\"",
        "true",
        "false",
        "null",
        "{}",
        "[]",
        " [ 1 , { } ] ",
        "{\"a\":[1,\"b\",{\"c\":null}],\"d\":true}",
        "\"\\ud83d\\ude00\"",
        "\"\xc3\xa9\"",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ck_assert_msg(validate(ok[i]), "refused %s", ok[i]);
}
END_TEST

START_TEST(test_validate_invalid)
{
    static const char *const bad[] = {
        "[1]x", "{} ]", "1 2", "{}{}",  "\"a\"\"b\"", "[1] [2]", "[1,]",  "{\"a\"}",  "tru",
        "nul",  "'a'",  "01",  "/**/1", "1//",        "[",       "\"abc", "\"a\tb\"", "NaN",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!validate(bad[i]), "accepted %s", bad[i]);
}
END_TEST

START_TEST(test_validate_empty)
{
    ck_assert(!json_validate("", 0));
    ck_assert(!json_validate("   ", 3));
    ck_assert(!json_validate("\n", 1));
}
END_TEST

START_TEST(test_validate_bytes)
{
    /* Length is respected, NUL is not JSON, and the text must be UTF-8 (RFC 8259 section 8.1)
     * even where yajl's own check is loose (overlong forms, surrogates, F5..F7 leads). */
    ck_assert(json_validate("[1]xyz", 3));
    ck_assert(!json_validate("[1]\0", 4));
    ck_assert(!json_validate("\"a\0\"", 4));
    ck_assert(!json_validate("\"\xc3\x28\"", 4));
    ck_assert(!json_validate("\"\xc0\xaf\"", 4));
    ck_assert(!json_validate("\"\xed\xa0\x80\"", 5));
    ck_assert(!json_validate("\"\xf5\x80\x80\x80\"", 6));
    ck_assert(!json_validate("\"\xe6\x97\"", 4));
    ck_assert(json_validate("\"\xe6\x97\xa5\"", 5));
}
END_TEST

/* --- base64 ------------------------------------------------------------------------------- */

/* RFC 4648 section 10. */
static const struct {
    const char *in, *std, *url;
} rfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

START_TEST(test_base64_rfc4648)
{
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        const char *in = rfc4648[i].in;
        size_t n = strlen(in);
        char enc[16];
        uint8_t dec[16];

        memset(enc, 'X', sizeof(enc));
        ck_assert_uint_eq(base64_encode((const uint8_t *)in, n, enc), strlen(rfc4648[i].std));
        ck_assert_str_eq(enc, rfc4648[i].std);
        ck_assert_uint_eq(strlen(enc) + 1, BASE64_ENCODED_SIZE(n));
        ck_assert_int_eq(base64_decode(enc, strlen(enc), dec), (long)n);
        ck_assert_int_eq(memcmp(dec, in, n), 0);

        memset(enc, 'X', sizeof(enc));
        ck_assert_uint_eq(base64url_encode((const uint8_t *)in, n, enc), strlen(rfc4648[i].url));
        ck_assert_str_eq(enc, rfc4648[i].url);
        ck_assert_int_eq(base64url_decode(enc, strlen(enc), dec), (long)n);
        ck_assert_int_eq(memcmp(dec, in, n), 0);
    }
}
END_TEST

START_TEST(test_base64_alphabets)
{
    /* fb ff bf uses sextets 62 and 63, the two characters in which the alphabets differ. */
    static const uint8_t in[] = {0xfb, 0xff, 0xbf, 0xfb};
    char enc[16];
    uint8_t dec[8];
    base64_encode(in, 4, enc);
    ck_assert_str_eq(enc, "+/+/+w==");
    base64url_encode(in, 4, enc);
    ck_assert_str_eq(enc, "-_-_-w");
    ck_assert_int_eq(base64url_decode("-_-_-w", 6, dec), 4);
    ck_assert_int_eq(memcmp(dec, in, 4), 0);
    ck_assert_int_eq(base64_decode("+/+/+w==", 8, dec), 4);
    ck_assert_int_eq(memcmp(dec, in, 4), 0);
    /* Each decoder refuses the other's alphabet. */
    ck_assert_int_eq(base64url_decode("+/+/+w", 6, dec), -1);
    ck_assert_int_eq(base64_decode("-_-_-w==", 8, dec), -1);
}
END_TEST

START_TEST(test_base64url_refuses)
{
    uint8_t dec[16];
    static const char *const bad[] = {
        "Zg==", "Zg=",  "Zm8=",  "Z",      "A",    "Zm9vY", "Zm9vA",
        "Zm+v", "Zm/v", "Zm9 v", "Zm9v\n", "Zm.v", "=",     "====",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(base64url_decode(bad[i], strlen(bad[i]), dec) == -1, "accepted %s", bad[i]);
    ck_assert_int_eq(base64url_decode("Zm\0v", 4, dec), -1);
}
END_TEST

START_TEST(test_base64_std_refuses)
{
    uint8_t dec[16];
    static const char *const bad[] = {
        "Zg",       "Zm8",      "Zg=",  "Z===", "Zm8==", "====", "=Zg=",
        "Zg==Zg==", "Zm9vY===", "Zm-v", "Zm_v", "Zm9v=", "Z=g=", " Zm9v",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(base64_decode(bad[i], strlen(bad[i]), dec) == -1, "accepted %s", bad[i]);
}
END_TEST

START_TEST(test_base64_trailing_bits)
{
    uint8_t dec[8];
    /* "f" is Zg: 'g' is 100000, the low four bits unused; 'h' sets one of them. */
    ck_assert_int_eq(base64url_decode("Zg", 2, dec), 1);
    ck_assert_int_eq(base64url_decode("Zh", 2, dec), -1);
    ck_assert_int_eq(base64url_decode("Zv", 2, dec), -1);
    ck_assert_int_eq(base64_decode("Zh==", 4, dec), -1);
    /* "fo" is Zm8: '8' is 111100, two unused bits; '9' sets one. */
    ck_assert_int_eq(base64url_decode("Zm8", 3, dec), 2);
    ck_assert_int_eq(base64url_decode("Zm9", 3, dec), -1);
    ck_assert_int_eq(base64_decode("Zm9=", 4, dec), -1);
}
END_TEST

/*
 * Every 2- and 3-character base64url string: accepted exactly when it is the encoding of what
 * it decodes to, so no two strings decode to the same bytes.
 */
START_TEST(test_base64url_canonical_exhaustive)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t accepted[4] = {0};
    for (int len = 2; len <= 3; len++) {
        int total = len == 2 ? 64 * 64 : 64 * 64 * 64;
        for (int k = 0; k < total; k++) {
            char s[4];
            uint8_t dec[3];
            char again[8];
            int x = k;
            for (int j = 0; j < len; j++, x /= 64)
                s[j] = alpha[x % 64];
            long n = base64url_decode(s, (size_t)len, dec);
            if (n < 0)
                continue;
            accepted[len]++;
            ck_assert_int_eq(n, len - 1);
            base64url_encode(dec, (size_t)n, again);
            ck_assert_int_eq(memcmp(again, s, (size_t)len), 0);
        }
    }
    /* One accepted string per byte string: 256 of one byte, 65536 of two. */
    ck_assert_uint_eq(accepted[2], 256);
    ck_assert_uint_eq(accepted[3], 65536);
}
END_TEST

/* Deterministic bytes (xorshift32), so a failure reproduces. */
static uint32_t rng_state = 2463534242u;

static uint8_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return (uint8_t)rng_state;
}

START_TEST(test_base64_round_trip)
{
    for (size_t n = 0; n <= 300; n++) {
        for (int rep = 0; rep < 4; rep++) {
            uint8_t *in = oc_malloc(n);
            for (size_t i = 0; i < n; i++)
                in[i] = rnd();
            /* Exact-size buffers, so that ASan sees any write past what the contracts say. */
            char *enc = oc_malloc(BASE64_ENCODED_SIZE(n));
            size_t elen = base64_encode(in, n, enc);
            ck_assert_uint_eq(elen, BASE64_ENCODED_SIZE(n) - 1);
            ck_assert_uint_eq(strlen(enc), elen);
            uint8_t *dec = oc_malloc(elen / 4 * 3);
            ck_assert_int_eq(base64_decode(enc, elen, dec), (long)n);
            ck_assert_int_eq(memcmp(dec, in, n), 0);
            free(dec);
            free(enc);

            enc = oc_malloc(BASE64_ENCODED_SIZE(n));
            elen = base64url_encode(in, n, enc);
            ck_assert_uint_eq(elen, (n * 4 + 2) / 3);
            ck_assert_ptr_null(strchr(enc, '='));
            dec = oc_malloc(n);
            ck_assert_int_eq(base64url_decode(enc, elen, dec), (long)n);
            ck_assert_int_eq(memcmp(dec, in, n), 0);
            free(dec);
            free(enc);
            free(in);
        }
    }
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");

    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_valid);
    tcase_add_test(tc, test_parse_invalid);
    tcase_add_test(tc, test_walk_and_doubles);
    tcase_add_test(tc, test_cut_token_after_value);
    tcase_add_test(tc, test_parse_length_respected);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_depth_brackets_in_strings);
    tcase_add_test(tc, test_depth_hidden_in_comment);
    tcase_add_test(tc, test_vertical_tab_and_form_feed);
    tcase_add_test(tc, test_parse_invalid_utf8);
    tcase_add_test(tc, test_parse_embedded_nul);
    tcase_add_test(tc, test_parse_escapes);
    tcase_add_test(tc, test_parse_lone_surrogate_after_bad_hex);
    suite_add_tcase(s, tc);

    tc = tcase_create("u_escape");
    tcase_add_test(tc, test_u_escape_code_points);
    tcase_add_test(tc, test_u_escape_lone_surrogates);
    tcase_add_test(tc, test_u_escape_none);
    suite_add_tcase(s, tc);

    tc = tcase_create("access");
    tcase_add_test(tc, test_get);
    tcase_add_test(tc, test_types_and_strings);
    tcase_add_test(tc, test_integer);
    suite_add_tcase(s, tc);

    tc = tcase_create("append_string");
    tcase_add_test(tc, test_append_string_escapes);
    tcase_add_test(tc, test_append_string_appends);
    tcase_add_test(tc, test_append_string_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("validate");
    tcase_add_test(tc, test_validate_valid);
    tcase_add_test(tc, test_validate_invalid);
    tcase_add_test(tc, test_validate_empty);
    tcase_add_test(tc, test_validate_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("base64");
    tcase_add_test(tc, test_base64_rfc4648);
    tcase_add_test(tc, test_base64_alphabets);
    tcase_add_test(tc, test_base64url_refuses);
    tcase_add_test(tc, test_base64_std_refuses);
    tcase_add_test(tc, test_base64_trailing_bits);
    tcase_add_test(tc, test_base64url_canonical_exhaustive);
    tcase_add_test(tc, test_base64_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(json_suite)
