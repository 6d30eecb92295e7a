#ifndef OC_CONN_H
#define OC_CONN_H

#include <event2/util.h>

struct server;
struct conn;

/*
 * One client connection: HTTP requests until it upgrades, then a WebSocket carrying one
 * session. Every state change goes through conn_set_state(); a connection is never freed
 * inside its own callbacks: it is marked dead and the server's reaper frees it.
 */
enum conn_state {
    CONN_STATE_HTTP = 0, /* reading HTTP requests */
    CONN_STATE_WS,       /* WebSocket open (authenticated or not) */
    CONN_STATE_FLUSHING, /* last bytes (close frame or final response) being written */
    CONN_STATE_LINGER,   /* write side shut; reading until the peer closes or a deadline */
    CONN_STATE_DEAD,     /* on the server's dead list, freed by the reaper */
};

struct http_env;
struct sockaddr;
/* Takes over fd (accepted, non-blocking) from peer; its HTTP requests are answered with env.
 * Returns NULL and closes fd on failure. */
struct conn *conn_new(struct server *srv, evutil_socket_t fd, const struct sockaddr *peer,
                      const struct http_env *env);

/* Server shutdown: a WebSocket is closed with 1001, an HTTP connection after its response. */
void conn_shutdown(struct conn *c);

/* The connection after c in the server's list (for walking it while closing). */
struct conn *conn_next(struct conn *c);

/* Drops the connection at once (no close frame) and queues it for the reaper. */
void conn_kill(struct conn *c);

/* Writes the output queued this loop turn, one connection after another (the server's
 * flusher runs it). */
void conn_flush(struct server *srv);

/* Frees a dead connection. Only the reaper and server_free() call it. */
void conn_free(struct conn *c);

#endif
