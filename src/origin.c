#include "origin.h"

#include <string.h>
#include <strings.h>

#include "util.h"

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

int origin_valid(const char *s)
{
    if (strcmp(s, "*") == 0)
        return 1;
    /* The scheme: a letter, then letters, digits, '+', '-' and '.' (RFC 3986). */
    if (!is_alpha(*s))
        return 0;
    while (is_alnum(*s) || *s == '+' || *s == '-' || *s == '.')
        s++;
    if (strncmp(s, "://", 3) != 0)
        return 0;
    s += 3;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || !util_ipv6_valid(s + 1, (size_t)(close - s - 1)))
            return 0;
        s = close + 1;
    } else {
        const char *host = s;
        while (*s && *s != ':')
            s++;
        if (!util_host_name_valid(host, (size_t)(s - host)))
            return 0;
    }
    if (*s == ':') {
        long long port;
        return util_parse_bounded(s + 1, 1, 65535, &port) == 0;
    }
    return *s == '\0';
}

int origin_allowed(char *const *allowed, const char *origin)
{
    if (!origin)
        return 1;
    if (!allowed)
        return 0;
    /* Scheme and host are case-insensitive and the port is digits, so comparing the whole
     * string without case is the exact match browsers' Origin values need. */
    for (char *const *p = allowed; *p; p++)
        if (strcmp(*p, "*") == 0 || strcasecmp(*p, origin) == 0)
            return 1;
    return 0;
}
