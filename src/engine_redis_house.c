/*
 * engine redis: housekeeping, a few commands a second whatever this instance holds.
 *
 * Liveness is per instance, not per entry (docs/operations.md, "Redis"). Once a second
 * house.lua pushes this instance's heartbeat forward; when a heartbeat lapses, the next
 * instance to beat declares its instance dead and queues the reaping of its generation.
 * Every presence entry is stored with the generation of its instance, and every object an
 * instance has entries on is in the object index of that generation, so reaping a dead
 * generation is: for each object of its index, presence_reap.lua, which removes that
 * generation's entries and publishes each removal once (twice is harmless: the second
 * finds nothing). An instance cut off from Redis, or declared dead while it lived, takes a
 * new generation, stores its entries again under it and leaves the old one to be reaped
 * after presence_ttl (by then its entries are stored again; what is left are the users who
 * went meanwhile). Every other tick the instance also writes its entry in the instances
 * registry (instances_refresh.lua).
 */

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine_redis_int.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "okey.h"
#include "util.h"

/* How long a job is this instance's before another may take it over: reaping an index of
 * 100,000 objects takes a few seconds. */
#define JOB_LEASE_MS 60000
/* Objects per SSCAN batch: the reap scripts of one batch are in flight at once. */
#define JOB_BATCH "256"

void engine_redis_index_key(struct buf *b, const struct engine_redis *e, long long gen)
{
    buf_reset(b);
    buf_printf(b, "%s:{", e->conf->redis_prefix);
    okey_append_id(b, e->base.instance_id, strlen(e->base.instance_id));
    buf_printf(b, "}:objects:%lld", gen);
}

static void instances_key(struct buf *b, const struct engine_redis *e, const char *suffix)
{
    buf_reset(b);
    buf_printf(b, "%s:{instances}:%s", e->conf->redis_prefix, suffix);
}

/* --- reaping a dead generation ----------------------------------------------------------- */

/* The job "<instance>|<generation>[|r]" of house.lua: the objects of that generation's index,
 * a batch at a time. Commands of the job in flight keep it alive; a failed one ends it (its
 * lease runs out and whoever beats next takes it again). */
struct reap_job {
    struct engine_redis *e;
    char *name;       /* the member of the reap zset */
    char *instance;   /* whose generation */
    char *gen;        /* the generation, decimal */
    struct buf index; /* its object index */
    char cursor[32];
    unsigned pending; /* commands of the job in flight */
    int scanned;      /* the SSCAN came back to cursor 0 */
    int failed;
    int done;
};

static void job_next(struct reap_job *j);

static void job_free(struct reap_job *j)
{
    if (j->e->job == j)
        j->e->job = NULL;
    free(j->name);
    free(j->instance);
    free(j->gen);
    buf_free(&j->index);
    free(j);
}

static void job_reply(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct reap_job *j = privdata;
    j->pending--;
    if (!r || r->type == REDIS_REPLY_ERROR)
        j->failed = 1;
    job_next(j);
}

static void reaped(struct redis_conn *rc, redisReply *r, void *privdata)
{
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        metrics.presence_swept += (uint64_t)r->integer;
    job_reply(rc, r, privdata);
}

/* Sends a command of the job; argv[1] is its key. */
static void job_send(struct reap_job *j, redis_reply_fn cb, int argc, const char **argv,
                     const size_t *lens)
{
    if (engine_redis_send(j->e, argv[1], lens[1], cb, j, argc, argv, lens) == 0)
        j->pending++;
    else
        j->failed = 1;
}

static void reap_object(struct reap_job *j, const char *okey)
{
    struct engine_redis *e = j->e;
    struct buf words[9] = {{0}};
    engine_redis_key(&words[0], e, okey, "presence");
    engine_redis_key(&words[1], e, okey, "presence:gen");
    engine_redis_key(&words[2], e, okey, "presence:dead");
    engine_redis_key(&words[3], e, okey, "meta");
    engine_redis_key(&words[4], e, okey, "ch");
    buf_append_str(&words[5], j->instance);
    buf_append_str(&words[6], j->gen);
    /* Writes of the dead generation still on their way arrive within seconds. */
    buf_printf(&words[7], "%lld", 2000LL * e->conf->presence_ttl + 10000);
    buf_printf(&words[8], "%lld", 1000LL * e->conf->history_ttl);
    if (engine_redis_run_script(e, &script_presence_reap, 5, words, 9, reaped, j) == 0)
        j->pending++;
    else
        j->failed = 1;
    /* After the reap on the same connection: a write of the dead generation that came
     * between them is refused by the object (presence_set.lua), so nothing is missed. */
    const char *argv[] = {"SREM", j->index.p, okey};
    size_t lens[] = {4, j->index.len, strlen(okey)};
    job_send(j, job_reply, 3, argv, lens);
}

static void scan_reply(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct reap_job *j = privdata;
    j->pending--;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        j->failed = 1;
        job_next(j);
        return;
    }
    snprintf(j->cursor, sizeof(j->cursor), "%s", r->element[0]->str);
    j->scanned = strcmp(j->cursor, "0") == 0;
    redisReply *keys = r->element[1];
    for (size_t i = 0; i < keys->elements && !j->failed; i++)
        if (keys->element[i]->type == REDIS_REPLY_STRING)
            reap_object(j, keys->element[i]->str);
    job_next(j);
}

/* One batch at a time: the next SSCAN when the last batch is answered, the job removed
 * when the index is through. */
static void job_next(struct reap_job *j)
{
    if (j->pending)
        return;
    if (!j->failed && !j->done) {
        if (j->scanned) {
            struct buf k = {0};
            instances_key(&k, j->e, "reap");
            const char *argv[] = {"ZREM", k.p, j->name};
            size_t lens[] = {4, k.len, strlen(j->name)};
            j->done = 1;
            job_send(j, job_reply, 3, argv, lens);
            buf_free(&k);
        } else {
            const char *argv[] = {"SSCAN", j->index.p, j->cursor, "COUNT", JOB_BATCH};
            size_t lens[] = {5, j->index.len, strlen(j->cursor), 5, strlen(JOB_BATCH)};
            job_send(j, scan_reply, 5, argv, lens);
        }
        if (j->pending)
            return;
    }
    if (j->failed)
        log_warn("reaping %s interrupted: taken up again when its lease ends", j->name);
    else
        log_info("reaped generation %s of instance %s", j->gen, j->instance);
    job_free(j);
}

/* Starts the job name, "<instance>|<generation>" or "<instance>|<generation>|r". */
static void job_start(struct engine_redis *e, const char *name, size_t len)
{
    char *s = oc_strndup(name, len);
    size_t end = len;
    if (end > 2 && strcmp(s + end - 2, "|r") == 0)
        end -= 2;
    char *bar = NULL;
    for (size_t i = end; i > 0; i--)
        if (s[i - 1] == '|') {
            bar = s + i - 1;
            break;
        }
    if (!bar || bar == s || bar + 1 == s + end) {
        log_warn("reap job ignored: malformed name \"%s\"", s);
        free(s);
        return;
    }
    struct reap_job *j = oc_calloc(1, sizeof(*j));
    j->e = e;
    j->name = s;
    j->instance = oc_strndup(s, (size_t)(bar - s));
    j->gen = oc_strndup(bar + 1, (size_t)(s + end - bar - 1));
    buf_printf(&j->index, "%s:{", e->conf->redis_prefix);
    okey_append_id(&j->index, j->instance, strlen(j->instance));
    buf_printf(&j->index, "}:objects:%s", j->gen);
    strcpy(j->cursor, "0");
    e->job = j;
    log_info("reaping generation %s of instance %s", j->gen, j->instance);
    job_next(j);
}

/* --- heartbeat --------------------------------------------------------------------------- */

static void beaten(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct engine_redis *e = privdata;
    e->house_busy = 0;
    if (r && r->type != REDIS_REPLY_ERROR)
        e->beat_rtt_ms = (double)(util_monotonic_us() - e->beat_sent_us) / 1000.0;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[2]->type != REDIS_REPLY_STRING) {
        if (r)
            log_warn("heartbeat failed: %s", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
        /* Nobody else could beat either (in a cluster the master of the heartbeats may be
         * failing over): give them time once it works again. */
        engine_redis_beat_failed(e);
        return;
    }
    long long prev = e->gen;
    int fresh = strcmp(r->element[1]->str, "1") == 0;
    e->gen = strtoll(r->element[0]->str, NULL, 10);
    e->renew = 0;
    e->gen_ok = 1;
    metrics.redis_up = engine_redis_ready(&e->base);
    if (fresh && prev) {
        /* Cut off, or declared dead: every replica is read again and every local entry
         * stored again, under the new generation. */
        log_info("redis resync objects=%zu generation=%lld", e->chans.count, e->gen);
        if (e->base.reset)
            e->base.reset(e->base.deliver_privdata, NULL);
    }
    if (r->element[2]->len && !e->job)
        job_start(e, r->element[2]->str, r->element[2]->len);
}

void engine_redis_beat_failed(struct engine_redis *e)
{
    e->declare_after_ms = util_wall_ms() + ((int64_t)e->conf->presence_ttl + 6) * 1000;
}

void engine_redis_beat(struct engine_redis *e)
{
    if (e->house_busy || !engine_redis_connected(e))
        return;
    struct buf words[10] = {{0}};
    instances_key(&words[0], e, "beats");
    instances_key(&words[1], e, "gens");
    instances_key(&words[2], e, "reap");
    buf_append_str(&words[3], e->base.instance_id);
    buf_printf(&words[4], "%lld", e->gen);
    buf_append_str(&words[5], e->renew ? "1" : "0");
    buf_printf(&words[6], "%lld", 1000LL * e->conf->presence_ttl);
    buf_append_str(&words[7], util_wall_ms() >= e->declare_after_ms ? "1" : "0");
    buf_printf(&words[8], "%d", JOB_LEASE_MS);
    buf_append_str(&words[9], e->job ? "0" : "1");
    e->beat_sent_us = util_monotonic_us();
    if (engine_redis_run_script(e, &script_house, 3, words, 10, beaten, e) == 0)
        e->house_busy = 1;
    else
        engine_redis_beat_failed(e);
}

/* --- instances registry ------------------------------------------------------------------ */

void engine_redis_publish_stats(struct engine_redis *e)
{
    struct buf words[4] = {{0}};
    buf_printf(&words[0], "%s:instances", e->conf->redis_prefix);
    buf_append_str(&words[1], e->base.instance_id);
    buf_append_char(&words[2], '{');
    if (e->base.stats) {
        e->base.stats(e->base.stats_privdata, &words[2]);
        buf_append_char(&words[2], ',');
    }
    buf_printf(&words[2], "\"redis_latency_ms\":%.3f,\"objects_subscribed\":%zu}", e->beat_rtt_ms,
               e->chans.count);
    buf_printf(&words[3], "%lld", (long long)time(NULL));
    engine_redis_run_script(e, &script_instances_refresh, 1, words, 4, NULL, NULL);
}

/* An overview in flight: the registry's HGETALL and INFO, sent together to one node. */
struct overview_call {
    engine_overview_fn cb;
    void *privdata;
    int waiting;              /* replies still to come */
    int cluster;
    enum engine_status st;
    int64_t sent_us;
    double latency_ms;
    size_t n;
    char **entries;           /* copies: a reply lives only during its callback */
    size_t *lens;
    char *info;
    size_t info_len;
};

static void overview_finish(struct overview_call *c)
{
    struct engine_overview o = {.n = c->n, .entries = (const char *const *)c->entries,
                                .lens = c->lens, .cluster = c->cluster,
                                .latency_ms = c->latency_ms, .info = c->info,
                                .info_len = c->info_len};
    c->cb(c->privdata, c->st, &o);
    for (size_t i = 0; i < c->n; i++)
        free(c->entries[i]);
    free(c->entries);
    free(c->lens);
    free(c->info);
    free(c);
}

static void overview_registry(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct overview_call *c = privdata;
    c->latency_ms = (double)(util_monotonic_us() - c->sent_us) / 1000.0;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        c->st = ENGINE_UNAVAILABLE;
    } else {
        c->entries = oc_calloc(r->elements / 2 + 1, sizeof(*c->entries));
        c->lens = oc_calloc(r->elements / 2 + 1, sizeof(*c->lens));
        for (size_t i = 1; i < r->elements; i += 2) {
            if (r->element[i]->type != REDIS_REPLY_STRING)
                continue;
            c->entries[c->n] = oc_strndup(r->element[i]->str, r->element[i]->len);
            c->lens[c->n++] = r->element[i]->len;
        }
    }
    if (--c->waiting == 0)
        overview_finish(c);
}

static void overview_info(struct redis_conn *rc, redisReply *r, void *privdata)
{
    struct overview_call *c = privdata;
    if (r && r->type == REDIS_REPLY_STRING) {
        c->info = oc_strndup(r->str, r->len);
        c->info_len = r->len;
    }
    if (--c->waiting == 0)
        overview_finish(c);
}

void engine_redis_overview(struct engine *base, engine_overview_fn cb, void *privdata)
{
    struct engine_redis *e = (struct engine_redis *)base;
    struct overview_call *c = oc_calloc(1, sizeof(*c));
    c->cb = cb;
    c->privdata = privdata;
    c->cluster = e->cluster;
    c->latency_ms = -1;
    struct buf key = {0};
    buf_printf(&key, "%s:instances", e->conf->redis_prefix);
    const char *hgetall[] = {"HGETALL", key.p};
    size_t hlens[] = {7, key.len};
    const char *info[] = {"INFO"};
    size_t ilens[] = {4};
    /* INFO goes with the key, so both read the node that holds the registry. */
    c->sent_us = util_monotonic_us();
    c->waiting = 2;
    if (!engine_redis_connected(e) ||
        engine_redis_send(e, key.p, key.len, overview_registry, c, 2, hgetall, hlens) != 0) {
        c->st = ENGINE_UNAVAILABLE;
        c->waiting = 1;
    }
    if (c->st != ENGINE_OK || engine_redis_send(e, key.p, key.len, overview_info, c, 1, info,
                                                ilens) != 0) {
        if (--c->waiting == 0)
            overview_finish(c);
    }
    buf_free(&key);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct engine_redis *e = arg;
    if (!engine_redis_connected(e))
        return;
    e->ticks++;
    engine_redis_beat(e);
    engine_redis_probe_replicas(e);
    if (e->ticks % 2 == 1)
        engine_redis_publish_stats(e);
}

void engine_redis_house_start(struct engine_redis *e)
{
    e->tick = event_new(e->evbase, -1, EV_PERSIST, on_tick, e);
    struct timeval tv = {1, 0};
    evtimer_add(e->tick, &tv);
}
