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

/*
 * One host[:port] or [IPv6][:port] at *sp, up to a ',', a '/' or the end. Fills *out and
 * moves *sp past it, or returns -1 with *err set. list_pos says where the host stands, for
 * the message about an empty one: 0 the only host so far, 1 after a comma.
 */
static int parse_host(const char **sp, int list_pos, struct redis_url_host *out,
                      const char **err)
{
    const char *s = *sp;
    const char *host;
    size_t host_len;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close) {
            *err = "unclosed [ in host";
            return -1;
        }
        host = s + 1;
        host_len = (size_t)(close - host);
        if (!util_ipv6_valid(host, host_len)) {
            *err = "bad IPv6 address in [...]";
            return -1;
        }
        s = close + 1;
    } else {
        host = s;
        while (*s && *s != ':' && *s != '/' && *s != ',')
            s++;
        host_len = (size_t)(s - host);
        if (host_len == 0) {
            if (list_pos && (*s == '\0' || *s == '/'))
                *err = "trailing comma after the last host";
            else if (list_pos || *s == ',')
                *err = "empty host in the list";
            else
                *err = "missing host";
            return -1;
        }
        if (!util_host_name_valid(host, host_len)) {
            *err = "bad host (an IPv6 address goes in [...])";
            return -1;
        }
    }

    long long port = 6379;
    if (*s == ':') {
        const char *p = ++s;
        while (*s && *s != '/' && *s != ',')
            s++;
        int rc = util_parse_integer(p, (size_t)(s - p), &port);
        if (rc == 0 && (port < 1 || port > 65535))
            rc = -2;
        if (rc < 0) {
            *err = "port must be between 1 and 65535";
            return -1;
        }
    }
    out->host = oc_strndup(host, host_len);
    out->port = (int)port;
    *sp = s;
    return 0;
}

int redis_url_parse(const char *url, struct redis_url *out, const char **err)
{
    const char *s = url;
    char *password = NULL;
    struct redis_url_host hosts[REDIS_URL_MAX_HOSTS];
    int n = 0;

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

    for (;;) {
        if (parse_host(&s, n > 0, &hosts[n], err) < 0)
            goto fail;
        n++;
        if (*s != ',')
            break;
        s++;
        if (n == REDIS_URL_MAX_HOSTS) {
            *err = "more than 64 hosts";
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
        *err = "expected :port, a comma or /db after a host";
        goto fail;
    }

    out->host = oc_strdup(hosts[0].host);
    out->port = hosts[0].port;
    out->password = password;
    out->db = (int)db;
    out->hosts = oc_malloc((size_t)n * sizeof(*out->hosts));
    memcpy(out->hosts, hosts, (size_t)n * sizeof(*out->hosts));
    out->nhosts = n;
    return 0;

fail:
    for (int i = 0; i < n; i++)
        free(hosts[i].host);
    free(password);
    return -1;
}

void redis_url_hosts_free(struct redis_url_host *hosts, int n)
{
    if (!hosts)
        return;
    for (int i = 0; i < n; i++)
        free(hosts[i].host);
    free(hosts);
}

void redis_url_free(struct redis_url *u)
{
    free(u->host);
    free(u->password);
    redis_url_hosts_free(u->hosts, u->nhosts);
    u->host = u->password = NULL;
    u->hosts = NULL;
    u->nhosts = 0;
}
