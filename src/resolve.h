#ifndef OC_RESOLVE_H
#define OC_RESOLVE_H

#include <event2/event.h>

/*
 * Looks a host name up without blocking the event loop. getaddrinfo() blocks for as long as
 * the resolver takes: seconds, or tens of seconds when a nameserver does not answer (a
 * container's DNS while the container is restarted, a resolver that is down). On the loop
 * that would freeze every client of the process, its /healthz included. So the lookup runs
 * in a thread of its own, with the system's resolver (resolv.conf, /etc/hosts, nsswitch:
 * what every other program on the machine sees), and its answer comes back on the loop.
 *
 * The thread touches nothing but its own lookup: cancelling, or the process exiting, never
 * waits for it.
 */
struct resolve;

/* The answer, on the loop: addr is the first IPv4 address of host as text, else its first
 * IPv6 address, and NULL when the lookup failed; error then says why (getaddrinfo's text). */
typedef void (*resolve_fn)(const char *addr, const char *error, void *arg);

/* Starts looking host up. cb runs once, later, on base's loop, never inside this call.
 * Returns NULL when no thread could be started (cb is then never called). */
struct resolve *resolve_start(struct event_base *base, const char *host, resolve_fn cb, void *arg);

/* Forgets a lookup that has not answered: cb will not be called. */
void resolve_cancel(struct resolve *r);

/* 1 when host is an IPv4 or IPv6 address as text, which needs no lookup. */
int resolve_is_numeric(const char *host);

#endif
