#ifndef OC_CLUSTER_SLOTS_H
#define OC_CLUSTER_SLOTS_H

#include <stddef.h>
#include <stdint.h>

/*
 * What a Redis Cluster client must know without talking to Redis: which of the 16384 hash
 * slots a key belongs to, what a MOVED or ASK error says, and a map from every slot to the
 * master serving it. Pure: no I/O, no hiredis (redis_cluster_map.c fills a map from a
 * CLUSTER SLOTS reply); the router that keeps a connection per master uses all three.
 */

/* Hash slots of a Redis Cluster: a key's slot is CRC16(key or hash tag) mod 16384. */
#define CLUSTER_SLOTS 16384

/* Longest host accepted in a redirect or a map: a DNS name has at most 253 characters. */
#define CLUSTER_HOST_MAX 255

/* CRC16 of the Redis Cluster spec: CCITT/XMODEM, polynomial 0x1021, initial value 0, no
 * reflection and no final xor ("123456789" gives 0x31C3). */
uint16_t cluster_crc16(const char *buf, size_t len);

/*
 * The slot (0..16383) of the len bytes of key. When the key holds a '{' with a '}' after it
 * and at least one byte between the first '{' and the first '}' that follows it, only those
 * bytes are hashed (the hash tag: "{user1000}.following" and "{user1000}.followers" share a
 * slot); otherwise the whole key is.
 */
int cluster_key_slot(const char *key, size_t len);

/* ---- MOVED and ASK ------------------------------------------------------------------------ */

enum cluster_redirect_kind {
    CLUSTER_REDIRECT_NONE = 0, /* the error is something else */
    CLUSTER_REDIRECT_MOVED,    /* the slot lives elsewhere now: update the map, go there */
    CLUSTER_REDIRECT_ASK,      /* the slot is migrating: send ASKING then the command there,
                                  once, and keep the map */
};

/* A redirect error, parsed. */
struct cluster_redirect {
    enum cluster_redirect_kind kind;
    int slot;                        /* 0..16383 */
    char host[CLUSTER_HOST_MAX + 1]; /* NUL-terminated; an IPv6 address without []. "" when
                                        the node does not know its endpoint (Redis 7 sends
                                        "MOVED 3999 :6380"): the host the command was sent
                                        to, with port below */
    int port;                        /* 1..65535 */
};

/*
 * Parses the text of an error reply as hiredis gives it (reply->str, without the leading
 * '-'): "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>". The port follows the
 * last ':', so an IPv6 host comes as Redis prints it ("MOVED 3999 ::1:7000"); a host in
 * [...] is accepted too. Returns CLUSTER_REDIRECT_MOVED or CLUSTER_REDIRECT_ASK with *out
 * filled; CLUSTER_REDIRECT_NONE when the text is not a MOVED or ASK error (*out untouched);
 * -1 when it is one but malformed, with *err set to a static reason (*out untouched).
 */
int cluster_redirect_parse(const char *text, size_t len, struct cluster_redirect *out,
                           const char **err);

/* ---- the slot map -------------------------------------------------------------------------- */

/* A master of the map. */
struct cluster_node {
    char *host; /* owned by the map; never empty */
    int port;   /* 1..65535 */
    int index;  /* its position in the map's nodes[] */
};

/*
 * Slot -> master for every slot, and the table of masters. Read the fields directly; change
 * the map only through the functions below. A node stays in the table once added, even when
 * a later range takes all its slots, so node indexes never change under a reader.
 */
struct cluster_slots {
    struct cluster_node *nodes; /* nodes[0..nnodes), owned */
    int nnodes;
    int nalloc;                    /* room in nodes[] */
    int16_t master[CLUSTER_SLOTS]; /* index into nodes[], -1 when no node serves the slot */
};

/* An empty map: no node, no slot served. Free it with cluster_slots_free(). */
struct cluster_slots *cluster_slots_new(void);
/* Frees m and its nodes; NULL is fine. */
void cluster_slots_free(struct cluster_slots *m);

/*
 * Says that host:port serves slots lo..hi (both included), adding the node when it is new.
 * A later range wins over an earlier one for the slots they share, as a MOVED does. Returns
 * the node's index, or -1 with *err set to a static reason (m unchanged) when lo..hi is not
 * within 0..16383 with lo <= hi, host is not a name, an IPv4 address or an IPv6 address
 * (without []) of at most CLUSTER_HOST_MAX characters, or port is not 1..65535.
 */
int cluster_slots_add_range(struct cluster_slots *m, int lo, int hi, const char *host, int port,
                            const char **err);

/* Index of host:port in m's nodes (host compared without regard to case), or -1. */
int cluster_slots_find_node(const struct cluster_slots *m, const char *host, int port);

/* The master serving slot (0..16383), or NULL when none does or slot is out of range. The
 * node belongs to m. */
const struct cluster_node *cluster_slots_lookup(const struct cluster_slots *m, int slot);

/* 1 when every slot has a master. Otherwise 0, and *first_missing (when not NULL) is the
 * lowest slot without one. */
int cluster_slots_covered(const struct cluster_slots *m, int *first_missing);

/*
 * The slots whose master differs between before and after: served by another host:port, or
 * served in one map and not in the other. Nodes are compared by host and port, not by index,
 * so two maps built apart compare as they should. before may be NULL (an empty map: every
 * served slot of after counts). Writes the slots in ascending order to out, which has room
 * for CLUSTER_SLOTS of them, or may be NULL to count only. Returns how many there are.
 */
int cluster_slots_diff(const struct cluster_slots *before, const struct cluster_slots *after,
                       int *out);

#endif
