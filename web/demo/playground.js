// The plugin playground of the demo space: /demo/?plugin=URL runs a plugin author's own page
// as one more object, "playground", and logs every postMessage in and out of its iframe.
// docs/plugins.md section 9 is the author's guide; web/demo/demo.js places the object.

/** The playground object's id. */
export const PLAYGROUND_ID = 'playground';

/*
 * Where the object stands: top right of the 1000x640 floor, clear of the notes board
 * (40,40 400x300) and of the chat (600,200 360x340). Its range overlaps theirs, but the
 * gap left of it (x 521..559, above y 120) is in its range only: `stand` is where a click
 * on its title walks to.
 */
const PLACE = { x: 560, y: 16, w: 400, h: 168, stand: { x: 530, y: 100 } };

/*
 * The playground asked for by the page's URL: null when there is no ?plugin=, else
 * {url, origin, objectType} or {url, error} (error: a sentence for the page). Only http and
 * https: anything else (javascript:, data:, file:, a relative path) would not be a plugin
 * served from an origin of its own, and the bridge needs that origin.
 */
export function parsePlayground(params) {
    const raw = params.get('plugin');
    if (raw === null || raw.trim() === '') return null;
    const url = raw.trim();
    let u = null;
    try {
        u = new URL(url);
    } catch (e) {
        /* not absolute: u stays null */
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
        const hint = /^[\w.-]+(:\d+)?(\/|$)/.test(url) && !url.includes('://') ? ` (did you mean http://${url}?)` : '';
        return {
            url,
            error: `No plugin placed: "${url}" is not an http:// or https:// URL${hint}. ` +
                'Give the full address of your plugin page, e.g. http://localhost:5173/plugin.html.',
        };
    }
    const type = params.get('type');
    return { url: u.href, origin: u.origin, objectType: type === 'dynamic' ? 'dynamic' : 'static' };
}

/** The object definition demo.js places (see OBJECTS there). */
export function playgroundObject(pg) {
    return {
        objectId: PLAYGROUND_ID,
        objectType: pg.objectType,
        title: `Your plugin (${new URL(pg.url).host})`,
        src: pg.url,
        pluginOrigin: pg.origin,
        ...PLACE,
    };
}

/** The name of the next user: "Alice" -> "Alice 2", "Alice 2" -> "Alice 3". */
export function nextName(name) {
    const m = /^(.*?)\s*(\d+)$/.exec(name);
    return m && m[1] ? `${m[1]} ${Number(m[2]) + 1}` : `${name} 2`;
}

/*
 * The same page as another user: the demo token endpoint makes a new user for every page
 * load, so another name is all it takes. &host=1 stays with the first window (one owner).
 */
export function secondUserUrl(loc, name) {
    const params = new URLSearchParams(loc.search);
    params.set('name', nextName(name));
    params.delete('host');
    return `${loc.origin}${loc.pathname}?${params}`;
}

/** The page's URL with ?plugin=url (or without it, url empty), the rest kept. */
export function urlWithPlugin(loc, url) {
    const params = new URLSearchParams(loc.search);
    if (url.trim()) params.set('plugin', url.trim());
    else params.delete('plugin');
    return `${loc.origin}${loc.pathname}?${params}`;
}

/*
 * What each objcast_error code means to a plugin author, in words: the server's codes
 * (protocol section 6) and the bridge's own (docs/plugins.md sections 1.5 and 3).
 */
const EXPLAIN = {
    not_subscribed: () => 'walk to the object first (you are not subscribed): a plugin may ask only while its ' +
        'user is on the object. Start on your own ovice_participant_subscribed event.',
    not_present: () => 'the user named in "to" is not on the object (any more).',
    too_large: (l) => `too large: a message may be up to ${fmtBytes(l.maxMessageBytes, 2097152)} of JSON, the saved ` +
        `data up to ${fmtBytes(l.maxDataBytes, 512000)} (after a merge: the merged data). Nothing was sent or saved.`,
    bad_request: () => 'objcast could not read the request: a save\'s payload must be a JSON object.',
    conflict: () => 'someone saved first: the data is no longer at the ifVersion you gave. Read it again ' +
        '(ovice_get_data) and retry.',
    unauthorized: () => 'not allowed: the user\'s token or the object token was refused.',
    unknown_type: () => 'objcast does not know this message type.',
    rate_limited: () => 'too many requests too fast; the bridge sends it again by itself.',
    unavailable: () => 'objcast\'s storage (Redis) is unreachable for now; the bridge sends it again by itself.',
    internal: () => 'objcast failed on its side: see the server\'s log.',
    queue_full: () => 'the bridge held too many requests while the connection was down and dropped the oldest.',
    not_json: () => 'the request cannot be written as JSON (a BigInt, a cycle...).',
    closed: () => 'the page\'s connection to objcast was closed for good.',
};

/** The explanation of an error code (limits: the objcast_ready limits, if known). */
export function explain(code, limits) {
    const f = EXPLAIN[code];
    return f ? f(limits || {}) : 'see docs/plugins.md section 1.5.';
}

function fmtBytes(n, fallback) {
    const v = typeof n === 'number' && n > 0 ? n : fallback;
    if (v % 1048576 === 0) return `${v / 1048576} MiB`;
    if (v % 1000 === 0) return `${v / 1000} KB`;
    return `${v} bytes`;
}

/** The size of a payload as objcast counts it: bytes of its JSON text (null: not JSON). */
export function jsonBytes(v) {
    if (v === undefined) return 0;
    try {
        return new TextEncoder().encode(JSON.stringify(v)).length;
    } catch (e) {
        return null;
    }
}

/** What the bridge's "rejected" reasons mean. */
const IGNORED = {
    'not a plugin message': 'ignored by the bridge: only the five ovice_* requests go to objcast',
    'origin is not the pluginOrigin': 'ignored by the bridge: the iframe is no longer at the plugin\'s origin',
};

/*
 * Logs every postMessage between the playground iframe and the page into list (an <ol>,
 * newest on top) and into posts (an array the tests read). Both directions:
 *  - up (the plugin posted): a window "message" listener, the event's source being the
 *    iframe. The bridge's own listener runs first (it was added by connect()), so a
 *    "rejected" event for the same message has come already: the line says it was ignored.
 *  - down (posted into the plugin): the bridge's "posted" event; the page sees nothing else.
 * Each line shows the direction, the type and the payload's size; a click shows the payload.
 */
export function watchPlayground({ client, iframe, list, posts, limits }) {
    let rejected = null; // the bridge's verdict on the message being dispatched
    client.on('rejected', (e) => {
        if (e.objectId === PLAYGROUND_ID) rejected = e;
    });
    window.addEventListener('message', (ev) => {
        if (!iframe.contentWindow || ev.source !== iframe.contentWindow) return;
        const verdict = rejected && rejected.data === ev.data ? rejected : null;
        rejected = null;
        add('up', ev.data, verdict ? IGNORED[verdict.reason] || `ignored by the bridge: ${verdict.reason}` : '');
    });
    client.on('posted', (e) => {
        if (e.objectId === PLAYGROUND_ID) add('down', e.message, '');
    });

    function add(dir, data, note) {
        const isMsg = data !== null && typeof data === 'object' && !Array.isArray(data);
        const type = isMsg && typeof data.type === 'string' ? data.type : `(not a message: ${typeof data})`;
        const payload = isMsg ? data.payload : data;
        const rest = {};
        if (isMsg) for (const [k, v] of Object.entries(data)) if (k !== 'type' && k !== 'payload') rest[k] = v;
        const post = { dir, type, bytes: jsonBytes(payload), payload, rest, note };
        if (type === 'objcast_error' && payload && typeof payload.code === 'string') {
            post.code = payload.code;
            post.explanation = explain(payload.code, limits());
        }
        posts.push(post);
        if (posts.length > 1000) posts.splice(0, 200);
        render(post);
    }

    function render(post) {
        const li = document.createElement('li');
        li.className = `post ${post.dir}${post.code ? ' error' : ''}${post.note ? ' ignored' : ''}`;
        li.dataset.type = post.type;
        li.dataset.dir = post.dir;
        li.tabIndex = 0;
        li.title = post.dir === 'up' ? 'the plugin posted this to the host page' : 'posted into the plugin';
        const head = document.createElement('div');
        head.className = 'head';
        const arrow = document.createElement('span');
        arrow.className = 'dir';
        arrow.textContent = post.dir === 'up' ? '↑' : '↓';
        const type = document.createElement('span');
        type.className = 'type';
        type.textContent = post.code ? `${post.type} ${post.code}` : post.type;
        const size = document.createElement('span');
        size.className = 'size';
        size.textContent = post.bytes === null ? 'not JSON' : `${post.bytes} B`;
        head.append(arrow, type, size);
        li.append(head);
        const words = post.explanation || post.note;
        if (words) {
            const why = document.createElement('div');
            why.className = 'why';
            why.textContent = words;
            li.append(why);
        }
        const toggle = (ev) => {
            if (ev.target.closest('pre')) return; // selecting text in the payload keeps it open
            let pre = li.querySelector('pre');
            if (pre) {
                pre.remove();
                return;
            }
            pre = document.createElement('pre');
            let text = post.payload === undefined ? '(no payload)' : pretty(post.payload);
            if (Object.keys(post.rest).length) text += `\n\nbeside the payload: ${pretty(post.rest)}`;
            pre.textContent = text;
            li.append(pre);
        };
        li.addEventListener('click', toggle);
        li.addEventListener('keydown', (ev) => {
            if (ev.key === 'Enter' || ev.key === ' ') {
                ev.preventDefault();
                toggle(ev);
            }
        });
        list.prepend(li);
        while (list.children.length > 200) list.lastChild.remove();
    }
}

function pretty(v) {
    try {
        return JSON.stringify(v, null, 2) ?? String(v);
    } catch (e) {
        return String(v);
    }
}
