// Conversation Routing in the console: who owns the contact's thread when
// another responder shares the number (Meta Business Agent), how that
// responder's messages read, and taking the thread back.

import { $, el } from './dom.js';

const ROLES = { ai_agent: 'the AI agent' };
const RECENT_MS = 10 * 60000; // an accepted take is news for ten minutes

// elsewhere reports whether another responder owns the contact's thread.
export function elsewhere(conv) {
  return !!conv.thread_owner && conv.thread_owner.owner === 'other';
}

// responder names the other responder: "the AI agent (ai_agent)", the role
// Meta names, or "another responder" when Meta named none.
export function responder(conv) {
  const role = conv.thread_owner && conv.thread_owner.role;
  if (!role) return 'another responder';
  return `${ROLES[role] || `the ${role.replace(/_/g, ' ')}`} (${role})`;
}

function capital(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

// ownerBadge marks a list row whose thread another responder owns.
export function ownerBadge(conv) {
  if (!elsewhere(conv)) return null;
  return el('span', { class: 'badge other', 'data-testid': 'thread-badge' }, `with ${responder(conv)}`);
}

// renderOwner says in the conversation's header who handles the thread
// when it is not wagw.
export function renderOwner(conv) {
  const p = $('conv-owner');
  p.hidden = !elsewhere(conv);
  p.textContent = elsewhere(conv) ? `Handled by ${responder(conv)}` : '';
}

// otherSender is who a message of the other responder (direction
// out_other, an echo Meta sent us) says it is, for eyes and screen readers.
export function otherSender(conv) {
  return capital(conv && conv.thread_owner && conv.thread_owner.role ? responder(conv) : 'the other responder');
}

// renderTake shows, while another responder owns the thread, why the reply
// box is closed and the Take button; and the outcome of the latest take
// (pending, accepted, refused by Meta with its error).
export function renderTake(conv) {
  const other = elsewhere(conv) && conv.status === 'open';
  $('take-box').hidden = !other;
  $('take-reason').textContent = other
    ? `${capital(responder(conv))} owns this contact's thread: WhatsApp takes only templates from us until you take it back.` : '';
  const t = conv.last_take;
  let outcome = '';
  let kind = '';
  if (t && t.status === 'pending') {
    [kind, outcome] = ['pending', 'Asking WhatsApp for the thread…'];
  } else if (t && t.status === 'refused' && other) {
    [kind, outcome] = ['refused', `WhatsApp refused the take: ${t.error || 'refused'}${t.error_code ? ` (${t.error_code})` : ''}`];
  } else if (t && t.status === 'accepted' && !elsewhere(conv) && Date.now() - Date.parse(t.at) < RECENT_MS) {
    [kind, outcome] = ['accepted', 'You have the thread: replies go to the contact again.'];
  }
  $('take-status').textContent = outcome;
  $('take-status').dataset.take = kind;
  $('take').disabled = !other || kind === 'pending';
}
