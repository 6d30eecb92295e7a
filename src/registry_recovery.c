/*
 * Resumes (docs/protocol.md section 10): a subscribe or join with "since" gets what its old
 * session missed on the object from the engine's history, then the live messages, each
 * once and in order.
 *
 * From the moment its membership exists, a resuming connection is on the object's
 * deliveries like any other, but what they bring is kept, not sent. The history read
 * (engine history op) is sent at once; when this instance is subscribed the engine reads
 * only once the subscription is confirmed, so every message published after the read is
 * delivered, and kept, here. The own presence event waits too. When both the read and the
 * own event are in, the connection gets the own event with "recovered", then the replay
 * (the history's messages the old session would have received), then what was kept, minus
 * the offsets the replay had. The connection then stays on guard: a delivery of an offset
 * it already got (a message the engine held back while it read a gap) is not sent twice.
 *
 * The session waits meanwhile (registry_session_wait()), so its next messages see the
 * object as the own event shows it.
 */

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "registry_int.h"

/* Deliveries kept while a resume is under way: past this many, or past half of
 * client_output_limit bytes of them, the resume is not recovered (the client reads the
 * object again) and the rest is dropped, so memory stays bounded. */
#define KEPT_MAX 4096

/* A delivery kept for later: the payload and its place in the order. */
struct kept {
    struct payload *p;
    long long offset;
    char *epoch; /* owned, NULL for none */
};

struct recovery {
    uint64_t id; /* finds it again from the history read's answer */
    /* the request */
    char *since_epoch;
    long long since_offset;
    char *s_instance; /* the old session: its instance and id ("" and 0 when the */
    uint64_t s_sid;   /* session string is not one of ours) */
    /* the history read */
    int have_history;
    int recovered;
    struct kept *replay;
    size_t nreplay;
    /* the own event */
    int have_own;
    int own_sent; /* have_own, and it is to be sent (not for an aborted one) */
    enum presence_state own_state;
    struct participant *own_p;
    long long own_offset;
    char *own_epoch;
    /* deliveries meanwhile */
    struct kept *held;
    size_t nheld, capheld;
    size_t held_bytes; /* of their payloads */
    size_t held_max;   /* half of client_output_limit when the resume began */
    int overflow;
    /* after: the last offset sent */
    int done;
    char *epoch;
    long long last;
};

static uint64_t next_id;

static void kept_clear(struct kept *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        payload_unref(k[i].p);
        free(k[i].epoch);
    }
    free(k);
}

void registry_recovery_free(struct recovery *rc)
{
    if (!rc)
        return;
    free(rc->since_epoch);
    free(rc->s_instance);
    kept_clear(rc->replay, rc->nreplay);
    participant_free(rc->own_p);
    free(rc->own_epoch);
    kept_clear(rc->held, rc->nheld);
    free(rc->epoch);
    free(rc);
}

int registry_recovery_pending(const struct membership *m)
{
    return m->rec && !m->rec->done;
}

/* Sends what the offset and epoch allow: nothing already sent. */
static void send_once(struct membership *m, struct payload *p, long long offset, const char *epoch)
{
    struct recovery *rc = m->rec;
    if (offset > 0 && epoch) {
        if (rc->epoch && strcmp(rc->epoch, epoch) == 0 && offset <= rc->last)
            return;
        if (!rc->epoch || strcmp(rc->epoch, epoch) != 0) {
            free(rc->epoch);
            rc->epoch = oc_strdup(epoch);
        }
        rc->last = offset;
    }
    registry_send_payload(m->s, p);
}

/* Both halves are in: the own event, the replay, what was kept. */
static void try_finish(struct membership *m)
{
    struct recovery *rc = m->rec;
    if (!rc->have_history || !rc->have_own)
        return;
    rc->done = 1;
    int recovered = rc->recovered && !rc->overflow;
    if (rc->own_sent) {
        struct proto_position pos = {
            .epoch = m->position ? rc->own_epoch : NULL,
            .offset = rc->own_offset,
            .recovered = recovered};
        struct payload *f =
            proto_encode_presence(rc->own_state, rc->own_p, m->o->object_id, 1, &pos);
        registry_send_payload(m->s, f);
        payload_unref(f);
    }
    if (recovered) {
        rc->epoch = oc_strdup(rc->since_epoch);
        rc->last = rc->since_offset;
        for (size_t i = 0; i < rc->nreplay; i++)
            send_once(m, rc->replay[i].p, rc->replay[i].offset, rc->replay[i].epoch);
        metrics.resumes_recovered++;
    } else {
        metrics.resumes_lost++;
    }
    for (size_t i = 0; i < rc->nheld; i++)
        send_once(m, rc->held[i].p, rc->held[i].offset, rc->held[i].epoch);
    kept_clear(rc->replay, rc->nreplay);
    kept_clear(rc->held, rc->nheld);
    rc->replay = rc->held = NULL;
    rc->nreplay = rc->nheld = rc->capheld = 0;
    participant_free(rc->own_p);
    rc->own_p = NULL;
    registry_session_release(m->s, 0);
}

int registry_recovery_deliver(struct membership *m, struct payload *p, const struct envelope *env)
{
    struct recovery *rc = m->rec;
    if (!rc)
        return 0;
    if (rc->done) {
        send_once(m, p, env->offset, env->epoch);
        return 1;
    }
    if (rc->overflow)
        return 1;
    if (rc->nheld == KEPT_MAX || rc->held_bytes + p->len > rc->held_max) {
        log_info("resume over its limit sid=%llu object=%s: not recovered",
                 (unsigned long long)m->s->sid, m->o->object_id);
        rc->overflow = 1;
        return 1;
    }
    if (rc->nheld == rc->capheld) {
        rc->capheld = rc->capheld ? 2 * rc->capheld : 16;
        rc->held = oc_realloc(rc->held, rc->capheld * sizeof(*rc->held));
    }
    rc->held_bytes += p->len;
    rc->held[rc->nheld++] = (struct kept){.p = payload_ref(p),
                                          .offset = env->offset,
                                          .epoch = env->epoch ? oc_strdup(env->epoch) : NULL};
    return 1;
}

int registry_recovery_own_event(struct membership *m, enum presence_state state,
                                const struct participant *p, const struct envelope *env)
{
    struct recovery *rc = m->rec;
    if (!rc || rc->done || rc->have_own)
        return 0;
    rc->have_own = rc->own_sent = 1;
    rc->own_state = state;
    rc->own_p = participant_copy(p);
    rc->own_offset = env && env->offset > 0 ? env->offset : 0;
    rc->own_epoch = env && env->epoch ? oc_strdup(env->epoch) : NULL;
    try_finish(m);
    return 1;
}

void registry_recovery_abort(struct session *s)
{
    struct membership *m;
    LIST_FOREACH(m, &s->memberships, slink)
    if (m->rec && !m->rec->done && !m->rec->have_own) {
        /* Its own event will not come: what it got meanwhile goes out, without one. */
        m->rec->have_own = 1;
        m->rec->recovered = 0;
        try_finish(m);
    }
}

/* The history read's answer finds its membership again by these. */
struct read_ref {
    struct registry *r;
    uint64_t sid;
    uint64_t id;
    char *object_id;
};

/* Would the old session have received env? Emits only to their target, broadcasts and
 * saves not back to it (but an echo). */
static int wanted(const struct recovery *rc, const struct membership *m, const struct envelope *env)
{
    int from_old = rc->s_sid && env->origin_sid == rc->s_sid && env->origin_instance &&
                   strcmp(env->origin_instance, rc->s_instance) == 0;
    switch (env->kind) {
    case ENVELOPE_BROADCAST:
        return !from_old || env->echo;
    case ENVELOPE_EMIT:
        return env->to && strcmp(env->to, m->s->id->user_key) == 0;
    case ENVELOPE_DATA:
        return !from_old;
    default:
        return 0;
    }
}

static void history_read(void *privdata, enum engine_status st, const char *epoch, long long last,
                         size_t n, const struct envelope *envs)
{
    struct read_ref *ref = privdata;
    struct session *s = registry_session_by_sid(ref->r, ref->sid);
    struct membership *m = s ? registry_membership(ref->r, s, ref->object_id) : NULL;
    struct recovery *rc = m ? m->rec : NULL;
    if (!rc || rc->id != ref->id || rc->have_history) {
        free(ref->object_id);
        free(ref);
        return;
    }
    /* Recovered when the history holds every offset after since's, in its epoch. */
    long long want = last - rc->since_offset;
    int ok = st == ENGINE_OK && ref->r->conf->history_size > 0 && epoch &&
             strcmp(epoch, rc->since_epoch) == 0 && want >= 0 && (size_t)want == n &&
             (n == 0 || (envs[0].offset == rc->since_offset + 1 && envs[n - 1].offset == last));
    /* A message the history kept only a mark of (too big) cannot be replayed. */
    for (size_t i = 0; ok && i < n; i++)
        if (envs[i].missing && wanted(rc, m, &envs[i]))
            ok = 0;
    rc->have_history = 1;
    rc->recovered = ok;
    if (ok) {
        rc->replay = oc_calloc(n + 1, sizeof(*rc->replay));
        for (size_t i = 0; i < n; i++) {
            const struct envelope *env = &envs[i];
            if (!wanted(rc, m, env))
                continue;
            struct payload *p;
            if (env->kind == ENVELOPE_DATA) {
                struct proto_span none = {0};
                p = proto_encode_data("ovice_shared_data", m->o->object_id, none, env->version,
                                      env->data, -1, env->offset, env->epoch);
            } else {
                p = payload_ref(env->payload);
            }
            rc->replay[rc->nreplay++] =
                (struct kept){.p = p, .offset = env->offset, .epoch = oc_strdup(env->epoch)};
        }
    }
    try_finish(m);
    free(ref->object_id);
    free(ref);
}

void registry_recovery_start(struct registry *r, struct membership *m,
                             const struct proto_since *since)
{
    struct recovery *rc = oc_calloc(1, sizeof(*rc));
    rc->id = ++next_id;
    rc->since_epoch = oc_strdup(since->epoch);
    rc->since_offset = since->offset;
    /* "<sid>@<instance>", as registry_session_name() makes it */
    char *end = NULL;
    unsigned long long sid = strtoull(since->session, &end, 10);
    if (end && end != since->session && *end == '@') {
        rc->s_sid = sid;
        rc->s_instance = oc_strdup(end + 1);
    } else {
        rc->s_instance = oc_strdup("");
    }
    rc->held_max = r->conf->client_output_limit / 2;
    m->rec = rc;
    struct read_ref *ref = oc_malloc(sizeof(*ref));
    *ref = (struct read_ref){
        .r = r, .sid = m->s->sid, .id = rc->id, .object_id = oc_strdup(m->o->object_id)};
    r->engine->ops->history(r->engine, m->o->okey, since->offset, r->conf->client_output_limit / 2,
                            history_read, ref);
}

void registry_session_name(struct buf *b, const struct registry *r, const struct session *s)
{
    buf_printf(b, "%llu@%s", (unsigned long long)s->sid, r->instance_id);
}
