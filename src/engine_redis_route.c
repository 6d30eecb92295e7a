/*
 * engine redis: nodes and routing, which connection a key goes to.
 *
 * With one Redis there is one node, and every command goes to its command connection as it
 * is. In a Redis Cluster (redis_cluster yes) there is a node per master, each with a command
 * and a sharded pub/sub connection, and a command goes to the master of its key's slot. The
 * slot map comes from CLUSTER SLOTS, read from any node that answers: at start, soon after
 * a MOVED or a lost connection, and every REFRESH_MS. A MOVED updates the slot at once and
 * the command goes again to the node it names; an ASK sends ASKING and the command there,
 * once; a TRYAGAIN (a script whose keys are split by a migration under way) is sent again a
 * little later, and the slot's later commands wait behind it (a queue per slot, below).
 * When a slot changes master, the channels in it move to the new node
 * (engine_redis_slots_moved): subscribed there, and once confirmed their replicas are read
 * again, with the presence resync of an outage, and what they missed is read back from
 * each object's history.
 */

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_slots.h"
#include "engine_redis_int.h"
#include "log.h"
#include "metrics.h"
#include "redis_cluster_map.h"
#include "util.h"

/* The map is read again this often when nothing prompts it sooner. */
#define REFRESH_MS 10000
/* ... and this often while a master of it does not answer. */
#define POLL_MS 250
/* Redirects one command may follow before it fails. */
#define MAX_HOPS 5
/* TRYAGAIN: the command is sent again after this, at most TRYAGAIN_MAX times. */
#define TRYAGAIN_MS 25
#define TRYAGAIN_MAX 40
/* Commands that may wait in one slot's queue: past it, new ones are refused (unavailable)
 * rather than piling up while a slot stays in migration. */
#define SLOTQ_MAX 10000

int engine_redis_slot(const struct engine_redis *e, const char *key, size_t len)
{
    return e->cluster ? cluster_key_slot(key, len) : 0;
}

struct node *engine_redis_route(struct engine_redis *e, int slot)
{
    if (!e->cluster)
        return e->single;
    return slot >= 0 && slot < CLUSTER_SLOTS ? e->slots[slot] : NULL;
}

struct node *engine_redis_node_of(struct redis_conn *rc)
{
    return redis_conn_privdata(rc);
}

int engine_redis_connected(const struct engine_redis *e)
{
    if (e->cluster)
        return e->map_ok;
    return redis_conn_up(e->single->cmd) && redis_conn_up(e->single->sub);
}

/* --- nodes ------------------------------------------------------------------------------- */

static void on_state(struct redis_conn *rc, int up, void *privdata)
{
    engine_redis_node_state(privdata, rc, up);
}

static void on_message(struct redis_conn *rc, redisReply *r, void *privdata)
{
    engine_redis_node_message(privdata, r);
}

/* The node of host:port, made (and connecting) when new. sub: it gets its subscriber
 * connection too (a master). */
static struct node *node_get(struct engine_redis *e, const char *host, int port, int sub)
{
    struct buf addr = {0};
    buf_printf(&addr, "%s:%d", host, port);
    struct node *n = dict_get(&e->nodes, addr.p, addr.len);
    if (!n) {
        n = oc_calloc(1, sizeof(*n));
        n->e = e;
        n->host = oc_strdup(host);
        n->port = port;
        n->addr = buf_detach(&addr);
        dict_set(&e->nodes, n->addr, strlen(n->addr), n);
        n->cmd = redis_conn_new_at(e->evbase, e->conf, host, port, e->base.instance_id, 0, on_state,
                                   NULL, n);
    }
    buf_free(&addr);
    if (sub && !n->sub)
        n->sub = redis_conn_new_at(e->evbase, e->conf, host, port, e->base.instance_id, 1, on_state,
                                   on_message, n);
    return n;
}

void engine_redis_route_start(struct engine_redis *e)
{
    const struct conf *c = e->conf;
    if (!e->cluster) {
        e->single = node_get(e, c->redis_host, c->redis_port, 1);
        return;
    }
    e->slots = oc_calloc(CLUSTER_SLOTS, sizeof(*e->slots));
    for (int i = 0; i < c->redis_nhosts; i++)
        node_get(e, c->redis_hosts[i].host, c->redis_hosts[i].port, 0);
    engine_redis_refresh_soon(e, REFRESH_MS);
}

/* --- sending ----------------------------------------------------------------------------- */

/*
 * A command in a cluster is kept until its final reply, so that it can go again. Commands of
 * one slot keep their order even when Redis turns some away: once one is redirected (ASK,
 * MOVED) or told to try again (TRYAGAIN, a migration under way), the slot gets a queue. The
 * redirected commands go in first, in the order their replies came (the order they were
 * sent), then every command sent for the slot meanwhile; the queue sends its head alone and
 * the next once the head is answered, until it is empty. A plugin's messages thus reach
 * every instance in the order it sent them, resharding or not.
 */
struct slotq;

struct routed {
    struct engine_redis *e;
    int argc;
    const char **argv;
    size_t *lens;
    int owned; /* argv (and its strings) is ours to free */
    redis_reply_fn cb;
    void *privdata;
    int slot;
    int hops;
    int tries;
    struct node *ask; /* ASK: where it goes next, after ASKING */
    struct slotq *q;  /* the queue it is in, NULL when sent directly */
    struct routed *next;
};

struct slotq {
    int slot;
    struct routed *head, *tail;
    struct routed *last_retry; /* the last of the redirected commands at the front */
    size_t len;                /* commands in it */
    int busy;                  /* the head is in flight, or waiting for its retry */
    struct event *timer;       /* TRYAGAIN: the head goes again when it fires */
};

static void routed_free(struct routed *c)
{
    if (c->owned) {
        for (int i = 0; i < c->argc; i++)
            free((char *)c->argv[i]);
        free(c->argv);
        free(c->lens);
    }
    free(c);
}

static void routed_reply(struct redis_conn *rc, redisReply *r, void *privdata);

/* Sends c to n (after ASKING when asking). Returns 0, or -1 when n cannot take it now. */
static int routed_send(struct routed *c, struct node *n, int asking)
{
    if (!n || !redis_conn_up(n->cmd))
        return -1;
    if (asking) {
        /* ASKING lets the next command in the importing slot; replies come in order and
         * nothing else is written between the two. */
        const char *argv[] = {"ASKING"};
        size_t lens[] = {6};
        if (redis_conn_command(n->cmd, NULL, NULL, 1, argv, lens) != 0)
            return -1;
    }
    return redis_conn_command(n->cmd, routed_reply, c, c->argc, c->argv, c->lens);
}

/* Writes slot's key in e->slotqs to buf; returns its length. */
static size_t slot_name(int slot, char buf[8])
{
    return (size_t)snprintf(buf, 8, "%d", slot);
}

static struct slotq *slotq_get(struct engine_redis *e, int slot)
{
    char k[8];
    size_t klen = slot_name(slot, k);
    struct slotq *q = dict_get(&e->slotqs, k, klen);
    if (!q) {
        q = oc_calloc(1, sizeof(*q));
        q->slot = slot;
        dict_set(&e->slotqs, k, klen, q);
    }
    return q;
}

static void slotq_free(struct engine_redis *e, struct slotq *q)
{
    char k[8];
    size_t klen = slot_name(q->slot, k);
    dict_del(&e->slotqs, k, klen);
    if (q->timer)
        event_free(q->timer);
    free(q);
}

static void q_kick(struct engine_redis *e, struct slotq *q);

/* c is answered for good: its callback, then the next of its queue. */
static void routed_done(struct routed *c, struct redis_conn *rc, redisReply *r)
{
    struct slotq *q = c->q;
    struct engine_redis *e = c->e;
    if (q) {
        q->len--;
        q->head = c->next;
        if (!q->head)
            q->tail = NULL;
        if (q->last_retry == c)
            q->last_retry = NULL;
        q->busy = 0;
    }
    if (c->cb)
        c->cb(rc, r, c->privdata);
    routed_free(c);
    if (q)
        q_kick(e, q);
}

/* Sends the head of q, unless it is in flight already. */
static void q_kick(struct engine_redis *e, struct slotq *q)
{
    while (!q->busy && q->head) {
        struct routed *c = q->head;
        struct node *to = c->ask ? c->ask : engine_redis_route(e, c->slot);
        int asking = c->ask != NULL;
        c->ask = NULL;
        if (routed_send(c, to, asking) == 0) {
            q->busy = 1;
            return;
        }
        routed_done(c, NULL, NULL); /* cannot go now: unavailable; the next is tried */
        return;
    }
    if (!q->head)
        slotq_free(e, q);
}

static void on_tryagain(evutil_socket_t fd, short what, void *arg)
{
    struct slotq *q = arg;
    struct routed *c = q->head;
    q->busy = 0;
    q_kick(c->e, q);
}

/* c was turned away: into its slot's queue, behind the commands turned away before it. */
static void requeue(struct routed *c)
{
    struct slotq *q = c->q;
    if (!q) {
        q = c->q = slotq_get(c->e, c->slot);
        if (q->last_retry) {
            c->next = q->last_retry->next;
            q->last_retry->next = c;
        } else {
            c->next = q->head;
            q->head = c;
        }
        if (!c->next)
            q->tail = c;
        q->last_retry = c;
        q->len++;
    } else {
        q->busy = 0; /* it is the head: it goes again */
    }
}

static void routed_reply(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct routed *c = privdata;
    struct engine_redis *e = c->e;
    if (!r || r->type != REDIS_REPLY_ERROR) {
        routed_done(c, rc, r);
        return;
    }
    struct cluster_redirect rd;
    const char *err;
    int kind = cluster_redirect_parse(r->str, r->len, &rd, &err);
    if ((kind == CLUSTER_REDIRECT_MOVED || kind == CLUSTER_REDIRECT_ASK) && c->hops < MAX_HOPS) {
        struct node *from = engine_redis_node_of(rc);
        struct node *to = node_get(e, rd.host[0] ? rd.host : from->host, rd.port, 0);
        c->hops++;
        if (kind == CLUSTER_REDIRECT_MOVED) {
            /* Until the map is read again, the slot's commands go where Redis says. */
            if (rd.slot >= 0 && rd.slot < CLUSTER_SLOTS && e->slots[rd.slot] != to) {
                node_get(e, to->host, to->port, 1);
                e->slots[rd.slot] = to;
                engine_redis_slots_moved(e);
            }
            engine_redis_refresh_soon(e, 100);
        } else {
            c->ask = to;
        }
        requeue(c);
        q_kick(e, c->q);
        return;
    }
    if ((strncmp(r->str, "TRYAGAIN", 8) == 0 || strncmp(r->str, "CLUSTERDOWN", 11) == 0) &&
        c->tries < TRYAGAIN_MAX) {
        c->tries++;
        requeue(c);
        struct slotq *q = c->q;
        if (q->head == c) {
            if (!q->timer)
                q->timer = evtimer_new(e->evbase, on_tryagain, q);
            struct timeval tv = {0, TRYAGAIN_MS * 1000};
            q->busy = 1;
            evtimer_add(q->timer, &tv);
        }
        return;
    }
    routed_done(c, rc, r);
}

/* Sends c now, or queues it behind its slot's commands that were turned away. */
static int routed_start(struct engine_redis *e, struct routed *c)
{
    char k[8];
    size_t klen = slot_name(c->slot, k);
    struct slotq *q = dict_get(&e->slotqs, k, klen);
    if (!q)
        return routed_send(c, engine_redis_route(e, c->slot), 0);
    if (q->len >= SLOTQ_MAX)
        return -1;
    c->q = q;
    q->len++;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    q_kick(e, q);
    return 0;
}

int engine_redis_send_slot(struct engine_redis *e, int slot, redis_reply_fn cb, void *privdata,
                           int argc, const char **argv, const size_t *lens)
{
    if (!e->cluster)
        return redis_conn_command(e->single->cmd, cb, privdata, argc, argv, lens);
    struct routed *c = oc_calloc(1, sizeof(*c));
    c->e = e;
    c->argc = argc;
    c->argv = argv;
    c->lens = (size_t *)lens;
    c->cb = cb;
    c->privdata = privdata;
    c->slot = slot;
    if (routed_start(e, c) != 0) {
        free(c);
        return -1;
    }
    return 0;
}

int engine_redis_send(struct engine_redis *e, const char *key, size_t klen, redis_reply_fn cb,
                      void *privdata, int argc, const char **argv, const size_t *lens)
{
    if (!e->cluster)
        return redis_conn_command(e->single->cmd, cb, privdata, argc, argv, lens);
    struct routed *c = oc_calloc(1, sizeof(*c));
    c->e = e;
    c->argc = argc;
    c->owned = 1;
    const char **copy = oc_calloc((size_t)argc, sizeof(*copy));
    c->lens = oc_calloc((size_t)argc, sizeof(size_t));
    for (int i = 0; i < argc; i++) {
        copy[i] = oc_strndup(argv[i], lens[i]);
        c->lens[i] = lens[i];
    }
    c->argv = copy;
    c->cb = cb;
    c->privdata = privdata;
    c->slot = cluster_key_slot(key, klen);
    if (routed_start(e, c) != 0) {
        routed_free(c);
        return -1;
    }
    return 0;
}

/* --- the slot map ------------------------------------------------------------------------ */

static void slots_reply(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct engine_redis *e = privdata;
    e->refreshing = 0;
    if (!r)
        return; /* that node is gone; the refresh timer tries another */
    const char *err = NULL;
    int missing = -1;
    struct cluster_slots *map = cluster_slots_from_reply(r, engine_redis_node_of(rc)->host, &err);
    if (!map || !cluster_slots_covered(map, &missing)) {
        log_warn("redis cluster map not usable: %s",
                 err ? err : "a slot has no master (cluster down or being set up)");
        cluster_slots_free(map);
        engine_redis_refresh_soon(e, 500);
        return;
    }
    int nmoved = 0;
    for (int s = 0; s < CLUSTER_SLOTS; s++) {
        const struct cluster_node *cn = cluster_slots_lookup(map, s);
        struct node *n = e->slots[s];
        if (!n || n->port != cn->port || strcmp(n->host, cn->host) != 0) {
            e->slots[s] = node_get(e, cn->host, cn->port, 1);
            nmoved++;
        }
    }
    int was_ok = e->map_ok;
    e->map_ok = 1;
    if (nmoved) {
        log_info("redis cluster map: %d slot(s) changed master, %d master(s)", nmoved, map->nnodes);
        engine_redis_slots_moved(e);
    }
    if (!was_ok) {
        metrics.redis_up = engine_redis_ready(&e->base);
        engine_redis_beat(e);
        engine_redis_publish_stats(e);
    }
    /* A master that does not answer is failing, or being failed over: the map is read
     * again every POLL_MS until it answers or another takes its slots. */
    int lost = 0;
    for (int i = 0; i < map->nnodes && !lost; i++) {
        struct node *n = node_get(e, map->nodes[i].host, map->nodes[i].port, 0);
        lost = !redis_conn_up(n->cmd) || (n->sub && !redis_conn_up(n->sub));
    }
    cluster_slots_free(map);
    engine_redis_refresh_soon(e, lost ? POLL_MS : REFRESH_MS);
}

/* Asks any node whose command connection is up, the masters of the map first. */
static void refresh_now(struct engine_redis *e)
{
    if (e->refreshing)
        return;
    for (struct dict_entry *it = dict_first(&e->nodes); it; it = dict_next(&e->nodes, it)) {
        struct node *n = it->value;
        if (!redis_conn_up(n->cmd))
            continue;
        const char *argv[] = {"CLUSTER", "SLOTS"};
        size_t lens[] = {7, 5};
        if (redis_conn_command(n->cmd, slots_reply, e, 2, argv, lens) == 0) {
            e->refreshing = 1;
            return;
        }
    }
    /* Nobody answers yet: try again shortly. */
    engine_redis_refresh_soon(e, 500);
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
    refresh_now(arg);
}

void engine_redis_refresh_soon(struct engine_redis *e, int delay_ms)
{
    if (!e->cluster)
        return;
    if (!e->refresh)
        e->refresh = evtimer_new(e->evbase, on_refresh, e);
    struct timeval left;
    if (evtimer_pending(e->refresh, &left)) {
        struct timeval now;
        event_base_gettimeofday_cached(e->evbase, &now);
        int64_t left_ms = ((int64_t)left.tv_sec - now.tv_sec) * 1000 +
                          ((int64_t)left.tv_usec - now.tv_usec) / 1000;
        if (left_ms <= delay_ms)
            return; /* due sooner already */
    }
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    evtimer_add(e->refresh, &tv);
}

/* --- the end ---------------------------------------------------------------------------- */

void engine_redis_route_free(struct engine_redis *e)
{
    /* Connections first, so that what waits is answered while every node still exists. */
    for (struct dict_entry *it = dict_first(&e->nodes); it; it = dict_next(&e->nodes, it)) {
        struct node *n = it->value;
        redis_conn_free(n->cmd);
        redis_conn_free(n->sub);
        n->cmd = n->sub = NULL;
    }
    /* Commands still queued behind a redirected one: answered with NULL (unavailable). */
    while (e->slotqs.count) {
        struct slotq *q = dict_first(&e->slotqs)->value;
        q->busy = 1; /* nothing goes out any more */
        while (q->head) {
            struct routed *c = q->head;
            q->head = c->next;
            if (c->cb)
                c->cb(NULL, NULL, c->privdata);
            routed_free(c);
        }
        slotq_free(e, q);
    }
    dict_free(&e->slotqs);
    for (struct dict_entry *it = dict_first(&e->nodes); it; it = dict_next(&e->nodes, it)) {
        struct node *n = it->value;
        dict_free(&n->sub_due);
        free(n->addr);
        free(n->host);
        free(n);
    }
    dict_free(&e->nodes);
    if (e->refresh)
        event_free(e->refresh);
    free(e->slots);
}

size_t engine_redis_route_pending(struct engine_redis *e)
{
    size_t n = 0;
    for (struct dict_entry *it = dict_first(&e->nodes); it; it = dict_next(&e->nodes, it))
        n += redis_conn_pending(((struct node *)it->value)->cmd);
    /* and those in a slot's queue (its head may be counted twice: no harm, shutdown only
     * waits for zero) */
    for (struct dict_entry *it = dict_first(&e->slotqs); it; it = dict_next(&e->slotqs, it))
        n += ((struct slotq *)it->value)->len;
    return n;
}
