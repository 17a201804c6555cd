// The console's state, shared by its modules, and the names it shows.

export const state = {
  token: '', me: null, admin: false, supervisor: false, agents: new Map(), teams: [], inboxes: [],
  screen: 'inbox', view: 'all', status: 'open', inbox: '',
  rows: new Map(), nextBefore: null, selected: null, conv: null, contact: null, live: null,
};

export function agentName(id) {
  const a = state.agents.get(id);
  return a ? a.name : `agent ${id}`;
}

export function teamName(id) {
  const t = state.teams.find((x) => x.id === id);
  return t ? t.name : `team ${id}`;
}
