#include "base64.h"

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t encode(const char *alphabet, int pad, const uint8_t *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int sextet(const char *alphabet, char c)
{
    for (int i = 0; i < 64; i++)
        if (alphabet[i] == c)
            return i;
    return -1;
}

/* Decodes len characters without padding. */
static long decode(const char *alphabet, const char *in, size_t len, uint8_t *out)
{
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = sextet(alphabet, in[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* unused trailing bits must be zero */
        return -1;
    return (long)o;
}

size_t base64_encode(const uint8_t *in, size_t len, char *out)
{
    return encode(std_alphabet, 1, in, len, out);
}

long base64_decode(const char *in, size_t len, uint8_t *out)
{
    if (len % 4 != 0)
        return -1;
    size_t n = len;
    if (n && in[n - 1] == '=')
        n--;
    if (n && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    return decode(std_alphabet, in, n, out);
}

size_t base64url_encode(const uint8_t *in, size_t len, char *out)
{
    return encode(url_alphabet, 0, in, len, out);
}

long base64url_decode(const char *in, size_t len, uint8_t *out)
{
    return decode(url_alphabet, in, len, out);
}
