#include "proto.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "json.h"
#include "utf8.h"

static const char *type_names[PROTO_TYPE_COUNT] = {
    [PROTO_UNKNOWN] = "",
    [PROTO_AUTH] = "objcast_auth",
    [PROTO_SUBSCRIBE] = "objcast_subscribe",
    [PROTO_JOIN] = "objcast_join",
    [PROTO_LEAVE] = "objcast_leave",
    [PROTO_UNSUBSCRIBE] = "objcast_unsubscribe",
    [PROTO_GET_PARTICIPANTS] = "ovice_get_participants",
    [PROTO_BROADCAST] = "ovice_broadcast_message",
    [PROTO_EMIT] = "ovice_emit_message",
    [PROTO_GET_DATA] = "ovice_get_data",
    [PROTO_SAVE_DATA] = "ovice_save_and_emit_data",
    [PROTO_REFRESH] = "objcast_refresh",
};

static const char *error_names[PROTO_ERR_COUNT] = {
    [PROTO_ERR_BAD_REQUEST] = "bad_request",
    [PROTO_ERR_UNKNOWN_TYPE] = "unknown_type",
    [PROTO_ERR_UNAUTHORIZED] = "unauthorized",
    [PROTO_ERR_NOT_SUBSCRIBED] = "not_subscribed",
    [PROTO_ERR_NOT_PRESENT] = "not_present",
    [PROTO_ERR_TOO_LARGE] = "too_large",
    [PROTO_ERR_CONFLICT] = "conflict",
    [PROTO_ERR_RATE_LIMITED] = "rate_limited",
    [PROTO_ERR_UNAVAILABLE] = "unavailable",
    [PROTO_ERR_INTERNAL] = "internal",
};

const char *proto_type_name(enum proto_type t)
{
    return t < PROTO_TYPE_COUNT ? type_names[t] : "";
}

enum proto_type proto_type_lookup(const char *name, size_t len)
{
    for (int t = 1; t < PROTO_TYPE_COUNT; t++)
        if (strlen(type_names[t]) == len && memcmp(type_names[t], name, len) == 0)
            return (enum proto_type)t;
    return PROTO_UNKNOWN;
}

const char *proto_error_name(enum proto_error e)
{
    return e < PROTO_ERR_COUNT ? error_names[e] : "internal";
}

/* --- parsing ----------------------------------------------------------------------------- */

/* Keys objcast reads; every other key is skipped. */
enum key {
    KEY_OTHER = 0,
    KEY_TYPE,
    KEY_REF,
    KEY_TOKEN,
    KEY_OBJECT_ID,
    KEY_OBJECT_TYPE,
    KEY_OBJECT_TOKEN,
    KEY_PAYLOAD,
    KEY_ECHO,
    KEY_MERGE,
    KEY_IF_VERSION,
    KEY_SINCE,
    KEY_POSITION,
    KEY_EVENT,   /* payload members from here on */
    KEY_MESSAGE,
    KEY_TO,
};

enum kind { V_NULL, V_BOOL, V_NUMBER, V_STRING, V_MAP, V_ARRAY };

/* An open container whose whole text is being captured as a span. */
struct capture {
    struct proto_span *span; /* where the span goes once the container closes */
    int depth;               /* depth inside the container; 0 = no capture */
};

struct parse_ctx {
    yajl_handle h;
    const char *text;
    struct proto_msg *m;
    const char *err;
    int depth;              /* containers entered: 1 inside the top-level object */
    int in_payload;         /* the object at depth 2 is the payload */
    enum key key1;          /* pending top-level key */
    enum key key2;          /* pending payload key */
    size_t key_end1;        /* offset just after the pending key at depth 1 */
    size_t key_end2;        /* ... at depth 2 */
    int have_type;
    char payload_object_id[PROTO_ID_MAX + 1];
    struct capture cap[2];  /* payload, and payload.message */
    int finishing;          /* in yajl_complete_parse(): offsets are not into text */
};

/* Records the first error and reads on, so "ref" and "objectId" after the bad field can
 * still be echoed with the error. */
static int fail(struct parse_ctx *c, const char *err)
{
    if (!c->err)
        c->err = err;
    return 1;
}

/* Offset where the value after a key starts: past whitespace, the colon, whitespace. */
static size_t value_start(const struct parse_ctx *c, size_t key_end)
{
    const char *s = c->text;
    size_t i = key_end;
    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == ':')
        i++;
    return i;
}

static size_t offset(const struct parse_ctx *c)
{
    return yajl_get_bytes_consumed(c->h);
}

static enum key key_lookup(const unsigned char *k, size_t len, int payload)
{
    static const struct {
        const char *name;
        enum key key;
        int payload;
    } keys[] = {
        {"type", KEY_TYPE, 0},           {"ref", KEY_REF, 0},
        {"token", KEY_TOKEN, 0},         {"objectId", KEY_OBJECT_ID, 0},
        {"objectType", KEY_OBJECT_TYPE, 0}, {"objectToken", KEY_OBJECT_TOKEN, 0},
        {"payload", KEY_PAYLOAD, 0},     {"echo", KEY_ECHO, 0},
        {"merge", KEY_MERGE, 0},         {"ifVersion", KEY_IF_VERSION, 0},
        {"since", KEY_SINCE, 0},         {"position", KEY_POSITION, 0},
        {"event", KEY_EVENT, 1},         {"message", KEY_MESSAGE, 1},
        {"to", KEY_TO, 1},               {"objectId", KEY_OBJECT_ID, 1},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (keys[i].payload == payload && strlen(keys[i].name) == len &&
            memcmp(keys[i].name, k, len) == 0)
            return keys[i].key;
    return KEY_OTHER;
}

/* yajl decodes \u0000 into a NUL, which would cut the C string short, and a lone low
 * surrogate into bytes that are not UTF-8, which every frame echoing the string would carry:
 * the strings kept from a message must have neither. */
static int decoded_ok(const unsigned char *s, size_t len)
{
    return !memchr(s, '\0', len) && utf8_validate(UTF8_ACCEPT, s, len) == UTF8_ACCEPT;
}

static int copy_id(struct parse_ctx *c, char *dst, const unsigned char *s, size_t len,
                   const char *what)
{
    if (len == 0)
        return fail(c, what);
    if (!decoded_ok(s, len))
        return fail(c, "unsupported \\u escape");
    if (len > PROTO_ID_MAX)
        return fail(c, "id too long");
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 1;
}

/* A string or integer id ("to"): stored as its plain string form. */
static int copy_user_id(struct parse_ctx *c, char *dst, enum kind kind, const unsigned char *s,
                        size_t len)
{
    if (kind == V_NUMBER) {
        for (size_t i = 0; i < len; i++)
            if (!((s[i] >= '0' && s[i] <= '9') || (i == 0 && s[i] == '-')))
                return fail(c, "\"to\" must be a string or an integer");
        return copy_id(c, dst, s, len, "\"to\" must not be empty");
    }
    if (kind != V_STRING)
        return fail(c, "\"to\" must be a string or an integer");
    return copy_id(c, dst, s, len, "\"to\" must not be empty");
}

static int bool_key(struct parse_ctx *c, int *dst, enum kind kind, int bval, const char *err)
{
    if (kind != V_BOOL)
        return fail(c, err);
    *dst = bval;
    return 1;
}

/* Records a value's span: scalars at once, containers when they close. */
static void capture(struct parse_ctx *c, int slot, enum kind kind, size_t key_end,
                    struct proto_span *span)
{
    /* A number cut off by the end of the text is only seen while yajl finishes on a buffer
     * of its own: there is no span to take, and the text is refused anyway. */
    if (c->finishing)
        return;
    size_t start = value_start(c, key_end);
    span->p = c->text + start;
    if (kind == V_MAP || kind == V_ARRAY) {
        span->len = 0;
        c->cap[slot].span = span;
        c->cap[slot].depth = c->depth + 1;
    } else {
        span->len = offset(c) - start;
    }
}

static int top_member(struct parse_ctx *c, enum kind kind, const unsigned char *s, size_t len,
                      int bval)
{
    struct proto_msg *m = c->m;
    if (c->err && c->key1 != KEY_REF && c->key1 != KEY_OBJECT_ID)
        return 1;
    switch (c->key1) {
    case KEY_TYPE:
        if (kind != V_STRING)
            return fail(c, "\"type\" must be a string");
        if (!decoded_ok(s, len))
            return fail(c, "unsupported \\u escape");
        c->have_type = 1;
        m->type = proto_type_lookup((const char *)s, len);
        size_t n = len < sizeof(m->type_name) - 1 ? len : sizeof(m->type_name) - 1;
        while (n < len && (s[n] & 0xC0) == 0x80)
            n--; /* cut before a character, not inside it: the name is echoed */
        memcpy(m->type_name, s, n);
        m->type_name[n] = '\0';
        return 1;
    case KEY_REF:
        if (kind != V_STRING && kind != V_NUMBER)
            return fail(c, "\"ref\" must be a string or a number");
        capture(c, 0, kind, c->key_end1, &m->ref);
        return 1;
    case KEY_TOKEN:
        if (kind != V_STRING)
            return fail(c, "\"token\" must be a string");
        free(m->token);
        m->token = oc_strndup((const char *)s, len);
        return 1;
    case KEY_OBJECT_ID:
        if (kind != V_STRING)
            return fail(c, "\"objectId\" must be a string");
        return copy_id(c, m->object_id, s, len, "\"objectId\" must not be empty");
    case KEY_OBJECT_TYPE:
        if (kind != V_STRING || !((len == 6 && memcmp(s, "static", 6) == 0) ||
                                  (len == 7 && memcmp(s, "dynamic", 7) == 0)))
            return fail(c, "\"objectType\" must be \"static\" or \"dynamic\"");
        memcpy(m->object_type, s, len);
        m->object_type[len] = '\0';
        return 1;
    case KEY_OBJECT_TOKEN:
        if (kind == V_NULL)
            return 1;
        if (kind != V_STRING)
            return fail(c, "\"objectToken\" must be a string");
        free(m->object_token);
        m->object_token = oc_strndup((const char *)s, len);
        return 1;
    case KEY_PAYLOAD:
        capture(c, 0, kind, c->key_end1, &m->payload);
        c->in_payload = kind == V_MAP;
        return 1;
    case KEY_SINCE:
        if (kind != V_MAP)
            return fail(c, "\"since\" must be an object");
        capture(c, 0, kind, c->key_end1, &m->since);
        return 1;
    case KEY_POSITION:
        return bool_key(c, &m->position, kind, bval, "\"position\" must be a boolean");
    case KEY_ECHO:
        return bool_key(c, &m->echo, kind, bval, "\"echo\" must be a boolean");
    case KEY_MERGE:
        return bool_key(c, &m->merge, kind, bval, "\"merge\" must be a boolean");
    case KEY_IF_VERSION: {
        if (kind != V_NUMBER || len > 18)
            return fail(c, "\"ifVersion\" must be a non-negative integer");
        long long v = 0;
        for (size_t i = 0; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                return fail(c, "\"ifVersion\" must be a non-negative integer");
            v = v * 10 + (s[i] - '0');
        }
        m->if_version = v;
        return 1;
    }
    default:
        return 1;
    }
}

static int payload_member(struct parse_ctx *c, enum kind kind, const unsigned char *s,
                          size_t len)
{
    struct proto_msg *m = c->m;
    if (c->err)
        return 1;
    switch (c->key2) {
    case KEY_EVENT:
        if (kind != V_STRING)
            return fail(c, "\"event\" must be a string");
        if (len > PROTO_ID_MAX)
            return fail(c, "\"event\" too long");
        if (!decoded_ok(s, len))
            return fail(c, "unsupported \\u escape");
        memcpy(m->event, s, len);
        m->event[len] = '\0';
        m->has_event = 1;
        return 1;
    case KEY_MESSAGE:
        capture(c, 1, kind, c->key_end2, &m->message);
        return 1;
    case KEY_TO:
        m->has_to = 1;
        capture(c, 1, kind, c->key_end2, &m->to_raw);
        return copy_user_id(c, m->to, kind, s, len);
    case KEY_OBJECT_ID:
        if (kind != V_STRING)
            return 1; /* the top-level objectId is the one that counts */
        if (len == 0 || len > PROTO_ID_MAX || !decoded_ok(s, len))
            return 1;
        memcpy(c->payload_object_id, s, len);
        c->payload_object_id[len] = '\0';
        return 1;
    default:
        return 1;
    }
}

static int value(struct parse_ctx *c, enum kind kind, const unsigned char *s, size_t len,
                 int bval)
{
    if (c->depth == 0) {
        if (kind != V_MAP) {
            fail(c, "message must be a JSON object");
            return 0;
        }
        return 1;
    }
    if (c->depth == 1)
        return top_member(c, kind, s, len, bval);
    if (c->depth == 2 && c->in_payload)
        return payload_member(c, kind, s, len);
    return 1;
}

static int on_null(void *ctx)
{
    return value(ctx, V_NULL, NULL, 0, 0);
}

static int on_boolean(void *ctx, int b)
{
    return value(ctx, V_BOOL, NULL, 0, b);
}

static int on_number(void *ctx, const char *s, size_t len)
{
    return value(ctx, V_NUMBER, (const unsigned char *)s, len, 0);
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    return value(ctx, V_STRING, s, len, 0);
}

static int enter(struct parse_ctx *c, enum kind kind)
{
    if (!value(c, kind, NULL, 0, 0))
        return 0;
    if (++c->depth > JSON_MAX_DEPTH) {
        fail(c, "nested too deeply");
        return 0;
    }
    return 1;
}

static int leave(struct parse_ctx *c)
{
    for (int i = 0; i < 2; i++) {
        struct capture *cap = &c->cap[i];
        if (cap->depth && cap->depth == c->depth) {
            cap->span->len = (size_t)(c->text + offset(c) - cap->span->p);
            cap->depth = 0;
        }
    }
    if (c->depth == 2)
        c->in_payload = 0;
    c->depth--;
    return 1;
}

static int on_start_map(void *ctx)
{
    return enter(ctx, V_MAP);
}

static int on_start_array(void *ctx)
{
    return enter(ctx, V_ARRAY);
}

static int on_end(void *ctx)
{
    return leave(ctx);
}

static int on_map_key(void *ctx, const unsigned char *k, size_t len)
{
    struct parse_ctx *c = ctx;
    if (c->depth == 1) {
        c->key1 = key_lookup(k, len, 0);
        c->key_end1 = offset(c);
    } else if (c->depth == 2 && c->in_payload) {
        c->key2 = key_lookup(k, len, 1);
        c->key_end2 = offset(c);
    }
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};

int proto_parse(const char *text, size_t len, struct proto_msg *m, const char **err)
{
    memset(m, 0, sizeof(*m));
    m->if_version = -1;

    /* One pass before yajl's: \v and \f (yajl takes them for whitespace, and spans would
     * start at them or hold them), and a token cut short after the message, which yajl
     * would let through. */
    if (!json_single_value(text, len)) {
        *err = "invalid JSON";
        return -1;
    }
    struct parse_ctx c = {.text = text, .m = m};
    c.h = yajl_alloc(&callbacks, NULL, &c);
    /* The WebSocket layer validated UTF-8 already; the API checks its bodies itself. */
    yajl_config(c.h, yajl_dont_validate_strings, 1);
    yajl_status st = yajl_parse(c.h, (const unsigned char *)text, len);
    if (st == yajl_status_ok) {
        c.finishing = 1;
        st = yajl_complete_parse(c.h);
    }
    yajl_free(c.h);

    if (st != yajl_status_ok || c.err) {
        *err = c.err ? c.err : "invalid JSON";
        return -1;
    }
    if (!c.have_type) {
        *err = "missing \"type\"";
        return -1;
    }
    if (!m->object_id[0] && c.payload_object_id[0])
        memcpy(m->object_id, c.payload_object_id, sizeof(m->object_id));
    return 0;
}

int proto_parse_since(struct proto_span since, struct proto_since *out, const char **err)
{
    memset(out, 0, sizeof(*out));
    struct json_value *v = json_parse(since.p, since.len, err);
    if (!v)
        return -1;
    const char *epoch = json_string(json_get(v, "epoch"));
    const char *session = json_string(json_get(v, "session"));
    const struct json_value *off = json_get(v, "offset");
    *err = NULL;
    if (!epoch)
        *err = "\"since.epoch\" must be a string";
    else if (!session)
        *err = "\"since.session\" must be a string";
    else if (!off || json_integer(off, &out->offset) != 0 || out->offset < 0)
        *err = "\"since.offset\" must be a non-negative integer";
    if (!*err) {
        out->epoch = oc_strdup(epoch);
        out->session = oc_strdup(session);
    }
    json_free(v);
    return *err ? -1 : 0;
}

void proto_since_clear(struct proto_since *s)
{
    free(s->epoch);
    free(s->session);
    memset(s, 0, sizeof(*s));
}

void proto_msg_clear(struct proto_msg *m)
{
    free(m->token);
    free(m->object_token);
    m->token = m->object_token = NULL;
}

/* --- encoding ---------------------------------------------------------------------------- */

/* ,"offset":N,"epoch":E */
static void append_position(struct buf *b, long long offset, const char *epoch)
{
    buf_printf(b, ",\"offset\":%lld,\"epoch\":", offset);
    json_append_string(b, epoch, strlen(epoch));
}

/* proto_append_envelope() with the place in the object's order after the type when
 * offset > 0. */
static void append_envelope_at(struct buf *b, const char *type, const char *object_id,
                               struct proto_span ref, long long offset, const char *epoch)
{
    buf_append_str(b, "{\"type\":\"");
    buf_append_str(b, type);
    buf_append_char(b, '"');
    if (offset > 0 && epoch)
        append_position(b, offset, epoch);
    if (object_id && object_id[0]) {
        buf_append_str(b, ",\"objectId\":");
        json_append_string(b, object_id, strlen(object_id));
    }
    if (ref.len) {
        buf_append_str(b, ",\"ref\":");
        buf_append(b, ref.p, ref.len);
    }
}

void proto_append_envelope(struct buf *b, const char *type, const char *object_id,
                           struct proto_span ref)
{
    append_envelope_at(b, type, object_id, ref, 0, NULL);
}

struct payload *proto_encode_error(enum proto_error code, const char *message,
                                 const char *object_id, struct proto_span ref)
{
    struct buf b = {0};
    payload_begin(&b);
    proto_append_envelope(&b, "objcast_error", object_id, ref);
    buf_append_str(&b, ",\"payload\":{\"code\":\"");
    buf_append_str(&b, proto_error_name(code));
    buf_append_str(&b, "\",\"message\":");
    json_append_string(&b, message, strlen(message));
    buf_append_str(&b, "}}");
    return payload_finish(&b);
}

struct payload *proto_encode_ready(const char *user_json, const char *instance,
                                 const char *session, size_t max_message, size_t max_data,
                                 struct proto_span ref)
{
    struct buf b = {0};
    payload_begin(&b);
    proto_append_envelope(&b, "objcast_ready", NULL, ref);
    buf_append_str(&b, ",\"payload\":{\"userId\":");
    buf_append_str(&b, user_json);
    buf_append_str(&b, ",\"instance\":");
    json_append_string(&b, instance, strlen(instance));
    buf_append_str(&b, ",\"session\":");
    json_append_string(&b, session, strlen(session));
    buf_printf(&b, ",\"limits\":{\"maxMessageBytes\":%zu,\"maxDataBytes\":%zu}}}", max_message,
               max_data);
    return payload_finish(&b);
}

struct payload *proto_encode_refreshed(long long exp, struct proto_span ref)
{
    struct buf b = {0};
    payload_begin(&b);
    proto_append_envelope(&b, "objcast_refreshed", NULL, ref);
    buf_printf(&b, ",\"payload\":{\"exp\":%lld}}", exp);
    return payload_finish(&b);
}

/* The participant object of the seed document: its keys and no others. */
/* status is left out when PRESENCE_NONE (events carry no status). */
static void append_participant(struct buf *b, const struct participant *p, const char *object_id,
                               int is_self, enum presence_state status)
{
    buf_append_str(b, "{\"id\":");
    buf_append_str(b, p->user_json);
    buf_append_str(b, ",\"name\":");
    json_append_string(b, p->name, strlen(p->name));
    buf_append_str(b, ",\"objectId\":");
    json_append_string(b, object_id, strlen(object_id));
    buf_append_str(b, ",\"objectType\":\"");
    buf_append_str(b, p->object_type);
    buf_append_str(b, "\",\"avatarUrl\":");
    json_append_string(b, p->avatar_url, strlen(p->avatar_url));
    buf_append_str(b, ",\"workspaceId\":");
    buf_append_str(b, p->ws_json);
    if (p->language) {
        buf_append_str(b, ",\"language\":");
        json_append_string(b, p->language, strlen(p->language));
    }
    if (status != PRESENCE_NONE) {
        buf_append_str(b, ",\"status\":\"");
        buf_append_str(b, presence_state_name(status));
        buf_append_char(b, '"');
    }
    buf_printf(b, ",\"isHost\":%s,\"isSelf\":%s,\"isVisitor\":%s", p->host ? "true" : "false",
               is_self ? "true" : "false", p->visitor ? "true" : "false");
    if (is_self && p->email) {
        buf_append_str(b, ",\"email\":");
        json_append_string(b, p->email, strlen(p->email));
    }
    buf_append_char(b, '}');
}

struct payload *proto_encode_presence(enum presence_state state, const struct participant *p,
                                    const char *object_id, int is_self,
                                    const struct proto_position *pos)
{
    struct buf b = {0};
    struct proto_span none = {0};
    payload_begin(&b);
    proto_append_envelope(&b, presence_event_name(state), object_id, none);
    if (pos && pos->epoch)
        append_position(&b, pos->offset, pos->epoch);
    if (pos && pos->recovered >= 0)
        buf_append_str(&b, pos->recovered ? ",\"recovered\":true" : ",\"recovered\":false");
    buf_append_str(&b, ",\"payload\":");
    append_participant(&b, p, object_id, is_self, PRESENCE_NONE);
    buf_append_char(&b, '}');
    return payload_finish(&b);
}

void proto_append_participants(struct buf *b, const char *object_id,
                               const struct participant *const *list,
                               const enum presence_state *states, size_t n,
                               const char *self_user_key)
{
    buf_append_char(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_append_char(b, ',');
        append_participant(b, list[i], object_id, strcmp(list[i]->user_key, self_user_key) == 0,
                           states[i]);
    }
    buf_append_char(b, ']');
}

struct payload *proto_encode_participants(const char *object_id, struct proto_span ref,
                                        const struct participant *const *list,
                                        const enum presence_state *states, size_t n,
                                        const char *self_user_key)
{
    struct buf b = {0};
    payload_begin(&b);
    proto_append_envelope(&b, "ovice_participants", object_id, ref);
    buf_append_str(&b, ",\"payload\":");
    proto_append_participants(&b, object_id, list, states, n, self_user_key);
    buf_append_char(&b, '}');
    return payload_finish(&b);
}

struct payload *proto_encode_message(const char *object_id, const char *source_json,
                                   const char *event, struct proto_span message,
                                   struct proto_span to)
{
    struct buf b = {0};
    struct proto_span none = {0};
    payload_begin(&b);
    buf_reserve(&b, message.len + 256);
    proto_append_envelope(&b, "ovice_message", object_id, none);
    buf_append_str(&b, ",\"payload\":{\"source\":");
    buf_append_str(&b, source_json);
    buf_append_str(&b, ",\"event\":");
    json_append_string(&b, event, strlen(event));
    buf_append_str(&b, ",\"objectId\":");
    json_append_string(&b, object_id, strlen(object_id));
    buf_append_str(&b, ",\"message\":");
    buf_append(&b, message.p, message.len);
    if (to.len) {
        buf_append_str(&b, ",\"to\":");
        buf_append(&b, to.p, to.len);
    }
    buf_append_str(&b, "}}");
    return payload_finish(&b);
}

#define MESSAGE_START "{\"type\":\"ovice_message\""

struct payload *proto_message_at(const char *body, size_t len, long long offset,
                                 const char *epoch)
{
    size_t at = sizeof(MESSAGE_START) - 1;
    if (offset <= 0 || !epoch || len <= at || memcmp(body, MESSAGE_START, at) != 0)
        return payload_copy(body, len);
    struct buf ins = {0};
    append_position(&ins, offset, epoch);
    struct payload *f = payload_copy_insert(body, len, at, ins.p, ins.len);
    buf_free(&ins);
    return f;
}

struct payload *proto_encode_data(const char *type, const char *object_id, struct proto_span ref,
                                long long version, const struct data_doc *doc,
                                long long updated_at, long long offset, const char *epoch)
{
    struct buf b = {0};
    payload_begin(&b);
    append_envelope_at(&b, type, object_id, ref, offset, epoch);
    buf_printf(&b, ",\"version\":%lld,\"payload\":", version);
    if (updated_at >= 0)
        data_encode_with_updated_at(doc, updated_at, &b);
    else
        data_encode(doc, &b);
    buf_append_char(&b, '}');
    return payload_finish(&b);
}
