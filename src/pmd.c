/*
 * permessage-deflate negotiation (RFC 7692 section 5 and 7.1; the header's grammar is RFC
 * 6455 section 9.1):
 *
 *   extension-list = 1#extension
 *   extension      = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" ( token | quoted-string ) ]
 */

#include "pmd.h"

#include <string.h>

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
