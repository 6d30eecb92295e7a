#include "api.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "proto.h"
#include "registry.h"
#include "status.h"
#include "utf8.h"
#include "util.h"

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

/* The HTTP status of a protocol error. */
static int http_status(enum proto_error e)
{
    switch (e) {
    case PROTO_ERR_BAD_REQUEST:
    case PROTO_ERR_UNKNOWN_TYPE: return 400;
    case PROTO_ERR_UNAUTHORIZED: return 401;
    case PROTO_ERR_NOT_SUBSCRIBED:
    case PROTO_ERR_NOT_PRESENT: return 404;
    case PROTO_ERR_CONFLICT: return 409;
    case PROTO_ERR_TOO_LARGE: return 413;
    case PROTO_ERR_RATE_LIMITED: return 429;
    case PROTO_ERR_UNAVAILABLE: return 503;
    default: return 500;
    }
}

static void reply_proto_error(api_done_fn done, void *pd, enum proto_error e, const char *message)
{
    reply_error(done, pd, http_status(e), proto_error_name(e), message);
}

/* A request waiting for the registry's answer. */
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

/* Answers with the error, or returns 0 when there is none. Frees c after an error. */
static int failed(struct api_call *c, enum proto_error err, const char *message)
{
    if (err == PROTO_ERR_COUNT)
        return 0;
    reply_proto_error(c->done, c->privdata, err, message);
    free(c->object_id);
    free(c);
    return 1;
}

/* Sends the JSON answer {"objectId":..., <members>} and frees c. */
static void reply_object(struct api_call *c, struct buf *members)
{
    struct buf b = {0};
    buf_append_str(&b, "{\"objectId\":");
    json_append_string(&b, c->object_id, strlen(c->object_id));
    buf_append(&b, members->p, members->len);
    buf_append_char(&b, '}');
    c->done(c->privdata, 200, b.p, b.len);
    buf_free(&b);
    buf_free(members);
    free(c->object_id);
    free(c);
}

static void got_data(void *privdata, enum proto_error err, const char *message,
                     const struct registry_answer *a)
{
    struct api_call *c = privdata;
    if (failed(c, err, message))
        return;
    struct buf b = {0};
    buf_printf(&b, ",\"version\":%lld,\"updated_at\":%lld,\"payload\":", a->data->version,
               a->data->updated_at);
    data_encode(a->data->doc, &b);
    reply_object(c, &b);
}

static void got_participants(void *privdata, enum proto_error err, const char *message,
                             const struct registry_answer *a)
{
    struct api_call *c = privdata;
    if (failed(c, err, message))
        return;
    struct buf b = {0};
    buf_append_str(&b, ",\"participants\":");
    /* The backend sees what a plugin sees, as nobody in particular (isSelf false). */
    proto_append_participants(&b, c->object_id, a->list, a->states, a->n, "");
    reply_object(c, &b);
}

static void published(void *privdata, enum proto_error err, const char *message,
                      const struct registry_answer *a)
{
    struct api_call *c = privdata;
    if (failed(c, err, message))
        return;
    c->done(c->privdata, 200, "{\"ok\":true}", 11);
    free(c->object_id);
    free(c);
}

/* POST broadcast: {event, message, source?} into the object, to every connection on it. */
static void broadcast(const struct api_env *env, const struct http_request *r, const char *ws,
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
        failed(c, PROTO_ERR_BAD_REQUEST, err ? err : "body must be an object");
    } else if (src && json_typeof(src) != JSON_STRING &&
               !(json_typeof(src) == JSON_NUMBER && json_integer(src, &n) == 0)) {
        failed(c, PROTO_ERR_BAD_REQUEST, "\"source\" must be a string or an integer");
    } else {
        if (!src)
            buf_append_str(&source, "\"server\"");
        else if (json_typeof(src) == JSON_STRING)
            json_append_string(&source, json_string(src), strlen(json_string(src)));
        else
            buf_printf(&source, "%lld", n);
        registry_api_broadcast(env->registry, ws, c->object_id, source.p, &m, published, c);
    }
    buf_free(&source);
    json_free(doc);
    proto_msg_clear(&m);
    buf_free(&text);
}

static void put_data(const struct api_env *env, const struct http_request *r, const char *ws,
                     struct api_call *c)
{
    struct data_doc update;
    const char *why = NULL;
    data_doc_init(&update);
    char *merge = http_query_param(r->query, "merge");
    char *ifv = http_query_param(r->query, "ifVersion");
    long long if_version = -1;
    int is_merge = merge && strcmp(merge, "true") == 0;
    enum proto_error err = PROTO_ERR_COUNT;
    if (ifv && util_parse_bounded(ifv, 0, LLONG_MAX, &if_version) != 0) {
        err = PROTO_ERR_BAD_REQUEST;
        why = "ifVersion must be a non-negative integer";
    }
    if (err == PROTO_ERR_COUNT)
        err = registry_parse_save(env->registry, r->body.p ? r->body.p : "", r->body.len,
                                  is_merge, &update, &why);
    if (!failed(c, err, why))
        registry_api_save_data(env->registry, ws, c->object_id, &update, is_merge, if_version,
                               got_data, c);
    free(merge);
    free(ifv);
    data_doc_clear(&update);
}

/* --- status ------------------------------------------------------------------------------ */

struct status_call {
    const struct api_env *env;
    api_done_fn done;
    void *privdata;
};

static void got_overview(void *privdata, enum engine_status st, const struct engine_overview *o)
{
    struct status_call *c = privdata;
    struct engine *e = c->env->engine;
    struct buf self = {0}, b = {0};
    buf_append_char(&self, '{');
    if (e->stats)
        e->stats(e->stats_privdata, &self);
    buf_append_char(&self, '}');
    struct status_input in = {
        .self_id = e->instance_id,
        .self = self.p,
        .self_len = self.len,
        .engine = e->ops->name,
        .now = (long long)time(NULL),
        /* (asked only after a read that worked: a failed one may be the engine's last
         * answer as it is freed, when nothing of it may be read) */
        .redis_up = st == ENGINE_OK && e->ops->ready(e),
        .cluster = o->cluster,
        .latency_ms = st == ENGINE_OK ? o->latency_ms : -1,
        .info = o->info,
        .info_len = o->info_len,
    };
    if (st == ENGINE_OK) {
        in.n = o->n;
        in.entries = o->entries;
        in.lens = o->lens;
    }
    status_render(&in, &b);
    c->done(c->privdata, 200, b.p, b.len);
    buf_free(&self);
    buf_free(&b);
    free(c);
}

/* Answers even while Redis is away: then with this instance alone, and Redis down. */
static void status(const struct api_env *env, api_done_fn done, void *privdata)
{
    struct status_call *c = oc_malloc(sizeof(*c));
    c->env = env;
    c->done = done;
    c->privdata = privdata;
    env->engine->ops->overview(env->engine, got_overview, c);
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
    if (strcmp(r->path, "/api/v1/status") == 0) {
        if (r->method == HTTP_METHOD_GET)
            status(env, done, privdata);
        else
            reply_error(done, privdata, 405, "method_not_allowed", "GET only");
        return;
    }
    char *ws = NULL, *obj = NULL;
    const char *action = NULL;
    if (parse_path(r->path, &ws, &obj, &action) != 0) {
        reply_error(done, privdata, 404, "not_found", "no such API route");
        return;
    }
    int method_ok = 1;
    if (!registry_ready(env->registry)) {
        reply_proto_error(done, privdata, PROTO_ERR_UNAVAILABLE, "storage unavailable, try again");
    } else if (strcmp(action, "participants") == 0) {
        if ((method_ok = r->method == HTTP_METHOD_GET))
            registry_api_participants(env->registry, ws, obj, got_participants,
                                      call_new(done, privdata, obj));
    } else if (strcmp(action, "data") == 0) {
        if (r->method == HTTP_METHOD_GET)
            registry_api_get_data(env->registry, ws, obj, got_data,
                                  call_new(done, privdata, obj));
        else if (r->method == HTTP_METHOD_PUT)
            put_data(env, r, ws, call_new(done, privdata, obj));
        else
            method_ok = 0;
    } else if (strcmp(action, "broadcast") == 0) {
        if ((method_ok = r->method == HTTP_METHOD_POST))
            broadcast(env, r, ws, call_new(done, privdata, obj));
    } else {
        reply_error(done, privdata, 404, "not_found", "no such API route");
    }
    if (!method_ok)
        reply_error(done, privdata, 405, "method_not_allowed", "method not allowed on this route");
    free(ws);
    free(obj);
}
