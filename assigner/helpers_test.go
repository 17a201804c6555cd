package assigner

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 10, 9, 0, 0, time.UTC) // a Monday

func ptr[T any](v T) *T { return &v }

// online returns an active agent who is online at t0.
func online(id int64, name string) Agent {
	return Agent{ID: id, Name: name, Role: RoleAgent, Active: true, Presence: PresenceOnline, HeartbeatAt: t0.Add(-time.Minute)}
}

// offline returns an active agent whose last heartbeat was 7 min before t0.
func offline(id int64, name string) Agent {
	a := online(id, name)
	a.HeartbeatAt = t0.Add(-7 * time.Minute)
	return a
}

func member(a Agent, pos int) Member { return Member{Agent: a, Position: pos} }

func team(id int64, name string, s TeamStrategy, ms ...Member) TeamState {
	return TeamState{Team: Team{ID: id, Name: name, Strategy: s, OnlineOnly: true}, Members: ms}
}

func openConv(as ...Assignee) Conversation {
	return Conversation{ID: 100, ContactID: 7, Inbox: "pn1", Status: StatusOpen, Assignees: as, OpenedAt: t0}
}

func hasReason(t *testing.T, d Decision, code, text string) {
	t.Helper()
	for _, r := range d.Reasons {
		if r.Code == code && (text == "" || r.Text == text) {
			return
		}
	}
	t.Errorf("no reason %s %q in:\n%s", code, text, dump(d.Reasons))
}

func dump(rs []Reason) string {
	s := ""
	for _, r := range rs {
		s += "  " + r.Code + ": " + r.Text + "\n"
	}
	return s
}
