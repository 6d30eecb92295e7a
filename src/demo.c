#include "demo.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "json.h"
#include "util.h"

/* Demo connection tokens are short-lived so that the bridge's refresh is always at work
 * (?ttl=N asks for N seconds, within these bounds: the browser tests use a few seconds). */
#define DEMO_TOKEN_SECONDS 600
#define DEMO_TOKEN_MIN_SECONDS 2
#define DEMO_TOKEN_MAX_SECONDS (12 * 3600)

/* Object tokens of the demo live this long. */
#define DEMO_OBJECT_TOKEN_SECONDS (12 * 3600)

static char *sign(const struct conf *conf, const struct buf *claims)
{
    return auth_jwt_sign(claims->p, conf->token_secret, strlen(conf->token_secret));
}

/* /demo/token: a connection token for a new demo user, or for ?userId=ID again. */
static int connection_token(const struct conf *conf, int bound_port, const struct http_request *r,
                            struct buf *out)
{
    long long now = (long long)time(NULL);
    struct buf claims = {0};
    char *name = http_query_param(r->query, "name");
    char *again = http_query_param(r->query, "userId");
    char *ttl_text = http_query_param(r->query, "ttl");
    /* Not a number: as if absent. Too large or too small: kept within the bounds. */
    long long ttl = DEMO_TOKEN_SECONDS;
    if (ttl_text && util_parse_integer(ttl_text, strlen(ttl_text), &ttl) == -2)
        ttl = ttl_text[0] == '-' ? DEMO_TOKEN_MIN_SECONDS : DEMO_TOKEN_MAX_SECONDS;
    if (ttl < DEMO_TOKEN_MIN_SECONDS || ttl > DEMO_TOKEN_MAX_SECONDS)
        ttl = ttl < DEMO_TOKEN_MIN_SECONDS ? DEMO_TOKEN_MIN_SECONDS : DEMO_TOKEN_MAX_SECONDS;
    char user[64];
    if (again && again[0] && strlen(again) < sizeof(user)) {
        snprintf(user, sizeof(user), "%s", again);
    } else {
        uint8_t raw[4];
        RAND_bytes(raw, sizeof(raw));
        snprintf(user, sizeof(user), "demo-%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3]);
    }
    const char *shown = name && name[0] ? name : user;
    buf_append_str(&claims, "{\"sub\":");
    json_append_string(&claims, user, strlen(user));
    buf_append_str(&claims, ",\"ws\":1,\"name\":");
    json_append_string(&claims, shown, strlen(shown));
    buf_printf(&claims, ",\"avatarUrl\":\"\",\"language\":\"en\",\"iat\":%lld,\"exp\":%lld}", now,
               now + ttl);
    free(again);
    free(ttl_text);
    char *token = sign(conf, &claims);
    const char *host = r->host ? r->host : "127.0.0.1";
    char hostname[256];
    snprintf(hostname, sizeof(hostname), "%s", host);
    char *colon = hostname[0] == '[' ? strstr(hostname, "]:") : strrchr(hostname, ':');
    if (colon)
        colon[hostname[0] == '[' ? 1 : 0] = '\0';
    buf_printf(out, "{\"token\":\"%s\",\"exp\":%lld,\"userId\":", token, now + ttl);
    json_append_string(out, user, strlen(user));
    buf_append_str(out, ",\"name\":");
    json_append_string(out, shown, strlen(shown));
    buf_append_str(out, ",\"ws\":1,\"url\":");
    struct buf url = {0};
    buf_printf(&url, "ws://%s/ws", host);
    json_append_string(out, url.p, url.len);
    buf_reset(&url);
    buf_printf(&url, "http://%s:%d", hostname, conf->demo_port ? conf->demo_port : bound_port);
    buf_append_str(out, ",\"pluginOrigin\":");
    json_append_string(out, url.p, url.len);
    buf_append_char(out, '}');
    buf_free(&url);
    free(token);
    free(name);
    buf_free(&claims);
    return 200;
}

/* /demo/object-token: an object token for ?objectId= and ?userId=. */
static int object_token(const struct conf *conf, const struct http_request *r, struct buf *out)
{
    long long now = (long long)time(NULL);
    struct buf claims = {0};
    int status = 200;
    char *obj = http_query_param(r->query, "objectId");
    char *user = http_query_param(r->query, "userId");
    char *host = http_query_param(r->query, "host");
    char *type = http_query_param(r->query, "objectType");
    if (!obj || !user || !obj[0] || !user[0]) {
        buf_append_str(out, "{\"error\":\"objectId and userId are required\"}");
        status = 400;
    } else {
        buf_append_str(&claims, "{\"sub\":");
        json_append_string(&claims, user, strlen(user));
        buf_append_str(&claims, ",\"ws\":1,\"obj\":");
        json_append_string(&claims, obj, strlen(obj));
        if (type && (strcmp(type, "static") == 0 || strcmp(type, "dynamic") == 0))
            buf_printf(&claims, ",\"objectType\":\"%s\"", type);
        buf_printf(&claims, ",\"host\":%s,\"exp\":%lld}",
                   host && strcmp(host, "true") == 0 ? "true" : "false",
                   now + DEMO_OBJECT_TOKEN_SECONDS);
        char *token = sign(conf, &claims);
        buf_printf(out, "{\"token\":\"%s\"}", token);
        free(token);
    }
    free(obj);
    free(user);
    free(host);
    free(type);
    buf_free(&claims);
    return status;
}

int demo_token(const struct conf *conf, int bound_port, int kind, const struct http_request *r,
               struct buf *out)
{
    return kind == 0 ? connection_token(conf, bound_port, r, out) : object_token(conf, r, out);
}
