#ifndef OC_OKEY_H
#define OC_OKEY_H

#include <stddef.h>

#include "buf.h"

/*
 * Object keys (docs/operations.md, "Redis"): the one name of a (workspace, object) pair, used
 * as the registry's and the engines' key and inside every Redis key and channel name.
 * Each id is written in its string form with '%', ':', '{', '}' and every byte below 0x21
 * or equal to 0x7f percent-encoded in upper-case hex (bytes from 0x80 up stay as they
 * are), then the two are joined by ':'. Since an encoded id never holds ':', the key names
 * exactly one pair: workspace "acme" with object "eng:board" is "acme:eng%3Aboard",
 * workspace "acme:eng" with object "board" is "acme%3Aeng:board". Pure code, no I/O.
 */

/* Appends the encoding of id (len bytes, may hold any byte) to b. */
void okey_append_id(struct buf *b, const char *id, size_t len);

/* Sets b to the key of (ws, obj), NUL-terminated in b->p. */
void okey_build(struct buf *b, const char *ws, size_t ws_len, const char *obj, size_t obj_len);

/* Reads a key back: ws and obj are reset and get the decoded ids (NUL-terminated; an id
 * that held a NUL byte is only whole up to its len). Only what okey_build() writes is
 * accepted: returns 0, or -1 with *err set to a static reason when key is not a key (no
 * ':' or more than one, a byte that should have been encoded, a '%' not followed by two
 * upper-case hex digits, or an escape of a byte that is never encoded). */
int okey_parse(const char *key, size_t len, struct buf *ws, struct buf *obj, const char **err);

#endif
