/*
 * engine redis: presence. This instance's entries are stored, removed and published by
 * presence_set.lua, which numbers each change (meta field pseq); the entries it owns are
 * remembered in e->locals for the tick to refresh. A replica is bootstrapped from a
 * snapshot (presence_snapshot.lua) that carries the number of the last change: the
 * channel's messages are held while it is read, and those it already holds are dropped.
 */

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "chanmsg.h"
#include "engine_redis_int.h"
#include "util.h"

void engine_redis_presence(struct engine *base, const char *okey, const struct envelope *env,
                           engine_done_fn done, void *privdata)
{
    struct engine_redis *e = (struct engine_redis *)base;
    struct buf words[9] = {{0}};
    engine_redis_key(&words[0], e, okey, "presence");
    engine_redis_key(&words[1], e, okey, "presence:exp");
    engine_redis_key(&words[2], e, okey, "meta");
    engine_redis_key(&words[3], e, okey, "ch");
    buf_printf(&words[4], "%s|%s", env->user_key, env->origin_instance);
    if (env->participant)
        participant_to_json(env->participant, env->object_id, &words[5]);
    buf_printf(&words[6], "%lld", (long long)util_wall_ms() + (long long)e->conf->presence_ttl * 1000);
    struct chanmsg m = {.kind = CHANMSG_PRESENCE,
                        .instance = env->origin_instance,
                        .sid = env->origin_sid,
                        .user_key = env->user_key};
    chanmsg_encode_presence(&words[7], &words[8], &m, words[5].p, words[5].len);

    /* Remember what this instance owns, to keep it alive and to store it again. */
    struct buf lk = {0};
    buf_printf(&lk, "%s\n%s", okey, words[4].p);
    struct local *l = dict_get(&e->locals, lk.p, lk.len);
    if (env->participant && !l) {
        l = oc_malloc(sizeof(*l));
        l->okey = oc_strdup(okey);
        l->member = oc_strdup(words[4].p);
        dict_set(&e->locals, lk.p, lk.len, l);
    } else if (!env->participant && l) {
        dict_del(&e->locals, lk.p, lk.len);
        free(l->okey);
        free(l->member);
        free(l);
    }
    buf_free(&lk);

    struct done_call *d = oc_malloc(sizeof(*d));
    d->done = done;
    d->privdata = privdata;
    if (engine_redis_run_script(e, &script_presence_set, 4, words, 9, engine_redis_done_reply, d) !=
        0) {
        free(d);
        if (done)
            done(privdata, ENGINE_UNAVAILABLE);
    }
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
        engine_redis_deliver(e, ch, m->text, m->len, ch->snap_seq);
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
    struct buf words[5] = {{0}};
    engine_redis_key(&words[0], e, okey, "presence");
    engine_redis_key(&words[1], e, okey, "presence:exp");
    engine_redis_key(&words[2], e, okey, "meta");
    buf_printf(&words[3], "%lld", (long long)util_wall_ms());
    /* Right after an outage nobody could refresh: expired entries still count. */
    buf_append_str(&words[4], util_wall_ms() < e->sweep_after_ms ? "1" : "0");
    struct snap *s = oc_malloc(sizeof(*s));
    s->e = e;
    s->okey = oc_strdup(okey);
    s->cb = cb;
    s->privdata = privdata;
    if (ch)
        ch->snapping++;
    if (engine_redis_run_script(e, &script_presence_snapshot, 3, words, 5, snapshot_reply, s) != 0)
        snapshot_reply(e->cmd, NULL, s);
}

void engine_redis_run_waits(struct engine_redis *e, struct chan *ch)
{
    struct list_wait *w = ch->waits, *next;
    ch->waits = NULL;
    for (; w; w = next) {
        next = w->next;
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
    struct list_wait *w = oc_malloc(sizeof(*w));
    w->cb = cb;
    w->privdata = privdata;
    w->next = ch->waits;
    ch->waits = w;
}
