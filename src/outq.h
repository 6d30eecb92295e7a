#ifndef OC_OUTQ_H
#define OC_OUTQ_H

#include <stddef.h>
#include <sys/types.h>

struct payload;

/*
 * A connection's output: the payloads waiting for its socket, in order, each written as its
 * wire bytes (payload.h: framed by the transport before it is queued). Queuing one costs a
 * reference and a pointer, not a copy or an allocation, so a broadcast to N connections is N
 * pointer pushes; writing gathers every waiting payload into one writev().
 *
 * The queue is a ring of payload pointers that grows by doubling. An empty queue keeps a
 * small ring and frees a large one, so an idle connection holds little memory.
 */
struct outq {
    struct payload **ring; /* cap slots, or NULL */
    unsigned cap;        /* a power of two, or 0 */
    unsigned head;       /* slot of the first payload */
    unsigned count;      /* payloads queued */
    size_t offset;       /* wire bytes of the first payload already written */
    size_t bytes;        /* bytes waiting: every payload's wire length, less offset */
};

/* Queues p (its wire bytes must be set) and takes a reference to it. */
void outq_push(struct outq *q, struct payload *p);

/* Queues a copy of len bytes (an HTTP response, a control frame). */
void outq_push_bytes(struct outq *q, const void *data, size_t len);

/* Writes what it can to fd in one writev() and drops what was written. Returns the bytes
 * written, 0 if nothing was waiting, or -1 with errno set (EAGAIN: the socket is full). */
ssize_t outq_write(struct outq *q, int fd);

/* Drops every payload and frees the ring. */
void outq_clear(struct outq *q);

#endif
