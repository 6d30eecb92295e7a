#ifndef OC_REGISTRY_INT_H
#define OC_REGISTRY_INT_H

/* What registry.c and registry_requests.c share; not for other modules. */

#include <stdint.h>

#include "registry.h"

/* The authenticated session with that id, or NULL when it is gone. */
struct session *registry_session_by_sid(struct registry *r, uint64_t sid);

/* s waits for a command of its own (see per-connection order in registry.c): its transport
 * holds its next messages until registry_session_release(). */
void registry_session_wait(struct registry *r, struct session *s);
/* Ends s's wait: for `wait` only, or whatever it waits for when wait is 0. NULL is
 * ignored. */
void registry_session_release(struct session *s, uint64_t wait);

/* Queues p to s. */
void registry_send_payload(struct session *s, struct payload *p);

/* --- registry_recovery.c: resumes (docs/protocol.md section 10) --------------------------- */

/* m is new on its object and came with since: reads the history and holds what the object
 * delivers to m until the own event and the history are in. */
void registry_recovery_start(struct registry *r, struct membership *m,
                             const struct proto_since *since);
/* A delivery (payload p of env, which has an offset) for m: returns 1 when the resume took
 * it (kept for later, sent, or not sent again), 0 when m has no resume. */
int registry_recovery_deliver(struct membership *m, struct payload *p,
                              const struct envelope *env);
/* m's own event (state, participant p as its user sees it, env's position): returns 1 when
 * the resume holds it to send it with "recovered". */
int registry_recovery_own_event(struct membership *m, enum presence_state state,
                                const struct participant *p, const struct envelope *env);
/* 1 while m's resume waits for its own event or the history. */
int registry_recovery_pending(const struct membership *m);
/* s's own event will not come (its entry could not be written): its resumes go on
 * without it. */
void registry_recovery_abort(struct session *s);
void registry_recovery_free(struct recovery *rc);

#endif
