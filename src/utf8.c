#include "utf8.h"

#include <string.h>

/*
 * A table-driven DFA. Each byte is first mapped to one of NCLASS classes; a state is the
 * offset of its row in `transition`, so the next state is transition[state + class] with no
 * multiplication, and UTF8_ACCEPT / UTF8_REJECT are rows 0 and 1. The classes split the
 * continuation range 80..BF in three because the second byte after E0, ED, F0 and F4 is
 * restricted (that is how overlongs, surrogates and code points above U+10FFFF are refused).
 */
enum byte_class {
    CL_ASCII, /* 00..7F */
    CL_C80,   /* 80..8F continuation */
    CL_C90,   /* 90..9F continuation */
    CL_CA0,   /* A0..BF continuation */
    CL_BAD,   /* C0, C1 (overlong 2-byte leads), F5..FF (beyond U+10FFFF) */
    CL_L2,    /* C2..DF: lead of a 2-byte sequence */
    CL_E0,    /* E0: 3-byte lead, next byte A0..BF (else overlong) */
    CL_L3,    /* E1..EC, EE, EF: 3-byte lead */
    CL_ED,    /* ED: 3-byte lead, next byte 80..9F (else a surrogate) */
    CL_F0,    /* F0: 4-byte lead, next byte 90..BF (else overlong) */
    CL_L4,    /* F1..F3: 4-byte lead */
    CL_F4,    /* F4: 4-byte lead, next byte 80..8F (else above U+10FFFF) */
    NCLASS
};

enum dfa_state {
    S_ACC = 0 * NCLASS, /* at a character boundary */
    S_REJ = 1 * NCLASS, /* invalid, absorbing */
    S_1 = 2 * NCLASS,   /* one continuation byte due */
    S_2 = 3 * NCLASS,   /* two continuation bytes due */
    S_2E0 = 4 * NCLASS, /* two due, the first in A0..BF */
    S_2ED = 5 * NCLASS, /* two due, the first in 80..9F */
    S_3 = 6 * NCLASS,   /* three continuation bytes due */
    S_3F0 = 7 * NCLASS, /* three due, the first in 90..BF */
    S_3F4 = 8 * NCLASS, /* three due, the first in 80..8F */
    NSTATE_OFFSETS = 9 * NCLASS
};

_Static_assert(S_ACC == UTF8_ACCEPT, "UTF8_ACCEPT must be the first row");
_Static_assert(S_REJ == UTF8_REJECT, "UTF8_REJECT must be the second row");

static const uint8_t byte_class[256] = {
    [0x00 ... 0x7F] = CL_ASCII,
    [0x80 ... 0x8F] = CL_C80,
    [0x90 ... 0x9F] = CL_C90,
    [0xA0 ... 0xBF] = CL_CA0,
    [0xC0 ... 0xC1] = CL_BAD,
    [0xC2 ... 0xDF] = CL_L2,
    [0xE0] = CL_E0,
    [0xE1 ... 0xEC] = CL_L3,
    [0xED] = CL_ED,
    [0xEE ... 0xEF] = CL_L3,
    [0xF0] = CL_F0,
    [0xF1 ... 0xF3] = CL_L4,
    [0xF4] = CL_F4,
    [0xF5 ... 0xFF] = CL_BAD,
};

/* One row per state, one column per byte class. */
/* clang-format off */
#define R S_REJ
static const uint8_t transition[NSTATE_OFFSETS] = {
    /*        ASCII  80-8F  90-9F  A0-BF  bad  C2-DF  E0     E1-EF  ED     F0     F1-F3  F4 */
    /* ACC */ S_ACC, R,     R,     R,     R,   S_1,   S_2E0, S_2,   S_2ED, S_3F0, S_3,   S_3F4,
    /* REJ */ R,     R,     R,     R,     R,   R,     R,     R,     R,     R,     R,     R,
    /* 1   */ R,     S_ACC, S_ACC, S_ACC, R,   R,     R,     R,     R,     R,     R,     R,
    /* 2   */ R,     S_1,   S_1,   S_1,   R,   R,     R,     R,     R,     R,     R,     R,
    /* 2E0 */ R,     R,     R,     S_1,   R,   R,     R,     R,     R,     R,     R,     R,
    /* 2ED */ R,     S_1,   S_1,   R,     R,   R,     R,     R,     R,     R,     R,     R,
    /* 3   */ R,     S_2,   S_2,   S_2,   R,   R,     R,     R,     R,     R,     R,     R,
    /* 3F0 */ R,     R,     S_2,   S_2,   R,   R,     R,     R,     R,     R,     R,     R,
    /* 3F4 */ R,     S_2,   R,     R,     R,   R,     R,     R,     R,     R,     R,     R,
};
#undef R
/* clang-format on */

#define HIGH_BITS 0x8080808080808080ull

uint32_t utf8_validate(uint32_t state, const uint8_t *s, size_t len)
{
    /* A state that this function never returned is treated as garbage, not indexed. */
    if (state >= NSTATE_OFFSETS || state % NCLASS != 0)
        return UTF8_REJECT;
    if (len == 0)
        return state;

    const uint8_t *end = s + len;
    while (s < end) {
        if (state == UTF8_ACCEPT && *s < 0x80) {
            /* JSON text is mostly ASCII: skip it a word at a time while at a boundary. Text
             * that is mostly multi-byte (CJK) goes straight to the DFA. */
            while (end - s >= 16) {
                uint64_t a, b;
                memcpy(&a, s, 8);
                memcpy(&b, s + 8, 8);
                if ((a | b) & HIGH_BITS)
                    break;
                s += 16;
            }
            while (s < end && *s < 0x80)
                s++;
            if (s == end)
                break;
        }
        state = transition[state + byte_class[*s++]];
        if (state == UTF8_REJECT)
            break;
    }
    return state;
}
