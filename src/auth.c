#include "auth.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base64.h"
#include "buf.h"

/* A connection token is a few hundred bytes; anything near this is abuse, and the cap bounds
 * the work (and the allocation) an unauthenticated client can cause. */
#define AUTH_MAX_TOKEN 8192

#define HS256_LEN 32 /* bytes of an HMAC-SHA256 tag */

/* The only header objcast ever writes; verification does not depend on its exact text. */
static const char jwt_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/* HMAC-SHA256 of data with key into out (HS256_LEN bytes). Returns 0, or -1 when libcrypto
 * fails (out of memory, broken provider). */
static int hs256(const void *key, size_t keylen, const void *data, size_t n, unsigned char *out)
{
    unsigned int outlen = 0;
    /* libcrypto versions disagree on what a NULL key means; an empty secret is passed as a
     * real pointer so that it is just an empty key. */
    static const unsigned char empty;
    if (keylen > INT_MAX)
        return -1;
    if (!HMAC(EVP_sha256(), key ? key : &empty, (int)keylen, data, n, out, &outlen) ||
        outlen != HS256_LEN)
        return -1;
    return 0;
}

/* Decodes one base64url part into a fresh buffer (the caller frees it), or NULL. An empty part
 * decodes to an empty buffer, so the caller decides whether that is acceptable. */
static uint8_t *decode_part(const char *s, size_t n, size_t *outlen)
{
    /* base64url without padding: 4 characters carry 3 bytes and a 2- or 3-character tail 1 or
     * 2, so n / 4 * 3 + 2 always suffices (base64.h's n / 4 * 3 is for padded text only). */
    uint8_t *out = oc_malloc(n / 4 * 3 + 2);
    long r = base64url_decode(s, n, out);
    if (r < 0) {
        free(out);
        return NULL;
    }
    *outlen = (size_t)r;
    return out;
}

/*
 * Checks the JOSE header. Only {"alg":"HS256"} is accepted: the alg is compared exactly
 * (RFC 7515 algs are case-sensitive, so "hs256" is foreign), and a header naming any other
 * alg, "none" included, is refused here, before any signature work. "typ" is optional; when
 * present it must be "JWT", compared case-insensitively as RFC 7519 section 5.1 recommends,
 * so a token minted for another purpose (e.g. "at+jwt") is not taken for a connection token.
 * "crit" lists extensions the verifier must understand; objcast understands none, so its
 * mere presence is a refusal (RFC 7515 section 4.1.11).
 */
static int check_header(const uint8_t *text, size_t n, const char **err)
{
    const char *perr;
    struct json_value *h = json_parse((const char *)text, n, &perr);
    if (!h || json_typeof(h) != JSON_OBJECT) {
        json_free(h);
        *err = "malformed token";
        return -1;
    }
    int rc = -1;
    const char *alg = json_string(json_get(h, "alg"));
    const struct json_value *typ = json_get(h, "typ");
    if (!alg || strcmp(alg, "HS256") != 0) {
        *err = "unsupported alg";
    } else if (typ && (!json_string(typ) || strcasecmp(json_string(typ), "JWT") != 0)) {
        *err = "unsupported typ";
    } else if (json_get(h, "crit")) {
        *err = "unsupported crit";
    } else {
        rc = 0;
    }
    json_free(h);
    return rc;
}

/* Compares a verified time claim with now. The claim is a JSON number, integral in practice;
 * a fractional one is compared as a double so that 1000.5 is still after 1000. Returns <0,
 * 0 or >0 as claim is before, at or after now. */
static int compare_time(const struct json_value *v, long long now)
{
    long long i;
    if (json_integer(v, &i) == 0)
        return i < now ? -1 : i > now;
    double d = strtod(json_number_text(v), NULL);
    double dn = (double)now;
    return d < dn ? -1 : d > dn;
}

struct json_value *auth_jwt_verify(const char *token, size_t len, const struct auth_secret *secrets,
                                   size_t nsecrets, long long now, const char **err)
{
    if (len > AUTH_MAX_TOKEN) {
        *err = "token too long";
        return NULL;
    }

    /* Exactly three parts: more dots mean a JWE (five parts) or garbage, and splitting on the first
     * two dots only would let trailing bytes ride along unsigned. */
    const char *dot1 = token ? memchr(token, '.', len) : NULL;
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
        *err = "malformed token";
        return NULL;
    }
    size_t hlen = (size_t)(dot1 - token);
    size_t plen = (size_t)(dot2 - dot1 - 1);
    size_t slen = len - (size_t)(dot2 + 1 - token);
    /* An empty signature is left to the length check below, so that the classic
     * "alg":"none" token with an empty third part is reported by its alg. */
    if (hlen == 0 || plen == 0) {
        *err = "malformed token";
        return NULL;
    }

    size_t n;
    uint8_t *header = decode_part(token, hlen, &n);
    if (!header) {
        *err = "malformed token";
        return NULL;
    }
    int rc = check_header(header, n, err);
    free(header);
    if (rc < 0)
        return NULL;

    uint8_t *sig = decode_part(dot2 + 1, slen, &n);
    if (!sig) {
        *err = "malformed token";
        return NULL;
    }
    if (n != HS256_LEN) {
        free(sig);
        *err = "bad signature";
        return NULL;
    }

    /* The signing input is the ASCII text header_b64 "." payload_b64, as received. Every
     * secret is compared in constant time; which one matched leaks nothing worth hiding. */
    int ok = 0;
    for (size_t i = 0; i < nsecrets && !ok; i++) {
        unsigned char mac[HS256_LEN];
        if (hs256(secrets[i].key, secrets[i].len, token, (size_t)(dot2 - token), mac) == 0 &&
            CRYPTO_memcmp(mac, sig, HS256_LEN) == 0)
            ok = 1;
        OPENSSL_cleanse(mac, sizeof(mac));
    }
    free(sig);
    if (!ok) {
        *err = "bad signature";
        return NULL;
    }

    /* Only now, with the signature checked, is the payload decoded and parsed. */
    uint8_t *payload = decode_part(dot1 + 1, plen, &n);
    if (!payload) {
        *err = "malformed token";
        return NULL;
    }
    const char *perr;
    struct json_value *claims = json_parse((const char *)payload, n, &perr);
    free(payload);
    if (!claims) {
        *err = "malformed token";
        return NULL;
    }
    if (json_typeof(claims) != JSON_OBJECT) {
        *err = "claims not an object";
        goto fail;
    }

    const struct json_value *exp = json_get(claims, "exp");
    if (!exp) {
        *err = "missing exp";
        goto fail;
    }
    if (json_typeof(exp) != JSON_NUMBER) {
        *err = "invalid exp";
        goto fail;
    }
    if (compare_time(exp, now) <= 0) {
        *err = "token expired";
        goto fail;
    }
    const struct json_value *nbf = json_get(claims, "nbf");
    if (nbf && json_typeof(nbf) != JSON_NUMBER) {
        *err = "invalid nbf";
        goto fail;
    }
    if (nbf && compare_time(nbf, now) > 0) {
        *err = "token not yet valid";
        goto fail;
    }
    return claims;

fail:
    json_free(claims);
    return NULL;
}

/* Appends the base64url text of n bytes to b. */
static void append_b64url(struct buf *b, const void *data, size_t n)
{
    buf_reserve(b, BASE64_ENCODED_SIZE(n));
    b->len += base64url_encode(data, n, b->p + b->len);
}

char *auth_jwt_sign(const char *claims_json, const char *key, size_t keylen)
{
    struct buf b = {0};
    unsigned char mac[HS256_LEN];

    append_b64url(&b, jwt_header, sizeof(jwt_header) - 1);
    buf_append_char(&b, '.');
    append_b64url(&b, claims_json, strlen(claims_json));
    if (hs256(key, keylen, b.p, b.len, mac) < 0) {
        /* Only a libcrypto out of memory gets here; objcast aborts on that everywhere. */
        fprintf(stderr, "objcastd: HMAC-SHA256 failed\n");
        abort();
    }
    buf_append_char(&b, '.');
    append_b64url(&b, mac, sizeof(mac));
    return buf_detach(&b);
}

/*
 * Reads an id claim ("sub", "ws", "obj"): a non-empty string or an integral number. An integer
 * is normalised to its decimal text (1e3 -> "1000") so that the same id always gives the same
 * key; a fractional number, a boolean, null or a container is refused. Sets *key to the plain
 * text and, when json is not NULL, *json to the JSON text that echoes the claim as given.
 * Returns 0, or -1 with *err set to missing or invalid.
 */
static int id_claim(const struct json_value *claims, const char *name, char **json, char **key,
                    const char *missing, const char *invalid, const char **err)
{
    const struct json_value *v = json_get(claims, name);
    const char *s;
    long long i;
    if (!v) {
        *err = missing;
        return -1;
    }
    if ((s = json_string(v))) {
        if (!*s) {
            *err = invalid;
            return -1;
        }
        *key = oc_strdup(s);
        if (json) {
            struct buf b = {0};
            json_append_string(&b, s, strlen(s));
            *json = buf_detach(&b);
        }
        return 0;
    }
    if (json_integer(v, &i) == 0) {
        char text[24];
        snprintf(text, sizeof(text), "%lld", i);
        *key = oc_strdup(text);
        if (json)
            *json = oc_strdup(text);
        return 0;
    }
    *err = invalid;
    return -1;
}

/* Reads an optional string claim into a copy (*out = NULL when absent). Returns 0, or -1 with
 * *err set when the claim is present but not a string (null included: absent means absent). */
static int opt_string(const struct json_value *claims, const char *name, char **out,
                      const char *invalid, const char **err)
{
    const struct json_value *v = json_get(claims, name);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_string(v)) {
        *err = invalid;
        return -1;
    }
    *out = oc_strdup(json_string(v));
    return 0;
}

/* Reads an optional boolean claim; *out is left alone when absent. */
static int opt_bool(const struct json_value *claims, const char *name, int *out,
                    const char *invalid, const char **err)
{
    const struct json_value *v = json_get(claims, name);
    if (!v)
        return 0;
    switch (json_typeof(v)) {
    case JSON_TRUE:
        *out = 1;
        return 0;
    case JSON_FALSE:
        *out = 0;
        return 0;
    default:
        *err = invalid;
        return -1;
    }
}

/* The integral part of a number claim, clamped to long long (1e30 is "never" either way). */
static long long integral_seconds(const struct json_value *v)
{
    long long i;
    if (json_integer(v, &i) == 0)
        return i;
    double d = strtod(json_number_text(v), NULL);
    /* 2^63 is exact as a double; anything at or beyond it does not fit. */
    if (d >= 9223372036854775808.0)
        return LLONG_MAX;
    if (d < -9223372036854775808.0)
        return LLONG_MIN;
    return (long long)d; /* truncates toward zero */
}

struct identity *auth_identity_new(const struct json_value *claims, const char **err)
{
    struct identity *id = oc_calloc(1, sizeof(*id));
    const struct json_value *exp;

    if (json_typeof(claims) != JSON_OBJECT) {
        *err = "claims not an object";
        goto fail;
    }
    if (id_claim(claims, "sub", &id->user_json, &id->user_key, "missing sub", "invalid sub", err))
        goto fail;
    if (id_claim(claims, "ws", &id->ws_json, &id->ws_key, "missing ws", "invalid ws", err))
        goto fail;
    if (opt_string(claims, "name", &id->name, "invalid name", err) ||
        opt_string(claims, "avatarUrl", &id->avatar_url, "invalid avatarUrl", err) ||
        opt_string(claims, "language", &id->language, "invalid language", err) ||
        opt_string(claims, "email", &id->email, "invalid email", err) ||
        opt_bool(claims, "visitor", &id->visitor, "invalid visitor", err))
        goto fail;

    /* auth_jwt_verify() already insists on exp; checked again so that an identity never
     * carries a made-up expiry when built from claims of another origin. */
    exp = json_get(claims, "exp");
    if (!exp) {
        *err = "missing exp";
        goto fail;
    }
    if (json_typeof(exp) != JSON_NUMBER) {
        *err = "invalid exp";
        goto fail;
    }
    id->exp = integral_seconds(exp);

    /* name and avatarUrl are echoed in every presence event: "" spares each writer a check. */
    if (!id->name)
        id->name = oc_strdup("");
    if (!id->avatar_url)
        id->avatar_url = oc_strdup("");
    return id;

fail:
    identity_free(id);
    return NULL;
}

void identity_free(struct identity *id)
{
    if (!id)
        return;
    free(id->user_json);
    free(id->user_key);
    free(id->ws_json);
    free(id->ws_key);
    free(id->name);
    free(id->avatar_url);
    free(id->language);
    free(id->email);
    free(id);
}

int auth_object_grant(const struct json_value *claims, struct object_grant *g, const char **err)
{
    memset(g, 0, sizeof(*g));
    if (json_typeof(claims) != JSON_OBJECT) {
        *err = "claims not an object";
        return -1;
    }
    /* "ws" is required: without it a token for object L1 would be good for L1 of every
     * workspace, and ids are only unique within one. */
    if (id_claim(claims, "sub", NULL, &g->user_key, "missing sub", "invalid sub", err) ||
        id_claim(claims, "ws", NULL, &g->ws_key, "missing ws", "invalid ws", err) ||
        id_claim(claims, "obj", NULL, &g->object_id, "missing obj", "invalid obj", err) ||
        opt_string(claims, "objectType", &g->object_type, "invalid objectType", err) ||
        opt_bool(claims, "host", &g->host, "invalid host", err))
        goto fail;
    if (g->object_type && strcmp(g->object_type, "static") != 0 &&
        strcmp(g->object_type, "dynamic") != 0) {
        *err = "invalid objectType";
        goto fail;
    }
    return 0;

fail:
    object_grant_clear(g);
    return -1;
}

void object_grant_clear(struct object_grant *g)
{
    free(g->user_key);
    free(g->ws_key);
    free(g->object_id);
    free(g->object_type);
    memset(g, 0, sizeof(*g));
}

int auth_object_grant_check(const struct object_grant *g, const struct identity *id,
                            const char *object_id, const char **err)
{
    /* Keys are the normalised string forms id_claim() made on both sides, so a plain strcmp
     * compares 987 with "987" as equal and "0987" with 987 as different. */
    if (strcmp(g->user_key, id->user_key) != 0)
        *err = "objectToken is for another user";
    else if (strcmp(g->ws_key, id->ws_key) != 0)
        *err = "objectToken is for another workspace";
    else if (strcmp(g->object_id, object_id) != 0)
        *err = "objectToken is for another object";
    else
        return 0;
    return -1;
}

int auth_identity_refresh(struct identity *cur, const struct identity *next, const char **err)
{
    if (strcmp(next->user_key, cur->user_key) != 0)
        *err = "the new token is for another user";
    else if (strcmp(next->ws_key, cur->ws_key) != 0)
        *err = "the new token is for another workspace";
    else if (next->exp <= cur->exp)
        *err = "the new token does not expire later than the current one";
    else {
        cur->exp = next->exp;
        return 0;
    }
    return -1;
}
