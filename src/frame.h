#ifndef OC_FRAME_H
#define OC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * A ready-to-send WebSocket text frame (header + payload), encoded once and shared by every
 * recipient: each output queue holds a reference, and the frame is freed when the last
 * reference is dropped. Frames are immutable once built.
 */
struct frame {
    unsigned refs;   /* owners: the builder, plus one per output queue holding it */
    size_t len;      /* bytes at data: header and payload */
    uint8_t *data;   /* points into storage, after the unused part of the header room */
    char *storage;   /* the buffer the payload was encoded into */
};

/* Starts encoding a frame payload into b (emptied first): reserves room for the largest
 * header, so the payload never has to be moved or copied. Append the payload after it. */
void frame_begin(struct buf *b);

/* Turns a buffer prepared by frame_begin() into a text frame with one reference, owned by
 * the caller. Takes b's storage and leaves b empty. */
struct frame *frame_finish(struct buf *b);

/* Builds a text frame by copying payload. One reference, owned by the caller. */
struct frame *frame_new_text(const char *payload, size_t len);
/* The same for a payload another instance encoded: a copy, not counted as an encoding. */
struct frame *frame_new_copy(const char *payload, size_t len);

/* Wraps a copy of len bytes that are already what goes on the wire (an HTTP response, a
 * control frame), so an output queue can hold them like any frame. Not counted as an
 * encoding; frame_payload() does not apply to it. */
struct frame *frame_new_bytes(const void *data, size_t len);

/* The payload (the JSON text) of a frame, and its length. */
const char *frame_payload(const struct frame *f, size_t *len);

struct frame *frame_ref(struct frame *f);
/* Drops one reference; frees the frame with the last one. NULL is ignored. */
void frame_unref(struct frame *f);

#endif
