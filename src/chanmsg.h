#ifndef OC_CHANMSG_H
#define OC_CHANMSG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * The text of a message on an object's Redis channel (docs/operations.md, "Redis"): a header of
 * JSON on one line, "\n", then the body as it is:
 *
 *     {"k":"b","i":"inst-1","s":12,"e":true}
 *     {"type":"ovice_message","objectId":"L1",...}
 *
 * Every instance reads what the others (and the Lua scripts) write, so these bytes are a
 * wire format: change them only with a plan for instances of two versions on one Redis.
 * Pure: no I/O, no Redis; engine_redis.c publishes and receives the text.
 *
 * The header keys are one letter, since every message carries them:
 *
 *   key  kinds  value
 *   k    all    the kind, one letter: b broadcast, e emit, p presence, d data
 *   i    all    string: the instance whose client caused the message (the origin)
 *   s    all    integer >= 0: the origin's session id; 0 for the server API and for a
 *               removal by presence_reap.lua; read as 0 when absent
 *   e    b      true: the origin gets its broadcast too (absent: it does not)
 *   t    e      string: the user key of the emit's recipient
 *   u    p      string: the user key whose entry changed
 *   q    p      integer > 0: the change's number (meta field pseq), written by the script
 *   v    d      integer: the version after the save, written by data_save.lua
 *   a    d      integer: the save's updated_at (unix seconds), written by data_save.lua;
 *               v and a read as 0 when absent
 *   o    b e d  integer > 0: the message's place in the object's order (meta field off),
 *               written by publish.lua and data_save.lua, which also keep the message in
 *               the object's history; read as 0 when absent
 *   h    all    string: the epoch of that order (meta field epoch), written by the scripts
 *               with o (b e d) or w (p); NULL when absent
 *   x    b e d  true: a mark the history keeps instead of a message too big for it
 *               (history_max_bytes), with no body; never published
 *   w    p      integer >= 0: the object's offset when the change was made: every message
 *               up to it came before this one on the channel, every later one after;
 *               written by presence_set.lua (a removal by presence_reap.lua has none: read
 *               as -1 when absent)
 *
 * Body: b and e, the ready ovice_message payload; p, the entry's participant JSON, empty
 * when the entry was removed; d, the saved object as compact JSON.
 *
 * The Lua scripts write the numbers they make (q; v, a and o), so messages are encoded
 * here in the parts that go around them.
 */

#define CHANMSG_KEY_KIND "k"
#define CHANMSG_KEY_INSTANCE "i"
#define CHANMSG_KEY_SID "s"
#define CHANMSG_KEY_ECHO "e"
#define CHANMSG_KEY_TO "t"
#define CHANMSG_KEY_USER "u"
#define CHANMSG_KEY_SEQ "q"
#define CHANMSG_KEY_VERSION "v"
#define CHANMSG_KEY_UPDATED_AT "a"
#define CHANMSG_KEY_OFFSET "o"
#define CHANMSG_KEY_EPOCH "h"
#define CHANMSG_KEY_AT "w"
#define CHANMSG_KEY_MARK "x"

/* A message's kind, valued as its letter in the header. */
enum chanmsg_kind {
    CHANMSG_BROADCAST = 'b',
    CHANMSG_EMIT = 'e',
    CHANMSG_PRESENCE = 'p',
    CHANMSG_DATA = 'd',
};

/* A message's header fields, and after chanmsg_decode() its body. Encoders read only the
 * fields their kind has and never the body. */
struct chanmsg {
    enum chanmsg_kind kind;
    const char *instance; /* i */
    uint64_t sid;         /* s */
    int echo;             /* e: 1 when true */
    const char *to;       /* t: NULL when absent (decoded for every kind) */
    const char *user_key; /* u: presence */
    long long seq;        /* q: presence, decoded only */
    long long version;    /* v: data, decoded only */
    long long updated_at; /* a: data, decoded only */
    long long offset;     /* o: broadcast, emit, data; 0 for none */
    const char *epoch;    /* h: NULL when absent */
    long long at;         /* w: presence, decoded only; -1 when absent */
    int mark;             /* x: 1 when true, decoded only */
    const char *body;     /* decoded: the bytes after the header line, inside the text */
    size_t body_len;
    struct json_value *head; /* decoded: the parsed header, which owns the strings above */
};

enum chanmsg_status {
    CHANMSG_OK = 0,
    CHANMSG_UNKNOWN_KIND, /* a well-formed header of a kind this version does not know */
    CHANMSG_MALFORMED,    /* not a message objcast writes */
};

/* Broadcast or emit (m->kind): appends the whole message to out, the header from m
 * (kind, instance, sid, echo, to for an emit, offset when not 0 and epoch when not NULL),
 * then the payload's len bytes. */
void chanmsg_encode_message(struct buf *out, const struct chanmsg *m, const char *payload,
                            size_t len);

/* Broadcast or emit, for publish.lua: appends to head the header up to its offset ("o":
 * last); the script publishes head, offset, ',"h":', the epoch, "}\n", the payload. */
void chanmsg_encode_message_head(struct buf *head, const struct chanmsg *m);

/* Presence (kind, instance, sid, user_key from m): appends to head the header up to its
 * change number ("q": last), and to tail the rest, "}\n" then the participant JSON's len
 * bytes (len 0: the entry was removed). presence_set.lua publishes head, number, ',"w":',
 * the object's offset, ',"h":', its epoch, tail. */
void chanmsg_encode_presence(struct buf *head, struct buf *tail, const struct chanmsg *m,
                             const char *participant, size_t len);

/* Data (kind, instance, sid from m): appends to head the header up to the version ("v":
 * last). data_save.lua publishes head, version, ',"a":', updated_at, ',"o":', offset,
 * ',"h":', epoch, "}\n", the JSON. */
void chanmsg_encode_data_head(struct buf *head, const struct chanmsg *m);

/* Decodes the len bytes of text into *m. On CHANMSG_OK the strings of m live in m->head
 * and m->body points into text: both valid until chanmsg_clear(m) and while text lives.
 * Otherwise *err says why (a static string) and m holds nothing to clear. */
enum chanmsg_status chanmsg_decode(const char *text, size_t len, struct chanmsg *m,
                                   const char **err);

/* Frees what chanmsg_decode() left in m. */
void chanmsg_clear(struct chanmsg *m);

#endif
