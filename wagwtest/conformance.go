package wagwtest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// ConformanceDir is the shared conformance corpus of Meta's payloads,
// ../shared/conformance/whatsapp from the module root. It fails the test
// (never skips) when the corpus is not there.
func ConformanceDir(tb testing.TB) string {
	tb.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "shared", "conformance", "whatsapp")
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		tb.Fatalf("conformance corpus not found at %s (it must be at ../shared/conformance/whatsapp from the module root): %v", dir, err)
	}
	return dir
}

// WebhookFixtures lists the corpus's webhook bodies by name: every *.json
// at the top of the folder except signing_vectors.json (send_api/ is a
// subfolder).
func WebhookFixtures(tb testing.TB) []string {
	tb.Helper()
	dir := ConformanceDir(tb)
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		if name := filepath.Base(p); name != "signing_vectors.json" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		tb.Fatalf("no webhook fixtures in %s", dir)
	}
	return names
}

// ReadConformance returns the corpus file name (a path inside the corpus).
func ReadConformance(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(ConformanceDir(tb), name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ConformanceJSON returns every JSON file of the corpus, subfolders
// included: seeds for the fuzz targets.
func ConformanceJSON(tb testing.TB) [][]byte {
	tb.Helper()
	dir := ConformanceDir(tb)
	var out [][]byte
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out = append(out, b)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(out) == 0 {
		tb.Fatalf("no JSON files in %s", dir)
	}
	return out
}
