// Building the page: elements by id, new elements, and how times, numbers
// and deadlines read.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...kids) {
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

// maskNumber keeps a phone number's last four digits.
export function maskNumber(n) {
  if (!n) return '';
  return '+' + '•'.repeat(Math.max(0, n.length - 4)) + n.slice(-4);
}

export function ago(t) {
  const s = Math.max(0, (Date.now() - Date.parse(t)) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}

export function duration(ms) {
  const m = Math.floor(ms / 60000);
  return m >= 60 ? `${Math.floor(m / 60)}h ${m % 60}m` : `${m}m`;
}

// windowLeft is the time left in the 24-hour customer service window.
export function windowLeft(conv) {
  if (!conv.window_closes_at) return null;
  const ms = Date.parse(conv.window_closes_at) - Date.now();
  return ms > 0 ? ms : 0;
}

// windowBadge shows the time left in the 24-hour window, or that it closed.
export function windowBadge(conv) {
  const left = windowLeft(conv);
  if (left === null) return null;
  return el('span', { class: left > 0 ? 'badge window' : 'badge closed', 'data-testid': 'window-badge' },
    left > 0 ? `${duration(left)} left` : 'window closed');
}

// slaBadge shows the first-response deadline of a conversation not
// answered yet: the time left, or "SLA breached" once it passed. Nothing
// when the server sends no deadline (no SLA on the inbox, or a server
// without SLAs).
export function slaBadge(conv) {
  if (conv.sla_breached === true) {
    return el('span', { class: 'badge breached', 'data-testid': 'sla-badge', 'data-sla': 'breached' }, 'SLA breached');
  }
  if (!conv.first_response_due_at || conv.first_reply_at || conv.status !== 'open') return null;
  const left = Date.parse(conv.first_response_due_at) - Date.now();
  if (left <= 0) return el('span', { class: 'badge breached', 'data-testid': 'sla-badge', 'data-sla': 'breached' }, 'SLA breached');
  return el('span', { class: 'badge sla', 'data-testid': 'sla-badge', 'data-sla': 'due', title: `first reply due by ${new Date(conv.first_response_due_at).toLocaleTimeString()}` },
    `reply due in ${duration(left + 59999)}`);
}
