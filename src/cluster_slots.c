#include "cluster_slots.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "util.h"

/* ---- slots of keys ------------------------------------------------------------------------ */

/*
 * Bit by bit rather than with the usual 256-entry table: a key or channel name is a few dozen
 * bytes, hashed once per command, so the loop costs well under a microsecond, and there is no
 * table of magic numbers to get wrong. The unit test holds the spec's vector.
 */
uint16_t cluster_crc16(const char *buf, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

int cluster_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t after = (size_t)(open + 1 - key);
        const char *close = memchr(open + 1, '}', len - after);
        /* "{}" is no tag: the whole key is hashed, so such keys spread over the slots. */
        if (close && close > open + 1) {
            key = open + 1;
            len = (size_t)(close - key);
        }
    }
    /* 16384 is a power of two: the modulo keeps the low 14 bits. */
    return cluster_crc16(key, len) & (CLUSTER_SLOTS - 1);
}

/* ---- MOVED and ASK ------------------------------------------------------------------------ */

/* A host as a redirect or CLUSTER SLOTS names it: a name, IPv4, or IPv6 without []. */
static int host_valid(const char *s, size_t n)
{
    if (memchr(s, ':', n))
        return util_ipv6_valid(s, n);
    return util_host_name_valid(s, n);
}

/* Plain decimal digits only, as Redis prints them: no sign, no spaces. */
static int parse_digits(const char *s, size_t n, long long min, long long max, long long *out)
{
    if (n == 0 || n > 9)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cluster_redirect_parse(const char *text, size_t len, struct cluster_redirect *out,
                           const char **err)
{
    enum cluster_redirect_kind kind;
    const char *p = text, *end = text + len;

    if (len >= 6 && memcmp(text, "MOVED ", 6) == 0) {
        kind = CLUSTER_REDIRECT_MOVED;
        p += 6;
    } else if (len >= 4 && memcmp(text, "ASK ", 4) == 0) {
        kind = CLUSTER_REDIRECT_ASK;
        p += 4;
    } else {
        return CLUSTER_REDIRECT_NONE;
    }

    const char *space = memchr(p, ' ', (size_t)(end - p));
    long long slot;
    if (!space || parse_digits(p, (size_t)(space - p), 0, CLUSTER_SLOTS - 1, &slot) < 0) {
        *err = "slot must be a number from 0 to 16383";
        return -1;
    }
    p = space + 1;

    /* host:port; the host may hold colons itself (IPv6), so the port is after the last. */
    const char *colon = NULL;
    for (const char *q = p; q < end; q++) {
        if (*q == ':')
            colon = q;
        else if ((unsigned char)*q <= ' ' || *q == 0x7f) {
            *err = "unexpected space or control character after the slot";
            return -1;
        }
    }
    long long port;
    if (!colon) {
        *err = "expected host:port after the slot";
        return -1;
    }
    if (parse_digits(colon + 1, (size_t)(end - colon - 1), 1, 65535, &port) < 0) {
        *err = "port must be a number from 1 to 65535";
        return -1;
    }

    const char *host = p;
    size_t host_len = (size_t)(colon - p);
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
        if (host_len == 0) {
            *err = "bad host";
            return -1;
        }
    }
    if (host_len == 1 && host[0] == '?') {
        /* Redis 7 with cluster-preferred-endpoint-type hostname and no hostname set. */
        *err = "the node's endpoint is unknown (?)";
        return -1;
    }
    if (host_len > CLUSTER_HOST_MAX) {
        *err = "host too long";
        return -1;
    }
    /* Empty means "the node you asked" (Redis 7's unknown endpoint); keep it empty. */
    if (host_len > 0 && !host_valid(host, host_len)) {
        *err = "bad host";
        return -1;
    }

    out->kind = kind;
    out->slot = (int)slot;
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    out->port = (int)port;
    return kind;
}

/* ---- the slot map -------------------------------------------------------------------------- */

struct cluster_slots *cluster_slots_new(void)
{
    struct cluster_slots *m = oc_calloc(1, sizeof(*m));
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        m->master[s] = -1;
    return m;
}

void cluster_slots_free(struct cluster_slots *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nnodes; i++)
        free(m->nodes[i].host);
    free(m->nodes);
    free(m);
}

int cluster_slots_find_node(const struct cluster_slots *m, const char *host, int port)
{
    /* A handful of masters: a scan beats keeping an index in step. */
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == port && strcasecmp(m->nodes[i].host, host) == 0)
            return i;
    return -1;
}

int cluster_slots_add_range(struct cluster_slots *m, int lo, int hi, const char *host, int port,
                            const char **err)
{
    if (lo < 0 || hi >= CLUSTER_SLOTS || lo > hi) {
        *err = "slot range must be within 0..16383, start <= end";
        return -1;
    }
    size_t host_len = strlen(host);
    if (host_len == 0 || host_len > CLUSTER_HOST_MAX) {
        *err = "host must be 1 to 255 characters";
        return -1;
    }
    if (!host_valid(host, host_len)) {
        *err = "bad host";
        return -1;
    }
    if (port < 1 || port > 65535) {
        *err = "port must be between 1 and 65535";
        return -1;
    }

    int index = cluster_slots_find_node(m, host, port);
    if (index < 0) {
        /* Every node added owns a slot at that moment, so there are at most CLUSTER_SLOTS,
         * and an index always fits master[]'s int16_t. */
        if (m->nnodes == m->nalloc) {
            m->nalloc = m->nalloc ? m->nalloc * 2 : 8;
            m->nodes = oc_realloc(m->nodes, (size_t)m->nalloc * sizeof(*m->nodes));
        }
        index = m->nnodes++;
        m->nodes[index].host = oc_strdup(host);
        m->nodes[index].port = port;
        m->nodes[index].index = index;
    }
    for (int s = lo; s <= hi; s++)
        m->master[s] = (int16_t)index;
    return index;
}

const struct cluster_node *cluster_slots_lookup(const struct cluster_slots *m, int slot)
{
    if (slot < 0 || slot >= CLUSTER_SLOTS || m->master[slot] < 0)
        return NULL;
    return &m->nodes[m->master[slot]];
}

int cluster_slots_covered(const struct cluster_slots *m, int *first_missing)
{
    for (int s = 0; s < CLUSTER_SLOTS; s++) {
        if (m->master[s] < 0) {
            if (first_missing)
                *first_missing = s;
            return 0;
        }
    }
    return 1;
}

/* Whether slot's master is the same host:port in both maps (or missing from both). */
static int same_master(const struct cluster_slots *a, const struct cluster_slots *b, int slot)
{
    const struct cluster_node *x = a ? cluster_slots_lookup(a, slot) : NULL;
    const struct cluster_node *y = cluster_slots_lookup(b, slot);
    if (!x || !y)
        return x == y;
    return x->port == y->port && strcasecmp(x->host, y->host) == 0;
}

int cluster_slots_diff(const struct cluster_slots *before, const struct cluster_slots *after,
                       int *out)
{
    int n = 0;
    for (int s = 0; s < CLUSTER_SLOTS; s++) {
        if (same_master(before, after, s))
            continue;
        if (out)
            out[n] = s;
        n++;
    }
    return n;
}
