package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// ObjectWhatsAppBusinessAccount is the only Notification.Object this package
// accepts.
const ObjectWhatsAppBusinessAccount = "whatsapp_business_account"

// Errors returned by Parse. Both mean the body can never be processed as a
// WhatsApp notification; callers keep it raw (dead letter) instead of
// asking Meta to retry.
var (
	// ErrMalformed: the body is not JSON, or its structure (entries,
	// changes, item arrays) does not have the shape of a notification.
	ErrMalformed = errors.New("whatsapp: malformed webhook body")
	// ErrNotNotification: valid JSON, but "object" is missing or is not
	// "whatsapp_business_account".
	ErrNotNotification = errors.New("whatsapp: not a whatsapp_business_account notification")
)

// Notification is the body of one webhook POST.
type Notification struct {
	Object string  `json:"object"`
	Entry  []Entry `json:"entry"`
}

// Entry is one WhatsApp Business Account's part of a notification.
type Entry struct {
	ID      string   `json:"id"` // WABA id
	Time    UnixTime `json:"time,omitempty"`
	Changes []Change `json:"changes"`
}

// Change is one webhook field's update.
type Change struct {
	Field string `json:"field"` // "messages", "smb_message_echoes", "account_update", …
	Value Value  `json:"value"`
}

// Value is the payload of a change. Only the parts this gateway reads are
// typed; Raw holds the whole value as received.
type Value struct {
	MessagingProduct string           `json:"messaging_product,omitempty"`
	Metadata         *Metadata        `json:"metadata,omitempty"` // absent for template status, account updates…
	Contacts         []WebhookContact `json:"contacts,omitempty"`
	Messages         []Message        `json:"messages,omitempty"`
	Statuses         []Status         `json:"statuses,omitempty"`
	Errors           []ErrorDetail    `json:"errors,omitempty"` // system-, app- or account-level errors
	UserPreferences  []UserPreference `json:"user_preferences,omitempty"`
	MessageEchoes    []MessageEcho    `json:"message_echoes,omitempty"` // smb_message_echoes
	Event            string           `json:"event,omitempty"`          // template status, account_update

	// Raw is the value object as received (a copy of the bytes; see Parse
	// for the text it replaces).
	Raw json.RawMessage `json:"-"`

	// sparse: an array of contacts, errors, user preferences or message
	// echoes was left only in Raw, its items too small for what decoding
	// them would cost (sparse). Split then keeps the value whole in
	// a notice.
	sparse bool
}

// Metadata identifies the business phone number a change belongs to.
type Metadata struct {
	DisplayPhoneNumber string `json:"display_phone_number,omitempty"`
	PhoneNumberID      string `json:"phone_number_id,omitempty"`
}

// WebhookContact is one entry of value.contacts: who sent the messages (or,
// on statuses, who received them).
type WebhookContact struct {
	Profile      Profile `json:"profile"`
	WaID         string  `json:"wa_id,omitempty"`
	UserID       string  `json:"user_id,omitempty"` // business-scoped user id (BSUID)
	ParentUserID string  `json:"parent_user_id,omitempty"`
}

// Profile is a contact's WhatsApp profile.
type Profile struct {
	Name     string `json:"name,omitempty"`
	Username string `json:"username,omitempty"`
}

// ErrorDetail is one error object as Meta sends it in messages, statuses and
// values.
type ErrorDetail struct {
	Code      int        `json:"code"`
	Title     string     `json:"title,omitempty"`
	Message   string     `json:"message,omitempty"`
	ErrorData *ErrorData `json:"error_data,omitempty"`
	Href      string     `json:"href,omitempty"`
}

// ErrorData holds an error's details.
type ErrorData struct {
	Details string `json:"details,omitempty"`
}

// Details returns error_data.details, or "".
func (e ErrorDetail) Details() string {
	if e.ErrorData == nil {
		return ""
	}
	return e.ErrorData.Details
}

// UnixTime is a Unix time in seconds that Meta sends either as a JSON number
// or as a string of digits. A value that is neither decodes as zero rather
// than failing the payload. It encodes as a JSON number.
type UnixTime int64

// UnmarshalJSON implements json.Unmarshaler.
func (t *UnixTime) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*t = UnixTime(n)
	} else if f, err := strconv.ParseFloat(string(b), 64); err == nil && f > 0 && f < 1e15 {
		*t = UnixTime(f)
	} else {
		*t = 0
	}
	return nil
}

// Time returns t as a UTC time, or the zero time when t is outside
// [1, MaxUnixTime].
func (t UnixTime) Time() time.Time { return unixTime(int64(t)) }

// MaxUnixTime is the last second a timestamp from Meta may name:
// 9999-12-31T23:59:59Z, the end of what RFC 3339, encoding/json and
// Postgres can all represent. Every timestamp the parser reads is taken
// only when it lies in [1, MaxUnixTime]; any other value counts as absent
// (the time methods return the zero time, so OccurredAt falls back to the
// time the webhook was received), while the raw value is kept as sent.
const MaxUnixTime = 253402300799

// unixTime converts Unix seconds in [1, MaxUnixTime] to a UTC time, and
// anything else to the zero time.
func unixTime(n int64) time.Time {
	if n <= 0 || n > MaxUnixTime {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// parseUnix parses a Unix-seconds string; zero time when it is not one or
// lies outside [1, MaxUnixTime].
func parseUnix(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return unixTime(n)
}

// ---------------------------------------------------------------- messages

// Message is one inbound message from a WhatsApp user. Type says which of the
// optional parts is set; types this package does not know are kept with
// their Type and Raw.
type Message struct {
	ID               string `json:"id"` // wamid
	From             string `json:"from,omitempty"`
	FromUserID       string `json:"from_user_id,omitempty"`
	FromParentUserID string `json:"from_parent_user_id,omitempty"`
	Timestamp        string `json:"timestamp,omitempty"` // Unix seconds, as a string
	Type             string `json:"type"`

	Text        *Text           `json:"text,omitempty"`
	Image       *Media          `json:"image,omitempty"`
	Audio       *Media          `json:"audio,omitempty"`
	Video       *Media          `json:"video,omitempty"`
	Document    *Media          `json:"document,omitempty"`
	Sticker     *Media          `json:"sticker,omitempty"`
	Location    *Location       `json:"location,omitempty"`
	Contacts    []SharedContact `json:"contacts,omitempty"`
	Interactive *Interactive    `json:"interactive,omitempty"`
	Button      *Button         `json:"button,omitempty"`
	Reaction    *Reaction       `json:"reaction,omitempty"`
	Order       *Order          `json:"order,omitempty"`
	System      *System         `json:"system,omitempty"`
	Identity    *Identity       `json:"identity,omitempty"`
	Context     *Context        `json:"context,omitempty"`
	Referral    *Referral       `json:"referral,omitempty"`
	Edit        *Edit           `json:"edit,omitempty"`
	Revoke      *Revoke         `json:"revoke,omitempty"`
	Unsupported *Unsupported    `json:"unsupported,omitempty"`
	Errors      []ErrorDetail   `json:"errors,omitempty"`

	// Raw is the original message object as received, set by the parser.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Message types.
const (
	TypeText        = "text"
	TypeImage       = "image"
	TypeAudio       = "audio"
	TypeVideo       = "video"
	TypeDocument    = "document"
	TypeSticker     = "sticker"
	TypeLocation    = "location"
	TypeContacts    = "contacts"
	TypeInteractive = "interactive"
	TypeButton      = "button"
	TypeReaction    = "reaction"
	TypeOrder       = "order"
	TypeSystem      = "system"
	TypeEdit        = "edit"
	TypeRevoke      = "revoke"
	TypeUnsupported = "unsupported"
)

// Text is a text message's content.
type Text struct {
	Body string `json:"body"`
}

// Media is an image, audio, video, document or sticker.
type Media struct {
	ID       string `json:"id,omitempty"`
	MimeType string `json:"mime_type,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"` // documents
	URL      string `json:"url,omitempty"`
	Voice    bool   `json:"voice,omitempty"`    // audio recorded as a voice note
	Animated bool   `json:"animated,omitempty"` // stickers
}

// Location is a shared location.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
	URL       string  `json:"url,omitempty"`
}

// SharedContact is one vCard of a contacts message.
type SharedContact struct {
	Name      ContactName      `json:"name"`
	Phones    []ContactPhone   `json:"phones,omitempty"`
	Emails    []ContactEmail   `json:"emails,omitempty"`
	Addresses []ContactAddress `json:"addresses,omitempty"`
	URLs      []ContactURL     `json:"urls,omitempty"`
	Org       *ContactOrg      `json:"org,omitempty"`
	Birthday  string           `json:"birthday,omitempty"`
}

// ContactName is a shared contact's name.
type ContactName struct {
	FormattedName string `json:"formatted_name,omitempty"`
	FirstName     string `json:"first_name,omitempty"`
	LastName      string `json:"last_name,omitempty"`
	MiddleName    string `json:"middle_name,omitempty"`
	Prefix        string `json:"prefix,omitempty"`
	Suffix        string `json:"suffix,omitempty"`
}

// ContactPhone is a shared contact's phone number.
type ContactPhone struct {
	Phone string `json:"phone,omitempty"`
	WaID  string `json:"wa_id,omitempty"`
	Type  string `json:"type,omitempty"`
}

// ContactEmail is a shared contact's e-mail address.
type ContactEmail struct {
	Email string `json:"email,omitempty"`
	Type  string `json:"type,omitempty"`
}

// ContactAddress is a shared contact's postal address.
type ContactAddress struct {
	Street      string `json:"street,omitempty"`
	City        string `json:"city,omitempty"`
	State       string `json:"state,omitempty"`
	Zip         string `json:"zip,omitempty"`
	Country     string `json:"country,omitempty"`
	CountryCode string `json:"country_code,omitempty"`
	Type        string `json:"type,omitempty"`
}

// ContactURL is a shared contact's web address.
type ContactURL struct {
	URL  string `json:"url,omitempty"`
	Type string `json:"type,omitempty"`
}

// ContactOrg is a shared contact's organisation.
type ContactOrg struct {
	Company    string `json:"company,omitempty"`
	Department string `json:"department,omitempty"`
	Title      string `json:"title,omitempty"`
}

// Interactive is the user's answer to an interactive message.
type Interactive struct {
	Type        string       `json:"type,omitempty"` // button_reply, list_reply, nfm_reply
	ButtonReply *ReplyOption `json:"button_reply,omitempty"`
	ListReply   *ReplyOption `json:"list_reply,omitempty"`
	NFMReply    *NFMReply    `json:"nfm_reply,omitempty"`
}

// ReplyOption is the button or list row the user chose.
type ReplyOption struct {
	ID          string `json:"id"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// NFMReply is a WhatsApp Flow's response.
type NFMReply struct {
	Name         string `json:"name,omitempty"`
	Body         string `json:"body,omitempty"`
	ResponseJSON string `json:"response_json,omitempty"`
}

// Button is a quick-reply tap on a template button.
type Button struct {
	Payload string `json:"payload,omitempty"`
	Text    string `json:"text,omitempty"`
}

// Reaction is an emoji reaction to a message. An empty Emoji (key absent or
// "") means the reaction was removed.
type Reaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji,omitempty"`
}

// Removed reports whether the user removed their reaction.
func (r *Reaction) Removed() bool { return r.Emoji == "" }

// Order is a cart sent from a catalog.
type Order struct {
	CatalogID    string      `json:"catalog_id,omitempty"`
	Text         string      `json:"text,omitempty"`
	ProductItems []OrderItem `json:"product_items,omitempty"`
}

// OrderItem is one line of an order. Meta sends quantity and item_price as
// JSON numbers.
type OrderItem struct {
	ProductRetailerID string  `json:"product_retailer_id"`
	Quantity          float64 `json:"quantity"`
	ItemPrice         float64 `json:"item_price"`
	Currency          string  `json:"currency,omitempty"`
}

// System is a system message (number change, identity change).
type System struct {
	Body     string `json:"body,omitempty"`
	Type     string `json:"type,omitempty"` // user_changed_number, customer_identity_changed…
	WaID     string `json:"wa_id,omitempty"`
	UserID   string `json:"user_id,omitempty"`
	Customer string `json:"customer,omitempty"`
	Identity string `json:"identity,omitempty"`
}

// Identity accompanies identity-change system messages.
type Identity struct {
	Acknowledged     bool   `json:"acknowledged,omitempty"`
	CreatedTimestamp string `json:"created_timestamp,omitempty"`
	Hash             string `json:"hash,omitempty"`
}

// Context links a message to an earlier one (a reply, a forward, a
// product enquiry).
type Context struct {
	ID                  string           `json:"id,omitempty"`   // the quoted message's wamid
	From                string           `json:"from,omitempty"` // who sent the quoted message
	Forwarded           bool             `json:"forwarded,omitempty"`
	FrequentlyForwarded bool             `json:"frequently_forwarded,omitempty"`
	ReferredProduct     *ReferredProduct `json:"referred_product,omitempty"`
}

// ReferredProduct is the catalog item a message asks about.
type ReferredProduct struct {
	CatalogID         string `json:"catalog_id,omitempty"`
	ProductRetailerID string `json:"product_retailer_id,omitempty"`
}

// Referral says which ad or post brought the user (click-to-WhatsApp).
type Referral struct {
	SourceURL    string `json:"source_url,omitempty"`
	SourceID     string `json:"source_id,omitempty"`
	SourceType   string `json:"source_type,omitempty"`
	Headline     string `json:"headline,omitempty"`
	Body         string `json:"body,omitempty"`
	MediaType    string `json:"media_type,omitempty"`
	ImageURL     string `json:"image_url,omitempty"`
	VideoURL     string `json:"video_url,omitempty"`
	ThumbnailURL string `json:"thumbnail_url,omitempty"`
	CtwaClid     string `json:"ctwa_clid,omitempty"`
}

// Edit is a user's edit of an earlier message.
type Edit struct {
	OriginalMessageID string   `json:"original_message_id,omitempty"`
	Message           *Message `json:"message,omitempty"` // the new content; no id or sender
}

// Revoke is a user's deletion of an earlier message.
type Revoke struct {
	OriginalMessageID string `json:"original_message_id,omitempty"`
}

// Unsupported names the type WhatsApp could not deliver to the API.
type Unsupported struct {
	Type string `json:"type,omitempty"`
}

// Time returns the message's timestamp, or the zero time when it is missing,
// not Unix seconds or outside [1, MaxUnixTime].
func (m *Message) Time() time.Time { return parseUnix(m.Timestamp) }

// Body returns what the user wrote or chose: the text body, the media
// caption, the template button's text or the interactive reply's title;
// "" for every other type.
func (m *Message) Body() string {
	switch m.Type {
	case TypeText:
		if m.Text != nil {
			return m.Text.Body
		}
	case TypeImage, TypeVideo, TypeDocument, TypeAudio, TypeSticker:
		if md := m.media(); md != nil {
			return md.Caption
		}
	case TypeButton:
		if m.Button != nil {
			return m.Button.Text
		}
	case TypeInteractive:
		if r := m.replyOption(); r != nil {
			return r.Title
		}
	}
	return ""
}

// ReplyID returns the id of the interactive button or list row the user
// chose, or the payload of the template button they tapped; "" otherwise.
func (m *Message) ReplyID() string {
	switch m.Type {
	case TypeInteractive:
		if r := m.replyOption(); r != nil {
			return r.ID
		}
	case TypeButton:
		if m.Button != nil {
			return m.Button.Payload
		}
	}
	return ""
}

// Opens reports whether the message is conversational, that is whether it
// can open a conversation: text, media, location, contacts, interactive or
// button replies and orders. Reactions, system messages, edits, revokes,
// unsupported and unknown types never do.
func (m *Message) Opens() bool {
	switch m.Type {
	case TypeText, TypeImage, TypeAudio, TypeVideo, TypeDocument, TypeSticker,
		TypeLocation, TypeContacts, TypeInteractive, TypeButton, TypeOrder:
		return true
	}
	return false
}

// IsReaction reports whether the message is a reaction (added or removed).
func (m *Message) IsReaction() bool { return m.Type == TypeReaction }

// ContextID returns the wamid of the message this one replies to, or "".
func (m *Message) ContextID() string {
	if m.Context == nil {
		return ""
	}
	return m.Context.ID
}

// ReferralSourceID returns the id of the ad or post that brought the user,
// or "".
func (m *Message) ReferralSourceID() string {
	if m.Referral == nil {
		return ""
	}
	return m.Referral.SourceID
}

func (m *Message) media() *Media {
	switch m.Type {
	case TypeImage:
		return m.Image
	case TypeAudio:
		return m.Audio
	case TypeVideo:
		return m.Video
	case TypeDocument:
		return m.Document
	case TypeSticker:
		return m.Sticker
	}
	return nil
}

func (m *Message) replyOption() *ReplyOption {
	if m.Interactive == nil {
		return nil
	}
	if m.Interactive.ButtonReply != nil {
		return m.Interactive.ButtonReply
	}
	return m.Interactive.ListReply
}

// ---------------------------------------------------------------- statuses

// Status is a status update of an outbound message.
type Status struct {
	ID                               string        `json:"id"`     // the outbound message's wamid
	Status                           string        `json:"status"` // sent, delivered, read, played, failed, deleted…
	Timestamp                        string        `json:"timestamp,omitempty"`
	RecipientID                      string        `json:"recipient_id,omitempty"`
	RecipientUserID                  string        `json:"recipient_user_id,omitempty"`
	RecipientParentUserID            string        `json:"recipient_parent_user_id,omitempty"`
	RecipientType                    string        `json:"recipient_type,omitempty"` // "individual" or "group"
	RecipientParticipantID           string        `json:"recipient_participant_id,omitempty"`
	RecipientParticipantUserID       string        `json:"recipient_participant_user_id,omitempty"`
	RecipientParticipantParentUserID string        `json:"recipient_participant_parent_user_id,omitempty"`
	BizOpaqueCallbackData            string        `json:"biz_opaque_callback_data,omitempty"`
	Conversation                     *Conversation `json:"conversation,omitempty"` // absent from v24
	Pricing                          *Pricing      `json:"pricing,omitempty"`
	Errors                           []ErrorDetail `json:"errors,omitempty"`

	// Raw is the original status object as received, set by the parser.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Status values.
const (
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusPlayed    = "played"
	StatusDeleted   = "deleted"
	StatusFailed    = "failed"
)

// RankFailed is the rank of a failed status: terminal, above all others.
const RankFailed = 100

// Conversation is the pricing conversation a status belongs to.
type Conversation struct {
	ID                  string              `json:"id,omitempty"`
	ExpirationTimestamp string              `json:"expiration_timestamp,omitempty"`
	Origin              *ConversationOrigin `json:"origin,omitempty"`
}

// ConversationOrigin is the category that opened a conversation.
type ConversationOrigin struct {
	Type string `json:"type,omitempty"`
}

// Pricing is how a message is billed.
type Pricing struct {
	Billable     bool   `json:"billable"`
	PricingModel string `json:"pricing_model,omitempty"` // CBP, PMP
	Type         string `json:"type,omitempty"`
	Category     string `json:"category,omitempty"`
}

// Time returns the status timestamp, or the zero time when it is missing,
// not Unix seconds or outside [1, MaxUnixTime].
func (s *Status) Time() time.Time { return parseUnix(s.Timestamp) }

// Rank orders statuses so that they only move forward: sent (1) <
// delivered (2) < read (3) < played (4) < deleted (5) < failed
// (RankFailed, terminal). Unknown statuses rank 0 and never replace a
// known one.
func (s *Status) Rank() int {
	switch s.Status {
	case StatusSent:
		return 1
	case StatusDelivered:
		return 2
	case StatusRead:
		return 3
	case StatusPlayed:
		return 4
	case StatusDeleted:
		return 5
	case StatusFailed:
		return RankFailed
	}
	return 0
}

// ErrorCode returns the code of the status's first error, or 0.
func (s *Status) ErrorCode() int {
	if len(s.Errors) == 0 {
		return 0
	}
	return s.Errors[0].Code
}

// ---------------------------------------------------------------- notices

// UserPreference is one item of a user_preferences change (marketing
// messages stopped or resumed).
type UserPreference struct {
	WaID         string   `json:"wa_id,omitempty"`
	UserID       string   `json:"user_id,omitempty"`
	ParentUserID string   `json:"parent_user_id,omitempty"`
	Detail       string   `json:"detail,omitempty"`
	Category     string   `json:"category,omitempty"`
	Value        string   `json:"value,omitempty"`
	Timestamp    UnixTime `json:"timestamp,omitempty"`
}

// MessageEcho is a message the business sent from the WhatsApp Business app
// (coexistence), echoed on the smb_message_echoes field.
type MessageEcho struct {
	Message
	To             string `json:"to,omitempty"`
	ToUserID       string `json:"to_user_id,omitempty"`
	ToParentUserID string `json:"to_parent_user_id,omitempty"`
}
