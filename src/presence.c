#include "presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

const char *presence_state_name(enum presence_state s)
{
    switch (s) {
    case PRESENCE_SUBSCRIBED: return "subscribed";
    case PRESENCE_LEFT: return "left";
    case PRESENCE_JOINED: return "joined";
    default: return "unsubscribed";
    }
}

const char *presence_event_name(enum presence_state s)
{
    switch (s) {
    case PRESENCE_SUBSCRIBED: return "ovice_participant_subscribed";
    case PRESENCE_LEFT: return "ovice_participant_left";
    case PRESENCE_JOINED: return "ovice_participant_joined";
    default: return "ovice_participant_unsubscribed";
    }
}

static char *dup_or_null(const char *s)
{
    return s ? oc_strdup(s) : NULL;
}

struct participant *participant_new(const struct identity *id, const char *object_type,
                                    int host, enum presence_state state)
{
    struct participant *p = oc_calloc(1, sizeof(*p));
    p->user_key = oc_strdup(id->user_key);
    p->user_json = oc_strdup(id->user_json);
    p->ws_json = oc_strdup(id->ws_json);
    p->name = oc_strdup(id->name);
    p->avatar_url = oc_strdup(id->avatar_url);
    p->language = dup_or_null(id->language);
    p->email = dup_or_null(id->email);
    p->visitor = id->visitor;
    p->host = host;
    snprintf(p->object_type, sizeof(p->object_type), "%s",
             object_type && object_type[0] ? object_type : "static");
    p->state = state;
    return p;
}

struct participant *participant_copy(const struct participant *src)
{
    struct participant *p = oc_malloc(sizeof(*p));
    *p = *src;
    p->user_key = oc_strdup(src->user_key);
    p->user_json = oc_strdup(src->user_json);
    p->ws_json = oc_strdup(src->ws_json);
    p->name = oc_strdup(src->name);
    p->avatar_url = oc_strdup(src->avatar_url);
    p->language = dup_or_null(src->language);
    p->email = dup_or_null(src->email);
    return p;
}

void participant_free(struct participant *p)
{
    if (!p)
        return;
    free(p->user_key);
    free(p->user_json);
    free(p->ws_json);
    free(p->name);
    free(p->avatar_url);
    free(p->language);
    free(p->email);
    free(p);
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int participant_equal(const struct participant *a, const struct participant *b)
{
    return a->state == b->state && a->host == b->host && a->visitor == b->visitor &&
           strcmp(a->object_type, b->object_type) == 0 && same_str(a->user_json, b->user_json) &&
           same_str(a->ws_json, b->ws_json) && same_str(a->name, b->name) &&
           same_str(a->avatar_url, b->avatar_url) && same_str(a->language, b->language) &&
           same_str(a->email, b->email);
}

void presence_init(struct presence *pr)
{
    memset(pr, 0, sizeof(*pr));
    TAILQ_INIT(&pr->order);
}

static void entry_free(struct presence_entry *e)
{
    free(e->instance);
    participant_free(e->p);
    free(e);
}

static void user_free(struct presence_user *u)
{
    struct presence_entry *e, *next;
    for (e = u->entries; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    free(u->user_key);
    free(u);
}

void presence_clear(struct presence *pr)
{
    struct presence_user *u;
    while ((u = TAILQ_FIRST(&pr->order)) != NULL) {
        TAILQ_REMOVE(&pr->order, u, link);
        user_free(u);
    }
    dict_free(&pr->users);
    presence_init(pr);
}

static enum presence_state user_state(const struct presence_user *u,
                                      const struct participant **best)
{
    const struct presence_entry *top = NULL;
    for (const struct presence_entry *e = u->entries; e; e = e->next)
        if (!top || e->p->state > top->p->state ||
            (e->p->state == top->p->state && e->seq > top->seq))
            top = e;
    if (best)
        *best = top ? top->p : NULL;
    if (!top)
        return PRESENCE_NONE;
    return top->p->state == PRESENCE_SUBSCRIBED && u->linked ? PRESENCE_LEFT : top->p->state;
}

enum presence_state presence_user_state(const struct presence *pr, const char *user_key,
                                        const struct participant **best)
{
    const struct presence_user *u = dict_get(&pr->users, user_key, strlen(user_key));
    if (!u) {
        if (best)
            *best = NULL;
        return PRESENCE_NONE;
    }
    return user_state(u, best);
}

int presence_apply(struct presence *pr, const char *instance, const char *user_key,
                   const struct participant *p, enum presence_state *before,
                   enum presence_state *after)
{
    size_t klen = strlen(user_key);
    struct presence_user *u = dict_get(&pr->users, user_key, klen);
    *before = u ? user_state(u, NULL) : PRESENCE_NONE;
    *after = *before;

    struct presence_entry **slot = NULL;
    if (u)
        for (slot = &u->entries; *slot; slot = &(*slot)->next)
            if (strcmp((*slot)->instance, instance) == 0)
                break;

    if (!p) {
        if (!u || !*slot)
            return 0;
        struct presence_entry *gone = *slot;
        *slot = gone->next;
        entry_free(gone);
        if (!u->entries) {
            dict_del(&pr->users, user_key, klen);
            TAILQ_REMOVE(&pr->order, u, link);
            user_free(u);
            *after = PRESENCE_NONE;
        } else {
            *after = user_state(u, NULL);
        }
        return 1;
    }

    if (!u) {
        u = oc_calloc(1, sizeof(*u));
        u->user_key = oc_strdup(user_key);
        dict_set(&pr->users, user_key, klen, u);
        TAILQ_INSERT_TAIL(&pr->order, u, link);
        slot = &u->entries;
    }
    if (*slot && participant_equal((*slot)->p, p))
        return 0;
    if (*slot) {
        participant_free((*slot)->p);
        (*slot)->p = participant_copy(p);
    } else {
        struct presence_entry *e = oc_calloc(1, sizeof(*e));
        e->instance = oc_strdup(instance);
        e->p = participant_copy(p);
        *slot = e;
    }
    (*slot)->seq = ++pr->seq;
    if (p->state >= PRESENCE_LEFT)
        u->linked = 1;
    *after = user_state(u, NULL);
    return 1;
}

void presence_move(struct presence *dst, struct presence *src)
{
    dst->users = src->users;
    dst->seq = src->seq;
    TAILQ_INIT(&dst->order);
    TAILQ_CONCAT(&dst->order, &src->order, link);
    memset(&src->users, 0, sizeof(src->users));
    presence_init(src);
}

void presence_apply_all(struct presence *pr, size_t n, const char *const *instances,
                        const struct participant *const *participants)
{
    enum presence_state before, after;
    for (size_t i = 0; i < n; i++)
        presence_apply(pr, instances[i], participants[i]->user_key, participants[i], &before,
                       &after);
}

size_t presence_users(const struct presence *pr, const struct participant ***list,
                      enum presence_state **states)
{
    size_t n = presence_user_count(pr), i = 0;
    *list = oc_calloc(n + 1, sizeof(**list));
    *states = oc_calloc(n + 1, sizeof(**states));
    const struct presence_user *u;
    TAILQ_FOREACH(u, &pr->order, link)
    {
        (*states)[i] = presence_user_state(pr, u->user_key, &(*list)[i]);
        i++;
    }
    return i;
}

size_t presence_user_count(const struct presence *pr)
{
    return pr->users.count;
}

static void member(struct buf *b, const char *key, const char *value)
{
    buf_append_str(b, key);
    json_append_string(b, value, strlen(value));
}

void participant_to_json(const struct participant *p, const char *object_id, struct buf *out)
{
    buf_append_str(out, "{\"id\":");
    buf_append_str(out, p->user_json);
    member(out, ",\"name\":", p->name);
    member(out, ",\"objectId\":", object_id);
    member(out, ",\"objectType\":", p->object_type);
    member(out, ",\"avatarUrl\":", p->avatar_url);
    buf_append_str(out, ",\"workspaceId\":");
    buf_append_str(out, p->ws_json);
    if (p->language)
        member(out, ",\"language\":", p->language);
    member(out, ",\"status\":", presence_state_name(p->state));
    buf_printf(out, ",\"isHost\":%s,\"isSelf\":false,\"isVisitor\":%s}", p->host ? "true" : "false",
               p->visitor ? "true" : "false");
}

/* The JSON text of an id member (a string literal or an integer) and its plain form. */
static char *id_json(const struct json_value *v, char **plain)
{
    struct buf b = {0};
    long long n;
    if (json_typeof(v) == JSON_STRING && json_string(v)[0]) {
        json_append_string(&b, json_string(v), strlen(json_string(v)));
        if (plain)
            *plain = oc_strdup(json_string(v));
    } else if (json_typeof(v) == JSON_NUMBER && json_integer(v, &n) == 0) {
        buf_printf(&b, "%lld", n);
        if (plain)
            *plain = oc_strdup(b.p);
    } else {
        return NULL;
    }
    return buf_detach(&b);
}

static char *string_member(const struct json_value *doc, const char *key, int optional, int *ok)
{
    const char *s = json_string(json_get(doc, key));
    if (!s && !optional)
        *ok = 0;
    return s ? oc_strdup(s) : NULL;
}

struct participant *participant_from_json(const char *text, size_t len)
{
    const char *err;
    struct json_value *doc = json_parse(text, len, &err);
    if (!doc)
        return NULL;
    int ok = json_typeof(doc) == JSON_OBJECT;
    struct participant *p = oc_calloc(1, sizeof(*p));
    p->user_json = id_json(json_get(doc, "id"), &p->user_key);
    p->ws_json = id_json(json_get(doc, "workspaceId"), NULL);
    p->name = string_member(doc, "name", 0, &ok);
    p->avatar_url = string_member(doc, "avatarUrl", 0, &ok);
    p->language = string_member(doc, "language", 1, &ok);
    const char *type = json_string(json_get(doc, "objectType"));
    const char *state = json_string(json_get(doc, "status"));
    snprintf(p->object_type, sizeof(p->object_type), "%s",
             type && strcmp(type, "dynamic") == 0 ? "dynamic" : "static");
    p->state = !state                            ? PRESENCE_NONE
               : strcmp(state, "joined") == 0     ? PRESENCE_JOINED
               : strcmp(state, "left") == 0       ? PRESENCE_LEFT
               : strcmp(state, "subscribed") == 0 ? PRESENCE_SUBSCRIBED
                                                  : PRESENCE_NONE;
    p->visitor = json_typeof(json_get(doc, "isVisitor")) == JSON_TRUE;
    p->host = json_typeof(json_get(doc, "isHost")) == JSON_TRUE;
    json_free(doc);
    if (!ok || !p->user_json || !p->ws_json || p->state == PRESENCE_NONE) {
        participant_free(p);
        return NULL;
    }
    return p;
}
