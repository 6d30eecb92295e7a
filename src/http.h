#ifndef OC_HTTP_H
#define OC_HTTP_H

#include <stddef.h>

#include "buf.h"
#include "conf.h"

/*
 * HTTP/1.1 requests on the shared port: parsing request heads and bodies (with Debian's
 * libhttp-parser, which stays behind this file), the WebSocket upgrade check (Origin policy
 * from origin.c), and the small routes: /healthz, /readyz, /metrics, the bridge
 * (/objcast.js, /objcast.mjs) and, with demo on, a landing page at /, the demo pages and
 * token endpoints (minted through http_env's callback). The server API's routes are api.c's.
 * No socket I/O: the connection feeds bytes in and writes what comes out; the only files
 * read are static_dir's.
 */

/* A request head (request line and headers) longer than this gets 431. */
#define HTTP_MAX_HEAD 16384

enum http_method_id {
    HTTP_METHOD_OTHER = 0,
    HTTP_METHOD_GET,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_POST,
    HTTP_METHOD_PUT,
    HTTP_METHOD_DELETE,
    HTTP_METHOD_OPTIONS,
};

/* One request being read. Header values are copies; the last of repeated headers wins
 * except Connection, Upgrade and Sec-WebSocket-Extensions, whose values are joined with
 * ", ". */
struct http_request {
    void *parser;           /* libhttp-parser state, private to http.c */
    enum http_method_id method;
    char *path;             /* request target before '?', NULL until the URL is read */
    char *query;            /* after '?', or NULL */
    char *upgrade;          /* Upgrade */
    char *connection;       /* Connection */
    char *ws_key;           /* Sec-WebSocket-Key */
    char *ws_version;       /* Sec-WebSocket-Version */
    char *ws_extensions;    /* Sec-WebSocket-Extensions, every one joined with ", " */
    char *origin;           /* Origin */
    char *authorization;    /* Authorization */
    char *content_type;     /* Content-Type */
    char *host;             /* Host */
    int peer_loopback;      /* the peer is on this machine (set by the connection) */
    int ws_deflate_bits;    /* set by http_route() on an upgrade: the permessage-deflate
                               window objcast compresses with, 0 when not agreed */
    int keep_alive;         /* the client may send another request after this one */
    int is_upgrade;         /* the parser saw an upgrade request: bytes after the head are
                               not HTTP */
    size_t head_bytes;      /* bytes of the head read so far */
    size_t max_body;        /* a longer body gets 413 */
    int head_done;          /* the head is complete */
    int done;               /* the whole request (head and body) is complete */
    struct buf body;        /* the body */
    struct buf url;         /* request target being read */
    struct buf field;       /* header name being read */
    struct buf value;       /* header value being read */
    int in_value;           /* the last callback was a header value */
};

enum http_feed_result {
    HTTP_FEED_MORE = 0,      /* need more bytes */
    HTTP_FEED_DONE,          /* r->done: a whole request is read */
    HTTP_FEED_BAD,           /* malformed: answer 400 and close */
    HTTP_FEED_HEAD_TOO_LARGE, /* answer 431 and close */
    HTTP_FEED_BODY_TOO_LARGE, /* answer 413 and close */
};

struct http_request *http_request_new(size_t max_body);
void http_request_free(struct http_request *r);
/* Forgets the request just answered, ready for the next one on a keep-alive connection. */
void http_request_reset(struct http_request *r);

/*
 * Feeds len bytes. Stops at the end of one request (pipelined bytes are not consumed).
 * *consumed tells how many bytes were used; for an upgrade request, the bytes after the head
 * belong to the new protocol and are not consumed.
 */
enum http_feed_result http_request_feed(struct http_request *r, const char *data, size_t len,
                                        size_t *consumed);

/* What the routes need from the server, without knowing it. */
struct http_env {
    const struct conf *conf;
    int (*ready)(void *privdata);                     /* engine connected */
    void (*metrics)(void *privdata, struct buf *out); /* Prometheus text */
    int (*can_accept)(void *privdata);                /* room for one more WebSocket */
    /* Demo only: writes the JSON answer of /demo/token or /demo/object-token (kind 0 or 1)
     * to out; returns the HTTP status. NULL when the demo is off. */
    int (*demo_token)(void *privdata, int kind, const struct http_request *r, struct buf *out);
    const char *static_dir;   /* where objcast.js and demo/ are */
    int static_only;          /* the demo plugins' port: only /demo/plugins/ files */
    void *privdata;
};

enum http_route_result {
    HTTP_ROUTE_RESPOND = 0, /* out holds a response; keep the connection if *keep_alive */
    HTTP_ROUTE_UPGRADE,     /* out holds the 101 response: the connection is a WebSocket */
};

/* Answers a complete request: writes the whole response into out. An upgrade also sets
 * r->ws_deflate_bits. */
enum http_route_result http_route(struct http_request *r, const struct http_env *env,
                                  struct buf *out, int *keep_alive);

/* Writes a whole response. extra_headers, if not NULL, are "Name: value\r\n" lines. For a
 * HEAD request pass head_only so the body is left out but its length announced. */
void http_respond(struct buf *out, int status, const char *content_type, const char *body,
                  size_t body_len, int keep_alive, const char *extra_headers, int head_only);

/* The error response for a feed result (400, 431 or 413), connection closing. */
void http_respond_feed_error(struct buf *out, enum http_feed_result res);

const char *http_reason(int status);

/* %-decodes len bytes of s ('+' as a space when plus_space): a new string the caller frees,
 * or NULL when a '%' is not followed by two hex digits or decodes to NUL. */
char *http_percent_decode(const char *s, size_t len, int plus_space);

/* The value of name in a query string ("a=1&name=x"), %-decoded, '+' as space; a new string
 * the caller frees, or NULL when absent. */
char *http_query_param(const char *query, const char *name);

/* True when a Host header value names this machine: "localhost", an IPv4 address in
 * 127.0.0.0/8 (dotted quad) or [::1], each with or without ":port". False for NULL, for any
 * other name, and for anything malformed. The demo token endpoint answers only such Hosts,
 * against DNS rebinding. */
int http_host_is_loopback(const char *host);

/* True when the comma-separated header value has token (case-insensitive). */
int http_header_has_token(const char *value, const char *token);

#endif
