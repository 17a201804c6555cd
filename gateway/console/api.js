// The /v1 API with the signed-in token. A write the API answered 202 for
// is polled until it is applied.

import { state } from './state.js';

export class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// hooks.unauthorized runs when the token is refused.
export const hooks = { unauthorized: () => {} };

export async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${state.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (res.status === 401) {
    hooks.unauthorized('The token was refused. Sign in again.');
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
