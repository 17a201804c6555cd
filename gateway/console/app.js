// wagw console: a small module over the /v1 API. The bearer token lives in
// sessionStorage only (this tab, until it closes); it is sent in the
// Authorization header and never put in a URL. Live updates come from
// GET /v1/events, read with fetch() so that the header can be sent.

const TOKEN_KEY = 'wagw.token';
const PAGE = 50;
const HEARTBEAT_MS = 60000; // presence counts as recent for 5 minutes
const SOURCES = {
  owner: 'owner', manual: 'manual', flow: 'flow', round_robin: 'round robin',
  least_open: 'least open', first_responder: 'first responder', claim: 'claim', sticky: 'sticky',
};
const SKIPPED = new Set(['offline', 'away', 'at_capacity', 'not_member', 'already_assigned', 'inactive']);
const TICKS = { sent: '✓', delivered: '✓✓', read: '✓✓', failed: '✗' };

const $ = (id) => document.getElementById(id);
const state = {
  token: '', me: null, admin: false, agents: new Map(), teams: [], inboxes: [],
  screen: 'inbox', view: 'all', status: 'open', inbox: '',
  rows: new Map(), nextBefore: null, selected: null, conv: null, contact: null, live: null,
};

// ---- helpers ----

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function agentName(id) {
  const a = state.agents.get(id);
  return a ? a.name : `agent ${id}`;
}

function teamName(id) {
  const t = state.teams.find((x) => x.id === id);
  return t ? t.name : `team ${id}`;
}

// maskNumber keeps a phone number's last four digits.
function maskNumber(n) {
  if (!n) return '';
  return '+' + '•'.repeat(Math.max(0, n.length - 4)) + n.slice(-4);
}

function ago(t) {
  const s = Math.max(0, (Date.now() - Date.parse(t)) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}

// windowLeft is the time left in the 24-hour customer service window.
function windowLeft(conv) {
  if (!conv.window_closes_at) return null;
  const ms = Date.parse(conv.window_closes_at) - Date.now();
  return ms > 0 ? ms : 0;
}

function duration(ms) {
  const m = Math.floor(ms / 60000);
  return m >= 60 ? `${Math.floor(m / 60)}h ${m % 60}m` : `${m}m`;
}

function assigneesText(conv) {
  return conv.assignees.map((a) => `${agentName(a.agent_id)} (${SOURCES[a.source] || a.source})`).join(', ');
}

// ---- the API ----

class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${state.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (res.status === 401) {
    signOut('The token was refused. Sign in again.');
    throw new APIError(401, 'unauthorized', 'signed out');
  }
  if (res.status === 202 && data && data.poll) return pollCommand(data.poll);
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new APIError(res.status, e.code || 'error', e.message || res.statusText);
  }
  return data;
}

// pollCommand waits for a command the API answered 202 for.
async function pollCommand(path) {
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const d = await api('GET', path);
    if (d.status === 'done') {
      if (d.http_status >= 400) {
        const e = (d.result && d.result.error) || {};
        throw new APIError(d.http_status, e.code || 'error', e.message || 'refused');
      }
      return d.result;
    }
  }
  throw new APIError(504, 'pending', 'the command is still pending; it will show up when applied');
}

function showError(where, err) {
  $(where).textContent = err ? `${err.message}${err.code ? ` (${err.code})` : ''}` : '';
}

// ---- sign in ----

async function signIn(token) {
  state.token = token;
  const me = await api('GET', '/v1/me');
  state.me = me;
  state.admin = me.role === 'admin';
  sessionStorage.setItem(TOKEN_KEY, token);
  await loadDirectory();
  if (state.admin) {
    const d = await api('GET', '/v1/inboxes');
    state.inboxes = d.inboxes;
  }
  start();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (state.live) state.live.abort();
  clearInterval(state.heartbeat);
  state.token = '';
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('token').value = '';
  $('token').focus();
}

async function loadDirectory() {
  const d = await api('GET', '/v1/directory');
  state.agents = new Map(d.agents.map((a) => [a.id, a]));
  state.teams = d.teams;
}

function start() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('me-name').textContent = state.me.name;
  $('nav-settings').hidden = !state.admin;
  const presence = $('presence');
  presence.hidden = !state.me.id; // the admin token belongs to no agent
  if (state.me.id) {
    presence.value = state.me.presence || 'offline';
    sendPresence();
    state.heartbeat = setInterval(sendPresence, HEARTBEAT_MS);
  }
  document.querySelector('[data-view="mine"]').disabled = !state.me.id;
  setView(state.me.id ? 'mine' : 'all');
  renderTeamViews();
  renderInboxFilter();
  connectLive();
}

async function sendPresence() {
  try {
    await api('PUT', `/v1/agents/${state.me.id}/presence`, { status: $('presence').value });
  } catch (err) {
    $('live').textContent = `presence: ${err.message}`;
  }
}

// ---- inbox list ----

function renderTeamViews() {
  const box = $('team-views');
  box.replaceChildren(...state.teams.map((t) => el('button', {
    type: 'button', 'data-view': `team:${t.id}`, 'data-testid': 'view-team', 'aria-pressed': String(state.view === `team:${t.id}`),
    onclick: () => setView(`team:${t.id}`),
  }, t.name)));
}

function renderInboxFilter() {
  const sel = $('filter-inbox');
  const known = new Set(state.inboxes.map((i) => i.phone_number_id));
  for (const c of state.rows.values()) known.add(c.inbox);
  const current = sel.value;
  const names = new Map(state.inboxes.map((i) => [i.phone_number_id, i.name]));
  sel.replaceChildren(el('option', { value: '' }, 'All inboxes'),
    ...[...known].sort().map((id) => el('option', { value: id }, names.get(id) || id)));
  sel.value = current;
}

function setView(view) {
  state.view = view;
  for (const b of document.querySelectorAll('[data-view]')) b.setAttribute('aria-pressed', String(b.dataset.view === view));
  loadList();
}

function listQuery(before) {
  const q = new URLSearchParams({ order: 'newest', limit: String(PAGE) });
  if (state.status) q.set('status', state.status);
  if (state.inbox) q.set('inbox', state.inbox);
  if (state.view === 'mine') q.set('assignee', String(state.me.id));
  else if (state.view === 'unassigned') q.set('unassigned', 'true');
  else if (state.view.startsWith('team:')) q.set('team_id', state.view.slice(5));
  if (before) q.set('before', String(before));
  return `/v1/conversations?${q}`;
}

// inView reports whether a conversation belongs in the list shown now.
function inView(c) {
  if (state.status && c.status !== state.status) return false;
  if (state.inbox && c.inbox !== state.inbox) return false;
  if (state.view === 'mine') return c.assignees.some((a) => a.agent_id === state.me.id);
  if (state.view === 'unassigned') return c.assignees.length === 0;
  if (state.view.startsWith('team:')) return c.team_id === Number(state.view.slice(5));
  return true;
}

// listSeq numbers the list requests: an answer to one that a newer request
// (another view or filter chosen meanwhile) has overtaken is dropped.
let listSeq = 0;

async function loadList(more) {
  const seq = ++listSeq;
  try {
    const d = await api('GET', listQuery(more ? state.nextBefore : 0));
    if (seq !== listSeq) return;
    if (!more) state.rows.clear();
    for (const c of d.conversations) state.rows.set(c.id, c);
    state.nextBefore = d.next_before || null;
    renderList();
    renderInboxFilter();
  } catch (err) {
    $('empty').hidden = false;
    $('empty').textContent = err.message;
  }
}

function activity(c) { return Date.parse(c.last_message_at || c.opened_at); }

function renderList() {
  const rows = [...state.rows.values()].sort((a, b) => activity(b) - activity(a) || b.id - a.id);
  $('conversations').replaceChildren(...rows.map(renderRow));
  $('more').hidden = !state.nextBefore;
  $('empty').hidden = rows.length > 0;
  $('empty').textContent = 'No conversations here.';
}

function renderRow(c) {
  const left = windowLeft(c);
  const badges = [];
  if (c.queued) badges.push(el('span', { class: 'badge queued' }, `queued ${c.queued_at ? ago(c.queued_at) : ''}`));
  if (c.status === 'resolved') badges.push(el('span', { class: 'badge' }, 'resolved'));
  if (left !== null) badges.push(el('span', { class: left > 0 ? 'badge window' : 'badge closed' }, left > 0 ? `${duration(left)} left` : 'window closed'));
  const snippet = c.last_message ? `${c.last_message.direction === 'out' ? 'You: ' : ''}${c.last_message.body || `[${c.last_message.type}]`}` : '';
  const who = c.assignees.length ? assigneesText(c) : (c.team_id ? `team ${teamName(c.team_id)}, nobody yet` : 'unassigned');
  return el('li', {}, el('button', {
    type: 'button', class: c.id === state.selected ? 'row selected' : 'row',
    'data-testid': 'conversation-row', 'data-conversation-id': String(c.id),
    'aria-current': c.id === state.selected ? 'true' : null,
    onclick: () => openConversation(c.id),
  },
  el('span', { class: 'row-top' }, el('strong', {}, c.contact_name || 'Unknown'), el('span', { class: 'muted' }, maskNumber(c.contact_wa_id)),
    el('time', { class: 'muted', datetime: c.last_message_at || c.opened_at }, ago(c.last_message_at || c.opened_at))),
  el('span', { class: 'snippet' }, snippet),
  el('span', { class: 'row-bottom' }, el('span', { class: 'who' }, who), ...badges)));
}

// refreshRow reads one changed conversation and puts it in, or takes it
// out of, the list shown.
async function refreshRow(id) {
  let c;
  try { c = await api('GET', `/v1/conversations/${id}`); } catch { return; }
  if (inView(c)) state.rows.set(id, c); else state.rows.delete(id);
  renderList();
  if (!state.inbox) renderInboxFilter();
}

// ---- one conversation ----

async function openConversation(id) {
  state.selected = id;
  state.conv = null;
  state.contact = null;
  // nothing acts on a conversation before it is loaded
  for (const b of ['claim', 'resolve', 'assign-open', 'owners-open', 'reply-send']) $(b).disabled = true;
  $('conversation').hidden = false;
  document.body.classList.add('reading');
  closeForms();
  await loadConversation();
  renderList();
  $('conv-title').focus();
}

async function loadConversation() {
  const id = state.selected;
  if (!id) return;
  try {
    const [conv, msgs, decisions] = await Promise.all([
      api('GET', `/v1/conversations/${id}`), api('GET', `/v1/conversations/${id}/messages`),
      api('GET', `/v1/conversations/${id}/decisions`)]);
    if (state.selected !== id) return;
    state.conv = conv;
    state.contact = await api('GET', `/v1/contacts/${conv.contact_id}`);
    renderConversation(conv, msgs.messages, decisions.decisions);
    showError('conv-error', null);
  } catch (err) {
    showError('conv-error', err);
  }
}

function renderConversation(conv, messages, decisions) {
  $('conv-title').textContent = conv.contact_name || 'Unknown';
  $('conv-title').tabIndex = -1;
  $('conv-sub').textContent = `${maskNumber(conv.contact_wa_id)} · inbox ${conv.inbox} · ${conv.status}${conv.team_id ? ` · team ${teamName(conv.team_id)}` : ''}`;
  $('claim').disabled = conv.status !== 'open' || !state.me.id || conv.assignees.some((a) => a.agent_id === state.me.id);
  $('resolve').disabled = conv.status !== 'open';
  $('assign-open').disabled = false;
  $('owners-open').disabled = false;
  renderAssignees(conv);
  renderWhy(conv, decisions);
  renderMessages(messages);
  renderWindow(conv);
  renderContact();
}

function renderAssignees(conv) {
  $('assignees').replaceChildren(...(conv.assignees.length ? conv.assignees.map((a) => el('li', {},
    el('span', {}, `${agentName(a.agent_id)} `), el('span', { class: 'badge' }, SOURCES[a.source] || a.source),
    el('button', { type: 'button', class: 'link', 'aria-label': `Unassign ${agentName(a.agent_id)}`, onclick: () => unassign(a.agent_id) }, '×')))
    : [el('li', { class: 'muted' }, conv.team_id ? `Team ${teamName(conv.team_id)}, no member yet` : 'Nobody')]));
}

function renderWhy(conv, decisions) {
  const names = conv.assignees.map((a) => agentName(a.agent_id));
  $('why-title').textContent = names.length
    ? `Why is this conversation assigned to ${names.join(' and ')}?`
    : 'Why is this conversation not assigned?';
  const body = [...decisions].reverse().map((d) => el('section', { class: 'decision' },
    el('p', {}, el('strong', {}, d.summary || d.rule), el('span', { class: 'muted' }, ` · ${d.rule} · ${new Date(d.created_at).toLocaleString()}`)),
    el('ul', {}, ...d.reasons.map((r) => el('li', { 'data-testid': 'decision-reason', 'data-code': r.code, class: SKIPPED.has(r.code) ? 'skipped' : '' },
      SKIPPED.has(r.code) ? `Skipped: ${r.text}` : r.text))),
    ...(d.warnings || []).map((w) => el('p', { class: 'warning' }, w))));
  $('why-body').replaceChildren(...(body.length ? body : [el('p', { class: 'muted' }, 'No decision recorded yet.')]));
}

function renderMessages(messages) {
  $('messages').replaceChildren(...messages.map((m) => {
    const status = m.status || (m.direction === 'in' ? 'received' : 'pending');
    const tick = m.direction === 'out' ? el('span', { class: `tick ${status}`, title: status, 'aria-label': status },
      TICKS[status] || '…') : null;
    const failed = status === 'failed' ? el('span', { class: 'error' }, ` ${m.error_title || 'failed'}${m.error_code ? ` (${m.error_code})` : ''}`) : null;
    return el('li', { class: `msg ${m.direction}`, 'data-testid': 'message', 'data-direction': m.direction, 'data-status': status },
      el('span', { class: 'body' }, m.body || `[${m.type}]`),
      el('span', { class: 'meta' }, m.author_agent_id ? `${agentName(m.author_agent_id)} · ` : '',
        new Date(m.sent_at).toLocaleTimeString(), ' ', tick, failed));
  }));
  const list = $('messages');
  list.scrollTop = list.scrollHeight;
}

function renderWindow(conv) {
  const left = windowLeft(conv);
  const open = conv.status === 'open' && left !== null && left > 0;
  $('reply-input').disabled = !open;
  $('reply-send').disabled = !open;
  $('template-form').hidden = open || conv.status !== 'open';
  $('window').textContent = conv.status !== 'open' ? 'This conversation is resolved.'
    : open ? `The 24-hour window closes in ${duration(left)}.`
      : 'The 24-hour window is closed: the contact has not written for a day, so WhatsApp takes only templates.';
}

function renderContact() {
  const c = state.contact;
  if (!c) return;
  const facts = [['Name', c.name || '—'], ['Number', maskNumber(c.wa_id)], ['Last message from them', c.last_inbound_at ? new Date(c.last_inbound_at).toLocaleString() : '—']];
  if (c.blocked_at) facts.push(['Blocked', c.blocked_reason || 'yes']);
  $('contact-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  $('owners').replaceChildren(...(c.owner_ids.length ? c.owner_ids.map((id) => el('li', {}, agentName(id)))
    : [el('li', { class: 'muted' }, 'No owner')]));
}

function closeForms() {
  for (const [form, btn] of [['assign-form', 'assign-open'], ['owners-form', 'owners-open']]) {
    $(form).hidden = true;
    $(btn).setAttribute('aria-expanded', 'false');
  }
}

function toggleForm(form, btn, fill) {
  const open = $(form).hidden;
  $(form).hidden = !open;
  $(btn).setAttribute('aria-expanded', String(open));
  if (open) { fill(); $(form).querySelector('select').focus(); }
}

function agentOptions(select, none) {
  select.replaceChildren(el('option', { value: '' }, none),
    ...[...state.agents.values()].filter((a) => a.active).map((a) => el('option', { value: String(a.id) }, `${a.name} (${a.presence})`)));
}

// act runs a command on the open conversation and shows its outcome: the
// conversation is read again either way, and a refusal stays on screen
// after that read (which clears the error line when it succeeds).
async function act(fn) {
  let failure = null;
  try {
    showError('conv-error', null);
    await fn();
  } catch (err) {
    failure = err;
  }
  await loadConversation();
  if (failure) showError('conv-error', failure);
}

function unassign(agentID) {
  act(() => api('DELETE', `/v1/conversations/${state.selected}/assignees/${agentID}`));
}

// ---- live events ----

const pending = new Map();
function soon(key, fn, ms = 150) {
  clearTimeout(pending.get(key));
  pending.set(key, setTimeout(() => { pending.delete(key); fn(); }, ms));
}

function onChange(kind, change) {
  switch (kind) {
    case 'ready':
    case 'resync':
      loadList();
      soon('open', loadConversation);
      soon('directory', () => loadDirectory().then(renderScreen));
      break;
    case 'conversation':
    case 'message':
      soon(`c${change.id}`, () => refreshRow(change.id));
      if (change.id === state.selected) soon('open', loadConversation);
      if (state.screen === 'board') soon('board', renderBoard, 300);
      break;
    case 'contact':
      if (state.contact && state.contact.id === change.id) soon('open', loadConversation);
      break;
    case 'agent':
      soon('directory', () => loadDirectory().then(() => { if (state.screen !== 'settings') renderScreen(); }), 300);
      break;
  }
}

// connectLive reads GET /v1/events and reconnects by itself.
async function connectLive() {
  if (state.live) state.live.abort();
  const ctl = new AbortController();
  state.live = ctl;
  let delay = 1000;
  while (!ctl.signal.aborted && state.token) {
    try {
      const res = await fetch('/v1/events', { headers: { Authorization: `Bearer ${state.token}` }, signal: ctl.signal });
      if (res.status === 401) { signOut('The token was refused. Sign in again.'); return; }
      if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
      $('live').textContent = 'live';
      $('live').className = 'live on';
      delay = 1000;
      await readEvents(res.body.getReader(), onChange);
    } catch (err) {
      if (ctl.signal.aborted) return;
    }
    $('live').textContent = 'reconnecting…';
    $('live').className = 'live';
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 15000);
  }
}

async function readEvents(reader, handle) {
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let name = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data) handle(name, JSON.parse(data));
    }
  }
}

// ---- team and queue board ----

async function renderBoard() {
  const sections = await Promise.all(state.teams.map(async (t) => {
    let queue = [];
    try {
      const d = await api('GET', `/v1/conversations?team_id=${t.id}&status=open&order=newest&limit=200`);
      queue = d.conversations.filter((c) => c.queued).sort((a, b) => Date.parse(a.queued_at) - Date.parse(b.queued_at));
    } catch { queue = []; }
    const members = t.member_ids.map((id) => state.agents.get(id)).filter(Boolean);
    return el('section', { class: 'team card', 'aria-label': `Team ${t.name}` },
      el('h3', {}, t.name, el('span', { class: 'muted' }, ` · ${t.strategy.replace('_', ' ')}${t.online_only ? ' · online only' : ''}${t.max_open ? ` · at most ${t.max_open} open each` : ''}`)),
      el('h4', {}, `Queue (${queue.length})`),
      el('ol', { class: 'queue' }, ...(queue.length ? queue.map((c) => el('li', { 'data-testid': 'queue-item', 'data-conversation-id': String(c.id) },
        el('button', { type: 'button', class: 'link', onclick: () => { showScreen('inbox'); openConversation(c.id); } }, c.contact_name || maskNumber(c.contact_wa_id)),
        el('span', { class: 'muted' }, ` waiting ${ago(c.queued_at)}`)))
        : [el('li', { class: 'muted' }, 'Nobody waiting')])),
      el('h4', {}, 'Members'),
      el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Member'), el('th', {}, 'Presence'), el('th', {}, 'Open / capacity'))),
        el('tbody', {}, ...members.map((a) => el('tr', {}, el('td', {}, a.name),
          el('td', {}, el('span', { class: `dot ${a.presence}` }), ` ${a.presence}`),
          el('td', {}, `${a.open_count} / ${a.capacity ?? (t.max_open ?? '∞')}`))))));
  }));
  $('board').replaceChildren(...(sections.length ? sections : [el('p', { class: 'muted' }, 'No teams yet.')]));
}

// ---- settings (admin) ----

function jsonField(label, value) {
  return el('label', { class: 'block' }, label, el('textarea', { rows: 3, spellcheck: 'false', 'data-json': '1' }, JSON.stringify(value, null, 1)));
}

function renderSettings() {
  $('inbox-settings').replaceChildren(...state.inboxes.map((ib) => {
    const fallback = el('select', { 'aria-label': 'Fallback agent' });
    agentOptions(fallback, 'No fallback agent');
    fallback.value = ib.fallback_agent_id ? String(ib.fallback_agent_id) : '';
    const routing = jsonField('Routing rules, in order (JSON)', ib.routing);
    const deflt = jsonField('Default assignment (JSON: team_id and/or agent_ids)', ib.default_assign);
    const status = el('p', { class: 'muted', role: 'status' });
    const form = el('form', { class: 'card settings', 'data-inbox': ib.phone_number_id, 'aria-label': `Inbox ${ib.name || ib.phone_number_id}` },
      el('h3', {}, ib.name || ib.phone_number_id),
      el('label', { class: 'block' }, 'Name', el('input', { name: 'name', value: ib.name })),
      el('label', { class: 'block' }, 'Welcome message', el('textarea', { name: 'welcome', rows: 2 }, ib.welcome_message)),
      el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'first', 'data-testid': 'setting-first-responder', checked: ib.first_responder_becomes_owner }),
        " Assign first responder as the contact's default assignee?"),
      routing, deflt, el('label', { class: 'block' }, 'Fallback agent ', fallback),
      el('button', { type: 'submit', 'data-testid': 'settings-save' }, 'Save'), status);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const [r, d] = [routing, deflt].map((x) => JSON.parse(x.querySelector('textarea').value || 'null'));
        const body = {
          name: form.elements.name.value, welcome_message: form.elements.welcome.value,
          first_responder_becomes_owner: form.elements.first.checked, routing: r || [], default_assign: d,
          fallback_agent_id: fallback.value ? Number(fallback.value) : null,
          // Settings this form does not show are kept as they are (PUT replaces).
          auto_resolve_after_seconds: ib.auto_resolve_after_seconds ?? null,
          closing_message: ib.closing_message || '', sticky_days: ib.sticky_days ?? null,
        };
        const saved = await api('PUT', `/v1/inboxes/${encodeURIComponent(ib.phone_number_id)}`, body);
        Object.assign(ib, saved);
        status.textContent = 'Saved.';
      } catch (err) {
        status.textContent = `Not saved: ${err.message}`;
      }
    });
    return form;
  }));
  $('team-settings').replaceChildren(...state.teams.map(teamForm));
}

function teamForm(t) {
  const status = el('p', { class: 'muted', role: 'status' });
  const members = el('fieldset', {}, el('legend', {}, 'Members (in team order)'),
    ...[...t.member_ids.map((id) => state.agents.get(id)).filter(Boolean), ...[...state.agents.values()].filter((a) => !t.member_ids.includes(a.id))]
      .map((a) => el('label', { class: 'check' }, el('input', { type: 'checkbox', value: String(a.id), checked: t.member_ids.includes(a.id) }), ` ${a.name}`)));
  const form = el('form', { class: 'card settings', 'aria-label': `Team ${t.name}` },
    el('h3', {}, t.name),
    el('label', { class: 'block' }, 'Name', el('input', { name: 'name', value: t.name })),
    el('label', { class: 'block' }, 'Strategy', el('select', { name: 'strategy' },
      ...['round_robin', 'least_open', 'manual'].map((s) => el('option', { value: s, selected: s === t.strategy }, s.replace('_', ' '))))),
    el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'online', checked: t.online_only }), ' Only assign to online users'),
    el('label', { class: 'block' }, 'Open conversations per member (empty: no limit)',
      el('input', { name: 'max', type: 'number', min: '0', value: t.max_open ?? '' })),
    members, el('button', { type: 'submit' }, 'Save team'), status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const ids = [...members.querySelectorAll('input:checked')].map((i) => Number(i.value));
    try {
      const saved = await api('PUT', `/v1/teams/${t.id}`, {
        name: form.elements.name.value, strategy: form.elements.strategy.value, online_only: form.elements.online.checked,
        max_open: form.elements.max.value === '' ? null : Number(form.elements.max.value), member_ids: ids,
      });
      Object.assign(t, saved);
      status.textContent = 'Saved.';
    } catch (err) {
      status.textContent = `Not saved: ${err.message}`;
    }
  });
  return form;
}

// ---- screens ----

function showScreen(name) {
  state.screen = name;
  for (const s of ['inbox', 'board', 'settings']) $(`screen-${s}`).hidden = s !== name;
  for (const b of document.querySelectorAll('[data-screen]')) b.setAttribute('aria-pressed', String(b.dataset.screen === name));
  renderScreen();
}

function renderScreen() {
  if (state.screen === 'board') renderBoard();
  else if (state.screen === 'settings') renderSettings();
  else { renderTeamViews(); renderList(); }
}

// ---- wiring ----

function wire() {
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('login-error').textContent = '';
    try {
      await signIn($('token').value.trim());
    } catch (err) {
      sessionStorage.removeItem(TOKEN_KEY);
      $('login-error').textContent = err.status === 401 ? 'Unknown token.' : err.message;
    }
  });
  $('signout').addEventListener('click', () => signOut(''));
  for (const b of document.querySelectorAll('[data-screen]')) b.addEventListener('click', () => showScreen(b.dataset.screen));
  for (const b of document.querySelectorAll('.views [data-view]')) b.addEventListener('click', () => setView(b.dataset.view));
  $('filter-status').addEventListener('change', (e) => { state.status = e.target.value; loadList(); });
  $('filter-inbox').addEventListener('change', (e) => { state.inbox = e.target.value; loadList(); });
  $('more').addEventListener('click', () => loadList(true));
  $('presence').addEventListener('change', sendPresence);
  $('back').addEventListener('click', () => {
    state.selected = null;
    $('conversation').hidden = true;
    document.body.classList.remove('reading');
    renderList();
  });
  $('claim').addEventListener('click', () => act(() => api('POST', `/v1/conversations/${state.selected}/claim`, {})));
  $('resolve').addEventListener('click', () => act(() => api('POST', `/v1/conversations/${state.selected}/resolve`, {})));
  for (const [tab, panel, other, otherPanel] of [['tab-conv', 'panel-conv', 'tab-contact', 'panel-contact'], ['tab-contact', 'panel-contact', 'tab-conv', 'panel-conv']]) {
    $(tab).addEventListener('click', () => {
      $(tab).setAttribute('aria-selected', 'true');
      $(other).setAttribute('aria-selected', 'false');
      $(panel).hidden = false;
      $(otherPanel).hidden = true;
    });
  }
  $('assign-open').addEventListener('click', () => toggleForm('assign-form', 'assign-open', () => {
    $('assign-team').replaceChildren(el('option', { value: '' }, 'No team change'), ...state.teams.map((t) => el('option', { value: String(t.id) }, t.name)));
    agentOptions($('assign-agent'), 'No member');
  }));
  $('assign-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const team = $('assign-team').value;
    const agent = $('assign-agent').value;
    const body = { mode: document.querySelector('input[name="assign-mode"]:checked').value };
    if (team) body.team_id = Number(team);
    if (agent) body.agent_ids = [Number(agent)];
    closeForms();
    act(() => api('POST', `/v1/conversations/${state.selected}/assignees`, body));
  });
  $('owners-open').addEventListener('click', () => toggleForm('owners-form', 'owners-open', () => agentOptions($('owners-agent'), 'Choose an agent')));
  $('owners-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const id = Number($('owners-agent').value);
    if (!id) {
      showError('conv-error', new APIError(400, 'choose_agent', 'choose an agent first'));
      return;
    }
    const ids = [...new Set([...state.contact.owner_ids, id])];
    closeForms();
    act(() => api('PUT', `/v1/contacts/${state.contact.id}/owners`, { agent_ids: ids }));
  });
  $('reply-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('reply-input').value.trim();
    if (!text) return;
    act(async () => {
      await api('POST', `/v1/conversations/${state.selected}/messages`, { text });
      $('reply-input').value = '';
    });
  });
  $('reply-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('reply-form').requestSubmit();
  });
  $('template-form').addEventListener('submit', (e) => {
    e.preventDefault();
    act(() => api('POST', `/v1/conversations/${state.selected}/messages`, {
      template: { name: $('template-name').value, language: { code: $('template-lang').value } },
    }));
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeForms();
  });
}

wire();
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) signIn(saved).catch(() => signOut(''));
else $('token').focus();
