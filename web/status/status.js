// The objcast status page: served by objcastd at /status, it reads /api/v1/status every
// POLL_MS with the api_key the operator types in, and shows every instance, Redis, the
// busiest objects and the errors by code (docs/operations.md, "Status"). No build step,
// nothing loaded from elsewhere (the page's Content-Security-Policy allows only this
// origin). The key lives in sessionStorage: this tab only, gone when it closes.

const POLL_MS = 2000;
const HISTORY = 60; // sparkline samples: 2 minutes at POLL_MS
const KEY = 'objcast.status.apiKey';

const $ = (sel) => document.querySelector(sel);

/** What the page saw, for people in the console and for tests (tests/e2e read it). */
const view = { polls: 0, failures: 0, last: null, lastError: null, history: [] };
window.objcastStatus = view;

let timer = null;

function fmtRate(x) {
    if (typeof x !== 'number') return '–';
    return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

function fmtDuration(s) {
    if (typeof s !== 'number') return '–';
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function fmtMs(x) {
    return typeof x === 'number' && x >= 0 ? `${x.toFixed(2)} ms` : '–';
}

/** A table row of cells; each cell is text, or {text, cls}. */
function row(cells, cls) {
    const tr = document.createElement('tr');
    if (cls) tr.className = cls;
    for (const c of cells) {
        const td = document.createElement('td');
        if (c && typeof c === 'object' && !(c instanceof Node)) {
            if (c.cls) td.className = c.cls;
            if (c.node) td.append(c.node);
            else td.textContent = c.text;
        } else {
            td.textContent = c === undefined || c === null ? '–' : String(c);
        }
        tr.append(td);
    }
    return tr;
}

function fill(tbody, rows, emptyText, span) {
    tbody.replaceChildren(...rows);
    if (!rows.length) tbody.append(row([{ text: emptyText, cls: 'empty' }]));
    if (!rows.length) tbody.firstChild.firstChild.colSpan = span;
}

function badge(text, cls) {
    const s = document.createElement('span');
    s.className = `state ${cls}`;
    s.textContent = text;
    return s;
}

function showRedis(st) {
    const p = $('#redis');
    p.replaceChildren();
    const add = (label, value) => {
        const span = document.createElement('span');
        const b = document.createElement('b');
        b.textContent = `${label}: `;
        span.append(b, String(value));
        p.append(span);
    };
    const r = st.redis;
    if (!r) {
        add('engine', `${st.engine} (one process, no Redis)`);
        return;
    }
    const up = document.createElement('span');
    up.append(badge(r.up ? 'up' : 'down', r.up ? 'up' : 'down'));
    up.id = 'redis-state';
    p.append(up);
    add('latency', fmtMs(r.latency_ms));
    if (r.cluster) add('mode', 'Redis Cluster');
    if (r.version) add('version', r.version);
    if (r.role) add('role', r.role);
    if (r.used_memory_human) add('memory', r.used_memory_human);
    if (r.connected_clients !== undefined) add('clients', r.connected_clients);
    if (r.ops_per_s !== undefined) add('ops / s', r.ops_per_s);
    if (r.uptime_s !== undefined) add('uptime', fmtDuration(r.uptime_s));
    if (r.aof_enabled !== undefined) add('AOF', r.aof_enabled ? 'on' : 'off');
}

function showInstances(st) {
    const rows = st.instances.map((i) => row([
        i.id, i.address, { node: badge(i.state, i.state) }, fmtDuration(i.uptime_s),
        { text: i.connections ?? '–', cls: 'num' }, { text: i.objects ?? '–', cls: 'num' },
        { text: fmtRate(i.messages_in_per_s), cls: 'num' }, { text: fmtRate(i.messages_out_per_s), cls: 'num' },
        { text: fmtMs(i.redis_latency_ms), cls: 'num' }, `${i.heartbeat_age_s} s ago`, i.version,
    ], [i.state, i.self ? 'self' : ''].join(' ')));
    fill($('#instances tbody'), rows, 'no instance', 11);
}

function showBusiest(st) {
    const rows = st.busiest.map((o) => row([
        o.workspaceId, o.objectId, { text: o.participants, cls: 'num' },
        { text: fmtRate(o.messages_per_s), cls: 'num' }, o.instances.join(', '),
    ]));
    fill($('#busiest tbody'), rows, 'no messages in the last window', 5);
}

function showErrors(st) {
    const previous = view.last; // the answer before this one, for rates
    const seconds = previous ? Math.max(1, st.now - previous.now) : 0;
    const codes = Object.keys(st.errors).sort((a, b) => st.errors[b] - st.errors[a]);
    const rows = codes.map((code) => {
        const before = previous ? previous.errors[code] || 0 : null;
        const rate = before === null ? null : (st.errors[code] - before) / seconds;
        return row([code, { text: st.errors[code], cls: 'num' }, { text: rate === null ? '–' : fmtRate(Math.max(0, rate)), cls: 'num' }]);
    });
    fill($('#errors tbody'), rows, 'none', 3);
}

function drawSpark() {
    const canvas = $('#spark');
    // drawn at the size it is shown, so lines stay sharp at any width
    canvas.width = canvas.clientWidth || 320;
    const ctx = canvas.getContext('2d');
    const w = canvas.width;
    const h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    const hist = view.history;
    const max = Math.max(1, ...hist.map((x) => Math.max(x.in, x.out)));
    const line = (key, color) => {
        ctx.strokeStyle = color;
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        hist.forEach((x, i) => {
            const px = w - (hist.length - 1 - i) * (w / (HISTORY - 1));
            const py = h - 2 - (x[key] / max) * (h - 4);
            if (i) ctx.lineTo(px, py);
            else ctx.moveTo(px, py);
        });
        ctx.stroke();
    };
    line('in', '#17a2b8');
    line('out', '#2e5ee4');
}

function show(st) {
    const t = st.totals;
    $('#t-instances').textContent = `${t.instances_up} / ${t.instances}`;
    $('#t-connections').textContent = t.connections;
    $('#t-objects').textContent = t.objects;
    $('#t-in').textContent = fmtRate(t.messages_in_per_s);
    $('#t-out').textContent = fmtRate(t.messages_out_per_s);
    $('#answered').textContent = `engine ${st.engine}, answered by ${st.answered_by}`;
    view.history.push({ in: t.messages_in_per_s, out: t.messages_out_per_s });
    if (view.history.length > HISTORY) view.history.shift();
    showRedis(st);
    showInstances(st);
    showBusiest(st);
    showErrors(st);
    drawSpark();
}

function setLive(cls, text) {
    const el = $('#live');
    el.className = `live ${cls}`;
    el.textContent = text;
}

function signedIn(yes) {
    $('#login').hidden = yes;
    $('#status').hidden = !yes;
    $('#signout').hidden = !yes;
    if (!yes) setLive('off', 'signed out');
}

function signOut(message) {
    sessionStorage.removeItem(KEY);
    clearTimeout(timer);
    timer = null;
    view.last = null;
    view.history = [];
    signedIn(false);
    $('#login-error').textContent = message || '';
    $('#key').focus();
}

async function poll() {
    const key = sessionStorage.getItem(KEY);
    if (!key) return signOut();
    let res;
    try {
        res = await fetch('/api/v1/status', { headers: { Authorization: `Bearer ${key}` }, cache: 'no-store' });
    } catch (err) {
        view.failures++;
        view.lastError = String(err);
        setLive('off', 'objcast unreachable');
        timer = setTimeout(poll, POLL_MS);
        return;
    }
    if (res.status === 401) return signOut('That is not the api_key of this server.');
    if (res.status === 404) return signOut('The status API is off on this server: set api_key in its conf.');
    if (!res.ok) {
        view.failures++;
        view.lastError = `HTTP ${res.status}`;
        setLive('late', `HTTP ${res.status}`);
        timer = setTimeout(poll, POLL_MS);
        return;
    }
    const st = await res.json();
    view.polls++;
    signedIn(true);
    show(st);
    view.last = st;
    setLive('on', `live, ${new Date().toLocaleTimeString()}`);
    timer = setTimeout(poll, POLL_MS);
}

$('#login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = $('#key').value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    $('#key').value = '';
    $('#login-error').textContent = '';
    clearTimeout(timer);
    poll();
});
$('#signout').addEventListener('click', () => signOut());

if (sessionStorage.getItem(KEY)) poll();
else signOut();
