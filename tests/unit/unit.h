#ifndef OC_TEST_UNIT_H
#define OC_TEST_UNIT_H

/*
 * What every unit test program shares: check, and running its suite. A program is one
 * tests/unit/test_X.c (and one line in UNIT_TESTS of Makefile.am) that ends with
 * UNIT_MAIN(X_suite), or with a main() of its own around unit_run() when its suite needs
 * something set up first (test_engine.c starts a redis-server).
 */
#include <check.h>
#include <stdlib.h>

/* Runs every test of suite with check's normal output, then frees the runner and suite.
 * fork is CK_FORK_GETENV (each test in a child process, unless CK_FORK=no) or CK_NOFORK
 * (for suites whose fixtures keep an event loop or connections in this process). SIGPIPE
 * is ignored, as objcastd ignores it. Returns the number of tests that failed. */
int unit_run(Suite *suite, enum fork_status fork);

/* The main() of a program that needs nothing but its suite: suite_fn() builds it; the exit
 * status is 0 when every test passed. */
#define UNIT_MAIN(suite_fn)                                                                        \
    int main(void)                                                                                 \
    {                                                                                              \
        return unit_run(suite_fn(), CK_FORK_GETENV) ? EXIT_FAILURE : EXIT_SUCCESS;                 \
    }

#endif
