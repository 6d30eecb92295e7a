#include "registry.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "metrics.h"
#include "okey.h"
#include "registry_int.h"

/* --- sessions and objects ---------------------------------------------------------------- */

struct session *registry_session_by_sid(struct registry *r, uint64_t sid)
{
    return dict_get(&r->sessions, (const char *)&sid, sizeof(sid));
}

void registry_session_add(struct registry *r, struct session *s)
{
    LIST_INIT(&s->memberships);
    dict_set(&r->sessions, (const char *)&s->sid, sizeof(s->sid), s);
}

/* --- per-connection order ----------------------------------------------------------------
 *
 * A presence command takes effect when its own event comes back from the engine (through
 * Redis with engine redis): only then does the replica show it. A get or save is done when
 * the engine answers. Until then the session waits (s->waiting holds the command's number)
 * and its transport holds its next messages back, so a get_participants right behind a
 * subscribe lists the sender and replies come in request order. Other sessions never wait.
 */

/* A command's entry write, whose failure must end the wait too. */
struct wait_ref {
    struct registry *r;
    uint64_t sid;
    uint64_t wait; /* the command waited for */
};

void registry_session_wait(struct registry *r, struct session *s)
{
    s->waiting = ++r->wait_seq;
}

/* Ends s's wait: for `wait` only, or whatever it waits for when wait is 0. */
void registry_session_release(struct session *s, uint64_t wait)
{
    if (!s || !s->waiting || (wait && s->waiting != wait))
        return;
    s->waiting = 0;
    if (s->ops->resume)
        s->ops->resume(s);
}

static void entry_written(void *privdata, enum engine_status st)
{
    struct wait_ref *w = privdata;
    /* Stored: the own event is on its way. Otherwise it never comes: stop waiting. */
    if (st != ENGINE_OK) {
        struct session *s = registry_session_by_sid(w->r, w->sid);
        if (s && s->waiting == w->wait)
            registry_recovery_abort(s);
        registry_session_release(s, w->wait);
    }
    free(w);
}

static int is_local_origin(const struct registry *r, const struct envelope *env)
{
    return env->origin_instance && strcmp(env->origin_instance, r->instance_id) == 0;
}

void registry_object_key(struct buf *b, const char *ws_key, const char *object_id)
{
    /* Encoded, so that no two (workspace, object) pairs share a key (docs/operations.md,
     * "Redis"). */
    okey_build(b, ws_key, strlen(ws_key), object_id, strlen(object_id));
}

static void object_key(struct buf *b, const struct session *s, const char *object_id)
{
    registry_object_key(b, s->id->ws_key, object_id);
}

static void publish_entry(struct registry *r, struct object *o, const char *user_key,
                          uint64_t origin_sid);
static struct participant *local_entry(struct object *o, const char *user_key);
static void send_presence_change(struct registry *r, struct object *o, const char *user_key,
                                 enum presence_state after, const struct participant *shown,
                                 const struct envelope *env);

/* A replica read in flight: the object is found again by key, since it may be gone. */
struct replica_read {
    struct registry *r;
    char *okey;
    int resync; /* after an outage: tell local members what changed meanwhile */
};

/* Publishes every local user's entry once the replica is known. Each connection that
 * waited gets its own event if it changed nothing for the others. */
static void publish_waiting(struct registry *r, struct object *o, int as_origin)
{
    struct membership *m, *next;
    for (m = TAILQ_FIRST(&o->members); m; m = next) {
        next = TAILQ_NEXT(m, olink);
        /* (a connection still waiting for its own event gets it now) */
        publish_entry(r, o, m->s->id->user_key, as_origin || m->fresh ? m->s->sid : 0);
    }
}

static void replica_read_done(void *privdata, enum engine_status st, size_t n,
                              const char *const *instances,
                              const struct participant *const *participants)
{
    struct replica_read *rr = privdata;
    struct registry *r = rr->r;
    struct object *o = dict_get(&r->objects, rr->okey, strlen(rr->okey));
    if (o && st != ENGINE_OK) {
        /* Their commands cannot take effect now: the members stop waiting. */
        struct membership *m;
        TAILQ_FOREACH(m, &o->members, olink)
        registry_session_release(m->s, 0);
    }
    if (!o || st != ENGINE_OK) {
        /* Unavailable: the next reset reads it again. */
        free(rr->okey);
        free(rr);
        return;
    }
    struct presence fresh;
    enum presence_state before, after;
    presence_init(&fresh);
    presence_apply_all(&fresh, n, instances, participants);
    /* Entries of this instance whose user is no longer here: their removal failed while
     * Redis was away. They are removed below. */
    const char **ghosts = rr->resync && n ? oc_calloc(n, sizeof(*ghosts)) : NULL;
    size_t nghosts = 0;
    if (rr->resync) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(instances[i], r->instance_id) != 0)
                continue;
            struct participant *p = local_entry(o, participants[i]->user_key);
            if (!p) {
                ghosts[nghosts++] = participants[i]->user_key;
                presence_apply(&fresh, r->instance_id, participants[i]->user_key, NULL, &before,
                               &after);
            }
            participant_free(p);
        }
    }
    if (rr->resync) {
        /* Our own entries may have expired while Redis was away: they are stored again
         * below, so count them as they are. */
        struct membership *m;
        TAILQ_FOREACH(m, &o->members, olink)
        {
            struct participant *p = local_entry(o, m->s->id->user_key);
            if (p)
                presence_apply(&fresh, r->instance_id, p->user_key, p, &before, &after);
            participant_free(p);
        }
        /* Whoever came or went meanwhile: one event per changed user. */
        struct presence_user *u;
        TAILQ_FOREACH(u, &o->replica.order, link)
        {
            const struct participant *old = NULL;
            enum presence_state was = presence_user_state(&o->replica, u->user_key, &old);
            if (presence_user_state(&fresh, u->user_key, NULL) == PRESENCE_NONE && was)
                send_presence_change(r, o, u->user_key, PRESENCE_NONE, old, NULL);
        }
        TAILQ_FOREACH(u, &fresh.order, link)
        {
            const struct participant *now = NULL;
            enum presence_state is = presence_user_state(&fresh, u->user_key, &now);
            if (presence_user_state(&o->replica, u->user_key, NULL) != is)
                send_presence_change(r, o, u->user_key, is, now, NULL);
        }
    }
    presence_clear(&o->replica);
    presence_move(&o->replica, &fresh);
    o->bootstrapped = 1;
    for (size_t i = 0; i < nghosts; i++)
        publish_entry(r, o, ghosts[i], 0);
    free(ghosts);
    publish_waiting(r, o, !rr->resync);
    free(rr->okey);
    free(rr);
}

static void read_replica(struct registry *r, struct object *o, int resync)
{
    struct replica_read *rr = oc_malloc(sizeof(*rr));
    rr->r = r;
    rr->okey = oc_strdup(o->okey);
    rr->resync = resync;
    o->bootstrapped = 0;
    r->engine->ops->presence_list(r->engine, o->okey, replica_read_done, rr);
}

static struct object *object_get(struct registry *r, const char *okey, const char *object_id,
                                 int create)
{
    struct object *o = dict_get(&r->objects, okey, strlen(okey));
    if (o || !create)
        return o;
    o = oc_calloc(1, sizeof(*o));
    o->okey = oc_strdup(okey);
    o->object_id = oc_strdup(object_id);
    TAILQ_INIT(&o->members);
    presence_init(&o->replica);
    dict_set(&r->objects, okey, strlen(okey), o);
    metrics.objects++;
    /* Subscribe before reading the presence, so no change falls between the two. */
    r->engine->ops->subscribe(r->engine, okey);
    read_replica(r, o, 0);
    return o;
}

static void object_release_if_empty(struct registry *r, struct object *o)
{
    if (o->nmembers)
        return;
    r->engine->ops->unsubscribe(r->engine, o->okey);
    dict_del(&r->objects, o->okey, strlen(o->okey));
    metrics.objects--;
    busiest_forget(&r->busiest, &o->hits);
    presence_clear(&o->replica);
    free(o->okey);
    free(o->object_id);
    free(o);
}

struct membership *registry_membership(struct registry *r, struct session *s,
                                       const char *object_id)
{
    if (!s->id)
        return NULL;
    struct membership *m;
    LIST_FOREACH(m, &s->memberships, slink)
    if (strcmp(m->o->object_id, object_id) == 0)
        return m;
    return NULL;
}

/* --- presence ---------------------------------------------------------------------------- */

static const char *user_of(const struct membership *m)
{
    return m->s->id->user_key;
}

/* This instance's entry for user_key on o: its highest state over local connections, with
 * the attributes of the newest among those. NULL when none is left. */
static struct participant *local_entry(struct object *o, const char *user_key)
{
    struct membership *best = NULL, *m;
    TAILQ_FOREACH(m, &o->members, olink)
    {
        if (strcmp(user_of(m), user_key) != 0 || m->state == PRESENCE_NONE)
            continue;
        if (!best || m->state > best->state || (m->state == best->state && m->seq > best->seq))
            best = m;
    }
    return best ? participant_new(best->s->id, best->object_type, best->host, best->state)
                : NULL;
}

/* Stores this instance's entry for the user and publishes it; origin is the session whose
 * command caused it (0 when none waits for its own event). */
static void publish_entry(struct registry *r, struct object *o, const char *user_key,
                          uint64_t origin_sid)
{
    if (!o->bootstrapped)
        return; /* published when the replica is read */
    struct participant *p = local_entry(o, user_key);
    struct envelope env = {.kind = ENVELOPE_PRESENCE,
                           .origin_instance = r->instance_id,
                           .origin_sid = origin_sid,
                           .user_key = user_key,
                           .participant = p,
                           .object_id = o->object_id};
    struct session *s = origin_sid ? registry_session_by_sid(r, origin_sid) : NULL;
    struct wait_ref *w = NULL;
    if (s && s->waiting) {
        w = oc_malloc(sizeof(*w));
        *w = (struct wait_ref){.r = r, .sid = origin_sid, .wait = s->waiting};
    }
    r->engine->ops->presence(r->engine, o->okey, &env, w ? entry_written : NULL, w);
    participant_free(p);
}

void registry_send_payload(struct session *s, struct payload *f)
{
    s->ops->send(s, f);
}

void registry_send_error(struct session *s, enum proto_error code, const char *message,
                         const char *object_id, struct proto_span ref)
{
    struct payload *f = proto_encode_error(code, message, object_id, ref);
    registry_send_payload(s, f);
    payload_unref(f);
    metrics.errors[code]++;
}

/* A participant as its own user sees it: with the email of the user's token (entries from
 * other instances carry none). */
static struct participant *self_view(const struct participant *p, const struct identity *id)
{
    struct participant *mine = participant_copy(p);
    free(mine->email);
    mine->email = id->email ? oc_strdup(id->email) : NULL;
    return mine;
}

/* The event a connection gets about its own state: p as its user sees it (NULL: made from
 * the membership); env, the engine's envelope that answers the connection's own command,
 * gives the object's position (docs/protocol.md section 10), NULL for none. */
static void send_own_event(struct membership *m, enum presence_state state,
                           const struct participant *p, const struct envelope *env)
{
    struct participant *made = p ? NULL : participant_new(m->s->id, m->object_type, m->host, state);
    if (!p)
        p = made;
    m->fresh = 0;
    if (state == PRESENCE_NONE || !registry_recovery_own_event(m, state, p, env)) {
        struct proto_position pos = {.epoch = env && m->position ? env->epoch : NULL,
                                     .offset = env && env->offset > 0 ? env->offset : 0,
                                     .recovered = -1};
        struct payload *f = proto_encode_presence(state, p, m->o->object_id, 1, &pos);
        registry_send_payload(m->s, f);
        payload_unref(f);
    }
    participant_free(made);
}

/* m is going. If its user was linked through it (joined or left), the user's other
 * connections here are no longer merely subscribed: the user is left (docs/protocol.md 3.1). */
static void remove_membership(struct membership *m)
{
    struct object *o = m->o;
    if (m->state >= PRESENCE_LEFT) {
        struct membership *other;
        TAILQ_FOREACH(other, &o->members, olink)
        if (other != m && other->state == PRESENCE_SUBSCRIBED &&
            strcmp(user_of(other), user_of(m)) == 0)
            other->state = PRESENCE_LEFT;
    }
    TAILQ_REMOVE(&o->members, m, olink);
    o->nmembers--;
    metrics.memberships--;
    LIST_REMOVE(m, slink);
    registry_recovery_free(m->rec);
    free(m);
}

static enum presence_state next_state(enum presence_state cur, enum registry_action a)
{
    switch (a) {
    case REGISTRY_SUBSCRIBE: return cur == PRESENCE_NONE ? PRESENCE_SUBSCRIBED : cur;
    case REGISTRY_JOIN: return PRESENCE_JOINED;
    case REGISTRY_LEAVE: return cur == PRESENCE_JOINED ? PRESENCE_LEFT : cur;
    default: return PRESENCE_NONE;
    }
}

enum proto_error registry_presence(struct registry *r, struct session *s, const char *object_id,
                                   enum registry_action action, const char *object_type,
                                   int host, const struct proto_since *since, int position)
{
    struct membership *m = registry_membership(r, s, object_id);
    if (!m && (action == REGISTRY_LEAVE || action == REGISTRY_UNSUBSCRIBE))
        return PROTO_ERR_NOT_SUBSCRIBED;
    int resume = !m && since && (action == REGISTRY_SUBSCRIBE || action == REGISTRY_JOIN);

    if (!m) {
        struct buf okey = {0};
        object_key(&okey, s, object_id);
        struct object *o = object_get(r, okey.p, object_id, 1);
        buf_free(&okey);
        m = oc_calloc(1, sizeof(*m));
        m->s = s;
        m->o = o;
        m->state = PRESENCE_NONE;
        m->fresh = 1;
        TAILQ_INSERT_TAIL(&o->members, m, olink);
        o->nmembers++;
        metrics.memberships++;
        LIST_INSERT_HEAD(&s->memberships, m, slink);
    }
    struct object *o = m->o;

    if (action == REGISTRY_UNSUBSCRIBE) {
        /* The requester hears of it at once: it gets nothing from the object any more. */
        send_own_event(m, PRESENCE_NONE, NULL, NULL);
        remove_membership(m);
        publish_entry(r, o, s->id->user_key, 0);
        object_release_if_empty(r, o);
        return PROTO_ERR_COUNT;
    }

    m->state = next_state(m->state, action);
    if (action == REGISTRY_SUBSCRIBE || action == REGISTRY_JOIN) {
        snprintf(m->object_type, sizeof(m->object_type), "%s",
                 object_type && object_type[0] ? object_type : "static");
        m->host = host;
        if (position)
            m->position = 1;
    }
    m->seq = ++r->seq;
    registry_session_wait(r, s);
    if (resume)
        registry_recovery_start(r, m, since);
    publish_entry(r, o, s->id->user_key, s->sid);
    return PROTO_ERR_COUNT;
}

static void leave_all(struct registry *r, struct session *s)
{
    struct membership *m;
    while ((m = LIST_FIRST(&s->memberships)) != NULL) {
        struct object *o = m->o;
        remove_membership(m);
        publish_entry(r, o, s->id->user_key, 0);
        object_release_if_empty(r, o);
    }
}

void registry_session_remove(struct registry *r, struct session *s)
{
    if (!s->id)
        return;
    leave_all(r, s);
    dict_del(&r->sessions, (const char *)&s->sid, sizeof(s->sid));
}

int registry_user_present(struct membership *m, const char *user_key)
{
    return presence_user_state(&m->o->replica, user_key, NULL) != PRESENCE_NONE;
}

void registry_send_participants(struct registry *r, struct membership *m, struct proto_span ref)
{
    const struct participant **list;
    enum presence_state *states;
    size_t n = presence_users(&m->o->replica, &list, &states);
    struct participant *mine = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i]->user_key, user_of(m)) == 0)
            list[i] = mine = self_view(list[i], m->s->id);
    struct payload *f =
        proto_encode_participants(m->o->object_id, ref, list, states, n, user_of(m));
    registry_send_payload(m->s, f);
    payload_unref(f);
    participant_free(mine);
    free(list);
    free(states);
}

/* --- deliveries -------------------------------------------------------------------------- */

/* Tells every local connection on o that user_key is now in state after: the user's own
 * connections get the self variant (isSelf, email), the others one shared payload. env:
 * the engine's envelope, whose origin connection (if here) gets it as its own event. */
static void send_presence_change(struct registry *r, struct object *o, const char *user_key,
                                 enum presence_state after, const struct participant *shown,
                                 const struct envelope *env)
{
    struct payload *self = NULL, *others = NULL;
    uint64_t origin = env && env->origin_sid && is_local_origin(r, env) ? env->origin_sid : 0;
    struct membership *m;
    TAILQ_FOREACH(m, &o->members, olink)
    {
        int is_self = strcmp(user_of(m), user_key) == 0;
        if (is_self && origin && m->s->sid == origin) {
            struct participant *mine = self_view(shown, m->s->id);
            send_own_event(m, after, mine, env);
            participant_free(mine);
            continue;
        }
        if (m->fresh)
            continue; /* before its own event: it subscribed after this */
        if (is_self && !self) {
            struct participant *mine = self_view(shown, m->s->id);
            self = proto_encode_presence(after, mine, o->object_id, 1, NULL);
            participant_free(mine);
        } else if (!is_self && !others) {
            others = proto_encode_presence(after, shown, o->object_id, 0, NULL);
        }
        registry_send_payload(m->s, is_self ? self : others);
    }
    payload_unref(self);
    payload_unref(others);
}

/* The user went from joined to left through another instance: its connections here carry
 * "left" from now on, so the entries agree with the replicas (and with newcomers that read
 * them). Returns 1 when one changed. */
static int upgrade_to_left(struct object *o, const char *user_key)
{
    int changed = 0;
    struct membership *m;
    TAILQ_FOREACH(m, &o->members, olink)
    if (m->state == PRESENCE_SUBSCRIBED && strcmp(user_of(m), user_key) == 0) {
        m->state = PRESENCE_LEFT;
        changed = 1;
    }
    return changed;
}

static void deliver_presence(struct registry *r, struct object *o, const struct envelope *env)
{
    const struct participant *gone_best = NULL;
    struct participant *gone = NULL;
    if (!env->participant) {
        /* Keep who it was: if the user leaves the object, the event shows them. */
        presence_user_state(&o->replica, env->user_key, &gone_best);
        if (gone_best)
            gone = participant_copy(gone_best);
    }
    enum presence_state before, after;
    presence_apply(&o->replica, env->origin_instance, env->user_key, env->participant, &before,
                   &after);

    if (before != after) {
        const struct participant *shown = gone;
        if (after != PRESENCE_NONE)
            presence_user_state(&o->replica, env->user_key, &shown);
        send_presence_change(r, o, env->user_key, after, shown, env);
        if (after == PRESENCE_LEFT && !is_local_origin(r, env) && upgrade_to_left(o, env->user_key))
            publish_entry(r, o, env->user_key, 0);
    } else if (is_local_origin(r, env) && env->origin_sid) {
        /* Nothing changed for the others: only the requester hears about its own state. */
        struct session *s = registry_session_by_sid(r, env->origin_sid);
        struct membership *m = s ? registry_membership(r, s, o->object_id) : NULL;
        if (m && m->o == o)
            send_own_event(m, m->state, NULL, env);
    }
    /* The requester's command shows in the replica now: its next message may run (a
     * resume's, once its replay is out: registry_recovery.c). */
    if (is_local_origin(r, env) && env->origin_sid) {
        struct session *s = registry_session_by_sid(r, env->origin_sid);
        struct membership *m = s ? registry_membership(r, s, o->object_id) : NULL;
        if (!m || !registry_recovery_pending(m))
            registry_session_release(s, 0);
    }
    participant_free(gone);
}

/* A message of the object's order (env, encoded as p) for m: not sent when m subscribed
 * after it (its own event has not come: m->fresh), held or sent once when m resumes
 * (registry_recovery.c). */
static void send_delivery(struct membership *m, struct payload *p, const struct envelope *env)
{
    if (m->fresh && !m->rec)
        return;
    if (!registry_recovery_deliver(m, p, env))
        registry_send_payload(m->s, p);
}

static void deliver_data(struct registry *r, struct object *o, const struct envelope *env)
{
    struct proto_span none = {0};
    struct payload *f = NULL;
    int local = is_local_origin(r, env);
    struct membership *m;
    TAILQ_FOREACH(m, &o->members, olink)
    {
        if (local && env->origin_sid && m->s->sid == env->origin_sid)
            continue; /* the saver gets ovice_data_saved_success instead */
        if (!f)
            f = proto_encode_data("ovice_shared_data", o->object_id, none, env->version,
                                  env->data, -1, env->offset, env->epoch);
        send_delivery(m, f, env);
    }
    payload_unref(f);
}

static void deliver(void *privdata, const char *okey, const struct envelope *env)
{
    struct registry *r = privdata;
    struct object *o = dict_get(&r->objects, okey, strlen(okey));
    if (!o)
        return;
    struct membership *m;
    if (env->kind != ENVELOPE_PRESENCE)
        busiest_hit(&r->busiest, &o->hits, o);
    switch (env->kind) {
    case ENVELOPE_BROADCAST: {
        int local = is_local_origin(r, env);
        TAILQ_FOREACH(m, &o->members, olink)
        {
            if (!env->echo && local && m->s->sid == env->origin_sid)
                continue;
            send_delivery(m, env->payload, env);
        }
        break;
    }
    case ENVELOPE_EMIT:
        TAILQ_FOREACH(m, &o->members, olink)
        if (strcmp(user_of(m), env->to) == 0)
            send_delivery(m, env->payload, env);
        break;
    case ENVELOPE_PRESENCE:
        if (o->bootstrapped)
            deliver_presence(r, o, env);
        break;
    case ENVELOPE_DATA:
        deliver_data(r, o, env);
        break;
    }
}

size_t registry_session_objects(const struct session *s)
{
    size_t n = 0;
    const struct membership *m;
    LIST_FOREACH(m, &s->memberships, slink)
    n++;
    return n;
}

int registry_ready(const struct registry *r)
{
    return r->engine->ops->ready(r->engine);
}

void registry_busiest(struct registry *r, double seconds, struct buf *out)
{
    struct busiest_entry top[BUSIEST_SLOTS];
    size_t n = busiest_close(&r->busiest, top);
    struct buf ws = {0}, obj = {0};
    buf_append_char(out, '[');
    for (size_t i = 0; i < n; i++) {
        const struct object *o = top[i].item;
        const char *err = NULL;
        okey_parse(o->okey, strlen(o->okey), &ws, &obj, &err);
        buf_append_str(out, i ? ",{\"key\":" : "{\"key\":");
        json_append_string(out, o->okey, strlen(o->okey));
        buf_append_str(out, ",\"workspaceId\":");
        json_append_string(out, ws.p ? ws.p : "", ws.len);
        buf_append_str(out, ",\"objectId\":");
        json_append_string(out, o->object_id, strlen(o->object_id));
        buf_printf(out, ",\"participants\":%zu,\"messages\":%u,\"messages_per_s\":%.2f}",
                   presence_user_count(&o->replica), top[i].hits,
                   seconds > 0 ? top[i].hits / seconds : 0.0);
    }
    buf_append_char(out, ']');
    buf_free(&ws);
    buf_free(&obj);
}

/* --- lifecycle --------------------------------------------------------------------------- */

/* The engine was away (from okey, or from everything when NULL): read the replicas again,
 * tell local members what changed, store the local entries again. */
static void reset(void *privdata, const char *okey)
{
    struct registry *r = privdata;
    if (okey) {
        struct object *o = dict_get(&r->objects, okey, strlen(okey));
        if (!o)
            return;
        /* Own events in flight on it may be lost: nobody waits for them. */
        struct membership *m;
        TAILQ_FOREACH(m, &o->members, olink)
        registry_session_release(m->s, 0);
        read_replica(r, o, 1);
        return;
    }
    for (struct dict_entry *it = dict_first(&r->sessions); it; it = dict_next(&r->sessions, it))
        registry_session_release(it->value, 0);
    for (struct dict_entry *it = dict_first(&r->objects); it; it = dict_next(&r->objects, it))
        read_replica(r, it->value, 1);
}

struct registry *registry_new(struct engine *engine, const struct conf *conf,
                              const char *instance_id)
{
    struct registry *r = oc_calloc(1, sizeof(*r));
    r->engine = engine;
    r->conf = conf;
    r->instance_id = instance_id;
    engine->deliver = deliver;
    engine->reset = reset;
    engine->deliver_privdata = r;
    busiest_init(&r->busiest);
    return r;
}

void registry_free(struct registry *r)
{
    if (!r)
        return;
    /* Sessions are removed by their connections first; what is left are empty tables. */
    assert(r->objects.count == 0);
    dict_free(&r->objects);
    dict_free(&r->sessions);
    free(r);
}
