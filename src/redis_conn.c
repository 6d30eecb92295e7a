#include "redis_conn.h"

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/time.h>

#include "buf.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* A command must be answered within this, or the connection is considered dead. */
#define COMMAND_TIMEOUT_MS 3000
/* Connecting may take this long. */
#define CONNECT_TIMEOUT_MS 2000
/* Backoff between connection attempts. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

/* A command waiting for its reply. Replies come in order, so the oldest is the head. */
struct call {
    struct redis_conn *rc;
    redis_reply_fn cb;
    void *privdata;
    int64_t sent_ms;
    TAILQ_ENTRY(call) link;
};

struct redis_conn {
    struct event_base *base;
    const struct conf *conf;
    char *name;
    int subscriber;
    redisAsyncContext *ac;   /* NULL while disconnected */
    int up;                  /* handshake done */
    int handshake_left;      /* handshake replies still awaited */
    struct event *retry;     /* next connection attempt */
    struct event *watchdog;  /* deadlines of commands and of connecting */
    int64_t connect_started_ms;
    int backoff_ms;
    TAILQ_HEAD(, call) calls;
    size_t ncalls;
    redis_state_fn on_state;
    redis_reply_fn on_message;
    void *privdata;
};

static void connect_now(struct redis_conn *rc);

/*
 * hiredis on libevent. hiredis reads at most 16 KiB per redisAsyncHandleRead(); a busy
 * subscriber connection then hands over a dozen messages per loop turn, and every
 * recipient gets a write() per dozen. This adapter reads again while the socket has more,
 * up to REDIS_READS_PER_TURN times, so one turn takes a whole burst of published messages
 * and the turn's flush writes it to each recipient at once.
 */
#define REDIS_READS_PER_TURN 8

struct redis_events {
    redisAsyncContext *ac;
    struct event *rev, *wev;
    int reading; /* inside on_redis_readable(): freeing waits for it */
    int freed;   /* hiredis let the context go while reading */
};

static void redis_events_free(struct redis_events *e)
{
    event_free(e->rev);
    event_free(e->wev);
    free(e);
}

static void on_redis_readable(evutil_socket_t fd, short what, void *arg)
{
    struct redis_events *e = arg;
    e->reading = 1;
    for (int i = 0; i < REDIS_READS_PER_TURN; i++) {
        redisAsyncHandleRead(e->ac);
        int more = 0;
        if (e->freed || ioctl(fd, FIONREAD, &more) != 0 || more <= 0)
            break;
    }
    e->reading = 0;
    if (e->freed)
        redis_events_free(e);
}

static void on_redis_writable(evutil_socket_t fd, short what, void *arg)
{
    struct redis_events *e = arg;
    redisAsyncHandleWrite(e->ac);
}

static void redis_add_read(void *privdata)
{
    event_add(((struct redis_events *)privdata)->rev, NULL);
}

static void redis_del_read(void *privdata)
{
    event_del(((struct redis_events *)privdata)->rev);
}

static void redis_add_write(void *privdata)
{
    event_add(((struct redis_events *)privdata)->wev, NULL);
}

static void redis_del_write(void *privdata)
{
    event_del(((struct redis_events *)privdata)->wev);
}

/* hiredis is done with the context. */
static void redis_cleanup(void *privdata)
{
    struct redis_events *e = privdata;
    event_del(e->rev);
    event_del(e->wev);
    if (e->reading)
        e->freed = 1; /* on_redis_readable() frees it on its way out */
    else
        redis_events_free(e);
}

static void redis_attach(redisAsyncContext *ac, struct event_base *base)
{
    struct redis_events *e = oc_calloc(1, sizeof(*e));
    e->ac = ac;
    e->rev = event_new(base, ac->c.fd, EV_READ, on_redis_readable, e);
    e->wev = event_new(base, ac->c.fd, EV_WRITE, on_redis_writable, e);
    if (!e->rev || !e->wev) {
        log_error("out of memory attaching a Redis connection");
        abort();
    }
    ac->ev.data = e;
    ac->ev.addRead = redis_add_read;
    ac->ev.delRead = redis_del_read;
    ac->ev.addWrite = redis_add_write;
    ac->ev.delWrite = redis_del_write;
    ac->ev.cleanup = redis_cleanup;
    /* Connecting: writable means connected, and the first reply may come at once. */
    event_add(e->rev, NULL);
    event_add(e->wev, NULL);
}

static void schedule_retry(struct redis_conn *rc)
{
    /* Jitter keeps a fleet of instances from reconnecting in step. */
    int delay = rc->backoff_ms / 2 + rand() % (rc->backoff_ms / 2 + 1);
    rc->backoff_ms = rc->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rc->backoff_ms * 2;
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    evtimer_add(rc->retry, &tv);
}

static void went_down(struct redis_conn *rc, const char *why)
{
    int was_up = rc->up;
    rc->ac = NULL;
    rc->up = 0;
    if (was_up)
        log_warn("redis down conn=%s reason=\"%s\"", rc->name, why);
    else
        log_debug("redis connect failed conn=%s reason=\"%s\"", rc->name, why);
    schedule_retry(rc);
    if (was_up && rc->on_state)
        rc->on_state(rc, 0, rc->privdata);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_conn *rc = ac->data;
    if (rc)
        went_down(rc, ac->errstr[0] ? ac->errstr : "disconnected");
}

static void handshake_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_conn *rc = privdata;
    redisReply *reply = r;
    if (!reply || rc->ac != ac)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        log_error("redis handshake refused conn=%s error=\"%s\"", rc->name, reply->str);
        redisAsyncDisconnect(ac);
        return;
    }
    if (--rc->handshake_left > 0)
        return;
    rc->up = 1;
    rc->backoff_ms = BACKOFF_MIN_MS;
    log_info("redis up conn=%s role=%s host=%s port=%d", rc->name,
             rc->subscriber ? "subscriber" : "commands", rc->conf->redis_host, rc->conf->redis_port);
    if (rc->on_state)
        rc->on_state(rc, 1, rc->privdata);
}

static void send_handshake(struct redis_conn *rc)
{
    const struct conf *c = rc->conf;
    rc->handshake_left = 0;
    if (c->redis_password) {
        redisAsyncCommand(rc->ac, handshake_reply, rc, "AUTH %s", c->redis_password);
        rc->handshake_left++;
    }
    if (c->redis_db) {
        redisAsyncCommand(rc->ac, handshake_reply, rc, "SELECT %d", c->redis_db);
        rc->handshake_left++;
    }
    redisAsyncCommand(rc->ac, handshake_reply, rc, "CLIENT SETNAME objcast:%s", rc->name);
    rc->handshake_left++;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_conn *rc = ac->data;
    if (!rc)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        went_down(rc, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    send_handshake(rc);
}

static void connect_now(struct redis_conn *rc)
{
    if (rc->ac)
        return;
    redisAsyncContext *ac = redisAsyncConnect(rc->conf->redis_host, rc->conf->redis_port);
    if (!ac || ac->err) {
        log_debug("redis connect failed conn=%s error=\"%s\"", rc->name, ac ? ac->errstr : "oom");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(rc);
        return;
    }
    ac->data = rc;
    redis_attach(ac, rc->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    rc->ac = ac;
    rc->connect_started_ms = util_wall_ms();
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    connect_now(arg);
}

/* Drops a connection that stopped answering: every waiting command fails. */
static void abandon(struct redis_conn *rc, const char *why)
{
    redisAsyncContext *ac = rc->ac;
    log_warn("redis timeout conn=%s reason=\"%s\"", rc->name, why);
    /* redisAsyncFree answers the waiting callbacks with NULL and runs on_disconnect only for
     * a connected context; make sure we go down exactly once. */
    ac->data = NULL;
    redisAsyncFree(ac);
    went_down(rc, why);
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    struct redis_conn *rc = arg;
    int64_t now = util_wall_ms();
    if (rc->ac && !rc->up && now - rc->connect_started_ms > CONNECT_TIMEOUT_MS) {
        abandon(rc, "connect timeout");
        return;
    }
    struct call *oldest = TAILQ_FIRST(&rc->calls);
    if (rc->ac && oldest && now - oldest->sent_ms > COMMAND_TIMEOUT_MS)
        abandon(rc, "command timeout");
}

static void call_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct call *call = privdata;
    struct redis_conn *rc = call->rc;
    TAILQ_REMOVE(&rc->calls, call, link);
    rc->ncalls--;
    if (r)
        metrics_redis_latency((double)(util_wall_ms() - call->sent_ms) / 1000.0);
    if (call->cb)
        call->cb(rc, r, call->privdata);
    free(call);
}

static void sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_conn *rc = privdata;
    if (r && rc->on_message)
        rc->on_message(rc, r, rc->privdata);
}

int redis_conn_command(struct redis_conn *rc, redis_reply_fn cb, void *privdata, int argc,
                       const char **argv, const size_t *argvlen)
{
    if (!rc->up)
        return -1;
    if (rc->subscriber) {
        /* Subscription callbacks stay registered for every message of the channel. */
        return redisAsyncCommandArgv(rc->ac, sub_reply, rc, argc, argv, argvlen) == REDIS_OK
                   ? 0
                   : -1;
    }
    struct call *call = oc_malloc(sizeof(*call));
    call->rc = rc;
    call->cb = cb;
    call->privdata = privdata;
    call->sent_ms = util_wall_ms();
    if (redisAsyncCommandArgv(rc->ac, call_reply, call, argc, argv, argvlen) != REDIS_OK) {
        free(call);
        return -1;
    }
    TAILQ_INSERT_TAIL(&rc->calls, call, link);
    rc->ncalls++;
    return 0;
}

struct redis_conn *redis_conn_new(struct event_base *base, const struct conf *conf,
                                  const char *name, int subscriber, redis_state_fn on_state,
                                  redis_reply_fn on_message, void *privdata)
{
    struct redis_conn *rc = oc_calloc(1, sizeof(*rc));
    rc->base = base;
    rc->conf = conf;
    rc->name = oc_strdup(name);
    rc->subscriber = subscriber;
    rc->on_state = on_state;
    rc->on_message = on_message;
    rc->privdata = privdata;
    rc->backoff_ms = BACKOFF_MIN_MS;
    TAILQ_INIT(&rc->calls);
    rc->retry = evtimer_new(base, on_retry, rc);
    rc->watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, rc);
    struct timeval tv = {0, 250000};
    evtimer_add(rc->watchdog, &tv);
    connect_now(rc);
    return rc;
}

void redis_conn_free(struct redis_conn *rc)
{
    if (!rc)
        return;
    rc->on_state = NULL;
    if (rc->ac) {
        rc->ac->data = NULL;
        redisAsyncFree(rc->ac);
        rc->ac = NULL;
    }
    /* redisAsyncFree answered every waiting call (with NULL), which removed them. */
    event_free(rc->retry);
    event_free(rc->watchdog);
    free(rc->name);
    free(rc);
}

int redis_conn_up(const struct redis_conn *rc)
{
    return rc->up;
}

size_t redis_conn_pending(const struct redis_conn *rc)
{
    return rc->ncalls;
}
