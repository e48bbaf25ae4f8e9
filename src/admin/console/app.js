// pbx-core console: plain pages over the admin API. Each page builds its forms once and
// refreshes its tables every two seconds; text from the node is always set as text, never as HTML.
'use strict';

const state = { session: null, timer: null, page: null };

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && state.session) headers['x-csrf-token'] = state.session.csrf;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && path !== '/api/login') { showLogin(); throw new Error('logged out'); }
  if (!res.ok) {
    const err = new Error(data.error || `HTTP ${res.status}`);
    err.problems = data.problems || [];
    throw err;
  }
  return data;
}

// --- small DOM helpers --------------------------------------------------------------------------
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
const $ = (id) => document.getElementById(id);
function table(headings, rows, empty) {
  const body = rows.length ? rows : [el('tr', {}, el('td', { class: 'empty', colspan: String(headings.length), text: empty || 'none' }))];
  return el('table', {}, el('thead', {}, el('tr', {}, headings.map((h) => el('th', { text: h })))), el('tbody', {}, body));
}
const row = (cells, attrs) => el('tr', attrs || {}, cells.map((c) => (c instanceof Node ? el('td', {}, c) : el('td', { text: c === null || c === undefined ? '' : String(c) }))));
const badge = (cls, text) => el('span', { class: cls, text });
function button(label, onclick, cls) {
  return el('button', { type: 'button', class: cls || 'secondary', onclick: async (ev) => {
    ev.target.disabled = true;
    try { await onclick(); } catch (e) { report(e); } finally { ev.target.disabled = false; refresh(); }
  } }, label);
}
function report(e) {
  const box = document.querySelector('#page .error');
  if (box) box.textContent = [e.message, ...(e.problems || [])].join(' — ');
}
// set through the style object: the page's CSP allows no style attributes
function bar(used, limit) { const i = el('i'); i.style.width = `${limit ? Math.min(100, (100 * used) / limit) : 0}%`; return i; }
function field(label, name, attrs) { return el('label', {}, label, el('input', { name, ...(attrs || {}) })); }
const since = (iso) => { const s = Math.round((Date.now() - Date.parse(iso)) / 1000); return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`; };
const can = (role) => ['read-only', 'operator', 'administrator'].indexOf(state.session.role) >= ['read-only', 'operator', 'administrator'].indexOf(role);

// --- pages --------------------------------------------------------------------------------------
const pages = {
  solution: {
    title: 'Solution',
    async fill(box) {
      const s = await api('GET', '/api/status');
      const n = s.node;
      const nodes = [row([n.name, badge(`state-${n.state}`, n.state), n.role, n.profile, n.solutionRevision ?? n.revision, '—', n.pending.join(', ') || '—'], { 'data-node': n.name })];
      // the other nodes of a solution, as their heartbeats say, with the link to each
      for (const o of s.nodes) {
        const link = s.links.find((l) => l.node === o.name);
        nodes.push(row([o.name, badge(`state-${o.state}`, o.state), o.role, '', o.revision, link ? badge(`state-${link.state}`, link.state) : 'no link', ''], { 'data-node': o.name }));
      }
      for (const l of s.links) if (!s.nodes.some((o) => o.name === l.node)) nodes.push(row([l.node, badge('state-down', 'not heard'), l.role, '', '', badge(`state-${l.state}`, l.state), ''], { 'data-node': l.node }));
      const tiles = Object.entries(s.capacity).map(([k, v]) => el('div', { class: 'tile' }, el('span', { class: 'muted', text: k }), el('b', { text: `${v.used} / ${v.limit}` }),
        el('div', { class: 'bar' }, bar(v.used, v.limit))));
      box.replaceChildren(
        table(['node', 'state', 'role', 'profile', 'revision', 'link from here', 'waiting for restart'], nodes),
        el('h2', { text: 'Capacity in use' }), el('div', { class: 'tiles' }, tiles),
        el('h2', { text: `Alarms (${s.alarms.length})` }),
        table(['severity', 'alarm', 'what'], s.alarms.map((a) => row([badge(`sev-${a.severity}`, a.severity), a.code, a.message])), 'no alarms'),
      );
    },
  },
  registrations: {
    title: 'Registrations',
    async fill(box) {
      const regs = await api('GET', '/api/registrations');
      box.replaceChildren(table(['extension', 'name', 'from', 'phone', 'expires in'], regs.map((r) => row([r.extension, r.name, r.source, r.userAgent || '', `${r.expiresInSeconds} s`], { 'data-extension': r.extension })), 'no phone registered'));
    },
  },
  calls: {
    title: 'Calls in progress',
    async fill(box) {
      const calls = await api('GET', '/api/calls');
      const parties = (c) => el('div', {}, c.parties.map((p) => el('div', {}, `${p.number}`, p.codec ? el('b', { text: ` ${p.codec}` }) : '',
        p.quality && p.quality.reports ? el('span', { class: 'muted', text: ` loss ${(p.quality.fractionLost * 100).toFixed(1)} %, jitter ${p.quality.jitterMs.toFixed(1)} ms${p.quality.rttMs === null ? '' : `, rtt ${p.quality.rttMs.toFixed(0)} ms`}` }) : '')));
      box.replaceChildren(table(['call', 'state', 'from', 'to', 'parties (codec, quality)', 'for'],
        calls.map((c) => row([c.id, badge(`state-${c.state}`, c.state), c.caller, c.called, parties(c), since(c.startedAt)], { 'data-call': c.id })), 'no calls'));
    },
  },
  conferences: {
    title: 'Conferences',
    async fill(box) {
      const c = await api('GET', '/api/conferences');
      const rooms = c.rooms.map((r) => [el('h2', { text: `Conference ${r.id} (${r.kind})` }),
        table(['party', 'moderator', 'muted', ''], r.parties.map((p) => row([p.label, p.moderator ? 'yes' : '', p.muted ? 'muted' : '',
          can('operator') ? el('span', {}, button(p.muted ? 'Unmute' : 'Mute', () => api('PUT', `/api/conferences/${r.id}/parties/${encodeURIComponent(p.label)}/muted`, { muted: !p.muted })), ' ',
            button('Remove', () => api('DELETE', `/api/conferences/${r.id}/parties/${encodeURIComponent(p.label)}`), 'danger')) : ''], { 'data-party': p.label })))]);
      box.replaceChildren(el('p', { class: 'muted', text: `${c.channelsInUse} of ${c.channels} conference channels in use` }), ...(rooms.length ? rooms.flat() : [el('p', { class: 'muted', text: 'no conference now' })]));
    },
  },
  huntgroups: {
    title: 'Hunt groups',
    setup(top) {
      if (!can('administrator')) return;
      const f = el('form', { id: 'huntgroup-form' }, field('Number', 'extension', { required: '', pattern: '[0-9]{2,15}' }), field('Name', 'name'),
        field('Members (numbers, comma-separated)', 'members', { required: '' }),
        el('label', {}, 'Ring mode', el('select', { name: 'ringMode' }, ['collective', 'sequential', 'rotary', 'longestWaiting', 'collectiveCallWaiting'].map((m) => el('option', { value: m, text: m })))),
        el('button', { type: 'submit' }, 'Save hunt group'));
      f.addEventListener('submit', (ev) => submit(ev, f, async (d) => {
        const exists = (await api('GET', '/api/config/huntgroups')).find((g) => g.extension === d.extension);
        // what the form does not show (queue, overflow, voicemail) stays as it is
        const item = { ...(exists || {}), extension: d.extension, members: d.members.split(',').map((m) => m.trim()).filter(Boolean), ringMode: d.ringMode };
        if (d.name) item.name = d.name;
        return exists ? api('PUT', `/api/config/huntgroups/${d.extension}`, { item }) : api('POST', '/api/config/huntgroups', { item });
      }));
      top.append(el('h2', { text: 'Add or change a hunt group' }), f);
    },
    async fill(box) {
      const groups = await api('GET', '/api/huntgroups');
      box.replaceChildren(table(['number', 'name', 'ring mode', 'service', 'logged in', 'queued', ''], groups.map((g) => row([g.extension, g.name, g.ringMode, g.service, g.loggedIn.join(', '), g.queued,
        can('operator') ? el('span', {}, ['in', 'night', 'out'].filter((s) => s !== g.setState).map((s) => button(s === 'in' ? 'In service' : s === 'night' ? 'Night service' : 'Out of service', () => api('PUT', `/api/huntgroups/${g.extension}/service`, { state: s })))) : ''], { 'data-group': g.extension })), 'no hunt groups'));
    },
  },
  voicemail: {
    title: 'Voicemail',
    async fill(box) {
      const v = await api('GET', '/api/voicemail');
      box.replaceChildren(v.enabled ? table(['ports in use', 'ports', 'messages', 'minutes stored', 'node quota (minutes)'], [row([v.inUse, v.ports, v.messages, v.minutes.toFixed(1), v.nodeQuotaMinutes])])
        : el('p', { class: 'muted', text: 'this node has no voicemail ports' }));
    },
  },
  trunks: {
    title: 'Trunks and node links',
    async fill(box) {
      const s = await api('GET', '/api/status');
      box.replaceChildren(table(['trunk', 'line group', 'type', 'state', 'registration', 'channels', 'last error'], s.trunks.map((t) => row([t.name, t.lineGroup, t.type, badge(`state-${t.state}`, t.state), t.registration, `${t.channels} / ${t.maxChannels}`, t.lastError || ''])), 'no trunks'),
        el('h2', { text: 'Node links' }), table(['node', 'role', 'state', 'address', 'calls out', 'since', 'last error'],
          s.links.map((l) => row([l.node, l.role, badge(`state-${l.state}`, l.state), l.address, l.calls, since(l.since), l.lastError || ''], { 'data-link': l.node })), 'single node: no links'));
    },
  },
  alarms: {
    title: 'Alarms',
    async fill(box) {
      const a = await api('GET', '/api/alarms');
      box.replaceChildren(table(['severity', 'alarm', 'about', 'what', 'since', 'times'], a.map((x) => row([badge(`sev-${x.severity}`, x.severity), x.code, x.key, x.message, new Date(x.raisedAt).toLocaleString(), x.count])), 'no alarms'));
    },
  },
  audit: {
    title: 'Audit trail',
    async fill(box) {
      if (!can('administrator')) return box.replaceChildren(el('p', { class: 'muted', text: 'the audit trail is for administrators' }));
      const a = await api('GET', '/api/audit?limit=200');
      box.replaceChildren(table(['when', 'who', 'from', 'what', 'on', 'outcome', 'detail'], a.map((e) => row([new Date(e.at).toLocaleString(), e.actor, e.address, e.action, e.target, e.outcome,
        Array.isArray(e.detail.changes) ? e.detail.changes.join('; ') : JSON.stringify(e.detail)]))));
    },
  },
  users: {
    title: 'Users',
    setup(top) {
      if (!can('administrator')) return;
      const f = el('form', { id: 'user-form' }, field('Extension', 'extension', { required: '', pattern: '[0-9]{2,15}' }), field('Name', 'name'),
        field('SIP password (empty: keep)', 'password', { type: 'password', autocomplete: 'new-password' }), el('button', { type: 'submit' }, 'Save user'));
      f.addEventListener('submit', (ev) => submit(ev, f, async (d) => {
        const exists = (await api('GET', '/api/config/users')).find((u) => u.extension === d.extension);
        const item = { ...(exists || {}), extension: d.extension };
        if (d.name) item.name = d.name;
        if (d.password) item.password = d.password;
        else if (!exists) throw new Error('password: a new user needs one');
        return exists ? api('PUT', `/api/config/users/${d.extension}`, { item }) : api('POST', '/api/config/users', { item });
      }));
      top.append(el('h2', { text: 'Add or change a user' }), f);
    },
    async fill(box) {
      const [users, regs] = await Promise.all([api('GET', '/api/config/users'), api('GET', '/api/registrations')]);
      box.replaceChildren(table(['extension', 'name', 'registered', ''], users.map((u) => row([u.extension, u.name || u.extension, regs.some((r) => r.extension === u.extension) ? 'yes' : '',
        can('administrator') ? el('span', {}, button('Edit', async () => {
          const f = $('user-form');
          f.extension.value = u.extension; f.name.value = u.name || ''; f.password.value = '';
        }), ' ', button('Delete', async () => {
          if (confirm(`Delete user ${u.extension}?`)) await api('DELETE', `/api/config/users/${u.extension}`);
        }, 'danger')) : ''], { 'data-extension': u.extension }))));
    },
  },
};

async function submit(ev, form, action) {
  ev.preventDefault();
  const d = Object.fromEntries(new FormData(form).entries());
  const box = document.querySelector('#page .error');
  const note = document.querySelector('#page .notice');
  box.textContent = '';
  note.textContent = '';
  try {
    const r = await action(d);
    note.textContent = `Saved: revision ${r.revision}${r.pending.length ? `; waiting for a restart: ${r.pending.join(', ')}` : ''}`;
    form.reset();
  } catch (e) { report(e); }
  refresh();
}

// --- navigation and refresh ---------------------------------------------------------------------
function show(view) { for (const v of ['login-view', 'password-view', 'app-view']) $(v).hidden = v !== view; }
function showLogin() { state.session = null; clearInterval(state.timer); $('who').textContent = ''; $('logout').hidden = true; show('login-view'); }

async function refresh() {
  const p = pages[state.page];
  const box = $('content');
  if (!p || !box) return;
  try { await p.fill(box); } catch (e) { if (e.message !== 'logged out') report(e); }
}

function open() {
  const name = (location.hash || '#solution').slice(1);
  state.page = pages[name] ? name : 'solution';
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.getAttribute('href') === `#${state.page}`);
  const p = pages[state.page];
  const top = el('section', { id: 'forms' });
  $('page').replaceChildren(el('h1', { text: p.title }), top, el('p', { class: 'error', role: 'alert' }), el('p', { class: 'notice', role: 'status' }), el('section', { id: 'content' }));
  if (p.setup) p.setup(top);
  refresh();
}

function started(s) {
  state.session = s;
  $('node').textContent = `node ${s.node}`;
  $('who').textContent = `${s.account} (${s.role})`;
  $('logout').hidden = false;
  if (s.mustChangePassword) return show('password-view');
  show('app-view');
  open();
  clearInterval(state.timer);
  state.timer = setInterval(refresh, 2000);
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  $('login-error').textContent = '';
  try { started(await api('POST', '/api/login', { name: f.name.value, password: f.password.value })); f.reset(); } catch (e) { $('login-error').textContent = e.message; }
});
$('password-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  $('password-error').textContent = '';
  try {
    await api('POST', '/api/account/password', { current: f.current.value, password: f.password.value });
    f.reset();
    started(await api('GET', '/api/session'));
  } catch (e) { $('password-error').textContent = e.message; }
});
$('logout').addEventListener('click', async () => { await api('POST', '/api/logout').catch(() => {}); showLogin(); });
window.addEventListener('hashchange', () => { if (state.session && !state.session.mustChangePassword) open(); });
api('GET', '/api/session').then(started, () => showLogin());
