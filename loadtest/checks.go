package loadtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pass is one run of every check against what the target stored: each
// check adds its Check to res and leaves what later checks use.
type pass struct {
	cfg      VerifyConfig
	res      *VerifyResult
	exp      map[string]*expMsg // the run's messages by wamid
	order    []*expMsg          // in first-send order
	statuses []string           // acknowledged "wamid:status"

	api       bool                       // the source shows no storage times
	byContact map[string][]*expMsg       // stored messages per contact, in stored order
	groups    map[contactInbox][]*expMsg // stored messages per contact and inbox
	ids       []int64                    // the conversations the run's messages are in
	convByID  map[int64]*StoredConversation
	// What more time could fix (something not stored yet): welcomes
	// missing, statuses of sent welcomes missing, conversations opened.
	welMissing   int
	statusesLate []string
	opened       int
}

// contactInbox is one contact on one inbox: a conversation's scope.
type contactInbox struct{ contact, inbox string }

// verifyOnce runs every check once; missing reports failures that more
// time could fix (something not stored yet).
func verifyOnce(ctx context.Context, cfg VerifyConfig, run *RunResult, exp map[string]*expMsg, order []*expMsg, statuses []string) (*VerifyResult, bool, error) {
	p := &pass{cfg: cfg, exp: exp, order: order, statuses: statuses,
		res: &VerifyResult{Source: cfg.Source, Welcomes: map[string]int{}, WelcomeStatus: map[string]int{}}}
	stored, err := cfg.Store.InboundMessages(ctx, cfg.Baseline)
	if err != nil {
		return nil, false, fmt.Errorf("loadtest: read stored messages: %w", err)
	}
	p.api = len(stored) > 0 && stored[0].StoredAt.IsZero()
	p.checkStored(stored)
	p.checkOrder()
	p.checkAttached()
	convs, err := cfg.Store.Conversations(ctx, p.ids)
	if err != nil {
		return nil, false, fmt.Errorf("loadtest: read conversations: %w", err)
	}
	p.checkConversations(convs)
	perAgent := p.checkWelcomesAndAssignment()
	agents, err := cfg.Store.Agents(ctx)
	if err != nil && !errors.Is(err, ErrUnsupported) {
		return nil, false, fmt.Errorf("loadtest: read agents: %w", err)
	}
	p.checkSpread(agents, perAgent)
	if err := p.checkStatuses(ctx); err != nil {
		return nil, false, err
	}
	p.res.measure(run, order, p.convByID, exp, cfg.HeardCommits)
	p.res.Passed = checksPassed(p.res.Checks)
	return p.res, p.missing(), nil
}

// missing reports failures that more time could fix.
func (p *pass) missing() bool {
	r, cfg := p.res, p.cfg
	return r.Lost > 0 || r.Unattached > 0 || r.StatusesMissing > 0 ||
		(cfg.ExpectWelcome && p.welMissing > 0) || (cfg.ExpectStatuses && len(p.statusesLate) > 0) ||
		(cfg.ExpectAssigned && r.Assigned != p.opened)
}

// offend adds an offender to list while it is shorter than MaxOffenders.
func (p *pass) offend(list []string, format string, args ...any) []string {
	return appendMax(list, p.cfg.MaxOffenders, fmt.Sprintf(format, args...))
}

// checkStored: every acknowledged message stored, exactly once, for the
// right contact and inbox.
func (p *pass) checkStored(stored []StoredMessage) {
	res := p.res
	seen := map[string]int{}
	var dupOff, misOff, lostOff []string
	for i := range stored {
		s := &stored[i]
		e := p.exp[s.WAMID]
		if e == nil {
			continue // not this run's
		}
		seen[s.WAMID]++
		if seen[s.WAMID] == 2 {
			res.Duplicated++
			dupOff = p.offend(dupOff, "%s stored more than once", s.WAMID)
		}
		if e.stored == nil {
			e.stored = s
		}
		if (s.ContactKey != "" && s.ContactKey != e.ref.Contact) || (s.Inbox != "" && s.Inbox != e.ref.Inbox) {
			res.Misattributed++
			misOff = p.offend(misOff, "%s of %s #%d stored for contact %s on inbox %s",
				s.WAMID, maskKey(e.ref.Contact), e.ref.Seq, maskKey(s.ContactKey), s.Inbox)
		}
	}
	for _, e := range p.order {
		if e.ack != 0 {
			res.Expected++
		}
		switch {
		case e.stored != nil:
			res.Stored++
			if e.ack == 0 {
				res.StoredUnacked++
			}
		case e.ack == 0: // never acknowledged: the gateway owed nothing
		case p.api && !e.ref.Opens:
			res.Unverifiable++ // may be outside any conversation, where the API cannot show it
		default:
			res.Lost++
			lostOff = p.offend(lostOff, "%s: %s #%d (%s) acknowledged at %s, not stored",
				e.ref.WAMID, maskKey(e.ref.Contact), e.ref.Seq, e.ref.Type, fmtNS(e.ack))
		}
	}
	// A run that acknowledged nothing stored nothing to check: no pass.
	res.add(Check{Name: "something acknowledged to verify", OK: res.Expected > 0 || len(p.statuses) > 0,
		Detail: fmt.Sprintf("%d messages and %d statuses acknowledged", res.Expected, len(p.statuses))})
	res.add(Check{Name: "every acknowledged message stored", OK: res.Lost == 0,
		Detail: fmt.Sprintf("%d acknowledged, %d stored, %d lost", res.Expected, res.Stored, res.Lost), Offenders: lostOff})
	res.add(Check{Name: "stored exactly once", OK: res.Duplicated == 0,
		Detail: fmt.Sprintf("%d stored more than once", res.Duplicated), Offenders: dupOff})
	res.add(Check{Name: "stored for the right contact and inbox", OK: res.Misattributed == 0,
		Detail: fmt.Sprintf("%d misattributed", res.Misattributed), Offenders: misOff})
}

// checkOrder: each contact's messages stored in send order, as far as the
// sender can know it (see Verify).
func (p *pass) checkOrder() {
	p.byContact = map[string][]*expMsg{}
	for _, e := range p.order {
		if e.stored != nil {
			p.byContact[e.ref.Contact] = append(p.byContact[e.ref.Contact], e)
		}
	}
	p.res.Contacts = len(p.byContact)
	var off []string
	for _, key := range sortedMapKeys(p.byContact) {
		list := p.byContact[key]
		sort.Slice(list, func(i, j int) bool { return list[i].stored.ID < list[j].stored.ID })
		off = p.contactOrder(key, list, off)
	}
	p.res.add(Check{Name: "per-contact order equals send order", OK: p.res.Reordered == 0,
		Detail: fmt.Sprintf("%d reordered across %d contacts (%d stored out of sequence while sent concurrently, which is allowed)",
			p.res.Reordered, p.res.Contacts, p.res.Concurrent), Offenders: off})
}

// contactOrder judges one contact's messages in stored order: one
// acknowledged before another was sent must come first, and so must an
// earlier message of the same POST.
func (p *pass) contactOrder(key string, list []*expMsg, off []string) []string {
	var maxStart int64
	var maxStartMsg *expMsg
	maxSeq := 0
	lastPos := map[int]*expMsg{}
	for _, x := range list {
		bad := ""
		if x.ack != 0 && maxStartMsg != nil && x.ack < maxStart {
			y := maxStartMsg
			bad = fmt.Sprintf("contact %s: #%d (%s, id %d) stored after #%d (id %d), though #%d was acknowledged %s before #%d was sent",
				maskKey(key), x.ref.Seq, x.ref.WAMID, x.stored.ID, y.ref.Seq, y.stored.ID, x.ref.Seq,
				time.Duration(maxStart-x.ack).Round(time.Microsecond), y.ref.Seq)
		} else if q := lastPos[x.req]; q != nil && q.pos > x.pos {
			bad = fmt.Sprintf("contact %s: #%d (%s, id %d) stored after #%d (id %d) of the same POST, which came after it",
				maskKey(key), x.ref.Seq, x.ref.WAMID, x.stored.ID, q.ref.Seq, q.stored.ID)
		}
		if bad != "" {
			p.res.Reordered++
			off = appendMax(off, p.cfg.MaxOffenders, bad)
		} else if x.ref.Seq < maxSeq {
			p.res.Concurrent++
		}
		if q := lastPos[x.req]; q == nil || x.pos > q.pos {
			lastPos[x.req] = x
		}
		if x.firstStart > maxStart {
			maxStart, maxStartMsg = x.firstStart, x
		}
		maxSeq = max(maxSeq, x.ref.Seq)
	}
	return off
}

// checkAttached: every message that opens conversations is in one. It
// groups the stored messages by contact and inbox and collects the
// conversations they are in.
func (p *pass) checkAttached() {
	p.groups = map[contactInbox][]*expMsg{}
	convIDs := map[int64]bool{}
	var off []string
	for _, key := range sortedMapKeys(p.byContact) {
		for _, e := range p.byContact[key] {
			k := contactInbox{e.ref.Contact, e.ref.Inbox}
			p.groups[k] = append(p.groups[k], e)
			if e.stored.ConversationID != 0 {
				convIDs[e.stored.ConversationID] = true
			} else if e.ref.Opens {
				p.res.Unattached++
				off = p.offend(off, "%s: %s #%d (%s) is in no conversation", e.ref.WAMID, maskKey(key), e.ref.Seq, e.ref.Type)
			}
		}
	}
	p.res.add(Check{Name: "every conversational message in a conversation", OK: p.res.Unattached == 0,
		Detail: fmt.Sprintf("%d not attached", p.res.Unattached), Offenders: off})
	p.ids = make([]int64, 0, len(convIDs))
	for id := range convIDs {
		p.ids = append(p.ids, id)
	}
	slices.Sort(p.ids)
}

// openedByRun reports whether c is a conversation the run opened.
func (p *pass) openedByRun(c *StoredConversation) bool {
	return c != nil && c.ID > p.cfg.Baseline.ConversationID
}

// checkConversations: one conversation per contact burst, opened by its
// first message, with one decision for it.
func (p *pass) checkConversations(convs []StoredConversation) {
	p.convByID = map[int64]*StoredConversation{}
	for i := range convs {
		p.convByID[convs[i].ID] = &convs[i]
	}
	p.res.Conversations = len(convs)
	var convOff, openOff, decOff []string
	decUnknown := false
	for _, k := range sortedGroupKeys(p.groups, func(k contactInbox) string { return k.contact + "\x00" + k.inbox }) {
		firstOpen, distinct := p.groupConversations(p.groups[k])
		if len(distinct) > 1 && p.unresolved(distinct) {
			p.res.DuplicateConversations += len(distinct) - 1
			convOff = p.offend(convOff, "contact %s on inbox %s: %d conversations %v for one burst",
				maskKey(k.contact), k.inbox, len(distinct), distinct)
		}
		if firstOpen == nil || len(distinct) == 0 {
			continue
		}
		c := p.convByID[distinct[0]]
		if !p.openedByRun(c) {
			continue // opened before the run
		}
		if o := p.exp[c.OpenedBy]; c.OpenedBy != "" && o != nil && c.OpenedBy != firstOpen.ref.WAMID {
			openOff = p.offend(openOff, "conversation %d of %s opened by #%d, but #%d was stored first",
				c.ID, maskKey(k.contact), o.ref.Seq, firstOpen.ref.Seq)
		}
		if c.OpenDecisions < 0 {
			decUnknown = true
		} else if c.OpenDecisions != 1 {
			decOff = p.offend(decOff, "conversation %d: %d decisions for its opening message", c.ID, c.OpenDecisions)
		}
	}
	p.res.add(Check{Name: "one conversation per contact burst", OK: p.res.DuplicateConversations == 0,
		Detail:    fmt.Sprintf("%d conversations for %d contact/inbox pairs, %d extra", p.res.Conversations, len(p.groups), p.res.DuplicateConversations),
		Offenders: convOff})
	p.res.add(Check{Name: "conversation opened by the first message", OK: len(openOff) == 0,
		Detail: fmt.Sprintf("%d opened by a later message", len(openOff)), Offenders: openOff})
	if decUnknown {
		p.res.add(Check{Name: "one decision per opened conversation", OK: true, Skipped: true, Detail: "decisions not available from " + p.cfg.Source})
	} else {
		p.res.add(Check{Name: "one decision per opened conversation", OK: len(decOff) == 0,
			Detail: fmt.Sprintf("%d conversations with a wrong number of decisions", len(decOff)), Offenders: decOff})
	}
}

// groupConversations returns a contact and inbox's first message that
// opens conversations, and the conversations its messages are in, in
// stored order.
func (p *pass) groupConversations(list []*expMsg) (*expMsg, []int64) {
	var firstOpen *expMsg
	distinct := []int64{}
	for _, e := range list {
		if firstOpen == nil && e.ref.Opens {
			firstOpen = e
		}
		if id := e.stored.ConversationID; id != 0 && !slices.Contains(distinct, id) {
			distinct = append(distinct, id)
		}
	}
	return firstOpen, distinct
}

// unresolved reports whether several conversations of one contact and
// inbox are wrong: they are right only when all but the last were
// resolved during the run.
func (p *pass) unresolved(ids []int64) bool {
	resolved := 0
	for _, id := range ids {
		if c := p.convByID[id]; c != nil && c.Status == "resolved" {
			resolved++
		}
	}
	return resolved < len(ids)-1
}

// checkWelcomesAndAssignment: one welcome per conversation the run opened
// (with its statuses applied, when asked) and every one assigned. It
// returns the run's conversations per agent.
func (p *pass) checkWelcomesAndAssignment() map[int64]int {
	res, cfg := p.res, p.cfg
	var welOff, asgOff []string
	welDup, noInboxWelcome := 0, 0
	perAgent := map[int64]int{}
	for _, id := range p.ids {
		c := p.convByID[id]
		if !p.openedByRun(c) {
			continue
		}
		switch {
		case c.Welcomes > 1:
			welDup++
			welOff = p.offend(welOff, "conversation %d: %d welcome messages", c.ID, c.Welcomes)
		case c.Welcomes == 0 && c.InboxWelcome:
			p.welMissing++
			res.Welcomes["none"]++
			welOff = p.offend(welOff, "conversation %d of %s: no welcome message", c.ID, maskKey(c.ContactKey))
		case c.Welcomes == 0:
			noInboxWelcome++
		}
		p.countWelcome(c)
		asgOff = p.countAssignment(c, asgOff)
		for _, a := range c.Assignees {
			perAgent[a.AgentID]++
		}
	}
	p.opened = res.Assigned + res.Queued + res.Unassigned
	if cfg.ExpectWelcome {
		detail := fmt.Sprintf("%d conversations opened, welcomes by state: %s; %d missing, %d duplicated", p.opened, countList(res.Welcomes), p.welMissing, welDup)
		if noInboxWelcome > 0 {
			detail += fmt.Sprintf(", %d on inboxes without a welcome text", noInboxWelcome)
		}
		res.add(Check{Name: "one welcome per opened conversation", OK: p.welMissing == 0 && welDup == 0 && noInboxWelcome == 0,
			Detail: detail, Offenders: welOff})
	} else {
		res.add(Check{Name: "at most one welcome per conversation", OK: welDup == 0,
			Detail: fmt.Sprintf("welcomes by state: %s; %d duplicated", countList(res.Welcomes), welDup), Offenders: filterPrefix(welOff, welDup)})
	}
	if cfg.ExpectStatuses {
		res.add(Check{Name: "statuses applied to sent welcomes", OK: len(p.statusesLate) == 0,
			Detail: "last statuses: " + countList(res.WelcomeStatus), Offenders: p.statusesLate})
	}
	res.add(Check{Name: "every opened conversation assigned", OK: !cfg.ExpectAssigned || res.Assigned == p.opened, Skipped: !cfg.ExpectAssigned,
		Detail: fmt.Sprintf("%d assigned, %d queued, %d unassigned", res.Assigned, res.Queued, res.Unassigned), Offenders: asgOff})
	return perAgent
}

// countWelcome counts c's welcome by outbox state and, once sent, by the
// last status Meta reported for it.
func (p *pass) countWelcome(c *StoredConversation) {
	if c.Welcomes <= 0 {
		return
	}
	state := c.WelcomeState
	if state == "" {
		state = "queued"
	}
	p.res.Welcomes[state]++
	if c.WelcomeState != "sent" {
		return
	}
	st := c.WelcomeStatus
	if st == "" || st == "pending" {
		st = "none"
	}
	p.res.WelcomeStatus[st]++
	if st == "none" || st == "sent" {
		p.statusesLate = p.offend(p.statusesLate, "conversation %d: welcome accepted but its status is %q", c.ID, c.WelcomeStatus)
	}
}

// countAssignment counts c as assigned, queued or unassigned.
func (p *pass) countAssignment(c *StoredConversation, off []string) []string {
	switch {
	case len(c.Assignees) > 0:
		p.res.Assigned++
	case c.Queued:
		p.res.Queued++
	default:
		p.res.Unassigned++
	}
	if len(c.Assignees) == 0 && p.cfg.ExpectAssigned {
		how := "unassigned"
		if c.Queued {
			how = "waiting in the queue"
		}
		off = p.offend(off, "conversation %d of %s: %s", c.ID, maskKey(c.ContactKey), how)
	}
	return off
}

// checkSpread: the run's conversations per agent (online agents, else
// those that got any) differ by at most MaxSpread.
func (p *pass) checkSpread(agents []StoredAgent, perAgent map[int64]int) {
	res := p.res
	names := map[int64]StoredAgent{}
	online := 0
	for _, a := range agents {
		names[a.ID] = a
		if a.Presence == "online" {
			online++
		}
	}
	for _, a := range agents {
		if perAgent[a.ID] > 0 || (online > 0 && a.Presence == "online") {
			res.Spread = append(res.Spread, AgentCount{ID: a.ID, Name: a.Name, Presence: a.Presence, Conversations: perAgent[a.ID]})
		}
	}
	for id, n := range perAgent {
		if _, ok := names[id]; !ok {
			res.Spread = append(res.Spread, AgentCount{ID: id, Name: "agent " + strconv.FormatInt(id, 10), Conversations: n})
		}
	}
	sort.Slice(res.Spread, func(i, j int) bool { return res.Spread[i].ID < res.Spread[j].ID })
	if len(res.Spread) > 0 {
		lo, hi := res.Spread[0].Conversations, res.Spread[0].Conversations
		for _, a := range res.Spread {
			lo, hi = min(lo, a.Conversations), max(hi, a.Conversations)
		}
		res.SpreadMaxMinus = hi - lo
	}
	if p.cfg.MaxSpread < 0 {
		return
	}
	var off []string
	for _, a := range res.Spread {
		off = p.offend(off, "%s (%d): %d conversations", a.Name, a.ID, a.Conversations)
	}
	ok := res.SpreadMaxMinus <= p.cfg.MaxSpread && len(res.Spread) > 0
	res.add(Check{Name: "assignment spread", OK: ok, Detail: fmt.Sprintf("max − min = %d over %d agents (allowed %d)",
		res.SpreadMaxMinus, len(res.Spread), p.cfg.MaxSpread), Offenders: condOffenders(ok, off)})
}

// checkStatuses: every acknowledged status of earlier outbound messages
// stored.
func (p *pass) checkStatuses(ctx context.Context) error {
	res := p.res
	res.StatusesExpected = len(p.statuses)
	if len(p.statuses) == 0 {
		return nil
	}
	wamids := make([]string, 0, len(p.statuses))
	seen := map[string]bool{}
	for _, s := range p.statuses {
		w, _, _ := strings.Cut(s, ":")
		if !seen[w] {
			seen[w] = true
			wamids = append(wamids, w)
		}
	}
	got, err := p.cfg.Store.Statuses(ctx, wamids)
	switch {
	case errors.Is(err, ErrUnsupported):
		res.add(Check{Name: "every acknowledged status stored", OK: true, Skipped: true, Detail: "statuses not available from " + p.cfg.Source})
		return nil
	case err != nil:
		return fmt.Errorf("loadtest: read statuses: %w", err)
	}
	have := map[string]bool{}
	for _, s := range got {
		have[s.WAMID+":"+s.Status] = true
	}
	var off []string
	for _, s := range p.statuses {
		if !have[s] {
			res.StatusesMissing++
			off = p.offend(off, "%s acknowledged, not stored", s)
		}
	}
	res.add(Check{Name: "every acknowledged status stored", OK: res.StatusesMissing == 0,
		Detail: fmt.Sprintf("%d acknowledged, %d missing", len(p.statuses), res.StatusesMissing), Offenders: off})
	return nil
}
