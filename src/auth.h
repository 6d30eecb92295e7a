#ifndef OC_AUTH_H
#define OC_AUTH_H

#include <stddef.h>

#include "json.h"

/*
 * Tokens: compact JWS (JWT) signed with HMAC-SHA256 (docs/protocol.md section 2.2). Only "HS256"
 * is accepted; "none" and every other alg are refused before any signature work.
 */

/* A secret tokens may be signed with. Several are tried in order (secret rotation). */
struct auth_secret {
    const char *key; /* raw secret bytes */
    size_t len;
};

/*
 * Verifies token (len bytes, header.payload.signature in base64url without padding)
 * against secrets, in constant time per secret, and checks "exp" (required, a number, must
 * be > now) and "nbf" (if present, must be <= now); now is unix seconds. Returns the claims
 * object, which the caller frees with json_free(), or NULL with *err set to a static string
 * naming the reason (e.g. "malformed token", "unsupported alg", "bad signature",
 * "token expired", "missing exp").
 */
struct json_value *auth_jwt_verify(const char *token, size_t len, const struct auth_secret *secrets,
                                   size_t nsecrets, long long now, const char **err);

/* Signs claims_json (a JSON object's text) with key; returns a NUL-terminated token the caller
 * frees. Used by the demo token endpoint, the benchmark client and the tests. */
char *auth_jwt_sign(const char *claims_json, const char *key, size_t keylen);

/*
 * The authenticated user of a connection, from verified connection-token claims. Strings
 * are NUL-terminated UTF-8 copies owned by the identity.
 */
struct identity {
    char *user_json; /* "sub" as JSON text, echoed as given: "\"123\"" or "123" */
    char *user_key;  /* "sub" as a plain string ("123"), used in keys and comparisons */
    char *ws_json;   /* "ws" as JSON text, echoed as given */
    char *ws_key;    /* "ws" as a plain string */
    char *name;      /* "name", "" when absent */
    char *avatar_url; /* "avatarUrl", "" when absent */
    char *language;  /* "language" or NULL */
    char *email;     /* "email" or NULL */
    int visitor;     /* "visitor", default 0 */
    long long exp;   /* "exp", unix seconds (integral part) */
};

/*
 * Builds an identity from claims. "sub" and "ws" are required, each a non-empty string or an
 * integer; "name", "avatarUrl", "language", "email" must be strings when present, "visitor"
 * a boolean. Returns NULL with *err set when a claim is missing or has the wrong type.
 * Free with identity_free().
 */
struct identity *auth_identity_new(const struct json_value *claims, const char **err);
void identity_free(struct identity *id);

/* What an object token grants (docs/protocol.md section 3.3). */
struct object_grant {
    char *user_key;    /* "sub" as a plain string */
    char *ws_key;      /* "ws" as a plain string: the token is good in that workspace only */
    char *object_id;   /* "obj" */
    char *object_type; /* "objectType" ("static" or "dynamic") or NULL when absent */
    int host;          /* "host", default 0 */
};

/* Fills *g from object-token claims ("sub", "ws" and "obj" required, each a non-empty string or
 * an integer). Returns 0, or -1 with *err set. Free the strings with object_grant_clear(). */
int auth_object_grant(const struct json_value *claims, struct object_grant *g, const char **err);
void object_grant_clear(struct object_grant *g);

/*
 * Whether grant g may be used by identity id on object_id: same user, same workspace and same
 * object, each compared by string form (the integer 987 and the string "987" are one id).
 * Returns 0, or -1 with *err set to a static reason ("objectToken is for another user",
 * "... another workspace", "... another object").
 */
int auth_object_grant_check(const struct object_grant *g, const struct identity *id,
                            const char *object_id, const char **err);

/*
 * A connection token presented again to extend a connection's life (objcast_refresh). next
 * must name the same user and workspace as cur (by string form) and expire later than cur;
 * then cur takes next's exp and keeps every other claim as it was (docs/decisions.md: a
 * refresh extends a session, it does not change who is on it). Returns 0, or -1 with *err
 * set and cur untouched. next stays the caller's.
 */
int auth_identity_refresh(struct identity *cur, const struct identity *next, const char **err);

#endif
