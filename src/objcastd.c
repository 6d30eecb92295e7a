/* objcastd: the objcast server. Reads the configuration, then runs the server until a
 * SIGTERM or SIGINT has drained it. */

#include <arpa/inet.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base64.h"
#include "conf.h"
#include "dict.h"
#include "log.h"
#include "server.h"
#include "version.h"

/* Exit status for configuration errors (DESIGN.md). */
#define EXIT_CONF 2

/*
 * Memory a burst took must go back once it is freed. glibc raises its mmap threshold each
 * time a large block is freed, after which 2 MiB messages and big output queues come from
 * the heap and stay in RSS after a slow client is dropped. A fixed threshold keeps large
 * blocks mapped, so freeing them unmaps them; small ones are trimmed by the reaper.
 */
static void tune_malloc(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
#endif
}

/* Room for every connection the conf allows, plus listeners, Redis and logs. */
static void raise_fd_limit(const struct conf *conf)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)conf->max_connections + 128;
    if (rl.rlim_cur >= want)
        return;
    /* The soft limit may go up to the hard one without privileges. */
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur >= want)
        return;
    long long room = (long long)rl.rlim_cur - 128;
    log_warn("the open file limit allows about %lld connections, max_connections says %d: "
             "raise the hard limit (ulimit -Hn %llu as root, LimitNOFILE=%llu with systemd, "
             "--ulimit nofile=%llu with Docker) or lower max_connections; past the limit "
             "new connections are refused, others are not disturbed "
             "limit=%llu max_connections=%d",
             room > 0 ? room : 0, conf->max_connections, (unsigned long long)want,
             (unsigned long long)want, (unsigned long long)want,
             (unsigned long long)rl.rlim_cur, conf->max_connections);
}

/* Without a secret no token can verify; a random one keeps it that way without an
 * empty-key HMAC anybody could forge. (conf_from_argv() has read OBJCAST_TOKEN_SECRET
 * already.) */
static void ensure_secret(struct conf *conf)
{
    if (conf->token_secret[0]) {
        if (strlen(conf->token_secret) < 32)
            log_warn("token_secret is shorter than 32 bytes: use a long random secret");
        return;
    }
    uint8_t raw[32];
    char text[BASE64_ENCODED_SIZE(32)];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        log_error("cannot generate a random secret");
        exit(1);
    }
    base64_encode(raw, sizeof(raw), text);
    free(conf->token_secret);
    conf->token_secret = oc_strdup(text);
    log_warn("token_secret is not set: no client can authenticate (set token_secret)");
}

/* Clients choose the keys of every table (object ids, user ids, saved-data keys): with
 * SipHash's public default key they could pick keys that all share one bucket. Each process
 * gets its own key, so a worker's collisions cannot be learned from another. Returns 0, or
 * -1 after logging why the process must not serve. */
static int seed_hashes(void)
{
    if (dict_seed_random() == 0)
        return 0;
    log_error("cannot seed the hash tables from the OS's random source error=\"%s\"",
              strerror(errno));
    return -1;
}

/* main()'s arguments, kept for server_set_args(): a SIGHUP reads the configuration from them
 * again. */
static int main_argc;
static char **main_argv;

/* Runs one server process until it is drained. Returns the exit status. */
static int serve(struct conf *conf, int worker)
{
    char instance[320];
    if (conf->instance_id[0] && worker)
        snprintf(instance, sizeof(instance), "%s-%d", conf->instance_id, worker);
    else if (conf->instance_id[0])
        snprintf(instance, sizeof(instance), "%s", conf->instance_id);
    else {
        char host[256] = "localhost";
        gethostname(host, sizeof(host) - 1);
        snprintf(instance, sizeof(instance), "%s:%d", host, (int)getpid());
    }
    struct buf err = {0};
    struct server *srv = server_new(conf, instance, &err);
    if (!srv) {
        log_error("start failed reason=\"%s\"", err.p);
        buf_free(&err);
        return 1;
    }
    server_set_args(srv, main_argc, main_argv);
    int rc = server_run(srv);
    server_free(srv);
    buf_free(&err);
    return rc;
}

/* With port 0 every worker must bind the same port: take one now and hold it (bound, not
 * listening, so it receives no connections) while the workers bind it with SO_REUSEPORT. */
static int reserve_port(struct conf *conf)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(conf->bind, "0", &hints, &ai) != 0 || !ai)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    conf->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static pid_t spawn_worker(struct conf *conf, int n, const sigset_t *old)
{
    pid_t pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, old, NULL);
        /* After the fork: a worker must not share its parent's (or a sibling's) key. */
        int rc = seed_hashes() == 0 ? serve(conf, n) : 1;
        conf_free(conf);
        _exit(rc);
    }
    if (pid < 0)
        log_error("fork failed error=\"%s\"", strerror(errno));
    return pid;
}

/*
 * workers N: N processes share the port (SO_REUSEPORT) and the Redis engine, each an
 * instance of its own. The parent only forwards signals and replaces a worker that died.
 */
static int run_workers(struct conf *conf)
{
    int held = conf->port == 0 ? reserve_port(conf) : -1;
    if (conf->port == 0) {
        log_error("cannot reserve a port for the workers");
        return 1;
    }
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, &old);

    int n = conf->workers, alive = 0, stopping = 0;
    pid_t *pids = oc_calloc((size_t)n, sizeof(*pids));
    for (int i = 0; i < n; i++)
        if ((pids[i] = spawn_worker(conf, i + 1, &old)) > 0)
            alive++;
    log_info("workers started count=%d port=%d", alive, conf->port);

    while (alive > 0) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            if (sig != SIGHUP)
                stopping = 1;
            for (int i = 0; i < n; i++)
                if (pids[i] > 0)
                    kill(pids[i], sig);
            continue;
        }
        if (sig != SIGCHLD)
            continue;
        pid_t pid;
        int status;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (int i = 0; i < n; i++) {
                if (pids[i] != pid)
                    continue;
                pids[i] = 0;
                alive--;
                if (stopping)
                    break;
                log_warn("worker died worker=%d pid=%d status=%d: starting a new one", i + 1,
                         (int)pid, status);
                sleep(1); /* a worker that dies at once must not spin */
                if ((pids[i] = spawn_worker(conf, i + 1, &old)) > 0)
                    alive++;
                break;
            }
        }
    }
    free(pids);
    if (held >= 0)
        close(held);
    log_info("workers stopped");
    return 0;
}

int main(int argc, char **argv)
{
    struct conf conf;
    struct conf_cli cli;
    struct buf err = {0};
    main_argc = argc;
    main_argv = argv;
    tune_malloc();

    if (conf_from_argv(&conf, argc, argv, &cli, &err) != 0) {
        fprintf(stderr, "objcastd: %s\n", err.p);
        buf_free(&err);
        conf_free(&conf);
        return EXIT_CONF;
    }
    if (cli.help) {
        conf_print_help(stdout);
        conf_free(&conf);
        return 0;
    }
    if (cli.version) {
        printf("objcastd %s\n", OBJCAST_VERSION);
        conf_free(&conf);
        return 0;
    }
    if (cli.check_config) {
        printf("configuration OK%s%s\n", cli.conf_file ? ": " : "",
               cli.conf_file ? cli.conf_file : "");
        conf_free(&conf);
        return 0;
    }

    log_set_level((enum log_level)conf.log_level);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(&conf);
    ensure_secret(&conf);
    /* Before any table is filled; workers seed again after their fork (spawn_worker()). */
    if (seed_hashes() != 0) {
        buf_free(&err);
        conf_free(&conf);
        return 1;
    }

    buf_free(&err);
    int rc = conf.workers > 1 ? run_workers(&conf) : serve(&conf, 0);
    conf_free(&conf);
    return rc;
}
