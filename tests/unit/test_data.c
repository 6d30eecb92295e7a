/* Unit tests for src/data.c: saved data parsing, the size rule, save and merge, encoding. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "data.h"
#include "json.h"
#include "unit.h"

/* --- helpers ------------------------------------------------------------------------------ */

/* Encodes d, checks the length against d->bytes, and returns the text (caller frees). */
static char *encode(const struct data_doc *d)
{
    struct buf b = {0};
    data_encode(d, &b);
    ck_assert_uint_eq(b.len, d->bytes);
    return buf_detach(&b);
}

static void parse_ok_n(const char *text, size_t len, struct data_doc *d)
{
    const char *err = NULL;
    int rc = data_parse(text, len, d, &err);
    ck_assert_msg(rc == 0, "refused (%s): %.*s", err ? err : "?", (int)(len < 200 ? len : 200),
                  text);
}

static void parse_ok(const char *text, struct data_doc *d)
{
    parse_ok_n(text, strlen(text), d);
}

/* Sets key to value (compact JSON text, not null) in d as a merge save does. */
static void set_member(struct data_doc *d, const char *key, size_t klen, const char *value)
{
    struct buf text = {0};
    buf_append_char(&text, '{');
    json_append_string(&text, key, klen);
    buf_printf(&text, ":%s}", value);
    struct data_doc update;
    const char *err = NULL;
    parse_ok_n(text.p, text.len, &update);
    ck_assert_int_eq(data_apply(d, &update, 1, SIZE_MAX, &err), 0);
    data_doc_clear(&update);
    buf_free(&text);
}

/* Asserts that d encodes to exactly want, that bytes agrees, and that the encoding is stable:
 * parsing it again gives the same text. */
static void assert_encodes(const struct data_doc *d, const char *want)
{
    char *got = encode(d);
    ck_assert_str_eq(got, want);
    ck_assert_msg(json_validate(got, strlen(got)), "not JSON: %s", got);
    struct data_doc again;
    parse_ok(got, &again);
    char *twice = encode(&again);
    ck_assert_str_eq(twice, got);
    ck_assert_uint_eq(again.count, d->count);
    free(twice);
    data_doc_clear(&again);
    free(got);
}

/* Parses text and asserts its compact form is want. */
static void assert_parses_to(const char *text, const char *want)
{
    struct data_doc d;
    parse_ok(text, &d);
    assert_encodes(&d, want);
    data_doc_clear(&d);
}

static void assert_refused_n(const char *text, size_t len, const char *want_err)
{
    struct data_doc d;
    const char *err = NULL;
    int rc = data_parse(text, len, &d, &err);
    ck_assert_msg(rc == -1, "accepted: %.*s", (int)(len < 200 ? len : 200), text);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strcmp(err, want_err) == 0, "%.*s: got \"%s\", want \"%s\"",
                  (int)(len < 200 ? len : 200), text, err, want_err);
    /* A refused parse leaves an empty document behind. */
    ck_assert_uint_eq(d.count, 0);
    ck_assert_uint_eq(d.bytes, 2);
    data_doc_clear(&d);
}

static void assert_refused(const char *text, const char *want_err)
{
    assert_refused_n(text, strlen(text), want_err);
}

/* The value text of key in d, asserting the key exists. */
static const char *value_of(const struct data_doc *d, const char *key)
{
    const struct data_field *f = data_doc_get(d, key, strlen(key));
    ck_assert_msg(f != NULL, "no key %s", key);
    ck_assert_uint_eq(strlen(f->value), f->vlen);
    return f->value;
}

/* {"a":[[[...1...]]]} with levels containers in all, the top object included. */
static char *nested(int levels, char open, char close)
{
    struct buf b = {0};
    buf_append_str(&b, "{\"a\":");
    for (int i = 1; i < levels; i++) {
        buf_append_char(&b, open);
        if (open == '{')
            buf_append_str(&b, "\"k\":");
    }
    buf_append_char(&b, '1');
    for (int i = 1; i < levels; i++)
        buf_append_char(&b, close);
    buf_append_char(&b, '}');
    return buf_detach(&b);
}

/* A document of exactly size bytes: {"k":"xxx..."} (size >= 8). */
static void doc_of_size(size_t size, struct data_doc *d)
{
    ck_assert_uint_ge(size, 8);
    struct buf b = {0};
    buf_append_str(&b, "{\"k\":\"");
    for (size_t i = 0; i < size - 8; i++)
        buf_append_char(&b, 'x');
    buf_append_str(&b, "\"}");
    ck_assert_uint_eq(b.len, size);
    parse_ok(b.p, d);
    ck_assert_uint_eq(d->bytes, size);
    buf_free(&b);
}

/* --- parse -------------------------------------------------------------------------------- */

START_TEST(test_parse_all_types)
{
    struct data_doc d;
    parse_ok(" {\n\t\"s\" : \"x y\", \"n\" : -1.5e+3 , \"i\":42, \"t\":true,\"f\" :false,"
             "\"z\": null , \"o\" : { \"a\" : 1 }, \"a\" : [ 1 , \"2\" , null ] } \r\n",
             &d);
    ck_assert_uint_eq(d.count, 8);
    ck_assert_str_eq(value_of(&d, "s"), "\"x y\"");
    ck_assert_str_eq(value_of(&d, "n"), "-1.5e+3");
    ck_assert_str_eq(value_of(&d, "i"), "42");
    ck_assert_str_eq(value_of(&d, "t"), "true");
    ck_assert_str_eq(value_of(&d, "f"), "false");
    ck_assert_str_eq(value_of(&d, "z"), "null");
    ck_assert_str_eq(value_of(&d, "o"), "{\"a\":1}");
    ck_assert_str_eq(value_of(&d, "a"), "[1,\"2\",null]");
    ck_assert_ptr_null(data_doc_get(&d, "missing", 7));
    /* Insertion order is the payload's order. */
    static const char *order[] = {"s", "n", "i", "t", "f", "z", "o", "a"};
    for (size_t i = 0; i < 8; i++)
        ck_assert_str_eq(d.fields[i].key, order[i]);
    assert_encodes(&d, "{\"s\":\"x y\",\"n\":-1.5e+3,\"i\":42,\"t\":true,\"f\":false,\"z\":null,"
                       "\"o\":{\"a\":1},\"a\":[1,\"2\",null]}");
    data_doc_clear(&d);

    assert_parses_to("{}", "{}");
    assert_parses_to(" { } ", "{}");
}
END_TEST

START_TEST(test_parse_whitespace_nested)
{
    assert_parses_to(" { \"a\" : [ 1 , { \"b\" : [ ] , \"c\" : { } , \"d\" : [ [ ] , [ 2 ] ] } ,"
                     " [ ] ] , \"e\" : \"  kept  \\n \" } ",
                     "{\"a\":[1,{\"b\":[],\"c\":{},\"d\":[[],[2]]},[]],\"e\":\"  kept  \\n \"}");
    assert_parses_to("{\"o\":{\"x\":{\"y\":{\"z\":[true , false , null]}} , \"w\" : 0}}",
                     "{\"o\":{\"x\":{\"y\":{\"z\":[true,false,null]}},\"w\":0}}");
    /* Keys inside nested objects are written with the same escaping as top-level ones. */
    assert_parses_to("{\"o\":{\"a\\u0001\\/\" : 1, \"\\u00e9\":2}}",
                     "{\"o\":{\"a\\u0001/\":1,\"\xc3\xa9\":2}}");
}
END_TEST

START_TEST(test_parse_numbers_verbatim)
{
    /* No rounding through a double: the client gets back the digits it saved. */
    assert_parses_to("{\"a\":1E+05,\"b\":-0,\"c\":1.50,\"d\":123456789012345678901234567890,"
                     "\"e\":[0.1e-7, -9223372036854775809]}",
                     "{\"a\":1E+05,\"b\":-0,\"c\":1.50,\"d\":123456789012345678901234567890,"
                     "\"e\":[0.1e-7,-9223372036854775809]}");
}
END_TEST

START_TEST(test_parse_escapes)
{
    /* Escapes are decoded and written again the one way json_append_string() writes them:
     * \/ and \u0041 become plain characters, non-ASCII is raw UTF-8, control characters
     * use the short forms or lowercase \u00xx. */
    assert_parses_to("{\"k\":\"\\/\\u0041\\u00e9\\ud83d\\ude00\\n\\u001F\\\"\\\\\\b\\f\\r\\t"
                     "\\u0008\\u007f\"}",
                     "{\"k\":\"/A\xc3\xa9\xf0\x9f\x98\x80\\n\\u001f\\\"\\\\\\b\\f\\r\\t\\b\x7f\"}");
    /* Raw non-ASCII and '/' pass through. */
    assert_parses_to("{\"\xe6\x97\xa5\xe6\x9c\xac\":\"a/b \xf0\x9f\x98\x80\"}",
                     "{\"\xe6\x97\xa5\xe6\x9c\xac\":\"a/b \xf0\x9f\x98\x80\"}");

    /* A key may hold a NUL byte: it is kept with its length and written as \u0000. */
    struct data_doc d;
    parse_ok("{\"a\\u0000b\":\"x\\u0000y\"}", &d);
    ck_assert_uint_eq(d.count, 1);
    ck_assert_uint_eq(d.fields[0].klen, 3);
    ck_assert_int_eq(memcmp(d.fields[0].key, "a\0b", 3), 0);
    ck_assert_ptr_nonnull(data_doc_get(&d, "a\0b", 3));
    ck_assert_ptr_null(data_doc_get(&d, "a", 1));
    assert_encodes(&d, "{\"a\\u0000b\":\"x\\u0000y\"}");
    data_doc_clear(&d);

    /* Escaped keys that decode to the same string are the same key. */
    assert_parses_to("{\"\\u0061\":1,\"a\":2}", "{\"a\":2}");
}
END_TEST

START_TEST(test_parse_duplicates)
{
    /* Last value wins, first position stays (JavaScript's JSON.parse does the same). */
    struct data_doc d;
    parse_ok("{\"a\":1,\"b\":2,\"a\":{\"long\":\"value\"},\"c\":3,\"b\":null}", &d);
    ck_assert_uint_eq(d.count, 3);
    assert_encodes(&d, "{\"a\":{\"long\":\"value\"},\"b\":null,\"c\":3}");
    data_doc_clear(&d);
}
END_TEST

START_TEST(test_parse_not_object)
{
    static const char *texts[] = {
        "[]",   "[1,2]", " [{\"a\":1}] ", "\"s\"", "12", "-1.5",
        "null", "true",  "false",         "[1,", /* refused at its first token, before the error */
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        assert_refused(texts[i], "payload must be a JSON object");
}
END_TEST

START_TEST(test_parse_invalid)
{
    static const char *texts[] = {
        "",
        " ",
        "{",
        "}",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{,\"a\":1}",
        "{'a':1}",
        "{a:1}",
        "{\"a\":1} x",
        "{\"a\":1}{}",
        "{\"a\":1} []",
        "{\"a\":1} /* c */",
        "{\"a\":1 /* c */}",
        "{\"a\":01}",
        "{\"a\":tru}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":+1}",
        "{\"a\":\"x}",
        "{\"a\":\"\t\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":[1 2]}",
        "{\"a\":{\"b\"}}",
        "{\"a\":NaN}",
        "{\"a\":\"\\u00zz\"}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        assert_refused(texts[i], "invalid JSON");
    /* An embedded NUL, and the length is what counts, not the terminator. */
    assert_refused_n("{\"a\":1}\0", 8, "invalid JSON");
    assert_refused_n("{\"a\":\0}", 7, "invalid JSON");
}
END_TEST

START_TEST(test_parse_length_respected)
{
    const char *text = "{\"a\":1}garbage";
    struct data_doc d;
    parse_ok_n(text, 7, &d);
    assert_encodes(&d, "{\"a\":1}");
    data_doc_clear(&d);
    assert_refused_n(text, 6, "invalid JSON");
}
END_TEST

START_TEST(test_parse_depth)
{
    /* JSON_MAX_DEPTH containers are fine, the top object counted; one more is refused. */
    static const char pairs[][2] = {{'[', ']'}, {'{', '}'}};
    for (size_t i = 0; i < 2; i++) {
        char *ok = nested(JSON_MAX_DEPTH, pairs[i][0], pairs[i][1]);
        struct data_doc d;
        parse_ok(ok, &d);
        char *enc = encode(&d);
        ck_assert_str_eq(enc, ok); /* already compact */
        free(enc);
        data_doc_clear(&d);
        free(ok);

        char *deep = nested(JSON_MAX_DEPTH + 1, pairs[i][0], pairs[i][1]);
        assert_refused(deep, "nested too deeply");
        free(deep);
    }
    /* Very deep input stops at the limit rather than growing a stack. */
    struct buf b = {0};
    buf_append_str(&b, "{\"a\":");
    for (int i = 0; i < 100000; i++)
        buf_append_char(&b, '[');
    assert_refused(b.p, "nested too deeply");
    buf_free(&b);
    /* Brackets inside strings are not nesting. */
    assert_parses_to(
        "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}",
        "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}");
}
END_TEST

START_TEST(test_parse_surrogates)
{
    /* A proper pair is one character. */
    assert_parses_to("{\"a\":\"\\uD83D\\uDE00\"}", "{\"a\":\"\xf0\x9f\x98\x80\"}");
    /* Unpaired surrogates have no UTF-8 form; yajl would store "?" or invalid UTF-8. */
    static const char *texts[] = {
        "{\"a\":\"\\ud800\"}",          "{\"a\":\"\\udc00\"}",        "{\"a\":\"\\ud800x\"}",
        "{\"a\":\"\\ud800\\u0041\"}",   "{\"a\":\"\\ud800\\ud800\"}", "{\"\\udfff\":1}",
        "{\"a\":[\"ok\",\"\\uDBFF\"]}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        assert_refused(texts[i], "unsupported \\u escape");
    /* An escaped backslash followed by "ud800" is no escape at all. */
    assert_parses_to("{\"a\":\"\\\\ud800\"}", "{\"a\":\"\\\\ud800\"}");
}
END_TEST

/* A \u with bad hex is skipped as six bytes, which may lose the string's end: the text is
 * invalid JSON all the same, and yajl says so. A high surrogate whose low half is bad or cut
 * short is still a lone one. (json_parse() skips differently: test_json.c.) */
START_TEST(test_parse_surrogates_after_bad_hex)
{
    assert_refused("{\"a\":\"\\uzz\",\"b\":\"\\ud800\"}", "invalid JSON");
    assert_refused("{\"a\":\"\\u12\",\"b\":\"\\ud800\"}", "invalid JSON");
    assert_refused("{\"a\":\"x\\u12", "invalid JSON");
    assert_refused("{\"a\":\"\\ud800\\uzzzz\"}", "unsupported \\u escape");
    assert_refused("{\"a\":\"\\ud800\\u", "unsupported \\u escape");
}
END_TEST

START_TEST(test_parse_invalid_utf8)
{
    assert_refused("{\"a\":\"\xff\"}", "invalid UTF-8");
    assert_refused("{\"\xc0\xaf\":1}", "invalid UTF-8");         /* overlong '/' */
    assert_refused("{\"a\":\"\xed\xa0\x80\"}", "invalid UTF-8"); /* raw surrogate */
    assert_refused("{\"a\":\"\xe6\x97\"}", "invalid UTF-8");     /* cut short */
}
END_TEST

/* --- size --------------------------------------------------------------------------------- */

START_TEST(test_field_bytes)
{
    ck_assert_uint_eq(data_field_bytes("a", 1, 1), 5);        /* "a":1 */
    ck_assert_uint_eq(data_field_bytes("", 0, 4), 7);         /* "":null */
    ck_assert_uint_eq(data_field_bytes("a\"b", 3, 1), 8);     /* "a\"b":1 */
    ck_assert_uint_eq(data_field_bytes("\n\x01", 2, 1), 12);  /* "\n\u0001":1 */
    ck_assert_uint_eq(data_field_bytes("/\x7f", 2, 1), 6);    /* "/DEL":1 */
    ck_assert_uint_eq(data_field_bytes("\xc3\xa9", 2, 1), 6); /* raw UTF-8 */
    ck_assert_uint_eq(data_field_bytes("a\0b", 3, 2), 13);    /* "a\u0000b":[] */

    /* The rule agrees with json_append_string() for every ASCII byte and for non-ASCII. */
    for (int c = 0; c < 0x80; c++) {
        char s[3] = {'x', (char)c, 'y'};
        struct buf b = {0};
        json_append_string(&b, s, 3);
        ck_assert_msg(data_field_bytes(s, 3, 0) == b.len + 1, "byte 0x%02x", c);
        buf_free(&b);
    }
    const char *multi = "\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80";
    struct buf b = {0};
    json_append_string(&b, multi, strlen(multi));
    ck_assert_uint_eq(data_field_bytes(multi, strlen(multi), 3), b.len + 1 + 3);
    buf_free(&b);
}
END_TEST

START_TEST(test_bytes_equals_encoding)
{
    static const char *texts[] = {
        "{}",
        "{\"a\":1}",
        "{\"a\":1,\"b\":2}",
        "{\"\":\"\"}",
        "{\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\":\"\xf0\x9f\x98\x80\",\"\xc3\xa9\":[\"\xc3\xa9\"]"
        "}",
        "{\"q\\\"uo\\\\te\":1,\"ctl\\u0001\\u001f\\n\\t\":2,\"nul\\u0000\":3,\"sl\\/ash\":4}",
        "{\"\\b\\f\\n\\r\\t\\u000b\":{\"\\u0002\":[\"\\u0003\"]}}",
        "{\"a\":{\"b\":{\"c\":[1,2,{\"d\":null}]}},\"e\":\"  \",\"f\":-0.0e-0}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct data_doc d;
        parse_ok(texts[i], &d);
        char *enc = encode(&d);
        ck_assert_uint_eq(strlen(enc), d.bytes); /* the NUL key is written as \u0000 */
        free(enc);
        data_doc_clear(&d);
    }

    /* Keys of every ASCII byte, one key per byte, plus sizes summed by hand. */
    struct data_doc d;
    data_doc_init(&d);
    ck_assert_uint_eq(d.bytes, 2);
    size_t want = 2;
    for (int c = 0; c < 0x80; c++) {
        char key[2] = {(char)c, 'k'};
        set_member(&d, key, 2, "true");
        want += data_field_bytes(key, 2, 4) + (c ? 1 : 0);
    }
    ck_assert_uint_eq(d.count, 0x80);
    ck_assert_uint_eq(d.bytes, want);
    char *enc = encode(&d);
    ck_assert(json_validate(enc, d.bytes));
    free(enc);
    data_doc_clear(&d);
    ck_assert_uint_eq(d.bytes, 2);
    ck_assert_uint_eq(d.count, 0);
}
END_TEST

START_TEST(test_doc_set_copy)
{
    struct data_doc d, c;
    data_doc_init(&d);
    assert_encodes(&d, "{}");
    set_member(&d, "a", 1, "1");
    set_member(&d, "b", 1, "[2]");
    set_member(&d, "a", 1, "\"one\""); /* in place */
    assert_encodes(&d, "{\"a\":\"one\",\"b\":[2]}");

    data_doc_copy(&c, &d);
    set_member(&d, "a", 1, "0");
    data_doc_clear(&d);
    /* The copy owns its own strings. */
    assert_encodes(&c, "{\"a\":\"one\",\"b\":[2]}");
    ck_assert_str_eq(value_of(&c, "b"), "[2]");
    data_doc_clear(&c);
}
END_TEST

/* --- apply -------------------------------------------------------------------------------- */

/* Parses stored and update, applies, and checks the code and the resulting encoding. */
static void assert_apply(const char *stored_text, const char *update_text, int merge, size_t max,
                         int want_rc, const char *want)
{
    struct data_doc stored, update;
    parse_ok(stored_text, &stored);
    parse_ok(update_text, &update);
    char *before = encode(&stored);
    const char *err = NULL;
    int rc = data_apply(&stored, &update, merge, max, &err);
    ck_assert_msg(rc == want_rc, "%s %s %s max %zu: rc %d", stored_text,
                  merge ? "merge" : "replace", update_text, max, rc);
    if (rc == DATA_TOO_LARGE) {
        ck_assert_str_eq(err, "data too large");
        /* Nothing changed: same bytes, and lookups still find every key where it was. */
        char *after = encode(&stored);
        ck_assert_str_eq(after, before);
        free(after);
        for (size_t i = 0; i < stored.count; i++)
            ck_assert_ptr_eq(data_doc_get(&stored, stored.fields[i].key, stored.fields[i].klen),
                             &stored.fields[i]);
    } else {
        assert_encodes(&stored, want);
        for (size_t i = 0; i < stored.count; i++)
            ck_assert_ptr_eq(data_doc_get(&stored, stored.fields[i].key, stored.fields[i].klen),
                             &stored.fields[i]);
    }
    /* update is only read. */
    char *u = encode(&update);
    struct data_doc fresh;
    parse_ok(update_text, &fresh);
    char *f = encode(&fresh);
    ck_assert_str_eq(u, f);
    free(u);
    free(f);
    data_doc_clear(&fresh);
    free(before);
    data_doc_clear(&stored);
    data_doc_clear(&update);
}

START_TEST(test_replace)
{
    assert_apply("{\"a\":1,\"b\":2}", "{\"c\":[3],\"a\":\"x\"}", 0, 1000, 0,
                 "{\"c\":[3],\"a\":\"x\"}");
    assert_apply("{\"a\":1}", "{}", 0, 1000, 0, "{}");
    assert_apply("{}", "{\"a\":1}", 0, 1000, 0, "{\"a\":1}");
}
END_TEST

START_TEST(test_replace_keeps_null)
{
    /* Outside a merge, null is a value like any other. */
    assert_apply("{\"a\":1,\"b\":2}", "{\"a\":null,\"z\":null}", 0, 1000, 0,
                 "{\"a\":null,\"z\":null}");
}
END_TEST

START_TEST(test_merge)
{
    assert_apply("{\"a\":1,\"b\":2,\"c\":3}", "{\"b\":null,\"d\":4,\"a\":\"x\",\"zz\":null}", 1,
                 1000, 0, "{\"a\":\"x\",\"c\":3,\"d\":4}");
    /* Existing keys keep their place, new ones come in the update's order. */
    assert_apply("{\"a\":1,\"b\":2}", "{\"y\":0,\"b\":[],\"x\":1}", 1, 1000, 0,
                 "{\"a\":1,\"b\":[],\"y\":0,\"x\":1}");
    assert_apply("{}", "{\"a\":1,\"n\":null}", 1, 1000, 0, "{\"a\":1}");
    assert_apply("{\"a\":1}", "{}", 1, 1000, 0, "{\"a\":1}");
    /* A nested null is a value, not a deletion (merge is shallow). */
    assert_apply("{\"a\":{\"b\":1}}", "{\"a\":{\"b\":null}}", 1, 1000, 0, "{\"a\":{\"b\":null}}");
    /* null in an update written with spaces is still null. */
    assert_apply("{\"a\":1,\"b\":2}", "{\"a\" :  null }", 1, 1000, 0, "{\"b\":2}");
}
END_TEST

START_TEST(test_merge_delete)
{
    /* Deleting a missing key does nothing. */
    assert_apply("{\"a\":1}", "{\"q\":null}", 1, 1000, 0, "{\"a\":1}");
    assert_apply("{}", "{\"q\":null}", 1, 1000, 0, "{}");
    /* Deleting everything leaves {}. */
    assert_apply("{\"a\":1,\"b\":2,\"c\":3}", "{\"c\":null,\"a\":null,\"b\":null}", 1, 1000, 0,
                 "{}");
    /* Holes are closed with order kept, then appended keys follow. */
    assert_apply("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}",
                 "{\"new\":0,\"a\":null,\"c\":null,\"e\":\"E\"}", 1, 1000, 0,
                 "{\"b\":2,\"d\":4,\"e\":\"E\",\"new\":0}");
}
END_TEST

START_TEST(test_merge_sequence)
{
    /* The index stays right across merges that move fields around. */
    struct data_doc stored, update;
    const char *err;
    parse_ok("{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", &stored);
    static const char *steps[][2] = {
        {"{\"a\":null,\"e\":5}", "{\"b\":2,\"c\":3,\"d\":4,\"e\":5}"},
        {"{\"c\":null,\"b\":\"B\"}", "{\"b\":\"B\",\"d\":4,\"e\":5}"},
        {"{\"a\":1,\"d\":null}", "{\"b\":\"B\",\"e\":5,\"a\":1}"},
        {"{\"e\":null,\"b\":null,\"a\":null}", "{}"},
        {"{\"z\":[]}", "{\"z\":[]}"},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        parse_ok(steps[i][0], &update);
        ck_assert_int_eq(data_apply(&stored, &update, 1, 1000, &err), 0);
        assert_encodes(&stored, steps[i][1]);
        for (size_t j = 0; j < stored.count; j++)
            ck_assert_ptr_eq(data_doc_get(&stored, stored.fields[j].key, 1), &stored.fields[j]);
        data_doc_clear(&update);
    }
    ck_assert_ptr_null(data_doc_get(&stored, "a", 1));
    data_doc_clear(&stored);
}
END_TEST

START_TEST(test_limit_replace)
{
    /* A result of exactly max bytes is allowed, max + 1 is not; stored stays as it was. */
    for (size_t max = 10; max < 40; max++) {
        struct data_doc stored, exact, over;
        const char *err = NULL;
        parse_ok("{\"old\":[1,2,3]}", &stored);
        char *before = encode(&stored);
        doc_of_size(max, &exact);
        doc_of_size(max + 1, &over);

        ck_assert_int_eq(data_apply(&stored, &over, 0, max, &err), DATA_TOO_LARGE);
        char *after = encode(&stored);
        ck_assert_str_eq(after, before);
        free(after);

        ck_assert_int_eq(data_apply(&stored, &exact, 0, max, &err), 0);
        ck_assert_uint_eq(stored.bytes, max);
        after = encode(&stored);
        ck_assert_uint_eq(strlen(after), max);
        free(after);

        free(before);
        data_doc_clear(&stored);
        data_doc_clear(&exact);
        data_doc_clear(&over);
    }
}
END_TEST

START_TEST(test_limit_merge)
{
    /* stored {"a":"xxxxx"} is 13 bytes, the update {"b":1} 7; merged {"a":"xxxxx","b":1} is 19.
     * Each alone fits under 19 and under 18; only the merged result decides. */
    const char *stored = "{\"a\":\"xxxxx\"}", *update = "{\"b\":1}";
    const char *merged = "{\"a\":\"xxxxx\",\"b\":1}";
    ck_assert_uint_eq(strlen(merged), 19);
    assert_apply(stored, update, 1, 19, 0, merged);
    assert_apply(stored, update, 1, 18, DATA_TOO_LARGE, NULL);
    /* Replacing a value: 13 - 7 ("xxxxx") + 9 ("xxxxxxx") = 15. */
    assert_apply(stored, "{\"a\":\"xxxxxxx\"}", 1, 15, 0, "{\"a\":\"xxxxxxx\"}");
    assert_apply(stored, "{\"a\":\"xxxxxxx\"}", 1, 14, DATA_TOO_LARGE, NULL);
    /* A merge that shrinks the data passes a limit that the stored plus the update would not. */
    assert_apply("{\"a\":\"xxxxxxxxxx\",\"b\":2}", "{\"a\":null,\"c\":3}", 1, 13, 0,
                 "{\"b\":2,\"c\":3}");
    assert_apply("{\"a\":\"xxxxxxxxxx\",\"b\":2}", "{\"a\":null,\"c\":3}", 1, 12, DATA_TOO_LARGE,
                 NULL);
    /* Deleting everything is 2 bytes, and growing past the limit with deletes mixed in fails
     * without deleting anything. */
    assert_apply("{\"a\":1}", "{\"a\":null}", 1, 2, 0, "{}");
    assert_apply("{\"a\":1,\"b\":2}", "{\"a\":null,\"c\":\"long value here\"}", 1, 20,
                 DATA_TOO_LARGE, NULL);
    /* Escaped keys count with their escapes: {"\n":1} is 8 bytes, {"\u0001":1} 12. */
    assert_apply("{}", "{\"\\n\":1}", 1, 8, 0, "{\"\\n\":1}");
    assert_apply("{}", "{\"\\n\":1}", 1, 7, DATA_TOO_LARGE, NULL);
    assert_apply("{}", "{\"\\u0001\":1}", 1, 12, 0, "{\"\\u0001\":1}");
    assert_apply("{}", "{\"\\u0001\":1}", 1, 11, DATA_TOO_LARGE, NULL);
}
END_TEST

START_TEST(test_limit_protocol_size)
{
    /* The protocol's 512,000 bytes, exactly and one over, through a merge. */
    const size_t max = 512000;
    struct data_doc stored, half;
    const char *err = NULL;
    data_doc_init(&stored);
    doc_of_size(max / 2, &half);
    ck_assert_int_eq(data_apply(&stored, &half, 1, max, &err), 0);
    data_doc_clear(&half);
    char *before = encode(&stored);

    /* Merging {"j":"y..."} with n y's adds 1 (comma) + 3 ("j") + 1 (:) + n + 2 bytes. */
    size_t n = max - stored.bytes - 7;
    for (int extra = 1; extra >= 0; extra--) {
        struct buf t = {0};
        struct data_doc update;
        buf_append_str(&t, "{\"j\":\"");
        for (size_t i = 0; i < n + (size_t)extra; i++)
            buf_append_char(&t, 'y');
        buf_append_str(&t, "\"}");
        parse_ok(t.p, &update);
        int rc = data_apply(&stored, &update, 1, max, &err);
        char *after = encode(&stored);
        if (extra) {
            ck_assert_int_eq(rc, DATA_TOO_LARGE);
            ck_assert_str_eq(after, before);
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(stored.bytes, max);
            ck_assert_uint_eq(strlen(after), max);
        }
        free(after);
        data_doc_clear(&update);
        buf_free(&t);
    }
    free(before);
    data_doc_clear(&stored);
}
END_TEST

/* --- encode ------------------------------------------------------------------------------- */

static void assert_updated_at(const char *text, long long at, const char *want)
{
    struct data_doc d;
    parse_ok(text, &d);
    struct buf b = {0};
    buf_append_str(&b, "prefix:"); /* appends, never overwrites */
    data_encode_with_updated_at(&d, at, &b);
    ck_assert_str_eq(b.p + 7, want);
    ck_assert_int_eq(memcmp(b.p, "prefix:", 7), 0);
    ck_assert(json_validate(b.p + 7, b.len - 7));
    /* The document itself is untouched. */
    char *plain = encode(&d);
    ck_assert_str_eq(plain, text);
    free(plain);
    buf_free(&b);
    data_doc_clear(&d);
}

START_TEST(test_updated_at)
{
    assert_updated_at("{}", 1700000000, "{\"updated_at\":1700000000}");
    assert_updated_at("{\"a\":1}", 5, "{\"a\":1,\"updated_at\":5}");
    assert_updated_at("{\"a\":[1,2],\"b\":null}", 0, "{\"a\":[1,2],\"b\":null,\"updated_at\":0}");
    /* A stored updated_at is replaced where it stands, so the key appears once. */
    assert_updated_at("{\"a\":1,\"updated_at\":\"x\",\"b\":2}", 9,
                      "{\"a\":1,\"updated_at\":9,\"b\":2}");
    assert_updated_at("{\"updated_at\":{\"deep\":1}}", -1, "{\"updated_at\":-1}");
    /* Only that exact key: look-alikes are ordinary members. */
    assert_updated_at("{\"updated_at \":1,\"Updated_at\":2}", 3,
                      "{\"updated_at \":1,\"Updated_at\":2,\"updated_at\":3}");
}
END_TEST

START_TEST(test_encode_appends)
{
    struct data_doc d;
    parse_ok("{\"a\":1}", &d);
    struct buf b = {0};
    buf_append_str(&b, "[");
    data_encode(&d, &b);
    buf_append_str(&b, ",");
    data_encode(&d, &b);
    buf_append_str(&b, "]");
    ck_assert_str_eq(b.p, "[{\"a\":1},{\"a\":1}]");
    buf_free(&b);
    data_doc_clear(&d);
}
END_TEST

/* --- many keys ---------------------------------------------------------------------------- */

#define MANY 20000

START_TEST(test_many_keys)
{
    /* 20,000 keys merged into 20,000 keys: half overlap, a third of the overlap deleted.
     * Time is not asserted, but a quadratic merge would hit the test timeout. */
    struct buf t = {0};
    struct data_doc stored, update;
    const char *err = NULL;

    buf_append_char(&t, '{');
    for (int i = 0; i < MANY; i++)
        buf_printf(&t, "%s\"k%d\":%d", i ? "," : "", i, i);
    buf_append_char(&t, '}');
    parse_ok(t.p, &stored);
    ck_assert_uint_eq(stored.count, MANY);
    ck_assert_uint_eq(stored.bytes, t.len);

    buf_reset(&t);
    buf_append_char(&t, '{');
    size_t deleted = 0;
    for (int i = MANY / 2; i < MANY + MANY / 2; i++) {
        int del = i < MANY && i % 3 == 0;
        deleted += del;
        buf_printf(&t, "%s\"k%d\":%s", i > MANY / 2 ? "," : "", i, del ? "null" : "\"v\"");
    }
    buf_append_char(&t, '}');
    parse_ok(t.p, &update);
    ck_assert_uint_eq(update.count, MANY);

    ck_assert_int_eq(data_apply(&stored, &update, 1, (size_t)-1, &err), 0);
    ck_assert_uint_eq(stored.count, MANY + MANY / 2 - deleted);
    char *enc = encode(&stored);
    ck_assert(json_validate(enc, stored.bytes));
    free(enc);
    ck_assert_str_eq(value_of(&stored, "k0"), "0");
    ck_assert_str_eq(value_of(&stored, "k10001"), "\"v\"");
    ck_assert_str_eq(value_of(&stored, "k29999"), "\"v\"");
    ck_assert_ptr_null(data_doc_get(&stored, "k10002", 6)); /* 10002 % 3 == 0 */
    /* Order: untouched keys first, then the updated overlap, then the new keys. */
    ck_assert_str_eq(stored.fields[0].key, "k0");
    ck_assert_str_eq(stored.fields[stored.count - 1].key, "k29999");

    /* Deleting every key in one save. */
    buf_reset(&t);
    buf_append_char(&t, '{');
    for (size_t i = 0; i < stored.count; i++) {
        if (i)
            buf_append_char(&t, ',');
        json_append_string(&t, stored.fields[i].key, stored.fields[i].klen);
        buf_append_str(&t, ":null");
    }
    buf_append_char(&t, '}');
    data_doc_clear(&update);
    parse_ok(t.p, &update);
    ck_assert_int_eq(data_apply(&stored, &update, 1, 512000, &err), 0);
    assert_encodes(&stored, "{}");

    buf_free(&t);
    data_doc_clear(&stored);
    data_doc_clear(&update);
}
END_TEST

/* --- parsing under a size limit (a replace) ------------------------------------------------ */

/* data_parse_limited() of text under max; returns the verdict and checks what it leaves. */
static int parse_limited(const char *text, size_t max, const char **err)
{
    struct data_doc d;
    *err = NULL;
    int rc = data_parse_limited(text, strlen(text), max, &d, err);
    if (rc == 0)
        ck_assert_uint_le(d.bytes, max);
    else
        ck_assert_uint_eq(d.count, 0); /* failures leave the document empty */
    data_doc_clear(&d);
    return rc;
}

START_TEST(test_limited_exact_size)
{
    /* The limit is on the compact size: {"a":1} is 7 bytes however it is spaced. */
    const char *err;
    ck_assert_int_eq(parse_limited("{\"a\":1}", 7, &err), 0);
    ck_assert_int_eq(parse_limited(" {\n  \"a\" :\t1 \n} ", 7, &err), 0);
    ck_assert_int_eq(parse_limited("{\"a\":1}", 6, &err), DATA_TOO_LARGE);
    ck_assert_str_eq(err, "data too large");
    /* Over only through its value: found when the text ends. */
    ck_assert_int_eq(parse_limited("{\"a\":\"xy\"}", 9, &err), DATA_TOO_LARGE);
    ck_assert_int_eq(parse_limited("{\"a\":\"xy\"}", 10, &err), 0);
    /* The key's escapes count as written: {"\n":1} is 8 bytes, found at the key. */
    ck_assert_int_eq(parse_limited("{\"\\n\":1}", 7, &err), DATA_TOO_LARGE);
    ck_assert_int_eq(parse_limited("{\"\\n\":1}", 8, &err), 0);
    ck_assert_int_eq(parse_limited("{}", 2, &err), 0);
}
END_TEST

START_TEST(test_limited_duplicates_shrink)
{
    /* A later duplicate may replace a long value with a short one: values prove nothing until
     * the end, so this 7-byte result is accepted although the text carried a long value. */
    const char *err;
    ck_assert_int_eq(parse_limited("{\"a\":\"xxxxxxxxxxxxxxxxxxxx\",\"a\":1}", 7, &err), 0);
    ck_assert_int_eq(parse_limited("{\"a\":[1,2,3,4,5,6,7,8,9],\"b\":2,\"a\":1}", 13, &err), 0);
    ck_assert_int_eq(parse_limited("{\"a\":[1,2,3,4,5,6,7,8,9],\"b\":2,\"a\":1}", 12, &err),
                     DATA_TOO_LARGE);
    /* Repeating one key never adds to the size. */
    struct buf t = {0};
    buf_append_str(&t, "{\"k\":0");
    for (int i = 0; i < 1000; i++)
        buf_append_str(&t, ",\"k\":0");
    buf_append_char(&t, '}');
    ck_assert_int_eq(parse_limited(t.p, 7, &err), 0);
    buf_free(&t);
}
END_TEST

START_TEST(test_limited_stops_early)
{
    /* 2,000 distinct keys, then text that is not JSON. The keys alone weigh more than 1,024
     * bytes, so the parse stops among them and never reaches the bad tail: too large, not
     * invalid. A parse that read on would say "invalid JSON". */
    struct buf t = {0};
    buf_append_char(&t, '{');
    for (int i = 0; i < 2000; i++)
        buf_printf(&t, "%s\"key%d\":0", i ? "," : "", i);
    buf_append_str(&t, ", !!! not json");
    const char *err;
    ck_assert_int_eq(parse_limited(t.p, 1024, &err), DATA_TOO_LARGE);
    ck_assert_str_eq(err, "data too large");
    /* Unlimited, the same text is invalid: the tail is really bad. */
    struct data_doc d;
    ck_assert_int_eq(data_parse(t.p, t.len, &d, &err), -1);
    ck_assert_str_eq(err, "invalid JSON");
    data_doc_clear(&d);
    /* Invalid before the limit is reached stays invalid, and other errors keep their text. */
    ck_assert_int_eq(parse_limited("{\"a\":1,,}", 1024, &err), -1);
    ck_assert_str_eq(err, "invalid JSON");
    ck_assert_int_eq(parse_limited("[1]", 1024, &err), -1);
    ck_assert_str_eq(err, "payload must be a JSON object");
    buf_free(&t);
}
END_TEST

START_TEST(test_limited_agrees_with_size)
{
    /* Random objects with duplicate keys, escapes, nesting and whitespace: under every limit
     * around the exact size, the limited parse accepts exactly when the size fits. A floor
     * that overestimated (values or whitespace counted) would refuse at the exact size. */
    static const char *keys[] = {"a", "b", "\\n", "\\u0001", "\\\"q", "long key with spaces", "é"};
    static const char *values[] = {"1", "null", "\"xxxxxxxxxx\"", "[1, 2, {\"z\": [3]}]",
                                   "\"\\u00e9\\/\"", "{}", "-1.5e3", "\"\\t\""};
    uint32_t seed = 12345;
    for (int round = 0; round < 300; round++) {
        struct buf t = {0};
        buf_append_str(&t, " { ");
        int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned k = (seed >> 16) % (sizeof(keys) / sizeof(keys[0]));
            seed = seed * 1103515245u + 12345u;
            unsigned v = (seed >> 16) % (sizeof(values) / sizeof(values[0]));
            buf_printf(&t, "%s\"%s\" :  %s", i ? " ,\n" : "", keys[k], values[v]);
        }
        buf_append_str(&t, " } ");
        struct data_doc d;
        parse_ok(t.p, &d);
        size_t size = d.bytes;
        data_doc_clear(&d);
        const char *err;
        ck_assert_int_eq(parse_limited(t.p, size, &err), 0);
        ck_assert_int_eq(parse_limited(t.p, size + 1, &err), 0);
        ck_assert_int_eq(parse_limited(t.p, size - 1, &err), DATA_TOO_LARGE);
        buf_free(&t);
    }
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");

    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_all_types);
    tcase_add_test(tc, test_parse_whitespace_nested);
    tcase_add_test(tc, test_parse_numbers_verbatim);
    tcase_add_test(tc, test_parse_escapes);
    tcase_add_test(tc, test_parse_duplicates);
    tcase_add_test(tc, test_parse_not_object);
    tcase_add_test(tc, test_parse_invalid);
    tcase_add_test(tc, test_parse_length_respected);
    tcase_add_test(tc, test_parse_depth);
    tcase_add_test(tc, test_parse_surrogates);
    tcase_add_test(tc, test_parse_surrogates_after_bad_hex);
    tcase_add_test(tc, test_parse_invalid_utf8);
    suite_add_tcase(s, tc);

    tc = tcase_create("size");
    tcase_add_test(tc, test_field_bytes);
    tcase_add_test(tc, test_bytes_equals_encoding);
    tcase_add_test(tc, test_doc_set_copy);
    suite_add_tcase(s, tc);

    tc = tcase_create("apply");
    tcase_add_test(tc, test_replace);
    tcase_add_test(tc, test_replace_keeps_null);
    tcase_add_test(tc, test_merge);
    tcase_add_test(tc, test_merge_delete);
    tcase_add_test(tc, test_merge_sequence);
    tcase_add_test(tc, test_limit_replace);
    tcase_add_test(tc, test_limit_merge);
    tcase_add_test(tc, test_limit_protocol_size);
    suite_add_tcase(s, tc);

    tc = tcase_create("limited");
    tcase_add_test(tc, test_limited_exact_size);
    tcase_add_test(tc, test_limited_duplicates_shrink);
    tcase_add_test(tc, test_limited_stops_early);
    tcase_add_test(tc, test_limited_agrees_with_size);
    suite_add_tcase(s, tc);

    tc = tcase_create("encode");
    tcase_add_test(tc, test_updated_at);
    tcase_add_test(tc, test_encode_appends);
    suite_add_tcase(s, tc);

    tc = tcase_create("many_keys");
    /* Sanitizer builds are slow; the default 4 s is for the quick cases. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_many_keys);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(data_suite)
