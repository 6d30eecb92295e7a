#ifndef OC_CONN_H
#define OC_CONN_H

#include <event2/util.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct api_env;
struct conf;
struct conn;
struct dispatch_env;
struct event;
struct event_base;
struct registry;
TAILQ_HEAD(conn_list, conn);

/*
 * Every connection of one process and what they share. The server owns one: it fills in the
 * environment and calls conn_set_init(); connections do the rest.
 *
 * A connection is never freed inside its own callbacks: it moves to `dead` and the reaper
 * frees it on a later loop turn (as redis frees clients asynchronously). Output queued
 * during a loop turn is written once at its end by the flusher, so a burst to one connection
 * goes out in one writev().
 */
struct conn_set {
    /* Environment, set by the owner before conn_set_init(). */
    struct event_base *base;
    const struct conf *conf;
    const struct dispatch_env *dispatch; /* WebSocket messages are run there */
    const struct api_env *api;           /* and server API requests there */
    struct registry *registry;           /* a closing session leaves it */
    void (*reaped)(void *privdata);      /* after each reaper run (shutdown checks on it) */
    void *privdata;
    int shutting_down;                   /* server_shutdown() began: answers close HTTP
                                            connections */
    /* Kept by conn.c. */
    struct conn_list conns;              /* every live connection */
    struct conn_list dead;               /* to free on the next reaper run */
    struct conn_list unflushed;          /* output not yet written this loop turn */
    struct event *reaper;
    struct event *flusher;
    size_t freed_output;                 /* output dropped with connections freed since the
                                            last reaper run (past a megabyte the heap is
                                            trimmed) */
    uint64_t next_id;
    /* The info lines of connections opened and closed: a token bucket (see log_conn()). */
    double log_tokens;
    int64_t log_ms;
    uint64_t log_skipped;                /* lines left out since the last one written */
};

/* Creates the reaper and the flusher. */
void conn_set_init(struct conn_set *set);
/* Drops every connection at once and frees them and the events. */
void conn_set_free(struct conn_set *set);
/* Runs the reaper on a later loop turn (outside every connection's callbacks). */
void conn_set_reap_soon(struct conn_set *set);
/* Frees the dead connections now (and calls reaped). */
void conn_set_reap(struct conn_set *set);

/*
 * One client connection: HTTP requests until it upgrades, then a WebSocket carrying one
 * session. Every state change goes through conn_set_state().
 */
enum conn_state {
    CONN_STATE_HTTP = 0, /* reading HTTP requests */
    CONN_STATE_WS,       /* WebSocket open (authenticated or not) */
    CONN_STATE_FLUSHING, /* last bytes (close frame or final response) being written */
    CONN_STATE_LINGER,   /* write side shut; reading until the peer closes or a deadline */
    CONN_STATE_DEAD,     /* on its conn_set's dead list, freed by the set's reaper */
};

struct http_env;
struct sockaddr;
/* Takes over fd (accepted, non-blocking) from peer; its HTTP requests are answered with env.
 * Returns the connection, owned by set (never NULL: out of memory aborts). */
struct conn *conn_new(struct conn_set *set, evutil_socket_t fd, const struct sockaddr *peer,
                      const struct http_env *env);

/* Server shutdown: a WebSocket is closed with 1001, an HTTP connection after its response. */
void conn_shutdown(struct conn *c);

/* The connection after c in its set (for walking it while closing). */
struct conn *conn_next(struct conn *c);

/* Drops the connection at once (no close frame) and queues it for the reaper; why (static
 * text) goes in its closing log line unless a close frame already gave a reason. */
void conn_kill(struct conn *c, const char *why);

#endif
