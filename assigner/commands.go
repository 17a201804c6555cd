package assigner

// Actor is who issued a command.
type Actor struct {
	AgentID int64 `json:"agent_id,omitempty"` // 0 for the bootstrap admin token or the system
	Admin   bool  `json:"admin,omitempty"`
}
