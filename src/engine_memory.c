/* engine memory: one process, every object in a table. Callbacks run before the call
 * returns, and deliveries happen in call order, which is the one order per object. */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "dict.h"
#include "engine.h"

struct mem_entry {
    char *instance;
    struct participant *p;
};

struct mem_object {
    int subscribed;          /* this (only) instance wants its envelopes */
    struct dict entries;     /* "user|instance" -> struct mem_entry */
    struct data_doc data;    /* saved data */
    long long version;       /* saves so far */
    long long updated_at;    /* unix seconds of the last save */
};

struct engine_memory {
    struct engine base;
    struct dict objects; /* okey -> struct mem_object */
};

static struct mem_object *object(struct engine_memory *m, const char *okey, int create)
{
    struct mem_object *o = dict_get(&m->objects, okey, strlen(okey));
    if (!o && create) {
        o = oc_calloc(1, sizeof(*o));
        data_doc_init(&o->data);
        dict_set(&m->objects, okey, strlen(okey), o);
    }
    return o;
}

static void entry_free(struct mem_entry *e)
{
    free(e->instance);
    participant_free(e->p);
    free(e);
}

/* Frees an object that holds nothing worth keeping. */
static void maybe_drop(struct engine_memory *m, const char *okey, struct mem_object *o)
{
    if (o->subscribed || o->entries.count || o->version)
        return;
    dict_del(&m->objects, okey, strlen(okey));
    dict_free(&o->entries);
    data_doc_clear(&o->data);
    free(o);
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
    object((struct engine_memory *)e, okey, 1)->subscribed = 1;
}

static void mem_unsubscribe(struct engine *e, const char *okey)
{
    struct engine_memory *m = (struct engine_memory *)e;
    struct mem_object *o = object(m, okey, 0);
    if (!o)
        return;
    o->subscribed = 0;
    maybe_drop(m, okey, o);
}

static void mem_publish(struct engine *e, const char *okey, const struct envelope *env,
                        engine_done_fn done, void *privdata)
{
    struct engine_memory *m = (struct engine_memory *)e;
    deliver(m, okey, object(m, okey, 0), env);
    if (done)
        done(privdata, ENGINE_OK);
}

static void mem_presence(struct engine *e, const char *okey, const struct envelope *env,
                         engine_done_fn done, void *privdata)
{
    struct engine_memory *m = (struct engine_memory *)e;
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
    deliver(m, okey, o, env);
    maybe_drop(m, okey, o);
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
    struct mem_object *o = object(m, okey, 1);
    if (req->if_version >= 0 && req->if_version != o->version) {
        cb(privdata, ENGINE_CONFLICT, NULL);
        maybe_drop(m, okey, o);
        return;
    }
    const char *err = NULL;
    int rc = data_apply(&o->data, req->update, req->merge, req->max_bytes, &err);
    if (rc != 0) {
        cb(privdata, rc == DATA_TOO_LARGE ? ENGINE_TOO_LARGE : ENGINE_ERROR, NULL);
        maybe_drop(m, okey, o);
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
    deliver(m, okey, o, &env);
    struct engine_data d = {.doc = &o->data, .version = o->version, .updated_at = o->updated_at};
    cb(privdata, ENGINE_OK, &d);
}

static size_t mem_pending(struct engine *e)
{
    return 0;
}

static void mem_free(struct engine *e)
{
    struct engine_memory *m = (struct engine_memory *)e;
    for (struct dict_entry *it = dict_first(&m->objects); it; it = dict_next(&m->objects, it)) {
        struct mem_object *o = it->value;
        for (struct dict_entry *x = dict_first(&o->entries); x; x = dict_next(&o->entries, x))
            entry_free(x->value);
        dict_free(&o->entries);
        data_doc_clear(&o->data);
        free(o);
    }
    dict_free(&m->objects);
    free(m);
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
};

struct engine *engine_memory_new(const char *instance_id)
{
    struct engine_memory *m = oc_calloc(1, sizeof(*m));
    m->base.ops = &memory_ops;
    m->base.instance_id = instance_id;
    return &m->base;
}
