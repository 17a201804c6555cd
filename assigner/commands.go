package assigner

import "encoding/json"

// Actor is who issued a command.
type Actor struct {
	AgentID int64 `json:"agent_id,omitempty"` // 0 for the bootstrap admin token or the system
	Admin   bool  `json:"admin,omitempty"`
}

// CommandResult is the outcome of a command, as the API returns it.
type CommandResult struct {
	CommandID string          `json:"command_id"`
	Status    int             `json:"status"` // HTTP status the API answers with
	Body      json.RawMessage `json:"body"`
}
