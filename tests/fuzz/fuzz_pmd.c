/*
 * libFuzzer target for src/pmd.c (the permessage-deflate negotiation): any bytes may come in
 * a Sec-WebSocket-Extensions header, so for every input the negotiation never crashes or
 * reads outside it, and what it accepts is a response that starts with the extension and
 * both no_context_takeover parameters, with a deflate window zlib can keep to (9 to 15).
 * Build: scripts/fuzz pmd
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_pmd: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so that ASan sees any read past the end */
    char *text = malloc(size ? size : 1);
    memcpy(text, data, size);
    struct buf out = {0};
    struct pmd_agreed a = {0};
    int ok = pmd_negotiate(text, size, &out, &a);
    require(ok == 0 || ok == 1, "unknown return value");
    if (ok) {
        static const char start[] =
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        require(out.len >= sizeof(start) - 1 && memcmp(out.p, start, sizeof(start) - 1) == 0,
                "response without the extension and both parameters");
        require(a.server_window_bits >= 9 && a.server_window_bits <= 15, "window out of range");
    } else {
        require(out.len == 0, "a response without an acceptance");
    }
    buf_free(&out);
    free(text);
    return 0;
}
