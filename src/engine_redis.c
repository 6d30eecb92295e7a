/*
 * engine redis: objects shared by every instance on one Redis (PROTOCOL.md section 8).
 *
 * - Each object has a channel {prefix}:{ws:obj}:ch; an instance subscribes while it has
 *   local participants. Every envelope goes through the channel, so all instances see one
 *   order. A message is a JSON header line, "\n", then the body (a ready frame payload, a
 *   participant, or the saved data): chanmsg.h.
 * - Presence entries live in {..}:presence (member "user|instance" -> participant JSON) and
 *   {..}:presence:exp (member -> expiry ms). Changes go through one Lua script that also
 *   numbers them (meta field pseq) and publishes them; a replica is bootstrapped from a
 *   snapshot with its number, and envelopes already in the snapshot are dropped.
 * - Saved data lives in {..}:data (key -> compact JSON) and {..}:meta (version, updated_at,
 *   bytes, fbytes); saves are one Lua script (limit, ifVersion, replace/merge, publish).
 */

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "chanmsg.h"
#include "dict.h"
#include "engine.h"
#include "json.h"
#include "log.h"
#include "lua_scripts.h"
#include "metrics.h"
#include "redis_conn.h"

/* --- Lua scripts ------------------------------------------------------------------------- */

/* src/lua/NAME.lua, embedded by the build as lua_NAME (lua_scripts.h); the comment at the
 * top of each file says its KEYS and ARGV. */
struct script {
    const char *name;
    const char *src;
    char sha[41];
};

static struct script presence_script = {"presence", lua_presence_set, ""};
static struct script sweep_script = {"sweep", lua_presence_sweep, ""};
static struct script snapshot_script = {"snapshot", lua_presence_snapshot, ""};
static struct script get_script = {"get", lua_data_get, ""};
static struct script save_script = {"save", lua_data_save, ""};
static struct script instances_script = {"instances", lua_instances_refresh, ""};

static struct script *scripts[] = {&presence_script, &sweep_script, &snapshot_script,
                                   &get_script, &save_script, &instances_script};

static void script_init(struct script *s)
{
    uint8_t d[SHA_DIGEST_LENGTH];
    SHA1((const uint8_t *)s->src, strlen(s->src), d);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", d[i]);
}

/* --- state ------------------------------------------------------------------------------- */

/* A presence_list waiting for the channel's subscription to be confirmed. */
struct list_wait {
    engine_presence_fn cb;
    void *privdata;
    struct list_wait *next;
};

/* A channel message kept while a snapshot is being read. */
struct held {
    char *text;
    size_t len;
    struct held *next;
};

struct chan {
    char *okey;            /* okey.h: "ws:obj", both encoded */
    char *name;            /* the Redis channel */
    int confirmed;         /* SUBSCRIBE acknowledged on the current connection */
    int snapping;          /* snapshots in flight: messages are held */
    long long snap_seq;    /* presence envelopes up to this are in the last snapshot */
    struct list_wait *waits;
    struct held *held, **held_tail;
};

/* An entry this instance owns, refreshed until removed. */
struct local {
    char *okey;
    char *member;
};

struct engine_redis {
    struct engine base;
    struct event_base *evbase;
    const struct conf *conf;
    char *listen_addr;
    struct redis_conn *cmd;  /* commands and scripts */
    struct redis_conn *sub;  /* SUBSCRIBE only */
    struct dict chans;       /* okey -> struct chan */
    struct dict by_name;     /* channel name -> struct chan */
    struct dict sub_due;     /* channel name -> SUBSCRIBE/UNSUBSCRIBE sent on the current
                                subscriber connection and not answered (a count) */
    struct dict locals;      /* okey "\n" member -> struct local */
    struct event *tick;      /* once a second: sweep, refresh, instances */
    long long started;       /* unix seconds */
    unsigned ticks;
    int outage;              /* a connection went down since both were last up */
    int64_t sweep_after_ms;  /* after an outage, other instances get time to come back
                                and refresh their entries before any is called dead */
    int was_ready;
};

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void key(struct buf *b, const struct engine_redis *e, const char *okey, const char *suffix)
{
    buf_reset(b);
    buf_printf(b, "%s:{%s}:%s", e->conf->redis_prefix, okey, suffix);
}

/* --- scripts: EVALSHA, EVAL when Redis does not know the script -------------------------- */

struct script_call {
    struct engine_redis *e;
    struct script *s;
    int argc;        /* EVALSHA sha numkeys keys... args... */
    char **argv;
    size_t *lens;
    redis_reply_fn cb;
    void *privdata;
    int retried;
};

static void script_call_free(struct script_call *c)
{
    for (int i = 0; i < c->argc; i++)
        free(c->argv[i]);
    free(c->argv);
    free(c->lens);
    free(c);
}

static void script_reply(struct redis_conn *rc, redisReply *reply, void *privdata)
{
    struct script_call *c = privdata;
    if (reply && reply->type == REDIS_REPLY_ERROR && !c->retried &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        /* First use on this Redis: send the source once; EVALSHA works from then on. */
        c->retried = 1;
        free(c->argv[0]);
        free(c->argv[1]);
        c->argv[0] = oc_strdup("EVAL");
        c->lens[0] = 4;
        c->argv[1] = oc_strdup(c->s->src);
        c->lens[1] = strlen(c->s->src);
        if (redis_conn_command(rc, script_reply, c, c->argc, (const char **)c->argv, c->lens) == 0)
            return;
        reply = NULL;
    }
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_error("redis script failed script=%s error=\"%s\"", c->s->name, reply->str);
    if (c->cb)
        c->cb(rc, reply, c->privdata);
    script_call_free(c);
}

static void script_loaded(struct redis_conn *rc, redisReply *reply, void *privdata)
{
    struct script *s = privdata;
    if (!reply)
        return; /* the connection went down: loaded again when it is back */
    if (reply->type != REDIS_REPLY_STRING || strcmp(reply->str, s->sha) != 0)
        log_error("redis SCRIPT LOAD failed script=%s reply=\"%s\"", s->name,
                  reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_ERROR
                      ? reply->str
                      : "not a SHA1");
}

/* Sends every script's source as the first commands of a new command connection. Replies
 * come in order, so each EVALSHA sent after these finds its script: thousands of clients
 * arriving on a fresh Redis no longer each pay a NOSCRIPT error and an EVAL. script_reply()
 * still falls back to EVAL for a cache emptied later (SCRIPT FLUSH, a failover to a
 * replica that never saw the scripts). */
static void load_scripts(struct engine_redis *e)
{
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        const char *argv[] = {"SCRIPT", "LOAD", scripts[i]->src};
        size_t lens[] = {6, 4, strlen(scripts[i]->src)};
        redis_conn_command(e->cmd, script_loaded, scripts[i], 3, argv, lens);
    }
}

/* Runs script with nkeys keys then args (each a buf). Returns -1 (cb not called) when Redis
 * is down. */
static int run_script(struct engine_redis *e, struct script *s, int nkeys, struct buf *words,
                      int nwords, redis_reply_fn cb, void *privdata)
{
    struct script_call *c = oc_calloc(1, sizeof(*c));
    c->e = e;
    c->s = s;
    c->cb = cb;
    c->privdata = privdata;
    c->argc = 3 + nwords;
    c->argv = oc_calloc((size_t)c->argc, sizeof(char *));
    c->lens = oc_calloc((size_t)c->argc, sizeof(size_t));
    c->argv[0] = oc_strdup("EVALSHA");
    c->lens[0] = 7;
    c->argv[1] = oc_strdup(s->sha);
    c->lens[1] = 40;
    char n[16];
    snprintf(n, sizeof(n), "%d", nkeys);
    c->argv[2] = oc_strdup(n);
    c->lens[2] = strlen(n);
    for (int i = 0; i < nwords; i++) {
        c->lens[3 + i] = words[i].len;
        c->argv[3 + i] = words[i].p ? buf_detach(&words[i]) : oc_strdup("");
    }
    if (redis_conn_command(e->cmd, script_reply, c, c->argc, (const char **)c->argv, c->lens) !=
        0) {
        script_call_free(c);
        return -1;
    }
    return 0;
}

static void free_words(struct buf *words, int n)
{
    for (int i = 0; i < n; i++)
        buf_free(&words[i]);
}

/* --- channel messages -------------------------------------------------------------------- */

/* Decodes one channel message and delivers it. Presence envelopes numbered at or below
 * min_seq are already in the replica's snapshot and are dropped. */
static void deliver_text(struct engine_redis *e, struct chan *ch, const char *text, size_t len,
                         long long min_seq)
{
    struct chanmsg m;
    const char *err;
    enum chanmsg_status cst = chanmsg_decode(text, len, &m, &err);
    if (cst != CHANMSG_OK) {
        /* A kind from a newer version is skipped without a word. */
        if (cst == CHANMSG_MALFORMED)
            log_warn("redis message dropped channel=%s reason=\"%s\"", ch->name, err);
        return;
    }
    struct envelope env = {.origin_instance = m.instance, .origin_sid = m.sid};
    switch (m.kind) {
    case CHANMSG_BROADCAST:
    case CHANMSG_EMIT:
        env.kind = m.kind == CHANMSG_EMIT ? ENVELOPE_EMIT : ENVELOPE_BROADCAST;
        env.echo = m.echo;
        env.to = m.to;
        env.frame = frame_new_copy(m.body, m.body_len);
        e->base.deliver(e->base.deliver_privdata, ch->okey, &env);
        frame_unref(env.frame);
        break;
    case CHANMSG_PRESENCE: {
        env.kind = ENVELOPE_PRESENCE;
        env.user_key = m.user_key;
        if (m.seq <= min_seq)
            break;
        struct participant *p = m.body_len ? participant_from_json(m.body, m.body_len) : NULL;
        if (m.body_len && !p)
            break;
        env.participant = p;
        e->base.deliver(e->base.deliver_privdata, ch->okey, &env);
        participant_free(p);
        break;
    }
    case CHANMSG_DATA: {
        struct data_doc doc;
        data_doc_init(&doc);
        if (data_parse(m.body, m.body_len, &doc, &err) == 0) {
            env.kind = ENVELOPE_DATA;
            env.data = &doc;
            env.version = m.version;
            env.updated_at = m.updated_at;
            e->base.deliver(e->base.deliver_privdata, ch->okey, &env);
        }
        data_doc_clear(&doc);
        break;
    }
    }
    chanmsg_clear(&m);
}

static void run_waits(struct engine_redis *e, struct chan *ch);

/*
 * Subscription commands in flight, per channel name. After SUBSCRIBE, UNSUBSCRIBE,
 * SUBSCRIBE of one object's channel, the answer to the first SUBSCRIBE says nothing about
 * the last one: only the answer to the last command sent for a name tells its state, so a
 * channel counts as confirmed only when its SUBSCRIBE is answered with nothing else of
 * that name still in flight.
 */
static void sub_sent(struct engine_redis *e, const char *name)
{
    uintptr_t n = (uintptr_t)dict_get(&e->sub_due, name, strlen(name));
    dict_set(&e->sub_due, name, strlen(name), (void *)(n + 1));
}

/* One answer of name came; returns how many of its commands are still in flight. */
static uintptr_t sub_answered(struct engine_redis *e, const char *name, size_t len)
{
    uintptr_t n = (uintptr_t)dict_get(&e->sub_due, name, len);
    if (n <= 1) {
        dict_del(&e->sub_due, name, len);
        return 0;
    }
    dict_set(&e->sub_due, name, len, (void *)(n - 1));
    return n - 1;
}

static void on_sub_message(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct engine_redis *e = privdata;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *type = r->element[0]->str;
    int is_sub = strcmp(type, "subscribe") == 0;
    if (is_sub || strcmp(type, "unsubscribe") == 0) {
        if (sub_answered(e, r->element[1]->str, r->element[1]->len) > 0)
            return; /* stale: a later command of this name decides */
    }
    struct chan *ch = dict_get(&e->by_name, r->element[1]->str, r->element[1]->len);
    if (!ch)
        return;
    if (is_sub) {
        ch->confirmed = 1;
        run_waits(e, ch);
    } else if (strcmp(type, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING) {
        if (ch->snapping) {
            struct held *m = oc_malloc(sizeof(*m));
            m->text = oc_strndup(r->element[2]->str, r->element[2]->len);
            m->len = r->element[2]->len;
            m->next = NULL;
            *ch->held_tail = m;
            ch->held_tail = &m->next;
        } else {
            deliver_text(e, ch, r->element[2]->str, r->element[2]->len, 0);
        }
    }
}

static void subscribe_chan(struct engine_redis *e, struct chan *ch)
{
    const char *argv[] = {"SUBSCRIBE", ch->name};
    size_t lens[] = {9, strlen(ch->name)};
    ch->confirmed = 0;
    if (redis_conn_command(e->sub, NULL, NULL, 2, argv, lens) == 0)
        sub_sent(e, ch->name);
}

/* --- presence snapshots ------------------------------------------------------------------ */

struct snap {
    struct engine_redis *e;
    char *okey;
    engine_presence_fn cb;
    void *privdata;
};

static void flush_held(struct engine_redis *e, struct chan *ch)
{
    struct held *m = ch->held, *next;
    ch->held = NULL;
    ch->held_tail = &ch->held;
    for (; m; m = next) {
        next = m->next;
        deliver_text(e, ch, m->text, m->len, ch->snap_seq);
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
    key(&words[0], e, okey, "presence");
    key(&words[1], e, okey, "presence:exp");
    key(&words[2], e, okey, "meta");
    buf_printf(&words[3], "%lld", (long long)now_ms());
    /* Right after an outage nobody could refresh: expired entries still count. */
    buf_append_str(&words[4], now_ms() < e->sweep_after_ms ? "1" : "0");
    struct snap *s = oc_malloc(sizeof(*s));
    s->e = e;
    s->okey = oc_strdup(okey);
    s->cb = cb;
    s->privdata = privdata;
    if (ch)
        ch->snapping++;
    if (run_script(e, &snapshot_script, 3, words, 5, snapshot_reply, s) != 0) {
        free_words(words, 5);
        snapshot_reply(e->cmd, NULL, s);
    }
}

static void run_waits(struct engine_redis *e, struct chan *ch)
{
    struct list_wait *w = ch->waits, *next;
    ch->waits = NULL;
    for (; w; w = next) {
        next = w->next;
        snapshot(e, ch->okey, ch, w->cb, w->privdata);
        free(w);
    }
}

/* --- engine ops -------------------------------------------------------------------------- */

static int r_ready(struct engine *base)
{
    struct engine_redis *e = (struct engine_redis *)base;
    return redis_conn_up(e->cmd) && redis_conn_up(e->sub);
}

static void r_subscribe(struct engine *base, const char *okey)
{
    struct engine_redis *e = (struct engine_redis *)base;
    if (dict_get(&e->chans, okey, strlen(okey)))
        return;
    struct chan *ch = oc_calloc(1, sizeof(*ch));
    ch->okey = oc_strdup(okey);
    struct buf name = {0};
    key(&name, e, okey, "ch");
    ch->name = buf_detach(&name);
    ch->held_tail = &ch->held;
    dict_set(&e->chans, okey, strlen(okey), ch);
    dict_set(&e->by_name, ch->name, strlen(ch->name), ch);
    if (redis_conn_up(e->sub))
        subscribe_chan(e, ch);
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
        w->cb(w->privdata, ENGINE_UNAVAILABLE, 0, NULL, NULL);
        free(w);
    }
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
    if (redis_conn_up(e->sub)) {
        const char *argv[] = {"UNSUBSCRIBE", ch->name};
        size_t lens[] = {11, strlen(ch->name)};
        if (redis_conn_command(e->sub, NULL, NULL, 2, argv, lens) == 0)
            sub_sent(e, ch->name);
    }
    chan_free(ch);
}

struct done_call {
    engine_done_fn done;
    void *privdata;
};

static void done_reply(struct redis_conn *rc, redisReply *r, void *privdata)
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
    struct buf chan = {0}, msg = {0};
    key(&chan, e, okey, "ch");
    struct chanmsg m = {.kind = env->kind == ENVELOPE_EMIT ? CHANMSG_EMIT : CHANMSG_BROADCAST,
                        .instance = env->origin_instance,
                        .sid = env->origin_sid,
                        .echo = env->echo,
                        .to = env->to};
    size_t flen;
    const char *payload = frame_payload(env->frame, &flen);
    chanmsg_encode_message(&msg, &m, payload, flen);
    const char *argv[] = {"PUBLISH", chan.p, msg.p};
    size_t lens[] = {7, chan.len, msg.len};
    struct done_call *d = oc_malloc(sizeof(*d));
    d->done = done;
    d->privdata = privdata;
    if (redis_conn_command(e->cmd, done_reply, d, 3, argv, lens) != 0) {
        free(d);
        if (done)
            done(privdata, ENGINE_UNAVAILABLE);
    }
    buf_free(&chan);
    buf_free(&msg);
}

static void r_presence(struct engine *base, const char *okey, const struct envelope *env,
                       engine_done_fn done, void *privdata)
{
    struct engine_redis *e = (struct engine_redis *)base;
    struct buf words[9] = {{0}};
    key(&words[0], e, okey, "presence");
    key(&words[1], e, okey, "presence:exp");
    key(&words[2], e, okey, "meta");
    key(&words[3], e, okey, "ch");
    buf_printf(&words[4], "%s|%s", env->user_key, env->origin_instance);
    if (env->participant)
        participant_to_json(env->participant, env->object_id, &words[5]);
    buf_printf(&words[6], "%lld", (long long)now_ms() + (long long)e->conf->presence_ttl * 1000);
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
    if (run_script(e, &presence_script, 4, words, 9, done_reply, d) != 0) {
        free_words(words, 9);
        free(d);
        if (done)
            done(privdata, ENGINE_UNAVAILABLE);
    }
}

static void r_presence_list(struct engine *base, const char *okey, engine_presence_fn cb,
                            void *privdata)
{
    struct engine_redis *e = (struct engine_redis *)base;
    struct chan *ch = dict_get(&e->chans, okey, strlen(okey));
    if (!r_ready(base)) {
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

struct data_call {
    engine_data_fn cb;
    void *privdata;
    int save;
};

static void data_reply(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct data_call *c = privdata;
    enum engine_status st = ENGINE_UNAVAILABLE;
    struct data_doc doc;
    data_doc_init(&doc);
    struct engine_data d = {.doc = &doc};
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_STRING) {
        redisReply **el = r->element;
        size_t base = c->save ? 1 : 0;
        if (c->save && strcmp(el[0]->str, "conflict") == 0) {
            st = ENGINE_CONFLICT;
        } else if (c->save && strcmp(el[0]->str, "too_large") == 0) {
            st = ENGINE_TOO_LARGE;
        } else if (r->elements >= base + 3 && el[base + 2]->type == REDIS_REPLY_STRING) {
            const char *err;
            d.version = el[base]->type == REDIS_REPLY_INTEGER ? el[base]->integer
                                                              : strtoll(el[base]->str, NULL, 10);
            d.updated_at = el[base + 1]->type == REDIS_REPLY_INTEGER
                               ? el[base + 1]->integer
                               : strtoll(el[base + 1]->str, NULL, 10);
            st = data_parse(el[base + 2]->str, el[base + 2]->len, &doc, &err) == 0 ? ENGINE_OK
                                                                                     : ENGINE_ERROR;
        } else {
            st = ENGINE_ERROR;
        }
    } else if (r) {
        st = ENGINE_ERROR;
    }
    c->cb(c->privdata, st, st == ENGINE_OK ? &d : NULL);
    data_doc_clear(&doc);
    free(c);
}

static void r_data_get(struct engine *base, const char *okey, engine_data_fn cb, void *privdata)
{
    struct engine_redis *e = (struct engine_redis *)base;
    struct buf words[2] = {{0}};
    key(&words[0], e, okey, "data");
    key(&words[1], e, okey, "meta");
    struct data_call *c = oc_calloc(1, sizeof(*c));
    c->cb = cb;
    c->privdata = privdata;
    if (run_script(e, &get_script, 2, words, 2, data_reply, c) != 0) {
        free_words(words, 2);
        free(c);
        cb(privdata, ENGINE_UNAVAILABLE, NULL);
    }
}

static void r_data_save(struct engine *base, const char *okey, const struct engine_save *req,
                        engine_data_fn cb, void *privdata)
{
    struct engine_redis *e = (struct engine_redis *)base;
    const struct data_doc *u = req->update;
    int nwords = 8 + 3 * (int)u->count;
    struct buf *words = oc_calloc((size_t)nwords, sizeof(*words));
    key(&words[0], e, okey, "data");
    key(&words[1], e, okey, "meta");
    key(&words[2], e, okey, "ch");
    buf_append_str(&words[3], req->merge ? "1" : "0");
    buf_printf(&words[4], "%lld", req->if_version);
    buf_printf(&words[5], "%zu", req->max_bytes);
    buf_printf(&words[6], "%lld", (long long)time(NULL));
    struct chanmsg m = {.kind = CHANMSG_DATA,
                        .instance = req->origin_instance,
                        .sid = req->origin_sid};
    chanmsg_encode_data_head(&words[7], &m);
    for (size_t i = 0; i < u->count; i++) {
        const struct data_field *f = &u->fields[i];
        buf_append(&words[8 + 3 * i], f->key, f->klen);
        buf_printf(&words[9 + 3 * i], "%zu", f->bytes - 1 - f->vlen);
        buf_append(&words[10 + 3 * i], f->value, f->vlen);
    }
    struct data_call *c = oc_calloc(1, sizeof(*c));
    c->cb = cb;
    c->privdata = privdata;
    c->save = 1;
    if (run_script(e, &save_script, 3, words, nwords, data_reply, c) != 0) {
        free_words(words, nwords);
        free(c);
        cb(privdata, ENGINE_UNAVAILABLE, NULL);
    }
    free(words);
}

static size_t r_pending(struct engine *base)
{
    struct engine_redis *e = (struct engine_redis *)base;
    return redis_conn_pending(e->cmd);
}

/* --- housekeeping ------------------------------------------------------------------------ */

static void swept(struct redis_conn *rc, redisReply *r, void *privdata)
{
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        metrics.presence_swept += (uint64_t)r->integer;
}

static void sweep(struct engine_redis *e)
{
    if (now_ms() < e->sweep_after_ms)
        return;
    for (struct dict_entry *it = dict_first(&e->chans); it; it = dict_next(&e->chans, it)) {
        struct chan *ch = it->value;
        struct buf words[5] = {{0}};
        key(&words[0], e, ch->okey, "presence");
        key(&words[1], e, ch->okey, "presence:exp");
        key(&words[2], e, ch->okey, "meta");
        key(&words[3], e, ch->okey, "ch");
        buf_printf(&words[4], "%lld", (long long)now_ms());
        if (run_script(e, &sweep_script, 4, words, 5, swept, NULL) != 0)
            free_words(words, 5);
    }
}

static void refresh(struct engine_redis *e)
{
    long long exp = (long long)now_ms() + (long long)e->conf->presence_ttl * 1000;
    char score[32];
    snprintf(score, sizeof(score), "%lld", exp);
    for (struct dict_entry *it = dict_first(&e->locals); it; it = dict_next(&e->locals, it)) {
        struct local *l = it->value;
        struct buf k = {0};
        key(&k, e, l->okey, "presence:exp");
        const char *argv[] = {"ZADD", k.p, "XX", score, l->member};
        size_t lens[] = {4, k.len, 2, strlen(score), strlen(l->member)};
        redis_conn_command(e->cmd, NULL, NULL, 5, argv, lens);
        buf_free(&k);
    }
}

static void publish_stats(struct engine_redis *e)
{
    struct buf words[4] = {{0}};
    buf_printf(&words[0], "%s:instances", e->conf->redis_prefix);
    buf_append_str(&words[1], e->base.instance_id);
    buf_append_str(&words[2], "{\"id\":");
    json_append_string(&words[2], e->base.instance_id, strlen(e->base.instance_id));
    buf_append_str(&words[2], ",\"address\":");
    json_append_string(&words[2], e->listen_addr, strlen(e->listen_addr));
    buf_printf(&words[2], ",\"pid\":%d,\"started\":%lld,\"updated\":%lld,\"objects\":%zu",
               (int)getpid(), e->started, (long long)time(NULL), e->chans.count);
    if (e->base.stats) {
        buf_append_char(&words[2], ',');
        e->base.stats(e->base.stats_privdata, &words[2]);
    }
    buf_append_char(&words[2], '}');
    buf_printf(&words[3], "%lld", (long long)time(NULL));
    if (run_script(e, &instances_script, 1, words, 4, NULL, NULL) != 0)
        free_words(words, 4);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct engine_redis *e = arg;
    if (!r_ready(&e->base))
        return;
    e->ticks++;
    sweep(e);
    unsigned every = (unsigned)(e->conf->presence_ttl / 3 > 0 ? e->conf->presence_ttl / 3 : 1);
    if (e->ticks % every == 0)
        refresh(e);
    if (e->ticks % 2 == 1)
        publish_stats(e);
}

/* Both connections up again after an outage: subscriptions are renewed by on_state; the
 * registry reads every replica again and stores its entries again. */
static void on_state(struct redis_conn *rc, int up, void *privdata)
{
    struct engine_redis *e = privdata;
    metrics.redis_up = r_ready(&e->base);
    if (!up) {
        e->outage = 1;
        if (rc == e->sub) {
            for (struct dict_entry *it = dict_first(&e->chans); it; it = dict_next(&e->chans, it))
                ((struct chan *)it->value)->confirmed = 0;
            dict_free(&e->sub_due); /* those answers will never come */
        }
        return;
    }
    /* First, before anything here or in the registry can send an EVALSHA. */
    if (rc == e->cmd)
        load_scripts(e);
    if (rc == e->sub)
        for (struct dict_entry *it = dict_first(&e->chans); it; it = dict_next(&e->chans, it))
            subscribe_chan(e, it->value);
    if (r_ready(&e->base)) {
        if (e->outage) {
            metrics.redis_reconnects++;
            e->sweep_after_ms = now_ms() + ((int64_t)e->conf->presence_ttl + 6) * 1000;
        }
        if (e->outage && e->base.reset) {
            log_info("redis resync objects=%zu", e->chans.count);
            e->base.reset(e->base.deliver_privdata);
        }
        e->outage = 0;
        publish_stats(e);
    }
}

static void r_free(struct engine *base)
{
    struct engine_redis *e = (struct engine_redis *)base;
    /* Waiting callbacks are answered (unavailable) while the tables still exist. */
    redis_conn_free(e->cmd);
    redis_conn_free(e->sub);
    for (struct dict_entry *it = dict_first(&e->chans); it; it = dict_next(&e->chans, it))
        chan_free(it->value);
    for (struct dict_entry *it = dict_first(&e->locals); it; it = dict_next(&e->locals, it)) {
        struct local *l = it->value;
        free(l->okey);
        free(l->member);
        free(l);
    }
    dict_free(&e->chans);
    dict_free(&e->by_name);
    dict_free(&e->sub_due);
    dict_free(&e->locals);
    event_free(e->tick);
    free(e->listen_addr);
    free(e);
}

static const struct engine_ops redis_ops = {
    .name = "redis",
    .ready = r_ready,
    .free = r_free,
    .pending = r_pending,
    .subscribe = r_subscribe,
    .unsubscribe = r_unsubscribe,
    .publish = r_publish,
    .presence = r_presence,
    .presence_list = r_presence_list,
    .data_get = r_data_get,
    .data_save = r_data_save,
};

struct engine *engine_redis_new(struct event_base *base, const struct conf *conf,
                                const char *instance_id, const char *listen_addr)
{
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
        if (!scripts[i]->sha[0])
            script_init(scripts[i]);
    struct engine_redis *e = oc_calloc(1, sizeof(*e));
    e->base.ops = &redis_ops;
    e->base.instance_id = instance_id;
    e->evbase = base;
    e->conf = conf;
    e->listen_addr = oc_strdup(listen_addr);
    e->started = (long long)time(NULL);
    e->cmd = redis_conn_new(base, conf, instance_id, 0, on_state, NULL, e);
    e->sub = redis_conn_new(base, conf, instance_id, 1, on_state, on_sub_message, e);
    e->tick = event_new(base, -1, EV_PERSIST, on_tick, e);
    struct timeval tv = {1, 0};
    evtimer_add(e->tick, &tv);
    return &e->base;
}
