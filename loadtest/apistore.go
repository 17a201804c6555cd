package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wagw/wagw/event"
)

// APIStore reads what Verify needs through the gateway's HTTP API (bearer
// admin token). The API shows no storage times, statuses or decisions:
// latency, status and decision checks are skipped, and messages that are
// in no conversation cannot be seen.
type APIStore struct {
	Base   string // e.g. http://127.0.0.1:8080
	Token  string
	Client *http.Client

	convs map[int64]StoredConversation
	keys  map[int64]string // partition key by contact id
}

// contactKey returns a contact's partition key (event.Contact.Key of
// its identities), read once per contact.
func (a *APIStore) contactKey(ctx context.Context, id int64) (string, error) {
	if k, ok := a.keys[id]; ok {
		return k, nil
	}
	var c struct {
		WaID   *string `json:"wa_id"`
		UserID *string `json:"user_id"`
	}
	if _, err := a.get(ctx, "/v1/contacts/"+strconv.FormatInt(id, 10), nil, &c); err != nil {
		return "", err
	}
	var ct event.Contact
	if c.WaID != nil {
		ct.WaID = *c.WaID
	}
	if c.UserID != nil {
		ct.UserID = *c.UserID
	}
	if a.keys == nil {
		a.keys = map[int64]string{}
	}
	a.keys[id] = ct.Key()
	return a.keys[id], nil
}

type apiConversation struct {
	ID          int64            `json:"id"`
	ContactID   int64            `json:"contact_id"`
	Inbox       string           `json:"inbox"`
	Status      string           `json:"status"`
	Assignees   []StoredAssignee `json:"assignees"`
	Queued      bool             `json:"queued"`
	ContactWaID string           `json:"contact_wa_id"`
}

type apiMessage struct {
	ID             int64  `json:"id"`
	WAMID          string `json:"wamid"`
	Direction      string `json:"direction"`
	ConversationID int64  `json:"conversation_id"`
	Type           string `json:"type"`
	AuthorAgentID  *int64 `json:"author_agent_id"`
	Status         string `json:"status"`
}

func (a *APIStore) get(ctx context.Context, path string, q url.Values, v any) (int, error) {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return a.do(ctx, http.MethodGet, path, nil, v)
}

// do calls the API with the admin token: in, when not nil, is sent as
// JSON and a 2xx answer's body is decoded into out when not nil. Another
// status is an error that quotes the answer.
func (a *APIStore) do(ctx context.Context, method, path string, in, out any) (int, error) {
	c := a.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.Base, "/")+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// Baseline implements Store: the API cannot tell, so everything counts.
func (a *APIStore) Baseline(context.Context) (Baseline, error) { return Baseline{}, nil }

// CountInbound implements Store: unsupported.
func (a *APIStore) CountInbound(context.Context, Baseline) (int64, error) { return 0, ErrUnsupported }

// InboundMessages implements Store by listing every conversation and its
// messages.
func (a *APIStore) InboundMessages(ctx context.Context, after Baseline) ([]StoredMessage, error) {
	a.convs = map[int64]StoredConversation{}
	var out []StoredMessage
	var afterConv int64
	for {
		var page struct {
			Conversations []apiConversation `json:"conversations"`
			NextAfter     int64             `json:"next_after"`
		}
		q := url.Values{"limit": {"1000"}, "after": {strconv.FormatInt(afterConv, 10)}}
		if _, err := a.get(ctx, "/v1/conversations", q, &page); err != nil {
			return nil, err
		}
		for _, c := range page.Conversations {
			key, err := a.contactKey(ctx, c.ContactID)
			if err != nil {
				return nil, err
			}
			sc := StoredConversation{ID: c.ID, ContactKey: key, Inbox: c.Inbox, Status: c.Status, Queued: c.Queued,
				Assignees: c.Assignees, OpenDecisions: -1, InboxWelcome: true}
			var afterMsg int64
			first := ""
			for {
				var mp struct {
					Messages  []apiMessage `json:"messages"`
					NextAfter int64        `json:"next_after"`
				}
				q := url.Values{"limit": {"5000"}, "after": {strconv.FormatInt(afterMsg, 10)}}
				if _, err := a.get(ctx, "/v1/conversations/"+strconv.FormatInt(c.ID, 10)+"/messages", q, &mp); err != nil {
					return nil, err
				}
				for _, m := range mp.Messages {
					switch {
					case m.Direction == "in" && m.ID > after.MessageID:
						if first == "" {
							first = m.WAMID
						}
						out = append(out, StoredMessage{ID: m.ID, WAMID: m.WAMID, ContactKey: key, Inbox: c.Inbox,
							Type: m.Type, ConversationID: c.ID})
					case m.Direction == "out" && m.AuthorAgentID == nil:
						sc.Welcomes++
						if sc.WelcomeState == "" {
							sc.WelcomeState = "queued"
							if m.WAMID != "" {
								sc.WelcomeState = "sent"
							}
							sc.WelcomeStatus = m.Status
						}
					}
				}
				if mp.NextAfter == 0 || len(mp.Messages) == 0 {
					break
				}
				afterMsg = mp.NextAfter
			}
			if sc.OpenedBy == "" {
				sc.OpenedBy = first
			}
			a.convs[c.ID] = sc
		}
		if page.NextAfter == 0 || len(page.Conversations) == 0 {
			break
		}
		afterConv = page.NextAfter
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Conversations implements Store from what InboundMessages listed.
func (a *APIStore) Conversations(_ context.Context, ids []int64) ([]StoredConversation, error) {
	var out []StoredConversation
	for _, id := range ids {
		if c, ok := a.convs[id]; ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// Statuses implements Store: unsupported.
func (a *APIStore) Statuses(context.Context, []string) ([]StoredStatus, error) {
	return nil, ErrUnsupported
}

// Agents implements Store with GET /v1/agents when the gateway has it.
func (a *APIStore) Agents(ctx context.Context) ([]StoredAgent, error) {
	var body struct {
		Agents []StoredAgent `json:"agents"`
	}
	code, err := a.get(ctx, "/v1/agents", nil, &body)
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		return nil, ErrUnsupported
	}
	if err != nil {
		return nil, err
	}
	return body.Agents, nil
}
