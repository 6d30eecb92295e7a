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
/* Stores a number into *out; returns 0, or -1 when v is not a finite number. */
int json_double(const struct json_value *v, double *out);
/* The elements of an array or the members of an object: how many (0 for other values),
 * the i-th value, and for objects the i-th key (NULL otherwise), in document order. */
size_t json_count(const struct json_value *v);
const struct json_value *json_at(const struct json_value *v, size_t i);
const char *json_key_at(const struct json_value *v, size_t i);
/* The number's text as parsed (e.g. "12", "1e3"), or NULL when v is not a number. */
const char *json_number_text(const struct json_value *v);

/* Appends s as a JSON string literal, quotes included. s must be valid UTF-8; control
 * characters, quote and backslash are escaped, everything else is copied. */
void json_append_string(struct buf *b, const char *s, size_t len);

/* json_u_escape()'s answers besides a code point. */
#define JSON_U_NONE (-1) /* not a \u escape with four hex digits */
#define JSON_U_LONE (-2) /* a UTF-16 surrogate without its other half */

/*
 * Reads the \u escape at s (n bytes, from the backslash on), as inside a JSON string. Returns
 * its code point, or that of the pair when a high surrogate (\uD800-\uDBFF) is followed at
 * once by a low one (\uDC00-\uDFFF), and sets *len to the bytes read (6, or 12 for a pair);
 * \u0000 gives 0. Returns JSON_U_NONE with *len untouched when s is not a backslash, 'u' and
 * four hex digits (another escape, bad hex, or cut short), and JSON_U_LONE with *len 6 for
 * a low surrogate first or a high one without its low half. json_parse() and data_parse()
 * refuse what yajl would not decode to the text the client sent: lone surrogates (and,
 * json_parse() only, \u0000).
 */
long json_u_escape(const char *s, size_t n, size_t *len);

/* True when the n bytes at s hold nothing after their first value but whitespace, and do not
 * end inside a string. yajl takes a token cut short by the end of its input (a string never
 * closed, a number, the first letters of a literal) for one still to come, even after a
 * complete value, so it lets `{"a":1}"x`, `[1] 2` and `{} tru` through its own check of
 * trailing garbage; every parser of objcast asks this first. \v and \f are refused too:
 * yajl takes them for whitespace, and JSON has them nowhere raw (not in strings either), so
 * a span could start at one. Only these, string boundaries, brackets and whitespace are
 * looked at: the rest of the syntax is yajl's to check. One pass over the text. */
int json_single_value(const char *s, size_t n);

/* True when the n bytes at s are one complete, valid JSON value (any type), nesting at
 * most JSON_MAX_DEPTH, valid UTF-8. The server's parsers check what they read as they go;
 * this is the oracle the unit tests and fuzz targets hold their output against. */
int json_validate(const char *s, size_t n);

#endif
