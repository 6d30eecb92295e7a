#include "unit.h"

#include <signal.h>

int unit_run(Suite *suite, enum fork_status fork)
{
    /* A test writing to a socket its peer closed gets EPIPE, not a killed process. */
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(suite);
    srunner_set_fork_status(sr, fork);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}
