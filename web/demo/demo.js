// The objcast demo host page: a small 2D space with two plugin objects.
//
// Served by objcastd with `demo yes` at /demo/. It asks objcastd's demo token endpoint for
// an identity (never do that in production: your backend issues tokens), connects the
// bridge, embeds the two plugins from the second origin (demo_port) and drives presence
// from where the avatar stands. URL parameters: ?name=Alice (display name), &host=1 (the
// user owns the dynamic chat object: isHost), &ttl=N (connection tokens last N seconds
// instead of the endpoint's 10 minutes; the bridge refreshes them ahead of expiry),
// &plugin=URL (the plugin playground, web/demo/playground.js: the author's plugin runs as a
// third object, &type=dynamic makes it dynamic).
//
// Everyone's avatar is objcast traffic too, with no plugin and no server support: every page
// subscribes (host API) to a hidden static object, SPACE_OBJECT, broadcasts its position
// there as event "move" ({x, y, name}) when it moves, answers a newcomer's subscribed event
// with an emit of its position to that newcomer, and removes an avatar when its user is
// unsubscribed from the hidden object.

import objcast from '/objcast.mjs';

import {
    PLAYGROUND_ID, parsePlayground, playgroundObject, secondUserUrl, urlWithPlugin, watchPlayground,
} from './playground.js';

const RANGE = 80; // px from an object's edge within which the user is subscribed
const STEP = 20; // px per arrow key press
const SPACE = { w: 1000, h: 640 };
const SPACE_OBJECT = 'space'; // the hidden object carrying avatar positions (not a plugin)
const MOVE_EVERY = 100; // ms: at most one position broadcast per this interval
/** Other users' avatar colors (never the blue of one's own avatar). */
const COLORS = ['#e4572e', '#2e9e5b', '#9b59b6', '#d08a1d', '#17a2b8', '#c2185b', '#6d4c41', '#7cb342'];

/** The objects of the space; each shows one plugin. */
const OBJECTS = [
    { objectId: 'notes', objectType: 'static', title: 'Sticky notes', plugin: 'notes.html', x: 40, y: 40, w: 400, h: 300 },
    { objectId: 'chat', objectType: 'dynamic', title: 'Chat & reactions', plugin: 'chat.html', x: 600, y: 200, w: 360, h: 340 },
];

const params = new URLSearchParams(location.search);
const wantHost = params.get('host') === '1';
const ttl = params.get('ttl');
const name = params.get('name') || `Guest ${Math.floor(1000 + Math.random() * 9000)}`;
const playground = parsePlayground(params); // null, {url, origin, objectType} or {url, error}

const $ = (sel) => document.querySelector(sel);
const space = $('#space');
const avatar = $('#avatar');

/** Everything the page saw, for people and for tests (tests/e2e read window.demo). */
const demo = {
    user: null,
    client: null,
    pos: { x: 500, y: 600 },
    log: [], // every server message
    presence: [], // every presence event
    rejected: [], // postMessages the bridge ignored
    errors: [],
    notYet: [], // not_subscribed answers to requests made while off the object (not errors)
    on: {}, // objectId -> true while this page's own presence event says it is on the object
    states: [], // connection states
    refreshes: [], // exp of every refresh objcast took
    objects: {}, // objectId -> {def, state ('none'|'subscribed'|'joined'|'left'), people: Map}
    others: {}, // userId -> {id, name, x, y, color, seen}: the other avatars on the floor
    // ?plugin=: {url, origin, objectType, posts: [{dir ('up': the plugin posted, 'down': posted
    // into it), type, bytes, payload, rest (other top-level fields), note, code?, explanation?}]},
    // or {url, error} for a URL the page refused; null without ?plugin=.
    playground: playground && { ...playground, posts: [] },
};
window.demo = demo;

let logCount = 0; // log lines so far: each line keeps its number, the newest is on top

/*
 * Adds a line on top of the log. Its number is an element of its own that grows with its
 * digits (a list marker in a fixed padding was cut from 10 on); cls 'quiet' for lines that
 * report nothing wrong.
 */
function logLine(text, cls) {
    const li = document.createElement('li');
    if (cls) li.className = cls;
    const n = document.createElement('span');
    n.className = 'n';
    n.textContent = String(++logCount);
    const t = document.createElement('span');
    t.className = 't';
    t.textContent = `${new Date().toLocaleTimeString()} ${text}`;
    li.append(n, t);
    const log = $('#log');
    log.prepend(li);
    while (log.children.length > 80) log.lastChild.remove();
}

/*
 * Whether an error is objcast's not_subscribed for a request made while this page was not
 * on the object. Each plugin's first message (ovice_get_participants, as the seed document
 * recommends) comes while the avatar still stands out of range, and objcast answers it so
 * (docs/plugins.md section 1.1); the plugins ignore it and start on their own presence event.
 * A request on its way when the user walked off gets the same answer. Neither is a fault,
 * so the log notes them quietly and demo.errors keeps only real errors.
 */
function offObjectAnswer(code, objectId) {
    return code === 'not_subscribed' && typeof objectId === 'string' && !demo.on[objectId];
}

async function getJSON(url) {
    const res = await fetch(url, { cache: 'no-store' });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res.json();
}

// ---------------------------------------------------------------------------------------
// Start: identity, bridge, objects

async function start() {
    // The first token makes up the user; every later one is for that user again.
    const tokenUrl = (userId) => `/demo/token?name=${encodeURIComponent(name)}` +
        (ttl ? `&ttl=${encodeURIComponent(ttl)}` : '') + (userId ? `&userId=${encodeURIComponent(userId)}` : '');
    const user = await getJSON(tokenUrl());
    demo.user = user;
    demo.tokens = 1; // tokens fetched (tests read it)
    $('#me').textContent = `you are ${user.name} (${user.userId})`;
    avatar.querySelector('.initial').textContent = initialOf(user.name);
    avatar.querySelector('.label').textContent = `${user.name} (you)`;
    avatar.title = user.name;
    avatar.dataset.userId = user.userId;

    let firstToken = user.token;
    const client = objcast.connect({
        url: user.url,
        // A function: the bridge calls it on every (re)connection and ahead of each token's
        // exp to refresh the open connection. The demo's tokens are short-lived (10 minutes),
        // so the page keeps working for hours only through these calls.
        token: async () => {
            if (firstToken) {
                const t = firstToken;
                firstToken = null;
                return t;
            }
            const next = await getJSON(tokenUrl(user.userId));
            demo.tokens++;
            return next.token;
        },
    });
    demo.client = client;

    client.on('state', (e) => {
        demo.states.push(e.state);
        // Off the connection, off every object; the own events after a reconnection say again.
        if (e.state !== 'open') demo.on = {};
        const el = $('#conn');
        el.className = `conn ${e.state}`;
        el.textContent = e.state === 'reconnecting' ? `reconnecting (${Math.round(e.delay || 0)} ms)` : e.state;
        logLine(`connection ${e.state}${e.code ? ` (close ${e.code})` : ''}`);
    });
    client.on('message', (m) => {
        demo.log.push(m);
        if (demo.log.length > 2000) demo.log.splice(0, 500);
        if (m.objectId === SPACE_OBJECT && m.type === 'ovice_message') {
            onSpaceMessage(m.payload);
            return; // positions would flood the log
        }
        if (m.type === 'objcast_error' && offObjectAnswer(m.payload?.code, m.objectId)) return; // the error event notes it
        logLine(`<- ${m.type}${m.objectId ? ` ${m.objectId}` : ''}${m.payload?.code ? ` ${m.payload.code}` : ''}`);
    });
    client.on('error', (e) => {
        if (offObjectAnswer(e.code, e.objectId)) {
            demo.notYet.push(e);
            logLine(`${e.objectId}: ${e.request || 'a request'} while out of range, answered ${e.code} (as expected)`, 'quiet');
            return;
        }
        demo.errors.push(e);
        logLine(`error ${e.code}${e.objectId ? ` on ${e.objectId}` : ''}${e.retrying ? ' (retrying)' : ''}: ${e.message}`);
    });
    client.on('refreshed', (e) => {
        demo.refreshes.push(e.exp);
    });
    client.on('rejected', (e) => {
        demo.rejected.push({ reason: e.reason, origin: e.origin, objectId: e.objectId, data: e.data });
        logLine(`ignored a postMessage from ${e.origin}: ${e.reason}`);
    });
    client.on('presence', onPresence);

    for (const def of OBJECTS) addObject(def, user);
    if (playground && !playground.error) addObject(playgroundObject(playground), user);
    enterSpace(user);
    drawAvatar();
    space.focus();
}

function addObject(def, user) {
    const el = document.createElement('div');
    el.className = 'object';
    el.id = `object-${def.objectId}`;
    el.dataset.objectId = def.objectId;
    Object.assign(el.style, { left: `${def.x}px`, top: `${def.y}px`, width: `${def.w}px`, height: `${def.h}px` });

    const title = document.createElement('div');
    title.className = 'title';
    title.innerHTML = '<span class="name"></span><span class="state">out of range</span>';
    title.querySelector('.name').textContent = def.title;
    title.addEventListener('click', (ev) => {
        ev.stopPropagation();
        toggleJoin(def.objectId);
    });

    const range = document.createElement('div');
    range.className = 'range';
    Object.assign(range.style, {
        left: `${def.x - RANGE}px`, top: `${def.y - RANGE}px`,
        width: `${def.w + 2 * RANGE}px`, height: `${def.h + 2 * RANGE}px`,
    });

    const iframe = document.createElement('iframe');
    iframe.title = def.title;
    iframe.name = `plugin-${def.objectId}`;
    // The plugin runs on its own origin; sandboxing keeps it away from the host's window.
    iframe.setAttribute('sandbox', 'allow-scripts allow-same-origin allow-forms');
    // The playground's plugin comes from wherever its author serves it; the demo's own from
    // the demo port.
    const pluginOrigin = def.pluginOrigin || user.pluginOrigin;
    // Attach before the iframe loads, so its first messages are routed.
    demo.client.attach(iframe, {
        objectId: def.objectId,
        objectType: def.objectType,
        pluginOrigin,
        objectToken: () => getJSON(`/demo/object-token?objectId=${encodeURIComponent(def.objectId)}` +
            `&userId=${encodeURIComponent(user.userId)}&objectType=${def.objectType}` +
            `&host=${def.objectType === 'dynamic' && wantHost ? 'true' : 'false'}`).then((r) => r.token),
    });
    if (def.objectId === PLAYGROUND_ID) {
        watchPlayground({
            client: demo.client, iframe, list: $('#posts'), posts: demo.playground.posts,
            limits: () => demo.client.session?.limits,
        });
    }
    iframe.src = def.src || `${pluginOrigin}/demo/plugins/${def.plugin}`;

    el.append(title, iframe);
    space.append(range, el);

    const section = document.createElement('section');
    section.id = `panel-${def.objectId}`;
    section.innerHTML = '<h2><span class="name"></span> <span class="state">out of range</span></h2><ul class="people"><li class="empty">nobody (walk closer to see who is here)</li></ul>';
    section.querySelector('.name').textContent = def.title;
    $('#objects').append(section);

    demo.objects[def.objectId] = { def, el, section, state: 'none', people: new Map() };
}

// ---------------------------------------------------------------------------------------
// Presence: where the avatar stands decides subscribe/unsubscribe, clicks join/leave

function distanceTo(def, p) {
    const dx = Math.max(def.x - p.x, 0, p.x - (def.x + def.w));
    const dy = Math.max(def.y - p.y, 0, p.y - (def.y + def.h));
    return Math.hypot(dx, dy);
}

function inRange(def, p = demo.pos) {
    return distanceTo(def, p) <= RANGE;
}

function setState(objectId, state) {
    const o = demo.objects[objectId];
    o.state = state;
    o.el.classList.remove('subscribed', 'joined', 'left');
    if (state !== 'none') o.el.classList.add(state);
    const text = { none: 'out of range', subscribed: 'in range: click to join', joined: 'joined: click to leave', left: 'left: click to join' }[state];
    o.el.querySelector('.title .state').textContent = text;
    o.section.querySelector('h2 .state').textContent = state === 'none' ? 'out of range' : state;
}

/** Subscribes to objects the avatar came near and unsubscribes from those it left. */
function updateRanges() {
    for (const [id, o] of Object.entries(demo.objects)) {
        const near = inRange(o.def);
        if (near && o.state === 'none') {
            demo.client.subscribe(id);
            setState(id, 'subscribed');
        } else if (!near && o.state !== 'none') {
            demo.on[id] = false; // what objcast answers from now on comes after the unsubscribe
            demo.client.unsubscribe(id);
            setState(id, 'none');
        }
    }
}

function toggleJoin(objectId) {
    const o = demo.objects[objectId];
    if (!inRange(o.def)) {
        // Walk up to the object first: to its spot if it has one, else just below its
        // middle, inside the range.
        const d = o.def;
        if (d.stand) moveTo(d.stand.x, d.stand.y);
        else moveTo(d.x + d.w / 2, Math.min(SPACE.h - 20, d.y + d.h + RANGE / 2));
        if (!inRange(d)) moveTo(d.x - RANGE / 2, d.y + d.h / 2);
    }
    if (o.state === 'joined') {
        demo.client.leave(objectId);
        setState(objectId, 'left');
    } else {
        demo.client.join(objectId);
        setState(objectId, 'joined');
    }
}

function moveTo(x, y) {
    demo.pos = {
        x: Math.round(Math.max(18, Math.min(SPACE.w - 18, x))),
        y: Math.round(Math.max(18, Math.min(SPACE.h - 18, y))),
    };
    drawAvatar();
    updateRanges();
    announce();
}

function drawAvatar() {
    avatar.style.left = `${demo.pos.x}px`;
    avatar.style.top = `${demo.pos.y}px`;
    avatar.dataset.x = demo.pos.x;
    avatar.dataset.y = demo.pos.y;
}

space.addEventListener('click', (ev) => {
    // Other avatars take the pointer (for their tooltip) but a click on them walks too.
    if (ev.target.closest('.object')) return;
    const r = space.getBoundingClientRect();
    moveTo(ev.clientX - r.left - space.clientLeft, ev.clientY - r.top - space.clientTop);
    space.focus();
});

space.addEventListener('keydown', (ev) => {
    const d = { ArrowLeft: [-STEP, 0], ArrowRight: [STEP, 0], ArrowUp: [0, -STEP], ArrowDown: [0, STEP] }[ev.key];
    if (!d) return;
    ev.preventDefault();
    moveTo(demo.pos.x + d[0], demo.pos.y + d[1]);
});

// ---------------------------------------------------------------------------------------
// The participants panel

async function refreshPeople(objectId) {
    const o = demo.objects[objectId];
    try {
        const list = await demo.client.getParticipants(objectId);
        if (o.state === 'none') return;
        o.people = new Map(list.map((p) => [String(p.id), p]));
        renderPeople(objectId);
    } catch (e) {
        /* not on the object any more */
    }
}

function onPresence(e) {
    demo.presence.push({ objectId: e.objectId, status: e.status, id: e.participant.id, name: e.participant.name, isSelf: e.isSelf });
    if (e.isSelf) demo.on[e.objectId] = e.status !== 'unsubscribed';
    if (e.objectId === SPACE_OBJECT) {
        onSpacePresence(e);
        return;
    }
    const o = demo.objects[e.objectId];
    if (!o) return;
    const id = String(e.participant.id);
    if (e.isSelf && e.status === 'unsubscribed') {
        o.people.clear();
    } else if (e.status === 'unsubscribed') {
        o.people.delete(id);
    } else {
        o.people.set(id, { ...e.participant, status: e.status });
        // Our own event: the connection is (again) on the object, e.g. after a
        // reconnection. Fetch the whole list, others may have come meanwhile.
        if (e.isSelf) refreshPeople(e.objectId);
    }
    renderPeople(e.objectId);
}

function renderPeople(objectId) {
    const o = demo.objects[objectId];
    const ul = o.section.querySelector('.people');
    ul.textContent = '';
    if (!o.people.size) {
        const li = document.createElement('li');
        li.className = 'empty';
        li.textContent = o.state === 'none' ? 'nobody (walk closer to see who is here)' : 'nobody';
        ul.append(li);
        return;
    }
    for (const p of o.people.values()) {
        const li = document.createElement('li');
        li.dataset.id = p.id;
        li.dataset.status = p.status;
        const nameEl = document.createElement('span');
        nameEl.textContent = `${p.name || p.id}${p.isSelf ? ' (you)' : ''}${p.isHost ? ' ★' : ''}`;
        const badge = document.createElement('span');
        badge.className = `badge ${p.status}`;
        badge.textContent = p.status;
        li.append(nameEl, badge);
        ul.append(li);
    }
}

// ---------------------------------------------------------------------------------------
// Other users' avatars: positions over the hidden object SPACE_OBJECT

function initialOf(n) {
    return (String(n || '?').trim().charAt(0) || '?').toUpperCase();
}

function colorOf(id) {
    let h = 0;
    for (const c of String(id)) h = (h * 31 + c.codePointAt(0)) >>> 0;
    return COLORS[h % COLORS.length];
}

/** Puts this page on the hidden object; the bridge keeps it there across reconnections. */
function enterSpace(user) {
    demo.client.configure(SPACE_OBJECT, {
        objectType: 'static',
        // Not needed with object_tokens optional (the default), but the demo works with
        // object_tokens required too.
        objectToken: () => getJSON(`/demo/object-token?objectId=${SPACE_OBJECT}&userId=${encodeURIComponent(user.userId)}` +
            '&objectType=static&host=false').then((r) => r.token),
    });
    demo.client.subscribe(SPACE_OBJECT);
}

function positionMessage(to) {
    const payload = {
        source: '', // objcast sets the authenticated user
        event: 'move',
        objectId: SPACE_OBJECT,
        message: { x: demo.pos.x, y: demo.pos.y, name: demo.user.name },
    };
    if (to !== undefined) payload.to = to;
    return payload;
}

/*
 * Broadcasts the position, at most every MOVE_EVERY ms, always ending on the latest one.
 * At most one broadcast waits in the bridge at a time (e.g. while reconnecting): what is
 * sent is the position of the moment, never a backlog of old ones.
 */
const mover = { dirty: false, busy: false, timer: null, last: 0 };

function announce() {
    mover.dirty = true;
    pumpMoves();
}

function pumpMoves() {
    if (!mover.dirty || mover.busy || mover.timer || !demo.user) return;
    const wait = mover.last + MOVE_EVERY - Date.now();
    if (wait > 0) {
        mover.timer = setTimeout(() => {
            mover.timer = null;
            pumpMoves();
        }, wait);
        return;
    }
    mover.dirty = false;
    mover.busy = true;
    mover.last = Date.now();
    demo.client.request(SPACE_OBJECT, 'ovice_broadcast_message', positionMessage())
        .catch(() => { /* reported by the error event; the next move or presence tries again */ })
        .finally(() => {
            mover.busy = false;
            pumpMoves();
        });
}

/** Tells one newcomer where this avatar stands (they missed the earlier broadcasts). */
function tellPosition(to) {
    demo.client.request(SPACE_OBJECT, 'ovice_emit_message', positionMessage(to)).catch(() => {
        /* not_present: the newcomer went away already */
    });
}

function onSpacePresence(e) {
    const id = String(e.participant.id);
    if (e.isSelf) {
        if (e.status === 'unsubscribed') {
            for (const other of Object.keys(demo.others)) removeOther(other);
        } else if (e.status === 'subscribed') {
            // On the object (again, after a reconnection): say where we are, everyone
            // answers with where they are. Drop those who went away meanwhile.
            announce();
            forgetGone();
        }
        return;
    }
    if (e.status === 'unsubscribed') {
        removeOther(id);
    } else if (e.status === 'subscribed') {
        if (demo.others[id]) demo.others[id].seen = Date.now();
        tellPosition(e.participant.id);
    }
}

/** Removes the avatars of users no longer on the hidden object (seen before the list). */
async function forgetGone() {
    const asked = Date.now();
    let list;
    try {
        list = await demo.client.getParticipants(SPACE_OBJECT);
    } catch (e) {
        return;
    }
    const here = new Set(list.map((p) => String(p.id)));
    for (const [id, other] of Object.entries(demo.others)) {
        if (!here.has(id) && other.seen < asked) removeOther(id);
    }
}

function onSpaceMessage(p) {
    if (!p || p.event !== 'move' || p.source === undefined || p.source === null) return;
    const id = String(p.source);
    if (demo.user && id === demo.user.userId) return; // our own other tab: not drawn twice
    const m = p.message || {};
    const x = Number(m.x);
    const y = Number(m.y);
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    drawOther(id, typeof m.name === 'string' && m.name ? m.name.slice(0, 80) : id,
        Math.round(Math.max(0, Math.min(SPACE.w, x))), Math.round(Math.max(0, Math.min(SPACE.h, y))));
}

function drawOther(id, name, x, y) {
    let other = demo.others[id];
    let el = space.querySelector(`.avatar.other[data-user-id="${CSS.escape(id)}"]`);
    if (!other || !el) {
        other = { id, color: colorOf(id) };
        demo.others[id] = other;
        if (!el) {
            el = document.createElement('div');
            el.className = 'avatar other';
            el.dataset.userId = id;
            el.innerHTML = '<span class="initial"></span><span class="label"></span>';
            el.style.background = other.color;
            space.insertBefore(el, avatar);
        }
    }
    Object.assign(other, { name, x, y, seen: Date.now() });
    el.title = name;
    el.querySelector('.initial').textContent = initialOf(name);
    el.querySelector('.label').textContent = name;
    el.style.left = `${x}px`;
    el.style.top = `${y}px`;
    el.dataset.x = x;
    el.dataset.y = y;
}

function removeOther(id) {
    delete demo.others[id];
    for (const el of space.querySelectorAll(`.avatar.other[data-user-id="${CSS.escape(id)}"]`)) el.remove();
}

// ---------------------------------------------------------------------------------------
// The playground panel: the URL field, what was placed (or why not), the second user

function setupPlayground() {
    const input = $('#playground-url');
    const status = $('#playground-status');
    input.value = playground ? playground.url : '';
    // The page reads ?plugin= once, at load: a new URL is a new page (and a new user).
    $('#playground-form').addEventListener('submit', (ev) => {
        ev.preventDefault();
        location.assign(urlWithPlugin(location, input.value));
    });
    if (!playground) return;
    // The author came for this: it goes on top of the panel (which scrolls, demo.css).
    $('#panel').prepend($('#playground'));
    status.hidden = false;
    if (playground.error) {
        status.className = 'error';
        status.textContent = playground.error;
        return;
    }
    status.textContent = `Object "playground" (${playground.objectType}) from ${playground.origin}: walk to it, top right.`;
    if (playground.origin === location.origin) {
        // Same origin and allow-same-origin: the sandbox no longer keeps the plugin out of the page.
        status.textContent += ' Served from this page\'s own origin: a real plugin needs an origin of its own.';
    }
    const second = $('#playground-second');
    second.hidden = false;
    second.addEventListener('click', () => {
        window.open(secondUserUrl(location, name), '_blank', 'noopener,width=1300,height=800');
    });
    $('#posts-box').hidden = false;
}

setupPlayground();
start().catch((e) => {
    $('#me').textContent = `cannot start: ${e.message}`;
    console.error(e);
});
