#ifndef OC_PAYLOAD_H
#define OC_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * One outgoing message as the protocol encoded it: the whole JSON text a client receives.
 * It is the unit that travels from the encoder through the registry and the engine to every
 * recipient's output queue, encoded once and shared: each holder (the encoder, an envelope,
 * each output queue) owns a reference, and the last one dropped frees it.
 *
 * The text never changes once built. What a transport sends may need a header in front (a
 * WebSocket frame header): the first connection that sends the payload writes it into the
 * room left before the text (payload_set_head()) and every later one reuses it, so a
 * broadcast costs one framing and one pointer per recipient, and the header and text go out
 * in one piece. Nothing here knows which transport that is.
 */

/* Room before the text for a transport's header. */
#define PAYLOAD_HEADROOM 16

struct payload {
    unsigned refs;          /* owners */
    const char *text;       /* the message: len bytes, not NUL-terminated */
    size_t len;
    /* What a transport writes: its header, right before the text, then the text. NULL until
     * the transport made it (payload_set_head()). For raw bytes, the bytes themselves. */
    const uint8_t *wire;
    size_t wire_len;
    char *storage;          /* headroom and text */
    /* A variant of the same message as a transport compressed it (ws.c: permessage-deflate),
     * made for the first recipient that takes it and shared by the others; a variant's own
     * `variant` links the next one (made with other parameters, see ws_deflated()). Owned
     * by this payload: freed with it. */
    struct payload *variant;
    uint8_t variant_param;  /* in a variant: the parameter it was made with (window bits) */
    uint8_t no_variant;     /* compressing was tried and does not make it smaller */
};

/* Starts encoding a message into b (emptied first), leaving the headroom: append the text
 * after it, then call payload_finish(). The text is never moved or copied. */
void payload_begin(struct buf *b);

/* Turns a buffer prepared by payload_begin() into a payload with one reference, owned by the
 * caller. Takes b's storage and leaves b empty. Counted in metrics.encoded. */
struct payload *payload_finish(struct buf *b);

/* A payload holding a copy of text (a message another instance encoded, carried by the
 * engine): not counted as an encoding. One reference, owned by the caller. */
struct payload *payload_copy(const char *text, size_t len);

/* payload_copy() with ins (inslen bytes) put in at byte `at` of text (at <= len). */
struct payload *payload_copy_insert(const char *text, size_t len, size_t at, const char *ins,
                                    size_t inslen);

/* A payload with room for cap bytes of text, to be written at p->storage + PAYLOAD_HEADROOM,
 * and len 0: say how many were written with payload_set_len(). One reference. */
struct payload *payload_alloc(size_t cap);
/* Sets the length of a payload from payload_alloc() (at most its cap) and gives back the
 * storage it did not use. Before it is framed or shared. */
void payload_set_len(struct payload *p, size_t len);

/* Bytes that are already what goes on the wire (an HTTP response, a control frame), wrapped
 * so an output queue can hold them like any payload: wire and text are those bytes. */
struct payload *payload_new_raw(const void *bytes, size_t len);

/* Sets what the transport writes for p: head (hlen bytes, at most PAYLOAD_HEADROOM) goes
 * right before the text. Done once per payload; later calls are ignored. */
void payload_set_head(struct payload *p, const void *head, size_t hlen);

struct payload *payload_ref(struct payload *p);
/* Drops one reference; frees the payload with the last one. NULL is ignored. */
void payload_unref(struct payload *p);

#endif
