#ifndef OC_REDIS_URL_H
#define OC_REDIS_URL_H

/*
 * The redis_url key: redis://[[user]:password@]host[:port][/db], host may be [IPv6]. Pure
 * parsing, no hiredis: conf.c checks the key with it, redis_conn.c connects to what it
 * found.
 */

/* A parsed URL. */
struct redis_url {
    char *host;     /* the caller frees it; an IPv6 address without its [] */
    int port;       /* 1..65535, 6379 when not given */
    char *password; /* %-decoded, the caller frees it; NULL when none */
    int db;         /* 0..1023, 0 when not given */
};

/*
 * Parses url. The user is accepted for the usual URL shape but ignored (hiredis AUTHs with
 * the password alone). The password ends at the last '@', so it may itself hold '@' or '/';
 * its %HH escapes are decoded. Returns 0 with *out filled, or -1 with *err set to a static
 * reason and *out untouched.
 */
int redis_url_parse(const char *url, struct redis_url *out, const char **err);

#endif
