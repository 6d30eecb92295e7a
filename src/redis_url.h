#ifndef OC_REDIS_URL_H
#define OC_REDIS_URL_H

/*
 * The redis_url key: redis://[[user]:password@]host[:port][,host[:port]...][/db], a host may
 * be [IPv6]. Several hosts name seed nodes of a Redis Cluster (conf's redis_cluster says
 * whether they may). Pure parsing, no hiredis: conf.c checks the key with it, redis_conn.c
 * connects to what it found.
 */

/* Most hosts one URL may name: a few seeds are enough to find a whole cluster. */
#define REDIS_URL_MAX_HOSTS 64

/* One host of the URL. */
struct redis_url_host {
    char *host; /* owned by the struct redis_url; an IPv6 address without its [] */
    int port;   /* 1..65535, 6379 when not given */
};

/* A parsed URL. */
struct redis_url {
    char *host;     /* the first host (hosts[0].host), a copy the caller frees */
    int port;       /* the first host's port */
    char *password; /* %-decoded, the caller frees it; NULL when none */
    int db;         /* 0..1023, 0 when not given */
    struct redis_url_host *hosts; /* every host in the order written; the caller frees the
                                     array and each host with redis_url_hosts_free() */
    int nhosts;                   /* 1..REDIS_URL_MAX_HOSTS */
};

/*
 * Parses url. The user is accepted for the usual URL shape but ignored (hiredis AUTHs with
 * the password alone). The password ends at the last '@', so it may itself hold '@' or '/';
 * its %HH escapes are decoded. Hosts are separated by commas, each with its own optional
 * port; the password and db apply to all. Returns 0 with *out filled, or -1 with *err set to
 * a static reason and *out untouched.
 */
int redis_url_parse(const char *url, struct redis_url *out, const char **err);

/* Frees hosts[0..n) and the array; NULL is fine. */
void redis_url_hosts_free(struct redis_url_host *hosts, int n);

/* Frees every string of u (host, password, hosts) and sets them to NULL. */
void redis_url_free(struct redis_url *u);

#endif
