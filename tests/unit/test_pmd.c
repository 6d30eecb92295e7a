/*
 * permessage-deflate (src/pmd.c).
 *
 * Negotiation: the offers of RFC 7692's examples and what browsers send are accepted with
 * server_no_context_takeover and client_no_context_takeover; an offer the RFC says to
 * decline is skipped for the next one; a header that is not an extension list accepts
 * nothing.
 *
 * Compressing and inflating: what pmd_deflate() makes inflates with zlib itself (an
 * independent inflater, with the window agreed) and with pmd_inflate() to the same bytes;
 * pmd_inflate() takes RFC 7692's examples, stops a bomb at the limit, and refuses data that
 * is not deflate or reaches before the message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pmd.h"
#include "unit.h"

#define BASE "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

/* Negotiates value: NULL want means nothing is accepted. */
static void check(const char *value, const char *want, int bits)
{
    struct buf out = {0};
    struct pmd_agreed a = {0};
    int ok = pmd_negotiate(value, strlen(value), &out, &a);
    if (!want) {
        ck_assert_msg(!ok, "accepted [%s] as [%s]", value, out.p ? out.p : "");
        ck_assert_uint_eq(out.len, 0);
    } else {
        ck_assert_msg(ok, "declined [%s]", value);
        ck_assert_str_eq(out.p, want);
        ck_assert_int_eq(a.server_window_bits, bits);
    }
    buf_free(&out);
}

START_TEST(accepts_offers)
{
    check("permessage-deflate", BASE, 15);
    /* what Chromium and Node's ws send */
    check("permessage-deflate; client_max_window_bits", BASE, 15);
    check("permessage-deflate;client_max_window_bits=12", BASE, 15);
    /* the context takeover parameters in the offer change nothing in the answer */
    check("permessage-deflate; client_no_context_takeover; server_no_context_takeover", BASE, 15);
    /* a smaller server window must be answered, quoted or not (RFC 7692 7.1.2.1) */
    check("permessage-deflate; server_max_window_bits=10", BASE "; server_max_window_bits=10", 10);
    check("permessage-deflate; server_max_window_bits=\"12\"", BASE "; server_max_window_bits=12",
          12);
    check("permessage-deflate; server_max_window_bits=9", BASE "; server_max_window_bits=9", 9);
    /* RFC 7692 section 5.2's example: two offers, the first taken */
    check("permessage-deflate; client_max_window_bits; server_max_window_bits=10, "
          "permessage-deflate; client_max_window_bits",
          BASE "; server_max_window_bits=10", 10);
    /* other extensions are skipped; spaces, tabs and empty list elements are allowed */
    check("x-webkit-deflate-frame, permessage-deflate", BASE, 15);
    check(" ,\tpermessage-deflate ;\tclient_max_window_bits ,", BASE, 15);
    check("foo; bar=\"a;b,c\", permessage-deflate", BASE, 15);
}
END_TEST

START_TEST(declines_offers)
{
    /* each declined alone, and skipped for a good offer after it */
    static const char *bad[] = {
        "permessage-deflate; foo",                       /* not defined */
        "permessage-deflate; server_max_window_bits",    /* value required */
        "permessage-deflate; server_max_window_bits=16", /* out of range */
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=010", /* leading zero */
        "permessage-deflate; server_max_window_bits=1a",
        "permessage-deflate; server_max_window_bits=\"\"",
        "permessage-deflate; server_max_window_bits=8", /* zlib cannot */
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; server_no_context_takeover=1", /* takes no value */
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_max_window_bits=\"123456789012345678901234567890\"",
        "Permessage-Deflate", /* extension names are exact */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        check(bad[i], NULL, 0);
        char both[256];
        snprintf(both, sizeof(both), "%s, permessage-deflate", bad[i]);
        check(both, BASE, 15);
    }
}
END_TEST

START_TEST(refuses_non_lists)
{
    static const char *junk[] = {
        "",
        " ",
        ",",
        ";",
        "permessage-deflate;",
        "permessage-deflate; =1",
        "permessage-deflate; server_max_window_bits=",
        "permessage-deflate client_max_window_bits",
        "permessage-deflate; server_max_window_bits=\"10",
        "\"permessage-deflate\"",
        "permessage-deflate; a=b=c",
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        check(junk[i], NULL, 0);
    /* a NUL inside ends nothing: it is not a token character */
    struct buf out = {0};
    struct pmd_agreed a = {0};
    ck_assert_int_eq(pmd_negotiate("permessage-deflate\0x", 20, &out, &a), 0);
    buf_free(&out);
}
END_TEST

/* ---- compressing and inflating ---------------------------------------------------- */

/* A JSON document like the demo's notes board, about n bytes: compressible, not trivially. */
static char *notes_json(size_t n, unsigned seed)
{
    static const char *words[] = {"ship", "the", "beta", "on", "friday", "review", "design",
                                  "lunch", "fix", "login", "bug", "retro", "budget", "plan"};
    static const char *colors[] = {"#ffd54f", "#81d4fa", "#a5d6a7", "#f48fb1"};
    struct buf b = {0};
    buf_append_char(&b, '{');
    for (unsigned i = 0; b.len + 120 < n; i++) {
        seed = seed * 1103515245u + 12345u;
        buf_printf(&b, "%s\"n%u-%x\":{\"text\":\"%s %s %s\",\"color\":\"%s\",\"by\":\"user%u\",\"at\":%u}",
                   i ? "," : "", i, seed >> 8, words[seed % 14], words[(seed >> 4) % 14],
                   words[(seed >> 8) % 14], colors[(seed >> 12) % 4], (seed >> 16) % 50,
                   1733500000u + (seed >> 10) % 100000);
    }
    buf_append_char(&b, '}');
    return buf_detach(&b);
}

/* Inflates with zlib directly (not through pmd.c): a raw inflater of window_bits, the
 * tail appended. Returns the text (len in *out_len), or NULL when it does not inflate. */
static char *zlib_inflate(const uint8_t *in, size_t len, int window_bits, size_t *out_len)
{
    z_stream z = {0};
    ck_assert_int_eq(inflateInit2(&z, -window_bits), Z_OK);
    uint8_t *all = malloc(len + PMD_TAIL_LEN);
    memcpy(all, in, len);
    memcpy(all + len, pmd_tail, PMD_TAIL_LEN);
    size_t cap = len * 20 + 1024;
    char *out = malloc(cap);
    z.next_in = all;
    z.avail_in = (uInt)(len + PMD_TAIL_LEN);
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    int ok = (rc == Z_OK || rc == Z_STREAM_END) && z.avail_in == 0;
    *out_len = cap - z.avail_out;
    inflateEnd(&z);
    free(all);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* Compresses text with pmd_deflate(); returns the bytes, their length in *n. */
static uint8_t *deflate_text(const char *text, size_t len, int bits, size_t *n)
{
    size_t cap = pmd_deflate_bound(len);
    uint8_t *out = malloc(cap);
    *n = pmd_deflate(text, len, bits, out, cap);
    ck_assert_uint_gt(*n, 0);
    return out;
}

/* Inflates through pmd_inflate(), in pieces of `piece` bytes, then the tail. */
static enum pmd_inflate_result pmd_inflate_all(const uint8_t *in, size_t len, size_t piece,
                                               size_t max, struct buf *out)
{
    struct pmd_inflater *z = pmd_inflater_take();
    enum pmd_inflate_result r = PMD_INFLATE_OK;
    for (size_t at = 0; at < len && r == PMD_INFLATE_OK; at += piece)
        r = pmd_inflate(z, in + at, len - at < piece ? len - at : piece, out, max);
    if (r == PMD_INFLATE_OK)
        r = pmd_inflate(z, pmd_tail, PMD_TAIL_LEN, out, max);
    pmd_inflater_give(z);
    return r;
}

START_TEST(round_trips)
{
    /* Sizes on both sides of PMD_FAST_FROM (level 6 below, level 1 from it). */
    static const size_t sizes[] = {0, 1, 100, 511, 4096, 65535, 65536, 300000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *text = notes_json(sizes[i], (unsigned)i);
        size_t len = sizes[i] < 2 ? sizes[i] : strlen(text);
        for (int bits = 9; bits <= 15; bits += 3) {
            size_t n;
            uint8_t *z = deflate_text(text, len, bits, &n);
            /* The sync flush's tail is removed (RFC 7692 section 7.2.1). */
            ck_assert(n < PMD_TAIL_LEN || memcmp(z + n - PMD_TAIL_LEN, pmd_tail, PMD_TAIL_LEN));
            if (len >= 4096)
                ck_assert_msg(n * 3 < len, "%zu bytes compressed to %zu", len, n);
            size_t got_len;
            char *got = zlib_inflate(z, n, bits, &got_len);
            ck_assert_ptr_nonnull(got);
            ck_assert_uint_eq(got_len, len);
            ck_assert(len == 0 || memcmp(got, text, len) == 0);
            free(got);

            struct buf out = {0};
            ck_assert_int_eq(pmd_inflate_all(z, n, 7, len, &out), PMD_INFLATE_OK);
            ck_assert_uint_eq(out.len, len);
            ck_assert(len == 0 || memcmp(out.p, text, len) == 0);
            buf_free(&out);
            free(z);
        }
        free(text);
    }
}
END_TEST

START_TEST(deflate_needs_room_and_a_window)
{
    char text[600];
    memset(text, 'a', sizeof(text));
    uint8_t out[4096];
    ck_assert_uint_eq(pmd_deflate(text, sizeof(text), 8, out, sizeof(out)), 0);
    ck_assert_uint_eq(pmd_deflate(text, sizeof(text), 16, out, sizeof(out)), 0);
    ck_assert_uint_eq(pmd_deflate(text, sizeof(text), 15, out, 3), 0);
    ck_assert_uint_gt(pmd_deflate(text, sizeof(text), 15, out, sizeof(out)), 0);
}
END_TEST

/* RFC 7692 section 7.2.3: the examples' compressed payloads of "Hello". */
START_TEST(inflates_rfc_examples)
{
    static const struct {
        const char *name;
        uint8_t bytes[16];
        size_t len;
    } ex[] = {
        {"7.2.3.1 one block", {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, 7},
        {"7.2.3.3 no compression", {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}, 11},
        {"7.2.3.4 BFINAL set", {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}, 8},
        {"7.2.3.5 two blocks",
         {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}, 13},
    };
    for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
        for (size_t piece = 1; piece <= ex[i].len; piece += ex[i].len - 1) {
            struct buf out = {0};
            ck_assert_msg(pmd_inflate_all(ex[i].bytes, ex[i].len, piece, 100, &out) ==
                              PMD_INFLATE_OK, "%s", ex[i].name);
            ck_assert_uint_eq(out.len, 5);
            ck_assert_str_eq(out.p, "Hello");
            buf_free(&out);
        }
    }
    /* An empty message is its tail alone, or one 0x00 byte (section 7.2.3.6). */
    struct buf out = {0};
    ck_assert_int_eq(pmd_inflate_all((const uint8_t *)"", 0, 1, 100, &out), PMD_INFLATE_OK);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_int_eq(pmd_inflate_all((const uint8_t *)"\0", 1, 1, 100, &out), PMD_INFLATE_OK);
    ck_assert_uint_eq(out.len, 0);
    buf_free(&out);
}
END_TEST

/* A bomb: 64 MiB of one byte compresses to about 64 KB; inflating it with a 1 MiB limit
 * stops once one byte past the limit was made, and never holds much more than the limit. */
START_TEST(stops_a_bomb)
{
    size_t big = 64u << 20;
    char *zeros = calloc(1, big);
    uint8_t *z = malloc(pmd_deflate_bound(big));
    /* Level 9 on a long run: about 1,000 to 1 (pmd_deflate() would use level 1). */
    z_stream zs = {0};
    ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)zeros;
    zs.avail_in = (uInt)big;
    zs.next_out = z;
    zs.avail_out = (uInt)pmd_deflate_bound(big);
    ck_assert_int_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
    size_t n = pmd_deflate_bound(big) - zs.avail_out - PMD_TAIL_LEN;
    deflateEnd(&zs);
    free(zeros);
    ck_assert_uint_lt(n, 128 * 1024);

    size_t max = 1u << 20;
    struct buf out = {0};
    ck_assert_int_eq(pmd_inflate_all(z, n, n, max, &out), PMD_INFLATE_TOO_BIG);
    ck_assert_uint_eq(out.len, max + 1);
    ck_assert_uint_le(out.cap, 2 * max + 2);
    buf_free(&out);

    /* Exactly at the limit is fine. */
    char text[1000];
    memset(text, 'x', sizeof(text));
    size_t tn;
    uint8_t *tz = deflate_text(text, sizeof(text), 15, &tn);
    ck_assert_int_eq(pmd_inflate_all(tz, tn, 3, sizeof(text), &out), PMD_INFLATE_OK);
    ck_assert_uint_eq(out.len, sizeof(text));
    buf_reset(&out);
    ck_assert_int_eq(pmd_inflate_all(tz, tn, 3, sizeof(text) - 1, &out), PMD_INFLATE_TOO_BIG);
    buf_free(&out);
    free(tz);
    free(z);
}
END_TEST

START_TEST(refuses_bad_data)
{
    struct buf out = {0};
    /* Block type 3 is reserved. */
    ck_assert_int_eq(pmd_inflate_all((const uint8_t *)"\xff\xff\xff", 3, 1, 100, &out),
                     PMD_INFLATE_BAD);
    buf_reset(&out);
    /* A stored block whose length and its complement disagree. */
    static const uint8_t stored[] = {0x00, 0x05, 0x00, 0x00, 0x00, 'H', 'e', 'l', 'l', 'o'};
    ck_assert_int_eq(pmd_inflate_all(stored, sizeof(stored), 4, 100, &out), PMD_INFLATE_BAD);
    buf_reset(&out);

    /* A message compressed against a dictionary (as if the context were taken over from an
     * earlier one, which client_no_context_takeover forbids) reaches before its start. */
    static const char dict[] = "the quick brown fox jumps over the lazy dog";
    z_stream zs = {0};
    ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    ck_assert_int_eq(deflateSetDictionary(&zs, (const Bytef *)dict, sizeof(dict) - 1), Z_OK);
    uint8_t z[256];
    zs.next_in = (Bytef *)"the lazy dog";
    zs.avail_in = 12;
    zs.next_out = z;
    zs.avail_out = sizeof(z);
    ck_assert_int_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
    size_t n = sizeof(z) - zs.avail_out - PMD_TAIL_LEN;
    deflateEnd(&zs);
    ck_assert_int_eq(pmd_inflate_all(z, n, n, 100, &out), PMD_INFLATE_BAD);
    buf_free(&out);
}
END_TEST

START_TEST(ignores_bytes_after_the_end)
{
    /* 7.2.3.4's final block, then bytes that are not deflate: the stream had ended. */
    static const uint8_t ex[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xff, 0xff, 0xff};
    struct buf out = {0};
    ck_assert_int_eq(pmd_inflate_all(ex, sizeof(ex), 1, 100, &out), PMD_INFLATE_OK);
    ck_assert_str_eq(out.p, "Hello");
    buf_free(&out);
}
END_TEST

START_TEST(keeps_one_spare_inflater)
{
    struct pmd_inflater *a = pmd_inflater_take();
    struct pmd_inflater *b = pmd_inflater_take();
    ck_assert_ptr_ne(a, b);
    /* a is left mid-message: the next one taken must not inherit that. */
    static const uint8_t half[] = {0xf2, 0x48, 0xcd};
    struct buf out = {0};
    ck_assert_int_eq(pmd_inflate(a, half, sizeof(half), &out, 100), PMD_INFLATE_OK);
    pmd_inflater_give(a);
    pmd_inflater_give(b); /* freed: a is the spare */
    struct pmd_inflater *c = pmd_inflater_take();
    ck_assert_ptr_eq(c, a);
    buf_reset(&out);
    static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    ck_assert_int_eq(pmd_inflate(c, hello, sizeof(hello), &out, 100), PMD_INFLATE_OK);
    ck_assert_int_eq(pmd_inflate(c, pmd_tail, PMD_TAIL_LEN, &out, 100), PMD_INFLATE_OK);
    ck_assert_str_eq(out.p, "Hello");
    pmd_inflater_give(c);
    pmd_inflater_give(NULL);
    pmd_release();
    buf_free(&out);
}
END_TEST

static Suite *pmd_suite(void)
{
    Suite *s = suite_create("pmd");
    TCase *tc = tcase_create("negotiate");
    tcase_add_test(tc, accepts_offers);
    tcase_add_test(tc, declines_offers);
    tcase_add_test(tc, refuses_non_lists);
    suite_add_tcase(s, tc);

    tc = tcase_create("codec");
    tcase_set_timeout(tc, 60); /* the bomb, under valgrind */
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, deflate_needs_room_and_a_window);
    tcase_add_test(tc, inflates_rfc_examples);
    tcase_add_test(tc, stops_a_bomb);
    tcase_add_test(tc, refuses_bad_data);
    tcase_add_test(tc, ignores_bytes_after_the_end);
    tcase_add_test(tc, keeps_one_spare_inflater);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(pmd_suite)
