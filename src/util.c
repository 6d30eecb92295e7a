#include "util.h"

#include <limits.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int util_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long util_percent_decode(const char *s, size_t n, int plus_space, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (plus_space && s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < n ? util_hex_value(s[i + 1]) : -1;
            int lo = hi >= 0 ? util_hex_value(s[i + 2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0)) {
                out[o] = '\0';
                return -1;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return (long)o;
}

int util_parse_integer(const char *s, size_t n, long long *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i == n)
        return -1;
    unsigned long long v = 0;
    int overflow = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            overflow = 1; /* keep scanning: "99999999999999999999x" is garbage, not big */
        else
            v = v * 10 + d;
    }
    unsigned long long limit =
        neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
    if (overflow || v > limit)
        return -2;
    if (!neg)
        *out = (long long)v;
    else
        *out = v == limit ? LLONG_MIN : -(long long)v;
    return 0;
}

int util_parse_bounded(const char *s, long long min, long long max, long long *out)
{
    long long v;
    int rc = util_parse_integer(s, strlen(s), &v);
    if (rc < 0)
        return rc;
    if (v < min || v > max)
        return -2;
    *out = v;
    return 0;
}

int util_host_name_valid(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && c != '.' && c != '-' && c != '_')
            return 0;
    }
    return 1;
}

int util_ipv6_valid(const char *s, size_t n)
{
    int colons = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ':')
            colons++;
        else if (util_hex_value(s[i]) < 0 && s[i] != '.')
            return 0;
    }
    return colons >= 2;
}

int64_t util_wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t util_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t util_monotonic_coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
