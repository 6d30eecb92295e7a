#ifndef OC_BASE64_H
#define OC_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Buffer size that base64_encode() needs for n input bytes, NUL included. */
#define BASE64_ENCODED_SIZE(n) ((((n) + 2) / 3) * 4 + 1)

/* Standard base64 (RFC 4648 section 4) with padding. Writes a NUL-terminated string to out,
 * which holds BASE64_ENCODED_SIZE(len) bytes; returns its length. */
size_t base64_encode(const uint8_t *in, size_t len, char *out);

/* Decodes standard base64 with padding. out holds at least len / 4 * 3 bytes. Returns the
 * decoded length, or -1 when in is not canonical padded base64. */
long base64_decode(const char *in, size_t len, uint8_t *out);

/* base64url without padding (RFC 4648 section 5, as JWT uses it). Same contracts as above,
 * except that decoding needs len / 4 * 3 + 2 bytes of room (no padding rounds len up);
 * decoding refuses padding, foreign characters, a length of 4k+1 and non-zero unused bits,
 * so every byte string has exactly one accepted encoding. */
size_t base64url_encode(const uint8_t *in, size_t len, char *out);
long base64url_decode(const char *in, size_t len, uint8_t *out);

#endif
