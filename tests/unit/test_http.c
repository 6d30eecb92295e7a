/* Unit tests for src/http.c: request parsing, limits, the upgrade check and the routes; and
 * for the Origin policy it applies (src/origin.c). */
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "http.h"
#include "origin.h"
#include "unit.h"

static struct conf conf;

static void setup(void)
{
    conf_init(&conf);
}

static void teardown(void)
{
    conf_free(&conf);
}

/* Feeds text whole; returns the result and the bytes consumed. */
static enum http_feed_result feed(struct http_request *r, const char *text, size_t *used)
{
    return http_request_feed(r, text, strlen(text), used);
}

static const char *upgrade_req = "GET /ws HTTP/1.1\r\n"
                                 "Host: example\r\n"
                                 "Upgrade: websocket\r\n"
                                 "Connection: keep-alive, Upgrade\r\n"
                                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                 "Sec-WebSocket-Version: 13\r\n"
                                 "Origin: https://app.example\r\n"
                                 "\r\n";

START_TEST(parses_simple_get)
{
    struct http_request *r = http_request_new(1024);
    size_t used;
    const char *req = "GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\n\r\n";
    ck_assert_int_eq(feed(r, req, &used), HTTP_FEED_DONE);
    ck_assert_uint_eq(used, strlen(req));
    ck_assert_str_eq(r->path, "/healthz");
    ck_assert_str_eq(r->query, "x=1");
    ck_assert_int_eq(r->method, HTTP_METHOD_GET);
    ck_assert_int_eq(r->keep_alive, 1);
    ck_assert_int_eq(r->is_upgrade, 0);
    http_request_free(r);
}
END_TEST

START_TEST(parses_byte_by_byte)
{
    struct http_request *r = http_request_new(1024);
    const char *req = upgrade_req;
    size_t n = strlen(req), used = 0;
    enum http_feed_result res = HTTP_FEED_MORE;
    for (size_t i = 0; i < n; i++) {
        res = http_request_feed(r, req + i, 1, &used);
        ck_assert_uint_eq(used, 1);
        if (i + 1 < n)
            ck_assert_int_eq(res, HTTP_FEED_MORE);
    }
    ck_assert_int_eq(res, HTTP_FEED_DONE);
    ck_assert_int_eq(r->is_upgrade, 1);
    ck_assert_str_eq(r->ws_key, "dGhlIHNhbXBsZSBub25jZQ==");
    ck_assert_str_eq(r->ws_version, "13");
    ck_assert_str_eq(r->origin, "https://app.example");
    ck_assert(http_header_has_token(r->connection, "upgrade"));
    http_request_free(r);
}
END_TEST

START_TEST(upgrade_leaves_frame_bytes)
{
    struct http_request *r = http_request_new(1024);
    char text[1024];
    snprintf(text, sizeof(text), "%s%s", upgrade_req, "\x81\x85");
    size_t used;
    ck_assert_int_eq(feed(r, text, &used), HTTP_FEED_DONE);
    ck_assert_uint_eq(used, strlen(upgrade_req));
    http_request_free(r);
}
END_TEST

START_TEST(pipelined_requests_one_at_a_time)
{
    struct http_request *r = http_request_new(1024);
    const char *one = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *two = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    char both[256];
    snprintf(both, sizeof(both), "%s%s", one, two);
    size_t used;
    ck_assert_int_eq(feed(r, both, &used), HTTP_FEED_DONE);
    ck_assert_uint_eq(used, strlen(one));
    ck_assert_str_eq(r->path, "/a");
    http_request_reset(r);
    ck_assert_int_eq(feed(r, both + used, &used), HTTP_FEED_DONE);
    ck_assert_str_eq(r->path, "/b");
    http_request_free(r);
}
END_TEST

START_TEST(body_is_read)
{
    struct http_request *r = http_request_new(16);
    size_t used;
    const char *req = "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    ck_assert_int_eq(feed(r, req, &used), HTTP_FEED_DONE);
    ck_assert_int_eq(r->method, HTTP_METHOD_PUT);
    ck_assert_uint_eq(r->body.len, 5);
    ck_assert_str_eq(r->body.p, "hello");
    http_request_free(r);
}
END_TEST

START_TEST(body_too_large)
{
    struct http_request *r = http_request_new(4);
    size_t used;
    ck_assert_int_eq(feed(r, "PUT /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &used),
                     HTTP_FEED_BODY_TOO_LARGE);
    http_request_free(r);
    r = http_request_new(4);
    ck_assert_int_eq(feed(r,
                          "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
                          &used),
                     HTTP_FEED_BODY_TOO_LARGE);
    http_request_free(r);
}
END_TEST

START_TEST(head_too_large)
{
    struct http_request *r = http_request_new(1024);
    struct buf b = {0};
    buf_append_str(&b, "GET / HTTP/1.1\r\nX-Big: ");
    for (int i = 0; i < HTTP_MAX_HEAD; i++)
        buf_append_char(&b, 'a');
    buf_append_str(&b, "\r\n\r\n");
    size_t used;
    ck_assert_int_eq(http_request_feed(r, b.p, b.len, &used), HTTP_FEED_HEAD_TOO_LARGE);
    ck_assert_uint_le(used, HTTP_MAX_HEAD);
    buf_free(&b);
    http_request_free(r);
}
END_TEST

START_TEST(malformed_is_bad)
{
    const char *bad[] = {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: x1\r\n\r\n",
                         "GET / HTTP/1.1\r\nBad Header\r\n\r\n", "\x01\x02\x03\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_request *r = http_request_new(1024);
        size_t used;
        ck_assert_msg(feed(r, bad[i], &used) == HTTP_FEED_BAD, "case %zu", i);
        http_request_free(r);
    }
}
END_TEST

START_TEST(header_tokens)
{
    ck_assert(http_header_has_token("Upgrade", "upgrade"));
    ck_assert(http_header_has_token("keep-alive, Upgrade", "upgrade"));
    ck_assert(http_header_has_token(" keep-alive ,upgrade ", "upgrade"));
    ck_assert(!http_header_has_token("keep-alive", "upgrade"));
    ck_assert(!http_header_has_token("upgraded", "upgrade"));
    ck_assert(!http_header_has_token(NULL, "upgrade"));
}
END_TEST

static int ready_flag;
static int accept_flag;
static int env_ready(void *p)
{
    return ready_flag;
}
static int env_accept(void *p)
{
    return accept_flag;
}
static void env_metrics(void *p, struct buf *out)
{
    buf_append_str(out, "objcast_connections 3\n");
}

/* Routes a request text; returns the route result and the response in out. */
static enum http_route_result route(const char *text, struct buf *out, int *keep_alive)
{
    struct http_env env = {.conf = &conf,
                           .ready = env_ready,
                           .metrics = env_metrics,
                           .can_accept = env_accept};
    struct http_request *r = http_request_new(1024);
    size_t used;
    ck_assert_int_eq(feed(r, text, &used), HTTP_FEED_DONE);
    buf_reset(out);
    enum http_route_result res = http_route(r, &env, out, keep_alive);
    http_request_free(r);
    return res;
}

static int status_of(const struct buf *out)
{
    return atoi(out->p + 9);
}

START_TEST(routes_health_ready_metrics)
{
    struct buf out = {0};
    int ka;
    ready_flag = 1;
    ck_assert_int_eq(route("GET /healthz HTTP/1.1\r\n\r\n", &out, &ka), HTTP_ROUTE_RESPOND);
    ck_assert_int_eq(status_of(&out), 200);
    ck_assert_int_eq(ka, 1);
    route("GET /readyz HTTP/1.1\r\n\r\n", &out, &ka);
    ck_assert_int_eq(status_of(&out), 200);
    ready_flag = 0;
    route("GET /readyz HTTP/1.1\r\n\r\n", &out, &ka);
    ck_assert_int_eq(status_of(&out), 503);
    route("GET /metrics HTTP/1.1\r\n\r\n", &out, &ka);
    ck_assert_int_eq(status_of(&out), 200);
    ck_assert_ptr_nonnull(strstr(out.p, "objcast_connections 3\n"));
    ck_assert_ptr_nonnull(strstr(out.p, "text/plain; version=0.0.4"));
    route("HEAD /healthz HTTP/1.1\r\n\r\n", &out, &ka);
    ck_assert_int_eq(status_of(&out), 200);
    ck_assert_ptr_nonnull(strstr(out.p, "Content-Length: 3\r\n"));
    ck_assert_int_eq(out.p[out.len - 1], '\n'); /* ends with the blank line, no body */
    ck_assert_ptr_null(strstr(out.p, "ok\n"));
    route("POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &out, &ka);
    ck_assert_int_eq(status_of(&out), 405);
    route("GET /nope HTTP/1.1\r\n\r\n", &out, &ka);
    ck_assert_int_eq(status_of(&out), 404);
    route("GET /healthz HTTP/1.0\r\n\r\n", &out, &ka);
    ck_assert_int_eq(ka, 0);
    ck_assert_ptr_nonnull(strstr(out.p, "Connection: close\r\n"));
    buf_free(&out);
}
END_TEST

START_TEST(routes_upgrade)
{
    struct buf out = {0};
    int ka;
    accept_flag = 1;
    ck_assert_int_eq(route(upgrade_req, &out, &ka), HTTP_ROUTE_UPGRADE);
    ck_assert_int_eq(status_of(&out), 101);
    ck_assert_ptr_nonnull(strstr(out.p, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));

    accept_flag = 0;
    ck_assert_int_eq(route(upgrade_req, &out, &ka), HTTP_ROUTE_RESPOND);
    ck_assert_int_eq(status_of(&out), 503);
    accept_flag = 1;

    char *argv[] = {"https://other.example"};
    struct buf err = {0};
    ck_assert_int_eq(conf_set(&conf, "allowed_origins", 1, argv, "test", 1, &err), 0);
    ck_assert_int_eq(route(upgrade_req, &out, &ka), HTTP_ROUTE_RESPOND);
    ck_assert_int_eq(status_of(&out), 403);
    buf_free(&err);

    route("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
          &out, &ka);
    ck_assert_int_eq(status_of(&out), 426);
    ck_assert_ptr_nonnull(strstr(out.p, "Sec-WebSocket-Version: 13\r\n"));
    route("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
          &out, &ka);
    ck_assert_int_eq(status_of(&out), 400);
    route("GET /ws HTTP/1.1\r\n\r\n", &out, &ka);
    ck_assert_int_eq(status_of(&out), 426);
    route("POST /ws HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &out, &ka);
    ck_assert_int_eq(status_of(&out), 405);
    buf_free(&out);
}
END_TEST

/* Routes an upgrade request with extra header lines; returns r->ws_deflate_bits. */
static int route_upgrade_with(const char *headers, struct buf *out)
{
    struct buf req = {0};
    buf_printf(&req,
               "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "%s\r\n",
               headers);
    struct http_env env = {.conf = &conf, .can_accept = env_accept};
    struct http_request *r = http_request_new(1024);
    size_t used;
    ck_assert_int_eq(feed(r, req.p, &used), HTTP_FEED_DONE);
    buf_reset(out);
    ck_assert_int_eq(http_route(r, &env, out, &(int){0}), HTTP_ROUTE_UPGRADE);
    int bits = r->ws_deflate_bits;
    http_request_free(r);
    buf_free(&req);
    return bits;
}

#define DEFLATE_ANSWER                                                                     \
    "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "          \
    "client_no_context_takeover"

/* permessage-deflate in the handshake: answered when offered and allowed, with the window
 * the client asked for; the header is left out when declined or when compression is off. */
START_TEST(routes_upgrade_deflate)
{
    struct buf out = {0};
    accept_flag = 1;
    /* Chromium's offer. */
    ck_assert_int_eq(route_upgrade_with("Sec-WebSocket-Extensions: permessage-deflate; "
                                        "client_max_window_bits\r\n", &out), 15);
    ck_assert_ptr_nonnull(strstr(out.p, DEFLATE_ANSWER "\r\n\r\n"));
    /* Offers in two headers are one list: the first is declined, the second taken. */
    ck_assert_int_eq(route_upgrade_with("Sec-WebSocket-Extensions: permessage-deflate; x=1\r\n"
                                        "Sec-WebSocket-Extensions: permessage-deflate; "
                                        "server_max_window_bits=10\r\n", &out), 10);
    ck_assert_ptr_nonnull(strstr(out.p, DEFLATE_ANSWER "; server_max_window_bits=10\r\n"));
    /* Declined: still a WebSocket, without the header. */
    ck_assert_int_eq(route_upgrade_with("Sec-WebSocket-Extensions: permessage-deflate; "
                                        "server_max_window_bits=8\r\n", &out), 0);
    ck_assert_int_eq(status_of(&out), 101);
    ck_assert_ptr_null(strstr(out.p, "Sec-WebSocket-Extensions"));
    ck_assert_int_eq(route_upgrade_with("", &out), 0);
    ck_assert_ptr_null(strstr(out.p, "Sec-WebSocket-Extensions"));
    /* compression no declines every offer. */
    char *no[] = {"no"}, *yes[] = {"yes"};
    struct buf err = {0};
    ck_assert_int_eq(conf_set(&conf, "compression", 1, no, "test", 1, &err), 0);
    ck_assert_int_eq(route_upgrade_with("Sec-WebSocket-Extensions: permessage-deflate\r\n",
                                        &out), 0);
    ck_assert_int_eq(status_of(&out), 101);
    ck_assert_ptr_null(strstr(out.p, "Sec-WebSocket-Extensions"));
    ck_assert_int_eq(conf_set(&conf, "compression", 1, yes, "test", 1, &err), 0);
    buf_free(&err);
    buf_free(&out);
}
END_TEST

/* The Origin policy (origin.c) as the handshake applies it. */
START_TEST(routes_upgrade_origin)
{
    struct buf out = {0}, err = {0};
    int ka;
    accept_flag = 1;
    static const struct {
        const char *allowed; /* allowed_origins, as a conf line's words */
        int status;          /* for upgrade_req's Origin: https://app.example */
    } cases[] = {
        {"*", 101},
        {"https://app.example", 101},
        {"HTTPS://App.Example", 101}, /* scheme and host without case */
        {"http://x.example https://app.example", 101},
        {"https://x.example *", 101},
        {"http://app.example", 403},
        {"https://app.example:443", 403}, /* the port exactly */
        {"https://app.exampl", 403},
        {"https://app.example.evil", 403},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf line = {0};
        buf_printf(&line, "allowed_origins %s\n", cases[i].allowed);
        buf_reset(&err);
        ck_assert_int_eq(conf_load_string(&conf, line.p, "test", &err), 0);
        route(upgrade_req, &out, &ka);
        ck_assert_msg(status_of(&out) == cases[i].status, "%s: %d", cases[i].allowed,
                      status_of(&out));
        buf_free(&line);
    }
    /* No Origin header (a native client): allowed whatever the list. */
    route("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
          &out, &ka);
    ck_assert_int_eq(status_of(&out), 101);
    buf_free(&out);
    buf_free(&err);
}
END_TEST

START_TEST(origin_words)
{
    static const char *const good[] = {"*", "https://app.example.com", "http://localhost:8080",
                                       "http://[::1]:3000", "chrome-extension://abc",
                                       "a+b-c.d://h_1", "http://h:65535"};
    static const char *const bad[] = {"", "**", "https://", "https://a.com/", "https://a.com/x",
                                      "1http://a.com", "http//a.com", "http://a.com:",
                                      "http://a.com:0", "http://a.com:65536", "http://[::1",
                                      "http://[nope]", "http://a b", "null"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(origin_valid(good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!origin_valid(bad[i]), "%s", bad[i]);

    char *none[] = {NULL};
    char *some[] = {"https://a.com", NULL};
    ck_assert(origin_allowed(NULL, NULL));
    ck_assert(!origin_allowed(NULL, "https://a.com"));
    ck_assert(!origin_allowed(none, "https://a.com"));
    ck_assert(origin_allowed(some, "https://A.com"));
    ck_assert(!origin_allowed(some, ""));
    ck_assert(!origin_allowed(some, "*"));
}
END_TEST

/* Found by fuzz_http: HEAD /ws got its 405 with a body, which a keep-alive client reads as
 * the start of the next response. */
START_TEST(head_answers_have_no_body)
{
    struct buf out = {0};
    int ka;
    route("HEAD /ws HTTP/1.1\r\n\r\n", &out, &ka);
    ck_assert_int_eq(status_of(&out), 405);
    ck_assert_int_eq(ka, 1);
    ck_assert_ptr_nonnull(strstr(out.p, "Content-Length: 9\r\n"));
    ck_assert_uint_eq(out.len, (size_t)(strstr(out.p, "\r\n\r\n") + 4 - out.p));
    buf_free(&out);
}
END_TEST

START_TEST(feed_errors_map_to_statuses)
{
    struct buf out = {0};
    http_respond_feed_error(&out, HTTP_FEED_BAD);
    ck_assert_int_eq(status_of(&out), 400);
    buf_reset(&out);
    http_respond_feed_error(&out, HTTP_FEED_HEAD_TOO_LARGE);
    ck_assert_int_eq(status_of(&out), 431);
    buf_reset(&out);
    http_respond_feed_error(&out, HTTP_FEED_BODY_TOO_LARGE);
    ck_assert_int_eq(status_of(&out), 413);
    ck_assert_ptr_nonnull(strstr(out.p, "Connection: close\r\n"));
    buf_free(&out);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *parse = tcase_create("parse");
    tcase_add_test(parse, parses_simple_get);
    tcase_add_test(parse, parses_byte_by_byte);
    tcase_add_test(parse, upgrade_leaves_frame_bytes);
    tcase_add_test(parse, pipelined_requests_one_at_a_time);
    tcase_add_test(parse, body_is_read);
    tcase_add_test(parse, body_too_large);
    tcase_add_test(parse, head_too_large);
    tcase_add_test(parse, malformed_is_bad);
    tcase_add_test(parse, header_tokens);
    tcase_add_test(parse, origin_words);
    suite_add_tcase(s, parse);
    TCase *routes = tcase_create("routes");
    tcase_add_checked_fixture(routes, setup, teardown);
    tcase_add_test(routes, routes_health_ready_metrics);
    tcase_add_test(routes, routes_upgrade);
    tcase_add_test(routes, routes_upgrade_deflate);
    tcase_add_test(routes, routes_upgrade_origin);
    tcase_add_test(routes, head_answers_have_no_body);
    tcase_add_test(routes, feed_errors_map_to_statuses);
    suite_add_tcase(s, routes);
    return s;
}

UNIT_MAIN(http_suite)
