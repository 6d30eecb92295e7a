#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "demo.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "pmd.h"
#include "proto.h"
#include "util.h"
#include "version.h"

/* Shutdown ends when every client is gone and the engine has answered what they caused
 * (their presence removals). */
static void maybe_finish_shutdown(void *privdata)
{
    struct server *s = privdata;
    if (!s->conns.shutting_down || !TAILQ_EMPTY(&s->conns.conns))
        return;
    if (s->engine && s->engine->ops->pending(s->engine) > 0 &&
        s->engine->ops->ready(s->engine)) {
        struct timeval tv = {0, 20000};
        evtimer_add(s->drain_timer, &tv);
        return;
    }
    log_info("shutdown complete");
    event_base_loopexit(s->base, NULL);
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    maybe_finish_shutdown(arg);
}

static int http_ready(void *privdata)
{
    struct server *s = privdata;
    return s->engine && s->engine->ops->ready(s->engine);
}

/* A relative static_dir that does not exist from here falls back to the source tree's
 * (so objcastd run from anywhere in a build serves its own web/). */
static char *resolve_static_dir(const char *dir)
{
    struct stat st;
    if (dir[0] == '/' || (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return oc_strdup(dir);
    struct buf b = {0};
    buf_printf(&b, "%s/%s", OBJCAST_SRCDIR, dir);
    if (stat(b.p, &st) == 0 && S_ISDIR(st.st_mode))
        return buf_detach(&b);
    buf_free(&b);
    return oc_strdup(dir);
}

/* The demo's token endpoints (demo.c), with the configuration as it is now. */
static int http_demo_token(void *privdata, int kind, const struct http_request *r,
                           struct buf *out)
{
    struct server *s = privdata;
    return demo_token(s->conf, s->bound_port, kind, r, out);
}

/* The status page's window: long enough for rates that do not flicker, short enough to
 * look live. Its cost does not grow with objects (busiest.h). */
#define STATS_WINDOW_MS 2000

static void on_stats_window(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    int64_t now = util_monotonic_coarse_ms();
    double seconds = (double)(now - s->stats_at) / 1000.0;
    if (seconds <= 0)
        seconds = STATS_WINDOW_MS / 1000.0;
    s->rate_in = (double)(metrics.messages_received - s->stats_in) / seconds;
    s->rate_out = (double)(metrics.messages_sent - s->stats_out) / seconds;
    s->stats_in = metrics.messages_received;
    s->stats_out = metrics.messages_sent;
    s->stats_at = now;
    buf_reset(&s->busiest);
    registry_busiest(s->registry, seconds, &s->busiest);
}

/* This instance's entry of the instances registry (docs/operations.md, "Status"), and of
 * /api/v1/status. */
static void engine_stats(void *privdata, struct buf *out)
{
    struct server *s = privdata;
    buf_append_str(out, "\"id\":");
    json_append_string(out, s->instance_id, strlen(s->instance_id));
    buf_append_str(out, ",\"address\":");
    json_append_string(out, s->listen_addr, strlen(s->listen_addr));
    buf_printf(out, ",\"pid\":%d,\"started\":%lld,\"updated\":%lld,\"objects\":%lld,",
               (int)getpid(), s->started, (long long)time(NULL), (long long)metrics.objects);
    buf_printf(out,
               "\"version\":\"%s\",\"engine\":\"%s\",\"connections\":%lld,"
               "\"messages_in\":%llu,\"messages_out\":%llu,\"bytes_in\":%llu,"
               "\"bytes_out\":%llu,\"messages_in_per_s\":%.2f,\"messages_out_per_s\":%.2f,"
               "\"errors\":{",
               OBJCAST_VERSION, s->engine->ops->name, (long long)metrics.ws_connections,
               (unsigned long long)metrics.messages_received,
               (unsigned long long)metrics.messages_sent,
               (unsigned long long)metrics.bytes_received, (unsigned long long)metrics.bytes_sent,
               s->rate_in, s->rate_out);
    int first = 1;
    for (int i = 0; i < PROTO_ERR_COUNT && i < METRICS_CODES_MAX; i++) {
        if (!metrics.errors[i])
            continue;
        buf_printf(out, "%s\"%s\":%llu", first ? "" : ",", proto_error_name((enum proto_error)i),
                   (unsigned long long)metrics.errors[i]);
        first = 0;
    }
    buf_append_str(out, "},\"busiest\":");
    if (s->busiest.len)
        buf_append(out, s->busiest.p, s->busiest.len);
    else
        buf_append_str(out, "[]");
}

static void http_metrics(void *privdata, struct buf *out)
{
    static struct metrics_codes codes;
    if (!codes.errors) {
        for (int i = 0; i < PROTO_ERR_COUNT; i++)
            codes.error_names[i] = proto_error_name((enum proto_error)i);
        for (int i = 0; i < PROTO_TYPE_COUNT; i++)
            codes.type_names[i] = i ? proto_type_name((enum proto_type)i) : "unknown";
        codes.errors = PROTO_ERR_COUNT;
        codes.types = PROTO_TYPE_COUNT;
    }
    metrics_render(out, &codes);
}

static int http_can_accept(void *privdata)
{
    struct server *s = privdata;
    return !s->conns.shutting_down && metrics.ws_connections < s->conf->max_connections;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr,
                      int socklen, void *arg)
{
    struct server *s = arg;
    /* Every TCP connection counts, upgraded or not: idle sockets cost memory too. One over
     * the limit gets a 503 if the socket takes it at once, and is closed without reading. */
    if (metrics.connections >= s->conf->max_connections) {
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                                   "Retry-After: 1\r\nContent-Length: 0\r\n\r\n";
        metrics.http_refused[METRICS_REFUSED_FULL]++;
        if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            log_debug("503 at accept not sent errno=%d", errno);
        evutil_closesocket(fd);
        return;
    }
    conn_new(&s->conns, fd, addr, l == s->demo_listener ? &s->demo_http : &s->http);
}

static void on_listen_retry(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    if (s->listener)
        evconnlistener_enable(s->listener);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct server *s = arg;
    int err = EVUTIL_SOCKET_ERROR();
    log_warn("accept failed error=\"%s\"", evutil_socket_error_to_string(err));
    /* Out of descriptors: stop accepting for a moment instead of spinning on the error. */
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        evconnlistener_disable(l);
        struct timeval tv = {1, 0};
        evtimer_add(s->listen_retry, &tv);
    }
}

static void on_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    struct conn *c;
    log_warn("shutdown timeout: dropping remaining connections");
    while ((c = TAILQ_FIRST(&s->conns.conns)) != NULL)
        conn_kill(c, "shutdown timeout");
    conn_set_reap(&s->conns);
    event_base_loopexit(s->base, NULL);
}

void server_shutdown(struct server *s)
{
    if (s->conns.shutting_down) {
        /* A second signal: stop waiting for clients. */
        on_shutdown_timeout(-1, 0, s);
        return;
    }
    s->conns.shutting_down = 1;
    log_info("shutdown started connections=%lld", (long long)metrics.connections);
    if (s->listener) {
        evconnlistener_free(s->listener);
        s->listener = NULL;
    }
    if (s->demo_listener) {
        evconnlistener_free(s->demo_listener);
        s->demo_listener = NULL;
    }
    struct conn *c, *next;
    for (c = TAILQ_FIRST(&s->conns.conns); c; c = next) {
        next = conn_next(c);
        conn_shutdown(c);
    }
    struct timeval tv = {s->conf->shutdown_timeout, 0};
    evtimer_add(s->shutdown_timer, &tv);
    conn_set_reap_soon(&s->conns);
}

void server_set_args(struct server *s, int argc, char **argv)
{
    s->argc = argc;
    s->argv = argv;
}

int server_reload(struct server *s)
{
    struct conf fresh;
    struct conf_cli cli;
    struct buf err = {0};
    if (!s->argv || conf_from_argv(&fresh, s->argc, s->argv, &cli, &err) != 0) {
        log_error("reload refused reason=\"%s\"", err.p ? err.p : "no arguments");
        buf_free(&err);
        conf_free(&fresh);
        return -1;
    }
    buf_free(&err);
    struct conf *c = s->conf;
    /* What a running process cannot change: said, not done. */
    if (strcmp(fresh.bind, c->bind) != 0 || fresh.port != c->port || fresh.engine != c->engine ||
        strcmp(fresh.redis_url, c->redis_url) != 0 || fresh.redis_cluster != c->redis_cluster ||
        fresh.workers != c->workers || strcmp(fresh.redis_prefix, c->redis_prefix) != 0)
        log_warn("reload: bind, port, engine, redis_url, redis_cluster, redis_prefix and workers "
                 "need a restart; their new values are ignored");
    if (fresh.token_secret[0] && strcmp(fresh.token_secret, c->token_secret) != 0) {
        free(s->previous_secret);
        s->previous_secret = c->token_secret;
        c->token_secret = oc_strdup(fresh.token_secret);
        s->dispatch.secrets[0].key = c->token_secret;
        s->dispatch.secrets[0].len = strlen(c->token_secret);
        s->dispatch.secrets[1].key = s->previous_secret;
        s->dispatch.secrets[1].len = strlen(s->previous_secret);
        s->dispatch.nsecrets = 2;
        s->dispatch.previous_until = (long long)time(NULL) + fresh.token_secret_grace;
        log_info("reload: token_secret rotated grace=%ds", fresh.token_secret_grace);
    }
    /* After the rotation, which reads fresh's grace: fresh gets the old values. */
    conf_apply_reloadable(c, &fresh);
    log_set_level((enum log_level)c->log_level);
    log_info("reload done log_level=%s", log_level_name((enum log_level)c->log_level));
    conf_free(&fresh);
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct server *s = arg;
    if (sig == SIGHUP) {
        log_info("signal received signal=SIGHUP");
        server_reload(s);
        return;
    }
    log_info("signal received signal=%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server_shutdown(s);
}

static void format_addr(struct server *s, evutil_socket_t fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
            port = ntohs(a->sin6_port);
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
            port = ntohs(a->sin_port);
        }
    }
    snprintf(s->listen_addr, sizeof(s->listen_addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d",
             host, port);
    s->bound_port = port;
}

static struct evconnlistener *listen_on(struct server *s, int portnum, struct buf *err)
{
    const struct conf *conf = s->conf;
    char port[16];
    snprintf(port, sizeof(port), "%d", portnum);
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
                                    .ai_socktype = SOCK_STREAM,
                                    .ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV};
    struct evutil_addrinfo *ai = NULL;
    int rc = evutil_getaddrinfo(conf->bind, port, &hints, &ai);
    if (rc != 0 || !ai) {
        buf_printf(err, "bind: cannot resolve \"%s\": %s", conf->bind, evutil_gai_strerror(rc));
        return NULL;
    }
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
    if (conf->workers > 1)
        flags |= LEV_OPT_REUSEABLE_PORT;
    struct evconnlistener *l = evconnlistener_new_bind(s->base, on_accept, s, flags, 4096,
                                                       ai->ai_addr, (int)ai->ai_addrlen);
    evutil_freeaddrinfo(ai);
    if (!l) {
        buf_printf(err, "cannot listen on %s port %d: %s", conf->bind, portnum, strerror(errno));
        return NULL;
    }
    evconnlistener_set_error_cb(l, on_accept_error);
    return l;
}

static int bind_listener(struct server *s, struct buf *err)
{
    s->listener = listen_on(s, s->conf->port, err);
    if (!s->listener)
        return -1;
    format_addr(s, evconnlistener_get_fd(s->listener));
    if (s->conf->demo && s->conf->demo_port) {
        s->demo_listener = listen_on(s, s->conf->demo_port, err);
        if (!s->demo_listener)
            return -1;
    }
    return 0;
}

struct server *server_new(struct conf *conf, const char *instance_id, struct buf *err)
{
    struct server *s = oc_calloc(1, sizeof(*s));
    s->conf = conf;
    s->instance_id = oc_strdup(instance_id);

    s->base = event_base_new();
    if (!s->base) {
        buf_append_str(err, "cannot create the event loop");
        server_free(s);
        return NULL;
    }
    s->dispatch.conf = conf;
    s->dispatch.instance_id = s->instance_id;
    s->dispatch.secrets[0].key = conf->token_secret;
    s->dispatch.secrets[0].len = strlen(conf->token_secret);
    s->dispatch.nsecrets = 1;
    s->dispatch.registry = NULL; /* the engine needs the bound address: see below */
    s->http.conf = conf;
    s->http.ready = http_ready;
    s->http.metrics = http_metrics;
    s->http.can_accept = http_can_accept;
    s->http.privdata = s;
    s->static_dir = resolve_static_dir(conf->static_dir);
    s->http.static_dir = s->static_dir;
    if (conf->demo) {
        s->http.demo_token = http_demo_token;
        log_warn("demo is on: /demo/token hands out identities to loopback clients; "
                 "never run this in production");
    }
    s->demo_http = s->http;
    s->demo_http.static_only = 1;

    s->conns.base = s->base;
    s->conns.conf = conf;
    s->conns.dispatch = &s->dispatch;
    s->conns.api = &s->api;
    s->conns.reaped = maybe_finish_shutdown;
    s->conns.privdata = s;
    conn_set_init(&s->conns);
    s->shutdown_timer = evtimer_new(s->base, on_shutdown_timeout, s);
    s->listen_retry = evtimer_new(s->base, on_listen_retry, s);
    s->drain_timer = evtimer_new(s->base, on_drain, s);
    s->sigterm = evsignal_new(s->base, SIGTERM, on_signal, s);
    s->sigint = evsignal_new(s->base, SIGINT, on_signal, s);
    evsignal_add(s->sigterm, NULL);
    evsignal_add(s->sigint, NULL);
    s->sighup = evsignal_new(s->base, SIGHUP, on_signal, s);
    evsignal_add(s->sighup, NULL);

    if (bind_listener(s, err) != 0) {
        server_free(s);
        return NULL;
    }
    if (conf->engine == CONF_ENGINE_REDIS)
        s->engine = engine_redis_new(s->base, conf, s->instance_id);
    else
        s->engine = engine_memory_new(s->conf, s->instance_id);
    s->engine->stats = engine_stats;
    s->engine->stats_privdata = s;
    s->registry = registry_new(s->engine, conf, s->instance_id);
    s->dispatch.registry = s->registry;
    s->conns.registry = s->registry;
    s->api.conf = conf;
    s->api.registry = s->registry;
    s->api.engine = s->engine;
    s->started = (long long)time(NULL);
    s->stats_at = util_monotonic_coarse_ms();
    s->stats_timer = event_new(s->base, -1, EV_PERSIST, on_stats_window, s);
    struct timeval window = {STATS_WINDOW_MS / 1000, (STATS_WINDOW_MS % 1000) * 1000};
    evtimer_add(s->stats_timer, &window);
    return s;
}

int server_run(struct server *s)
{
    log_always("objcastd listening on %s instance=%s engine=%s", s->listen_addr, s->instance_id,
             s->conf->engine == CONF_ENGINE_REDIS ? "redis" : "memory");
    event_base_dispatch(s->base);
    return 0;
}

void server_free(struct server *s)
{
    if (!s)
        return;
    conn_set_free(&s->conns);
    if (s->listener)
        evconnlistener_free(s->listener);
    if (s->demo_listener)
        evconnlistener_free(s->demo_listener);
    free(s->static_dir);
    free(s->previous_secret);
    /* The engine first: it answers its waiting callbacks while the registry still exists. */
    if (s->engine)
        s->engine->ops->free(s->engine);
    registry_free(s->registry);
    struct event *events[] = {s->shutdown_timer, s->listen_retry, s->sigterm, s->sigint,
                              s->drain_timer, s->sighup, s->stats_timer};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (events[i])
            event_free(events[i]);
    if (s->base)
        event_base_free(s->base);
    free(s->instance_id);
    buf_free(&s->busiest);
    free(s);
    pmd_release();
}
