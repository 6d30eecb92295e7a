#include "ws.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "metrics.h"
#include "pmd.h"
#include "utf8.h"

/* RFC 6455 section 1.3: appended to Sec-WebSocket-Key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
#define WS_GUID_LEN (sizeof(ws_guid) - 1)

/* A message buffer that grew past this is freed once its message was delivered, so an idle
 * connection that once received a 2 MiB message does not keep 2 MiB (or 4, after doubling). */
#define WS_MSG_KEEP (64 * 1024)

/* First header byte. */
#define WS_FIN 0x80
#define WS_RSV 0x70
#define WS_RSV1 0x40 /* permessage-deflate: the message is compressed */
#define WS_OPCODE 0x0F
/* Second header byte. */
#define WS_MASKED 0x80
#define WS_LEN7 0x7F

static int is_control(unsigned opcode)
{
    return (opcode & 0x8) != 0;
}

static int header_complete(const struct ws_decoder *d)
{
    return d->hdr_need != 0 && d->hdr_len == d->hdr_need;
}

/* Fills ev with an error and marks the decoder failed; the code is kept (minus 1000, all
 * codes ws_decode() reports are 1002..1009) so that later calls report it again. What was
 * buffered goes at once: the connection may take a while to close. */
static void fail(struct ws_decoder *d, struct ws_event *ev, unsigned code, const char *reason)
{
    buf_free(&d->msg);
    buf_free(&d->zmsg);
    d->failed = (uint8_t)(code - 1000);
    ev->type = WS_EV_ERROR;
    ev->code = (uint16_t)code;
    ev->reason = reason;
    ev->payload = NULL;
    ev->len = 0;
}

/* Empties a buffer whose bytes were used; one that grew past WS_MSG_KEEP is freed. */
static void release(struct buf *b)
{
    if (b->cap > WS_MSG_KEEP)
        buf_free(b);
    else
        buf_reset(b);
}

/* XORs n bytes of src with the frame's masking key into dst; offset is the position of src[0]
 * in the frame's payload. Works a word at a time: the key repeats every 4 bytes, so an 8-byte
 * key rotated to the offset applies to every aligned group of 8. dst and src may be equal. */
void ws_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4], uint64_t offset)
{
    uint8_t key[8];
    for (unsigned i = 0; i < 8; i++)
        key[i] = mask[(offset + i) & 3];
    uint64_t k;
    memcpy(&k, key, 8);

    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= k;
        memcpy(dst + i, &w, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ key[i & 7];
}

/*
 * Checks the header byte just stored in d->hdr[d->hdr_len - 1] and, once the whole header is
 * in, loads the frame's length and mask. Returns 0 and fills ev on a protocol error. Each
 * check runs as soon as the byte it needs arrives, so the result does not depend on how the
 * input was split.
 */
static int header_byte(struct ws_decoder *d, struct ws_event *ev)
{
    if (d->hdr_len == 1) {
        uint8_t b = d->hdr[0];
        unsigned op = b & WS_OPCODE;
        d->fin = (b & WS_FIN) != 0;
        d->opcode = (uint8_t)op;
        if ((b & WS_RSV) && ((b & WS_RSV) != WS_RSV1 || !d->deflate)) {
            fail(d, ev, WS_CLOSE_PROTOCOL, "reserved bits set without an extension");
            return 0;
        }
        /* RFC 7692 section 6.1: only a message's first frame says it is compressed. */
        if ((b & WS_RSV1) && op != WS_OP_TEXT && op != WS_OP_BINARY) {
            fail(d, ev, WS_CLOSE_PROTOCOL, "RSV1 set on a control or continuation frame");
            return 0;
        }
        switch (op) {
        case WS_OP_CONT:
            if (!d->in_message) {
                fail(d, ev, WS_CLOSE_PROTOCOL, "continuation frame with no message open");
                return 0;
            }
            break;
        case WS_OP_TEXT:
        case WS_OP_BINARY:
            if (d->in_message) {
                fail(d, ev, WS_CLOSE_PROTOCOL, "new data frame inside a fragmented message");
                return 0;
            }
            if (op == WS_OP_BINARY) {
                fail(d, ev, WS_CLOSE_UNSUPPORTED, "binary messages are not supported");
                return 0;
            }
            break;
        case WS_OP_CLOSE:
        case WS_OP_PING:
        case WS_OP_PONG:
            if (!d->fin) {
                fail(d, ev, WS_CLOSE_PROTOCOL, "fragmented control frame");
                return 0;
            }
            break;
        default:
            fail(d, ev, WS_CLOSE_PROTOCOL, "unknown opcode");
            return 0;
        }
        return 1;
    }

    if (d->hdr_len == 2) {
        uint8_t b = d->hdr[1];
        unsigned len7 = b & WS_LEN7;
        if (!(b & WS_MASKED)) {
            fail(d, ev, WS_CLOSE_PROTOCOL, "client frame not masked");
            return 0;
        }
        if (is_control(d->opcode) && len7 > WS_MAX_CONTROL) {
            fail(d, ev, WS_CLOSE_PROTOCOL, "control frame payload over 125 bytes");
            return 0;
        }
        d->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
    }

    if (!header_complete(d))
        return 1;

    /* The whole header is in: 2 bytes, the extended length if any, then the mask. */
    unsigned len7 = d->hdr[1] & WS_LEN7;
    uint64_t len = len7;
    const uint8_t *p = d->hdr + 2;
    if (len7 == 126) {
        len = (uint64_t)p[0] << 8 | p[1];
        p += 2;
    } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[i];
        p += 8;
        if (len >> 63) {
            fail(d, ev, WS_CLOSE_PROTOCOL, "64-bit frame length with the top bit set");
            return 0;
        }
    }
    memcpy(d->mask, p, 4);
    d->frame_len = len;
    d->frame_read = 0;

    if (!is_control(d->opcode)) {
        if (d->opcode == WS_OP_TEXT) {
            /* Set for an unfragmented message too: it keeps ws_decode() from releasing the
             * buffer while this frame's payload arrives over several calls. */
            d->in_message = 1;
            d->utf8 = UTF8_ACCEPT;
            d->compressed = (d->hdr[0] & WS_RSV1) != 0;
        }
        if (d->compressed) {
            /* The inflated text is checked while it is made (inflate_message()); here the
             * compressed bytes, kept below their bound as for plain text. */
            if (len > WS_DEFLATED_MAX(d->max_message) - d->zmsg.len) {
                fail(d, ev, WS_CLOSE_TOO_BIG, "message too big");
                return 0;
            }
        } else if (len > (uint64_t)(d->max_message - d->msg.len)) {
            /* msg.len <= max_message always holds (every frame passed this check), so the
             * subtraction cannot wrap; comparing this way also cannot overflow on huge
             * lengths. */
            fail(d, ev, WS_CLOSE_TOO_BIG, "message too big");
            return 0;
        }
    }
    return 1;
}

/* Checks the text bytes d->msg gained from `from` on. Returns 0 and fills ev when they are not
 * UTF-8. */
static int check_text(struct ws_decoder *d, size_t from, struct ws_event *ev)
{
    /* Validate while the bytes are hot in cache, and so a bad fragment fails at once. */
    d->utf8 = utf8_validate(d->utf8, (const uint8_t *)d->msg.p + from, d->msg.len - from);
    if (d->utf8 == UTF8_REJECT) {
        fail(d, ev, WS_CLOSE_BAD_DATA, "invalid UTF-8 in text message");
        return 0;
    }
    return 1;
}

/* The last frame of a compressed message is in: inflates it into d->msg (with the tail the
 * sender removed, RFC 7692 section 7.2.2), the limit checked while inflating. Returns 0 and
 * fills ev when it inflates past the limit or is not deflate data, or the text is not
 * UTF-8. The inflater exists only for this call. */
static int inflate_message(struct ws_decoder *d, struct ws_event *ev)
{
    struct pmd_inflater *z = pmd_inflater_take();
    enum pmd_inflate_result r =
        pmd_inflate(z, (const uint8_t *)d->zmsg.p, d->zmsg.len, &d->msg, d->max_message);
    if (r == PMD_INFLATE_OK)
        r = pmd_inflate(z, pmd_tail, PMD_TAIL_LEN, &d->msg, d->max_message);
    pmd_inflater_give(z);
    release(&d->zmsg);
    d->compressed = 0;
    switch (r) {
    case PMD_INFLATE_OK:
        metrics.messages_inflated++;
        return check_text(d, 0, ev);
    case PMD_INFLATE_TOO_BIG:
        fail(d, ev, WS_CLOSE_TOO_BIG, "message too big");
        return 0;
    case PMD_INFLATE_BAD:
        break;
    }
    fail(d, ev, WS_CLOSE_BAD_DATA, "compressed message does not inflate");
    return 0;
}

/* Consumes n payload bytes of the current frame (n fits in the frame). Returns 0 and fills ev
 * when text turns out not to be UTF-8, or a compressed message not to inflate. */
static int payload_bytes(struct ws_decoder *d, const uint8_t *in, size_t n, struct ws_event *ev)
{
    if (is_control(d->opcode)) {
        /* frame_len <= 125 was checked in the header, so this stays inside ctl. */
        ws_mask(d->ctl + d->frame_read, in, n, d->mask, d->frame_read);
        d->frame_read += n;
        return 1;
    }

    if (d->compressed) {
        /* Kept as it came until the message is whole (see ws.h). */
        buf_reserve(&d->zmsg, n);
        ws_mask((uint8_t *)d->zmsg.p + d->zmsg.len, in, n, d->mask, d->frame_read);
        d->zmsg.len += n;
        d->frame_read += n;
        return 1;
    }

    size_t from = d->msg.len;
    buf_reserve(&d->msg, n);
    ws_mask((uint8_t *)d->msg.p + from, in, n, d->mask, d->frame_read);
    d->msg.len += n;
    d->msg.p[d->msg.len] = '\0';
    d->frame_read += n;
    return check_text(d, from, ev);
}

/* The close frame payload in d->ctl is complete: check it and fill ev. */
static void close_event(struct ws_decoder *d, struct ws_event *ev)
{
    size_t n = (size_t)d->frame_len;
    if (n == 1) {
        fail(d, ev, WS_CLOSE_PROTOCOL, "close frame with a 1-byte payload");
        return;
    }
    unsigned code = WS_CLOSE_NO_STATUS;
    if (n >= 2) {
        code = (unsigned)d->ctl[0] << 8 | d->ctl[1];
        if (!ws_close_code_valid(code)) {
            fail(d, ev, WS_CLOSE_PROTOCOL, "invalid close code");
            return;
        }
        if (utf8_validate(UTF8_ACCEPT, d->ctl + 2, n - 2) != UTF8_ACCEPT) {
            fail(d, ev, WS_CLOSE_BAD_DATA, "close reason is not UTF-8");
            return;
        }
    }
    ev->type = WS_EV_CLOSE;
    ev->payload = d->ctl;
    ev->len = n;
    ev->code = (uint16_t)code;
    ev->reason = NULL;
}

/* The current frame's payload is complete. Returns 1 when ev now holds an event (or an
 * error), 0 when the frame only continued a message. */
static int frame_done(struct ws_decoder *d, struct ws_event *ev)
{
    d->hdr_len = 0;
    d->hdr_need = 0;

    switch (d->opcode) {
    case WS_OP_TEXT:
    case WS_OP_CONT:
        if (!d->fin)
            return 0;
        d->in_message = 0;
        if (d->compressed && !inflate_message(d, ev))
            return 1;
        if (d->utf8 != UTF8_ACCEPT) {
            fail(d, ev, WS_CLOSE_BAD_DATA, "text message ends inside a UTF-8 character");
            return 1;
        }
        ev->type = WS_EV_TEXT;
        /* An empty message never allocated; "" keeps the payload non-NULL and terminated. */
        ev->payload = d->msg.p ? (const uint8_t *)d->msg.p : (const uint8_t *)"";
        ev->len = d->msg.len;
        return 1;
    case WS_OP_PING:
    case WS_OP_PONG:
        ev->type = d->opcode == WS_OP_PING ? WS_EV_PING : WS_EV_PONG;
        ev->payload = d->ctl;
        ev->len = (size_t)d->frame_len;
        return 1;
    case WS_OP_CLOSE:
        close_event(d, ev);
        return 1;
    default:
        /* header_byte() lets no other opcode through. */
        abort();
    }
}

void ws_decoder_init(struct ws_decoder *d, size_t max_message)
{
    memset(d, 0, sizeof(*d));
    d->max_message = max_message;
    d->utf8 = UTF8_ACCEPT;
}

void ws_decoder_reset(struct ws_decoder *d)
{
    buf_free(&d->msg);
    buf_free(&d->zmsg);
    memset(d, 0, sizeof(*d));
}

size_t ws_decode(struct ws_decoder *d, const uint8_t *in, size_t len, struct ws_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    if (d->failed) {
        fail(d, ev, 1000u + d->failed, "decoder already failed");
        return 0;
    }
    /* in_message is clear between messages, so the buffer only holds the text returned by
     * the previous call, whose payload is no longer valid. */
    if (!d->in_message)
        release(&d->msg);

    size_t used = 0;
    for (;;) {
        if (!header_complete(d)) {
            if (used == len)
                return used;
            d->hdr[d->hdr_len++] = in[used++];
            if (!header_byte(d, ev))
                return used;
            if (!header_complete(d))
                continue;
        }

        uint64_t left = d->frame_len - d->frame_read;
        size_t n = len - used;
        if (left < n)
            n = (size_t)left;
        if (n) {
            int ok = payload_bytes(d, in + used, n, ev);
            used += n;
            if (!ok)
                return used;
        }
        if (d->frame_read < d->frame_len)
            return used; /* input used up inside the payload */
        if (frame_done(d, ev))
            return used;
    }
}

int ws_decoder_partial(const struct ws_decoder *d)
{
    return d->in_message || d->hdr_len > 0;
}

int ws_close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

size_t ws_header_encode(uint8_t *out, enum ws_opcode opcode, uint64_t payload_len)
{
    out[0] = (uint8_t)(WS_FIN | (opcode & WS_OPCODE));
    if (payload_len < 126) {
        out[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    return 10;
}

_Static_assert(WS_MAX_HEADER <= PAYLOAD_HEADROOM, "a frame header fits before a payload");

struct payload *ws_deflated(struct payload *p, int window_bits)
{
    if (p->no_variant)
        return NULL;
    /* Data compressed with a smaller window inflates with any larger one. */
    for (struct payload *v = p->variant; v; v = v->variant)
        if (v->variant_param <= window_bits)
            return v;
    size_t cap = pmd_deflate_bound(p->len);
    struct payload *v = payload_alloc(cap);
    size_t n = pmd_deflate(p->text, p->len, window_bits,
                           (uint8_t *)v->storage + PAYLOAD_HEADROOM, cap);
    /* Not smaller, header included, than the text: it goes as it is, to everyone. */
    if (n == 0 || n + 2 >= p->len) {
        payload_unref(v);
        p->no_variant = 1;
        return NULL;
    }
    payload_set_len(v, n);
    metrics.deflated++;
    metrics.deflate_in_bytes += p->len;
    metrics.deflate_out_bytes += n;
    uint8_t hdr[WS_MAX_HEADER];
    size_t hlen = ws_header_encode(hdr, WS_OP_TEXT, n);
    hdr[0] |= WS_RSV1;
    payload_set_head(v, hdr, hlen);
    v->variant_param = (uint8_t)window_bits;
    v->variant = p->variant;
    p->variant = v;
    return v;
}

void ws_frame_text(struct payload *p)
{
    if (p->wire)
        return;
    uint8_t hdr[WS_MAX_HEADER];
    payload_set_head(p, hdr, ws_header_encode(hdr, WS_OP_TEXT, p->len));
}

void ws_close_frame(struct buf *b, unsigned code, const char *reason)
{
    uint8_t hdr[WS_MAX_HEADER];
    if (code == 0) {
        buf_append(b, hdr, ws_header_encode(hdr, WS_OP_CLOSE, 0));
        return;
    }
    size_t n = reason ? strlen(reason) : 0;
    if (n > WS_MAX_CONTROL - 2) {
        /* Cut before a continuation byte so the reason stays valid UTF-8. */
        n = WS_MAX_CONTROL - 2;
        while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80)
            n--;
    }
    buf_append(b, hdr, ws_header_encode(hdr, WS_OP_CLOSE, 2 + n));
    uint8_t be[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    buf_append(b, be, 2);
    buf_append(b, reason, n);
}

int ws_key_valid(const char *key, size_t len)
{
    /* 16 bytes encode to 22 characters and "==": any other shape is another length. */
    if (len != 24 || key[22] != '=' || key[23] != '=')
        return 0;
    uint8_t raw[18];
    return base64_decode(key, len, raw) == 16;
}

void ws_accept_key(const char *key, size_t len, char out[29])
{
    /* Keys are 24 characters once validated; the heap is only for callers that skip that. */
    uint8_t stack[64 + WS_GUID_LEN];
    uint8_t *cat = len <= 64 ? stack : oc_malloc(len + WS_GUID_LEN);
    memcpy(cat, key, len);
    memcpy(cat + len, ws_guid, WS_GUID_LEN);

    uint8_t digest[SHA_DIGEST_LENGTH];
    SHA1(cat, len + WS_GUID_LEN, digest);
    if (cat != stack)
        free(cat);
    base64_encode(digest, sizeof(digest), out);
}
