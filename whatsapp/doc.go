// Package whatsapp owns Meta's vocabulary for the WhatsApp Cloud API and
// nothing else of the project: it imports no other wagw package.
//
// Inbound, it holds the webhook payload types and their parser ([Parse]),
// the split of one notification into per-user items ([Split]), the
// X-Hub-Signature-256 check ([Sign], [Verify], and [MetaEscape] for the
// bytes Meta signs) and the GET subscription handshake ([Handshake]).
//
// Outbound, it holds the Cloud API's message and thread control types
// ([OutboundMessage], [SendResult], [ThreadControlRequest]), its errors and
// their classes ([APIError], [Classify], [ClassOf], [RetryAfter],
// [Attempted]) and the retry backoff ([Backoff]). The HTTP client that
// sends them is in the sub-package whatsapp/cloudapi; this package does not
// import net/http.
//
// # Parsing
//
// The parser is tolerant where Meta is loose and strict where the shape is
// wrong. Unknown fields are ignored; unknown message types are kept with
// their Type and the original bytes in Message.Raw; a field of an
// unexpected type inside one message or status leaves that field empty
// instead of failing the whole POST. A body that is not JSON, or whose
// object is not "whatsapp_business_account", or whose entries, changes or
// item arrays have the wrong shape, is an error ([ErrMalformed],
// [ErrNotNotification]); the caller keeps such bodies raw rather than
// dropping them. The body is checked once (validJSON: what json.Valid
// accepts, faster), then its outer structure (object, entries, changes)
// and its contacts and statuses are walked once; a body or item the walk
// does not decode exactly as encoding/json would (a repeated or unknown
// member, a null, an unexpected type) is decoded by encoding/json, with
// the same result. Messages, whose types are many, are decoded by
// encoding/json.
//
// Whatever the body, every item it gives encodes with encoding/json, its
// message or status decodes back to the same meaning, and it holds only
// text Postgres can store:
//   - A timestamp is taken only when it lies in [1, [MaxUnixTime]] (years
//     1970 to 9999); any other value counts as absent (Item.Time is zero).
//     The value is kept as sent in the typed field and in Raw.
//   - Bytes that are not UTF-8, and the escapes \u0000 and lone surrogate
//     halves, are replaced by U+FFFD before decoding, in the typed fields
//     and in Raw alike; the rest of Raw is the bytes as sent.
//   - Nesting deeper than encoding/json accepts (10,000 levels) makes the
//     body malformed.
//   - Parsing allocates a bounded multiple of the body's size and its
//     items' count, whatever its shape: an array whose elements are too
//     small for what they would cost typed is not decoded but kept in
//     Raw: inside a change value (contacts, errors, user preferences,
//     message echoes: more than 8 bytes per byte) the change then gives a
//     notice with the whole value; inside a message or a status (more
//     than 12, with the slices encoding/json grows and the typed arrays
//     it holds: sparse.go) its typed field stays empty.
//
// # Splitting
//
// A notification may carry many messages and statuses for many contacts and
// several business numbers. [Split] returns one [Item] per message, one per
// status, one per Conversation Routing handover ([Handover], the
// messaging_handovers field), one per message echo of a standby change,
// and one notice item per change that has none of them (value errors,
// template status updates, account updates, user preferences, message
// echoes of the Business app). A standby change's messages and statuses
// are items like any other, with Field "standby". Items keep the order of the payload and are not deduplicated:
// Meta redelivers. Each item names its user as Meta does, by wa_id and/or
// the business-scoped user id, completed from the change's contacts.
//
// # Signatures
//
// [Verify] checks the HMAC-SHA256 of the raw body bytes, exactly as
// received. Never decode and re-encode a body before verifying it: Meta
// escapes non-ASCII characters and "/" in the bytes it signs.
package whatsapp
