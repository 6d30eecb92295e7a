/*
 * engine redis: objects shared by every instance on one Redis (docs/operations.md, "Redis").
 *
 * - Each object has a channel {prefix}:{ws:obj}:ch; an instance subscribes while it has
 *   local participants. Every envelope goes through the channel, so all instances see one
 *   order. A message is a JSON header line, "\n", then the body (an encoded message, a
 *   participant, or the saved data): chanmsg.h.
 * - Presence entries live in {..}:presence (member "user|instance" -> participant JSON),
 *   each with the generation of its instance in {..}:presence:gen. Changes go through one
 *   Lua script that also numbers them (meta field pseq) and publishes them; a replica is
 *   bootstrapped from a snapshot with its number, and envelopes already in the snapshot
 *   are dropped (engine_redis_presence.c).
 * - Saved data lives in {..}:data (key -> compact JSON) and {..}:meta (version, updated_at,
 *   bytes, fbytes); saves are one Lua script (limit, ifVersion, replace/merge, publish).
 * - Once a second, engine_redis_house.c beats (one script whatever the instance holds):
 *   dead instances' generations are reaped from their object indexes. The scripts are
 *   src/lua/NAME.lua, run by engine_redis_script.c.
 *
 * This file: the engine's state and lifecycle, subscriptions, channel messages in, publish,
 * and data get and save.
 */

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chanmsg.h"
#include "engine_redis_int.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "util.h"

void engine_redis_key(struct buf *b, const struct engine_redis *e, const char *okey,
                      const char *suffix)
{
    buf_reset(b);
    buf_printf(b, "%s:{%s}:%s", e->conf->redis_prefix, okey, suffix);
}

/* --- channel messages -------------------------------------------------------------------- */

/* What one channel message delivers: env, and what it points to, made from m and owned here
 * until delivery_clear(). */
struct delivery {
    struct envelope env;
    struct participant *participant;
    struct data_doc doc;
};

/* Makes d from a decoded message. Returns 0, or -1 for one that delivers nothing (a
 * presence envelope numbered at or below min_seq, or a body that does not parse). */
static int delivery_make(const struct chanmsg *m, long long min_seq, struct delivery *d)
{
    const char *err;
    memset(d, 0, sizeof(*d));
    data_doc_init(&d->doc);
    d->env.origin_instance = m->instance;
    d->env.origin_sid = m->sid;
    d->env.offset = m->offset;
    d->env.epoch = m->epoch;
    /* A mark the history kept for a message too big for it (m->mark) has everything but
     * the body: d->env.missing. */
    d->env.missing = m->mark;
    switch (m->kind) {
    case CHANMSG_BROADCAST:
    case CHANMSG_EMIT:
        d->env.kind = m->kind == CHANMSG_EMIT ? ENVELOPE_EMIT : ENVELOPE_BROADCAST;
        d->env.echo = m->echo;
        d->env.to = m->to;
        /* The one copy every recipient here shares, with its place in the order. */
        if (!m->mark)
            d->env.payload = proto_message_at(m->body, m->body_len, m->offset, m->epoch);
        return 0;
    case CHANMSG_PRESENCE:
        d->env.kind = ENVELOPE_PRESENCE;
        d->env.user_key = m->user_key;
        d->env.offset = m->at;
        if (m->seq <= min_seq)
            return -1;
        d->participant = m->body_len ? participant_from_json(m->body, m->body_len) : NULL;
        if (m->body_len && !d->participant)
            return -1;
        d->env.participant = d->participant;
        return 0;
    case CHANMSG_DATA:
        d->env.kind = ENVELOPE_DATA;
        d->env.version = m->version;
        d->env.updated_at = m->updated_at;
        if (m->mark)
            return 0;
        if (data_parse(m->body, m->body_len, &d->doc, &err) != 0)
            return -1;
        d->env.data = &d->doc;
        return 0;
    }
    return -1;
}

static void delivery_clear(struct delivery *d)
{
    payload_unref(d->env.payload);
    participant_free(d->participant);
    data_doc_clear(&d->doc);
}

void engine_redis_deliver(struct engine_redis *e, struct chan *ch, const char *text, size_t len,
                          long long min_seq, int from_history)
{
    if (ch->snapping && !from_history) {
        /* A snapshot or a history read is under way: after it, in order. */
        engine_redis_hold(ch, text, len);
        return;
    }
    struct chanmsg m;
    const char *err;
    enum chanmsg_status cst = chanmsg_decode(text, len, &m, &err);
    if (cst != CHANMSG_OK) {
        /* A kind from a newer version is skipped without a word. */
        if (cst == CHANMSG_MALFORMED)
            log_warn("redis message dropped channel=%s reason=\"%s\"", ch->name, err);
        return;
    }
    if (m.offset > 0) {
        if (m.epoch && (!ch->epoch || strcmp(ch->epoch, m.epoch) != 0)) {
            /* The object's order began (again: its meta was lost with Redis's data). */
            if (ch->epoch)
                log_warn("object order restarted channel=%s epoch=%s: Redis lost its meta",
                         ch->name, m.epoch);
            free(ch->epoch);
            ch->epoch = oc_strdup(m.epoch);
            ch->off = 0;
        }
        if (ch->off && m.offset <= ch->off) {
            /* Delivered already (read back from the history, or seen on the connection to
             * the slot's former master). */
            chanmsg_clear(&m);
            return;
        }
        if (ch->off && m.offset > ch->off + 1 && !from_history) {
            long long gap_to = m.offset;
            chanmsg_clear(&m);
            engine_redis_hold(ch, text, len);
            engine_redis_fill(e, ch, gap_to);
            return;
        }
        ch->off = m.offset;
        if (m.mark) {
            log_warn("message lost channel=%s offset=%lld: too big to be kept in the history "
                     "(history_max_bytes)",
                     ch->name, m.offset);
            chanmsg_clear(&m);
            return;
        }
    }
    struct delivery d;
    if (delivery_make(&m, min_seq, &d) == 0)
        e->base.deliver(e->base.deliver_privdata, ch->okey, &d.env);
    delivery_clear(&d);
    chanmsg_clear(&m);
}

/* --- history reads for resumes ------------------------------------------------------------- */

struct history_call {
    engine_history_fn cb;
    void *privdata;
};

static void history_reply(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct history_call *c = privdata;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
        c->cb(c->privdata, r ? ENGINE_ERROR : ENGINE_UNAVAILABLE, NULL, 0, 0, NULL);
        free(c);
        return;
    }
    size_t max = r->elements - 2, n = 0;
    struct chanmsg *ms = oc_calloc(max + 1, sizeof(*ms));
    struct delivery *ds = oc_calloc(max + 1, sizeof(*ds));
    struct envelope *envs = oc_calloc(max + 1, sizeof(*envs));
    for (size_t i = 0; i < max; i++) {
        redisReply *x = r->element[i + 2];
        const char *err;
        if (x->type != REDIS_REPLY_STRING ||
            chanmsg_decode(x->str, x->len, &ms[n], &err) != CHANMSG_OK)
            continue;
        /* (a history holds no presence changes) */
        if (ms[n].kind == CHANMSG_PRESENCE || delivery_make(&ms[n], 0, &ds[n]) != 0) {
            delivery_clear(&ds[n]);
            chanmsg_clear(&ms[n]);
            continue;
        }
        envs[n] = ds[n].env;
        n++;
    }
    c->cb(c->privdata, ENGINE_OK, r->element[1]->str, strtoll(r->element[0]->str, NULL, 10), n,
          envs);
    for (size_t i = 0; i < n; i++) {
        delivery_clear(&ds[i]);
        chanmsg_clear(&ms[i]);
    }
    free(envs);
    free(ds);
    free(ms);
    free(c);
}

void engine_redis_history_read(struct engine_redis *e, const char *okey, long long after,
                               size_t max_bytes, engine_history_fn cb, void *privdata)
{
    struct buf words[5] = {{0}};
    engine_redis_key(&words[0], e, okey, "meta");
    engine_redis_key(&words[1], e, okey, "hist");
    buf_printf(&words[2], "%lld", after);
    buf_printf(&words[3], "%d", e->conf->history_size);
    buf_printf(&words[4], "%zu", max_bytes);
    struct history_call *c = oc_malloc(sizeof(*c));
    c->cb = cb;
    c->privdata = privdata;
    if (engine_redis_run_script(e, &script_history_since, 2, words, 5, history_reply, c) != 0) {
        free(c);
        cb(privdata, ENGINE_UNAVAILABLE, NULL, 0, 0, NULL);
    }
}

void engine_redis_history(struct engine *base, const char *okey, long long after,
                          size_t max_bytes, engine_history_fn cb, void *privdata)
{
    struct engine_redis *e = (struct engine_redis *)base;
    struct chan *ch = dict_get(&e->chans, okey, strlen(okey));
    if (!engine_redis_ready(base)) {
        cb(privdata, ENGINE_UNAVAILABLE, NULL, 0, 0, NULL);
        return;
    }
    if (!ch || ch->confirmed) {
        engine_redis_history_read(e, okey, after, max_bytes, cb, privdata);
        return;
    }
    /* Read only once subscribed, so that whatever is published after the read comes on the
     * channel. */
    struct list_wait *w = oc_calloc(1, sizeof(*w));
    w->hcb = cb;
    w->after = after;
    w->max_bytes = max_bytes;
    w->privdata = privdata;
    w->next = ch->waits;
    ch->waits = w;
}

/*
 * Subscription commands in flight on a node, per channel name. After SUBSCRIBE,
 * UNSUBSCRIBE, SUBSCRIBE of one object's channel, the answer to the first SUBSCRIBE says
 * nothing about the last one: only the answer to the last command sent for a name tells
 * its state, so a channel counts as confirmed only when its SUBSCRIBE is answered with
 * nothing else of that name still in flight.
 */
static void sub_sent(struct node *n, const char *name)
{
    uintptr_t k = (uintptr_t)dict_get(&n->sub_due, name, strlen(name));
    dict_set(&n->sub_due, name, strlen(name), (void *)(k + 1));
}

/* One answer of name came; returns how many of its commands are still in flight, or -1
 * when none was (Redis unsubscribed us by itself: in a cluster, the slot moved). */
static long sub_answered(struct node *n, const char *name, size_t len)
{
    uintptr_t k = (uintptr_t)dict_get(&n->sub_due, name, len);
    if (k == 0)
        return -1;
    if (k == 1) {
        dict_del(&n->sub_due, name, len);
        return 0;
    }
    dict_set(&n->sub_due, name, len, (void *)(k - 1));
    return (long)k - 1;
}

static void subscribe_chan(struct engine_redis *e, struct node *n, struct chan *ch)
{
    const char *cmd = e->cluster ? "SSUBSCRIBE" : "SUBSCRIBE";
    const char *argv[] = {cmd, ch->name};
    size_t lens[] = {strlen(cmd), strlen(ch->name)};
    ch->confirmed = 0;
    ch->node = n;
    if (redis_conn_command(n->sub, NULL, NULL, 2, argv, lens) == 0)
        sub_sent(n, ch->name);
}

static void unsubscribe_chan(struct engine_redis *e, struct chan *ch)
{
    struct node *n = ch->node;
    ch->node = NULL;
    ch->confirmed = 0;
    if (!n || !n->sub || !redis_conn_up(n->sub))
        return;
    const char *cmd = e->cluster ? "SUNSUBSCRIBE" : "UNSUBSCRIBE";
    const char *argv[] = {cmd, ch->name};
    size_t lens[] = {strlen(cmd), strlen(ch->name)};
    if (redis_conn_command(n->sub, NULL, NULL, 2, argv, lens) == 0)
        sub_sent(n, ch->name);
}

/* Subscribes ch where its slot lives now, if that connection is up (else when it comes up). */
static void place_chan(struct engine_redis *e, struct chan *ch)
{
    struct node *n = engine_redis_route(e, ch->slot);
    if (ch->node && ch->node != n)
        unsubscribe_chan(e, ch);
    if (n && n->sub && redis_conn_up(n->sub) && (ch->node != n || !ch->confirmed))
        subscribe_chan(e, n, ch);
}

void engine_redis_node_message(struct node *n, redisReply *r)
{
    struct engine_redis *e = n->e;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *type = r->element[0]->str;
    /* Sharded pub/sub (a cluster) answers the same with an "s" in front. */
    if (strcmp(type, "ssubscribe") == 0 || strcmp(type, "sunsubscribe") == 0 ||
        strcmp(type, "smessage") == 0)
        type++;
    int is_sub = strcmp(type, "subscribe") == 0;
    int is_unsub = strcmp(type, "unsubscribe") == 0;
    long due = 0;
    if (is_sub || is_unsub) {
        due = sub_answered(n, r->element[1]->str, r->element[1]->len);
        if (due > 0)
            return; /* stale: a later command of this name decides */
    }
    struct chan *ch = dict_get(&e->by_name, r->element[1]->str, r->element[1]->len);
    if (!ch)
        return;
    if (is_sub && ch->node == n) {
        ch->confirmed = 1;
        if (e->cluster && ch->resubscribed && e->base.reset) {
            /* Messages may have been missed while it was not subscribed: the replica is
             * read again and this instance's entries stored again (cluster; the one
             * Redis's outages reset everything at once). */
            e->base.reset(e->base.deliver_privdata, ch->okey);
        }
        /* What was published while it was not subscribed is read from the history. */
        if (ch->resubscribed && ch->off)
            engine_redis_fill(e, ch, 0);
        ch->resubscribed = 1;
        engine_redis_run_waits(e, ch);
    } else if (is_unsub && due < 0 && ch->node == n) {
        /* The slot moved away from this node: subscribe where it is now. */
        log_info("redis unsubscribed channel=%s by the server: its slot moved", ch->name);
        ch->node = NULL;
        ch->confirmed = 0;
        engine_redis_refresh_soon(e, 0);
    } else if (strcmp(type, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING) {
        engine_redis_deliver(e, ch, r->element[2]->str, r->element[2]->len, 0, 0);
    }
}

void engine_redis_slots_moved(struct engine_redis *e)
{
    for (struct dict_entry *it = dict_first(&e->chans); it; it = dict_next(&e->chans, it)) {
        struct chan *ch = it->value;
        if (ch->node != engine_redis_route(e, ch->slot) || !ch->confirmed)
            place_chan(e, ch);
    }
}

/* --- engine ops -------------------------------------------------------------------------- */

int engine_redis_ready(struct engine *base)
{
    struct engine_redis *e = (struct engine_redis *)base;
    if (e->cluster)
        return e->map_ok && e->gen_ok;
    return redis_conn_up(e->single->cmd) && redis_conn_up(e->single->sub) && e->gen_ok;
}

static void r_subscribe(struct engine *base, const char *okey)
{
    struct engine_redis *e = (struct engine_redis *)base;
    if (dict_get(&e->chans, okey, strlen(okey)))
        return;
    struct chan *ch = oc_calloc(1, sizeof(*ch));
    ch->okey = oc_strdup(okey);
    struct buf name = {0};
    engine_redis_key(&name, e, okey, "ch");
    ch->name = buf_detach(&name);
    ch->slot = engine_redis_slot(e, ch->name, strlen(ch->name));
    ch->held_tail = &ch->held;
    dict_set(&e->chans, okey, strlen(okey), ch);
    dict_set(&e->by_name, ch->name, strlen(ch->name), ch);
    place_chan(e, ch);
}

static void chan_free(struct chan *ch)
{
    struct held *m = ch->held, *next;
    for (; m; m = next) {
        next = m->next;
        free(m->text);
        free(m);
    }
    struct list_wait *w = ch->waits, *wn;
    for (; w; w = wn) {
        wn = w->next;
        if (w->hcb)
            w->hcb(w->privdata, ENGINE_UNAVAILABLE, NULL, 0, 0, NULL);
        else
            w->cb(w->privdata, ENGINE_UNAVAILABLE, 0, NULL, NULL);
        free(w);
    }
    free(ch->epoch);
    free(ch->okey);
    free(ch->name);
    free(ch);
}

static void r_unsubscribe(struct engine *base, const char *okey)
{
    struct engine_redis *e = (struct engine_redis *)base;
    struct chan *ch = dict_del(&e->chans, okey, strlen(okey));
    if (!ch)
        return;
    dict_del(&e->by_name, ch->name, strlen(ch->name));
    unsubscribe_chan(e, ch);
    chan_free(ch);
}

void engine_redis_done_reply(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct done_call *d = privdata;
    if (d->done)
        d->done(d->privdata, r && r->type != REDIS_REPLY_ERROR ? ENGINE_OK : ENGINE_UNAVAILABLE);
    free(d);
}

static void r_publish(struct engine *base, const char *okey, const struct envelope *env,
                      engine_done_fn done, void *privdata)
{
    struct engine_redis *e = (struct engine_redis *)base;
    struct buf words[9] = {{0}};
    engine_redis_key(&words[0], e, okey, "meta");
    engine_redis_key(&words[1], e, okey, "hist");
    engine_redis_key(&words[2], e, okey, "ch");
    engine_redis_key(&words[3], e, okey, "presence");
    struct chanmsg m = {.kind = env->kind == ENVELOPE_EMIT ? CHANMSG_EMIT : CHANMSG_BROADCAST,
                        .instance = env->origin_instance,
                        .sid = env->origin_sid,
                        .echo = env->echo,
                        .to = env->to};
    chanmsg_encode_message_head(&words[4], &m);
    buf_reserve(&words[5], env->payload->len + 2);
    buf_append_str(&words[5], "}\n");
    buf_append(&words[5], env->payload->text, env->payload->len);
    buf_printf(&words[6], "%d", e->conf->history_size);
    buf_printf(&words[7], "%lld", 1000LL * e->conf->history_ttl);
    buf_printf(&words[8], "%zu", e->conf->history_max_bytes);
    struct done_call *d = oc_malloc(sizeof(*d));
    d->done = done;
    d->privdata = privdata;
    if (engine_redis_run_script(e, &script_publish, 4, words, 9, engine_redis_done_reply, d) != 0) {
        free(d);
        if (done)
            done(privdata, ENGINE_UNAVAILABLE);
    }
}

struct data_call {
    struct engine_redis *e;
    struct node *node; /* where the save ran: its WAIT goes there */
    engine_data_fn cb;
    void *privdata;
    int save;
    /* A save waiting for its replicas (redis_wait_replicas): the stored data to answer with
     * once WAIT says enough of them have it. */
    int replicas;
    long long version;
    long long updated_at;
    char *json;
    size_t json_len;
    struct data_call *next; /* in the batch of the same WAIT */
};

/* Answers c with the stored data (json) or st, and frees c. */
static void data_answer(struct data_call *c, enum engine_status st, long long version,
                        long long updated_at, const char *json, size_t len)
{
    struct data_doc doc;
    data_doc_init(&doc);
    struct engine_data d = {.doc = &doc, .version = version, .updated_at = updated_at};
    const char *err;
    if (st == ENGINE_OK && data_parse(json, len, &doc, &err) != 0)
        st = ENGINE_ERROR;
    c->cb(c->privdata, st, st == ENGINE_OK ? &d : NULL);
    data_doc_clear(&doc);
    free(c->json);
    free(c);
}

/* Answers a batch of saves: confirmed when acked replicas (-1: no answer) are enough for
 * each, else `unavailable`: such a save may be lost with its master, so it is not
 * confirmed. */
static void answer_batch(struct data_call *batch, long long acked)
{
    while (batch) {
        struct data_call *c = batch;
        batch = c->next;
        if (acked < c->replicas) {
            log_warn("save not confirmed by replicas wanted=%d acknowledged=%lld: answered "
                     "unavailable",
                     c->replicas, acked);
            data_answer(c, ENGINE_UNAVAILABLE, 0, 0, NULL, 0);
        } else {
            data_answer(c, ENGINE_OK, c->version, c->updated_at, c->json, c->json_len);
        }
    }
}

static void send_wait(struct node *n);

static void replicas_reply(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct data_call *batch = privdata;
    struct node *n = batch->node;
    n->wait_busy = 0;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer < n->e->conf->redis_wait_replicas &&
        !n->replicas_short) {
        /* Every WAIT would now hold the connection for redis_wait_timeout, and everything
         * sent to this node behind it: saves are refused at once until replicas are back. */
        log_warn("redis node %s has %lld of %d replicas: saves answered unavailable until "
                 "they are back",
                 n->addr, r->integer, n->e->conf->redis_wait_replicas);
        n->replicas_short = 1;
        n->replicas_warned = 1;
    }
    answer_batch(batch, r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1);
    if (!n->wait_next)
        return;
    if (r) {
        send_wait(n);
    } else {
        /* The connection is gone (or being freed): the saves queued meanwhile cannot be
         * confirmed either. */
        struct data_call *rest = n->wait_next;
        n->wait_next = NULL;
        answer_batch(rest, -1);
    }
}

/*
 * One WAIT for every save queued since the last one went out, on the connection that made
 * them: WAIT counts that connection's writes up to it, so one covers them all. With one WAIT
 * in flight at a time the connection, which WAIT blocks, is held for at most
 * redis_wait_timeout at once, whatever the number of saves (conf.c keeps that below the
 * command deadline of redis_conn.c).
 */
static void send_wait(struct node *n)
{
    struct data_call *batch = NULL;
    int replicas = 0;
    while (n->wait_next) {
        struct data_call *c = n->wait_next;
        n->wait_next = c->next;
        c->next = batch;
        batch = c;
        replicas = c->replicas > replicas ? c->replicas : replicas;
    }
    char num[16], ms[16];
    snprintf(num, sizeof(num), "%d", replicas);
    snprintf(ms, sizeof(ms), "%d", n->e->conf->redis_wait_timeout);
    const char *argv[] = {"WAIT", num, ms};
    size_t lens[] = {4, strlen(num), strlen(ms)};
    if (redis_conn_command(n->cmd, replicas_reply, batch, 3, argv, lens) != 0)
        answer_batch(batch, -1);
    else
        n->wait_busy = 1;
}

/* Queues c for the next WAIT of its node (newest first: send_wait() puts the batch back in
 * order). */
static void wait_replicas(struct data_call *c)
{
    struct node *n = c->node;
    c->next = n->wait_next;
    n->wait_next = c;
    if (!n->wait_busy)
        send_wait(n);
}

static void role_reply(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct node *n = privdata;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "master") != 0 ||
        r->element[2]->type != REDIS_REPLY_ARRAY)
        return;
    if (!n->replicas_short)
        return;
    if ((long long)r->element[2]->elements >= n->e->conf->redis_wait_replicas) {
        if (n->replicas_warned)
            log_info("redis node %s has %zu replicas again: saves are confirmed again",
                     n->addr, r->element[2]->elements);
        n->replicas_short = 0;
        n->replicas_warned = 0;
    } else if (!n->replicas_warned) {
        log_warn("redis node %s has %zu of %d replicas: saves answered unavailable until they "
                 "are there",
                 n->addr, r->element[2]->elements, n->e->conf->redis_wait_replicas);
        n->replicas_warned = 1;
    }
}

static void probe_node(struct node *n)
{
    const char *argv[] = {"ROLE"};
    size_t lens[] = {4};
    redis_conn_command(n->cmd, role_reply, n, 1, argv, lens);
}

void engine_redis_probe_replicas(struct engine_redis *e)
{
    for (struct dict_entry *it = dict_first(&e->nodes); it; it = dict_next(&e->nodes, it)) {
        struct node *n = it->value;
        if (!n->replicas_short)
            continue;
        if (e->conf->redis_wait_replicas == 0)
            n->replicas_short = 0; /* turned off by a reload */
        else
            probe_node(n);
    }
}

static long long reply_number(const redisReply *r)
{
    return r->type == REDIS_REPLY_INTEGER ? r->integer : strtoll(r->str, NULL, 10);
}

static void data_reply(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct data_call *c = privdata;
    size_t base = c->save ? 1 : 0;
    if (!r) {
        data_answer(c, ENGINE_UNAVAILABLE, 0, 0, NULL, 0);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
               r->element[0]->type != REDIS_REPLY_STRING) {
        data_answer(c, ENGINE_ERROR, 0, 0, NULL, 0);
    } else if (c->save && strcmp(r->element[0]->str, "conflict") == 0) {
        data_answer(c, ENGINE_CONFLICT, 0, 0, NULL, 0);
    } else if (c->save && strcmp(r->element[0]->str, "too_large") == 0) {
        data_answer(c, ENGINE_TOO_LARGE, 0, 0, NULL, 0);
    } else if (r->elements < base + 3 || r->element[base + 2]->type != REDIS_REPLY_STRING) {
        data_answer(c, ENGINE_ERROR, 0, 0, NULL, 0);
    } else {
        redisReply **el = r->element;
        long long version = reply_number(el[base]), updated_at = reply_number(el[base + 1]);
        if (!c->replicas) {
            data_answer(c, ENGINE_OK, version, updated_at, el[base + 2]->str, el[base + 2]->len);
            return;
        }
        c->version = version;
        c->updated_at = updated_at;
        c->json = oc_strndup(el[base + 2]->str, el[base + 2]->len);
        c->json_len = el[base + 2]->len;
        c->node = engine_redis_node_of(rc);
        if (c->node->replicas_short) {
            /* Stored, but not on enough replicas to be confirmed. */
            data_answer(c, ENGINE_UNAVAILABLE, 0, 0, NULL, 0);
            return;
        }
        wait_replicas(c);
    }
}

static void r_data_get(struct engine *base, const char *okey, engine_data_fn cb, void *privdata)
{
    struct engine_redis *e = (struct engine_redis *)base;
    struct buf words[2] = {{0}};
    engine_redis_key(&words[0], e, okey, "data");
    engine_redis_key(&words[1], e, okey, "meta");
    struct data_call *c = oc_calloc(1, sizeof(*c));
    c->e = e;
    c->cb = cb;
    c->privdata = privdata;
    if (engine_redis_run_script(e, &script_data_get, 2, words, 2, data_reply, c) != 0) {
        free(c);
        cb(privdata, ENGINE_UNAVAILABLE, NULL);
    }
}

static void r_data_save(struct engine *base, const char *okey, const struct engine_save *req,
                        engine_data_fn cb, void *privdata)
{
    struct engine_redis *e = (struct engine_redis *)base;
    const struct data_doc *u = req->update;
    int nwords = 12 + 3 * (int)u->count;
    struct buf *words = oc_calloc((size_t)nwords, sizeof(*words));
    engine_redis_key(&words[0], e, okey, "data");
    engine_redis_key(&words[1], e, okey, "meta");
    engine_redis_key(&words[2], e, okey, "ch");
    engine_redis_key(&words[3], e, okey, "hist");
    buf_append_str(&words[4], req->merge ? "1" : "0");
    buf_printf(&words[5], "%lld", req->if_version);
    buf_printf(&words[6], "%zu", req->max_bytes);
    buf_printf(&words[7], "%lld", (long long)time(NULL));
    struct chanmsg m = {.kind = CHANMSG_DATA,
                        .instance = req->origin_instance,
                        .sid = req->origin_sid};
    chanmsg_encode_data_head(&words[8], &m);
    buf_printf(&words[9], "%d", e->conf->history_size);
    buf_printf(&words[10], "%lld", 1000LL * e->conf->history_ttl);
    buf_printf(&words[11], "%zu", e->conf->history_max_bytes);
    for (size_t i = 0; i < u->count; i++) {
        const struct data_field *f = &u->fields[i];
        buf_append(&words[12 + 3 * i], f->key, f->klen);
        buf_printf(&words[13 + 3 * i], "%zu", f->bytes - 1 - f->vlen);
        buf_append(&words[14 + 3 * i], f->value, f->vlen);
    }
    struct data_call *c = oc_calloc(1, sizeof(*c));
    c->e = e;
    c->cb = cb;
    c->privdata = privdata;
    c->save = 1;
    c->replicas = e->conf->redis_wait_replicas;
    if (engine_redis_run_script(e, &script_data_save, 4, words, nwords, data_reply, c) != 0) {
        free(c);
        cb(privdata, ENGINE_UNAVAILABLE, NULL);
    }
    free(words);
}

static size_t r_pending(struct engine *base)
{
    return engine_redis_route_pending((struct engine_redis *)base);
}

/* --- lifecycle --------------------------------------------------------------------------- */

/*
 * A connection of n came up or went down. Not a cluster: when both are up again a heartbeat
 * goes out at once; after an outage it takes a new generation, and its answer has the
 * registry read every replica again and store its entries again (engine_redis_house.c). In
 * a cluster each master comes and goes alone: its channels are subscribed again, and each
 * replica is read again when its subscription is confirmed.
 */
void engine_redis_node_state(struct node *n, struct redis_conn *rc, int up)
{
    struct engine_redis *e = n->e;
    if (!up) {
        if (rc == n->sub) {
            for (struct dict_entry *it = dict_first(&e->chans); it; it = dict_next(&e->chans, it)) {
                struct chan *ch = it->value;
                if (ch->node == n)
                    ch->confirmed = 0;
            }
            dict_free(&n->sub_due); /* those answers will never come */
        }
        if (e->cluster) {
            engine_redis_refresh_soon(e, 200); /* a failover? */
            return;
        }
        e->outage = 1;
        e->gen_ok = 0;
        e->renew = 1;
        metrics.redis_up = 0;
        return;
    }
    /* First, before anything here or in the registry can send an EVALSHA. */
    if (rc == n->cmd)
        engine_redis_scripts_load(e, rc);
    if (rc == n->cmd && e->conf->redis_wait_replicas > 0) {
        /* A new connection may be to a replica just promoted, which has none of its own:
         * saves wait for ROLE (answered before anything sent after it) rather than each
         * holding the connection in a WAIT that is bound to fall short. */
        n->replicas_short = 1;
        probe_node(n);
    }
    if (rc == n->sub)
        for (struct dict_entry *it = dict_first(&e->chans); it; it = dict_next(&e->chans, it)) {
            struct chan *ch = it->value;
            if (engine_redis_route(e, ch->slot) == n)
                subscribe_chan(e, n, ch);
        }
    if (e->cluster) {
        if (rc == n->cmd && !e->map_ok)
            engine_redis_refresh_soon(e, 0);
        return;
    }
    if (redis_conn_up(n->cmd) && redis_conn_up(n->sub)) {
        if (e->outage) {
            metrics.redis_reconnects++;
            e->declare_after_ms = util_wall_ms() + ((int64_t)e->conf->presence_ttl + 6) * 1000;
        }
        e->outage = 0;
        engine_redis_beat(e);
        engine_redis_publish_stats(e);
    }
}

static void r_free(struct engine *base)
{
    struct engine_redis *e = (struct engine_redis *)base;
    /* Waiting callbacks are answered (unavailable) while the tables still exist. */
    engine_redis_route_free(e);
    for (struct dict_entry *it = dict_first(&e->chans); it; it = dict_next(&e->chans, it))
        chan_free(it->value);
    for (struct dict_entry *it = dict_first(&e->locals); it; it = dict_next(&e->locals, it)) {
        struct local *l = it->value;
        free(l->okey);
        free(l->member);
        free(l);
    }
    for (struct dict_entry *it = dict_first(&e->owned); it; it = dict_next(&e->owned, it))
        free(it->value);
    dict_free(&e->chans);
    dict_free(&e->by_name);
    dict_free(&e->locals);
    dict_free(&e->owned);
    event_free(e->tick);
    free(e);
}

static const struct engine_ops redis_ops = {
    .name = "redis",
    .ready = engine_redis_ready,
    .free = r_free,
    .pending = r_pending,
    .subscribe = r_subscribe,
    .unsubscribe = r_unsubscribe,
    .publish = r_publish,
    .presence = engine_redis_presence,
    .presence_list = engine_redis_presence_list,
    .data_get = r_data_get,
    .data_save = r_data_save,
    .history = engine_redis_history,
    .overview = engine_redis_overview,
};

struct engine *engine_redis_new(struct event_base *base, const struct conf *conf,
                                const char *instance_id)
{
    engine_redis_scripts_init();
    struct engine_redis *e = oc_calloc(1, sizeof(*e));
    e->base.ops = &redis_ops;
    e->base.instance_id = instance_id;
    e->evbase = base;
    e->conf = conf;
    e->beat_rtt_ms = -1;
    e->cluster = conf->redis_cluster;
    engine_redis_route_start(e);
    engine_redis_house_start(e);
    return &e->base;
}
