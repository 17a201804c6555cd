package loadtest

import (
	"context"
	"errors"
	"time"
)

// ErrUnsupported is returned by a Store method whose data the source
// cannot give (the API has no stored_at, no status table…); the verifier
// skips what needs it and says so.
var ErrUnsupported = errors.New("loadtest: not available from this source")

// Store is the read-only view of the target's state that Verify needs.
// cmd/wagw implements it with SQL on the gateway's Postgres; APIStore
// implements it with the HTTP API.
type Store interface {
	// Baseline returns the current high-water marks, taken before a run so
	// that verification only looks at what the run added.
	Baseline(ctx context.Context) (Baseline, error)
	// CountInbound counts inbound messages stored after the baseline.
	CountInbound(ctx context.Context, after Baseline) (int64, error)
	// InboundMessages returns the inbound messages stored after the
	// baseline, in id order.
	InboundMessages(ctx context.Context, after Baseline) ([]StoredMessage, error)
	// Conversations returns the conversations with these ids.
	Conversations(ctx context.Context, ids []int64) ([]StoredConversation, error)
	// Statuses returns the stored statuses of these outbound wamids.
	Statuses(ctx context.Context, wamids []string) ([]StoredStatus, error)
	// Agents returns every agent.
	Agents(ctx context.Context) ([]StoredAgent, error)
}

// Baseline is where the target's tables stood before a run.
type Baseline struct {
	MessageID      int64 `json:"message_id"`
	ConversationID int64 `json:"conversation_id"`
}

// StoredMessage is one stored inbound message.
type StoredMessage struct {
	ID             int64
	WAMID          string
	ContactKey     string // "" when the source does not say
	Inbox          string
	Type           string
	ConversationID int64     // 0: not in a conversation
	StoredAt       time.Time // zero when the source does not say
}

// StoredConversation is one conversation with what was decided for it.
type StoredConversation struct {
	ID         int64
	ContactKey string
	Inbox      string
	Status     string // open | resolved
	OpenedBy   string // wamid of the opening message
	CreatedAt  time.Time
	Queued     bool
	Assignees  []StoredAssignee
	// OpenDecisions is how many decisions were logged for the opening
	// event (-1: unknown).
	OpenDecisions int
	// CommittedAt is when the verifier heard of the conversation through
	// the database's change notifications, which Postgres delivers only
	// after the commit that opened it and decided its assignment: an
	// upper bound of that commit. Zero when it did not hear (the source
	// does not listen, or the listener lost notifications).
	CommittedAt time.Time
	// Welcomes is how many welcome messages were queued (-1: unknown);
	// WelcomeState is the outbox state of the first ("" none) and
	// WelcomeStatus the last status Meta reported for it.
	Welcomes      int
	WelcomeState  string
	WelcomeStatus string
	// InboxWelcome: the inbox has a welcome text.
	InboxWelcome bool
}

// StoredAssignee is one assignee of a conversation.
type StoredAssignee struct {
	AgentID int64  `json:"agent_id"`
	Source  string `json:"source"`
}

// StoredStatus is one stored status of an outbound message.
type StoredStatus struct {
	WAMID  string
	Status string
}

// StoredAgent is one agent.
type StoredAgent struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Presence string `json:"presence"`
}
