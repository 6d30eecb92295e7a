#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "conf_lex.h"
#include "log.h"
#include "origin.h"
#include "redis_url.h"
#include "util.h"
#include "version.h"

/*
 * Every key lives in one table (keys[] below): its name, how its words are parsed, its
 * default written as it would be in the file, its bounds, an optional validator, whether a
 * reload applies it and a help line. conf_init(), the file loader, the command line, --help
 * and a reload all walk that table, so a default, a bound or a help text is written exactly
 * once (redis config.c, twemproxy nc_conf.c). The lines are split into words by conf_lex.c.
 */

enum conf_type {
    CONF_T_STRING,  /* one word, stored as char * */
    CONF_T_INT,     /* one plain decimal integer, stored as int */
    CONF_T_SIZE,    /* one plain decimal byte count, stored as size_t */
    CONF_T_ENUM,    /* one of words[], stored as int: the word's index */
    CONF_T_LIST,    /* one or more words, stored as a NULL-terminated char ** */
    CONF_T_SPECIAL, /* nargs words, parsed and stored by the validator alone, as nargs ints
                       from offset on */
};

/* Checks the words of a key (and may fill fields derived from them). Returns 0, or -1 with
 * *err set to a static reason. Runs before the generic store, so a key either changes
 * completely or not at all. */
typedef int (*conf_validate_fn)(struct conf *c, int argc, char **argv, const char **err);

struct conf_key {
    const char *name;    /* lowercase, as written in the file */
    enum conf_type type; /* how the words are parsed and stored */
    size_t offset;       /* of the field in struct conf */
    const char *def;     /* default, as words in file syntax ("200 400", "") */
    long long min;       /* bounds of CONF_T_INT and CONF_T_SIZE values */
    long long max;
    const char *const *words;  /* CONF_T_ENUM: accepted words, NULL-terminated; the index
                                  of a word is the stored value */
    int nargs;                 /* CONF_T_SPECIAL: exact number of words */
    conf_validate_fn validate; /* extra checks after parsing, or NULL */
    int reloadable;            /* SIGHUP applies a new value: conf_apply_reloadable() */
    const char *help;          /* one line for --help */
};

#define FIELD(f) offsetof(struct conf, f)

/* Enum fields are written through an int *; that is only sound while they are int-sized. */
_Static_assert(sizeof(enum conf_engine) == sizeof(int), "enum conf_engine must be int-sized");
_Static_assert(sizeof(enum conf_object_tokens) == sizeof(int),
               "enum conf_object_tokens must be int-sized");
/* client_rate stores RATE and BURST as two ints from client_rate on. */
_Static_assert(offsetof(struct conf, client_burst) ==
                   offsetof(struct conf, client_rate) + sizeof(int),
               "client_burst must follow client_rate");
/* The log_level words are stored by index, which must be the enum log_level value. */
_Static_assert(LOG_LEVEL_DEBUG == 0 && LOG_LEVEL_INFO == 1 && LOG_LEVEL_WARNING == 2 &&
                   LOG_LEVEL_ERROR == 3,
               "log_level words follow enum log_level");

static const char *const engine_words[] = {"memory", "redis", NULL};
static const char *const object_tokens_words[] = {"optional", "required", NULL};
static const char *const log_level_words[] = {"debug", "info", "warning", "error", NULL};
static const char *const yes_no_words[] = {"no", "yes", NULL};

static int validate_nonempty(struct conf *c, int argc, char **argv, const char **err);
static int validate_redis_url(struct conf *c, int argc, char **argv, const char **err);
static int validate_redis_prefix(struct conf *c, int argc, char **argv, const char **err);
static int validate_instance_id(struct conf *c, int argc, char **argv, const char **err);
static int validate_origins(struct conf *c, int argc, char **argv, const char **err);
static int validate_client_rate(struct conf *c, int argc, char **argv, const char **err);

/* One key per few lines reads better than one field per line. */
/* clang-format off */
static const struct conf_key keys[] = {
    /* network */
    {.name = "bind", .type = CONF_T_STRING, .offset = FIELD(bind), .def = "0.0.0.0",
     .validate = validate_nonempty, .help = "address to listen on"},
    {.name = "port", .type = CONF_T_INT, .offset = FIELD(port), .def = "8080", .min = 0,
     .max = 65535, .help = "TCP port for WebSocket and HTTP; 0 picks a free port"},
    /* engine and Redis */
    {.name = "engine", .type = CONF_T_ENUM, .offset = FIELD(engine), .def = "memory",
     .words = engine_words, .help = "memory (one process) or redis (several instances)"},
    {.name = "redis_url", .type = CONF_T_STRING, .offset = FIELD(redis_url),
     .def = "redis://127.0.0.1:6379", .validate = validate_redis_url,
     .help = "Redis server: redis://[[user]:password@]host[:port][,host[:port]...][/db]"},
    {.name = "redis_cluster", .type = CONF_T_ENUM, .offset = FIELD(redis_cluster), .def = "no",
     .words = yes_no_words,
     .help = "yes: redis_url names seed nodes of a Redis Cluster (comma-separated, db 0)"},
    {.name = "redis_prefix", .type = CONF_T_STRING, .offset = FIELD(redis_prefix), .def = "objcast",
     .validate = validate_redis_prefix,
     .help = "prefix of every Redis key and channel (1-64 of A-Z a-z 0-9 _ . -)"},
    {.name = "instance_id", .type = CONF_T_STRING, .offset = FIELD(instance_id), .def = "",
     .validate = validate_instance_id,
     .help = "name of this instance; empty = hostname:pid (no spaces, no '|')"},
    /* security; a reload rotates token_secret itself (server_reload()) */
    {.name = "token_secret", .type = CONF_T_STRING, .offset = FIELD(token_secret), .def = "",
     .help = "HMAC-SHA256 secret of connection and object tokens (must be set)"},
    {.name = "token_secret_grace", .type = CONF_T_INT, .offset = FIELD(token_secret_grace),
     .def = "300", .min = 0, .max = 86400, .reloadable = 1,
     .help = "seconds a replaced token_secret still verifies after SIGHUP (rotation)"},
    {.name = "api_key", .type = CONF_T_STRING, .offset = FIELD(api_key), .def = "",
     .reloadable = 1, .help = "bearer key of the server API; empty disables the API"},
    {.name = "allowed_origins", .type = CONF_T_LIST, .offset = FIELD(allowed_origins), .def = "*",
     .validate = validate_origins, .reloadable = 1,
     .help = "WebSocket Origins allowed: * or scheme://host[:port] words"},
    {.name = "object_tokens", .type = CONF_T_ENUM, .offset = FIELD(object_tokens),
     .def = "optional", .words = object_tokens_words, .reloadable = 1,
     .help = "whether subscribing to an object needs an object token"},
    /* timeouts, whole seconds */
    {.name = "auth_timeout", .type = CONF_T_INT, .offset = FIELD(auth_timeout), .def = "10",
     .min = 1, .max = 3600, .reloadable = 1,
     .help = "seconds a new connection has to authenticate"},
    {.name = "ping_interval", .type = CONF_T_INT, .offset = FIELD(ping_interval), .def = "25",
     .min = 1, .max = 3600, .reloadable = 1,
     .help = "seconds of silence before the server pings"},
    {.name = "ping_timeout", .type = CONF_T_INT, .offset = FIELD(ping_timeout), .def = "10",
     .min = 1, .max = 3600, .reloadable = 1,
     .help = "seconds a ping may stay unanswered"},
    {.name = "message_timeout", .type = CONF_T_INT, .offset = FIELD(message_timeout),
     .def = "30", .min = 1, .max = 3600, .reloadable = 1,
     .help = "seconds a WebSocket message may take to arrive once it began"},
    {.name = "presence_ttl", .type = CONF_T_INT, .offset = FIELD(presence_ttl), .def = "30",
     .min = 3, .max = 86400, .help = "seconds until a dead instance's users disappear"},
    {.name = "history_size", .type = CONF_T_INT, .offset = FIELD(history_size), .def = "100",
     .min = 0, .max = 100000, .reloadable = 1,
     .help = "messages kept per object in Redis, to read back what a subscription missed"},
    {.name = "history_ttl", .type = CONF_T_INT, .offset = FIELD(history_ttl), .def = "300",
     .min = 1, .max = 86400, .reloadable = 1,
     .help = "seconds an object's history stays after its last message"},
    {.name = "history_max_bytes", .type = CONF_T_SIZE, .offset = FIELD(history_max_bytes),
     .def = "16777216", .min = 1024, .max = 1073741824, .reloadable = 1,
     .help = "bytes of messages kept in one object's history; the oldest go first past it"},
    {.name = "redis_wait_replicas", .type = CONF_T_INT, .offset = FIELD(redis_wait_replicas),
     .def = "0", .min = 0, .max = 16, .reloadable = 1,
     .help = "replicas that must have a save (WAIT) before it is confirmed; 0: the master"},
    {.name = "redis_wait_timeout", .type = CONF_T_INT, .offset = FIELD(redis_wait_timeout),
     .def = "1000", .min = 1, .max = 2000, .reloadable = 1,
     .help = "milliseconds a save waits for its replicas, then is answered unavailable"},
    {.name = "shutdown_timeout", .type = CONF_T_INT, .offset = FIELD(shutdown_timeout), .def = "10",
     .min = 1, .max = 3600, .reloadable = 1,
     .help = "seconds a SIGTERM shutdown may take"},
    /* limits, plain byte counts */
    {.name = "max_message_bytes", .type = CONF_T_SIZE, .offset = FIELD(max_message_bytes),
     .def = "2097152", .min = 1024, .max = 67108864, .reloadable = 1,
     .help = "bytes of one plugin message's JSON text"},
    {.name = "max_data_bytes", .type = CONF_T_SIZE, .offset = FIELD(max_data_bytes),
     .def = "512000", .min = 1024, .max = 67108864, .reloadable = 1,
     .help = "bytes of an object's saved data as compact JSON"},
    {.name = "max_frame_bytes", .type = CONF_T_SIZE, .offset = FIELD(max_frame_bytes),
     .def = "2162688", .min = 2048, .max = 134217728,
     .help = "bytes of one WebSocket message, all fragments together"},
    {.name = "max_connections", .type = CONF_T_INT, .offset = FIELD(max_connections),
     .def = "100000", .min = 1, .max = 10000000, .reloadable = 1,
     .help = "open connections per process"},
    {.name = "max_objects_per_connection", .type = CONF_T_INT,
     .offset = FIELD(max_objects_per_connection), .def = "256", .min = 1, .max = 100000,
     .reloadable = 1, .help = "objects one connection may be on at once"},
    {.name = "client_output_limit", .type = CONF_T_SIZE, .offset = FIELD(client_output_limit),
     .def = "16777216", .min = 65536, .max = 1073741824, .reloadable = 1,
     .help = "bytes queued for one client before it is closed"},
    {.name = "compression", .type = CONF_T_ENUM, .offset = FIELD(compression), .def = "yes",
     .words = yes_no_words, .reloadable = 1,
     .help = "accept permessage-deflate (RFC 7692) when a client offers it (new connections)"},
    {.name = "compression_min_bytes", .type = CONF_T_SIZE, .offset = FIELD(compression_min_bytes),
     .def = "512", .min = 0, .max = 134217728, .reloadable = 1,
     .help = "messages shorter than this go uncompressed even where it was agreed"},
    {.name = "client_rate", .type = CONF_T_SPECIAL, .offset = FIELD(client_rate),
     .def = "200 400", .nargs = 2, .validate = validate_client_rate, .reloadable = 1,
     .help = "RATE BURST: messages per second per connection, and the burst"},
    /* operations */
    {.name = "static_dir", .type = CONF_T_STRING, .offset = FIELD(static_dir), .def = "web",
     .validate = validate_nonempty, .help = "directory of objcast.js and the demo pages"},
    {.name = "log_level", .type = CONF_T_ENUM, .offset = FIELD(log_level), .def = "info",
     .words = log_level_words, .reloadable = 1,
     .help = "least important level written to the log"},
    {.name = "workers", .type = CONF_T_INT, .offset = FIELD(workers), .def = "1", .min = 1,
     .max = 64, .help = "processes sharing the port (more than 1 needs engine redis)"},
    /* demo: never in production */
    {.name = "demo", .type = CONF_T_ENUM, .offset = FIELD(demo), .def = "no",
     .words = yes_no_words,
     .help = "serve the demo and its token endpoint to loopback clients (unsafe: demo only)"},
    {.name = "demo_port", .type = CONF_T_INT, .offset = FIELD(demo_port), .def = "0", .min = 0,
     .max = 65535, .help = "second port serving the demo plugins (their own origin); 0 = none"},
};
/* clang-format on */

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* Source name of command-line settings and of conf_validate() errors without a file. */
static const char cmdline[] = "(command line)";

/* ---- small helpers ---------------------------------------------------------------------- */

static int is_alnum(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static const struct conf_key *key_find(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* Words a key takes: -1 means one or more. */
static int key_nargs(const struct conf_key *k)
{
    switch (k->type) {
    case CONF_T_LIST:
        return -1;
    case CONF_T_SPECIAL:
        return k->nargs;
    default:
        return 1;
    }
}

static void list_free(char **list)
{
    if (!list)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

/* Appends "FILE:LINE: key: reason" (or "FILE: key: reason" when line <= 0) to err. */
static void add_error(struct buf *err, const char *file, int line, const char *key,
                      const char *reason)
{
    if (!err)
        return;
    if (line > 0)
        buf_printf(err, "%s:%d: %s: %s", file, line, key, reason);
    else
        buf_printf(err, "%s: %s: %s", file, key, reason);
}

/* ---- validators ---------------------------------------------------------------------------- */

static int validate_nonempty(struct conf *c, int argc, char **argv, const char **err)
{
    if (argv[0][0] == '\0') {
        *err = "must not be empty";
        return -1;
    }
    return 0;
}

/* Fills redis_host, redis_port, redis_password, redis_db and redis_hosts only when the whole
 * URL is good (redis_url.c). Whether it may name several hosts depends on redis_cluster,
 * which may come later: conf_validate() checks that. */
static int validate_redis_url(struct conf *c, int argc, char **argv, const char **err)
{
    struct redis_url u;
    if (redis_url_parse(argv[0], &u, err) < 0)
        return -1;
    free(c->redis_host);
    free(c->redis_password);
    redis_url_hosts_free(c->redis_hosts, c->redis_nhosts);
    c->redis_host = u.host;
    c->redis_port = u.port;
    c->redis_password = u.password;
    c->redis_db = u.db;
    c->redis_hosts = u.hosts;
    c->redis_nhosts = u.nhosts;
    return 0;
}

/* The prefix starts every key and channel name; '{', '}' and ':' would break the hash
 * tags and separators of the key layout (docs/operations.md, "Redis"). */
static int validate_redis_prefix(struct conf *c, int argc, char **argv, const char **err)
{
    const char *s = argv[0];
    size_t n = strlen(s);
    int ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-';
    if (!ok) {
        *err = "must be 1 to 64 characters of A-Z a-z 0-9 _ . -";
        return -1;
    }
    return 0;
}

/* '|' separates user id and instance in presence fields, so an id may not contain it. */
static int validate_instance_id(struct conf *c, int argc, char **argv, const char **err)
{
    const char *s = argv[0];
    size_t n = strlen(s);
    int ok = n <= 128;
    for (size_t i = 0; ok && i < n; i++)
        ok = s[i] > ' ' && s[i] < 127 && s[i] != '|';
    if (!ok) {
        *err = "must be empty or 1 to 128 printable characters without spaces or '|'";
        return -1;
    }
    return 0;
}

static int validate_origins(struct conf *c, int argc, char **argv, const char **err)
{
    for (int i = 0; i < argc; i++) {
        if (!origin_valid(argv[i])) {
            *err = "each origin must be * or scheme://host[:port] (no path)";
            return -1;
        }
    }
    return 0;
}

static int validate_client_rate(struct conf *c, int argc, char **argv, const char **err)
{
    long long rate, burst;
    int rc = util_parse_bounded(argv[0], 1, 1000000, &rate);
    if (rc < 0) {
        *err = rc == -1 ? "RATE must be an integer" : "RATE must be between 1 and 1000000";
        return -1;
    }
    rc = util_parse_bounded(argv[1], 1, 1000000, &burst);
    if (rc < 0) {
        *err = rc == -1 ? "BURST must be an integer" : "BURST must be between 1 and 1000000";
        return -1;
    }
    if (burst < rate) {
        *err = "BURST must not be less than RATE";
        return -1;
    }
    c->client_rate = (int)rate;
    c->client_burst = (int)burst;
    return 0;
}

/* ---- setting one key ----------------------------------------------------------------------- */

/* "must be a, b or c" for an enum key. */
static void enum_reason(const struct conf_key *k, struct buf *why)
{
    buf_append_str(why, "must be ");
    for (int i = 0; k->words[i]; i++) {
        if (i > 0)
            buf_append_str(why, k->words[i + 1] ? ", " : " or ");
        buf_append_str(why, k->words[i]);
    }
}

/* Parses, validates and stores the words of key k. Returns 0, or -1 with the reason in
 * why and c unchanged. */
static int key_apply(struct conf *c, const struct conf_key *k, int argc, char **argv,
                     struct buf *why)
{
    void *field = (char *)c + k->offset;
    const char *err = NULL;
    long long v = 0;
    int index = 0;

    int nargs = key_nargs(k);
    if ((nargs < 0 && argc < 1) || (nargs >= 0 && argc != nargs)) {
        buf_append_str(why, "wrong number of arguments");
        return -1;
    }

    switch (k->type) {
    case CONF_T_INT:
    case CONF_T_SIZE: {
        int rc = util_parse_bounded(argv[0], k->min, k->max, &v);
        if (rc == -1) {
            buf_append_str(why, k->type == CONF_T_INT ? "must be an integer"
                                                      : "must be a plain byte count (no units)");
            return -1;
        }
        if (rc == -2) {
            buf_printf(why, "must be between %lld and %lld", k->min, k->max);
            return -1;
        }
        break;
    }
    case CONF_T_ENUM:
        for (index = 0; k->words[index]; index++)
            if (strcasecmp(argv[0], k->words[index]) == 0)
                break;
        if (!k->words[index]) {
            enum_reason(k, why);
            return -1;
        }
        break;
    default:
        break;
    }

    if (k->validate && k->validate(c, argc, argv, &err) < 0) {
        buf_append_str(why, err ? err : "invalid value");
        return -1;
    }

    switch (k->type) {
    case CONF_T_STRING:
        free(*(char **)field);
        *(char **)field = oc_strdup(argv[0]);
        break;
    case CONF_T_INT:
        *(int *)field = (int)v;
        break;
    case CONF_T_SIZE:
        *(size_t *)field = (size_t)v;
        break;
    case CONF_T_ENUM:
        *(int *)field = index;
        break;
    case CONF_T_LIST: {
        char **list = oc_calloc((size_t)argc + 1, sizeof(*list));
        for (int i = 0; i < argc; i++)
            list[i] = oc_strdup(argv[i]);
        list_free(*(char ***)field);
        *(char ***)field = list;
        break;
    }
    case CONF_T_SPECIAL:
        break; /* the validator stored it */
    }
    return 0;
}

int conf_set(struct conf *c, const char *key, int argc, char **argv, const char *file, int line,
             struct buf *err)
{
    struct buf name = {0};
    struct buf why = {0};
    for (const char *p = key; *p; p++)
        buf_append_char(&name, (char)tolower((unsigned char)*p));
    buf_append(&name, "", 0);

    const struct conf_key *k = key_find(name.p);
    int rc = 0;
    if (!k) {
        buf_append_str(&why, "unknown key");
        rc = -1;
    } else {
        rc = key_apply(c, k, argc, argv, &why);
    }
    if (rc < 0) {
        add_error(err, file, line, name.p, why.p);
    } else if (k->offset == FIELD(redis_url)) {
        /* The rules between redis_url and redis_cluster blame the URL (conf_validate()):
         * remember its line, so the error points at it as a bad value would. */
        free(c->redis_url_from);
        c->redis_url_from = oc_strdup(file);
        c->redis_url_line = line;
    }
    buf_free(&name);
    buf_free(&why);
    return rc < 0 ? OC_ERR : OC_OK;
}

/* A command-line override. A key of several words also takes them as one argument
 * (--client_rate "100 200"), split on blanks, as redis-server does. */
static int conf_set_cli(struct conf *c, const char *key, int argc, char **argv, int pos,
                        struct buf *err)
{
    struct buf name = {0};
    for (const char *p = key; *p; p++)
        buf_append_char(&name, (char)tolower((unsigned char)*p));
    const struct conf_key *k = key_find(name.p ? name.p : "");
    buf_free(&name);
    int multi = k && (k->type == CONF_T_LIST || (k->type == CONF_T_SPECIAL && k->nargs > 1));
    if (!multi || argc != 1 || !strpbrk(argv[0], " \t"))
        return conf_set(c, key, argc, argv, cmdline, pos, err);
    char *copy = oc_strdup(argv[0]);
    char *words[64];
    int n = 0;
    for (char *save = NULL, *w = strtok_r(copy, " \t", &save); w && n < 64;
         w = strtok_r(NULL, " \t", &save))
        words[n++] = w;
    int rc = conf_set(c, key, n, words, cmdline, pos, err);
    free(copy);
    return rc;
}

/* ---- defaults -------------------------------------------------------------------------------- */

/* Splits a default on spaces; defaults never need quoting beyond "" for empty strings. */
static void apply_default(struct conf *c, const struct conf_key *k)
{
    char *copy = oc_strdup(k->def);
    char *words[8];
    char *save = NULL;
    int n = 0;
    if (key_nargs(k) == 1) {
        words[n++] = copy;
    } else {
        for (char *w = strtok_r(copy, " ", &save); w && n < 8; w = strtok_r(NULL, " ", &save))
            words[n++] = w;
    }
    struct buf err = {0};
    if (conf_set(c, k->name, n, words, "(default)", 0, &err) < 0) {
        /* The table itself is wrong: no configuration can be trusted. */
        fprintf(stderr, "objcastd: bad built-in default: %s\n", err.p);
        abort();
    }
    buf_free(&err);
    free(copy);
}

void conf_init(struct conf *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NKEYS; i++)
        apply_default(c, &keys[i]);
    /* A default is no place a rule between keys could point at. */
    free(c->redis_url_from);
    c->redis_url_from = NULL;
}

void conf_free(struct conf *c)
{
    for (size_t i = 0; i < NKEYS; i++) {
        void *field = (char *)c + keys[i].offset;
        if (keys[i].type == CONF_T_STRING) {
            free(*(char **)field);
            *(char **)field = NULL;
        } else if (keys[i].type == CONF_T_LIST) {
            list_free(*(char ***)field);
            *(char ***)field = NULL;
        }
    }
    free(c->redis_host);
    free(c->redis_password);
    free(c->conf_file);
    free(c->redis_url_from);
    redis_url_hosts_free(c->redis_hosts, c->redis_nhosts);
    c->redis_host = c->redis_password = c->conf_file = c->redis_url_from = NULL;
    c->redis_hosts = NULL;
    c->redis_nhosts = 0;
}

/* ---- reload ---------------------------------------------------------------------------------- */

/* Bytes key k stores from its offset on. */
static size_t field_size(const struct conf_key *k)
{
    switch (k->type) {
    case CONF_T_STRING:
        return sizeof(char *);
    case CONF_T_LIST:
        return sizeof(char **);
    case CONF_T_SIZE:
        return sizeof(size_t);
    case CONF_T_SPECIAL:
        return (size_t)k->nargs * sizeof(int);
    default:
        return sizeof(int); /* CONF_T_INT, CONF_T_ENUM */
    }
}

void conf_apply_reloadable(struct conf *c, struct conf *fresh)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (!keys[i].reloadable)
            continue;
        /* A swap, so strings and lists change owners and fresh frees the old ones. */
        unsigned char *a = (unsigned char *)c + keys[i].offset;
        unsigned char *b = (unsigned char *)fresh + keys[i].offset;
        for (size_t n = field_size(&keys[i]); n-- > 0;) {
            unsigned char t = a[n];
            a[n] = b[n];
            b[n] = t;
        }
    }
}

/* ---- the file -------------------------------------------------------------------------------- */

int conf_load_string(struct conf *c, const char *text, const char *name, struct buf *err)
{
    free(c->conf_file);
    c->conf_file = oc_strdup(name);

    const char *p = text;
    int lineno = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        const char *next = nl ? nl + 1 : end;
        lineno++;
        if (end > p && end[-1] == '\r')
            end--; /* CRLF files */

        struct conf_words w = {0};
        const char *why = NULL;
        int rc = conf_lex_line(p, end, &w, &why);
        p = next;
        if (rc == 0 && w.n == 0)
            continue; /* blank or comment */
        if (rc < 0) {
            struct buf key = {0};
            if (w.n > 0) {
                for (const char *k = w.v[0]; *k; k++)
                    buf_append_char(&key, (char)tolower((unsigned char)*k));
            } else {
                buf_append_str(&key, "(line)");
            }
            add_error(err, name, lineno, key.p, why);
            buf_free(&key);
        } else {
            rc = conf_set(c, w.v[0], w.n - 1, w.v + 1, name, lineno, err);
        }
        conf_words_free(&w);
        if (rc < 0)
            return OC_ERR;
    }
    return OC_OK;
}

int conf_load_file(struct conf *c, const char *path, struct buf *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (err)
            buf_printf(err, "%s: cannot open: %s", path, strerror(errno));
        return OC_ERR;
    }
    struct buf text = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&text, chunk, n);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (read_errno) {
        if (err)
            buf_printf(err, "%s: cannot read: %s", path, strerror(read_errno));
        buf_free(&text);
        return OC_ERR;
    }
    buf_append(&text, "", 0); /* an empty file still gets a string */
    if (strlen(text.p) != text.len) {
        if (err)
            buf_printf(err, "%s: cannot read: contains a NUL byte", path);
        buf_free(&text);
        return OC_ERR;
    }
    int rc = conf_load_string(c, text.p, path, err);
    buf_free(&text);
    return rc;
}

/* ---- rules between keys -------------------------------------------------------------------- */

int conf_validate(const struct conf *c, struct buf *err)
{
    const char *src = c->conf_file ? c->conf_file : cmdline;
    char why[160];

    if (c->max_message_bytes > c->max_frame_bytes) {
        /* A message travels inside one frame. */
        snprintf(why, sizeof(why), "must not exceed max_frame_bytes (%zu)", c->max_frame_bytes);
        add_error(err, src, 0, "max_message_bytes", why);
        return OC_ERR;
    }
    if (c->max_data_bytes > c->max_frame_bytes) {
        /* Saved data arrives in one ovice_save_and_emit_data frame. */
        snprintf(why, sizeof(why), "must not exceed max_frame_bytes (%zu)", c->max_frame_bytes);
        add_error(err, src, 0, "max_data_bytes", why);
        return OC_ERR;
    }
    if (c->client_output_limit < c->max_frame_bytes) {
        /* Otherwise one full-size broadcast would close every recipient. */
        snprintf(why, sizeof(why), "must be at least max_frame_bytes (%zu)", c->max_frame_bytes);
        add_error(err, src, 0, "client_output_limit", why);
        return OC_ERR;
    }
    if (c->workers > 1 && c->engine != CONF_ENGINE_REDIS) {
        /* Workers are separate processes: only Redis carries messages between them. */
        add_error(err, src, 0, "workers", "workers > 1 needs engine redis");
        return OC_ERR;
    }
    /* Both rules can only fail for a redis_url that was set (the default names one host,
     * db 0), so redis_url_from is there; the fallback only keeps a hand-made conf safe. */
    const char *url_src = c->redis_url_from ? c->redis_url_from : src;
    int url_line = c->redis_url_from ? c->redis_url_line : 0;
    if (!c->redis_cluster && c->redis_nhosts > 1) {
        /* Several hosts are seeds of one cluster; for one Redis they would be a guess. */
        snprintf(why, sizeof(why), "names %d hosts; more than one needs redis_cluster yes",
                 c->redis_nhosts);
        add_error(err, url_src, url_line, "redis_url", why);
        return OC_ERR;
    }
    if (c->redis_cluster && c->redis_db != 0) {
        /* A Redis Cluster has db 0 only, and refuses SELECT of any other. */
        add_error(err, url_src, url_line, "redis_url", "db must be 0 with redis_cluster yes");
        return OC_ERR;
    }
    return OC_OK;
}

/* ---- the command line ---------------------------------------------------------------------- */

/* One --key value... override, applied after the file. */
struct override {
    int pos;     /* index in argv, reported as the LINE of errors */
    char *key;   /* owned: lowercase, dashes turned into underscores */
    int argc;    /* words */
    char **argv; /* owned array of words pointing into argv */
};

/* Arguments that end the words of a --key: another option. A value that starts with "--"
 * or is exactly -c, -h or -v can still be given as --key=value. */
static int ends_words(const char *a)
{
    return strncmp(a, "--", 2) == 0 || strcmp(a, "-c") == 0 || strcmp(a, "-h") == 0 ||
           strcmp(a, "-v") == 0;
}

static void first_error(struct buf *first, int pos, const char *key, const char *reason)
{
    if (first->len == 0)
        add_error(first, cmdline, pos, key, reason);
}

int conf_from_argv(struct conf *c, int argc, char **argv, struct conf_cli *cli, struct buf *err)
{
    memset(cli, 0, sizeof(*cli));
    conf_init(c);

    struct override *ov = oc_calloc((size_t)(argc > 0 ? argc : 1), sizeof(*ov));
    int nov = 0;
    struct buf first = {0}; /* first command-line error, reported unless --help wins */
    int rc = OC_OK;

    int i = 1;
    if (argc > 1 && argv[1][0] != '-') {
        cli->conf_file = argv[1]; /* redis-server style: objcastd FILE --key value */
        i = 2;
    }
    while (i < argc) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cli->help = 1;
            i++;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            cli->version = 1;
            i++;
        } else if (strcmp(a, "--check-config") == 0 || strcmp(a, "--check_config") == 0) {
            cli->check_config = 1;
            i++;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 ||
                   strncmp(a, "--config=", 9) == 0) {
            const char *file = NULL;
            int pos = i++;
            if (a[1] == '-' && a[8] == '=')
                file = a[9] ? a + 9 : NULL;
            else if (i < argc && !ends_words(argv[i]))
                file = argv[i++];
            if (!file)
                first_error(&first, pos, a[1] == '-' ? "--config" : "-c", "needs a file name");
            else if (cli->conf_file)
                first_error(&first, pos, a[1] == '-' ? "--config" : "-c",
                            "only one conf file may be given");
            else
                cli->conf_file = file;
        } else if (a[0] == '-' && a[1] == '-' && a[2]) {
            struct override *o = &ov[nov++];
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
            o->pos = i++;
            o->key = oc_strndup(name, name_len);
            for (char *p = o->key; *p; p++)
                *p = *p == '-' ? '_' : (char)tolower((unsigned char)*p);
            int j = i;
            while (j < argc && !ends_words(argv[j]))
                j++;
            o->argv = oc_calloc((size_t)(j - i) + 2, sizeof(*o->argv));
            if (eq)
                o->argv[o->argc++] = (char *)eq + 1;
            while (i < j)
                o->argv[o->argc++] = argv[i++];
        } else {
            first_error(&first, i, a, "unexpected argument");
            i++;
        }
    }

    if (cli->help || cli->version)
        goto out; /* nothing else matters; main() prints and exits */
    if (first.len) {
        if (err)
            buf_append(err, first.p, first.len);
        rc = OC_ERR;
        goto out;
    }
    if (cli->conf_file && conf_load_file(c, cli->conf_file, err) < 0) {
        rc = OC_ERR;
        goto out;
    }
    for (int k = 0; k < nov; k++) {
        if (conf_set_cli(c, ov[k].key, ov[k].argc, ov[k].argv, ov[k].pos, err) < 0) {
            rc = OC_ERR;
            goto out;
        }
    }
    /* The secrets may come from the environment instead: unlike an argument, it does not
     * show in ps (only the process's own user and root read /proc/PID/environ). The file and
     * the command line win. */
    static const struct {
        const char *var;
        size_t offset;
    } secrets[] = {{"OBJCAST_TOKEN_SECRET", FIELD(token_secret)},
                   {"OBJCAST_API_KEY", FIELD(api_key)}};
    for (size_t k = 0; k < sizeof(secrets) / sizeof(secrets[0]); k++) {
        char **slot = (char **)((char *)c + secrets[k].offset);
        const char *env = getenv(secrets[k].var);
        if (!(*slot)[0] && env && env[0]) {
            free(*slot);
            *slot = oc_strdup(env);
        }
    }
    rc = conf_validate(c, err);

out:
    for (int k = 0; k < nov; k++) {
        free(ov[k].key);
        free(ov[k].argv);
    }
    free(ov);
    buf_free(&first);
    return rc;
}

/* ---- help and origins ---------------------------------------------------------------------- */

void conf_print_help(FILE *f)
{
    fprintf(f, "Usage: objcastd [-c FILE] [--KEY VALUE ...] [--check-config] [--help] "
               "[--version]\n"
               "\n"
               "  -c, --config FILE  read FILE (\"key value\" lines, # comments) before the "
               "--KEY overrides;\n"
               "                     a first argument not starting with '-' is taken as FILE\n"
               "  --KEY VALUE...     set a key, overriding the file (--key=value and "
               "--max-message-bytes\n"
               "                     spellings work too)\n"
               "  --check-config     load and validate the configuration, then exit\n"
               "  -h, --help         print this help and exit\n"
               "  -v, --version      print the version and exit\n"
               "\n"
               "Keys (sizes are plain byte counts, durations whole seconds):\n");
    for (size_t i = 0; i < NKEYS; i++) {
        const struct conf_key *k = &keys[i];
        struct buf line = {0};
        buf_printf(&line, "  %-20s %s\n  %-20s default: %s", k->name, k->help, "",
                   k->def[0] ? k->def : "\"\"");
        if (k->type == CONF_T_INT || k->type == CONF_T_SIZE)
            buf_printf(&line, " (%lld..%lld)", k->min, k->max);
        if (k->type == CONF_T_ENUM) {
            buf_append_str(&line, " (");
            for (int w = 0; k->words[w]; w++)
                buf_printf(&line, "%s%s", w ? "|" : "", k->words[w]);
            buf_append_str(&line, ")");
        }
        buf_append_str(&line, "\n");
        fputs(line.p, f);
        buf_free(&line);
    }
}
