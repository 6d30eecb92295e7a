#ifndef OC_ORIGIN_H
#define OC_ORIGIN_H

/*
 * The Origin policy of the WebSocket handshake: which words allowed_origins may hold, and
 * whether a browser's Origin header matches them. Pure: no I/O.
 */

/* True when s is an allowed_origins word: "*", or an origin as browsers send it,
 * scheme://host[:port] with host a name or [IPv6], no path, no trailing slash. */
int origin_valid(const char *s);

/*
 * True when origin is allowed by allowed (a NULL-terminated list of origin_valid() words; a
 * "*" among them allows every origin). Scheme and host compare without case, the port
 * exactly. A NULL origin (no Origin header, e.g. a native client) is always allowed; a NULL
 * list allows only that.
 */
int origin_allowed(char *const *allowed, const char *origin);

#endif
