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

void metrics_render(struct buf *out, const struct metrics_codes *codes)
{
    static const char *close_reasons[] = {"protocol",      "auth",     "ping_timeout",
                                          "slow_consumer", "shutdown", "rate_limit",
                                          "message_timeout", "token_expired"};
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
            "Outgoing frames encoded (one per message, however many recipients).",
            m->encoded);
    counter(out, "objcast_auth_failures_total", "Authentications refused or timed out.",
            m->auth_failures);

    header(out, "objcast_errors_total", "counter", "objcast_error messages sent, by code.");
    for (int i = 0; i < codes->errors && i < METRICS_CODES_MAX; i++)
        buf_printf(out, "objcast_errors_total{code=\"%s\"} %llu\n", codes->error_name(i),
                   (unsigned long long)m->errors[i]);

    header(out, "objcast_server_closes_total", "counter",
           "Connections closed by the server, by reason.");
    for (int i = 0; i < METRICS_CLOSE_COUNT; i++)
        buf_printf(out, "objcast_server_closes_total{reason=\"%s\"} %llu\n", close_reasons[i],
                   (unsigned long long)m->closes[i]);

    header(out, "objcast_messages_received_by_type_total", "counter",
           "WebSocket messages received, by protocol type.");
    for (int i = 0; i < codes->types && i < METRICS_CODES_MAX; i++)
        buf_printf(out, "objcast_messages_received_by_type_total{type=\"%s\"} %llu\n",
                   codes->type_name(i), (unsigned long long)m->by_type[i]);
    gauge(out, "objcast_objects", "Objects with participants on this instance.", m->objects);
    gauge(out, "objcast_subscriptions", "Connections on objects (any presence state).",
          m->memberships);
    gauge(out, "objcast_redis_up", "Engine redis: 1 when both Redis connections are up.",
          m->redis_up);
    counter(out, "objcast_redis_reconnects_total", "Reconnections to Redis.",
            m->redis_reconnects);
    counter(out, "objcast_presence_swept_total",
            "Presence entries of dead instances removed by this instance's sweeps.",
            m->presence_swept);
    static const char *refused[] = {"max_connections", "head_too_large", "body_too_large",
                                    "malformed"};
    header(out, "objcast_http_refused_total", "counter",
           "HTTP requests refused by a limit, by reason.");
    for (int i = 0; i < 4; i++)
        buf_printf(out, "objcast_http_refused_total{reason=\"%s\"} %llu\n", refused[i],
                   (unsigned long long)m->http_refused[i]);
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
