#include "http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics.h"
#include "origin.h"
#include "pmd.h"
#include "util.h"
#include "version.h"
#include "ws.h"

#define P(r) ((http_parser *)(r)->parser)

static void set_header(char **slot, const struct buf *value, int join)
{
    if (join && *slot) {
        size_t old = strlen(*slot);
        char *s = oc_malloc(old + 2 + value->len + 1);
        memcpy(s, *slot, old);
        memcpy(s + old, ", ", 2);
        memcpy(s + old + 2, value->p ? value->p : "", value->len);
        s[old + 2 + value->len] = '\0';
        free(*slot);
        *slot = s;
        return;
    }
    free(*slot);
    *slot = oc_strndup(value->p ? value->p : "", value->len);
}

/* Stores the header just read if it is one objcast looks at. */
static void commit_header(struct http_request *r)
{
    if (!r->field.len)
        return;
    const char *name = r->field.p;
    /* Optional whitespace around values is not part of them (RFC 9110 section 5.5). */
    while (r->value.len && (r->value.p[r->value.len - 1] == ' ' || r->value.p[r->value.len - 1] == '\t'))
        r->value.p[--r->value.len] = '\0';
    if (strcasecmp(name, "upgrade") == 0)
        set_header(&r->upgrade, &r->value, 1);
    else if (strcasecmp(name, "connection") == 0)
        set_header(&r->connection, &r->value, 1);
    else if (strcasecmp(name, "sec-websocket-key") == 0)
        set_header(&r->ws_key, &r->value, 0);
    else if (strcasecmp(name, "sec-websocket-extensions") == 0)
        set_header(&r->ws_extensions, &r->value, 1);
    else if (strcasecmp(name, "sec-websocket-version") == 0)
        set_header(&r->ws_version, &r->value, 0);
    else if (strcasecmp(name, "origin") == 0)
        set_header(&r->origin, &r->value, 0);
    else if (strcasecmp(name, "authorization") == 0)
        set_header(&r->authorization, &r->value, 0);
    else if (strcasecmp(name, "content-type") == 0)
        set_header(&r->content_type, &r->value, 0);
    else if (strcasecmp(name, "host") == 0)
        set_header(&r->host, &r->value, 0);
    buf_reset(&r->field);
    buf_reset(&r->value);
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_request *r = p->data;
    buf_append(&r->url, at, len);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_request *r = p->data;
    if (r->in_value) {
        commit_header(r);
        r->in_value = 0;
    }
    buf_append(&r->field, at, len);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_request *r = p->data;
    r->in_value = 1;
    buf_append(&r->value, at, len);
    return 0;
}

static enum http_method_id method_of(unsigned m)
{
    switch (m) {
    case HTTP_GET: return HTTP_METHOD_GET;
    case HTTP_HEAD: return HTTP_METHOD_HEAD;
    case HTTP_POST: return HTTP_METHOD_POST;
    case HTTP_PUT: return HTTP_METHOD_PUT;
    case HTTP_DELETE: return HTTP_METHOD_DELETE;
    case HTTP_OPTIONS: return HTTP_METHOD_OPTIONS;
    default: return HTTP_METHOD_OTHER;
    }
}

static int on_headers_complete(http_parser *p)
{
    struct http_request *r = p->data;
    if (r->in_value)
        commit_header(r);
    r->in_value = 0;
    r->head_done = 1;
    r->method = method_of(p->method);
    r->keep_alive = http_should_keep_alive(p);
    const char *url = r->url.p ? r->url.p : "";
    const char *q = strchr(url, '?');
    r->path = q ? oc_strndup(url, (size_t)(q - url)) : oc_strdup(url);
    r->query = q ? oc_strdup(q + 1) : NULL;
    if (p->content_length != (uint64_t)-1 && p->content_length > r->max_body) {
        r->done = -1;
        return -1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_request *r = p->data;
    if (r->body.len + len > r->max_body) {
        r->done = -1;
        return -1;
    }
    buf_append(&r->body, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_request *r = p->data;
    r->done = 1;
    /* One request at a time: pipelined bytes wait until this one is answered. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

struct http_request *http_request_new(size_t max_body)
{
    struct http_request *r = oc_calloc(1, sizeof(*r));
    r->parser = oc_malloc(sizeof(http_parser));
    r->max_body = max_body;
    http_request_reset(r);
    return r;
}

static void clear_fields(struct http_request *r)
{
    char **strings[] = {&r->path,   &r->query,  &r->upgrade,       &r->connection,
                        &r->ws_key, &r->origin, &r->authorization, &r->content_type,
                        &r->ws_version, &r->host, &r->ws_extensions};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        free(*strings[i]);
        *strings[i] = NULL;
    }
}

void http_request_reset(struct http_request *r)
{
    clear_fields(r);
    http_parser_init(P(r), HTTP_REQUEST);
    P(r)->data = r;
    r->method = HTTP_METHOD_OTHER;
    r->keep_alive = r->is_upgrade = r->head_done = r->done = r->in_value = 0;
    r->ws_deflate_bits = 0;
    r->head_bytes = 0;
    buf_free(&r->body);
    buf_reset(&r->url);
    buf_reset(&r->field);
    buf_reset(&r->value);
}

void http_request_free(struct http_request *r)
{
    if (!r)
        return;
    clear_fields(r);
    buf_free(&r->body);
    buf_free(&r->url);
    buf_free(&r->field);
    buf_free(&r->value);
    free(r->parser);
    free(r);
}

enum http_feed_result http_request_feed(struct http_request *r, const char *data, size_t len,
                                        size_t *consumed)
{
    size_t used = 0;
    *consumed = 0;
    while (used < len && !r->done) {
        size_t n = len - used;
        /* Feed no more than the head may still take, so an endless head is refused at the
         * limit instead of being read on. */
        if (!r->head_done && n > HTTP_MAX_HEAD - r->head_bytes)
            n = HTTP_MAX_HEAD - r->head_bytes;
        size_t parsed = http_parser_execute(P(r), &settings, data + used, n);
        enum http_errno e = HTTP_PARSER_ERRNO(P(r));
        if (!r->head_done)
            r->head_bytes += parsed;
        used += parsed;
        if (r->done < 0)
            return HTTP_FEED_BODY_TOO_LARGE;
        if (e != HPE_OK && e != HPE_PAUSED)
            return HTTP_FEED_BAD;
        if (P(r)->upgrade) {
            /* The rest is the new protocol's. */
            r->is_upgrade = 1;
            r->done = 1;
            break;
        }
        if (!r->head_done && r->head_bytes >= HTTP_MAX_HEAD)
            return HTTP_FEED_HEAD_TOO_LARGE;
        if (parsed < n && !r->done)
            return HTTP_FEED_BAD;
    }
    *consumed = used;
    return r->done ? HTTP_FEED_DONE : HTTP_FEED_MORE;
}

const char *http_reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

void http_respond(struct buf *out, int status, const char *content_type, const char *body,
                  size_t body_len, int keep_alive, const char *extra_headers, int head_only)
{
    buf_printf(out, "HTTP/1.1 %d %s\r\nServer: objcast/%s\r\n", status, http_reason(status),
               OBJCAST_VERSION);
    if (content_type)
        buf_printf(out, "Content-Type: %s\r\n", content_type);
    buf_printf(out, "Content-Length: %zu\r\n", body_len);
    if (!keep_alive)
        buf_append_str(out, "Connection: close\r\n");
    if (extra_headers)
        buf_append_str(out, extra_headers);
    buf_append_str(out, "\r\n");
    if (!head_only && body_len)
        buf_append(out, body, body_len);
}

static void respond_text(struct buf *out, int status, const char *text, int keep_alive,
                         const char *extra_headers, int head_only)
{
    http_respond(out, status, "text/plain; charset=utf-8", text, strlen(text), keep_alive,
                 extra_headers, head_only);
}

void http_respond_feed_error(struct buf *out, enum http_feed_result res)
{
    metrics.http_refused[res == HTTP_FEED_HEAD_TOO_LARGE   ? METRICS_REFUSED_HEAD
                         : res == HTTP_FEED_BODY_TOO_LARGE ? METRICS_REFUSED_BODY
                                                           : METRICS_REFUSED_BAD]++;
    int status = res == HTTP_FEED_HEAD_TOO_LARGE   ? 431
                 : res == HTTP_FEED_BODY_TOO_LARGE ? 413
                                                   : 400;
    char text[64];
    snprintf(text, sizeof(text), "%s\n", http_reason(status));
    respond_text(out, status, text, 0, NULL, 0);
}

int http_header_has_token(const char *value, const char *token)
{
    if (!value)
        return 0;
    size_t tlen = strlen(token);
    const char *s = value;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *start = s;
        while (*s && *s != ',')
            s++;
        const char *end = s;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - start) == tlen && strncasecmp(start, token, tlen) == 0)
            return 1;
    }
    return 0;
}

/* The WebSocket opening handshake (RFC 6455 section 4.2). */
static enum http_route_result route_ws(struct http_request *r, const struct http_env *env,
                                       struct buf *out, int *keep_alive)
{
    if (r->method != HTTP_METHOD_GET) {
        respond_text(out, 405, "GET only\n", *keep_alive, "Allow: GET\r\n",
                     r->method == HTTP_METHOD_HEAD);
        return HTTP_ROUTE_RESPOND;
    }
    if (!http_header_has_token(r->upgrade, "websocket") ||
        !http_header_has_token(r->connection, "upgrade")) {
        respond_text(out, 426, "WebSocket upgrade required\n", *keep_alive,
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n", 0);
        return HTTP_ROUTE_RESPOND;
    }
    if (!r->ws_version || strcmp(r->ws_version, "13") != 0) {
        respond_text(out, 426, "unsupported WebSocket version\n", *keep_alive,
                     "Sec-WebSocket-Version: 13\r\n", 0);
        return HTTP_ROUTE_RESPOND;
    }
    if (!r->ws_key || !ws_key_valid(r->ws_key, strlen(r->ws_key))) {
        *keep_alive = 0;
        respond_text(out, 400, "bad Sec-WebSocket-Key\n", 0, NULL, 0);
        return HTTP_ROUTE_RESPOND;
    }
    if (!origin_allowed(env->conf->allowed_origins, r->origin)) {
        *keep_alive = 0;
        respond_text(out, 403, "origin not allowed\n", 0, NULL, 0);
        return HTTP_ROUTE_RESPOND;
    }
    if (env->can_accept && !env->can_accept(env->privdata)) {
        metrics.http_refused[METRICS_REFUSED_FULL]++;
        *keep_alive = 0;
        respond_text(out, 503, "server full or shutting down\n", 0, "Retry-After: 1\r\n", 0);
        return HTTP_ROUTE_RESPOND;
    }
    char accept[29];
    ws_accept_key(r->ws_key, strlen(r->ws_key), accept);
    buf_printf(out,
               "HTTP/1.1 101 Switching Protocols\r\n"
               "Upgrade: websocket\r\n"
               "Connection: Upgrade\r\n"
               "Sec-WebSocket-Accept: %s\r\n",
               accept);
    /* permessage-deflate (RFC 7692) when the client offers it and the conf allows; an
     * offer objcast cannot accept is declined by leaving the header out (section 5). */
    struct pmd_agreed agreed;
    if (env->conf->compression && r->ws_extensions) {
        struct buf ext = {0};
        if (pmd_negotiate(r->ws_extensions, strlen(r->ws_extensions), &ext, &agreed)) {
            buf_printf(out, "Sec-WebSocket-Extensions: %s\r\n", ext.p);
            r->ws_deflate_bits = agreed.server_window_bits;
        }
        buf_free(&ext);
    }
    buf_append_str(out, "\r\n");
    return HTTP_ROUTE_UPGRADE;
}

/* Static files are small (objcast.js, demo pages): read whole, at most this. */
#define STATIC_MAX (4 << 20)

static const char *content_type_of(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* A request path safe to append to static_dir: no "..", no "//", no '%' or '\\'. */
static int path_safe(const char *path)
{
    if (path[0] != '/' || strstr(path, "..") || strstr(path, "//") || strchr(path, '%') ||
        strchr(path, '\\'))
        return 0;
    return 1;
}

/* Answers with the file static_dir + rel, or 404. */
static void respond_file(struct buf *out, const struct http_env *env, const char *rel,
                         int keep_alive, int head, const char *extra)
{
    struct buf file = {0}, body = {0};
    buf_printf(&file, "%s%s", env->static_dir ? env->static_dir : "web", rel);
    if (file.p[file.len - 1] == '/')
        buf_append_str(&file, "index.html");
    int fd = path_safe(rel) ? open(file.p, O_RDONLY | O_CLOEXEC) : -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX) {
        if (fd >= 0)
            close(fd);
        respond_text(out, 404, "not found\n", keep_alive, NULL, head);
        buf_free(&file);
        return;
    }
    buf_reserve(&body, (size_t)st.st_size);
    ssize_t n;
    while (body.len < (size_t)st.st_size &&
           (n = read(fd, body.p + body.len, (size_t)st.st_size - body.len)) > 0)
        body.len += (size_t)n;
    close(fd);
    struct buf headers = {0};
    buf_append_str(&headers, "Cache-Control: no-cache\r\n");
    if (extra)
        buf_append_str(&headers, extra);
    http_respond(out, 200, content_type_of(file.p), body.p, body.len, keep_alive, headers.p, head);
    buf_free(&headers);
    buf_free(&file);
    buf_free(&body);
}

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

char *http_percent_decode(const char *s, size_t len, int plus_space)
{
    char *v = oc_malloc(len + 1);
    if (util_percent_decode(s, len, plus_space, v) < 0) {
        free(v);
        return NULL;
    }
    return v;
}

char *http_query_param(const char *query, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
            return http_percent_decode(p + nlen + 1, len - nlen - 1, 1);
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

/* ":" and 1 to 5 digits, nothing else (the port of a Host header). */
static int is_port(const char *p)
{
    size_t n = 0;
    if (*p++ != ':')
        return 0;
    while (p[n] >= '0' && p[n] <= '9')
        n++;
    return n >= 1 && n <= 5 && p[n] == '\0';
}

int http_host_is_loopback(const char *host)
{
    char name[INET6_ADDRSTRLEN + 1];
    const char *end;
    if (!host)
        return 0;
    if (host[0] == '[') {
        /* An IPv6 literal: [::1] or a v4-mapped 127.x address, then an optional port. */
        struct in6_addr a6;
        end = strchr(host, ']');
        if (!end || (end[1] && !is_port(end + 1)) || (size_t)(end - host - 1) >= sizeof(name))
            return 0;
        memcpy(name, host + 1, (size_t)(end - host - 1));
        name[end - host - 1] = '\0';
        return inet_pton(AF_INET6, name, &a6) == 1 &&
               (IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127));
    }
    end = strchr(host, ':');
    if (end && !is_port(end))
        return 0;
    size_t len = end ? (size_t)(end - host) : strlen(host);
    if (len == 0 || len >= sizeof(name))
        return 0;
    memcpy(name, host, len);
    name[len] = '\0';
    if (strcasecmp(name, "localhost") == 0 || strcasecmp(name, "localhost.") == 0)
        return 1;
    /* inet_pton() takes only the four-part dotted decimal form, so "127.1" or "0x7f.0.0.1"
     * (which some resolvers would read as loopback) are refused, which is the safe side. */
    struct in_addr a4;
    return inet_pton(AF_INET, name, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* An Origin of a page on this machine: http or https, a loopback host, any port. */
static int origin_is_loopback(const char *origin)
{
    if (!origin)
        return 0;
    const char *authority = strncmp(origin, "http://", 7) == 0    ? origin + 7
                            : strncmp(origin, "https://", 8) == 0 ? origin + 8
                                                                   : NULL;
    return authority && !strchr(authority, '/') && http_host_is_loopback(authority);
}

/* The demo: its pages and the token endpoints, loopback clients only. */
static enum http_route_result route_demo(const struct http_request *r, const struct http_env *env,
                                         struct buf *out, int keep_alive, int head)
{
    const char *path = r->path;
    int kind = strcmp(path, "/demo/token") == 0 ? 0 : strcmp(path, "/demo/object-token") == 0 ? 1 : -1;
    if (kind < 0) {
        respond_file(out, env, path, keep_alive, head, NULL);
        return HTTP_ROUTE_RESPOND;
    }
    if (!r->peer_loopback) {
        respond_text(out, 403, "the demo token endpoint answers loopback clients only\n",
                     keep_alive, NULL, head);
        return HTTP_ROUTE_RESPOND;
    }
    /* A loopback peer is not enough: a page of evil.example whose name was rebound to
     * 127.0.0.1 reaches us from a local browser, same-origin in the browser's eyes. Its
     * requests still carry Host: evil.example (DNS rebinding). */
    if (!http_host_is_loopback(r->host)) {
        respond_text(out, 403,
                     "the demo token endpoint answers only requests whose Host is a loopback "
                     "name (localhost, 127.0.0.0/8, [::1])\n",
                     keep_alive, NULL, head);
        return HTTP_ROUTE_RESPOND;
    }
    struct buf json = {0}, headers = {0};
    int status = env->demo_token(env->privdata, kind, r, &json);
    buf_append_str(&headers, "Cache-Control: no-store\r\nVary: Origin\r\n");
    /* A plugin author's own host page on another local port may fetch tokens too (the
     * playground, docs/plugins.md); a page of any other site may not read them. */
    if (origin_is_loopback(r->origin))
        buf_printf(&headers, "Access-Control-Allow-Origin: %s\r\n", r->origin);
    http_respond(out, status, "application/json", json.p ? json.p : "", json.len, keep_alive,
                 headers.p, head);
    buf_free(&headers);
    buf_free(&json);
    return HTTP_ROUTE_RESPOND;
}

enum http_route_result http_route(struct http_request *r, const struct http_env *env,
                                  struct buf *out, int *keep_alive)
{
    const char *path = r->path ? r->path : "";
    int head = r->method == HTTP_METHOD_HEAD;
    int readable = r->method == HTTP_METHOD_GET || head;
    *keep_alive = r->keep_alive && !r->is_upgrade;

    if (env->static_only) {
        if (readable && has_prefix(path, "/demo/plugins/"))
            respond_file(out, env, path, *keep_alive, head, NULL);
        else
            respond_text(out, 404, "not found\n", *keep_alive, NULL, head);
        return HTTP_ROUTE_RESPOND;
    }
    if (readable && (strcmp(path, "/objcast.js") == 0 || strcmp(path, "/objcast.mjs") == 0)) {
        /* Host pages on any origin load the bridge as a script or import it as a module. */
        respond_file(out, env, path, *keep_alive, head, "Access-Control-Allow-Origin: *\r\n");
        return HTTP_ROUTE_RESPOND;
    }
    if (env->demo_token && readable && (has_prefix(path, "/demo/") || strcmp(path, "/demo") == 0)) {
        if (strcmp(path, "/demo") == 0) {
            respond_text(out, 301, "moved\n", *keep_alive, "Location: /demo/\r\n", head);
            return HTTP_ROUTE_RESPOND;
        }
        return route_demo(r, env, out, *keep_alive, head);
    }

    if (strcmp(path, "/ws") == 0)
        return route_ws(r, env, out, keep_alive);

    /* The status page (its data, /api/v1/status, needs the api_key): never framed, since it
     * takes the key in a form, and nothing loaded from elsewhere. */
    if (readable && (strcmp(path, "/status") == 0 || has_prefix(path, "/status/"))) {
        respond_file(out, env, strcmp(path, "/status") == 0 ? "/status/" : path, *keep_alive, head,
                     "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n"
                     "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n");
        return HTTP_ROUTE_RESPOND;
    }

    /* With the demo on, a first visit to the bare address finds its way. */
    if (env->demo_token && readable && strcmp(path, "/") == 0) {
        respond_file(out, env, "/index.html", *keep_alive, head, NULL);
        return HTTP_ROUTE_RESPOND;
    }

    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
        strcmp(path, "/metrics") == 0) {
        if (!readable) {
            respond_text(out, 405, "method not allowed\n", *keep_alive, "Allow: GET, HEAD\r\n", 0);
            return HTTP_ROUTE_RESPOND;
        }
        if (strcmp(path, "/healthz") == 0) {
            respond_text(out, 200, "ok\n", *keep_alive, NULL, head);
        } else if (strcmp(path, "/readyz") == 0) {
            int ready = !env->ready || env->ready(env->privdata);
            respond_text(out, ready ? 200 : 503, ready ? "ready\n" : "engine not connected\n",
                         *keep_alive, NULL, head);
        } else {
            struct buf text = {0};
            if (env->metrics)
                env->metrics(env->privdata, &text);
            http_respond(out, 200, "text/plain; version=0.0.4; charset=utf-8",
                         text.p ? text.p : "", text.len, *keep_alive, NULL, head);
            buf_free(&text);
        }
        return HTTP_ROUTE_RESPOND;
    }
    respond_text(out, 404, "not found\n", *keep_alive, NULL, head);
    return HTTP_ROUTE_RESPOND;
}
