#ifndef OC_DEMO_H
#define OC_DEMO_H

#include "buf.h"
#include "conf.h"
#include "http.h"

/*
 * The demo's token endpoints (conf key demo): identities for anybody who asks, so never in
 * production. http.c answers them only to loopback peers with a loopback Host; this file
 * only mints the tokens, signed with conf->token_secret as it is at the time of the call.
 */

/*
 * Writes the JSON answer of /demo/token (kind 0) or /demo/object-token (kind 1) to out and
 * returns the HTTP status.
 * - kind 0: a connection token for a new demo user ("demo-" and 8 random hex digits), or for
 *   ?userId=ID again (the page refreshing its token), named ?name=; it lives ?ttl= seconds
 *   (600 by default, kept within 2 seconds and 12 hours). The answer also names the
 *   WebSocket URL and the plugins' origin (demo_port, else the port the server listens
 *   on: bound_port, which port 0 leaves to the system) on the request's Host.
 * - kind 1: an object token for ?objectId= and ?userId= (both required, else 400), with
 *   ?objectType=static|dynamic and ?host=true when given; it lives 12 hours.
 * Every demo user is in workspace 1.
 */
int demo_token(const struct conf *conf, int bound_port, int kind, const struct http_request *r,
               struct buf *out);

#endif
