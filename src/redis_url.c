#include "redis_url.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "util.h"

/* The password's %HH escapes decoded, or NULL on a bad escape. */
static char *password_decode(const char *s, size_t n)
{
    char *out = oc_malloc(n + 1);
    if (util_percent_decode(s, n, 0, out) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

int redis_url_parse(const char *url, struct redis_url *out, const char **err)
{
    const char *s = url;
    char *password = NULL;

    if (strncasecmp(s, "redis://", 8) != 0) {
        *err = "must look like redis://[:password@]host[:port][/db]";
        return -1;
    }
    s += 8;

    const char *at = strrchr(s, '@');
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        if (!colon) {
            *err = "password must be written as :password@ or user:password@";
            return -1;
        }
        if (colon + 1 == at) {
            *err = "empty password";
            return -1;
        }
        password = password_decode(colon + 1, (size_t)(at - colon - 1));
        if (!password) {
            *err = "bad %-escape in password";
            return -1;
        }
        s = at + 1;
    }

    const char *host;
    size_t host_len;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close) {
            *err = "unclosed [ in host";
            goto fail;
        }
        host = s + 1;
        host_len = (size_t)(close - host);
        if (!util_ipv6_valid(host, host_len)) {
            *err = "bad IPv6 address in [...]";
            goto fail;
        }
        s = close + 1;
    } else {
        host = s;
        while (*s && *s != ':' && *s != '/')
            s++;
        host_len = (size_t)(s - host);
        if (host_len == 0) {
            *err = "missing host";
            goto fail;
        }
        if (!util_host_name_valid(host, host_len)) {
            *err = "bad host (an IPv6 address goes in [...])";
            goto fail;
        }
    }

    long long port = 6379;
    if (*s == ':') {
        const char *p = ++s;
        while (*s && *s != '/')
            s++;
        int rc = util_parse_integer(p, (size_t)(s - p), &port);
        if (rc == 0 && (port < 1 || port > 65535))
            rc = -2;
        if (rc < 0) {
            *err = "port must be between 1 and 65535";
            goto fail;
        }
    }

    long long db = 0;
    if (*s == '/') {
        s++;
        /* "redis://host/" is common and means db 0. */
        if (*s && util_parse_bounded(s, 0, 1023, &db) < 0) {
            *err = "db must be between 0 and 1023";
            goto fail;
        }
    } else if (*s) {
        *err = "expected :port or /db after the host";
        goto fail;
    }

    out->host = oc_strndup(host, host_len);
    out->port = (int)port;
    out->password = password;
    out->db = (int)db;
    return 0;

fail:
    free(password);
    return -1;
}
