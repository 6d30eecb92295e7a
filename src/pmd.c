/*
 * permessage-deflate negotiation (RFC 7692 section 5 and 7.1; the header's grammar is RFC
 * 6455 section 9.1):
 *
 *   extension-list = 1#extension
 *   extension      = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" ( token | quoted-string ) ]
 */

#include "pmd.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* RFC 7230 tchar. */
static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

struct cursor {
    const char *p, *end;
};

static void skip_ws(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

/* A token: its start and length, or 0 when there is none here. */
static size_t token(struct cursor *c, const char **start)
{
    *start = c->p;
    while (c->p < c->end && is_tchar((unsigned char)*c->p))
        c->p++;
    return (size_t)(c->p - *start);
}

/* A quoted-string's content into out (at most cap - 1 bytes): returns its length, or -1
 * when it is malformed or too long. */
static int quoted(struct cursor *c, char *out, size_t cap)
{
    size_t n = 0;
    c->p++; /* the opening quote */
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;
        if (ch == '\\') {
            if (c->p == c->end)
                return -1;
            ch = *c->p++;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = ch;
    }
    if (c->p == c->end)
        return -1;
    c->p++; /* the closing quote */
    out[n] = '\0';
    return (int)n;
}

/* One offer's parameters. window values: 0 absent, -1 present without a value. */
struct offer {
    int server_no_context_takeover;
    int client_no_context_takeover;
    int server_max_window_bits;
    int client_max_window_bits;
    int bad; /* declined: RFC 7692 section 5 */
};

/* "8" to "15", no sign or leading zero (RFC 7692 section 7.1.2): the value, or -1. */
static int window_bits(const char *v)
{
    static const char *ok[] = {"8", "9", "10", "11", "12", "13", "14", "15"};
    for (int i = 0; i < 8; i++)
        if (strcmp(v, ok[i]) == 0)
            return 8 + i;
    return -1;
}

static int name_is(const char *s, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(s, name, n) == 0;
}

/* Records one parameter (value NULL when it has none) in o. */
static void param(struct offer *o, const char *name, size_t n, const char *value)
{
    if (name_is(name, n, "server_no_context_takeover") ||
        name_is(name, n, "client_no_context_takeover")) {
        int *flag =
            name[0] == 's' ? &o->server_no_context_takeover : &o->client_no_context_takeover;
        if (*flag || value)
            o->bad = 1; /* twice, or with a value */
        *flag = 1;
    } else if (name_is(name, n, "server_max_window_bits")) {
        int bits = value ? window_bits(value) : -1;
        if (o->server_max_window_bits || bits < 0)
            o->bad = 1; /* twice, or without a valid value (one is required) */
        o->server_max_window_bits = bits;
    } else if (name_is(name, n, "client_max_window_bits")) {
        int bits = value ? window_bits(value) : -1;
        if (o->client_max_window_bits || (value && bits < 0))
            o->bad = 1; /* twice, or a bad value (none is allowed) */
        o->client_max_window_bits = bits;
    } else {
        o->bad = 1; /* a parameter RFC 7692 does not define for an offer */
    }
}

int pmd_negotiate(const char *value, size_t len, struct buf *response, struct pmd_agreed *agreed)
{
    struct cursor c = {value, value + len};
    for (;;) {
        skip_ws(&c);
        while (c.p < c.end && *c.p == ',') { /* empty list elements are allowed */
            c.p++;
            skip_ws(&c);
        }
        if (c.p == c.end)
            return 0;
        const char *ext;
        size_t extlen = token(&c, &ext);
        if (!extlen)
            return 0; /* not an extension list */
        struct offer o = {0};
        for (;;) {
            skip_ws(&c);
            if (c.p == c.end || *c.p == ',')
                break;
            if (*c.p != ';')
                return 0;
            c.p++;
            skip_ws(&c);
            const char *name;
            size_t n = token(&c, &name);
            if (!n)
                return 0;
            skip_ws(&c);
            char v[16];
            const char *pv = NULL;
            if (c.p < c.end && *c.p == '=') {
                c.p++;
                skip_ws(&c);
                if (c.p < c.end && *c.p == '"') {
                    if (quoted(&c, v, sizeof(v)) < 0) {
                        /* too long for any value objcast takes, or malformed */
                        if (c.p == c.end)
                            return 0;
                        o.bad = 1;
                        while (c.p < c.end && *c.p != ';' && *c.p != ',')
                            c.p++;
                        continue;
                    }
                } else {
                    const char *t;
                    size_t tl = token(&c, &t);
                    if (!tl)
                        return 0;
                    if (tl >= sizeof(v)) {
                        o.bad = 1;
                        continue;
                    }
                    memcpy(v, t, tl);
                    v[tl] = '\0';
                }
                pv = v;
            }
            param(&o, name, n, pv);
        }
        if (!name_is(ext, extlen, "permessage-deflate") || o.bad)
            continue;
        if (o.server_max_window_bits == 8)
            continue; /* zlib's deflate cannot keep to a 256-byte window */
        buf_append_str(
            response, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
        agreed->server_window_bits = 15;
        if (o.server_max_window_bits > 0) {
            /* The client asked for a smaller window: it must be answered (7.1.2.1). */
            buf_printf(response, "; server_max_window_bits=%d", o.server_max_window_bits);
            agreed->server_window_bits = o.server_max_window_bits;
        }
        return 1;
    }
}

/* ---- compressing and inflating ------------------------------------------------------- */

const uint8_t pmd_tail[PMD_TAIL_LEN] = {0x00, 0x00, 0xff, 0xff};

/* Deflate states kept by the process: [fast][window_bits - 9], made when first needed. Each
 * costs about 270 KB with a 15-bit window, once per process, never per connection. */
static z_stream *deflaters[2][7];

size_t pmd_deflate_bound(size_t len)
{
    /* Stored blocks cost 5 bytes per 65,535 at worst; the flush adds an empty block. This is
     * far above that, cheap to allocate and shrunk once the real size is known. */
    return len + len / 64 + 64;
}

static z_stream *deflater(int window_bits, int fast)
{
    z_stream **slot = &deflaters[fast][window_bits - 9];
    if (*slot) {
        deflateReset(*slot);
        return *slot;
    }
    z_stream *z = oc_calloc(1, sizeof(*z));
    /* Negative window bits: raw deflate, no zlib header or checksum (RFC 7692 section 7). */
    if (deflateInit2(z, fast ? 1 : 6, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort(); /* only when memory runs out, as every allocation in objcast */
    *slot = z;
    return z;
}

size_t pmd_deflate(const void *in, size_t len, int window_bits, uint8_t *out, size_t cap)
{
    if (window_bits < 9 || window_bits > 15)
        return 0;
    z_stream *z = deflater(window_bits, len >= PMD_FAST_FROM);
    /* zlib's avail fields are unsigned int: a message is far below 4 GiB (max_frame_bytes
     * is at most 128 MiB), but say so rather than truncate. */
    if (len > UINT_MAX || cap > UINT_MAX)
        return 0;
    z->next_in = (Bytef *)in;
    z->avail_in = (uInt)len;
    z->next_out = out;
    z->avail_out = (uInt)cap;
    int rc = deflate(z, Z_SYNC_FLUSH);
    /* Everything read and room left over: the flush is complete. */
    if ((rc != Z_OK && rc != Z_BUF_ERROR) || z->avail_in != 0 || z->avail_out == 0)
        return 0;
    size_t n = cap - z->avail_out;
    if (n < PMD_TAIL_LEN || memcmp(out + n - PMD_TAIL_LEN, pmd_tail, PMD_TAIL_LEN) != 0)
        return 0;
    return n - PMD_TAIL_LEN;
}

struct pmd_inflater {
    z_stream z;
    int ended; /* the deflate stream ended (a final block): the rest is ignored */
};

/* Output is made this much at a time, so the limit is checked every 64 KiB at worst. */
#define INFLATE_CHUNK (64 * 1024)

static struct pmd_inflater *spare;

struct pmd_inflater *pmd_inflater_take(void)
{
    struct pmd_inflater *z = spare;
    if (z) {
        spare = NULL;
        inflateReset(&z->z);
        z->ended = 0;
        return z;
    }
    z = oc_calloc(1, sizeof(*z));
    if (inflateInit2(&z->z, -15) != Z_OK)
        abort();
    return z;
}

void pmd_inflater_give(struct pmd_inflater *z)
{
    if (!z)
        return;
    if (!spare) {
        spare = z;
        return;
    }
    inflateEnd(&z->z);
    free(z);
}

void pmd_release(void)
{
    if (spare) {
        inflateEnd(&spare->z);
        free(spare);
        spare = NULL;
    }
    for (int f = 0; f < 2; f++) {
        for (int b = 0; b < 7; b++) {
            if (deflaters[f][b]) {
                deflateEnd(deflaters[f][b]);
                free(deflaters[f][b]);
                deflaters[f][b] = NULL;
            }
        }
    }
}

enum pmd_inflate_result pmd_inflate(struct pmd_inflater *z, const uint8_t *in, size_t len,
                                    struct buf *out, size_t max)
{
    if (z->ended)
        return PMD_INFLATE_OK;
    /* zlib counts input in unsigned ints; a compressed message is far smaller (at most
     * WS_DEFLATED_MAX of max_frame_bytes, itself at most 128 MiB). */
    if (out->len > max || len > UINT_MAX)
        return PMD_INFLATE_TOO_BIG;
    z->z.next_in = (Bytef *)in;
    z->z.avail_in = (uInt)len;
    for (;;) {
        size_t room = max + 1 - out->len; /* one byte past the limit tells it is crossed */
        if (room > INFLATE_CHUNK)
            room = INFLATE_CHUNK;
        buf_reserve(out, room);
        z->z.next_out = (Bytef *)out->p + out->len;
        z->z.avail_out = (uInt)room;
        int rc = inflate(&z->z, Z_SYNC_FLUSH);
        out->len += room - z->z.avail_out;
        out->p[out->len] = '\0';
        if (out->len > max)
            return PMD_INFLATE_TOO_BIG;
        if (rc == Z_STREAM_END) {
            z->ended = 1;
            return PMD_INFLATE_OK;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return PMD_INFLATE_BAD;
        /* Room left over: everything this input makes is made. Input left too would mean
         * inflate() stopped without a reason; refuse rather than spin. */
        if (z->z.avail_out > 0)
            return z->z.avail_in == 0 ? PMD_INFLATE_OK : PMD_INFLATE_BAD;
    }
}
