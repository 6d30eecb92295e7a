#include "status.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "json.h"
#include "utf8.h"
#include "util.h"

struct instance {
    struct json_value *doc;
    const char *text; /* the entry as published */
    size_t len;
    const char *id;
    int stale; /* its heartbeat is too old: shown, but its numbers are no longer counted */
};

/* One object of the merged busiest list. */
struct busy {
    const struct json_value *first; /* the entry it came from first (its names) */
    double rate;
    long long participants;
    struct buf instances; /* JSON strings, comma-separated */
};

static double number_of(const struct json_value *v, const char *key)
{
    double d = 0;
    json_double(json_get(v, key), &d);
    return d;
}

/* A whole number of the entry (times, counts); 0 when absent or out of any sane range. */
static long long whole_of(const struct json_value *v, const char *key)
{
    double d = number_of(v, key);
    return d > -1e15 && d < 1e15 ? (long long)d : 0;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const struct instance *)a)->id, ((const struct instance *)b)->id);
}

static int by_rate(const void *a, const void *b)
{
    const struct busy *x = *(struct busy *const *)a, *y = *(struct busy *const *)b;
    if (x->rate != y->rate)
        return x->rate < y->rate ? 1 : -1;
    return (x->participants < y->participants) - (x->participants > y->participants);
}

/* Adds the entry text as an instance unless it is not one, or its id is taken. */
static void add_instance(struct instance *list, size_t *n, struct dict *ids, const char *text,
                         size_t len)
{
    const char *err = NULL;
    struct json_value *doc = json_parse(text, len, &err);
    const char *id = doc ? json_string(json_get(doc, "id")) : NULL;
    if (!doc || json_typeof(doc) != JSON_OBJECT || !id || dict_get(ids, id, strlen(id))) {
        json_free(doc);
        return;
    }
    dict_set(ids, id, strlen(id), doc);
    list[*n] = (struct instance){.doc = doc, .text = text, .len = len, .id = id};
    (*n)++;
}

static void mark_stale(struct instance *in, long long now)
{
    in->stale = now - whole_of(in->doc, "updated") > STATUS_STALE_SECONDS;
}

/* The entry with its age added: its text up to the closing brace, then the new members. */
static void render_instance(const struct instance *in, const struct status_input *st,
                            struct buf *out)
{
    size_t end = in->len;
    while (end > 0 && in->text[end - 1] != '}')
        end--;
    buf_append(out, in->text, end - 1);
    long long started = whole_of(in->doc, "started");
    long long age = st->now - whole_of(in->doc, "updated");
    if (age < 0)
        age = 0; /* clocks of instances differ a little */
    buf_printf(out, "%s\"uptime_s\":%lld,\"heartbeat_age_s\":%lld,\"state\":\"%s\",\"self\":%s}",
               json_count(in->doc) ? "," : "", started ? st->now - started : 0, age,
               in->stale ? "stale" : "up", strcmp(in->id, st->self_id) == 0 ? "true" : "false");
}

static void render_busiest(const struct instance *list, size_t n, struct buf *out)
{
    struct dict by_key = {0};
    size_t cap = 0, count = 0;
    for (size_t i = 0; i < n; i++)
        cap += json_count(json_get(list[i].doc, "busiest"));
    /* (a stale instance's last window is long past: left out, like its totals) */
    struct busy *all = oc_calloc(cap + 1, sizeof(*all));
    struct busy **order = oc_calloc(cap + 1, sizeof(*order));
    for (size_t i = 0; i < n; i++) {
        const struct json_value *arr = list[i].stale ? NULL : json_get(list[i].doc, "busiest");
        if (json_typeof(arr) != JSON_ARRAY)
            continue;
        for (size_t j = 0; j < json_count(arr); j++) {
            const struct json_value *o = json_at(arr, j);
            const char *key = json_string(json_get(o, "key"));
            if (!key)
                continue;
            /* Every instance on an object sees its whole order: the same messages, counted
             * once each. Participants are everyone, on every instance, as each sees them. */
            struct busy *b = dict_get(&by_key, key, strlen(key));
            if (!b) {
                b = &all[count];
                order[count++] = b;
                b->first = o;
                dict_set(&by_key, key, strlen(key), b);
            } else {
                buf_append_char(&b->instances, ',');
            }
            double rate = number_of(o, "messages_per_s");
            long long people = whole_of(o, "participants");
            b->rate = rate > b->rate ? rate : b->rate;
            b->participants = people > b->participants ? people : b->participants;
            json_append_string(&b->instances, list[i].id, strlen(list[i].id));
        }
    }
    qsort(order, count, sizeof(*order), by_rate);
    buf_append_str(out, ",\"busiest\":[");
    for (size_t i = 0; i < count && i < STATUS_BUSIEST; i++) {
        const struct busy *b = order[i];
        const char *names[] = {"key", "workspaceId", "objectId"};
        buf_append_str(out, i ? ",{" : "{");
        for (size_t k = 0; k < 3; k++) {
            const char *v = json_string(json_get(b->first, names[k]));
            buf_printf(out, "\"%s\":", names[k]);
            json_append_string(out, v ? v : "", v ? strlen(v) : 0);
            buf_append_char(out, ',');
        }
        buf_printf(out, "\"participants\":%lld,\"messages_per_s\":%.2f,\"instances\":[",
                   b->participants, b->rate);
        buf_append(out, b->instances.p, b->instances.len);
        buf_append_str(out, "]}");
    }
    buf_append_char(out, ']');
    for (size_t i = 0; i < count; i++)
        buf_free(&all[i].instances);
    free(all);
    free(order);
    dict_free(&by_key);
}

/* Sums the live instances' "errors" members by code. */
static void render_errors(const struct instance *list, size_t n, struct buf *out)
{
    struct dict sums = {0};
    const char **codes = NULL;
    size_t ncodes = 0;
    for (size_t i = 0; i < n; i++) {
        const struct json_value *errs = list[i].stale ? NULL : json_get(list[i].doc, "errors");
        if (json_typeof(errs) != JSON_OBJECT)
            continue;
        for (size_t j = 0; j < json_count(errs); j++) {
            const char *code = json_key_at(errs, j);
            long long v = 0;
            if (json_integer(json_at(errs, j), &v) != 0 || v < 0)
                continue;
            long long *sum = dict_get(&sums, code, strlen(code));
            if (!sum) {
                sum = oc_calloc(1, sizeof(*sum));
                dict_set(&sums, code, strlen(code), sum);
                codes = oc_realloc(codes, (ncodes + 1) * sizeof(*codes));
                codes[ncodes++] = code;
            }
            *sum = *sum > LLONG_MAX - v ? LLONG_MAX : *sum + v;
        }
    }
    buf_append_str(out, ",\"errors\":{");
    for (size_t i = 0; i < ncodes; i++) {
        long long *sum = dict_get(&sums, codes[i], strlen(codes[i]));
        if (i)
            buf_append_char(out, ',');
        json_append_string(out, codes[i], strlen(codes[i]));
        buf_printf(out, ":%lld", *sum);
        free(sum);
    }
    buf_append_char(out, '}');
    free(codes);
    dict_free(&sums);
}

/* The value of "key:" in INFO's text, or NULL (also when it is not UTF-8, which no JSON
 * string may hold). */
static char *info_field(const char *info, size_t len, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = info; p && p < info + len;) {
        const char *eol = memchr(p, '\n', (size_t)(info + len - p));
        size_t line = eol ? (size_t)(eol - p) : (size_t)(info + len - p);
        if (line > klen && strncmp(p, key, klen) == 0 && p[klen] == ':') {
            size_t vlen = line - klen - 1;
            if (vlen && p[klen + vlen] == '\r')
                vlen--;
            if (utf8_validate(UTF8_ACCEPT, (const uint8_t *)p + klen + 1, vlen) != UTF8_ACCEPT)
                return NULL;
            return oc_strndup(p + klen + 1, vlen);
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

static void render_redis(const struct status_input *in, struct buf *out)
{
    buf_append_str(out, ",\"redis\":");
    if (strcmp(in->engine, "redis") != 0) {
        buf_append_str(out, "null");
        return;
    }
    buf_printf(out, "{\"up\":%s,\"cluster\":%s,\"latency_ms\":", in->redis_up ? "true" : "false",
               in->cluster ? "true" : "false");
    if (in->latency_ms >= 0)
        buf_printf(out, "%.3f", in->latency_ms);
    else
        buf_append_str(out, "null");
    /* Strings as INFO gives them, numbers as numbers. */
    static const struct {
        const char *name, *as;
        int number;
    } fields[] = {
        {"redis_version", "version", 0},
        {"role", "role", 0},
        {"uptime_in_seconds", "uptime_s", 1},
        {"connected_clients", "connected_clients", 1},
        {"used_memory", "used_memory", 1},
        {"used_memory_human", "used_memory_human", 0},
        {"maxmemory", "maxmemory", 1},
        {"aof_enabled", "aof_enabled", 1},
        {"instantaneous_ops_per_sec", "ops_per_s", 1},
    };
    for (size_t i = 0; in->info && i < sizeof(fields) / sizeof(fields[0]); i++) {
        char *v = info_field(in->info, in->info_len, fields[i].name);
        long long n;
        if (!v)
            continue;
        buf_printf(out, ",\"%s\":", fields[i].as);
        if (fields[i].number && util_parse_integer(v, strlen(v), &n) == 0)
            buf_printf(out, "%lld", n);
        else
            json_append_string(out, v, strlen(v));
        free(v);
    }
    buf_append_char(out, '}');
}

void status_render(const struct status_input *in, struct buf *out)
{
    struct instance *list = oc_calloc(in->n + 2, sizeof(*list));
    struct dict ids = {0};
    size_t n = 0;
    for (size_t i = 0; i < in->n; i++)
        add_instance(list, &n, &ids, in->entries[i], in->lens[i]);
    add_instance(list, &n, &ids, in->self, in->self_len);
    qsort(list, n, sizeof(*list), by_id);
    for (size_t i = 0; i < n; i++)
        mark_stale(&list[i], in->now);

    buf_printf(out, "{\"now\":%lld,\"answered_by\":", in->now);
    json_append_string(out, in->self_id, strlen(in->self_id));
    buf_append_str(out, ",\"engine\":");
    json_append_string(out, in->engine, strlen(in->engine));
    render_redis(in, out);

    double conns = 0, objects = 0, rin = 0, rout = 0;
    size_t up = 0;
    buf_append_str(out, ",\"instances\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_append_char(out, ',');
        render_instance(&list[i], in, out);
        if (list[i].stale)
            continue;
        up++;
        conns += number_of(list[i].doc, "connections");
        objects += number_of(list[i].doc, "objects");
        rin += number_of(list[i].doc, "messages_in_per_s");
        rout += number_of(list[i].doc, "messages_out_per_s");
    }
    /* Objects are counted once per instance that has a participant on them. */
    buf_printf(out,
               "],\"totals\":{\"instances\":%zu,\"instances_up\":%zu,\"connections\":%.0f,"
               "\"objects\":%.0f,\"messages_in_per_s\":%.2f,\"messages_out_per_s\":%.2f}",
               n, up, conns, objects, rin, rout);
    render_busiest(list, n, out);
    render_errors(list, n, out);
    buf_append_char(out, '}');
    for (size_t i = 0; i < n; i++)
        json_free(list[i].doc);
    free(list);
    dict_free(&ids);
}
