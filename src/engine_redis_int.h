#ifndef OC_ENGINE_REDIS_INT_H
#define OC_ENGINE_REDIS_INT_H

/*
 * Inside engine redis: what its files share, and nothing else includes.
 *
 *   engine_redis.c           state, lifecycle, subscriptions, channel messages in, publish,
 *                            data get and save
 *   engine_redis_route.c     nodes and routing: which connection a key goes to; in a Redis
 *                            Cluster the slot map, its refresh, MOVED and ASK
 *   engine_redis_presence.c  presence entries and snapshots (a replica's bootstrap)
 *   engine_redis_house.c     the tick: heartbeat and generation, reaping dead generations,
 *                            instances registry
 *   engine_redis_script.c    the Lua scripts (src/lua/): SCRIPT LOAD, EVALSHA, EVAL
 */

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dict.h"
#include "engine.h"
#include "redis_conn.h"

struct event;

/* A presence_list (cb) or history read (hcb) waiting for the channel's subscription to be
 * confirmed. */
struct list_wait {
    engine_presence_fn cb;
    engine_history_fn hcb;
    long long after;  /* history: its arguments */
    size_t max_bytes;
    void *privdata;
    struct list_wait *next;
};

/* A channel message kept while a snapshot is being read. */
struct held {
    char *text; /* the message, owned */
    size_t len;
    struct held *next;
};

struct node;

/* An object's channel, while this instance wants its messages. */
struct chan {
    char *okey;                     /* okey.h: "ws:obj", both encoded */
    char *name;                     /* the Redis channel */
    int slot;                       /* its cluster slot */
    struct node *node;              /* where its SUBSCRIBE was last sent, NULL for nowhere */
    int confirmed;                  /* SUBSCRIBE acknowledged on the current connection */
    int resubscribed;               /* subscribed before: messages may have been missed
                                       (cluster: its replica is read again when confirmed) */
    int snapping;                   /* snapshots in flight: messages are held */
    long long snap_seq;             /* presence envelopes up to this are in the last snapshot */
    long long off;                  /* the offset of the last message delivered, 0 for none */
    char *epoch;                    /* the epoch of off, NULL for none yet */
    long long gap_to;               /* a history read in flight for the messages before this
                                       one (0: whatever is newer than off) */
    int filling;                    /* that read is in flight */
    struct list_wait *waits;        /* presence_list and history calls waiting for confirmed,
                                       newest first */
    struct held *held, **held_tail; /* messages held while snapping, oldest first */
};

/* An entry this instance owns: stored again under a new generation. */
struct local {
    char *okey;
    char *member; /* "user|instance" */
};

/* An object this instance has entries on: it is in the object index of a generation
 * (engine_redis_index_key), so that whoever reaps that generation finds it. */
struct owned {
    unsigned count; /* entries (struct local) on it */
    long long gen;  /* the generation whose index holds it, 0 for none yet */
};

struct data_call;
struct reap_job;

/* A Redis server this instance talks to: the one Redis, or a master of the cluster (or a
 * seed node while the map is not known). Never freed before the engine. */
struct node {
    struct engine_redis *e;
    char *addr;                  /* "host:port", its key in e->nodes */
    char *host;
    int port;
    struct redis_conn *cmd;      /* commands and scripts */
    struct redis_conn *sub;      /* (S)SUBSCRIBE only; cluster: made when it is a master */
    struct dict sub_due;         /* channel name -> subscription commands sent on sub and
                                    not answered (a count) */
    struct data_call *wait_next; /* saves waiting for the next WAIT (redis_wait_replicas) */
    int wait_busy;               /* a WAIT is in flight on cmd */
    int replicas_short;          /* the last WAIT got fewer replicas than asked: saves are
                                    answered unavailable at once, without holding cmd in a
                                    WAIT, until ROLE shows enough replicas again */
    int replicas_warned;         /* ... and that was logged */
};

struct engine_redis {
    struct engine base;
    struct event_base *evbase;
    const struct conf *conf;
    int cluster;            /* redis_cluster yes */
    struct dict nodes;      /* addr -> struct node */
    struct node *single;    /* not a cluster: the one Redis */
    struct node **slots;           /* cluster: slot -> its master's node (CLUSTER_SLOTS) */
    int map_ok;                    /* cluster: every slot has a master */
    int refreshing;                /* cluster: CLUSTER SLOTS in flight */
    struct event *refresh;         /* cluster: the next refresh of the map */
    struct dict slotqs;            /* cluster: slot -> commands waiting behind one that was
                                      redirected (engine_redis_route.c) */
    struct dict chans;      /* okey -> struct chan */
    struct dict by_name;    /* channel name -> struct chan */
    struct dict locals;     /* okey "\n" member -> struct local */
    struct dict owned;      /* okey -> struct owned */
    struct event *tick;     /* once a second: heartbeat, reaping, instances */
    unsigned ticks;
    int outage; /* a connection went down since both were last up */
    /* Liveness (engine_redis_house.c): presence entries are stored under this instance's
     * current generation; when it is declared dead, or was cut off from Redis, it takes a
     * new one and stores its entries again, and its old generation is reaped. */
    long long gen;               /* 0: none yet (not ready) */
    int gen_ok;                  /* the last heartbeat on the current connections set it */
    int renew;                   /* the next heartbeat must take a new generation */
    int house_busy;              /* a heartbeat is in flight */
    int64_t beat_sent_us;        /* when it was sent (util_monotonic_us) */
    double beat_rtt_ms;          /* the last heartbeat's round trip, -1 before one */
    int64_t declare_after_ms;    /* after an outage, other instances get time to come back
                                    and beat before any is declared dead */
    struct reap_job *job;        /* the dead generation this instance is reaping, if any */
    struct data_call *wait_next; /* saves waiting for the next WAIT (redis_wait_replicas) */
    int wait_busy;               /* a WAIT is in flight */
};

/* --- engine_redis.c ---------------------------------------------------------------------- */

/* Empties b and writes the key {prefix}:{okey}:suffix into it. */
void engine_redis_key(struct buf *b, const struct engine_redis *e, const char *okey,
                      const char *suffix);
/* 1 when the engine can serve: connected (cluster: the slot map known) and its heartbeat
 * current. */
int engine_redis_ready(struct engine *base);
/* Decodes one message of ch's channel and delivers it. Presence envelopes numbered at or
 * below min_seq are already in the replica's snapshot and are dropped. Messages come in
 * the order of their offsets: one already delivered is dropped, and one after a gap is
 * held while the missing ones are read from the object's history (history_since.lua).
 * from_history: a message of that read (no gap check). */
void engine_redis_deliver(struct engine_redis *e, struct chan *ch, const char *text, size_t len,
                          long long min_seq, int from_history);
/* The history engine op; engine_redis_history_read() reads at once (the channel, if any, is
 * confirmed). */
void engine_redis_history(struct engine *base, const char *okey, long long after,
                          size_t max_bytes, engine_history_fn cb, void *privdata);
void engine_redis_history_read(struct engine_redis *e, const char *okey, long long after,
                               size_t max_bytes, engine_history_fn cb, void *privdata);
/* Reads the messages of ch after ch->off from the object's history and delivers them,
 * holding the channel's messages meanwhile; gap_to: the offset that showed the gap (0 for
 * none: after a new subscription). */
void engine_redis_fill(struct engine_redis *e, struct chan *ch, long long gap_to);

/* Answers an engine_done_fn with whether Redis took the command. */
struct done_call {
    engine_done_fn done;
    void *privdata;
};
/* A redis_reply_fn for a struct done_call (freed here) as privdata. */
void engine_redis_done_reply(struct redis_conn *rc, struct redisReply *r, void *privdata);

/* --- engine_redis_route.c ---------------------------------------------------------------- */

/* 1 when the engine can send: both connections up (cluster: the slot map known). */
int engine_redis_connected(const struct engine_redis *e);
/* The node serving slot (any slot when not a cluster), NULL when none is known. */
struct node *engine_redis_route(struct engine_redis *e, int slot);
/* The node of a redis_conn of the engine. */
struct node *engine_redis_node_of(struct redis_conn *rc);
/* The slot of a key or channel name (0 when not a cluster). */
int engine_redis_slot(const struct engine_redis *e, const char *key, size_t len);
/* Sends a command to the node of key. In a cluster, argv is copied and a MOVED, ASK or
 * TRYAGAIN is followed; the callback gets the final reply. Returns 0, or -1 when no
 * connection can take it now (cb is then not called). cb may be NULL. */
int engine_redis_send(struct engine_redis *e, const char *key, size_t klen, redis_reply_fn cb,
                      void *privdata, int argc, const char **argv, const size_t *lens);
/* The same to slot, with argv borrowed: it must stay as it is until cb is called. */
int engine_redis_send_slot(struct engine_redis *e, int slot, redis_reply_fn cb, void *privdata,
                           int argc, const char **argv, const size_t *lens);
/* Makes the nodes of conf's redis_url and starts connecting. */
void engine_redis_route_start(struct engine_redis *e);
/* Frees every node (their connections answer what waits with NULL first) and the map. */
void engine_redis_route_free(struct engine_redis *e);
/* Cluster: reads the map again soon (after delay_ms), unless a read is due sooner. */
void engine_redis_refresh_soon(struct engine_redis *e, int delay_ms);
/* Commands in flight on every node. */
size_t engine_redis_route_pending(struct engine_redis *e);

/* Called by engine_redis_route.c (defined in engine_redis.c): */
/* A connection of node came up or went down. */
void engine_redis_node_state(struct node *n, struct redis_conn *rc, int up);
/* A message of a subscriber connection of node. */
void engine_redis_node_message(struct node *n, struct redisReply *r);
/* Cluster: slots changed master: channels in them move to their new node. */
void engine_redis_slots_moved(struct engine_redis *e);

/* --- engine_redis_presence.c ------------------------------------------------------------- */

/* The presence and presence_list engine ops. */
void engine_redis_presence(struct engine *base, const char *okey, const struct envelope *env,
                           engine_done_fn done, void *privdata);
void engine_redis_presence_list(struct engine *base, const char *okey, engine_presence_fn cb,
                                void *privdata);
/* Keeps a copy of a message that came while ch->snapping, for after the snapshot. */
void engine_redis_hold(struct chan *ch, const char *text, size_t len);
/* ch's subscription is confirmed: the presence_list and history calls waiting for it read
 * now. */
void engine_redis_run_waits(struct engine_redis *e, struct chan *ch);

/* --- engine_redis_house.c ---------------------------------------------------------------- */

/* Starts the once-a-second tick (e->tick; the caller frees it with event_free). */
void engine_redis_house_start(struct engine_redis *e);
/* Sends a heartbeat now (unless one is in flight): after a reconnect, or with e->renew
 * set when a write of this instance was refused as dead. */
void engine_redis_beat(struct engine_redis *e);
/* A heartbeat could not be made: others are not declared dead until presence_ttl + 6 s
 * after. */
void engine_redis_beat_failed(struct engine_redis *e);
/* Writes the key of gen's object index: {prefix}:{instance}:objects:gen. */
void engine_redis_index_key(struct buf *b, const struct engine_redis *e, long long gen);
/* Writes this instance's entry in the instances registry. */
void engine_redis_publish_stats(struct engine_redis *e);
/* The engine's overview op: the instances registry, read with Redis's INFO. */
void engine_redis_overview(struct engine *base, engine_overview_fn cb, void *privdata);

/* --- engine_redis.c, for the tick ---------------------------------------------------------- */

/* Asks each node short of replicas (struct node) whether they are back (ROLE). */
void engine_redis_probe_replicas(struct engine_redis *e);

/* --- engine_redis_script.c --------------------------------------------------------------- */

/* A Lua script of src/lua/ and its SHA1 for EVALSHA. */
struct script {
    const char *name; /* in logs */
    const char *src;  /* the embedded text (lua_scripts.h) */
    char sha[41];     /* hex, set by engine_redis_scripts_init() */
    char *csrc;       /* the cluster variant: SPUBLISH for PUBLISH; made once, kept */
    char csha[41];
};

extern struct script script_presence_set, script_presence_reap, script_presence_snapshot,
    script_data_get, script_data_save, script_instances_refresh, script_house, script_publish,
    script_history_since, script_epoch_renew;

/* Computes every script's SHA1 (once per process). */
void engine_redis_scripts_init(void);
/* Sends every script's source (SCRIPT LOAD) on a new command connection. */
void engine_redis_scripts_load(struct engine_redis *e, struct redis_conn *cmd);
/* Runs s with nkeys keys then arguments: words[0..nwords), whose storage is taken in every
 * case (each is left empty). Returns 0, or -1 when Redis is down (cb is then not called).
 * cb may be NULL. */
int engine_redis_run_script(struct engine_redis *e, struct script *s, int nkeys, struct buf *words,
                            int nwords, redis_reply_fn cb, void *privdata);

#endif
