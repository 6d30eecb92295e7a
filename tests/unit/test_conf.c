/* Unit tests of conf.c: defaults, the conf file syntax, every error path, the command line
 * and the rules between keys. Fixtures live in tests/unit/fixtures and are opened through
 * OBJCAST_SRCDIR, so the tests run from any directory. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "origin.h"
#include "unit.h"

#define FIXTURES OBJCAST_SRCDIR "/tests/unit/fixtures/"
#define EXAMPLE_CONF OBJCAST_SRCDIR "/conf/objcast.conf"

/* Every key and its default as the conf file would write it; must list every key. */
/* clang-format off */
static const struct {
    const char *name;
    const char *def;
} all_keys[] = {
    {"bind", "0.0.0.0"},
    {"port", "8080"},
    {"engine", "memory"},
    {"redis_url", "redis://127.0.0.1:6379"},
    {"redis_cluster", "no"},
    {"redis_prefix", "objcast"},
    {"instance_id", "\"\""},
    {"token_secret", "\"\""},
    {"api_key", "\"\""},
    {"allowed_origins", "*"},
    {"object_tokens", "optional"},
    {"auth_timeout", "10"},
    {"ping_interval", "25"},
    {"ping_timeout", "10"},
    {"presence_ttl", "30"},
    {"shutdown_timeout", "10"},
    {"max_message_bytes", "2097152"},
    {"max_data_bytes", "512000"},
    {"max_frame_bytes", "2162688"},
    {"max_connections", "100000"},
    {"client_output_limit", "16777216"},
    {"client_rate", "200 400"},
    {"static_dir", "web"},
    {"log_level", "info"},
    {"workers", "1"},
};
/* clang-format on */
#define NKEYS (sizeof(all_keys) / sizeof(all_keys[0]))

static int str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static int list_eq(char **a, char **b)
{
    if (!a || !b)
        return a == b;
    for (; *a && *b; a++, b++)
        if (strcmp(*a, *b) != 0)
            return 0;
    return *a == NULL && *b == NULL;
}

/* Names the first field that differs, or NULL when a and b hold the same settings
 * (conf_file, which says where they came from, is not a setting). */
static const char *conf_diff(const struct conf *a, const struct conf *b)
{
#define SAME_STR(f)                                                                                \
    if (!str_eq(a->f, b->f))                                                                       \
    return #f
#define SAME_NUM(f)                                                                                \
    if (a->f != b->f)                                                                              \
    return #f
    SAME_STR(bind);
    SAME_NUM(port);
    SAME_NUM(engine);
    SAME_STR(redis_url);
    SAME_STR(redis_host);
    SAME_NUM(redis_port);
    SAME_STR(redis_password);
    SAME_NUM(redis_db);
    SAME_NUM(redis_nhosts);
    for (int i = 0; i < a->redis_nhosts; i++) {
        SAME_STR(redis_hosts[i].host);
        SAME_NUM(redis_hosts[i].port);
    }
    SAME_NUM(redis_cluster);
    SAME_STR(redis_prefix);
    SAME_STR(instance_id);
    SAME_STR(token_secret);
    SAME_STR(api_key);
    if (!list_eq(a->allowed_origins, b->allowed_origins))
        return "allowed_origins";
    SAME_NUM(object_tokens);
    SAME_NUM(auth_timeout);
    SAME_NUM(ping_interval);
    SAME_NUM(ping_timeout);
    SAME_NUM(presence_ttl);
    SAME_NUM(redis_wait_replicas);
    SAME_NUM(redis_wait_timeout);
    SAME_NUM(max_message_bytes);
    SAME_NUM(max_data_bytes);
    SAME_NUM(max_frame_bytes);
    SAME_NUM(max_connections);
    SAME_NUM(client_output_limit);
    SAME_NUM(client_rate);
    SAME_NUM(client_burst);
    SAME_NUM(shutdown_timeout);
    SAME_STR(static_dir);
    SAME_NUM(log_level);
    SAME_NUM(workers);
    return NULL;
#undef SAME_STR
#undef SAME_NUM
}

/* Loads text named "t.conf"; returns conf_load_string()'s result, the error in err. */
static int load(struct conf *c, const char *text, struct buf *err)
{
    buf_reset(err);
    return conf_load_string(c, text, "t.conf", err);
}

/* ---- defaults ---------------------------------------------------------------------------- */

START_TEST(test_defaults)
{
    struct conf c;
    conf_init(&c);
    ck_assert_str_eq(c.bind, "0.0.0.0");
    ck_assert_int_eq(c.port, 8080);
    ck_assert_int_eq(c.engine, CONF_ENGINE_MEMORY);
    ck_assert_str_eq(c.redis_url, "redis://127.0.0.1:6379");
    ck_assert_str_eq(c.redis_host, "127.0.0.1");
    ck_assert_int_eq(c.redis_port, 6379);
    ck_assert_ptr_null(c.redis_password);
    ck_assert_int_eq(c.redis_db, 0);
    ck_assert_int_eq(c.redis_nhosts, 1);
    ck_assert_str_eq(c.redis_hosts[0].host, "127.0.0.1");
    ck_assert_int_eq(c.redis_hosts[0].port, 6379);
    ck_assert_int_eq(c.redis_cluster, 0);
    ck_assert_ptr_null(c.redis_url_from);
    ck_assert_str_eq(c.redis_prefix, "objcast");
    ck_assert_str_eq(c.instance_id, "");
    ck_assert_str_eq(c.token_secret, "");
    ck_assert_str_eq(c.api_key, "");
    ck_assert_ptr_nonnull(c.allowed_origins);
    ck_assert_str_eq(c.allowed_origins[0], "*");
    ck_assert_ptr_null(c.allowed_origins[1]);
    ck_assert_int_eq(c.object_tokens, CONF_OBJECT_TOKENS_OPTIONAL);
    ck_assert_int_eq(c.auth_timeout, 10);
    ck_assert_int_eq(c.ping_interval, 25);
    ck_assert_int_eq(c.ping_timeout, 10);
    ck_assert_int_eq(c.presence_ttl, 30);
    ck_assert_int_eq(c.shutdown_timeout, 10);
    ck_assert_uint_eq(c.max_message_bytes, 2097152);
    ck_assert_uint_eq(c.max_data_bytes, 512000);
    ck_assert_uint_eq(c.max_frame_bytes, 2162688);
    ck_assert_int_eq(c.max_connections, 100000);
    ck_assert_uint_eq(c.client_output_limit, 16777216);
    ck_assert_int_eq(c.client_rate, 200);
    ck_assert_int_eq(c.client_burst, 400);
    ck_assert_str_eq(c.static_dir, "web");
    ck_assert_int_eq(c.log_level, LOG_LEVEL_INFO);
    ck_assert_int_eq(c.workers, 1);
    ck_assert_ptr_null(c.conf_file);
    conf_free(&c);
}
END_TEST

START_TEST(test_defaults_are_valid)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    ck_assert_int_eq(conf_validate(&c, &err), 0);
    ck_assert_uint_eq(err.len, 0);
    conf_free(&c);
    buf_free(&err);
}
END_TEST

START_TEST(test_help_lists_every_key)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    conf_print_help(f);
    fclose(f);
    const char *usage = "Usage: objcastd [-c FILE] [--KEY VALUE ...] [--check-config] [--help] "
                        "[--version]\n";
    ck_assert_msg(strncmp(text, usage, strlen(usage)) == 0, "usage line: %.90s", text);
    for (size_t i = 0; i < NKEYS; i++) {
        char want[128];
        snprintf(want, sizeof(want), "\n  %s ", all_keys[i].name);
        const char *at = strstr(text, want);
        ck_assert_msg(at != NULL, "help does not list %s", all_keys[i].name);
        /* The key's entry runs until the next line that is not indented further. */
        const char *next = at + 1;
        while ((next = strstr(next, "\n  ")) != NULL && next[3] == ' ')
            next++;
        snprintf(want, sizeof(want), "default: %s", all_keys[i].def);
        const char *def = strstr(at, want);
        ck_assert_msg(def && (!next || def < next) &&
                          (def[strlen(want)] == ' ' || def[strlen(want)] == '\n'),
                      "help of %s does not give its default %s", all_keys[i].name, all_keys[i].def);
    }
    free(text);
}
END_TEST

START_TEST(test_example_conf_is_defaults)
{
    struct conf c, d;
    struct buf err = {0};
    conf_init(&c);
    conf_init(&d);
    int rc = conf_load_file(&c, EXAMPLE_CONF, &err);
    ck_assert_msg(rc == 0, "conf/objcast.conf: %s", err.p);
    ck_assert_uint_eq(err.len, 0);
    const char *diff = conf_diff(&c, &d);
    ck_assert_msg(diff == NULL, "conf/objcast.conf changes %s", diff);
    ck_assert_str_eq(c.conf_file, EXAMPLE_CONF);
    ck_assert_int_eq(conf_validate(&c, &err), 0);
    conf_free(&c);
    conf_free(&d);
    buf_free(&err);
}
END_TEST

/* The example file must show every key as an active line with its default. */
START_TEST(test_example_conf_sets_every_key)
{
    FILE *f = fopen(EXAMPLE_CONF, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int seen[NKEYS] = {0};
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        for (size_t i = 0; i < NKEYS; i++) {
            char want[128];
            snprintf(want, sizeof(want), "%s %s", all_keys[i].name, all_keys[i].def);
            if (strcmp(line, want) == 0)
                seen[i]++;
        }
    }
    fclose(f);
    for (size_t i = 0; i < NKEYS; i++)
        ck_assert_msg(seen[i] == 1, "conf/objcast.conf has %d active lines \"%s %s\"", seen[i],
                      all_keys[i].name, all_keys[i].def);
}
END_TEST

/* ---- files ------------------------------------------------------------------------------- */

START_TEST(test_valid_fixture)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    int rc = conf_load_file(&c, FIXTURES "valid.conf", &err);
    ck_assert_msg(rc == 0, "valid.conf: %s", err.p);
    ck_assert_uint_eq(err.len, 0);
    ck_assert_str_eq(c.bind, "127.0.0.1");
    ck_assert_int_eq(c.port, 9002); /* set twice: the later line wins */
    ck_assert_int_eq(c.engine, CONF_ENGINE_REDIS);
    ck_assert_str_eq(c.redis_url, "redis://user:pa ss@[::1]:6380/3");
    ck_assert_str_eq(c.redis_host, "::1");
    ck_assert_int_eq(c.redis_port, 6380);
    ck_assert_str_eq(c.redis_password, "pa ss");
    ck_assert_int_eq(c.redis_db, 3);
    ck_assert_str_eq(c.redis_prefix, "my-app.v2_x");
    ck_assert_str_eq(c.instance_id, "node-1:42");
    ck_assert_str_eq(c.token_secret, "it's a secret");
    ck_assert_str_eq(c.api_key, "key\twithAescapes");
    ck_assert_str_eq(c.allowed_origins[0], "https://app.example.com");
    ck_assert_str_eq(c.allowed_origins[1], "http://localhost:8080");
    ck_assert_ptr_null(c.allowed_origins[2]);
    ck_assert_int_eq(c.object_tokens, CONF_OBJECT_TOKENS_REQUIRED);
    ck_assert_int_eq(c.auth_timeout, 5);
    ck_assert_int_eq(c.ping_interval, 20);
    ck_assert_int_eq(c.ping_timeout, 7);
    ck_assert_int_eq(c.presence_ttl, 60);
    ck_assert_int_eq(c.shutdown_timeout, 3);
    ck_assert_uint_eq(c.max_message_bytes, 4096);
    ck_assert_uint_eq(c.max_data_bytes, 2048);
    ck_assert_uint_eq(c.max_frame_bytes, 8192);
    ck_assert_int_eq(c.max_connections, 500);
    ck_assert_uint_eq(c.client_output_limit, 65536);
    ck_assert_int_eq(c.client_rate, 10);
    ck_assert_int_eq(c.client_burst, 20);
    ck_assert_str_eq(c.static_dir, "/srv/objcast web");
    ck_assert_int_eq(c.log_level, LOG_LEVEL_WARNING);
    ck_assert_int_eq(c.workers, 4);
    ck_assert_int_eq(conf_validate(&c, &err), 0);
    conf_free(&c);
    buf_free(&err);
}
END_TEST

/* One fixture per invalid case; each bad line sits below line 1. */
static const struct {
    const char *file;
    const char *error; /* after "FIXTURES/file:" */
} bad_fixtures[] = {
    {"bad_unknown_key.conf", "3: bogus_key: unknown key"},
    {"bad_int.conf", "4: auth_timeout: must be an integer"},
    {"bad_range_low.conf", "2: presence_ttl: must be between 3 and 86400"},
    {"bad_range_high.conf", "7: port: must be between 0 and 65535"},
    {"bad_overflow.conf", "2: max_connections: must be between 1 and 10000000"},
    {"bad_args.conf", "2: port: wrong number of arguments"},
    {"bad_enum.conf", "4: engine: must be memory or redis"},
    {"bad_redis_url.conf", "2: redis_url: must look like redis://[:password@]host[:port][/db]"},
    {"bad_prefix.conf", "2: redis_prefix: must be 1 to 64 characters of A-Z a-z 0-9 _ . -"},
    {"bad_origin.conf",
     "2: allowed_origins: each origin must be * or scheme://host[:port] (no path)"},
    {"bad_client_rate.conf", "2: client_rate: BURST must not be less than RATE"},
    {"bad_size.conf", "2: max_data_bytes: must be a plain byte count (no units)"},
    {"bad_instance_id.conf", "2: instance_id: must be empty or 1 to 128 printable characters "
                             "without spaces or '|'"},
    {"bad_unbalanced.conf", "2: api_key: unbalanced quotes"},
    {"bad_quote_space.conf", "2: api_key: closing quote must be followed by a space"},
};

START_TEST(test_bad_fixture)
{
    struct conf c;
    struct buf err = {0};
    char path[1024], want[2048];
    snprintf(path, sizeof(path), "%s%s", FIXTURES, bad_fixtures[_i].file);
    snprintf(want, sizeof(want), "%s:%s", path, bad_fixtures[_i].error);
    conf_init(&c);
    ck_assert_int_eq(conf_load_file(&c, path, &err), -1);
    ck_assert_ptr_nonnull(err.p);
    ck_assert_str_eq(err.p, want);
    conf_free(&c);
    buf_free(&err);
}
END_TEST

START_TEST(test_unopenable_file)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    ck_assert_int_eq(conf_load_file(&c, FIXTURES "no-such-file.conf", &err), -1);
    ck_assert_str_eq(err.p, FIXTURES "no-such-file.conf: cannot open: No such file or directory");
    conf_free(&c);
    buf_free(&err);
}
END_TEST

START_TEST(test_directory_is_not_a_file)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    ck_assert_int_eq(conf_load_file(&c, FIXTURES, &err), -1);
    ck_assert_str_eq(err.p, FIXTURES ": cannot read: Is a directory");
    conf_free(&c);
    buf_free(&err);
}
END_TEST

/* Errors are appended, so a caller can prefix its own text. */
START_TEST(test_error_is_appended)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    buf_append_str(&err, "objcastd: ");
    ck_assert_int_eq(conf_load_string(&c, "port x\n", "a.conf", &err), -1);
    ck_assert_str_eq(err.p, "objcastd: a.conf:1: port: must be an integer");
    conf_free(&c);
    buf_free(&err);
}
END_TEST

/* A rejected value leaves the key, and what is derived from it, as it was. */
START_TEST(test_failed_set_changes_nothing)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    ck_assert_int_eq(load(&c, "redis_url redis://:pw@h1:7000/2\n", &err), 0);
    ck_assert_int_eq(load(&c, "redis_url redis://:other@h2:7001/2000\n", &err), -1);
    ck_assert_str_eq(c.redis_url, "redis://:pw@h1:7000/2");
    ck_assert_str_eq(c.redis_host, "h1");
    ck_assert_str_eq(c.redis_password, "pw");
    ck_assert_int_eq(c.redis_port, 7000);
    ck_assert_int_eq(c.redis_db, 2);
    ck_assert_int_eq(load(&c, "redis_url redis://:other@h2:7001,h3:7002,\n", &err), -1);
    ck_assert_int_eq(c.redis_nhosts, 1);
    ck_assert_str_eq(c.redis_hosts[0].host, "h1");
    ck_assert_int_eq(c.redis_hosts[0].port, 7000);
    ck_assert_int_eq(c.redis_url_line, 1);
    ck_assert_int_eq(load(&c, "client_rate 5 1\n", &err), -1);
    ck_assert_int_eq(c.client_rate, 200);
    ck_assert_int_eq(c.client_burst, 400);
    ck_assert_int_eq(load(&c, "allowed_origins http://a.com bad\n", &err), -1);
    ck_assert_str_eq(c.allowed_origins[0], "*");
    ck_assert_ptr_null(c.allowed_origins[1]);
    conf_free(&c);
    buf_free(&err);
}
END_TEST

START_TEST(test_free_twice_is_safe)
{
    struct conf c;
    conf_init(&c);
    conf_free(&c);
    ck_assert_ptr_null(c.bind);
    ck_assert_ptr_null(c.allowed_origins);
    ck_assert_ptr_null(c.redis_host);
    ck_assert_ptr_null(c.redis_hosts);
    conf_free(&c);
}
END_TEST

/* ---- syntax ------------------------------------------------------------------------------ */

START_TEST(test_quoting_and_escapes)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    ck_assert_int_eq(load(&c, "api_key \"a b\\\"c\\\\d\\n\\t\\r\\x41\\x7e\"\n", &err), 0);
    ck_assert_str_eq(c.api_key, "a b\"c\\d\n\t\rA~");
    /* Single quotes know only \'; other backslashes stay. */
    ck_assert_int_eq(load(&c, "api_key 'it\\'s \\n \"x\"'\n", &err), 0);
    ck_assert_str_eq(c.api_key, "it's \\n \"x\"");
    ck_assert_int_eq(load(&c, "token_secret \"\"\n", &err), 0);
    ck_assert_str_eq(c.token_secret, "");
    ck_assert_int_eq(load(&c, "token_secret ''\n", &err), 0);
    ck_assert_str_eq(c.token_secret, "");
    /* An unquoted backslash is an ordinary character. */
    ck_assert_int_eq(load(&c, "static_dir C:\\web\n", &err), 0);
    ck_assert_str_eq(c.static_dir, "C:\\web");
    /* Quoted words count as one word each, tabs separate words. */
    ck_assert_int_eq(load(&c, "client_rate\t\"7\"\t'9'\n", &err), 0);
    ck_assert_int_eq(c.client_rate, 7);
    ck_assert_int_eq(c.client_burst, 9);
    ck_assert_int_eq(load(&c, "\"port\" 81\n", &err), 0);
    ck_assert_int_eq(c.port, 81);
    conf_free(&c);
    buf_free(&err);
}
END_TEST

START_TEST(test_comments_blank_lines_crlf)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    const char *text = "# comment\r\n"
                       "\r\n"
                       "   \t  \r\n"
                       "   # indented comment\r\n"
                       "port 1234\r\n"
                       "api_key \"k\"\r\n"
                       "allowed_origins http://a.com\r\n"
                       "workers 3"; /* no final newline */
    ck_assert_int_eq(load(&c, text, &err), 0);
    ck_assert_int_eq(c.port, 1234);
    ck_assert_str_eq(c.api_key, "k");
    ck_assert_str_eq(c.allowed_origins[0], "http://a.com");
    ck_assert_int_eq(c.workers, 3);
    ck_assert_int_eq(load(&c, "", &err), 0);
    /* Line numbers count CRLF lines too. */
    ck_assert_int_eq(load(&c, "# a\r\n\r\nport 1 2\r\n", &err), -1);
    ck_assert_str_eq(err.p, "t.conf:3: port: wrong number of arguments");
    /* '#' after a value is not a comment (as in redis.conf). */
    ck_assert_int_eq(load(&c, "port 80 # web\n", &err), -1);
    ck_assert_str_eq(err.p, "t.conf:1: port: wrong number of arguments");
    conf_free(&c);
    buf_free(&err);
}
END_TEST

START_TEST(test_keys_case_insensitive)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    ck_assert_int_eq(load(&c, "MAX_Connections 77\nLOG_LEVEL DEBUG\nengine Redis\n", &err), 0);
    ck_assert_int_eq(c.max_connections, 77);
    ck_assert_int_eq(c.log_level, LOG_LEVEL_DEBUG);
    ck_assert_int_eq(c.engine, CONF_ENGINE_REDIS);
    /* Errors name the key in lowercase. */
    ck_assert_int_eq(load(&c, "\nPORT x\n", &err), -1);
    ck_assert_str_eq(err.p, "t.conf:2: port: must be an integer");
    ck_assert_int_eq(load(&c, "\nNope 1\n", &err), -1);
    ck_assert_str_eq(err.p, "t.conf:2: nope: unknown key");
    conf_free(&c);
    buf_free(&err);
}
END_TEST

/* The first error stops the load: later lines are not applied. */
START_TEST(test_first_error_stops)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    ck_assert_int_eq(load(&c, "port 1\nport x\nport 3\nworkers 0\n", &err), -1);
    ck_assert_str_eq(err.p, "t.conf:2: port: must be an integer");
    ck_assert_int_eq(c.port, 1);
    conf_free(&c);
    buf_free(&err);
}
END_TEST

/* Lines that do not split into words; each is line 2 of "t.conf". */
static const struct {
    const char *line;
    const char *error;
} syntax_errors[] = {
    {"api_key \"abc", "t.conf:2: api_key: unbalanced quotes"},
    {"api_key 'abc", "t.conf:2: api_key: unbalanced quotes"},
    {"api_key \"abc\\\"", "t.conf:2: api_key: unbalanced quotes"},
    {"api_key 'a\\'", "t.conf:2: api_key: unbalanced quotes"},
    {"\"api_key abc", "t.conf:2: (line): unbalanced quotes"},
    {"api_key \"abc\"def", "t.conf:2: api_key: closing quote must be followed by a space"},
    {"api_key 'abc'\"def\"", "t.conf:2: api_key: closing quote must be followed by a space"},
    {"\"port\"80", "t.conf:2: (line): closing quote must be followed by a space"},
    {"api_key ab\"c\"", "t.conf:2: api_key: quote inside an unquoted word (quote the whole word)"},
    {"api_key it's", "t.conf:2: api_key: quote inside an unquoted word (quote the whole word)"},
    {"api_key \"\\xZZ\"", "t.conf:2: api_key: \\x must be followed by two hex digits"},
    {"api_key \"\\x4\"", "t.conf:2: api_key: \\x must be followed by two hex digits"},
    {"api_key \"\\x00\"", "t.conf:2: api_key: \\x00 is not allowed"},
    {"api_key \"C:\\dir\"",
     "t.conf:2: api_key: unknown escape in quotes (use \\\\ for a backslash)"},
    {"PORT \"80", "t.conf:2: port: unbalanced quotes"},
};

START_TEST(test_syntax_error)
{
    struct conf c;
    struct buf err = {0};
    char text[256];
    snprintf(text, sizeof(text), "# line 1\n%s\nport 1\n", syntax_errors[_i].line);
    conf_init(&c);
    ck_assert_int_eq(load(&c, text, &err), -1);
    ck_assert_str_eq(err.p, syntax_errors[_i].error);
    ck_assert_int_eq(c.port, 8080);
    conf_free(&c);
    buf_free(&err);
}
END_TEST

/* ---- values ------------------------------------------------------------------------------ */

/* Values each key refuses; each is line 2 of "t.conf". */
static const struct {
    const char *line;
    const char *error; /* after "t.conf:2: " */
} value_errors[] = {
    /* generic */
    {"no_such_key 1", "no_such_key: unknown key"},
    {"port", "port: wrong number of arguments"},
    {"port 1 2", "port: wrong number of arguments"},
    {"token_secret", "token_secret: wrong number of arguments"},
    {"allowed_origins", "allowed_origins: wrong number of arguments"},
    {"client_rate 5", "client_rate: wrong number of arguments"},
    {"client_rate 5 6 7", "client_rate: wrong number of arguments"},
    /* integers: plain decimal only */
    {"auth_timeout 10s", "auth_timeout: must be an integer"},
    {"auth_timeout 1e3", "auth_timeout: must be an integer"},
    {"auth_timeout 0x10", "auth_timeout: must be an integer"},
    {"auth_timeout \" 10\"", "auth_timeout: must be an integer"},
    {"auth_timeout \"10 \"", "auth_timeout: must be an integer"},
    {"auth_timeout +1", "auth_timeout: must be an integer"},
    {"auth_timeout \"\"", "auth_timeout: must be an integer"},
    {"auth_timeout -", "auth_timeout: must be an integer"},
    {"auth_timeout 1.5", "auth_timeout: must be an integer"},
    {"auth_timeout 99999999999999999999x", "auth_timeout: must be an integer"},
    {"auth_timeout 0", "auth_timeout: must be between 1 and 3600"},
    {"auth_timeout 3601", "auth_timeout: must be between 1 and 3600"},
    {"auth_timeout -1", "auth_timeout: must be between 1 and 3600"},
    {"auth_timeout 99999999999999999999", "auth_timeout: must be between 1 and 3600"},
    {"auth_timeout -99999999999999999999", "auth_timeout: must be between 1 and 3600"},
    {"auth_timeout 9223372036854775808", "auth_timeout: must be between 1 and 3600"},
    {"port -1", "port: must be between 0 and 65535"},
    {"port 65536", "port: must be between 0 and 65535"},
    {"ping_interval 0", "ping_interval: must be between 1 and 3600"},
    {"ping_timeout 3601", "ping_timeout: must be between 1 and 3600"},
    {"presence_ttl 86401", "presence_ttl: must be between 3 and 86400"},
    {"shutdown_timeout 0", "shutdown_timeout: must be between 1 and 3600"},
    {"max_connections 0", "max_connections: must be between 1 and 10000000"},
    {"max_connections 10000001", "max_connections: must be between 1 and 10000000"},
    {"workers 0", "workers: must be between 1 and 64"},
    {"workers 65", "workers: must be between 1 and 64"},
    /* sizes: plain byte counts */
    {"max_message_bytes 2mb", "max_message_bytes: must be a plain byte count (no units)"},
    {"max_message_bytes 1023", "max_message_bytes: must be between 1024 and 67108864"},
    {"max_message_bytes 67108865", "max_message_bytes: must be between 1024 and 67108864"},
    {"max_data_bytes 1023", "max_data_bytes: must be between 1024 and 67108864"},
    {"max_frame_bytes 2047", "max_frame_bytes: must be between 2048 and 134217728"},
    {"max_frame_bytes 134217729", "max_frame_bytes: must be between 2048 and 134217728"},
    {"client_output_limit 65535", "client_output_limit: must be between 65536 and 1073741824"},
    {"client_output_limit 1073741825", "client_output_limit: must be between 65536 and 1073741824"},
    {"client_output_limit 18446744073709551616",
     "client_output_limit: must be between 65536 and 1073741824"},
    /* enums */
    {"engine mysql", "engine: must be memory or redis"},
    {"engine \"\"", "engine: must be memory or redis"},
    {"object_tokens yes", "object_tokens: must be optional or required"},
    {"log_level notice", "log_level: must be debug, info, warning or error"},
    {"redis_cluster on", "redis_cluster: must be no or yes"},
    {"redis_cluster 1", "redis_cluster: must be no or yes"},
    {"redis_cluster", "redis_cluster: wrong number of arguments"},
    {"redis_cluster yes no", "redis_cluster: wrong number of arguments"},
    /* strings */
    {"bind \"\"", "bind: must not be empty"},
    {"static_dir ''", "static_dir: must not be empty"},
    /* redis_url */
    {"redis_url http://h:6379", "redis_url: must look like redis://[:password@]host[:port][/db]"},
    {"redis_url rediss://h:6379", "redis_url: must look like redis://[:password@]host[:port][/db]"},
    {"redis_url 127.0.0.1:6379", "redis_url: must look like redis://[:password@]host[:port][/db]"},
    {"redis_url redis://", "redis_url: missing host"},
    {"redis_url redis://:6379", "redis_url: missing host"},
    {"redis_url redis://:pw@", "redis_url: missing host"},
    {"redis_url redis://h:0", "redis_url: port must be between 1 and 65535"},
    {"redis_url redis://h:65536", "redis_url: port must be between 1 and 65535"},
    {"redis_url redis://h:", "redis_url: port must be between 1 and 65535"},
    {"redis_url redis://h:63x79", "redis_url: port must be between 1 and 65535"},
    {"redis_url redis://h:6379/1024", "redis_url: db must be between 0 and 1023"},
    {"redis_url redis://h:6379/-1", "redis_url: db must be between 0 and 1023"},
    {"redis_url redis://h:6379/x", "redis_url: db must be between 0 and 1023"},
    {"redis_url redis://h:6379/1?x=1", "redis_url: db must be between 0 and 1023"},
    {"redis_url redis://pw@h:6379",
     "redis_url: password must be written as :password@ or user:password@"},
    {"redis_url redis://:@h:6379", "redis_url: empty password"},
    {"redis_url redis://:p%zz@h", "redis_url: bad %-escape in password"},
    {"redis_url redis://[::1", "redis_url: unclosed [ in host"},
    {"redis_url redis://[]:6379", "redis_url: bad IPv6 address in [...]"},
    {"redis_url redis://[nothex]:6379", "redis_url: bad IPv6 address in [...]"},
    {"redis_url redis://[::1]x", "redis_url: expected :port, a comma or /db after a host"},
    {"redis_url redis://h1,,h2", "redis_url: empty host in the list"},
    {"redis_url redis://h1:7000,", "redis_url: trailing comma after the last host"},
    {"redis_url redis://h1:7000,h2:99999", "redis_url: port must be between 1 and 65535"},
    {"redis_url redis://::1:6379", "redis_url: missing host"},
    {"redis_url \"redis://h st:6379\"", "redis_url: bad host (an IPv6 address goes in [...])"},
    /* redis_prefix */
    {"redis_prefix \"\"", "redis_prefix: must be 1 to 64 characters of A-Z a-z 0-9 _ . -"},
    {"redis_prefix a{b}", "redis_prefix: must be 1 to 64 characters of A-Z a-z 0-9 _ . -"},
    {"redis_prefix a:b", "redis_prefix: must be 1 to 64 characters of A-Z a-z 0-9 _ . -"},
    {"redis_prefix \"a b\"", "redis_prefix: must be 1 to 64 characters of A-Z a-z 0-9 _ . -"},
    {"redis_prefix 12345678901234567890123456789012345678901234567890123456789012345",
     "redis_prefix: must be 1 to 64 characters of A-Z a-z 0-9 _ . -"},
    /* instance_id */
    {"instance_id a|b",
     "instance_id: must be empty or 1 to 128 printable characters without spaces or '|'"},
    {"instance_id \"a b\"",
     "instance_id: must be empty or 1 to 128 printable characters without spaces or '|'"},
    {"instance_id \"a\\tb\"",
     "instance_id: must be empty or 1 to 128 printable characters without spaces or '|'"},
    {"instance_id \"\\xc3\\xa9\"",
     "instance_id: must be empty or 1 to 128 printable characters without spaces or '|'"},
    /* allowed_origins */
    {"allowed_origins https://a.com/", "allowed_origins: each origin must be * or "
                                       "scheme://host[:port] (no path)"},
    {"allowed_origins https://a.com/app", "allowed_origins: each origin must be * or "
                                          "scheme://host[:port] (no path)"},
    {"allowed_origins a.com", "allowed_origins: each origin must be * or "
                              "scheme://host[:port] (no path)"},
    {"allowed_origins http://", "allowed_origins: each origin must be * or "
                                "scheme://host[:port] (no path)"},
    {"allowed_origins http://a.com:", "allowed_origins: each origin must be * or "
                                      "scheme://host[:port] (no path)"},
    {"allowed_origins http://a.com:70000", "allowed_origins: each origin must be * or "
                                           "scheme://host[:port] (no path)"},
    {"allowed_origins http://a.com:8x", "allowed_origins: each origin must be * or "
                                        "scheme://host[:port] (no path)"},
    {"allowed_origins 1http://a.com", "allowed_origins: each origin must be * or "
                                      "scheme://host[:port] (no path)"},
    {"allowed_origins http://a.com **", "allowed_origins: each origin must be * or "
                                        "scheme://host[:port] (no path)"},
    {"allowed_origins null", "allowed_origins: each origin must be * or "
                             "scheme://host[:port] (no path)"},
    /* client_rate */
    {"client_rate 400 200", "client_rate: BURST must not be less than RATE"},
    {"client_rate 5 4", "client_rate: BURST must not be less than RATE"},
    {"client_rate x 200", "client_rate: RATE must be an integer"},
    {"client_rate 200 10s", "client_rate: BURST must be an integer"},
    {"client_rate 0 200", "client_rate: RATE must be between 1 and 1000000"},
    {"client_rate 1 1000001", "client_rate: BURST must be between 1 and 1000000"},
    {"client_rate 99999999999999999999 1", "client_rate: RATE must be between 1 and 1000000"},
};

START_TEST(test_value_error)
{
    struct conf c, d;
    struct buf err = {0};
    char text[512], want[512];
    snprintf(text, sizeof(text), "# line 1\n%s\n", value_errors[_i].line);
    snprintf(want, sizeof(want), "t.conf:2: %s", value_errors[_i].error);
    conf_init(&c);
    conf_init(&d);
    ck_assert_int_eq(load(&c, text, &err), -1);
    ck_assert_str_eq(err.p, want);
    const char *diff = conf_diff(&c, &d);
    ck_assert_msg(diff == NULL, "a refused value changed %s", diff);
    conf_free(&c);
    conf_free(&d);
    buf_free(&err);
}
END_TEST

/* Edges that must be accepted. */
START_TEST(test_value_edges)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    ck_assert_int_eq(load(&c, "port 0\n", &err), 0);
    ck_assert_int_eq(c.port, 0);
    ck_assert_int_eq(load(&c, "port 65535\n", &err), 0);
    ck_assert_int_eq(c.port, 65535);
    ck_assert_int_eq(load(&c, "port 0080\n", &err), 0); /* decimal, not octal */
    ck_assert_int_eq(c.port, 80);
    ck_assert_int_eq(load(&c, "presence_ttl 3\npresence_ttl 86400\n", &err), 0);
    ck_assert_int_eq(c.presence_ttl, 86400);
    ck_assert_int_eq(load(&c, "max_frame_bytes 134217728\n", &err), 0);
    ck_assert_uint_eq(c.max_frame_bytes, 134217728);
    ck_assert_int_eq(load(&c, "client_output_limit 1073741824\n", &err), 0);
    ck_assert_uint_eq(c.client_output_limit, 1073741824);
    ck_assert_int_eq(load(&c, "max_connections 10000000\n", &err), 0);
    ck_assert_int_eq(c.max_connections, 10000000);
    ck_assert_int_eq(load(&c, "client_rate 1 1\n", &err), 0);
    ck_assert_int_eq(c.client_rate, 1);
    ck_assert_int_eq(c.client_burst, 1);
    ck_assert_int_eq(load(&c, "client_rate 1000000 1000000\n", &err), 0);
    ck_assert_int_eq(c.client_rate, 1000000);
    ck_assert_int_eq(load(&c, "workers 64\nlog_level error\n", &err), 0);
    ck_assert_int_eq(c.workers, 64);
    ck_assert_int_eq(c.log_level, LOG_LEVEL_ERROR);
    ck_assert_int_eq(load(&c,
                          "redis_prefix "
                          "1234567890123456789012345678901234567890123456789012345678901234\n",
                          &err),
                     0);
    ck_assert_uint_eq(strlen(c.redis_prefix), 64);
    ck_assert_int_eq(load(&c, "instance_id \"\"\n", &err), 0);
    ck_assert_str_eq(c.instance_id, "");
    ck_assert_int_eq(load(&c, "instance_id host-1:1234\n", &err), 0);
    ck_assert_str_eq(c.instance_id, "host-1:1234");
    ck_assert_int_eq(load(&c, "object_tokens REQUIRED\n", &err), 0);
    ck_assert_int_eq(c.object_tokens, CONF_OBJECT_TOKENS_REQUIRED);
    /* Every log_level word maps to what log.c calls it. */
    const char *levels[] = {"debug", "info", "warning", "error"};
    for (int i = 0; i < 4; i++) {
        char line[64];
        snprintf(line, sizeof(line), "log_level %s\n", levels[i]);
        ck_assert_int_eq(load(&c, line, &err), 0);
        ck_assert_str_eq(log_level_name((enum log_level)c.log_level), levels[i]);
    }
    conf_free(&c);
    buf_free(&err);
}
END_TEST

static const struct {
    const char *url;
    const char *host;
    int port;
    const char *password; /* NULL: none */
    int db;
} redis_urls[] = {
    {"redis://127.0.0.1:6379", "127.0.0.1", 6379, NULL, 0},
    {"redis://localhost", "localhost", 6379, NULL, 0},
    {"REDIS://redis_1", "redis_1", 6379, NULL, 0},
    {"redis://h:7000/15", "h", 7000, NULL, 15},
    {"redis://h/1023", "h", 6379, NULL, 1023},
    {"redis://h:6380/", "h", 6380, NULL, 0},
    {"redis://:secret@h:6380/2", "h", 6380, "secret", 2},
    {"redis://user:secret@h:6380/2", "h", 6380, "secret", 2},
    {"redis://:p@ss/w:rd@h", "h", 6379, "p@ss/w:rd", 0},
    {"redis://:p%40ss%25@h", "h", 6379, "p@ss%", 0},
    {"redis://[::1]", "::1", 6379, NULL, 0},
    {"redis://[::1]:6390/4", "::1", 6390, NULL, 4},
    {"redis://:pw@[fe80::1:2]:1", "fe80::1:2", 1, "pw", 0},
    {"redis://[::ffff:10.0.0.1]:65535", "::ffff:10.0.0.1", 65535, NULL, 0},
};

START_TEST(test_redis_url)
{
    struct conf c;
    struct buf err = {0};
    char *argv[] = {(char *)redis_urls[_i].url};
    conf_init(&c);
    int rc = conf_set(&c, "redis_url", 1, argv, "x", 1, &err);
    ck_assert_msg(rc == 0, "%s: %s", redis_urls[_i].url, err.p);
    ck_assert_str_eq(c.redis_url, redis_urls[_i].url);
    ck_assert_str_eq(c.redis_host, redis_urls[_i].host);
    ck_assert_int_eq(c.redis_port, redis_urls[_i].port);
    if (redis_urls[_i].password)
        ck_assert_pstr_eq(c.redis_password, redis_urls[_i].password);
    else
        ck_assert_ptr_null(c.redis_password);
    ck_assert_int_eq(c.redis_db, redis_urls[_i].db);
    ck_assert_int_eq(c.redis_nhosts, 1);
    ck_assert_str_eq(c.redis_hosts[0].host, redis_urls[_i].host);
    ck_assert_int_eq(c.redis_hosts[0].port, redis_urls[_i].port);
    conf_free(&c);
    buf_free(&err);
}
END_TEST

/* Setting a URL without a password after one with drops the old password. */
START_TEST(test_redis_url_replaces_password)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    ck_assert_int_eq(load(&c, "redis_url redis://:a@h\nredis_url redis://h2:1/1\n", &err), 0);
    ck_assert_ptr_null(c.redis_password);
    ck_assert_str_eq(c.redis_host, "h2");
    conf_free(&c);
    buf_free(&err);
}
END_TEST

START_TEST(test_origins)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    /* The default "*" allows everyone. */
    ck_assert(origin_allowed(c.allowed_origins, "https://evil.example"));
    ck_assert(origin_allowed(c.allowed_origins, NULL));
    ck_assert_int_eq(load(&c,
                          "allowed_origins https://app.example.com http://localhost:8080 "
                          "http://[::1]:3000 chrome-extension://abc\n",
                          &err),
                     0);
    ck_assert(origin_allowed(c.allowed_origins, NULL));
    ck_assert(origin_allowed(c.allowed_origins, "https://app.example.com"));
    ck_assert(origin_allowed(c.allowed_origins, "HTTPS://App.Example.COM"));
    ck_assert(origin_allowed(c.allowed_origins, "http://localhost:8080"));
    ck_assert(origin_allowed(c.allowed_origins, "http://[::1]:3000"));
    ck_assert(origin_allowed(c.allowed_origins, "chrome-extension://abc"));
    ck_assert(!origin_allowed(c.allowed_origins, "http://app.example.com"));
    ck_assert(!origin_allowed(c.allowed_origins, "https://app.example.com:443"));
    ck_assert(!origin_allowed(c.allowed_origins, "https://app.example.com.evil.com"));
    ck_assert(!origin_allowed(c.allowed_origins, "https://app.example.co"));
    ck_assert(!origin_allowed(c.allowed_origins, "http://localhost:8081"));
    ck_assert(!origin_allowed(c.allowed_origins, "http://localhost"));
    ck_assert(!origin_allowed(c.allowed_origins, ""));
    ck_assert(!origin_allowed(c.allowed_origins, "null"));
    ck_assert(!origin_allowed(c.allowed_origins, "*"));
    /* "*" among others still allows all. */
    ck_assert_int_eq(load(&c, "allowed_origins https://a.com *\n", &err), 0);
    ck_assert(origin_allowed(c.allowed_origins, "https://b.com"));
    conf_free(&c);
    buf_free(&err);
}
END_TEST

/* A reload takes exactly the reloadable keys from the configuration read anew; fresh gets
 * the old values, and freeing both leaks nothing. */
START_TEST(test_apply_reloadable)
{
    struct conf c, fresh, def;
    struct buf err = {0};
    conf_init(&c);
    conf_init(&def);
    conf_init(&fresh);
    /* Every key set to something other than its default. */
    ck_assert_int_eq(conf_load_string(&fresh,
                                      "bind 127.0.0.2\nport 9001\nengine redis\n"
                                      "redis_url redis://:pw@h2:7000/2\nredis_prefix p2\n"
                                      "instance_id i2\ntoken_secret s2\ntoken_secret_grace 5\n"
                                      "api_key k2\nallowed_origins https://a.example\n"
                                      "object_tokens required\nauth_timeout 5\n"
                                      "ping_interval 6\nping_timeout 7\nmessage_timeout 8\n"
                                      "presence_ttl 9\nredis_wait_replicas 2\n"
                                      "redis_wait_timeout 250\nshutdown_timeout 4\n"
                                      "max_message_bytes 4096\nmax_data_bytes 2048\n"
                                      "max_frame_bytes 8192\nmax_connections 500\n"
                                      "max_objects_per_connection 3\n"
                                      "client_output_limit 65536\nclient_rate 10 20\n"
                                      "static_dir w2\nlog_level error\nworkers 2\ndemo yes\n"
                                      "demo_port 9003\nredis_cluster yes\n",
                                      "fresh", &err),
                     0);
    conf_apply_reloadable(&c, &fresh);

    /* What SIGHUP applies. */
    ck_assert_int_eq(c.token_secret_grace, 5);
    ck_assert_str_eq(c.api_key, "k2");
    ck_assert_str_eq(c.allowed_origins[0], "https://a.example");
    ck_assert_ptr_null(c.allowed_origins[1]);
    ck_assert_int_eq(c.object_tokens, CONF_OBJECT_TOKENS_REQUIRED);
    ck_assert_int_eq(c.auth_timeout, 5);
    ck_assert_int_eq(c.ping_interval, 6);
    ck_assert_int_eq(c.ping_timeout, 7);
    ck_assert_int_eq(c.message_timeout, 8);
    ck_assert_int_eq(c.shutdown_timeout, 4);
    ck_assert_uint_eq(c.max_message_bytes, 4096);
    ck_assert_uint_eq(c.max_data_bytes, 2048);
    ck_assert_int_eq(c.max_connections, 500);
    ck_assert_int_eq(c.max_objects_per_connection, 3);
    ck_assert_uint_eq(c.client_output_limit, 65536);
    ck_assert_int_eq(c.client_rate, 10);
    ck_assert_int_eq(c.client_burst, 20);
    ck_assert_int_eq(c.log_level, LOG_LEVEL_ERROR);
    ck_assert_int_eq(c.redis_wait_replicas, 2);
    ck_assert_int_eq(c.redis_wait_timeout, 250);

    /* What waits for a restart (token_secret: the server rotates it itself). */
    ck_assert_str_eq(c.bind, def.bind);
    ck_assert_int_eq(c.port, def.port);
    ck_assert_int_eq(c.engine, def.engine);
    ck_assert_str_eq(c.redis_url, def.redis_url);
    ck_assert_str_eq(c.redis_host, def.redis_host);
    ck_assert_int_eq(c.redis_port, def.redis_port);
    ck_assert_ptr_null(c.redis_password);
    ck_assert_int_eq(c.redis_db, def.redis_db);
    ck_assert_int_eq(c.redis_nhosts, def.redis_nhosts);
    ck_assert_str_eq(c.redis_hosts[0].host, def.redis_hosts[0].host);
    ck_assert_int_eq(c.redis_cluster, def.redis_cluster);
    ck_assert_str_eq(c.redis_prefix, def.redis_prefix);
    ck_assert_str_eq(c.instance_id, def.instance_id);
    ck_assert_str_eq(c.token_secret, def.token_secret);
    ck_assert_int_eq(c.presence_ttl, def.presence_ttl);
    ck_assert_uint_eq(c.max_frame_bytes, def.max_frame_bytes);
    ck_assert_str_eq(c.static_dir, def.static_dir);
    ck_assert_int_eq(c.workers, def.workers);
    ck_assert_int_eq(c.demo, def.demo);
    ck_assert_int_eq(c.demo_port, def.demo_port);
    ck_assert_ptr_null(c.conf_file);

    /* fresh holds the old values now. */
    ck_assert_str_eq(fresh.api_key, "");
    ck_assert_str_eq(fresh.allowed_origins[0], "*");
    ck_assert_int_eq(fresh.client_rate, def.client_rate);
    ck_assert_int_eq(fresh.client_burst, def.client_burst);
    ck_assert_str_eq(fresh.bind, "127.0.0.2");

    conf_free(&fresh);
    conf_free(&c);
    conf_free(&def);
    buf_free(&err);
}
END_TEST

/* conf_set() is the one entry point of the file and the command line. */
START_TEST(test_conf_set_direct)
{
    struct conf c;
    struct buf err = {0};
    char *words[] = {"12", "34"};
    conf_init(&c);
    ck_assert_int_eq(conf_set(&c, "Client_Rate", 2, words, "f", 9, &err), 0);
    ck_assert_int_eq(c.client_rate, 12);
    ck_assert_int_eq(c.client_burst, 34);
    ck_assert_int_eq(conf_set(&c, "port", 2, words, "f", 9, &err), -1);
    ck_assert_str_eq(err.p, "f:9: port: wrong number of arguments");
    buf_reset(&err);
    ck_assert_int_eq(conf_set(&c, "port", 0, NULL, "f", 9, &err), -1);
    ck_assert_str_eq(err.p, "f:9: port: wrong number of arguments");
    conf_free(&c);
    buf_free(&err);
}
END_TEST

/* ---- command line ------------------------------------------------------------------------ */

/* Runs conf_from_argv() on a NULL-terminated argument list (program name included). */
static int run_argv(struct conf *c, struct conf_cli *cli, struct buf *err, char **args)
{
    int argc = 0;
    while (args[argc])
        argc++;
    buf_reset(err);
    return conf_from_argv(c, argc, args, cli, err);
}

#define ARGV(...) ((char *[]){"objcastd", __VA_ARGS__, NULL})

/* The secrets from the environment, when neither the file nor the command line sets them. */
START_TEST(test_cli_secrets_from_env)
{
    struct conf c;
    struct conf_cli cli;
    struct buf err = {0};
    setenv("OBJCAST_TOKEN_SECRET", "s-from-env-0123456789-0123456789-x", 1);
    setenv("OBJCAST_API_KEY", "k-from-env", 1);
    ck_assert_int_eq(run_argv(&c, &cli, &err, ARGV("--port", "1")), 0);
    ck_assert_str_eq(c.token_secret, "s-from-env-0123456789-0123456789-x");
    ck_assert_str_eq(c.api_key, "k-from-env");
    conf_free(&c);
    ck_assert_int_eq(run_argv(&c, &cli, &err, ARGV("--api_key", "k-cli", "--token_secret",
                                                   "s-cli-0123456789-0123456789-0123")), 0);
    ck_assert_str_eq(c.token_secret, "s-cli-0123456789-0123456789-0123");
    ck_assert_str_eq(c.api_key, "k-cli");
    conf_free(&c);
    setenv("OBJCAST_API_KEY", "", 1);
    unsetenv("OBJCAST_TOKEN_SECRET");
    ck_assert_int_eq(run_argv(&c, &cli, &err, ARGV("--port", "1")), 0);
    ck_assert_str_eq(c.api_key, "");
    ck_assert_str_eq(c.token_secret, "");
    conf_free(&c);
    unsetenv("OBJCAST_API_KEY");
    buf_free(&err);
}
END_TEST

START_TEST(test_cli_no_arguments)
{
    struct conf c, d;
    struct conf_cli cli;
    struct buf err = {0};
    char *args[] = {"objcastd", NULL};
    ck_assert_int_eq(run_argv(&c, &cli, &err, args), 0);
    conf_init(&d);
    ck_assert_ptr_null(conf_diff(&c, &d));
    ck_assert_ptr_null(cli.conf_file);
    ck_assert(!cli.help && !cli.version && !cli.check_config);
    conf_free(&c);
    conf_free(&d);
    buf_free(&err);
}
END_TEST

START_TEST(test_cli_overrides_beat_file)
{
    struct conf c;
    struct conf_cli cli;
    struct buf err = {0};
    int rc = run_argv(&c, &cli, &err,
                      ARGV("--port", "9100", "-c", FIXTURES "valid.conf", "--client_rate", "100",
                           "200", "--port", "9200", "--api-key", "", "--check-config"));
    ck_assert_msg(rc == 0, "%s", err.p);
    ck_assert_str_eq(cli.conf_file, FIXTURES "valid.conf");
    ck_assert(cli.check_config);
    ck_assert_int_eq(c.port, 9200); /* file said 9002; overrides apply in order */
    ck_assert_int_eq(c.client_rate, 100);
    ck_assert_int_eq(c.client_burst, 200);
    ck_assert_str_eq(c.api_key, "");
    ck_assert_int_eq(c.workers, 4); /* from the file */
    ck_assert_str_eq(c.bind, "127.0.0.1");
    conf_free(&c);
    buf_free(&err);
}
END_TEST

START_TEST(test_cli_bare_conf_file)
{
    struct conf c;
    struct conf_cli cli;
    struct buf err = {0};
    int rc = run_argv(&c, &cli, &err, ARGV(FIXTURES "valid.conf", "--workers", "2"));
    ck_assert_msg(rc == 0, "%s", err.p);
    ck_assert_str_eq(cli.conf_file, FIXTURES "valid.conf");
    ck_assert_int_eq(c.port, 9002);
    ck_assert_int_eq(c.workers, 2);
    ck_assert_str_eq(c.conf_file, FIXTURES "valid.conf");
    conf_free(&c);
    buf_free(&err);
}
END_TEST

START_TEST(test_cli_spellings)
{
    struct conf c;
    struct conf_cli cli;
    struct buf err = {0};
    int rc = run_argv(
        &c, &cli, &err,
        ARGV("--port=1234", "--max-message-bytes", "4096", "--Log-Level=debug", "--allowed_origins",
             "http://a.com", "http://b.com:81", "--token_secret=--secret=x", "--client-rate=5", "6",
             "--config=" FIXTURES "valid.conf", "--engine", "memory", "--workers", "1"));
    ck_assert_msg(rc == 0, "%s", err.p);
    ck_assert_str_eq(cli.conf_file, FIXTURES "valid.conf");
    ck_assert_int_eq(c.port, 1234);
    ck_assert_uint_eq(c.max_message_bytes, 4096);
    ck_assert_int_eq(c.log_level, LOG_LEVEL_DEBUG);
    ck_assert_str_eq(c.allowed_origins[0], "http://a.com");
    ck_assert_str_eq(c.allowed_origins[1], "http://b.com:81");
    ck_assert_ptr_null(c.allowed_origins[2]);
    ck_assert_str_eq(c.token_secret, "--secret=x");
    ck_assert_int_eq(c.client_rate, 5);
    ck_assert_int_eq(c.client_burst, 6);
    ck_assert_int_eq(c.engine, CONF_ENGINE_MEMORY);
    conf_free(&c);
    buf_free(&err);
}
END_TEST

START_TEST(test_cli_help_and_version)
{
    struct conf c;
    struct conf_cli cli;
    struct buf err = {0};
    ck_assert_int_eq(run_argv(&c, &cli, &err, ARGV("--help")), 0);
    ck_assert(cli.help && !cli.version);
    conf_free(&c);
    ck_assert_int_eq(run_argv(&c, &cli, &err, ARGV("-h")), 0);
    ck_assert(cli.help);
    conf_free(&c);
    ck_assert_int_eq(run_argv(&c, &cli, &err, ARGV("--version")), 0);
    ck_assert(cli.version && !cli.help);
    conf_free(&c);
    ck_assert_int_eq(run_argv(&c, &cli, &err, ARGV("-v")), 0);
    ck_assert(cli.version);
    conf_free(&c);
    /* --help wins over anything wrong beside it, the file is not even read. */
    ck_assert_int_eq(
        run_argv(&c, &cli, &err, ARGV("-c", FIXTURES "no-such.conf", "--port", "x", "--help")), 0);
    ck_assert(cli.help);
    ck_assert_uint_eq(err.len, 0);
    conf_free(&c);
    ck_assert_int_eq(run_argv(&c, &cli, &err, ARGV("--port", "x", "--version")), 0);
    ck_assert(cli.version);
    ck_assert_uint_eq(err.len, 0);
    conf_free(&c);
    /* -h ends the words of the key before it. */
    ck_assert_int_eq(run_argv(&c, &cli, &err, ARGV("--port", "1", "-h")), 0);
    ck_assert(cli.help);
    conf_free(&c);
    buf_free(&err);
}
END_TEST

static const struct {
    char *args[8];
    const char *error;
} cli_errors[] = {
    {{"objcastd", "-c", NULL}, "(command line):1: -c: needs a file name"},
    {{"objcastd", "--port", "1", "-c", NULL}, "(command line):3: -c: needs a file name"},
    {{"objcastd", "-c", "--port", "1", NULL}, "(command line):1: -c: needs a file name"},
    {{"objcastd", "--config", NULL}, "(command line):1: --config: needs a file name"},
    {{"objcastd", "--config=", NULL}, "(command line):1: --config: needs a file name"},
    {{"objcastd", "a.conf", "-c", "b.conf", NULL},
     "(command line):2: -c: only one conf file may be given"},
    {{"objcastd", "--port", "1", "stray", "-x", NULL},
     "(command line):1: port: wrong number of arguments"},
    {{"objcastd", "-x", NULL}, "(command line):1: -x: unexpected argument"},
    {{"objcastd", "a.conf", "b.conf", NULL}, "(command line):2: b.conf: unexpected argument"},
    {{"objcastd", "--", NULL}, "(command line):1: --: unexpected argument"},
    {{"objcastd", "--port", "80", "--workers", "0", NULL},
     "(command line):3: workers: must be between 1 and 64"},
    {{"objcastd", "--bogus", "1", NULL}, "(command line):1: bogus: unknown key"},
    {{"objcastd", "--port", NULL}, "(command line):1: port: wrong number of arguments"},
    {{"objcastd", "--port=", NULL}, "(command line):1: port: must be an integer"},
    {{"objcastd", "--client-rate", "1", NULL},
     "(command line):1: client_rate: wrong number of arguments"},
    {{"objcastd", "--workers", "2", NULL},
     "(command line): workers: workers > 1 needs engine redis"},
    {{"objcastd", "--max-message-bytes", "4096", "--max_frame_bytes", "4095", NULL},
     "(command line): max_message_bytes: must not exceed max_frame_bytes (4095)"},
    {{"objcastd", "-c", FIXTURES "nope.conf", NULL},
     FIXTURES "nope.conf: cannot open: No such file or directory"},
    {{"objcastd", "-c", FIXTURES "bad_enum.conf", "--port", "1", NULL},
     FIXTURES "bad_enum.conf:4: engine: must be memory or redis"},
    {{"objcastd", "-c", FIXTURES "invalid_workers.conf", NULL},
     FIXTURES "invalid_workers.conf: workers: workers > 1 needs engine redis"},
    /* The rules between redis_url and redis_cluster name where the URL was set. */
    {{"objcastd", "--port", "1", "--redis_url", "redis://h1,h2:7001", NULL},
     "(command line):3: redis_url: names 2 hosts; more than one needs redis_cluster yes"},
    {{"objcastd", "--redis-url=redis://h1/2", "--redis-cluster", "yes", NULL},
     "(command line):1: redis_url: db must be 0 with redis_cluster yes"},
    {{"objcastd", "-c", FIXTURES "cluster.conf", "--redis_url", "redis://:pw@h1:7000/1", NULL},
     "(command line):3: redis_url: db must be 0 with redis_cluster yes"},
    {{"objcastd", "-c", FIXTURES "cluster.conf", "--redis_cluster", "no", NULL},
     FIXTURES "cluster.conf:4: redis_url: names 3 hosts; more than one needs redis_cluster yes"},
    /* An override that breaks a rule is still reported against the conf file in use. */
    {{"objcastd", FIXTURES "valid.conf", "--engine", "memory", NULL},
     FIXTURES "valid.conf: workers: workers > 1 needs engine redis"},
};

START_TEST(test_cli_error)
{
    struct conf c;
    struct conf_cli cli;
    struct buf err = {0};
    char *args[8];
    memcpy(args, cli_errors[_i].args, sizeof(args));
    ck_assert_int_eq(run_argv(&c, &cli, &err, args), -1);
    ck_assert_ptr_nonnull(err.p);
    ck_assert_str_eq(err.p, cli_errors[_i].error);
    conf_free(&c);
    buf_free(&err);
}
END_TEST

/* The file is fixed up by an override that comes after it on the command line. */
START_TEST(test_cli_override_fixes_file_rule)
{
    struct conf c;
    struct conf_cli cli;
    struct buf err = {0};
    int rc =
        run_argv(&c, &cli, &err, ARGV("-c", FIXTURES "invalid_workers.conf", "--engine", "redis"));
    ck_assert_msg(rc == 0, "%s", err.p);
    ck_assert_int_eq(c.workers, 2);
    ck_assert_int_eq(c.engine, CONF_ENGINE_REDIS);
    conf_free(&c);
    buf_free(&err);
}
END_TEST

START_TEST(test_cli_cluster_fixture)
{
    struct conf c;
    struct conf_cli cli;
    struct buf err = {0};
    int rc = run_argv(&c, &cli, &err, ARGV("-c", FIXTURES "cluster.conf", "--check-config"));
    ck_assert_msg(rc == 0, "%s", err.p);
    ck_assert_int_eq(c.redis_cluster, 1);
    ck_assert_int_eq(c.redis_nhosts, 3);
    ck_assert_str_eq(c.redis_hosts[0].host, "10.0.0.1");
    ck_assert_str_eq(c.redis_hosts[2].host, "fd00::3");
    ck_assert_int_eq(c.redis_hosts[2].port, 7000);
    ck_assert_str_eq(c.redis_url_from, FIXTURES "cluster.conf");
    ck_assert_int_eq(c.redis_url_line, 4);
    conf_free(&c);
    buf_free(&err);
}
END_TEST

/* ---- rules between keys ------------------------------------------------------------------ */

START_TEST(test_validate_rules)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);

    c.max_message_bytes = c.max_frame_bytes + 1;
    ck_assert_int_eq(conf_validate(&c, &err), -1);
    ck_assert_str_eq(err.p, "(command line): max_message_bytes: must not exceed "
                            "max_frame_bytes (2162688)");
    c.max_message_bytes = c.max_frame_bytes; /* equal is fine */
    buf_reset(&err);
    ck_assert_int_eq(conf_validate(&c, &err), 0);

    c.max_data_bytes = c.max_frame_bytes + 1;
    ck_assert_int_eq(conf_validate(&c, &err), -1);
    ck_assert_str_eq(err.p, "(command line): max_data_bytes: must not exceed "
                            "max_frame_bytes (2162688)");
    c.max_data_bytes = 512000;
    buf_reset(&err);

    c.client_output_limit = c.max_frame_bytes - 1;
    ck_assert_int_eq(conf_validate(&c, &err), -1);
    ck_assert_str_eq(err.p, "(command line): client_output_limit: must be at least "
                            "max_frame_bytes (2162688)");
    c.client_output_limit = c.max_frame_bytes;
    buf_reset(&err);
    ck_assert_int_eq(conf_validate(&c, &err), 0);

    c.workers = 2;
    ck_assert_int_eq(conf_validate(&c, &err), -1);
    ck_assert_str_eq(err.p, "(command line): workers: workers > 1 needs engine redis");
    buf_reset(&err);
    c.engine = CONF_ENGINE_REDIS;
    ck_assert_int_eq(conf_validate(&c, &err), 0);

    conf_free(&c);
    buf_free(&err);
}
END_TEST

/* After a file was loaded, rule errors name it. */
START_TEST(test_validate_names_file)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);
    ck_assert_int_eq(load(&c, "max_frame_bytes 4096\n", &err), 0);
    ck_assert_int_eq(conf_validate(&c, &err), -1);
    ck_assert_str_eq(err.p, "t.conf: max_message_bytes: must not exceed max_frame_bytes (4096)");
    conf_free(&c);
    buf_free(&err);
}
END_TEST

START_TEST(test_validate_cluster)
{
    struct conf c;
    struct buf err = {0};
    conf_init(&c);

    /* Several hosts are seed nodes of a cluster, and only that. */
    ck_assert_int_eq(load(&c, "# seeds\nredis_url redis://:pw@h1:7000,[::1]:7001,h3\n", &err), 0);
    ck_assert_int_eq(c.redis_nhosts, 3);
    ck_assert_str_eq(c.redis_host, "h1");
    ck_assert_int_eq(c.redis_port, 7000);
    ck_assert_str_eq(c.redis_hosts[1].host, "::1");
    ck_assert_int_eq(c.redis_hosts[1].port, 7001);
    ck_assert_str_eq(c.redis_hosts[2].host, "h3");
    ck_assert_int_eq(c.redis_hosts[2].port, 6379);
    ck_assert_str_eq(c.redis_password, "pw");
    ck_assert_int_eq(conf_validate(&c, &err), -1);
    ck_assert_str_eq(err.p, "t.conf:2: redis_url: names 3 hosts; more than one needs "
                            "redis_cluster yes");

    /* redis_cluster may come before or after the URL: the rule runs on the whole conf. */
    ck_assert_int_eq(load(&c, "redis_cluster yes\n", &err), 0);
    ck_assert_int_eq(c.redis_cluster, 1);
    ck_assert_int_eq(conf_validate(&c, &err), 0);
    ck_assert_int_eq(load(&c, "redis_cluster no\n", &err), 0);
    ck_assert_int_eq(c.redis_cluster, 0);
    ck_assert_int_eq(conf_validate(&c, &err), -1);
    ck_assert_int_eq(load(&c, "redis_cluster YES\n", &err), 0);
    ck_assert_int_eq(c.redis_cluster, 1);
    ck_assert_int_eq(conf_validate(&c, &err), 0);

    /* A single seed is a cluster too. */
    ck_assert_int_eq(load(&c, "redis_url redis://h1:7000\n", &err), 0);
    ck_assert_int_eq(conf_validate(&c, &err), 0);

    /* A cluster has db 0 only. */
    ck_assert_int_eq(load(&c, "\n\nredis_url redis://h1:7000,h2:7000/3\n", &err), 0);
    ck_assert_int_eq(conf_validate(&c, &err), -1);
    ck_assert_str_eq(err.p, "t.conf:3: redis_url: db must be 0 with redis_cluster yes");
    ck_assert_int_eq(load(&c, "redis_url redis://h1:7000,h2:7000/0\n", &err), 0);
    ck_assert_int_eq(conf_validate(&c, &err), 0);

    /* Without a cluster, a db other than 0 is fine as before. */
    ck_assert_int_eq(load(&c, "redis_cluster no\nredis_url redis://h1/3\n", &err), 0);
    ck_assert_int_eq(conf_validate(&c, &err), 0);

    conf_free(&c);
    buf_free(&err);
}
END_TEST

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");

    TCase *tc = tcase_create("defaults");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_defaults_are_valid);
    tcase_add_test(tc, test_help_lists_every_key);
    tcase_add_test(tc, test_example_conf_is_defaults);
    tcase_add_test(tc, test_example_conf_sets_every_key);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, test_valid_fixture);
    tcase_add_loop_test(tc, test_bad_fixture, 0, sizeof(bad_fixtures) / sizeof(bad_fixtures[0]));
    tcase_add_test(tc, test_unopenable_file);
    tcase_add_test(tc, test_directory_is_not_a_file);
    tcase_add_test(tc, test_error_is_appended);
    tcase_add_test(tc, test_failed_set_changes_nothing);
    tcase_add_test(tc, test_free_twice_is_safe);
    suite_add_tcase(s, tc);

    tc = tcase_create("syntax");
    tcase_add_test(tc, test_quoting_and_escapes);
    tcase_add_test(tc, test_comments_blank_lines_crlf);
    tcase_add_test(tc, test_keys_case_insensitive);
    tcase_add_test(tc, test_first_error_stops);
    tcase_add_loop_test(tc, test_syntax_error, 0, sizeof(syntax_errors) / sizeof(syntax_errors[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_loop_test(tc, test_value_error, 0, sizeof(value_errors) / sizeof(value_errors[0]));
    tcase_add_test(tc, test_value_edges);
    tcase_add_loop_test(tc, test_redis_url, 0, sizeof(redis_urls) / sizeof(redis_urls[0]));
    tcase_add_test(tc, test_redis_url_replaces_password);
    tcase_add_test(tc, test_origins);
    tcase_add_test(tc, test_conf_set_direct);
    tcase_add_test(tc, test_apply_reloadable);
    suite_add_tcase(s, tc);

    tc = tcase_create("command_line");
    tcase_add_test(tc, test_cli_no_arguments);
    tcase_add_test(tc, test_cli_secrets_from_env);
    tcase_add_test(tc, test_cli_overrides_beat_file);
    tcase_add_test(tc, test_cli_bare_conf_file);
    tcase_add_test(tc, test_cli_spellings);
    tcase_add_test(tc, test_cli_help_and_version);
    tcase_add_loop_test(tc, test_cli_error, 0, sizeof(cli_errors) / sizeof(cli_errors[0]));
    tcase_add_test(tc, test_cli_override_fixes_file_rule);
    tcase_add_test(tc, test_cli_cluster_fixture);
    suite_add_tcase(s, tc);

    tc = tcase_create("validate");
    tcase_add_test(tc, test_validate_rules);
    tcase_add_test(tc, test_validate_names_file);
    tcase_add_test(tc, test_validate_cluster);
    suite_add_tcase(s, tc);

    return s;
}

UNIT_MAIN(conf_suite)
