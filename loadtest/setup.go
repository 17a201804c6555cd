package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Defaults of SetupConfig.
const (
	DefaultSetupAgents   = 4
	DefaultSetupStrategy = "round_robin"
)

// SuggestedWelcome is the welcome text `wagw loadtest setup` gives the
// inboxes unless told otherwise.
const SuggestedWelcome = "Hi! Thanks for your message, an agent will be with you shortly."

// SetupConfig says what Setup creates through the admin API.
type SetupConfig struct {
	// API is the target's base URL and Token its admin bearer token.
	API, Token string
	// Agents is how many agents to create, all set online. Default
	// DefaultSetupAgents.
	Agents int
	// Strategy of the team: round_robin, least_open or manual. Default
	// DefaultSetupStrategy.
	Strategy string
	// Welcome is the inboxes' welcome text; empty: none.
	Welcome string
	// Inboxes are the phone_number_ids to configure. Default
	// DefaultGenInbox.
	Inboxes []string
}

// SetupResult is what Setup created.
type SetupResult struct {
	AgentIDs []int64
	TeamID   int64
}

// Setup prepares a target for an end-to-end run through its admin API:
// agents (online), one team with a strategy, and the inboxes' welcome
// text and default assignment to that team.
func Setup(ctx context.Context, cfg SetupConfig) (SetupResult, error) {
	if cfg.Agents <= 0 {
		cfg.Agents = DefaultSetupAgents
	}
	if cfg.Strategy == "" {
		cfg.Strategy = DefaultSetupStrategy
	}
	if len(cfg.Inboxes) == 0 {
		cfg.Inboxes = []string{DefaultGenInbox}
	}
	api := &APIStore{Base: cfg.API, Token: cfg.Token, Client: &http.Client{Timeout: 15 * time.Second}}
	tag := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	var res SetupResult
	for i := range cfg.Agents {
		id, err := setupAgent(ctx, api, fmt.Sprintf("Load agent %d", i+1), fmt.Sprintf("load-%s-%d@example.com", tag, i+1))
		if err != nil {
			return res, err
		}
		res.AgentIDs = append(res.AgentIDs, id)
	}
	var team struct {
		ID int64 `json:"id"`
	}
	if _, err := api.do(ctx, http.MethodPost, "/v1/teams", map[string]any{"name": "Load team " + tag, "strategy": cfg.Strategy,
		"member_ids": res.AgentIDs}, &team); err != nil {
		return res, err
	}
	res.TeamID = team.ID
	for _, in := range cfg.Inboxes {
		body := map[string]any{"name": "Load inbox " + in, "welcome_message": cfg.Welcome, "default_assign": map[string]any{"team_id": team.ID}}
		if _, err := api.do(ctx, http.MethodPut, "/v1/inboxes/"+url.PathEscape(in), body, nil); err != nil {
			return res, err
		}
	}
	return res, nil
}

// setupAgent creates an agent and sets it online.
func setupAgent(ctx context.Context, api *APIStore, name, email string) (int64, error) {
	var a struct {
		ID int64 `json:"id"`
	}
	code, err := api.do(ctx, http.MethodPost, "/v1/agents", map[string]any{"name": name, "email": email}, &a)
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		return 0, fmt.Errorf("loadtest setup: the target has no POST /v1/agents (%d): assignment cannot be set up", code)
	}
	if err != nil {
		return 0, err
	}
	_, err = api.do(ctx, http.MethodPut, "/v1/agents/"+strconv.FormatInt(a.ID, 10)+"/presence", map[string]any{"status": "online"}, nil)
	return a.ID, err
}
