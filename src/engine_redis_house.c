/*
 * engine redis: housekeeping, once a second while both connections are up. Each tick
 * sweeps the presence of every subscribed object (presence_sweep.lua: a dead instance's
 * entries go, each removal published once); every presence_ttl / 3 ticks the expiry of
 * this instance's own entries is pushed back; every other tick its entry in the instances
 * registry is written (instances_refresh.lua).
 */

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine_redis_int.h"
#include "json.h"
#include "metrics.h"
#include "util.h"

static void swept(struct redis_conn *rc, redisReply *r, void *privdata)
{
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        metrics.presence_swept += (uint64_t)r->integer;
}

static void sweep(struct engine_redis *e)
{
    if (util_wall_ms() < e->sweep_after_ms)
        return;
    for (struct dict_entry *it = dict_first(&e->chans); it; it = dict_next(&e->chans, it)) {
        struct chan *ch = it->value;
        struct buf words[5] = {{0}};
        engine_redis_key(&words[0], e, ch->okey, "presence");
        engine_redis_key(&words[1], e, ch->okey, "presence:exp");
        engine_redis_key(&words[2], e, ch->okey, "meta");
        engine_redis_key(&words[3], e, ch->okey, "ch");
        buf_printf(&words[4], "%lld", (long long)util_wall_ms());
        engine_redis_run_script(e, &script_presence_sweep, 4, words, 5, swept, NULL);
    }
}

static void refresh(struct engine_redis *e)
{
    long long exp = (long long)util_wall_ms() + (long long)e->conf->presence_ttl * 1000;
    char score[32];
    snprintf(score, sizeof(score), "%lld", exp);
    for (struct dict_entry *it = dict_first(&e->locals); it; it = dict_next(&e->locals, it)) {
        struct local *l = it->value;
        struct buf k = {0};
        engine_redis_key(&k, e, l->okey, "presence:exp");
        const char *argv[] = {"ZADD", k.p, "XX", score, l->member};
        size_t lens[] = {4, k.len, 2, strlen(score), strlen(l->member)};
        redis_conn_command(e->cmd, NULL, NULL, 5, argv, lens);
        buf_free(&k);
    }
}

void engine_redis_publish_stats(struct engine_redis *e)
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
    engine_redis_run_script(e, &script_instances_refresh, 1, words, 4, NULL, NULL);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct engine_redis *e = arg;
    if (!engine_redis_ready(&e->base))
        return;
    e->ticks++;
    sweep(e);
    unsigned every = (unsigned)(e->conf->presence_ttl / 3 > 0 ? e->conf->presence_ttl / 3 : 1);
    if (e->ticks % every == 0)
        refresh(e);
    if (e->ticks % 2 == 1)
        engine_redis_publish_stats(e);
}

void engine_redis_house_start(struct engine_redis *e)
{
    e->tick = event_new(e->evbase, -1, EV_PERSIST, on_tick, e);
    struct timeval tv = {1, 0};
    evtimer_add(e->tick, &tv);
}
