#include "okey.h"

#include <string.h>

#include "util.h"

static const char hex[] = "0123456789ABCDEF";

/* The bytes that would make a key ambiguous or unreadable: the separator, the escape
 * itself, Redis Cluster's hash tag braces, and space and control bytes (keys stay one
 * word in redis-cli and in logs). */
static int must_encode(unsigned char c)
{
    return c < 0x21 || c == 0x7f || c == '%' || c == ':' || c == '{' || c == '}';
}

void okey_append_id(struct buf *b, const char *id, size_t len)
{
    buf_reserve(b, len);
    size_t run = 0; /* bytes copied as they are, appended in one go */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!must_encode(c))
            continue;
        buf_append(b, id + run, i - run);
        char esc[3] = {'%', hex[c >> 4], hex[c & 0x0f]};
        buf_append(b, esc, sizeof(esc));
        run = i + 1;
    }
    buf_append(b, id + run, len - run);
}

void okey_build(struct buf *b, const char *ws, size_t ws_len, const char *obj, size_t obj_len)
{
    buf_reset(b);
    okey_append_id(b, ws, ws_len);
    buf_append_char(b, ':');
    okey_append_id(b, obj, obj_len);
}

/* util_hex_value() without lower case: one id has one key. */
static int upper_hex_value(char c)
{
    return c >= 'a' && c <= 'f' ? -1 : util_hex_value(c);
}

/* Decodes one id of a key into out. */
static int decode_id(const char *s, size_t len, struct buf *out, const char **err)
{
    buf_reset(out);
    buf_reserve(out, len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '%') {
            if (must_encode(c)) {
                *err = "a byte that must be percent-encoded";
                return -1;
            }
            buf_append_char(out, (char)c);
            continue;
        }
        int hi = len - i >= 3 ? upper_hex_value(s[i + 1]) : -1;
        int lo = len - i >= 3 ? upper_hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            *err = "'%' not followed by two upper-case hex digits";
            return -1;
        }
        unsigned char d = (unsigned char)(hi << 4 | lo);
        if (!must_encode(d)) {
            *err = "an escape of a byte that is never encoded";
            return -1;
        }
        buf_append_char(out, (char)d);
        i += 2;
    }
    buf_append(out, "", 0); /* terminated even when empty */
    return 0;
}

int okey_parse(const char *key, size_t len, struct buf *ws, struct buf *obj, const char **err)
{
    const char *colon = memchr(key, ':', len);
    if (!colon) {
        *err = "no ':' between workspace and object";
        return -1;
    }
    size_t ws_len = (size_t)(colon - key);
    if (memchr(colon + 1, ':', len - ws_len - 1)) {
        *err = "more than one ':'";
        return -1;
    }
    if (decode_id(key, ws_len, ws, err) != 0 ||
        decode_id(colon + 1, len - ws_len - 1, obj, err) != 0)
        return -1;
    return 0;
}
