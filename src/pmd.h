#ifndef OC_PMD_H
#define OC_PMD_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * permessage-deflate (RFC 7692): the negotiation, compressing one message and inflating one
 * message. No I/O: the WebSocket codec (ws.c) frames what comes out of here.
 *
 * objcast compresses each message once for all its recipients, so it always answers with
 * server_no_context_takeover (every message is compressed on its own) and
 * client_no_context_takeover (the client does the same: inflate state lives only while one
 * message is read). It never answers client_max_window_bits: its inflater takes any window.
 */

/* What a connection agreed to. */
struct pmd_agreed {
    int server_window_bits; /* the deflate window objcast compresses with: 9 to 15 */
};

/*
 * Reads the offers in value (len bytes: every Sec-WebSocket-Extensions header of the
 * request, joined with ", ") and takes the first permessage-deflate offer objcast can
 * accept. Returns 1 with the response's Sec-WebSocket-Extensions value appended to response
 * and *agreed filled, or 0 when there is none: no offer, or every offer is declined as RFC
 * 7692 section 5 says (a parameter it does not define, a value out of range, a parameter
 * twice, or server_max_window_bits=8, which zlib cannot honour), or value is not a list of
 * extensions at all (RFC 6455 section 9.1).
 */
int pmd_negotiate(const char *value, size_t len, struct buf *response, struct pmd_agreed *agreed);

/* The trailer RFC 7692 section 7.2.1 removes from every compressed message and section
 * 7.2.2 appends before inflating it. */
#define PMD_TAIL_LEN 4
extern const uint8_t pmd_tail[PMD_TAIL_LEN];

/* Most bytes pmd_deflate() can write for len bytes of input. */
size_t pmd_deflate_bound(size_t len);

/*
 * Compresses len bytes as one message on its own (no context from an earlier one): raw
 * deflate with a window of window_bits (9 to 15), flushed with Z_SYNC_FLUSH and the trailing
 * 00 00 ff ff removed. Writes at most cap bytes (pmd_deflate_bound(len) is always enough) to
 * out and returns how many, or 0 when they did not fit. The level depends on the size:
 * a message below PMD_FAST_FROM bytes is compressed with level 6, a longer one with level 1,
 * so a 2 MiB message holds the event loop for milliseconds, not tens of them. The process
 * keeps one deflate state per window size, reset for each message.
 */
#define PMD_FAST_FROM (64 * 1024)
size_t pmd_deflate(const void *in, size_t len, int window_bits, uint8_t *out, size_t cap);

/* Inflating one message: state that exists only while the message is read. */
struct pmd_inflater;

enum pmd_inflate_result {
    PMD_INFLATE_OK = 0,
    PMD_INFLATE_TOO_BIG, /* the message inflates to more than the limit */
    PMD_INFLATE_BAD,     /* not deflate data, or it refers to bytes before the message */
};

/* An inflater ready for a new message. The process keeps one spare, so a connection that
 * reads a compressed message now and then does not allocate for each. */
struct pmd_inflater *pmd_inflater_take(void);
/* Done with it (the message ended or the connection failed): kept as the spare or freed.
 * NULL is ignored. */
void pmd_inflater_give(struct pmd_inflater *z);
/* Frees the deflate states and the spare inflater (at exit). */
void pmd_release(void);

/*
 * Inflates len bytes of the message into out, appending. The limit is checked while
 * inflating: out->len never grows past max + 1, and past max the answer is
 * PMD_INFLATE_TOO_BIG, so a small message that would inflate to gigabytes costs at most max
 * bytes and the time to make them. Call with the message's last bytes and then with
 * pmd_tail. Bytes after the end of a deflate stream (a final block) are ignored.
 */
enum pmd_inflate_result pmd_inflate(struct pmd_inflater *z, const uint8_t *in, size_t len,
                                    struct buf *out, size_t max);

#endif
