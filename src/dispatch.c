#include "dispatch.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "util.h"

_Static_assert(PROTO_ERR_COUNT <= METRICS_CODES_MAX && PROTO_TYPE_COUNT <= METRICS_CODES_MAX,
               "metrics keeps a counter for every error code and message type");

/* How many secrets verify now: the previous one only during its grace period. */
static size_t live_secrets(const struct dispatch_env *env, long long now)
{
    return env->nsecrets > 1 && now < env->previous_until ? env->nsecrets : 1;
}

static void refuse_auth(struct session *s, const char *why, struct proto_span ref)
{
    char text[160];
    snprintf(text, sizeof(text), "authentication failed: %s", why);
    metrics.auth_failures++;
    log_info("auth refused sid=%llu reason=\"%s\"", (unsigned long long)s->sid, why);
    registry_send_error(s, PROTO_ERR_UNAUTHORIZED, text, NULL, ref);
    s->ops->close(s, SESSION_CLOSE_AUTH_FAILED);
}

static void authenticate(const struct dispatch_env *env, struct session *s,
                         const struct proto_msg *m)
{
    const char *err = NULL;
    if (!m->token) {
        refuse_auth(s, "missing token", m->ref);
        return;
    }
    long long now = (long long)time(NULL);
    struct json_value *claims = auth_jwt_verify(m->token, strlen(m->token), env->secrets,
                                                live_secrets(env, now), now, &err);
    if (!claims) {
        refuse_auth(s, err, m->ref);
        return;
    }
    struct identity *id = auth_identity_new(claims, &err);
    json_free(claims);
    if (!id) {
        refuse_auth(s, err, m->ref);
        return;
    }
    s->id = id;
    registry_session_add(env->registry, s);
    metrics.ws_authenticated++;
    log_debug("auth ok sid=%llu user=%s ws=%s", (unsigned long long)s->sid, id->user_key,
              id->ws_key);
    struct buf session = {0};
    registry_session_name(&session, env->registry, s);
    struct payload *f = proto_encode_ready(id->user_json, env->instance_id, session.p,
                                         env->conf->max_message_bytes,
                                         env->conf->max_data_bytes, m->ref);
    buf_free(&session);
    s->ops->send(s, f);
    payload_unref(f);
}

/*
 * objcast_refresh: a new connection token extends the connection's life (docs/protocol.md
 * section 2.5). A refused one leaves the connection as it was, open until the current
 * token's exp: the host may still get a good token in time. The transport sees the new exp
 * in s->id->exp.
 */
static void refresh(const struct dispatch_env *env, struct session *s, const struct proto_msg *m)
{
    const char *err = NULL;
    struct identity *next = NULL;
    long long now = (long long)time(NULL);
    struct json_value *claims =
        m->token ? auth_jwt_verify(m->token, strlen(m->token), env->secrets,
                                   live_secrets(env, now), now, &err)
                 : NULL;
    if (!m->token)
        err = "missing token";
    else if (claims && (next = auth_identity_new(claims, &err)))
        auth_identity_refresh(s->id, next, &err);
    json_free(claims);
    identity_free(next);
    if (err) {
        char text[160];
        snprintf(text, sizeof(text), "refresh refused: %s", err);
        log_info("refresh refused sid=%llu reason=\"%s\"", (unsigned long long)s->sid, err);
        registry_send_error(s, PROTO_ERR_UNAUTHORIZED, text, NULL, m->ref);
        return;
    }
    log_debug("refresh ok sid=%llu exp=%lld", (unsigned long long)s->sid, s->id->exp);
    struct payload *f = proto_encode_refreshed(s->id->exp, m->ref);
    s->ops->send(s, f);
    payload_unref(f);
}

/* Checks an object token for m's object. Returns 0 and fills *host and *object_type, or -1
 * after sending the error. */
static int check_object_token(const struct dispatch_env *env, struct session *s,
                              const struct proto_msg *m, int *host, const char **object_type,
                              struct object_grant *g)
{
    *host = 0;
    *object_type = m->object_type[0] ? m->object_type : NULL;
    if (!m->object_token) {
        if (env->conf->object_tokens == CONF_OBJECT_TOKENS_REQUIRED) {
            registry_send_error(s, PROTO_ERR_UNAUTHORIZED, "objectToken required", m->object_id,
                                m->ref);
            return -1;
        }
        return 0;
    }
    const char *err = NULL;
    char text[160];
    long long now = (long long)time(NULL);
    struct json_value *claims =
        auth_jwt_verify(m->object_token, strlen(m->object_token), env->secrets,
                        live_secrets(env, now), now, &err);
    if (claims && auth_object_grant(claims, g, &err) == 0) {
        auth_object_grant_check(g, s->id, m->object_id, &err);
    } else if (!err) {
        err = "invalid objectToken";
    }
    json_free(claims);
    if (err) {
        snprintf(text, sizeof(text), "objectToken refused: %s", err);
        registry_send_error(s, PROTO_ERR_UNAUTHORIZED, text, m->object_id, m->ref);
        return -1;
    }
    *host = g->host;
    if (g->object_type)
        *object_type = g->object_type;
    return 0;
}

static void run_presence(const struct dispatch_env *env, struct session *s,
                         const struct proto_msg *m, enum registry_action action)
{
    int host = 0;
    const char *object_type = NULL;
    struct object_grant g = {0};
    if ((action == REGISTRY_SUBSCRIBE || action == REGISTRY_JOIN) &&
        !registry_membership(env->registry, s, m->object_id) &&
        registry_session_objects(s) >= (size_t)env->conf->max_objects_per_connection) {
        char text[96];
        snprintf(text, sizeof(text), "too many objects on one connection (limit %d)",
                 env->conf->max_objects_per_connection);
        registry_send_error(s, PROTO_ERR_TOO_LARGE, text, m->object_id, m->ref);
        return;
    }
    struct proto_since since = {0};
    if ((action == REGISTRY_SUBSCRIBE || action == REGISTRY_JOIN) && m->since.len) {
        const char *why = NULL;
        if (proto_parse_since(m->since, &since, &why) != 0) {
            registry_send_error(s, PROTO_ERR_BAD_REQUEST, why, m->object_id, m->ref);
            return;
        }
    }
    if (action == REGISTRY_SUBSCRIBE || action == REGISTRY_JOIN) {
        if (check_object_token(env, s, m, &host, &object_type, &g) != 0) {
            object_grant_clear(&g);
            proto_since_clear(&since);
            return;
        }
    }
    enum proto_error e = registry_presence(env->registry, s, m->object_id, action, object_type,
                                           host, since.epoch ? &since : NULL, m->position);
    if (e != PROTO_ERR_COUNT)
        registry_send_error(s, e, "not on this object", m->object_id, m->ref);
    object_grant_clear(&g);
    proto_since_clear(&since);
}

static void run_message(const struct dispatch_env *env, struct session *s,
                        const struct proto_msg *m, struct membership *mb, int emit)
{
    const char *why = NULL;
    enum proto_error err = registry_check_message(env->registry, m, &why);
    if (err == PROTO_ERR_COUNT && emit && !m->has_to) {
        err = PROTO_ERR_BAD_REQUEST;
        why = "payload needs \"to\"";
    } else if (err == PROTO_ERR_COUNT && emit && !registry_user_present(mb, m->to)) {
        err = PROTO_ERR_NOT_PRESENT;
        why = "\"to\" is not a participant of the object";
    }
    if (err != PROTO_ERR_COUNT) {
        registry_send_error(s, err, why, m->object_id, m->ref);
        return;
    }
    struct proto_span none = {0};
    struct payload *f = proto_encode_message(m->object_id, s->id->user_json, m->event, m->message,
                                           emit ? m->to_raw : none);
    registry_publish(env->registry, mb, f, m->echo, emit ? m->to : NULL, m->ref);
    payload_unref(f);
}

static void run_save(const struct dispatch_env *env, struct session *s, const struct proto_msg *m,
                     struct membership *mb)
{
    struct data_doc update;
    const char *why = NULL;
    data_doc_init(&update);
    enum proto_error err =
        registry_parse_save(env->registry, m->payload.p, m->payload.len, m->merge, &update, &why);
    if (err != PROTO_ERR_COUNT)
        registry_send_error(s, err, why, m->object_id, m->ref);
    else
        registry_save_data(env->registry, mb, &update, m->merge, m->if_version, m->ref);
    data_doc_clear(&update);
}

/* The seed's ovice_* messages: only for connections on the object. */
static void run_plugin(const struct dispatch_env *env, struct session *s, const struct proto_msg *m)
{
    struct membership *mb = registry_membership(env->registry, s, m->object_id);
    if (!mb) {
        registry_send_error(s, PROTO_ERR_NOT_SUBSCRIBED, "not subscribed to this object",
                            m->object_id, m->ref);
        return;
    }
    switch (m->type) {
    case PROTO_GET_PARTICIPANTS:
        registry_send_participants(env->registry, mb, m->ref);
        break;
    case PROTO_BROADCAST:
        run_message(env, s, m, mb, 0);
        break;
    case PROTO_EMIT:
        run_message(env, s, m, mb, 1);
        break;
    case PROTO_GET_DATA:
        registry_get_data(env->registry, mb, m->ref);
        break;
    case PROTO_SAVE_DATA:
        run_save(env, s, m, mb);
        break;
    default:
        break;
    }
}

/*
 * client_rate RATE BURST: a token bucket per connection. A message over the rate is refused
 * with rate_limited; refusals fill a second bucket that leaks at the same rate, and a client
 * that overflows it (it keeps sending far over the rate) is closed with 1008. Returns 1 when
 * the message may run.
 */
static int rate_allows(const struct dispatch_env *env, struct session *s,
                       const struct proto_msg *m)
{
    double rate = env->conf->client_rate, burst = env->conf->client_burst;
    int64_t now = util_monotonic_coarse_ms();
    if (!s->bucket_ms) {
        s->tokens = burst;
        s->bucket_ms = now;
    }
    double refill = (double)(now - s->bucket_ms) * rate / 1000.0;
    s->bucket_ms = now;
    s->tokens = s->tokens + refill > burst ? burst : s->tokens + refill;
    s->abuse = s->abuse > refill ? s->abuse - refill : 0;
    if (s->tokens >= 1) {
        s->tokens -= 1;
        return 1;
    }
    registry_send_error(s, PROTO_ERR_RATE_LIMITED, "too many messages: slow down", m->object_id,
                        m->ref);
    if (++s->abuse > burst) {
        log_info("rate abuse closed sid=%llu", (unsigned long long)s->sid);
        s->ops->close(s, SESSION_CLOSE_RATE_ABUSE);
    }
    return 0;
}

void dispatch_message(const struct dispatch_env *env, struct session *s, const char *text,
                      size_t len)
{
    struct proto_msg m;
    const char *err = NULL;
    int rc = proto_parse(text, len, &m, &err);

    if (!s->id) {
        if (rc != 0)
            refuse_auth(s, err, m.ref);
        else if (m.type != PROTO_AUTH)
            refuse_auth(s, "the first message must be objcast_auth", m.ref);
        else
            authenticate(env, s, &m);
        proto_msg_clear(&m);
        return;
    }

    metrics.by_type[m.type]++;
    if (!rate_allows(env, s, &m)) {
        proto_msg_clear(&m);
        return;
    }
    if (rc != 0) {
        registry_send_error(s, PROTO_ERR_BAD_REQUEST, err, m.object_id, m.ref);
        proto_msg_clear(&m);
        return;
    }
    if (m.type == PROTO_REFRESH) {
        /* About the connection, not an object: needs neither objectId nor the engine. */
        refresh(env, s, &m);
        proto_msg_clear(&m);
        return;
    }
    if (m.type != PROTO_AUTH && m.type != PROTO_UNKNOWN && !m.object_id[0]) {
        registry_send_error(s, PROTO_ERR_BAD_REQUEST, "missing \"objectId\"", NULL, m.ref);
        proto_msg_clear(&m);
        return;
    }

    if (m.type != PROTO_AUTH && m.type != PROTO_UNKNOWN && !registry_ready(env->registry)) {
        registry_send_error(s, PROTO_ERR_UNAVAILABLE, "storage unavailable, try again",
                            m.object_id, m.ref);
        proto_msg_clear(&m);
        return;
    }

    switch (m.type) {
    case PROTO_AUTH:
        registry_send_error(s, PROTO_ERR_BAD_REQUEST, "already authenticated", NULL, m.ref);
        break;
    case PROTO_SUBSCRIBE:
        run_presence(env, s, &m, REGISTRY_SUBSCRIBE);
        break;
    case PROTO_JOIN:
        run_presence(env, s, &m, REGISTRY_JOIN);
        break;
    case PROTO_LEAVE:
        run_presence(env, s, &m, REGISTRY_LEAVE);
        break;
    case PROTO_UNSUBSCRIBE:
        run_presence(env, s, &m, REGISTRY_UNSUBSCRIBE);
        break;
    case PROTO_GET_PARTICIPANTS:
    case PROTO_BROADCAST:
    case PROTO_EMIT:
    case PROTO_GET_DATA:
    case PROTO_SAVE_DATA:
        run_plugin(env, s, &m);
        break;
    default: {
        char text_msg[128];
        snprintf(text_msg, sizeof(text_msg), "unknown type \"%s\"", m.type_name);
        registry_send_error(s, PROTO_ERR_UNKNOWN_TYPE, text_msg, m.object_id, m.ref);
        break;
    }
    }
    proto_msg_clear(&m);
}
