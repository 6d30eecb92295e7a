/*
 * Unit tests for the channel message codec (chanmsg.c): the exact bytes of each kind (other
 * instances and the Lua scripts read and write them), round trips through the decoder, the
 * headers the scripts write themselves, and the texts the decoder refuses.
 */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "chanmsg.h"
#include "unit.h"

/* Decodes text (a C string), which must succeed with this kind, instance and sid. */
static void decode_ok(const char *text, struct chanmsg *m, enum chanmsg_kind kind,
                      const char *instance, uint64_t sid)
{
    const char *err = "";
    ck_assert_msg(chanmsg_decode(text, strlen(text), m, &err) == CHANMSG_OK, "%s: %s", text, err);
    ck_assert_int_eq(m->kind, kind);
    ck_assert_str_eq(m->instance, instance);
    ck_assert_uint_eq(m->sid, sid);
}

static void assert_body(const struct chanmsg *m, const char *text, const char *body)
{
    ck_assert_uint_eq(m->body_len, strlen(body));
    ck_assert(memcmp(m->body, body, m->body_len) == 0);
    /* A span into the text, not a copy. */
    ck_assert_ptr_eq(m->body, text + strlen(text) - strlen(body));
}

START_TEST(broadcast_bytes_and_round_trip)
{
    static const char payload[] = "{\"type\":\"ovice_message\",\"payload\":{\"n\":1}}";
    struct chanmsg in = {.kind = CHANMSG_BROADCAST, .instance = "inst-1", .sid = 12, .echo = 1};
    struct buf b = {0};
    chanmsg_encode_message(&b, &in, payload, strlen(payload));
    ck_assert_str_eq(b.p, "{\"k\":\"b\",\"i\":\"inst-1\",\"s\":12,\"e\":true}\n"
                          "{\"type\":\"ovice_message\",\"payload\":{\"n\":1}}");
    struct chanmsg m;
    decode_ok(b.p, &m, CHANMSG_BROADCAST, "inst-1", 12);
    ck_assert_int_eq(m.echo, 1);
    ck_assert_ptr_null(m.to);
    assert_body(&m, b.p, payload);
    chanmsg_clear(&m);
    ck_assert_ptr_null(m.head);

    /* Without echo there is no "e" key at all; a to is not written for a broadcast. */
    buf_reset(&b);
    in.echo = 0;
    in.to = "nobody";
    in.sid = 0;
    chanmsg_encode_message(&b, &in, "x", 1);
    ck_assert_str_eq(b.p, "{\"k\":\"b\",\"i\":\"inst-1\",\"s\":0}\nx");
    decode_ok(b.p, &m, CHANMSG_BROADCAST, "inst-1", 0);
    ck_assert_int_eq(m.echo, 0);
    assert_body(&m, b.p, "x");
    chanmsg_clear(&m);
    buf_free(&b);
}
END_TEST

START_TEST(emit_bytes_and_round_trip)
{
    struct chanmsg in = {
        .kind = CHANMSG_EMIT, .instance = "h\xc3\xb4te:42", .sid = 7, .to = "u\"7\\"};
    struct buf b = {0};
    /* The body is bytes: a newline in it belongs to it, only the first one ends the header. */
    chanmsg_encode_message(&b, &in, "{\"a\":\n1}", 8);
    ck_assert_str_eq(b.p, "{\"k\":\"e\",\"i\":\"h\xc3\xb4te:42\",\"s\":7,\"t\":\"u\\\"7\\\\\"}\n"
                          "{\"a\":\n1}");
    struct chanmsg m;
    decode_ok(b.p, &m, CHANMSG_EMIT, "h\xc3\xb4te:42", 7);
    ck_assert_str_eq(m.to, "u\"7\\");
    assert_body(&m, b.p, "{\"a\":\n1}");
    chanmsg_clear(&m);

    /* An empty payload is an empty body. */
    buf_reset(&b);
    chanmsg_encode_message(&b, &in, "", 0);
    decode_ok(b.p, &m, CHANMSG_EMIT, "h\xc3\xb4te:42", 7);
    ck_assert_uint_eq(m.body_len, 0);
    chanmsg_clear(&m);
    buf_free(&b);
}
END_TEST

/* What presence_set.lua publishes: head, the change's number, tail. */
static void presence_text(struct buf *out, const struct chanmsg *in, const char *seq,
                          const char *participant)
{
    struct buf head = {0}, tail = {0};
    chanmsg_encode_presence(&head, &tail, in, participant, strlen(participant));
    buf_printf(out, "%s%s%s", head.p, seq, tail.p);
    buf_free(&head);
    buf_free(&tail);
}

START_TEST(presence_parts_and_round_trip)
{
    static const char participant[] = "{\"id\":\"a\",\"name\":\"Name a\",\"objectId\":\"L1\"}";
    struct chanmsg in = {.kind = CHANMSG_PRESENCE, .instance = "inst-1", .sid = 3, .user_key = "a"};
    struct buf head = {0}, tail = {0};
    chanmsg_encode_presence(&head, &tail, &in, participant, strlen(participant));
    ck_assert_str_eq(head.p, "{\"k\":\"p\",\"i\":\"inst-1\",\"s\":3,\"u\":\"a\",\"q\":");
    ck_assert_uint_eq(tail.len, 2 + strlen(participant));
    ck_assert(memcmp(tail.p, "}\n", 2) == 0);
    ck_assert_str_eq(tail.p + 2, participant);
    buf_free(&head);
    buf_free(&tail);

    struct buf b = {0};
    presence_text(&b, &in, "42", participant);
    struct chanmsg m;
    decode_ok(b.p, &m, CHANMSG_PRESENCE, "inst-1", 3);
    ck_assert_str_eq(m.user_key, "a");
    ck_assert_int_eq(m.seq, 42);
    assert_body(&m, b.p, participant);
    chanmsg_clear(&m);

    /* A removal: no participant, an empty body. */
    buf_reset(&b);
    presence_text(&b, &in, "43", "");
    ck_assert_str_eq(b.p, "{\"k\":\"p\",\"i\":\"inst-1\",\"s\":3,\"u\":\"a\",\"q\":43}\n");
    decode_ok(b.p, &m, CHANMSG_PRESENCE, "inst-1", 3);
    ck_assert_int_eq(m.seq, 43);
    ck_assert_uint_eq(m.body_len, 0);
    chanmsg_clear(&m);
    buf_free(&b);
}
END_TEST

/* presence_reap.lua writes its header with cjson, in any key order, "/" escaped. */
START_TEST(presence_from_the_reap)
{
    const char *text = "{\"u\":\"a\\/b\",\"q\":7,\"k\":\"p\",\"s\":0,\"i\":\"inst-2\"}\n";
    struct chanmsg m;
    decode_ok(text, &m, CHANMSG_PRESENCE, "inst-2", 0);
    ck_assert_str_eq(m.user_key, "a/b");
    ck_assert_int_eq(m.seq, 7);
    ck_assert_uint_eq(m.body_len, 0);
    chanmsg_clear(&m);
}
END_TEST

START_TEST(data_head_and_round_trip)
{
    struct chanmsg in = {.kind = CHANMSG_DATA, .instance = "inst-1", .sid = 9};
    struct buf b = {0};
    chanmsg_encode_data_head(&b, &in);
    ck_assert_str_eq(b.p, "{\"k\":\"d\",\"i\":\"inst-1\",\"s\":9,\"v\":");
    /* What data_save.lua appends: version, ,"a":, now, ,"o":, offset, }, newline, the
     * object. */
    buf_append_str(&b, "5,\"a\":1700000000,\"o\":77}\n{\"x\":1,\"y\":[true]}");
    struct chanmsg m;
    decode_ok(b.p, &m, CHANMSG_DATA, "inst-1", 9);
    ck_assert_int_eq(m.version, 5);
    ck_assert_int_eq(m.updated_at, 1700000000);
    ck_assert_int_eq(m.offset, 77);
    assert_body(&m, b.p, "{\"x\":1,\"y\":[true]}");
    chanmsg_clear(&m);
    buf_free(&b);
}
END_TEST

/* publish.lua's parts: the head up to "o":, then the offset, "}\n" and the payload; the
 * whole encoder writes the same bytes when it has the offset. */
START_TEST(message_head_and_offset)
{
    struct chanmsg in = {.kind = CHANMSG_EMIT, .instance = "inst-2", .sid = 4, .to = "u9"};
    struct buf b = {0}, whole = {0};
    chanmsg_encode_message_head(&b, &in);
    ck_assert_str_eq(b.p, "{\"k\":\"e\",\"i\":\"inst-2\",\"s\":4,\"t\":\"u9\",\"o\":");
    buf_append_str(&b, "123}\n{\"m\":1}");
    in.offset = 123;
    chanmsg_encode_message(&whole, &in, "{\"m\":1}", 7);
    ck_assert_str_eq(whole.p, b.p);
    struct chanmsg m;
    decode_ok(b.p, &m, CHANMSG_EMIT, "inst-2", 4);
    ck_assert_int_eq(m.offset, 123);
    ck_assert_str_eq(m.to, "u9");
    assert_body(&m, b.p, "{\"m\":1}");
    chanmsg_clear(&m);
    buf_free(&b);
    buf_free(&whole);
}
END_TEST

/* Absent numbers read as 0, as they always have; sid takes the whole range of long long. */
START_TEST(absent_numbers)
{
    struct chanmsg m;
    decode_ok("{\"k\":\"d\",\"i\":\"x\"}\n{}", &m, CHANMSG_DATA, "x", 0);
    ck_assert_int_eq(m.version, 0);
    ck_assert_int_eq(m.updated_at, 0);
    ck_assert_int_eq(m.offset, 0);
    chanmsg_clear(&m);
    decode_ok("{\"k\":\"b\",\"i\":\"x\",\"s\":9223372036854775807}\n", &m, CHANMSG_BROADCAST, "x",
              INT64_MAX);
    chanmsg_clear(&m);
}
END_TEST

static void assert_refused(const char *text, enum chanmsg_status want)
{
    struct chanmsg m;
    const char *err = NULL;
    ck_assert_msg(chanmsg_decode(text, strlen(text), &m, &err) == want, "decoding %s", text);
    ck_assert_ptr_nonnull(err);
    /* Nothing to clear, and clearing does no harm. */
    ck_assert_ptr_null(m.head);
    ck_assert_ptr_null(m.body);
    chanmsg_clear(&m);
}

START_TEST(truncated_and_not_json)
{
    assert_refused("", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"b\",\"i\":\"x\",\"s\":1}", CHANMSG_MALFORMED);   /* no newline */
    assert_refused("{\"k\":\"b\",\"i\":\"x\",\"s\":\n{}", CHANMSG_MALFORMED); /* cut header */
    assert_refused("{\"k\":\"b\",\"i\":\"x\"\n", CHANMSG_MALFORMED);
    assert_refused("\n{\"k\":\"b\",\"i\":\"x\"}", CHANMSG_MALFORMED); /* empty header */
    assert_refused("hello\nworld", CHANMSG_MALFORMED);
    assert_refused("[\"b\",\"x\"]\n", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"b\",\"i\":\"\xff\"}\n", CHANMSG_MALFORMED); /* not UTF-8 */
}
END_TEST

START_TEST(missing_or_unknown_fields)
{
    assert_refused("{\"i\":\"x\",\"s\":1}\n", CHANMSG_MALFORMED);     /* no kind */
    assert_refused("{\"k\":\"b\",\"s\":1}\n", CHANMSG_MALFORMED);     /* no instance */
    assert_refused("{\"k\":\"b\",\"i\":7}\n", CHANMSG_MALFORMED);     /* instance a number */
    assert_refused("{\"k\":98,\"i\":\"x\"}\n", CHANMSG_MALFORMED);    /* kind a number */
    assert_refused("{\"k\":\"e\",\"i\":\"x\"}\n", CHANMSG_MALFORMED); /* emit, no to */
    assert_refused("{\"k\":\"e\",\"i\":\"x\",\"t\":1}\n", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"p\",\"i\":\"x\",\"q\":1}\n", CHANMSG_MALFORMED); /* no user */
    assert_refused("{\"k\":\"x\",\"i\":\"x\"}\n", CHANMSG_UNKNOWN_KIND);
    assert_refused("{\"k\":\"bb\",\"i\":\"x\"}\n", CHANMSG_UNKNOWN_KIND);
    assert_refused("{\"k\":\"\",\"i\":\"x\"}\n", CHANMSG_UNKNOWN_KIND);
}
END_TEST

START_TEST(bad_numbers)
{
    /* The session id: an integer from 0 up. */
    assert_refused("{\"k\":\"b\",\"i\":\"x\",\"s\":\"7\"}\n", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"b\",\"i\":\"x\",\"s\":-1}\n", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"b\",\"i\":\"x\",\"s\":1.5}\n", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"b\",\"i\":\"x\",\"s\":18446744073709551616}\n", CHANMSG_MALFORMED);
    /* A presence change's number: an integer from 1 up, never absent. */
    assert_refused("{\"k\":\"p\",\"i\":\"x\",\"u\":\"a\"}\n", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"p\",\"i\":\"x\",\"u\":\"a\",\"q\":0}\n", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"p\",\"i\":\"x\",\"u\":\"a\",\"q\":-3}\n", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"p\",\"i\":\"x\",\"u\":\"a\",\"q\":\"3\"}\n", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"p\",\"i\":\"x\",\"u\":\"a\",\"q\":2.5}\n", CHANMSG_MALFORMED);
    /* A save's version and time. */
    assert_refused("{\"k\":\"d\",\"i\":\"x\",\"v\":\"1\",\"a\":1}\n{}", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"d\",\"i\":\"x\",\"v\":1,\"a\":1e400}\n{}", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"d\",\"i\":\"x\",\"v\":1,\"a\":null}\n{}", CHANMSG_MALFORMED);
    /* An offset: an integer from 0 up. */
    assert_refused("{\"k\":\"b\",\"i\":\"x\",\"o\":-1}\n", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"b\",\"i\":\"x\",\"o\":\"5\"}\n", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"d\",\"i\":\"x\",\"o\":2.5}\n{}", CHANMSG_MALFORMED);
    /* An epoch: a string. A position: an integer from 0 up. */
    assert_refused("{\"k\":\"b\",\"i\":\"x\",\"o\":1,\"h\":17}\n", CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"p\",\"i\":\"x\",\"u\":\"a\",\"q\":1,\"w\":-2}\n",
                   CHANMSG_MALFORMED);
    assert_refused("{\"k\":\"p\",\"i\":\"x\",\"u\":\"a\",\"q\":1,\"w\":\"0\"}\n",
                   CHANMSG_MALFORMED);
}
END_TEST

START_TEST(epoch_and_position)
{
    /* What publish.lua makes of chanmsg_encode_message_head(): offset, epoch, body. */
    struct chanmsg in = {.kind = CHANMSG_BROADCAST, .instance = "i1", .sid = 2};
    struct buf b = {0};
    chanmsg_encode_message_head(&b, &in);
    buf_append_str(&b, "7,\"h\":\"1733\"}\n{\"type\":\"ovice_message\"}");
    struct chanmsg m;
    decode_ok(b.p, &m, CHANMSG_BROADCAST, "i1", 2);
    ck_assert_int_eq(m.offset, 7);
    ck_assert_str_eq(m.epoch, "1733");
    ck_assert_int_eq(m.at, -1);
    chanmsg_clear(&m);
    /* encoded in C with both */
    buf_reset(&b);
    in.offset = 9;
    in.epoch = "e\"1";
    chanmsg_encode_message(&b, &in, "{}", 2);
    ck_assert_str_eq(b.p, "{\"k\":\"b\",\"i\":\"i1\",\"s\":2,\"o\":9,\"h\":\"e\\\"1\"}\n{}");
    decode_ok(b.p, &m, CHANMSG_BROADCAST, "i1", 2);
    ck_assert_str_eq(m.epoch, "e\"1");
    chanmsg_clear(&m);
    /* presence_set.lua's position; a reap's removal has none */
    buf_reset(&b);
    buf_append_str(&b, "{\"k\":\"p\",\"i\":\"i1\",\"s\":2,\"u\":\"a\",\"q\":4,\"w\":0,\"h\":\"1733\"}\n");
    decode_ok(b.p, &m, CHANMSG_PRESENCE, "i1", 2);
    ck_assert_int_eq(m.at, 0);
    ck_assert_str_eq(m.epoch, "1733");
    ck_assert_int_eq(m.offset, 0);
    chanmsg_clear(&m);
    buf_reset(&b);
    buf_append_str(&b, "{\"k\":\"p\",\"i\":\"i1\",\"s\":0,\"u\":\"a\",\"q\":5}\n");
    decode_ok(b.p, &m, CHANMSG_PRESENCE, "i1", 0);
    ck_assert_int_eq(m.at, -1);
    ck_assert_ptr_null(m.epoch);
    chanmsg_clear(&m);
    buf_free(&b);
}
END_TEST

static Suite *chanmsg_suite(void)
{
    Suite *s = suite_create("chanmsg");
    TCase *tc = tcase_create("round_trip");
    tcase_add_test(tc, broadcast_bytes_and_round_trip);
    tcase_add_test(tc, emit_bytes_and_round_trip);
    tcase_add_test(tc, presence_parts_and_round_trip);
    tcase_add_test(tc, epoch_and_position);
    tcase_add_test(tc, presence_from_the_reap);
    tcase_add_test(tc, data_head_and_round_trip);
    tcase_add_test(tc, message_head_and_offset);
    tcase_add_test(tc, absent_numbers);
    suite_add_tcase(s, tc);
    tc = tcase_create("refused");
    tcase_add_test(tc, truncated_and_not_json);
    tcase_add_test(tc, missing_or_unknown_fields);
    tcase_add_test(tc, bad_numbers);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(chanmsg_suite)
