/*
 * libFuzzer target for src/auth.c. Each input is used twice:
 *  1. as a token: auth_jwt_verify() with two secrets (rotation), and on success
 *     auth_identity_new() and auth_object_grant() on the claims;
 *  2. as claims text: signed with auth_jwt_sign() and verified again. A fuzzer cannot forge
 *     an HMAC, so without this second use the claims code would only ever see the seeds.
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc src/auth.c src/json.c \
 *        src/base64.c src/buf.c src/utf8.c tests/fuzz/fuzz_auth.c -lcrypto -lyajl -lm
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "buf.h"
#include "json.h"

#define FUZZ_NOW 1700000000LL

/* The seeds in tests/fuzz/corpus/auth/ are signed with one or the other. */
static const struct auth_secret secrets[] = {
    {"objcast-test-secret", 19},
    {"objcast-fuzz-secret", 19},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_auth: %s (%s)\n", what, detail ? detail : "-");
    abort();
}

/* Runs the claims consumers and checks what they promise. */
static void use_claims(const struct json_value *claims)
{
    const char *err = NULL;
    struct identity *id = auth_identity_new(claims, &err);
    if (id) {
        if (!id->user_key[0] || !id->ws_key[0] || !id->name || !id->avatar_url)
            fail("identity with an empty id or a NULL default", NULL);
        /* The *_json fields are spliced into outgoing JSON as they are. */
        if (!json_validate(id->user_json, strlen(id->user_json)) ||
            !json_validate(id->ws_json, strlen(id->ws_json)))
            fail("identity id is not JSON", id->user_json);
        identity_free(id);
    } else if (!err) {
        fail("identity refused without a reason", NULL);
    }

    struct object_grant g;
    err = NULL;
    if (auth_object_grant(claims, &g, &err) == 0) {
        if (!g.user_key || !g.ws_key || !g.object_id)
            fail("grant without sub, ws or obj", NULL);
        if (g.object_type && strcmp(g.object_type, "static") != 0 &&
            strcmp(g.object_type, "dynamic") != 0)
            fail("grant with a foreign objectType", g.object_type);
        object_grant_clear(&g);
    } else if (!err || g.user_key || g.ws_key || g.object_id || g.object_type) {
        fail("grant refused without a reason or with leftovers", err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *err = NULL;
    struct json_value *claims =
        auth_jwt_verify((const char *)data, size, secrets, 2, FUZZ_NOW, &err);
    if (claims) {
        use_claims(claims);
        json_free(claims);
    } else if (!err) {
        fail("token refused without a reason", NULL);
    }

    /* auth_jwt_sign takes a C string: inputs with a NUL byte have no second use. */
    if (memchr(data, '\0', size))
        return 0;
    char *text = oc_strndup((const char *)data, size);
    char *token = auth_jwt_sign(text, secrets[1].key, secrets[1].len);
    err = NULL;
    claims = auth_jwt_verify(token, strlen(token), secrets, 2, FUZZ_NOW, &err);
    if (claims) {
        use_claims(claims);
        json_free(claims);
    } else if (!err || strcmp(err, "bad signature") == 0 || strcmp(err, "unsupported alg") == 0) {
        /* Our own header and signature must always pass; only the claims may be refused. */
        fail("own token refused", err);
    }
    free(token);
    free(text);
    return 0;
}
