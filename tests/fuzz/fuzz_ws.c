/*
 * libFuzzer target for the WebSocket decoder and the UTF-8 validator.
 *
 * Input layout: the first byte picks max_message (small limits reach the 1009 path), the
 * second seeds the sizes of the reads the stream is cut into and (its low bit) whether
 * permessage-deflate was agreed, so compressed messages are inflated; the rest is the stream, so
 * the fuzzer explores both the frames and how TCP splits them. Every event is checked
 * against the decoder's contract; a violation aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "utf8.h"
#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int cond)
{
    if (!cond)
        abort();
}

/* Touches every byte of an event's payload so ASan sees any read past its end. */
static unsigned touch(const uint8_t *p, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += p[i];
    return sum;
}

static void check_event(const struct ws_decoder *d, const struct ws_event *ev)
{
    switch (ev->type) {
    case WS_EV_NONE:
        break;
    case WS_EV_TEXT:
        require(ev->payload != NULL);
        require(ev->len <= d->max_message);
        require(ev->payload[ev->len] == '\0');
        require(utf8_validate(UTF8_ACCEPT, ev->payload, ev->len) == UTF8_ACCEPT);
        touch(ev->payload, ev->len);
        break;
    case WS_EV_PING:
    case WS_EV_PONG:
        require(ev->len <= WS_MAX_CONTROL);
        touch(ev->payload, ev->len);
        break;
    case WS_EV_CLOSE:
        require(ev->len <= WS_MAX_CONTROL && ev->len != 1);
        if (ev->len == 0) {
            require(ev->code == WS_CLOSE_NO_STATUS);
        } else {
            require(ws_close_code_valid(ev->code));
            require((unsigned)(ev->payload[0] << 8 | ev->payload[1]) == ev->code);
            require(utf8_validate(UTF8_ACCEPT, ev->payload + 2, ev->len - 2) == UTF8_ACCEPT);
        }
        break;
    case WS_EV_ERROR:
        require(ev->reason != NULL);
        require(ev->code == WS_CLOSE_PROTOCOL || ev->code == WS_CLOSE_UNSUPPORTED ||
                ev->code == WS_CLOSE_BAD_DATA || ev->code == WS_CLOSE_TOO_BIG);
        break;
    default:
        abort();
    }
}

/*
 * The encoder side: a close frame with the input as its reason must fit a control frame,
 * keep a valid reason valid, and decode back to itself once masked as a client would.
 */
static void check_close_frame(const uint8_t *data, size_t size)
{
    char reason[256];
    size_t n = size < sizeof(reason) - 1 ? size : sizeof(reason) - 1;
    memcpy(reason, data, n);
    reason[n] = '\0';
    n = strlen(reason);
    int reason_valid = utf8_validate(UTF8_ACCEPT, (const uint8_t *)reason, n) == UTF8_ACCEPT;

    struct buf out = {0};
    unsigned code = 3000 + (size % 2000);
    ws_close_frame(&out, code, reason);
    require(out.len >= 4 && out.len <= 2 + WS_MAX_CONTROL);
    size_t plen = (uint8_t)out.p[1];
    require(plen == out.len - 2 && plen - 2 <= n);
    require(memcmp(out.p + 4, reason, plen - 2) == 0);
    if (!reason_valid) {
        buf_free(&out);
        return;
    }

    /* Re-frame as a client: mask bit set, an all-zero masking key. */
    uint8_t frame[2 + 4 + WS_MAX_CONTROL];
    frame[0] = (uint8_t)out.p[0];
    frame[1] = (uint8_t)(0x80 | plen);
    memset(frame + 2, 0, 4);
    memcpy(frame + 6, out.p + 2, plen);
    struct ws_decoder d;
    struct ws_event ev;
    ws_decoder_init(&d, 0);
    require(ws_decode(&d, frame, 6 + plen, &ev) == 6 + plen);
    require(ev.type == WS_EV_CLOSE && ev.code == code && ev.len == plen);
    ws_decoder_reset(&d);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ws_key_valid((const char *)data, size)) {
        char accept[29];
        ws_accept_key((const char *)data, size, accept);
        require(strlen(accept) == 28);
    }
    check_close_frame(data, size);

    /* The validator must agree with itself however the input is split. */
    uint32_t whole = utf8_validate(UTF8_ACCEPT, data, size);
    uint32_t half = utf8_validate(UTF8_ACCEPT, data, size / 2);
    require(utf8_validate(half, data + size / 2, size - size / 2) == whole);

    if (size < 2)
        return 0;
    static const size_t limits[] = {0, 1, 5, 16, 125, 126, 1000, 65536, 2 * 1024 * 1024};
    size_t max = limits[data[0] % (sizeof(limits) / sizeof(limits[0]))];
    uint32_t rng = data[1] * 2654435761u + 1;
    data += 2;
    size -= 2;

    struct ws_decoder d;
    ws_decoder_init(&d, max);
    d.deflate = data[-1] & 1;
    size_t pos = 0;
    int failed = 0;
    while (pos < size && !failed) {
        /* Read sizes from 1 to 64 bytes, or the whole rest, chosen by the input. */
        rng = rng * 1103515245u + 12345u;
        size_t chunk = (rng >> 16) % 65;
        size_t end = chunk == 0 || pos + chunk > size ? size : pos + chunk;
        while (pos < end) {
            struct ws_event ev;
            size_t n = ws_decode(&d, data + pos, end - pos, &ev);
            require(n <= end - pos);
            pos += n;
            check_event(&d, &ev);
            if (ev.type == WS_EV_ERROR) {
                failed = 1;
                break;
            }
            if (ev.type == WS_EV_NONE) {
                require(pos == end);
                break;
            }
            require(n > 0);
        }
    }
    if (failed) {
        /* A failed decoder holds no buffer, stays failed and consumes nothing. */
        require(d.msg.p == NULL && d.zmsg.p == NULL);
        struct ws_event ev;
        require(ws_decode(&d, data, size, &ev) == 0);
        require(ev.type == WS_EV_ERROR);
    }
    ws_decoder_reset(&d);
    return 0;
}
