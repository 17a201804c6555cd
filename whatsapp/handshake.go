package whatsapp

import "crypto/subtle"

// Handshake answers Meta's webhook verification request (GET with
// hub.mode, hub.verify_token and hub.challenge). It returns the challenge to
// echo as the response body and true only when mode is "subscribe" and token
// equals the configured verifyToken (constant-time compare). An empty
// verifyToken never matches. On false the caller answers 403.
func Handshake(mode, token, challenge string, verifyToken string) (string, bool) {
	if verifyToken == "" || mode != "subscribe" {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(verifyToken)) != 1 {
		return "", false
	}
	return challenge, true
}
