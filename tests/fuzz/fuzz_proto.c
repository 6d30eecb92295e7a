/*
 * libFuzzer target for src/proto.c. The input is one client message as the WebSocket layer
 * hands it over: valid UTF-8 (other inputs are skipped, the decoder closes with 1007 first)
 * and NUL-terminated just past its end.
 *  1. proto_parse(); a refusal names a reason;
 *  2. every span (ref, payload, payload.message, payload.to) lies inside the input and is
 *     one valid JSON value, since objcast copies spans into outgoing frames as they are;
 *     the ref must be a string or a number, as the protocol allows;
 *  3. the strings it decodes (type, objectId, event, to) are whole UTF-8 C strings, and what
 *     the server echoes must be valid JSON: objcast_error with the ref and objectId (sent for
 *     refused messages too) or naming an unknown type, and ovice_message with the event,
 *     message and to, also as another instance carries it: with an offset and an epoch put
 *     in (proto_message_at());
 *  4. a "since" span is one JSON object, and proto_parse_since() accepts it with an epoch, a
 *     session and an offset from 0 up, or refuses it with a reason.
 * Build: scripts/fuzz proto
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payload.h"
#include "json.h"
#include "proto.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_proto: %s (%s)\n", what, detail ? detail : "-");
    abort();
}

static void require(int cond, const char *what, const char *detail)
{
    if (!cond)
        fail(what, detail);
}

static void check_span(const char *text, size_t len, struct proto_span s, const char *what)
{
    if (!s.len)
        return;
    require(s.p >= text && s.p <= text + len && s.len <= (size_t)(text + len - s.p),
            "span outside the input", what);
    require(json_validate(s.p, s.len), "span is not one JSON value", what);
}

static int utf8_string(const char *s)
{
    return utf8_validate(UTF8_ACCEPT, (const uint8_t *)s, strlen(s)) == UTF8_ACCEPT;
}

static void check_frame(struct payload *f, const char *what)
{
    size_t len = f->len;
    const char *payload = f->text;
    if (!json_validate(payload, len)) {
        fprintf(stderr, "fuzz_proto: %.*s\n", (int)(len > 2000 ? 2000 : len), payload);
        fail("encoded frame is not JSON", what);
    }
    payload_unref(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (utf8_validate(UTF8_ACCEPT, data, size) != UTF8_ACCEPT)
        return 0;
    /* An exact-size copy, so ASan sees any read past the terminating NUL. */
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';

    struct proto_msg m;
    const char *err = NULL;
    int rc = proto_parse(text, size, &m, &err);
    require(rc == 0 || rc == -1, "unknown return value", NULL);
    require(rc == 0 || err != NULL, "refused without a reason", NULL);

    /* The ref and objectId are read even from refused messages: the error echoes them. */
    check_span(text, size, m.ref, "ref");
    require(!m.ref.len || m.ref.p[0] == '"' || m.ref.p[0] == '-' ||
                (m.ref.p[0] >= '0' && m.ref.p[0] <= '9'),
            "ref neither a string nor a number", NULL);
    require(strlen(m.object_id) <= PROTO_ID_MAX, "objectId too long", NULL);
    check_frame(proto_encode_error(PROTO_ERR_BAD_REQUEST, rc == 0 ? "ok" : err, m.object_id, m.ref),
                "objcast_error");

    if (rc == 0) {
        require(m.type < PROTO_TYPE_COUNT, "type out of range", NULL);
        /* The decoded strings become C strings echoed into JSON: whole UTF-8 only. */
        require(utf8_string(m.type_name) && utf8_string(m.object_id) && utf8_string(m.event) &&
                    utf8_string(m.to),
                "a decoded string is not UTF-8", NULL);
        require(m.type == PROTO_UNKNOWN || strcmp(proto_type_name(m.type), m.type_name) == 0,
                "type differs from its name", m.type_name);
        require(m.if_version >= -1, "negative ifVersion", NULL);
        require(m.echo == 0 || m.echo == 1, "echo not a boolean", NULL);
        require(m.merge == 0 || m.merge == 1, "merge not a boolean", NULL);
        check_span(text, size, m.payload, "payload");
        check_span(text, size, m.message, "message");
        check_span(text, size, m.to_raw, "to");
        require(!m.has_to || m.to[0], "empty to accepted", NULL);
        require(strlen(m.event) <= PROTO_ID_MAX && strlen(m.to) <= PROTO_ID_MAX,
                "event or to too long", NULL);
        if (m.has_event && m.message.len) {
            /* What dispatch sends for a broadcast or an emit. */
            struct payload *f = proto_encode_message(m.object_id[0] ? m.object_id : "o", "\"u\"",
                                                     m.event, m.message,
                                                     m.has_to ? m.to_raw : (struct proto_span){0});
            /* ... and what a receiving instance makes of it, with its place in the order
             * (check_frame() drops the reference it is given). */
            check_frame(proto_message_at(f->text, f->len, 42, m.type_name), "ovice_message at");
            check_frame(f, "ovice_message");
        }
        check_span(text, size, m.since, "since");
        if (m.since.len) {
            require(m.since.p[0] == '{', "since not an object", NULL);
            struct proto_since s;
            const char *why = NULL;
            if (proto_parse_since(m.since, &s, &why) == 0) {
                require(s.epoch && s.session && s.offset >= 0, "a since accepted half", NULL);
                proto_since_clear(&s);
            } else {
                require(why != NULL && !s.epoch && !s.session, "since refused without a reason",
                        NULL);
            }
        }
        if (m.type == PROTO_UNKNOWN) {
            /* dispatch names the type in its unknown_type error. */
            char why[128];
            snprintf(why, sizeof(why), "unknown type \"%s\"", m.type_name);
            check_frame(proto_encode_error(PROTO_ERR_UNKNOWN_TYPE, why, m.object_id, m.ref),
                        "unknown_type");
        }
    }
    proto_msg_clear(&m);
    free(text);
    return 0;
}
