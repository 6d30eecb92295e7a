#ifndef OC_API_H
#define OC_API_H

#include "buf.h"
#include "conf.h"
#include "http.h"
#include "registry.h"

/*
 * The server API for the platform's backend (README.md, "Server API"; docs/decisions.md):
 *   GET  /api/v1/workspaces/{ws}/objects/{obj}/participants
 *   GET  /api/v1/workspaces/{ws}/objects/{obj}/data
 *   PUT  /api/v1/workspaces/{ws}/objects/{obj}/data       body: the object; ?merge=true,
 *                                                          ?ifVersion=N
 *   POST /api/v1/workspaces/{ws}/objects/{obj}/broadcast  body: {event, message, source?}
 *   GET  /api/v1/status                                   every instance, Redis, the busiest
 *                                                          objects (status.h)
 * with "Authorization: Bearer <api_key>", from loopback too. Answers are JSON; errors are
 * {"error":{"code":C,"message":M}} with the protocol's codes.
 */

/* Called once with the whole answer; body is valid during the call. */
typedef void (*api_done_fn)(void *privdata, int status, const char *body, size_t len);

/* Requests run through the registry, like a client's messages, under the same rules. */
struct api_env {
    const struct conf *conf;
    struct registry *registry;
    struct engine *engine;   /* the status: its overview and this instance's entry */
};

/* True when path belongs to the API. */
int api_path(const char *path);

/* Runs one complete request. done may be called before this returns or later (when the
 * engine answers); exactly once either way. */
void api_handle(const struct api_env *env, const struct http_request *r, api_done_fn done,
                void *privdata);

#endif
