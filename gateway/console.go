package gateway

import (
	"embed"
	"io/fs"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/wagw/wagw/assigner"
)

// The operator console: static assets embedded in the binary and served
// at /console/ (no CDN, works offline). It is a small vanilla JavaScript
// module that uses the /v1 API with the bearer token the operator typed,
// kept in the browser's sessionStorage only (never in a URL, a cookie or
// a log), and follows GET /v1/events for live updates.

//go:embed console
var consoleFiles embed.FS

// consolePolicy keeps the console to its own assets and the API.
const consolePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Server) consoleRoutes(app *fiber.App) {
	root, err := fs.Sub(consoleFiles, "console")
	if err != nil { // the embedded folder is part of the build
		panic(err)
	}
	app.Use("/console", func(c *fiber.Ctx) error {
		if c.Path() == "/console" { // relative asset paths need the slash
			return c.Redirect("/console/", fiber.StatusMovedPermanently)
		}
		c.Set("Content-Security-Policy", consolePolicy)
		c.Set("X-Content-Type-Options", "nosniff")
		c.Set("Referrer-Policy", "no-referrer")
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Next()
	}, filesystem.New(filesystem.Config{Root: http.FS(root), Index: "index.html"}))
}

// directoryAgent is an agent as every caller may see it.
type directoryAgent struct {
	ID          int64             `json:"id"`
	Name        string            `json:"name"`
	Active      bool              `json:"active"`
	Presence    assigner.Presence `json:"presence"`
	HeartbeatAt *time.Time        `json:"heartbeat_at"`
	OpenCount   int               `json:"open_count"`
	Capacity    *int              `json:"capacity"`
}

// directory is GET /v1/directory: who and which teams there are, for any
// caller (the console's names, assignee pickers, team views and queue
// board): each agent's id, name, presence and load, each team with its
// members in order (the teams the caller may read, as GET /v1/teams).
// Emails, roles and tokens stay in the admin API.
func (s *Server) directory(c *fiber.Ctx) error {
	agents, err := s.agents.ListAgents(c.UserContext())
	if err != nil {
		return err
	}
	teams, err := s.teams.ListTeams(c.UserContext())
	if err != nil {
		return err
	}
	outA := make([]directoryAgent, len(agents))
	for i, a := range agents {
		j := agentOut(a)
		outA[i] = directoryAgent{ID: j.ID, Name: j.Name, Active: j.Active, Presence: j.Presence, HeartbeatAt: j.HeartbeatAt,
			OpenCount: j.OpenCount, Capacity: j.Capacity}
	}
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	outT := make([]teamJSON, 0, len(teams))
	for _, t := range teams {
		if v.MayReadTeam(t.ID) { // the teams GET /v1/teams shows the caller
			outT = append(outT, teamOut(t))
		}
	}
	return c.JSON(fiber.Map{"agents": outA, "teams": outT})
}
