#ifndef OC_WS_H
#define OC_WS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "payload.h"

/*
 * RFC 6455 codec, server side. No I/O: the connection layer feeds received bytes into a
 * decoder and gets complete events back, and asks for frame headers to send. Pure, so it
 * is unit-tested with the RFC's vectors and fuzzed.
 */

enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* Close codes objcast sends (docs/protocol.md section 7). */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005, /* never sent: "the close frame had no code" */
    WS_CLOSE_BAD_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
    WS_CLOSE_AUTH_TIMEOUT = 4000,
    WS_CLOSE_TOKEN_EXPIRED = 4001, /* the connection token's exp passed without a refresh */
};

/* Largest frame header a server writes: 2 bytes + 8-byte length, no mask. */
#define WS_MAX_HEADER 10
/* Control frame payloads are at most 125 bytes (RFC 6455 section 5.5). */
#define WS_MAX_CONTROL 125

enum ws_event_type {
    WS_EV_NONE = 0, /* all input consumed, no event complete */
    WS_EV_TEXT,     /* a complete text message: payload/len point into the decoder; the
                       payload is NUL-terminated ("" when empty) */
    WS_EV_PING,     /* payload/len: the ping's application data (answer with a pong) */
    WS_EV_PONG,
    WS_EV_CLOSE,    /* the peer's close: code (WS_CLOSE_NO_STATUS when absent), reason */
    WS_EV_ERROR,    /* protocol violation: close with `code`, reason is a static string */
};

struct ws_event {
    enum ws_event_type type;
    const uint8_t *payload; /* valid until the next ws_decode() or ws_decoder_reset() */
    size_t len;
    uint16_t code;       /* close code for WS_EV_CLOSE and WS_EV_ERROR */
    const char *reason;  /* WS_EV_ERROR: static text; WS_EV_CLOSE: NULL (reason is payload+2) */
};

/*
 * Decoder state for one connection. Zero it with ws_decoder_init(); release with
 * ws_decoder_reset(), which frees the message buffer. After WS_EV_ERROR the decoder must not
 * be fed again.
 */
struct ws_decoder {
    size_t max_message;  /* a message (all fragments) longer than this is WS_CLOSE_TOO_BIG;
                            for a compressed one, its inflated text is */
    uint8_t deflate;     /* permessage-deflate was agreed: RSV1 marks a compressed message */
    uint8_t compressed;  /* the message being assembled is compressed */
    struct buf zmsg;     /* its compressed bytes (unmasked) until its last frame is in */
    uint8_t hdr[14];     /* header bytes of the current frame gathered so far */
    uint8_t hdr_len;     /* bytes in hdr */
    uint8_t hdr_need;    /* header length once known from the first two bytes, else 0 */
    uint8_t opcode;      /* opcode of the current frame */
    uint8_t fin;         /* FIN bit of the current frame */
    uint8_t mask[4];     /* masking key of the current frame */
    uint8_t in_message;  /* a text message is being assembled (its next frame or payload is due) */
    uint8_t failed;      /* nonzero once WS_EV_ERROR was returned: its close code - 1000 */
    uint64_t frame_len;  /* payload length of the current frame */
    uint64_t frame_read; /* payload bytes of the current frame consumed */
    uint32_t utf8;       /* UTF-8 state across the fragments of the open message */
    struct buf msg;      /* the text message being assembled (unmasked) */
    uint8_t ctl[WS_MAX_CONTROL]; /* payload of the control frame being read */
};

void ws_decoder_init(struct ws_decoder *d, size_t max_message);
/* Frees the message buffer; the decoder can be used again after ws_decoder_init(). */
void ws_decoder_reset(struct ws_decoder *d);

/*
 * Consumes bytes from in[0..len) until one event completes or the input is used up.
 * Returns the number of bytes consumed and fills *ev (WS_EV_NONE when none completed).
 * Call again with the rest of the input after an event. Checks, in the order the bytes
 * arrive: RSV bits, unknown opcodes, unmasked frames, fragmented or oversized control
 * frames, a continuation with no message open, a new data frame while one is open
 * (WS_CLOSE_PROTOCOL); binary messages (WS_CLOSE_UNSUPPORTED); a message over max_message,
 * detected from the frame header before its payload is buffered (WS_CLOSE_TOO_BIG);
 * invalid UTF-8 in text, checked as fragments arrive (WS_CLOSE_BAD_DATA); and in close
 * frames a 1-byte payload, an invalid code (WS_CLOSE_PROTOCOL) or an invalid UTF-8 reason
 * (WS_CLOSE_BAD_DATA). Ping and pong may arrive between the fragments of a message.
 *
 * With d->deflate set (permessage-deflate agreed), RSV1 on a message's first frame marks it
 * compressed (RFC 7692 section 6); RSV1 anywhere else is WS_CLOSE_PROTOCOL. A compressed
 * message is kept as it came until its last frame is in, then inflated at once: a message
 * that is still arriving holds only the bytes sent, so compression lets no client make the
 * server hold more than it sent (at most WS_DEFLATED_MAX(max_message), checked from each
 * frame header). The limits hold for the inflated text: past max_message it is
 * WS_CLOSE_TOO_BIG as soon as that much was inflated, data that does not inflate is
 * WS_CLOSE_BAD_DATA. After an error the decoder's buffers are freed at once.
 */
size_t ws_decode(struct ws_decoder *d, const uint8_t *in, size_t len, struct ws_event *ev);

/* True while a frame or a fragmented message has begun and not ended: the connection layer
 * times how long a message takes to arrive. */
int ws_decoder_partial(const struct ws_decoder *d);

/* True for a close code a peer may send (1000-1003, 1007-1014, 3000-4999). */
int ws_close_code_valid(unsigned code);

/* XORs n bytes of src with the masking key into dst (masking and unmasking are the same);
 * offset is the position of src[0] in the payload. dst may be src. */
void ws_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4], uint64_t offset);

/* Writes an unmasked server frame header with FIN set to out (WS_MAX_HEADER bytes);
 * returns its length. */
size_t ws_header_encode(uint8_t *out, enum ws_opcode opcode, uint64_t payload_len);

/* Compressed bytes a message of at most max bytes may take: deflate's worst case (stored
 * blocks, 5 bytes per 65,535) and a margin. */
#define WS_DEFLATED_MAX(max) ((uint64_t)(max) + (max) / 1024 + 1024)

/*
 * The permessage-deflate variant of text frame p, for a connection that agreed to a window
 * of window_bits: made once (pmd_deflate()) by the first connection that asks and kept with
 * p (payload.h: variant), so every other connection sends the same bytes. NULL when
 * compressing does not make p smaller (remembered too): send p itself then.
 */
struct payload *ws_deflated(struct payload *p, int window_bits);

/* Makes p a text frame: its header goes into the room before the text, once (later calls
 * find it done), so every connection sending p writes the same bytes, p->wire. */
void ws_frame_text(struct payload *p);

/* Appends a whole close frame (header, code, reason truncated to fit 125 bytes at a UTF-8
 * boundary) to b. code 0 writes a close frame with no payload. */
void ws_close_frame(struct buf *b, unsigned code, const char *reason);

/* Sec-WebSocket-Key must be base64 of 16 bytes (RFC 6455 section 4.2.1). */
int ws_key_valid(const char *key, size_t len);
/* Computes Sec-WebSocket-Accept for key: base64(SHA-1(key + GUID)), 28 characters plus NUL
 * written to out. */
void ws_accept_key(const char *key, size_t len, char out[29]);

#endif
