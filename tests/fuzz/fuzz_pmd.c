/*
 * libFuzzer target for src/pmd.c (permessage-deflate). Every input is used three ways:
 *  - as a Sec-WebSocket-Extensions header: the negotiation never crashes or reads outside
 *    it, and what it accepts is a response that starts with the extension and both
 *    no_context_takeover parameters, with a deflate window zlib can keep to (9 to 15);
 *  - as a compressed message from a client: inflating it (cut in two pieces) never makes
 *    more than the limit plus one byte, however it ends;
 *  - as a text to compress: pmd_deflate() then pmd_inflate() gives it back exactly.
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

    /* Inflating, with a limit the first byte picks. */
    size_t max = size ? (size_t)data[0] * 64 : 0;
    struct pmd_inflater *z = pmd_inflater_take();
    struct buf text_out = {0};
    size_t half = size / 2;
    enum pmd_inflate_result r = pmd_inflate(z, data, half, &text_out, max);
    if (r == PMD_INFLATE_OK)
        r = pmd_inflate(z, data + half, size - half, &text_out, max);
    if (r == PMD_INFLATE_OK)
        r = pmd_inflate(z, pmd_tail, PMD_TAIL_LEN, &text_out, max);
    require(r == PMD_INFLATE_OK || r == PMD_INFLATE_TOO_BIG || r == PMD_INFLATE_BAD,
            "unknown inflate result");
    require(text_out.len <= max + 1, "inflated past the limit");
    require(r != PMD_INFLATE_TOO_BIG || text_out.len == max + 1, "too big below the limit");
    pmd_inflater_give(z);
    buf_free(&text_out);

    /* Compressing and back. */
    int bits = 9 + (int)(size % 7);
    size_t cap = pmd_deflate_bound(size);
    uint8_t *zbytes = malloc(cap);
    size_t n = pmd_deflate(text, size, bits, zbytes, cap);
    require(n > 0, "deflate failed with a bound's room");
    z = pmd_inflater_take();
    r = pmd_inflate(z, zbytes, n, &text_out, size);
    if (r == PMD_INFLATE_OK)
        r = pmd_inflate(z, pmd_tail, PMD_TAIL_LEN, &text_out, size);
    require(r == PMD_INFLATE_OK, "what pmd_deflate() made does not inflate");
    require(text_out.len == size && (size == 0 || memcmp(text_out.p, text, size) == 0),
            "the round trip changed the text");
    pmd_inflater_give(z);
    buf_free(&text_out);
    free(zbytes);
    free(text);
    return 0;
}
