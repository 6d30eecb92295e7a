#ifndef OC_ENGINE_H
#define OC_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "data.h"
#include "payload.h"
#include "presence.h"

/*
 * The engine: what must be shared between instances. Every call is asynchronous and answers
 * through a callback with a void *privdata; an engine may call back before the call returns
 * (engine memory does) or later (engine redis). Objects are named by their key "ws:obj"
 * (the Redis hash tag); nothing here knows what a connection is.
 *
 * Every envelope published on an object reaches every instance subscribed to it, this one
 * included, through the deliver callback, in one order per object.
 */

enum engine_status {
    ENGINE_OK = 0,
    ENGINE_UNAVAILABLE, /* the engine cannot be reached (Redis down) */
    ENGINE_CONFLICT,    /* ifVersion did not match */
    ENGINE_TOO_LARGE,   /* the saved data would exceed the limit */
    ENGINE_ERROR,       /* anything else */
};

enum envelope_kind {
    ENVELOPE_BROADCAST, /* payload to every connection on the object but the origin (or echo) */
    ENVELOPE_EMIT,      /* payload to every connection of user `to` */
    ENVELOPE_PRESENCE,  /* an instance's entry for a user was set or removed */
    ENVELOPE_DATA,      /* the saved data changed */
};

/* What travels through an object's channel. Everything is borrowed for the call. */
struct envelope {
    enum envelope_kind kind;
    const char *origin_instance; /* the instance whose client caused it */
    uint64_t origin_sid;         /* that client's session id (0: the server API) */
    /* The place in the object's order (docs/protocol.md section 10), set by the engine on
     * what it delivers: broadcast, emit and data, the message's offset (0: none); presence,
     * the object's offset when the change was made (-1: not known) */
    long long offset;
    const char *epoch;           /* the order's epoch, NULL when not known */
    int missing;                 /* read from a history that kept only a mark of it (bigger
                                    than history_max_bytes): no payload or data, the rest is
                                    there */
    /* broadcast and emit */
    struct payload *payload;     /* the encoded ovice_message; as delivered, with its offset
                                    and epoch in it */    int echo;                    /* broadcast: the origin gets it too */
    const char *to;              /* emit: the user key of the recipient */
    /* presence */
    const char *user_key;        /* whose entry */
    const struct participant *participant; /* the entry, NULL when removed */
    const char *object_id;       /* the object as clients name it (stored with the entry) */
    /* data */
    const struct data_doc *data; /* the stored data after the save */
    long long version;
    long long updated_at;
};

/* A stored object's data, as data_get and data_save answer it. Borrowed for the call. */
struct engine_data {
    const struct data_doc *doc;
    long long version;    /* 0 before the first save */
    long long updated_at; /* unix seconds of the last save, 0 before */
};

/* A save request. */
struct engine_save {
    const struct data_doc *update; /* the payload, parsed */
    int merge;                     /* merge top-level keys (null deletes) instead of replace */
    long long if_version;          /* -1: save whatever the version */
    size_t max_bytes;              /* limit of the stored object as compact JSON */
    const char *origin_instance;   /* for the ENVELOPE_DATA it publishes */
    uint64_t origin_sid;
};

typedef void (*engine_deliver_fn)(void *privdata, const char *okey, const struct envelope *env);
/* The engine was cut off and is back: envelopes of okey (NULL: of every object) may have
 * been missed, so its replica must be read again and the local entries stored again. */
typedef void (*engine_reset_fn)(void *privdata, const char *okey);
/* Appends this instance's entry of the instances registry as JSON members ("id":...,
 * "connections":N,...; docs/operations.md, "Status"). */
typedef void (*engine_stats_fn)(void *privdata, struct buf *out);
typedef void (*engine_done_fn)(void *privdata, enum engine_status st);
typedef void (*engine_data_fn)(void *privdata, enum engine_status st,
                               const struct engine_data *data);
/* The entries of an object's presence: parallel arrays of n instance ids and participants. */
typedef void (*engine_presence_fn)(void *privdata, enum engine_status st, size_t n,
                                   const char *const *instances,
                                   const struct participant *const *participants);

/* The instances registry and Redis's health, for /api/v1/status (docs/operations.md,
 * "Status"). Borrowed for the call. */
struct engine_overview {
    size_t n;                   /* the instances' entries, as each published its own */
    const char *const *entries;
    const size_t *lens;
    int cluster;                /* Redis Cluster */
    double latency_ms;          /* this read's round trip; -1 without Redis */
    const char *info;           /* Redis's INFO answer (of the node read), NULL without */
    size_t info_len;
};
typedef void (*engine_overview_fn)(void *privdata, enum engine_status st,
                                   const struct engine_overview *o);

/* A resume's read of an object's history: the object's epoch ("" when it has none yet) and
 * last offset, and the n messages after the offset asked for that the history still holds,
 * oldest first, as delivered (offset and epoch set). n is less than last - after when the
 * history does not reach back that far, or its messages would not fit in max_bytes. */
typedef void (*engine_history_fn)(void *privdata, enum engine_status st, const char *epoch,
                                  long long last, size_t n, const struct envelope *envs);

struct engine;

struct engine_ops {
    const char *name;
    /* 1 when the engine can serve (always for memory). */
    int (*ready)(struct engine *e);
    void (*free)(struct engine *e);
    /* Requests sent and not answered yet (shutdown waits for them). */
    size_t (*pending)(struct engine *e);
    /* This instance wants (or no longer wants) the envelopes of okey. */
    void (*subscribe)(struct engine *e, const char *okey);
    void (*unsubscribe)(struct engine *e, const char *okey);
    /* Publishes a broadcast or emit envelope; done tells whether the engine took it. */
    void (*publish)(struct engine *e, const char *okey, const struct envelope *env,
                    engine_done_fn done, void *privdata);
    /* Stores (env->participant) or removes (NULL) this instance's entry for env->user_key
     * and publishes env, atomically. */
    void (*presence)(struct engine *e, const char *okey, const struct envelope *env,
                     engine_done_fn done, void *privdata);
    /* Every entry of okey's presence, for bootstrapping a replica. */
    void (*presence_list)(struct engine *e, const char *okey, engine_presence_fn cb,
                          void *privdata);
    void (*data_get)(struct engine *e, const char *okey, engine_data_fn cb, void *privdata);
    /* Saves atomically, publishes ENVELOPE_DATA, then answers cb with the stored data. */
    void (*data_save)(struct engine *e, const char *okey, const struct engine_save *req,
                      engine_data_fn cb, void *privdata);
    /* The messages of okey after offset `after` (history_size at most, and max_bytes of
     * them). When this instance is subscribed to okey, read once the subscription is
     * confirmed: every message published after the read is delivered after the subscribe. */
    void (*history)(struct engine *e, const char *okey, long long after, size_t max_bytes,
                    engine_history_fn cb, void *privdata);
    /* The instances registry and the engine's health. Engine memory has no registry: it
     * answers with no entries. */
    void (*overview)(struct engine *e, engine_overview_fn cb, void *privdata);
};

/* The common part of every engine; implementations embed it first. */
struct engine {
    const struct engine_ops *ops;
    const char *instance_id;   /* this instance, borrowed */
    engine_deliver_fn deliver; /* set by the registry */
    engine_reset_fn reset;     /* set by the registry */
    void *deliver_privdata;    /* for deliver and reset */
    engine_stats_fn stats;     /* set by the server */
    void *stats_privdata;
};

/* engine_memory.c: one process, everything in memory; conf's history_size and history_ttl
 * (read at each use) size the objects' histories. */
struct engine *engine_memory_new(const struct conf *conf, const char *instance_id);

struct event_base;
/* engine_redis.c: Redis pub/sub and hashes (docs/operations.md, "Redis"), shared by
 * instances. */
struct engine *engine_redis_new(struct event_base *base, const struct conf *conf,
                                const char *instance_id);

#endif
