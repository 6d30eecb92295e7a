#ifndef OC_DATA_H
#define OC_DATA_H

#include <stddef.h>

#include "buf.h"
#include "dict.h"

/*
 * An object's saved data (docs/protocol.md sections 4.5-4.6): one JSON object kept as its top-level
 * members, key -> compact JSON text of the value, in insertion order. Pure: no I/O.
 *
 * Size rule. The size of saved data is the length in bytes of the object written as
 * compact JSON by data_encode(), and it must be reproducible without a JSON library (the
 * Redis engine's Lua script checks it too), so it is defined field by field:
 *
 *   size(doc)   = 2 + sum of field_bytes over the fields + (count - 1 when count > 0)
 *   field_bytes = string_bytes(key) + 1 + length of the value text
 *   string_bytes(s) = 2 + sum over the bytes c of s of:
 *                     2 for '"', '\\', 0x08, 0x0c, 0x0a, 0x0d, 0x09  (\" \\ \b \f \n \r \t)
 *                     6 for every other byte below 0x20             (\u00xx)
 *                     1 for everything else ('/', DEL and non-ASCII are written as they are)
 *
 * So "{}" is 2, {"a":1} is 7. The value text is the compact form data_parse() produced:
 * no insignificant whitespace, numbers as written by the client, strings escaped by the rule
 * above (json_append_string() in json.c, which every writer in objcast shares).
 *
 * Lookups go through a SipHash dict (dict.h) from key to position, so parsing, merging and
 * deleting are linear in the number of keys involved; a merge that deletes nothing touches
 * only the update's keys.
 */

/* data_apply()'s only failure: the result would exceed max_bytes; nothing was changed. Also
 * data_parse_limited()'s verdict on a payload too large to store. Distinct from
 * data_parse()'s -1, so a caller may map both through one switch. */
#define DATA_TOO_LARGE -2

/* One top-level member. Both strings are owned by the document. */
struct data_field {
    char *key;    /* decoded UTF-8, NUL-terminated for convenience; may hold NUL bytes
                   * (from a "\u0000" escape), so always use klen */
    size_t klen;  /* bytes in key, the NUL excluded */
    char *value;  /* compact JSON text of the value, NUL-terminated */
    size_t vlen;  /* bytes in value */
    size_t bytes; /* data_field_bytes(key, klen, vlen), cached */
};

struct data_doc {
    struct data_field *fields; /* count fields in insertion order; NULL while empty */
    size_t count;              /* fields in use */
    size_t cap;                /* fields allocated */
    size_t bytes;              /* length of data_encode()'s output; 2 ("{}") when empty */
    struct dict index;         /* key -> position + 1, cast to a pointer (NULL = absent) */
};

/* Makes d an empty document ("{}"). Needs no clear if nothing is added afterwards. */
void data_doc_init(struct data_doc *d);
/* Frees everything d owns and leaves it empty, ready for reuse. */
void data_doc_clear(struct data_doc *d);
/* Makes dst a deep copy of src. dst is overwritten without being freed: pass a document that
 * holds nothing (initialized or cleared). Allocation failure aborts, so it cannot fail. */
void data_doc_copy(struct data_doc *dst, const struct data_doc *src);

/* The field with that key, or NULL. Valid until d next changes. */
const struct data_field *data_doc_get(const struct data_doc *d, const char *key, size_t klen);

/*
 * Parses the payload of a save: len bytes of JSON text that must be one object. Every member
 * value is re-written as compact JSON (see the size rule above). A key given more than once
 * keeps the position of its first occurrence and the value of its last, as JavaScript's
 * JSON.parse does.
 *
 * *out is overwritten without being freed (pass a document that holds nothing). Returns 0
 * with *out holding the members, or -1 with *out empty and *err set to a static string:
 *   "invalid UTF-8", "invalid JSON" (trailing garbage included),
 *   "payload must be a JSON object" (valid or not, the text starts with another value),
 *   "nested too deeply" (more than JSON_MAX_DEPTH levels, the object itself counted),
 *   "unsupported \u escape" (an unpaired UTF-16 surrogate, which has no UTF-8 form).
 * The caller frees *out with data_doc_clear() (harmless after a failure).
 */
int data_parse(const char *json, size_t len, struct data_doc *out, const char **err);

/*
 * data_parse() that also refuses a document weighing more than max_bytes (the size rule
 * above) with DATA_TOO_LARGE, *out empty and *err "data too large". It stops as soon as the
 * keys read so far prove the result too large: every distinct key stays, with a value of one
 * byte at least (a later duplicate can shrink any value, so values and whitespace prove
 * nothing). Use it for a replace, whose result is the payload itself. Not for a merge: a
 * null value deletes a stored key, and a later duplicate can make any key null, so a merge's
 * result can be "{}" whatever the payload holds; its parse runs to the end of the text,
 * linear in it, and data_apply() checks the result.
 * Text that is invalid before the floor passes max_bytes gives -1 as data_parse() would;
 * text invalid after that point may give DATA_TOO_LARGE.
 */
int data_parse_limited(const char *json, size_t len, size_t max_bytes, struct data_doc *out,
                       const char **err);

/* Bytes one member adds to the object's size: string_bytes(key) + 1 + vlen (see above). */
size_t data_field_bytes(const char *key, size_t klen, size_t vlen);

/*
 * Applies a save to the stored document.
 * - merge == 0: *stored becomes a copy of *update; null values are stored as null.
 * - merge != 0: each key of update is set on stored; a value of exactly null deletes the key
 *   (deleting a missing key does nothing). Existing keys keep their position, new keys are
 *   appended in update's order.
 * Returns 0, or DATA_TOO_LARGE when the result's bytes would exceed max_bytes; then *stored
 * is left exactly as it was and *err is "data too large". update is only read.
 */
int data_apply(struct data_doc *stored, const struct data_doc *update, int merge, size_t max_bytes,
               const char **err);

/* Appends d as a compact JSON object to out: exactly d->bytes bytes. */
void data_encode(const struct data_doc *d, struct buf *out);

/* Appends d as a compact JSON object with an "updated_at":updated_at member (the payload of
 * ovice_data_saved_success). A stored "updated_at" member is written in its place with the
 * new value, so the key appears once; otherwise the member comes last. */
void data_encode_with_updated_at(const struct data_doc *d, long long updated_at, struct buf *out);

#endif
