/*
 * engine redis: presence. This instance's entries are stored, removed and published by
 * presence_set.lua, which numbers each change (meta field pseq) and stores the entry's
 * generation (engine_redis_house.c); the entries it owns are remembered in e->locals, and
 * the objects they are on in e->owned, which keeps each in the object index of the
 * generation. A replica is bootstrapped from a snapshot (presence_snapshot.lua) that
 * carries the number of the last change: the channel's messages are held while it is
 * read, and those it already holds are dropped.
 */

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "chanmsg.h"
#include "engine_redis_int.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

struct presence_call {
    struct engine_redis *e;
    engine_done_fn done;
    void *privdata;
};

static void presence_reply(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct presence_call *c = privdata;
    enum engine_status st = ENGINE_UNAVAILABLE;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
        st = ENGINE_OK;
    } else if (r && r->type == REDIS_REPLY_INTEGER) {
        struct engine_redis *e = c->e;
        if (e->gen_ok) {
            log_warn("presence write refused: generation %lld of this instance was declared "
                     "dead; taking a new one",
                     e->gen);
            e->gen_ok = 0;
            e->renew = 1;
            metrics.redis_up = 0;
            engine_redis_beat(e);
        }
    }
    if (c->done)
        c->done(c->privdata, st);
    free(c);
}

/* Keeps e->locals and e->owned as the entry of member on okey is stored or removed.
 * Returns the generation whose index the object must leave (the last entry on it went),
 * else 0. */
static long long own(struct engine_redis *e, const char *okey, const char *member, int stored)
{
    struct buf lk = {0};
    buf_printf(&lk, "%s\n%s", okey, member);
    struct local *l = dict_get(&e->locals, lk.p, lk.len);
    struct owned *o = dict_get(&e->owned, okey, strlen(okey));
    long long leave = 0;
    if (stored && !l) {
        l = oc_malloc(sizeof(*l));
        l->okey = oc_strdup(okey);
        l->member = oc_strdup(member);
        dict_set(&e->locals, lk.p, lk.len, l);
        if (!o) {
            o = oc_calloc(1, sizeof(*o));
            dict_set(&e->owned, okey, strlen(okey), o);
        }
        o->count++;
    } else if (!stored && l) {
        dict_del(&e->locals, lk.p, lk.len);
        free(l->okey);
        free(l->member);
        free(l);
        if (o && --o->count == 0) {
            leave = o->gen;
            dict_del(&e->owned, okey, strlen(okey));
            free(o);
        }
    }
    buf_free(&lk);
    return leave;
}

/* Adds okey to (1) or removes it from (0) the object index of gen. */
static void index_object(struct engine_redis *e, const char *okey, long long gen, int add)
{
    struct buf k = {0};
    engine_redis_index_key(&k, e, gen);
    const char *argv[] = {add ? "SADD" : "SREM", k.p, okey};
    size_t lens[] = {4, k.len, strlen(okey)};
    engine_redis_send(e, k.p, k.len, NULL, NULL, 3, argv, lens);
    buf_free(&k);
}

void engine_redis_presence(struct engine *base, const char *okey, const struct envelope *env,
                           engine_done_fn done, void *privdata)
{
    struct engine_redis *e = (struct engine_redis *)base;
    struct buf member = {0};
    buf_printf(&member, "%s|%s", env->user_key, env->origin_instance);
    long long leave = own(e, okey, member.p, env->participant != NULL);
    if (!engine_redis_ready(base)) {
        /* Stored again with the rest when Redis is back (the registry's reset). */
        buf_free(&member);
        if (done)
            done(privdata, ENGINE_UNAVAILABLE);
        return;
    }
    struct owned *o = env->participant ? dict_get(&e->owned, okey, strlen(okey)) : NULL;
    if (o && o->gen != e->gen) {
        /* Indexed before the entry is stored, so that whoever reaps this generation finds
         * the object. */
        index_object(e, okey, e->gen, 1);
        o->gen = e->gen;
    }
    struct buf words[13] = {{0}};
    engine_redis_key(&words[0], e, okey, "presence");
    engine_redis_key(&words[1], e, okey, "presence:gen");
    engine_redis_key(&words[2], e, okey, "presence:dead");
    engine_redis_key(&words[3], e, okey, "meta");
    engine_redis_key(&words[4], e, okey, "ch");
    engine_redis_key(&words[5], e, okey, "hist");
    buf_append(&words[6], member.p, member.len);
    if (env->participant)
        participant_to_json(env->participant, env->object_id, &words[7]);
    buf_append_str(&words[8], env->origin_instance);
    buf_printf(&words[9], "%lld", e->gen);
    struct chanmsg m = {.kind = CHANMSG_PRESENCE,
                        .instance = env->origin_instance,
                        .sid = env->origin_sid,
                        .user_key = env->user_key};
    chanmsg_encode_presence(&words[10], &words[11], &m, words[7].p, words[7].len);
    buf_printf(&words[12], "%lld", 1000LL * e->conf->history_ttl);
    buf_free(&member);

    struct presence_call *c = oc_malloc(sizeof(*c));
    c->e = e;
    c->done = done;
    c->privdata = privdata;
    if (engine_redis_run_script(e, &script_presence_set, 6, words, 13, presence_reply, c) != 0) {
        free(c);
        if (done)
            done(privdata, ENGINE_UNAVAILABLE);
    }
    /* After the removal: the object stays indexed until its last entry is gone. */
    if (leave)
        index_object(e, okey, leave, 0);
}

/* --- snapshots --------------------------------------------------------------------------- */

struct snap {
    struct engine_redis *e;
    char *okey;
    engine_presence_fn cb;
    void *privdata;
};

void engine_redis_hold(struct chan *ch, const char *text, size_t len)
{
    struct held *m = oc_malloc(sizeof(*m));
    m->text = oc_strndup(text, len);
    m->len = len;
    m->next = NULL;
    *ch->held_tail = m;
    ch->held_tail = &m->next;
}

static void flush_held(struct engine_redis *e, struct chan *ch)
{
    struct held *m = ch->held, *next;
    ch->held = NULL;
    ch->held_tail = &ch->held;
    for (; m; m = next) {
        next = m->next;
        engine_redis_deliver(e, ch, m->text, m->len, ch->snap_seq, 0);
        free(m->text);
        free(m);
    }
}

static void snapshot_reply(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct snap *s = privdata;
    struct engine_redis *e = s->e;
    struct chan *ch = dict_get(&e->chans, s->okey, strlen(s->okey));
    size_t n = 0;
    const char **instances = NULL;
    struct participant **ps = NULL;
    enum engine_status st = ENGINE_UNAVAILABLE;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1) {
        st = ENGINE_OK;
        if (ch && r->element[0]->type == REDIS_REPLY_STRING)
            ch->snap_seq = strtoll(r->element[0]->str, NULL, 10);
        instances = oc_calloc(r->elements, sizeof(*instances));
        ps = oc_calloc(r->elements, sizeof(*ps));
        for (size_t i = 1; i + 1 < r->elements; i += 2) {
            redisReply *m = r->element[i], *j = r->element[i + 1];
            if (m->type != REDIS_REPLY_STRING || j->type != REDIS_REPLY_STRING)
                continue;
            const char *bar = strrchr(m->str, '|');
            struct participant *p = bar ? participant_from_json(j->str, j->len) : NULL;
            if (!p)
                continue;
            instances[n] = bar + 1;
            ps[n++] = p;
        }
    }
    s->cb(s->privdata, st, n, instances, (const struct participant *const *)ps);
    for (size_t i = 0; i < n; i++)
        participant_free(ps[i]);
    free(instances);
    free(ps);
    if (ch && ch->snapping && --ch->snapping == 0)
        flush_held(e, ch);
    free(s->okey);
    free(s);
}

/* Reads okey's presence. With its channel (ch not NULL), messages are held meanwhile and
 * those the snapshot already holds are dropped after it. */
static void snapshot(struct engine_redis *e, const char *okey, struct chan *ch,
                     engine_presence_fn cb, void *privdata)
{
    struct buf words[3] = {{0}};
    engine_redis_key(&words[0], e, okey, "presence");
    engine_redis_key(&words[1], e, okey, "meta");
    buf_printf(&words[2], "%lld", 1000LL * e->conf->history_ttl);
    struct snap *s = oc_malloc(sizeof(*s));
    s->e = e;
    s->okey = oc_strdup(okey);
    s->cb = cb;
    s->privdata = privdata;
    if (ch)
        ch->snapping++;
    if (engine_redis_run_script(e, &script_presence_snapshot, 2, words, 3, snapshot_reply, s) != 0)
        snapshot_reply(NULL, NULL, s);
}

/* --- reading back missed messages -------------------------------------------------------- */

struct fill {
    struct engine_redis *e;
    char *okey;
};

/* Gives up on the messages before ch->gap_to that could not be read back. */
static void skip_gap(struct chan *ch)
{
    if (ch->gap_to && ch->off < ch->gap_to - 1) {
        log_warn("messages lost channel=%s offsets=%lld..%lld: not in the history (history_size, "
                 "history_ttl)",
                 ch->name, ch->off + 1, ch->gap_to - 1);
        ch->off = ch->gap_to - 1;
    }
    ch->gap_to = 0;
}

static void fill_reply(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct fill *f = privdata;
    struct engine_redis *e = f->e;
    struct chan *ch = dict_get(&e->chans, f->okey, strlen(f->okey));
    if (ch) {
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
            r->element[0]->type == REDIS_REPLY_STRING &&
            r->element[1]->type == REDIS_REPLY_STRING) {
            long long last = strtoll(r->element[0]->str, NULL, 10);
            const char *epoch = r->element[1]->str;
            /* (another epoch: the messages below start a new order, engine_redis_deliver) */
            if (ch->epoch && strcmp(epoch, ch->epoch) == 0 && last < ch->off) {
                /* The object's order went back: Redis lost writes (a failover before its
                 * replica had them, a restart without its data). Count from there. */
                log_warn("offsets went back channel=%s from=%lld to=%lld: Redis lost writes; "
                         "a new epoch begins",
                         ch->name, ch->off, last);
                ch->off = last;
                ch->gap_to = 0;
                /* The lost offsets would be given again: clients that had them must not
                 * resume across them (epoch_renew.lua). */
                struct buf words[3] = {{0}};
                engine_redis_key(&words[0], e, ch->okey, "meta");
                engine_redis_key(&words[1], e, ch->okey, "hist");
                buf_append_str(&words[2], epoch);
                engine_redis_run_script(e, &script_epoch_renew, 2, words, 3, NULL, NULL);
            }
            /* Oldest first; those delivered already are dropped by their offsets. */
            for (size_t i = 2; i < r->elements; i++)
                if (r->element[i]->type == REDIS_REPLY_STRING)
                    engine_redis_deliver(e, ch, r->element[i]->str, r->element[i]->len,
                                         ch->snap_seq, 1);
        }
        skip_gap(ch);
        ch->filling = 0;
        if (ch->snapping && --ch->snapping == 0)
            flush_held(e, ch);
    }
    free(f->okey);
    free(f);
}

void engine_redis_fill(struct engine_redis *e, struct chan *ch, long long gap_to)
{
    if (ch->filling)
        return; /* the read under way returns everything up to now */
    ch->gap_to = gap_to;
    if (e->conf->history_size == 0) {
        skip_gap(ch);
        if (!ch->snapping)
            flush_held(e, ch);
        return;
    }
    struct buf words[5] = {{0}};
    engine_redis_key(&words[0], e, ch->okey, "meta");
    engine_redis_key(&words[1], e, ch->okey, "hist");
    buf_printf(&words[2], "%lld", ch->off);
    buf_printf(&words[3], "%d", e->conf->history_size);
    buf_printf(&words[4], "%zu", e->conf->max_frame_bytes * (size_t)e->conf->history_size);
    struct fill *f = oc_malloc(sizeof(*f));
    f->e = e;
    f->okey = oc_strdup(ch->okey);
    ch->filling = 1;
    ch->snapping++;
    if (engine_redis_run_script(e, &script_history_since, 2, words, 5, fill_reply, f) != 0)
        fill_reply(NULL, NULL, f);
}

void engine_redis_run_waits(struct engine_redis *e, struct chan *ch)
{
    struct list_wait *w = ch->waits, *next;
    ch->waits = NULL;
    for (; w; w = next) {
        next = w->next;
        if (w->hcb)
            engine_redis_history_read(e, ch->okey, w->after, w->max_bytes, w->hcb, w->privdata);
        else
            snapshot(e, ch->okey, ch, w->cb, w->privdata);
        free(w);
    }
}

void engine_redis_presence_list(struct engine *base, const char *okey, engine_presence_fn cb,
                                void *privdata)
{
    struct engine_redis *e = (struct engine_redis *)base;
    struct chan *ch = dict_get(&e->chans, okey, strlen(okey));
    if (!engine_redis_ready(base)) {
        cb(privdata, ENGINE_UNAVAILABLE, 0, NULL, NULL);
        return;
    }
    if (!ch || ch->confirmed) {
        /* Without a channel (the server API reading an object nobody here is on), a plain
         * read. */
        snapshot(e, okey, ch, cb, privdata);
        return;
    }
    /* Read only once subscribed, so no change can fall between the snapshot and the
     * channel. */
    struct list_wait *w = oc_calloc(1, sizeof(*w));
    w->cb = cb;
    w->privdata = privdata;
    w->next = ch->waits;
    ch->waits = w;
}
