#include "redis_conn.h"

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/time.h>

#include "buf.h"
#include "log.h"
#include "metrics.h"
#include "resolve.h"
#include "util.h"

/* A command must be answered within this, or the connection is considered dead. */
#define COMMAND_TIMEOUT_MS 3000
/* Connecting may take this long. */
#define CONNECT_TIMEOUT_MS 2000
/* Backoff between connection attempts. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* A host name lookup this slow is logged. */
#define SLOW_LOOKUP_MS 1000

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
    char *host;              /* where it connects: conf's redis_host, or a cluster node */
    int port;
    struct resolve *lookup;  /* host is being looked up (a name, not an address) */
    char addr[64];           /* host's address of the latest attempt */
    int lookup_warned;       /* a failed lookup was logged; quiet until one succeeds */
    int64_t lookup_started_ms;
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
    int dispatching;         /* sub_read() is handing replies to on_message */
    int free_pending;        /* redis_conn_free() was called meanwhile: sub_read() frees */
};

static void connect_now(struct redis_conn *rc);
static void sub_read(struct redis_conn *rc);

static const char *role(const struct redis_conn *rc)
{
    return rc->subscriber ? "subscriber" : "commands";
}

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
        struct redis_conn *rc = e->ac->data;
        if (rc && rc->subscriber && rc->up)
            sub_read(rc);
        else
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
    log_info("redis up conn=%s role=%s host=%s address=%s port=%d", rc->name, role(rc), rc->host,
             rc->addr, rc->port);
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
    /* A cluster node has db 0 only and refuses SELECT; conf makes redis_db 0 there, this
     * keeps a cluster connection from ever trying. */
    if (c->redis_db && !c->redis_cluster) {
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

/* Connects to addr, host's address. */
static void connect_to(struct redis_conn *rc, const char *addr)
{
    snprintf(rc->addr, sizeof(rc->addr), "%s", addr);
    redisAsyncContext *ac = redisAsyncConnect(addr, rc->port);
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

static void on_resolved(const char *addr, const char *error, void *arg)
{
    struct redis_conn *rc = arg;
    rc->lookup = NULL;
    if (!addr) {
        /* Once per outage, at warn: a name that does not resolve is a configuration or DNS
         * problem an operator must see; every retry's failure goes to debug. */
        if (!rc->lookup_warned)
            log_warn("redis host lookup failed conn=%s role=%s host=%s error=\"%s\"", rc->name,
                     role(rc), rc->host, error);
        else
            log_debug("redis host lookup failed conn=%s role=%s host=%s error=\"%s\"", rc->name,
                      role(rc), rc->host, error);
        rc->lookup_warned = 1;
        schedule_retry(rc);
        return;
    }
    rc->lookup_warned = 0;
    /* A lookup that took seconds delays every (re)connection: the operator should know. */
    int64_t took = util_wall_ms() - rc->lookup_started_ms;
    if (took >= SLOW_LOOKUP_MS)
        log_warn("redis host lookup slow conn=%s role=%s host=%s address=%s ms=%lld", rc->name,
                 role(rc), rc->host, addr, (long long)took);
    connect_to(rc, addr);
}

/*
 * Every attempt looks the host up again (a Redis container restarted or recreated may have
 * a new address), in a thread: hiredis would call getaddrinfo() on the loop, which blocks
 * every client for as long as DNS takes to answer or give up.
 */
static void connect_now(struct redis_conn *rc)
{
    if (rc->ac || rc->lookup)
        return;
    if (resolve_is_numeric(rc->host)) {
        connect_to(rc, rc->host);
        return;
    }
    rc->lookup_started_ms = util_wall_ms();
    rc->lookup = resolve_start(rc->base, rc->host, on_resolved, rc);
    if (!rc->lookup) {
        log_debug("redis host lookup not started conn=%s host=%s", rc->name, rc->host);
        schedule_retry(rc);
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    connect_now(arg);
}

/* Frees the context ourselves: every waiting command fails, and the connection goes down
 * once. */
static void drop(struct redis_conn *rc, const char *why)
{
    redisAsyncContext *ac = rc->ac;
    char reason[128];
    snprintf(reason, sizeof(reason), "%s", why); /* why may be the context's errstr */
    /* redisAsyncFree answers the waiting callbacks with NULL and runs on_disconnect only for
     * a connected context; make sure we go down exactly once. */
    ac->data = NULL;
    redisAsyncFree(ac);
    went_down(rc, reason);
}

/* Drops a connection that stopped answering. */
static void abandon(struct redis_conn *rc, const char *why)
{
    log_warn("redis timeout conn=%s reason=\"%s\"", rc->name, why);
    drop(rc, why);
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

/*
 * A subscriber connection reads for itself once its handshake is done, and hands every reply
 * to on_message in the order it came. hiredis 0.14's async API knows the pub/sub commands by
 * name, SUBSCRIBE and PSUBSCRIBE (and their UNSUBSCRIBE) only: it takes Redis 7's SSUBSCRIBE
 * for a command with one reply, so the first smessage finds no callback and fails an assert
 * in redisProcessCallbacks() (the process aborts), or, once a plain SUBSCRIBE made the
 * context subscribed, goes to whichever callback ran last or nowhere, while SSUBSCRIBE's
 * callback stays queued for good. A subscriber connection needs none of that machinery:
 * everything it receives is a push (confirmations, messages, the sunsubscribe a cluster node
 * sends by itself when it loses a slot) or the error answering a command (a MOVED for an
 * SSUBSCRIBE to a slot served elsewhere), and its one consumer wants them all, in order. So
 * it writes commands with redisAppendCommandArgv() and reads with redisBufferRead() and
 * redisGetReply(), hiredis's own plain-context calls, on the async context's redisContext;
 * hiredis still connects it, runs the handshake and writes. The switch is clean: the
 * connection sends nothing but the handshake until that is answered, so no reply of ours can
 * be left for hiredis's dispatch, and hiredis never sees a subscription.
 */
static void sub_read(struct redis_conn *rc)
{
    redisAsyncContext *ac = rc->ac;
    redisContext *c = &ac->c;
    if (redisBufferRead(c) != REDIS_OK) {
        drop(rc, c->errstr[0] ? c->errstr : "read error");
        return;
    }
    /* The read event is not persistent: hiredis adds it again after every read, so do we. */
    if (ac->ev.addRead)
        ac->ev.addRead(ac->ev.data);

    void *reply = NULL;
    rc->dispatching = 1;
    while (!rc->free_pending && redisGetReply(c, &reply) == REDIS_OK && reply) {
        if (rc->on_message)
            rc->on_message(rc, reply, rc->privdata);
        freeReplyObject(reply);
        reply = NULL;
    }
    rc->dispatching = 0;
    if (rc->free_pending) {
        redis_conn_free(rc);
        return;
    }
    if (c->err) /* the reader met bytes that are not RESP */
        drop(rc, c->errstr[0] ? c->errstr : "protocol error");
}

int redis_conn_command(struct redis_conn *rc, redis_reply_fn cb, void *privdata, int argc,
                       const char **argv, const size_t *argvlen)
{
    if (!rc->up || rc->free_pending)
        return -1;
    if (rc->subscriber) {
        /* No callback: sub_read() hands whatever answers to on_message. */
        if (redisAppendCommandArgv(&rc->ac->c, argc, argv, argvlen) != REDIS_OK)
            return -1;
        if (rc->ac->ev.addWrite)
            rc->ac->ev.addWrite(rc->ac->ev.data);
        return 0;
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

struct redis_conn *redis_conn_new_at(struct event_base *base, const struct conf *conf,
                                     const char *host, int port, const char *name, int subscriber,
                                     redis_state_fn on_state, redis_reply_fn on_message,
                                     void *privdata)
{
    struct redis_conn *rc = oc_calloc(1, sizeof(*rc));
    rc->base = base;
    rc->conf = conf;
    rc->name = oc_strdup(name);
    rc->host = oc_strdup(host);
    rc->port = port;
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

struct redis_conn *redis_conn_new(struct event_base *base, const struct conf *conf,
                                  const char *name, int subscriber, redis_state_fn on_state,
                                  redis_reply_fn on_message, void *privdata)
{
    return redis_conn_new_at(base, conf, conf->redis_host, conf->redis_port, name, subscriber,
                             on_state, on_message, privdata);
}

void redis_conn_free(struct redis_conn *rc)
{
    if (!rc)
        return;
    if (rc->dispatching) {
        /* Called from on_message: sub_read() is still using rc and the context. */
        rc->free_pending = 1;
        rc->on_state = NULL;
        rc->on_message = NULL;
        return;
    }
    rc->on_state = NULL;
    resolve_cancel(rc->lookup);
    if (rc->ac) {
        rc->ac->data = NULL;
        redisAsyncFree(rc->ac);
        rc->ac = NULL;
    }
    /* redisAsyncFree answered every waiting call (with NULL), which removed them. */
    event_free(rc->retry);
    event_free(rc->watchdog);
    free(rc->name);
    free(rc->host);
    free(rc);
}

int redis_conn_up(const struct redis_conn *rc)
{
    return rc->up;
}

void *redis_conn_privdata(const struct redis_conn *rc)
{
    return rc->privdata;
}

size_t redis_conn_pending(const struct redis_conn *rc)
{
    return rc->ncalls;
}
