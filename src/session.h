#ifndef OC_SESSION_H
#define OC_SESSION_H

#include <stdint.h>
#include <sys/queue.h>

#include "auth.h"
#include "payload.h"

/*
 * The protocol side of one client: who it is and what it may do. The transport (a WebSocket
 * connection today) owns the session and gives it two operations; nothing above the
 * transport knows what kind of connection is behind them.
 */
struct session;
struct membership;

/* Why the protocol ends a session. The transport turns it into its own close (a WebSocket
 * close code and reason) and counts it. */
enum session_close {
    SESSION_CLOSE_AUTH_FAILED, /* objcast_auth refused, after its unauthorized error */
    SESSION_CLOSE_RATE_ABUSE,  /* kept sending far over client_rate */
};

LIST_HEAD(membership_list, membership);

struct session_ops {
    /* Queues message p to the client, framed as the transport needs. Takes a reference of
     * its own: the caller keeps its own. */
    void (*send)(struct session *s, struct payload *p);
    /* Ends the session for why: the transport starts its close handshake. Safe to call from
     * inside any callback; the session stays valid until the transport frees it. */
    void (*close)(struct session *s, enum session_close why);
    /* The session stopped waiting (see `waiting`): the transport goes on with the messages
     * it held back. Called from inside engine callbacks, so it must only schedule the work.
     * May be NULL for a transport that never holds messages back. */
    void (*resume)(struct session *s);
};

struct session {
    const struct session_ops *ops;
    struct identity *id; /* NULL until objcast_auth succeeded; owned by the session */
    uint64_t sid;        /* unique within the process: async answers find it by this */
    double tokens;       /* client_rate bucket: messages it may still send now */
    double abuse;        /* refused messages, leaking at the same rate: over the burst the
                            client is closed (1008) */
    int64_t bucket_ms;   /* when the buckets were last updated (monotonic ms) */
    uint64_t waiting;    /* the command whose effect is not visible yet (a presence change on
                            its way through the engine, or a get or save not answered yet):
                            while nonzero the transport holds the next messages back, so
                            each message sees every earlier one of its connection and
                            replies come in request order (docs/protocol.md section 8) */
    struct membership_list memberships; /* the objects it is on (registry.c keeps it) */
};

#endif
