/* Unit tests for src/proto.c: parsing every field, spans of raw text, and the encoders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "metrics.h"
#include "proto.h"
#include "unit.h"

static int parse(const char *text, struct proto_msg *m, const char **err)
{
    *err = NULL;
    return proto_parse(text, strlen(text), m, err);
}

static int span_is(struct proto_span s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

START_TEST(type_table_round_trips)
{
    for (int t = 1; t < PROTO_TYPE_COUNT; t++) {
        const char *name = proto_type_name((enum proto_type)t);
        ck_assert_int_eq(proto_type_lookup(name, strlen(name)), t);
    }
    ck_assert_int_eq(proto_type_lookup("ovice_get", 9), PROTO_UNKNOWN);
    ck_assert_str_eq(proto_error_name(PROTO_ERR_NOT_PRESENT), "not_present");
    ck_assert_str_eq(proto_error_name(PROTO_ERR_RATE_LIMITED), "rate_limited");
}
END_TEST

START_TEST(parses_auth)
{
    struct proto_msg m;
    const char *err;
    ck_assert_int_eq(parse("{\"type\":\"objcast_auth\",\"token\":\"a.b.c\",\"ref\":7}", &m, &err), 0);
    ck_assert_int_eq(m.type, PROTO_AUTH);
    ck_assert_str_eq(m.token, "a.b.c");
    ck_assert(span_is(m.ref, "7"));
    proto_msg_clear(&m);
}
END_TEST

START_TEST(parses_refresh)
{
    struct proto_msg m;
    const char *err;
    ck_assert_int_eq(parse("{\"type\":\"objcast_refresh\",\"ref\":\"r1\",\"token\":\"x.y.z\"}", &m,
                           &err),
                     0);
    ck_assert_int_eq(m.type, PROTO_REFRESH);
    ck_assert_str_eq(m.token, "x.y.z");
    ck_assert(span_is(m.ref, "\"r1\""));
    proto_msg_clear(&m);
    /* A token that is not a string is refused with the ref still read. */
    ck_assert_int_eq(parse("{\"type\":\"objcast_refresh\",\"token\":7,\"ref\":3}", &m, &err), -1);
    ck_assert_str_eq(err, "\"token\" must be a string");
    ck_assert(span_is(m.ref, "3"));
    proto_msg_clear(&m);
}
END_TEST

START_TEST(parses_subscribe_fields)
{
    struct proto_msg m;
    const char *err;
    ck_assert_int_eq(parse("{ \"ref\" : \"r\\\"1\" , \"type\":\"objcast_join\",\"objectId\":\"L1\","
                           "\"objectType\":\"dynamic\",\"objectToken\":\"tok\",\"extra\":[1,{}]}",
                           &m, &err),
                     0);
    ck_assert_int_eq(m.type, PROTO_JOIN);
    ck_assert_str_eq(m.object_id, "L1");
    ck_assert_str_eq(m.object_type, "dynamic");
    ck_assert_str_eq(m.object_token, "tok");
    ck_assert(span_is(m.ref, "\"r\\\"1\""));
    proto_msg_clear(&m);
}
END_TEST

START_TEST(parses_broadcast_with_raw_message)
{
    struct proto_msg m;
    const char *err;
    const char *text = "{\"type\":\"ovice_broadcast_message\",\"objectId\":\"L124\",\"echo\":true,"
                       "\"payload\":{\"source\":\"forged\",\"event\":\"ev\",\"objectId\":\"X\","
                       "\"message\": {\"key1\":\"value1\",\"key2\":42,\"key3\":[\"a\",\"b\"]} }}";
    ck_assert_int_eq(parse(text, &m, &err), 0);
    ck_assert_int_eq(m.type, PROTO_BROADCAST);
    ck_assert_str_eq(m.object_id, "L124"); /* the top-level id wins */
    ck_assert_str_eq(m.event, "ev");
    ck_assert_int_eq(m.has_event, 1);
    ck_assert_int_eq(m.echo, 1);
    ck_assert(span_is(m.message, "{\"key1\":\"value1\",\"key2\":42,\"key3\":[\"a\",\"b\"]}"));
    ck_assert(json_validate(m.payload.p, m.payload.len));
    ck_assert_int_eq(m.payload.p[0], '{');
    ck_assert_int_eq(m.payload.p[m.payload.len - 1], '}');
    proto_msg_clear(&m);
}
END_TEST

START_TEST(message_spans_of_every_type)
{
    const char *values[] = {"\"text\"", "12.5e3", "-1", "true", "false", "null", "[]",
                            "[[1],[2,[3]]]", "{\"a\":{\"b\":[]}}", "\"\\u00e9\\n\""};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"type\":\"ovice_emit_message\",\"payload\":{\"message\":%s,\"to\":12,"
                 "\"event\":\"e\"}}",
                 values[i]);
        struct proto_msg m;
        const char *err;
        ck_assert_int_eq(parse(text, &m, &err), 0);
        ck_assert_msg(span_is(m.message, values[i]), "value %s", values[i]);
        ck_assert_str_eq(m.to, "12");
        ck_assert_int_eq(m.has_to, 1);
        proto_msg_clear(&m);
    }
}
END_TEST

START_TEST(payload_object_id_is_a_fallback)
{
    struct proto_msg m;
    const char *err;
    ck_assert_int_eq(parse("{\"type\":\"ovice_get_data\",\"payload\":{\"objectId\":\"P1\"}}", &m, &err), 0);
    ck_assert_str_eq(m.object_id, "P1");
    proto_msg_clear(&m);
}
END_TEST

START_TEST(save_flags)
{
    struct proto_msg m;
    const char *err;
    ck_assert_int_eq(parse("{\"type\":\"ovice_save_and_emit_data\",\"merge\":true,\"ifVersion\":12,"
                           "\"payload\":{\"a\":null}}",
                           &m, &err),
                     0);
    ck_assert_int_eq(m.merge, 1);
    ck_assert_int_eq(m.if_version, 12);
    ck_assert(span_is(m.payload, "{\"a\":null}"));
    proto_msg_clear(&m);
    ck_assert_int_eq(parse("{\"type\":\"ovice_save_and_emit_data\",\"payload\":{}}", &m, &err), 0);
    ck_assert_int_eq(m.merge, 0);
    ck_assert_int_eq(m.if_version, -1);
    proto_msg_clear(&m);
}
END_TEST

START_TEST(unknown_type_parses)
{
    struct proto_msg m;
    const char *err;
    ck_assert_int_eq(parse("{\"type\":\"nope\",\"ref\":\"r1\"}", &m, &err), 0);
    ck_assert_int_eq(m.type, PROTO_UNKNOWN);
    ck_assert_str_eq(m.type_name, "nope");
    ck_assert(span_is(m.ref, "\"r1\""));
    proto_msg_clear(&m);
}
END_TEST

START_TEST(rejects_malformed)
{
    static const char *bad[] = {
        "",
        "not json",
        "[1,2]",
        "\"type\"",
        "{}",
        "{\"type\":1}",
        "{\"type\":null}",
        "{\"type\":\"x\"",
        "{\"type\":\"x\"} trailing",
        /* cut tokens after the message, which yajl alone lets through (json_single_value) */
        "{\"type\":\"x\"}\"",
        "{\"type\":\"x\"} \"ab}",
        "{\"type\":\"x\"} tru",
        "{\"type\":\"x\"} 12",
        "{\"type\":\"x\",\"ref\":{}}",
        "{\"type\":\"x\",\"ref\":true}",
        "{\"type\":\"x\",\"objectId\":5}",
        "{\"type\":\"x\",\"objectId\":\"\"}",
        "{\"type\":\"x\",\"objectType\":\"round\"}",
        "{\"type\":\"x\",\"echo\":\"yes\"}",
        "{\"type\":\"x\",\"merge\":1}",
        "{\"type\":\"x\",\"ifVersion\":-1}",
        "{\"type\":\"x\",\"ifVersion\":1.5}",
        "{\"type\":\"x\",\"ifVersion\":\"3\"}",
        "{\"type\":\"x\",\"payload\":{\"to\":true}}",
        "{\"type\":\"x\",\"payload\":{\"to\":1.5}}",
        "{\"type\":\"x\",\"payload\":{\"event\":3}}",
        "{\"type\":\"x\",\"token\":3}",
        "{\"type\":\"x\",}",
        "{'type':'x'}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct proto_msg m;
        const char *err = NULL;
        ck_assert_msg(parse(bad[i], &m, &err) == -1, "accepted: %s", bad[i]);
        ck_assert_ptr_nonnull(err);
        proto_msg_clear(&m);
    }
}
END_TEST

START_TEST(ref_survives_errors)
{
    struct proto_msg m;
    const char *err;
    ck_assert_int_eq(parse("{\"ref\":\"keep\",\"objectId\":\"O\",\"type\":5}", &m, &err), -1);
    ck_assert(span_is(m.ref, "\"keep\""));
    ck_assert_str_eq(m.object_id, "O");
    proto_msg_clear(&m);
}
END_TEST

/* Found by fuzz_proto: a number cut off by the end of the text is only reported while yajl
 * finishes on a buffer of its own, so its span came out with a wrapped-around length. */
START_TEST(number_at_end_of_text_has_no_span)
{
    const char *texts[] = {"{\"ref\":1", "{\"type\":\"x\",\"ref\":-12",
                           "{\"type\":\"ovice_emit_message\",\"payload\":{\"to\":12"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct proto_msg m;
        const char *err;
        ck_assert_int_eq(parse(texts[i], &m, &err), -1);
        ck_assert_uint_eq(m.ref.len, 0);
        ck_assert_uint_eq(m.to_raw.len, 0);
        proto_msg_clear(&m);
    }
}
END_TEST

/* Found by fuzz_proto: yajl takes \v and \f for whitespace, so a span started at them and
 * "message"\f:{...} was relayed to every subscriber as "message":\f:{...}. */
START_TEST(vertical_tab_and_form_feed_refused)
{
    const char *texts[] = {
        "{\"type\":\"ovice_broadcast_message\",\"objectId\":\"L1\","
        "\"payload\":{\"event\":\"e\",\"message\"\f:{\"x\":1}}}",
        "{\"type\":\"x\",\"ref\"\v:1}",
        "{\"type\":\"x\",\"payload\":{\"message\":[1,\v2]}}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct proto_msg m;
        const char *err;
        ck_assert_int_eq(parse(texts[i], &m, &err), -1);
        proto_msg_clear(&m);
    }
}
END_TEST

/* Found by fuzz_proto: yajl decodes \u0000 into a NUL, which cut "to" and "objectId" short,
 * and a lone low surrogate into bytes that are not UTF-8, which went out in every frame that
 * echoes the string (a browser fails the WebSocket on them). */
START_TEST(decoded_strings_are_utf8_without_nul)
{
    const char *bad[] = {
        "{\"type\":\"x\",\"objectId\":\"\\udc00\"}",
        "{\"type\":\"x\",\"objectId\":\"L1\\u0000x\"}",
        "{\"type\":\"\\udfff\"}",
        "{\"type\":\"ovice_emit_message\",\"objectId\":\"L1\","
        "\"payload\":{\"event\":\"\\udc00\",\"message\":1,\"to\":\"b\"}}",
        "{\"type\":\"ovice_emit_message\",\"objectId\":\"L1\","
        "\"payload\":{\"event\":\"e\",\"message\":1,\"to\":\"a\\u0000b\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct proto_msg m;
        const char *err;
        ck_assert_msg(parse(bad[i], &m, &err) == -1, "accepted %s", bad[i]);
        proto_msg_clear(&m);
    }
    /* A payload objectId is only a fallback: a bad one is ignored, not refused. */
    struct proto_msg m;
    const char *err;
    ck_assert_int_eq(parse("{\"type\":\"x\",\"payload\":{\"objectId\":\"\\udc00\"}}", &m, &err), 0);
    ck_assert_str_eq(m.object_id, "");
    proto_msg_clear(&m);
    /* Escapes that decode to whole characters stay accepted. */
    ck_assert_int_eq(parse("{\"type\":\"x\",\"objectId\":\"\\ud83d\\ude00\\u00e9\"}", &m, &err), 0);
    ck_assert_str_eq(m.object_id, "\xf0\x9f\x98\x80\xc3\xa9");
    proto_msg_clear(&m);
}
END_TEST

/* Found by fuzz_proto: type_name was cut at a byte count, possibly inside a character, and
 * dispatch echoes it in the unknown_type error. */
START_TEST(long_type_name_is_cut_on_a_character)
{
    char text[200];
    char name[100];
    memset(name, 'a', 62);
    strcpy(name + 62, "\xc3\xa9\xc3\xa9"); /* é at bytes 62-63: the cut falls inside it */
    snprintf(text, sizeof(text), "{\"type\":\"%s\"}", name);
    struct proto_msg m;
    const char *err;
    ck_assert_int_eq(parse(text, &m, &err), 0);
    ck_assert_uint_eq(strlen(m.type_name), 62);
    ck_assert(strncmp(m.type_name, name, 62) == 0);
    proto_msg_clear(&m);
}
END_TEST

START_TEST(ids_have_a_length_limit)
{
    char id[PROTO_ID_MAX + 2];
    memset(id, 'a', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    char text[600];
    struct proto_msg m;
    const char *err;
    snprintf(text, sizeof(text), "{\"type\":\"x\",\"objectId\":\"%s\"}", id);
    ck_assert_int_eq(parse(text, &m, &err), -1);
    proto_msg_clear(&m);
    id[PROTO_ID_MAX] = '\0'; /* exactly the limit */
    snprintf(text, sizeof(text), "{\"type\":\"x\",\"objectId\":\"%s\"}", id);
    ck_assert_int_eq(parse(text, &m, &err), 0);
    ck_assert_uint_eq(strlen(m.object_id), PROTO_ID_MAX);
    proto_msg_clear(&m);
}
END_TEST

START_TEST(nesting_limit)
{
    struct buf b = {0};
    for (int depth = JSON_MAX_DEPTH; depth <= JSON_MAX_DEPTH + 1; depth++) {
        buf_reset(&b);
        /* The top-level object and the payload object count as two levels. */
        buf_append_str(&b, "{\"type\":\"x\",\"payload\":{\"message\":");
        for (int i = 0; i < depth - 2; i++)
            buf_append_char(&b, '[');
        for (int i = 0; i < depth - 2; i++)
            buf_append_char(&b, ']');
        buf_append_str(&b, "}}");
        struct proto_msg m;
        const char *err;
        int rc = proto_parse(b.p, b.len, &m, &err);
        ck_assert_int_eq(rc, depth <= JSON_MAX_DEPTH ? 0 : -1);
        proto_msg_clear(&m);
    }
    buf_free(&b);
}
END_TEST

static const char *payload_of(struct payload *f)
{
    static char text[4096];
    ck_assert_uint_lt(f->len, sizeof(text));
    memcpy(text, f->text, f->len);
    text[f->len] = '\0';
    return text;
}

START_TEST(encodes_error)
{
    struct proto_span ref = {"\"r1\"", 4};
    struct payload *f = proto_encode_error(PROTO_ERR_UNKNOWN_TYPE, "unknown \"x\"", "L1", ref);
    ck_assert_str_eq(payload_of(f), "{\"type\":\"objcast_error\",\"objectId\":\"L1\",\"ref\":\"r1\","
                                    "\"payload\":{\"code\":\"unknown_type\",\"message\":\"unknown "
                                    "\\\"x\\\"\"}}");
    payload_unref(f);
    struct proto_span none = {0};
    f = proto_encode_error(PROTO_ERR_BAD_REQUEST, "bad", NULL, none);
    ck_assert_str_eq(payload_of(f), "{\"type\":\"objcast_error\",\"payload\":{\"code\":"
                                    "\"bad_request\",\"message\":\"bad\"}}");
    payload_unref(f);
}
END_TEST

START_TEST(encodes_ready)
{
    struct proto_span ref = {"7", 1};
    struct payload *f = proto_encode_ready("\"u1\"", "host:1", "7@host:1", 2097152, 512000, ref);
    const char *text = payload_of(f);
    ck_assert_str_eq(text, "{\"type\":\"objcast_ready\",\"ref\":7,\"payload\":{\"userId\":\"u1\","
                           "\"instance\":\"host:1\",\"session\":\"7@host:1\",\"limits\":{\"maxMessageBytes\":2097152,"
                           "\"maxDataBytes\":512000}}}");
    ck_assert(json_validate(text, strlen(text)));
    payload_unref(f);
}
END_TEST

START_TEST(encodes_refreshed)
{
    struct proto_span ref = {"\"r9\"", 4};
    struct proto_span none = {0};
    struct payload *f = proto_encode_refreshed(1700000123LL, ref);
    const char *text = payload_of(f);
    ck_assert_str_eq(text, "{\"type\":\"objcast_refreshed\",\"ref\":\"r9\",\"payload\":{\"exp\":"
                           "1700000123}}");
    ck_assert(json_validate(text, strlen(text)));
    payload_unref(f);
    f = proto_encode_refreshed(42, none);
    ck_assert_str_eq(payload_of(f), "{\"type\":\"objcast_refreshed\",\"payload\":{\"exp\":42}}");
    payload_unref(f);
}
END_TEST

START_TEST(payloads_are_shared)
{
    uint64_t before = metrics.encoded;
    struct buf b = {0};
    payload_begin(&b);
    buf_append_str(&b, "{}");
    struct payload *f = payload_finish(&b);
    ck_assert_uint_eq(metrics.encoded, before + 1);
    ck_assert_uint_eq(f->refs, 1);
    payload_ref(f);
    payload_ref(f);
    ck_assert_uint_eq(f->refs, 3);
    payload_unref(f);
    payload_unref(f);
    ck_assert_uint_eq(f->refs, 1);
    ck_assert_uint_eq(f->len, 2);
    ck_assert_int_eq(memcmp(f->text, "{}", 2), 0);
    ck_assert_ptr_null(f->wire); /* no transport framed it yet */
    payload_unref(f);

    /* A copy (what another instance encoded) is not an encoding. */
    f = payload_copy("{\"a\":1}", 7);
    ck_assert_uint_eq(metrics.encoded, before + 1);
    ck_assert_int_eq(memcmp(f->text, "{\"a\":1}", 7), 0);
    payload_unref(f);
}
END_TEST


static struct participant *sample(enum presence_state st)
{
    struct identity id = {.user_key = "12", .user_json = "12", .ws_json = "\"987\"",
                          .ws_key = "987", .name = "Ann \"A\"", .avatar_url = "a.png",
                          .language = "en", .email = "ann@example.com", .visitor = 1};
    return participant_new(&id, "dynamic", 1, st);
}

START_TEST(encodes_presence_events)
{
    struct participant *p = sample(PRESENCE_JOINED);
    struct payload *f = proto_encode_presence(PRESENCE_JOINED, p, "L1", 1, NULL);
    ck_assert_str_eq(payload_of(f),
                     "{\"type\":\"ovice_participant_joined\",\"objectId\":\"L1\",\"payload\":{"
                     "\"id\":12,\"name\":\"Ann \\\"A\\\"\",\"objectId\":\"L1\",\"objectType\":"
                     "\"dynamic\",\"avatarUrl\":\"a.png\",\"workspaceId\":\"987\",\"language\":"
                     "\"en\",\"isHost\":true,\"isSelf\":true,\"isVisitor\":true,\"email\":"
                     "\"ann@example.com\"}}");
    payload_unref(f);
    /* others never see the email */
    f = proto_encode_presence(PRESENCE_NONE, p, "L1", 0, NULL);
    const char *text = payload_of(f);
    ck_assert_ptr_nonnull(strstr(text, "\"type\":\"ovice_participant_unsubscribed\""));
    ck_assert_ptr_nonnull(strstr(text, "\"isSelf\":false"));
    ck_assert_ptr_null(strstr(text, "email"));
    ck_assert_ptr_null(strstr(text, "status"));
    payload_unref(f);
    participant_free(p);
}
END_TEST

START_TEST(encodes_positions)
{
    /* the own event: the object's position, and a resume's answer */
    struct participant *p = sample(PRESENCE_SUBSCRIBED);
    struct proto_position pos = {.epoch = "17", .offset = 0, .recovered = -1};
    struct payload *f = proto_encode_presence(PRESENCE_SUBSCRIBED, p, "L1", 1, &pos);
    ck_assert_ptr_nonnull(strstr(payload_of(f), "\"objectId\":\"L1\",\"offset\":0,\"epoch\":\"17\","
                                                "\"payload\":{"));
    ck_assert_ptr_null(strstr(payload_of(f), "recovered"));
    ck_assert(json_validate(payload_of(f), f->len));
    payload_unref(f);
    pos = (struct proto_position){.epoch = "17", .offset = 5, .recovered = 1};
    f = proto_encode_presence(PRESENCE_SUBSCRIBED, p, "L1", 1, &pos);
    ck_assert_ptr_nonnull(strstr(payload_of(f), "\"offset\":5,\"epoch\":\"17\",\"recovered\":true,"));
    payload_unref(f);
    pos.recovered = 0;
    f = proto_encode_presence(PRESENCE_SUBSCRIBED, p, "L1", 1, &pos);
    ck_assert_ptr_nonnull(strstr(payload_of(f), "\"recovered\":false,"));
    payload_unref(f);
    participant_free(p);

    /* a carried ovice_message gets its place after "type", in one copy */
    const char *body = "{\"type\":\"ovice_message\",\"objectId\":\"L1\",\"payload\":{}}";
    f = proto_message_at(body, strlen(body), 12, "e\"x");
    ck_assert_str_eq(payload_of(f), "{\"type\":\"ovice_message\",\"offset\":12,\"epoch\":\"e\\\"x\","
                                    "\"objectId\":\"L1\",\"payload\":{}}");
    payload_unref(f);
    /* without a place, or not an ovice_message: as it is */
    f = proto_message_at(body, strlen(body), 0, NULL);
    ck_assert_str_eq(payload_of(f), body);
    payload_unref(f);
    f = proto_message_at("{\"n\":1}", 7, 3, "e");
    ck_assert_str_eq(payload_of(f), "{\"n\":1}");
    payload_unref(f);

    /* ovice_shared_data with its place; the saver's answer without */
    struct data_doc d;
    const char *err;
    data_doc_init(&d);
    ck_assert_int_eq(data_parse("{\"a\":1}", 7, &d, &err), 0);
    struct proto_span none = {0};
    f = proto_encode_data("ovice_shared_data", "L1", none, 2, &d, -1, 8, "17");
    ck_assert_str_eq(payload_of(f), "{\"type\":\"ovice_shared_data\",\"offset\":8,\"epoch\":\"17\","
                                    "\"objectId\":\"L1\",\"version\":2,\"payload\":{\"a\":1}}");
    payload_unref(f);
    data_doc_clear(&d);
}
END_TEST

START_TEST(parses_since)
{
    struct proto_msg m;
    const char *err;
    const char *text = "{\"type\":\"objcast_subscribe\",\"objectId\":\"L1\","
                       "\"since\":{\"epoch\":\"17\",\"offset\":4,\"session\":\"9@h\",\"x\":[1]}}";
    ck_assert_int_eq(proto_parse(text, strlen(text), &m, &err), 0);
    ck_assert_uint_gt(m.since.len, 0);
    struct proto_since s;
    ck_assert_int_eq(proto_parse_since(m.since, &s, &err), 0);
    ck_assert_str_eq(s.epoch, "17");
    ck_assert_int_eq(s.offset, 4);
    ck_assert_str_eq(s.session, "9@h");
    proto_since_clear(&s);
    proto_msg_clear(&m);

    /* "position": a boolean */
    text = "{\"type\":\"objcast_join\",\"objectId\":\"L1\",\"position\":true}";
    ck_assert_int_eq(proto_parse(text, strlen(text), &m, &err), 0);
    ck_assert_int_eq(m.position, 1);
    ck_assert_uint_eq(m.since.len, 0);
    proto_msg_clear(&m);
    text = "{\"type\":\"objcast_join\",\"objectId\":\"L1\",\"position\":1}";
    ck_assert_int_eq(proto_parse(text, strlen(text), &m, &err), -1);
    ck_assert_str_eq(err, "\"position\" must be a boolean");
    proto_msg_clear(&m);

    /* since that is not an object is refused by the parser */
    text = "{\"type\":\"objcast_subscribe\",\"objectId\":\"L1\",\"since\":4}";
    ck_assert_int_eq(proto_parse(text, strlen(text), &m, &err), -1);
    ck_assert_str_eq(err, "\"since\" must be an object");
    proto_msg_clear(&m);

    /* and each member is checked */
    static const char *bad[] = {
        "{\"offset\":1,\"session\":\"s\"}",
        "{\"epoch\":1,\"offset\":1,\"session\":\"s\"}",
        "{\"epoch\":\"e\",\"offset\":-1,\"session\":\"s\"}",
        "{\"epoch\":\"e\",\"offset\":1.5,\"session\":\"s\"}",
        "{\"epoch\":\"e\",\"offset\":\"1\",\"session\":\"s\"}",
        "{\"epoch\":\"e\",\"session\":\"s\"}",
        "{\"epoch\":\"e\",\"offset\":1}",
        "{\"epoch\":\"e\",\"offset\":1,\"session\":null}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct proto_span span = {bad[i], strlen(bad[i])};
        ck_assert_msg(proto_parse_since(span, &s, &err) == -1, "%s accepted", bad[i]);
        ck_assert_ptr_nonnull(err);
        ck_assert_ptr_null(s.epoch);
    }
}
END_TEST

START_TEST(encodes_participants)
{
    struct participant *a = sample(PRESENCE_LEFT);
    struct identity id = {.user_key = "b", .user_json = "\"b\"", .ws_json = "\"987\"",
                          .ws_key = "987", .name = "B", .avatar_url = ""};
    struct participant *b = participant_new(&id, NULL, 0, PRESENCE_SUBSCRIBED);
    const struct participant *list[] = {a, b};
    struct proto_span ref = {"3", 1};
    const enum presence_state states[] = {PRESENCE_LEFT, PRESENCE_SUBSCRIBED};
    struct payload *f = proto_encode_participants("L1", ref, list, states, 2, "b");
    const char *text = payload_of(f);
    ck_assert(json_validate(text, strlen(text)));
    ck_assert_ptr_nonnull(strstr(text, "{\"type\":\"ovice_participants\",\"objectId\":\"L1\","
                                       "\"ref\":3,\"payload\":[{\"id\":12,"));
    ck_assert_ptr_nonnull(strstr(text, "\"status\":\"left\",\"isHost\":true,\"isSelf\":false"));
    ck_assert_ptr_nonnull(strstr(text, "{\"id\":\"b\",\"name\":\"B\",\"objectId\":\"L1\","
                                       "\"objectType\":\"static\",\"avatarUrl\":\"\","
                                       "\"workspaceId\":\"987\",\"status\":\"subscribed\","
                                       "\"isHost\":false,\"isSelf\":true,\"isVisitor\":false}]}"));
    ck_assert_ptr_null(strstr(text, "email")); /* a's email is not b's to see */
    payload_unref(f);
    struct proto_span none = {0};
    f = proto_encode_participants("L1", none, NULL, NULL, 0, "b");
    ck_assert_str_eq(payload_of(f), "{\"type\":\"ovice_participants\",\"objectId\":\"L1\","
                                    "\"payload\":[]}");
    payload_unref(f);
    participant_free(a);
    participant_free(b);
}
END_TEST

START_TEST(encodes_messages_raw)
{
    struct proto_span msg = {"{ \"a\" : \"\\u00e9\" }", 18};
    struct proto_span none = {0}, to = {"\"12\"", 4};
    struct payload *f = proto_encode_message("L1", "\"u\"", "ev", msg, none);
    ck_assert_str_eq(payload_of(f), "{\"type\":\"ovice_message\",\"objectId\":\"L1\",\"payload\":{"
                                    "\"source\":\"u\",\"event\":\"ev\",\"objectId\":\"L1\","
                                    "\"message\":{ \"a\" : \"\\u00e9\" }}}");
    payload_unref(f);
    f = proto_encode_message("L1", "7", "ev", msg, to);
    ck_assert_ptr_nonnull(strstr(payload_of(f), "\"source\":7,"));
    ck_assert_ptr_nonnull(strstr(payload_of(f), "},\"to\":\"12\"}}"));
    payload_unref(f);
}
END_TEST

START_TEST(encodes_data)
{
    struct data_doc d;
    const char *err;
    data_doc_init(&d);
    ck_assert_int_eq(data_parse("{\"k\": [1, 2]}", 13, &d, &err), 0);
    struct proto_span ref = {"\"r\"", 3}, none = {0};
    struct payload *f = proto_encode_data("ovice_data_saved_success", "L1", ref, 4, &d, 1700000000, 0, NULL);
    ck_assert_str_eq(payload_of(f), "{\"type\":\"ovice_data_saved_success\",\"objectId\":\"L1\","
                                    "\"ref\":\"r\",\"version\":4,\"payload\":{\"k\":[1,2],"
                                    "\"updated_at\":1700000000}}");
    payload_unref(f);
    f = proto_encode_data("ovice_shared_data", "L1", none, 4, &d, -1, 0, NULL);
    ck_assert_str_eq(payload_of(f), "{\"type\":\"ovice_shared_data\",\"objectId\":\"L1\","
                                    "\"version\":4,\"payload\":{\"k\":[1,2]}}");
    payload_unref(f);
    data_doc_clear(&d);
}
END_TEST

static Suite *proto_suite(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, type_table_round_trips);
    tcase_add_test(tc, parses_auth);
    tcase_add_test(tc, parses_refresh);
    tcase_add_test(tc, parses_subscribe_fields);
    tcase_add_test(tc, parses_broadcast_with_raw_message);
    tcase_add_test(tc, message_spans_of_every_type);
    tcase_add_test(tc, payload_object_id_is_a_fallback);
    tcase_add_test(tc, save_flags);
    tcase_add_test(tc, unknown_type_parses);
    tcase_add_test(tc, rejects_malformed);
    tcase_add_test(tc, ref_survives_errors);
    tcase_add_test(tc, number_at_end_of_text_has_no_span);
    tcase_add_test(tc, vertical_tab_and_form_feed_refused);
    tcase_add_test(tc, decoded_strings_are_utf8_without_nul);
    tcase_add_test(tc, long_type_name_is_cut_on_a_character);
    tcase_add_test(tc, ids_have_a_length_limit);
    tcase_add_test(tc, nesting_limit);
    suite_add_tcase(s, tc);
    TCase *enc = tcase_create("encode");
    tcase_add_test(enc, encodes_error);
    tcase_add_test(enc, encodes_ready);
    tcase_add_test(enc, encodes_refreshed);
    tcase_add_test(enc, payloads_are_shared);
    tcase_add_test(enc, encodes_presence_events);
    tcase_add_test(enc, encodes_participants);
    tcase_add_test(enc, encodes_positions);
    tcase_add_test(enc, parses_since);
    tcase_add_test(enc, encodes_messages_raw);
    tcase_add_test(enc, encodes_data);
    suite_add_tcase(s, enc);
    return s;
}

UNIT_MAIN(proto_suite)
