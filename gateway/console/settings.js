// Settings: the admin edits inboxes and teams; a supervisor edits their
// own teams (the teams the directory gives them; the API enforces it).
// A team's PUT replaces the whole team, so every field is sent as shown.
// Inbox fields a server may not have yet are shown, and sent, only when
// the server returned them.

import { state } from './state.js';
import { $, el } from './dom.js';
import { api } from './api.js';

// OPTIONAL_INBOX are inbox settings shown only when the server has them:
// [field, label, kind] where kind is seconds, days, text or json.
const OPTIONAL_INBOX = [
  ['first_response_sla_seconds', 'First response SLA, seconds (empty: none)', 'number'],
  ['auto_resolve_after_seconds', 'Resolve after this many idle seconds (empty: never)', 'number'],
  ['closing_message', 'Closing message (sent on auto-resolve)', 'text'],
  ['sticky_days', 'Give a returning contact their last agent for this many days (empty: off)', 'number'],
  ['business_hours', 'Business hours (JSON)', 'json'],
];

export function renderSettings() {
  $('inbox-settings-title').hidden = !state.admin;
  $('inbox-settings').replaceChildren(...(state.admin ? state.inboxes.map(inboxForm) : []));
  const teams = state.teams;
  $('team-settings').replaceChildren(...(teams.length ? teams.map(teamForm) : [el('p', { class: 'muted' }, 'No teams to edit.')]));
}

function agentSelect(label, value) {
  const sel = el('select', { 'aria-label': label });
  sel.replaceChildren(el('option', { value: '' }, 'No fallback agent'),
    ...[...state.agents.values()].filter((a) => a.active).map((a) => el('option', { value: String(a.id) }, a.name)));
  sel.value = value ? String(value) : '';
  return sel;
}

function jsonField(label, name, value) {
  return el('label', { class: 'block' }, label, el('textarea', { name, rows: 3, spellcheck: 'false', 'data-json': '1' }, JSON.stringify(value ?? null, null, 1)));
}

function numberField(label, name, value, min = '0') {
  return el('label', { class: 'block' }, label, el('input', { name, type: 'number', min, value: value ?? '' }));
}

const numberOrNull = (input) => (input.value === '' ? null : Number(input.value));

// optionalField is the input of an optional inbox setting, and how to read it.
function optionalField([name, label, kind], ib) {
  if (kind === 'json') return [jsonField(label, name, ib[name]), (f) => JSON.parse(f.elements[name].value || 'null')];
  if (kind === 'text') return [el('label', { class: 'block' }, label, el('textarea', { name, rows: 2 }, ib[name] ?? '')), (f) => f.elements[name].value];
  return [numberField(label, name, ib[name]), (f) => numberOrNull(f.elements[name])];
}

function inboxForm(ib) {
  const fallback = agentSelect('Fallback agent', ib.fallback_agent_id);
  const optional = OPTIONAL_INBOX.filter(([name]) => Object.hasOwn(ib, name)).map((o) => [o[0], ...optionalField(o, ib)]);
  const status = el('p', { class: 'muted', role: 'status' });
  const form = el('form', { class: 'card settings', 'data-inbox': ib.phone_number_id, 'aria-label': `Inbox ${ib.name || ib.phone_number_id}` },
    el('h3', {}, ib.name || ib.phone_number_id),
    el('label', { class: 'block' }, 'Name', el('input', { name: 'name', value: ib.name })),
    el('label', { class: 'block' }, 'Welcome message', el('textarea', { name: 'welcome', rows: 2 }, ib.welcome_message)),
    el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'first', 'data-testid': 'setting-first-responder', checked: ib.first_responder_becomes_owner }),
      " Assign first responder as the contact's default assignee?"),
    jsonField('Routing rules, in order (JSON)', 'routing', ib.routing),
    jsonField('Default assignment (JSON: team_id and/or agent_ids)', 'default_assign', ib.default_assign),
    el('label', { class: 'block' }, 'Fallback agent ', fallback),
    ...optional.map(([, field]) => field),
    el('button', { type: 'submit', 'data-testid': 'settings-save' }, 'Save'), status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const body = {
        name: form.elements.name.value, welcome_message: form.elements.welcome.value,
        first_responder_becomes_owner: form.elements.first.checked,
        routing: JSON.parse(form.elements.routing.value || 'null') || [], default_assign: JSON.parse(form.elements.default_assign.value || 'null'),
        fallback_agent_id: fallback.value ? Number(fallback.value) : null,
      };
      for (const [name, , read] of optional) body[name] = read(form);
      const saved = await api('PUT', `/v1/inboxes/${encodeURIComponent(ib.phone_number_id)}`, body);
      Object.assign(ib, saved);
      status.textContent = 'Saved.';
    } catch (err) {
      status.textContent = `Not saved: ${err.message}`;
    }
  });
  return form;
}

function choice(label, name, options, value, testid) {
  return el('label', { class: 'block' }, label, el('select', { name, 'data-testid': testid },
    ...options.map(([v, text]) => el('option', { value: v, selected: v === value }, text))));
}

function teamForm(t) {
  const status = el('p', { class: 'muted', role: 'status' });
  const members = el('fieldset', {}, el('legend', {}, 'Members (in team order)'),
    ...[...t.member_ids.map((id) => state.agents.get(id)).filter(Boolean), ...[...state.agents.values()].filter((a) => !t.member_ids.includes(a.id))]
      .map((a) => el('label', { class: 'check' }, el('input', { type: 'checkbox', value: String(a.id), checked: t.member_ids.includes(a.id) }), ` ${a.name}`)));
  const form = el('form', { class: 'card settings', 'aria-label': `Team ${t.name}`, 'data-testid': 'team-settings', 'data-team-id': String(t.id) },
    el('h3', {}, t.name),
    el('label', { class: 'block' }, 'Name', el('input', { name: 'name', value: t.name })),
    choice('Strategy', 'strategy', [['round_robin', 'round robin'], ['least_open', 'least open'], ['manual', 'manual']], t.strategy),
    el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'online', checked: t.online_only }), ' Only assign to online users'),
    numberField('Open conversations per member (empty: no limit)', 'max', t.max_open),
    choice("What the team's agents see", 'visibility', [['team', 'all of the team\'s conversations'], ['assigned', 'theirs and the unassigned ones']],
      t.agent_visibility || 'team', 'setting-visibility'),
    el('fieldset', {}, el('legend', {}, 'When the assignee does not reply'),
      numberField('Reassign after this many seconds without a reply (empty: never)', 'reassign_after', t.reassign_after_seconds, '1'),
      numberField('Reassign at most this many times', 'reassign_max', t.reassign_max),
      choice('Then', 'exhausted', [['keep', 'the last assignee keeps it'], ['queue', 'back to the queue'], ['fallback', "to the inbox's fallback agent"]],
        t.reassign_exhausted || 'keep'),
      el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'on_away', checked: !!t.reassign_on_away }),
        ' Reassign when the assignee goes away or offline')),
    members, el('button', { type: 'submit', 'data-testid': 'team-save' }, 'Save team'), status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = form.elements;
    try {
      const saved = await api('PUT', `/v1/teams/${t.id}`, {
        name: f.name.value, strategy: f.strategy.value, online_only: f.online.checked, max_open: numberOrNull(f.max),
        agent_visibility: f.visibility.value, reassign_after_seconds: numberOrNull(f.reassign_after),
        reassign_max: numberOrNull(f.reassign_max), reassign_exhausted: f.exhausted.value, reassign_on_away: f.on_away.checked,
        member_ids: [...members.querySelectorAll('input:checked')].map((i) => Number(i.value)),
      });
      Object.assign(t, saved);
      status.textContent = 'Saved.';
    } catch (err) {
      status.textContent = `Not saved: ${err.message}`;
    }
  });
  return form;
}
