package whatsapp_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestNoHTTPImport keeps net/http out of the vocabulary and of what builds
// on it: package whatsapp, and event and db, must not reach net/http
// through any package at all (their own, a library's or the standard
// library's). The Cloud API client, which needs it, lives in
// whatsapp/cloudapi; db takes its metrics through a small Observer.
func TestNoHTTPImport(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	const module = "github.com/wagw/wagw"
	cmd := exec.Command(goTool, "list", "-deps", "-f", `{{.ImportPath}}:{{join .Imports " "}}`,
		module+"/whatsapp", module+"/event", module+"/db")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var seen int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		seen++
		if pkg == "net/http" {
			t.Errorf("net/http is among the dependencies of whatsapp, event and db")
		}
		if slices.Contains(strings.Fields(imports), "net/http") {
			t.Errorf("%s imports net/http", pkg)
		}
	}
	if seen < 20 {
		t.Errorf("go list listed %d packages: is it listing the dependencies?", seen)
	}
}
