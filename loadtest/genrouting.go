package loadtest

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// Conversation Routing traffic (GenConfig.RoutingShare): a share of the
// contacts write first to a number whose thread another responder (Meta's
// AI agent) owns. Their first POST carries a control_taken handover; their
// messages come on the standby field, with the AI's echoes; after a few
// of them a control_passed hands the thread to wagw, in the POST of the
// contact's next message, which then comes on the messages field as
// usual. A contact's handover comes before its messages in one POST, so
// that the partition order is the generation order.
//
// Standby messages are stored but open nothing (MessageRef.Opens false);
// the conversation a control_passed opens holds the contact's messages
// after it, with its own single opening decision.

// Routing states of a contact.
const (
	routingNone   int8 = iota // wagw owns the thread
	routingOther              // the AI owns it: standby traffic
	routingPassed             // handed to wagw during the run
)

// routingStart draws whether a new contact starts with the AI owning its
// thread, and how many standby messages it sends before the pass.
func (g *Generator) routingStart(c *genContact) {
	if g.cfg.RoutingShare <= 0 || g.rnd.Float64() >= g.cfg.RoutingShare {
		return
	}
	c.routing, c.standbyLeft = routingOther, 1+g.rnd.IntN(4)
}

// routingExtras are the changes a message POST adds for routed contacts:
// per inbox, the handovers (in order) and the standby change.
type routingExtras struct {
	handovers map[string][]any
	standby   map[string]*whatsapp.Value
}

// routeItem decides where contact c's next message of this POST goes:
// standby (true), or the messages field, after a control_passed when the
// AI's turn is over. first says it is the contact's first item in the POST.
func (g *Generator) routeItem(x *routingExtras, c *genContact, first bool, at time.Duration) bool {
	if c.routing != routingOther {
		return false
	}
	if first && c.standbyLeft <= 0 {
		c.routing = routingPassed
		x.handover(c, whatsapp.ControlPassed, "ai_agent", "app", g.timestamp(at))
		return false
	}
	if !c.taken { // the contact's first message: Meta says the AI took the thread
		c.taken = true
		x.handover(c, whatsapp.ControlTaken, "app", "ai_agent", g.timestamp(at))
	}
	c.standbyLeft--
	return true
}

func (x *routingExtras) handover(c *genContact, typ whatsapp.HandoverType, prev, next, ts string) {
	if x.handovers == nil {
		x.handovers = map[string][]any{}
	}
	// Both ids when the contact has both: keyed by the user id, like its messages.
	sender := map[string]string{}
	if c.waID != "" {
		sender["phone_number"] = c.waID
	}
	if c.userID != "" {
		sender["user_id"] = c.userID
	}
	x.handovers[c.inbox] = append(x.handovers[c.inbox], map[string]any{"field": whatsapp.FieldMessagingHandovers,
		"value": map[string]any{"messaging_product": "whatsapp", "sender": sender, "timestamp": ts, "type": string(typ),
			string(typ): map[string]string{"previous_owner_role": prev, "new_owner_role": next},
			"recipient": map[string]string{"phone_number_id": c.inbox}}})
}

// addStandby puts a routed contact's message on the standby change of its
// inbox, sometimes followed by the AI's echo of an answer.
func (g *Generator) addStandby(x *routingExtras, c *genContact, m whatsapp.Message, display string) {
	if x.standby == nil {
		x.standby = map[string]*whatsapp.Value{}
	}
	v := x.standby[c.inbox]
	if v == nil {
		v = &whatsapp.Value{MessagingProduct: "whatsapp",
			Metadata: &whatsapp.Metadata{DisplayPhoneNumber: display, PhoneNumberID: c.inbox}}
		x.standby[c.inbox] = v
	}
	if len(v.Contacts) == 0 || v.Contacts[len(v.Contacts)-1].WaID != c.waID || v.Contacts[len(v.Contacts)-1].UserID != c.userID {
		v.Contacts = append(v.Contacts, whatsapp.WebhookContact{Profile: whatsapp.Profile{Name: c.name}, WaID: c.waID, UserID: c.userID})
	}
	v.Messages = append(v.Messages, m)
	if g.rnd.IntN(2) == 0 {
		g.outN++
		echo := whatsapp.MessageEcho{Message: whatsapp.Message{ID: g.wamid("echo", g.outN), From: display, Timestamp: m.Timestamp,
			Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: "AI agent: thanks, " + strconv.Itoa(c.seq)}}, To: c.waID}
		if c.waID == "" {
			echo.ToUserID = c.userID
		}
		v.MessageEchoes = append(v.MessageEchoes, echo)
	}
}

// bodyWith is body with the routing changes of each inbox before its
// messages change (left out when it has no messages).
func (g *Generator) bodyWith(order []string, byInbox map[string]*whatsapp.Value, x *routingExtras) []byte {
	var entries []any
	for _, inbox := range order {
		changes := append([]any(nil), x.handovers[inbox]...)
		if v := x.standby[inbox]; v != nil {
			changes = append(changes, map[string]any{"field": whatsapp.FieldStandby, "value": v})
		}
		if v := byInbox[inbox]; len(v.Messages) > 0 {
			changes = append(changes, map[string]any{"field": "messages", "value": v})
		}
		entries = append(entries, map[string]any{"id": g.cfg.WABAID, "changes": changes})
	}
	b, err := json.Marshal(map[string]any{"object": whatsapp.ObjectWhatsAppBusinessAccount, "entry": entries})
	if err != nil {
		panic("loadtest: generated notification does not encode: " + err.Error()) // a bug in this file
	}
	return whatsapp.MetaEscape(b)
}
