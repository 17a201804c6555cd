package loadtest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// fakeStore is a Store over fixed data.
type fakeStore struct {
	msgs     []StoredMessage
	convs    []StoredConversation
	statuses []StoredStatus
	agents   []StoredAgent
}

func (f *fakeStore) Baseline(context.Context) (Baseline, error) { return Baseline{}, nil }
func (f *fakeStore) CountInbound(context.Context, Baseline) (int64, error) {
	return int64(len(f.msgs)), nil
}
func (f *fakeStore) InboundMessages(context.Context, Baseline) ([]StoredMessage, error) {
	return f.msgs, nil
}
func (f *fakeStore) Conversations(_ context.Context, ids []int64) ([]StoredConversation, error) {
	var out []StoredConversation
	for _, c := range f.convs {
		for _, id := range ids {
			if c.ID == id {
				out = append(out, c)
			}
		}
	}
	return out, nil
}
func (f *fakeStore) Statuses(context.Context, []string) ([]StoredStatus, error) {
	return f.statuses, nil
}
func (f *fakeStore) Agents(context.Context) ([]StoredAgent, error) { return f.agents, nil }

var vt0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ms is vt0 plus n milliseconds, in Unix ns.
func ms(n int) int64 { return vt0.Add(time.Duration(n) * time.Millisecond).UnixNano() }

func ref(contact string, seq int) MessageRef {
	return MessageRef{WAMID: contact + "-" + itoa(seq), Contact: contact, Inbox: "in1", Type: "text", Opens: true, Seq: seq}
}

// verifyFixture: contact A sends #1, #2 (one POST), then #3 after #1/#2
// were acknowledged; contact B sends #1 and #2 in two POSTs in flight at
// the same time.
func verifyFixture() (*RunResult, *fakeStore) {
	run := &RunResult{Requests: []RequestRecord{
		{Intended: ms(0), Start: ms(0), End: ms(10), Code: 200, Messages: []MessageRef{ref("A", 1), ref("A", 2)}, Statuses: []string{"out1:sent"}},
		{Intended: ms(5), Start: ms(5), End: ms(30), Code: 200, Messages: []MessageRef{ref("B", 1)}},
		{Intended: ms(6), Start: ms(6), End: ms(20), Code: 200, Messages: []MessageRef{ref("B", 2)}},
		{Intended: ms(50), Start: ms(50), End: ms(60), Code: 200, Messages: []MessageRef{ref("A", 3)}},
	}}
	stored := func(id int64, r MessageRef, conv int64, at int) StoredMessage {
		return StoredMessage{ID: id, WAMID: r.WAMID, ContactKey: r.Contact, Inbox: r.Inbox, Type: r.Type, ConversationID: conv,
			StoredAt: time.Unix(0, ms(at))}
	}
	st := &fakeStore{
		msgs: []StoredMessage{
			stored(1, ref("A", 1), 10, 15), stored(2, ref("A", 2), 10, 15),
			stored(3, ref("B", 2), 11, 25), stored(4, ref("B", 1), 11, 35), // concurrent: allowed
			stored(5, ref("A", 3), 10, 70),
		},
		convs: []StoredConversation{
			{ID: 10, ContactKey: "A", Inbox: "in1", Status: "open", OpenedBy: "A-1", OpenDecisions: 1, CommittedAt: time.Unix(0, ms(15)),
				Welcomes: 1, WelcomeState: "sent", WelcomeStatus: "read", InboxWelcome: true, Assignees: []StoredAssignee{{AgentID: 1, Source: "round_robin"}}},
			{ID: 11, ContactKey: "B", Inbox: "in1", Status: "open", OpenedBy: "B-2", OpenDecisions: 1, CommittedAt: time.Unix(0, ms(25)),
				Welcomes: 1, WelcomeState: "pending", InboxWelcome: true, Assignees: []StoredAssignee{{AgentID: 2, Source: "round_robin"}}},
		},
		statuses: []StoredStatus{{WAMID: "out1", Status: "sent"}},
		agents:   []StoredAgent{{ID: 1, Name: "Ana", Presence: "online"}, {ID: 2, Name: "Bo", Presence: "online"}},
	}
	return run, st
}

func verifyCfg(st Store) VerifyConfig {
	return VerifyConfig{Store: st, Source: "fake", Settle: 10 * time.Millisecond, ExpectWelcome: true, ExpectAssigned: true, MaxSpread: 0,
		HeardCommits: true}
}

func TestVerifyPassesAndMeasures(t *testing.T) {
	run, st := verifyFixture()
	v, err := Verify(context.Background(), verifyCfg(st), run)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Passed {
		t.Fatalf("failed: %v", v.Failures())
	}
	if v.Expected != 5 || v.Stored != 5 || v.Concurrent != 1 || v.Conversations != 2 || v.Assigned != 2 || v.StatusesExpected != 1 {
		t.Fatalf("counts: %+v", v)
	}
	// e2e: A1 15ms, A2 15, B2 19, B1 30, A3 20 → max 30 ms.
	if v.E2E.Count != 5 || v.E2E.MaxMS < 29.9 || v.E2E.MaxMS > 30.1 {
		t.Fatalf("e2e %+v", v.E2E)
	}
	if v.DrainSeconds < 0.0099 || v.DrainSeconds > 0.0101 { // last stored 70 ms, last answer 60 ms
		t.Fatalf("drain %v", v.DrainSeconds)
	}
	// assignment: A-1 sent at 0, heard committed at 15 ms; B-2 at 6 and 25.
	if v.Assignment.Count != 2 || v.Assignment.MaxMS < 18.9 || v.Assignment.MaxMS > 19.1 || v.AssignmentUnheard != 0 ||
		v.SpreadMaxMinus != 0 || len(v.Spread) != 2 {
		t.Fatalf("assignment %+v (unheard %d) spread %+v", v.Assignment, v.AssignmentUnheard, v.Spread)
	}
}

// TestVerifyMeasuresAssignmentOnlyFromHeardCommits: a conversation whose
// commit was not heard is counted apart, not measured; a store that did
// not listen measures no assignment latency at all.
func TestVerifyMeasuresAssignmentOnlyFromHeardCommits(t *testing.T) {
	run, st := verifyFixture()
	st.convs[1].CommittedAt = time.Time{}
	v, err := Verify(context.Background(), verifyCfg(st), run)
	if err != nil {
		t.Fatal(err)
	}
	if v.Assignment.Count != 1 || v.AssignmentUnheard != 1 {
		t.Fatalf("assignment %+v, unheard %d; want 1 measured, 1 unheard", v.Assignment, v.AssignmentUnheard)
	}
	cfg := verifyCfg(st)
	cfg.HeardCommits = false
	if v, err = Verify(context.Background(), cfg, run); err != nil {
		t.Fatal(err)
	}
	if v.Assignment.Count != 0 || v.AssignmentUnheard != 0 {
		t.Fatalf("assignment %+v, unheard %d; want nothing measured", v.Assignment, v.AssignmentUnheard)
	}
}

func TestVerifyFindsLossDuplicatesAndReordering(t *testing.T) {
	run, st := verifyFixture()
	// A3 stored before A1 and A2, though both were acknowledged before A3 was sent.
	st.msgs[4].ID = 0
	st.msgs = append([]StoredMessage{st.msgs[4]}, st.msgs[:4]...)
	// B1 lost.
	st.msgs = st.msgs[:len(st.msgs)-1]
	v, err := Verify(context.Background(), verifyCfg(st), run)
	if err != nil {
		t.Fatal(err)
	}
	if v.Passed || v.Lost != 1 || v.Reordered != 2 {
		t.Fatalf("lost %d reordered %d passed %v: %v", v.Lost, v.Reordered, v.Passed, v.Failures())
	}
	joined := strings.Join(v.Failures(), "\n")
	for _, want := range []string{"1 lost", "2 reordered"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("failures %q lack %q", joined, want)
		}
	}
	var offenders []string
	for _, c := range v.Checks {
		offenders = append(offenders, c.Offenders...)
	}
	if !strings.Contains(strings.Join(offenders, "\n"), "#1") {
		t.Fatalf("offenders do not name the messages: %v", offenders)
	}
}

func TestVerifyFindsSamePostReorderAndExtraConversations(t *testing.T) {
	run, st := verifyFixture()
	st.msgs[0].ID, st.msgs[1].ID = 2, 1 // A2 before A1: same POST, payload order
	st.msgs[1].ConversationID = 12      // and in a second open conversation
	st.convs = append(st.convs, StoredConversation{ID: 12, ContactKey: "A", Inbox: "in1", Status: "open", OpenedBy: "A-2",
		OpenDecisions: 2, Welcomes: 2, InboxWelcome: true})
	st.statuses = nil
	v, err := Verify(context.Background(), verifyCfg(st), run)
	if err != nil {
		t.Fatal(err)
	}
	if v.Reordered != 1 || v.DuplicateConversations != 1 || v.StatusesMissing != 1 || v.Passed {
		t.Fatalf("reordered %d duplicate conversations %d statuses missing %d: %v", v.Reordered, v.DuplicateConversations, v.StatusesMissing, v.Failures())
	}
	if !strings.Contains(strings.Join(v.Failures(), "\n"), "one welcome per opened conversation") {
		t.Fatalf("two welcomes not reported: %v", v.Failures())
	}
}

func TestVerifyIgnoresUnacknowledged(t *testing.T) {
	run, st := verifyFixture()
	run.Requests[1].Code = 503 // B1 never acknowledged and (say) never stored
	st.msgs = append(st.msgs[:3], st.msgs[4])
	v, err := Verify(context.Background(), verifyCfg(st), run)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Passed || v.Expected != 4 || v.Lost != 0 {
		t.Fatalf("expected %d lost %d: %v", v.Expected, v.Lost, v.Failures())
	}
}

// TestVerifyRefusesNothingAcknowledged: with no acknowledged message or
// status there is nothing to verify, and that is no pass.
func TestVerifyRefusesNothingAcknowledged(t *testing.T) {
	run, st := verifyFixture()
	for i := range run.Requests {
		run.Requests[i].Code = 401
	}
	st.msgs, st.convs, st.statuses = nil, nil, nil
	cfg := verifyCfg(st)
	cfg.ExpectWelcome, cfg.ExpectAssigned, cfg.MaxSpread = false, false, -1
	v, err := Verify(context.Background(), cfg, run)
	if err != nil {
		t.Fatal(err)
	}
	if v.Passed || v.Expected != 0 {
		t.Fatalf("nothing acknowledged: passed %v, expected %d: %v", v.Passed, v.Expected, v.Failures())
	}
	if !strings.Contains(strings.Join(v.Failures(), "\n"), "acknowledged") {
		t.Fatalf("failures do not say why: %v", v.Failures())
	}
}
