package assigner

import (
	"strings"
	"testing"
)

func TestThreadOwnerNames(t *testing.T) {
	for _, tt := range []struct {
		o         ThreadOwner
		elsewhere bool
		name      string
	}{
		{ThreadOwner{}, false, "wagw"},
		{ThreadOwner{Owner: ThreadOwnerWagw}, false, "wagw"},
		{ThreadOwner{Owner: ThreadOwnerOther}, true, "another responder"},
		{ThreadOwner{Owner: ThreadOwnerOther, Role: "ai_agent"}, true, "another responder (ai_agent)"},
	} {
		if tt.o.Elsewhere() != tt.elsewhere || tt.o.String() != tt.name {
			t.Errorf("%+v: Elsewhere %v, String %q; want %v, %q", tt.o, tt.o.Elsewhere(), tt.o.String(), tt.elsewhere, tt.name)
		}
	}
	err := DecideReply(ReplyInput{Type: ReplyText, Thread: ThreadOwner{Owner: ThreadOwnerOther, Role: "ai_agent"}})
	if e, ok := AsError(err); !ok || !strings.Contains(e.Message, "another responder (ai_agent)") || !strings.Contains(e.Message, "/take") {
		t.Errorf("refusal %v: want the owner named and how to take control", err)
	}
}

func TestDecideTaken(t *testing.T) {
	conv := openConv(Assignee{AgentID: 1, Source: SourceManual})
	d := DecideTaken(conv, "Ana", t0)
	if d.Rule != "handover" || len(d.Added)+len(d.Removed) != 0 || len(d.Assignees) != 1 || d.ConversationID != conv.ID {
		t.Fatalf("decision %+v: want rule handover and the assignment unchanged", d)
	}
	hasReason(t, d, CodeHandover, "Control of the thread was taken back from another responder by Ana; wagw answers this contact again.")
}
