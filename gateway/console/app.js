// wagw console: small modules over the /v1 API (this one: sign in, the
// inbox, a conversation, live events and the screens; state.js, dom.js,
// api.js, board.js, settings.js and thread.js). The bearer token lives in
// sessionStorage only (this tab, until it closes); it is sent in the
// Authorization header and never put in a URL. Live updates come from
// GET /v1/events, read with fetch() so that the header can be sent.

import { state, agentName, teamName } from './state.js';
import { $, el, ago, duration, maskNumber, windowLeft, windowBadge, slaBadge } from './dom.js';
import { api, APIError, hooks } from './api.js';
import { renderBoard } from './board.js';
import { renderSettings } from './settings.js';
import { elsewhere, ownerBadge, otherSender, renderOwner, renderTake } from './thread.js';

const TOKEN_KEY = 'wagw.token';
const PAGE = 50;
const HEARTBEAT_MS = 60000; // presence counts as recent for 5 minutes
const SOURCES = {
  owner: 'owner', manual: 'manual', flow: 'flow', round_robin: 'round robin',
  least_open: 'least open', first_responder: 'first responder', claim: 'claim', sticky: 'sticky',
};
const SKIPPED = new Set(['offline', 'away', 'at_capacity', 'not_member', 'already_assigned', 'inactive']);
const TICKS = { sent: '✓', delivered: '✓✓', read: '✓✓', failed: '✗' };

function assigneesText(conv) {
  return conv.assignees.map((a) => `${agentName(a.agent_id)} (${SOURCES[a.source] || a.source})`).join(', ');
}

// showError shows err on the line where (or clears it). from says what
// raised it: a refusal of what the user did stays until their next action
// or another conversation; a failed read ('load') goes with the next read
// that works (a live reread must not wipe a refusal the user has not read).
function showError(where, err, from = 'action') {
  $(where).textContent = err ? `${err.message}${err.code ? ` (${err.code})` : ''}` : '';
  $(where).dataset.from = err ? from : '';
}

// ---- sign in ----

async function signIn(token) {
  state.token = token;
  const me = await api('GET', '/v1/me');
  state.me = me;
  state.admin = me.role === 'admin';
  state.supervisor = me.role === 'supervisor';
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
  sessionOver();
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
  $('nav-settings').hidden = !state.admin && !state.supervisor; // a supervisor: their teams
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

// sendPresence sends the presence chosen (the heartbeat too). The sends
// go one after another, each with the choice as it is when it goes, so a
// slow earlier one (the heartbeat at sign-in) cannot land after a newer
// choice and undo it.
let presenceSent = Promise.resolve();
function sendPresence() {
  presenceSent = presenceSent.then(async () => {
    if (!state.token || !state.me.id) return;
    try {
      await api('PUT', `/v1/agents/${state.me.id}/presence`, { status: $('presence').value });
    } catch (err) {
      $('live').textContent = `presence: ${err.message}`;
    }
  });
  return presenceSent;
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
  const badges = [];
  if (c.queued) badges.push(el('span', { class: 'badge queued' }, `queued ${c.queued_at ? ago(c.queued_at) : ''}`));
  if (c.status === 'resolved') badges.push(el('span', { class: 'badge' }, 'resolved'));
  badges.push(slaBadge(c), c.status === 'open' ? windowBadge(c) : null, ownerBadge(c));
  const from = { out: 'You: ', out_other: `${otherSender(c)}: ` };
  const snippet = c.last_message ? `${from[c.last_message.direction] || ''}${c.last_message.body || `[${c.last_message.type}]`}` : '';
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
  el('span', { class: 'row-bottom' }, el('span', { class: 'who' }, who), ...badges.filter(Boolean))));
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
  for (const b of ['claim', 'resolve', 'assign-open', 'owners-open', 'reply-send', 'take']) $(b).disabled = true;
  $('conversation').hidden = false;
  document.body.classList.add('reading');
  closeForms();
  showError('conv-error', null);
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
    if ($('conv-error').dataset.from === 'load') showError('conv-error', null);
  } catch (err) {
    showError('conv-error', err, 'load');
  }
}

function renderConversation(conv, messages, decisions) {
  $('conv-title').textContent = conv.contact_name || 'Unknown';
  $('conv-title').tabIndex = -1;
  $('conv-sub').textContent = `${maskNumber(conv.contact_wa_id)} · inbox ${conv.inbox} · ${conv.status}${conv.team_id ? ` · team ${teamName(conv.team_id)}` : ''}`;
  $('conv-badges').replaceChildren(...[slaBadge(conv), conv.status === 'open' ? windowBadge(conv) : null].filter(Boolean));
  $('claim').disabled = conv.status !== 'open' || !state.me.id || conv.assignees.some((a) => a.agent_id === state.me.id);
  $('resolve').disabled = conv.status !== 'open';
  $('assign-open').disabled = false;
  $('owners-open').disabled = false;
  renderAssignees(conv);
  renderWhy(conv, decisions);
  renderOwner(conv);
  renderMessages(messages, conv);
  renderWindow(conv);
  renderTake(conv);
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

function renderMessages(messages, conv) {
  const other = otherSender(conv);
  $('messages').replaceChildren(...messages.map((m) => {
    const status = m.status || (m.direction === 'in' ? 'received' : 'pending');
    const tick = m.direction === 'out' ? el('span', { class: `tick ${status}`, title: status, 'aria-label': status },
      TICKS[status] || '…') : null;
    const failed = status === 'failed' ? el('span', { class: 'error' }, ` ${m.error_title || 'failed'}${m.error_code ? ` (${m.error_code})` : ''}`) : null;
    const byOther = m.direction === 'out_other';
    return el('li', { class: `msg ${m.direction}`, 'data-testid': 'message', 'data-direction': m.direction, 'data-status': status,
      'aria-label': byOther ? `${other} wrote: ${m.body || `[${m.type}]`}` : null },
      byOther ? el('span', { class: 'sender' }, other) : null,
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
  const free = open && !elsewhere(conv); // free-form replies go only while wagw owns the thread
  $('reply-input').disabled = !free;
  $('reply-send').disabled = !free;
  $('template-form').hidden = free || conv.status !== 'open';
  $('template-why').textContent = open ? 'While another responder owns the thread only an approved template can be sent.'
    : 'Outside the 24-hour window only an approved template can be sent.';
  let why = 'The 24-hour window is closed: the contact has not written yet, so WhatsApp takes only templates.';
  if (left !== null) {
    why = `The 24-hour window is closed: the contact last wrote more than a day ago (the window closed ${new Date(conv.window_closes_at).toLocaleString()}), so WhatsApp takes only templates.`;
  }
  $('window').textContent = conv.status !== 'open' ? 'This conversation is resolved.'
    : open ? `The 24-hour window closes in ${duration(left)}.` : why;
  $('window').dataset.window = conv.status !== 'open' ? 'resolved' : open ? 'open' : 'closed';
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
// until the next action (showError).
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

// take asks WhatsApp for the contact's thread back. Meta's answer comes
// through the relay and a refusal announces no change, so the
// conversation is read again until its last_take is no longer pending.
async function take() {
  const id = state.selected;
  await act(() => api('POST', `/v1/conversations/${id}/take`, {}));
  for (let i = 0; i < 90 && state.selected === id && state.conv && state.conv.last_take
    && state.conv.last_take.status === 'pending'; i++) {
    await new Promise((r) => setTimeout(r, 700));
    await loadConversation();
  }
}

function unassign(agentID) {
  act(() => api('DELETE', `/v1/conversations/${state.selected}/assignees/${agentID}`));
}

// ---- live events ----

// soon runs fn once after ms, however often it is asked for meanwhile. A
// failure is shown on the live line, never left as an unhandled rejection;
// signing out cancels what is pending (sessionOver).
const pending = new Map();
function soon(key, fn, ms = 150) {
  clearTimeout(pending.get(key));
  pending.set(key, setTimeout(() => {
    pending.delete(key);
    Promise.resolve().then(fn).catch((err) => { if (state.token) $('live').textContent = `update failed: ${err.message}`; });
  }, ms));
}

function sessionOver() {
  for (const t of pending.values()) clearTimeout(t);
  pending.clear();
}

// refreshDirectory reads names, presence and teams again and redraws the
// screen shown, but never the settings: a form being edited stays as it is.
async function refreshDirectory() {
  await loadDirectory();
  if (state.screen !== 'settings') renderScreen();
}

function onChange(kind, change) {
  switch (kind) {
    case 'ready':
      loadList();
      soon('open', loadConversation);
      soon('directory', refreshDirectory);
      break;
    case 'resync': // at most one reread a second, however often a flood says so
      soon('list', () => loadList(), 1000);
      soon('open', loadConversation, 1000);
      soon('directory', refreshDirectory, 1000);
      break;
    case 'conversation':
    case 'message':
      soon(`c${change.id}`, () => refreshRow(change.id));
      if (change.id === state.selected) soon('open', loadConversation);
      if (state.screen === 'board') soon('board', () => renderBoard(openFromBoard), 300);
      break;
    case 'contact':
      if (state.contact && state.contact.id === change.id) soon('open', loadConversation);
      break;
    case 'agent':
      soon('directory', refreshDirectory, 300);
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

// ---- screens ----

function openFromBoard(id) {
  showScreen('inbox');
  openConversation(id);
}

function showScreen(name) {
  state.screen = name;
  for (const s of ['inbox', 'board', 'settings']) $(`screen-${s}`).hidden = s !== name;
  for (const b of document.querySelectorAll('[data-screen]')) b.setAttribute('aria-pressed', String(b.dataset.screen === name));
  renderScreen();
}

function renderScreen() {
  if (state.screen === 'board') renderBoard(openFromBoard);
  else if (state.screen === 'settings') renderSettings();
  else { renderTeamViews(); renderList(); }
}

// ---- wiring ----

function wire() {
  hooks.unauthorized = signOut;
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
  $('take').addEventListener('click', take);
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
