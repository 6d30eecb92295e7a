/*
 * libFuzzer target for src/redis_url.c. The input is a URL (cut at its first NUL byte, as a
 * conf word cannot hold one):
 *  1. a refusal sets a reason; an acceptance names 1 to REDIS_URL_MAX_HOSTS hosts, each
 *     non-empty with a port of 1..65535, the first also as host:port, and a db of 0..1023;
 *  2. the hosts, rebuilt into a URL of their own ([] around IPv6), parse back to the same
 *     hosts in the same order;
 *  3. everything is freed (LeakSanitizer reports the rest), also on refusal.
 * Build: scripts/fuzz redis_url
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "redis_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int cond, const char *what, const char *detail)
{
    if (!cond) {
        fprintf(stderr, "fuzz_redis_url: %s (%s)\n", what, detail ? detail : "-");
        abort();
    }
}

static void check_accepted(const struct redis_url *u, const char *text)
{
    require(u->nhosts >= 1 && u->nhosts <= REDIS_URL_MAX_HOSTS, "host count", text);
    require(u->host && strcmp(u->host, u->hosts[0].host) == 0, "first host", text);
    require(u->port == u->hosts[0].port, "first port", text);
    require(u->db >= 0 && u->db <= 1023, "db out of range", text);
    require(!u->password || u->password[0], "empty password", text);
    for (int i = 0; i < u->nhosts; i++) {
        require(u->hosts[i].host && u->hosts[i].host[0], "empty host", text);
        require(u->hosts[i].port >= 1 && u->hosts[i].port <= 65535, "port out of range", text);
        require(!strpbrk(u->hosts[i].host, ",/@[]"), "separator inside a host", text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';

    struct redis_url u;
    const char *err = NULL;
    int rc = redis_url_parse(text, &u, &err);
    require(rc == 0 || rc == -1, "unknown return value", text);
    if (rc < 0) {
        require(err && err[0], "refused without a reason", text);
        free(text);
        return 0;
    }
    check_accepted(&u, text);

    /* The hosts alone, written back, are the same list. */
    struct buf again = {0};
    buf_append_str(&again, "redis://");
    for (int i = 0; i < u.nhosts; i++) {
        const char *h = u.hosts[i].host;
        if (strchr(h, ':'))
            buf_printf(&again, "%s[%s]:%d", i ? "," : "", h, u.hosts[i].port);
        else
            buf_printf(&again, "%s%s:%d", i ? "," : "", h, u.hosts[i].port);
    }
    struct redis_url v;
    require(redis_url_parse(again.p, &v, &err) == 0, "rebuilt URL refused", again.p);
    require(v.nhosts == u.nhosts, "rebuilt host count", again.p);
    for (int i = 0; i < u.nhosts; i++) {
        require(strcmp(v.hosts[i].host, u.hosts[i].host) == 0, "rebuilt host", again.p);
        require(v.hosts[i].port == u.hosts[i].port, "rebuilt port", again.p);
    }
    redis_url_free(&v);
    buf_free(&again);
    redis_url_free(&u);
    free(text);
    return 0;
}
