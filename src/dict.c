#include "dict.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "buf.h"

/* The key until dict_seed_random() runs: public, so only tests and tools may rely on it. */
static uint64_t k0 = 0x736f6d6570736575ULL, k1 = 0x646f72616e646f6dULL;

void dict_seed(const uint8_t key[16])
{
    memcpy(&k0, key, 8);
    memcpy(&k1, key + 8, 8);
}

int dict_seed_random(void)
{
    uint8_t key[16];
    size_t got = 0;
    /* getrandom() without flags blocks only until the kernel's pool is first initialized,
     * and may return fewer bytes when a signal interrupts it. */
    while (got < sizeof(key)) {
        ssize_t n = getrandom(key + got, sizeof(key) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        got += (size_t)n;
    }
    dict_seed(key);
    return 0;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                                  \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                     \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                     \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                                  \
    } while (0)

/* SipHash-2-4 (Aumasson and Bernstein), little-endian reads. */
uint64_t dict_hash(const char *key, size_t klen)
{
    const uint8_t *in = (const uint8_t *)key;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t whole = klen & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m;
        memcpy(&m, in + i, 8);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)klen << 56;
    for (size_t i = 0; i < (klen & 7); i++)
        b |= (uint64_t)in[whole + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static struct dict_entry *find(const struct dict *d, const char *key, size_t klen, uint64_t h)
{
    if (!d->nbuckets)
        return NULL;
    for (struct dict_entry *e = d->buckets[h & (d->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

void *dict_get(const struct dict *d, const char *key, size_t klen)
{
    struct dict_entry *e = find(d, key, klen, dict_hash(key, klen));
    return e ? e->value : NULL;
}

static void grow(struct dict *d)
{
    size_t n = d->nbuckets ? d->nbuckets * 2 : 8;
    struct dict_entry **b = oc_calloc(n, sizeof(*b));
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct dict_entry *e = d->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(d->buckets);
    d->buckets = b;
    d->nbuckets = n;
}

struct dict_entry *dict_set(struct dict *d, const char *key, size_t klen, void *value)
{
    uint64_t h = dict_hash(key, klen);
    struct dict_entry *e = find(d, key, klen, h);
    if (e) {
        e->value = value;
        return e;
    }
    if (d->count >= d->nbuckets)
        grow(d);
    e = oc_malloc(sizeof(*e) + klen + 1);
    e->hash = h;
    e->value = value;
    e->klen = klen;
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    size_t i = h & (d->nbuckets - 1);
    e->next = d->buckets[i];
    d->buckets[i] = e;
    d->count++;
    return e;
}

void *dict_del(struct dict *d, const char *key, size_t klen)
{
    if (!d->nbuckets)
        return NULL;
    uint64_t h = dict_hash(key, klen);
    struct dict_entry **p = &d->buckets[h & (d->nbuckets - 1)];
    for (; *p; p = &(*p)->next) {
        struct dict_entry *e = *p;
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            *p = e->next;
            void *v = e->value;
            free(e);
            d->count--;
            return v;
        }
    }
    return NULL;
}

void dict_free(struct dict *d)
{
    for (size_t i = 0; i < d->nbuckets; i++) {
        struct dict_entry *e = d->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(d->buckets);
    d->buckets = NULL;
    d->nbuckets = d->count = 0;
}

struct dict_entry *dict_first(const struct dict *d)
{
    for (size_t i = 0; i < d->nbuckets; i++)
        if (d->buckets[i])
            return d->buckets[i];
    return NULL;
}

struct dict_entry *dict_next(const struct dict *d, const struct dict_entry *e)
{
    if (e->next)
        return e->next;
    for (size_t i = (e->hash & (d->nbuckets - 1)) + 1; i < d->nbuckets; i++)
        if (d->buckets[i])
            return d->buckets[i];
    return NULL;
}
