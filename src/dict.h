#ifndef OC_DICT_H
#define OC_DICT_H

#include <stddef.h>
#include <stdint.h>

/*
 * A hash table from byte-string keys to pointers. Keys are copied; values are the caller's.
 * Hashing is SipHash-2-4 with a per-process random key, so clients that choose object ids
 * cannot make the table degrade. Chained buckets; grows at load factor 1.
 */
struct dict_entry {
    struct dict_entry *next; /* next in the bucket */
    uint64_t hash;
    void *value;
    size_t klen;
    char key[];              /* klen bytes, NUL-terminated for convenience */
};

struct dict {
    struct dict_entry **buckets;
    size_t nbuckets; /* a power of two, or 0 before the first insert */
    size_t count;
};

/* Seeds the hash function with key: the tests pass fixed keys, dict_seed_random() random
 * ones. Every table's entries cache their hash, so seed before any table of this process
 * holds an entry. */
void dict_seed(const uint8_t key[16]);
/* Seeds the hash function with 16 bytes from the OS's random source (getrandom(2)). Each
 * process calls it once at start, before its first insert; a forked worker calls it again so
 * no two processes share a key. Returns 0, or -1 with errno set when no random bytes could
 * be had: the caller must then refuse to start, as the public default key lets clients choose
 * keys that all fall into one bucket. */
int dict_seed_random(void);

/* A zeroed struct dict is an empty table. */
void *dict_get(const struct dict *d, const char *key, size_t klen);
/* Sets key to value, replacing any old value (the caller frees it if needed).
 * Returns the entry. */
struct dict_entry *dict_set(struct dict *d, const char *key, size_t klen, void *value);
/* Removes key; returns its value, or NULL when absent. */
void *dict_del(struct dict *d, const char *key, size_t klen);
/* Frees the table (not the values). */
void dict_free(struct dict *d);

/* Iteration: for (it = dict_first(d); it; it = dict_next(d, it)). Do not insert or delete
 * while iterating, except deleting the current entry after taking dict_next(). */
struct dict_entry *dict_first(const struct dict *d);
struct dict_entry *dict_next(const struct dict *d, const struct dict_entry *e);

/* SipHash-2-4 of the key under the current seed (the public default key until seeded). */
uint64_t dict_hash(const char *key, size_t klen);

#endif
