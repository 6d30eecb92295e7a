/*
 * engine redis: its Lua scripts (src/lua/NAME.lua, embedded by the build through
 * lua_scripts.h). Each runs with EVALSHA; a new command connection loads them all first,
 * and EVAL sends the source when Redis does not know one. In a Redis Cluster a script
 * publishes with SPUBLISH (sharded pub/sub): the cluster variant of each is its text with
 * 'PUBLISH' replaced by 'SPUBLISH', and has its own SHA1.
 */

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_redis_int.h"
#include "log.h"
#include "lua_scripts.h"

struct script script_presence_set = {.name = "presence", .src = lua_presence_set};
struct script script_presence_reap = {.name = "reap", .src = lua_presence_reap};
struct script script_presence_snapshot = {.name = "snapshot", .src = lua_presence_snapshot};
struct script script_data_get = {.name = "get", .src = lua_data_get};
struct script script_data_save = {.name = "save", .src = lua_data_save};
struct script script_instances_refresh = {.name = "instances", .src = lua_instances_refresh};
struct script script_house = {.name = "house", .src = lua_house};
struct script script_publish = {.name = "publish", .src = lua_publish};
struct script script_history_since = {.name = "history", .src = lua_history_since};
struct script script_epoch_renew = {.name = "epoch", .src = lua_epoch_renew};

static struct script *scripts[] = {&script_presence_set,      &script_presence_reap,
                                   &script_presence_snapshot, &script_data_get,
                                   &script_data_save,         &script_instances_refresh,
                                   &script_house,             &script_publish,
                                   &script_history_since,     &script_epoch_renew};

static void sha1_hex(const char *text, char out[41])
{
    uint8_t d[SHA_DIGEST_LENGTH];
    SHA1((const uint8_t *)text, strlen(text), d);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* src with every 'PUBLISH' (quotes included) made 'SPUBLISH'. */
static char *sharded(const char *src)
{
    static const char from[] = "'PUBLISH'";
    struct buf b = {0};
    const char *p = src, *hit;
    while ((hit = strstr(p, from))) {
        buf_append(&b, p, (size_t)(hit - p));
        buf_append_str(&b, "'SPUBLISH'");
        p = hit + sizeof(from) - 1;
    }
    buf_append_str(&b, p);
    return buf_detach(&b);
}

static void script_init(struct script *s)
{
    sha1_hex(s->src, s->sha);
    s->csrc = sharded(s->src);
    sha1_hex(s->csrc, s->csha);
}

void engine_redis_scripts_init(void)
{
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
        if (!scripts[i]->sha[0])
            script_init(scripts[i]);
}

/* --- EVALSHA, EVAL when Redis does not know the script ----------------------------------- */

struct script_call {
    struct engine_redis *e;
    struct script *s;
    int argc; /* EVALSHA sha numkeys keys... args... */
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
        const char *src = c->e->cluster ? c->s->csrc : c->s->src;
        c->argv[0] = oc_strdup("EVAL");
        c->lens[0] = 4;
        c->argv[1] = oc_strdup(src);
        c->lens[1] = strlen(src);
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

static void loaded(redisReply *reply, const struct script *s, const char *sha)
{
    if (!reply)
        return; /* the connection went down: loaded again when it is back */
    if (reply->type != REDIS_REPLY_STRING || strcmp(reply->str, sha) != 0)
        log_error("redis SCRIPT LOAD failed script=%s reply=\"%s\"", s->name,
                  reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_ERROR
                      ? reply->str
                      : "not a SHA1");
}

static void script_loaded(struct redis_conn *rc, redisReply *reply, void *privdata)
{
    loaded(reply, privdata, ((struct script *)privdata)->sha);
}

static void script_loaded_c(struct redis_conn *rc, redisReply *reply, void *privdata)
{
    loaded(reply, privdata, ((struct script *)privdata)->csha);
}

/* Sends every script's source as the first commands of a new command connection. Replies
 * come in order, so each EVALSHA sent after these finds its script: thousands of clients
 * arriving on a fresh Redis no longer each pay a NOSCRIPT error and an EVAL. script_reply()
 * still falls back to EVAL for a cache emptied later (SCRIPT FLUSH, a failover to a
 * replica that never saw the scripts). */
void engine_redis_scripts_load(struct engine_redis *e, struct redis_conn *cmd)
{
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        const char *src = e->cluster ? scripts[i]->csrc : scripts[i]->src;
        const char *argv[] = {"SCRIPT", "LOAD", src};
        size_t lens[] = {6, 4, strlen(src)};
        redis_conn_command(cmd, e->cluster ? script_loaded_c : script_loaded, scripts[i], 3, argv,
                           lens);
    }
}

int engine_redis_run_script(struct engine_redis *e, struct script *s, int nkeys, struct buf *words,
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
    c->argv[1] = oc_strdup(e->cluster ? s->csha : s->sha);
    c->lens[1] = 40;
    char n[16];
    snprintf(n, sizeof(n), "%d", nkeys);
    c->argv[2] = oc_strdup(n);
    c->lens[2] = strlen(n);
    for (int i = 0; i < nwords; i++) {
        c->lens[3 + i] = words[i].len;
        c->argv[3 + i] = words[i].p ? buf_detach(&words[i]) : oc_strdup("");
    }
    /* Routed by its first key: every key of a script shares one hash tag. */
    int slot = engine_redis_slot(e, c->argv[3], c->lens[3]);
    if (engine_redis_send_slot(e, slot, script_reply, c, c->argc, (const char **)c->argv,
                               c->lens) != 0) {
        script_call_free(c);
        return -1;
    }
    return 0;
}
