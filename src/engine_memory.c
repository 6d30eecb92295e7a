/* engine memory: one process, every object in a table. Callbacks run before the call
 * returns, and deliveries happen in call order, which is the one order per object.
 *
 * Each object numbers its broadcasts, emits and saves (its offsets, in an epoch made when
 * the object is) and keeps the last history_size of them for resumes, as engine redis does
 * in Redis. An object that holds nothing else is kept while its history lasts: objects with
 * a history are in a list by their last message, and every call first drops the histories
 * past history_ttl from its front, so this costs nothing per object over time. The process
 * keeps at most MEM_HISTORY_BYTES of messages in all histories together: past it, the
 * oldest messages of the histories written to least recently go first. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "buf.h"
#include "dict.h"
#include "engine.h"
#include "proto.h"
#include "util.h"

/* Bytes of messages kept in every object's history together (engine memory). */
#define MEM_HISTORY_BYTES ((size_t)256 << 20)

struct mem_entry {
    char *instance;
    struct participant *p;
};

/* A message kept in an object's history: what its envelope held. */
struct mem_hist {
    struct envelope env;  /* kind, origin, echo, to, offset, epoch (the object's) */
    char *instance;       /* owned: env.origin_instance */
    char *to;             /* owned: env.to */
    char *json;           /* data: the saved object as compact JSON */
    size_t json_len;
};

struct mem_object {
    char *okey;              /* its key in the table */
    int subscribed;          /* this (only) instance wants its envelopes */
    struct dict entries;     /* "user|instance" -> struct mem_entry */
    struct data_doc data;    /* saved data */
    long long version;       /* saves so far */
    long long updated_at;    /* unix seconds of the last save */
    char epoch[32];          /* of its offsets */
    long long off;           /* the last offset given */
    struct mem_hist *hist;   /* ring of the last messages: cap slots, n used from first */
    size_t cap, first, n;
    size_t bytes;            /* of the messages in it */
    int64_t hist_until;      /* monotonic ms when the history goes */
    int listed;              /* in histories */
    TAILQ_ENTRY(mem_object) hlink;
};

TAILQ_HEAD(mem_histories, mem_object);

struct engine_memory {
    struct engine base;
    const struct conf *conf;
    struct dict objects;            /* okey -> struct mem_object */
    struct mem_histories histories; /* objects with a history, the one to expire first first */
    size_t hist_bytes;              /* of the messages kept in them */
    unsigned long long epochs;      /* epochs made */
};

static struct mem_object *object(struct engine_memory *m, const char *okey, int create)
{
    struct mem_object *o = dict_get(&m->objects, okey, strlen(okey));
    if (!o && create) {
        o = oc_calloc(1, sizeof(*o));
        o->okey = oc_strdup(okey);
        data_doc_init(&o->data);
        /* Unique within the process's life and past it (its clock), so that a client's
         * offsets of an object dropped meanwhile are never taken for this one's. */
        snprintf(o->epoch, sizeof(o->epoch), "%lld%03llu", (long long)util_wall_ms(),
                 ++m->epochs % 1000);
        dict_set(&m->objects, okey, strlen(okey), o);
    }
    return o;
}

static size_t hist_item_bytes(const struct mem_hist *h)
{
    return h->env.payload ? h->env.payload->len : h->json_len;
}

static void hist_clear_item(struct engine_memory *m, struct mem_object *o, struct mem_hist *h)
{
    m->hist_bytes -= hist_item_bytes(h);
    o->bytes -= hist_item_bytes(h);
    payload_unref(h->env.payload);
    free(h->instance);
    free(h->to);
    free(h->json);
    memset(h, 0, sizeof(*h));
}

static void hist_clear(struct engine_memory *m, struct mem_object *o)
{
    for (size_t i = 0; i < o->n; i++)
        hist_clear_item(m, o, &o->hist[(o->first + i) % o->cap]);
    if (o->listed)
        TAILQ_REMOVE(&m->histories, o, hlink);
    o->listed = 0;
    free(o->hist);
    o->hist = NULL;
    o->cap = o->first = o->n = 0;
}

static void entry_free(struct mem_entry *e)
{
    free(e->instance);
    participant_free(e->p);
    free(e);
}

static void object_free(struct mem_object *o)
{
    for (struct dict_entry *x = dict_first(&o->entries); x; x = dict_next(&o->entries, x))
        entry_free(x->value);
    dict_free(&o->entries);
    data_doc_clear(&o->data);
    free(o->okey);
    free(o);
}

/* Frees an object that holds nothing worth keeping. */
static void maybe_drop(struct engine_memory *m, struct mem_object *o)
{
    if (o->subscribed || o->entries.count || o->version || o->n)
        return;
    dict_del(&m->objects, o->okey, strlen(o->okey));
    object_free(o);
}

/* Drops the histories past history_ttl (and their objects if nothing else is left). */
static void expire(struct engine_memory *m)
{
    int64_t now = util_monotonic_coarse_ms();
    struct mem_object *o;
    while ((o = TAILQ_FIRST(&m->histories)) && o->hist_until <= now) {
        hist_clear(m, o);
        maybe_drop(m, o);
    }
}

/* Gives env the object's next offset and keeps it in the history; payload (broadcast and
 * emit) is the delivered one, json (data) the saved object. */
static void hist_add(struct engine_memory *m, struct mem_object *o, struct envelope *env)
{
    env->offset = ++o->off;
    env->epoch = o->epoch;
    size_t size = m->conf->history_size > 0 ? (size_t)m->conf->history_size : 0;
    if (size != o->cap) {
        /* history_size changed (a reload): start again with the new size */
        hist_clear(m, o);
        o->cap = size;
        o->hist = size ? oc_calloc(size, sizeof(*o->hist)) : NULL;
    }
    if (!size)
        return;
    struct mem_hist *h;
    if (o->n == o->cap) {
        h = &o->hist[o->first];
        hist_clear_item(m, o, h);
        o->first = (o->first + 1) % o->cap;
        o->n--;
    }
    h = &o->hist[(o->first + o->n++) % o->cap];
    if (o->listed)
        TAILQ_REMOVE(&m->histories, o, hlink);
    TAILQ_INSERT_TAIL(&m->histories, o, hlink);
    o->listed = 1;
    o->hist_until = util_monotonic_coarse_ms() + 1000LL * m->conf->history_ttl;
    h->env = *env;
    h->env.epoch = NULL; /* the object's, set when read */
    h->instance = oc_strdup(env->origin_instance ? env->origin_instance : "");
    h->env.origin_instance = h->instance;
    h->to = env->to ? oc_strdup(env->to) : NULL;
    h->env.to = h->to;
    h->env.payload = env->payload ? payload_ref(env->payload) : NULL;
    h->env.data = NULL;
    if (env->kind == ENVELOPE_DATA) {
        struct buf b = {0};
        data_encode(env->data, &b);
        h->json_len = b.len;
        h->json = buf_detach(&b);
    }
    size_t len = h->env.payload ? h->env.payload->len : h->json_len;
    if (len > m->conf->history_max_bytes) {
        /* Too big to keep: a mark that says so, as engine redis keeps (publish.lua). */
        payload_unref(h->env.payload);
        h->env.payload = NULL;
        free(h->json);
        h->json = NULL;
        h->json_len = 0;
        h->env.missing = 1;
    }
    m->hist_bytes += hist_item_bytes(h);
    o->bytes += hist_item_bytes(h);
    /* Over the object's budget (history_max_bytes), its oldest messages go, as in
     * publish.lua's keep(). */
    while (o->bytes > m->conf->history_max_bytes && o->n > 1) {
        hist_clear_item(m, o, &o->hist[o->first]);
        o->first = (o->first + 1) % o->cap;
        o->n--;
    }
    /* Over the process's budget: the oldest messages of the least recently written
     * histories go (this one last: it is at the tail). */
    while (m->hist_bytes > MEM_HISTORY_BYTES) {
        struct mem_object *x = TAILQ_FIRST(&m->histories);
        if (!x->n)
            break;
        hist_clear_item(m, x, &x->hist[x->first]);
        x->first = (x->first + 1) % x->cap;
        if (--x->n == 0 && x != o) {
            hist_clear(m, x);
            maybe_drop(m, x);
        }
    }
}

static void deliver(struct engine_memory *m, const char *okey, struct mem_object *o,
                    const struct envelope *env)
{
    if (o && o->subscribed && m->base.deliver)
        m->base.deliver(m->base.deliver_privdata, okey, env);
}

static int mem_ready(struct engine *e)
{
    return 1;
}

static void mem_subscribe(struct engine *e, const char *okey)
{
    expire((struct engine_memory *)e);
    object((struct engine_memory *)e, okey, 1)->subscribed = 1;
}

static void mem_unsubscribe(struct engine *e, const char *okey)
{
    struct engine_memory *m = (struct engine_memory *)e;
    struct mem_object *o = object(m, okey, 0);
    if (!o)
        return;
    o->subscribed = 0;
    maybe_drop(m, o);
}

static void mem_publish(struct engine *e, const char *okey, const struct envelope *env,
                        engine_done_fn done, void *privdata)
{
    struct engine_memory *m = (struct engine_memory *)e;
    expire(m);
    struct mem_object *o = object(m, okey, 1);
    struct envelope at = *env;
    at.payload = proto_message_at(env->payload->text, env->payload->len, o->off + 1, o->epoch);
    hist_add(m, o, &at);
    deliver(m, okey, o, &at);
    payload_unref(at.payload);
    maybe_drop(m, o);
    if (done)
        done(privdata, ENGINE_OK);
}

static void mem_presence(struct engine *e, const char *okey, const struct envelope *env,
                         engine_done_fn done, void *privdata)
{
    struct engine_memory *m = (struct engine_memory *)e;
    expire(m);
    struct mem_object *o = object(m, okey, 1);
    struct buf member = {0};
    buf_printf(&member, "%s|%s", env->user_key, env->origin_instance);
    struct mem_entry *old = dict_del(&o->entries, member.p, member.len);
    if (old)
        entry_free(old);
    if (env->participant) {
        struct mem_entry *n = oc_malloc(sizeof(*n));
        n->instance = oc_strdup(env->origin_instance);
        n->p = participant_copy(env->participant);
        dict_set(&o->entries, member.p, member.len, n);
    }
    buf_free(&member);
    struct envelope at = *env;
    at.offset = o->off;
    at.epoch = o->epoch;
    deliver(m, okey, o, &at);
    maybe_drop(m, o);
    if (done)
        done(privdata, ENGINE_OK);
}

static void mem_presence_list(struct engine *e, const char *okey, engine_presence_fn cb,
                              void *privdata)
{
    struct engine_memory *m = (struct engine_memory *)e;
    struct mem_object *o = object(m, okey, 0);
    size_t n = o ? o->entries.count : 0, i = 0;
    const char **instances = oc_calloc(n + 1, sizeof(*instances));
    const struct participant **ps = oc_calloc(n + 1, sizeof(*ps));
    if (o)
        for (struct dict_entry *it = dict_first(&o->entries); it; it = dict_next(&o->entries, it)) {
            struct mem_entry *me = it->value;
            instances[i] = me->instance;
            ps[i++] = me->p;
        }
    cb(privdata, ENGINE_OK, n, instances, ps);
    free(instances);
    free(ps);
}

static void mem_data_get(struct engine *e, const char *okey, engine_data_fn cb, void *privdata)
{
    struct engine_memory *m = (struct engine_memory *)e;
    struct mem_object *o = object(m, okey, 0);
    struct data_doc empty;
    data_doc_init(&empty);
    struct engine_data d = {.doc = o ? &o->data : &empty,
                            .version = o ? o->version : 0,
                            .updated_at = o ? o->updated_at : 0};
    cb(privdata, ENGINE_OK, &d);
    data_doc_clear(&empty);
}

static void mem_data_save(struct engine *e, const char *okey, const struct engine_save *req,
                          engine_data_fn cb, void *privdata)
{
    struct engine_memory *m = (struct engine_memory *)e;
    expire(m);
    struct mem_object *o = object(m, okey, 1);
    if (req->if_version >= 0 && req->if_version != o->version) {
        cb(privdata, ENGINE_CONFLICT, NULL);
        maybe_drop(m, o);
        return;
    }
    const char *err = NULL;
    int rc = data_apply(&o->data, req->update, req->merge, req->max_bytes, &err);
    if (rc != 0) {
        cb(privdata, rc == DATA_TOO_LARGE ? ENGINE_TOO_LARGE : ENGINE_ERROR, NULL);
        maybe_drop(m, o);
        return;
    }
    o->version++;
    o->updated_at = (long long)time(NULL);
    struct envelope env = {.kind = ENVELOPE_DATA,
                           .origin_instance = req->origin_instance,
                           .origin_sid = req->origin_sid,
                           .data = &o->data,
                           .version = o->version,
                           .updated_at = o->updated_at};
    hist_add(m, o, &env);
    deliver(m, okey, o, &env);
    struct engine_data d = {.doc = &o->data, .version = o->version, .updated_at = o->updated_at};
    cb(privdata, ENGINE_OK, &d);
}

static void mem_history(struct engine *e, const char *okey, long long after, size_t max_bytes,
                        engine_history_fn cb, void *privdata)
{
    struct engine_memory *m = (struct engine_memory *)e;
    expire(m);
    struct mem_object *o = object(m, okey, 1);
    /* The newest messages after `after` that fit in max_bytes. */
    size_t from = o->n, bytes = 0;
    while (from > 0) {
        struct mem_hist *h = &o->hist[(o->first + from - 1) % o->cap];
        size_t len = h->env.payload ? h->env.payload->len : h->json_len;
        if (h->env.offset <= after || bytes + len > max_bytes)
            break;
        bytes += len;
        from--;
    }
    size_t n = o->n - from;
    struct envelope *envs = oc_calloc(n + 1, sizeof(*envs));
    struct data_doc *docs = oc_calloc(n + 1, sizeof(*docs));
    size_t k = 0;
    for (size_t i = from; i < o->n; i++) {
        struct mem_hist *h = &o->hist[(o->first + i) % o->cap];
        envs[k] = h->env;
        envs[k].epoch = o->epoch;
        data_doc_init(&docs[k]);
        if (h->env.kind == ENVELOPE_DATA && !h->env.missing) {
            const char *err;
            if (data_parse(h->json, h->json_len, &docs[k], &err) != 0)
                continue; /* made by data_encode(): cannot happen */
            envs[k].data = &docs[k];
        }
        k++;
    }
    cb(privdata, ENGINE_OK, o->epoch, o->off, k, envs);
    for (size_t i = 0; i < k; i++)
        data_doc_clear(&docs[i]);
    free(docs);
    free(envs);
    maybe_drop(m, o);
}

static size_t mem_pending(struct engine *e)
{
    return 0;
}

static void mem_free(struct engine *e)
{
    struct engine_memory *m = (struct engine_memory *)e;
    for (struct dict_entry *it = dict_first(&m->objects); it; it = dict_next(&m->objects, it)) {
        hist_clear(m, it->value);
        object_free(it->value);
    }
    dict_free(&m->objects);
    free(m);
}

static void mem_overview(struct engine *base, engine_overview_fn cb, void *privdata)
{
    struct engine_overview none = {.latency_ms = -1};
    cb(privdata, ENGINE_OK, &none);
}

static const struct engine_ops memory_ops = {
    .name = "memory",
    .ready = mem_ready,
    .free = mem_free,
    .pending = mem_pending,
    .subscribe = mem_subscribe,
    .unsubscribe = mem_unsubscribe,
    .publish = mem_publish,
    .presence = mem_presence,
    .presence_list = mem_presence_list,
    .data_get = mem_data_get,
    .data_save = mem_data_save,
    .history = mem_history,
    .overview = mem_overview,
};

struct engine *engine_memory_new(const struct conf *conf, const char *instance_id)
{
    struct engine_memory *m = oc_calloc(1, sizeof(*m));
    m->base.ops = &memory_ops;
    m->base.instance_id = instance_id;
    m->conf = conf;
    TAILQ_INIT(&m->histories);
    return &m->base;
}
