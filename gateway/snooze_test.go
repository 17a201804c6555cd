package gateway

import (
	"testing"
)

// A snooze time RFC 3339 accepts but no command can carry (its UTC year
// is past 9999, through a large negative offset) is a bad request, not a
// server error.
func TestSnoozeUntilPastYear9999IsABadRequest(t *testing.T) {
	e, store, conn := newCommandEnv(t)
	path := "/v1/conversations/" + itoa(conversationOf(t, store, conn, "31650000001", "wamid.SNOOZE.1")) + "/snooze"
	e.expect(t, "POST", path, adminTestToken, `{"until":"9999-12-31T23:59:59-23:59"}`, 400, "bad_json")
}
