package whatsapp

// The items every webhook carries, decoded with the walkers of
// notification.go instead of encoding/json's reflection: a change's
// metadata (one per change), its contact (one per message), a message of
// the common kinds (text and media) and a status (the most frequent
// webhook: sent, delivered and read for every message sent). Each walker
// decodes exactly as lenient would when the item has only members it
// knows, each of its expected JSON type, and no member twice (all the
// corpus's items of these kinds); it declines anything else, and
// the item then goes to encoding/json (lenient). walkValue (walkvalue.go)
// decodes a whole change value of the common shapes with them.
// FuzzValueMatchesReference holds the paths to the same result;
// TestWalkKnowsEveryField lists the fields.

// walkMetadataAt decodes a change's metadata, the business number it
// came to, at b[i].
func walkMetadataAt(b []byte, i int, md *Metadata) (int, bool) {
	return walkObject(b, i, []member{
		{"display_phone_number", walkInto(&md.DisplayPhoneNumber)}, {"phone_number_id", walkInto(&md.PhoneNumberID)},
	})
}

// walkContact decodes a change's contact.
func walkContact(raw []byte, c *WebhookContact) bool { return whole(raw, c, walkContactAt) }

func walkContactAt(b []byte, i int, c *WebhookContact) (int, bool) {
	return walkObject(b, i, []member{
		{"profile", func(b []byte, i int) (int, bool) {
			return walkObject(b, i, []member{{"name", walkInto(&c.Profile.Name)}, {"username", walkInto(&c.Profile.Username)}})
		}},
		{"wa_id", walkInto(&c.WaID)}, {"user_id", walkInto(&c.UserID)}, {"parent_user_id", walkInto(&c.ParentUserID)},
	})
}

// walkMessage decodes a text or media message (image, audio, video,
// document, sticker), with the context of a reply or a forward. Another
// kind's content, a referral, a referred product or errors: it declines.
func walkMessage(raw []byte, m *Message) bool { return whole(raw, m, walkMessageAt) }

func walkMessageAt(b []byte, i int, m *Message) (int, bool) {
	return walkObject(b, i, []member{
		{"id", walkInto(&m.ID)}, {"from", walkInto(&m.From)}, {"from_user_id", walkInto(&m.FromUserID)},
		{"from_parent_user_id", walkInto(&m.FromParentUserID)}, {"timestamp", walkInto(&m.Timestamp)},
		{"type", walkInto(&m.Type)},
		{"text", func(b []byte, i int) (int, bool) {
			m.Text = new(Text)
			return walkObject(b, i, []member{{"body", walkInto(&m.Text.Body)}})
		}},
		{"image", walkMedia(&m.Image)}, {"audio", walkMedia(&m.Audio)}, {"video", walkMedia(&m.Video)},
		{"document", walkMedia(&m.Document)}, {"sticker", walkMedia(&m.Sticker)},
		{"context", func(b []byte, i int) (int, bool) {
			c := new(Context)
			m.Context = c
			return walkObject(b, i, []member{
				{"id", walkInto(&c.ID)}, {"from", walkInto(&c.From)},
				{"forwarded", walkBoolInto(&c.Forwarded)}, {"frequently_forwarded", walkBoolInto(&c.FrequentlyForwarded)},
			})
		}},
	})
}

// walkMedia is the decode of a media object into a new *dst.
func walkMedia(dst **Media) func(b []byte, i int) (int, bool) {
	return func(b []byte, i int) (int, bool) {
		md := new(Media)
		*dst = md
		return walkObject(b, i, []member{
			{"id", walkInto(&md.ID)}, {"mime_type", walkInto(&md.MimeType)}, {"sha256", walkInto(&md.SHA256)},
			{"caption", walkInto(&md.Caption)}, {"filename", walkInto(&md.Filename)}, {"url", walkInto(&md.URL)},
			{"voice", walkBoolInto(&md.Voice)}, {"animated", walkBoolInto(&md.Animated)},
		})
	}
}

// walkStatus decodes a status without errors (a failed status has them,
// and goes to encoding/json).
func walkStatus(raw []byte, s *Status) bool { return whole(raw, s, walkStatusAt) }

func walkStatusAt(b []byte, i int, s *Status) (int, bool) {
	return walkObject(b, i, []member{
		{"id", walkInto(&s.ID)}, {"status", walkInto(&s.Status)}, {"timestamp", walkInto(&s.Timestamp)},
		{"recipient_id", walkInto(&s.RecipientID)}, {"recipient_user_id", walkInto(&s.RecipientUserID)},
		{"recipient_parent_user_id", walkInto(&s.RecipientParentUserID)}, {"recipient_type", walkInto(&s.RecipientType)},
		{"recipient_participant_id", walkInto(&s.RecipientParticipantID)},
		{"recipient_participant_user_id", walkInto(&s.RecipientParticipantUserID)},
		{"recipient_participant_parent_user_id", walkInto(&s.RecipientParticipantParentUserID)},
		{"biz_opaque_callback_data", walkInto(&s.BizOpaqueCallbackData)},
		{"conversation", func(b []byte, i int) (int, bool) {
			c := new(Conversation)
			s.Conversation = c
			return walkObject(b, i, []member{
				{"id", walkInto(&c.ID)}, {"expiration_timestamp", walkInto(&c.ExpirationTimestamp)},
				{"origin", func(b []byte, i int) (int, bool) {
					c.Origin = new(ConversationOrigin)
					return walkObject(b, i, []member{{"type", walkInto(&c.Origin.Type)}})
				}},
			})
		}},
		{"pricing", func(b []byte, i int) (int, bool) {
			p := new(Pricing)
			s.Pricing = p
			return walkObject(b, i, []member{
				{"billable", walkBoolInto(&p.Billable)},
				{"pricing_model", walkInto(&p.PricingModel)}, {"type", walkInto(&p.Type)}, {"category", walkInto(&p.Category)},
			})
		}},
	})
}

// whole decodes the object raw, an array element as arrayElements cut it,
// with walk, and reports whether the walk took all of it.
func whole[T any](raw []byte, v *T, walk func(b []byte, i int, v *T) (int, bool)) bool {
	end, ok := walk(raw, 0, v)
	return ok && end == len(raw)
}
