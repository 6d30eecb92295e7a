#ifndef OC_TEST_REDIS_CHILD_H
#define OC_TEST_REDIS_CHILD_H

#include <sys/types.h>

#include "conf.h"

/* A private redis-server for the unit tests that need a real one. */
struct redis_child {
    pid_t pid;    /* the redis-server process, 0 when not running */
    int port;     /* its loopback port */
    char dir[64]; /* its temp directory, removed by redis_child_stop() */
};

/* Starts redis-server on a free loopback port in a new temp dir, without persistence, and
 * returns once it accepts connections. It dies with the test process even when a failed
 * check aborts it. Exits the test process when it cannot start. */
void redis_child_start(struct redis_child *r);

/* redis_child_start() with more redis-server arguments (NULL-terminated, may be NULL), e.g.
 * "--cluster-enabled", "yes"; the cluster's nodes.conf goes into the temp dir. */
void redis_child_start_args(struct redis_child *r, const char *const *extra);

/* A loopback port free right now (another redis-server port: a cluster node's bus port). */
int redis_child_free_port(void);

/* 1 when redis-server can be run (it is on PATH). A test that needs one exits with
 * REDIS_CHILD_SKIP when it is not, which automake counts as skipped. */
int redis_child_available(void);
#define REDIS_CHILD_SKIP 77

/* Stops the server and removes its directory. */
void redis_child_stop(struct redis_child *r);

/* Sets conf's redis_url to the child's address (conf is conf_init()ed by the caller). */
void redis_child_conf(const struct redis_child *r, struct conf *conf);

#endif
