#include "metrics.h"

#include "frame.h"

struct metrics metrics;

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

void metrics_render(struct buf *out)
{
    static const char *close_reasons[] = {"protocol",      "auth",     "ping_timeout",
                                          "slow_consumer", "shutdown", "rate_limit"};
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
            frame_encoded_total);
    counter(out, "objcast_auth_failures_total", "Authentications refused or timed out.",
            m->auth_failures);

    header(out, "objcast_errors_total", "counter", "objcast_error messages sent, by code.");
    for (int i = 0; i < PROTO_ERR_COUNT; i++)
        buf_printf(out, "objcast_errors_total{code=\"%s\"} %llu\n",
                   proto_error_name((enum proto_error)i), (unsigned long long)m->errors[i]);

    header(out, "objcast_server_closes_total", "counter",
           "Connections closed by the server, by reason.");
    for (int i = 0; i < 6; i++)
        buf_printf(out, "objcast_server_closes_total{reason=\"%s\"} %llu\n", close_reasons[i],
                   (unsigned long long)m->closes[i]);
}
