package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wagw/wagw/gateway"
)

func TestProbe(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(`{"status":"not ready","error":"kafka: down"}`))
	}))
	defer srv.Close()
	if err := gateway.Probe(context.Background(), srv.URL+"/readyz"); err != nil {
		t.Errorf("200: %v, want nil", err)
	}
	status = http.StatusServiceUnavailable
	if err := gateway.Probe(context.Background(), srv.URL+"/readyz"); err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "kafka: down") {
		t.Errorf("503: %v, want the status and the reason", err)
	}
	srv.Close()
	if err := gateway.Probe(context.Background(), srv.URL+"/readyz"); err == nil {
		t.Error("nothing listening: nil, want an error")
	}
}
