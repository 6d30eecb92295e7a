#ifndef OC_CONF_H
#define OC_CONF_H

#include <stddef.h>
#include <stdio.h>

#include "buf.h"
#include "redis_url.h"

/*
 * Configuration: one table of keys (name, type, default, bounds, validator, whether a reload
 * applies it) in conf.c. The file is redis.conf style: "key value..." lines, '#' comments,
 * values may be quoted with "..." or '...' (conf_lex.h). Every key can be overridden on the
 * command line as --key value...
 */

enum conf_engine {
    CONF_ENGINE_MEMORY,
    CONF_ENGINE_REDIS,
};

enum conf_object_tokens {
    CONF_OBJECT_TOKENS_OPTIONAL,
    CONF_OBJECT_TOKENS_REQUIRED,
};

struct conf {
    char *bind;                /* address to listen on */
    int port;                  /* 0 = pick a free port */
    enum conf_engine engine;
    char *redis_url;           /* as written: redis://[:password@]host:port[,...][/db] */
    char *redis_host;          /* parsed from redis_url: its first host */
    int redis_port;
    char *redis_password;      /* NULL when none */
    int redis_db;
    struct redis_url_host *redis_hosts; /* every host of redis_url, in order (redis_hosts[0]
                                           is redis_host:redis_port); owned */
    int redis_nhosts;          /* 1..REDIS_URL_MAX_HOSTS; more than 1 only with redis_cluster */
    int redis_cluster;         /* 1: redis_url names seed nodes of a Redis Cluster */
    char *redis_url_from;      /* where redis_url was set last (a file name or "(command
                                  line)"), NULL while it has its default: rules between keys
                                  about it name that place */
    int redis_url_line;        /* and the line there (the argument's position on the command
                                  line) */
    char *redis_prefix;
    char *instance_id;         /* "" = hostname:pid, filled in at start */
    char *token_secret;        /* "" = none set */
    int token_secret_grace;    /* seconds the previous secret still verifies after a reload */
    char *api_key;             /* "" = server API disabled */
    char **allowed_origins;    /* NULL-terminated; {"*"} allows every origin */
    enum conf_object_tokens object_tokens;
    int auth_timeout;          /* seconds */
    int ping_interval;         /* seconds */
    int ping_timeout;          /* seconds */
    int message_timeout;       /* seconds from a message's first byte to its last */
    int presence_ttl;          /* seconds */
    int history_size;          /* messages kept per object (engine redis) */
    int history_ttl;           /* seconds */
    size_t history_max_bytes;  /* of messages in one object's history */
    int redis_wait_replicas;   /* replicas a save must reach before it is confirmed */
    int redis_wait_timeout;    /* ms a save waits for them */
    size_t max_message_bytes;
    size_t max_data_bytes;
    size_t max_frame_bytes;
    int max_connections;
    int max_objects_per_connection; /* objects one connection may be on at once */
    size_t client_output_limit;
    int compression;           /* permessage-deflate offered by clients is accepted */
    size_t compression_min_bytes; /* shorter messages are sent uncompressed */
    int client_rate;           /* messages per second */
    int client_burst;          /* bucket size */
    int shutdown_timeout;      /* seconds */
    char *static_dir;
    int log_level;             /* enum log_level */
    int workers;
    int demo;                  /* demo pages and token endpoints (never in production) */
    int demo_port;             /* second port serving the demo plugins; 0 = none */
    char *conf_file;           /* name of the file (or text) loaded last, NULL when none;
                                  conf_validate() errors name it, or "(command line)" */
};

/* What the command line asked for besides conf keys. */
struct conf_cli {
    const char *conf_file; /* -c FILE, or NULL */
    int help;              /* --help or -h */
    int version;           /* --version or -v */
    int check_config;      /* --check-config */
};

/* Fills c with every key's default. */
void conf_init(struct conf *c);
/* Frees every string of c. */
void conf_free(struct conf *c);

/*
 * Sets one key from its words (argv[0..argc)), as a conf line or a --key override would.
 * file and line name where the setting came from, for the error. Returns 0, or -1 with
 * "FILE:LINE: key: reason" appended to err.
 */
int conf_set(struct conf *c, const char *key, int argc, char **argv, const char *file, int line,
             struct buf *err);

/* Reads a conf file into c. Returns 0, or -1 with the first error in err ("FILE:LINE: key:
 * reason", or "FILE: reason" when it cannot be read). */
int conf_load_file(struct conf *c, const char *path, struct buf *err);

/* Same as conf_load_file() for text already in memory; name is used in errors. */
int conf_load_string(struct conf *c, const char *text, const char *name, struct buf *err);

/* Checks rules between keys (e.g. max_message_bytes <= max_frame_bytes, workers > 1 needs
 * engine redis). Returns 0, or -1 with an error naming the key in err. */
int conf_validate(const struct conf *c, struct buf *err);

/*
 * The whole start-up path: defaults, then the file given with -c (or as the first bare
 * argument), then every --key value... override in order, then the environment's
 * OBJCAST_TOKEN_SECRET and OBJCAST_API_KEY for those keys still empty, then
 * conf_validate(). argv is main()'s. Returns 0, or -1 with the error in err. cli is filled
 * either way.
 */
int conf_from_argv(struct conf *c, int argc, char **argv, struct conf_cli *cli,
                   struct buf *err);

/*
 * A reload (SIGHUP): every key marked reloadable in conf.c's table takes its value in fresh,
 * a configuration read and validated anew; fresh gets c's old values in exchange, so
 * conf_free(fresh) frees them. The other keys of c stay as they are; token_secret is not
 * reloadable, the server rotates it itself.
 */
void conf_apply_reloadable(struct conf *c, struct conf *fresh);

/* Prints the usage text and every key with its default to f. */
void conf_print_help(FILE *f);

#endif
