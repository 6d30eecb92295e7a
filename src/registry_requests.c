/*
 * Requests that wait for the engine's answer: broadcasts and emits, gets and saves of
 * saved data, from a session or from the server API, and the answers that come back; with
 * the rules every sender obeys, so dispatch and the server API check messages and saves in
 * one place. Objects, memberships, presence and deliveries are registry.c's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "registry.h"
#include "registry_int.h"

/* --- rules every sender obeys: a client or the server API --------------------------------- */

enum proto_error registry_check_message(const struct registry *r, const struct proto_msg *m,
                                        const char **why)
{
    if (!m->has_event || !m->message.len) {
        *why = "payload needs \"event\" and \"message\"";
        return PROTO_ERR_BAD_REQUEST;
    }
    if (m->message.len > r->conf->max_message_bytes) {
        *why = "message too large";
        return PROTO_ERR_TOO_LARGE;
    }
    return PROTO_ERR_COUNT;
}

enum proto_error registry_parse_save(const struct registry *r, const char *text, size_t len,
                                     int merge, struct data_doc *update, const char **why)
{
    if (!len) {
        *why = "payload must be a JSON object";
        return PROTO_ERR_BAD_REQUEST;
    }
    /* A replace stores the payload itself, so one too large can only fail: the parse stops as
     * soon as that is sure, and the engine is not asked. A merge's result can shrink through
     * null values (data.h), so its parse runs to the end and the engine checks the result. */
    size_t limit = merge ? SIZE_MAX : r->conf->max_data_bytes;
    int rc = data_parse_limited(text, len, limit, update, why);
    if (rc == DATA_TOO_LARGE) {
        *why = "saved data would exceed the limit";
        return PROTO_ERR_TOO_LARGE;
    }
    if (rc != 0) {
        if (!*why)
            *why = "payload must be a JSON object";
        return PROTO_ERR_BAD_REQUEST;
    }
    return PROTO_ERR_COUNT;
}

/* What an engine failure means to whoever asked. */
static enum proto_error status_error(enum engine_status st, const char **message)
{
    static const struct {
        enum proto_error code;
        const char *message;
    } map[] = {
        [ENGINE_OK] = {PROTO_ERR_INTERNAL, "internal error"},
        [ENGINE_UNAVAILABLE] = {PROTO_ERR_UNAVAILABLE, "storage unavailable, try again"},
        [ENGINE_CONFLICT] = {PROTO_ERR_CONFLICT, "ifVersion does not match the stored version"},
        [ENGINE_TOO_LARGE] = {PROTO_ERR_TOO_LARGE, "saved data would exceed the limit"},
        [ENGINE_ERROR] = {PROTO_ERR_INTERNAL, "internal error"},
    };
    *message = map[st].message;
    return map[st].code;
}

/* --- answers the engine owes ------------------------------------------------------------- */

/* An answer the engine owes a session (found again by sid, since it may be gone by then) or
 * the server API (a callback, which always waits for it). */
struct pending {
    struct registry *r;
    uint64_t sid;
    uint64_t wait; /* the session waits for this answer (see registry_session_wait()), or 0 */
    char *object_id;
    char *ref; /* raw JSON text of the ref, or NULL */
    registry_api_fn api; /* the server API's callback, or NULL for a session */
    void *api_privdata;
};

/* An answer the session waits for holds its next messages back, so replies come in the
 * order of the requests (a get_participants behind a get_data is answered after it). */
static struct pending *pending_new(struct registry *r, struct membership *m,
                                   struct proto_span ref, int wait)
{
    struct pending *p = oc_calloc(1, sizeof(*p));
    p->r = r;
    p->sid = m->s->sid;
    if (wait) {
        registry_session_wait(r, m->s);
        p->wait = m->s->waiting;
    }
    p->object_id = oc_strdup(m->o->object_id);
    p->ref = ref.len ? oc_strndup(ref.p, ref.len) : NULL;
    return p;
}

static struct pending *pending_api(struct registry *r, const char *object_id,
                                   registry_api_fn cb, void *privdata)
{
    struct pending *p = oc_calloc(1, sizeof(*p));
    p->r = r;
    p->object_id = oc_strdup(object_id);
    p->api = cb;
    p->api_privdata = privdata;
    return p;
}

static void pending_free(struct pending *p)
{
    free(p->object_id);
    free(p->ref);
    free(p);
}

static struct proto_span pending_ref(const struct pending *p)
{
    struct proto_span s = {p->ref, p->ref ? strlen(p->ref) : 0};
    return s;
}

static void send_engine_error(struct session *s, struct pending *p, enum engine_status st)
{
    const char *message;
    enum proto_error code = status_error(st, &message);
    registry_send_error(s, code, message, p->object_id, pending_ref(p));
}

/* Tells the server API of an engine failure. */
static void api_engine_error(struct pending *p, enum engine_status st)
{
    const char *message;
    enum proto_error code = status_error(st, &message);
    p->api(p->api_privdata, code, message, NULL);
}

static void data_answer(struct pending *p, enum engine_status st, const struct engine_data *d,
                        const char *type, int with_updated_at)
{
    struct session *s = p->api ? NULL : registry_session_by_sid(p->r, p->sid);
    if (p->api && st != ENGINE_OK) {
        api_engine_error(p, st);
    } else if (p->api) {
        struct registry_answer a = {.data = d};
        p->api(p->api_privdata, PROTO_ERR_COUNT, NULL, &a);
    } else if (s) {
        if (st != ENGINE_OK) {
            send_engine_error(s, p, st);
        } else {
            struct payload *f = proto_encode_data(type, p->object_id, pending_ref(p), d->version,
                                                d->doc, with_updated_at ? d->updated_at : -1, 0,
                                                NULL);
            registry_send_payload(s, f);
            payload_unref(f);
        }
        registry_session_release(s, p->wait);
    }
    pending_free(p);
}

static void got_data(void *privdata, enum engine_status st, const struct engine_data *d)
{
    data_answer(privdata, st, d, "ovice_saved_data", 0);
}

static void saved_data(void *privdata, enum engine_status st, const struct engine_data *d)
{
    data_answer(privdata, st, d, "ovice_data_saved_success", 1);
}

static void published(void *privdata, enum engine_status st)
{
    struct pending *p = privdata;
    if (p->api) {
        if (st != ENGINE_OK)
            api_engine_error(p, st);
        else
            p->api(p->api_privdata, PROTO_ERR_COUNT, NULL, NULL);
    } else {
        struct session *s = st == ENGINE_OK ? NULL : registry_session_by_sid(p->r, p->sid);
        if (s)
            send_engine_error(s, p, st);
    }
    pending_free(p);
}

/* Answers the server API with everyone in pr. */
static void answer_participants(registry_api_fn cb, void *privdata, const struct presence *pr)
{
    struct registry_answer a = {0};
    a.n = presence_users(pr, (const struct participant ***)&a.list,
                         (enum presence_state **)&a.states);
    cb(privdata, PROTO_ERR_COUNT, NULL, &a);
    free((void *)a.list);
    free((void *)a.states);
}

static void got_presence(void *privdata, enum engine_status st, size_t n,
                         const char *const *instances,
                         const struct participant *const *participants)
{
    struct pending *p = privdata;
    if (st != ENGINE_OK) {
        api_engine_error(p, st);
        pending_free(p);
        return;
    }
    struct presence pr;
    presence_init(&pr);
    presence_apply_all(&pr, n, instances, participants);
    answer_participants(p->api, p->api_privdata, &pr);
    presence_clear(&pr);
    pending_free(p);
}

/* --- messages and saved data ------------------------------------------------------------- */

static void publish(struct registry *r, const char *okey, uint64_t origin_sid, struct payload *f,
                    int echo, const char *to, struct pending *p)
{
    struct envelope env = {.kind = to ? ENVELOPE_EMIT : ENVELOPE_BROADCAST,
                           .origin_instance = r->instance_id,
                           .origin_sid = origin_sid,
                           .payload = f,
                           .echo = echo,
                           .to = to};
    r->engine->ops->publish(r->engine, okey, &env, published, p);
}

void registry_publish(struct registry *r, struct membership *m, struct payload *f, int echo,
                      const char *to, struct proto_span ref)
{
    publish(r, m->o->okey, m->s->sid, f, echo, to, pending_new(r, m, ref, 0));
}

static void save(struct registry *r, const char *okey, uint64_t origin_sid,
                 const struct data_doc *update, int merge, long long if_version,
                 struct pending *p)
{
    struct engine_save req = {.update = update,
                              .merge = merge,
                              .if_version = if_version,
                              .max_bytes = r->conf->max_data_bytes,
                              .origin_instance = r->instance_id,
                              .origin_sid = origin_sid};
    r->engine->ops->data_save(r->engine, okey, &req, saved_data, p);
}

void registry_get_data(struct registry *r, struct membership *m, struct proto_span ref)
{
    r->engine->ops->data_get(r->engine, m->o->okey, got_data, pending_new(r, m, ref, 1));
}

void registry_save_data(struct registry *r, struct membership *m, const struct data_doc *update,
                        int merge, long long if_version, struct proto_span ref)
{
    save(r, m->o->okey, m->s->sid, update, merge, if_version, pending_new(r, m, ref, 1));
}

/* --- the server API ---------------------------------------------------------------------- */

void registry_api_participants(struct registry *r, const char *ws_key, const char *object_id,
                               registry_api_fn cb, void *privdata)
{
    struct buf okey = {0};
    registry_object_key(&okey, ws_key, object_id);
    /* An object with local members has its replica, kept by its channel: read that. A
     * snapshot through the engine would also hold the channel's messages and drop those it
     * holds (engine_redis_presence.c), which only a replica's bootstrap may do: the replica
     * would miss them, and a member waiting for its own presence event would wait forever. */
    struct object *o = dict_get(&r->objects, okey.p, okey.len);
    if (o && o->bootstrapped)
        answer_participants(cb, privdata, &o->replica);
    else
        r->engine->ops->presence_list(r->engine, okey.p, got_presence,
                                      pending_api(r, object_id, cb, privdata));
    buf_free(&okey);
}

void registry_api_get_data(struct registry *r, const char *ws_key, const char *object_id,
                           registry_api_fn cb, void *privdata)
{
    struct buf okey = {0};
    registry_object_key(&okey, ws_key, object_id);
    r->engine->ops->data_get(r->engine, okey.p, got_data, pending_api(r, object_id, cb, privdata));
    buf_free(&okey);
}

void registry_api_save_data(struct registry *r, const char *ws_key, const char *object_id,
                            const struct data_doc *update, int merge, long long if_version,
                            registry_api_fn cb, void *privdata)
{
    struct buf okey = {0};
    registry_object_key(&okey, ws_key, object_id);
    save(r, okey.p, 0, update, merge, if_version, pending_api(r, object_id, cb, privdata));
    buf_free(&okey);
}

void registry_api_broadcast(struct registry *r, const char *ws_key, const char *object_id,
                            const char *source_json, const struct proto_msg *m,
                            registry_api_fn cb, void *privdata)
{
    const char *why = NULL;
    enum proto_error err = registry_check_message(r, m, &why);
    if (err != PROTO_ERR_COUNT) {
        cb(privdata, err, why, NULL);
        return;
    }
    struct buf okey = {0};
    registry_object_key(&okey, ws_key, object_id);
    struct proto_span none = {0};
    struct payload *f = proto_encode_message(object_id, source_json, m->event, m->message, none);
    publish(r, okey.p, 0, f, 0, NULL, pending_api(r, object_id, cb, privdata));
    payload_unref(f);
    buf_free(&okey);
}
