package loadtest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	mrand "math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// Traffic profiles (GenConfig.Profile).
const (
	// ProfileRealistic is the traffic of a busy inbox: skewed contacts,
	// the message-type mix of real inboxes, bursts, batches, late statuses
	// and redeliveries.
	ProfileRealistic = "realistic"
	// ProfileSingle is the typical single-message webhook: one text message
	// per POST, every message unique, no statuses, no redeliveries. The
	// contacts keep the skewed activity.
	ProfileSingle = "single"
)

// Defaults of GenConfig.
const (
	DefaultGenContacts       = 1000
	DefaultGenSkew           = 1.0
	DefaultGenRate           = 100
	DefaultGenInbox          = "106540352242922"
	DefaultGenWABAID         = "102290129340398"
	DefaultGenDisplayNumber  = "15550783881"
	DefaultGenBatchShare     = 0.10
	DefaultGenBatchMax       = 6
	DefaultGenBurstShare     = 0.20
	DefaultGenBurstMax       = 5
	DefaultGenStatusShare    = 0.15
	DefaultGenRedeliverShare = 0.02
	DefaultGenBSUIDShare     = 0.02
)

// GenConfig configures a Generator. The zero value of every field selects
// the default named in its comment; for the shares, a negative value means
// none.
type GenConfig struct {
	// Seed makes the traffic reproducible: the same config gives the same
	// bytes. Default 1.
	Seed uint64
	// RunID tags every generated wamid so that two runs never collide.
	// Default: derived from Seed.
	RunID string
	// Profile is ProfileRealistic (default) or ProfileSingle.
	Profile string
	// Contacts is how many different users write. Default 1000.
	Contacts int
	// Skew is the exponent s of the Zipf–Mandelbrot activity of contacts
	// (weight of the contact of rank k is 1/(k+10)^s): a few very chatty
	// contacts, most quiet. 0 selects 1.0; larger is more skewed.
	Skew float64
	// Inboxes are the business phone_number_ids; each contact writes to one
	// of them. Default one, "106540352242922".
	Inboxes []string
	// WABAID is the entry id. Default "102290129340398".
	WABAID string
	// DisplayPhoneNumber of every inbox. Default "15550783881".
	DisplayPhoneNumber string
	// Rate is webhook POSTs per second of the arrival schedule. Default 100.
	Rate float64
	// Poisson draws exponential gaps between arrivals instead of a fixed
	// interval.
	Poisson bool
	// Start is the time of the first arrival: Meta's timestamps in the
	// bodies and the capture file's "at" derive from it. Default: the time
	// NewGenerator is called.
	Start time.Time
	// BatchShare is the share of message POSTs that carry several messages
	// (Meta-style batches: several messages and contacts per POST).
	// Default 0.10 (realistic), none (single).
	BatchShare float64
	// BatchMin and BatchMax bound the messages of one batch. Defaults 2
	// and 6.
	BatchMin int
	BatchMax int
	// BurstShare is the share of messages that start a burst: the contact
	// sends 1..BurstMax-1 more messages within the next arrivals, some in
	// the same POST. Default 0.20 (realistic), none (single).
	BurstShare float64
	// BurstMax is the longest burst. Default 5.
	BurstMax int
	// StatusShare is the share of POSTs that carry statuses (sent,
	// delivered, read, sometimes failed) of earlier outbound messages,
	// arriving late and out of order. Default 0.15 (realistic), none
	// (single).
	StatusShare float64
	// RedeliverShare is the share of POSTs that are exact redeliveries of
	// an earlier POST (the same bytes). Default 0.02 (realistic), none
	// (single).
	RedeliverShare float64
	// BSUIDShare is the share of contacts identified only by a
	// business-scoped user id (no wa_id). Default 0.02 (realistic), none
	// (single).
	BSUIDShare float64
	// RoutingShare is the share of contacts whose thread another responder
	// (an AI agent) owns when they first write: a control_taken, their
	// messages and the AI's echoes on the standby field, then a
	// control_passed before their next message (genrouting.go). Default
	// none, in both profiles.
	RoutingShare float64
}

func (c GenConfig) withDefaults() GenConfig {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.RunID == "" {
		h := fnv.New64a()
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], c.Seed)
		h.Write(b[:])
		c.RunID = strconv.FormatUint(h.Sum64()%(36*36*36*36*36*36), 36)
	}
	if c.Profile == "" {
		c.Profile = ProfileRealistic
	}
	if c.Contacts <= 0 {
		c.Contacts = DefaultGenContacts
	}
	if c.Skew <= 0 {
		c.Skew = DefaultGenSkew
	}
	if len(c.Inboxes) == 0 {
		c.Inboxes = []string{DefaultGenInbox}
	}
	if c.WABAID == "" {
		c.WABAID = DefaultGenWABAID
	}
	if c.DisplayPhoneNumber == "" {
		c.DisplayPhoneNumber = DefaultGenDisplayNumber
	}
	if c.Rate <= 0 {
		c.Rate = DefaultGenRate
	}
	if c.Start.IsZero() {
		c.Start = time.Now()
	}
	if c.BatchMax <= 1 {
		c.BatchMax = DefaultGenBatchMax
	}
	if c.BatchMin < 2 {
		c.BatchMin = 2
	}
	c.BatchMin = min(c.BatchMin, c.BatchMax)
	if c.BurstMax <= 1 {
		c.BurstMax = DefaultGenBurstMax
	}
	single := c.Profile == ProfileSingle
	share := func(v *float64, def float64) {
		switch {
		case *v < 0:
			*v = 0
		case *v == 0 && !single:
			*v = def
		}
		*v = min(*v, 1)
	}
	share(&c.BatchShare, DefaultGenBatchShare)
	share(&c.BurstShare, DefaultGenBurstShare)
	share(&c.StatusShare, DefaultGenStatusShare)
	share(&c.RedeliverShare, DefaultGenRedeliverShare)
	share(&c.BSUIDShare, DefaultGenBSUIDShare)
	return c
}

// MessageRef is what the verifier needs to know of one inbound message of
// a request.
type MessageRef struct {
	WAMID   string `json:"w"`
	Contact string `json:"c"` // partition key: wa_id, else user id
	Inbox   string `json:"i"` // phone_number_id
	Type    string `json:"t"`
	Opens   bool   `json:"o,omitempty"` // can open a conversation
	Seq     int    `json:"s"`           // per-contact sequence number, from 1
}

// Request is one webhook POST to send.
type Request struct {
	// At is the intended send time, as an offset from the start of the run.
	At time.Duration
	// Body is the exact body; the runner signs it.
	Body []byte
	// Headers to send besides the signature (Content-Type is always set).
	Headers map[string]string
	// Messages and Statuses ("wamid:status") the body carries, in order.
	Messages []MessageRef
	Statuses []string
	// Redelivery: the same bytes were sent before (Meta's at-least-once).
	Redelivery bool
}

// Generator produces signed-ready webhook traffic, deterministic for a
// GenConfig. It is not safe for concurrent use.
type Generator struct {
	cfg GenConfig
	rnd *mrand.Rand

	cum      []float64 // cumulative activity weight by rank
	rankToID []int32   // rank -> contact index
	contacts []*genContact

	at       time.Duration
	n        int
	msgN     uint64
	outN     uint64
	bursts   []genBurst
	statuses genStatusHeap
	statusN  uint64
	recent   []*Request // ring of earlier POSTs, for redeliveries
	recentAt int
	active   []int32 // contacts that wrote recently, for statuses
}

type genContact struct {
	waID, userID, name, inbox string
	seq                       int
	last                      string // last inbound wamid
	// Conversation Routing (genrouting.go): who owns the thread, the
	// standby messages before the AI passes it, whether Meta said the AI
	// took it
	routing     int8
	standbyLeft int
	taken       bool
}

type genBurst struct {
	contact int32
	left    int
}

// NewGenerator returns a generator for cfg.
func NewGenerator(cfg GenConfig) *Generator {
	cfg = cfg.withDefaults()
	g := &Generator{
		cfg:      cfg,
		rnd:      mrand.New(mrand.NewPCG(cfg.Seed, cfg.Seed^0x5851f42d4c957f2d)),
		contacts: make([]*genContact, cfg.Contacts),
	}
	g.cum = make([]float64, cfg.Contacts)
	sum := 0.0
	for k := range cfg.Contacts {
		sum += 1 / math.Pow(float64(k)+10, cfg.Skew)
		g.cum[k] = sum
	}
	g.rankToID = make([]int32, cfg.Contacts)
	for i := range g.rankToID {
		g.rankToID[i] = int32(i)
	}
	g.rnd.Shuffle(len(g.rankToID), func(i, j int) { g.rankToID[i], g.rankToID[j] = g.rankToID[j], g.rankToID[i] })
	return g
}

// Config returns the configuration in force, defaults filled in.
func (g *Generator) Config() GenConfig { return g.cfg }

// Next returns the next request. The generator never runs out: the caller
// bounds the traffic by time or count.
func (g *Generator) Next() (Request, bool) {
	at := g.at
	if g.n > 0 {
		gap := 1 / g.cfg.Rate
		if g.cfg.Poisson {
			gap = g.rnd.ExpFloat64() / g.cfg.Rate
		}
		at += time.Duration(gap * float64(time.Second))
	}
	g.at = at
	g.n++

	var req *Request
	switch r := g.rnd.Float64(); {
	case r < g.cfg.RedeliverShare && len(g.recent) > 0:
		old := g.recent[g.rnd.IntN(len(g.recent))]
		req = &Request{Body: old.Body, Messages: old.Messages, Statuses: old.Statuses, Redelivery: true}
	case r < g.cfg.RedeliverShare+g.cfg.StatusShare && len(g.active) > 0:
		req = g.statusPost(at)
	}
	if req == nil {
		req = g.messagePost(at)
	}
	req.At = at
	req.Headers = map[string]string{"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
	if !req.Redelivery {
		if len(g.recent) < 1024 {
			g.recent = append(g.recent, req)
		} else {
			g.recent[g.recentAt] = req
			g.recentAt = (g.recentAt + 1) % len(g.recent)
		}
	}
	out := *req
	return out, true
}

func (g *Generator) pickContact() int32 {
	x := g.rnd.Float64() * g.cum[len(g.cum)-1]
	k := sort.SearchFloat64s(g.cum, x)
	if k >= len(g.cum) {
		k = len(g.cum) - 1
	}
	return g.rankToID[k]
}

// contact returns (creating on first use) the identity of contact i.
func (g *Generator) contact(i int32) *genContact {
	if c := g.contacts[i]; c != nil {
		return c
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d", g.cfg.Seed, i)
	x := h.Sum64()
	c := &genContact{
		name:  genFirstNames[x%uint64(len(genFirstNames))] + " " + genLastNames[(x>>16)%uint64(len(genLastNames))],
		inbox: g.cfg.Inboxes[int(i)%len(g.cfg.Inboxes)],
	}
	prefix := genCountryPrefixes[int(i)%len(genCountryPrefixes)]
	bsuidRoll := float64((x>>32)%10000) / 10000
	if g.cfg.Profile != ProfileSingle && bsuidRoll < g.cfg.BSUIDShare {
		c.userID = fmt.Sprintf("%s.%019d", strings.ToUpper(genCountryCodes[int(i)%len(genCountryCodes)]), (x>>1)%1e19)
	} else {
		c.waID = fmt.Sprintf("%s%08d", prefix, 20000000+int(i))
		if bsuidRoll < 0.30 && g.cfg.Profile != ProfileSingle {
			c.userID = fmt.Sprintf("%s.%019d", strings.ToUpper(genCountryCodes[int(i)%len(genCountryCodes)]), (x>>1)%1e19)
		}
	}
	g.routingStart(c)
	g.contacts[i] = c
	return c
}

// key is the contact's partition key, as event.Contact.Key gives it.
func (c *genContact) key() string {
	return event.Contact{WaID: c.waID, UserID: c.userID}.Key()
}

func (g *Generator) wamid(kind string, n uint64) string {
	raw := g.cfg.RunID + "." + kind + "." + strconv.FormatUint(n, 10)
	return "wamid.HBgL" + base64.StdEncoding.EncodeToString([]byte(raw))
}

func (g *Generator) timestamp(at time.Duration) string {
	return strconv.FormatInt(g.cfg.Start.Add(at).Unix(), 10)
}

// messagePost builds a POST of one or more inbound messages.
func (g *Generator) messagePost(at time.Duration) *Request {
	n := 1
	if g.cfg.BatchShare > 0 && g.rnd.Float64() < g.cfg.BatchShare {
		n = g.cfg.BatchMin + g.rnd.IntN(g.cfg.BatchMax-g.cfg.BatchMin+1)
	}
	type item struct {
		contact int32
		msg     whatsapp.Message
		ref     MessageRef
	}
	items := make([]item, 0, n)
	for len(items) < n {
		var ci int32
		if len(g.bursts) > 0 && g.rnd.Float64() < 0.6 {
			b := &g.bursts[0]
			ci = b.contact
			if b.left--; b.left <= 0 {
				g.bursts = g.bursts[1:]
			}
		} else {
			ci = g.pickContact()
			if g.cfg.BurstShare > 0 && g.rnd.Float64() < g.cfg.BurstShare {
				g.bursts = append(g.bursts, genBurst{contact: ci, left: 1 + g.rnd.IntN(g.cfg.BurstMax-1)})
			}
		}
		c := g.contact(ci)
		m, ref := g.message(ci, c, at)
		items = append(items, item{ci, m, ref})
		// A burst often lands in one POST: Meta batches what arrives together.
		for len(items) < n && len(g.bursts) > 0 && g.bursts[len(g.bursts)-1].contact == ci && g.rnd.Float64() < 0.5 {
			b := &g.bursts[len(g.bursts)-1]
			m, ref := g.message(ci, c, at)
			items = append(items, item{ci, m, ref})
			if b.left--; b.left <= 0 {
				g.bursts = g.bursts[:len(g.bursts)-1]
			}
		}
	}
	// One entry per inbox, in order of first appearance; within it one
	// change with the contacts and the messages in order.
	req := &Request{}
	var order []string
	byInbox := map[string]*whatsapp.Value{}
	seen := map[string]map[int32]bool{}
	x := &routingExtras{}
	firstIn := map[int32]bool{}
	for i := range items {
		it := &items[i]
		c := g.contacts[it.contact]
		v := byInbox[c.inbox]
		if v == nil {
			v = &whatsapp.Value{MessagingProduct: "whatsapp",
				Metadata: &whatsapp.Metadata{DisplayPhoneNumber: g.cfg.DisplayPhoneNumber, PhoneNumberID: c.inbox}}
			byInbox[c.inbox] = v
			seen[c.inbox] = map[int32]bool{}
			order = append(order, c.inbox)
		}
		first := !firstIn[it.contact]
		firstIn[it.contact] = true
		if g.routeItem(x, c, first, at) {
			it.ref.Opens = false // a standby message opens nothing
			g.addStandby(x, c, it.msg, g.cfg.DisplayPhoneNumber)
			continue
		}
		if !seen[c.inbox][it.contact] {
			seen[c.inbox][it.contact] = true
			v.Contacts = append(v.Contacts, whatsapp.WebhookContact{Profile: whatsapp.Profile{Name: c.name}, WaID: c.waID, UserID: c.userID})
		}
		v.Messages = append(v.Messages, it.msg)
	}
	for _, inbox := range order {
		for _, it := range items {
			if g.contacts[it.contact].inbox == inbox {
				req.Messages = append(req.Messages, it.ref)
			}
		}
	}
	if x.handovers != nil || x.standby != nil {
		req.Body = g.bodyWith(order, byInbox, x)
		return req
	}
	req.Body = g.body(order, byInbox)
	return req
}

// message builds the next inbound message of contact c.
func (g *Generator) message(ci int32, c *genContact, at time.Duration) (whatsapp.Message, MessageRef) {
	g.msgN++
	c.seq++
	id := g.wamid("in", g.msgN)
	m := whatsapp.Message{ID: id, From: c.waID, Timestamp: g.timestamp(at)}
	if c.waID == "" {
		m.FromUserID = c.userID
	}
	typ := whatsapp.TypeText
	if g.cfg.Profile != ProfileSingle {
		typ = genPickType(g.rnd.Float64())
	}
	if typ == whatsapp.TypeReaction && c.last == "" {
		typ = whatsapp.TypeText // a contact's first message is never a reaction
	}
	seq := " #" + strconv.Itoa(c.seq)
	m.Type = typ
	switch typ {
	case whatsapp.TypeText:
		m.Text = &whatsapp.Text{Body: genPhrases[g.rnd.IntN(len(genPhrases))] + seq}
	case whatsapp.TypeImage:
		m.Image = &whatsapp.Media{ID: g.mediaID(), MimeType: "image/jpeg", SHA256: g.sha(), Caption: "photo" + seq}
	case whatsapp.TypeAudio:
		m.Audio = &whatsapp.Media{ID: g.mediaID(), MimeType: "audio/ogg; codecs=opus", SHA256: g.sha(), Voice: true}
	case whatsapp.TypeVideo:
		m.Video = &whatsapp.Media{ID: g.mediaID(), MimeType: "video/mp4", SHA256: g.sha(), Caption: "video" + seq}
	case whatsapp.TypeDocument:
		m.Document = &whatsapp.Media{ID: g.mediaID(), MimeType: "application/pdf", SHA256: g.sha(),
			Filename: "invoice-" + strconv.Itoa(c.seq) + ".pdf", Caption: "the invoice" + seq}
	case whatsapp.TypeSticker:
		m.Sticker = &whatsapp.Media{ID: g.mediaID(), MimeType: "image/webp", SHA256: g.sha()}
	case whatsapp.TypeLocation:
		m.Location = &whatsapp.Location{Latitude: math.Round((g.rnd.Float64()*140-70)*1e6) / 1e6,
			Longitude: math.Round((g.rnd.Float64()*340-170)*1e6) / 1e6, Name: "Pickup point" + seq, Address: "1 Main Street"}
	case whatsapp.TypeInteractive:
		opt := genReplies[g.rnd.IntN(len(genReplies))]
		m.Context = &whatsapp.Context{From: g.cfg.DisplayPhoneNumber, ID: g.outboundWAMID()}
		if g.rnd.IntN(2) == 0 {
			m.Interactive = &whatsapp.Interactive{Type: "button_reply", ButtonReply: &whatsapp.ReplyOption{ID: opt[0], Title: opt[1]}}
		} else {
			m.Interactive = &whatsapp.Interactive{Type: "list_reply", ListReply: &whatsapp.ReplyOption{ID: opt[0], Title: opt[1], Description: "option" + seq}}
		}
	case whatsapp.TypeButton:
		m.Context = &whatsapp.Context{From: g.cfg.DisplayPhoneNumber, ID: g.outboundWAMID()}
		m.Button = &whatsapp.Button{Payload: "TRACK_ORDER", Text: "Track my order"}
	case whatsapp.TypeReaction:
		emoji := genEmojis[g.rnd.IntN(len(genEmojis))]
		if g.rnd.IntN(20) == 0 {
			emoji = "" // reaction removed
		}
		m.Reaction = &whatsapp.Reaction{MessageID: c.last, Emoji: emoji}
	case whatsapp.TypeContacts:
		m.Contacts = []whatsapp.SharedContact{{Name: whatsapp.ContactName{FormattedName: "Ana Souza", FirstName: "Ana", LastName: "Souza"},
			Phones: []whatsapp.ContactPhone{{Phone: "+55 11 91234-5678", WaID: "5511912345678", Type: "CELL"}}}}
	case whatsapp.TypeOrder:
		m.Order = &whatsapp.Order{CatalogID: "194836987003835", Text: "order" + seq, ProductItems: []whatsapp.OrderItem{
			{ProductRetailerID: "sku-" + strconv.Itoa(1+g.rnd.IntN(50)), Quantity: float64(1 + g.rnd.IntN(3)), ItemPrice: 19.9, Currency: "USD"}}}
	}
	c.last = id
	g.markActive(ci)
	ref := MessageRef{WAMID: id, Contact: c.key(), Inbox: c.inbox, Type: typ, Opens: m.Opens(), Seq: c.seq}
	return m, ref
}

// markActive remembers a contact that wrote, for statuses of the
// business's answers; the list stays small.
func (g *Generator) markActive(ci int32) {
	if len(g.active) < 4096 {
		g.active = append(g.active, ci)
	} else {
		g.active[g.rnd.IntN(len(g.active))] = ci
	}
}

func (g *Generator) mediaID() string {
	return strconv.FormatUint(1e15+g.rnd.Uint64N(9e15), 10)
}

func (g *Generator) sha() string {
	var b [32]byte
	for i := 0; i < 32; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], g.rnd.Uint64())
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// outboundWAMID is a business message the contact is answering (one the
// statuses may also be about).
func (g *Generator) outboundWAMID() string {
	if g.outN == 0 || g.rnd.IntN(4) == 0 {
		g.outN++
		return g.wamid("out", g.outN)
	}
	return g.wamid("out", 1+g.rnd.Uint64N(g.outN))
}

// body encodes a notification with one entry per inbox, escaped the way
// Meta escapes what it signs ("/" as "\/", non-ASCII as \uXXXX).
func (g *Generator) body(order []string, byInbox map[string]*whatsapp.Value) []byte {
	n := whatsapp.Notification{Object: whatsapp.ObjectWhatsAppBusinessAccount}
	for _, inbox := range order {
		n.Entry = append(n.Entry, whatsapp.Entry{ID: g.cfg.WABAID,
			Changes: []whatsapp.Change{{Field: "messages", Value: *byInbox[inbox]}}})
	}
	b, err := json.Marshal(n)
	if err != nil {
		panic("loadtest: generated notification does not encode: " + err.Error()) // a bug in this file
	}
	return whatsapp.MetaEscape(b)
}

// ---------------------------------------------------------------- content

// genTypeMix is the message-type mix of a real inbox, in percent.
var genTypeMix = []struct {
	typ string
	pct float64
}{
	{whatsapp.TypeText, 62}, {whatsapp.TypeImage, 9}, {whatsapp.TypeAudio, 6}, {whatsapp.TypeInteractive, 6},
	{whatsapp.TypeReaction, 4}, {whatsapp.TypeLocation, 3}, {whatsapp.TypeSticker, 3}, {whatsapp.TypeVideo, 2},
	{whatsapp.TypeDocument, 2}, {whatsapp.TypeButton, 2}, {whatsapp.TypeContacts, 0.5}, {whatsapp.TypeOrder, 0.5},
}

func genPickType(x float64) string {
	x *= 100
	for _, t := range genTypeMix {
		if x < t.pct {
			return t.typ
		}
		x -= t.pct
	}
	return whatsapp.TypeText
}

var genPhrases = []string{
	"Hi, does it come in another color?",
	"Hello! I ordered last week and it hasn't arrived yet",
	"Can I change the delivery address?",
	"What are your opening hours on Sunday?",
	"Thanks a lot 🙏",
	"Olá, vocês entregam em São Paulo?",
	"¿Tienen envío gratis a Madrid?",
	"The tracking link https://example.com/t/8842 says delivered but I have nothing",
	"I'd like to return the shoes, size 42 is too small",
	"Is there a discount for students?",
	"ok",
	"Can someone call me back please?",
	"My order number is 10-4471/B",
	"Guten Tag, ist der Artikel wieder verfügbar?",
	"مرحبا، هل يمكنني تغيير الطلب؟",
	"こんにちは、在庫はありますか？",
	"Payment failed twice, is something wrong with the card reader?",
	"yes",
	"👍",
	"I need an invoice with my company VAT number",
}

var genReplies = [][2]string{
	{"btn_yes", "Yes"}, {"btn_no", "No"}, {"agent", "Talk to an agent"}, {"track", "Track my order"},
	{"row_returns", "Returns"}, {"row_billing", "Billing"},
}

var genEmojis = []string{"👍", "❤️", "😂", "🙏", "😮"}

var genCountryPrefixes = []string{"1555", "4477", "5511", "9198", "4915", "3461", "5215", "6281"}
var genCountryCodes = []string{"us", "gb", "br", "in", "de", "es", "mx", "id"}

var genFirstNames = []string{"Sheena", "Ana", "Lucas", "Priya", "Jonas", "María", "Omar", "Yuki", "Chen", "Fatima", "Kofi", "Elena"}
var genLastNames = []string{"Nelson", "Souza", "Müller", "Sharma", "García", "Haddad", "Tanaka", "Wang", "Mensah", "Rossi", "Smith", "Kowalski"}
