#ifndef OC_PMD_H
#define OC_PMD_H

#include <stddef.h>

#include "buf.h"

/*
 * permessage-deflate (RFC 7692): the negotiation. Pure: the Sec-WebSocket-Extensions value a
 * client sent in, the response value and the agreed parameters out; compressing and
 * inflating are elsewhere.
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

#endif
