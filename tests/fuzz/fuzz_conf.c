/*
 * libFuzzer target for src/conf.c. The input is a conf file (cut at its first NUL byte, as
 * conf_load_file() refuses those):
 *  1. conf_load_string() over the defaults; a refusal writes one "NAME:LINE: key: reason"
 *     error; success is followed by conf_validate(), which must also explain a refusal;
 *  2. the same text loaded again over the result, as a reload does: values replaced must be
 *     freed (LeakSanitizer reports them otherwise), and the outcome must be the same;
 *  3. the keys every part of the server reads unchecked must be set.
 * Build: scripts/fuzz conf
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "origin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_conf: %s (%s)\n", what, detail ? detail : "-");
    abort();
}

static void require(int cond, const char *what, const char *detail)
{
    if (!cond)
        fail(what, detail);
}

/* Loads text into c; returns the load's result and checks how an error is written. */
static int load(struct conf *c, const char *text)
{
    struct buf err = {0};
    int rc = conf_load_string(c, text, "fuzz.conf", &err);
    require(rc == 0 || rc == -1, "unknown return value", NULL);
    if (rc != 0)
        require(err.len > 10 && strncmp(err.p, "fuzz.conf:", 10) == 0,
                "refused without a located error", err.p);
    else
        require(err.len == 0, "accepted with an error", err.p);
    require(c->conf_file && strcmp(c->conf_file, "fuzz.conf") == 0, "conf_file not the name",
            c->conf_file);
    buf_free(&err);
    return rc;
}

static void check_loaded(const struct conf *c)
{
    require(c->bind && c->redis_url && c->redis_host && c->redis_prefix && c->instance_id &&
                c->token_secret && c->api_key && c->static_dir && c->allowed_origins,
            "a string key is NULL", NULL);
    require(c->port >= 0 && c->port <= 65535, "port out of range", NULL);
    require(c->redis_port >= 0 && c->redis_port <= 65535, "redis port out of range", NULL);
    require(c->redis_hosts && c->redis_nhosts >= 1 && c->redis_nhosts <= REDIS_URL_MAX_HOSTS,
            "redis_url without hosts", NULL);
    require(strcmp(c->redis_hosts[0].host, c->redis_host) == 0 &&
                c->redis_hosts[0].port == c->redis_port,
            "redis_host is not the first of redis_hosts", c->redis_host);
    require(c->redis_cluster == 0 || c->redis_cluster == 1, "redis_cluster", NULL);
    require(c->engine == CONF_ENGINE_MEMORY || c->engine == CONF_ENGINE_REDIS, "engine", NULL);
    require(c->allowed_origins[0] != NULL, "no allowed origin", NULL);
    for (char **o = c->allowed_origins; *o; o++)
        require(**o != '\0', "an empty origin", NULL);
    require(c->client_rate >= 1 && c->client_burst >= c->client_rate, "client_rate", NULL);
    origin_allowed(c->allowed_origins, "https://app.example.com");

    struct buf err = {0};
    int rc = conf_validate(c, &err);
    require(rc == 0 || rc == -1, "unknown validate result", NULL);
    require(rc == 0 ? err.len == 0 : err.len > 0, "validate result and error disagree", err.p);
    buf_free(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';

    struct conf c;
    conf_init(&c);
    int rc = load(&c, text);
    if (rc == 0)
        check_loaded(&c);
    /* A reload applies the file over what is set: same text, same outcome. */
    require(load(&c, text) == rc, "second load differs", NULL);
    if (rc == 0)
        check_loaded(&c);
    conf_free(&c);
    free(text);
    return 0;
}
