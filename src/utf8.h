#ifndef OC_UTF8_H
#define OC_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Incremental UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF). The state carries a partial sequence from one call to the next, so text split
 * across WebSocket fragments validates as one string.
 */
#define UTF8_ACCEPT 0u  /* at a character boundary, everything so far valid */
#define UTF8_REJECT 12u /* invalid; stays REJECT whatever follows */

/* Feeds len bytes in state state; returns the new state: UTF8_ACCEPT, UTF8_REJECT, or another
 * value meaning "valid so far, in the middle of a character". */
uint32_t utf8_validate(uint32_t state, const uint8_t *s, size_t len);

#endif
