#ifndef OC_JSON_H
#define OC_JSON_H

#include <stddef.h>

#include "buf.h"

/*
 * JSON helpers for small documents (token headers and claims, conf-free lookups) and for
 * writing JSON text. yajl stays behind this file and proto.c: nothing else includes it.
 */

enum json_type {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_OBJECT,
    JSON_ARRAY,
};

/* Nesting deeper than this is refused by every parser in objcast (bad_request). */
#define JSON_MAX_DEPTH 64

struct json_value; /* opaque; owned by the document returned by json_parse() */

/* Parses a complete document. Returns NULL on invalid JSON, on nesting deeper than
 * JSON_MAX_DEPTH, or on text that is not valid UTF-8, and sets *err to a static string.
 * The caller frees the result with json_free(). */
struct json_value *json_parse(const char *text, size_t len, const char **err);
void json_free(struct json_value *v);

enum json_type json_typeof(const struct json_value *v);
/* Member of an object, or NULL when v is not an object or has no such key. */
const struct json_value *json_get(const struct json_value *v, const char *key);
/* The string, or NULL when v is not a string. Valid as long as the document. */
const char *json_string(const struct json_value *v);
/* Stores an integral number into *out; returns 0, or -1 when v is not a number with an
 * integral value in range of long long. */
int json_integer(const struct json_value *v, long long *out);
/* The number's text as parsed (e.g. "12", "1e3"), or NULL when v is not a number. */
const char *json_number_text(const struct json_value *v);

/* Appends s as a JSON string literal, quotes included. s must be valid UTF-8; control
 * characters, quote and backslash are escaped, everything else is copied. */
void json_append_string(struct buf *b, const char *s, size_t len);

/* True when the n bytes at s are one complete, valid JSON value (any type), nesting at
 * most JSON_MAX_DEPTH. Used to validate raw text that objcast carries without rebuilding. */
int json_validate(const char *s, size_t n);

#endif
