/*
 * permessage-deflate negotiation (src/pmd.c): the offers of RFC 7692's examples and what
 * browsers send are accepted with server_no_context_takeover and client_no_context_takeover;
 * an offer the RFC says to decline is skipped for the next one; a header that is not an
 * extension list accepts nothing.
 */
#include <stdio.h>
#include <string.h>

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

static Suite *pmd_suite(void)
{
    Suite *s = suite_create("pmd");
    TCase *tc = tcase_create("negotiate");
    tcase_add_test(tc, accepts_offers);
    tcase_add_test(tc, declines_offers);
    tcase_add_test(tc, refuses_non_lists);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(pmd_suite)
