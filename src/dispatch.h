#ifndef OC_DISPATCH_H
#define OC_DISPATCH_H

#include <stddef.h>

#include "auth.h"
#include "conf.h"
#include "proto.h"
#include "registry.h"
#include "session.h"

/* What dispatch needs from the process: settings and the secrets tokens may be signed with. */
struct dispatch_env {
    const struct conf *conf;
    const char *instance_id;
    struct auth_secret secrets[2]; /* current secret first, then the previous one if any */
    size_t nsecrets;
    long long previous_until;      /* unix seconds until which secrets[1] still verifies */
    struct registry *registry;     /* objects and their participants */
};

/*
 * Runs one complete text message (valid UTF-8) received by session s: parses it, checks it,
 * answers through s->ops. Before authentication only objcast_auth is accepted; anything else,
 * or a token that does not verify, gets an unauthorized error and close 1008.
 */
void dispatch_message(const struct dispatch_env *env, struct session *s, const char *text,
                      size_t len);

#endif
