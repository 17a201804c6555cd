package event

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// itemID is the id of a webhook item's record: the wamid of a message or
// of a standby echo, "wamid:status" of a status, and a hash of the WABA
// id, the field and the item's JSON for a handover, for a message, status
// or echo without a wamid and for a notice.
func itemID(it *whatsapp.Item) string {
	switch {
	case it.Message != nil && it.Message.ID != "":
		return it.Message.ID
	case it.Message != nil:
		return hashID("message:", it.WABAID, it.Field, it.Message.Raw)
	case it.Status != nil && it.Status.ID != "":
		return it.Status.ID + ":" + it.Status.Status
	case it.Status != nil:
		return hashID("status:", it.WABAID, it.Field, it.Status.Raw)
	case it.Echo != nil && it.Echo.ID != "":
		return it.Echo.ID
	case it.Echo != nil:
		return hashID("echo:", it.WABAID, it.Field, it.Echo.Raw)
	case it.Handover != nil:
		// The notification as sent (its user, number and time included):
		// a redelivery has the same id, fields no type names included.
		return hashID("handover:", it.WABAID, it.Field, it.Handover.Raw)
	}
	return hashID("notice:", it.WABAID, it.Field, it.Notice)
}

// hashID derives a stable id from an entry id, a field and JSON bytes
// (compacted, so whitespace does not matter).
func hashID(prefix, entryID, field string, raw []byte) string {
	h := sha256.New()
	h.Write([]byte(entryID))
	h.Write([]byte{0})
	h.Write([]byte(field))
	h.Write([]byte{0})
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err == nil {
		h.Write(buf.Bytes())
	} else {
		h.Write(raw)
	}
	var sum [sha256.Size]byte
	return prefix + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// NewCommandID is the id of a command from the API: "cmd_" and 128 random
// bits, new for every request.
func NewCommandID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "cmd_" + hex.EncodeToString(b)
}

// ScheduledID is the id of a command the scheduler produces about subject
// (a conversation) at at: "type:subject:unix nanoseconds". The same
// subject due again later gets a new id.
func ScheduledID(p Payload, subject int64, at time.Time) string {
	return fmt.Sprintf("%s:%d:%d", p.CommandType(), subject, at.UnixNano())
}

// TimerID is the id of the command for a conversation's deadline of a
// kind due at due: "timer:kind:conversation:unix nanoseconds", the same
// however often the scheduler publishes it, new when the deadline moves.
func TimerID(c TimerCommand) string {
	return fmt.Sprintf("%s:%s:%d:%d", CmdTimer, c.Kind, c.ConversationID, c.DueAt.UnixNano())
}

// ResultID is the id of the relay's report of one outbox row's outcome:
// "send_result:outbox id", the same however often the row is reported.
func ResultID(outboxID int64) string {
	return CmdSendResult + ":" + strconv.FormatInt(outboxID, 10)
}
