/* Unit tests for src/auth.c: HS256 token verification, identities and object grants. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "base64.h"
#include "buf.h"
#include "json.h"
#include "unit.h"

#define NOW 1700000000LL
#define SECRET "objcast-test-secret"

static const struct auth_secret secret = {SECRET, sizeof(SECRET) - 1};

/*
 * A token built outside objcast: header {"alg":"HS256","typ":"JWT"}, payload
 * {"sub":"42","ws":7,"exp":4102444800}, signed with SECRET. The signature was computed once with
 *   printf '%s' "$H.$P" | openssl dgst -sha256 -hmac objcast-test-secret -binary
 * and checked with Python's hmac module; as hex it is
 *   8fb022be5fec17762f9b14d997d56e1e5320f1398a65aab27aefb5284b3dc52e
 */
#define KAT_HEADER "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define KAT_PAYLOAD "eyJzdWIiOiI0MiIsIndzIjo3LCJleHAiOjQxMDI0NDQ4MDB9"
#define KAT_SIG "j7Aivl_sF3YvmxTZl9VuHlMg8TmKZaqyeu-1KEs9xS4"
#define KAT_CLAIMS "{\"sub\":\"42\",\"ws\":7,\"exp\":4102444800}"
static const char kat_token[] = KAT_HEADER "." KAT_PAYLOAD "." KAT_SIG;

static const uint8_t kat_mac[32] = {
    0x8f, 0xb0, 0x22, 0xbe, 0x5f, 0xec, 0x17, 0x76, 0x2f, 0x9b, 0x14, 0xd9, 0x97, 0xd5, 0x6e, 0x1e,
    0x53, 0x20, 0xf1, 0x39, 0x8a, 0x65, 0xaa, 0xb2, 0x7a, 0xef, 0xb5, 0x28, 0x4b, 0x3d, 0xc5, 0x2e,
};

/* base64url of n bytes, malloc'd. */
static char *b64u(const void *data, size_t n)
{
    char *out = oc_malloc(BASE64_ENCODED_SIZE(n));
    base64url_encode(data, n, out);
    return out;
}

/* "h.p.sig" where sig is HMAC-SHA256 over the given texts, computed here with libcrypto and
 * not with auth.c, so that a bug in auth_jwt_sign cannot hide one in auth_jwt_verify. */
static char *sign_parts(const char *h_b64, const char *p_b64, const char *key, size_t keylen)
{
    struct buf in = {0};
    buf_printf(&in, "%s.%s", h_b64, p_b64);
    unsigned char mac[32];
    unsigned int maclen = 0;
    ck_assert_ptr_nonnull(
        HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)in.p, in.len, mac, &maclen));
    ck_assert_uint_eq(maclen, 32);
    char *sig = b64u(mac, sizeof(mac));
    buf_printf(&in, ".%s", sig);
    free(sig);
    return buf_detach(&in);
}

/* A correctly signed token (SECRET) with the given header and payload JSON texts. */
static char *make_token(const char *header, const char *payload)
{
    char *h = b64u(header, strlen(header));
    char *p = b64u(payload, strlen(payload));
    char *t = sign_parts(h, p, SECRET, strlen(SECRET));
    free(h);
    free(p);
    return t;
}

static struct json_value *verify(const char *token, long long now, const char **err)
{
    *err = NULL;
    return auth_jwt_verify(token, strlen(token), &secret, 1, now, err);
}

/* Asserts that token is refused with reason want. */
static void assert_refused(const char *token, const char *want)
{
    const char *err;
    struct json_value *c = verify(token, NOW, &err);
    ck_assert_msg(c == NULL, "token accepted, expected \"%s\": %.120s", want, token);
    ck_assert_ptr_nonnull(err);
    ck_assert_str_eq(err, want);
}

static void assert_accepted(const char *token)
{
    const char *err;
    struct json_value *c = verify(token, NOW, &err);
    ck_assert_msg(c != NULL, "token refused (%s): %.120s", err ? err : "?", token);
    json_free(c);
}

/* Signs header + payload (SECRET) and asserts the verdict; want NULL means accepted. */
static void check_token(const char *header, const char *payload, const char *want)
{
    char *t = make_token(header, payload);
    if (want)
        assert_refused(t, want);
    else
        assert_accepted(t);
    free(t);
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define VALID_CLAIMS "{\"sub\":\"u1\",\"ws\":1,\"exp\":1700000060}"

/* --- verification ------------------------------------------------------------------------- */

START_TEST(test_sign_then_verify)
{
    char *t = auth_jwt_sign(VALID_CLAIMS, SECRET, strlen(SECRET));
    /* objcast's own header, byte for byte, so other JWT libraries read our tokens. */
    ck_assert_int_eq(strncmp(t, KAT_HEADER ".", sizeof(KAT_HEADER)), 0);
    const char *err;
    struct json_value *c = verify(t, NOW, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(json_string(json_get(c, "sub")), "u1");
    json_free(c);
    free(t);
}
END_TEST

START_TEST(test_known_answer)
{
    /* The vector itself: libcrypto gives the bytes noted above, and they encode to KAT_SIG. */
    const char *input = KAT_HEADER "." KAT_PAYLOAD;
    unsigned char mac[32];
    unsigned int maclen = 0;
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
                               (const unsigned char *)input, strlen(input), mac, &maclen));
    ck_assert_uint_eq(maclen, 32);
    ck_assert_int_eq(memcmp(mac, kat_mac, 32), 0);
    char *sig = b64u(kat_mac, sizeof(kat_mac));
    ck_assert_str_eq(sig, KAT_SIG);
    free(sig);

    const char *err;
    struct json_value *c = verify(kat_token, NOW, &err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_str_eq(json_string(json_get(c, "sub")), "42");
    long long ws;
    ck_assert_int_eq(json_integer(json_get(c, "ws"), &ws), 0);
    ck_assert_int_eq(ws, 7);
    json_free(c);

    char *t = auth_jwt_sign(KAT_CLAIMS, SECRET, strlen(SECRET));
    ck_assert_str_eq(t, kat_token);
    free(t);

    t = sign_parts(KAT_HEADER, KAT_PAYLOAD, SECRET, strlen(SECRET));
    ck_assert_str_eq(t, kat_token);
    free(t);
}
END_TEST

START_TEST(test_tampered_payload)
{
    /* Same signature, payload claiming another user. */
    const char *other = "{\"sub\":\"43\",\"ws\":7,\"exp\":4102444800}";
    char *p = b64u(other, strlen(other));
    struct buf t = {0};
    buf_printf(&t, "%s.%s.%s", KAT_HEADER, p, KAT_SIG);
    assert_refused(t.p, "bad signature");
    free(p);

    /* One character of the original payload changed. */
    buf_reset(&t);
    buf_append_str(&t, kat_token);
    char *at = strstr(t.p, "iI0MiIs");
    ck_assert_ptr_nonnull(at);
    at[2] = '1';
    assert_refused(t.p, "bad signature");
    buf_free(&t);
}
END_TEST

START_TEST(test_tampered_signature)
{
    char t[sizeof(kat_token)];
    size_t sig_at = sizeof(KAT_HEADER) + sizeof(KAT_PAYLOAD);
    for (size_t i = sig_at; i + 1 < sizeof(kat_token); i += 7) {
        memcpy(t, kat_token, sizeof(t));
        t[i] = t[i] == 'A' ? 'B' : 'A';
        assert_refused(t, "bad signature");
    }
}
END_TEST

START_TEST(test_signature_noncanonical_bits)
{
    /* 43 characters carry 258 bits for 256: the last one, '4' (111000), has two unused zero
     * bits; '5' (111001) decodes to the same bytes in a lax decoder. */
    char t[sizeof(kat_token)];
    memcpy(t, kat_token, sizeof(t));
    ck_assert_int_eq(t[sizeof(t) - 2], '4');
    assert_accepted(t);
    t[sizeof(t) - 2] = '5';
    assert_refused(t, "malformed token");
    t[sizeof(t) - 2] = '7';
    assert_refused(t, "malformed token");
}
END_TEST

START_TEST(test_signature_length)
{
    /* A valid HMAC with a byte missing or one too many. */
    char *full = b64u(kat_mac, 32), *shorter = b64u(kat_mac, 31);
    uint8_t longer_mac[33];
    memcpy(longer_mac, kat_mac, 32);
    longer_mac[32] = 0;
    char *longer = b64u(longer_mac, 33);
    struct buf t = {0};
    buf_printf(&t, "%s.%s.%s", KAT_HEADER, KAT_PAYLOAD, shorter);
    assert_refused(t.p, "bad signature");
    buf_reset(&t);
    buf_printf(&t, "%s.%s.%s", KAT_HEADER, KAT_PAYLOAD, longer);
    assert_refused(t.p, "bad signature");
    buf_reset(&t);
    buf_printf(&t, "%s.%s.%s", KAT_HEADER, KAT_PAYLOAD, full);
    assert_accepted(t.p);
    buf_free(&t);
    free(full);
    free(shorter);
    free(longer);
}
END_TEST

START_TEST(test_alg_none_empty_signature)
{
    const char *h = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    char *hb = b64u(h, strlen(h));
    struct buf t = {0};
    buf_printf(&t, "%s.%s.", hb, KAT_PAYLOAD);
    assert_refused(t.p, "unsupported alg");
    /* Without the trailing dot it is not even three parts. */
    buf_reset(&t);
    buf_printf(&t, "%s.%s", hb, KAT_PAYLOAD);
    assert_refused(t.p, "malformed token");
    buf_free(&t);
    free(hb);
}
END_TEST

START_TEST(test_alg_none_with_signature)
{
    /* Correctly signed with the secret: only the alg is wrong. */
    check_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", VALID_CLAIMS, "unsupported alg");
    check_token("{\"alg\":\"None\"}", VALID_CLAIMS, "unsupported alg");
}
END_TEST

START_TEST(test_alg_other)
{
    check_token("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", VALID_CLAIMS, "unsupported alg");
    check_token("{\"alg\":\"HS384\"}", VALID_CLAIMS, "unsupported alg");
    check_token("{\"alg\":\"RS256\"}", VALID_CLAIMS, "unsupported alg");
    check_token("{\"alg\":\"HS256 \"}", VALID_CLAIMS, "unsupported alg");
    check_token("{\"alg\":\"\"}", VALID_CLAIMS, "unsupported alg");
}
END_TEST

START_TEST(test_alg_missing_or_not_string)
{
    check_token("{\"typ\":\"JWT\"}", VALID_CLAIMS, "unsupported alg");
    check_token("{}", VALID_CLAIMS, "unsupported alg");
    check_token("{\"alg\":256}", VALID_CLAIMS, "unsupported alg");
    check_token("{\"alg\":null}", VALID_CLAIMS, "unsupported alg");
    check_token("{\"alg\":[\"HS256\"]}", VALID_CLAIMS, "unsupported alg");
    /* Duplicate members: the last wins everywhere in objcast, so it decides here too. */
    check_token("{\"alg\":\"HS256\",\"alg\":\"none\"}", VALID_CLAIMS, "unsupported alg");
}
END_TEST

START_TEST(test_alg_lowercase)
{
    check_token("{\"alg\":\"hs256\",\"typ\":\"JWT\"}", VALID_CLAIMS, "unsupported alg");
    check_token("{\"alg\":\"Hs256\"}", VALID_CLAIMS, "unsupported alg");
}
END_TEST

START_TEST(test_header_typ_crit)
{
    check_token("{\"alg\":\"HS256\"}", VALID_CLAIMS, NULL);
    check_token("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", VALID_CLAIMS, NULL);
    check_token("{\"typ\":\"JWT\",\"alg\":\"HS256\",\"kid\":\"k1\"}", VALID_CLAIMS, NULL);
    check_token("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", VALID_CLAIMS, "unsupported typ");
    check_token("{\"alg\":\"HS256\",\"typ\":1}", VALID_CLAIMS, "unsupported typ");
    check_token("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", VALID_CLAIMS, "unsupported crit");
    check_token("{\"alg\":\"HS256\",\"crit\":[]}", VALID_CLAIMS, "unsupported crit");
}
END_TEST

START_TEST(test_expired)
{
    check_token(HS256, "{\"exp\":1700000000}", "token expired"); /* exp == now */
    check_token(HS256, "{\"exp\":1699999999}", "token expired");
    check_token(HS256, "{\"exp\":0}", "token expired");
    check_token(HS256, "{\"exp\":-1}", "token expired");
    check_token(HS256, "{\"exp\":1699999999.5}", "token expired");
    check_token(HS256, "{\"exp\":1700000001}", NULL);
    check_token(HS256, "{\"exp\":1700000000.5}", NULL);
    check_token(HS256, "{\"exp\":1.7000001e9}", NULL);
    check_token(HS256, "{\"exp\":1e30}", NULL);
}
END_TEST

START_TEST(test_nbf)
{
    check_token(HS256, "{\"exp\":1700000060,\"nbf\":1700000001}", "token not yet valid");
    check_token(HS256, "{\"exp\":1700000060,\"nbf\":1700000000.5}", "token not yet valid");
    check_token(HS256, "{\"exp\":1700000060,\"nbf\":1700000000}", NULL);
    check_token(HS256, "{\"exp\":1700000060,\"nbf\":1699999000}", NULL);
    check_token(HS256, "{\"exp\":1700000060,\"nbf\":\"0\"}", "invalid nbf");
    check_token(HS256, "{\"exp\":1700000060,\"nbf\":null}", "invalid nbf");
}
END_TEST

START_TEST(test_exp_missing_or_wrong_type)
{
    check_token(HS256, "{\"sub\":\"u1\",\"ws\":1}", "missing exp");
    check_token(HS256, "{}", "missing exp");
    check_token(HS256, "{\"exp\":\"1800000000\"}", "invalid exp");
    check_token(HS256, "{\"exp\":null}", "invalid exp");
    check_token(HS256, "{\"exp\":true}", "invalid exp");
    check_token(HS256, "{\"exp\":[1800000000]}", "invalid exp");
}
END_TEST

START_TEST(test_malformed_base64)
{
    const char *good = KAT_HEADER;
    struct buf h = {0};
    char *t;

    /* A foreign character in each part, the token otherwise signed over what it carries. */
    buf_printf(&h, "%.10s*%s", good, good + 11);
    t = sign_parts(h.p, KAT_PAYLOAD, SECRET, strlen(SECRET));
    assert_refused(t, "malformed token");
    free(t);
    buf_reset(&h);
    buf_printf(&h, "%s+", KAT_PAYLOAD);
    t = sign_parts(KAT_HEADER, h.p, SECRET, strlen(SECRET));
    assert_refused(t, "malformed token");
    free(t);
    buf_reset(&h);
    buf_printf(&h, "%s.%s.%.20s/%s", KAT_HEADER, KAT_PAYLOAD, KAT_SIG, &KAT_SIG[21]);
    assert_refused(h.p, "malformed token");
    buf_reset(&h);
    buf_printf(&h, "%s.%s.%s=", KAT_HEADER, KAT_PAYLOAD, KAT_SIG);
    assert_refused(h.p, "malformed token");

    /* Padding: {"alg":"HS256"} is 15 bytes (no padding), {"alg":"HS256" } 16 (two '='). */
    const char *hdr = "{\"alg\":\"HS256\" }";
    char *hb = b64u(hdr, strlen(hdr));
    ck_assert_uint_eq(strlen(hb) % 4, 2);
    buf_reset(&h);
    buf_printf(&h, "%s==", hb);
    t = sign_parts(h.p, KAT_PAYLOAD, SECRET, strlen(SECRET));
    assert_refused(t, "malformed token");
    free(t);
    t = sign_parts(hb, KAT_PAYLOAD, SECRET, strlen(SECRET));
    assert_accepted(t); /* the same header unpadded is fine */
    free(t);
    free(hb);

    /* A payload of 4k+1 characters cannot be base64. */
    buf_reset(&h);
    buf_printf(&h, "%sA", KAT_PAYLOAD);
    ck_assert_uint_eq(h.len % 4, 1);
    t = sign_parts(KAT_HEADER, h.p, SECRET, strlen(SECRET));
    assert_refused(t, "malformed token");
    free(t);
    buf_free(&h);
}
END_TEST

START_TEST(test_wrong_number_of_dots)
{
    assert_refused(KAT_HEADER, "malformed token");
    assert_refused(KAT_HEADER "." KAT_PAYLOAD, "malformed token");
    assert_refused(KAT_HEADER "." KAT_PAYLOAD "." KAT_SIG ".", "malformed token");
    assert_refused(KAT_HEADER "." KAT_PAYLOAD "." KAT_SIG "." KAT_SIG, "malformed token");
    assert_refused(KAT_HEADER "." KAT_PAYLOAD ".." KAT_SIG, "malformed token");
    assert_refused(KAT_HEADER ".." KAT_PAYLOAD "." KAT_SIG, "malformed token");
}
END_TEST

START_TEST(test_empty_parts)
{
    assert_refused("", "malformed token");
    assert_refused("..", "malformed token");
    assert_refused("." KAT_PAYLOAD "." KAT_SIG, "malformed token");
    assert_refused(KAT_HEADER ".." KAT_SIG, "malformed token");
    assert_refused(KAT_HEADER "." KAT_PAYLOAD ".", "bad signature");
    const char *err = NULL;
    ck_assert_ptr_null(auth_jwt_verify(NULL, 0, &secret, 1, NOW, &err));
    ck_assert_str_eq(err, "malformed token");
}
END_TEST

START_TEST(test_header_not_json)
{
    check_token("not json", VALID_CLAIMS, "malformed token");
    check_token("{\"alg\":\"HS256\"", VALID_CLAIMS, "malformed token");
    check_token("[\"HS256\"]", VALID_CLAIMS, "malformed token");
    check_token("\"HS256\"", VALID_CLAIMS, "malformed token");
    check_token("{\"alg\":\"HS256\"} {}", VALID_CLAIMS, "malformed token");
    check_token("{\"alg\":\"HS256\",\"x\":\"\xc3\x28\"}", VALID_CLAIMS, "malformed token");
}
END_TEST

START_TEST(test_payload_not_object)
{
    check_token(HS256, "[{\"exp\":1800000000}]", "claims not an object");
    check_token(HS256, "\"exp\"", "claims not an object");
    check_token(HS256, "1800000000", "claims not an object");
    check_token(HS256, "null", "claims not an object");
    check_token(HS256, "{\"exp\":1800000000", "malformed token");
    check_token(HS256, "{\"exp\":1800000000,\"name\":\"\xff\"}", "malformed token");
}
END_TEST

/* {"exp":1800000000,"a": followed by levels-1 nested arrays: levels of nesting in all. */
static char *nested_claims(int levels)
{
    struct buf b = {0};
    buf_append_str(&b, "{\"exp\":1800000000,\"a\":");
    for (int i = 1; i < levels; i++)
        buf_append_char(&b, '[');
    for (int i = 1; i < levels; i++)
        buf_append_char(&b, ']');
    buf_append_char(&b, '}');
    return buf_detach(&b);
}

START_TEST(test_deep_nesting)
{
    char *ok = nested_claims(JSON_MAX_DEPTH), *deep = nested_claims(JSON_MAX_DEPTH + 1);
    char *very = nested_claims(2000);
    check_token(HS256, ok, NULL);
    check_token(HS256, deep, "malformed token");
    check_token(HS256, very, "malformed token");
    free(ok);
    free(deep);
    free(very);
}
END_TEST

START_TEST(test_token_too_long)
{
    /* Grow a signed token until it is exactly 8192 bytes: accepted. One more: refused. */
    struct buf claims = {0};
    char *t = NULL;
    size_t pad = 0;
    for (;;) {
        buf_reset(&claims);
        buf_printf(&claims, "{\"exp\":1800000000,\"pad\":\"%0*d\"}", (int)pad, 0);
        free(t);
        t = make_token(HS256, claims.p);
        if (strlen(t) >= 8192)
            break;
        pad++;
    }
    ck_assert_uint_eq(strlen(t), 8192);
    assert_accepted(t);
    buf_reset(&claims);
    buf_printf(&claims, "{\"exp\":1800000000,\"pad\":\"%0*d\"}", (int)pad + 1, 0);
    free(t);
    t = make_token(HS256, claims.p);
    ck_assert_uint_gt(strlen(t), 8192);
    assert_refused(t, "token too long");
    free(t);

    /* The cap comes first: a megabyte of garbage is not even split. */
    size_t n = 1 << 20;
    char *junk = oc_malloc(n + 1);
    memset(junk, '.', n);
    junk[n] = '\0';
    assert_refused(junk, "token too long");
    free(junk);
    buf_free(&claims);
}
END_TEST

START_TEST(test_secret_rotation)
{
    const struct auth_secret two[] = {{"new-secret", 10}, {"old-secret", 10}};
    const char *err;
    char *t_old = auth_jwt_sign(VALID_CLAIMS, "old-secret", 10);
    char *t_new = auth_jwt_sign(VALID_CLAIMS, "new-secret", 10);
    char *t_other = auth_jwt_sign(VALID_CLAIMS, "gone-secret", 11);

    struct json_value *c = auth_jwt_verify(t_old, strlen(t_old), two, 2, NOW, &err);
    ck_assert_msg(c != NULL, "%s", err);
    json_free(c);
    c = auth_jwt_verify(t_new, strlen(t_new), two, 2, NOW, &err);
    ck_assert_msg(c != NULL, "%s", err);
    json_free(c);
    err = NULL;
    ck_assert_ptr_null(auth_jwt_verify(t_other, strlen(t_other), two, 2, NOW, &err));
    ck_assert_str_eq(err, "bad signature");
    /* Only the first secret configured: the old token is no longer good. */
    err = NULL;
    ck_assert_ptr_null(auth_jwt_verify(t_old, strlen(t_old), two, 1, NOW, &err));
    ck_assert_str_eq(err, "bad signature");
    err = NULL;
    ck_assert_ptr_null(auth_jwt_verify(t_new, strlen(t_new), two, 0, NOW, &err));
    ck_assert_str_eq(err, "bad signature");
    free(t_old);
    free(t_new);
    free(t_other);
}
END_TEST

START_TEST(test_wrong_secret)
{
    const struct auth_secret wrong[] = {
        {"objcast-test-secreT", sizeof(SECRET) - 1},
        {SECRET, sizeof(SECRET) - 2}, /* a prefix of the right one */
        {SECRET "x", sizeof(SECRET)},
    };
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        const char *err = NULL;
        ck_assert_ptr_null(auth_jwt_verify(kat_token, strlen(kat_token), &wrong[i], 1, NOW, &err));
        ck_assert_str_eq(err, "bad signature");
    }
}
END_TEST

START_TEST(test_secret_bytes)
{
    /* Secrets are byte strings: an embedded NUL counts, and the empty secret is a key. */
    const struct auth_secret a = {"k\0a", 3}, b = {"k\0b", 3}, empty = {"", 0};
    const char *err;
    char *t = auth_jwt_sign(VALID_CLAIMS, "k\0a", 3);
    struct json_value *c = auth_jwt_verify(t, strlen(t), &a, 1, NOW, &err);
    ck_assert_ptr_nonnull(c);
    json_free(c);
    ck_assert_ptr_null(auth_jwt_verify(t, strlen(t), &b, 1, NOW, &err));
    free(t);

    t = auth_jwt_sign(VALID_CLAIMS, "", 0);
    char *p = b64u(VALID_CLAIMS, strlen(VALID_CLAIMS));
    char *t2 = sign_parts(KAT_HEADER, p, "", 0);
    free(p);
    ck_assert_str_eq(t, t2);
    c = auth_jwt_verify(t, strlen(t), &empty, 1, NOW, &err);
    ck_assert_ptr_nonnull(c);
    json_free(c);
    ck_assert_ptr_null(auth_jwt_verify(t, strlen(t), &secret, 1, NOW, &err));
    free(t);
    free(t2);
}
END_TEST

START_TEST(test_length_respected)
{
    /* Bytes after len are not part of the token. */
    char buf[sizeof(kat_token) + 8];
    memcpy(buf, kat_token, sizeof(kat_token) - 1);
    memcpy(buf + sizeof(kat_token) - 1, ".junk", 6);
    const char *err;
    struct json_value *c = auth_jwt_verify(buf, sizeof(kat_token) - 1, &secret, 1, NOW, &err);
    ck_assert_ptr_nonnull(c);
    json_free(c);
    err = NULL;
    ck_assert_ptr_null(auth_jwt_verify(buf, sizeof(kat_token) - 2, &secret, 1, NOW, &err));
    ck_assert_ptr_nonnull(err);
}
END_TEST

/* --- identity ----------------------------------------------------------------------------- */

static struct json_value *claims(const char *text)
{
    const char *err = NULL;
    struct json_value *c = json_parse(text, strlen(text), &err);
    ck_assert_msg(c != NULL, "test claims do not parse (%s): %s", err, text);
    return c;
}

static struct identity *identity_of(const char *text, const char **err)
{
    struct json_value *c = claims(text);
    *err = NULL;
    struct identity *id = auth_identity_new(c, err);
    json_free(c); /* the identity must own copies */
    return id;
}

static void assert_identity_refused(const char *text, const char *want)
{
    const char *err;
    struct identity *id = identity_of(text, &err);
    ck_assert_msg(id == NULL, "identity accepted, expected \"%s\": %s", want, text);
    ck_assert_str_eq(err, want);
}

START_TEST(test_identity_string_sub)
{
    const char *err;
    struct identity *id = identity_of(
        "{\"sub\":\"123\",\"ws\":\"987\",\"name\":\"Ann\",\"avatarUrl\":\"https://a/b.png\","
        "\"language\":\"ja\",\"email\":\"ann@example.com\",\"visitor\":true,\"exp\":1700000060}",
        &err);
    ck_assert_msg(id != NULL, "%s", err);
    ck_assert_str_eq(id->user_json, "\"123\"");
    ck_assert_str_eq(id->user_key, "123");
    ck_assert_str_eq(id->ws_json, "\"987\"");
    ck_assert_str_eq(id->ws_key, "987");
    ck_assert_str_eq(id->name, "Ann");
    ck_assert_str_eq(id->avatar_url, "https://a/b.png");
    ck_assert_str_eq(id->language, "ja");
    ck_assert_str_eq(id->email, "ann@example.com");
    ck_assert_int_eq(id->visitor, 1);
    ck_assert_int_eq(id->exp, 1700000060);
    identity_free(id);
}
END_TEST

START_TEST(test_identity_integer_sub)
{
    const char *err;
    struct identity *id = identity_of("{\"sub\":123,\"ws\":987,\"exp\":1700000060}", &err);
    ck_assert_msg(id != NULL, "%s", err);
    ck_assert_str_eq(id->user_json, "123");
    ck_assert_str_eq(id->user_key, "123");
    ck_assert_str_eq(id->ws_json, "987");
    ck_assert_str_eq(id->ws_key, "987");
    identity_free(id);

    id = identity_of("{\"sub\":-5,\"ws\":0,\"exp\":1}", &err);
    ck_assert_msg(id != NULL, "%s", err);
    ck_assert_str_eq(id->user_json, "-5");
    ck_assert_str_eq(id->ws_key, "0");
    identity_free(id);

    id = identity_of("{\"sub\":9223372036854775807,\"ws\":1,\"exp\":1}", &err);
    ck_assert_msg(id != NULL, "%s", err);
    ck_assert_str_eq(id->user_key, "9223372036854775807");
    identity_free(id);
}
END_TEST

START_TEST(test_identity_normalised_number)
{
    /* 1e3 and 12.0 are integers written oddly: keys must not depend on the spelling. */
    const char *err;
    struct identity *id = identity_of("{\"sub\":1e3,\"ws\":12.0,\"exp\":1}", &err);
    ck_assert_msg(id != NULL, "%s", err);
    ck_assert_str_eq(id->user_json, "1000");
    ck_assert_str_eq(id->user_key, "1000");
    ck_assert_str_eq(id->ws_json, "12");
    ck_assert_str_eq(id->ws_key, "12");
    identity_free(id);
}
END_TEST

START_TEST(test_identity_float_sub_refused)
{
    assert_identity_refused("{\"sub\":1.5,\"ws\":1,\"exp\":1}", "invalid sub");
    assert_identity_refused("{\"sub\":1e30,\"ws\":1,\"exp\":1}", "invalid sub");
    assert_identity_refused("{\"sub\":1,\"ws\":0.25,\"exp\":1}", "invalid ws");
}
END_TEST

START_TEST(test_identity_missing)
{
    assert_identity_refused("{\"ws\":1,\"exp\":1}", "missing sub");
    assert_identity_refused("{\"sub\":\"a\",\"exp\":1}", "missing ws");
    assert_identity_refused("{\"sub\":\"a\",\"ws\":1}", "missing exp");
    assert_identity_refused("[1]", "claims not an object");
}
END_TEST

START_TEST(test_identity_empty_ids)
{
    assert_identity_refused("{\"sub\":\"\",\"ws\":1,\"exp\":1}", "invalid sub");
    assert_identity_refused("{\"sub\":\"a\",\"ws\":\"\",\"exp\":1}", "invalid ws");
}
END_TEST

START_TEST(test_identity_defaults)
{
    const char *err;
    struct identity *id = identity_of("{\"sub\":\"a\",\"ws\":1,\"exp\":1700000060}", &err);
    ck_assert_msg(id != NULL, "%s", err);
    ck_assert_ptr_nonnull(id->name);
    ck_assert_str_eq(id->name, "");
    ck_assert_ptr_nonnull(id->avatar_url);
    ck_assert_str_eq(id->avatar_url, "");
    ck_assert_ptr_null(id->language);
    ck_assert_ptr_null(id->email);
    ck_assert_int_eq(id->visitor, 0);
    identity_free(id);

    id = identity_of("{\"sub\":\"a\",\"ws\":1,\"exp\":1,\"visitor\":false}", &err);
    ck_assert_msg(id != NULL, "%s", err);
    ck_assert_int_eq(id->visitor, 0);
    identity_free(id);

    id = identity_of("{\"sub\":\"a\",\"ws\":1,\"exp\":1,\"visitor\":true,\"name\":\"\"}", &err);
    ck_assert_msg(id != NULL, "%s", err);
    ck_assert_int_eq(id->visitor, 1);
    ck_assert_str_eq(id->name, "");
    identity_free(id);
}
END_TEST

START_TEST(test_identity_wrong_types)
{
    assert_identity_refused("{\"sub\":true,\"ws\":1,\"exp\":1}", "invalid sub");
    assert_identity_refused("{\"sub\":null,\"ws\":1,\"exp\":1}", "invalid sub");
    assert_identity_refused("{\"sub\":{},\"ws\":1,\"exp\":1}", "invalid sub");
    assert_identity_refused("{\"sub\":[\"a\"],\"ws\":1,\"exp\":1}", "invalid sub");
    assert_identity_refused("{\"sub\":\"a\",\"ws\":false,\"exp\":1}", "invalid ws");
    assert_identity_refused("{\"sub\":\"a\",\"ws\":1,\"exp\":1,\"name\":5}", "invalid name");
    assert_identity_refused("{\"sub\":\"a\",\"ws\":1,\"exp\":1,\"name\":null}", "invalid name");
    assert_identity_refused("{\"sub\":\"a\",\"ws\":1,\"exp\":1,\"avatarUrl\":[]}",
                            "invalid avatarUrl");
    assert_identity_refused("{\"sub\":\"a\",\"ws\":1,\"exp\":1,\"language\":1}",
                            "invalid language");
    assert_identity_refused("{\"sub\":\"a\",\"ws\":1,\"exp\":1,\"email\":{}}", "invalid email");
    assert_identity_refused("{\"sub\":\"a\",\"ws\":1,\"exp\":1,\"visitor\":\"true\"}",
                            "invalid visitor");
    assert_identity_refused("{\"sub\":\"a\",\"ws\":1,\"exp\":1,\"visitor\":1}", "invalid visitor");
    assert_identity_refused("{\"sub\":\"a\",\"ws\":1,\"exp\":\"1\"}", "invalid exp");
}
END_TEST

START_TEST(test_identity_unicode_and_quotes)
{
    /* JSON escapes in, raw UTF-8 out; user_json must parse back to the same string. */
    const char *err;
    struct identity *id =
        identity_of("{\"sub\":\"a\\\"b\\\\c\\u00e9\",\"ws\":\"w\\n1\",\"exp\":1,"
                    "\"name\":\"Zo\\u00eb \\\"Z\\\" \xe6\x97\xa5\xe6\x9c\xac \\ud83d\\ude00\\t\"}",
                    &err);
    ck_assert_msg(id != NULL, "%s", err);
    ck_assert_str_eq(id->name, "Zo\xc3\xab \"Z\" \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\t");
    ck_assert_str_eq(id->user_key, "a\"b\\c\xc3\xa9");
    ck_assert_str_eq(id->user_json, "\"a\\\"b\\\\c\xc3\xa9\"");
    ck_assert_str_eq(id->ws_key, "w\n1");
    ck_assert_str_eq(id->ws_json, "\"w\\n1\"");
    struct json_value *back = claims(id->user_json);
    ck_assert_str_eq(json_string(back), id->user_key);
    json_free(back);
    identity_free(id);
}
END_TEST

START_TEST(test_identity_exp)
{
    const char *err;
    struct identity *id = identity_of("{\"sub\":\"a\",\"ws\":1,\"exp\":1700000000.9}", &err);
    ck_assert_msg(id != NULL, "%s", err);
    ck_assert_int_eq(id->exp, 1700000000);
    identity_free(id);
    id = identity_of("{\"sub\":\"a\",\"ws\":1,\"exp\":1.7e9}", &err);
    ck_assert_msg(id != NULL, "%s", err);
    ck_assert_int_eq(id->exp, 1700000000);
    identity_free(id);
    id = identity_of("{\"sub\":\"a\",\"ws\":1,\"exp\":1e30}", &err);
    ck_assert_msg(id != NULL, "%s", err);
    ck_assert(id->exp == 9223372036854775807LL);
    identity_free(id);
}
END_TEST

START_TEST(test_identity_from_verified_token)
{
    const char *err;
    struct json_value *c = verify(kat_token, NOW, &err);
    ck_assert_ptr_nonnull(c);
    struct identity *id = auth_identity_new(c, &err);
    json_free(c);
    ck_assert_msg(id != NULL, "%s", err);
    ck_assert_str_eq(id->user_json, "\"42\"");
    ck_assert_str_eq(id->ws_json, "7");
    ck_assert_int_eq(id->exp, 4102444800LL);
    identity_free(id);
    identity_free(NULL);
}
END_TEST

/* --- object grants ------------------------------------------------------------------------ */

static int grant_of(const char *text, struct object_grant *g, const char **err)
{
    struct json_value *c = claims(text);
    *err = NULL;
    int rc = auth_object_grant(c, g, err);
    json_free(c);
    return rc;
}

static void assert_grant_refused(const char *text, const char *want)
{
    struct object_grant g;
    const char *err;
    ck_assert_msg(grant_of(text, &g, &err) == -1, "grant accepted: %s", text);
    ck_assert_str_eq(err, want);
    /* A refused grant holds nothing; clearing it again is harmless. */
    ck_assert_ptr_null(g.user_key);
    ck_assert_ptr_null(g.object_id);
    ck_assert_ptr_null(g.object_type);
    object_grant_clear(&g);
}

START_TEST(test_grant_all_fields)
{
    struct object_grant g;
    const char *err;
    ck_assert_int_eq(grant_of("{\"sub\":\"u1\",\"ws\":\"acme\",\"obj\":\"L1\","
                              "\"objectType\":\"dynamic\",\"host\":true,\"exp\":1}",
                              &g, &err),
                     0);
    ck_assert_str_eq(g.user_key, "u1");
    ck_assert_str_eq(g.ws_key, "acme");
    ck_assert_str_eq(g.object_id, "L1");
    ck_assert_str_eq(g.object_type, "dynamic");
    ck_assert_int_eq(g.host, 1);
    object_grant_clear(&g);
    ck_assert_ptr_null(g.user_key);

    ck_assert_int_eq(
        grant_of("{\"sub\":123,\"ws\":987,\"obj\":7,\"objectType\":\"static\",\"host\":false}",
                 &g, &err),
        0);
    ck_assert_str_eq(g.user_key, "123");
    ck_assert_str_eq(g.ws_key, "987");
    ck_assert_str_eq(g.object_id, "7");
    ck_assert_str_eq(g.object_type, "static");
    ck_assert_int_eq(g.host, 0);
    object_grant_clear(&g);
}
END_TEST

START_TEST(test_grant_defaults)
{
    struct object_grant g;
    const char *err;
    ck_assert_int_eq(grant_of("{\"sub\":\"u1\",\"ws\":1,\"obj\":\"L1\"}", &g, &err), 0);
    ck_assert_ptr_null(g.object_type);
    ck_assert_int_eq(g.host, 0);
    object_grant_clear(&g);
}
END_TEST

START_TEST(test_grant_missing)
{
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":1,\"objectType\":\"static\"}", "missing obj");
    assert_grant_refused("{\"ws\":1,\"obj\":\"L1\"}", "missing sub");
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":1,\"obj\":\"\"}", "invalid obj");
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":1,\"obj\":null}", "invalid obj");
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":1,\"obj\":1.5}", "invalid obj");
    assert_grant_refused("{\"sub\":false,\"ws\":1,\"obj\":\"L1\"}", "invalid sub");
    assert_grant_refused("\"L1\"", "claims not an object");
}
END_TEST

START_TEST(test_grant_bad_object_type)
{
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":1,\"obj\":\"L1\",\"objectType\":\"Static\"}",
                         "invalid objectType");
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":1,\"obj\":\"L1\",\"objectType\":\"\"}",
                         "invalid objectType");
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":1,\"obj\":\"L1\",\"objectType\":1}", "invalid objectType");
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":1,\"obj\":\"L1\",\"objectType\":null}",
                         "invalid objectType");
}
END_TEST

START_TEST(test_grant_host_not_boolean)
{
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":1,\"obj\":\"L1\",\"host\":\"true\"}", "invalid host");
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":1,\"obj\":\"L1\",\"host\":1}", "invalid host");
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":1,\"obj\":\"L1\",\"host\":null}", "invalid host");
}
END_TEST

/* An object token names its workspace: without "ws" a token for L1 would make its holder
 * host of L1 in every workspace. */
START_TEST(test_grant_ws_required)
{
    assert_grant_refused("{\"sub\":\"u1\",\"obj\":\"L1\",\"host\":true}", "missing ws");
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":\"\",\"obj\":\"L1\"}", "invalid ws");
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":null,\"obj\":\"L1\"}", "invalid ws");
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":9.5,\"obj\":\"L1\"}", "invalid ws");
    assert_grant_refused("{\"sub\":\"u1\",\"ws\":[1],\"obj\":\"L1\"}", "invalid ws");
}
END_TEST

/* Checks grant claims g_text against the identity of id_text on object_id; returns the
 * refusal reason or NULL. */
static const char *grant_check(const char *g_text, const char *id_text, const char *object_id)
{
    struct object_grant g;
    const char *err = NULL;
    struct identity *id = identity_of(id_text, &err);
    ck_assert_msg(id != NULL, "identity refused: %s", err);
    ck_assert_int_eq(grant_of(g_text, &g, &err), 0);
    err = NULL;
    int rc = auth_object_grant_check(&g, id, object_id, &err);
    ck_assert_int_eq(rc, err ? -1 : 0);
    object_grant_clear(&g);
    identity_free(id);
    return err;
}

START_TEST(test_grant_check_workspace)
{
    const char *user987 = "{\"sub\":\"u1\",\"ws\":987,\"exp\":100}";
    const char *user_s987 = "{\"sub\":\"u1\",\"ws\":\"987\",\"exp\":100}";
    /* Same workspace, integer or string on either side. */
    ck_assert_ptr_null(grant_check("{\"sub\":\"u1\",\"ws\":987,\"obj\":\"L1\"}", user987, "L1"));
    ck_assert_ptr_null(grant_check("{\"sub\":\"u1\",\"ws\":\"987\",\"obj\":\"L1\"}", user987, "L1"));
    ck_assert_ptr_null(grant_check("{\"sub\":\"u1\",\"ws\":987,\"obj\":\"L1\"}", user_s987, "L1"));
    ck_assert_ptr_null(grant_check("{\"sub\":\"u1\",\"ws\":9.87e2,\"obj\":\"L1\"}", user_s987, "L1"));
    /* Another workspace: refused, whatever else matches. */
    ck_assert_str_eq(grant_check("{\"sub\":\"u1\",\"ws\":988,\"obj\":\"L1\",\"host\":true}",
                                 user987, "L1"),
                     "objectToken is for another workspace");
    ck_assert_str_eq(grant_check("{\"sub\":\"u1\",\"ws\":\"0987\",\"obj\":\"L1\"}", user987, "L1"),
                     "objectToken is for another workspace");
    ck_assert_str_eq(grant_check("{\"sub\":\"u1\",\"ws\":\"987 \",\"obj\":\"L1\"}", user_s987, "L1"),
                     "objectToken is for another workspace");
    /* The other claims are still checked. */
    ck_assert_str_eq(grant_check("{\"sub\":\"u2\",\"ws\":987,\"obj\":\"L1\"}", user987, "L1"),
                     "objectToken is for another user");
    ck_assert_str_eq(grant_check("{\"sub\":\"u1\",\"ws\":987,\"obj\":\"L2\"}", user987, "L1"),
                     "objectToken is for another object");
}
END_TEST

/* --- refresh ------------------------------------------------------------------------------- */

/* Refreshes the identity of cur_text with next_text; returns the reason or NULL, and the
 * resulting exp in *exp. */
static const char *refresh(const char *cur_text, const char *next_text, long long *exp)
{
    const char *err = NULL;
    struct identity *cur = identity_of(cur_text, &err);
    struct identity *next = identity_of(next_text, &err);
    ck_assert_ptr_nonnull(cur);
    ck_assert_ptr_nonnull(next);
    err = NULL;
    int rc = auth_identity_refresh(cur, next, &err);
    ck_assert_int_eq(rc, err ? -1 : 0);
    *exp = cur->exp;
    /* Whatever happened, the user, the workspace and the shown claims stay the first token's. */
    ck_assert_str_eq(cur->user_key, "u1");
    ck_assert_str_eq(cur->name, "Ann");
    identity_free(cur);
    identity_free(next);
    return err;
}

START_TEST(test_identity_refresh)
{
    const char *cur = "{\"sub\":\"u1\",\"ws\":987,\"name\":\"Ann\",\"exp\":100}";
    long long exp;
    ck_assert_ptr_null(refresh(cur, "{\"sub\":\"u1\",\"ws\":987,\"name\":\"Ann\",\"exp\":160}", &exp));
    ck_assert_int_eq(exp, 160);
    /* String forms compare: "987" is workspace 987; a new name does not rename the user. */
    ck_assert_ptr_null(refresh(cur, "{\"sub\":\"u1\",\"ws\":\"987\",\"name\":\"Bob\",\"exp\":101}", &exp));
    ck_assert_int_eq(exp, 101);

    ck_assert_str_eq(refresh(cur, "{\"sub\":\"u2\",\"ws\":987,\"exp\":160}", &exp),
                     "the new token is for another user");
    ck_assert_int_eq(exp, 100);
    ck_assert_str_eq(refresh(cur, "{\"sub\":\"u1\",\"ws\":988,\"exp\":160}", &exp),
                     "the new token is for another workspace");
    ck_assert_int_eq(exp, 100);
    ck_assert_str_eq(refresh(cur, "{\"sub\":\"u1\",\"ws\":987,\"exp\":100}", &exp),
                     "the new token does not expire later than the current one");
    ck_assert_str_eq(refresh(cur, "{\"sub\":\"u1\",\"ws\":987,\"exp\":99}", &exp),
                     "the new token does not expire later than the current one");
    ck_assert_int_eq(exp, 100);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");

    TCase *tc = tcase_create("verify");
    tcase_add_test(tc, test_sign_then_verify);
    tcase_add_test(tc, test_known_answer);
    tcase_add_test(tc, test_tampered_payload);
    tcase_add_test(tc, test_tampered_signature);
    tcase_add_test(tc, test_signature_noncanonical_bits);
    tcase_add_test(tc, test_signature_length);
    tcase_add_test(tc, test_alg_none_empty_signature);
    tcase_add_test(tc, test_alg_none_with_signature);
    tcase_add_test(tc, test_alg_other);
    tcase_add_test(tc, test_alg_missing_or_not_string);
    tcase_add_test(tc, test_alg_lowercase);
    tcase_add_test(tc, test_header_typ_crit);
    tcase_add_test(tc, test_expired);
    tcase_add_test(tc, test_nbf);
    tcase_add_test(tc, test_exp_missing_or_wrong_type);
    tcase_add_test(tc, test_malformed_base64);
    tcase_add_test(tc, test_wrong_number_of_dots);
    tcase_add_test(tc, test_empty_parts);
    tcase_add_test(tc, test_header_not_json);
    tcase_add_test(tc, test_payload_not_object);
    tcase_add_test(tc, test_deep_nesting);
    tcase_add_test(tc, test_token_too_long);
    tcase_add_test(tc, test_secret_rotation);
    tcase_add_test(tc, test_wrong_secret);
    tcase_add_test(tc, test_secret_bytes);
    tcase_add_test(tc, test_length_respected);
    suite_add_tcase(s, tc);

    tc = tcase_create("identity");
    tcase_add_test(tc, test_identity_string_sub);
    tcase_add_test(tc, test_identity_integer_sub);
    tcase_add_test(tc, test_identity_normalised_number);
    tcase_add_test(tc, test_identity_float_sub_refused);
    tcase_add_test(tc, test_identity_missing);
    tcase_add_test(tc, test_identity_empty_ids);
    tcase_add_test(tc, test_identity_defaults);
    tcase_add_test(tc, test_identity_wrong_types);
    tcase_add_test(tc, test_identity_unicode_and_quotes);
    tcase_add_test(tc, test_identity_exp);
    tcase_add_test(tc, test_identity_from_verified_token);
    suite_add_tcase(s, tc);

    tc = tcase_create("object_grant");
    tcase_add_test(tc, test_grant_all_fields);
    tcase_add_test(tc, test_grant_defaults);
    tcase_add_test(tc, test_grant_missing);
    tcase_add_test(tc, test_grant_bad_object_type);
    tcase_add_test(tc, test_grant_host_not_boolean);
    tcase_add_test(tc, test_grant_ws_required);
    tcase_add_test(tc, test_grant_check_workspace);
    tcase_add_test(tc, test_identity_refresh);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(auth_suite)
