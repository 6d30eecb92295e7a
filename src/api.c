#include "api.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "presence.h"
#include "proto.h"
#include "registry.h"
#include "utf8.h"

#define API_PREFIX "/api/v1/workspaces/"

int api_path(const char *path)
{
    return path && strncmp(path, "/api/", 5) == 0;
}

static void reply_error(api_done_fn done, void *pd, int status, const char *code,
                        const char *message)
{
    struct buf b = {0};
    buf_append_str(&b, "{\"error\":{\"code\":\"");
    buf_append_str(&b, code);
    buf_append_str(&b, "\",\"message\":");
    json_append_string(&b, message, strlen(message));
    buf_append_str(&b, "}}");
    done(pd, status, b.p, b.len);
    buf_free(&b);
}

/* Percent-decodes one path segment; NULL when it is empty or malformed. */
static char *segment(const char *s, size_t len)
{
    char *v = http_percent_decode(s, len, 0);
    size_t n = v ? strlen(v) : 0;
    if (!v || !n || n > PROTO_ID_MAX ||
        utf8_validate(UTF8_ACCEPT, (const uint8_t *)v, n) != UTF8_ACCEPT) {
        free(v);
        return NULL;
    }
    return v;
}

/* Splits /api/v1/workspaces/{ws}/objects/{obj}/{action}. */
static int parse_path(const char *path, char **ws, char **obj, const char **action)
{
    if (strncmp(path, API_PREFIX, strlen(API_PREFIX)) != 0)
        return -1;
    const char *p = path + strlen(API_PREFIX);
    const char *slash = strchr(p, '/');
    if (!slash || strncmp(slash, "/objects/", 9) != 0)
        return -1;
    const char *o = slash + 9;
    const char *slash2 = strchr(o, '/');
    if (!slash2 || strchr(slash2 + 1, '/'))
        return -1;
    *ws = segment(p, (size_t)(slash - p));
    *obj = segment(o, (size_t)(slash2 - o));
    *action = slash2 + 1;
    if (!*ws || !*obj) {
        free(*ws);
        free(*obj);
        return -1;
    }
    return 0;
}

/* A request waiting for the engine. */
struct api_call {
    api_done_fn done;
    void *privdata;
    char *object_id;
};

static struct api_call *call_new(api_done_fn done, void *pd, const char *obj)
{
    struct api_call *c = oc_malloc(sizeof(*c));
    c->done = done;
    c->privdata = pd;
    c->object_id = oc_strdup(obj);
    return c;
}

static void call_free(struct api_call *c)
{
    free(c->object_id);
    free(c);
}

static void engine_error(struct api_call *c, enum engine_status st)
{
    switch (st) {
    case ENGINE_CONFLICT:
        reply_error(c->done, c->privdata, 409, "conflict", "ifVersion does not match");
        break;
    case ENGINE_TOO_LARGE:
        reply_error(c->done, c->privdata, 413, "too_large", "saved data would exceed the limit");
        break;
    case ENGINE_UNAVAILABLE:
        reply_error(c->done, c->privdata, 503, "unavailable", "storage unavailable, try again");
        break;
    default:
        reply_error(c->done, c->privdata, 500, "internal", "internal error");
    }
}

static void got_data(void *privdata, enum engine_status st, const struct engine_data *d)
{
    struct api_call *c = privdata;
    if (st != ENGINE_OK) {
        engine_error(c, st);
    } else {
        struct buf b = {0};
        buf_append_str(&b, "{\"objectId\":");
        json_append_string(&b, c->object_id, strlen(c->object_id));
        buf_printf(&b, ",\"version\":%lld,\"updated_at\":%lld,\"payload\":", d->version,
                   d->updated_at);
        data_encode(d->doc, &b);
        buf_append_char(&b, '}');
        c->done(c->privdata, 200, b.p, b.len);
        buf_free(&b);
    }
    call_free(c);
}

static void got_presence(void *privdata, enum engine_status st, size_t n,
                         const char *const *instances,
                         const struct participant *const *participants)
{
    struct api_call *c = privdata;
    if (st != ENGINE_OK) {
        engine_error(c, st);
        call_free(c);
        return;
    }
    struct presence pr;
    presence_init(&pr);
    presence_apply_all(&pr, n, instances, participants);
    const struct participant **list;
    enum presence_state *states;
    size_t count = presence_users(&pr, &list, &states);
    struct buf b = {0};
    buf_append_str(&b, "{\"objectId\":");
    json_append_string(&b, c->object_id, strlen(c->object_id));
    buf_append_str(&b, ",\"participants\":");
    /* The backend sees what a plugin sees, as nobody in particular (isSelf false). */
    proto_append_participants(&b, c->object_id, list, states, count, "");
    buf_append_char(&b, '}');
    c->done(c->privdata, 200, b.p, b.len);
    buf_free(&b);
    free(list);
    free(states);
    presence_clear(&pr);
    call_free(c);
}

static void published(void *privdata, enum engine_status st)
{
    struct api_call *c = privdata;
    if (st != ENGINE_OK)
        engine_error(c, st);
    else
        c->done(c->privdata, 200, "{\"ok\":true}", 11);
    call_free(c);
}

/* POST broadcast: {event, message, source?} into the object, to every connection on it. */
static void broadcast(const struct api_env *env, const struct http_request *r, const char *okey,
                      struct api_call *c)
{
    struct buf text = {0};
    /* proto_parse reads payload members: present the body as a message's payload. */
    buf_append_str(&text, "{\"type\":\"ovice_broadcast_message\",\"payload\":");
    buf_append(&text, r->body.p ? r->body.p : "", r->body.len);
    buf_append_char(&text, '}');
    struct proto_msg m;
    const char *err = NULL;
    int rc = proto_parse(text.p, text.len, &m, &err);
    struct json_value *doc = rc == 0 ? json_parse(r->body.p, r->body.len, &err) : NULL;
    const struct json_value *src = doc ? json_get(doc, "source") : NULL;
    struct buf source = {0};
    long long n;
    if (rc != 0 || !doc || json_typeof(doc) != JSON_OBJECT) {
        reply_error(c->done, c->privdata, 400, "bad_request", err ? err : "body must be an object");
    } else if (!m.has_event || !m.message.len) {
        reply_error(c->done, c->privdata, 400, "bad_request", "body needs \"event\" and \"message\"");
    } else if (m.message.len > env->conf->max_message_bytes) {
        reply_error(c->done, c->privdata, 413, "too_large", "message too large");
    } else if (src && json_typeof(src) != JSON_STRING &&
               !(json_typeof(src) == JSON_NUMBER && json_integer(src, &n) == 0)) {
        reply_error(c->done, c->privdata, 400, "bad_request", "\"source\" must be a string or an integer");
    } else {
        if (!src)
            buf_append_str(&source, "\"server\"");
        else if (json_typeof(src) == JSON_STRING)
            json_append_string(&source, json_string(src), strlen(json_string(src)));
        else
            buf_printf(&source, "%lld", n);
        struct proto_span none = {0};
        struct frame *f = proto_encode_message(c->object_id, source.p, m.event, m.message, none);
        struct envelope e = {.kind = ENVELOPE_BROADCAST,
                             .origin_instance = env->instance_id,
                             .origin_sid = 0,
                             .frame = f};
        env->engine->ops->publish(env->engine, okey, &e, published, c);
        c = NULL;
        frame_unref(f);
    }
    if (c)
        call_free(c);
    buf_free(&source);
    json_free(doc);
    proto_msg_clear(&m);
    buf_free(&text);
}

static void put_data(const struct api_env *env, const struct http_request *r, const char *okey,
                     struct api_call *c)
{
    struct data_doc update;
    const char *err = NULL;
    data_doc_init(&update);
    char *merge = http_query_param(r->query, "merge");
    char *ifv = http_query_param(r->query, "ifVersion");
    long long if_version = -1;
    if (ifv) {
        char *end;
        if_version = strtoll(ifv, &end, 10);
        if (!ifv[0] || *end || if_version < 0)
            err = "ifVersion must be a non-negative integer";
    }
    int is_merge = merge && strcmp(merge, "true") == 0;
    /* As for ovice_save_and_emit_data: a replace too large stops parsing as soon as it is
     * known; a merge may shrink through null values, so the engine checks its result. */
    int rc = 0;
    if (!err) {
        rc = data_parse_limited(r->body.p ? r->body.p : "", r->body.len,
                                is_merge ? SIZE_MAX : env->conf->max_data_bytes, &update, &err);
        if (rc != 0 && rc != DATA_TOO_LARGE && !err)
            err = "body must be a JSON object";
    }
    if (err && rc != DATA_TOO_LARGE) {
        reply_error(c->done, c->privdata, 400, "bad_request", err);
        call_free(c);
    } else if (rc == DATA_TOO_LARGE || (!is_merge && update.bytes > env->conf->max_data_bytes)) {
        reply_error(c->done, c->privdata, 413, "too_large", "saved data would exceed the limit");
        call_free(c);
    } else {
        struct engine_save req = {.update = &update,
                                  .merge = is_merge,
                                  .if_version = if_version,
                                  .max_bytes = env->conf->max_data_bytes,
                                  .origin_instance = env->instance_id,
                                  .origin_sid = 0};
        env->engine->ops->data_save(env->engine, okey, &req, got_data, c);
    }
    free(merge);
    free(ifv);
    data_doc_clear(&update);
}

/* The key is compared in constant time, so its bytes cannot be guessed one by one. */
static int authorized(const struct api_env *env, const struct http_request *r)
{
    const char *key = env->conf->api_key;
    const char *h = r->authorization;
    if (!h || strncmp(h, "Bearer ", 7) != 0)
        return 0;
    const char *given = h + 7;
    size_t klen = strlen(key), glen = strlen(given);
    int same = CRYPTO_memcmp(given, key, glen < klen ? glen : klen) == 0;
    return same && glen == klen;
}

void api_handle(const struct api_env *env, const struct http_request *r, api_done_fn done,
                void *privdata)
{
    if (!env->conf->api_key[0]) {
        reply_error(done, privdata, 404, "not_found", "the server API is disabled (api_key)");
        return;
    }
    if (!authorized(env, r)) {
        reply_error(done, privdata, 401, "unauthorized", "Authorization: Bearer <api_key> needed");
        return;
    }
    char *ws = NULL, *obj = NULL;
    const char *action = NULL;
    if (parse_path(r->path, &ws, &obj, &action) != 0) {
        reply_error(done, privdata, 404, "not_found", "no such API route");
        return;
    }
    struct buf okey = {0};
    registry_object_key(&okey, ws, obj);
    int method_ok = 1;
    if (!env->engine->ops->ready(env->engine)) {
        reply_error(done, privdata, 503, "unavailable", "storage unavailable, try again");
    } else if (strcmp(action, "participants") == 0) {
        if ((method_ok = r->method == HTTP_METHOD_GET))
            env->engine->ops->presence_list(env->engine, okey.p, got_presence,
                                            call_new(done, privdata, obj));
    } else if (strcmp(action, "data") == 0) {
        if (r->method == HTTP_METHOD_GET)
            env->engine->ops->data_get(env->engine, okey.p, got_data,
                                       call_new(done, privdata, obj));
        else if (r->method == HTTP_METHOD_PUT)
            put_data(env, r, okey.p, call_new(done, privdata, obj));
        else
            method_ok = 0;
    } else if (strcmp(action, "broadcast") == 0) {
        if ((method_ok = r->method == HTTP_METHOD_POST))
            broadcast(env, r, okey.p, call_new(done, privdata, obj));
    } else {
        reply_error(done, privdata, 404, "not_found", "no such API route");
    }
    if (!method_ok)
        reply_error(done, privdata, 405, "method_not_allowed", "method not allowed on this route");
    buf_free(&okey);
    free(ws);
    free(obj);
}
