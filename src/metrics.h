#ifndef OC_METRICS_H
#define OC_METRICS_H

#include <stdint.h>

#include "buf.h"

/*
 * Process-wide counters, bumped where things happen and rendered as Prometheus text for
 * GET /metrics. One process is single-threaded, so plain integers suffice; with `workers`
 * each process reports its own (Prometheus sums them by instance).
 */
/* Room for the counters kept by a code of a layer above (the protocol's error codes and
 * message types): metrics knows their number and names only when it renders them. */
#define METRICS_CODES_MAX 16

/* Upper bounds (seconds) of the Redis command latency histogram buckets. */
#define METRICS_LATENCY_BUCKETS 12
extern const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS];

/* Counts one Redis command round trip of `seconds`. */
void metrics_redis_latency(double seconds);

/* Why the server closed a connection, for objcast_server_closes_total. */
enum metrics_close {
    METRICS_CLOSE_PROTOCOL = 0, /* RFC 6455 violation (1002, 1003, 1007, 1009) */
    METRICS_CLOSE_AUTH,         /* auth failed or timed out (1008, 4000) */
    METRICS_CLOSE_PING,         /* no answer to ping */
    METRICS_CLOSE_SLOW,         /* output over client_output_limit */
    METRICS_CLOSE_SHUTDOWN,     /* server shutting down (1001) */
    METRICS_CLOSE_RATE,         /* kept sending far over client_rate (1008) */
    METRICS_CLOSE_STALLED,      /* a message did not complete within message_timeout (1008) */
    METRICS_CLOSE_TOKEN,        /* the connection token expired without a refresh (4001) */
    METRICS_CLOSE_COUNT,
};

/* Why an HTTP request was refused, for objcast_http_refused_total. */
enum metrics_refused {
    METRICS_REFUSED_FULL = 0,  /* max_connections reached (closed at accept) */
    METRICS_REFUSED_HEAD,      /* request head over its limit (431) */
    METRICS_REFUSED_BODY,      /* request body over its limit (413) */
    METRICS_REFUSED_BAD,       /* malformed request (400) */
    METRICS_REFUSED_COUNT,
};

struct metrics {
    uint64_t connections_accepted;   /* TCP connections accepted */
    int64_t connections;             /* open TCP connections (HTTP or WebSocket) */
    int64_t ws_connections;          /* open WebSocket connections */
    int64_t ws_authenticated;        /* of those, authenticated */
    uint64_t http_requests;          /* HTTP requests answered (upgrades included) */
    uint64_t messages_received;      /* WebSocket text messages received */
    uint64_t messages_sent;          /* WebSocket text messages queued to clients */
    uint64_t bytes_received;         /* bytes read from sockets */
    uint64_t bytes_sent;             /* bytes queued to sockets */
    uint64_t auth_failures;          /* objcast_auth refused or timed out */
    uint64_t encoded;                /* outgoing messages encoded (once however many get them) */
    uint64_t errors[METRICS_CODES_MAX]; /* objcast_error sent, by code */
    uint64_t closes[METRICS_CLOSE_COUNT]; /* server-initiated closes, by reason (see above) */
    uint64_t by_type[METRICS_CODES_MAX]; /* messages received, by type (0: unknown) */
    int64_t objects;                 /* objects with local participants */
    int64_t memberships;             /* connections on objects (subscriptions) */
    int64_t redis_up;                /* engine redis: both connections up (1) or not (0) */
    uint64_t redis_reconnects;       /* successful reconnections to Redis */
    uint64_t redis_latency[METRICS_LATENCY_BUCKETS + 1]; /* command round trips, by bucket */
    double redis_latency_sum;        /* seconds */
    uint64_t presence_swept;         /* dead instances' entries removed by reaping */
    uint64_t resumes_recovered;      /* resumes (since) answered recovered: true */
    uint64_t resumes_lost;           /* ... recovered: false */
    uint64_t http_refused[METRICS_REFUSED_COUNT]; /* HTTP requests refused by a limit */
    int64_t ws_deflate;              /* open WebSocket connections with permessage-deflate */
    uint64_t deflated;               /* messages compressed (once however many get them) */
    uint64_t deflate_in_bytes;       /* their text */
    uint64_t deflate_out_bytes;      /* what it compressed to */
    uint64_t messages_sent_deflated; /* of messages_sent, sent compressed */
    uint64_t messages_inflated;      /* of messages_received, received compressed */
};

extern struct metrics metrics;

/* The names of the codes that index errors and by_type: names[i] for i < count. */
struct metrics_codes {
    const char *error_names[METRICS_CODES_MAX];
    int errors;
    const char *type_names[METRICS_CODES_MAX];
    int types;
};

/* Appends the Prometheus exposition of every metric to out. */
void metrics_render(struct buf *out, const struct metrics_codes *codes);

#endif
