// The team and queue board: per team, the queue with waiting times, the
// members with presence and open count against capacity, and who the
// team's strategy picks next (GET /v1/teams/{id}/next, the same code that
// assigns).

import { state, agentName } from './state.js';
import { $, el, ago, maskNumber } from './dom.js';
import { api } from './api.js';

// boardSeq drops a board read that a newer one overtook.
let boardSeq = 0;

// renderBoard draws the board; open(id) shows a queued conversation.
export async function renderBoard(open) {
  const seq = ++boardSeq;
  const sections = await Promise.all(state.teams.map((t) => teamCard(t, open)));
  if (seq !== boardSeq) return;
  $('board').replaceChildren(...(sections.length ? sections : [el('p', { class: 'muted' }, 'No teams yet.')]));
}

async function teamCard(t, open) {
  const [queue, next] = await Promise.all([queueOf(t), nextOf(t)]);
  const members = t.member_ids.map((id) => state.agents.get(id)).filter(Boolean);
  return el('section', { class: 'team card', 'aria-label': `Team ${t.name}`, 'data-team-id': String(t.id) },
    el('h3', {}, t.name, el('span', { class: 'muted' }, ` · ${t.strategy.replace('_', ' ')}${t.online_only ? ' · online only' : ''}${t.max_open ? ` · at most ${t.max_open} open each` : ''}`)),
    nextLine(next),
    el('h4', {}, `Queue (${queue.length})`),
    el('ol', { class: 'queue' }, ...(queue.length ? queue.map((c) => el('li', { 'data-testid': 'queue-item', 'data-conversation-id': String(c.id) },
      el('button', { type: 'button', class: 'link', onclick: () => open(c.id) }, c.contact_name || maskNumber(c.contact_wa_id)),
      el('span', { class: 'muted' }, ` waiting ${ago(c.queued_at)}`)))
      : [el('li', { class: 'muted' }, 'Nobody waiting')])),
    el('h4', {}, 'Members'),
    el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Member'), el('th', {}, 'Presence'), el('th', {}, 'Open / capacity'))),
      el('tbody', {}, ...members.map((a) => el('tr', { class: next && next.agent_id === a.id ? 'next' : null },
        el('td', {}, a.name, next && next.agent_id === a.id ? el('span', { class: 'badge next' }, 'next') : null),
        el('td', {}, el('span', { class: `dot ${a.presence}` }), ` ${a.presence}`),
        el('td', {}, `${a.open_count} / ${a.capacity ?? (t.max_open ?? '∞')}`))))));
}

async function queueOf(t) {
  try {
    const d = await api('GET', `/v1/conversations?team_id=${t.id}&status=open&order=newest&limit=200`);
    return d.conversations.filter((c) => c.queued).sort((a, b) => Date.parse(a.queued_at) - Date.parse(b.queued_at));
  } catch { return []; }
}

async function nextOf(t) {
  try { return await api('GET', `/v1/teams/${t.id}/next`); } catch { return null; }
}

// nextLine says who is picked next, or why nobody is, with the reasons
// (each skipped member and why) one click away.
function nextLine(next) {
  if (!next) return el('p', { class: 'muted', 'data-testid': 'next-pick' }, 'Next pick: unknown');
  let text;
  if (next.agent_id) text = `Next pick: ${agentName(next.agent_id)}`;
  else if (next.manual) text = 'Next pick: nobody (manual: agents claim from the queue)';
  else text = 'Next pick: nobody eligible (the next conversation waits in the queue)';
  return el('details', { class: 'next-pick' },
    el('summary', { 'data-testid': 'next-pick', 'data-agent-id': next.agent_id ? String(next.agent_id) : '' }, text),
    el('ul', {}, ...next.reasons.map((r) => el('li', {}, r.text))));
}
