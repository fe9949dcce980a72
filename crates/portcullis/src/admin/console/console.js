// The Portcullis console. Everything shown comes from the admin API and is written as text
// (textContent, text nodes), never as markup: names, descriptions and arguments from upstreams
// and callers cannot run here.
'use strict';

const session = { csrf: null, id: null, scopes: [], timer: null };
const $ = (id) => document.getElementById(id);

// An element with attributes, listeners (on…) and children (nodes or text).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = { 'x-csrf-token': session.csrf || '' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) { showSignIn('Your session has ended; sign in again.'); throw new ApiError(401, 'signed out'); }
  const type = response.headers.get('content-type') || '';
  const data = type.includes('json') ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, (data && data.error) || String(data));
  return data;
}

function table(columns, rows, onRow) {
  const head = el('tr', {}, columns.map((c) => el('th', {}, c.title)));
  const body = rows.map((row) => {
    const tr = el('tr', onRow ? { class: 'clickable', onclick: () => onRow(row) } : {},
      columns.map((c) => el('td', {}, c.cell(row))));
    return tr;
  });
  return el('table', {}, el('thead', {}, head), el('tbody', {}, body));
}

function text(value) { return value === null || value === undefined ? '' : String(value); }
function pretty(value) { return el('pre', {}, JSON.stringify(value, null, 2)); }
function message(node, error) { node.replaceChildren(el('p', { class: 'error', role: 'alert' }, error.message)); }
function holds(scope) { return session.scopes.includes(scope); }

// ---- sign-in --------------------------------------------------------------------------

function showSignIn(why) {
  stopPolling();
  session.csrf = null;
  $('nav').hidden = true;
  $('view').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = why || '';
}

function signedIn(data) {
  session.csrf = data.csrf;
  session.id = data.id;
  session.scopes = data.scopes || [];
  $('who').textContent = 'signed in as ' + data.id;
  $('signin').hidden = true;
  $('nav').hidden = false;
  $('view').hidden = false;
  route();
}

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const response = await fetch('/console/session', {
    method: 'POST', credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key: $('key').value }),
  });
  const data = await response.json();
  $('key').value = '';
  if (!response.ok) { $('signin-error').textContent = data.error || 'sign-in refused'; return; }
  signedIn(data);
});

$('signout').addEventListener('click', async () => {
  await fetch('/console/session', { method: 'DELETE', credentials: 'same-origin', headers: { 'x-csrf-token': session.csrf || '' } });
  showSignIn('Signed out.');
});

// ---- views ----------------------------------------------------------------------------

function stopPolling() { if (session.timer) { clearInterval(session.timer); session.timer = null; } }

async function approvalsView(view) {
  const list = el('div', {});
  view.append(el('h2', {}, 'Approvals'), el('p', { class: 'muted' }, 'Calls waiting for a decision; refreshed every two seconds.'), list);
  const refresh = async () => {
    try {
      const data = await api('GET', '/api/v1/approvals');
      if (data.approvals.length === 0) { list.replaceChildren(el('p', { id: 'no-approvals' }, 'No call waits for approval.')); return; }
      list.replaceChildren(table([
        { title: 'Id', cell: (a) => a.id },
        { title: 'Tool', cell: (a) => a.tool },
        { title: 'Caller', cell: (a) => a.principal },
        { title: 'Until', cell: (a) => a.expires_at },
        { title: 'Arguments (redacted)', cell: (a) => pretty(a.arguments) },
        { title: '', cell: (a) => holds('portcullis:approve') ? [
          el('button', { type: 'button', onclick: () => decide(a.id, 'approve') }, 'Approve'), ' ',
          el('button', { type: 'button', onclick: () => decide(a.id, 'deny') }, 'Deny')] : 'needs portcullis:approve' },
      ], data.approvals));
    } catch (e) { if (e.status !== 401) message(list, e); }
  };
  const decide = async (id, verdict) => {
    try { await api('POST', `/api/v1/approvals/${encodeURIComponent(id)}/${verdict}`, { reason: 'from the console' }); } catch (e) { if (e.status !== 401) alert(e.message); }
    refresh();
  };
  await refresh();
  session.timer = setInterval(refresh, 2000);
}

async function auditView(view) {
  const outcomes = ['', 'ok', 'tool_error', 'upstream_error', 'timeout', 'unavailable', 'cancelled', 'unknown_tool', 'refused', 'limited', 'blocked', 'withheld', 'unauthenticated'];
  const field = (name, label, placeholder) => el('label', {}, label, el('input', { name, placeholder: placeholder || '' }));
  const form = el('form', { class: 'inline', id: 'audit-filter' },
    field('principal', 'Principal'), field('tool', 'Tool'),
    el('label', {}, 'Outcome', el('select', { name: 'outcome' }, outcomes.map((o) => el('option', { value: o }, o || 'any')))),
    field('since', 'Since', '24h or 2026-12-01T00:00:00Z'), field('until', 'Until'),
    el('button', { type: 'submit' }, 'Filter'),
    el('button', { type: 'button', onclick: () => exportAs('csv') }, 'Export CSV'),
    el('button', { type: 'button', onclick: () => exportAs('jsonl') }, 'Export JSONL'));
  const chain = el('p', { id: 'chain' }, 'Checking the chain…');
  const results = el('div', { id: 'audit-results' });
  const detail = el('div', { id: 'audit-detail' });
  view.append(el('h2', {}, 'Audit log'), chain, form, results, detail);
  const params = () => {
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    return p;
  };
  // The first load and a filter submitted before it answers run at once; only the newest
  // request may draw, or a stale unfiltered answer would overwrite the filtered one.
  let latest = 0;
  const load = async () => {
    detail.replaceChildren();
    const ticket = ++latest;
    try {
      const p = params(); p.set('limit', '200');
      const data = await api('GET', '/api/v1/audit?' + p);
      if (ticket !== latest) return;
      results.dataset.query = p.toString();
      results.replaceChildren(el('p', {}, `${data.matched} matching records; the newest ${data.returned} shown. Click one for its detail.`),
        table([
          { title: 'Time', cell: (r) => r.time },
          { title: 'Principal', cell: (r) => r.principal },
          { title: 'Method', cell: (r) => r.method },
          { title: 'Tool', cell: (r) => text(r.tool) },
          { title: 'Outcome', cell: (r) => r.outcome },
          { title: 'Reason', cell: (r) => r.reason },
        ], data.records, (r) => detail.replaceChildren(el('h3', {}, 'Record ' + r.request_id), pretty(r))));
    } catch (e) { if (e.status !== 401 && ticket === latest) message(results, e); }
  };
  const exportAs = async (format) => {
    try {
      const p = params(); p.set('format', format);
      const data = await api('GET', '/api/v1/audit/export?' + p);
      const link = el('a', { href: URL.createObjectURL(new Blob([data])), download: 'audit.' + format });
      link.click();
    } catch (e) { if (e.status !== 401) message(results, e); }
  };
  form.addEventListener('submit', (event) => { event.preventDefault(); load(); });
  try {
    const v = await api('GET', '/api/v1/audit/verify');
    chain.className = v.intact ? 'ok' : 'bad';
    chain.textContent = v.intact ? `Hash chain intact: ${v.records} records in ${v.files} file(s).` : `Hash chain BROKEN in ${v.file} at line ${v.line}: ${v.reason}`;
  } catch (e) { if (e.status !== 401) message(chain, e); }
  await load();
}

async function keysView(view) {
  const created = el('div', { id: 'created-key' });
  const list = el('div', {});
  const form = el('form', { class: 'inline', id: 'new-key' },
    el('label', {}, 'Name', el('input', { name: 'name', required: '' })),
    el('label', {}, 'Scopes (comma-separated)', el('input', { name: 'scopes' })),
    el('label', {}, 'Expires (like 30d; empty: never)', el('input', { name: 'expires' })),
    el('button', { type: 'submit' }, 'Create key'));
  view.append(el('h2', {}, 'API keys'), form, created, list);
  const load = async () => {
    try {
      const data = await api('GET', '/api/v1/keys');
      list.replaceChildren(table([
        { title: 'Id', cell: (k) => k.id },
        { title: 'Name', cell: (k) => k.name },
        { title: 'Scopes', cell: (k) => k.scopes.join(' ') },
        { title: 'State', cell: (k) => k.state },
        { title: 'Created', cell: (k) => k.created_at },
        { title: 'Expires', cell: (k) => text(k.expires_at) },
        { title: '', cell: (k) => k.state === 'active' ? [
          el('button', { type: 'button', onclick: () => act(k.id, 'rotate') }, 'Rotate'), ' ',
          el('button', { type: 'button', onclick: () => act(k.id, 'revoke') }, 'Revoke')] : '' },
      ], data.keys));
    } catch (e) { if (e.status !== 401) message(list, e); }
  };
  const shown = (key, what) => created.replaceChildren(el('p', {}, `${what} ${key.id}. Its token is shown this once:`), el('p', { class: 'token', id: 'new-token' }, key.token));
  const act = async (id, verb) => {
    if (verb === 'revoke' && !confirm(`Revoke ${id}? Running gateways refuse it at once.`)) return;
    try {
      const key = await api('POST', `/api/v1/keys/${encodeURIComponent(id)}/${verb}`, {});
      if (verb === 'rotate') shown(key, 'Rotated; the new key is'); else created.replaceChildren(el('p', {}, `Revoked ${id}.`));
    } catch (e) { if (e.status !== 401) message(created, e); }
    load();
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const f = new FormData(form);
    const body = { name: f.get('name'), scopes: String(f.get('scopes') || '').split(',').map((s) => s.trim()).filter(Boolean) };
    if (f.get('expires')) body.expires = f.get('expires');
    try { shown(await api('POST', '/api/v1/keys', body), 'Created'); form.reset(); } catch (e) { if (e.status !== 401) message(created, e); }
    load();
  });
  await load();
}

async function upstreamsView(view) {
  const list = el('div', {});
  const tools = el('div', { id: 'upstream-tools' });
  view.append(el('h2', {}, 'Upstreams'), list, tools);
  try {
    const data = await api('GET', '/api/v1/upstreams');
    list.replaceChildren(table([
      { title: 'Name', cell: (u) => u.name },
      { title: 'Kind', cell: (u) => u.kind },
      { title: 'State', cell: (u) => el('span', { class: u.up ? 'ok' : 'bad' }, u.up ? 'up' : 'down') },
      { title: 'Connections', cell: (u) => u.connects },
      { title: 'Failures', cell: (u) => u.failures },
      { title: 'Last error', cell: (u) => text(u.last_error) },
      { title: 'Tools published', cell: (u) => u.tools_published },
    ], data.upstreams, async (u) => {
      try {
        const t = await api('GET', `/api/v1/upstreams/${encodeURIComponent(u.name)}/tools`);
        tools.replaceChildren(el('h3', {}, `Tools of ${u.name}`), table([
          { title: 'Published name', cell: (x) => x.name },
          { title: 'Description', cell: (x) => text(x.description) },
          { title: 'Scopes', cell: (x) => x.scopes.join(' ') || 'public' },
          { title: 'Read-only', cell: (x) => x.read_only ? 'yes' : 'no' },
          { title: 'Approval', cell: (x) => x.approval },
        ], t.tools));
      } catch (e) { if (e.status !== 401) message(tools, e); }
    }));
  } catch (e) { if (e.status !== 401) message(list, e); }
}

async function pinsView(view) {
  const list = el('div', {});
  const detail = el('div', { id: 'pin-detail' });
  view.append(el('h2', {}, 'Pinned tool definitions'), list, detail);
  const load = async () => {
    try {
      const data = await api('GET', '/api/v1/pins');
      list.replaceChildren(table([
        { title: 'Tool', cell: (p) => p.tool },
        { title: 'Upstream', cell: (p) => p.upstream },
        { title: 'State', cell: (p) => el('span', { class: p.quarantined ? 'bad' : '' }, p.state) },
        { title: 'Hash', cell: (p) => text(p.hash).slice(0, 16) },
        { title: 'Accepted by', cell: (p) => text(p.accepted_by) },
      ], data.pins, show));
    } catch (e) { if (e.status !== 401) message(list, e); }
  };
  const show = async (p) => {
    try {
      const pin = await api('GET', `/api/v1/pins/${encodeURIComponent(p.tool)}`);
      const decide = async (verb) => {
        try { await api('POST', `/api/v1/pins/${encodeURIComponent(p.tool)}/${verb}`, {}); detail.replaceChildren(el('p', {}, `${verb}ed.`)); } catch (e) { if (e.status !== 401) message(detail, e); }
        load();
      };
      detail.replaceChildren(el('h3', {}, pin.tool),
        pin.diff ? [el('pre', { class: 'diff' }, pin.diff),
          el('button', { type: 'button', onclick: () => decide('accept') }, 'Accept the new definition'), ' ',
          el('button', { type: 'button', onclick: () => decide('reject') }, 'Reject it')]
          : [el('p', {}, 'Matches its pin; nothing waits.'), pretty(pin.definition)]);
    } catch (e) { if (e.status !== 401) message(detail, e); }
  };
  await load();
}

const views = { approvals: approvalsView, audit: auditView, keys: keysView, upstreams: upstreamsView, pins: pinsView };

function route() {
  if (!session.csrf) return;
  stopPolling();
  let name = location.hash.slice(1);
  if (!views[name]) name = holds('portcullis:admin') ? 'audit' : 'approvals';
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('current', a.getAttribute('href') === '#' + name);
  const view = $('view');
  view.replaceChildren();
  views[name](view);
}

window.addEventListener('hashchange', route);

(async () => {
  const response = await fetch('/console/session', { credentials: 'same-origin' });
  if (response.ok) signedIn(await response.json()); else showSignIn('');
})();
