package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// `wagw probe <url>` is the health check of the distroless image.
func TestProbeCommand(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready || r.URL.Path != "/readyz" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	probe := func(args ...string) error {
		return run(context.Background(), append([]string{"probe"}, args...), func(string) string { return "" }, &strings.Builder{}, &strings.Builder{})
	}
	if err := probe(srv.URL + "/readyz"); err != nil {
		t.Errorf("ready: %v, want nil", err)
	}
	ready = false
	if err := probe(srv.URL + "/readyz"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("not ready: %v, want an error with 503", err)
	}
	if err := probe(); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("no URL: %v, want the usage", err)
	}
}
