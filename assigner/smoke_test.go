package assigner

import "testing"

func TestSmokeOpenRoundRobin(t *testing.T) {
	ts := team(1, "Support", StrategyRoundRobin, member(online(1, "Ana"), 0), member(offline(2, "Bob"), 1))
	d := DecideOpen(OpenInput{Now: t0, Conversation: openConv(),
		Inbox: Inbox{PhoneNumberID: "pn1", DefaultAssign: &Step{TeamID: ptr(int64(1))}},
		Teams: map[int64]TeamState{1: ts}})
	if len(d.Chosen) != 1 || d.Chosen[0] != 1 {
		t.Fatalf("chosen %v\n%s", d.Chosen, dump(d.Reasons))
	}
	hasReason(t, d, CodeOffline, "Bob was skipped: offline since 10:02 (no heartbeat for 7 min).")
	t.Log(d.Summary())
	t.Log(dump(d.Reasons))
}
