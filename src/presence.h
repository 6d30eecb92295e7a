#ifndef OC_PRESENCE_H
#define OC_PRESENCE_H

#include <stddef.h>
#include <sys/queue.h>

#include "auth.h"
#include "dict.h"

/*
 * Presence of one object: the states of docs/protocol.md section 3 and the replica every instance
 * keeps of an object's participants. Pure: no I/O, no engine.
 *
 * An entry is one user's state on the object as seen by one instance (the highest state of
 * that user's connections there). A user's aggregate state is the highest of its entries
 * over all instances: joined > left > subscribed.
 */
enum presence_state {
    PRESENCE_NONE = 0, /* not on the object ("unsubscribed") */
    PRESENCE_SUBSCRIBED,
    PRESENCE_LEFT,
    PRESENCE_JOINED,
};

/* "subscribed", "left", "joined"; "unsubscribed" for PRESENCE_NONE. */
const char *presence_state_name(enum presence_state s);
/* The event for a state: "ovice_participant_subscribed" ... "ovice_participant_unsubscribed". */
const char *presence_event_name(enum presence_state s);

/* Everything a participant object shows, for one user on one object. Strings owned. */
struct participant {
    char *user_key;      /* id as a plain string, for comparisons and keys */
    char *user_json;     /* id as given in the token ("\"12\"" or "12") */
    char *ws_json;       /* workspace id as given */
    char *name;
    char *avatar_url;
    char *language;      /* NULL when the token has none */
    char *email;         /* NULL when the token has none */
    int visitor;
    int host;            /* isHost, from an object token */
    char object_type[8]; /* "static" or "dynamic" */
    enum presence_state state;
};

/* A participant for identity id. object_type NULL means "static". */
struct participant *participant_new(const struct identity *id, const char *object_type,
                                    int host, enum presence_state state);
struct participant *participant_copy(const struct participant *p);
void participant_free(struct participant *p);
/* The participant as stored in Redis and carried between instances: the participant object of
 * docs/protocol.md section 4.1 with its status, as nobody in particular sees it (isSelf false, no
 * email: a user's own connections show the email from their own token). */
void participant_to_json(const struct participant *p, const char *object_id, struct buf *out);
/* Reads what participant_to_json() wrote; NULL when text is not such an object. */
struct participant *participant_from_json(const char *text, size_t len);

/* One instance's entry for a user. */
struct presence_entry {
    char *instance;            /* the instance that owns the entry */
    struct participant *p;     /* owned */
    unsigned long long seq;    /* when it was last set, to prefer recent attributes */
    struct presence_entry *next;
};

/* A user present on the object, with its entries. */
struct presence_user {
    char *user_key;                 /* owned; also the dict key */
    struct presence_entry *entries; /* at least one */
    int linked;                     /* was joined since it came: without a joined entry it is
                                       "left", not "subscribed" (docs/protocol.md section 3.1) */
    TAILQ_ENTRY(presence_user) link; /* users in arrival order */
};

struct presence {
    struct dict users;                     /* user_key -> struct presence_user */
    TAILQ_HEAD(, presence_user) order;     /* the same users, in the order they came */
    unsigned long long seq;                /* last seq handed out */
};

void presence_init(struct presence *p);
void presence_clear(struct presence *p);
/* Moves every user of src into dst (which must be empty); src is left empty. */
void presence_move(struct presence *dst, struct presence *src);

/*
 * Sets (p not NULL, copied) or removes (p NULL) the entry of user_key from instance, and
 * tells the user's aggregate state before and after through *before and *after. Returns 1
 * when anything changed, 0 when the entry was already exactly so.
 */
int presence_apply(struct presence *pr, const char *instance, const char *user_key,
                   const struct participant *p, enum presence_state *before,
                   enum presence_state *after);

/* The user's aggregate state (PRESENCE_NONE when absent) and, when present, the entry that
 * shows it: the highest state, the most recently set among equals. A user who was joined
 * and keeps only subscribed entries is left. */
enum presence_state presence_user_state(const struct presence *pr, const char *user_key,
                                        const struct participant **best);

size_t presence_user_count(const struct presence *pr);

/* Sets n entries at once (a snapshot read from the engine). */
void presence_apply_all(struct presence *pr, size_t n, const char *const *instances,
                        const struct participant *const *participants);

/* Every user in arrival order: *list gets the entry that shows each (owned by pr) and
 * *states its aggregate state. Returns the count; the caller frees both arrays. */
size_t presence_users(const struct presence *pr, const struct participant ***list,
                      enum presence_state **states);

#endif
