/* Unit tests for src/outq.c: the per-connection queue of frames, written with writev(). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "payload.h"
#include "outq.h"
#include "unit.h"

/* A non-blocking socketpair: sv[0] is written by the queue, sv[1] read by the test. A
 * small send buffer makes partial writes happen with little data. */
static void pair(int sv[2], int sndbuf)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    if (sndbuf)
        ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
}

/* Reads whatever is waiting on fd into out (at most cap bytes); returns the count. */
static size_t drain(int fd, uint8_t *out, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, out + got, cap - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* A frame of raw bytes: len bytes counting up from seed. */
static struct payload *numbered(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed + i);
    struct payload *f = payload_new_raw(p, len);
    free(p);
    return f;
}

START_TEST(test_push_takes_a_reference)
{
    struct outq q = {0};
    struct payload *f = numbered(10, 1);
    outq_push(&q, f);
    outq_push(&q, f);
    ck_assert_uint_eq(f->refs, 3);
    ck_assert_uint_eq(q.count, 2);
    ck_assert_uint_eq(q.bytes, 20);
    outq_clear(&q);
    ck_assert_uint_eq(f->refs, 1);
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_ptr_null(q.ring);
    payload_unref(f);
}
END_TEST

START_TEST(test_write_gathers_in_order)
{
    int sv[2];
    pair(sv, 0);
    struct outq q = {0};
    outq_push_bytes(&q, "HTTP", 4);
    struct payload *a = numbered(100, 7), *b = numbered(3, 200);
    outq_push(&q, a);
    outq_push(&q, b);
    payload_unref(a);
    payload_unref(b);
    ck_assert_int_eq(outq_write(&q, sv[0]), 107);
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_uint_eq(q.count, 0);

    uint8_t got[200];
    ck_assert_uint_eq(drain(sv[1], got, sizeof(got)), 107);
    ck_assert_mem_eq(got, "HTTP", 4);
    for (size_t i = 0; i < 100; i++)
        ck_assert_uint_eq(got[4 + i], (uint8_t)(7 + i));
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(got[104 + i], (uint8_t)(200 + i));
    ck_assert_int_eq(outq_write(&q, sv[0]), 0); /* nothing waits */
    outq_clear(&q);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* A full socket: the queue keeps what did not fit, resumes in the middle of a frame, and
 * the reader gets every byte once, in order. */
START_TEST(test_partial_writes_resume)
{
    int sv[2];
    pair(sv, 4096);
    struct outq q = {0};
    enum { FRAMES = 40, LEN = 1000 };
    for (unsigned i = 0; i < FRAMES; i++) {
        struct payload *f = numbered(LEN, i * 13);
        outq_push(&q, f);
        payload_unref(f);
    }
    size_t total = (size_t)FRAMES * LEN, got = 0;
    uint8_t *in = malloc(total);
    int saw_full = 0;
    while (got < total) {
        /* Twice before reading: the second finds the socket full. */
        for (int k = 0; k < 2; k++) {
            ssize_t n = outq_write(&q, sv[0]);
            if (n < 0) {
                ck_assert_int_eq(errno, EAGAIN);
                saw_full = 1;
            }
        }
        got += drain(sv[1], in + got, total - got);
        /* The socket is empty again: what the test read is what the queue let go of. */
        ck_assert_uint_eq(got + q.bytes, total);
    }
    ck_assert(saw_full);
    for (unsigned i = 0; i < FRAMES; i++)
        for (size_t k = 0; k < LEN; k++)
            ck_assert_uint_eq(in[i * LEN + k], (uint8_t)(i * 13 + k));
    ck_assert_uint_eq(q.count, 0);
    free(in);
    outq_clear(&q);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* Pushes while frames are being written wrap around the ring and make it grow; order holds. */
START_TEST(test_ring_wraps_and_grows)
{
    int sv[2];
    pair(sv, 0);
    struct outq q = {0};
    unsigned next_push = 0, next_read = 0, max_cap = 0;
    uint8_t buf[64];
    for (int round = 0; round < 50; round++) {
        unsigned pushes = (unsigned)(round % 7) + 1 + (round == 30 ? 40 : 0);
        for (unsigned i = 0; i < pushes; i++) {
            uint8_t byte = (uint8_t)next_push++;
            outq_push_bytes(&q, &byte, 1);
        }
        ck_assert_uint_eq(q.cap & (q.cap - 1), 0); /* a power of two */
        ck_assert_uint_ge(q.cap, q.count);
        if (q.cap > max_cap)
            max_cap = q.cap;
        /* Write only part of the queue when the round says so: leave frames behind. */
        if (round % 3 != 2)
            ck_assert_int_gt(outq_write(&q, sv[0]), 0);
        size_t n = drain(sv[1], buf, sizeof(buf));
        for (size_t i = 0; i < n; i++)
            ck_assert_uint_eq(buf[i], (uint8_t)next_read++);
    }
    while (q.count) {
        ck_assert_int_gt(outq_write(&q, sv[0]), 0);
        size_t n = drain(sv[1], buf, sizeof(buf));
        for (size_t i = 0; i < n; i++)
            ck_assert_uint_eq(buf[i], (uint8_t)next_read++);
    }
    ck_assert_uint_eq(next_read, next_push);
    ck_assert_uint_ge(max_cap, 64); /* round 30 made it grow */
    ck_assert_uint_le(q.cap, 8);    /* and an empty queue let the large ring go */
    outq_clear(&q);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* More frames than one writev() takes: a write stops at the limit and the next goes on. */
START_TEST(test_many_small_frames)
{
    int sv[2];
    pair(sv, 0);
    struct outq q = {0};
    enum { FRAMES = 1000 };
    for (unsigned i = 0; i < FRAMES; i++) {
        uint8_t byte = (uint8_t)(i * 7);
        outq_push_bytes(&q, &byte, 1);
    }
    ssize_t first = outq_write(&q, sv[0]);
    ck_assert_int_gt(first, 0);
    ck_assert_int_lt(first, FRAMES);
    while (q.count)
        ck_assert_int_gt(outq_write(&q, sv[0]), 0);
    uint8_t got[FRAMES];
    ck_assert_uint_eq(drain(sv[1], got, sizeof(got)), FRAMES);
    for (unsigned i = 0; i < FRAMES; i++)
        ck_assert_uint_eq(got[i], (uint8_t)(i * 7));
    outq_clear(&q);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_write_error_keeps_the_queue)
{
    int sv[2];
    pair(sv, 0);
    close(sv[1]);
    struct outq q = {0};
    outq_push_bytes(&q, "abc", 3);
    ck_assert_int_eq(outq_write(&q, sv[0]), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_uint_eq(q.bytes, 3);
    outq_clear(&q);
    close(sv[0]);
}
END_TEST

static Suite *outq_suite(void)
{
    Suite *s = suite_create("outq");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_push_takes_a_reference);
    tcase_add_test(tc, test_write_gathers_in_order);
    tcase_add_test(tc, test_partial_writes_resume);
    tcase_add_test(tc, test_ring_wraps_and_grows);
    tcase_add_test(tc, test_many_small_frames);
    tcase_add_test(tc, test_write_error_keeps_the_queue);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(outq_suite)
