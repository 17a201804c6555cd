package assigner

import (
	"encoding/json"
	"testing"
)

// An outcome's JSON is the body the API answers a command with.
func TestOutcomeJSON(t *testing.T) {
	d := Decision{Rule: "manual", Reasons: []Reason{{AgentID: 1, Code: CodeAdded, Text: "Ana was added."}}}
	tests := []struct {
		o    Outcome
		kind OutcomeKind
		want string
	}{
		{NewDecided(Conversation{ID: 7, ContactID: 3, Inbox: "pn", Status: StatusOpen, OpenedAt: t0}, d), OutcomeDecided,
			`{"conversation":{"id":7,"contact_id":3,"inbox":"pn","status":"open","assignees":null,"opened_at":"2026-03-02T10:09:00Z","queued":false},` +
				`"decision":{"rule":"manual","summary":"manual: no change","reasons":[{"agent_id":1,"code":"added","text":"Ana was added."}],"warnings":null}}`},
		{Unchanged{}, OutcomeUnchanged, `{"changed":false}`},
		{OwnersSet{ContactID: 3, OwnerIDs: []int64{}}, OutcomeOwnersSet, `{"contact_id":3,"owner_ids":[]}`},
		{ReplyQueued{MessageID: 9, ConversationID: 7, Status: "pending"}, OutcomeReplyQueued, `{"message_id":9,"conversation_id":7,"status":"pending"}`},
		{ReadQueued{MessageID: 9, WAMID: "wamid.X"}, OutcomeReadQueued, `{"message_id":9,"wamid":"wamid.X"}`},
		{Released{ContactID: 3, ReleasedEvents: 2, FailedEvents: []FailedEvent{}}, OutcomeReleased, `{"contact_id":3,"released_events":2,"failed_events":[]}`},
		{Discarded{ContactID: 3, DiscardedEvents: 4}, OutcomeDiscarded, `{"contact_id":3,"released_events":0,"discarded_events":4}`},
		{Recorded{}, OutcomeRecorded, `{}`},
	}
	for _, tt := range tests {
		raw, err := json.Marshal(tt.o)
		if err != nil || string(raw) != tt.want || tt.o.Kind() != tt.kind {
			t.Errorf("%T: %s (%v), kind %q; want %s, kind %q", tt.o, raw, err, tt.o.Kind(), tt.want, tt.kind)
		}
	}
}
