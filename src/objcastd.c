/* objcastd: the objcast server. Reads the configuration, then runs the server until a
 * SIGTERM or SIGINT has drained it. */

#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base64.h"
#include "conf.h"
#include "log.h"
#include "server.h"
#include "version.h"

/* Exit status for configuration errors (DESIGN.md). */
#define EXIT_CONF 2

/* Room for every connection the conf allows, plus listeners, Redis and logs. */
static void raise_fd_limit(const struct conf *conf)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)conf->max_connections + 128;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
        log_warn("open file limit below max_connections limit=%llu max_connections=%d",
                 (unsigned long long)rl.rlim_cur, conf->max_connections);
}

/* Without a secret no token can verify; a random one keeps it that way without an
 * empty-key HMAC anybody could forge. */
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

int main(int argc, char **argv)
{
    struct conf conf;
    struct conf_cli cli;
    struct buf err = {0};

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

    char instance[320];
    if (conf.instance_id[0]) {
        snprintf(instance, sizeof(instance), "%s", conf.instance_id);
    } else {
        char host[256] = "localhost";
        gethostname(host, sizeof(host) - 1);
        snprintf(instance, sizeof(instance), "%s:%d", host, (int)getpid());
    }

    struct server *srv = server_new(&conf, instance, &err);
    if (!srv) {
        log_error("start failed reason=\"%s\"", err.p);
        buf_free(&err);
        conf_free(&conf);
        return 1;
    }
    int rc = server_run(srv);
    server_free(srv);
    conf_free(&conf);
    buf_free(&err);
    return rc;
}
