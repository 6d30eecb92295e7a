#include "resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"

/*
 * What the thread and the loop share. The thread fills addr and error, then closes its end
 * of the socket pair, which makes the loop's end readable (end of file). Whichever of the
 * two lets go last frees it.
 */
struct lookup {
    atomic_int refs;
    atomic_int done; /* addr and error are filled */
    char *host;
    int wfd;
    char addr[INET6_ADDRSTRLEN];
    char error[128];
};

struct resolve {
    struct lookup *lk;
    struct event *ev;
    int rfd;
    resolve_fn cb;
    void *arg;
};

static void lookup_unref(struct lookup *lk)
{
    if (atomic_fetch_sub(&lk->refs, 1) != 1)
        return;
    free(lk->host);
    free(lk);
}

static void *lookup_run(void *arg)
{
    struct lookup *lk = arg;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(lk->host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(lk->error, sizeof(lk->error), "%s",
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    } else {
        /* IPv4 first, as hiredis itself does: a Redis bound to 127.0.0.1 is not at ::1. */
        const struct addrinfo *pick = NULL;
        for (const struct addrinfo *ai = res; ai && !pick; ai = ai->ai_next)
            if (ai->ai_family == AF_INET)
                pick = ai;
        for (const struct addrinfo *ai = res; ai && !pick; ai = ai->ai_next)
            if (ai->ai_family == AF_INET6)
                pick = ai;
        const void *a = NULL;
        if (pick && pick->ai_family == AF_INET)
            a = &((const struct sockaddr_in *)pick->ai_addr)->sin_addr;
        else if (pick)
            a = &((const struct sockaddr_in6 *)pick->ai_addr)->sin6_addr;
        if (!a || !inet_ntop(pick->ai_family, a, lk->addr, sizeof(lk->addr))) {
            lk->addr[0] = '\0';
            snprintf(lk->error, sizeof(lk->error), "no IPv4 or IPv6 address");
        }
        freeaddrinfo(res);
    }
    atomic_store_explicit(&lk->done, 1, memory_order_release);
    close(lk->wfd);
    lookup_unref(lk);
    return NULL;
}

static void resolve_free(struct resolve *r)
{
    event_free(r->ev);
    close(r->rfd);
    lookup_unref(r->lk);
    free(r);
}

static void on_answer(evutil_socket_t fd, short what, void *arg)
{
    struct resolve *r = arg;
    char byte;
    if (read(fd, &byte, 1) < 0 && (errno == EAGAIN || errno == EINTR))
        return; /* woken for nothing: the event is persistent, wait on */
    struct lookup *lk = r->lk;
    char addr[INET6_ADDRSTRLEN], error[sizeof(lk->error)];
    if (atomic_load_explicit(&lk->done, memory_order_acquire)) {
        memcpy(addr, lk->addr, sizeof(addr));
        memcpy(error, lk->error, sizeof(error));
    } else {
        /* The socket ended without an answer: cannot happen, but never hang on it. */
        addr[0] = '\0';
        snprintf(error, sizeof(error), "the lookup ended without an answer");
    }
    resolve_fn cb = r->cb;
    void *cb_arg = r->arg;
    resolve_free(r);
    cb(addr[0] ? addr : NULL, addr[0] ? NULL : error, cb_arg);
}

struct resolve *resolve_start(struct event_base *base, const char *host, resolve_fn cb, void *arg)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0)
        return NULL;
    struct lookup *lk = oc_calloc(1, sizeof(*lk));
    atomic_init(&lk->refs, 2);
    atomic_init(&lk->done, 0);
    lk->host = oc_strdup(host);
    lk->wfd = fds[1];
    struct resolve *r = oc_calloc(1, sizeof(*r));
    r->lk = lk;
    r->rfd = fds[0];
    r->cb = cb;
    r->arg = arg;
    r->ev = event_new(base, r->rfd, EV_READ | EV_PERSIST, on_answer, r);
    if (!r->ev || event_add(r->ev, NULL) != 0)
        goto fail;

    /* The thread takes no signal: they stay with the threads that handle them. */
    pthread_attr_t attr;
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, lookup_run, lk);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc == 0)
        return r;
fail:
    if (r->ev)
        event_free(r->ev);
    close(fds[0]);
    close(fds[1]);
    free(lk->host);
    free(lk);
    free(r);
    return NULL;
}

void resolve_cancel(struct resolve *r)
{
    if (r)
        resolve_free(r);
}

int resolve_is_numeric(const char *host)
{
    unsigned char a[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}
