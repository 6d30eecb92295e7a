#ifndef OC_REGISTRY_H
#define OC_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "buf.h"
#include "busiest.h"
#include "conf.h"
#include "dict.h"
#include "engine.h"
#include "presence.h"
#include "proto.h"
#include "session.h"

/*
 * The objects this instance has participants on: object key -> channel with its local
 * connections (memberships) and the replica of its presence. Indexes go both ways (object ->
 * memberships, session -> memberships) and change together here. Everything an object's
 * participants see arrives from the engine's deliver callback, so every recipient on every
 * instance sees one order.
 */

struct recovery;

/* One session on one object. */
struct membership {
    struct session *s;               /* the connection's session */
    struct object *o;                /* the object */
    enum presence_state state;       /* this connection's own state */
    char object_type[8];             /* as subscribed: "static" or "dynamic" */
    int host;                        /* isHost granted by an object token */
    unsigned long long seq;          /* when it last changed; the newest wins ties */
    struct recovery *rec;            /* it came with since: registry_recovery.c */
    int position;                    /* asked for the object's position on its own events
                                        ("position": true, docs/protocol.md section 10) */
    int fresh;                       /* its own event has not come yet: what comes on the
                                        object before it happened before the subscribe, and
                                        is not sent (a resume keeps it: registry_recovery.c) */
    TAILQ_ENTRY(membership) olink;   /* in o->members */
    LIST_ENTRY(membership) slink;    /* in s->memberships */
};

/* One object with local participants. */
struct object {
    char *okey;                            /* okey.h: "ws:objectId", both encoded */
    char *object_id;                       /* as clients name it */
    TAILQ_HEAD(, membership) members;      /* local connections, in arrival order */
    size_t nmembers;
    struct presence replica;               /* everyone on the object, every instance */
    int bootstrapped;                      /* the replica was read from the engine; until
                                              then local entries wait to be published */
    struct busiest_counter hits;           /* messages of its order this window */
};

struct registry {
    struct engine *engine;      /* borrowed */
    const struct conf *conf;    /* borrowed */
    const char *instance_id;    /* borrowed */
    struct dict objects;        /* okey -> struct object */
    struct dict sessions;       /* sid (8 bytes) -> struct session, authenticated ones */
    unsigned long long seq;     /* membership change counter */
    uint64_t wait_seq;          /* numbers the commands sessions wait for */
    struct busiest busiest;     /* the objects with the most messages this window */
};

enum registry_action {
    REGISTRY_SUBSCRIBE,
    REGISTRY_JOIN,
    REGISTRY_LEAVE,
    REGISTRY_UNSUBSCRIBE,
};

/* Takes the engine's deliveries. */
struct registry *registry_new(struct engine *engine, const struct conf *conf,
                              const char *instance_id);
void registry_free(struct registry *r);

/* Closes the window of the busiest objects, seconds long: appends them, most messages
 * first, as a JSON array of {"key","workspaceId","objectId","participants","messages",
 * "messages_per_s"}. Messages are those of the object's order (broadcasts, emits, saves), as
 * every instance with a participant on it sees them; participants are everyone on it, on
 * every instance. */
void registry_busiest(struct registry *r, double seconds, struct buf *out);

/* An authenticated session: registered so asynchronous answers can find it. */
void registry_session_add(struct registry *r, struct session *s);
/* The session is closing: leaves every object (the others see it go) and is forgotten. */
void registry_session_remove(struct registry *r, struct session *s);

/* The session's membership of object_id in its workspace, or NULL. */
struct membership *registry_membership(struct registry *r, struct session *s,
                                       const char *object_id);

/*
 * Runs a presence command. object_type and host apply to subscribe and join; since (or
 * NULL) to a subscribe or join of an object the session is not on yet: a resume
 * (docs/protocol.md section 10); position: the own events carry the object's position from
 * now on. Returns
 * PROTO_ERR_COUNT when done (events go out through the engine), or PROTO_ERR_NOT_SUBSCRIBED
 * for leave or unsubscribe of an object the session is not on.
 */
enum proto_error registry_presence(struct registry *r, struct session *s, const char *object_id,
                                   enum registry_action action, const char *object_type,
                                   int host, const struct proto_since *since, int position);

/* Appends s's session id as objcast_ready shows it (what a later resume's since names). */
void registry_session_name(struct buf *b, const struct registry *r, const struct session *s);

/* Answers ovice_get_participants from the replica: no round trip. */
void registry_send_participants(struct registry *r, struct membership *m, struct proto_span ref);

/* True when user_key is a participant of m's object (any state), per the replica. */
int registry_user_present(struct membership *m, const char *user_key);

/* Sets b to the key of an object in the registry, the engine and Redis: workspace and
 * object id, each encoded as docs/operations.md ("Redis") says, joined by ':' (okey.h). */
void registry_object_key(struct buf *b, const char *ws_key, const char *object_id);

/* Objects the session is on. */
size_t registry_session_objects(const struct session *s);

/* 1 when the engine can serve: otherwise object messages are answered `unavailable`. */
int registry_ready(const struct registry *r);

/* Sends objcast_error code/message (with objectId and ref when given) to s, and counts it. */
void registry_send_error(struct session *s, enum proto_error code, const char *message,
                         const char *object_id, struct proto_span ref);

/*
 * The rules every sender obeys, a client or the server API. Each returns PROTO_ERR_COUNT when
 * the request may go on, or the error to answer with *why, a message for people.
 */
/* An ovice_message's content: "event" and "message" present, message within
 * max_message_bytes. */
enum proto_error registry_check_message(const struct registry *r, const struct proto_msg *m,
                                        const char **why);
/* Parses a save's payload (JSON text, len 0 when absent) into update: a JSON object, and for
 * a replace within max_data_bytes (a merge can shrink through null values: the engine checks
 * its result). */
enum proto_error registry_parse_save(const struct registry *r, const char *text, size_t len,
                                     int merge, struct data_doc *update, const char **why);

/* Publishes an encoded ovice_message to the object (broadcast, or emit when to is set).
 * If the engine cannot take it, the sender gets `unavailable` (with ref). */
void registry_publish(struct registry *r, struct membership *m, struct payload *f, int echo,
                      const char *to, struct proto_span ref);

/* ovice_get_data and ovice_save_and_emit_data; the answers go to the session (with ref) when
 * the engine replies, if it is still there. */
void registry_get_data(struct registry *r, struct membership *m, struct proto_span ref);
void registry_save_data(struct registry *r, struct membership *m, const struct data_doc *update,
                        int merge, long long if_version, struct proto_span ref);

/*
 * The server API: the same operations on an object named by workspace and object id, for a
 * caller that is not a session (origin sid 0). The answer comes once through a callback:
 * err PROTO_ERR_COUNT with what was asked, or the error and a message for people.
 */
struct registry_answer {
    const struct engine_data *data;          /* get and save: the stored data */
    size_t n;                                /* participants: everyone on the object */
    const struct participant *const *list;   /* the entry that shows each user */
    const enum presence_state *states;       /* their aggregate states */
};
typedef void (*registry_api_fn)(void *privdata, enum proto_error err, const char *message,
                                const struct registry_answer *a);

void registry_api_participants(struct registry *r, const char *ws_key, const char *object_id,
                               registry_api_fn cb, void *privdata);
void registry_api_get_data(struct registry *r, const char *ws_key, const char *object_id,
                           registry_api_fn cb, void *privdata);
/* update parsed with registry_parse_save(). */
void registry_api_save_data(struct registry *r, const char *ws_key, const char *object_id,
                            const struct data_doc *update, int merge, long long if_version,
                            registry_api_fn cb, void *privdata);
/* m: a message of type ovice_broadcast_message (its event and message); source_json is the
 * sender shown to clients, as JSON text. Checked with registry_check_message(). */
void registry_api_broadcast(struct registry *r, const char *ws_key, const char *object_id,
                            const char *source_json, const struct proto_msg *m,
                            registry_api_fn cb, void *privdata);

#endif
