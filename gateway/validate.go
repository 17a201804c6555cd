package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// What the API takes. A request outside these limits is refused before
// anything is stored or produced: 400 for a bad shape (bad_json, bad_text,
// bad_id, too_many_ids, bad_query), 422 for settings out of range.
const (
	// maxRefID is the largest agent or team id: they are 32-bit, as the
	// store keys per-team locks by them.
	maxRefID = math.MaxInt32
	// maxIDs is the longest list of ids in one request.
	maxIDs = 1000
	// maxNameLen is the longest name of an agent, team or inbox, in characters.
	maxNameLen = 200
	// maxEmailLen is the longest email address (RFC 5321).
	maxEmailLen = 254
	// maxLimit is the largest capacity or per-member limit.
	maxLimit = 100000
	// maxWindowSeconds is the longest window of a time-based rule: 30 days.
	maxWindowSeconds = 30 * 24 * 3600
	// maxRoutingRules is the longest routing list of an inbox.
	maxRoutingRules = 100
	// maxTokenLen is the longest identifier taken from a path, a query or
	// a header (command id, wa_id, user id, Idempotency-Key).
	maxTokenLen = 200
)

// decode reads a JSON body strictly into dst: valid UTF-8, no NUL in any
// string, no key twice in an object, no unknown fields, one value.
func decode(c *fiber.Ctx, dst any) error {
	body := c.BodyRaw()
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if !utf8.Valid(body) {
		return apiError(fiber.StatusBadRequest, "bad_json", "request body is not valid UTF-8")
	}
	if err := checkJSONText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return apiError(fiber.StatusBadRequest, "bad_json", "request body: "+err.Error())
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		return apiError(fiber.StatusBadRequest, "bad_json", "request body: more than one JSON value")
	}
	return nil
}

// checkJSONText walks the tokens of a JSON body: a string (key or value)
// holding NUL is bad_text (the store cannot keep it); a key twice in one
// object, or bad syntax, is bad_json.
func checkJSONText(body []byte) error {
	type frame struct {
		object, wantKey bool
		keys            map[string]bool
	}
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return apiError(fiber.StatusBadRequest, "bad_json", "request body: "+err.Error())
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &frame{object: true, wantKey: true, keys: map[string]bool{}})
			case '[':
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if strings.ContainsRune(v, 0) {
				return apiError(fiber.StatusBadRequest, "bad_text", "request body: a text holds NUL (\\u0000)")
			}
			if top := len(stack) - 1; top >= 0 && stack[top].wantKey {
				if stack[top].keys[v] {
					return apiError(fiber.StatusBadRequest, "bad_json", fmt.Sprintf("request body: key %q appears twice in one object", v))
				}
				stack[top].keys[v], stack[top].wantKey = true, false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

func badID(name string) error {
	return apiError(fiber.StatusBadRequest, "bad_id", fmt.Sprintf("%s must be an integer from 1 to %d", name, maxRefID))
}

// checkRef checks an agent or team id.
func checkRef(name string, id int64) error {
	if id < 1 || id > maxRefID {
		return badID(name)
	}
	return nil
}

// checkOptRef checks an agent or team id that may be absent.
func checkOptRef(name string, id *int64) error {
	if id == nil {
		return nil
	}
	return checkRef(name, *id)
}

// checkRefs checks a list of agent ids.
func checkRefs(name string, ids []int64) error {
	if len(ids) > maxIDs {
		return apiError(fiber.StatusBadRequest, "too_many_ids", fmt.Sprintf("%s has %d ids; the limit is %d", name, len(ids), maxIDs))
	}
	for _, id := range ids {
		if err := checkRef(name, id); err != nil {
			return err
		}
	}
	return nil
}

// refParam parses an agent or team id in the path.
func refParam(c *fiber.Ctx, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil {
		return 0, badID(name)
	}
	return id, checkRef(name, id)
}

// plainToken reports whether s is 1 to maxTokenLen printable ASCII
// characters: what ids from paths, queries and headers may hold.
func plainToken(s string) bool {
	if s == "" || len(s) > maxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// checkName checks a name's length; code is the 422 code of its kind.
func checkName(code, what, name string) error {
	if n := utf8.RuneCountInString(name); n > maxNameLen {
		return apiError(fiber.StatusUnprocessableEntity, code, fmt.Sprintf("%s has %d characters; the limit is %d", what, n, maxNameLen))
	}
	return nil
}

// checkWindow refuses a rule's window in seconds that is not 1 to
// maxWindowSeconds (null: the rule is off).
func checkWindow(code, what string, v *int) error {
	if v != nil && (*v < 1 || *v > maxWindowSeconds) {
		return apiError(fiber.StatusUnprocessableEntity, code, fmt.Sprintf("%s %d must be 1 to %d seconds, or null to turn the rule off", what, *v, maxWindowSeconds))
	}
	return nil
}

// checkLimit checks a capacity or per-member limit (negative ones are the
// domain's to refuse).
func checkLimit(code, what string, v *int) error {
	if v != nil && *v > maxLimit {
		return apiError(fiber.StatusUnprocessableEntity, code, fmt.Sprintf("%s %d is larger than %d", what, *v, maxLimit))
	}
	return nil
}
