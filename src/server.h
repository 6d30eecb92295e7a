#ifndef OC_SERVER_H
#define OC_SERVER_H

#include <event2/event.h>
#include <event2/listener.h>
#include <stdint.h>
#include <sys/queue.h>

#include "api.h"
#include "conf.h"
#include "conn.h"
#include "dispatch.h"
#include "engine.h"
#include "http.h"
#include "registry.h"

/*
 * One process: its event loop, its listener, every connection, signals and shutdown.
 * With `workers N` each forked process has a server of its own.
 */
struct server {
    struct event_base *base;
    struct evconnlistener *listener; /* NULL once shutdown began */
    struct conf *conf;               /* owned by main(), lives as long as the server */
    char *instance_id;               /* owned */
    struct engine *engine;           /* memory or redis */
    struct registry *registry;       /* objects with local participants */
    struct dispatch_env dispatch;    /* what dispatch needs (points into conf) */
    struct api_env api;              /* what the server API needs */
    struct http_env http;            /* what the HTTP routes need */
    struct http_env demo_http;       /* the demo plugins' port: static files only */
    struct evconnlistener *demo_listener; /* demo_port, or NULL */
    char *static_dir;                /* static_dir, resolved */
    struct conn_set conns;           /* every connection */
    struct event *sigterm, *sigint;  /* graceful shutdown */
    struct event *sighup;            /* reload the configuration */
    int argc;                        /* main()'s arguments, to read the conf again */
    char **argv;
    char *previous_secret;           /* the secret replaced by the last reload, owned */
    struct event *shutdown_timer;
    struct event *listen_retry;      /* re-enables accepting after EMFILE */
    struct event *drain_timer;       /* shutdown: waits for the engine's last answers */
    char listen_addr[80];            /* "host:port" actually bound */
    int bound_port;                  /* the port actually bound (port 0 lets the system pick) */
    long long started;               /* unix seconds */
    /* The status page's window (STATS_WINDOW_MS): what the last one measured. */
    struct event *stats_timer;
    int64_t stats_at;                /* when the current window began (monotonic ms) */
    uint64_t stats_in, stats_out;    /* messages received and sent before it */
    double rate_in, rate_out;        /* messages per second in the last window */
    struct buf busiest;              /* its busiest objects, a JSON array */
};

/* Creates the server and binds its listener. Returns NULL with the reason in err. conf and
 * instance_id must outlive the server; instance_id is copied. */
struct server *server_new(struct conf *conf, const char *instance_id, struct buf *err);

/* Logs the listening line and runs the event loop until shutdown completes. Returns 0. */
int server_run(struct server *s);

/* Frees everything (connections included). */
void server_free(struct server *s);

/* Starts a graceful shutdown: stop accepting, close every client with 1001, exit the loop
 * when they are gone or shutdown_timeout passed. */
void server_shutdown(struct server *s);

/* Remembers how the configuration was given, so SIGHUP can read it again. */
void server_set_args(struct server *s, int argc, char **argv);

/* Reads the configuration again and applies what can change while running: the keys marked
 * reloadable in conf.c's table (log level, limits, timeouts, origins, object tokens,
 * api_key; conf_apply_reloadable()) and token_secret (the previous one still verifies for
 * token_secret_grace seconds). Returns 0, or -1 (nothing changed) when the configuration
 * is invalid. */
int server_reload(struct server *s);

#endif
