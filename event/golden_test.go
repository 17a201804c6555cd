package event

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// The expected envelopes of every webhook payload in the conformance
// corpus; TestGoldenCorpus checks them.

// whWant describes one expected envelope. Message fields are checked for
// KindMessage, status fields for KindStatus.
type whWant struct {
	kind  Kind
	id    string
	key   string
	name  string
	pn    string // phone_number_id
	field string
	at    int64 // OccurredAt, Unix seconds; 0 means receivedAt

	typ   string // message type
	opens bool
	body  string
	reply string

	rank int // status rank
	code int // first error code of the status
}

type whGolden struct {
	envs  []whWant
	check func(t *testing.T, n *whatsapp.Notification, envs []Envelope)
}

// Shared values of the fixtures.
const (
	metaWABA  = "102290129340398"
	metaPN    = "106540352242922"
	metaUser  = "16505551234"
	metaName  = "Sheena Nelson"
	pywaWABA  = "1234567890987654321"
	pywaPN    = "1122334455667"
	pywaUser  = "972987654321"
	pywaName  = "Test Name"
	pywaBSUID = "US.13491208655302741918"
)

var whReceivedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func whMsg(id, key, name, pn string, at int64, typ string, opens bool, body, reply string) whWant {
	return whWant{kind: KindMessage, id: id, key: key, name: name, pn: pn, field: "messages", at: at,
		typ: typ, opens: opens, body: body, reply: reply}
}

func whPywaMsg(id string, at int64, typ string, opens bool, body, reply string) whWant {
	return whMsg(id, pywaBSUID, pywaName, pywaPN, at, typ, opens, body, reply) // keyed by the user id
}

func whStatus(id, key, name, pn string, at int64, rank, code int) whWant {
	return whWant{kind: KindStatus, id: id, key: key, name: name, pn: pn, field: "messages", at: at, rank: rank, code: code}
}

func whOnly(envs []Envelope) *Envelope { return &envs[0] }

var whGoldens = map[string]whGolden{
	"constructed_multi_entry_batch.json": {
		envs: []whWant{
			whMsg("wamid.BATCH.A2", metaUser, metaName, metaPN, 1749416390, "text", true, "second (arrives first in array)", ""),
			whMsg("wamid.BATCH.A1", metaUser, metaName, metaPN, 1749416383, "text", true, "first", ""),
			whMsg("wamid.BATCH.B1", "16505559876", "Tiago Mingo", metaPN, 1749416385, "image", true, "Taj Mahal", ""),
			whMsg("wamid.BATCH.A1", metaUser, metaName, metaPN, 1749416383, "text", true, "first", ""), // duplicate kept
			whStatus("wamid.OUT.1:read", metaUser, "", metaPN, 1750030080, 3, 0),                       // read before sent
			whStatus("wamid.OUT.1:sent", metaUser, "", metaPN, 1750030073, 1, 0),
			whStatus("wamid.OUT.2:failed", "16505559876", "", metaPN, 1750030090, whatsapp.RankFailed, 131047),
			whMsg("wamid.OTHERNUM.1", metaUser, metaName, "222222222222222", 1749416400, "text", true, "same user, different business number", ""),
		},
		check: func(t *testing.T, n *whatsapp.Notification, envs []Envelope) {
			if len(n.Entry) != 2 {
				t.Fatalf("entries = %d, want 2", len(n.Entry))
			}
			for i, w := range []string{metaWABA, metaWABA, metaWABA, metaWABA, metaWABA, metaWABA, metaWABA, "999999999999999"} {
				if envs[i].WABAID != w {
					t.Errorf("env %d WABAID = %q, want %q", i, envs[i].WABAID, w)
				}
			}
			if envs[7].DisplayPhoneNumber != "15550001111" {
				t.Errorf("second number display = %q", envs[7].DisplayPhoneNumber)
			}
			if !reflect.DeepEqual(envs[1], envs[3]) {
				t.Errorf("duplicate wamid: the two envelopes differ:\n%+v\n%+v", envs[1], envs[3])
			}
			if envs[1].Message == envs[3].Message {
				t.Error("duplicates share one *Message; each item must have its own")
			}
			// Same user on two business numbers: one key, so one partition.
			if envs[0].Key() != envs[7].Key() {
				t.Errorf("same user on two numbers keyed %q and %q", envs[0].Key(), envs[7].Key())
			}
			// The payload's order is kept even though timestamps go backwards.
			if !envs[0].OccurredAt.After(envs[1].OccurredAt) {
				t.Error("timestamps were reordered")
			}
			f := envs[6].Status.Errors[0]
			if f.Title != "Re-engagement message" || !strings.Contains(f.Details(), "24 hours") || f.Href == "" {
				t.Errorf("131047 error = %+v", f)
			}
			if p := envs[5].Status.Pricing; p == nil || p.Billable || p.PricingModel != "PMP" || p.Type != "free_customer_service" || p.Category != "service" {
				t.Errorf("pricing = %+v", p)
			}
			if envs[4].Status.Pricing != nil || envs[4].Status.Conversation != nil {
				t.Error("read status has no pricing or conversation")
			}
		},
	},
	"meta_button_quick_reply.json": {
		envs: []whWant{whMsg("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", metaUser, metaName, metaPN, 1750091045, "button", true, "Unsubscribe", "Unsubscribe")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			m := whOnly(envs).Message
			if m.ContextID() != "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=" || m.Context.From != "15550783881" {
				t.Errorf("context = %+v", m.Context)
			}
		},
	},
	"meta_errors_value_130429.json": {
		envs: []whWant{{kind: KindNotice, id: "notice:f0d50cace3f454741ed2fff4428ef21e", key: "pn:" + metaPN, pn: metaPN, field: "messages"}},
		check: func(t *testing.T, n *whatsapp.Notification, envs []Envelope) {
			v := n.Entry[0].Changes[0].Value
			if len(v.Errors) != 1 || v.Errors[0].Code != 130429 || v.Errors[0].Title != "Rate limit hit" || !strings.Contains(v.Errors[0].Details(), "too many messages") {
				t.Errorf("value errors = %+v", v.Errors)
			}
			whJSONEqual(t, "notice raw", whOnly(envs).Raw, v.Raw)
			if !bytes.Contains(whOnly(envs).Raw, []byte("130429")) {
				t.Error("notice raw lacks the error")
			}
		},
	},
	"meta_image_message.json": {
		envs: []whWant{whMsg("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", metaUser, metaName, metaPN, 1744344496, "image", true, "Taj Mahal", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			im := whOnly(envs).Message.Image
			if im == nil || im.ID != "1003383421387256" || im.MimeType != "image/jpeg" || !strings.HasPrefix(im.URL, "https://lookaside.fbsbx.com/") || im.SHA256 == "" {
				t.Errorf("image = %+v", im)
			}
		},
	},
	"meta_reaction.json": {
		envs: []whWant{whMsg("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", metaUser, metaName, metaPN, 1749419544, "reaction", false, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			m := whOnly(envs).Message
			if !m.IsReaction() || m.Reaction.Emoji != "👍" || m.Reaction.Removed() || m.Reaction.MessageID != "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=" {
				t.Errorf("reaction = %+v", m.Reaction)
			}
		},
	},
	"meta_reaction_removed.json": {
		envs:  []whWant{whMsg("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", metaUser, metaName, metaPN, 1749419544, "reaction", false, "", "")},
		check: whReactionRemoved,
	},
	"meta_status_delivered_cbp.json": {
		envs: []whWant{whStatus("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA:delivered", metaUser, "", metaPN, 1750263773, 2, 0)},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			s := whOnly(envs).Status
			if s.Pricing == nil || s.Pricing.PricingModel != "CBP" || s.Pricing.Type != "" || !s.Pricing.Billable {
				t.Errorf("pricing = %+v", s.Pricing)
			}
			if s.Conversation == nil || s.Conversation.ID != "6ceb9d929c9bdc4f90e967a32f8639b4" || s.Conversation.Origin.Type != "service" {
				t.Errorf("conversation = %+v", s.Conversation)
			}
		},
	},
	"meta_status_failed_131049.json": {
		envs: []whWant{whStatus("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA:failed", metaUser, "", metaPN, 1751142888, whatsapp.RankFailed, 131049)},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			e := whOnly(envs).Status.Errors[0]
			if !strings.HasPrefix(e.Details(), "In order to maintain") || e.Href == "" {
				t.Errorf("error = %+v", e)
			}
		},
	},
	"meta_status_sent.json": {
		envs: []whWant{whStatus("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=:sent", metaUser, "", metaPN, 1750030073, 1, 0)},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			s := whOnly(envs).Status
			if c := s.Conversation; c == nil || c.ID != "72b14d6bd5407799e66f64d1b338e567" || c.ExpirationTimestamp != "1750116480" || c.Origin == nil || c.Origin.Type != "marketing" {
				t.Errorf("conversation = %+v", s.Conversation)
			}
			if p := s.Pricing; p == nil || !p.Billable || p.PricingModel != "PMP" || p.Type != "regular" || p.Category != "marketing" {
				t.Errorf("pricing = %+v", s.Pricing)
			}
		},
	},
	"meta_status_v24_no_conversation.json": {
		envs: []whWant{whStatus("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=:sent", metaUser, "", metaPN, 1750030073, 1, 0)},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if s := whOnly(envs).Status; s.Conversation != nil || s.Pricing != nil || len(s.Errors) != 0 {
				t.Errorf("v24 status = %+v", s)
			}
		},
	},
	"meta_text_message.json": {
		envs: []whWant{whMsg("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", metaUser, metaName, metaPN, 1749416383, "text", true, "Does it come in another color?", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			e := whOnly(envs)
			if e.DisplayPhoneNumber != "15550783881" || e.WABAID != metaWABA || e.Version != Version {
				t.Errorf("envelope = %+v", e)
			}
			if m := e.Message; m.ContextID() != "" || m.ReferralSourceID() != "" || m.IsReaction() {
				t.Errorf("plain text has context/referral/reaction: %+v", m)
			}
		},
	},
	"meta_unsupported_edit.json": {
		envs: []whWant{whMsg("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", metaUser, metaName, metaPN, 1750090702, "unsupported", false, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			m := whOnly(envs).Message
			if m.Unsupported == nil || m.Unsupported.Type != "edit" || len(m.Errors) != 1 || m.Errors[0].Code != 131051 {
				t.Errorf("unsupported = %+v errors = %+v", m.Unsupported, m.Errors)
			}
		},
	},
	"pywa_account_update.json": {
		envs: []whWant{{kind: KindNotice, id: "notice:25bf57d64bba51c96b29b88eb38e16b2", key: "waba:" + metaWABA, field: "account_update", at: 1743451903}},
		check: func(t *testing.T, n *whatsapp.Notification, envs []Envelope) {
			if v := n.Entry[0].Changes[0].Value; v.Event != "ACCOUNT_DELETED" || v.Metadata != nil {
				t.Errorf("value = %+v", v)
			}
		},
	},
	"pywa_audio_voice.json": {
		envs: []whWant{whPywaMsg("wamid.xyzxyz", 1697043473, "audio", true, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if a := whOnly(envs).Message.Audio; a == nil || !a.Voice || a.MimeType != "audio/ogg; codecs=opus" {
				t.Errorf("audio = %+v", a)
			}
			whCheckBSUID(t, whOnly(envs))
		},
	},
	"pywa_button_quick_reply.json": {
		envs: []whWant{whPywaMsg("wamid.xsidjw", 1698269027, "button", true, "title", "callback_data")},
	},
	"pywa_contacts_message.json": {
		envs: []whWant{whPywaMsg("wamid.xyzxyz", 1697044621, "contacts", true, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			cs := whOnly(envs).Message.Contacts
			if len(cs) != 3 {
				t.Fatalf("shared contacts = %d, want 3", len(cs))
			}
			if cs[0].Name.FormattedName != "Chandler Bing" || cs[0].Phones[0].Phone != "+1 555-555-5555" || cs[0].Phones[0].Type != "CELL" {
				t.Errorf("first vCard = %+v", cs[0])
			}
			if cs[1].Name.LastName != "" || cs[2].Phones[0].Type != "WORK" {
				t.Errorf("vCards = %+v", cs)
			}
		},
	},
	"pywa_document.json": {
		envs: []whWant{whPywaMsg("wamid.xyzxyz", 1697043666, "document", true, "caption", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			m := whOnly(envs).Message
			if m.Document.Filename != "filename.pdf" || !m.Context.Forwarded || m.ContextID() != "" {
				t.Errorf("document = %+v context = %+v", m.Document, m.Context)
			}
		},
	},
	"pywa_edit_image_message.json": {
		// The contacts entry names another user; the sender keeps its own
		// wa_id and gets no borrowed name or user id.
		envs: []whWant{whMsg("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", metaUser, "", metaPN, 1749854575, "edit", false, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			e := whOnly(envs)
			if e.Contact.UserID != "" {
				t.Errorf("contact borrowed a user id: %+v", e.Contact)
			}
			ed := e.Message.Edit
			if ed == nil || ed.OriginalMessageID != "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=" || ed.Message == nil ||
				ed.Message.Type != "image" || ed.Message.Image.Caption != "Updated image caption" || ed.Message.ContextID() != "M0" {
				t.Errorf("edit = %+v", ed)
			}
		},
	},
	"pywa_forwarded_many_times.json": {
		envs: []whWant{whPywaMsg("wamid.xyzxyz", 1697044968, "text", true, "text forwarded many times", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if c := whOnly(envs).Message.Context; c == nil || !c.FrequentlyForwarded || c.Forwarded {
				t.Errorf("context = %+v", c)
			}
		},
	},
	"pywa_interactive_button_reply.json": {
		envs: []whWant{whPywaMsg("wamid.xyzxyz", 1698266730, "interactive", true, "title", "callback_data")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if i := whOnly(envs).Message.Interactive; i.Type != "button_reply" || i.ButtonReply == nil || i.ListReply != nil {
				t.Errorf("interactive = %+v", i)
			}
		},
	},
	"pywa_interactive_list_reply.json": {
		envs: []whWant{whPywaMsg("wamid.zyzxyz", 1698266905, "interactive", true, "title", "callback_data")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if i := whOnly(envs).Message.Interactive; i.Type != "list_reply" || i.ListReply == nil || i.ListReply.Description != "description" {
				t.Errorf("interactive = %+v", i)
			}
		},
	},
	"pywa_interactive_with_error_no_body.json": {
		// The message has no interactive object; the value-level error
		// travels as its own notice after the message.
		envs: []whWant{
			whPywaMsg("wamid.wegrchytvwcggt=", 1700505494, "interactive", true, "", ""),
			{kind: KindNotice, id: "notice:19c0b6369862c126b038b3c3d3d430d0", key: "pn:" + pywaPN, pn: pywaPN, field: "messages"},
		},
		check: func(t *testing.T, n *whatsapp.Notification, envs []Envelope) {
			if m := envs[0].Message; m.Interactive != nil || m.ContextID() != "wamid.gvwegfretge==" {
				t.Errorf("message = %+v", m)
			}
			if v := n.Entry[0].Changes[0].Value; len(v.Errors) != 1 || v.Errors[0].Code != 131000 {
				t.Errorf("value errors = %+v", v.Errors)
			}
		},
	},
	"pywa_location_chosen.json": {
		envs: []whWant{whPywaMsg("wamid.xyzxyz", 1697044557, "location", true, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			l := whOnly(envs).Message.Location
			if l.Latitude != 37.4611978 || l.Longitude != -122.2164385 || l.Name != "Facebook HQ" || l.Address == "" || l.URL == "" {
				t.Errorf("location = %+v", l)
			}
		},
	},
	"pywa_location_current.json": {
		envs: []whWant{whPywaMsg("wamid.xyzxyz", 1697044557, "location", true, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			m := whOnly(envs).Message
			if l := m.Location; l.Latitude != 12.25089 || l.Longitude != 43.90539 || l.Name != "" || !m.Context.Forwarded {
				t.Errorf("location = %+v", l)
			}
		},
	},
	"pywa_order_message.json": {
		envs: []whWant{whPywaMsg("wamid.xyzxyz", 1697044668, "order", true, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			o := whOnly(envs).Message.Order
			if o == nil || o.CatalogID != "354160437058781" || len(o.ProductItems) != 3 {
				t.Fatalf("order = %+v", o)
			}
			want := []whatsapp.OrderItem{
				{ProductRetailerID: "HAMBURGER", Quantity: 3, ItemPrice: 30, Currency: "ILS"},
				{ProductRetailerID: "FRENCH_FRIES", Quantity: 2, ItemPrice: 35, Currency: "ILS"},
				{ProductRetailerID: "SODA", Quantity: 2, ItemPrice: 10, Currency: "ILS"},
			}
			if !reflect.DeepEqual(o.ProductItems, want) {
				t.Errorf("items = %+v", o.ProductItems)
			}
		},
	},
	"pywa_reaction.json": {
		envs: []whWant{whPywaMsg("wamid.xyzxyz", 1697044456, "reaction", false, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if r := whOnly(envs).Message.Reaction; r.Emoji != "😮" || r.Removed() || r.MessageID != "wamid.yzxyzx=" {
				t.Errorf("reaction = %+v", r)
			}
		},
	},
	"pywa_reaction_removed_empty_emoji.json": {
		envs:  []whWant{whPywaMsg("wamid.xyzxyz", 1697044456, "reaction", false, "", "")},
		check: whReactionRemoved,
	},
	"pywa_referral_ctwa_text.json": {
		envs: []whWant{whPywaMsg("wamid.ID", 1697045000, "text", true, "BODY", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			m := whOnly(envs).Message
			if m.ReferralSourceID() != "ADID" || m.Referral.CtwaClid != "CTWA_CLID" || m.Referral.Headline != "AD_TITLE" || m.Referral.SourceType != "ad or post" {
				t.Errorf("referral = %+v", m.Referral)
			}
		},
	},
	"pywa_revoke_message_placeholders.json": {
		envs: []whWant{whMsg("<WHATSAPP_MESSAGE_ID>", "<WHATSAPP_USER_PHONE_NUMBER>", "", "<BUSINESS_PHONE_NUMBER_ID>", 1697043223, "revoke", false, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if r := whOnly(envs).Message.Revoke; r == nil || r.OriginalMessageID != "<ORIGINAL_WHATSAPP_MESSAGE_ID>" {
				t.Errorf("revoke = %+v", r)
			}
		},
	},
	"pywa_smb_message_echoes_text.json": {
		// An echo (no messages key): a notice, keyed by the user it was sent to.
		envs: []whWant{{kind: KindNotice, id: "notice:4956cba46c0ff1691883fa937c07c264", key: "<BSUID>", pn: pywaPN, field: "smb_message_echoes", at: 1697043223}},
		check: func(t *testing.T, n *whatsapp.Notification, envs []Envelope) {
			v := n.Entry[0].Changes[0].Value
			if len(v.MessageEchoes) != 1 {
				t.Fatalf("echoes = %+v", v.MessageEchoes)
			}
			ec := v.MessageEchoes[0]
			if ec.To != "<WHATSAPP_USER_PHONE_NUMBER>" || ec.ToUserID != "<BSUID>" || ec.Body() != "Test message" || len(ec.Raw) == 0 {
				t.Errorf("echo = %+v", ec)
			}
			if c := whOnly(envs).Contact; c.UserID != "<BSUID>" {
				t.Errorf("contact = %+v", c)
			}
		},
	},
	"pywa_status_delivered.json": {
		envs: []whWant{whStatus("wamid.xyzxyz:delivered", pywaBSUID, pywaName, pywaPN, 1698266945, 2, 0)},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			whCheckBSUID(t, whOnly(envs))
			if whOnly(envs).WABAID != "5467539754836534" {
				t.Errorf("WABA = %q", whOnly(envs).WABAID)
			}
		},
	},
	"pywa_status_failed_130472.json": {
		envs: []whWant{whStatus("wamid.xyzxyz:failed", pywaBSUID, pywaName, pywaPN, 1689380458, whatsapp.RankFailed, 130472)},
	},
	"pywa_status_group_read.json": {
		// Keyed by the group, not by the participant's contact entry.
		envs: []whWant{whStatus("<WHATSAPP_MESSAGE_ID>:read", "fowefinoewcnw", "", "<BUSINESS_PHONE_NUMBER_ID>", 1698266945, 3, 0)},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			s := whOnly(envs).Status
			if s.RecipientType != "group" || s.RecipientParticipantUserID != "US.123456" || s.RecipientParticipantID != "<GROUP_PARTICIPANT_USER_PHONE_NUMBER>" {
				t.Errorf("group status = %+v", s)
			}
		},
	},
	"pywa_status_played.json": {
		envs: []whWant{whStatus("wamid.xyzxyz:played", pywaBSUID, pywaName, pywaPN, 1689380458, 4, 0)},
	},
	"pywa_status_read.json": {
		envs: []whWant{whStatus("wamid.xyzxyz:read", pywaBSUID, pywaName, pywaPN, 1689380458, 3, 0)},
	},
	"pywa_status_sent_cbp.json": {
		envs: []whWant{whStatus("wamid.xyzxyz:sent", pywaBSUID, pywaName, pywaPN, 1698266945, 1, 0)},
	},
	"pywa_status_with_biz_opaque_callback_data.json": {
		envs: []whWant{whStatus("wamid.xyzxyz:sent", pywaBSUID, pywaName, pywaPN, 1698266945, 1, 0)},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if s := whOnly(envs).Status; s.BizOpaqueCallbackData != "some data" {
				t.Errorf("biz_opaque_callback_data = %q", s.BizOpaqueCallbackData)
			}
		},
	},
	"pywa_sticker_animated.json": {
		envs: []whWant{whPywaMsg("wamid.xyzxyz", 1697043785, "sticker", true, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if s := whOnly(envs).Message.Sticker; s == nil || !s.Animated || s.MimeType != "image/webp" {
				t.Errorf("sticker = %+v", s)
			}
		},
	},
	"pywa_system_identity_change.json": {
		envs: []whWant{whMsg("wamid.xyzxyz", pywaUser, "User A", pywaPN, 1697044706, "system", false, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			m := whOnly(envs).Message
			if m.System.Type != "customer_identity_changed" || m.Identity == nil || m.Identity.Hash != "xyzxyz" || !m.Identity.Acknowledged {
				t.Errorf("system = %+v identity = %+v", m.System, m.Identity)
			}
		},
	},
	"pywa_system_phone_number_change.json": {
		// No contacts array: keyed by the old number, no name.
		envs: []whWant{whMsg("wamid.xyzxyz==", pywaUser, "", pywaPN, 1753851315, "system", false, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if s := whOnly(envs).Message.System; s.Type != "user_changed_number" || s.WaID != "972912345678" {
				t.Errorf("system = %+v", s)
			}
		},
	},
	"pywa_template_status_update.json": {
		// No metadata, no phone number id: keyed by the WABA.
		envs: []whWant{{kind: KindNotice, id: "notice:a887304fe51bc1fccf885adf51468015", key: "waba:" + metaWABA, field: "message_template_status_update", at: 1751247548}},
		check: func(t *testing.T, n *whatsapp.Notification, envs []Envelope) {
			v := n.Entry[0].Changes[0].Value
			if v.Metadata != nil || v.Event != "APPROVED" {
				t.Errorf("value = %+v", v)
			}
			if !bytes.Contains(whOnly(envs).Raw, []byte(`"order_confirmation"`)) {
				t.Errorf("raw = %s", whOnly(envs).Raw)
			}
		},
	},
	"pywa_text_reply_with_context.json": {
		envs: []whWant{whPywaMsg("wamid.xyzxyz", 1697044746, "text", true, "replied text", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if m := whOnly(envs).Message; m.ContextID() != "wamid.xyzxyz==" || m.Context.From != "972123456789" {
				t.Errorf("context = %+v", m.Context)
			}
		},
	},
	"pywa_unsupported_with_type.json": {
		envs: []whWant{whPywaMsg("wamid.xyzxyz", 1697044706, "unsupported", false, "", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if m := whOnly(envs).Message; m.Unsupported.Type != "pool" || m.Errors[0].Code != 131051 || m.Errors[0].Href != "" {
				t.Errorf("unsupported = %+v %+v", m.Unsupported, m.Errors)
			}
		},
	},
	"pywa_user_marketing_preferences.json": {
		// Keyed by the user in user_preferences, not the unrelated contacts entry.
		envs: []whWant{{kind: KindNotice, id: "notice:7afcd42d97170ec3d7b0903ecc16ac5d", key: "16505551234", pn: metaPN, field: "user_preferences", at: 1731705721}},
		check: func(t *testing.T, n *whatsapp.Notification, envs []Envelope) {
			p := n.Entry[0].Changes[0].Value.UserPreferences
			if len(p) != 1 || p[0].Value != "resume" || p[0].Category != "marketing_messages" || p[0].Timestamp != 1731705721 {
				t.Errorf("preferences = %+v", p)
			}
			if c := whOnly(envs).Contact; c != (Contact{WaID: "16505551234"}) {
				t.Errorf("contact = %+v", c)
			}
		},
	},
	"pywa_video.json": {
		envs: []whWant{whPywaMsg("wamid.xyzxyz", 1697044362, "video", true, "caption", "")},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if v := whOnly(envs).Message.Video; v.MimeType != "video/mp4" || v.ID != "765756756" {
				t.Errorf("video = %+v", v)
			}
		},
	},
	"real_restfb1344_status_failed_131026.json": {
		envs: []whWant{whStatus("wamid.HBgLMzI0NzY3NTUzNzYVAgARGBIzOTI2MzFGRjdBRjA4M0Y2RDQA:failed", "REDACTED", "", "REDACTED", 1698231447, whatsapp.RankFailed, 131026)},
		check: func(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
			if e := whOnly(envs).Status.Errors[0]; e.Href != "" || e.Details() != "Message Undeliverable." {
				t.Errorf("error = %+v", e)
			}
		},
	},
}

func whReactionRemoved(t *testing.T, _ *whatsapp.Notification, envs []Envelope) {
	t.Helper()
	m := whOnly(envs).Message
	if !m.IsReaction() || m.Reaction == nil || !m.Reaction.Removed() || m.Reaction.MessageID == "" {
		t.Errorf("reaction = %+v, want a removal", m.Reaction)
	}
}

// whCheckBSUID: the user id and parent come from the contacts entry.
func whCheckBSUID(t *testing.T, e *Envelope) {
	t.Helper()
	if e.Contact.UserID != pywaBSUID || e.Contact.WaID != pywaUser {
		t.Errorf("contact = %+v, want wa_id and BSUID", e.Contact)
	}
}
