package whatsapp

import (
	"encoding/json"
	"time"
)

// Defaults of the Cloud API client (cloudapi.ClientConfig in
// whatsapp/cloudapi), kept here as plain constants so that configuration
// can name them without importing the client.
const (
	DefaultBaseURL         = "https://graph.facebook.com"
	DefaultAPIVersion      = "v23.0"
	DefaultTimeout         = 10 * time.Second
	DefaultRatePerSecond   = 80
	DefaultBurst           = 10
	DefaultPairInterval    = 6 * time.Second
	DefaultPairBurst       = 3
	DefaultBreakerFailures = 5
	DefaultBreakerOpenFor  = 30 * time.Second
	DefaultMaxRetries      = 8
	DefaultBackoffBase     = 500 * time.Millisecond
	DefaultBackoffMax      = time.Minute
)

// OutboundMessage is the body of POST /{phone_number_id}/messages. Set Type
// and the one object that matches it. MessagingProduct defaults to
// "whatsapp" and RecipientType to "individual".
type OutboundMessage struct {
	MessagingProduct string           `json:"messaging_product"`
	RecipientType    string           `json:"recipient_type,omitempty"`
	To               string           `json:"to"`
	Context          *OutboundContext `json:"context,omitempty"`
	Type             string           `json:"type"`

	Text        *OutboundText        `json:"text,omitempty"`
	Template    *OutboundTemplate    `json:"template,omitempty"`
	Interactive *OutboundInteractive `json:"interactive,omitempty"`
	Image       *OutboundMedia       `json:"image,omitempty"`
	Document    *OutboundMedia       `json:"document,omitempty"`
	Audio       *OutboundMedia       `json:"audio,omitempty"`
	Video       *OutboundMedia       `json:"video,omitempty"`
	Sticker     *OutboundMedia       `json:"sticker,omitempty"`
	Reaction    *OutboundReaction    `json:"reaction,omitempty"`

	// BizOpaqueCallbackData is echoed back by Meta in the status webhooks
	// of this message (at most 512 characters).
	BizOpaqueCallbackData string `json:"biz_opaque_callback_data,omitempty"`
}

// OutboundContext quotes the message being replied to.
type OutboundContext struct {
	MessageID string `json:"message_id"`
}

// OutboundText is a free-form text message (only inside the 24-hour
// customer-service window).
type OutboundText struct {
	PreviewURL bool   `json:"preview_url"`
	Body       string `json:"body"`
}

// OutboundTemplate is an approved template message.
type OutboundTemplate struct {
	Name       string                      `json:"name"`
	Language   OutboundTemplateLanguage    `json:"language"`
	Components []OutboundTemplateComponent `json:"components,omitempty"`
}

// OutboundTemplateLanguage is the template's language ("en_US").
type OutboundTemplateLanguage struct {
	Code   string `json:"code"`
	Policy string `json:"policy,omitempty"`
}

// OutboundTemplateComponent fills a template's header, body or button.
type OutboundTemplateComponent struct {
	Type       string                      `json:"type"`               // header, body, button
	SubType    string                      `json:"sub_type,omitempty"` // quick_reply, url (buttons)
	Index      string                      `json:"index,omitempty"`    // button position, "0"…
	Parameters []OutboundTemplateParameter `json:"parameters,omitempty"`
}

// OutboundTemplateParameter is one template variable. Set Type and the
// matching field; Currency and DateTime stay raw JSON.
type OutboundTemplateParameter struct {
	Type          string          `json:"type"` // text, payload, image, document, video, currency, date_time
	ParameterName string          `json:"parameter_name,omitempty"`
	Text          string          `json:"text,omitempty"`
	Payload       string          `json:"payload,omitempty"`
	Image         *OutboundMedia  `json:"image,omitempty"`
	Document      *OutboundMedia  `json:"document,omitempty"`
	Video         *OutboundMedia  `json:"video,omitempty"`
	Currency      json.RawMessage `json:"currency,omitempty"`
	DateTime      json.RawMessage `json:"date_time,omitempty"`
}

// OutboundInteractive is a reply-buttons, list, or other interactive
// message. Action keeps the common button and list fields; Action.Parameters
// carries the raw parameters of other kinds (cta_url, flow).
type OutboundInteractive struct {
	Type   string                     `json:"type"` // button, list, cta_url, flow…
	Header *OutboundInteractiveHeader `json:"header,omitempty"`
	Body   *OutboundInteractiveText   `json:"body,omitempty"`
	Footer *OutboundInteractiveText   `json:"footer,omitempty"`
	Action OutboundInteractiveAction  `json:"action"`
}

// OutboundInteractiveHeader is the optional header of an interactive
// message: text, or one media object.
type OutboundInteractiveHeader struct {
	Type     string         `json:"type"` // text, image, video, document
	Text     string         `json:"text,omitempty"`
	Image    *OutboundMedia `json:"image,omitempty"`
	Video    *OutboundMedia `json:"video,omitempty"`
	Document *OutboundMedia `json:"document,omitempty"`
}

// OutboundInteractiveText is an interactive body or footer.
type OutboundInteractiveText struct {
	Text string `json:"text"`
}

// OutboundInteractiveAction holds buttons (type button), the list button
// label and sections (type list), or a named action with raw parameters.
type OutboundInteractiveAction struct {
	Button     string                `json:"button,omitempty"`
	Buttons    []OutboundButton      `json:"buttons,omitempty"`
	Sections   []OutboundListSection `json:"sections,omitempty"`
	Name       string                `json:"name,omitempty"`
	Parameters json.RawMessage       `json:"parameters,omitempty"`
}

// OutboundButton is one reply button (at most three).
type OutboundButton struct {
	Type  string              `json:"type"` // reply
	Reply OutboundButtonReply `json:"reply"`
}

// OutboundButtonReply is a reply button's id and title (20 characters).
type OutboundButtonReply struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// OutboundListSection is one section of a list message.
type OutboundListSection struct {
	Title string            `json:"title,omitempty"`
	Rows  []OutboundListRow `json:"rows"`
}

// OutboundListRow is one choosable row of a list message.
type OutboundListRow struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// OutboundMedia is an image, document, audio, video or sticker, by uploaded
// media ID or by public link.
type OutboundMedia struct {
	ID       string `json:"id,omitempty"`
	Link     string `json:"link,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// OutboundReaction reacts to a message; an empty Emoji removes the reaction.
type OutboundReaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji"`
}

// SendResult is what the Cloud API returns for an accepted message.
type SendResult struct {
	// WAMID is the id of the sent message; status webhooks carry it.
	WAMID string
	// MessageStatus is empty for a normal send, or e.g.
	// "held_for_quality_assessment" (a paced marketing template) or
	// "accepted".
	MessageStatus string
	// WaID is the recipient's WhatsApp id as Meta resolved `to`.
	WaID string
}
