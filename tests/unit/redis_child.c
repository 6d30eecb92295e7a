#include "redis_child.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

int redis_child_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static int accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

int redis_child_available(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char *copy = strdup(path);
    int found = 0;
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        char file[4096];
        snprintf(file, sizeof(file), "%s/redis-server", dir);
        found = access(file, X_OK) == 0;
    }
    free(copy);
    return found;
}

void redis_child_start(struct redis_child *r)
{
    redis_child_start_args(r, NULL);
}

void redis_child_start_args(struct redis_child *r, const char *const *extra)
{
    snprintf(r->dir, sizeof(r->dir), "/tmp/objcast-test-XXXXXX");
    if (!mkdtemp(r->dir)) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
    r->port = redis_child_free_port();
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", r->port);
    r->pid = fork();
    if (r->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(127);
        const char *args[64] = {"redis-server", "--port", portstr, "--bind", "127.0.0.1",
                                "--dir", r->dir, "--save", "", "--appendonly", "no"};
        int n = 11;
        for (int i = 0; extra && extra[i] && n < 63; i++)
            args[n++] = extra[i];
        args[n] = NULL;
        execvp("redis-server", (char *const *)args);
        _exit(127);
    }
    for (int i = 0; i < 500 && !accepts(r->port); i++) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!accepts(r->port)) {
        fprintf(stderr, "redis-server did not start on port %d\n", r->port);
        exit(EXIT_FAILURE);
    }
}

void redis_child_stop(struct redis_child *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", r->dir);
}

void redis_child_conf(const struct redis_child *r, struct conf *conf)
{
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", r->port);
    char *argv[1] = {url};
    struct buf err = {0};
    if (conf_set(conf, "redis_url", 1, argv, "test", 1, &err) != 0) {
        fprintf(stderr, "%s\n", err.p);
        exit(EXIT_FAILURE);
    }
    buf_free(&err);
}
