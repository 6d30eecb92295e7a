/*
 * Unit tests for the RFC 6455 codec (ws.c) and the UTF-8 validator (utf8.c). Frames are
 * built by hand with the RFC's masking key so every test states the exact bytes on the
 * wire, and each input is also fed one byte at a time, since TCP may split it anywhere.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pmd.h"
#include "unit.h"
#include "utf8.h"
#include "ws.h"

/* Masking key of the RFC 6455 section 5.7 examples. */
static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Frame header bytes. */
#define FIN 0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10
#define MASKED 0x80

/* How put_frame() encodes the payload length. */
enum len_form {
    LEN_SHORTEST, /* 7-bit, 16-bit or 64-bit, whichever is minimal */
    LEN_16,       /* always the 16-bit form */
    LEN_64,       /* always the 64-bit form */
};

/* Appends a masked client frame with first byte b0 (FIN, RSV, opcode) to b. */
static void put_frame(struct buf *b, uint8_t b0, const void *payload, size_t len,
                      enum len_form form)
{
    const uint8_t *p = payload;
    uint8_t h[14];
    size_t n = 0;
    h[n++] = b0;
    if (form == LEN_SHORTEST && len < 126) {
        h[n++] = (uint8_t)(MASKED | len);
    } else if ((form == LEN_SHORTEST && len <= 0xFFFF) || form == LEN_16) {
        h[n++] = MASKED | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = MASKED | 127;
        for (int i = 0; i < 8; i++)
            h[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(h + n, key, 4);
    n += 4;
    buf_append(b, h, n);
    for (size_t i = 0; i < len; i++)
        buf_append_char(b, (char)(p[i] ^ key[i & 3]));
}

static void put_str(struct buf *b, uint8_t b0, const char *s)
{
    put_frame(b, b0, s, strlen(s), LEN_SHORTEST);
}

/* Every passing ck_assert_* reports its location to the parent process through a pipe (a
 * system call); inner loops that run a million times use this instead. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg("Assertion '%s' failed", #cond);                                          \
    } while (0)

/* Events seen while feeding a stream, with payloads copied out of the decoder. */
#define MAX_EVENTS 16
struct event_log {
    size_t n;
    size_t consumed; /* bytes ws_decode() consumed in total */
    struct {
        enum ws_event_type type;
        unsigned code;
        const char *reason;
        struct buf data;
    } ev[MAX_EVENTS];
};

static void log_free(struct event_log *log)
{
    for (size_t i = 0; i < log->n; i++)
        buf_free(&log->ev[i].data);
    memset(log, 0, sizeof(*log));
}

/*
 * Feeds in[0..len) to d as if it arrived in reads of `chunk` bytes, calling ws_decode() until
 * each read is used up, and records every event. Stops at the first error. Also checks the
 * decoder's contract on the way: it never consumes more than it is given, consumes the whole
 * read when it reports no event, and hands out NUL-terminated text.
 */
static void feed(struct ws_decoder *d, const void *in, size_t len, size_t chunk,
                 struct event_log *log)
{
    const uint8_t *p = in;
    size_t pos = 0;
    memset(log, 0, sizeof(*log));
    while (pos < len) {
        size_t end = pos + chunk < len ? pos + chunk : len;
        while (pos < end) {
            struct ws_event ev;
            size_t n = ws_decode(d, p + pos, end - pos, &ev);
            CHECK(n <= end - pos);
            pos += n;
            if (ev.type == WS_EV_NONE) {
                CHECK(pos == end);
                break;
            }
            CHECK(log->n < MAX_EVENTS);
            log->ev[log->n].type = ev.type;
            log->ev[log->n].code = ev.code;
            log->ev[log->n].reason = ev.reason;
            memset(&log->ev[log->n].data, 0, sizeof(struct buf));
            if (ev.len)
                buf_append(&log->ev[log->n].data, ev.payload, ev.len);
            if (ev.type == WS_EV_TEXT) {
                CHECK(ev.payload != NULL);
                CHECK(ev.payload[ev.len] == 0);
            }
            if (ev.type == WS_EV_ERROR)
                CHECK(ev.reason != NULL);
            log->n++;
            if (ev.type == WS_EV_ERROR) {
                log->consumed = pos;
                return;
            }
        }
    }
    log->consumed = pos;
}

static void assert_event(const struct event_log *log, size_t i, enum ws_event_type type,
                         const void *data, size_t len)
{
    ck_assert_uint_gt(log->n, i);
    ck_assert_int_eq(log->ev[i].type, type);
    ck_assert_uint_eq(log->ev[i].data.len, len);
    if (len)
        ck_assert_mem_eq(log->ev[i].data.p, data, len);
}

/* Feeds the stream whole and one byte at a time to a decoder that agreed to
 * permessage-deflate or not; both must give the same events. Leaves the byte-at-a-time log
 * in *log. */
static void feed_both_with(size_t max, int deflate, const void *in, size_t len,
                           struct event_log *log)
{
    struct ws_decoder d;
    struct event_log whole;

    ws_decoder_init(&d, max);
    d.deflate = (uint8_t)deflate;
    feed(&d, in, len, len ? len : 1, &whole);
    ws_decoder_reset(&d);

    ws_decoder_init(&d, max);
    d.deflate = (uint8_t)deflate;
    feed(&d, in, len, 1, log);
    ws_decoder_reset(&d);

    ck_assert_uint_eq(whole.n, log->n);
    for (size_t i = 0; i < whole.n; i++) {
        ck_assert_int_eq(whole.ev[i].type, log->ev[i].type);
        ck_assert_uint_eq(whole.ev[i].code, log->ev[i].code);
        ck_assert_uint_eq(whole.ev[i].data.len, log->ev[i].data.len);
        if (whole.ev[i].data.len)
            ck_assert_mem_eq(whole.ev[i].data.p, log->ev[i].data.p, whole.ev[i].data.len);
    }
    log_free(&whole);
}

static void feed_both(size_t max, const void *in, size_t len, struct event_log *log)
{
    feed_both_with(max, 0, in, len, log);
}

#define BIG (1024 * 1024)

/* ---- handshake ---------------------------------------------------------------------- */

START_TEST(test_accept_key_rfc)
{
    /* RFC 6455 section 1.3. */
    char out[29];
    memset(out, 'x', sizeof(out));
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
    ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

START_TEST(test_accept_key_other)
{
    /* RFC 6455 section 4.2.2 / 1.2 second example key, and a key longer than any valid one
     * (the function hashes whatever it is given). */
    char out[29];
    ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out);
    ck_assert_str_eq(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    char longkey[200];
    memset(longkey, 'A', sizeof(longkey));
    ws_accept_key(longkey, sizeof(longkey), out);
    ck_assert_uint_eq(strlen(out), 28);
    char again[29];
    ws_accept_key(longkey, sizeof(longkey), again);
    ck_assert_str_eq(out, again);
    ws_accept_key(longkey, 199, again);
    ck_assert_str_ne(out, again);
}
END_TEST

START_TEST(test_key_valid)
{
    const char *good[] = {
        "dGhlIHNhbXBsZSBub25jZQ==",
        "x3JJHMbDL1EzLkh9GBhXDw==",
        "AAAAAAAAAAAAAAAAAAAAAA==",
        "/////////////////////w==",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(ws_key_valid(good[i], strlen(good[i])), "%s", good[i]);

    const char *bad[] = {
        "",
        "dGhlIHNhbXBsZSBub25jZQ=",     /* 23 chars */
        "dGhlIHNhbXBsZSBub25jZQ===",   /* 25 chars */
        "dGhlIHNhbXBsZSBub25jZQ",      /* no padding */
        "dGhlIHNhbXBsZSBub25jZR==",    /* non-zero unused bits: not canonical */
        "dGhlIHNhbXBsZSBub25j\x01Q==", /* not in the alphabet */
        "dGhlIHNhbXBsZSBub25-ZQ==",    /* base64url character */
        "dGhlIHNhbXBsZSBub25jZ Q=",    /* space */
        "dGhlIHNhbXBsZSBub25jZWE=",    /* 17 bytes, 24 chars */
        "dGhlIHNhbXBsZSBub25jZWFh",    /* 18 bytes, 24 chars */
        "dGhlIHNhbXBsZSBub25j",        /* 15 bytes */
        "========================",
        "dGhlIHNhbXBsZSBub2==jZQ==",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!ws_key_valid(bad[i], strlen(bad[i])), "%s", bad[i]);
    /* The length argument counts, not the NUL. */
    ck_assert(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 23));
}
END_TEST

START_TEST(test_close_code_valid)
{
    for (unsigned c = 0; c < 70000; c++) {
        int want = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
        if (!!ws_close_code_valid(c) != want)
            ck_abort_msg("code %u: got %d", c, ws_close_code_valid(c));
    }
    ck_assert(!ws_close_code_valid(1004));
    ck_assert(!ws_close_code_valid(1005));
    ck_assert(!ws_close_code_valid(1006));
    ck_assert(!ws_close_code_valid(1015));
    ck_assert(ws_close_code_valid(1000));
    ck_assert(ws_close_code_valid(4999));
}
END_TEST

/* ---- encoder ------------------------------------------------------------------------ */

START_TEST(test_header_encode)
{
    uint8_t h[WS_MAX_HEADER];

    ck_assert_uint_eq(ws_header_encode(h, WS_OP_TEXT, 0), 2);
    ck_assert_mem_eq(h, "\x81\x00", 2);

    ck_assert_uint_eq(ws_header_encode(h, WS_OP_TEXT, 125), 2);
    ck_assert_mem_eq(h, "\x81\x7d", 2);

    ck_assert_uint_eq(ws_header_encode(h, WS_OP_TEXT, 126), 4);
    ck_assert_mem_eq(h, "\x81\x7e\x00\x7e", 4);

    ck_assert_uint_eq(ws_header_encode(h, WS_OP_PING, 65535), 4);
    ck_assert_mem_eq(h, "\x89\x7e\xff\xff", 4);

    ck_assert_uint_eq(ws_header_encode(h, WS_OP_BINARY, 65536), 10);
    ck_assert_mem_eq(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);

    ck_assert_uint_eq(ws_header_encode(h, WS_OP_CLOSE, 0x0102030405060708ull), 10);
    ck_assert_mem_eq(h, "\x88\x7f\x01\x02\x03\x04\x05\x06\x07\x08", 10);

    ck_assert_uint_eq(ws_header_encode(h, WS_OP_PONG, 5), 2);
    ck_assert_mem_eq(h, "\x8a\x05", 2);
}
END_TEST

/* A payload is framed once, in place: the header lands right before its text, and framing
 * it again (the next recipient) changes nothing. */
START_TEST(test_frame_text)
{
    static const size_t sizes[] = {0, 125, 126, 65535, 65536};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *text = malloc(sizes[i] + 1);
        memset(text, 'x', sizes[i]);
        struct payload *p = payload_copy(text, sizes[i]);
        ck_assert_ptr_null(p->wire);
        ws_frame_text(p);
        size_t hlen = sizes[i] < 126 ? 2 : sizes[i] < 65536 ? 4 : 10;
        ck_assert_uint_eq(p->wire_len, hlen + sizes[i]);
        ck_assert_ptr_eq(p->wire + hlen, (const uint8_t *)p->text);
        uint8_t h[WS_MAX_HEADER];
        ck_assert_uint_eq(ws_header_encode(h, WS_OP_TEXT, sizes[i]), hlen);
        ck_assert_mem_eq(p->wire, h, hlen);
        const uint8_t *wire = p->wire;
        ws_frame_text(p);
        ck_assert_ptr_eq(p->wire, wire);
        ck_assert_uint_eq(p->wire_len, hlen + sizes[i]);
        payload_unref(p);
        free(text);
    }
    /* Raw bytes are their own wire: a transport does not frame them again. */
    struct payload *raw = payload_new_raw("\x8a\x00", 2);
    ws_frame_text(raw);
    ck_assert_uint_eq(raw->wire_len, 2);
    ck_assert_mem_eq(raw->wire, "\x8a\x00", 2);
    payload_unref(raw);
}
END_TEST

START_TEST(test_close_frame)
{
    struct buf b = {0};

    ws_close_frame(&b, 0, "ignored");
    ck_assert_uint_eq(b.len, 2);
    ck_assert_mem_eq(b.p, "\x88\x00", 2);
    buf_reset(&b);

    ws_close_frame(&b, 1000, NULL);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_mem_eq(b.p, "\x88\x02\x03\xe8", 4);
    buf_reset(&b);

    ws_close_frame(&b, WS_CLOSE_TOO_BIG, "too big");
    ck_assert_uint_eq(b.len, 11);
    ck_assert_mem_eq(b.p, "\x88\x09\x03\xf1too big", 11);
    buf_reset(&b);

    ws_close_frame(&b, WS_CLOSE_AUTH_TIMEOUT, "");
    ck_assert_uint_eq(b.len, 4);
    ck_assert_mem_eq(b.p, "\x88\x02\x0f\xa0", 4);
    buf_free(&b);
}
END_TEST

/* Closes with a reason of `prefix` ASCII bytes then `tail`, and checks the reason kept. */
static void check_truncation(size_t prefix, const char *tail, size_t want_reason)
{
    char reason[300];
    memset(reason, 'a', prefix);
    strcpy(reason + prefix, tail);

    struct buf b = {0};
    ws_close_frame(&b, 1001, reason);
    ck_assert_uint_eq(b.len, 4 + want_reason);
    ck_assert_uint_eq((uint8_t)b.p[0], 0x88);
    ck_assert_uint_eq((uint8_t)b.p[1], 2 + want_reason);
    ck_assert_uint_le(2 + want_reason, WS_MAX_CONTROL);
    ck_assert_mem_eq(b.p + 2, "\x03\xe9", 2);
    ck_assert_mem_eq(b.p + 4, reason, want_reason);
    ck_assert_uint_eq(utf8_validate(UTF8_ACCEPT, (const uint8_t *)b.p + 4, want_reason),
                      UTF8_ACCEPT);
    buf_free(&b);
}

START_TEST(test_close_frame_truncation)
{
    check_truncation(123, "", 123);             /* fits exactly */
    check_truncation(200, "", 123);             /* ASCII: cut at 123 */
    check_truncation(122, "\xc3\xa9", 122);     /* e-acute would end at 124 */
    check_truncation(121, "\xc3\xa9", 123);     /* ends exactly at 123 */
    check_truncation(121, "\xe2\x82\xac", 121); /* euro sign would end at 124 */
    check_truncation(120, "\xe2\x82\xac", 123);
    check_truncation(122, "\xf0\x9d\x84\x9e", 122); /* G clef, 4 bytes */
    check_truncation(119, "\xf0\x9d\x84\x9e", 123);
    check_truncation(120, "\xf0\x9d\x84\x9ezzzz", 120);
}
END_TEST

/* ---- decoder: valid input ----------------------------------------------------------- */

START_TEST(test_rfc_hello)
{
    /* RFC 6455 section 5.7: a single-frame masked text message containing "Hello". */
    static const uint8_t frame[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                    0x7f, 0x9f, 0x4d, 0x51, 0x58};
    struct event_log log;
    feed_both(BIG, frame, sizeof(frame), &log);
    ck_assert_uint_eq(log.n, 1);
    assert_event(&log, 0, WS_EV_TEXT, "Hello", 5);
    ck_assert_uint_eq(log.consumed, sizeof(frame));
    log_free(&log);

    /* The builder must produce the same bytes, or the other tests prove nothing. */
    struct buf b = {0};
    put_str(&b, FIN | WS_OP_TEXT, "Hello");
    ck_assert_uint_eq(b.len, sizeof(frame));
    ck_assert_mem_eq(b.p, frame, sizeof(frame));
    buf_free(&b);
}
END_TEST

START_TEST(test_rfc_pong)
{
    /* RFC 6455 section 5.7: a masked pong whose body is "Hello". */
    static const uint8_t frame[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                    0x7f, 0x9f, 0x4d, 0x51, 0x58};
    struct event_log log;
    feed_both(BIG, frame, sizeof(frame), &log);
    ck_assert_uint_eq(log.n, 1);
    assert_event(&log, 0, WS_EV_PONG, "Hello", 5);
    log_free(&log);
}
END_TEST

START_TEST(test_fragmented)
{
    struct buf b = {0};
    put_str(&b, WS_OP_TEXT, "Hel");
    put_str(&b, FIN | WS_OP_CONT, "lo");
    struct event_log log;
    feed_both(BIG, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 1);
    assert_event(&log, 0, WS_EV_TEXT, "Hello", 5);
    ck_assert_uint_eq(log.consumed, b.len);
    log_free(&log);
    buf_free(&b);
}
END_TEST

START_TEST(test_many_fragments)
{
    /* Empty fragments are legal, at the start, middle and end. */
    struct buf b = {0};
    put_str(&b, WS_OP_TEXT, "");
    put_str(&b, WS_OP_CONT, "a");
    put_str(&b, WS_OP_CONT, "");
    put_str(&b, WS_OP_CONT, "bc");
    put_str(&b, WS_OP_CONT, "defgh");
    put_str(&b, FIN | WS_OP_CONT, "");
    struct event_log log;
    feed_both(BIG, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 1);
    assert_event(&log, 0, WS_EV_TEXT, "abcdefgh", 8);
    log_free(&log);
    buf_free(&b);
}
END_TEST

START_TEST(test_ping_between_fragments)
{
    struct buf b = {0};
    put_str(&b, WS_OP_TEXT, "Hel");
    put_str(&b, FIN | WS_OP_PING, "are you there");
    put_str(&b, FIN | WS_OP_PONG, "");
    put_str(&b, FIN | WS_OP_CONT, "lo");
    put_str(&b, FIN | WS_OP_PING, "");
    struct event_log log;
    feed_both(BIG, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 4);
    assert_event(&log, 0, WS_EV_PING, "are you there", 13);
    assert_event(&log, 1, WS_EV_PONG, "", 0);
    assert_event(&log, 2, WS_EV_TEXT, "Hello", 5);
    assert_event(&log, 3, WS_EV_PING, "", 0);
    log_free(&log);
    buf_free(&b);
}
END_TEST

/* Builds text of n bytes that is valid UTF-8 and not periodic in 4 or 8 (so a wrong mask
 * offset would show). */
static char *make_text(size_t n)
{
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)(' ' + (i * 7 + i / 13) % 95);
    s[n] = '\0';
    return s;
}

static void check_long_text(size_t n, enum len_form form, size_t header_len)
{
    char *text = make_text(n);
    struct buf b = {0};
    put_frame(&b, FIN | WS_OP_TEXT, text, n, form);
    ck_assert_uint_eq(b.len, header_len + n);
    struct event_log log;
    feed_both(BIG, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 1);
    assert_event(&log, 0, WS_EV_TEXT, text, n);
    log_free(&log);

    /* Odd chunk sizes cross the header/payload boundary and the 8-byte unmask groups. */
    const size_t chunks[] = {3, 7, 13, 1000, 4097};
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        struct ws_decoder d;
        ws_decoder_init(&d, BIG);
        feed(&d, b.p, b.len, chunks[c], &log);
        ck_assert_uint_eq(log.n, 1);
        assert_event(&log, 0, WS_EV_TEXT, text, n);
        log_free(&log);
        ws_decoder_reset(&d);
    }
    buf_free(&b);
    free(text);
}

START_TEST(test_len16)
{
    check_long_text(256, LEN_SHORTEST, 8);
    check_long_text(126, LEN_SHORTEST, 8);
    check_long_text(65535, LEN_SHORTEST, 8);
}
END_TEST

START_TEST(test_len64)
{
    check_long_text(65536, LEN_SHORTEST, 14);
    check_long_text(70001, LEN_SHORTEST, 14);
}
END_TEST

START_TEST(test_nonminimal_lengths)
{
    check_long_text(5, LEN_16, 8);
    check_long_text(5, LEN_64, 14);
    check_long_text(0, LEN_64, 14);
    check_long_text(300, LEN_64, 14);
}
END_TEST

START_TEST(test_empty_message)
{
    struct buf b = {0};
    put_str(&b, FIN | WS_OP_TEXT, "");
    ck_assert_uint_eq(b.len, 6);
    struct ws_decoder d;
    ws_decoder_init(&d, 0); /* even a limit of 0 admits an empty message */
    struct ws_event ev;
    ck_assert_uint_eq(ws_decode(&d, (const uint8_t *)b.p, b.len, &ev), 6);
    ck_assert_int_eq(ev.type, WS_EV_TEXT);
    ck_assert_uint_eq(ev.len, 0);
    ck_assert_ptr_nonnull(ev.payload);
    ck_assert_int_eq(ev.payload[0], 0);
    ws_decoder_reset(&d);
    buf_free(&b);
}
END_TEST

START_TEST(test_one_event_per_call)
{
    /* Three events in one read: each call stops at its event and reports what it used. */
    struct buf b = {0};
    put_str(&b, FIN | WS_OP_TEXT, "one");
    size_t first = b.len;
    put_str(&b, FIN | WS_OP_PING, "p");
    size_t second = b.len;
    put_str(&b, FIN | WS_OP_TEXT, "three");
    put_str(&b, WS_OP_TEXT, "partial"); /* incomplete message at the end */

    struct ws_decoder d;
    ws_decoder_init(&d, BIG);
    const uint8_t *p = (const uint8_t *)b.p;
    struct ws_event ev;

    size_t n = ws_decode(&d, p, b.len, &ev);
    ck_assert_uint_eq(n, first);
    ck_assert_int_eq(ev.type, WS_EV_TEXT);
    ck_assert_uint_eq(ev.len, 3);
    ck_assert_mem_eq(ev.payload, "one", 3);

    n += ws_decode(&d, p + n, b.len - n, &ev);
    ck_assert_uint_eq(n, second);
    ck_assert_int_eq(ev.type, WS_EV_PING);
    ck_assert_mem_eq(ev.payload, "p", 1);

    n += ws_decode(&d, p + n, b.len - n, &ev);
    ck_assert_int_eq(ev.type, WS_EV_TEXT);
    ck_assert_uint_eq(ev.len, 5);
    ck_assert_mem_eq(ev.payload, "three", 5);

    n += ws_decode(&d, p + n, b.len - n, &ev);
    ck_assert_uint_eq(n, b.len);
    ck_assert_int_eq(ev.type, WS_EV_NONE);
    ck_assert_uint_eq(d.msg.len, 7); /* the open message is kept */

    ck_assert_uint_eq(ws_decode(&d, p, 0, &ev), 0);
    ck_assert_int_eq(ev.type, WS_EV_NONE);
    ck_assert_uint_eq(d.msg.len, 7);

    ws_decoder_reset(&d);
    buf_free(&b);
}
END_TEST

START_TEST(test_chunk_sizes)
{
    /* A session's worth of frames, fed in every read size from 1 to past its length. */
    char *big = make_text(3000);
    struct buf b = {0};
    put_str(&b, FIN | WS_OP_TEXT, "{\"type\":\"objcast_auth\"}");
    put_str(&b, WS_OP_TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83"); /* "kosme", split... */
    put_str(&b, FIN | WS_OP_PING, "ping!");
    put_str(&b, WS_OP_CONT, "\xce\xbc");
    put_str(&b, FIN | WS_OP_CONT, "\xce\xb5"); /* ...across fragments */
    put_frame(&b, FIN | WS_OP_TEXT, big, 3000, LEN_SHORTEST);
    put_str(&b, FIN | WS_OP_CLOSE, "\x03\xe8so long");

    for (size_t chunk = 1; chunk <= b.len + 1; chunk++) {
        struct ws_decoder d;
        struct event_log log;
        ws_decoder_init(&d, 4096);
        feed(&d, b.p, b.len, chunk, &log);
        ck_assert_uint_eq(log.consumed, b.len);
        ck_assert_uint_eq(log.n, 5);
        assert_event(&log, 0, WS_EV_TEXT, "{\"type\":\"objcast_auth\"}", 23);
        assert_event(&log, 1, WS_EV_PING, "ping!", 5);
        assert_event(&log, 2, WS_EV_TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11);
        assert_event(&log, 3, WS_EV_TEXT, big, 3000);
        assert_event(&log, 4, WS_EV_CLOSE, "\x03\xe8so long", 9);
        ck_assert_uint_eq(log.ev[4].code, 1000);
        log_free(&log);
        ws_decoder_reset(&d);
    }
    buf_free(&b);
    free(big);
}
END_TEST

START_TEST(test_message_buffer_released)
{
    struct ws_decoder d;
    struct ws_event ev;
    struct buf b = {0};
    ws_decoder_init(&d, 4 * BIG);

    /* A small message's storage is kept for the next one, emptied. */
    put_str(&b, FIN | WS_OP_TEXT, "small");
    ck_assert_uint_eq(ws_decode(&d, (const uint8_t *)b.p, b.len, &ev), b.len);
    ck_assert_int_eq(ev.type, WS_EV_TEXT);
    ck_assert_ptr_eq(ev.payload, (const uint8_t *)d.msg.p);
    ck_assert_uint_eq(ws_decode(&d, NULL, 0, &ev), 0);
    ck_assert_int_eq(ev.type, WS_EV_NONE);
    ck_assert_uint_eq(d.msg.len, 0);
    ck_assert_uint_gt(d.msg.cap, 0);

    /* A large one is freed by the next call, so idle connections stay small. */
    char *text = make_text(200000);
    buf_reset(&b);
    put_frame(&b, FIN | WS_OP_TEXT, text, 200000, LEN_SHORTEST);
    ck_assert_uint_eq(ws_decode(&d, (const uint8_t *)b.p, b.len, &ev), b.len);
    ck_assert_int_eq(ev.type, WS_EV_TEXT);
    ck_assert_uint_eq(ev.len, 200000);
    ck_assert_mem_eq(ev.payload, text, 200000);
    ck_assert_uint_ge(d.msg.cap, 200000);
    ck_assert_uint_eq(ws_decode(&d, NULL, 0, &ev), 0);
    ck_assert_uint_eq(d.msg.cap, 0);
    ck_assert_ptr_null(d.msg.p);

    /* And the decoder still works afterwards. */
    buf_reset(&b);
    put_str(&b, FIN | WS_OP_TEXT, "again");
    ck_assert_uint_eq(ws_decode(&d, (const uint8_t *)b.p, b.len, &ev), b.len);
    ck_assert_int_eq(ev.type, WS_EV_TEXT);
    ck_assert_mem_eq(ev.payload, "again", 5);

    ws_decoder_reset(&d);
    ck_assert_ptr_null(d.msg.p);
    free(text);
    buf_free(&b);
}
END_TEST

START_TEST(test_utf8_split_across_fragments)
{
    /* Every split point of a 4-byte character between two fragments is valid. */
    static const char g_clef[] = "\xf0\x9d\x84\x9e";
    for (size_t k = 0; k <= 4; k++) {
        struct buf b = {0};
        put_frame(&b, WS_OP_TEXT, g_clef, k, LEN_SHORTEST);
        put_frame(&b, FIN | WS_OP_CONT, g_clef + k, 4 - k, LEN_SHORTEST);
        struct event_log log;
        feed_both(BIG, b.p, b.len, &log);
        ck_assert_uint_eq(log.n, 1);
        assert_event(&log, 0, WS_EV_TEXT, g_clef, 4);
        log_free(&log);
        buf_free(&b);
    }
}
END_TEST

/* ---- decoder: errors ---------------------------------------------------------------- */

/*
 * Streams that must fail. Masks are zero where the payload is spelled out, so the bytes read
 * as they are sent. `at` is where the error fires when the stream arrives one byte at a time:
 * the byte that proves the violation. Each case runs with max_message 16.
 */
struct error_case {
    const char *name;
    const char *bytes;
    size_t len;
    unsigned code;
    size_t at;
};

/* clang-format off */
#define S(lit) lit, sizeof(lit) - 1
#define M0 "\0\0\0\0"
static const struct error_case error_cases[] = {
    {"rsv1", S("\xc1\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"rsv2", S("\xa1\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"rsv3", S("\x91\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"rsv on ping", S("\xc9\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"opcode 3", S("\x83\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"opcode 4", S("\x84\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"opcode 5", S("\x85\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"opcode 6", S("\x86\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"opcode 7", S("\x87\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"opcode B", S("\x8b\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"opcode C", S("\x8c\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"opcode D", S("\x8d\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"opcode E", S("\x8e\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"opcode F", S("\x8f\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"unknown opcode mid-message", S("\x01\x80" M0 "\x83\x80" M0), WS_CLOSE_PROTOCOL, 7},
    {"unmasked text", S("\x81\x05Hello"), WS_CLOSE_PROTOCOL, 2},
    {"unmasked empty text", S("\x81\x00"), WS_CLOSE_PROTOCOL, 2},
    {"unmasked ping", S("\x89\x00"), WS_CLOSE_PROTOCOL, 2},
    {"unmasked close", S("\x88\x02\x03\xe8"), WS_CLOSE_PROTOCOL, 2},
    {"ping without FIN", S("\x09\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"pong without FIN", S("\x0a\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"close without FIN", S("\x08\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"ping of 126 (16-bit)", S("\x89\xfe\x00\x7e" M0), WS_CLOSE_PROTOCOL, 2},
    {"ping of 5 in 16-bit form", S("\x89\xfe\x00\x05" M0), WS_CLOSE_PROTOCOL, 2},
    {"close of 64-bit form", S("\x88\xff\0\0\0\0\0\0\0\x02" M0), WS_CLOSE_PROTOCOL, 2},
    {"pong of 64-bit form", S("\x8a\xff\0\0\0\0\0\0\0\x00" M0), WS_CLOSE_PROTOCOL, 2},
    {"continuation first", S("\x80\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"continuation without FIN first", S("\x00\x80" M0), WS_CLOSE_PROTOCOL, 1},
    {"continuation after a whole message", S("\x81\x80" M0 "\x80\x80" M0), WS_CLOSE_PROTOCOL, 7},
    {"text inside a message", S("\x01\x80" M0 "\x81\x80" M0), WS_CLOSE_PROTOCOL, 7},
    {"text inside, after a ping", S("\x01\x80" M0 "\x89\x80" M0 "\x01\x80" M0),
     WS_CLOSE_PROTOCOL, 13},
    {"binary inside a message", S("\x01\x80" M0 "\x82\x80" M0), WS_CLOSE_PROTOCOL, 7},
    {"binary", S("\x82\x85" M0 "Hello"), WS_CLOSE_UNSUPPORTED, 1},
    {"binary without FIN", S("\x02\x85" M0 "Hello"), WS_CLOSE_UNSUPPORTED, 1},
    {"binary empty", S("\x82\x80" M0), WS_CLOSE_UNSUPPORTED, 1},
    {"binary after text", S("\x81\x80" M0 "\x82\x80" M0), WS_CLOSE_UNSUPPORTED, 7},
    {"64-bit length top bit", S("\x81\xff\x80\0\0\0\0\0\0\x01" M0), WS_CLOSE_PROTOCOL, 14},
    {"64-bit length all ones", S("\x81\xff\xff\xff\xff\xff\xff\xff\xff\xff" M0),
     WS_CLOSE_PROTOCOL, 14},
    {"too big 7-bit", S("\x81\x91" M0), WS_CLOSE_TOO_BIG, 6},
    {"too big 16-bit", S("\x81\xfe\x01\x00" M0), WS_CLOSE_TOO_BIG, 8},
    {"too big 64-bit", S("\x81\xff\0\0\0\x01\0\0\0\0" M0), WS_CLOSE_TOO_BIG, 14},
    {"too big across fragments", S("\x01\x88" M0 "abcdefgh" "\x80\x89" M0),
     WS_CLOSE_TOO_BIG, 20},
    {"overlong 2-byte", S("\x81\x82" M0 "\xc0\x80"), WS_CLOSE_BAD_DATA, 7},
    {"overlong 3-byte", S("\x81\x83" M0 "\xe0\x80\x80"), WS_CLOSE_BAD_DATA, 8},
    {"surrogate", S("\x81\x83" M0 "\xed\xa0\x80"), WS_CLOSE_BAD_DATA, 8},
    {"above U+10FFFF", S("\x81\x84" M0 "\xf4\x90\x80\x80"), WS_CLOSE_BAD_DATA, 8},
    {"stray continuation", S("\x81\x83" M0 "ab\x80"), WS_CLOSE_BAD_DATA, 9},
    {"0xFF", S("\x81\x81" M0 "\xff"), WS_CLOSE_BAD_DATA, 7},
    {"ends mid-character", S("\x81\x82" M0 "\xe2\x82"), WS_CLOSE_BAD_DATA, 8},
    {"lead byte then ASCII", S("\x81\x82" M0 "\xc3z"), WS_CLOSE_BAD_DATA, 8},
    {"message ends mid-character", S("\x01\x82" M0 "\xe2\x82" "\x80\x80" M0),
     WS_CLOSE_BAD_DATA, 14},
    {"bad first fragment, before the rest", S("\x01\x83" M0 "a\xffz"), WS_CLOSE_BAD_DATA, 8},
    {"bad byte in a later fragment", S("\x01\x82" M0 "ab" "\x80\x82" M0 "\xc1\x81"),
     WS_CLOSE_BAD_DATA, 15},
    {"close with 1 byte", S("\x88\x81" M0 "\x03"), WS_CLOSE_PROTOCOL, 7},
    {"close code 999", S("\x88\x82" M0 "\x03\xe7"), WS_CLOSE_PROTOCOL, 8},
    {"close reason not UTF-8", S("\x88\x84" M0 "\x03\xe8\xc3\x28"), WS_CLOSE_BAD_DATA, 10},
};
#undef S
/* clang-format on */

START_TEST(test_error_case)
{
    const struct error_case *c = &error_cases[_i];
    struct event_log log;

    /* One byte at a time: the error fires at the expected byte and nothing before. */
    struct ws_decoder d;
    ws_decoder_init(&d, 16);
    feed(&d, c->bytes, c->len, 1, &log);
    ck_assert_msg(log.n >= 1, "%s: no event", c->name);
    ck_assert_msg(log.ev[log.n - 1].type == WS_EV_ERROR, "%s: no error", c->name);
    ck_assert_msg(log.ev[log.n - 1].code == c->code, "%s: code %u, want %u", c->name,
                  log.ev[log.n - 1].code, c->code);
    ck_assert_msg(log.consumed == c->at, "%s: fired at byte %zu, want %zu", c->name, log.consumed,
                  c->at);
    for (size_t i = 0; i + 1 < log.n; i++)
        ck_assert_int_ne(log.ev[i].type, WS_EV_ERROR);
    log_free(&log);

    /* The decoder stays failed: nothing more is consumed, the same code is reported. */
    struct ws_event ev;
    ck_assert_uint_eq(ws_decode(&d, (const uint8_t *)"\x81\x80" M0, 6, &ev), 0);
    ck_assert_int_eq(ev.type, WS_EV_ERROR);
    ck_assert_uint_eq(ev.code, c->code);
    ck_assert_ptr_nonnull(ev.reason);
    ck_assert_uint_eq(d.failed != 0, 1);
    ws_decoder_reset(&d);

    /* All at once: the same error. */
    ws_decoder_init(&d, 16);
    feed(&d, c->bytes, c->len, c->len, &log);
    ck_assert_uint_ge(log.n, 1);
    ck_assert_int_eq(log.ev[log.n - 1].type, WS_EV_ERROR);
    ck_assert_uint_eq(log.ev[log.n - 1].code, c->code);
    ck_assert_uint_ge(log.consumed, c->at);
    log_free(&log);
    ws_decoder_reset(&d);
}
END_TEST

START_TEST(test_bad_utf8_fails_before_message_ends)
{
    /* The first fragment is bad: the error comes with it, the message is never finished. */
    struct buf b = {0};
    put_str(&b, WS_OP_TEXT, "{\"a\":\"\xed\xa0\x80\"");
    struct ws_decoder d;
    struct ws_event ev;
    ws_decoder_init(&d, BIG);
    size_t n = ws_decode(&d, (const uint8_t *)b.p, b.len, &ev);
    ck_assert_int_eq(ev.type, WS_EV_ERROR);
    ck_assert_uint_eq(ev.code, WS_CLOSE_BAD_DATA);
    ck_assert_uint_le(n, b.len);
    ws_decoder_reset(&d);
    buf_free(&b);
}
END_TEST

/* ---- close frames ------------------------------------------------------------------- */

/* Decodes one masked close frame with payload p[0..n) and returns the log. */
static void decode_close(const void *p, size_t n, struct event_log *log)
{
    struct buf b = {0};
    put_frame(&b, FIN | WS_OP_CLOSE, p, n, LEN_SHORTEST);
    feed_both(BIG, b.p, b.len, log);
    ck_assert_uint_eq(log->consumed, b.len);
    ck_assert_uint_eq(log->n, 1);
    buf_free(&b);
}

START_TEST(test_close_empty)
{
    struct event_log log;
    decode_close("", 0, &log);
    assert_event(&log, 0, WS_EV_CLOSE, "", 0);
    ck_assert_uint_eq(log.ev[0].code, WS_CLOSE_NO_STATUS);
    ck_assert_ptr_null(log.ev[0].reason);
    log_free(&log);
}
END_TEST

START_TEST(test_close_code_only)
{
    struct event_log log;
    decode_close("\x03\xe8", 2, &log);
    assert_event(&log, 0, WS_EV_CLOSE, "\x03\xe8", 2);
    ck_assert_uint_eq(log.ev[0].code, 1000);
    log_free(&log);

    decode_close("\x0f\xa0", 2, &log);
    ck_assert_int_eq(log.ev[0].type, WS_EV_CLOSE);
    ck_assert_uint_eq(log.ev[0].code, 4000);
    log_free(&log);
}
END_TEST

START_TEST(test_close_reason)
{
    struct event_log log;
    decode_close("\x03\xe9going away \xe2\x82\xac", 16, &log);
    assert_event(&log, 0, WS_EV_CLOSE, "\x03\xe9going away \xe2\x82\xac", 16);
    ck_assert_uint_eq(log.ev[0].code, 1001);
    log_free(&log);

    /* The longest a control frame allows. */
    char p[WS_MAX_CONTROL];
    p[0] = 0x0b; /* 3000 */
    p[1] = 0xb8;
    memset(p + 2, 'r', sizeof(p) - 2);
    decode_close(p, sizeof(p), &log);
    assert_event(&log, 0, WS_EV_CLOSE, p, sizeof(p));
    ck_assert_uint_eq(log.ev[0].code, 3000);
    log_free(&log);
}
END_TEST

START_TEST(test_close_roundtrip)
{
    /* What ws_close_frame() writes, once masked as a client would, decodes to itself. */
    char reason[200];
    memset(reason, 'z', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    struct buf out = {0};
    ws_close_frame(&out, WS_CLOSE_POLICY, reason);
    struct event_log log;
    decode_close(out.p + 2, out.len - 2, &log);
    ck_assert_int_eq(log.ev[0].type, WS_EV_CLOSE);
    ck_assert_uint_eq(log.ev[0].code, WS_CLOSE_POLICY);
    ck_assert_uint_eq(log.ev[0].data.len, WS_MAX_CONTROL);
    log_free(&log);
    buf_free(&out);
}
END_TEST

static const unsigned bad_close_codes[] = {0,    1,    999,  1004, 1005, 1006,
                                           1015, 1016, 2000, 2999, 5000, 65535};

START_TEST(test_close_invalid_code)
{
    unsigned code = bad_close_codes[_i];
    uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    struct event_log log;
    decode_close(p, 2, &log);
    ck_assert_int_eq(log.ev[0].type, WS_EV_ERROR);
    ck_assert_uint_eq(log.ev[0].code, WS_CLOSE_PROTOCOL);
    log_free(&log);
}
END_TEST

START_TEST(test_close_valid_codes)
{
    const unsigned codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                              1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        uint8_t p[4] = {(uint8_t)(codes[i] >> 8), (uint8_t)codes[i], 'o', 'k'};
        struct event_log log;
        decode_close(p, 4, &log);
        ck_assert_int_eq(log.ev[0].type, WS_EV_CLOSE);
        ck_assert_uint_eq(log.ev[0].code, codes[i]);
        log_free(&log);
    }
}
END_TEST

START_TEST(test_close_one_byte)
{
    struct event_log log;
    decode_close("\x03", 1, &log);
    ck_assert_int_eq(log.ev[0].type, WS_EV_ERROR);
    ck_assert_uint_eq(log.ev[0].code, WS_CLOSE_PROTOCOL);
    log_free(&log);
}
END_TEST

START_TEST(test_close_bad_reason)
{
    const char *reasons[] = {"\x03\xe8\xff", "\x03\xe8xyz\xc0\x80", "\x03\xe8\xed\xa0\x80",
                             "\x03\xe8tail\xe2\x82", "\x03\xe8\x80"};
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        struct event_log log;
        decode_close(reasons[i], strlen(reasons[i]), &log);
        ck_assert_int_eq(log.ev[0].type, WS_EV_ERROR);
        ck_assert_uint_eq(log.ev[0].code, WS_CLOSE_BAD_DATA);
        log_free(&log);
    }
}
END_TEST

START_TEST(test_close_between_fragments)
{
    struct buf b = {0};
    put_str(&b, WS_OP_TEXT, "half");
    put_str(&b, FIN | WS_OP_CLOSE, "\x03\xe8");
    struct event_log log;
    feed_both(BIG, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 1);
    assert_event(&log, 0, WS_EV_CLOSE, "\x03\xe8", 2);
    ck_assert_uint_eq(log.ev[0].code, 1000);
    log_free(&log);
    buf_free(&b);
}
END_TEST

/* ---- max_message -------------------------------------------------------------------- */

START_TEST(test_max_exact)
{
    char *text = make_text(1000);
    struct buf b = {0};
    put_frame(&b, FIN | WS_OP_TEXT, text, 1000, LEN_SHORTEST);
    struct event_log log;
    feed_both(1000, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 1);
    assert_event(&log, 0, WS_EV_TEXT, text, 1000);
    log_free(&log);

    feed_both(999, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_int_eq(log.ev[0].type, WS_EV_ERROR);
    ck_assert_uint_eq(log.ev[0].code, WS_CLOSE_TOO_BIG);
    ck_assert_uint_eq(log.consumed, 8); /* the header only */
    log_free(&log);
    buf_free(&b);
    free(text);
}
END_TEST

START_TEST(test_max_fragments)
{
    /* 400 + 0 + 600 == 1000: passes at 1000, fails at 999 when the last header arrives. */
    char *text = make_text(1000);
    struct buf b = {0};
    put_frame(&b, WS_OP_TEXT, text, 400, LEN_SHORTEST);
    put_frame(&b, WS_OP_CONT, "", 0, LEN_SHORTEST);
    size_t before_last = b.len;
    put_frame(&b, FIN | WS_OP_CONT, text + 400, 600, LEN_SHORTEST);

    struct event_log log;
    feed_both(1000, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 1);
    assert_event(&log, 0, WS_EV_TEXT, text, 1000);
    log_free(&log);

    feed_both(999, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_int_eq(log.ev[0].type, WS_EV_ERROR);
    ck_assert_uint_eq(log.ev[0].code, WS_CLOSE_TOO_BIG);
    ck_assert_uint_eq(log.consumed, before_last + 8);
    log_free(&log);

    /* Control frames between fragments do not count toward the message. */
    buf_reset(&b);
    put_frame(&b, WS_OP_TEXT, text, 500, LEN_SHORTEST);
    put_frame(&b, FIN | WS_OP_PING, text, 125, LEN_SHORTEST);
    put_frame(&b, FIN | WS_OP_CONT, text + 500, 500, LEN_SHORTEST);
    feed_both(1000, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 2);
    assert_event(&log, 0, WS_EV_PING, text, 125);
    assert_event(&log, 1, WS_EV_TEXT, text, 1000);
    log_free(&log);

    /* The limit is per message: the next message starts from zero. */
    buf_reset(&b);
    put_frame(&b, FIN | WS_OP_TEXT, text, 1000, LEN_SHORTEST);
    put_frame(&b, FIN | WS_OP_TEXT, text, 1000, LEN_SHORTEST);
    feed_both(1000, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 2);
    assert_event(&log, 1, WS_EV_TEXT, text, 1000);
    log_free(&log);

    buf_free(&b);
    free(text);
}
END_TEST

START_TEST(test_max_header_only)
{
    /* A frame announcing 2^40 bytes fails as soon as its 14 header bytes are in: nothing
     * of the payload is needed (or buffered). */
    static const uint8_t hdr[] = {0x81, 0xff, 0, 0, 0x01, 0, 0, 0, 0, 0, 0x37, 0xfa, 0x21, 0x3d};
    struct ws_decoder d;
    struct ws_event ev;
    ws_decoder_init(&d, 2 * BIG + 64 * 1024);
    for (size_t i = 0; i + 1 < sizeof(hdr); i++) {
        ck_assert_uint_eq(ws_decode(&d, hdr + i, 1, &ev), 1);
        ck_assert_int_eq(ev.type, WS_EV_NONE);
    }
    ck_assert_uint_eq(ws_decode(&d, hdr + 13, 1, &ev), 1);
    ck_assert_int_eq(ev.type, WS_EV_ERROR);
    ck_assert_uint_eq(ev.code, WS_CLOSE_TOO_BIG);
    ck_assert_ptr_null(d.msg.p);
    ws_decoder_reset(&d);

    /* One byte over the limit, in a continuation, fails on its header alone. */
    struct buf b = {0};
    put_frame(&b, WS_OP_TEXT, "0123456789", 10, LEN_SHORTEST);
    size_t first = b.len;
    put_frame(&b, FIN | WS_OP_CONT, "x", 1, LEN_SHORTEST);
    ws_decoder_init(&d, 10);
    ck_assert_uint_eq(ws_decode(&d, (const uint8_t *)b.p, first, &ev), first);
    ck_assert_int_eq(ev.type, WS_EV_NONE);
    ck_assert_uint_eq(ws_decode(&d, (const uint8_t *)b.p + first, 6, &ev), 6);
    ck_assert_int_eq(ev.type, WS_EV_ERROR);
    ck_assert_uint_eq(ev.code, WS_CLOSE_TOO_BIG);
    ws_decoder_reset(&d);
    buf_free(&b);
}
END_TEST

/* ---- UTF-8 -------------------------------------------------------------------------- */

static uint32_t v(const char *s, size_t n)
{
    return utf8_validate(UTF8_ACCEPT, (const uint8_t *)s, n);
}

#define V(lit) v(lit, sizeof(lit) - 1)

START_TEST(test_utf8_valid)
{
    ck_assert_uint_eq(v("", 0), UTF8_ACCEPT);
    ck_assert_uint_eq(utf8_validate(UTF8_ACCEPT, NULL, 0), UTF8_ACCEPT);
    ck_assert_uint_eq(V("plain ASCII, with \x01 and \x7f"), UTF8_ACCEPT);
    ck_assert_uint_eq(V("\0"), UTF8_ACCEPT);
    ck_assert_uint_eq(V("\xc2\x80"), UTF8_ACCEPT);          /* U+0080 */
    ck_assert_uint_eq(V("\xc3\xa9t\xc3\xa9"), UTF8_ACCEPT); /* ete */
    ck_assert_uint_eq(V("\xdf\xbf"), UTF8_ACCEPT);          /* U+07FF */
    ck_assert_uint_eq(V("\xe0\xa0\x80"), UTF8_ACCEPT);      /* U+0800 */
    ck_assert_uint_eq(V("\xe2\x82\xac"), UTF8_ACCEPT);      /* euro */
    ck_assert_uint_eq(V("\xed\x9f\xbf"), UTF8_ACCEPT);      /* U+D7FF */
    ck_assert_uint_eq(V("\xee\x80\x80"), UTF8_ACCEPT);      /* U+E000 */
    ck_assert_uint_eq(V("\xef\xbf\xbf"), UTF8_ACCEPT);      /* U+FFFF */
    ck_assert_uint_eq(V("\xf0\x90\x80\x80"), UTF8_ACCEPT);  /* U+10000 */
    ck_assert_uint_eq(V("\xf0\x9f\x98\x80"), UTF8_ACCEPT);  /* emoji */
    ck_assert_uint_eq(V("\xf3\xbf\xbf\xbf"), UTF8_ACCEPT);
    ck_assert_uint_eq(V("\xf4\x8f\xbf\xbf"), UTF8_ACCEPT); /* U+10FFFF */
    ck_assert_uint_eq(V("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), UTF8_ACCEPT);
}
END_TEST

START_TEST(test_utf8_invalid)
{
    const char *bad[] = {
        "\xc0\x80",                 /* overlong NUL */
        "\xc1\xbf",                 /* overlong 2-byte */
        "\xe0\x80\x80",             /* overlong 3-byte */
        "\xe0\x9f\xbf",             /* overlong U+07FF */
        "\xf0\x80\x80\x80",         /* overlong 4-byte */
        "\xf0\x8f\xbf\xbf",         /* overlong U+FFFF */
        "\xed\xa0\x80",             /* U+D800 */
        "\xed\xbf\xbf",             /* U+DFFF */
        "\xed\xa0\x80\xed\xb0\x80", /* surrogate pair */
        "\xf4\x90\x80\x80",         /* U+110000 */
        "\xf5\x80\x80\x80",
        "\xf7\xbf\xbf\xbf",
        "\xf8\x88\x80\x80\x80", /* 5-byte form */
        "\xfc\x84\x80\x80\x80\x80",
        "\xfe",
        "\xff",
        "\x80", /* stray continuation */
        "\xbf",
        "a\x80z",
        "\xc3\xa9\xa9", /* one continuation too many */
        "\xc3z",        /* lead then ASCII */
        "\xe2\x82z",
        "\xf0\x9f\x98z",
        "\xe2\xc3\xa9", /* lead then lead */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(v(bad[i], strlen(bad[i])) == UTF8_REJECT, "case %zu", i);
}
END_TEST

START_TEST(test_utf8_truncated)
{
    /* Valid so far but mid-character: neither ACCEPT nor REJECT, and completing it works. */
    const char *prefixes[] = {"\xc3",     "\xe2",         "\xe2\x82",        "\xf0",
                              "\xf0\x9f", "\xf0\x9f\x98", "ok \xf4\x8f\xbf", "\xed",
                              "\xed\x9f", "\xe0\xa0"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        uint32_t s = v(prefixes[i], strlen(prefixes[i]));
        ck_assert_msg(s != UTF8_ACCEPT && s != UTF8_REJECT, "case %zu: %u", i, s);
        /* An ASCII byte where a continuation is due is an error. */
        ck_assert_uint_eq(utf8_validate(s, (const uint8_t *)"a", 1), UTF8_REJECT);
    }
}
END_TEST

START_TEST(test_utf8_split_calls)
{
    /* Every split of a valid string validates; every split of an invalid one rejects. */
    static const char good[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbfz";
    static const char bad[] = "a\xc3\xa9\xe0\x9f\xbf";
    size_t gn = sizeof(good) - 1, bn = sizeof(bad) - 1;
    for (size_t k = 0; k <= gn; k++) {
        uint32_t s = utf8_validate(UTF8_ACCEPT, (const uint8_t *)good, k);
        ck_assert_uint_ne(s, UTF8_REJECT);
        ck_assert_uint_eq(utf8_validate(s, (const uint8_t *)good + k, gn - k), UTF8_ACCEPT);
    }
    for (size_t k = 0; k <= bn; k++) {
        uint32_t s = utf8_validate(UTF8_ACCEPT, (const uint8_t *)bad, k);
        ck_assert_uint_eq(utf8_validate(s, (const uint8_t *)bad + k, bn - k), UTF8_REJECT);
    }
    /* A character split 2+1, then the wrong completion. */
    uint32_t s = utf8_validate(UTF8_ACCEPT, (const uint8_t *)"\xe2\x82", 2);
    ck_assert_uint_eq(utf8_validate(s, (const uint8_t *)"\xac", 1), UTF8_ACCEPT);
    ck_assert_uint_eq(utf8_validate(s, (const uint8_t *)"\xc0", 1), UTF8_REJECT);
    /* ED then a byte that makes a surrogate, in a separate call. */
    s = utf8_validate(UTF8_ACCEPT, (const uint8_t *)"\xed", 1);
    ck_assert_uint_eq(utf8_validate(s, (const uint8_t *)"\xa0\x80", 2), UTF8_REJECT);
    ck_assert_uint_eq(utf8_validate(s, (const uint8_t *)"\x9f\xbf", 2), UTF8_ACCEPT);
}
END_TEST

START_TEST(test_utf8_reject_sticks)
{
    ck_assert_uint_eq(utf8_validate(UTF8_REJECT, (const uint8_t *)"abc", 3), UTF8_REJECT);
    ck_assert_uint_eq(utf8_validate(UTF8_REJECT, NULL, 0), UTF8_REJECT);
    /* A state this module never returns is not trusted as an index. */
    ck_assert_uint_eq(utf8_validate(5, (const uint8_t *)"a", 1), UTF8_REJECT);
    ck_assert_uint_eq(utf8_validate(100000, (const uint8_t *)"a", 1), UTF8_REJECT);
}
END_TEST

/* An independent reference: decodes code points and classifies the whole input as complete
 * (0), a valid prefix that needs more bytes (1), or invalid (2). */
static int reference(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int need;
        uint32_t min;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3, min = 0x10000;
        } else {
            return 2;
        }
        uint32_t cp = c & (0x3f >> need);
        int k;
        for (k = 1; k <= need && i + k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 2;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        int missing = need - (k - 1);
        /* The code points this prefix can still become. */
        uint32_t lo = cp << (6 * missing), hi = lo | ((1u << (6 * missing)) - 1);
        if (lo < min)
            lo = min;
        if (hi > 0x10ffff)
            hi = 0x10ffff;
        if (lo > hi || (lo >= 0xd800 && hi <= 0xdfff))
            return 2;
        if (missing)
            return 1;
        i += (size_t)need + 1;
    }
    return 0;
}

static void compare(const uint8_t *s, size_t n)
{
    int want = reference(s, n);
    uint32_t got = utf8_validate(UTF8_ACCEPT, s, n);
    int g = got == UTF8_ACCEPT ? 0 : got == UTF8_REJECT ? 2 : 1;
    if (g != want)
        ck_abort_msg("%02x %02x %02x %02x (len %zu): got %u, reference %d", n > 0 ? s[0] : 0,
                     n > 1 ? s[1] : 0, n > 2 ? s[2] : 0, n > 3 ? s[3] : 0, n, got, want);
}

START_TEST(test_utf8_exhaustive)
{
    uint8_t s[4];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        compare(s, 1);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            compare(s, 2);
        }
    }
    /* Three bytes: every lead with every second byte, and a third from each byte class. */
    static const uint8_t edges[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                    0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee,
                                    0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff};
    const size_t ne = sizeof(edges);
    for (unsigned a = 0x80; a < 256; a++)
        for (unsigned b = 0; b < 256; b++)
            for (size_t c = 0; c < ne; c++) {
                s[0] = (uint8_t)a, s[1] = (uint8_t)b, s[2] = edges[c];
                compare(s, 3);
            }
    /* Four bytes from the class edges, also split in two calls. */
    for (size_t a = 0; a < ne; a++)
        for (size_t b = 0; b < ne; b++)
            for (size_t c = 0; c < ne; c++)
                for (size_t d = 0; d < ne; d++) {
                    s[0] = edges[a], s[1] = edges[b], s[2] = edges[c], s[3] = edges[d];
                    compare(s, 4);
                    uint32_t whole = utf8_validate(UTF8_ACCEPT, s, 4);
                    for (size_t k = 1; k < 4; k++) {
                        uint32_t st = utf8_validate(UTF8_ACCEPT, s, k);
                        CHECK(utf8_validate(st, s + k, 4 - k) == whole);
                    }
                }
}
END_TEST

START_TEST(test_utf8_fast_path_edges)
{
    /* A non-ASCII byte at every position around the word-at-a-time loop's blocks. */
    uint8_t s[80];
    for (size_t pos = 0; pos + 4 <= sizeof(s); pos++) {
        memset(s, 'a', sizeof(s));
        s[pos] = 0x80;
        ck_assert_uint_eq(utf8_validate(UTF8_ACCEPT, s, sizeof(s)), UTF8_REJECT);
        memcpy(s + pos, "\xf0\x9f\x98\x80", 4);
        ck_assert_uint_eq(utf8_validate(UTF8_ACCEPT, s, sizeof(s)), UTF8_ACCEPT);
        memcpy(s + pos, "\xf0\x9f\x98z", 4);
        ck_assert_uint_eq(utf8_validate(UTF8_ACCEPT, s, sizeof(s)), UTF8_REJECT);
        /* A lead byte as the last byte leaves the state mid-character. */
        memset(s, 'a', sizeof(s));
        s[pos] = 0xe2;
        uint32_t st = utf8_validate(UTF8_ACCEPT, s, pos + 1);
        ck_assert_uint_ne(st, UTF8_ACCEPT);
        ck_assert_uint_ne(st, UTF8_REJECT);
    }
}
END_TEST

START_TEST(test_utf8_large)
{
    /* 2 MiB of mixed text: ASCII runs and 2-, 3- and 4-byte characters. */
    static const char unit[] = "{\"msg\":\"h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac \xf0\x9d\x84\x9e"
                               " \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"} plain ascii text...";
    const size_t un = sizeof(unit) - 1, n = 2 * BIG;
    uint8_t *s = malloc(n);
    ck_assert_ptr_nonnull(s);
    size_t len = 0;
    while (len + un <= n) {
        memcpy(s + len, unit, un);
        len += un;
    }
    ck_assert_uint_eq(utf8_validate(UTF8_ACCEPT, s, len), UTF8_ACCEPT);

    /* Split at an arbitrary byte (mid-character) and carried over. */
    uint32_t st = utf8_validate(UTF8_ACCEPT, s, 1000003);
    ck_assert_uint_eq(utf8_validate(st, s + 1000003, len - 1000003), UTF8_ACCEPT);

    /* One bad byte near the end is found. */
    s[len - 7] = 0xff;
    ck_assert_uint_eq(utf8_validate(UTF8_ACCEPT, s, len), UTF8_REJECT);
    memcpy(s + len - un, unit, un);

    /* Cut in the middle of the final 4-byte character: valid so far, not complete. */
    size_t cut = len - un;
    while (!(s[cut] == 0xf0 && s[cut + 1] == 0x9d))
        cut++;
    cut += 2;
    st = utf8_validate(UTF8_ACCEPT, s, cut);
    ck_assert_uint_ne(st, UTF8_ACCEPT);
    ck_assert_uint_ne(st, UTF8_REJECT);

    /* All ASCII, the fast path end to end. */
    memset(s, 'x', n);
    ck_assert_uint_eq(utf8_validate(UTF8_ACCEPT, s, n), UTF8_ACCEPT);
    s[n - 1] = 0xc3;
    ck_assert_uint_ne(utf8_validate(UTF8_ACCEPT, s, n), UTF8_ACCEPT);
    free(s);
}
END_TEST

/* ---- permessage-deflate ------------------------------------------------------------- */

/* RFC 7692 section 7.2.3.1: "Hello" compressed. */
static const uint8_t hello_z[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};

START_TEST(test_deflate_rfc_examples)
{
    struct buf b = {0};
    struct event_log log;

    /* 7.2.3.1: one frame. */
    put_frame(&b, FIN | RSV1 | WS_OP_TEXT, hello_z, sizeof(hello_z), LEN_SHORTEST);
    /* 7.2.3.2: the same compressed bytes in two frames, RSV1 on the first only. */
    put_frame(&b, RSV1 | WS_OP_TEXT, hello_z, 3, LEN_SHORTEST);
    put_frame(&b, FIN | WS_OP_CONT, hello_z + 3, sizeof(hello_z) - 3, LEN_SHORTEST);
    /* A ping between them, then an uncompressed message on the same connection. */
    put_frame(&b, RSV1 | WS_OP_TEXT, hello_z, 2, LEN_SHORTEST);
    put_str(&b, FIN | WS_OP_PING, "p");
    put_frame(&b, FIN | WS_OP_CONT, hello_z + 2, sizeof(hello_z) - 2, LEN_SHORTEST);
    put_str(&b, FIN | WS_OP_TEXT, "plain");
    /* 7.2.3.3: a stored block; 7.2.3.4: BFINAL set; an empty message. */
    static const uint8_t stored[] = {0x00, 0x05, 0x00, 0xfa, 0xff, 'H', 'e', 'l', 'l', 'o', 0x00};
    static const uint8_t final[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
    put_frame(&b, FIN | RSV1 | WS_OP_TEXT, stored, sizeof(stored), LEN_SHORTEST);
    put_frame(&b, FIN | RSV1 | WS_OP_TEXT, final, sizeof(final), LEN_SHORTEST);
    put_frame(&b, FIN | RSV1 | WS_OP_TEXT, "", 0, LEN_SHORTEST);

    feed_both_with(BIG, 1, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 8);
    assert_event(&log, 0, WS_EV_TEXT, "Hello", 5);
    assert_event(&log, 1, WS_EV_TEXT, "Hello", 5);
    assert_event(&log, 2, WS_EV_PING, "p", 1);
    assert_event(&log, 3, WS_EV_TEXT, "Hello", 5);
    assert_event(&log, 4, WS_EV_TEXT, "plain", 5);
    assert_event(&log, 5, WS_EV_TEXT, "Hello", 5);
    assert_event(&log, 6, WS_EV_TEXT, "Hello", 5);
    assert_event(&log, 7, WS_EV_TEXT, "", 0);
    log_free(&log);
    buf_free(&b);
}
END_TEST

/* Compressed with a fresh raw deflater, tail removed: what a client sends. */
static size_t client_deflate(const void *text, size_t len, uint8_t *out, size_t cap)
{
    size_t n = pmd_deflate(text, len, 15, out, cap);
    ck_assert_uint_gt(n, 0);
    return n;
}

START_TEST(test_deflate_limits)
{
    /* 200 KB of one letter compresses to a few hundred bytes. */
    size_t len = 200000;
    char *text = malloc(len);
    memset(text, 'a', len);
    uint8_t z[4096];
    size_t n = client_deflate(text, len, z, sizeof(z));
    ck_assert_uint_lt(n, 1024);
    struct buf b = {0};
    put_frame(&b, FIN | RSV1 | WS_OP_TEXT, z, n, LEN_SHORTEST);

    /* The limit is the inflated text's: exactly len passes, one less is 1009 while the
     * compressed bytes were far below it. */
    struct event_log log;
    feed_both_with(len, 1, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_int_eq(log.ev[0].type, WS_EV_TEXT);
    ck_assert_uint_eq(log.ev[0].data.len, len);
    log_free(&log);
    feed_both_with(len - 1, 1, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_int_eq(log.ev[0].type, WS_EV_ERROR);
    ck_assert_uint_eq(log.ev[0].code, WS_CLOSE_TOO_BIG);
    log_free(&log);

    /* The compressed bytes have a bound too, known from the header. */
    struct ws_decoder d;
    ws_decoder_init(&d, 1000);
    d.deflate = 1;
    buf_reset(&b);
    uint8_t h[] = {FIN | RSV1 | WS_OP_TEXT, MASKED | 126, 0x0c, 0x00, 1, 2, 3, 4}; /* 3072 */
    buf_append(&b, h, sizeof(h));
    feed(&d, b.p, b.len, b.len, &log);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_uint_eq(log.ev[0].code, WS_CLOSE_TOO_BIG);
    ck_assert_uint_eq(d.zmsg.len, 0);
    log_free(&log);
    ws_decoder_reset(&d);
    buf_free(&b);
    free(text);
}
END_TEST

START_TEST(test_deflate_errors)
{
    struct buf b = {0};
    struct event_log log;
    static const struct {
        const char *name;
        uint8_t b0;
        int deflate;
        const void *payload;
        size_t len;
        unsigned code;
    } cases[] = {
        {"RSV1 without the extension", FIN | RSV1 | WS_OP_TEXT, 0, hello_z, sizeof(hello_z), WS_CLOSE_PROTOCOL},
        {"RSV2", FIN | RSV2 | WS_OP_TEXT, 1, "x", 1, WS_CLOSE_PROTOCOL},
        {"RSV1 and RSV3", FIN | RSV1 | RSV3 | WS_OP_TEXT, 1, hello_z, sizeof(hello_z), WS_CLOSE_PROTOCOL},
        {"RSV1 on a ping", FIN | RSV1 | WS_OP_PING, 1, "", 0, WS_CLOSE_PROTOCOL},
        {"RSV1 on a close", FIN | RSV1 | WS_OP_CLOSE, 1, "\x03\xe8", 2, WS_CLOSE_PROTOCOL},
        {"not deflate", FIN | RSV1 | WS_OP_TEXT, 1, "\xff\xff\xff\xff", 4, WS_CLOSE_BAD_DATA},
        /* A stored block of 0xC3 0x28: not UTF-8 once inflated. */
        {"bad UTF-8 inside", FIN | RSV1 | WS_OP_TEXT, 1, "\x00\x02\x00\xfd\xff\xc3\x28", 7,
         WS_CLOSE_BAD_DATA},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_reset(&b);
        put_frame(&b, cases[i].b0, cases[i].payload, cases[i].len, LEN_SHORTEST);
        feed_both_with(BIG, cases[i].deflate, b.p, b.len, &log);
        ck_assert_msg(log.n == 1 && log.ev[0].type == WS_EV_ERROR, "%s: no error", cases[i].name);
        ck_assert_msg(log.ev[0].code == cases[i].code, "%s: code %u", cases[i].name,
                      log.ev[0].code);
        log_free(&log);
    }

    /* RSV1 on a continuation frame. */
    buf_reset(&b);
    put_frame(&b, RSV1 | WS_OP_TEXT, hello_z, 3, LEN_SHORTEST);
    put_frame(&b, FIN | RSV1 | WS_OP_CONT, hello_z + 3, sizeof(hello_z) - 3, LEN_SHORTEST);
    feed_both_with(BIG, 1, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_uint_eq(log.ev[0].code, WS_CLOSE_PROTOCOL);
    log_free(&log);

    /* A message that ends inside a UTF-8 character, compressed. */
    buf_reset(&b);
    uint8_t z[64];
    size_t n = client_deflate("ab\xc3", 3, z, sizeof(z));
    put_frame(&b, FIN | RSV1 | WS_OP_TEXT, z, n, LEN_SHORTEST);
    feed_both_with(BIG, 1, b.p, b.len, &log);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_uint_eq(log.ev[0].code, WS_CLOSE_BAD_DATA);
    log_free(&log);
    buf_free(&b);
}
END_TEST

/* A compressed message still arriving holds what was sent and nothing more: it is inflated
 * once its last frame is in. After an error nothing is kept. */
START_TEST(test_deflate_holds_only_what_was_sent)
{
    struct ws_decoder d;
    ws_decoder_init(&d, BIG);
    d.deflate = 1;
    struct buf b = {0};
    put_frame(&b, RSV1 | WS_OP_TEXT, hello_z, 3, LEN_SHORTEST);
    struct event_log log;
    feed(&d, b.p, b.len, b.len, &log);
    ck_assert_uint_eq(log.n, 0);
    ck_assert_uint_eq(d.zmsg.len, 3);
    ck_assert_uint_eq(d.msg.len, 0);
    buf_reset(&b);
    put_frame(&b, FIN | WS_OP_CONT, hello_z + 3, sizeof(hello_z) - 3, LEN_SHORTEST);
    feed(&d, b.p, b.len, b.len, &log);
    assert_event(&log, 0, WS_EV_TEXT, "Hello", 5);
    ck_assert_uint_eq(d.zmsg.len, 0);
    log_free(&log);

    /* A bomb: 1,000 compressed bytes that would inflate to 1 MiB, its frame unfinished,
     * holds 1,000 bytes; finished, it fails at the limit and frees what it made. */
    size_t len = 1u << 20;
    char *text = calloc(1, len);
    memset(text, 'a', len);
    uint8_t z[8192];
    size_t n = client_deflate(text, len, z, sizeof(z));
    free(text);
    ws_decoder_reset(&d);
    ws_decoder_init(&d, 65536);
    d.deflate = 1;
    buf_reset(&b);
    put_frame(&b, FIN | RSV1 | WS_OP_TEXT, z, n, LEN_SHORTEST);
    feed(&d, b.p, b.len - 1, b.len, &log);
    ck_assert_uint_eq(log.n, 0);
    ck_assert_uint_eq(d.zmsg.len, n - 1);
    ck_assert_ptr_null(d.msg.p);
    feed(&d, b.p + b.len - 1, 1, 1, &log);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_uint_eq(log.ev[0].code, WS_CLOSE_TOO_BIG);
    ck_assert_ptr_null(d.msg.p);
    ck_assert_ptr_null(d.zmsg.p);
    log_free(&log);
    ws_decoder_reset(&d);
    buf_free(&b);
    pmd_release();
}
END_TEST

/* Inflates a server frame's payload as a client would. */
static void check_server_frame(const struct payload *v, const char *text, size_t len)
{
    ck_assert_uint_eq(v->wire[0], 0xC1); /* FIN, RSV1, text */
    size_t hlen = v->wire_len - v->len;
    ck_assert_uint_eq(hlen, v->len < 126 ? 2 : v->len <= 0xFFFF ? 4 : 10);
    struct pmd_inflater *z = pmd_inflater_take();
    struct buf out = {0};
    ck_assert_int_eq(pmd_inflate(z, v->wire + hlen, v->len, &out, len), PMD_INFLATE_OK);
    ck_assert_int_eq(pmd_inflate(z, pmd_tail, PMD_TAIL_LEN, &out, len), PMD_INFLATE_OK);
    ck_assert_uint_eq(out.len, len);
    ck_assert_mem_eq(out.p, text, len);
    pmd_inflater_give(z);
    buf_free(&out);
}

START_TEST(test_deflated_variant)
{
    struct buf b = {0};
    payload_begin(&b);
    for (int i = 0; i < 200; i++)
        buf_printf(&b, "{\"note\":%d,\"text\":\"walk to the object first\"},", i);
    struct payload *p = payload_finish(&b);

    /* Made once, then the same for every connection with a window at least as large. */
    struct payload *v15 = ws_deflated(p, 15);
    ck_assert_ptr_nonnull(v15);
    ck_assert_uint_lt(v15->len * 4, p->len);
    ck_assert_ptr_eq(ws_deflated(p, 15), v15);
    check_server_frame(v15, p->text, p->len);
    /* A smaller window needs its own, which larger ones may share. */
    struct payload *v10 = ws_deflated(p, 10);
    ck_assert_ptr_nonnull(v10);
    ck_assert_ptr_ne(v10, v15);
    ck_assert_uint_eq(v10->variant_param, 10);
    ck_assert_ptr_eq(ws_deflated(p, 12), v10);
    check_server_frame(v10, p->text, p->len);
    /* The plain frame is unaffected. */
    ws_frame_text(p);
    ck_assert_uint_eq(p->wire[0], 0x81);
    /* A variant queued somewhere outlives the payload it came from. */
    size_t len = p->len;
    char *text = oc_strndup(p->text, len);
    payload_ref(v15);
    payload_unref(p);
    check_server_frame(v15, text, len);
    payload_unref(v15);
    free(text);

    /* What does not shrink goes plain, and compressing it is not tried again. */
    payload_begin(&b);
    buf_append_str(&b, "{\"k\":\"q8#Zr!\"}");
    p = payload_finish(&b);
    ck_assert_ptr_null(ws_deflated(p, 15));
    ck_assert_uint_eq(p->no_variant, 1);
    ck_assert_ptr_null(ws_deflated(p, 15));
    payload_unref(p);
    pmd_release();
}
END_TEST

static Suite *ws_suite(void)
{
    Suite *s = suite_create("ws");

    TCase *tc = tcase_create("handshake");
    tcase_add_test(tc, test_accept_key_rfc);
    tcase_add_test(tc, test_accept_key_other);
    tcase_add_test(tc, test_key_valid);
    tcase_add_test(tc, test_close_code_valid);
    suite_add_tcase(s, tc);

    tc = tcase_create("encode");
    tcase_add_test(tc, test_header_encode);
    tcase_add_test(tc, test_frame_text);
    tcase_add_test(tc, test_close_frame);
    tcase_add_test(tc, test_close_frame_truncation);
    suite_add_tcase(s, tc);

    tc = tcase_create("decode");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rfc_hello);
    tcase_add_test(tc, test_rfc_pong);
    tcase_add_test(tc, test_fragmented);
    tcase_add_test(tc, test_many_fragments);
    tcase_add_test(tc, test_ping_between_fragments);
    tcase_add_test(tc, test_len16);
    tcase_add_test(tc, test_len64);
    tcase_add_test(tc, test_nonminimal_lengths);
    tcase_add_test(tc, test_empty_message);
    tcase_add_test(tc, test_one_event_per_call);
    tcase_add_test(tc, test_chunk_sizes);
    tcase_add_test(tc, test_message_buffer_released);
    tcase_add_test(tc, test_utf8_split_across_fragments);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_loop_test(tc, test_error_case, 0,
                        (int)(sizeof(error_cases) / sizeof(error_cases[0])));
    tcase_add_test(tc, test_bad_utf8_fails_before_message_ends);
    suite_add_tcase(s, tc);

    tc = tcase_create("close");
    tcase_add_test(tc, test_close_empty);
    tcase_add_test(tc, test_close_code_only);
    tcase_add_test(tc, test_close_reason);
    tcase_add_test(tc, test_close_roundtrip);
    tcase_add_loop_test(tc, test_close_invalid_code, 0,
                        (int)(sizeof(bad_close_codes) / sizeof(bad_close_codes[0])));
    tcase_add_test(tc, test_close_valid_codes);
    tcase_add_test(tc, test_close_one_byte);
    tcase_add_test(tc, test_close_bad_reason);
    tcase_add_test(tc, test_close_between_fragments);
    suite_add_tcase(s, tc);

    tc = tcase_create("max_message");
    tcase_add_test(tc, test_max_exact);
    tcase_add_test(tc, test_max_fragments);
    tcase_add_test(tc, test_max_header_only);
    suite_add_tcase(s, tc);

    tc = tcase_create("deflate");
    tcase_add_test(tc, test_deflate_rfc_examples);
    tcase_add_test(tc, test_deflate_limits);
    tcase_add_test(tc, test_deflate_errors);
    tcase_add_test(tc, test_deflate_holds_only_what_was_sent);
    tcase_add_test(tc, test_deflated_variant);
    suite_add_tcase(s, tc);

    tc = tcase_create("utf8");
    tcase_set_timeout(tc, 120); /* the exhaustive test is slow under valgrind */
    tcase_add_test(tc, test_utf8_valid);
    tcase_add_test(tc, test_utf8_invalid);
    tcase_add_test(tc, test_utf8_truncated);
    tcase_add_test(tc, test_utf8_split_calls);
    tcase_add_test(tc, test_utf8_reject_sticks);
    tcase_add_test(tc, test_utf8_exhaustive);
    tcase_add_test(tc, test_utf8_fast_path_edges);
    tcase_add_test(tc, test_utf8_large);
    suite_add_tcase(s, tc);

    return s;
}

UNIT_MAIN(ws_suite)
