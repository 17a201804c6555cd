package assigner

import (
	"encoding/json"
	"time"
)

// OutboxItem is one message the relay must send through the Cloud API,
// written in the transaction that decided to send it.
type OutboxItem struct {
	ID             int64           `db:"id"`
	ContactKey     string          `db:"contact_key"` // partition key for reporting the outcome
	ConversationID *int64          `db:"conversation_id"`
	MessageID      int64           `db:"message_id"`
	PhoneNumberID  string          `db:"phone_number_id"`
	Recipient      string          `db:"recipient"`
	Kind           string          `db:"kind"` // welcome | reply | read | take (OutboxTake)
	AgentID        *int64          `db:"agent_id"`
	Payload        json.RawMessage `db:"payload"` // the Cloud API request body
	Attempts       int             `db:"attempts"`
	WAMID          *string         `db:"wamid"`
}

// OutboxResult is a finished outbox row whose outcome must reach the
// contact's partition.
type OutboxResult struct {
	ID           int64     `db:"id"`
	ContactKey   string    `db:"contact_key"`
	MessageID    int64     `db:"message_id"`
	Kind         string    `db:"kind"`
	State        string    `db:"state"` // sent | failed
	WAMID        string    `db:"wamid"`
	ErrorCode    int       `db:"error_code"`
	ErrorMessage string    `db:"error_message"`
	SentAt       time.Time `db:"sent_at"`
}

// OutboxSend is a row the Cloud API accepted: the wamid it returned and
// when.
type OutboxSend struct {
	ID     int64
	WAMID  string
	SentAt time.Time
}

// OutboxTake is the kind of an outbox row that takes the contact's thread
// through the thread control API; its payload is the thread control
// request and its message the contact's latest inbound message.
const OutboxTake = "take"
