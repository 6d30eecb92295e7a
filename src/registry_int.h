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

#endif
