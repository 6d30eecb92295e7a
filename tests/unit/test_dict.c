/* Unit tests for src/dict.c: the table, and that its hash is keyed (no hash flooding). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "unit.h"

/* SipHash's own key (the reference implementation's test key 00 01 .. 0f). */
static const uint8_t ref_key[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
/* The key objcast starts with: k0, k1 as dict.c sets them before any seeding. */
static const uint8_t default_key[16] = {0x75, 0x65, 0x73, 0x70, 0x65, 0x6d, 0x6f, 0x73,
                                        0x6d, 0x6f, 0x64, 0x6e, 0x61, 0x72, 0x6f, 0x64};

START_TEST(test_hash_reference_vectors)
{
    /* From the SipHash paper's reference vectors (input 00 01 .. n-1 under ref_key): proves
     * the key is really used, not only that the output changes. */
    dict_seed(ref_key);
    char in[16];
    for (int i = 0; i < 16; i++)
        in[i] = (char)i;
    ck_assert_uint_eq(dict_hash(in, 0), 0x726fdb47dd0e0e31ULL);
    ck_assert_uint_eq(dict_hash(in, 1), 0x74f839c593dc67fdULL);
    ck_assert_uint_eq(dict_hash(in, 8), 0x93f5f5799a932462ULL);
    ck_assert_uint_eq(dict_hash(in, 15), 0xa129ca6149be45e5ULL);
    dict_seed(default_key);
}
END_TEST

START_TEST(test_seed_changes_hash)
{
    static const char *keys[] = {"", "a", "user-1", "workspace:object", "0123456789abcdef!"};
    uint8_t other[16];
    memcpy(other, default_key, sizeof(other));
    other[15] ^= 1;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        dict_seed(default_key);
        uint64_t before = dict_hash(keys[i], strlen(keys[i]));
        dict_seed(other);
        uint64_t after = dict_hash(keys[i], strlen(keys[i]));
        ck_assert_msg(before != after, "one flipped key bit left the hash of \"%s\" alone",
                      keys[i]);
        dict_seed(default_key);
        ck_assert_uint_eq(dict_hash(keys[i], strlen(keys[i])), before);
    }
}
END_TEST

START_TEST(test_seed_random)
{
    /* Two random seeds: equal hashes for all of these would mean the key was not replaced
     * (1 chance in 2^320 otherwise). */
    char key[32];
    uint64_t first[5], differ = 0;
    dict_seed(default_key);
    uint64_t fixed = dict_hash("k0", 2);
    ck_assert_int_eq(dict_seed_random(), 0);
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        first[i] = dict_hash(key, strlen(key));
    }
    ck_assert_uint_ne(first[0], fixed);
    ck_assert_int_eq(dict_seed_random(), 0);
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        differ += dict_hash(key, strlen(key)) != first[i];
    }
    ck_assert_uint_gt(differ, 0);
    dict_seed(default_key);
}
END_TEST

START_TEST(test_table_after_random_seed)
{
    /* A seeded process keeps working: set, get, delete and iterate over many keys. */
    ck_assert_int_eq(dict_seed_random(), 0);
    struct dict d = {0};
    char key[32];
    enum { N = 5000 };
    for (uintptr_t i = 0; i < N; i++) {
        int n = snprintf(key, sizeof(key), "key-%lu", (unsigned long)i);
        dict_set(&d, key, (size_t)n, (void *)(i + 1));
    }
    ck_assert_uint_eq(d.count, N);
    ck_assert_uint_ge(d.nbuckets, N);
    for (uintptr_t i = 0; i < N; i++) {
        int n = snprintf(key, sizeof(key), "key-%lu", (unsigned long)i);
        ck_assert_ptr_eq(dict_get(&d, key, (size_t)n), (void *)(i + 1));
    }
    size_t seen = 0;
    for (struct dict_entry *e = dict_first(&d); e; e = dict_next(&d, e))
        seen++;
    ck_assert_uint_eq(seen, N);
    for (uintptr_t i = 0; i < N; i += 2) {
        int n = snprintf(key, sizeof(key), "key-%lu", (unsigned long)i);
        ck_assert_ptr_eq(dict_del(&d, key, (size_t)n), (void *)(i + 1));
    }
    ck_assert_uint_eq(d.count, N / 2);
    ck_assert_ptr_null(dict_get(&d, "key-0", 5));
    ck_assert_ptr_eq(dict_get(&d, "key-1", 5), (void *)2);
    dict_free(&d);
    dict_seed(default_key);
}
END_TEST

static Suite *dict_suite(void)
{
    Suite *s = suite_create("dict");
    TCase *tc = tcase_create("seed");
    tcase_add_test(tc, test_hash_reference_vectors);
    tcase_add_test(tc, test_seed_changes_hash);
    tcase_add_test(tc, test_seed_random);
    tcase_add_test(tc, test_table_after_random_seed);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(dict_suite)
