/*
 * libFuzzer target for src/chanmsg.c (the text of a message on an object's Redis channel).
 * Any bytes may arrive on a channel (another version, a stray PUBLISH), so for every input:
 *  1. decoding never crashes, and what it accepts has an instance, a known kind and a body
 *     inside the received text;
 *  2. a broadcast or emit it accepts, encoded again from what was decoded, decodes to the
 *     same fields and the same body (the codec reads back what it writes).
 * Build: scripts/fuzz chanmsg
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "chanmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_chanmsg: %s\n", what);
        abort();
    }
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_round_trip(const struct chanmsg *m)
{
    struct buf again = {0};
    chanmsg_encode_message(&again, m, m->body, m->body_len);
    struct chanmsg m2;
    const char *err = NULL;
    require(chanmsg_decode(again.p, again.len, &m2, &err) == CHANMSG_OK,
            "what the encoder wrote does not decode");
    require(m2.kind == m->kind, "kind changed");
    require(same_str(m2.instance, m->instance), "instance changed");
    require(m2.sid == m->sid, "sid changed");
    require(m2.offset == m->offset, "offset changed");
    require(same_str(m2.epoch, m->epoch), "epoch changed");
    if (m->kind == CHANMSG_BROADCAST)
        require(m2.echo == m->echo, "echo changed");
    else
        require(same_str(m2.to, m->to), "to changed");
    require(m2.body_len == m->body_len &&
                (m->body_len == 0 || memcmp(m2.body, m->body, m->body_len) == 0),
            "body changed");
    chanmsg_clear(&m2);
    buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct chanmsg m;
    const char *err = NULL;
    enum chanmsg_status st = chanmsg_decode(text, size, &m, &err);
    if (st != CHANMSG_OK) {
        require(err != NULL || st == CHANMSG_UNKNOWN_KIND, "refused without a reason");
        return 0;
    }
    require(m.instance != NULL, "accepted without an instance");
    require(m.kind == CHANMSG_BROADCAST || m.kind == CHANMSG_EMIT ||
                m.kind == CHANMSG_PRESENCE || m.kind == CHANMSG_DATA,
            "accepted an unknown kind");
    require(m.body >= text && m.body + m.body_len == text + size, "body outside the text");
    if (m.kind == CHANMSG_EMIT)
        require(m.to != NULL, "emit accepted without a recipient");
    if (m.kind == CHANMSG_BROADCAST || m.kind == CHANMSG_EMIT)
        check_round_trip(&m);
    chanmsg_clear(&m);
    return 0;
}
