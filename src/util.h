#ifndef OC_UTIL_H
#define OC_UTIL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Small helpers that several modules need: hex digits, %-decoding, plain decimal integers,
 * host-name syntax and the two clocks. A leaf: libc only, nothing of objcast, no allocation.
 */

/* The value of one hex digit (0-9, a-f, A-F), or -1 for any other character. */
int util_hex_value(char c);

/*
 * Decodes the %HH escapes of the n bytes at s into out, '+' as a space when plus_space.
 * out needs room for n + 1 bytes (decoding never lengthens) and may be s itself; it is
 * NUL-terminated. Returns the decoded length, or -1 when a '%' is not followed by two hex
 * digits or decodes to a NUL byte (out then holds a part of the text).
 */
long util_percent_decode(const char *s, size_t n, int plus_space, char *out);

/*
 * Parses a plain decimal integer of n bytes: an optional '-', then digits, nothing else (no
 * spaces, '+', units, hex or exponents). Returns 0 with *out set, -1 when s is not such an
 * integer, -2 when it is one but does not fit in a long long. The minus sign is accepted so
 * that callers can answer "-1" with a range error rather than "not an integer".
 */
int util_parse_integer(const char *s, size_t n, long long *out);

/* util_parse_integer() over the whole string s, also -2 when the value is outside [min,
 * max]. *out is set only on success. */
int util_parse_bounded(const char *s, long long min, long long max, long long *out);

/* True when the n bytes at s are a host name: one or more of letters, digits, '.', '-' and
 * '_' (docker service names use '_'). */
int util_host_name_valid(const char *s, size_t n);

/* True when the n bytes at s can be an IPv6 address, as written inside [...]: hex digits and
 * at least two ':', with '.' for an embedded IPv4 tail. A syntax check, not a full parse. */
int util_ipv6_valid(const char *s, size_t n);

/* Milliseconds since the epoch (gettimeofday): the wall clock, for times that leave the
 * process (Redis entries other instances compare). It can jump. */
int64_t util_wall_ms(void);

/* Microseconds of CLOCK_MONOTONIC: for round trips short enough to need them (a system
 * call where the vDSO does not serve it). */
int64_t util_monotonic_us(void);

/* Milliseconds of CLOCK_MONOTONIC_COARSE: never jumps, costs no system call, and is a few
 * milliseconds coarse. For intervals measured inside this process. */
int64_t util_monotonic_coarse_ms(void);

#endif
