#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "utf8.h"
#include "util.h"

struct json_value {
    yajl_val v;
};

/* The value of the 4 hex digits at s (n bytes available), or -1. */
static long hex4(const char *s, size_t n)
{
    long v = 0;
    if (n < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int d = util_hex_value(s[i]);
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

long json_u_escape(const char *s, size_t n, size_t *len)
{
    if (n < 2 || s[0] != '\\' || s[1] != 'u')
        return JSON_U_NONE;
    long u = hex4(s + 2, n - 2);
    if (u < 0)
        return JSON_U_NONE;
    *len = 6;
    if (u >= 0xDC00 && u <= 0xDFFF)
        return JSON_U_LONE;
    if (u < 0xD800 || u > 0xDBFF)
        return u;
    long lo = -1;
    if (n >= 12 && s[6] == '\\' && s[7] == 'u')
        lo = hex4(s + 8, n - 8);
    if (lo < 0xDC00 || lo > 0xDFFF)
        return JSON_U_LONE;
    *len = 12;
    return 0x10000 + ((u - 0xD800) << 10 | (lo - 0xDC00));
}

/*
 * One pass over the raw text before yajl sees it; returns NULL or the reason to refuse.
 * - Nesting of [ and { outside strings must stay within JSON_MAX_DEPTH: yajl has no limit of
 *   its own, and yajl_tree_free() recurses.
 * - '/' outside strings is refused: yajl_tree_parse() always allows comments, which are not
 *   JSON, and a quote inside a comment would make this scan skip real brackets. (\v and \f,
 *   which yajl takes for whitespace, are json_single_value()'s to refuse.)
 * - With strict_escapes (json_parse only: its strings become C strings), \u0000 is refused
 *   because it would silently cut a string short, and so are unpaired UTF-16 surrogates,
 *   which yajl turns into invalid UTF-8 or pairs with whatever escape follows.
 * Everything else that is malformed is left to yajl, so this scan only needs to find string
 * boundaries and escapes correctly.
 */
static const char *prescan(const char *s, size_t n, int strict_escapes)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '"') {
                in_str = 0;
            } else if (c == '\\') {
                size_t len = 0;
                long u = strict_escapes ? json_u_escape(s + i, n - i, &len) : JSON_U_NONE;
                if (u == JSON_U_NONE) {
                    i++; /* skip the escaped character, a quote included */
                    continue;
                }
                if (u == 0 || u == JSON_U_LONE)
                    return "unsupported \\u escape";
                i += len - 1;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > JSON_MAX_DEPTH)
                return "nested too deeply";
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c == '/') {
            return "invalid JSON";
        }
    }
    return NULL;
}

int json_single_value(const char *s, size_t n)
{
    int depth = 0, in_str = 0, started = 0, ended = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\v' || c == '\f')
            return 0;
        if (in_str) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_str = 0;
                ended = depth == 0;
            }
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            ended = ended || (started && depth == 0); /* a number or literal ends here */
            continue;
        }
        if (ended)
            return 0;
        started = 1;
        if (c == '"')
            in_str = 1;
        else if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            ended = --depth <= 0;
    }
    return !in_str;
}

struct json_value *json_parse(const char *text, size_t len, const char **err)
{
    const char *scan_err = prescan(text, len, 1);
    if (scan_err || !json_single_value(text, len)) {
        *err = scan_err ? scan_err : "invalid JSON";
        return NULL;
    }
    if (utf8_validate(UTF8_ACCEPT, (const unsigned char *)text, len) != UTF8_ACCEPT) {
        *err = "invalid UTF-8";
        return NULL;
    }
    /* yajl_tree_parse wants a NUL-terminated string; an embedded NUL is invalid JSON. */
    if (memchr(text, '\0', len)) {
        *err = "invalid JSON";
        return NULL;
    }
    char *copy = oc_strndup(text, len);
    yajl_val v = yajl_tree_parse(copy, NULL, 0);
    free(copy);
    if (!v) {
        *err = "invalid JSON";
        return NULL;
    }
    struct json_value *doc = oc_malloc(sizeof(*doc));
    doc->v = v;
    return doc;
}

void json_free(struct json_value *doc)
{
    if (!doc)
        return;
    yajl_tree_free(doc->v);
    free(doc);
}

/* A json_value pointer is either the document (whose first member is the root yajl_val) or,
 * for nested values, a pointer to the yajl_val slot inside its parent. Both start with a
 * yajl_val, so one cast reads either. */
static yajl_val val(const struct json_value *v)
{
    return v ? *(const yajl_val *)v : NULL;
}

enum json_type json_typeof(const struct json_value *jv)
{
    yajl_val v = val(jv);
    if (!v)
        return JSON_NULL;
    switch (v->type) {
    case yajl_t_string: return JSON_STRING;
    case yajl_t_number: return JSON_NUMBER;
    case yajl_t_object: return JSON_OBJECT;
    case yajl_t_array: return JSON_ARRAY;
    case yajl_t_true: return JSON_TRUE;
    case yajl_t_false: return JSON_FALSE;
    default: return JSON_NULL;
    }
}

const struct json_value *json_get(const struct json_value *jv, const char *key)
{
    yajl_val v = val(jv);
    if (!v || v->type != yajl_t_object)
        return NULL;
    /* Last duplicate wins, as in most parsers a client may have tested against. */
    for (size_t i = v->u.object.len; i-- > 0;)
        if (strcmp(v->u.object.keys[i], key) == 0)
            return (const struct json_value *)&v->u.object.values[i];
    return NULL;
}

const char *json_string(const struct json_value *jv)
{
    yajl_val v = val(jv);
    return v && v->type == yajl_t_string ? v->u.string : NULL;
}

int json_double(const struct json_value *jv, double *out)
{
    yajl_val v = val(jv);
    if (!v || v->type != yajl_t_number || !(v->u.number.flags & YAJL_NUMBER_DOUBLE_VALID) ||
        !isfinite(v->u.number.d))
        return -1;
    *out = v->u.number.d;
    return 0;
}

size_t json_count(const struct json_value *jv)
{
    yajl_val v = val(jv);
    if (v && v->type == yajl_t_array)
        return v->u.array.len;
    if (v && v->type == yajl_t_object)
        return v->u.object.len;
    return 0;
}

const struct json_value *json_at(const struct json_value *jv, size_t i)
{
    yajl_val v = val(jv);
    if (i >= json_count(jv))
        return NULL;
    return (const struct json_value *)(v->type == yajl_t_array ? &v->u.array.values[i]
                                                                : &v->u.object.values[i]);
}

const char *json_key_at(const struct json_value *jv, size_t i)
{
    yajl_val v = val(jv);
    return v && v->type == yajl_t_object && i < v->u.object.len ? v->u.object.keys[i] : NULL;
}

const char *json_number_text(const struct json_value *jv)
{
    yajl_val v = val(jv);
    return v && v->type == yajl_t_number ? v->u.number.r : NULL;
}

int json_integer(const struct json_value *jv, long long *out)
{
    yajl_val v = val(jv);
    if (!v || v->type != yajl_t_number)
        return -1;
    /* Plain integers are read with strtoll rather than taken from yajl, whose integer parser
     * refuses LLONG_MIN and overflows a signed multiply on some 19-digit inputs. */
    char *end;
    errno = 0;
    long long i = strtoll(v->u.number.r, &end, 10);
    if (errno == 0 && *end == '\0') {
        *out = i;
        return 0;
    }
    /* 1e3 or 12.0 are integral too; 1.5 and out-of-range values are not. Both bounds are
     * exclusive: 2^63 is out of range, and -2^63 here is a rounded -9223372036854775809 or
     * so (LLONG_MIN itself was read above); inside them the cast is defined. Past 2^53 a
     * double is not exact, so such a number written with a fraction or an exponent comes out
     * rounded. */
    double d = v->u.number.d;
    if (!(v->u.number.flags & YAJL_NUMBER_DOUBLE_VALID) || d != floor(d) ||
        d <= -9223372036854775808.0 || d >= 9223372036854775808.0)
        return -1;
    *out = (long long)d;
    return 0;
}

void json_append_string(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    buf_reserve(b, len + 2);
    buf_append_char(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': buf_append(b, "\\\"", 2); break;
        case '\\': buf_append(b, "\\\\", 2); break;
        case '\n': buf_append(b, "\\n", 2); break;
        case '\r': buf_append(b, "\\r", 2); break;
        case '\t': buf_append(b, "\\t", 2); break;
        case '\b': buf_append(b, "\\b", 2); break;
        case '\f': buf_append(b, "\\f", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, u, 6);
        }
        }
    }
    buf_append(b, s + run, len - run);
    buf_append_char(b, '"');
}

int json_validate(const char *s, size_t n)
{
    /* yajl's own UTF-8 check lets overlong forms, surrogates and F5..F7 leads through. */
    if (!json_single_value(s, n) || prescan(s, n, 0) ||
        utf8_validate(UTF8_ACCEPT, (const unsigned char *)s, n) != UTF8_ACCEPT)
        return 0;
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    yajl_config(h, yajl_allow_trailing_garbage, 0);
    int ok = yajl_parse(h, (const unsigned char *)s, n) == yajl_status_ok &&
             yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    return ok;
}
