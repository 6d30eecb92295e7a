#include "dispatch.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "ws.h"

void dispatch_send_error(struct session *s, enum proto_error code, const char *message,
                         const char *object_id, struct proto_span ref)
{
    struct frame *f = proto_encode_error(code, message, object_id, ref);
    s->ops->send(s, f);
    frame_unref(f);
    metrics.errors[code]++;
}

static void refuse_auth(struct session *s, const char *why, struct proto_span ref)
{
    char text[160];
    snprintf(text, sizeof(text), "authentication failed: %s", why);
    metrics.auth_failures++;
    log_info("auth refused sid=%llu reason=\"%s\"", (unsigned long long)s->sid, why);
    dispatch_send_error(s, PROTO_ERR_UNAUTHORIZED, text, NULL, ref);
    s->ops->close(s, WS_CLOSE_POLICY, "authentication failed");
}

static void authenticate(const struct dispatch_env *env, struct session *s,
                         const struct proto_msg *m)
{
    const char *err = NULL;
    if (!m->token) {
        refuse_auth(s, "missing token", m->ref);
        return;
    }
    struct json_value *claims = auth_jwt_verify(m->token, strlen(m->token), env->secrets,
                                                env->nsecrets, (long long)time(NULL), &err);
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
    metrics.ws_authenticated++;
    log_debug("auth ok sid=%llu user=%s ws=%s", (unsigned long long)s->sid, id->user_key,
              id->ws_key);
    struct frame *f = proto_encode_ready(id->user_json, env->instance_id,
                                         env->conf->max_message_bytes,
                                         env->conf->max_data_bytes, m->ref);
    s->ops->send(s, f);
    frame_unref(f);
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

    if (rc != 0) {
        dispatch_send_error(s, PROTO_ERR_BAD_REQUEST, err, m.object_id, m.ref);
        proto_msg_clear(&m);
        return;
    }

    switch (m.type) {
    case PROTO_AUTH:
        dispatch_send_error(s, PROTO_ERR_BAD_REQUEST, "already authenticated", NULL, m.ref);
        break;
    default: {
        char text_msg[128];
        snprintf(text_msg, sizeof(text_msg), "unknown type \"%s\"", m.type_name);
        dispatch_send_error(s, PROTO_ERR_UNKNOWN_TYPE, text_msg, m.object_id, m.ref);
        break;
    }
    }
    proto_msg_clear(&m);
}
