package gateway_test

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestOpenAPIMatchesRoutes checks both directions: every route the app
// serves is documented in openapi.yaml, and every documented operation is
// served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	documented := openAPIOperations(t, "openapi.yaml")
	e := newEnv(t, nil)
	served := map[string]bool{}
	for _, r := range e.app.GetRoutes(true) { // true: without Use middleware and the catch-all
		if r.Method == fiber.MethodHead { // Fiber adds HEAD beside every GET
			continue
		}
		served[r.Method+" "+openAPIPath(r.Path)] = true
	}
	if len(served) == 0 {
		t.Fatal("the app serves no routes")
	}

	var undocumented, unserved []string
	for op := range served {
		if !documented[op] {
			undocumented = append(undocumented, op)
		}
	}
	for op := range documented {
		if !served[op] {
			unserved = append(unserved, op)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(unserved)
	if len(undocumented) > 0 {
		t.Errorf("the app serves %d routes that gateway/openapi.yaml does not document:\n  %s", len(undocumented), strings.Join(undocumented, "\n  "))
	}
	if len(unserved) > 0 {
		t.Errorf("gateway/openapi.yaml documents %d operations that the app does not serve (not registered yet, or removed):\n  %s", len(unserved), strings.Join(unserved, "\n  "))
	}
}

var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)\??`)

// openAPIPath turns Fiber's "/v1/agents/:id" into "/v1/agents/{id}".
func openAPIPath(p string) string {
	return fiberParam.ReplaceAllString(p, "{$1}")
}

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true}

// openAPIOperations reads "METHOD /path" pairs from the paths section of
// an OpenAPI file written in the regular format openapi.yaml keeps: under
// the top-level "paths:", each path key at two spaces and each operation
// key at four. It fails on anything at two spaces that is not a path, and
// on duplicates.
func openAPIOperations(t *testing.T, file string) map[string]bool {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ops := map[string]bool{}
	paths := map[string]bool{}
	inPaths := false
	path := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t")
		trimmed := strings.TrimLeft(line, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(line) - len(trimmed)
		switch {
		case indent == 0:
			inPaths = line == "paths:"
			path = ""
		case !inPaths:
		case indent == 2:
			key, ok := strings.CutSuffix(trimmed, ":")
			if !ok || !strings.HasPrefix(key, "/") {
				t.Fatalf("%s:%d: expected a path key at two spaces under paths:, got %q", file, n, trimmed)
			}
			if paths[key] {
				t.Fatalf("%s:%d: path %s appears twice", file, n, key)
			}
			paths[key], path = true, key
		case indent == 4:
			key, ok := strings.CutSuffix(trimmed, ":")
			if !ok || !httpMethods[key] {
				t.Fatalf("%s:%d: expected an HTTP method at four spaces under %s, got %q (keep parameters inside the operations)", file, n, path, trimmed)
			}
			op := strings.ToUpper(key) + " " + path
			if ops[op] {
				t.Fatalf("%s:%d: %s appears twice", file, n, op)
			}
			ops[op] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ops) == 0 {
		t.Fatalf("%s: no operations found under paths:", file)
	}
	return ops
}
