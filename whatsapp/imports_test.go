package whatsapp_test

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/wagw/wagw"

// TestNoHTTPImport keeps net/http out of the vocabulary: package whatsapp,
// and event and db which build on it, must not reach net/http through any
// package of this module. The Cloud API client, which needs it, lives in
// whatsapp/cloudapi. Only the module's own packages are followed: db's
// metrics import the Prometheus client, which itself imports net/http.
func TestNoHTTPImport(t *testing.T) {
	root, err := filepath.Abs("..") // this package's directory is <root>/whatsapp
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(path string, chain []string)
	walk = func(path string, chain []string) {
		if seen[path] {
			return
		}
		seen[path] = true
		chain = append(chain, path)
		pkg, err := build.ImportDir(filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(path, module))), 0)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, imp := range pkg.Imports {
			switch {
			case imp == "net/http" || strings.HasPrefix(imp, "net/http/"):
				t.Errorf("%s imports %s", strings.Join(chain, " -> "), imp)
			case imp == module || strings.HasPrefix(imp, module+"/"):
				walk(imp, chain)
			}
		}
	}
	for _, p := range []string{module + "/whatsapp", module + "/event", module + "/db"} {
		walk(p, nil)
	}
	if !seen[module+"/assigner"] {
		t.Errorf("the walk did not reach %s/assigner through event: is it following imports?", module)
	}
}
