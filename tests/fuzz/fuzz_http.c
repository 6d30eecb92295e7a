/*
 * libFuzzer target for src/http.c: the request head and body parser and the routes.
 *
 * Input layout: the first byte seeds the sizes in which the stream arrives, the second picks
 * the environment (body limit, loopback peer, demo on, static-only port, engine ready, room
 * for a WebSocket), and the rest is what a client sends on one connection. The stream is fed
 * the way the connection does it: unconsumed bytes stay and are fed again with the next
 * arrival; after each complete request the route answers and, on keep-alive, the request is
 * reset for the next pipelined one. Every step is checked against the parser's contract.
 * Build: scripts/fuzz http
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_http: %s\n", what);
    abort();
}

static void require(int cond, const char *what)
{
    if (!cond)
        fail(what);
}

static int env_flag(void *privdata, unsigned bit)
{
    return (*(const unsigned *)privdata >> bit) & 1;
}

static int stub_ready(void *privdata)
{
    return env_flag(privdata, 0);
}

static int stub_can_accept(void *privdata)
{
    return env_flag(privdata, 1);
}

static void stub_metrics(void *privdata, struct buf *out)
{
    buf_append_str(out, "objcast_connections 0\n");
}

static int stub_demo_token(void *privdata, int kind, const struct http_request *r, struct buf *out)
{
    require(kind == 0 || kind == 1, "demo token kind");
    require(r->peer_loopback, "demo token for a remote peer");
    buf_append_str(out, "{\"token\":\"t\"}");
    return 200;
}

/* A response must be one whole HTTP/1.1 message whose body matches Content-Length. */
static void check_response(const struct buf *out, int head_only)
{
    require(out->len > 12 && memcmp(out->p, "HTTP/1.1 ", 9) == 0, "response status line");
    require(strlen(out->p) == out->len, "NUL byte in a response");
    const char *end = strstr(out->p, "\r\n\r\n");
    require(end != NULL, "response head not terminated");
    size_t body = out->len - (size_t)(end + 4 - out->p);
    const char *cl = strstr(out->p, "\r\nContent-Length: ");
    if (!cl || cl > end) {
        require(memcmp(out->p, "HTTP/1.1 101 ", 13) == 0, "response without Content-Length");
        require(body == 0, "101 with a body");
        return;
    }
    unsigned long n = strtoul(cl + 18, NULL, 10);
    require(head_only ? body == 0 : body == n, "body differs from Content-Length");
}

/* Fields the parser filled must be C strings it owns; touching them lets ASan check that. */
static void check_request(const struct http_request *r, size_t request_bytes)
{
    require(r->done == 1 && r->head_done, "done without a whole head");
    require(r->path != NULL, "complete request without a path");
    require(r->head_bytes <= HTTP_MAX_HEAD, "head over the limit accepted");
    require(r->body.len <= r->max_body, "body over the limit accepted");
    const char *fields[] = {r->path,   r->query,         r->upgrade,      r->connection, r->ws_key,
                            r->origin, r->authorization, r->content_type, r->ws_version, r->host};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        require(!fields[i] || strlen(fields[i]) <= request_bytes, "header longer than the head");
    if (r->query) {
        char *v = http_query_param(r->query, "token");
        require(!v || strlen(v) <= strlen(r->query), "query value longer than the query");
        free(v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const size_t bodies[] = {0, 16, 1024, 65536};
    uint32_t rng = data[0] * 2654435761u + 1;
    unsigned flags = data[1];
    data += 2;
    size -= 2;

    struct conf conf;
    conf_init(&conf);
    struct http_env env = {
        .conf = &conf,
        .ready = stub_ready,
        .metrics = stub_metrics,
        .can_accept = stub_can_accept,
        .demo_token = (flags & 4) ? stub_demo_token : NULL,
        .static_dir = "/nonexistent",
        .static_only = (flags & 8) != 0,
        .privdata = &flags,
    };
    struct http_request *r = http_request_new(bodies[(flags >> 4) & 3]);

    const char *in = (const char *)data;
    size_t pos = 0;     /* bytes consumed so far */
    size_t arrived = 0; /* bytes the connection has received so far */
    size_t since_reset = 0;
    for (;;) {
        if (pos == arrived) {
            if (arrived == size)
                break;
            /* The next read: 1 to 64 bytes, or everything left, chosen by the input. */
            rng = rng * 1103515245u + 12345u;
            size_t chunk = (rng >> 16) % 65;
            arrived = chunk == 0 || size - arrived < chunk ? size : arrived + chunk;
        }
        size_t len = arrived - pos, used = 12345;
        enum http_feed_result res = http_request_feed(r, in + pos, len, &used);
        require(used <= len, "consumed more than given");
        pos += used;
        since_reset += used;
        if (res == HTTP_FEED_MORE) {
            require(used == len, "wants more without using what it has");
            require(!r->done, "wants more after the end");
            continue;
        }
        struct buf out = {0};
        if (res != HTTP_FEED_DONE) {
            require(res == HTTP_FEED_BAD || res == HTTP_FEED_HEAD_TOO_LARGE ||
                        res == HTTP_FEED_BODY_TOO_LARGE,
                    "unknown feed result");
            http_respond_feed_error(&out, res);
            check_response(&out, 0);
            buf_free(&out);
            break;
        }
        require(since_reset > 0, "a request made of no bytes");
        check_request(r, since_reset);
        r->peer_loopback = (flags & 64) != 0;
        int keep_alive = -1;
        enum http_route_result route = http_route(r, &env, &out, &keep_alive);
        require(keep_alive == 0 || keep_alive == 1, "keep_alive not set");
        check_response(&out, r->method == HTTP_METHOD_HEAD);
        buf_free(&out);
        if (route == HTTP_ROUTE_UPGRADE) {
            require(r->method == HTTP_METHOD_GET && r->ws_key, "upgrade without a GET and a key");
            break; /* the rest is WebSocket */
        }
        require(route == HTTP_ROUTE_RESPOND, "unknown route result");
        if (!keep_alive)
            break;
        require(!r->is_upgrade, "keep-alive after an upgrade head");
        http_request_reset(r);
        since_reset = 0;
    }
    http_request_free(r);
    conf_free(&conf);
    return 0;
}
