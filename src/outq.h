#ifndef OC_OUTQ_H
#define OC_OUTQ_H

#include <stddef.h>
#include <sys/types.h>

struct frame;

/*
 * A connection's output: the frames waiting for its socket, in order. Queuing a frame costs
 * a reference and a pointer, not a copy or an allocation, so a broadcast to N connections
 * is N pointer pushes; writing gathers every waiting frame into one writev().
 *
 * The queue is a ring of frame pointers that grows by doubling. An empty queue keeps a small
 * ring and frees a large one, so an idle connection holds little memory.
 */
struct outq {
    struct frame **ring; /* cap slots, or NULL */
    unsigned cap;        /* a power of two, or 0 */
    unsigned head;       /* slot of the first frame */
    unsigned count;      /* frames queued */
    size_t offset;       /* bytes of the first frame already written */
    size_t bytes;        /* bytes waiting: every frame's length, less offset */
};

/* Queues f and takes a reference to it. */
void outq_push(struct outq *q, struct frame *f);

/* Queues a copy of len bytes (an HTTP response, a control frame). */
void outq_push_bytes(struct outq *q, const void *data, size_t len);

/* Writes what it can to fd in one writev() and drops what was written. Returns the bytes
 * written, 0 if nothing was waiting, or -1 with errno set (EAGAIN: the socket is full). */
ssize_t outq_write(struct outq *q, int fd);

/* Drops every frame and frees the ring. */
void outq_clear(struct outq *q);

#endif
