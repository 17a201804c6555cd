package gateway

import (
	"context"

	"github.com/gofiber/fiber/v2"
)

// agentPrincipal resolves an agent's bearer token.
func (s *Server) agentPrincipal(ctx context.Context, tok string) (principal, error) {
	return principal{}, apiError(fiber.StatusUnauthorized, "unauthorized", "unknown token")
}

func (s *Server) writeRoutes(v1 fiber.Router) {}
