#include "metrics.h"


struct metrics metrics;

const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5};

void metrics_redis_latency(double seconds)
{
    int i = 0;
    while (i < METRICS_LATENCY_BUCKETS && seconds > metrics_latency_bounds[i])
        i++;
    metrics.redis_latency[i]++;
    metrics.redis_latency_sum += seconds;
}

static void header(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct buf *out, const char *name, const char *help, uint64_t v)
{
    header(out, name, "counter", help);
    buf_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(struct buf *out, const char *name, const char *help, int64_t v)
{
    header(out, name, "gauge", help);
    buf_printf(out, "%s %lld\n", name, (long long)v);
}

/* A counter with one label: values[i] under label="names[i]". */
static void labelled(struct buf *out, const char *name, const char *help, const char *label,
                     const char *const *names, const uint64_t *values, int n)
{
    header(out, name, "counter", help);
    for (int i = 0; i < n && i < METRICS_CODES_MAX; i++)
        buf_printf(out, "%s{%s=\"%s\"} %llu\n", name, label, names[i],
                   (unsigned long long)values[i]);
}

void metrics_render(struct buf *out, const struct metrics_codes *codes)
{
    static const char *close_reasons[] = {"protocol",      "auth",     "ping_timeout",
                                          "slow_consumer", "shutdown", "rate_limit",
                                          "message_timeout", "token_expired"};
    _Static_assert(sizeof(close_reasons) / sizeof(*close_reasons) == METRICS_CLOSE_COUNT,
                   "a name for every close reason");
    const struct metrics *m = &metrics;

    gauge(out, "objcast_connections", "Open WebSocket connections.", m->ws_connections);
    gauge(out, "objcast_tcp_connections", "Open TCP connections (HTTP and WebSocket).",
          m->connections);
    gauge(out, "objcast_ws_authenticated", "Authenticated WebSocket connections.",
          m->ws_authenticated);
    counter(out, "objcast_connections_accepted_total", "TCP connections accepted.",
            m->connections_accepted);
    counter(out, "objcast_http_requests_total", "HTTP requests answered.", m->http_requests);
    counter(out, "objcast_messages_received_total", "WebSocket messages received.",
            m->messages_received);
    counter(out, "objcast_messages_sent_total", "WebSocket messages sent.", m->messages_sent);
    counter(out, "objcast_bytes_received_total", "Bytes read from clients.", m->bytes_received);
    counter(out, "objcast_bytes_sent_total", "Bytes written to clients.", m->bytes_sent);
    counter(out, "objcast_frames_encoded_total",
            "Outgoing messages encoded (once per message, however many recipients).",
            m->encoded);
    counter(out, "objcast_auth_failures_total", "Authentications refused or timed out.",
            m->auth_failures);

    labelled(out, "objcast_errors_total", "objcast_error messages sent, by code.", "code",
             codes->error_names, m->errors, codes->errors);
    labelled(out, "objcast_server_closes_total", "Connections closed by the server, by reason.",
             "reason", close_reasons, m->closes, METRICS_CLOSE_COUNT);
    labelled(out, "objcast_messages_received_by_type_total",
             "WebSocket messages received, by protocol type.", "type", codes->type_names,
             m->by_type, codes->types);
    gauge(out, "objcast_objects", "Objects with participants on this instance.", m->objects);
    gauge(out, "objcast_subscriptions", "Connections on objects (any presence state).",
          m->memberships);
    gauge(out, "objcast_redis_up",
          "Engine redis: 1 when both Redis connections are up and its heartbeat is current.",
          m->redis_up);
    counter(out, "objcast_redis_reconnects_total", "Reconnections to Redis.",
            m->redis_reconnects);
    counter(out, "objcast_presence_swept_total",
            "Presence entries of dead instances removed by this instance's reaping.",
            m->presence_swept);
    counter(out, "objcast_resumes_recovered_total",
            "Subscribes and joins with since answered recovered: true.", m->resumes_recovered);
    counter(out, "objcast_resumes_lost_total",
            "Subscribes and joins with since answered recovered: false.", m->resumes_lost);
    gauge(out, "objcast_ws_deflate_connections",
          "Open WebSocket connections that agreed to permessage-deflate.", m->ws_deflate);
    counter(out, "objcast_deflated_messages_total",
            "Messages compressed, once for all the recipients that take them compressed.",
            m->deflated);
    counter(out, "objcast_deflate_in_bytes_total", "Bytes of text those messages had.",
            m->deflate_in_bytes);
    counter(out, "objcast_deflate_out_bytes_total", "Bytes they compressed to.",
            m->deflate_out_bytes);
    counter(out, "objcast_messages_sent_deflated_total",
            "Messages sent compressed (of objcast_messages_sent_total).",
            m->messages_sent_deflated);
    counter(out, "objcast_messages_inflated_total",
            "Messages received compressed (of objcast_messages_received_total).",
            m->messages_inflated);
    static const char *refused[] = {"max_connections", "head_too_large", "body_too_large",
                                    "malformed"};
    _Static_assert(sizeof(refused) / sizeof(*refused) == METRICS_REFUSED_COUNT,
                   "a name for every refusal reason");
    labelled(out, "objcast_http_refused_total", "HTTP requests refused by a limit, by reason.",
             "reason", refused, m->http_refused, METRICS_REFUSED_COUNT);
    header(out, "objcast_redis_command_seconds", "histogram", "Redis command round trips.");
    uint64_t cum = 0;
    for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
        cum += m->redis_latency[i];
        buf_printf(out, "objcast_redis_command_seconds_bucket{le=\"%g\"} %llu\n",
                   metrics_latency_bounds[i], (unsigned long long)cum);
    }
    cum += m->redis_latency[METRICS_LATENCY_BUCKETS];
    buf_printf(out, "objcast_redis_command_seconds_bucket{le=\"+Inf\"} %llu\n",
               (unsigned long long)cum);
    buf_printf(out, "objcast_redis_command_seconds_sum %.6f\n", m->redis_latency_sum);
    buf_printf(out, "objcast_redis_command_seconds_count %llu\n", (unsigned long long)cum);
}
