#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "api.h"
#include "dispatch.h"
#include "payload.h"
#include "http.h"
#include "log.h"
#include "util.h"
#include "metrics.h"
#include "outq.h"
#include "session.h"
#include "ws.h"

/* How long an idle HTTP connection (keep-alive or a slow head) may stay. */
#define HTTP_IDLE_SECONDS 30
/* How long the last bytes may take to leave, and how long to wait for the peer to close
 * after our write side is shut. */
#define FLUSH_SECONDS 5
#define LINGER_SECONDS 3
/* Bytes read per socket call. libevent 2.1's evbuffer_read() takes at most 4 KiB, which
 * caps a busy sender at a few messages per loop turn; objcastd reads for itself. */
#define MAX_SINGLE_READ 65536
/* Writes at most this many times in one flush: one writev() takes at most 128 chains. */
#define FLUSH_WRITES_MAX 4
/* Before objcast_auth a message is buffered only up to this: enough for an objcast_auth with
 * the largest token accepted (8 KiB), and all an unauthenticated client can make us hold. */
#define PREAUTH_MAX_MESSAGE 16384
/* What a queued payload costs besides its bytes (the payload and its slot in the ring):
 * counted toward client_output_limit, so a flood of tiny pongs is bounded like a few big
 * messages. */
#define FRAME_COST 64
/* How long a session may wait for its command to take effect (the own event back from the
 * engine, or the engine's answer) before its next messages run anyway. */
#define WAIT_SECONDS 5
/* A token may say it lasts for years: the deadline timer looks again at least this often,
 * so a far exp never has to fit a timeval. */
#define DEADLINE_MAX_MS (86400 * 1000LL)

struct conn {
    struct session session;     /* first, so a session pointer is a conn pointer */
    struct conn_set *set;       /* the connections of this process */
    evutil_socket_t fd;         /* the socket, non-blocking; closed by conn_free() */
    struct event *rev;          /* EV_READ, always pending until the connection dies */
    struct event *wev;          /* EV_WRITE, pending only while write_armed */
    struct evbuffer *in;        /* bytes received but not handled yet: HTTP not parsed, or what
                                   followed a message that made the connection hold */
    struct outq out;            /* payloads and raw bytes not written yet */
    struct event *timer;        /* one deadline at a time: see arm_timer() */
    struct event *deadline;     /* message_timeout, the session's wait and the token's exp:
                                   see schedule_deadline() */
    int64_t deadline_ms;        /* when deadline fires (ms, loop clock), 0 if not pending */
    int64_t msg_since_ms;       /* when the message being received began, 0 between messages */
    int64_t wait_since_ms;      /* when the session began to wait, 0 when it does not */
    int held;                   /* not read for now (EV_READ removed): see update_reading() */
    enum conn_state state;
    struct http_request *http;  /* while in CONN_STATE_HTTP, else NULL */
    struct ws_decoder *ws;      /* once upgraded, else NULL */
    int deflate_bits;           /* permessage-deflate agreed: the window messages are
                                   compressed with (ws_deflated()); 0 when not */
    const struct http_env *env; /* routes of the port it came in on */
    uint64_t id;                /* unique in the process, for logs */
    int peer_loopback;          /* the peer is on this machine */
    struct api_wait *api;       /* a server API request waiting for the engine, or NULL */
    int in_read;                /* inside read_http(): answers are picked up by its loop */
    int64_t last_rx_ms;         /* when bytes last arrived (ms, loop clock) */
    int64_t ping_sent_ms;       /* when the outstanding ping was sent, 0 if none */
    unsigned close_code;        /* close code sent, for the log; 0 if none */
    const char *end;            /* why it ended, for the log (static text); NULL while open */
    int unflushed;              /* on set->unflushed: output waits for the end of the turn */
    int write_armed;            /* the socket was full: on_writable() writes the rest */
    TAILQ_ENTRY(conn) link;     /* in set->conns, or set->dead once dead */
    TAILQ_ENTRY(conn) flush_link; /* in set->unflushed while unflushed */
};

/* A server API request in flight. It outlives its connection if need be: conn_free()
 * clears conn, and the answer is then dropped. */
struct api_wait {
    struct conn *conn;
    int done;       /* answered while read_http() was still running */
    int keep_alive; /* the request allowed another one after it */
};

static const struct session_ops ws_session_ops;
static size_t out_cost(const struct conn *c);

static int64_t now_ms(const struct conn *c)
{
    struct timeval tv;
    event_base_gettimeofday_cached(c->set->base, &tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void arm_timer_ms(struct conn *c, int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

static void arm_timer(struct conn *c, int seconds)
{
    arm_timer_ms(c, (int64_t)seconds * 1000);
}

static const char *state_name(enum conn_state s)
{
    static const char *names[] = {"http", "ws", "flushing", "linger", "dead"};
    return names[s];
}

static void conn_set_state(struct conn *c, enum conn_state state)
{
    if (c->state == state)
        return;
    log_debug("conn state id=%llu from=%s to=%s", (unsigned long long)c->id,
              state_name(c->state), state_name(state));
    if (c->state == CONN_STATE_WS) {
        metrics.ws_connections--;
        metrics.ws_deflate -= c->deflate_bits != 0;
        if (c->session.id)
            metrics.ws_authenticated--;
    }
    if (state == CONN_STATE_WS) {
        metrics.ws_connections++;
        metrics.ws_deflate += c->deflate_bits != 0;
    }
    c->state = state;
}

/* Says why the connection ends, for its closing line; the first reason given stays (a
 * close frame's, when the peer then goes away). */
static void ending(struct conn *c, const char *why)
{
    if (!c->end)
        c->end = why;
}

/*
 * One info line when a WebSocket authenticates and one when it closes, with the user, the
 * workspace, the instance and why it closed. At most LOG_CONN_RATE lines a second (bursts
 * of LOG_CONN_BURST): a thousand clients reconnecting at once must not flood the log. The
 * lines left out are counted in the next one written.
 */
#define LOG_CONN_RATE 20
#define LOG_CONN_BURST 200
static int log_conn_allowed(struct conn_set *set, int64_t now)
{
    if (set->log_ms == 0)
        set->log_tokens = LOG_CONN_BURST;
    else
        set->log_tokens += (double)(now - set->log_ms) * LOG_CONN_RATE / 1000.0;
    if (set->log_tokens > LOG_CONN_BURST)
        set->log_tokens = LOG_CONN_BURST;
    set->log_ms = now;
    if (set->log_tokens < 1) {
        set->log_skipped++;
        return 0;
    }
    set->log_tokens -= 1;
    return 1;
}

static void log_conn(struct conn *c, const char *what)
{
    const struct identity *id = c->session.id;
    if (!id || log_get_level() > LOG_LEVEL_INFO || !log_conn_allowed(c->set, now_ms(c)))
        return;
    /* Opened: where from; closed: how and why. */
    char how[192];
    if (c->end)
        snprintf(how, sizeof(how), "code=%u reason=\"%s\"", c->close_code, c->end);
    else
        snprintf(how, sizeof(how), "loopback=%d", c->peer_loopback);
    char unlogged[40] = "";
    if (c->set->log_skipped)
        snprintf(unlogged, sizeof(unlogged), " unlogged=%llu",
                 (unsigned long long)c->set->log_skipped);
    c->set->log_skipped = 0;
    log_info("connection %s id=%llu user=%s ws=%s instance=%s %s%s", what,
             (unsigned long long)c->id, id->user_key, id->ws_key,
             c->set->registry ? c->set->registry->instance_id : "", how, unlogged);
}

void conn_kill(struct conn *c, const char *why)
{
    if (c->state == CONN_STATE_DEAD)
        return;
    ending(c, why);
    conn_set_state(c, CONN_STATE_DEAD);
    event_del(c->rev);
    event_del(c->wev);
    evtimer_del(c->timer);
    evtimer_del(c->deadline);
    if (c->unflushed) {
        TAILQ_REMOVE(&c->set->unflushed, c, flush_link);
        c->unflushed = 0;
    }
    TAILQ_REMOVE(&c->set->conns, c, link);
    TAILQ_INSERT_TAIL(&c->set->dead, c, link);
    conn_set_reap_soon(c->set);
}

static void conn_free(struct conn *c)
{
    assert(c->state == CONN_STATE_DEAD);
    TAILQ_REMOVE(&c->set->dead, c, link);
    log_debug("conn closed id=%llu code=%u", (unsigned long long)c->id, c->close_code);
    log_conn(c, "closed");
    if (c->api)
        c->api->conn = NULL; /* its answer will find nobody */
    event_free(c->rev);
    event_free(c->wev);
    evbuffer_free(c->in);
    c->set->freed_output += out_cost(c);
    outq_clear(&c->out);
    evutil_closesocket(c->fd);
    event_free(c->timer);
    event_free(c->deadline);
    http_request_free(c->http);
    if (c->ws) {
        ws_decoder_reset(c->ws);
        free(c->ws);
    }
    registry_session_remove(c->set->registry, &c->session);
    identity_free(c->session.id);
    metrics.connections--;
    free(c);
}

/* Shuts our write side once the output is gone, then waits for the peer's EOF. */
static void shut_write(struct conn *c)
{
    shutdown(c->fd, SHUT_WR);
    event_del(c->wev);
    c->write_armed = 0;
    conn_set_state(c, CONN_STATE_LINGER);
    arm_timer(c, LINGER_SECONDS);
}

/* Lets the queued output leave, then ends the connection. */
static void finish(struct conn *c)
{
    if (c->state == CONN_STATE_FLUSHING || c->state == CONN_STATE_LINGER ||
        c->state == CONN_STATE_DEAD)
        return;
    conn_set_state(c, CONN_STATE_FLUSHING);
    if (c->held) {
        /* Whatever the peer sends now is read and dropped (see on_readable()). */
        c->held = 0;
        event_add(c->rev, NULL);
    }
    if (c->out.bytes == 0)
        shut_write(c);
    else
        arm_timer(c, FLUSH_SECONDS);
}

/*
 * Holding: a connection is not read while what it sent before has not been dealt with. Its
 * unread bytes wait in the kernel (the peer's TCP window closes), and what was read past
 * the point where it began to hold waits in c->in, at most one read's worth. It holds while
 *  - its session waits for a command to take effect: a presence change on its way through
 *    the engine, or a get or save the engine has not answered (per-connection order);
 *  - a server API request waits for the engine (one request at a time);
 *  - its output is past half of client_output_limit: a client that sends requests, pings or
 *    messages with replies and never reads them costs no more than that. Others' broadcasts
 *    still come, and past the whole limit the connection is closed (session_send()).
 */
static size_t out_cost(const struct conn *c)
{
    return c->out.bytes + (size_t)c->out.count * FRAME_COST;
}

static int must_hold(const struct conn *c)
{
    return c->session.waiting || c->api || out_cost(c) >= c->set->conf->client_output_limit / 2;
}

/* Stops or resumes reading as must_hold() says. A connection that resumes with bytes in c->in
 * handles them on the next loop turn, from on_readable(), never inside the caller. */
static void update_reading(struct conn *c)
{
    if (c->state != CONN_STATE_HTTP && c->state != CONN_STATE_WS)
        return;
    int hold = must_hold(c);
    if (hold && !c->held) {
        event_del(c->rev);
        c->held = 1;
    } else if (!hold && c->held) {
        c->held = 0;
        event_add(c->rev, NULL);
        if (evbuffer_get_length(c->in))
            event_active(c->rev, EV_READ, 0);
    }
}

/*
 * Output is written once per loop turn, the way Redis does it: adding output only puts the
 * connection on set->unflushed, and flush_all() runs after the turn's other callbacks, so
 * one writev() carries every payload queued for the connection meanwhile (a broadcast burst
 * read from one sender becomes one write per recipient). Only a socket that is full gets
 * EV_WRITE armed until on_writable() has written the rest; the usual write costs no
 * epoll_ctl().
 */
static void want_flush(struct conn *c)
{
    if (c->unflushed || c->write_armed || c->state == CONN_STATE_DEAD)
        return;
    if (TAILQ_EMPTY(&c->set->unflushed))
        event_active(c->set->flusher, EV_TIMEOUT, 0);
    TAILQ_INSERT_TAIL(&c->set->unflushed, c, flush_link);
    c->unflushed = 1;
}

/* Writes up to `times` times, until the output is gone or the socket is full. Returns -1
 * (the connection is dead) on a write error, else 0. */
static int write_out(struct conn *c, int times)
{
    for (int i = 0; i < times && c->out.bytes > 0; i++) {
        ssize_t n = outq_write(&c->out, c->fd);
        if (n > 0)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            log_debug("conn write failed id=%llu errno=%d", (unsigned long long)c->id, errno);
            conn_kill(c, "write failed");
            return -1;
        }
        break;
    }
    return 0;
}

/* The output is gone: a closing connection shuts its write side. */
static void written(struct conn *c)
{
    if (c->state == CONN_STATE_FLUSHING)
        shut_write(c);
}

static void flush_one(struct conn *c)
{
    if (write_out(c, FLUSH_WRITES_MAX) != 0)
        return;
    if (c->out.bytes > 0) {
        c->write_armed = 1;
        event_add(c->wev, NULL);
    } else {
        written(c);
    }
    if (c->held)
        update_reading(c);
}

/* EV_WRITE, armed by flush_one() while the socket is full. */
static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (write_out(c, 1) != 0)
        return;
    if (c->held)
        update_reading(c);
    if (c->out.bytes > 0)
        return;
    c->write_armed = 0;
    event_del(c->wev);
    written(c);
}

/* The flusher: writes the output queued this loop turn, one connection after another. */
static void flush_all(evutil_socket_t fd, short what, void *arg)
{
    struct conn_set *set = arg;
    struct conn *c;
    while ((c = TAILQ_FIRST(&set->unflushed)) != NULL) {
        TAILQ_REMOVE(&set->unflushed, c, flush_link);
        c->unflushed = 0;
        flush_one(c);
    }
}

static void write_raw(struct conn *c, const void *data, size_t len)
{
    outq_push_bytes(&c->out, data, len);
    metrics.bytes_sent += len;
    want_flush(c);
}

/* Sends a close frame and ends the connection. */
static void ws_close(struct conn *c, unsigned code, const char *reason)
{
    if (c->state != CONN_STATE_WS)
        return;
    struct buf b = {0};
    ws_close_frame(&b, code, reason);
    write_raw(c, b.p, b.len);
    buf_free(&b);
    c->close_code = code;
    ending(c, reason ? reason : "the client closed");
    finish(c);
}

static void session_send(struct session *s, struct payload *p)
{
    struct conn *c = (struct conn *)s;
    if (c->state != CONN_STATE_WS)
        return;
    /* Compressed once for every connection that takes it so (ws_deflated()). */
    struct payload *v = NULL;
    if (c->deflate_bits && p->len >= c->set->conf->compression_min_bytes)
        v = ws_deflated(p, c->deflate_bits);
    if (v) {
        metrics.messages_sent_deflated++;
    } else {
        ws_frame_text(p);
        v = p;
    }
    outq_push(&c->out, v);
    metrics.messages_sent++;
    metrics.bytes_sent += v->wire_len;
    want_flush(c);
    if (out_cost(c) > c->set->conf->client_output_limit) {
        /* A consumer this slow pays alone: nobody waits for it. */
        log_info("slow consumer closed id=%llu pending=%zu", (unsigned long long)c->id,
                 c->out.bytes);
        metrics.closes[METRICS_CLOSE_SLOW]++;
        conn_kill(c, "slow consumer");
    }
}

static void session_close(struct session *s, enum session_close why)
{
    static const struct {
        unsigned code;
        const char *reason;
        enum metrics_close metric;
    } map[] = {
        [SESSION_CLOSE_AUTH_FAILED] = {WS_CLOSE_POLICY, "authentication failed",
                                       METRICS_CLOSE_AUTH},
        [SESSION_CLOSE_RATE_ABUSE] = {WS_CLOSE_POLICY, "rate limit exceeded", METRICS_CLOSE_RATE},
    };
    metrics.closes[map[why].metric]++;
    ws_close((struct conn *)s, map[why].code, map[why].reason);
}

/* The earliest deadline of an open WebSocket besides pings (ms, loop clock), or 0: the end
 * of message_timeout for a message begun, of WAIT_SECONDS for a session waiting, and the
 * connection token's exp (a connection lives as long as its token: docs/protocol.md
 * section 2.5). */
static int64_t next_deadline(const struct conn *c)
{
    int64_t due = 0;
    if (c->msg_since_ms)
        due = c->msg_since_ms + (int64_t)c->set->conf->message_timeout * 1000;
    if (c->wait_since_ms) {
        int64_t d = c->wait_since_ms + (int64_t)WAIT_SECONDS * 1000;
        due = due && due < d ? due : d;
    }
    if (c->session.id && c->session.id->exp) {
        int64_t d = (int64_t)c->session.id->exp * 1000;
        due = due && due < d ? due : d;
    }
    return due;
}

/* Arms the deadline timer for next_deadline(), unless it fires earlier anyway (it looks
 * again then). Cheap enough to call after every message: it seldom re-arms. */
static void schedule_deadline(struct conn *c)
{
    int64_t due = next_deadline(c);
    if (!due || (c->deadline_ms && c->deadline_ms <= due))
        return;
    int64_t now = now_ms(c), ms = due - now;
    ms = ms < 0 ? 0 : ms > DEADLINE_MAX_MS ? DEADLINE_MAX_MS : ms;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(c->deadline, &tv);
    c->deadline_ms = now + ms;
}

/* The session's command took effect: its held-back messages run next turn. */
static void session_resume(struct session *s)
{
    struct conn *c = (struct conn *)s;
    c->wait_since_ms = 0;
    update_reading(c);
}

static const struct session_ops ws_session_ops = {
    .send = session_send,
    .close = session_close,
    .resume = session_resume,
};

/* A ping or pong (len <= WS_MAX_CONTROL, as the decoder ensures): header and payload go out
 * as one queued payload, so a pong costs one payload and one FRAME_COST, not two of each. */
static void send_control(struct conn *c, enum ws_opcode op, const uint8_t *payload, size_t len)
{
    uint8_t frame[WS_MAX_HEADER + WS_MAX_CONTROL];
    assert(len <= WS_MAX_CONTROL);
    size_t hlen = ws_header_encode(frame, op, len);
    if (len)
        memcpy(frame + hlen, payload, len);
    write_raw(c, frame, hlen + len);
}

static void handle_ws_event(struct conn *c, const struct ws_event *ev)
{
    switch (ev->type) {
    case WS_EV_TEXT: {
        int was_authenticated = c->session.id != NULL;
        metrics.messages_received++;
        dispatch_message(c->set->dispatch, &c->session, (const char *)ev->payload, ev->len);
        /* Authenticated now: the timer switches from the auth deadline to pings, and
         * messages may be as large as the configuration allows. */
        if (!was_authenticated && c->session.id && c->state == CONN_STATE_WS) {
            log_conn(c, "opened");
            arm_timer(c, c->set->conf->ping_interval);
            c->ws->max_message = c->set->conf->max_frame_bytes;
        }
        if (c->session.waiting && !c->wait_since_ms)
            c->wait_since_ms = now_ms(c);
        /* Authenticated, refreshed or waiting: a deadline may have come nearer. */
        if (c->session.id && c->state == CONN_STATE_WS)
            schedule_deadline(c);
        break;
    }
    case WS_EV_PING:
        send_control(c, WS_OP_PONG, ev->payload, ev->len);
        break;
    case WS_EV_PONG:
        break; /* any traffic counts as an answer: see on_timer() */
    case WS_EV_CLOSE:
        /* Echo the peer's code (RFC 6455 section 5.5.1); an empty close gets an empty one. */
        ws_close(c, ev->code == WS_CLOSE_NO_STATUS ? 0 : ev->code, NULL);
        break;
    case WS_EV_ERROR:
        log_info("ws protocol error id=%llu code=%u reason=\"%s\"", (unsigned long long)c->id,
                 ev->code, ev->reason);
        metrics.closes[METRICS_CLOSE_PROTOCOL]++;
        ws_close(c, ev->code, ev->reason);
        break;
    case WS_EV_NONE:
        break;
    }
}

/* Decodes and handles what arrived, while the WebSocket stays open. Returns the bytes used:
 * less than len only if the connection began to close. */
static size_t feed_ws(struct conn *c, const uint8_t *p, size_t len)
{
    size_t done = 0;
    while (c->state == CONN_STATE_WS && done < len && !must_hold(c)) {
        struct ws_event ev;
        size_t used = ws_decode(c->ws, p + done, len - done, &ev);
        done += used;
        metrics.bytes_received += used;
        handle_ws_event(c, &ev);
        if (used == 0 && ev.type == WS_EV_NONE)
            break;
    }
    /* A message begun must end within message_timeout, so a trickle cannot hold its buffer. */
    if (c->state == CONN_STATE_WS && ws_decoder_partial(c->ws)) {
        if (!c->msg_since_ms) {
            c->msg_since_ms = now_ms(c);
            schedule_deadline(c);
        }
    } else {
        c->msg_since_ms = 0;
    }
    return done;
}

/* Bytes kept in c->in: what followed the upgrade request, or what was read past the point
 * where the connection began to hold. */
static void read_ws(struct conn *c, struct evbuffer *in)
{
    struct evbuffer_iovec v;
    while (c->state == CONN_STATE_WS && !must_hold(c) &&
           evbuffer_peek(in, -1, NULL, &v, 1) == 1 && v.iov_len)
        evbuffer_drain(in, feed_ws(c, v.iov_base, v.iov_len));
}

static void start_ws(struct conn *c)
{
    c->deflate_bits = c->http->ws_deflate_bits;
    http_request_free(c->http);
    c->http = NULL;
    c->ws = oc_malloc(sizeof(*c->ws));
    size_t max = c->set->conf->max_frame_bytes;
    ws_decoder_init(c->ws, max < PREAUTH_MAX_MESSAGE ? max : PREAUTH_MAX_MESSAGE);
    c->ws->deflate = c->deflate_bits != 0;
    c->session.ops = &ws_session_ops;
    c->session.sid = c->id;
    conn_set_state(c, CONN_STATE_WS);
    c->last_rx_ms = now_ms(c);
    arm_timer(c, c->set->conf->auth_timeout);
}

static void after_response(struct conn *c, int keep_alive);
static void read_http(struct conn *c, struct evbuffer *in);

static void api_answer(void *privdata, int status, const char *body, size_t len)
{
    struct api_wait *w = privdata;
    struct conn *c = w->conn;
    if (!c || c->state != CONN_STATE_HTTP) {
        free(w);
        if (c)
            c->api = NULL;
        return;
    }
    struct buf out = {0};
    http_respond(&out, status, "application/json", body, len, w->keep_alive, NULL,
                 c->http->method == HTTP_METHOD_HEAD);
    write_raw(c, out.p, out.len);
    buf_free(&out);
    metrics.http_requests++;
    if (c->in_read) {
        w->done = 1; /* read_http() goes on from here */
        return;
    }
    c->api = NULL;
    int keep_alive = w->keep_alive;
    free(w);
    after_response(c, keep_alive);
    update_reading(c); /* the requests that waited behind it run next turn */
}

static void after_response(struct conn *c, int keep_alive)
{
    if (keep_alive && !c->set->shutting_down) {
        http_request_reset(c->http);
        arm_timer(c, HTTP_IDLE_SECONDS);
    } else {
        finish(c);
    }
}

/* Starts a server API request. Returns 1 when it is still waiting for the engine. */
static int start_api(struct conn *c)
{
    struct api_wait *w = oc_calloc(1, sizeof(*w));
    w->conn = c;
    w->keep_alive = c->http->keep_alive;
    c->api = w;
    api_handle(c->set->api, c->http, api_answer, w);
    if (!w->done)
        return 1;
    c->api = NULL;
    int keep_alive = w->keep_alive;
    free(w);
    after_response(c, keep_alive);
    return 0;
}

static void read_http(struct conn *c, struct evbuffer *in)
{
    c->in_read = 1;
    while (c->state == CONN_STATE_HTTP && !must_hold(c)) {
        size_t len = evbuffer_get_length(in);
        if (len == 0)
            break;
        const char *data = (const char *)evbuffer_pullup(in, -1);
        size_t used = 0;
        enum http_feed_result res = http_request_feed(c->http, data, len, &used);
        evbuffer_drain(in, used);
        metrics.bytes_received += used;
        if (res == HTTP_FEED_MORE)
            break;

        struct buf out = {0};
        if (res != HTTP_FEED_DONE) {
            http_respond_feed_error(&out, res);
            write_raw(c, out.p, out.len);
            buf_free(&out);
            finish(c);
            break;
        }
        if (!c->env->static_only && api_path(c->http->path)) {
            if (start_api(c))
                break;
            continue;
        }
        int keep_alive = 0;
        c->http->peer_loopback = c->peer_loopback;
        enum http_route_result route = http_route(c->http, c->env, &out, &keep_alive);
        metrics.http_requests++;
        write_raw(c, out.p, out.len);
        buf_free(&out);
        if (route == HTTP_ROUTE_UPGRADE) {
            c->in_read = 0;
            start_ws(c);
            read_ws(c, in);
            return;
        }
        after_response(c, keep_alive);
    }
    c->in_read = 0;
}

/* One buffer for every connection's reads: a WebSocket is decoded straight out of it, and
 * only HTTP bytes are copied (into c->in, as a request may arrive in pieces). */
static uint8_t read_buf[MAX_SINGLE_READ];

/* Handles the bytes kept in c->in, as far as the connection may go. */
static void read_kept(struct conn *c)
{
    if (c->state == CONN_STATE_HTTP)
        read_http(c, c->in);
    else if (c->state == CONN_STATE_WS)
        read_ws(c, c->in);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (evbuffer_get_length(c->in) && (c->state == CONN_STATE_HTTP || c->state == CONN_STATE_WS)) {
        /* Older bytes first; new ones only once those are all handled. */
        read_kept(c);
        update_reading(c);
    }
    if (c->held)
        return; /* it holds again, or an activation raced update_reading() */
    ssize_t n = recv(fd, read_buf, sizeof(read_buf), 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        log_debug("conn peer gone id=%llu state=%s eof=%d", (unsigned long long)c->id,
                  state_name(c->state), n == 0);
        conn_kill(c, n == 0 ? "the client went away" : "connection reset");
        return;
    }
    c->last_rx_ms = now_ms(c);
    size_t used = 0;
    switch (c->state) {
    case CONN_STATE_HTTP:
        evbuffer_add(c->in, read_buf, (size_t)n);
        used = (size_t)n;
        read_http(c, c->in);
        break;
    case CONN_STATE_WS:
        used = feed_ws(c, read_buf, (size_t)n);
        /* It began to hold: the rest waits its turn. */
        if (c->state == CONN_STATE_WS && used < (size_t)n) {
            evbuffer_add(c->in, read_buf + used, (size_t)n - used);
            used = (size_t)n;
        }
        break;
    default:
        break;
    }
    update_reading(c);
    /* Closing: whatever else the peer sends is read and dropped, so its close reply never
     * meets a reset. */
    if (c->state == CONN_STATE_FLUSHING || c->state == CONN_STATE_LINGER) {
        size_t left = evbuffer_get_length(c->in);
        metrics.bytes_received += left + ((size_t)n - used);
        evbuffer_drain(c->in, left);
    }
}

/* See next_deadline(). */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    c->deadline_ms = 0;
    if (c->state != CONN_STATE_WS)
        return;
    int64_t now = now_ms(c);
    if (c->session.id && c->session.id->exp && now >= (int64_t)c->session.id->exp * 1000) {
        log_info("token expired id=%llu exp=%lld", (unsigned long long)c->id,
                 (long long)c->session.id->exp);
        metrics.closes[METRICS_CLOSE_TOKEN]++;
        ws_close(c, WS_CLOSE_TOKEN_EXPIRED, "token expired");
        return;
    }
    if (c->msg_since_ms &&
        now >= c->msg_since_ms + (int64_t)c->set->conf->message_timeout * 1000) {
        log_info("message timeout id=%llu", (unsigned long long)c->id);
        metrics.closes[METRICS_CLOSE_STALLED]++;
        ws_close(c, WS_CLOSE_POLICY, "message not completed in time");
        return;
    }
    if (c->wait_since_ms && now >= c->wait_since_ms + (int64_t)WAIT_SECONDS * 1000) {
        /* The engine never confirmed the command: go on rather than hang. */
        log_warn("command unconfirmed id=%llu", (unsigned long long)c->id);
        c->session.waiting = 0;
        c->wait_since_ms = 0;
        update_reading(c);
    }
    schedule_deadline(c);
}

/* The one timer of a connection: its meaning depends on the state. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    const struct conf *conf = c->set->conf;
    switch (c->state) {
    case CONN_STATE_HTTP:
    case CONN_STATE_FLUSHING:
    case CONN_STATE_LINGER:
        conn_kill(c, c->state == CONN_STATE_HTTP ? "idle" : "closed");
        return;
    case CONN_STATE_DEAD:
        return;
    case CONN_STATE_WS:
        break;
    }
    if (!c->session.id) {
        log_info("auth timeout id=%llu", (unsigned long long)c->id);
        metrics.auth_failures++;
        metrics.closes[METRICS_CLOSE_AUTH]++;
        ws_close(c, WS_CLOSE_AUTH_TIMEOUT, "authentication timeout");
        return;
    }
    int64_t now = now_ms(c);
    if (c->ping_sent_ms) {
        if (c->last_rx_ms < c->ping_sent_ms) {
            log_info("ping timeout id=%llu", (unsigned long long)c->id);
            metrics.closes[METRICS_CLOSE_PING]++;
            conn_kill(c, "ping timeout");
            return;
        }
        c->ping_sent_ms = 0;
    }
    int64_t idle = now - c->last_rx_ms;
    int64_t interval = (int64_t)conf->ping_interval * 1000;
    if (idle >= interval) {
        send_control(c, WS_OP_PING, NULL, 0);
        c->ping_sent_ms = now;
        arm_timer(c, conf->ping_timeout);
    } else {
        arm_timer_ms(c, interval - idle);
    }
}

static int is_loopback(const struct sockaddr *a)
{
    if (!a)
        return 0;
    if (a->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
    if (a->sa_family == AF_INET6) {
        const struct in6_addr *x = &((const struct sockaddr_in6 *)a)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(x) ||
               (IN6_IS_ADDR_V4MAPPED(x) && x->s6_addr[12] == 127);
    }
    return 0;
}

struct conn *conn_new(struct conn_set *set, evutil_socket_t fd, const struct sockaddr *peer,
                      const struct http_env *env)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    struct conn *c = oc_calloc(1, sizeof(*c));
    c->set = set;
    c->fd = fd;
    c->in = evbuffer_new();
    c->rev = event_new(set->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->wev = event_new(set->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    c->env = env;
    c->peer_loopback = is_loopback(peer);
    c->id = ++set->next_id;
    c->state = CONN_STATE_HTTP;
    c->http = http_request_new(set->conf->max_frame_bytes);
    c->timer = evtimer_new(set->base, on_timer, c);
    c->deadline = evtimer_new(set->base, on_deadline, c);
    TAILQ_INSERT_TAIL(&set->conns, c, link);
    metrics.connections++;
    metrics.connections_accepted++;

    /* libevent fails here only when memory runs out: abort, as every allocation does. */
    if (!c->in || !c->rev || !c->wev || !c->timer || !c->deadline ||
        event_add(c->rev, NULL) != 0) {
        log_error("out of memory setting up a connection");
        abort();
    }
    arm_timer(c, HTTP_IDLE_SECONDS);
    return c;
}

struct conn *conn_next(struct conn *c)
{
    return TAILQ_NEXT(c, link);
}

void conn_shutdown(struct conn *c)
{
    switch (c->state) {
    case CONN_STATE_WS:
        metrics.closes[METRICS_CLOSE_SHUTDOWN]++;
        ws_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
        break;
    case CONN_STATE_HTTP:
        finish(c);
        break;
    default:
        break;
    }
}

/* --- the set ----------------------------------------------------------------------------- */

/* A dropped connection with a long queue of small payloads leaves holes all over the heap:
 * past this much output freed, the reaper gives the pages back. */
#define TRIM_AFTER_BYTES (1024 * 1024)

void conn_set_reap(struct conn_set *set)
{
    struct conn *c;
    while ((c = TAILQ_FIRST(&set->dead)) != NULL)
        conn_free(c);
#ifdef __GLIBC__
    if (set->freed_output >= TRIM_AFTER_BYTES)
        malloc_trim(0);
#endif
    set->freed_output = 0;
    if (set->reaped)
        set->reaped(set->privdata);
}

void conn_set_reap_soon(struct conn_set *set)
{
    event_active(set->reaper, EV_TIMEOUT, 0);
}

static void reap(evutil_socket_t fd, short what, void *arg)
{
    conn_set_reap(arg);
}

void conn_set_init(struct conn_set *set)
{
    TAILQ_INIT(&set->conns);
    TAILQ_INIT(&set->dead);
    TAILQ_INIT(&set->unflushed);
    /* Ids are session ids too, which a resume names after a restart (docs/protocol.md
     * section 10): counted from the clock, a restarted process never gives one again that
     * its previous life gave (below a thousand connections a millisecond on average). */
    set->next_id = (uint64_t)util_wall_ms() * 1000;
    set->reaper = event_new(set->base, -1, 0, reap, set);
    set->flusher = event_new(set->base, -1, 0, flush_all, set);
    if (!set->reaper || !set->flusher) {
        log_error("out of memory setting up the event loop");
        abort();
    }
}

void conn_set_free(struct conn_set *set)
{
    struct conn *c;
    while ((c = TAILQ_FIRST(&set->conns)) != NULL)
        conn_kill(c, "server stopped");
    while ((c = TAILQ_FIRST(&set->dead)) != NULL)
        conn_free(c);
    if (set->reaper)
        event_free(set->reaper);
    if (set->flusher)
        event_free(set->flusher);
}
