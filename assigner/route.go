package assigner

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits checked by Validate.
const (
	maxWelcomeLen = 4096 // WhatsApp's limit for a text message body
	maxRegexLen   = 1000
	maxKeywordLen = 200
)

// Inbox is a business phone number and its assignment settings.
type Inbox struct {
	PhoneNumberID string `json:"phone_number_id"`
	Name          string `json:"name"`
	// WelcomeMessage is sent when the contact opens a conversation (rule
	// 11); empty: none.
	WelcomeMessage string `json:"welcome_message,omitempty"`
	// FirstResponderBecomesOwner: the first agent to reply becomes the
	// contact's owner (rule 5). Off by default.
	FirstResponderBecomesOwner bool `json:"first_responder_becomes_owner"`
	// Routing rules, evaluated in order; the first match wins (rule 7).
	Routing []Rule `json:"routing,omitempty"`
	// DefaultAssign applies when no rule matches; nil: the conversation
	// waits unassigned for a claim (rule 6).
	DefaultAssign *Step `json:"default_assign,omitempty"`
	// FallbackAgentID takes conversations that waited in a queue longer
	// than the expiry (ExpireQueued); nil: they stay unassigned.
	FallbackAgentID *int64 `json:"fallback_agent_id,omitempty"`
	// AutoResolveAfterSeconds resolves a conversation with no message in
	// either direction for this many seconds (DecideAutoResolve); nil: off.
	AutoResolveAfterSeconds *int `json:"auto_resolve_after_seconds,omitempty"`
	// ClosingMessage is sent when a conversation is auto-resolved, only
	// inside the customer-service window; empty: none.
	ClosingMessage string `json:"closing_message,omitempty"`
	// StickyDays: a contact's new conversation goes first to the agent of
	// their previous one when it was resolved at most this many days ago
	// (DecideOpen); nil: off.
	StickyDays *int `json:"sticky_days,omitempty"`
	// FirstResponseSLASeconds: the first agent reply is due this long
	// after the contact opened the conversation, counted in BusinessHours
	// (issue 12 rule 4, DecideSLA); nil: no SLA.
	FirstResponseSLASeconds *int `json:"first_response_sla_seconds"`
	// BusinessHours are when the inbox is staffed: the SLA clock runs only
	// inside them. nil: always open. Outside is not allowed here.
	BusinessHours *Hours `json:"business_hours"`
}

// Rule is one routing rule: when its condition matches the opening
// message, its step is applied.
type Rule struct {
	When   Condition `json:"when"`
	Assign Step      `json:"assign"`
}

// Condition matches the opening message of a conversation. Every field
// that is set must match (AND); a Condition with no field set is invalid.
type Condition struct {
	// Keywords: the text contains one of them, case-insensitively, as a
	// whole word or phrase ("refund" matches "Refund please!" but not
	// "refunds").
	Keywords []string `json:"keywords,omitempty"`
	// Regex: the text matches this RE2 expression (use (?i) to ignore case).
	Regex string `json:"regex,omitempty"`
	// ReplyID: the message is an interactive reply with this id or a
	// button with this payload (exact match).
	ReplyID string `json:"reply_id,omitempty"`
	// Referral: the message came from an ad (click-to-WhatsApp).
	Referral bool `json:"referral,omitempty"`
	// ReferralSourceID: the message came from the ad with this source id.
	ReferralSourceID string `json:"referral_source_id,omitempty"`
	// CountryPrefixes: the contact's wa_id starts with one of these calling
	// code prefixes ("55", "1787"; a leading "+" is ignored). Contacts
	// known only by a business-scoped user id never match.
	CountryPrefixes []string `json:"country_prefixes,omitempty"`
	// BusinessHours: now is inside (or, with Outside, outside) the hours.
	BusinessHours *Hours `json:"business_hours,omitempty"`
}

// Hours is a weekly business-hours window in a time zone.
type Hours struct {
	TimeZone string `json:"time_zone"` // IANA name, e.g. "America/Sao_Paulo"; empty: UTC
	// Days the window starts on; empty: every day.
	Days []time.Weekday `json:"days,omitempty"`
	// From and To are minutes after local midnight, From in [0,1439], To in
	// [1,1440]. To < From spans midnight (22:00–06:00 on Monday covers
	// Tuesday 03:00).
	From int `json:"from"`
	To   int `json:"to"`
	// Outside: the condition matches when now is outside the hours.
	Outside bool `json:"outside,omitempty"`
}

// Step assigns a conversation to a team and/or named users. Users are a
// flow assignment (rule 4); a team sets the conversation's team and runs
// its strategy (rules 8, 9) unless someone already assigned is an eligible
// member of it.
type Step struct {
	TeamID   *int64  `json:"team_id,omitempty"`
	AgentIDs []int64 `json:"agent_ids,omitempty"`
}

// Message holds the facts about the opening message that routing and the
// welcome rule use.
type Message struct {
	Text             string    `json:"text,omitempty"`     // body or caption
	ReplyID          string    `json:"reply_id,omitempty"` // interactive reply id or button payload
	HasReferral      bool      `json:"has_referral,omitempty"`
	ReferralSourceID string    `json:"referral_source_id,omitempty"`
	ContactWaID      string    `json:"contact_wa_id,omitempty"` // empty when Meta sent only a user id
	SentAt           time.Time `json:"sent_at"`                 // Meta's timestamp
}

// Validate checks the inbox settings; errors wrap ErrInvalid and list
// every problem.
func (i Inbox) Validate() error {
	var errs []error
	if strings.TrimSpace(i.PhoneNumberID) == "" {
		errs = append(errs, fmt.Errorf("%w: phone_number_id is required", ErrInvalid))
	}
	if n := utf8.RuneCountInString(i.WelcomeMessage); n > maxWelcomeLen {
		errs = append(errs, fmt.Errorf("%w: welcome message has %d characters, the limit is %d", ErrInvalid, n, maxWelcomeLen))
	}
	for n, r := range i.Routing {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("routing rule %d: %w", n+1, err))
		}
	}
	if i.DefaultAssign != nil {
		if err := i.DefaultAssign.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("default assignment: %w", err))
		}
	}
	if i.FallbackAgentID != nil && *i.FallbackAgentID <= 0 {
		errs = append(errs, fmt.Errorf("%w: fallback agent id must be positive", ErrInvalid))
	}
	if s := i.AutoResolveAfterSeconds; s != nil && (*s <= 0 || *s > MaxAutoResolveSeconds) {
		errs = append(errs, fmt.Errorf("%w: auto_resolve_after_seconds must be between 1 and %d (90 days), or null", ErrInvalid, MaxAutoResolveSeconds))
	}
	if n := utf8.RuneCountInString(i.ClosingMessage); n > maxWelcomeLen {
		errs = append(errs, fmt.Errorf("%w: closing message has %d characters, the limit is %d", ErrInvalid, n, maxWelcomeLen))
	}
	if i.StickyDays != nil && (*i.StickyDays <= 0 || *i.StickyDays > MaxStickyDays) {
		errs = append(errs, fmt.Errorf("%w: sticky_days must be between 1 and %d, or null", ErrInvalid, MaxStickyDays))
	}
	return errors.Join(append(errs, i.validateSLA())...)
}

// Validate checks the rule's condition and step; errors wrap ErrInvalid.
func (r Rule) Validate() error {
	return errors.Join(r.When.Validate(), r.Assign.Validate())
}

// Validate checks the condition: at least one field set, keywords not
// blank, the regex compiles, prefixes are digits, hours are valid.
func (c Condition) Validate() error {
	var errs []error
	if c.empty() {
		errs = append(errs, fmt.Errorf("%w: the rule has no condition; use the inbox default assignment for a catch-all", ErrInvalid))
	}
	for _, k := range c.Keywords {
		switch {
		case strings.TrimSpace(k) == "":
			errs = append(errs, fmt.Errorf("%w: empty keyword", ErrInvalid))
		case len(k) > maxKeywordLen:
			errs = append(errs, fmt.Errorf("%w: keyword longer than %d bytes", ErrInvalid, maxKeywordLen))
		}
	}
	if c.Regex != "" {
		if len(c.Regex) > maxRegexLen {
			errs = append(errs, fmt.Errorf("%w: regex longer than %d bytes", ErrInvalid, maxRegexLen))
		} else if _, err := regexp.Compile(c.Regex); err != nil {
			errs = append(errs, fmt.Errorf("%w: regex %q: %v", ErrInvalid, c.Regex, err))
		}
	}
	for _, p := range c.CountryPrefixes {
		if !validPrefix(p) {
			errs = append(errs, fmt.Errorf("%w: country prefix %q must be 1 to 15 digits", ErrInvalid, p))
		}
	}
	if c.BusinessHours != nil {
		if err := c.BusinessHours.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Validate checks the time zone, days and minutes; errors wrap ErrInvalid.
func (h Hours) Validate() error {
	var errs []error
	if h.TimeZone == "Local" { // time.LoadLocation's name for the zone of the process reading it
		errs = append(errs, fmt.Errorf("%w: business hours time zone %q: name an IANA time zone such as \"America/Sao_Paulo\"", ErrInvalid, h.TimeZone))
	} else if _, err := time.LoadLocation(h.TimeZone); err != nil {
		errs = append(errs, fmt.Errorf("%w: business hours time zone %q: %v", ErrInvalid, h.TimeZone, err))
	}
	if h.From < 0 || h.From > 1439 {
		errs = append(errs, fmt.Errorf("%w: business hours start %d must be 0 to 1439 minutes after midnight", ErrInvalid, h.From))
	}
	if h.To < 1 || h.To > 1440 {
		errs = append(errs, fmt.Errorf("%w: business hours end %d must be 1 to 1440 minutes after midnight", ErrInvalid, h.To))
	}
	if h.From == h.To {
		errs = append(errs, fmt.Errorf("%w: business hours start and end are equal; use 0 to 1440 for the whole day", ErrInvalid))
	}
	for _, d := range h.Days {
		if d < time.Sunday || d > time.Saturday {
			errs = append(errs, fmt.Errorf("%w: business hours day %d must be 0 (Sunday) to 6 (Saturday)", ErrInvalid, d))
		}
	}
	return errors.Join(errs...)
}

// Validate checks that the step names a team or users with positive ids.
func (s Step) Validate() error {
	var errs []error
	if s.TeamID == nil && len(s.AgentIDs) == 0 {
		errs = append(errs, fmt.Errorf("%w: the assignment names no team and no agent", ErrInvalid))
	}
	if s.TeamID != nil && *s.TeamID <= 0 {
		errs = append(errs, fmt.Errorf("%w: team id must be positive", ErrInvalid))
	}
	for _, id := range s.AgentIDs {
		if id <= 0 {
			errs = append(errs, fmt.Errorf("%w: agent id %d must be positive", ErrInvalid, id))
		}
	}
	return errors.Join(errs...)
}

// Validate checks a team's settings; errors wrap ErrInvalid.
func (t Team) Validate() error {
	var errs []error
	if strings.TrimSpace(t.Name) == "" {
		errs = append(errs, fmt.Errorf("%w: team name is required", ErrInvalid))
	}
	if !t.Strategy.Valid() {
		errs = append(errs, fmt.Errorf("%w: strategy %q must be round_robin, least_open or manual", ErrInvalid, t.Strategy))
	}
	if t.MaxOpen != nil && *t.MaxOpen < 0 {
		errs = append(errs, fmt.Errorf("%w: max open %d must not be negative", ErrInvalid, *t.MaxOpen))
	}
	errs = append(errs, checkVisibility(t.AgentVisibility))
	if t.ReassignAfterSeconds != nil && *t.ReassignAfterSeconds <= 0 {
		errs = append(errs, fmt.Errorf("%w: reassign_after_seconds %d must be positive (null turns the rule off)", ErrInvalid, *t.ReassignAfterSeconds))
	}
	if t.ReassignMax < 0 {
		errs = append(errs, fmt.Errorf("%w: reassign_max %d must not be negative", ErrInvalid, t.ReassignMax))
	}
	if !t.ReassignExhausted.Valid() {
		errs = append(errs, fmt.Errorf("%w: reassign_exhausted %q must be keep, queue or fallback", ErrInvalid, t.ReassignExhausted))
	}
	return errors.Join(errs...)
}

// Validate checks an agent's settings; errors wrap ErrInvalid.
func (a Agent) Validate() error {
	var errs []error
	if strings.TrimSpace(a.Name) == "" {
		errs = append(errs, fmt.Errorf("%w: agent name is required", ErrInvalid))
	}
	if !a.Role.Valid() {
		errs = append(errs, fmt.Errorf("%w: role %q must be admin, supervisor or agent", ErrInvalid, a.Role))
	}
	if a.Presence != "" && !a.Presence.Valid() {
		errs = append(errs, fmt.Errorf("%w: presence %q must be online, away or offline", ErrInvalid, a.Presence))
	}
	if a.Capacity != nil && *a.Capacity < 0 {
		errs = append(errs, fmt.Errorf("%w: capacity %d must not be negative", ErrInvalid, *a.Capacity))
	}
	return errors.Join(errs...)
}

// Match is the result of routing an opening message.
type Match struct {
	// Index is the 1-based number of the rule that matched; 0 when none did.
	Index int
	// Label names what fired, for Decision.Rule: `routing:2 keyword
	// "refund"`, "inbox_default", or "" when nothing applies.
	Label string
	// Step is the step to apply: the matched rule's, else the inbox
	// default; nil when there is none.
	Step *Step
	// Reasons explain the match, including rules skipped as invalid.
	Reasons []Reason
}

// Route evaluates the inbox's routing rules in order against the opening
// message and returns the first match, else the inbox default (rule 7).
// The store may call it before DecideOpen to know which team to lock and
// which agents to load; DecideOpen calls it again and gets the same answer.
// A stored rule that cannot be evaluated (bad regex or time zone) is
// skipped with a CodeInvalidRule reason.
func Route(in Inbox, msg Message, now time.Time) Match {
	var m Match
	for n, r := range in.Routing {
		desc, ok, err := r.When.match(msg, now)
		if err != nil {
			m.Reasons = append(m.Reasons, Reason{Code: CodeInvalidRule,
				Text: fmt.Sprintf("Routing rule %d was skipped because it cannot be evaluated: %v.", n+1, err)})
			continue
		}
		if !ok {
			continue
		}
		step := r.Assign
		m.Index = n + 1
		m.Label = fmt.Sprintf("routing:%d %s", n+1, desc.label)
		m.Step = &step
		m.Reasons = append(m.Reasons, Reason{Code: CodeRuleMatched,
			Text: fmt.Sprintf("Routing rule %d matched: %s.", n+1, desc.text)})
		return m
	}
	switch {
	case in.DefaultAssign != nil:
		step := *in.DefaultAssign
		m.Label = "inbox_default"
		m.Step = &step
		m.Reasons = append(m.Reasons, Reason{Code: CodeNoRuleMatched,
			Text: "No routing rule matched, so the inbox default assignment applies."})
	case len(in.Routing) > 0:
		m.Reasons = append(m.Reasons, Reason{Code: CodeNoRuleMatched,
			Text: "No routing rule matched and the inbox has no default assignment."})
	}
	return m
}

// matchDesc describes a match: label for Decision.Rule, text for a Reason.
type matchDesc struct{ label, text string }

func (c Condition) empty() bool {
	return len(c.Keywords) == 0 && c.Regex == "" && c.ReplyID == "" && !c.Referral &&
		c.ReferralSourceID == "" && len(c.CountryPrefixes) == 0 && c.BusinessHours == nil
}

// match evaluates every set field; all must match.
func (c Condition) match(msg Message, now time.Time) (matchDesc, bool, error) {
	if c.empty() {
		return matchDesc{}, false, errors.New("it has no condition")
	}
	var labels, texts []string
	if len(c.Keywords) > 0 {
		k, ok := matchKeyword(msg.Text, c.Keywords)
		if !ok {
			return matchDesc{}, false, nil
		}
		labels = append(labels, fmt.Sprintf("keyword %q", k))
		texts = append(texts, fmt.Sprintf("the message contains %q", k))
	}
	if c.Regex != "" {
		re, err := regexp.Compile(c.Regex)
		if err != nil {
			return matchDesc{}, false, fmt.Errorf("regex %q: %v", c.Regex, err)
		}
		if !re.MatchString(msg.Text) {
			return matchDesc{}, false, nil
		}
		labels = append(labels, fmt.Sprintf("regex %q", c.Regex))
		texts = append(texts, fmt.Sprintf("the message matches the pattern %q", c.Regex))
	}
	if c.ReplyID != "" {
		if msg.ReplyID != c.ReplyID {
			return matchDesc{}, false, nil
		}
		labels = append(labels, fmt.Sprintf("reply_id %q", c.ReplyID))
		texts = append(texts, fmt.Sprintf("the contact chose the reply %q", c.ReplyID))
	}
	hasReferral := msg.HasReferral || msg.ReferralSourceID != ""
	if c.ReferralSourceID != "" {
		if msg.ReferralSourceID != c.ReferralSourceID {
			return matchDesc{}, false, nil
		}
		labels = append(labels, fmt.Sprintf("referral %q", c.ReferralSourceID))
		texts = append(texts, fmt.Sprintf("the contact came from the ad %q", c.ReferralSourceID))
	} else if c.Referral {
		if !hasReferral {
			return matchDesc{}, false, nil
		}
		labels = append(labels, "referral")
		texts = append(texts, "the contact came from an ad")
	}
	if len(c.CountryPrefixes) > 0 {
		p, ok := matchPrefix(msg.ContactWaID, c.CountryPrefixes)
		if !ok {
			return matchDesc{}, false, nil
		}
		labels = append(labels, "country +"+p)
		texts = append(texts, fmt.Sprintf("the contact's number starts with +%s", p))
	}
	if h := c.BusinessHours; h != nil {
		in, err := h.Contains(now)
		if err != nil {
			return matchDesc{}, false, err
		}
		if in == h.Outside {
			return matchDesc{}, false, nil
		}
		if h.Outside {
			labels = append(labels, "outside_business_hours")
			texts = append(texts, fmt.Sprintf("it is outside business hours (%s)", h))
		} else {
			labels = append(labels, "business_hours")
			texts = append(texts, fmt.Sprintf("it is within business hours (%s)", h))
		}
	}
	return matchDesc{label: strings.Join(labels, " and "), text: strings.Join(texts, " and ")}, true, nil
}

// Contains reports whether t falls inside the hours (ignoring Outside).
func (h Hours) Contains(t time.Time) (bool, error) {
	loc, err := time.LoadLocation(h.TimeZone)
	if err != nil {
		return false, fmt.Errorf("time zone %q: %v", h.TimeZone, err)
	}
	local := t.In(loc)
	mins := local.Hour()*60 + local.Minute()
	day := local.Weekday()
	if h.From < h.To {
		return h.onDay(day) && mins >= h.From && mins < h.To, nil
	}
	// The window spans midnight: the evening part belongs to today's
	// window, the early-morning part to yesterday's.
	yesterday := (day + 6) % 7
	return (h.onDay(day) && mins >= h.From) || (h.onDay(yesterday) && mins < h.To), nil
}

func (h Hours) onDay(d time.Weekday) bool {
	return len(h.Days) == 0 || slices.Contains(h.Days, d)
}

// String formats the hours as "Mon–Fri 09:00–18:00 America/Sao_Paulo".
func (h Hours) String() string {
	days := "every day"
	if len(h.Days) > 0 {
		ds := slices.Clone(h.Days)
		slices.Sort(ds)
		ds = slices.Compact(ds)
		names := make([]string, len(ds))
		for i, d := range ds {
			names[i] = d.String()[:3]
		}
		days = strings.Join(names, ",")
	}
	tz := h.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	return fmt.Sprintf("%s %s–%s %s", days, clock(h.From), clock(h.To), tz)
}

func clock(mins int) string { return fmt.Sprintf("%02d:%02d", mins/60, mins%60) }

// matchKeyword returns the first keyword found in text as a whole word or
// phrase, case-insensitively. A keyword edge that is not a letter or digit
// needs no boundary ("#vip" matches "a#vip").
func matchKeyword(text string, keywords []string) (string, bool) {
	lower := strings.ToLower(text)
	for _, k := range keywords {
		kw := strings.ToLower(strings.TrimSpace(k))
		if kw == "" {
			continue
		}
		first, _ := utf8.DecodeRuneInString(kw)
		last, _ := utf8.DecodeLastRuneInString(kw)
		for from := 0; from <= len(lower)-len(kw); {
			i := strings.Index(lower[from:], kw)
			if i < 0 {
				break
			}
			start, end := from+i, from+i+len(kw)
			before, _ := utf8.DecodeLastRuneInString(lower[:start])
			after, _ := utf8.DecodeRuneInString(lower[end:])
			okBefore := start == 0 || !isWord(first) || !isWord(before)
			okAfter := end == len(lower) || !isWord(last) || !isWord(after)
			if okBefore && okAfter {
				return strings.TrimSpace(k), true
			}
			_, size := utf8.DecodeRuneInString(lower[start:])
			from = start + size
		}
	}
	return "", false
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func matchPrefix(waID string, prefixes []string) (string, bool) {
	id := strings.TrimPrefix(strings.TrimSpace(waID), "+")
	if id == "" {
		return "", false
	}
	for _, p := range prefixes {
		p = strings.TrimPrefix(strings.TrimSpace(p), "+")
		if p != "" && strings.HasPrefix(id, p) {
			return p, true
		}
	}
	return "", false
}

func validPrefix(p string) bool {
	p = strings.TrimPrefix(strings.TrimSpace(p), "+")
	if p == "" || len(p) > 15 {
		return false
	}
	_, err := strconv.ParseUint(p, 10, 64)
	return err == nil
}
