/*
 * collide N BITS: prints N distinct 8-character keys ([0-9a-z]) whose dict_hash() under the
 * public default key (the tool never seeds) agrees in the low BITS bits, one key a line. In
 * a table of at most 2^BITS buckets they all share one bucket, which is what a client could
 * send if objcast left its tables unseeded (tests/integration/abuse/hash.test.mjs).
 *
 * Brute force over a counter: about N * 2^BITS hash evaluations, so keep the product small
 * (8000 keys of 13 bits take a few seconds in a sanitizer build).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dict.h"

#define KEY_LEN 8

/* Parses a whole decimal number in [min, max], or returns -1. */
static long parse_arg(const char *s, long min, long max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!s[0] || *end || v < min || v > max)
        return -1;
    return v;
}

/* Writes i as KEY_LEN base-36 digits: distinct counters give distinct keys. */
static void key_of(uint64_t i, char key[KEY_LEN])
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    for (int k = KEY_LEN - 1; k >= 0; k--) {
        key[k] = digits[i % 36];
        i /= 36;
    }
}

int main(int argc, char **argv)
{
    long n = argc == 3 ? parse_arg(argv[1], 1, 1000000) : -1;
    long bits = argc == 3 ? parse_arg(argv[2], 1, 32) : -1;
    if (n < 0 || bits < 0) {
        fprintf(stderr, "usage: collide N BITS (1 <= N <= 1000000, 1 <= BITS <= 32)\n");
        return 2;
    }
    /* 36^8 counters: far more than N * 2^BITS for any run that ends in reasonable time. */
    const uint64_t limit = 2821109907456ULL;
    uint64_t mask = ((uint64_t)1 << bits) - 1;
    char key[KEY_LEN];
    long found = 0;
    for (uint64_t i = 0; i < limit && found < n; i++) {
        key_of(i, key);
        if ((dict_hash(key, KEY_LEN) & mask) != 0)
            continue;
        fwrite(key, 1, KEY_LEN, stdout);
        fputc('\n', stdout);
        found++;
    }
    if (fflush(stdout) != 0 || found < n) {
        fprintf(stderr, "collide: found only %ld keys\n", found);
        return 1;
    }
    return 0;
}
