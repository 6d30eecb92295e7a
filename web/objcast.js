/*
 * objcast.js: the browser bridge between plugin iframes and objcast.
 *
 * A host page (the virtual space) embeds one iframe per plugin object. Each plugin talks to
 * its parent with postMessage, using only the custom-plugin messages of the seed document
 * (ovice_get_participants, ovice_broadcast_message, ovice_emit_message, ovice_get_data,
 * ovice_save_and_emit_data). This file turns those messages into objcast traffic on one
 * WebSocket per page, and the server's messages back into postMessage calls into the right
 * iframe.
 *
 * Loading (no build step, no dependency):
 *   <script src="https://objcast.example.com/objcast.js"></script>   -> globalThis.objcast
 *   import objcast, { connect } from 'https://objcast.example.com/objcast.mjs';
 * objcast.mjs imports this file for its side effect and re-exports globalThis.objcast, so the
 * code exists once; this file is written to run both as a classic script and as a module.
 *
 * Usage:
 *   const client = objcast.connect({ url: 'wss://objcast.example.com/ws', token: fetchToken });
 *   client.attach(iframe, { objectId: 'L124', objectType: 'static',
 *                           pluginOrigin: 'https://plugin.example.net' });
 *   client.subscribe('L124');   // the user came in range
 *   client.join('L124');        // the user linked to the object
 *   client.on('presence', (e) => console.log(e.objectId, e.status, e.participant));
 *
 * After a reconnection the bridge resumes every object where its last message left off
 * (protocol section 10): the plugin receives what was sent meanwhile, once and in order.
 *
 * See docs/plugins.md for the full guide.
 */
(function (root) {
    'use strict';

    var VERSION = '1';
    if (root.objcast && root.objcast.version === VERSION && typeof root.objcast.connect === 'function') {
        return; // loaded twice (as a script and as a module): one copy is enough
    }

    /** The messages a plugin may send; anything else from an iframe is dropped. */
    var PLUGIN_TYPES = Object.freeze([
        'ovice_get_participants',
        'ovice_broadcast_message',
        'ovice_emit_message',
        'ovice_get_data',
        'ovice_save_and_emit_data',
    ]);
    /** Plugin requests the server answers with a reply carrying the request's ref. */
    var REPLY_OF = {
        ovice_get_participants: 'ovice_participants',
        ovice_get_data: 'ovice_saved_data',
        ovice_save_and_emit_data: 'ovice_data_saved_success',
    };
    /** Plugin requests whose seed payload has an objectId the bridge overwrites. */
    var PAYLOAD_OBJECT_ID = { ovice_broadcast_message: true, ovice_emit_message: true };
    /** objcast extensions a plugin may add at the top level (docs/protocol.md section 5). */
    var PLUGIN_EXTRA_FIELDS = ['echo', 'merge', 'ifVersion'];
    var PRESENCE_STATUS = {
        ovice_participant_subscribed: 'subscribed',
        ovice_participant_joined: 'joined',
        ovice_participant_left: 'left',
        ovice_participant_unsubscribed: 'unsubscribed',
    };
    /** Errors worth sending again later (the server did nothing). */
    var RETRY_CODES = { unavailable: true, rate_limited: true };

    /**
     * @typedef {Object} BackoffOptions
     * @property {number} [initial=250]  first delay in ms
     * @property {number} [max=5000]     cap in ms
     * @property {number} [factor=2]     growth per failed attempt
     * @property {number} [jitter=0.5]   fraction of the delay drawn at random (0 = none)
     */

    /**
     * @typedef {Object} ConnectOptions
     * @property {string} url  the objcast WebSocket URL, e.g. "wss://objcast.example.com/ws"
     * @property {string|function(): (string|Promise<string>)} token  the connection token
     *   (HS256 JWT from your backend), or a function returning one; a function is called
     *   again on every reconnection, so an expired token can be replaced, and ahead of the
     *   token's exp to refresh the open connection (objcast_refresh), which objcast closes
     *   once its token has expired
     * @property {BackoffOptions} [backoff]  reconnection and retry delays
     * @property {number} [queueLimit=1000]  messages held per object while not connected;
     *   beyond, the oldest are dropped (an "error" event with code "queue_full")
     * @property {number} [connectTimeout=10000]  ms for the socket to open and authenticate
     * @property {typeof WebSocket} [WebSocket]  the WebSocket constructor (default: global)
     */

    /**
     * @typedef {Object} AttachOptions
     * @property {string} objectId  the object this iframe shows
     * @property {string} pluginOrigin  the plugin's origin, e.g. "https://plugin.example.net";
     *   messages from another origin are ignored and messages to the iframe are posted with
     *   this targetOrigin (never "*")
     * @property {"static"|"dynamic"} [objectType]  sent with subscribe and join
     * @property {string|function(): (string|Promise<string>)} [objectToken]  object token,
     *   or a function returning one (called on every subscribe/join sent)
     */

    /**
     * @typedef {Object} Participant  a participant as the seed document defines it
     * @property {string|number} id
     * @property {string} name
     * @property {string} objectId
     * @property {"static"|"dynamic"} objectType
     * @property {string} avatarUrl
     * @property {string|number} workspaceId
     * @property {string} [language]
     * @property {"subscribed"|"joined"|"left"} [status]  only in ovice_participants
     * @property {boolean} isHost
     * @property {boolean} isSelf
     * @property {boolean} isVisitor
     * @property {string} [email]  only about oneself
     */

    /**
     * @typedef {Object} PresenceEvent
     * @property {string} objectId
     * @property {string} type  "ovice_participant_subscribed" ... "_unsubscribed"
     * @property {"subscribed"|"joined"|"left"|"unsubscribed"} status
     * @property {Participant} participant
     * @property {boolean} isSelf
     * @property {boolean} [recovered]  on the own event after a reconnection: true when
     *   objcast replays what was missed (it follows), false when it could not (read again)
     */

    /**
     * @typedef {Object} BridgeError
     * @property {string} code  a server code (docs/protocol.md section 7) or a bridge code:
     *   "unauthorized" (the connection token was refused; with request "objcast_refresh":
     *   a refresh was refused), "token" (the token function failed), "queue_full", "not_json"
     * @property {string} message
     * @property {string} [objectId]
     * @property {string} [request]  the type of the request that failed
     * @property {boolean} [fromPlugin]  the request came from the plugin iframe
     * @property {boolean} [retrying]  the bridge will send the request again
     */

    /**
     * @typedef {"connecting"|"open"|"reconnecting"|"closed"} ConnectionState
     */

    /**
     * Events of a Client (client.on(name, fn)):
     *   "state"     {state: ConnectionState, attempt: number, delay?: number, code?: number}
     *   "ready"     the objcast_ready payload {userId, instance, session, limits}, on every
     *               (re)connection
     *   "refreshed" {exp}: the open connection now lives until exp (unix seconds)
     *   "presence"  PresenceEvent, for every presence event on any object
     *   "message"   every server message, parsed, before routing (for logs and debugging)
     *   "error"     BridgeError
     *   "rejected"  {reason, origin, data}: a postMessage the bridge ignored
     *   "posted"    {objectId, targetOrigin, message}: a message the bridge posted into an
     *               iframe (after the post: changing it changes nothing the plugin gets).
     *               The browser delivers it only if the iframe's document is at targetOrigin
     */

    function noop() {}

    /** A refresh goes out at 80 % of the token's life or 60 s before its exp, whichever comes
     * first, but never before half of its life (a 30 s token would otherwise refresh in a
     * loop). */
    var REFRESH_SHARE = 0.8;
    var REFRESH_AHEAD_MS = 60000;
    var REFRESH_MIN_SHARE = 0.5;

    /**
     * The claims of a JWT, read without verification (the bridge only schedules by them;
     * objcast verifies), or null when token is not a JWT.
     */
    function jwtClaims(token) {
        var part = typeof token === 'string' ? token.split('.')[1] : null;
        if (!part || typeof atob !== 'function') return null;
        try {
            var b64 = part.replace(/-/g, '+').replace(/_/g, '/');
            while (b64.length % 4) b64 += '=';
            var bin = atob(b64);
            var bytes = new Uint8Array(bin.length);
            for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
            var claims = JSON.parse(new TextDecoder().decode(bytes));
            return isPlainObject(claims) ? claims : null;
        } catch (e) {
            return null;
        }
    }

    /**
     * When (Date.now() based ms) a token with these claims should be refreshed, or null when it
     * has no usable exp. Its life is counted from now, or from its iat when that is later than
     * our clock thinks (a page whose clock runs behind still refreshes in time).
     */
    function refreshAt(claims, now) {
        if (!claims || typeof claims.exp !== 'number') return null;
        var left = claims.exp * 1000 - now;
        if (typeof claims.iat === 'number') left = Math.min(left, (claims.exp - claims.iat) * 1000);
        if (!(left > 0)) return null;
        var delay = Math.min(left * REFRESH_SHARE, left - REFRESH_AHEAD_MS);
        return now + Math.max(delay, left * REFRESH_MIN_SHARE);
    }

    /** @param {BackoffOptions} [o] */
    function makeBackoff(o) {
        o = o || {};
        var initial = o.initial > 0 ? o.initial : 250;
        var max = o.max > 0 ? o.max : 5000;
        var factor = o.factor > 1 ? o.factor : 2;
        var jitter = typeof o.jitter === 'number' && o.jitter >= 0 && o.jitter <= 1 ? o.jitter : 0.5;
        /** The delay for failed attempt n (0-based), jittered downwards. */
        return function (n) {
            var d = Math.min(max, initial * Math.pow(factor, Math.min(n, 30)));
            return Math.round(d * (1 - jitter * Math.random()));
        };
    }

    function normalizeOrigin(o) {
        if (typeof o !== 'string' || o === '*' || o === 'null') {
            throw new TypeError('objcast: pluginOrigin must be an origin such as "https://plugin.example.net"');
        }
        var u;
        try {
            u = new URL(o);
        } catch (e) {
            throw new TypeError('objcast: pluginOrigin is not a URL: ' + o);
        }
        if (u.origin === 'null') throw new TypeError('objcast: pluginOrigin has no origin: ' + o);
        return u.origin;
    }

    function isPlainObject(v) {
        return v !== null && typeof v === 'object' && !Array.isArray(v);
    }

    /** Whether m carries a place in its object's order (top-level epoch and offset). */
    function hasPosition(m) {
        return typeof m.epoch === 'string' && typeof m.offset === 'number' && m.offset >= 0 && Math.floor(m.offset) === m.offset;
    }

    function resolveValue(v) {
        try {
            return Promise.resolve(typeof v === 'function' ? v() : v);
        } catch (e) {
            return Promise.reject(e);
        }
    }

    /**
     * One connection to objcast, shared by every plugin iframe of the page.
     * @param {ConnectOptions} opts
     */
    function Client(opts) {
        if (!opts || typeof opts.url !== 'string') throw new TypeError('objcast.connect: url is required');
        if (typeof opts.token !== 'string' && typeof opts.token !== 'function') {
            throw new TypeError('objcast.connect: token (a string or a function) is required');
        }
        this._opts = opts;
        this._WS = opts.WebSocket || root.WebSocket;
        this._delay = makeBackoff(opts.backoff);
        this._queueLimit = opts.queueLimit > 0 ? opts.queueLimit : 1000;
        this._connectTimeout = opts.connectTimeout > 0 ? opts.connectTimeout : 10000;
        /** @type {Map<string, any>} objectId -> object record */
        this._objects = new Map();
        /** @type {Map<string|number, any>} ref -> request in flight on this connection */
        this._pending = new Map();
        this._listeners = {};
        this._ws = null;
        this._ready = false;
        this._attempt = 0;
        this._timer = null;
        this._seq = 0;
        this._ref = 0;
        this._closed = false;
        this._refreshTimer = null;
        this._refreshRef = null; // ref of the objcast_refresh on the wire
        this._refreshFails = 0;
        this._refreshToken = null; // the token of that objcast_refresh
        this._tokenClaims = null; // claims of the token the connection lives by
        this._sessionId = null; // objcast_ready.payload.session of this connection
        /** @type {ConnectionState} */
        this.state = 'connecting';
        /** The last objcast_ready payload: {userId, instance, session, limits}, or null. */
        this.session = null;

        var self = this;
        this._onWindowMessage = function (ev) {
            self._fromWindow(ev);
        };
        this._onOnline = function () {
            if (self.state === 'reconnecting' && !self._ws) self._open();
        };
        if (root.addEventListener) {
            root.addEventListener('message', this._onWindowMessage);
            root.addEventListener('online', this._onOnline);
        }
        this._sweep = setInterval(function () {
            self._sweepPending();
        }, 10000);
        this._open();
    }

    // ---------------------------------------------------------------------------------
    // Events

    /**
     * Listens to an event; returns a function that removes the listener.
     * @param {"state"|"ready"|"refreshed"|"presence"|"message"|"error"|"rejected"|"posted"} name
     * @param {function(any): void} fn
     * @returns {function(): void}
     */
    Client.prototype.on = function (name, fn) {
        (this._listeners[name] = this._listeners[name] || []).push(fn);
        var self = this;
        return function () {
            self.off(name, fn);
        };
    };

    /** Removes a listener added with on(). */
    Client.prototype.off = function (name, fn) {
        var l = this._listeners[name];
        if (!l) return;
        var i = l.indexOf(fn);
        if (i >= 0) l.splice(i, 1);
    };

    Client.prototype._emit = function (name, arg) {
        var l = (this._listeners[name] || []).slice();
        for (var i = 0; i < l.length; i++) {
            try {
                l[i](arg);
            } catch (e) {
                setTimeout(function () {
                    throw e;
                }, 0);
            }
        }
    };

    Client.prototype._error = function (err) {
        this._emit('error', err);
    };

    // ---------------------------------------------------------------------------------
    // Objects and iframes

    Client.prototype._record = function (objectId) {
        if (typeof objectId !== 'string' || !objectId) throw new TypeError('objcast: objectId must be a non-empty string');
        var rec = this._objects.get(objectId);
        if (!rec) {
            rec = {
                objectId: objectId,
                objectType: undefined,
                objectToken: undefined,
                iframe: null,
                pluginOrigin: null,
                desired: 'none', // what the host asked: none, subscribed, joined, left
                onServer: false, // a subscribe/join was sent on this connection, no unsubscribe since
                live: false, // the server confirmed this connection is on the object
                queue: [], // requests waiting to be sent, in seq order
                holdUntil: 0, // after a retryable error: send nothing before this time
                holdCode: null, // the error code that caused the hold
                presenceRetry: false, // a presence command is due when the hold ends
                retries: 0, // failed attempts in a row (backoff)
                retryTimer: null,
                presenceFailed: null, // a presence command failed for good: stop waiting for it
                // Recovery (protocol section 10). pos: where a later connection resumes,
                // {epoch, offset, session}: session got every message of the object meant for
                // it up to offset of epoch (null: unknown, nothing to resume from).
                pos: null,
                sinceSent: false, // a subscribe/join with since went out on this connection
                // {epoch, offset} after an own event with recovered: true: the replay of the
                // offsets up to there is arriving; plugin requests wait until it is over.
                seam: null,
            };
            this._objects.set(objectId, rec);
        }
        return rec;
    };

    /**
     * Routes an iframe's messages to objcast and objcast's messages about objectId to the
     * iframe. Call it before the iframe loads (right after creating the element). Attaching
     * another iframe to the same objectId replaces the first; presence is kept.
     * @param {HTMLIFrameElement} iframe
     * @param {AttachOptions} o
     * @returns {{objectId: string, detach: function(): void}}
     */
    Client.prototype.attach = function (iframe, o) {
        if (!iframe || typeof iframe !== 'object') throw new TypeError('objcast.attach: an iframe element is required');
        if (!o) throw new TypeError('objcast.attach: options are required');
        var origin = normalizeOrigin(o.pluginOrigin);
        var rec = this._record(o.objectId);
        this._objects.forEach(function (other) {
            if (other !== rec && other.iframe === iframe) {
                throw new Error('objcast.attach: this iframe is already attached to object ' + other.objectId);
            }
        });
        if (o.objectType !== undefined && o.objectType !== 'static' && o.objectType !== 'dynamic') {
            throw new TypeError('objcast.attach: objectType must be "static" or "dynamic"');
        }
        rec.iframe = iframe;
        rec.pluginOrigin = origin;
        if (o.objectType !== undefined) rec.objectType = o.objectType;
        if (o.objectToken !== undefined) rec.objectToken = o.objectToken;
        var self = this;
        return {
            objectId: rec.objectId,
            detach: function () {
                if (self._objects.get(rec.objectId) === rec && rec.iframe === iframe) self.detach(rec.objectId);
            },
        };
    };

    /**
     * Stops routing the object's iframe, unsubscribes from the object if on it, and forgets
     * the object (its queued plugin messages are dropped).
     * @param {string|HTMLIFrameElement} objectIdOrIframe
     */
    Client.prototype.detach = function (objectIdOrIframe) {
        var rec = null;
        if (typeof objectIdOrIframe === 'string') {
            rec = this._objects.get(objectIdOrIframe) || null;
        } else {
            this._objects.forEach(function (r) {
                if (r.iframe === objectIdOrIframe) rec = r;
            });
        }
        if (!rec) return;
        if (rec.retryTimer) clearTimeout(rec.retryTimer);
        rec.retryTimer = null;
        rec.holdUntil = 0; // the unsubscribe goes out now, whatever was waiting
        if (rec.desired !== 'none' || rec.onServer) {
            rec.desired = 'none';
            this._syncPresence(rec);
        }
        rec.iframe = null;
        rec.queue = [];
        this._objects.delete(rec.objectId);
    };

    /**
     * Sets object fields used by subscribe and join for an object that has no iframe
     * (presence only), or changes them for an attached one.
     * @param {string} objectId
     * @param {{objectType?: "static"|"dynamic", objectToken?: string|function(): (string|Promise<string>)}} o
     */
    Client.prototype.configure = function (objectId, o) {
        if (o && o.objectType !== undefined && o.objectType !== 'static' && o.objectType !== 'dynamic') {
            throw new TypeError('objcast.configure: objectType must be "static" or "dynamic"');
        }
        var rec = this._record(objectId);
        if (o && o.objectType !== undefined) rec.objectType = o.objectType;
        if (o && o.objectToken !== undefined) rec.objectToken = o.objectToken;
    };

    /**
     * The user came within range of the object (none -> subscribed). No effect when already on it.
     * @param {string} objectId
     */
    Client.prototype.subscribe = function (objectId) {
        var rec = this._record(objectId);
        if (rec.desired !== 'none') return;
        rec.desired = 'subscribed';
        this._syncPresence(rec);
    };

    /**
     * The user linked to the object (-> joined).
     * @param {string} objectId
     */
    Client.prototype.join = function (objectId) {
        var rec = this._record(objectId);
        if (rec.desired === 'joined') return;
        rec.desired = 'joined';
        this._syncPresence(rec);
    };

    /**
     * The user unlinked but stays in range (joined -> left). No effect unless joined.
     * @param {string} objectId
     */
    Client.prototype.leave = function (objectId) {
        var rec = this._record(objectId);
        if (rec.desired !== 'joined') return;
        rec.desired = 'left';
        this._syncPresence(rec);
    };

    /**
     * The user went out of range (-> none).
     * @param {string} objectId
     */
    Client.prototype.unsubscribe = function (objectId) {
        var rec = this._objects.get(objectId);
        if (!rec || (rec.desired === 'none' && !rec.onServer)) return;
        rec.desired = 'none';
        // What is sent while the user is away is not theirs to receive on a later subscribe.
        rec.pos = rec.seam = null;
        this._syncPresence(rec);
    };

    /**
     * What the host asked for the object: "none", "subscribed", "joined" or "left".
     * @param {string} objectId
     * @returns {"none"|"subscribed"|"joined"|"left"}
     */
    Client.prototype.presence = function (objectId) {
        var rec = this._objects.get(objectId);
        return rec ? rec.desired : 'none';
    };

    /**
     * Sends an ovice_* request for the host page itself (not for an iframe). Resolves with
     * the reply message for requests that have one, else once the request is sent; rejects
     * with a BridgeError on an objcast_error. Queued like plugin messages.
     * @param {string} objectId
     * @param {string} type  one of the plugin message types
     * @param {any} [payload]
     * @param {{echo?: boolean, merge?: boolean, ifVersion?: number}} [extra]
     * @returns {Promise<any>}
     */
    Client.prototype.request = function (objectId, type, payload, extra) {
        if (PLUGIN_TYPES.indexOf(type) < 0) return Promise.reject(new TypeError('objcast.request: unknown type ' + type));
        var rec = this._record(objectId);
        var msg = { type: type, objectId: objectId };
        if (extra) {
            for (var i = 0; i < PLUGIN_EXTRA_FIELDS.length; i++) {
                if (extra[PLUGIN_EXTRA_FIELDS[i]] !== undefined) msg[PLUGIN_EXTRA_FIELDS[i]] = extra[PLUGIN_EXTRA_FIELDS[i]];
            }
        }
        if (payload !== undefined) msg.payload = payload;
        var self = this;
        return new Promise(function (resolve, reject) {
            self._enqueue(rec, { msg: msg, fromPlugin: false, resolve: resolve, reject: reject });
        });
    };

    /**
     * The object's participants (ovice_participants payload), as the host page's user sees them.
     * @param {string} objectId
     * @returns {Promise<Participant[]>}
     */
    Client.prototype.getParticipants = function (objectId) {
        return this.request(objectId, 'ovice_get_participants').then(function (m) {
            return m.payload;
        });
    };

    /** Closes the connection for good and stops listening to the iframes. */
    Client.prototype.close = function () {
        if (this._closed) return;
        this._closed = true;
        clearTimeout(this._timer);
        this._stopRefresh();
        clearInterval(this._sweep);
        if (root.removeEventListener) {
            root.removeEventListener('message', this._onWindowMessage);
            root.removeEventListener('online', this._onOnline);
        }
        this._objects.forEach(function (rec) {
            if (rec.retryTimer) clearTimeout(rec.retryTimer);
        });
        if (this._ws) {
            var ws = this._ws;
            this._ws = null;
            ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
            try {
                ws.close(1000, 'client closed');
            } catch (e) {
                /* already closing */
            }
        }
        this._failPending({ code: 'closed', message: 'the client was closed' });
        this._setState('closed', {});
    };

    // ---------------------------------------------------------------------------------
    // Plugin side: window "message" events

    Client.prototype._fromWindow = function (ev) {
        var rec = null;
        var src = ev.source;
        if (src) {
            this._objects.forEach(function (r) {
                if (r.iframe && r.iframe.contentWindow === src) rec = r;
            });
        }
        if (!rec) {
            // Not from an attached iframe: the page's own messages, other frames, extensions.
            if (ev.data && typeof ev.data === 'object' && typeof ev.data.type === 'string' &&
                (ev.data.type.indexOf('ovice_') === 0 || ev.data.type.indexOf('objcast_') === 0)) {
                this._emit('rejected', { reason: 'not from an attached iframe', origin: ev.origin, data: ev.data });
            }
            return;
        }
        if (ev.origin !== rec.pluginOrigin) {
            // The iframe navigated away to another origin: no longer trusted.
            this._emit('rejected', { reason: 'origin is not the pluginOrigin', objectId: rec.objectId, origin: ev.origin, data: ev.data });
            return;
        }
        var data = ev.data;
        if (!isPlainObject(data) || PLUGIN_TYPES.indexOf(data.type) < 0) {
            this._emit('rejected', { reason: 'not a plugin message', objectId: rec.objectId, origin: ev.origin, data: data });
            return;
        }
        var msg = { type: data.type, objectId: rec.objectId };
        for (var i = 0; i < PLUGIN_EXTRA_FIELDS.length; i++) {
            var k = PLUGIN_EXTRA_FIELDS[i];
            if (data[k] !== undefined) msg[k] = data[k];
        }
        if (data.payload !== undefined) {
            var payload = data.payload;
            if (PAYLOAD_OBJECT_ID[data.type] && isPlainObject(payload)) {
                // The attached object wins over whatever the plugin wrote.
                var copy = {};
                for (var key in payload) {
                    if (Object.prototype.hasOwnProperty.call(payload, key)) copy[key] = payload[key];
                }
                copy.objectId = rec.objectId;
                payload = copy;
            }
            msg.payload = payload;
        }
        var entry = { msg: msg, fromPlugin: true };
        if (typeof data.ref === 'string' || (typeof data.ref === 'number' && isFinite(data.ref))) entry.pluginRef = data.ref;
        this._enqueue(rec, entry);
    };

    /**
     * Posts msg into the object's iframe, to its pluginOrigin only, and reports it ("posted"):
     * what a plugin is told is otherwise out of the host page's sight (a postMessage into a
     * frame fires nothing on the page), and an author debugging a plugin needs both sides.
     */
    Client.prototype._toIframe = function (rec, msg) {
        var w = rec.iframe && rec.iframe.contentWindow;
        if (!w) return;
        try {
            w.postMessage(msg, rec.pluginOrigin);
        } catch (e) {
            return; // the iframe is gone
        }
        this._emit('posted', { objectId: rec.objectId, targetOrigin: rec.pluginOrigin, message: msg });
    };

    // ---------------------------------------------------------------------------------
    // Queues

    Client.prototype._enqueue = function (rec, entry) {
        entry.seq = ++this._seq;
        entry.objectId = rec.objectId;
        entry.expectsReply = !!REPLY_OF[entry.msg.type];
        if (rec.queue.length >= this._queueLimit) {
            var dropped = rec.queue.shift();
            this._fail(dropped, { code: 'queue_full', message: 'too many messages waiting for the connection', objectId: rec.objectId });
        }
        rec.queue.push(entry);
        this._pump(rec);
    };

    /** Puts a request back into its object's queue, in its original order. */
    Client.prototype._requeue = function (rec, entry) {
        var q = rec.queue;
        var i = q.length;
        while (i > 0 && q[i - 1].seq > entry.seq) i--;
        q.splice(i, 0, entry);
    };

    Client.prototype._canSend = function (rec) {
        if (!this._ready || !this._ws) return false;
        if (Date.now() < rec.holdUntil) return false;
        // Wait until the server has put this connection on the object and replayed what it
        // missed, unless the host does not want it there (the server then answers
        // not_subscribed, as it should).
        return rec.desired === 'none' || (rec.live && !rec.seam) || !!rec.presenceFailed;
    };

    /** Sends what the object's queue holds, if it may. */
    Client.prototype._pump = function (rec) {
        while (rec.queue.length && this._canSend(rec)) {
            var entry = rec.queue.shift();
            this._send(entry);
        }
    };

    Client.prototype._pumpAll = function () {
        var self = this;
        this._objects.forEach(function (rec) {
            self._pump(rec);
        });
    };

    /** Sends a request with a fresh ref and remembers it until its reply (or error). */
    Client.prototype._send = function (entry) {
        var ref = ++this._ref;
        var text;
        entry.msg.ref = ref;
        try {
            text = JSON.stringify(entry.msg);
        } catch (e) {
            delete entry.msg.ref;
            this._fail(entry, { code: 'not_json', message: 'the message cannot be written as JSON', objectId: entry.objectId });
            return;
        }
        entry.ref = ref;
        entry.sentAt = Date.now();
        this._pending.set(ref, entry);
        this._ws.send(text);
        if (!entry.expectsReply && !entry.presence && entry.resolve) {
            entry.resolve(undefined);
            entry.resolve = entry.reject = null;
        }
    };

    /** A request failed for good: tell whoever sent it. */
    Client.prototype._fail = function (entry, err) {
        err.request = entry.msg.type;
        err.fromPlugin = !!entry.fromPlugin;
        if (entry.fromPlugin) {
            var rec = this._objects.get(entry.objectId);
            if (rec) {
                var m = { type: 'objcast_error', objectId: entry.objectId, payload: { code: err.code, message: err.message } };
                if (entry.pluginRef !== undefined) m.ref = entry.pluginRef;
                this._toIframe(rec, m);
            }
        } else if (entry.reject) {
            var e = new Error(err.message);
            e.code = err.code;
            e.objectId = err.objectId;
            entry.reject(e);
            entry.resolve = entry.reject = null;
        }
        this._error(err);
    };

    /** Drops requests that will never be answered (no reply on success, sent long ago). */
    Client.prototype._sweepPending = function () {
        var now = Date.now();
        var self = this;
        this._pending.forEach(function (entry, ref) {
            if (!entry.expectsReply && now - entry.sentAt > 30000) self._pending.delete(ref);
        });
    };

    /** The connection dropped: what was in flight and expects a reply is sent again later. */
    Client.prototype._requeueInFlight = function () {
        var self = this;
        this._pending.forEach(function (entry) {
            if (!entry.expectsReply || entry.presence || entry.fence) return;
            var rec = self._objects.get(entry.objectId);
            if (!rec) return;
            delete entry.msg.ref;
            self._requeue(rec, entry);
        });
        this._pending.clear();
    };

    Client.prototype._failPending = function (err) {
        var self = this;
        this._pending.forEach(function (entry) {
            if (entry.reject) self._fail(entry, { code: err.code, message: err.message, objectId: entry.objectId });
        });
        this._pending.clear();
        this._objects.forEach(function (rec) {
            rec.queue.forEach(function (entry) {
                if (entry.reject) self._fail(entry, { code: err.code, message: err.message, objectId: entry.objectId });
            });
            rec.queue = [];
        });
    };

    // ---------------------------------------------------------------------------------
    // Presence

    /** Sends the command that brings this connection to rec.desired. */
    Client.prototype._syncPresence = function (rec) {
        if (!this._ready || !this._ws) return; // done after (re)authentication
        if (Date.now() < rec.holdUntil) {
            rec.presenceRetry = true; // sent when the hold ends
            return;
        }
        rec.presenceFailed = null;
        var type;
        if (rec.desired === 'none') {
            if (!rec.onServer) return;
            type = 'objcast_unsubscribe';
        } else if (rec.desired === 'joined') {
            type = 'objcast_join';
        } else if (rec.desired === 'left' && rec.onServer) {
            type = 'objcast_leave';
        } else {
            // subscribed, or left on a new connection: the user is in range, not linked.
            // Replaying join + leave would announce a link the user did not make.
            type = 'objcast_subscribe';
        }
        var msg = { type: type, objectId: rec.objectId };
        // The own events name where the object stands (protocol section 10): a later resume
        // starts there even if no message came before the connection dropped.
        if (type === 'objcast_subscribe' || type === 'objcast_join') msg.position = true;
        var entry = { msg: msg, presence: true, objectId: rec.objectId, seq: ++this._seq };
        if (type === 'objcast_unsubscribe') {
            rec.onServer = false;
            this._send(entry);
            this._pump(rec); // queued requests now get not_subscribed from the server
            return;
        }
        if (type === 'objcast_leave') {
            this._send(entry);
            return;
        }
        if (rec.objectType) msg.objectType = rec.objectType;
        rec.onServer = true;
        if (rec.objectToken === undefined) {
            this._sendPresence(rec, entry);
            return;
        }
        // Fetch the object token, then send unless something changed meanwhile.
        var self = this;
        var ws = this._ws;
        var wanted = rec.desired;
        resolveValue(rec.objectToken).then(function (tok) {
            if (self._ws !== ws || !self._ready || rec.desired !== wanted || self._objects.get(rec.objectId) !== rec) return;
            if (tok) msg.objectToken = String(tok);
            self._sendPresence(rec, entry);
        }, function (e) {
            if (self._ws !== ws) return;
            self._error({ code: 'token', message: 'objectToken: ' + (e && e.message ? e.message : String(e)), objectId: rec.objectId, request: type });
            self._retryLater(rec, null);
        });
    };

    /**
     * Sends a subscribe or join. The first one on a connection that is not on the object yet
     * asks objcast to resume where rec.pos left off (since): it replays what was missed.
     */
    Client.prototype._sendPresence = function (rec, entry) {
        var pos = rec.pos;
        if (!rec.live && !rec.sinceSent && pos && typeof pos.session === 'string') {
            entry.msg.since = { epoch: pos.epoch, offset: pos.offset, session: pos.session };
            entry.since = true;
            rec.sinceSent = true;
        }
        this._send(entry);
    };

    // ---------------------------------------------------------------------------------
    // Recovery (protocol section 10). rec.pos names the last place in the object's order up
    // to which a session got everything meant for it. A new connection resumes there; the own
    // presence event that answers tells where the object stands (its epoch and offset) and
    // whether objcast replays what was missed (recovered: true). Offsets up to that point are
    // the replay, counted for the old session; once it is over, the position is the new
    // session's. A resume spanning two sessions could not be told apart (the new session's own
    // broadcasts would come back), hence the wait: the plugin's requests go out only after the
    // replay.

    /** An own presence event with the object's position (epoch, offset). */
    Client.prototype._onOwnPosition = function (rec, m) {
        var pos = rec.pos;
        if (rec.seam) return; // another command's event during the replay: _endReplay settles
        if (m.recovered === true && rec.sinceSent && pos && pos.epoch === m.epoch && m.offset > pos.offset) {
            rec.seam = { epoch: m.epoch, offset: m.offset };
            this._sendFence(rec);
            return;
        }
        // Not resumed (or nothing missed): this connection gets every later message.
        var offset = m.offset;
        if (pos && pos.epoch === m.epoch && pos.session === this._sessionId && pos.offset > offset) offset = pos.offset;
        rec.pos = { epoch: m.epoch, offset: offset, session: this._sessionId };
    };

    /**
     * Asks objcast something right behind a replay. A connection's messages are handled in
     * order, so the answer comes after the whole replay: then it is over, even if it ended on
     * messages this connection does not get (its own, emits to others).
     */
    Client.prototype._sendFence = function (rec) {
        var self = this;
        var seam = rec.seam;
        var entry = { msg: { type: 'ovice_get_participants', objectId: rec.objectId }, fence: true, expectsReply: true,
            objectId: rec.objectId, seq: ++this._seq };
        entry.resolve = function () {
            if (rec.seam !== seam) return; // over already (a live message came first)
            self._endReplay(rec);
            self._pump(rec);
        };
        this._send(entry);
    };

    /** The replay is over: the position is this session's from now on (the caller pumps). */
    Client.prototype._endReplay = function (rec) {
        var seam = rec.seam;
        var pos = rec.pos;
        rec.seam = null;
        var offset = pos && pos.epoch === seam.epoch && pos.offset > seam.offset ? pos.offset : seam.offset;
        rec.pos = { epoch: seam.epoch, offset: offset, session: this._sessionId };
    };

    /**
     * An ovice_message or ovice_shared_data with its epoch and offset: moves rec.pos on. (No
     * message is dropped by its offset: objcast sends none twice, and after a Redis failover
     * that lost writes a few offsets may be given again in the same epoch, to new messages.)
     */
    Client.prototype._advance = function (rec, m) {
        var pos = rec.pos;
        var seam = rec.seam;
        if (seam && seam.epoch === m.epoch && m.offset <= seam.offset) {
            // replayed: what the old session missed
            if (pos && pos.epoch === m.epoch && m.offset > pos.offset) pos.offset = m.offset;
            return;
        }
        if (seam) this._endReplay(rec); // a live message: the replay is over
        pos = rec.pos;
        if (pos && pos.epoch === m.epoch && pos.session === this._sessionId) {
            if (m.offset > pos.offset) pos.offset = m.offset;
        } else {
            rec.pos = { epoch: m.epoch, offset: m.offset, session: this._sessionId }; // a new epoch
        }
    };

    /**
     * Holds the object and tries again later (entry: a request to resend, or null for
     * presence). code is why: "unavailable" holds end early once the server shows that
     * storage is back (_expedite).
     */
    Client.prototype._retryLater = function (rec, entry, code) {
        var delay = this._delay(rec.retries++);
        rec.holdUntil = Date.now() + delay;
        rec.holdCode = code || null;
        if (entry) this._requeue(rec, entry);
        else rec.presenceRetry = true;
        if (rec.retryTimer) clearTimeout(rec.retryTimer);
        var self = this;
        rec.retryTimer = setTimeout(function () {
            self._endHold(rec);
        }, delay);
    };

    Client.prototype._endHold = function (rec) {
        if (rec.retryTimer) clearTimeout(rec.retryTimer);
        rec.retryTimer = null;
        rec.holdUntil = 0;
        rec.holdCode = null;
        if (this._objects.get(rec.objectId) !== rec) return;
        if (rec.presenceRetry) {
            rec.presenceRetry = false;
            this._syncPresence(rec);
        }
        this._pump(rec);
    };

    /** The server answered something that needs storage: retry what waits for it now. */
    Client.prototype._expedite = function () {
        var self = this;
        this._objects.forEach(function (rec) {
            if (rec.retryTimer && rec.holdCode === 'unavailable') self._endHold(rec);
        });
    };

    // ---------------------------------------------------------------------------------
    // Server side

    Client.prototype._setState = function (state, info) {
        if (this.state === state && state !== 'reconnecting') return;
        this.state = state;
        info.state = state;
        info.attempt = this._attempt;
        this._emit('state', info);
    };

    Client.prototype._open = function () {
        if (this._closed) return;
        var self = this;
        clearTimeout(this._timer);
        this._timer = null;
        resolveValue(this._opts.token).then(function (token) {
            if (self._closed || self._ws) return;
            if (typeof token !== 'string' || !token) throw new Error('the token function returned no token');
            self._openSocket(token);
        }).catch(function (e) {
            if (self._closed) return;
            self._error({ code: 'token', message: 'token: ' + (e && e.message ? e.message : String(e)) });
            self._scheduleReconnect({});
        });
    };

    Client.prototype._openSocket = function (token) {
        var self = this;
        var ws;
        try {
            ws = new this._WS(this._opts.url);
        } catch (e) {
            this._error({ code: 'connect', message: 'cannot open ' + this._opts.url + ': ' + e.message });
            this._closed = true;
            this._setState('closed', {});
            return;
        }
        this._ws = ws;
        this._authRef = ++this._ref;
        this._tokenClaims = jwtClaims(token);
        this._timer = setTimeout(function () {
            // Neither open nor authenticated in time: start over.
            if (self._ws === ws && !self._ready) {
                try {
                    ws.close(4001, 'timeout');
                } catch (e) { /* ignore */ }
                self._onClose(ws, { code: 1006, reason: 'connect timeout' });
            }
        }, this._connectTimeout);
        ws.onopen = function () {
            if (self._ws !== ws) return;
            ws.send(JSON.stringify({ type: 'objcast_auth', token: token, ref: self._authRef }));
        };
        ws.onmessage = function (ev) {
            if (self._ws !== ws) return;
            var m;
            try {
                m = JSON.parse(ev.data);
            } catch (e) {
                return;
            }
            if (isPlainObject(m) && typeof m.type === 'string') self._fromServer(m);
        };
        ws.onerror = noop; // a close event follows
        ws.onclose = function (ev) {
            self._onClose(ws, ev);
        };
    };

    Client.prototype._onClose = function (ws, ev) {
        if (this._ws !== ws) return;
        ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
        this._ws = null;
        var wasReady = this._ready;
        this._ready = false;
        clearTimeout(this._timer);
        this._stopRefresh();
        this._requeueInFlight();
        this._objects.forEach(function (rec) {
            rec.onServer = false;
            rec.live = false;
            rec.sinceSent = false;
            rec.seam = null; // a replay cut short: rec.pos is still the old session's
        });
        if (this._closed) return;
        var code = ev && ev.code;
        if (code === 1008 && !wasReady) {
            this._error({ code: 'unauthorized', message: 'the connection token was refused' });
            if (typeof this._opts.token !== 'function') {
                // The same token would be refused again.
                this._closed = true;
                this._failPending({ code: 'unauthorized', message: 'the connection token was refused' });
                this._setState('closed', { code: code });
                return;
            }
        }
        if (wasReady) this._attempt = 0;
        this._scheduleReconnect({ code: code });
    };

    Client.prototype._scheduleReconnect = function (info) {
        var delay = this._delay(this._attempt++);
        info.delay = delay;
        this._setState('reconnecting', info);
        var self = this;
        clearTimeout(this._timer);
        this._timer = setTimeout(function () {
            self._timer = null;
            self._open();
        }, delay);
    };

    Client.prototype._fromServer = function (m) {
        this._emit('message', m);
        if (m.type === 'objcast_ready') {
            this._onReady(m);
            return;
        }
        if (m.type === 'objcast_refreshed') {
            this._onRefreshed(m);
            return;
        }
        if (m.type === 'objcast_error') {
            this._onServerError(m);
            return;
        }
        var rec = typeof m.objectId === 'string' ? this._objects.get(m.objectId) : null;
        if (m.ref !== undefined && m.ref !== null) {
            var entry = this._pending.get(m.ref);
            if (!entry) return; // a reply nobody waits for any more
            this._pending.delete(m.ref);
            if (rec) rec.retries = 0;
            this._expedite();
            if (entry.fromPlugin) {
                if (!rec) return;
                var out = {};
                for (var k in m) {
                    if (Object.prototype.hasOwnProperty.call(m, k)) out[k] = m[k];
                }
                if (entry.pluginRef !== undefined) out.ref = entry.pluginRef;
                else delete out.ref;
                this._toIframe(rec, out);
            } else if (entry.resolve) {
                entry.resolve(m);
                entry.resolve = entry.reject = null;
            }
            return;
        }
        if (!rec) return;
        var status = PRESENCE_STATUS[m.type];
        var held = !!rec.seam;
        if (status) {
            var p = m.payload || {};
            if (status === 'unsubscribed' && p.isSelf === true) {
                rec.live = false;
            } else {
                if (!rec.live) {
                    // Any other event about the object means this connection is on it.
                    rec.live = true;
                    rec.retries = 0;
                }
                if (p.isSelf === true && hasPosition(m)) this._onOwnPosition(rec, m);
            }
            this._expedite();
            var ev = { objectId: rec.objectId, type: m.type, status: status, participant: p, isSelf: p.isSelf === true };
            if (typeof m.recovered === 'boolean') ev.recovered = m.recovered;
            this._emit('presence', ev);
        } else if ((m.type === 'ovice_message' || m.type === 'ovice_shared_data') && hasPosition(m)) {
            this._advance(rec, m);
        }
        if (m.type.indexOf('ovice_') === 0) this._toIframe(rec, m);
        if (status || (held && !rec.seam)) this._pump(rec);
    };

    Client.prototype._onReady = function (m) {
        if (m.ref !== this._authRef || this._ready) return;
        clearTimeout(this._timer);
        this._timer = null;
        this._ready = true;
        this._attempt = 0;
        this.session = m.payload || null;
        this._sessionId = this.session && typeof this.session.session === 'string' ? this.session.session : null;
        this._setState('open', {});
        this._refreshFails = 0;
        this._scheduleRefresh();
        this._emit('ready', this.session);
        var self = this;
        // Restore presence first, then what waited; per-object gating keeps the order.
        this._objects.forEach(function (rec) {
            rec.holdUntil = 0;
            rec.holdCode = null;
            if (rec.retryTimer) {
                clearTimeout(rec.retryTimer);
                rec.retryTimer = null;
            }
            rec.presenceRetry = false;
            if (rec.desired !== 'none') self._syncPresence(rec);
        });
        this._pumpAll();
    };

    Client.prototype._onServerError = function (m) {
        var p = m.payload || {};
        var err = { code: String(p.code || 'internal'), message: String(p.message || '') };
        if (typeof m.objectId === 'string') err.objectId = m.objectId;
        if (m.ref !== undefined && m.ref === this._authRef && !this._ready) {
            return; // the close (1008) that follows is reported
        }
        if (m.ref !== undefined && m.ref !== null && m.ref === this._refreshRef) {
            // The old token stays in force: try again while there is time.
            this._refreshRef = null;
            err.request = 'objcast_refresh';
            err.retrying = this._retryRefresh();
            this._error(err);
            return;
        }
        var entry = m.ref !== undefined && m.ref !== null ? this._pending.get(m.ref) : null;
        if (!entry) {
            this._error(err);
            return;
        }
        this._pending.delete(m.ref);
        if (entry.fence) {
            entry.resolve(); // an answer all the same: the replay before it is over
            return;
        }
        var rec = this._objects.get(entry.objectId);
        if (rec && entry.since) rec.sinceSent = false; // nothing was done: resume with the next one
        if (RETRY_CODES[err.code] && rec) {
            err.retrying = true;
            err.request = entry.msg.type;
            err.fromPlugin = !!entry.fromPlugin;
            this._error(err);
            if (entry.presence) {
                this._retryLater(rec, null, err.code);
            } else {
                delete entry.msg.ref;
                this._retryLater(rec, entry, err.code);
            }
            return;
        }
        if (entry.presence) {
            // e.g. an object token refused: the connection is not on the object. Stop
            // holding the plugin's requests back; the server will answer them.
            if (rec) {
                if (entry.msg.type !== 'objcast_unsubscribe' && entry.msg.type !== 'objcast_leave') {
                    rec.presenceFailed = err;
                    rec.onServer = false;
                }
                this._pump(rec);
            }
            err.request = entry.msg.type;
            this._error(err);
            return;
        }
        this._fail(entry, err);
    };

    // ---------------------------------------------------------------------------------
    // Token lifetime: objcast closes a connection (4001) once its token has expired, so the
    // bridge sends a fresh token from the token function ahead of exp (objcast_refresh). A
    // refresh that keeps failing is left to the reconnection, which gets a token again.

    Client.prototype._stopRefresh = function () {
        clearTimeout(this._refreshTimer);
        this._refreshTimer = null;
        this._refreshRef = null;
        this._refreshToken = null;
    };

    Client.prototype._scheduleRefresh = function () {
        clearTimeout(this._refreshTimer);
        this._refreshTimer = null;
        if (typeof this._opts.token !== 'function' || !this._ready) return;
        var now = Date.now();
        var at = refreshAt(this._tokenClaims, now);
        if (at === null) return; // not a JWT with an exp: nothing to schedule by
        var self = this;
        this._refreshTimer = setTimeout(function () {
            self._refreshTimer = null;
            self._refresh();
        }, Math.max(0, at - now));
    };

    /** Schedules another attempt if it can still land before exp; returns whether it did. */
    Client.prototype._retryRefresh = function () {
        var exp = this._tokenClaims && this._tokenClaims.exp;
        var delay = this._delay(this._refreshFails++);
        if (!this._ready || typeof exp !== 'number' || Date.now() + delay >= exp * 1000) return false;
        var self = this;
        clearTimeout(this._refreshTimer);
        this._refreshTimer = setTimeout(function () {
            self._refreshTimer = null;
            self._refresh();
        }, delay);
        return true;
    };

    Client.prototype._refresh = function () {
        if (this._closed || !this._ready || this._refreshRef !== null) return;
        var self = this;
        var ws = this._ws;
        resolveValue(this._opts.token).then(function (token) {
            if (self._ws !== ws || !self._ready) return; // the connection changed meanwhile
            if (typeof token !== 'string' || !token) throw new Error('the token function returned no token');
            self._refreshRef = ++self._ref;
            self._refreshToken = token;
            ws.send(JSON.stringify({ type: 'objcast_refresh', token: token, ref: self._refreshRef }));
        }).catch(function (e) {
            if (self._closed || self._ws !== ws) return;
            var retrying = self._retryRefresh();
            self._error({ code: 'token', message: 'token: ' + (e && e.message ? e.message : String(e)), request: 'objcast_refresh', retrying: retrying });
        });
    };

    Client.prototype._onRefreshed = function (m) {
        if (m.ref === undefined || m.ref !== this._refreshRef) return;
        this._refreshRef = null;
        this._refreshFails = 0;
        var claims = jwtClaims(this._refreshToken) || {};
        var exp = m.payload && typeof m.payload.exp === 'number' ? m.payload.exp : claims.exp;
        this._tokenClaims = { exp: exp, iat: claims.iat };
        this._refreshToken = null;
        this._scheduleRefresh();
        this._emit('refreshed', { exp: exp });
    };

    // ---------------------------------------------------------------------------------

    /**
     * Opens a connection to objcast (reconnecting by itself until close()).
     * @param {ConnectOptions} opts
     * @returns {Client}
     */
    function connect(opts) {
        return new Client(opts);
    }

    root.objcast = Object.freeze({
        version: VERSION,
        connect: connect,
        Client: Client,
        PLUGIN_TYPES: PLUGIN_TYPES,
    });
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : window);
