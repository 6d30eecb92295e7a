#ifndef OC_PROTO_H
#define OC_PROTO_H

#include <stddef.h>

#include "buf.h"
#include "data.h"
#include "payload.h"
#include "presence.h"

/*
 * The wire protocol (docs/protocol.md): JSON text <-> messages. One table of message types;
 * parsing keeps large values (message, payload) as spans of the received text, so they are
 * validated once and carried without being rebuilt.
 */

enum proto_type {
    PROTO_UNKNOWN = 0,
    PROTO_AUTH,             /* objcast_auth */
    PROTO_SUBSCRIBE,        /* objcast_subscribe */
    PROTO_JOIN,             /* objcast_join */
    PROTO_LEAVE,            /* objcast_leave */
    PROTO_UNSUBSCRIBE,      /* objcast_unsubscribe */
    PROTO_GET_PARTICIPANTS, /* ovice_get_participants */
    PROTO_BROADCAST,        /* ovice_broadcast_message */
    PROTO_EMIT,             /* ovice_emit_message */
    PROTO_GET_DATA,         /* ovice_get_data */
    PROTO_SAVE_DATA,        /* ovice_save_and_emit_data */
    PROTO_REFRESH,          /* objcast_refresh */
    PROTO_TYPE_COUNT,
};

/* objcast_error codes (docs/protocol.md section 7). */
enum proto_error {
    PROTO_ERR_BAD_REQUEST = 0,
    PROTO_ERR_UNKNOWN_TYPE,
    PROTO_ERR_UNAUTHORIZED,
    PROTO_ERR_NOT_SUBSCRIBED,
    PROTO_ERR_NOT_PRESENT,
    PROTO_ERR_TOO_LARGE,
    PROTO_ERR_CONFLICT,
    PROTO_ERR_RATE_LIMITED,
    PROTO_ERR_UNAVAILABLE,
    PROTO_ERR_INTERNAL,
    PROTO_ERR_COUNT,
};

/* Longest objectId, user id ("to") or event name accepted, in bytes. */
#define PROTO_ID_MAX 256

/* A stretch of the received JSON text (a whole value, quotes included for strings).
 * len 0 means absent. Valid as long as the received text. */
struct proto_span {
    const char *p;
    size_t len;
};

/* One parsed client message. Strings are decoded copies; spans point into the text that
 * was parsed. Release with proto_msg_clear(). */
struct proto_msg {
    enum proto_type type;
    char type_name[64];       /* the "type" string, truncated, for error messages */
    struct proto_span ref;    /* "ref" as received (string or number), or absent */
    char *token;              /* objcast_auth or objcast_refresh "token", or NULL */
    char object_id[PROTO_ID_MAX + 1]; /* top-level "objectId" (or payload's), "" if absent */
    char object_type[8];      /* "static", "dynamic" or "" */
    char *object_token;       /* "objectToken", or NULL */
    struct proto_span payload; /* "payload" as received, or absent */
    char event[PROTO_ID_MAX + 1]; /* payload.event */
    int has_event;
    struct proto_span message; /* payload.message as received, or absent */
    char to[PROTO_ID_MAX + 1];  /* payload.to as a plain string ("12" for 12 or "12") */
    struct proto_span to_raw;   /* payload.to as received, echoed in ovice_message */
    int has_to;
    int echo;                 /* top-level "echo": true */
    int merge;                /* top-level "merge": true */
    long long if_version;     /* top-level "ifVersion", -1 when absent */
    struct proto_span since;  /* top-level "since" (an object), or absent */
    int position;             /* top-level "position": true */
};

/* A resume's "since" (docs/protocol.md section 10). */
struct proto_since {
    char *epoch;   /* owned */
    long long offset;
    char *session; /* owned */
};

/* Reads a "since" span: {"epoch": string, "offset": integer >= 0, "session": string}.
 * Returns 0, or -1 with *err a static reason (out then holds nothing). Clear with
 * proto_since_clear(). */
int proto_parse_since(struct proto_span since, struct proto_since *out, const char **err);
void proto_since_clear(struct proto_since *s);

/* Name of a type ("ovice_broadcast_message"), and the reverse lookup (PROTO_UNKNOWN). */
const char *proto_type_name(enum proto_type t);
enum proto_type proto_type_lookup(const char *name, size_t len);
const char *proto_error_name(enum proto_error e);

/*
 * Parses one client message: text must be valid UTF-8 (the WebSocket layer checked it).
 * Returns 0 with *m filled, or -1 with *err a static reason and m->ref/m->object_id filled
 * as far as they were read (so the error can echo them); either way call proto_msg_clear().
 * An object whose "type" is not a known name parses fine with type PROTO_UNKNOWN.
 * Rejected: invalid JSON, not an object, "type" missing or not a string, nesting deeper
 * than JSON_MAX_DEPTH, "ref" neither string nor number, ids longer than PROTO_ID_MAX or of
 * the wrong type, "ifVersion" not a non-negative integer.
 */
int proto_parse(const char *text, size_t len, struct proto_msg *m, const char **err);
void proto_msg_clear(struct proto_msg *m);

/*
 * Encoders. Each returns a new payload with one reference, owned by the caller. A ref span of
 * length 0 is left out; object_id NULL or "" is left out.
 */
struct payload *proto_encode_error(enum proto_error code, const char *message,
                                 const char *object_id, struct proto_span ref);
/* objcast_ready; session: the connection's session id for a later resume (section 10). */
struct payload *proto_encode_ready(const char *user_json, const char *instance,
                                 const char *session, size_t max_message, size_t max_data,
                                 struct proto_span ref);
/* objcast_refreshed: the connection now lives until exp (unix seconds). */
struct payload *proto_encode_refreshed(long long exp, struct proto_span ref);

/* Where a connection stands in an object's order (docs/protocol.md section 10): carried by
 * the own event that answers a subscribe or join. */
struct proto_position {
    const char *epoch; /* NULL: no position */
    long long offset;
    int recovered; /* answer to a resume: 1 or 0; -1 when there was none */
};

/* ovice_participant_<state> for participant p on object_id, as seen by a recipient who is
 * (is_self) or is not that user: isSelf, and email only for the user itself. pos (or NULL)
 * adds top-level "offset", "epoch" and "recovered". */
struct payload *proto_encode_presence(enum presence_state state, const struct participant *p,
                                    const char *object_id, int is_self,
                                    const struct proto_position *pos);

/* Appends the JSON array of n participants with their aggregate states, isSelf where
 * user_key equals self_user_key ("" for nobody). */
void proto_append_participants(struct buf *b, const char *object_id,
                               const struct participant *const *list,
                               const enum presence_state *states, size_t n,
                               const char *self_user_key);

/* ovice_participants: that array as the payload. */
struct payload *proto_encode_participants(const char *object_id, struct proto_span ref,
                                        const struct participant *const *list,
                                        const enum presence_state *states, size_t n,
                                        const char *self_user_key);

/* ovice_message. source_json is the sender's id as JSON text; message is carried as the raw
 * text received; to (raw text) is included for emit and absent (len 0) for broadcast. */
struct payload *proto_encode_message(const char *object_id, const char *source_json,
                                   const char *event, struct proto_span message,
                                   struct proto_span to);

/* An ovice_message another instance (or the engine) carries as body, with its place in the
 * object's order: top-level "offset" and "epoch" put in after "type". One copy of body, not
 * counted as an encoding; a body that is not an ovice_message is copied as it is. */
struct payload *proto_message_at(const char *body, size_t len, long long offset,
                                 const char *epoch);

/* ovice_saved_data, ovice_shared_data or ovice_data_saved_success (type), with the top-level
 * version; updated_at >= 0 adds "updated_at" to the payload (ovice_data_saved_success);
 * offset > 0 adds top-level "offset" and "epoch" (ovice_shared_data). */
struct payload *proto_encode_data(const char *type, const char *object_id, struct proto_span ref,
                                long long version, const struct data_doc *doc,
                                long long updated_at, long long offset, const char *epoch);

/* Appends `"ref":<ref>,` etc.: the shared envelope pieces encoders use. */
void proto_append_envelope(struct buf *b, const char *type, const char *object_id,
                           struct proto_span ref);

#endif
