/*
 * objcast-bench: a load generator for objcastd (and for Nchan, to compare with the same
 * client and the same measurements).
 *
 * The parent process parses the options, forks --procs generator processes and waits. Each
 * generator process owns a share of the connections and runs its own libevent loop: it opens
 * its connections in paced batches (WebSocket upgrade, objcast_auth, objcast_subscribe),
 * reports "ready" through its status pipe, and waits for the parent's "go", which carries the
 * absolute CLOCK_MONOTONIC times of the run: start, end of warmup, end of the measured window,
 * end of the drain. Every process uses the same clock, so the send timestamp a message
 * carries can be compared with its receive time in any process. At the end of the drain each
 * process sends its counters and histograms to the parent, which adds them up, samples the
 * server processes' CPU time and RSS (from /proc) at the window's edges, and prints the result.
 * With --rest, an "at rest" window with every connection set up and nothing sent comes before
 * the start; with --redis, the parent also reads each Redis's INFO at every window edge.
 *
 * Client side WebSocket framing (masked frames out, unmasked frames in) is here: src/ws.c is
 * the server side codec. Tokens come from auth_jwt_sign(), Sec-WebSocket-Accept from
 * ws_accept_key(), response heads are parsed with http_parser. With --deflate every
 * connection offers permessage-deflate (RFC 7692) and compressed messages are inflated
 * before they are measured (see inflate_message()).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/hiredis.h>
#include <http_parser.h>
#include <zlib.h>

#include "auth.h"
#include "base64.h"
#include "buf.h"
#include "ws.h"

#define MAX_URLS 16
#define MAX_SERVER_PIDS 16
#define MAX_REDIS 16
#define MAX_CPUS 256
/* Bytes read from a socket per read() call; one buffer per process. */
#define READ_BUF_SIZE (256 * 1024)
/* A received message larger than this is a protocol error (the server's limit is ~2 MiB). */
#define MAX_MESSAGE (64u * 1024 * 1024)
/* The fanout sender stops producing while this much output waits for the socket. */
#define SENDER_OUT_CAP (4u * 1024 * 1024)
/* At max rate (--rate 0) the nchan publisher keeps at most this many POSTs unanswered on its
 * keep-alive connection (HTTP/1.1 pipelining; nginx answers them in order): one at a time
 * would make the publisher's round trip, not nginx, the limit. At a fixed rate it sends one
 * at a time: nginx turns TCP_NODELAY on only when a connection goes idle (keep-alive), so a
 * pipelined answer can wait for a delayed ACK (~40 ms) and would charge that to Nchan. */
#define PUBLISH_PIPELINE 16
/* An upgrade response head longer than this is refused. */
#define MAX_HEAD 8192
/* Fixed-rate sends later than this are stamped with their due time, not the send time: the
 * delay then counts as latency (no coordinated omission), while timer jitter below it does
 * not. */
#define LATE_NS 5000000ull
/* Pacing timer of fixed-rate senders. */
#define TICK_NS 1000000ull
/* The drain ends once no delivery arrived for this long (or at --drain). */
#define DRAIN_QUIET_NS 250000000ull
/* Per process, at most this many batches of connections may be in setup at once. */
#define SETUP_BATCHES_PENDING 4
/* The at-rest window (--rest) opens this long after the last connection is set up: the last
 * presence events and the server's presence bootstraps of the last objects are done by then,
 * so the window sees only what the server does when nothing happens. */
#define REST_SETTLE_NS 2000000000ull
/* The senders start this long after the at-rest window closes: the parent's sample at its end
 * may come a little late (a busy machine), and must not count the first messages. */
#define REST_GUARD_NS 200000000ull
/* Commands per window named in the report, the most called first. */
#define REDIS_TOP 8

#define NS_PER_S 1000000000ull

/* --- options ----------------------------------------------------------------------------- */

enum workload {
    WL_FANOUT, /* one sender broadcasts to every receiver of one object (W1/W3) */
    WL_IDLE,   /* connections only: server memory per connection */
    WL_MANY,   /* N connections over K objects, each object R messages/s (W2, W5) */
    WL_DATA,   /* closed-loop ovice_save_and_emit_data (W4) */
};

enum target_kind {
    TARGET_OBJCAST,
    TARGET_NCHAN,
};

/* What fills a message to --size bytes. */
enum body_kind {
    BODY_FILLER, /* one string of 'x' */
    BODY_NOTES,  /* a notes board as the demo's notes plugin saves it (see notes_member()) */
};

/* A Redis to read INFO from (--redis HOST:PORT). */
struct redis_addr {
    const char *text; /* as given on the command line */
    char host[256];   /* without brackets */
    int port;
};

/* A parsed ws:// or http:// URL. */
struct url {
    const char *text;             /* as given on the command line */
    char host[300];               /* Host header: host[:port] as written */
    char *path;                   /* request target, "/" when absent; owned */
    struct sockaddr_storage addr; /* resolved address */
    socklen_t addrlen;
};

struct opts {
    enum workload workload;
    enum target_kind target;
    struct url urls[MAX_URLS]; /* --url: receivers are spread over them round-robin */
    int nurls;
    struct url pub; /* --publish-url (nchan) */
    int have_pub;
    unsigned n;           /* receivers (idle: connections) */
    int procs;            /* generator processes */
    const char *secret;   /* token_secret of the server */
    const char *object;   /* object id (many: prefix of "<object>-<k>") */
    unsigned objects;     /* many: number of objects */
    size_t size;          /* bytes of a message's (or saved payload's) JSON text */
    enum body_kind body;  /* what fills it */
    int deflate;          /* offer permessage-deflate on every connection */
    double rate;          /* fanout: messages/s, 0 = windowed; many: per object */
    int join;             /* many: objcast_join after objcast_subscribe */
    double rest;          /* seconds of the at-rest window before the start, 0: none */
    unsigned inflight;    /* fanout window / data saves outstanding */
    double duration;      /* measured window, seconds */
    double warmup;        /* seconds between the start and the window */
    double drain;         /* most seconds the drain may take */
    double setup_timeout; /* seconds the connection setup may take */
    double connect_rate;  /* new connections per second, all processes together */
    unsigned batch;       /* connections opened per batch, all processes together */
    pid_t server_pids[MAX_SERVER_PIDS];
    int nserver_pids;
    struct redis_addr redis[MAX_REDIS]; /* --redis: INFO read at the windows' edges */
    int nredis;
    int cpus[MAX_CPUS]; /* --pin: process k runs on cpus[k % ncpus] */
    int ncpus;
    int json;
    int quiet;
};

/* --- small helpers ----------------------------------------------------------------------- */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static struct timeval ns_to_tv(uint64_t ns)
{
    struct timeval tv = {.tv_sec = (time_t)(ns / NS_PER_S),
                         .tv_usec = (suseconds_t)((ns % NS_PER_S) / 1000)};
    return tv;
}

/* Arms a one-shot timer for the absolute monotonic time `when` (now when it has passed). */
static void timer_at(struct event *ev, uint64_t when)
{
    uint64_t now = mono_ns();
    struct timeval tv = ns_to_tv(when > now ? when - now : 0);
    evtimer_add(ev, &tv);
}

static double ru_cpu(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 + (double)ru->ru_stime.tv_sec +
           ru->ru_stime.tv_usec / 1e6;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("objcast-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* Parses an unsigned decimal number at p (bounded by end); returns 0 when there is none. */
static int parse_u64(const char *p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = p;
    while (p < end && *p >= '0' && *p <= '9' && p - s < 20)
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (p == s)
        return 0;
    *out = v;
    return 1;
}

/* Finds key in text[0..len) and parses the number right after it. */
static int find_u64(const char *text, size_t len, const char *key, uint64_t *out)
{
    size_t klen = strlen(key);
    const char *k = memmem(text, len, key, klen);
    if (!k)
        return 0;
    return parse_u64(k + klen, text + len, out);
}

/* xorshift64*: masking keys and Sec-WebSocket-Keys of a benchmark need no cryptography. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* --- latency histogram --------------------------------------------------------------------
 * Log-linear buckets over nanoseconds (HDR style): values below 2 * HIST_SUB have a bucket
 * each; above, every power-of-two range is split into HIST_SUB equal buckets, so a bucket is
 * at most 1/128 (0.8%) of its value wide. The range ends at 60 s; larger values are counted
 * in the last bucket and in `over`. */

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_LINEAR (2 * HIST_SUB)
#define HIST_MAX_NS (60ull * NS_PER_S)
#define HIST_MAX_SHIFT 28 /* HIST_MAX_NS < 2^36 = 2^(HIST_SUB_BITS + 1 + HIST_MAX_SHIFT) */
#define HIST_BUCKETS (HIST_LINEAR + HIST_MAX_SHIFT * HIST_SUB)

struct hist {
    uint64_t count;           /* values recorded */
    uint64_t over;            /* values above HIST_MAX_NS */
    uint64_t min_ns;          /* smallest value, exact (UINT64_MAX when count is 0) */
    uint64_t max_ns;          /* largest value, exact */
    double sum_ns;            /* for the mean */
    uint64_t b[HIST_BUCKETS]; /* counts per bucket */
};

static unsigned hist_index(uint64_t v)
{
    if (v < HIST_LINEAR)
        return (unsigned)v;
    if (v > HIST_MAX_NS)
        v = HIST_MAX_NS;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - HIST_SUB_BITS;
    return HIST_LINEAR + (shift - 1) * HIST_SUB + (unsigned)(v >> shift) - HIST_SUB;
}

/* The middle of bucket i. */
static uint64_t hist_bucket_value(unsigned i)
{
    if (i < HIST_LINEAR)
        return i;
    unsigned shift = (i - HIST_LINEAR) / HIST_SUB + 1;
    uint64_t sub = (i - HIST_LINEAR) % HIST_SUB + HIST_SUB;
    return (sub << shift) + ((1ull << shift) - 1) / 2;
}

static void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min_ns = UINT64_MAX;
}

static void hist_record(struct hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    if (v > HIST_MAX_NS)
        h->over++;
    if (v < h->min_ns)
        h->min_ns = v;
    if (v > h->max_ns)
        h->max_ns = v;
    h->sum_ns += (double)v;
}

static void hist_merge(struct hist *into, const struct hist *h)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += h->b[i];
    into->count += h->count;
    into->over += h->over;
    into->sum_ns += h->sum_ns;
    if (h->min_ns < into->min_ns)
        into->min_ns = h->min_ns;
    if (h->max_ns > into->max_ns)
        into->max_ns = h->max_ns;
}

/* The value at quantile q (0..1) in microseconds, 0 when empty. */
static double hist_quantile_us(const struct hist *h, double q)
{
    if (!h->count)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_value(i);
            if (v > h->max_ns)
                v = h->max_ns;
            if (v < h->min_ns)
                v = h->min_ns;
            return (double)v / 1e3;
        }
    }
    return (double)h->max_ns / 1e3;
}

static double hist_mean_us(const struct hist *h)
{
    return h->count ? h->sum_ns / (double)h->count / 1e3 : 0;
}

/* --- message bodies -----------------------------------------------------------------------
 * --body notes fills a message with a notes board as the demo's notes plugin
 * (web/demo/plugins/notes.html) saves it: one member per note, "n-<creation time in ms, base
 * 36><4 random base-36 digits>": {"text":..,"color":..,"by":..,"at":<unix seconds>}, with short
 * English texts (no two alike until the list runs out), the plugin's four colours (its
 * default, yellow, on half of the notes) and a handful of users. The board comes from a fixed
 * seed: every run and every process sends the same one, only the send time differs. */

static const char *const note_texts[] = {
    "Buy oat milk for the kitchen",
    "Standup moved to 10:30 tomorrow",
    "Ship the release notes by Friday",
    "Who has the projector remote?",
    "Book the big room for the quarterly review",
    "Ask Dana about the VPN certificates",
    "Lunch order closes at 11:45",
    "Retro: fewer meetings, longer focus blocks",
    "Fix the flaky login test before merging",
    "Design review notes are in the shared drive",
    "Remember to water the plants on Thursday",
    "Customer call at 3pm, dial in from room B",
    "Pizza for the release party: 6 large, 2 vegetarian",
    "Update the onboarding checklist for new hires",
    "Printer on floor 2 is out of toner again",
    "Vote for the offsite location by Wednesday",
    "Draft the Q3 roadmap, first pass",
    "Move the backup job to 2am",
    "Thanks everyone for the demo today!",
    "Parking lot: dark mode for the dashboard",
    "Renew the domain before the 14th",
    "Interview loop for the backend role next week",
    "Who is on call this weekend?",
    "Clean up the old feature flags",
    "Coffee machine fixed, finally",
    "Send the invoice to accounting",
    "Pair on the search ranking bug after lunch",
    "Add alt text to the marketing images",
    "Team photo on Monday, wear something blue",
    "Check the latency graphs after the deploy",
    "Budget sheet needs numbers from every team",
    "Reminder: expense reports due end of month",
    "Idea: a quiet room with no calls",
    "Write tests for the new export endpoint",
    "Migrate the wiki pages we still use",
    "Demo the new whiteboard on Thursday",
    "Order more sticky notes (yes, real ones)",
    "Someone left a blue umbrella in the lobby",
    "Translate the help pages into Japanese",
    "Rotate the API keys this sprint",
    "Welcome Priya to the design team!",
    "Sketch the mobile layout for the map view",
    "Agenda for Friday: hiring, roadmap, open questions",
    "Fire drill at 2pm, meet by the east exit",
    "Bring your own mug to reduce waste",
    "Follow up with the venue about the catering",
    "Try the new standing desks by the window",
    "The staging database restarts at noon",
    "Collect feedback from the beta users",
    "Keep PRs small, please",
    "Birthday cake for Sam at 4, room C",
    "Rename the project channel to #launch",
    "Prepare slides for the all hands",
    "Volunteers needed for the charity run",
    "Check the contract renewal dates",
    "Music suggestion box is open",
    "Plan the holiday schedule before December",
    "Record the training session for the remote folks",
    "Lost: grey hoodie, size M",
    "Finish the accessibility audit",
    "Deploy freeze starts on the 20th",
    "Can we get a second monitor for the front desk?",
    "Move the daily sync to the small room",
    "Great job on the launch, team",
};
#define NOTE_TEXTS (sizeof(note_texts) / sizeof(note_texts[0]))

static const char *const note_colors[] = {"#fff3a3", "#c8f2c2", "#cfe2ff", "#ffd1dc"};
static const char *const note_users[] = {"Alice", "Bob",   "Carol", "Dave", "Erin",  "Frank",
                                         "Grace", "Heidi", "Ivan",  "Judy", "Kenji", "Lena",
                                         "Mia",   "Noah",  "Olga",  "Priya"};
#define NOTE_USERS (sizeof(note_users) / sizeof(note_users[0]))

/* The board of one process, built for --size by notes_init(). */
struct notes {
    struct buf members; /* ,"n-..":{..} one after the other, more bytes than --size */
    size_t *ends;       /* ends[k]: where member k ends in members */
    size_t n;           /* members */
    struct buf last;    /* the last note without its text: ,"n-..":{"text":" */
    size_t last_split;  /* where its text goes: last.p[0..split) text last.p[split..) */
    struct buf text;    /* the last note's text: what is left, cut to fit */
};

static void base36(struct buf *b, uint64_t v, int min_digits)
{
    char d[16];
    int k = 0;
    do {
        d[k++] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
        v /= 36;
    } while (v || k < min_digits);
    while (k)
        buf_append_char(b, d[--k]);
}

/* Appends one note, its text from `text` (or empty when NULL), created at ms. */
static void notes_member(struct buf *b, uint64_t *rng, const char *text, uint64_t ms)
{
    uint64_t r = rng_next(rng);
    buf_append_str(b, ",\"n-");
    base36(b, ms, 1);
    base36(b, r % (36 * 36 * 36 * 36), 4); /* Math.random().toString(36).slice(2, 6) */
    r >>= 24;
    const char *color = r % 2 ? note_colors[0] : note_colors[1 + (r >> 1) % 3];
    buf_printf(b, "\":{\"text\":\"%s\",\"color\":\"%s\",\"by\":\"%s\",\"at\":%" PRIu64 "}",
               text ? text : "", color, note_users[(r >> 4) % NOTE_USERS], ms / 1000);
}

static void notes_init(struct notes *nb, size_t size)
{
    uint64_t rng = 0x6e6f746573ull; /* "notes" */
    uint64_t ms = 1796000000000ull; /* late November 2026 */
    const char *order[NOTE_TEXTS];
    size_t left = 0;
    while (nb->members.len <= size) {
        if (!left) { /* a new shuffle of the texts: no repeats before all were used */
            for (size_t i = 0; i < NOTE_TEXTS; i++)
                order[i] = note_texts[i];
            for (size_t i = NOTE_TEXTS - 1; i > 0; i--) {
                size_t j = rng_next(&rng) % (i + 1);
                const char *t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            left = NOTE_TEXTS;
        }
        ms += 30000 + rng_next(&rng) % 3600000; /* half a minute to an hour later */
        notes_member(&nb->members, &rng, order[--left], ms);
        nb->ends = oc_realloc(nb->ends, (nb->n + 1) * sizeof(*nb->ends));
        nb->ends[nb->n++] = nb->members.len;
    }
    ms += 60000;
    notes_member(&nb->last, &rng, NULL, ms);
    nb->last_split = (size_t)(strstr(nb->last.p, "\"text\":\"") - nb->last.p) + 8;
    /* Longer than any member, so that it fills whatever the whole notes leave. */
    for (size_t i = 0; nb->text.len < 1024; i++) {
        buf_append_str(&nb->text, note_texts[i % NOTE_TEXTS]);
        buf_append_str(&nb->text, ". ");
    }
}

static void notes_free(struct notes *nb)
{
    buf_free(&nb->members);
    buf_free(&nb->last);
    buf_free(&nb->text);
    free(nb->ends);
    memset(nb, 0, sizeof(*nb));
}

/* Appends notes and the closing brace to the JSON object that starts at b->p[start] (its
 * opening brace and first member, the send time, written), so that it is `size` bytes long:
 * the board's first notes, then the last one with its text cut to fit. Below the smallest
 * such object only the closing brace. */
static void notes_append(const struct notes *nb, struct buf *b, size_t start, size_t size)
{
    size_t used = b->len - start + 1 + nb->last.len; /* the closing brace, the last note */
    if (used <= size) {
        size_t room = size - used, k = 0;
        while (k < nb->n && nb->ends[k] <= room)
            k++;
        size_t whole = k ? nb->ends[k - 1] : 0;
        size_t cut = room - whole; /* below one member: members.len > size */
        buf_append(b, nb->members.p, whole);
        buf_append(b, nb->last.p, nb->last_split);
        buf_append(b, nb->text.p, cut < nb->text.len ? cut : nb->text.len);
        buf_append(b, nb->last.p + nb->last_split, nb->last.len - nb->last_split);
    }
    buf_append_char(b, '}');
}

/* --- parent <-> generator messages ------------------------------------------------------- */

enum msg_type {
    MSG_PROGRESS = 1, /* generator -> parent: uint32 connections ready */
    MSG_READY,        /* generator -> parent: uint32 connections ready, all of them */
    MSG_FAIL,         /* generator -> parent: text, the process exits */
    MSG_REPORT,       /* generator -> parent: struct report, the process exits */
};

struct msg_hdr {
    uint32_t type; /* enum msg_type */
    uint32_t len;  /* bytes following */
};

/* parent -> generator: the run's absolute CLOCK_MONOTONIC times. */
struct go {
    uint64_t t0;     /* senders start */
    uint64_t t_warm; /* the measured window starts */
    uint64_t t_end;  /* the window ends, senders stop */
    uint64_t t_done; /* the drain ends: report and exit */
};

/* What one generator process measured. */
struct report {
    uint32_t conns;            /* connections this process set up */
    uint32_t drops;            /* of those, lost during the run */
    uint64_t sent;             /* messages (or saves) sent in the window */
    uint64_t sent_total;       /* messages (or saves) sent from the start to the end */
    uint64_t late;             /* fixed rate: sends more than LATE_NS behind schedule */
    uint64_t deliveries;       /* messages received in the window, all receivers */
    uint64_t deliveries_total; /* messages received from the start to the end of the drain */
    uint64_t expected_total;   /* deliveries that this process's sends should cause */
    uint64_t saves;            /* data: acknowledged saves in the window */
    uint64_t saves_total;      /* data: acknowledged saves, whole run */
    uint64_t other;            /* other messages received in the window (presence events) */
    uint64_t errors;           /* objcast_error frames or failed publishes during the run */
    uint64_t rx_bytes;         /* bytes read in the window */
    uint64_t wire_bytes;       /* frame bytes (headers included, as they arrived) of the
                                  messages received in the window */
    uint64_t text_bytes;       /* the same messages' text (inflated where compressed) */
    uint64_t compressed;       /* of those messages, how many came compressed (RSV1) */
    double cpu_window;         /* this process's user+system CPU seconds in the window */
    char first_error[200];     /* the first error or drop during the run, "" when none */
    struct hist lat;           /* end-to-end latency of the deliveries in the window */
    struct hist save;          /* data: save -> ovice_data_saved_success, in the window */
};

/* Writes all of p to a blocking fd; 0 or -1. */
static int write_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

static void send_msg(int fd, enum msg_type type, const void *p, size_t len)
{
    struct msg_hdr h = {.type = type, .len = (uint32_t)len};
    struct buf b = {0};
    buf_append(&b, &h, sizeof(h));
    buf_append(&b, p, len);
    (void)write_all(fd, b.p, b.len); /* the parent gone: nobody left to tell */
    buf_free(&b);
}

/* --- generator process: connections ------------------------------------------------------ */

enum conn_state {
    CS_IDLE = 0,    /* not opened yet */
    CS_CONNECTING,  /* TCP connect in progress */
    CS_UPGRADING,   /* upgrade request sent, reading the 101 head */
    CS_AUTHING,     /* objcast_auth sent, waiting for objcast_ready */
    CS_SUBSCRIBING, /* objcast_subscribe sent, waiting for our own ovice_participant_subscribed */
    CS_JOINING,     /* --join: objcast_join sent, waiting for our own ovice_participant_joined */
    CS_READY,       /* set up (publisher: connected) */
    CS_CLOSED,
};

enum conn_role {
    ROLE_RECEIVER,     /* receives and measures */
    ROLE_SENDER,       /* fanout / data: the extra connection that sends (objcast WebSocket) */
    ROLE_PUBLISHER,    /* nchan fanout: HTTP keep-alive connection that POSTs */
    ROLE_MEMBER_SENDER /* many: the member of an object that sends its 1 message/s */
};

/*
 * One connection. Kept small (10,000 of them per run): the write event exists only while
 * connecting or while output waits, the buffers hold storage only while a head, a split frame
 * or unsent output needs it.
 */
struct conn {
    struct event rev;    /* readable, persistent while connected */
    struct event *wev;   /* writable: while connecting or output is pending, else NULL */
    struct worker *w;    /* the process's worker */
    int fd;              /* -1 when not connected */
    uint32_t index;      /* global connection number: token sub "b<index>" */
    uint32_t object;     /* many: object number; else 0 */
    uint8_t state;       /* enum conn_state */
    uint8_t role;        /* enum conn_role */
    uint8_t designated;  /* fanout: the receiver whose count paces the window */
    uint8_t url;         /* index into opts.urls */
    uint8_t hdr[14];     /* frame header bytes gathered so far */
    uint8_t hdr_len;     /* bytes in hdr */
    uint8_t in_payload;  /* the header is complete, payload bytes are due */
    uint8_t opcode;      /* opcode of the current frame */
    uint8_t fin;         /* FIN bit of the current frame */
    uint8_t msg_op;      /* opcode of the fragmented message in progress, 0 when none */
    uint8_t pmd;         /* permessage-deflate was negotiated */
    uint8_t msg_rsv1;    /* the message in progress came compressed (RSV1 on its first frame) */
    uint32_t msg_wire;   /* frame bytes of the message in progress so far, headers included */
    uint64_t frame_len;  /* payload length of the current frame */
    uint64_t frame_read; /* payload bytes of the current frame seen */
    uint64_t msgs;       /* messages received (ovice_message, shared data, nchan frames) */
    struct buf in;       /* the response head while upgrading, then a split data message */
    struct buf ctl;      /* a control frame's payload split across reads */
    struct buf out;      /* bytes the socket did not take yet */
    char *accept;        /* while upgrading: the expected Sec-WebSocket-Accept */
    http_parser *hp;     /* publisher: response parser */
};

enum phase {
    PH_SETUP,   /* opening connections */
    PH_WAIT,    /* all ready, waiting for the parent's go */
    PH_RUN,     /* senders running, warmup */
    PH_MEASURE, /* the measured window */
    PH_DRAIN,   /* senders stopped, late deliveries still counted in the totals */
};

/* A generator process. */
struct worker {
    const struct opts *o;
    int proc; /* 0..procs-1 */
    struct event_base *base;
    struct conn *conns; /* this process's connections */
    uint32_t nconns;
    uint32_t next_open;      /* conns[next_open] is the next to open */
    uint32_t nready;         /* connections set up */
    uint32_t nsetup;         /* opened, not ready yet */
    uint32_t batch;          /* connections per batch in this process */
    uint64_t batch_interval; /* ns between batches */
    int status_fd;           /* to the parent */
    int ctl_fd;              /* from the parent */
    struct event *ctl_ev;
    struct event *batch_ev;    /* opens the next batch */
    struct event *progress_ev; /* reports setup progress every second */
    struct event *setup_ev;    /* setup deadline */
    struct event *phase_ev;    /* the next phase change */
    struct event *tick_ev;     /* fixed-rate pacing */
    struct event *drain_ev;    /* checks whether deliveries stopped during the drain */
    uint64_t last_delivery;    /* when the last message arrived */
    enum phase phase;
    struct go go;            /* the run's times, once the parent said go */
    struct conn *sender;     /* fanout/data sender or nchan publisher (process 0), else NULL */
    struct conn *designated; /* fanout: the window's receiver (process 0), else NULL */
    uint64_t rejected;       /* sends answered with an error (not outstanding any more) */
    uint64_t outstanding;    /* data: saves unanswered; publisher: requests unanswered */
    uint64_t pub_ok;         /* nchan: publishes answered with 2xx */
    uint32_t next_k;         /* many: next object to send on (owned by this process) */
    uint64_t next_m;         /* many: its round */
    struct rusage ru_warm;   /* CPU at the window's start */
    struct buf frame;        /* scratch: a frame being built */
    struct buf msg;          /* scratch: a message being built */
    struct notes notes;      /* --body notes: the board */
    z_stream zs;             /* --deflate: the one raw inflater, reset for every message */
    struct buf inflated;     /* --deflate: the text of the last compressed message */
    uint64_t rng;
    char *rbuf; /* READ_BUF_SIZE bytes */
    struct report rep;
};

static void conn_lost(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_ready(struct conn *c);
static void sender_pump(struct worker *w);
static void data_pump(struct worker *w);
static void conn_open(struct conn *c);

static void worker_fail(struct worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void worker_fail(struct worker *w, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    send_msg(w->status_fd, MSG_FAIL, text, strlen(text) + 1);
    _exit(1);
}

static const char *conn_url_text(const struct conn *c)
{
    const struct opts *o = c->w->o;
    return c->role == ROLE_PUBLISHER ? o->pub.text : o->urls[c->url].text;
}

static int in_window(const struct worker *w, uint64_t now)
{
    return now >= w->go.t_warm && now < w->go.t_end;
}

/* Object name of connection c: "<object>" or, in many, "<object>-<k>". */
static const char *conn_object(const struct conn *c, char *out, size_t n)
{
    const struct opts *o = c->w->o;
    if (o->workload == WL_MANY)
        snprintf(out, n, "%s-%u", o->object, c->object);
    else
        snprintf(out, n, "%s", o->object);
    return out;
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg);

static void want_write(struct conn *c)
{
    if (!c->wev) {
        c->wev = event_new(c->w->base, c->fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
        event_add(c->wev, NULL);
    }
}

/* Sends p now as far as the socket takes it, queues the rest. The connection may be lost
 * (c->fd < 0 afterwards). */
static void conn_write(struct conn *c, const void *p, size_t n)
{
    if (c->fd < 0)
        return;
    if (c->out.len == 0 && c->state != CS_CONNECTING) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                conn_lost(c, "write: %s", strerror(errno));
                return;
            }
            k = 0;
        }
        if ((size_t)k == n)
            return;
        p = (const char *)p + k;
        n -= (size_t)k;
    }
    buf_append(&c->out, p, n);
    want_write(c);
}

/* Sends one masked client frame (FIN set). */
static void ws_send(struct conn *c, enum ws_opcode op, const void *payload, size_t len)
{
    struct worker *w = c->w;
    uint8_t h[14];
    size_t hl = 0;
    h[hl++] = (uint8_t)(0x80 | op);
    if (len < 126) {
        h[hl++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (uint8_t)(len >> 8);
        h[hl++] = (uint8_t)len;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint32_t key = (uint32_t)rng_next(&w->rng);
    memcpy(h + hl, &key, 4);
    hl += 4;
    buf_reset(&w->frame);
    buf_reserve(&w->frame, hl + len);
    buf_append(&w->frame, h, hl);
    buf_append(&w->frame, payload, len);
    ws_mask((uint8_t *)w->frame.p + hl, (uint8_t *)w->frame.p + hl, len, h + hl - 4, 0);
    conn_write(c, w->frame.p, w->frame.len);
}

static void ws_send_text(struct conn *c, const char *text, size_t len)
{
    ws_send(c, WS_OP_TEXT, text, len);
}

/* Releases the socket and buffers of c; the struct stays (freed at exit). */
static void conn_shutdown(struct conn *c)
{
    if (c->fd >= 0) {
        if (event_initialized(&c->rev)) /* not before the connect completed */
            event_del(&c->rev);
        close(c->fd);
        c->fd = -1;
    }
    if (c->wev) {
        event_free(c->wev);
        c->wev = NULL;
    }
    buf_free(&c->in);
    buf_free(&c->ctl);
    buf_free(&c->out);
    free(c->accept);
    c->accept = NULL;
    c->hdr_len = c->in_payload = c->msg_op = c->msg_rsv1 = c->pmd = 0;
    c->msg_wire = 0;
}

static void publisher_reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (c->w->phase < PH_DRAIN)
        conn_open(c);
}

/*
 * The connection is gone. Before the run this fails the whole process (the run would measure
 * fewer receivers than asked); during the run it counts as a drop. The publisher reconnects:
 * a server may end a keep-alive connection after a number of requests (nginx
 * keepalive_requests).
 */
static void conn_lost(struct conn *c, const char *fmt, ...)
{
    struct worker *w = c->w;
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (c->state == CS_CLOSED)
        return;
    int was_ready = c->state == CS_READY;
    conn_shutdown(c);
    c->state = CS_CLOSED;

    if (c->role == ROLE_PUBLISHER && was_ready) {
        if (w->outstanding) {
            w->rejected += w->outstanding;
            w->rep.errors += w->outstanding;
            w->outstanding = 0;
        }
        c->state = CS_IDLE;
        struct timeval now = {0, 0};
        event_base_once(w->base, -1, EV_TIMEOUT, publisher_reconnect_cb, c, &now);
        return;
    }
    if (w->phase <= PH_WAIT)
        worker_fail(w, "connection %u (%s): %s", c->index, conn_url_text(c), why);
    if (w->phase < PH_DRAIN) {
        w->rep.drops++;
        if (!w->rep.first_error[0])
            snprintf(w->rep.first_error, sizeof(w->rep.first_error), "connection %u dropped: %s",
                     c->index, why);
    }
}

static void run_error(struct worker *w, const char *what, const char *text, size_t len)
{
    w->rep.errors++;
    if (!w->rep.first_error[0])
        snprintf(w->rep.first_error, sizeof(w->rep.first_error), "%s: %.*s", what,
                 (int)(len > 150 ? 150 : len), text);
}

/* --- receiving ----------------------------------------------------------------------------- */

enum rx_type {
    RX_OTHER,
    RX_READY,      /* objcast_ready */
    RX_ERROR,      /* objcast_error */
    RX_SUBSCRIBED, /* ovice_participant_subscribed */
    RX_JOINED,     /* ovice_participant_joined */
    RX_MESSAGE,    /* ovice_message */
    RX_SHARED,     /* ovice_shared_data */
    RX_SAVED,      /* ovice_data_saved_success */
};

static enum rx_type rx_type_of(const char *p, size_t len)
{
    static const struct {
        const char *name;
        enum rx_type t;
    } names[] = {
        {"ovice_message\"", RX_MESSAGE},
        {"ovice_shared_data\"", RX_SHARED},
        {"ovice_data_saved_success\"", RX_SAVED},
        {"ovice_participant_subscribed\"", RX_SUBSCRIBED},
        {"ovice_participant_joined\"", RX_JOINED},
        {"objcast_ready\"", RX_READY},
        {"objcast_error\"", RX_ERROR},
    };
    static const char key[] = "\"type\":\"";
    /* objcastd writes "type" first: the search ends at once. */
    const char *t = memmem(p, len, key, sizeof(key) - 1);
    if (!t)
        return RX_OTHER;
    t += sizeof(key) - 1;
    size_t rest = len - (size_t)(t - p);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i].name);
        if (rest >= n && memcmp(t, names[i].name, n) == 0)
            return names[i].t;
    }
    return RX_OTHER;
}

/* A message with send time `sent` arrived on c at `now`. */
static void record_delivery(struct conn *c, uint64_t sent, uint64_t now)
{
    struct worker *w = c->w;
    c->msgs++;
    if (w->phase < PH_RUN)
        return;
    w->last_delivery = now;
    w->rep.deliveries_total++;
    if (in_window(w, now)) {
        w->rep.deliveries++;
        hist_record(&w->rep.lat, now > sent ? now - sent : 0);
    }
    if (c->designated)
        sender_pump(w);
}

static void count_other(struct worker *w, uint64_t now)
{
    if (in_window(w, now))
        w->rep.other++;
}

static void fail_setup_text(struct conn *c, const char *when, const char *p, size_t len)
{
    worker_fail(c->w, "connection %u (%s): %s: %.*s", c->index, conn_url_text(c), when,
                (int)(len > 300 ? 300 : len), p);
}

/* One complete text message from the server, inflated where it came compressed, received
 * at `now`; p is not NUL-terminated. */
static void on_text(struct conn *c, const char *p, size_t len, uint64_t now)
{
    struct worker *w = c->w;
    const struct opts *o = w->o;
    uint64_t t;

    if (o->target == TARGET_NCHAN) {
        /* Nchan: every text frame is a published message, the body as posted. */
        if (find_u64(p, len, "{\"t\":", &t))
            record_delivery(c, t, now);
        else
            count_other(w, now);
        return;
    }

    enum rx_type type = rx_type_of(p, len);
    switch (c->state) {
    case CS_AUTHING:
        if (type == RX_READY) {
            if (o->workload == WL_IDLE) {
                conn_ready(c);
            } else {
                char obj[300], sub[400];
                int n = snprintf(sub, sizeof(sub),
                                 "{\"type\":\"objcast_subscribe\",\"objectId\":\"%s\","
                                 "\"objectType\":\"static\"}",
                                 conn_object(c, obj, sizeof(obj)));
                c->state = CS_SUBSCRIBING;
                ws_send_text(c, sub, (size_t)n);
            }
        } else if (type == RX_ERROR) {
            fail_setup_text(c, "objcast_auth refused", p, len);
        }
        return;
    case CS_SUBSCRIBING:
        if (type == RX_SUBSCRIBED && memmem(p, len, "\"isSelf\":true", 13)) {
            if (o->join) {
                /* As a host page does for a user at an object: subscribe when in
                 * range, then join (link to it). */
                char obj[300], join[400];
                int n = snprintf(join, sizeof(join),
                                 "{\"type\":\"objcast_join\",\"objectId\":\"%s\","
                                 "\"objectType\":\"static\"}",
                                 conn_object(c, obj, sizeof(obj)));
                c->state = CS_JOINING;
                ws_send_text(c, join, (size_t)n);
            } else {
                conn_ready(c);
            }
        } else if (type == RX_ERROR) {
            fail_setup_text(c, "objcast_subscribe refused", p, len);
        }
        return; /* others' presence events */
    case CS_JOINING:
        if (type == RX_JOINED && memmem(p, len, "\"isSelf\":true", 13))
            conn_ready(c);
        else if (type == RX_ERROR)
            fail_setup_text(c, "objcast_join refused", p, len);
        return;
    case CS_READY:
        break;
    default:
        return;
    }

    switch (type) {
    case RX_MESSAGE:
        if (find_u64(p, len, "\"message\":{\"t\":", &t))
            record_delivery(c, t, now);
        else
            count_other(w, now);
        break;
    case RX_SHARED:
        if (find_u64(p, len, "\"payload\":{\"p\":\"", &t))
            record_delivery(c, t, now);
        else
            count_other(w, now);
        break;
    case RX_SAVED:
        if (c == w->sender && w->outstanding) {
            w->outstanding--;
            if (w->phase >= PH_RUN)
                w->rep.saves_total++;
            if (find_u64(p, len, "\"ref\":", &t) && in_window(w, now)) {
                w->rep.saves++;
                hist_record(&w->rep.save, now > t ? now - t : 0);
            }
            data_pump(w);
        }
        break;
    case RX_ERROR:
        if (w->phase >= PH_RUN && w->phase < PH_DRAIN)
            run_error(w, "objcast_error", p, len);
        if (c == w->sender) {
            w->rejected++;
            if (o->workload == WL_DATA && w->outstanding) {
                w->outstanding--;
                data_pump(w);
            } else {
                sender_pump(w);
            }
        }
        break;
    default:
        count_other(w, now);
        break;
    }
}

/*
 * Inflates the payload of one compressed message (RFC 7692 section 7.2.2: the payload with
 * 00 00 ff ff appended is raw deflate data) into w->inflated. The server compresses every
 * message on its own (server_no_context_takeover, which the handshake checked), so one
 * inflater serves every connection of the process, reset before each message. Returns 0, or
 * -1 with *err set.
 */
static int inflate_message(struct worker *w, const uint8_t *p, size_t len, const char **err)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    z_stream *zs = &w->zs;
    struct buf *out = &w->inflated;
    buf_reset(out);
    if (inflateReset(zs) != Z_OK) {
        *err = "inflateReset failed";
        return -1;
    }
    for (int part = 0; part < 2; part++) {
        zs->next_in = (Bytef *)(part ? tail : p);
        zs->avail_in = (uInt)(part ? sizeof(tail) : len);
        for (;;) {
            buf_reserve(out, len > 4096 ? 4 * len : 16384);
            zs->next_out = (Bytef *)out->p + out->len;
            zs->avail_out = (uInt)(out->cap - out->len - 1); /* the NUL stays */
            uInt room = zs->avail_out;
            int rc = inflate(zs, Z_SYNC_FLUSH);
            out->len += room - zs->avail_out;
            out->p[out->len] = 0;
            if (out->len > MAX_MESSAGE) {
                *err = "inflated message too large";
                return -1;
            }
            if (rc == Z_STREAM_END) /* a final block: what follows it is not data */
                return 0;
            if (rc == Z_BUF_ERROR && zs->avail_out)
                break; /* no progress with room left: this part is consumed */
            if (rc != Z_OK && rc != Z_BUF_ERROR) {
                *err = zs->msg ? zs->msg : "inflate failed";
                return -1;
            }
            if (!zs->avail_in && zs->avail_out)
                break;
        }
    }
    return 0;
}

/* A whole frame arrived: direct points at its payload in the read buffer, or is NULL when
 * the payload was gathered in c->in / c->ctl. Returns -1 once c is closed. */
static int frame_complete(struct conn *c, const uint8_t *direct, size_t dlen)
{
    c->in_payload = 0;
    if (c->opcode >= 0x8) {
        const uint8_t *p = direct ? direct : (const uint8_t *)c->ctl.p;
        size_t len = direct ? dlen : c->ctl.len;
        if (c->opcode == WS_OP_PING) {
            uint8_t copy[WS_MAX_CONTROL];
            memcpy(copy, p ? p : (const uint8_t *)"", len);
            ws_send(c, WS_OP_PONG, copy, len);
        } else if (c->opcode == WS_OP_CLOSE) {
            unsigned code = len >= 2 ? (unsigned)p[0] << 8 | p[1] : WS_CLOSE_NO_STATUS;
            char why[200];
            snprintf(why, sizeof(why), "server closed the WebSocket with %u %.*s", code,
                     (int)(len > 2 ? len - 2 : 0), len > 2 ? (const char *)p + 2 : "");
            uint8_t echo[2] = {(uint8_t)(code >> 8), (uint8_t)code};
            ws_send(c, WS_OP_CLOSE, echo, code == WS_CLOSE_NO_STATUS ? 0 : 2);
            conn_lost(c, "%s", why);
            return -1;
        }
        buf_free(&c->ctl);
        return c->fd < 0 ? -1 : 0;
    }
    if (!c->fin)
        return 0; /* a fragment: gathered in c->in */
    struct worker *w = c->w;
    uint8_t op = c->opcode == WS_OP_CONT ? c->msg_op : c->opcode;
    int compressed = c->msg_rsv1;
    uint32_t wire = c->msg_wire;
    c->msg_op = c->msg_rsv1 = 0;
    c->msg_wire = 0;
    const char *p = direct ? (const char *)direct : c->in.p;
    size_t len = direct ? dlen : c->in.len;
    if (compressed) {
        const char *err;
        if (inflate_message(w, (const uint8_t *)(p ? p : ""), len, &err) < 0) {
            conn_lost(c, "WebSocket protocol error: bad compressed message: %s", err);
            return -1;
        }
        p = w->inflated.p;
        len = w->inflated.len;
    }
    /* Received when its text is there to read: after the inflating, as for a browser. */
    uint64_t now = mono_ns();
    if (in_window(w, now)) {
        w->rep.wire_bytes += wire;
        w->rep.text_bytes += len;
        w->rep.compressed += (uint64_t)compressed;
    }
    if (op == WS_OP_TEXT)
        on_text(c, p ? p : "", len, now);
    else
        count_other(w, now);
    if (c->fd < 0)
        return -1;
    if (c->in.cap > 65536)
        buf_free(&c->in);
    else
        buf_reset(&c->in);
    return 0;
}

static size_t hdr_need(const uint8_t *h, size_t have)
{
    if (have < 2)
        return 2;
    size_t need = 2;
    uint8_t l = h[1] & 0x7f;
    if (l == 126)
        need += 2;
    else if (l == 127)
        need += 8;
    if (h[1] & 0x80)
        need += 4;
    return need;
}

/* The header in c->hdr is complete: checks it as a client must check a server's frames. */
static int frame_header(struct conn *c)
{
    uint8_t b0 = c->hdr[0], b1 = c->hdr[1];
    c->fin = b0 & 0x80;
    c->opcode = b0 & 0x0f;
    uint64_t len = b1 & 0x7f;
    if (len == 126) {
        len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | c->hdr[2 + i];
    }
    size_t hdr_len = c->hdr_len;
    c->hdr_len = 0;
    const char *bad = NULL;
    /* RSV1 is permessage-deflate's "compressed" bit (RFC 7692 section 6), on the first frame
     * of a data message only; RSV2 and RSV3 mean nothing here. */
    int rsv1 = (b0 & 0x40) != 0;
    if (b0 & 0x30)
        bad = "RSV2 or RSV3 set";
    else if (rsv1 && !c->pmd)
        bad = "RSV1 set without permessage-deflate";
    else if (rsv1 && c->opcode != WS_OP_TEXT && c->opcode != WS_OP_BINARY)
        bad = "RSV1 set on a control or continuation frame";
    else if (b1 & 0x80)
        bad = "masked frame from the server";
    else if (c->opcode >= 0x8) {
        if (c->opcode != WS_OP_CLOSE && c->opcode != WS_OP_PING && c->opcode != WS_OP_PONG)
            bad = "unknown control opcode";
        else if (!c->fin || len > WS_MAX_CONTROL)
            bad = "bad control frame";
    } else if (c->opcode == WS_OP_CONT) {
        if (!c->msg_op)
            bad = "continuation without a message";
    } else if (c->opcode == WS_OP_TEXT || c->opcode == WS_OP_BINARY) {
        if (c->msg_op)
            bad = "new message inside a fragmented one";
        else if (!c->fin)
            c->msg_op = c->opcode;
    } else {
        bad = "unknown opcode";
    }
    if (!bad && c->opcode < 0x8 && c->in.len + len > MAX_MESSAGE)
        bad = "message too large";
    if (bad) {
        conn_lost(c, "WebSocket protocol error: %s", bad);
        return -1;
    }
    if (c->opcode < 0x8) {
        if (c->opcode != WS_OP_CONT)
            c->msg_rsv1 = (uint8_t)rsv1;
        c->msg_wire += (uint32_t)(hdr_len + len); /* below MAX_MESSAGE + headers */
    }
    c->frame_len = len;
    c->frame_read = 0;
    c->in_payload = 1;
    return 0;
}

/* Feeds bytes received on an upgraded connection; returns -1 once c is closed. Server frames
 * may arrive coalesced or split anywhere: a frame wholly inside the input is handled in place,
 * others are gathered. */
static int ws_feed(struct conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (!c->in_payload) {
            size_t need = hdr_need(c->hdr, c->hdr_len);
            while (c->hdr_len < need && n > 0) {
                c->hdr[c->hdr_len++] = *p++;
                n--;
                need = hdr_need(c->hdr, c->hdr_len);
            }
            if (c->hdr_len < need)
                break;
            if (frame_header(c) < 0)
                return -1;
            if (c->frame_len == 0 && frame_complete(c, NULL, 0) < 0)
                return -1;
            continue;
        }
        uint64_t left = c->frame_len - c->frame_read;
        size_t avail = n < left ? n : (size_t)left;
        int ctl = c->opcode >= 0x8;
        if (c->frame_read == 0 && avail == c->frame_len &&
            (ctl || (c->fin && c->opcode != WS_OP_CONT))) {
            p += avail;
            n -= avail;
            c->frame_read = avail;
            if (frame_complete(c, p - avail, avail) < 0)
                return -1;
            continue;
        }
        buf_append(ctl ? &c->ctl : &c->in, p, avail);
        p += avail;
        n -= avail;
        c->frame_read += avail;
        if (c->frame_read == c->frame_len && frame_complete(c, NULL, 0) < 0)
            return -1;
    }
    return 0;
}

/* --- handshake ------------------------------------------------------------------------------ */

enum head_field {
    HF_OTHER,
    HF_ACCEPT,     /* Sec-WebSocket-Accept */
    HF_EXTENSIONS, /* Sec-WebSocket-Extensions */
};

struct head_ctx {
    enum head_field field; /* the header field being read */
    char accept[64];       /* Sec-WebSocket-Accept */
    struct buf extensions; /* every Sec-WebSocket-Extensions, joined with ", "; owned */
};

static int head_on_field(http_parser *hp, const char *at, size_t len)
{
    struct head_ctx *h = hp->data;
    if (len == 20 && strncasecmp(at, "Sec-WebSocket-Accept", 20) == 0)
        h->field = HF_ACCEPT;
    else if (len == 24 && strncasecmp(at, "Sec-WebSocket-Extensions", 24) == 0)
        h->field = HF_EXTENSIONS;
    else
        h->field = HF_OTHER;
    return 0;
}

static int head_on_value(http_parser *hp, const char *at, size_t len)
{
    struct head_ctx *h = hp->data;
    if (h->field == HF_ACCEPT) {
        snprintf(h->accept, sizeof(h->accept), "%.*s", (int)len, at);
    } else if (h->field == HF_EXTENSIONS) {
        if (h->extensions.len)
            buf_append_str(&h->extensions, ", ");
        buf_append(&h->extensions, at, len);
    }
    return 0;
}

static int is_tchar(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Skips spaces and tabs. */
static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Reads a token or a quoted-string (RFC 7230) at p into out (unquoted); returns the end, or
 * NULL when there is none or it does not fit. */
static const char *ext_word(const char *p, char *out, size_t n)
{
    size_t k = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1])
                p++;
            if (k + 1 >= n)
                return NULL;
            out[k++] = *p;
        }
        if (*p != '"')
            return NULL;
        p++;
    } else {
        for (; is_tchar(*p); p++) {
            if (k + 1 >= n)
                return NULL;
            out[k++] = *p;
        }
    }
    out[k] = 0;
    return k ? p : NULL;
}

/*
 * Checks the server's Sec-WebSocket-Extensions answer to the offer "permessage-deflate;
 * client_max_window_bits" as RFC 7692 section 5 asks of a client: one extension,
 * permessage-deflate, each parameter at most once and one of server_no_context_takeover,
 * client_no_context_takeover, server_max_window_bits=8..15 or client_max_window_bits=8..15
 * (offered). server_no_context_takeover is required besides: one inflater per process serves
 * every connection (inflate_message()). Returns 0, or -1 with *err set.
 */
static int pmd_check_response(const char *v, const char **err)
{
    static const char *const params[] = {"server_no_context_takeover", "client_no_context_takeover",
                                         "server_max_window_bits", "client_max_window_bits"};
    char name[64], value[16];
    int seen[4] = {0};
    const char *p = ext_word(skip_ows(v), name, sizeof(name));
    if (!p || strcasecmp(name, "permessage-deflate") != 0) {
        *err = "not permessage-deflate";
        return -1;
    }
    for (p = skip_ows(p); *p == ';'; p = skip_ows(p)) {
        p = ext_word(skip_ows(p + 1), name, sizeof(name));
        if (!p) {
            *err = "bad parameter";
            return -1;
        }
        int i = 0;
        while (i < 4 && strcasecmp(name, params[i]) != 0)
            i++;
        if (i == 4) {
            *err = "unknown parameter";
            return -1;
        }
        if (seen[i]++) {
            *err = "a parameter twice";
            return -1;
        }
        /* The *_max_window_bits take a value 8 to 15 in an answer, the others none. */
        p = skip_ows(p);
        int has_value = *p == '=';
        if (has_value != (i >= 2)) {
            *err = has_value ? "a value where none belongs" : "a window size without a value";
            return -1;
        }
        if (has_value) {
            p = ext_word(skip_ows(p + 1), value, sizeof(value));
            char *end = value;
            long bits = p ? strtol(value, &end, 10) : 0;
            if (!p || *end || value[0] < '1' || value[0] > '9' || bits < 8 || bits > 15) {
                *err = "bad window size";
                return -1;
            }
        }
    }
    if (*p) {
        *err = *p == ',' ? "more than one extension" : "bad syntax";
        return -1;
    }
    if (!seen[0]) {
        *err = "no server_no_context_takeover (objcast-bench inflates with one stream per "
               "process)";
        return -1;
    }
    return 0;
}

static int head_on_complete(http_parser *hp)
{
    (void)hp;
    return 1; /* stop: what follows the head is WebSocket data */
}

static void send_auth(struct conn *c)
{
    struct worker *w = c->w;
    const struct opts *o = w->o;
    char claims[256];
    long long now = (long long)time(NULL);
    snprintf(claims, sizeof(claims),
             "{\"sub\":\"b%u\",\"ws\":1,\"name\":\"b%u\",\"avatarUrl\":\"\",\"iat\":%lld,"
             "\"exp\":%lld}",
             c->index, c->index, now, now + 86400);
    char *token = auth_jwt_sign(claims, o->secret, strlen(o->secret));
    buf_reset(&w->msg);
    buf_printf(&w->msg, "{\"type\":\"objcast_auth\",\"token\":\"%s\"}", token);
    free(token);
    c->state = CS_AUTHING;
    ws_send_text(c, w->msg.p, w->msg.len);
}

/* Bytes arrived while upgrading. */
static void upgrade_input(struct conn *c, const char *p, size_t n)
{
    buf_append(&c->in, p, n);
    char *end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
    if (!end) {
        if (c->in.len > MAX_HEAD)
            conn_lost(c, "upgrade response head too long");
        return;
    }
    size_t head_len = (size_t)(end - c->in.p) + 4;
    struct head_ctx h = {0};
    const struct opts *o = c->w->o;
    http_parser hp;
    http_parser_settings s = {0};
    s.on_header_field = head_on_field;
    s.on_header_value = head_on_value;
    s.on_headers_complete = head_on_complete;
    http_parser_init(&hp, HTTP_RESPONSE);
    hp.data = &h;
    http_parser_execute(&hp, &s, c->in.p, head_len);
    enum http_errno e = HTTP_PARSER_ERRNO(&hp);
    const char *err = NULL;
    if (e != HPE_OK && e != HPE_CB_headers_complete) {
        conn_lost(c, "bad upgrade response: %s", http_errno_description(e));
    } else if (hp.status_code != 101) {
        char *eol = memchr(c->in.p, '\r', head_len);
        int l = eol ? (int)(eol - c->in.p) : 40;
        conn_lost(c, "upgrade refused: %.*s", l, c->in.p);
    } else if (strcmp(h.accept, c->accept) != 0) {
        conn_lost(c, "bad Sec-WebSocket-Accept");
    } else if (h.extensions.len && !o->deflate) {
        conn_lost(c, "Sec-WebSocket-Extensions not offered: %s", h.extensions.p);
    } else if (h.extensions.len && pmd_check_response(h.extensions.p, &err) < 0) {
        conn_lost(c, "bad Sec-WebSocket-Extensions (%s): %s", err, h.extensions.p);
    } else if (!h.extensions.len && o->deflate) {
        conn_lost(c, "--deflate: the server declined permessage-deflate");
    }
    c->pmd = h.extensions.len > 0;
    buf_free(&h.extensions);
    if (c->state == CS_CLOSED)
        return;
    free(c->accept);
    c->accept = NULL;

    struct buf rest = c->in; /* frames that came with the head */
    c->in = (struct buf){0};
    if (o->target == TARGET_NCHAN)
        conn_ready(c);
    else
        send_auth(c);
    if (c->fd >= 0 && rest.len > head_len)
        ws_feed(c, (const uint8_t *)rest.p + head_len, rest.len - head_len);
    buf_free(&rest);
}

static void send_upgrade(struct conn *c)
{
    struct worker *w = c->w;
    const struct url *u = &w->o->urls[c->url];
    uint8_t raw[16];
    uint64_t r1 = rng_next(&w->rng), r2 = rng_next(&w->rng);
    memcpy(raw, &r1, 8);
    memcpy(raw + 8, &r2, 8);
    char key[BASE64_ENCODED_SIZE(16)];
    size_t klen = base64_encode(raw, 16, key);
    c->accept = oc_malloc(29);
    ws_accept_key(key, klen, c->accept);
    buf_reset(&w->msg);
    /* The offer browsers send. */
    buf_printf(&w->msg,
               "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
               u->path, u->host, key,
               w->o->deflate
                   ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                   : "");
    c->state = CS_UPGRADING;
    conn_write(c, w->msg.p, w->msg.len);
}

/* --- nchan publisher: HTTP/1.1 keep-alive, requests pipelined (PUBLISH_PIPELINE) ---------- */

static int pub_on_headers_complete(http_parser *hp)
{
    struct conn *c = hp->data;
    if (hp->status_code < 200 || hp->status_code >= 300) {
        char text[64];
        int n = snprintf(text, sizeof(text), "HTTP %u", hp->status_code);
        if (c->w->phase >= PH_RUN && c->w->phase < PH_DRAIN)
            run_error(c->w, "publish", text, (size_t)n);
        c->w->rejected++;
    } else {
        c->w->pub_ok++;
    }
    return 0;
}

static int pub_on_message_complete(http_parser *hp)
{
    struct conn *c = hp->data;
    if (c->w->outstanding)
        c->w->outstanding--;
    return 0;
}

static const http_parser_settings pub_settings = {
    .on_headers_complete = pub_on_headers_complete,
    .on_message_complete = pub_on_message_complete,
};

static void publisher_input(struct conn *c, const char *p, size_t n)
{
    size_t k = http_parser_execute(c->hp, &pub_settings, p, n);
    if (HTTP_PARSER_ERRNO(c->hp) != HPE_OK || k != n) {
        conn_lost(c, "bad publish response: %s", http_errno_description(HTTP_PARSER_ERRNO(c->hp)));
        return;
    }
    sender_pump(c->w);
}

/* --- connection lifecycle -------------------------------------------------------------------- */

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    struct worker *w = c->w;
    for (;;) {
        ssize_t n = read(c->fd, w->rbuf, READ_BUF_SIZE);
        if (n > 0) {
            if (w->phase == PH_MEASURE)
                w->rep.rx_bytes += (uint64_t)n;
            if (c->state == CS_UPGRADING)
                upgrade_input(c, w->rbuf, (size_t)n);
            else if (c->role == ROLE_PUBLISHER)
                publisher_input(c, w->rbuf, (size_t)n);
            else
                ws_feed(c, (const uint8_t *)w->rbuf, (size_t)n);
            if (c->fd < 0 || n < READ_BUF_SIZE)
                return;
            continue;
        }
        if (n == 0) {
            conn_lost(c, "server closed the connection");
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            conn_lost(c, "read: %s", strerror(errno));
        return;
    }
}

static void connected(struct conn *c)
{
    struct worker *w = c->w;
    event_assign(&c->rev, w->base, c->fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    event_add(&c->rev, NULL);
    if (c->role == ROLE_PUBLISHER) {
        if (!c->hp)
            c->hp = oc_malloc(sizeof(*c->hp));
        http_parser_init(c->hp, HTTP_RESPONSE);
        c->hp->data = c;
        if (w->phase == PH_SETUP)
            conn_ready(c);
        else
            c->state = CS_READY;
        sender_pump(w);
    } else {
        send_upgrade(c);
    }
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (c->state == CS_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            conn_lost(c, "connect: %s", strerror(err));
            return;
        }
        c->state = CS_UPGRADING; /* provisional; connected() sets the real state */
        connected(c);
        if (c->fd < 0)
            return;
    }
    while (c->out.len) {
        ssize_t k = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EAGAIN)
                return;
            if (errno == EINTR)
                continue;
            conn_lost(c, "write: %s", strerror(errno));
            return;
        }
        memmove(c->out.p, c->out.p + k, c->out.len - (size_t)k);
        c->out.len -= (size_t)k;
    }
    buf_free(&c->out);
    event_free(c->wev);
    c->wev = NULL;
    if (c == c->w->sender)
        sender_pump(c->w);
}

static void conn_open(struct conn *c)
{
    struct worker *w = c->w;
    const struct url *u = c->role == ROLE_PUBLISHER ? &w->o->pub : &w->o->urls[c->url];
    c->fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        worker_fail(w, "connection %u: socket: %s (raise ulimit -n?)", c->index, strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->state = CS_CONNECTING;
    if (connect(c->fd, (const struct sockaddr *)&u->addr, u->addrlen) < 0 && errno != EINPROGRESS) {
        conn_lost(c, "connect: %s", strerror(errno));
        return;
    }
    want_write(c);
}

/* --- senders ----------------------------------------------------------------------------- */

/* Appends the benchmark message, o->size bytes of JSON text (or the shortest such message
 * when size is smaller): {"t":<ns>,"p":"xxx..."}, or with --body notes {"t":<ns>,<notes>}. */
static void append_message(struct worker *w, struct buf *b, uint64_t t)
{
    size_t start = b->len, size = w->o->size;
    buf_printf(b, "{\"t\":%" PRIu64, t);
    if (w->o->body == BODY_NOTES) {
        notes_append(&w->notes, b, start, size);
        return;
    }
    buf_append_str(b, ",\"p\":\"");
    size_t used = b->len - start + 2;
    size_t pad = size > used ? size - used : 0;
    buf_reserve(b, pad + 2);
    memset(b->p + b->len, 'x', pad);
    b->len += pad;
    buf_append_str(b, "\"}");
}

/* Sends one broadcast (objcast) or publish (nchan) stamped t. */
static void send_broadcast(struct worker *w, struct conn *c, uint64_t t, uint64_t now)
{
    const struct opts *o = w->o;
    buf_reset(&w->msg);
    if (c->role == ROLE_PUBLISHER) {
        struct buf body = {0};
        append_message(w, &body, t);
        buf_printf(&w->msg,
                   "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   o->pub.path, o->pub.host, body.len);
        buf_append(&w->msg, body.p, body.len);
        buf_free(&body);
        w->outstanding++;
        conn_write(c, w->msg.p, w->msg.len);
    } else {
        char obj[300];
        buf_printf(&w->msg,
                   "{\"type\":\"ovice_broadcast_message\",\"objectId\":\"%s\","
                   "\"payload\":{\"event\":\"bench\",\"message\":",
                   conn_object(c, obj, sizeof(obj)));
        append_message(w, &w->msg, t);
        buf_append_str(&w->msg, "}}");
        ws_send_text(c, w->msg.p, w->msg.len);
    }
    if (in_window(w, now))
        w->rep.sent++;
    w->rep.sent_total++;
}

/* Whether the fanout sender may send one more now. */
static int sender_may_send(struct worker *w)
{
    struct conn *s = w->sender;
    if (!s || s->state != CS_READY || s->fd < 0 || s->out.len > SENDER_OUT_CAP)
        return 0;
    /* Pipelined only at max rate: see PUBLISH_PIPELINE. */
    unsigned pipeline = w->o->rate > 0 ? 1 : PUBLISH_PIPELINE;
    if (s->role == ROLE_PUBLISHER && w->outstanding >= pipeline)
        return 0; /* answers come back in order: see publisher_input() */
    return 1;
}

/* Fanout with --rate 0: keep at most --inflight messages unreceived by the designated
 * receiver. Called whenever that can change. */
static void sender_pump(struct worker *w)
{
    const struct opts *o = w->o;
    if (o->workload != WL_FANOUT || o->rate > 0 || (w->phase != PH_RUN && w->phase != PH_MEASURE))
        return;
    uint64_t now = mono_ns();
    if (now >= w->go.t_end)
        return;
    while (sender_may_send(w)) {
        uint64_t done = w->designated->msgs + w->rejected;
        if (w->rep.sent_total >= done + o->inflight)
            break;
        send_broadcast(w, w->sender, now, now);
        now = mono_ns();
    }
}

/* Data: keep --inflight saves outstanding on the sender. */
static void data_pump(struct worker *w)
{
    const struct opts *o = w->o;
    struct conn *s = w->sender;
    if (o->workload != WL_DATA || (w->phase != PH_RUN && w->phase != PH_MEASURE))
        return;
    while (s->state == CS_READY && s->fd >= 0 && w->outstanding < o->inflight &&
           s->out.len <= SENDER_OUT_CAP) {
        uint64_t now = mono_ns();
        if (now >= w->go.t_end)
            return;
        char obj[300];
        buf_reset(&w->msg);
        buf_printf(&w->msg,
                   "{\"type\":\"ovice_save_and_emit_data\",\"objectId\":\"%s\",\"ref\":%" PRIu64
                   ",\"payload\":",
                   conn_object(s, obj, sizeof(obj)), now);
        /* {"p":"<t>:xxx..."}: one string field, o->size bytes of JSON text (with --body
         * notes {"p":"<t>:",<notes>}); the receivers read the send time from the string's
         * leading digits. */
        size_t start = w->msg.len;
        buf_printf(&w->msg, "{\"p\":\"%" PRIu64 ":", now);
        if (o->body == BODY_NOTES) {
            buf_append_char(&w->msg, '"');
            notes_append(&w->notes, &w->msg, start, o->size);
        } else {
            size_t used = w->msg.len - start + 2;
            size_t pad = o->size > used ? o->size - used : 0;
            buf_reserve(&w->msg, pad + 2);
            memset(w->msg.p + w->msg.len, 'x', pad);
            w->msg.len += pad;
            buf_append_str(&w->msg, "\"}");
        }
        buf_append_char(&w->msg, '}');
        w->outstanding++;
        if (in_window(w, now))
            w->rep.sent++;
        w->rep.sent_total++;
        ws_send_text(s, w->msg.p, w->msg.len);
    }
}

/* Send time to stamp on a message due at `due` and sent at `now` (see LATE_NS). */
static uint64_t paced_stamp(struct worker *w, uint64_t due, uint64_t now)
{
    if (now > due + LATE_NS) {
        w->rep.late++;
        return due;
    }
    return now;
}

/* Fixed-rate pacing: fanout --rate R, and many (every object its --rate per second). */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    const struct opts *o = w->o;
    uint64_t now = mono_ns();
    if (now >= w->go.t_end)
        return;
    double period = 1e9 / o->rate;
    if (o->workload == WL_FANOUT) {
        while (sender_may_send(w)) {
            uint64_t due = w->go.t0 + (uint64_t)((double)w->rep.sent_total * period);
            if (due > now)
                break;
            send_broadcast(w, w->sender, paced_stamp(w, due, now), now);
        }
        return;
    }
    /* many: object k sends at t0 + (m + k / K) * period in round m; this process sends for
     * the objects whose member k (connection k) it owns, in time order. */
    const unsigned K = o->objects, P = (unsigned)o->procs;
    while (w->next_k < K) {
        uint64_t due = w->go.t0 + (uint64_t)(((double)w->next_m + (double)w->next_k / K) * period);
        if (due > now)
            break;
        struct conn *s = &w->conns[w->next_k / P]; /* connection k lives in slot k / P */
        if (s->state == CS_READY && s->fd >= 0 && s->out.len <= SENDER_OUT_CAP) {
            send_broadcast(w, s, paced_stamp(w, due, now), now);
            unsigned members = o->n / K + (s->object < o->n % K);
            w->rep.expected_total += members - 1;
        }
        w->next_k += P;
        if (w->next_k >= K) {
            w->next_k = (unsigned)w->proc;
            w->next_m++;
        }
    }
}

/* --- generator process: setup and phases ------------------------------------------------- */

static void conn_ready(struct conn *c)
{
    struct worker *w = c->w;
    c->state = CS_READY;
    w->nready++;
    w->nsetup--;
    if (w->nready == w->nconns) {
        w->phase = PH_WAIT;
        evtimer_del(w->setup_ev);
        evtimer_del(w->progress_ev);
        uint32_t n = w->nready;
        send_msg(w->status_fd, MSG_READY, &n, sizeof(n));
    }
}

static void batch_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    if (w->nsetup < w->batch * SETUP_BATCHES_PENDING) {
        for (uint32_t i = 0; i < w->batch && w->next_open < w->nconns; i++) {
            w->nsetup++;
            conn_open(&w->conns[w->next_open++]);
        }
    }
    if (w->next_open < w->nconns) {
        struct timeval tv = ns_to_tv(w->batch_interval);
        evtimer_add(w->batch_ev, &tv);
    }
}

static void progress_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    uint32_t n = w->nready;
    send_msg(w->status_fd, MSG_PROGRESS, &n, sizeof(n));
    struct timeval tv = {1, 0};
    evtimer_add(w->progress_ev, &tv);
}

static void setup_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    unsigned st[CS_CLOSED + 1] = {0};
    for (uint32_t i = 0; i < w->nconns; i++)
        st[w->conns[i].state]++;
    worker_fail(w,
                "setup timed out after %.0f s: %u of %u connections ready (not opened %u, "
                "connecting %u, upgrading %u, authenticating %u, subscribing %u, joining %u)",
                w->o->setup_timeout, w->nready, w->nconns, st[CS_IDLE], st[CS_CONNECTING],
                st[CS_UPGRADING], st[CS_AUTHING], st[CS_SUBSCRIBING], st[CS_JOINING]);
}

static void report_and_exit(struct worker *w)
{
    struct report *r = &w->rep;
    r->conns = w->nconns;
    if (w->o->workload == WL_FANOUT && w->sender)
        r->expected_total =
            (w->sender->role == ROLE_PUBLISHER ? w->pub_ok : r->sent_total - w->rejected) * w->o->n;
    if (w->o->workload == WL_DATA && w->sender)
        r->expected_total = r->saves_total * w->o->n;
    send_msg(w->status_fd, MSG_REPORT, r, sizeof(*r));

    for (uint32_t i = 0; i < w->nconns; i++) {
        conn_shutdown(&w->conns[i]);
        free(w->conns[i].hp);
    }
    free(w->conns);
    event_free(w->ctl_ev);
    event_free(w->batch_ev);
    event_free(w->progress_ev);
    event_free(w->setup_ev);
    event_free(w->phase_ev);
    event_free(w->tick_ev);
    event_free(w->drain_ev);
    event_base_free(w->base);
    buf_free(&w->frame);
    buf_free(&w->msg);
    buf_free(&w->inflated);
    notes_free(&w->notes);
    if (w->o->deflate)
        inflateEnd(&w->zs);
    free(w->rbuf);
    exit(0);
}

static void phase_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    const struct opts *o = w->o;
    struct rusage ru;
    switch (w->phase) {
    case PH_WAIT: /* t0: start sending */
        w->phase = PH_RUN;
        if (o->workload == WL_MANY || (o->workload == WL_FANOUT && o->rate > 0)) {
            if (o->workload == WL_MANY)
                w->next_k = (unsigned)w->proc;
            struct timeval tv = ns_to_tv(TICK_NS);
            event_add(w->tick_ev, &tv);
        }
        if (o->workload == WL_FANOUT)
            sender_pump(w);
        if (o->workload == WL_DATA && w->sender)
            data_pump(w);
        timer_at(w->phase_ev, w->go.t_warm);
        break;
    case PH_RUN: /* t_warm: the window opens */
        getrusage(RUSAGE_SELF, &w->ru_warm);
        w->phase = PH_MEASURE;
        timer_at(w->phase_ev, w->go.t_end);
        break;
    case PH_MEASURE: /* t_end */
        getrusage(RUSAGE_SELF, &ru);
        w->rep.cpu_window = ru_cpu(&ru) - ru_cpu(&w->ru_warm);
        w->phase = PH_DRAIN;
        event_del(w->tick_ev);
        if (o->workload != WL_IDLE) {
            struct timeval tv = ns_to_tv(DRAIN_QUIET_NS / 5);
            event_add(w->drain_ev, &tv);
        }
        timer_at(w->phase_ev, w->go.t_done);
        break;
    case PH_DRAIN: /* t_done */
        report_and_exit(w);
        break;
    default:
        break;
    }
}

/* During the drain: report early once deliveries stopped. */
static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    uint64_t last = w->last_delivery > w->go.t_end ? w->last_delivery : w->go.t_end;
    if (mono_ns() - last >= DRAIN_QUIET_NS)
        report_and_exit(w);
}

static void ctl_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct worker *w = arg;
    struct go g;
    ssize_t n = read(fd, &g, sizeof(g));
    if (n == (ssize_t)sizeof(g) && w->phase == PH_WAIT) {
        w->go = g;
        timer_at(w->phase_ev, g.t0);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    _exit(1); /* the parent is gone, or spoke out of turn */
}

/* Connections of process p: receivers p, p + P, ... (global index i in slot i / P), then in
 * process 0 the fanout/data sender (index n). */
static void worker_main(const struct opts *o, int proc, int status_fd, int ctl_fd)
{
    struct worker wk = {0}, *w = &wk;
    w->o = o;
    w->proc = proc;
    w->status_fd = status_fd;
    w->ctl_fd = ctl_fd;
    w->rng = (mono_ns() ^ ((uint64_t)getpid() << 32)) | 1;
    w->rbuf = oc_malloc(READ_BUF_SIZE);
    hist_init(&w->rep.lat);
    hist_init(&w->rep.save);
    if (o->body == BODY_NOTES)
        notes_init(&w->notes, o->size);
    if (o->deflate && inflateInit2(&w->zs, -15) != Z_OK)
        worker_fail(w, "inflateInit2: %s", w->zs.msg ? w->zs.msg : "failed");

    if (o->ncpus) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o->cpus[proc % o->ncpus], &set);
        if (sched_setaffinity(0, sizeof(set), &set) < 0)
            worker_fail(w, "sched_setaffinity(%d): %s", o->cpus[proc % o->ncpus], strerror(errno));
    }

    struct event_config *cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    w->base = event_base_new_with_config(cfg);
    event_config_free(cfg);

    unsigned P = (unsigned)o->procs;
    uint32_t receivers = o->n > (unsigned)proc ? (o->n - (unsigned)proc + P - 1) / P : 0;
    int has_sender = proc == 0 && (o->workload == WL_FANOUT || o->workload == WL_DATA);
    w->nconns = receivers + (has_sender ? 1 : 0);
    w->conns = oc_calloc(w->nconns ? w->nconns : 1, sizeof(struct conn));
    for (uint32_t j = 0; j < w->nconns; j++) {
        struct conn *c = &w->conns[j];
        c->w = w;
        c->fd = -1;
        c->index = j < receivers ? (uint32_t)proc + j * P : o->n;
        c->url = (uint8_t)(c->index % (unsigned)o->nurls);
        c->role = ROLE_RECEIVER;
        if (o->workload == WL_MANY) {
            c->object = c->index % o->objects;
            if (c->index < o->objects)
                c->role = ROLE_MEMBER_SENDER;
        }
    }
    if (has_sender) {
        w->sender = &w->conns[w->nconns - 1];
        w->sender->role = o->target == TARGET_NCHAN ? ROLE_PUBLISHER : ROLE_SENDER;
        if (o->workload == WL_FANOUT) {
            w->designated = &w->conns[0];
            w->designated->designated = 1;
        }
    }

    w->ctl_ev = event_new(w->base, ctl_fd, EV_READ | EV_PERSIST, ctl_cb, w);
    event_add(w->ctl_ev, NULL);
    w->batch_ev = evtimer_new(w->base, batch_cb, w);
    w->progress_ev = evtimer_new(w->base, progress_cb, w);
    w->setup_ev = evtimer_new(w->base, setup_timeout_cb, w);
    w->phase_ev = evtimer_new(w->base, phase_cb, w);
    w->tick_ev = event_new(w->base, -1, EV_PERSIST, tick_cb, w);
    w->drain_ev = event_new(w->base, -1, EV_PERSIST, drain_cb, w);

    w->batch = o->batch / P ? o->batch / P : 1;
    w->batch_interval = (uint64_t)((double)o->batch / o->connect_rate * 1e9);
    w->phase = PH_SETUP;
    if (w->nconns == 0) {
        w->phase = PH_WAIT;
        uint32_t n = 0;
        send_msg(status_fd, MSG_READY, &n, sizeof(n));
    } else {
        struct timeval tv = {0, 0};
        evtimer_add(w->batch_ev, &tv);
        tv.tv_sec = 1;
        evtimer_add(w->progress_ev, &tv);
        tv = ns_to_tv((uint64_t)(o->setup_timeout * 1e9));
        evtimer_add(w->setup_ev, &tv);
    }
    event_base_dispatch(w->base);
    _exit(1); /* the loop only ends through report_and_exit() or worker_fail() */
}

/* --- parent: server processes in /proc --------------------------------------------------- */

#define MAX_TRACKED 256

/* CPU time and memory of the server processes: every --server-pid and its children. */
struct server_sample {
    int n;
    pid_t pid[MAX_TRACKED];
    double cpu[MAX_TRACKED]; /* utime + stime, seconds */
    long rss_kb;             /* VmRSS summed */
    long hwm_kb;             /* VmHWM summed */
};

static int read_small_file(const char *path, char *out, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t k = read(fd, out, n - 1);
    close(fd);
    if (k < 0)
        return -1;
    out[k] = 0;
    return 0;
}

static int proc_cpu(pid_t pid, double *cpu)
{
    char path[64], text[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_small_file(path, text, sizeof(text)) < 0)
        return -1;
    char *p = strrchr(text, ')'); /* the command name may hold spaces and parentheses */
    if (!p)
        return -1;
    p++;
    unsigned long long ut = 0, st = 0;
    /* fields after the name: state(3) ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime(14) stime(15) */
    if (sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    *cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    return 0;
}

static void proc_mem(pid_t pid, long *rss, long *hwm)
{
    char path[64], text[8192];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (read_small_file(path, text, sizeof(text)) < 0)
        return;
    char *p = strstr(text, "VmRSS:");
    if (p)
        *rss += strtol(p + 6, NULL, 10);
    p = strstr(text, "VmHWM:");
    if (p)
        *hwm += strtol(p + 6, NULL, 10);
}

static void add_tracked(struct server_sample *s, pid_t pid)
{
    for (int i = 0; i < s->n; i++)
        if (s->pid[i] == pid)
            return;
    if (s->n < MAX_TRACKED && proc_cpu(pid, &s->cpu[s->n]) == 0) {
        s->pid[s->n++] = pid;
        proc_mem(pid, &s->rss_kb, &s->hwm_kb);
    }
}

static void sample_servers(const struct opts *o, struct server_sample *s)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < o->nserver_pids; i++) {
        pid_t pid = o->server_pids[i];
        add_tracked(s, pid);
        /* children (objcastd workers, nginx workers): /proc/PID/task/TID/children */
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
        DIR *d = opendir(path);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char cpath[300], text[4096];
            snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)pid, e->d_name);
            if (read_small_file(cpath, text, sizeof(text)) < 0)
                continue;
            char *p = text, *end;
            for (long v; (v = strtol(p, &end, 10)) > 0 && end != p; p = end)
                add_tracked(s, (pid_t)v);
        }
        closedir(d);
    }
}

/* CPU seconds between two samples, over the processes present in both. */
static double server_cpu_delta(const struct server_sample *a, const struct server_sample *b)
{
    double sum = 0;
    for (int i = 0; i < b->n; i++)
        for (int j = 0; j < a->n; j++)
            if (a->pid[j] == b->pid[i])
                sum += b->cpu[i] - a->cpu[j];
    return sum;
}

/* --- parent: Redis INFO ------------------------------------------------------------------
 * With --redis the parent reads INFO all from each Redis at every window edge, on one
 * connection per Redis opened as the setup starts. Redis counts every command it runs, those a
 * Lua script calls included, in total_commands_processed and per command in the cmdstat_
 * lines; its CPU time (used_cpu_user + used_cpu_sys: getrusage of the whole redis-server
 * process, the same counters as /proc/PID/stat) comes from the same reply, so a list of
 * addresses is enough, one Redis or every node of a cluster. The parent's own INFO
 * commands are counted by Redis too and are taken out again (redis_window()). Each window is
 * reported summed over every Redis, summed over the masters alone (a replica replays its
 * master's writes: counting both counts them twice) and per Redis; the role is the one INFO
 * gives at the window's end. */

/* One cmdstat_ line of INFO: calls and time of one command. */
struct redis_cmdstat {
    char name[64]; /* "evalsha", "client|setname" */
    uint64_t calls;
    uint64_t usec; /* time Redis spent in it, microseconds */
};

/* One Redis at one window edge. */
struct redis_sample {
    int ok;                     /* INFO was read */
    double cpu;                 /* used_cpu_user + used_cpu_sys, seconds */
    uint64_t total;             /* total_commands_processed */
    uint64_t own;               /* INFO commands the parent had sent before this one */
    int master;                 /* INFO replication said role:master */
    struct redis_cmdstat *cmds; /* every command called since Redis started; owned */
    int ncmds;
};

/* A --redis server. */
struct redis_server {
    const struct redis_addr *addr;
    redisContext *ctx; /* blocking, 2 s timeout */
    uint64_t sent;     /* INFO commands sent on ctx */
};

/* Some --redis over one window, summed. */
struct redis_window {
    int ok;                    /* both edges read on every Redis counted */
    int n;                     /* Redis servers counted */
    double cpu;                /* CPU seconds */
    uint64_t cmds;             /* commands run, without the parent's INFO */
    struct redis_cmdstat *top; /* the commands called in the window, most calls first; owned */
    int ntop;
};

/* Sends INFO all; returns the reply (the caller frees it) or NULL with the reason in err. */
static redisReply *redis_info(struct redis_server *rs, char *err, size_t errlen)
{
    rs->sent++;
    redisReply *r = redisCommand(rs->ctx, "INFO all");
    if (!r) {
        snprintf(err, errlen, "%s", rs->ctx->errstr[0] ? rs->ctx->errstr : "no reply");
        return NULL;
    }
    if (r->type != REDIS_REPLY_STRING) {
        snprintf(err, errlen, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "not a string reply");
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* The number after "\n<key>:" in an INFO text, or -1 when absent. */
static double info_number(const char *text, const char *key)
{
    char k[80];
    snprintf(k, sizeof(k), "\n%s:", key);
    const char *p = strstr(text, k);
    return p ? strtod(p + strlen(k), NULL) : -1;
}

/* Connects rs to a and checks that its INFO has what the windows need; 0, or -1 with the
 * reason in err. */
static int redis_open(struct redis_server *rs, const struct redis_addr *a, char *err, size_t errlen)
{
    struct timeval tv = {2, 0};
    rs->addr = a;
    rs->ctx = redisConnectWithTimeout(a->host, a->port, tv);
    if (!rs->ctx || rs->ctx->err) {
        snprintf(err, errlen, "%s", rs->ctx ? rs->ctx->errstr : "out of memory");
        return -1;
    }
    redisSetTimeout(rs->ctx, tv);
    redisReply *r = redis_info(rs, err, errlen); /* fail now, not after the setup */
    if (!r)
        return -1;
    int ok = info_number(r->str, "total_commands_processed") >= 0 &&
             info_number(r->str, "used_cpu_user") >= 0 && strstr(r->str, "\ncmdstat_");
    freeReplyObject(r);
    if (!ok) {
        snprintf(err, errlen,
                 "INFO all lacks total_commands_processed, used_cpu_user or cmdstat_ lines");
        return -1;
    }
    return 0;
}

static void redis_sample_free(struct redis_sample *s)
{
    free(s->cmds);
    memset(s, 0, sizeof(*s));
}

/* Reads rs's INFO into s; 0, or -1 after printing why. */
static int redis_sample(struct redis_server *rs, struct redis_sample *s)
{
    char err[200];
    redis_sample_free(s);
    s->own = rs->sent;
    redisReply *r = redis_info(rs, err, sizeof(err));
    if (!r) {
        fprintf(stderr, "objcast-bench: error: --redis %s: INFO all: %s\n", rs->addr->text, err);
        return -1;
    }
    double total = info_number(r->str, "total_commands_processed");
    double user = info_number(r->str, "used_cpu_user"), sys = info_number(r->str, "used_cpu_sys");
    s->total = total > 0 ? (uint64_t)total : 0;
    s->cpu = (user > 0 ? user : 0) + (sys > 0 ? sys : 0);
    s->master = strstr(r->str, "\nrole:master") != NULL;
    /* cmdstat_<name>:calls=<n>,usec=<n>,... */
    for (const char *p = r->str; (p = strstr(p, "\ncmdstat_")) != NULL;) {
        p += 9;
        const char *colon = strchr(p, ':');
        unsigned long long calls, usec;
        if (!colon)
            break;
        if ((size_t)(colon - p) < sizeof(s->cmds[0].name) &&
            sscanf(colon + 1, "calls=%llu,usec=%llu", &calls, &usec) == 2) {
            s->cmds = oc_realloc(s->cmds, (size_t)(s->ncmds + 1) * sizeof(*s->cmds));
            struct redis_cmdstat *c = &s->cmds[s->ncmds++];
            snprintf(c->name, sizeof(c->name), "%.*s", (int)(colon - p), p);
            c->calls = calls;
            c->usec = usec;
        }
        p = colon;
    }
    freeReplyObject(r);
    s->ok = 1;
    return 0;
}

static int cmdstat_by_calls(const void *a, const void *b)
{
    const struct redis_cmdstat *x = a, *y = b;
    if (x->calls != y->calls)
        return x->calls < y->calls ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* Adds calls and usec of command `name` to w's list. */
static void window_add(struct redis_window *w, const char *name, uint64_t calls, uint64_t usec)
{
    for (int i = 0; i < w->ntop; i++) {
        if (strcmp(w->top[i].name, name) == 0) {
            w->top[i].calls += calls;
            w->top[i].usec += usec;
            return;
        }
    }
    w->top = oc_realloc(w->top, (size_t)(w->ntop + 1) * sizeof(*w->top));
    struct redis_cmdstat *c = &w->top[w->ntop++];
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->calls = calls;
    c->usec = usec;
}

/* The Redis servers between samples a and b (one per Redis in each), summed; with
 * masters_only, those that were masters at b only. */
static void redis_window(const struct redis_sample *a, const struct redis_sample *b, int n,
                         int masters_only, struct redis_window *w)
{
    memset(w, 0, sizeof(*w));
    w->ok = n > 0;
    for (int i = 0; i < n; i++) {
        const struct redis_sample *x = &a[i], *y = &b[i];
        if (!x->ok || !y->ok) {
            w->ok = 0;
            continue;
        }
        if (masters_only && !y->master)
            continue;
        w->n++;
        /* The INFO that took sample x and those in between ran in the window; the one that
         * took sample y had not been counted yet when it was answered. Their time stays in
         * info's usec: it cannot be told apart, and objcastd does not send INFO. */
        uint64_t own = y->own - x->own;
        w->cpu += y->cpu - x->cpu;
        uint64_t total = y->total > x->total ? y->total - x->total : 0;
        w->cmds += total > own ? total - own : 0;
        for (int j = 0; j < y->ncmds; j++) {
            const struct redis_cmdstat *c = &y->cmds[j];
            uint64_t calls = c->calls, usec = c->usec;
            for (int k = 0; k < x->ncmds; k++) {
                if (strcmp(x->cmds[k].name, c->name) == 0) {
                    calls -= calls >= x->cmds[k].calls ? x->cmds[k].calls : calls;
                    usec -= usec >= x->cmds[k].usec ? x->cmds[k].usec : usec;
                    break;
                }
            }
            if (strcmp(c->name, "info") == 0)
                calls -= calls >= own ? own : calls;
            if (calls)
                window_add(w, c->name, calls, usec);
        }
    }
    if (w->ntop > 1)
        qsort(w->top, (size_t)w->ntop, sizeof(*w->top), cmdstat_by_calls);
}

/* "  <label> 12.3% of one core (2 servers), 18078.0 commands/s: evalsha 7500.0/s (3.1 us), ..." */
static void print_redis_window(FILE *f, const char *label, const struct redis_window *w,
                               double secs)
{
    if (!w->ok) {
        fprintf(f, "  %-11s not measured (INFO failed)\n", label);
        return;
    }
    fprintf(f, "  %-11s %.1f%% of one core (%d server%s), %.1f commands/s", label,
            100 * w->cpu / secs, w->n, w->n == 1 ? "" : "s", (double)w->cmds / secs);
    for (int i = 0; i < w->ntop && i < REDIS_TOP; i++)
        fprintf(f, "%s%s %.1f/s (%.1f us)", i ? ", " : ": ", w->top[i].name,
                (double)w->top[i].calls / secs, (double)w->top[i].usec / (double)w->top[i].calls);
    fputc('\n', f);
}

/* "<prefix><name>_cpu_s":..,"<prefix><name>_cpu_pct":..,"<prefix><name>_cmds_per_s":..,
 * "<prefix><name>_top":[{"cmd":..,"per_s":..,"us_per_call":..},..], (name: "redis" for
 * every Redis, "redis_masters" for the masters) */
static void json_redis_window(struct buf *j, const char *prefix, const char *name,
                              const struct redis_window *w, double secs)
{
    if (!w->ok)
        return;
    buf_printf(j,
               "\"%s%s_cpu_s\":%.3f,\"%s%s_cpu_pct\":%.1f,\"%s%s_cmds_per_s\":%.1f,"
               "\"%s%s_top\":[",
               prefix, name, w->cpu, prefix, name, 100 * w->cpu / secs, prefix, name,
               (double)w->cmds / secs, prefix, name);
    for (int i = 0; i < w->ntop && i < REDIS_TOP; i++)
        buf_printf(j, "%s{\"cmd\":\"%s\",\"per_s\":%.1f,\"us_per_call\":%.2f}", i ? "," : "",
                   w->top[i].name, (double)w->top[i].calls / secs,
                   (double)w->top[i].usec / (double)w->top[i].calls);
    buf_append_str(j, "],");
}

/* The whole report of one window: every Redis, the masters ("<prefix>redis_masters": how
 * many, then their sums) and "<prefix>redis_nodes":[{"addr":..,"role":..,"cpu_s":..,
 * "cpu_pct":..,"cmds_per_s":..},..] in --redis order. Human-readable with f, JSON with j. */
static void report_redis(FILE *f, struct buf *j, const char *prefix, const char *label,
                         const struct opts *o, const struct redis_sample *a,
                         const struct redis_sample *b, double secs)
{
    struct redis_window all, masters;
    redis_window(a, b, o->nredis, 0, &all);
    redis_window(a, b, o->nredis, 1, &masters);
    if (f) {
        print_redis_window(f, label, &all, secs);
        if (o->nredis > 1 && all.ok) {
            char l[40];
            snprintf(l, sizeof(l), "%s masters", label);
            print_redis_window(f, l, &masters, secs);
            for (int i = 0; i < o->nredis; i++) {
                struct redis_window one;
                redis_window(&a[i], &b[i], 1, 0, &one);
                fprintf(f, "    %-21s %-7s %5.1f%% of one core, %.1f commands/s\n",
                        o->redis[i].text, b[i].master ? "master" : "replica",
                        100 * one.cpu / secs, (double)one.cmds / secs);
                free(one.top);
            }
        }
    }
    if (j && all.ok) {
        json_redis_window(j, prefix, "redis", &all, secs);
        buf_printf(j, "\"%sredis_masters\":%d,", prefix, masters.n);
        json_redis_window(j, prefix, "redis_masters", &masters, secs);
        buf_printf(j, "\"%sredis_nodes\":[", prefix);
        for (int i = 0; i < o->nredis; i++) {
            struct redis_window one;
            redis_window(&a[i], &b[i], 1, 0, &one);
            buf_printf(j,
                       "%s{\"addr\":\"%s\",\"role\":\"%s\",\"cpu_s\":%.3f,\"cpu_pct\":%.1f,"
                       "\"cmds_per_s\":%.1f}",
                       i ? "," : "", o->redis[i].text, b[i].master ? "master" : "replica",
                       one.cpu, 100 * one.cpu / secs, (double)one.cmds / secs);
            free(one.top);
        }
        buf_append_str(j, "],");
    }
    free(all.top);
    free(masters.top);
}

/* --- parent: coordination ---------------------------------------------------------------- */

struct child {
    pid_t pid;
    int status_fd; /* read end */
    int ctl_fd;    /* write end */
    struct event *ev;
    struct buf in;        /* bytes of an incomplete message */
    uint32_t ready_count; /* connections ready, from MSG_PROGRESS / MSG_READY */
    int ready;            /* sent MSG_READY */
    int reported;         /* sent MSG_REPORT */
    struct report *rep;   /* its report, owned */
};

/* The moments the parent samples the server processes and Redis. */
enum edge {
    EDGE_REST,     /* the at-rest window opens (--rest) */
    EDGE_REST_END, /* it closes; the senders start REST_GUARD_NS later (t0) */
    EDGE_WARM,     /* the measured window opens */
    EDGE_END,      /* it closes */
    EDGE_COUNT,
};

struct parent {
    const struct opts *o;
    struct event_base *base;
    struct child *ch;
    int nch;
    uint32_t total_conns;
    int nready, nreported;
    struct event *deadline_ev;
    struct event *progress_ev;
    struct event *sample_ev;
    uint64_t start; /* fork time */
    double setup_s; /* fork to all ready */
    struct go go;
    int next_edge;                 /* the edge sample_cb samples next; EDGE_COUNT: all done */
    uint64_t edge_at[EDGE_COUNT];  /* when each edge is, CLOCK_MONOTONIC */
    struct server_sample s_before; /* before the setup: the RSS baseline */
    struct server_sample s[EDGE_COUNT];
    struct redis_server redis[MAX_REDIS];
    struct redis_sample rs[EDGE_COUNT][MAX_REDIS];
    int redis_failed; /* an INFO failed: exit status 1 */
};

static void kill_children(struct parent *pa)
{
    for (int i = 0; i < pa->nch; i++)
        if (pa->ch[i].pid > 0)
            kill(pa->ch[i].pid, SIGKILL);
    for (int i = 0; i < pa->nch; i++)
        if (pa->ch[i].pid > 0)
            waitpid(pa->ch[i].pid, NULL, 0);
}

static void parent_fail(struct parent *pa, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void parent_fail(struct parent *pa, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("objcast-bench: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    kill_children(pa);
    exit(1);
}

static void finish(struct parent *pa);
/* The one parent: child_read_cb() gets the child as its argument. */
static struct parent *the_parent;

static void sample_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct parent *pa = arg;
    int k = pa->next_edge++;
    sample_servers(pa->o, &pa->s[k]);
    for (int i = 0; i < pa->o->nredis; i++)
        if (redis_sample(&pa->redis[i], &pa->rs[k][i]) < 0)
            pa->redis_failed = 1;
    if (pa->next_edge < EDGE_COUNT)
        timer_at(pa->sample_ev, pa->edge_at[pa->next_edge]);
    else if (pa->nreported == pa->nch)
        finish(pa);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct parent *pa = arg;
    if (pa->nready < pa->nch) {
        uint32_t ready = 0;
        for (int i = 0; i < pa->nch; i++)
            ready += pa->ch[i].ready_count;
        parent_fail(pa, "setup did not finish within %.0f s: %u of %u connections ready",
                    pa->o->setup_timeout, ready, pa->total_conns);
    }
    parent_fail(pa, "generator processes did not report within 5 s after the run (%d of %d)",
                pa->nreported, pa->nch);
}

static void progress_print_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct parent *pa = arg;
    uint32_t ready = 0;
    for (int i = 0; i < pa->nch; i++)
        ready += pa->ch[i].ready_count;
    double el = (double)(mono_ns() - pa->start) / 1e9;
    fprintf(stderr, "objcast-bench: setup %u/%u connections ready after %.1f s\n", ready,
            pa->total_conns, el);
    struct timeval tv = {1, 0};
    evtimer_add(pa->progress_ev, &tv);
}

static void all_ready(struct parent *pa)
{
    const struct opts *o = pa->o;
    uint64_t now = mono_ns();
    pa->setup_s = (double)(now - pa->start) / 1e9;
    evtimer_del(pa->progress_ev);
    pa->go.t0 = now + 20000000ull; /* time for every process to read "go" */
    pa->next_edge = EDGE_WARM;
    if (o->rest > 0) {
        pa->edge_at[EDGE_REST] = pa->go.t0 + REST_SETTLE_NS;
        pa->edge_at[EDGE_REST_END] = pa->edge_at[EDGE_REST] + (uint64_t)(o->rest * 1e9);
        pa->go.t0 = pa->edge_at[EDGE_REST_END] + REST_GUARD_NS;
        pa->next_edge = EDGE_REST;
    }
    pa->go.t_warm = pa->go.t0 + (uint64_t)(o->warmup * 1e9);
    pa->go.t_end = pa->go.t_warm + (uint64_t)(o->duration * 1e9);
    pa->go.t_done = pa->go.t_end + (uint64_t)(o->drain * 1e9);
    for (int i = 0; i < pa->nch; i++)
        if (write_all(pa->ch[i].ctl_fd, &pa->go, sizeof(pa->go)) < 0)
            parent_fail(pa, "generator process %d: %s", i, strerror(errno));
    pa->edge_at[EDGE_WARM] = pa->go.t_warm;
    pa->edge_at[EDGE_END] = pa->go.t_end;
    if (!o->quiet && o->rest > 0)
        fprintf(stderr,
                "objcast-bench: %u connections ready in %.2f s; at rest %.0f s, then "
                "running %.0f s + %.0f s\n",
                pa->total_conns, pa->setup_s, o->rest, o->warmup, o->duration);
    else if (!o->quiet)
        fprintf(stderr, "objcast-bench: %u connections ready in %.2f s; running %.0f s + %.0f s\n",
                pa->total_conns, pa->setup_s, o->warmup, o->duration);
    timer_at(pa->sample_ev, pa->edge_at[pa->next_edge]);
    timer_at(pa->deadline_ev, pa->go.t_done + 5 * NS_PER_S);
}

static void child_message(struct parent *pa, struct child *c, const struct msg_hdr *h,
                          const char *p)
{
    int idx = (int)(c - pa->ch);
    switch (h->type) {
    case MSG_PROGRESS:
        if (h->len == sizeof(uint32_t))
            memcpy(&c->ready_count, p, sizeof(uint32_t));
        break;
    case MSG_READY:
        if (h->len == sizeof(uint32_t))
            memcpy(&c->ready_count, p, sizeof(uint32_t));
        if (!c->ready) {
            c->ready = 1;
            if (++pa->nready == pa->nch)
                all_ready(pa);
        }
        break;
    case MSG_FAIL:
        parent_fail(pa, "generator process %d: %.*s", idx, (int)h->len, p);
    case MSG_REPORT:
        if (h->len != sizeof(struct report))
            parent_fail(pa, "generator process %d: bad report", idx);
        c->rep = oc_malloc(sizeof(struct report));
        memcpy(c->rep, p, sizeof(struct report));
        c->reported = 1;
        pa->nreported++;
        if (pa->nreported == pa->nch && pa->next_edge == EDGE_COUNT)
            finish(pa);
        break;
    default:
        parent_fail(pa, "generator process %d: unknown message %u", idx, h->type);
    }
}

static void child_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct child *c = arg;
    struct parent *pa = the_parent;
    char tmp[65536];
    ssize_t n = read(fd, tmp, sizeof(tmp));
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        parent_fail(pa, "generator process %d: read: %s", (int)(c - pa->ch), strerror(errno));
    }
    if (n == 0) {
        if (c->reported) {
            event_del(c->ev);
            return;
        }
        int st = 0;
        waitpid(c->pid, &st, 0);
        c->pid = 0;
        if (WIFSIGNALED(st))
            parent_fail(pa, "generator process %d died of signal %d", (int)(c - pa->ch),
                        WTERMSIG(st));
        parent_fail(pa, "generator process %d exited (status %d) without a report",
                    (int)(c - pa->ch), WEXITSTATUS(st));
    }
    buf_append(&c->in, tmp, (size_t)n);
    size_t off = 0;
    while (c->in.len - off >= sizeof(struct msg_hdr)) {
        struct msg_hdr h;
        memcpy(&h, c->in.p + off, sizeof(h));
        if (c->in.len - off - sizeof(h) < h.len)
            break;
        child_message(pa, c, &h, c->in.p + off + sizeof(h));
        off += sizeof(h) + h.len;
    }
    if (off) {
        memmove(c->in.p, c->in.p + off, c->in.len - off);
        c->in.len -= off;
    }
}

/* --- parent: results --------------------------------------------------------------------- */

static const char *workload_name(enum workload w)
{
    static const char *names[] = {"fanout", "idle", "many", "data"};
    return names[w];
}

static const char *body_name(enum body_kind b)
{
    return b == BODY_NOTES ? "notes" : "filler";
}

static void finish(struct parent *pa)
{
    const struct opts *o = pa->o;
    struct report *sum = oc_calloc(1, sizeof(*sum));
    hist_init(&sum->lat);
    hist_init(&sum->save);
    double gen_cpu_window = 0;
    for (int i = 0; i < pa->nch; i++) {
        const struct report *r = pa->ch[i].rep;
        sum->conns += r->conns;
        sum->drops += r->drops;
        sum->sent += r->sent;
        sum->sent_total += r->sent_total;
        sum->late += r->late;
        sum->deliveries += r->deliveries;
        sum->deliveries_total += r->deliveries_total;
        sum->expected_total += r->expected_total;
        sum->saves += r->saves;
        sum->saves_total += r->saves_total;
        sum->other += r->other;
        sum->errors += r->errors;
        sum->rx_bytes += r->rx_bytes;
        sum->wire_bytes += r->wire_bytes;
        sum->text_bytes += r->text_bytes;
        sum->compressed += r->compressed;
        gen_cpu_window += r->cpu_window;
        if (!sum->first_error[0] && r->first_error[0])
            memcpy(sum->first_error, r->first_error, sizeof(sum->first_error));
        hist_merge(&sum->lat, &r->lat);
        hist_merge(&sum->save, &r->save);
    }
    for (int i = 0; i < pa->nch; i++) {
        if (pa->ch[i].pid > 0)
            waitpid(pa->ch[i].pid, NULL, 0);
        pa->ch[i].pid = 0;
    }
    struct rusage ru_ch, ru_self;
    getrusage(RUSAGE_CHILDREN, &ru_ch);
    getrusage(RUSAGE_SELF, &ru_self);
    double gen_cpu_total = ru_cpu(&ru_ch) + ru_cpu(&ru_self);

    double win = o->duration;
    int have_server = o->nserver_pids > 0;
    double srv_cpu = have_server ? server_cpu_delta(&pa->s[EDGE_WARM], &pa->s[EDGE_END]) : 0;
    uint64_t missing = sum->expected_total > sum->deliveries_total
                           ? sum->expected_total - sum->deliveries_total
                           : 0;
    const struct hist *lat = &sum->lat, *sv = &sum->save;
    const char *tname = o->target == TARGET_NCHAN ? "nchan" : "objcast";
    uint32_t receivers = o->n;
    int have_rest = o->rest > 0;
    double rest_srv_cpu =
        have_server && have_rest ? server_cpu_delta(&pa->s[EDGE_REST], &pa->s[EDGE_REST_END]) : 0;

    /* human-readable */
    FILE *f = stdout;
    fprintf(f, "objcast-bench %s against %s: %u receivers", workload_name(o->workload), tname,
            receivers);
    if (o->workload == WL_MANY)
        fprintf(f, " over %u objects", o->objects);
    fprintf(f, ", %d URL(s), %d process(es)\n", o->nurls, o->procs);
    fprintf(f, "  setup       %u connections in %.2f s (%.0f/s)%s\n", pa->total_conns, pa->setup_s,
            pa->setup_s > 0 ? pa->total_conns / pa->setup_s : 0,
            o->deflate ? ", permessage-deflate on every one" : "");
    fprintf(f, "  window      %.1f s after %.1f s warmup, drain up to %.1f s\n", win, o->warmup,
            o->drain);
    if (o->workload != WL_IDLE) {
        if (o->workload == WL_FANOUT && o->rate == 0)
            fprintf(f, "  offered     as fast as possible, window %u messages, %zu bytes each",
                    o->inflight, o->size);
        else if (o->workload == WL_FANOUT)
            fprintf(f, "  offered     %.0f messages/s, %zu bytes each", o->rate, o->size);
        else if (o->workload == WL_MANY)
            fprintf(f, "  offered     %.3g messages/s per object (%.0f/s), %zu bytes each", o->rate,
                    o->rate * o->objects, o->size);
        else
            fprintf(f, "  offered     closed loop, %u saves outstanding, %zu bytes each",
                    o->inflight, o->size);
        fprintf(f, " (%s)\n", body_name(o->body));
        fprintf(f, "  sent        %" PRIu64 " %s (%.1f/s)\n", sum->sent,
                o->workload == WL_DATA ? "saves" : "messages", sum->sent / win);
        if (sum->late)
            fprintf(f,
                    "  late        %" PRIu64 " sends more than %llu ms behind schedule "
                    "(their delay counts as latency)\n",
                    sum->late, LATE_NS / 1000000);
        if (o->workload == WL_DATA)
            fprintf(f,
                    "  saves       %" PRIu64 " acknowledged (%.1f/s); to ovice_data_saved_success "
                    "p50 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us\n",
                    sum->saves, sum->saves / win, hist_quantile_us(sv, 0.5),
                    hist_quantile_us(sv, 0.99), hist_quantile_us(sv, 0.999),
                    (double)(sv->count ? sv->max_ns : 0) / 1e3);
        fprintf(f, "  deliveries  %" PRIu64 " (%.0f/s), %.1f MB/s read\n", sum->deliveries,
                sum->deliveries / win, sum->rx_bytes / win / 1e6);
        if (sum->deliveries)
            fprintf(f,
                    "  bytes       %.1f on the wire, %.1f of text per delivery (wire/text %.3f);"
                    " %" PRIu64 " messages compressed\n",
                    (double)sum->wire_bytes / (double)sum->deliveries,
                    (double)sum->text_bytes / (double)sum->deliveries,
                    sum->text_bytes ? (double)sum->wire_bytes / (double)sum->text_bytes : 0,
                    sum->compressed);
        fprintf(f,
                "  latency     p50 %.1f us  p90 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us  "
                "mean %.1f us\n",
                hist_quantile_us(lat, 0.5), hist_quantile_us(lat, 0.9), hist_quantile_us(lat, 0.99),
                hist_quantile_us(lat, 0.999), (double)(lat->count ? lat->max_ns : 0) / 1e3,
                hist_mean_us(lat));
        fprintf(f, "  complete    %" PRIu64 " of %" PRIu64 " expected deliveries after the drain",
                sum->deliveries_total, sum->expected_total);
        if (missing)
            fprintf(f, " (%" PRIu64 " MISSING: not received when the drain ended)", missing);
        fputc('\n', f);
    }
    fprintf(f, "  generator   %.2f CPU s in the window (%.0f%% of one core), %.2f CPU s in all\n",
            gen_cpu_window, 100 * gen_cpu_window / win, gen_cpu_total);
    if (have_server) {
        fprintf(f, "  server      %.2f CPU s in the window (%.0f%% of one core)", srv_cpu,
                100 * srv_cpu / win);
        if (o->workload != WL_IDLE && sum->deliveries)
            fprintf(f, ", %.3f CPU us per delivery", srv_cpu * 1e6 / (double)sum->deliveries);
        fprintf(f, "\n  server rss  %ld KiB before, %ld KiB at the end (peak %ld KiB)",
                pa->s_before.rss_kb, pa->s[EDGE_END].rss_kb, pa->s[EDGE_END].hwm_kb);
        if (o->workload == WL_IDLE && pa->total_conns)
            fprintf(f, ", %.0f bytes per connection",
                    (double)(pa->s[EDGE_END].rss_kb - pa->s_before.rss_kb) * 1024 /
                        pa->total_conns);
        fputc('\n', f);
    }
    if (o->nredis)
        report_redis(f, NULL, "", "redis", o, pa->rs[EDGE_WARM], pa->rs[EDGE_END], win);
    if (have_rest) {
        fprintf(f, "  at rest     %.1f s with nothing sent, from %.1f s after the setup", o->rest,
                (double)REST_SETTLE_NS / 1e9);
        if (have_server)
            fprintf(f, "; server %.2f CPU s (%.1f%% of one core)", rest_srv_cpu,
                    100 * rest_srv_cpu / o->rest);
        fputc('\n', f);
        if (o->nredis)
            report_redis(f, NULL, "rest_", "redis rest", o, pa->rs[EDGE_REST],
                         pa->rs[EDGE_REST_END], o->rest);
    }
    fprintf(f,
            "  problems    %u connections dropped, %" PRIu64 " errors, %" PRIu64
            " other messages in the window%s%s\n",
            sum->drops, sum->errors, sum->other, sum->first_error[0] ? "; first: " : "",
            sum->first_error);

    if (o->json) {
        struct buf j = {0};
        buf_printf(&j,
                   "{\"workload\":\"%s\",\"target\":\"%s\",\"receivers\":%u,"
                   "\"connections\":%u,\"objects\":%u,\"urls\":%d,\"procs\":%d,"
                   "\"size\":%zu,\"body\":\"%s\",\"deflate\":%d,\"rate\":%g,\"inflight\":%u,"
                   "\"duration_s\":%g,\"warmup_s\":%g,\"drain_s\":%g,\"setup_s\":%.3f,",
                   workload_name(o->workload), tname, receivers, pa->total_conns,
                   o->workload == WL_MANY ? o->objects : 1, o->nurls, o->procs, o->size,
                   body_name(o->body), o->deflate, o->rate, o->inflight, win, o->warmup, o->drain,
                   pa->setup_s);
        buf_printf(&j,
                   "\"sent\":%" PRIu64 ",\"sent_per_s\":%.1f,\"sent_total\":%" PRIu64
                   ",\"late\":%" PRIu64 ",",
                   sum->sent, sum->sent / win, sum->sent_total, sum->late);
        buf_printf(&j,
                   "\"deliveries\":%" PRIu64 ",\"deliveries_per_s\":%.1f,"
                   "\"deliveries_total\":%" PRIu64 ",\"expected_total\":%" PRIu64
                   ",\"missing\":%" PRIu64 ",\"rx_bytes\":%" PRIu64 ",",
                   sum->deliveries, sum->deliveries / win, sum->deliveries_total,
                   sum->expected_total, missing, sum->rx_bytes);
        buf_printf(&j,
                   "\"wire_bytes_received\":%" PRIu64 ",\"text_bytes_received\":%" PRIu64
                   ",\"compressed_received\":%" PRIu64
                   ",\"wire_bytes_per_delivery\":%.1f,\"text_bytes_per_delivery\":%.1f,",
                   sum->wire_bytes, sum->text_bytes, sum->compressed,
                   sum->deliveries ? (double)sum->wire_bytes / (double)sum->deliveries : 0,
                   sum->deliveries ? (double)sum->text_bytes / (double)sum->deliveries : 0);
        buf_printf(&j,
                   "\"lat_p50_us\":%.1f,\"lat_p90_us\":%.1f,\"lat_p99_us\":%.1f,"
                   "\"lat_p999_us\":%.1f,\"lat_max_us\":%.1f,\"lat_mean_us\":%.1f,",
                   hist_quantile_us(lat, 0.5), hist_quantile_us(lat, 0.9),
                   hist_quantile_us(lat, 0.99), hist_quantile_us(lat, 0.999),
                   (double)(lat->count ? lat->max_ns : 0) / 1e3, hist_mean_us(lat));
        buf_printf(&j,
                   "\"saves\":%" PRIu64 ",\"saves_per_s\":%.1f,\"save_p50_us\":%.1f,"
                   "\"save_p99_us\":%.1f,\"save_p999_us\":%.1f,\"save_max_us\":%.1f,",
                   sum->saves, sum->saves / win, hist_quantile_us(sv, 0.5),
                   hist_quantile_us(sv, 0.99), hist_quantile_us(sv, 0.999),
                   (double)(sv->count ? sv->max_ns : 0) / 1e3);
        buf_printf(&j,
                   "\"drops\":%u,\"errors\":%" PRIu64 ",\"other\":%" PRIu64 ","
                   "\"gen_cpu_s\":%.3f,\"gen_cpu_total_s\":%.3f,",
                   sum->drops, sum->errors, sum->other, gen_cpu_window, gen_cpu_total);
        if (have_server) {
            buf_printf(&j,
                       "\"server_cpu_s\":%.3f,\"server_cpu_pct\":%.1f,"
                       "\"server_us_per_delivery\":%.4f,\"server_rss_before_kb\":%ld,"
                       "\"server_rss_kb\":%ld,\"server_rss_peak_kb\":%ld,",
                       srv_cpu, 100 * srv_cpu / win,
                       sum->deliveries ? srv_cpu * 1e6 / (double)sum->deliveries : 0,
                       pa->s_before.rss_kb, pa->s[EDGE_END].rss_kb, pa->s[EDGE_END].hwm_kb);
            if (o->workload == WL_IDLE)
                buf_printf(&j, "\"server_bytes_per_conn\":%.1f,",
                           (double)(pa->s[EDGE_END].rss_kb - pa->s_before.rss_kb) * 1024 /
                               pa->total_conns);
        }
        buf_printf(&j, "\"join\":%d,\"rest_s\":%g,", o->join, o->rest);
        if (have_server && have_rest)
            buf_printf(&j, "\"rest_server_cpu_s\":%.3f,\"rest_server_cpu_pct\":%.1f,", rest_srv_cpu,
                       100 * rest_srv_cpu / o->rest);
        if (o->nredis) {
            buf_printf(&j, "\"redis_servers\":%d,", o->nredis);
            report_redis(NULL, &j, "", "redis", o, pa->rs[EDGE_WARM], pa->rs[EDGE_END], win);
            if (have_rest)
                report_redis(NULL, &j, "rest_", "redis rest", o, pa->rs[EDGE_REST],
                             pa->rs[EDGE_REST_END], o->rest);
        }
        buf_append_str(&j, "\"first_error\":");
        buf_append_char(&j, '"');
        for (const char *p = sum->first_error; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_printf(&j, "\\%c", *p);
            else if ((unsigned char)*p < 0x20)
                buf_printf(&j, "\\u%04x", *p);
            else
                buf_append_char(&j, *p);
        }
        buf_append_str(&j, "\"}\n");
        fputs(j.p, f);
        buf_free(&j);
    }
    fflush(f);

    int status = 0;
    if (sum->drops) {
        fprintf(stderr, "objcast-bench: error: %u connections dropped during the run (%s)\n",
                sum->drops, sum->first_error);
        status = 1;
    }
    for (int i = 0; i < o->nserver_pids; i++) {
        double cpu;
        if (proc_cpu(o->server_pids[i], &cpu) < 0) {
            fprintf(stderr, "objcast-bench: error: server process %d exited during the run\n",
                    (int)o->server_pids[i]);
            status = 1;
        }
    }
    if (pa->redis_failed) {
        fprintf(stderr, "objcast-bench: error: reading a Redis's INFO failed during the run\n");
        status = 1;
    }
    if (o->workload != WL_IDLE && sum->sent_total && !sum->deliveries_total) {
        fprintf(stderr, "objcast-bench: error: %" PRIu64 " sent, nothing delivered (%s)\n",
                sum->sent_total, sum->first_error[0] ? sum->first_error : "no error seen");
        status = 1;
    }
    if (sum->errors)
        fprintf(stderr, "objcast-bench: warning: %" PRIu64 " errors during the run; first: %s\n",
                sum->errors, sum->first_error);
    if (missing)
        fprintf(stderr,
                "objcast-bench: warning: %" PRIu64 " expected deliveries had not arrived when the "
                "drain ended (lost, or --drain too short)\n",
                missing);
    free(sum);
    for (int i = 0; i < o->nredis; i++) {
        for (int k = 0; k < EDGE_COUNT; k++)
            redis_sample_free(&pa->rs[k][i]);
        redisFree(pa->redis[i].ctx);
    }
    for (int i = 0; i < pa->nch; i++) {
        free(pa->ch[i].rep);
        buf_free(&pa->ch[i].in);
        event_free(pa->ch[i].ev);
        close(pa->ch[i].status_fd);
        close(pa->ch[i].ctl_fd);
    }
    free(pa->ch);
    event_free(pa->deadline_ev);
    event_free(pa->progress_ev);
    event_free(pa->sample_ev);
    event_base_free(pa->base);
    exit(status);
}

/* --- command line ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs(
        "Usage: objcast-bench [OPTIONS]\n"
        "\n"
        "Load generator for objcastd (and Nchan). Opens N WebSocket connections, sets them up\n"
        "(upgrade, objcast_auth, objcast_subscribe), runs a workload for --warmup + --duration\n"
        "seconds and reports throughput, end-to-end latency (receive time - send time stamped in\n"
        "the message, CLOCK_MONOTONIC: generator and server must share the machine), its own\n"
        "CPU time and, with --server-pid, the server's CPU time and memory.\n"
        "\n"
        "Target:\n"
        "  -u, --url URL          ws://HOST:PORT/PATH; repeatable: connection i uses URL\n"
        "                         i mod count (default ws://127.0.0.1:8080/ws)\n"
        "  -t, --target T         objcast (default) or nchan: subscribe by WebSocket to\n"
        "                         --url ws://HOST:PORT/sub/CHANNEL (every text frame is a\n"
        "                         message), publish with POST to --publish-url\n"
        "      --publish-url URL  nchan: http://HOST:PORT/pub/CHANNEL (keep-alive HTTP/1.1)\n"
        "  -s, --secret S         objcastd's token_secret; tokens are HS256 with\n"
        "                         sub \"b<index>\", ws 1 (required for objcast)\n"
        "      --object ID        object id (default L1; many: objects ID-0 .. ID-<K-1>)\n"
        "      --deflate          every connection offers permessage-deflate (RFC 7692) as\n"
        "                         browsers do (\"permessage-deflate; client_max_window_bits\");\n"
        "                         the server must accept it with server_no_context_takeover.\n"
        "                         Compressed messages are inflated before they are measured;\n"
        "                         RSV1 without the extension is a protocol error\n"
        "\n"
        "Workload:\n"
        "  -w, --workload W       fanout (default): one extra connection broadcasts\n"
        "                           ovice_broadcast_message to N receivers of one object;\n"
        "                         idle: N connections authenticate and wait (server memory);\n"
        "                         many: N connections over --objects K objects (connection i\n"
        "                           on object i mod K); connection k sends on object k;\n"
        "                         data: one extra connection saves ovice_save_and_emit_data\n"
        "                           in a closed loop; N receivers get ovice_shared_data\n"
        "  -n, --connections N    receivers (idle: connections) (default 1000)\n"
        "      --objects K        many: number of objects (default 100)\n"
        "      --size BYTES       JSON text of a message {\"t\":<ns>,\"p\":\"xx..\"} or of a\n"
        "                         saved payload {\"p\":\"<ns>:xx..\"} (default 1024)\n"
        "      --body B           what fills --size: filler (default, the 'x' above) or\n"
        "                         notes: a notes board as the demo's notes plugin saves it,\n"
        "                         {\"t\":<ns>,\"n-..\":{\"text\":..,\"color\":..,\"by\":..,\n"
        "                         \"at\":..},..} (saved: {\"p\":\"<ns>:\",\"n-..\":..}), the\n"
        "                         same board every run\n"
        "  -r, --rate R           fanout: messages/s, paced by a 1 ms timer; 0 (default)\n"
        "                         sends as fast as --inflight allows;\n"
        "                         many: messages/s per object (default 1; 0.1: one message\n"
        "                         per object every 10 s, the objects' sends spread evenly)\n"
        "      --inflight N       fanout --rate 0: most messages sent and not yet received\n"
        "                         by the designated receiver (default 64);\n"
        "                         data: saves awaiting their answer (default 1)\n"
        "      --join             after objcast_subscribe, objcast_join the object too (a user\n"
        "                         linked to it); the setup waits for the own joined event\n"
        "\n"
        "Run:\n"
        "  -d, --duration S       measured window, seconds (default 10)\n"
        "      --warmup S         seconds of load before the window (default 2)\n"
        "      --drain S          after the window, wait for outstanding deliveries until\n"
        "                         none arrived for 0.25 s, at most S seconds (default 5;\n"
        "                         idle: 0); then check that every send was delivered\n"
        "      --rest S           before the start, an at-rest window of S seconds: every\n"
        "                         connection set up, nothing sent; it opens 2 s after the\n"
        "                         setup and ends 0.2 s before the start. Server CPU and\n"
        "                         --redis are measured over it too (default 0: none)\n"
        "      --setup-timeout S  seconds connection setup may take (default 60); the whole\n"
        "                         run ends within setup-timeout + rest + 2.2 + warmup\n"
        "                         + duration + drain + 5\n"
        "      --connect-rate R   new connections per second, all processes (default 1000)\n"
        "      --batch B          connections opened per batch, all processes (default 100)\n"
        "  -P, --procs P          generator processes, each with its own event loop (default 1)\n"
        "      --pin CPUS         pin generator process k to the k-th CPU of the list\n"
        "                         (round-robin), e.g. 1 or 0-3,6\n"
        "\n"
        "Measurement:\n"
        "      --server-pid PID   server process to measure (repeatable); its children count\n"
        "                         too (objcastd workers, nginx workers): CPU seconds in the\n"
        "                         window from /proc/PID/stat, VmRSS from /proc/PID/status\n"
        "      --redis HOST:PORT  a Redis the server uses (repeatable: every node of a\n"
        "                         cluster); INFO all is read at the windows' edges for its CPU\n"
        "                         (used_cpu_user + used_cpu_sys) and the commands it ran, in\n"
        "                         all and per command (those Lua scripts call included;\n"
        "                         objcast-bench's own INFO taken out), summed over all, over\n"
        "                         the masters, and per Redis. Not part of the server CPU:\n"
        "                         give its PID to --server-pid for that\n"
        "      --json             also print one JSON object line with every number\n"
        "                         (bytes: rx_bytes read from the sockets; of the messages\n"
        "                         received in the window wire_bytes_received, their frames as\n"
        "                         they arrived, and text_bytes_received, their text inflated;\n"
        "                         both also per delivery)\n"
        "  -q, --quiet            no progress lines on stderr\n"
        "  -h, --help             this text\n"
        "\n"
        "Latency is recorded for deliveries received in the window, in log-linear buckets\n"
        "(nanoseconds up to 60 s, each at most 0.8% wide). Fixed-rate sends more than 5 ms\n"
        "behind schedule are stamped with their due time, so a stalled server cannot hide\n"
        "its delay. After the drain, deliveries are checked against what the sends should\n"
        "have caused.\n"
        "\n"
        "Exit status: 0 done; 1 setup failed, connections dropped, a server process exited\n"
        "or nothing was delivered; 2 bad usage.\n",
        f);
}

static double parse_double(const char *opt, const char *s, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < min || v > max)
        die("%s: '%s' is not a number in %g..%g", opt, s, min, max);
    return v;
}

static void parse_url(struct url *u, const char *s, const char *scheme)
{
    size_t sl = strlen(scheme);
    if (strncmp(s, scheme, sl) != 0 || strncmp(s + sl, "://", 3) != 0)
        die("URL '%s' must start with %s://", s, scheme);
    const char *h = s + sl + 3;
    const char *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    if (hl == 0 || hl >= sizeof(u->host))
        die("URL '%s': bad host", s);
    memcpy(u->host, h, hl);
    u->host[hl] = 0;
    u->path = oc_strdup(slash ? slash : "/");
    u->text = s;

    char host[300], port[16] = "80";
    snprintf(host, sizeof(host), "%s", u->host);
    char *colon = strrchr(host, ':');
    if (host[0] == '[') { /* [IPv6]:port */
        char *rb = strchr(host, ']');
        if (!rb)
            die("URL '%s': bad host", s);
        if (rb[1] == ':')
            snprintf(port, sizeof(port), "%s", rb + 2);
        *rb = 0;
        memmove(host, host + 1, strlen(host));
    } else if (colon) {
        snprintf(port, sizeof(port), "%s", colon + 1);
        *colon = 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int e = getaddrinfo(host, port, &hints, &ai);
    if (e)
        die("URL '%s': %s", s, gai_strerror(e));
    memcpy(&u->addr, ai->ai_addr, ai->ai_addrlen);
    u->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
}

/* HOST:PORT or [IPv6]:PORT. */
static void parse_redis_addr(struct redis_addr *a, const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        die("--redis '%s': HOST:PORT", s);
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof(a->host))
        die("--redis '%s': bad host", s);
    memcpy(a->host, h, hl);
    a->host[hl] = 0;
    a->port = (int)parse_double("--redis port", colon + 1, 1, 65535);
    a->text = s;
}

static void parse_cpus(struct opts *o, const char *s)
{
    const char *p = s;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p || a < 0 || a >= CPU_SETSIZE)
            die("--pin: bad CPU list '%s'", s);
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            if (end == p + 1 || b < a || b >= CPU_SETSIZE)
                die("--pin: bad CPU list '%s'", s);
            p = end;
        }
        for (long c = a; c <= b && o->ncpus < MAX_CPUS; c++)
            o->cpus[o->ncpus++] = (int)c;
        if (*p == ',')
            p++;
        else if (*p)
            die("--pin: bad CPU list '%s'", s);
    }
}

static void parse_args(struct opts *o, int argc, char **argv)
{
    enum {
        OPT_PUBLISH = 256,
        OPT_OBJECT,
        OPT_OBJECTS,
        OPT_SIZE,
        OPT_INFLIGHT,
        OPT_WARMUP,
        OPT_DRAIN,
        OPT_SETUP_TIMEOUT,
        OPT_CONNECT_RATE,
        OPT_BATCH,
        OPT_PIN,
        OPT_SERVER_PID,
        OPT_JSON,
        OPT_JOIN,
        OPT_REST,
        OPT_REDIS,
        OPT_BODY,
        OPT_DEFLATE,
    };
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"target", required_argument, NULL, 't'},
        {"publish-url", required_argument, NULL, OPT_PUBLISH},
        {"secret", required_argument, NULL, 's'},
        {"object", required_argument, NULL, OPT_OBJECT},
        {"workload", required_argument, NULL, 'w'},
        {"connections", required_argument, NULL, 'n'},
        {"objects", required_argument, NULL, OPT_OBJECTS},
        {"size", required_argument, NULL, OPT_SIZE},
        {"body", required_argument, NULL, OPT_BODY},
        {"deflate", no_argument, NULL, OPT_DEFLATE},
        {"rate", required_argument, NULL, 'r'},
        {"inflight", required_argument, NULL, OPT_INFLIGHT},
        {"join", no_argument, NULL, OPT_JOIN},
        {"rest", required_argument, NULL, OPT_REST},
        {"redis", required_argument, NULL, OPT_REDIS},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"drain", required_argument, NULL, OPT_DRAIN},
        {"setup-timeout", required_argument, NULL, OPT_SETUP_TIMEOUT},
        {"connect-rate", required_argument, NULL, OPT_CONNECT_RATE},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"procs", required_argument, NULL, 'P'},
        {"pin", required_argument, NULL, OPT_PIN},
        {"server-pid", required_argument, NULL, OPT_SERVER_PID},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *urls[MAX_URLS], *pub = NULL;
    int nurls = 0;
    double rate = -1, inflight = -1, drain = -1;

    memset(o, 0, sizeof(*o));
    o->workload = WL_FANOUT;
    o->target = TARGET_OBJCAST;
    o->n = 1000;
    o->procs = 1;
    o->object = "L1";
    o->objects = 100;
    o->size = 1024;
    o->duration = 10;
    o->warmup = 2;
    o->setup_timeout = 60;
    o->connect_rate = 1000;
    o->batch = 100;

    int ch;
    while ((ch = getopt_long(argc, argv, "u:t:s:w:n:r:d:P:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            if (nurls == MAX_URLS)
                die("at most %d --url", MAX_URLS);
            urls[nurls++] = optarg;
            break;
        case 't':
            if (strcmp(optarg, "objcast") == 0)
                o->target = TARGET_OBJCAST;
            else if (strcmp(optarg, "nchan") == 0)
                o->target = TARGET_NCHAN;
            else
                die("--target: objcast or nchan, not '%s'", optarg);
            break;
        case OPT_PUBLISH:
            pub = optarg;
            break;
        case 's':
            o->secret = optarg;
            break;
        case OPT_OBJECT:
            o->object = optarg;
            break;
        case 'w':
            if (strcmp(optarg, "fanout") == 0)
                o->workload = WL_FANOUT;
            else if (strcmp(optarg, "idle") == 0)
                o->workload = WL_IDLE;
            else if (strcmp(optarg, "many") == 0)
                o->workload = WL_MANY;
            else if (strcmp(optarg, "data") == 0)
                o->workload = WL_DATA;
            else
                die("--workload: fanout, idle, many or data, not '%s'", optarg);
            break;
        case 'n':
            o->n = (unsigned)parse_double("--connections", optarg, 1, 1000000);
            break;
        case OPT_OBJECTS:
            o->objects = (unsigned)parse_double("--objects", optarg, 1, 1000000);
            break;
        case OPT_SIZE:
            o->size = (size_t)parse_double("--size", optarg, 1, 64 * 1024 * 1024);
            break;
        case OPT_BODY:
            if (strcmp(optarg, "filler") == 0)
                o->body = BODY_FILLER;
            else if (strcmp(optarg, "notes") == 0)
                o->body = BODY_NOTES;
            else
                die("--body: filler or notes, not '%s'", optarg);
            break;
        case OPT_DEFLATE:
            o->deflate = 1;
            break;
        case 'r':
            rate = parse_double("--rate", optarg, 0, 1e8);
            break;
        case OPT_INFLIGHT:
            inflight = parse_double("--inflight", optarg, 1, 1000000);
            break;
        case 'd':
            o->duration = parse_double("--duration", optarg, 0.1, 86400);
            break;
        case OPT_WARMUP:
            o->warmup = parse_double("--warmup", optarg, 0, 86400);
            break;
        case OPT_JOIN:
            o->join = 1;
            break;
        case OPT_REST:
            o->rest = parse_double("--rest", optarg, 0, 86400);
            break;
        case OPT_REDIS:
            if (o->nredis == MAX_REDIS)
                die("at most %d --redis", MAX_REDIS);
            parse_redis_addr(&o->redis[o->nredis++], optarg);
            break;
        case OPT_DRAIN:
            drain = parse_double("--drain", optarg, 0, 3600);
            break;
        case OPT_SETUP_TIMEOUT:
            o->setup_timeout = parse_double("--setup-timeout", optarg, 1, 86400);
            break;
        case OPT_CONNECT_RATE:
            o->connect_rate = parse_double("--connect-rate", optarg, 1, 1e7);
            break;
        case OPT_BATCH:
            o->batch = (unsigned)parse_double("--batch", optarg, 1, 1000000);
            break;
        case 'P':
            o->procs = (int)parse_double("--procs", optarg, 1, 256);
            break;
        case OPT_PIN:
            parse_cpus(o, optarg);
            break;
        case OPT_SERVER_PID: {
            if (o->nserver_pids == MAX_SERVER_PIDS)
                die("at most %d --server-pid", MAX_SERVER_PIDS);
            pid_t pid = (pid_t)parse_double("--server-pid", optarg, 1, INT_MAX);
            double cpu;
            if (proc_cpu(pid, &cpu) < 0)
                die("--server-pid %d: no such process (or /proc/%d/stat unreadable)", (int)pid,
                    (int)pid);
            o->server_pids[o->nserver_pids++] = pid;
            break;
        }
        case OPT_JSON:
            o->json = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc)
        die("unexpected argument '%s' (see --help)", argv[optind]);

    if (o->target == TARGET_OBJCAST && (!o->secret || !o->secret[0]))
        die("--secret is required: objcastd's token_secret");
    if (o->join && (o->target != TARGET_OBJCAST || o->workload == WL_IDLE))
        die("--join: objcast connections that subscribe (not idle, not nchan)");
    if (o->target == TARGET_NCHAN) {
        if (o->workload != WL_FANOUT && o->workload != WL_IDLE)
            die("--target nchan runs the fanout and idle workloads only");
        if (o->workload == WL_FANOUT && !pub)
            die("--target nchan --workload fanout needs --publish-url");
        if (!nurls)
            die("--target nchan needs --url ws://HOST:PORT/sub/CHANNEL");
    }
    for (const char *p = o->object; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
            !strchr("_.:-", *p))
            die("--object: letters, digits and _.:- only");
    if (!o->object[0] || strlen(o->object) > 200)
        die("--object: 1 to 200 characters");

    if (!nurls)
        urls[nurls++] = "ws://127.0.0.1:8080/ws";
    for (int i = 0; i < nurls; i++)
        parse_url(&o->urls[i], urls[i], "ws");
    o->nurls = nurls;
    if (pub) {
        parse_url(&o->pub, pub, "http");
        o->have_pub = 1;
    }

    if (o->workload == WL_MANY) {
        o->rate = rate > 0 ? rate : 1;
        if (o->objects > o->n)
            die("--objects %u: more objects than connections (%u)", o->objects, o->n);
    } else {
        o->rate = rate > 0 ? rate : 0;
    }
    o->inflight = inflight > 0 ? (unsigned)inflight : (o->workload == WL_DATA ? 1 : 64);
    o->drain = drain >= 0 ? drain : (o->workload == WL_IDLE ? 0 : 5);

    uint32_t total = o->n + (o->workload == WL_FANOUT || o->workload == WL_DATA ? 1 : 0);
    if ((uint32_t)o->procs > total)
        o->procs = (int)total;
}

static void raise_fd_limit(uint32_t conns, int procs)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    rlim_t need = conns / (rlim_t)procs + 64;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        die("%u connections over %d process(es) need %lu file descriptors per process; the "
            "limit is %lu (ulimit -n, or more --procs)",
            conns, procs, (unsigned long)need, (unsigned long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
    static struct opts opts;
    struct opts *o = &opts;
    parse_args(o, argc, argv);
    signal(SIGPIPE, SIG_IGN);

    static struct parent parent;
    struct parent *pa = &parent;
    the_parent = pa;
    pa->o = o;
    pa->total_conns = o->n + (o->workload == WL_FANOUT || o->workload == WL_DATA ? 1 : 0);
    raise_fd_limit(pa->total_conns, o->procs);
    if (o->nserver_pids)
        sample_servers(o, &pa->s_before);

    pa->nch = o->procs;
    pa->ch = oc_calloc((size_t)pa->nch, sizeof(struct child));
    pa->start = mono_ns();
    fflush(stdout);
    fflush(stderr);
    pid_t parent_pid = getpid();
    for (int i = 0; i < pa->nch; i++) {
        int st[2], ctl[2];
        if (pipe2(st, O_CLOEXEC) < 0 || pipe2(ctl, O_CLOEXEC) < 0)
            parent_fail(pa, "pipe: %s", strerror(errno));
        pid_t pid = fork();
        if (pid < 0)
            parent_fail(pa, "fork: %s", strerror(errno));
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent_pid)
                _exit(1);
            for (int k = 0; k < i; k++) { /* the earlier children's pipes */
                close(pa->ch[k].status_fd);
                close(pa->ch[k].ctl_fd);
            }
            close(st[0]);
            close(ctl[1]);
            fcntl(ctl[0], F_SETFL, O_NONBLOCK);
            worker_main(o, i, st[1], ctl[0]);
        }
        close(st[1]);
        close(ctl[0]);
        fcntl(st[0], F_SETFL, O_NONBLOCK);
        pa->ch[i].pid = pid;
        pa->ch[i].status_fd = st[0];
        pa->ch[i].ctl_fd = ctl[1];
    }
    /* After the fork, so that the generator processes do not hold the sockets. */
    for (int i = 0; i < o->nredis; i++) {
        char err[200];
        if (redis_open(&pa->redis[i], &o->redis[i], err, sizeof(err)) < 0)
            parent_fail(pa, "--redis %s: %s", o->redis[i].text, err);
    }
    if (o->ncpus) { /* keep the parent off the server's cores too */
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o->cpus[0], &set);
        sched_setaffinity(0, sizeof(set), &set);
    }

    pa->base = event_base_new();
    for (int i = 0; i < pa->nch; i++) {
        pa->ch[i].ev = event_new(pa->base, pa->ch[i].status_fd, EV_READ | EV_PERSIST, child_read_cb,
                                 &pa->ch[i]);
        event_add(pa->ch[i].ev, NULL);
    }
    pa->deadline_ev = evtimer_new(pa->base, deadline_cb, pa);
    pa->progress_ev = evtimer_new(pa->base, progress_print_cb, pa);
    pa->sample_ev = evtimer_new(pa->base, sample_cb, pa);
    /* The children give up at setup-timeout themselves; this catches a stuck child. */
    timer_at(pa->deadline_ev, pa->start + (uint64_t)((o->setup_timeout + 2) * 1e9));
    if (!o->quiet) {
        struct timeval tv = {1, 0};
        evtimer_add(pa->progress_ev, &tv);
    }
    event_base_dispatch(pa->base);
    parent_fail(pa, "event loop ended unexpectedly");
}
