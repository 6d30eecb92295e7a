#ifndef OC_REDIS_CONN_H
#define OC_REDIS_CONN_H

#include <event2/event.h>
#include <stddef.h>

#include "conf.h"

/*
 * One connection to Redis over hiredis's async API on our event loop: AUTH, SELECT and
 * CLIENT SETNAME on connect, a deadline on every command (hiredis 0.14 has none for async
 * contexts), and reconnection with capped exponential backoff and jitter. The process never
 * blocks on Redis and never exits because of it.
 */
struct redis_conn;
struct redisReply;

/* A command's answer: reply is NULL when the command failed (connection lost, deadline
 * passed). The reply is valid only during the callback. */
typedef void (*redis_reply_fn)(struct redis_conn *rc, struct redisReply *reply, void *privdata);
/* The connection came up (handshake done) or went down. */
typedef void (*redis_state_fn)(struct redis_conn *rc, int up, void *privdata);

/*
 * Starts connecting at once to conf's redis_host:redis_port (the first host of redis_url).
 * name is used in logs and CLIENT SETNAME (objcast:<name>, so no spaces). conf must outlive
 * the connection; its password, db and redis_cluster are read at every (re)connect.
 *
 * subscriber: the connection only does pub/sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE,
 * PUNSUBSCRIBE, and Redis 7's sharded SSUBSCRIBE and SUNSUBSCRIBE. Every reply it receives
 * after the handshake goes to on_message, in order, as it came: confirmations ("subscribe",
 * "unsubscribe", "ssubscribe", "sunsubscribe", ...), messages ("message", "smessage",
 * "pmessage"), the sunsubscribe a cluster node pushes by itself when it loses a slot, and
 * error replies (a MOVED or CROSSSLOT answering an SSUBSCRIBE). The caller tells them apart.
 */
struct redis_conn *redis_conn_new(struct event_base *base, const struct conf *conf,
                                  const char *name, int subscriber, redis_state_fn on_state,
                                  redis_reply_fn on_message, void *privdata);

/* redis_conn_new() to host:port instead of conf's redis_url: a node of a Redis Cluster.
 * conf's password still applies; with conf's redis_cluster no SELECT is ever sent (db 0). */
struct redis_conn *redis_conn_new_at(struct event_base *base, const struct conf *conf,
                                     const char *host, int port, const char *name, int subscriber,
                                     redis_state_fn on_state, redis_reply_fn on_message,
                                     void *privdata);

/* Closes the connection; waiting commands are answered with NULL first. May be called from
 * on_message: the connection then goes once that call returns. */
void redis_conn_free(struct redis_conn *rc);

/* 1 when connected and the handshake succeeded. */
int redis_conn_up(const struct redis_conn *rc);

/* Sends a command (argv with lengths). Returns 0, or -1 at once when the connection is down
 * (cb is then not called). cb may be NULL. On a subscriber connection cb and privdata are
 * not used: what answers goes to on_message. */
int redis_conn_command(struct redis_conn *rc, redis_reply_fn cb, void *privdata, int argc,
                       const char **argv, const size_t *argvlen);

/* Commands sent and not answered yet. */
size_t redis_conn_pending(const struct redis_conn *rc);

/* The privdata it was made with. */
void *redis_conn_privdata(const struct redis_conn *rc);

#endif
