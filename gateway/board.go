package gateway

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/wagw/wagw/assigner"
)

// The queue board's "who is picked next": the team's strategy run now on
// the team as the store holds it, by the same pure code that assigns
// (assigner.Strategy), for a conversation nobody is assigned to yet. It is
// a forecast: a heartbeat, a presence change or a pick in between changes
// it, and the board reads it again on every change.

// nextPickJSON is GET /v1/teams/{id}/next.
type nextPickJSON struct {
	TeamID int64 `json:"team_id"`
	// AgentID is who the strategy picks now; null when nobody (manual, or
	// nobody eligible: the conversation would be queued).
	AgentID *int64          `json:"agent_id"`
	Source  assigner.Source `json:"source,omitempty"`
	Manual  bool            `json:"manual"`
	// Reasons: every member skipped and why, and the choice.
	Reasons []assigner.Reason `json:"reasons"`
	At      time.Time         `json:"at"`
}

// nextPick is GET /v1/teams/{id}/next, for whoever may read the team.
func (s *Server) nextPick(c *fiber.Ctx) error {
	id, err := s.readableTeam(c)
	if err != nil {
		return err
	}
	ts, err := s.teams.TeamState(c.UserContext(), id)
	if err != nil {
		return adminErr(err, "invalid_team", "team")
	}
	now := s.cfg.Now()
	p := assigner.Strategy(ts, nil, now, s.cfg.PresenceTimeout)
	out := nextPickJSON{TeamID: id, Source: p.Source, Manual: p.Manual, Reasons: p.Reasons, At: now}
	if p.OK() {
		out.AgentID = &p.AgentID
	}
	if out.Reasons == nil {
		out.Reasons = []assigner.Reason{}
	}
	return c.JSON(out)
}
