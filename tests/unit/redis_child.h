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

/* Stops the server and removes its directory. */
void redis_child_stop(struct redis_child *r);

/* Sets conf's redis_url to the child's address (conf is conf_init()ed by the caller). */
void redis_child_conf(const struct redis_child *r, struct conf *conf);

#endif
