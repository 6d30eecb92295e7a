#ifndef OC_REDIS_CLUSTER_MAP_H
#define OC_REDIS_CLUSTER_MAP_H

#include "cluster_slots.h"

/*
 * A Redis Cluster's slot map as a node tells it: the reply to CLUSTER SLOTS turned into the
 * map of cluster_slots.h. Apart from cluster_slots.c only because it reads a hiredis reply
 * (hiredis stays in the Redis files, tests/check-includes.sh).
 *
 * CLUSTER SLOTS rather than CLUSTER SHARDS: both are in Redis 7.0 (SHARDS is new there, and
 * SLOTS is documented as deprecated in its favour, yet kept), but SLOTS answers exactly the
 * question asked, positionally: [start, end, [host, port, id, ...], replicas...] per range.
 * SHARDS answers in maps (flat key/value arrays in RESP2, the only protocol hiredis 0.14
 * speaks) that must be searched by name for the slots, then for the node whose role is
 * master; its health field is the one thing it adds, and a master that is down shows
 * anyway as a failed connection.
 */
struct redisReply;

/*
 * Builds a map from reply, the answer to CLUSTER SLOTS sent to asked_host. Each range's
 * master is its host and port; a master whose endpoint the node does not know (a nil, or an
 * empty string as a node alone in its cluster sends) is taken to be asked_host with the port
 * given, as Redis documents. Replicas and the metadata after the node id are ignored. An
 * empty reply is an empty map (a node with no slots yet), not an error: the caller asks
 * cluster_slots_covered(). Returns a new map (free it with cluster_slots_free()), or NULL
 * with *err set to a static reason when reply is NULL, an error reply, or not of that shape:
 * slots outside 0..16383, start > end, ranges that overlap, a port outside 1..65535, a host
 * that is not a name or an address, or the "?" of a node misconfigured to announce a
 * hostname it does not have.
 */
struct cluster_slots *cluster_slots_from_reply(const struct redisReply *reply,
                                               const char *asked_host, const char **err);

#endif
