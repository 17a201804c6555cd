package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/loadtest"
	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

// TestLoadtestSmoke starts serve in-process on a fresh database, sets up
// round-robin agents and a welcome text, sends a few hundred generated
// webhooks over three seconds, and checks that the verification found
// nothing lost, duplicated or reordered and that the report files are
// there with the right counts. Replaying the saved traffic afterwards
// must add nothing.
func TestLoadtestSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	dsn := dbtest.URL(t)
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		if err := db.DropDatabase(dctx, dsn); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	httpAddr := freeTCPAddr(t)
	env := map[string]string{
		"WAGW_HTTP_ADDR":      httpAddr,
		"DATABASE_URL":        dsn,
		"KAFKA_EMBEDDED_ADDR": freeTCPAddr(t),
		"KAFKA_PARTITIONS":    "4",
		"WAGW_SIMULATOR_ADDR": freeTCPAddr(t),
		"WAGW_DATA_DIR":       t.TempDir(),
		"WA_APP_SECRET":       "loadtest-smoke-secret",
		"WA_VERIFY_TOKEN":     "loadtest-smoke-verify",
		"WAGW_ADMIN_TOKEN":    "loadtest-smoke-admin",
		"WAGW_LOG_LEVEL":      "warn",
	}
	getenv := func(k string) string { return env[k] }

	serveCtx, stopServe := context.WithCancel(ctx)
	served := make(chan error, 1)
	var serveOut wagwtest.SyncBuffer
	serveLog := runLog(t)
	go func() { served <- run(serveCtx, []string{"serve"}, getenv, &serveOut, serveLog) }()
	t.Cleanup(func() {
		stopServe()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("serve did not stop within 20 s")
		}
	})
	base := "http://" + httpAddr
	ltWaitReady(t, ctx, base, served, &serveOut)

	var out bytes.Buffer
	if err := runLoadtest(ctx, []string{"setup", "-api", base, "-agents", "3"}, getenv, &out); err != nil {
		t.Fatalf("loadtest setup: %v\n%s", err, out.String())
	}

	dir := t.TempDir()
	saved := filepath.Join(dir, "traffic.jsonl")
	out.Reset()
	err := runLoadtest(ctx, []string{"run", "-url", base + "/webhook", "-rate", "120", "-poisson", "-duration", "3s",
		"-contacts", "60", "-seed", "7", "-out", dir, "-save", saved, "-settle", "25s",
		"-expect-welcome", "-expect-assigned", "-max-spread", "1"}, getenv, &out)
	if err != nil {
		t.Fatalf("loadtest run: %v\n%s", err, out.String())
	}
	t.Logf("loadtest run output:\n%s", out.String())

	for _, name := range []string{loadtest.ReportJSON, loadtest.ReportHTML, loadtest.SentLog} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Fatalf("%s missing or empty: %v", name, err)
		}
	}
	html, _ := os.ReadFile(filepath.Join(dir, loadtest.ReportHTML))
	if !bytes.Contains(html, []byte("<svg")) || bytes.Contains(html, []byte("src=\"http")) || !bytes.Contains(html, []byte("PASSED")) {
		t.Fatalf("report.html is not a self-contained passed report")
	}
	rep, err := loadtest.ReadReport(filepath.Join(dir, loadtest.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	r, v := rep.Run, rep.Verify
	if r == nil || v == nil {
		t.Fatalf("report without run or verification: %+v", rep)
	}
	if r.Sent < 250 || r.Sent > 500 || r.OK != r.Sent || r.Errors != 0 {
		t.Fatalf("run: %d sent, %d ok, %d errors; want about 360, all ok", r.Sent, r.OK, r.Errors)
	}
	if r.Messages == 0 || r.Statuses == 0 {
		t.Fatalf("run carried %d messages and %d statuses", r.Messages, r.Statuses)
	}
	if !v.Passed || v.Lost != 0 || v.Duplicated != 0 || v.Reordered != 0 || v.Misattributed != 0 || v.Unattached != 0 {
		t.Fatalf("verification: %+v", v.Failures())
	}
	if v.Expected != r.Messages || v.Stored < v.Expected || v.StatusesMissing != 0 || v.StatusesExpected != r.Statuses {
		t.Fatalf("counts: run %d messages %d statuses; verify expected %d stored %d, statuses %d missing %d",
			r.Messages, r.Statuses, v.Expected, v.Stored, v.StatusesExpected, v.StatusesMissing)
	}
	if v.Conversations == 0 || v.Conversations > v.Contacts || v.DuplicateConversations != 0 || v.Assigned != v.Conversations {
		t.Fatalf("conversations: %d for %d contacts, %d duplicates, %d assigned", v.Conversations, v.Contacts, v.DuplicateConversations, v.Assigned)
	}
	if v.Welcomes["none"] != 0 || v.SpreadMaxMinus > 1 || len(v.Spread) != 3 {
		t.Fatalf("welcomes %v, spread %+v", v.Welcomes, v.Spread)
	}
	if v.E2E.Count == 0 || v.Assignment.Count == 0 || len(r.Timeline) < 3 {
		t.Fatalf("latency not measured: e2e %+v assignment %+v timeline %d", v.E2E, v.Assignment, len(r.Timeline))
	}

	// A second verification of the same run, from its sent log, agrees;
	// so does one through the HTTP API instead of SQL.
	out.Reset()
	if err := runLoadtest(ctx, []string{"verify", "-dir", dir, "-settle", "5s"}, getenv, &out); err != nil {
		t.Fatalf("loadtest verify: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := runLoadtest(ctx, []string{"verify", "-dir", dir, "-settle", "5s", "-verify", "api", "-expect-assigned"}, getenv, &out); err != nil {
		t.Fatalf("loadtest verify -verify api: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "verification (api): PASSED") {
		t.Fatalf("API verification:\n%s", out.String())
	}
	t.Logf("API verification:\n%s", out.String())

	// Meta redelivering everything at once changes nothing.
	conn, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func() (n int) {
		if err := conn.QueryRow(`SELECT (SELECT count(*) FROM messages WHERE direction = 'in') + (SELECT count(*) FROM conversations)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	out.Reset()
	if err := runLoadtest(ctx, []string{"replay", "-url", base, "-speed", "0", "-connections", "8", "-verify", "none",
		"-out", filepath.Join(dir, "replay"), "-quiet", saved}, getenv, &out); err != nil {
		t.Fatalf("loadtest replay: %v\n%s", err, out.String())
	}
	rrep, err := loadtest.ReadReport(filepath.Join(dir, "replay", loadtest.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if rrep.Run.Sent != r.Sent || rrep.Run.OK != r.Sent {
		t.Fatalf("replay sent %d (%d ok), want %d", rrep.Run.Sent, rrep.Run.OK, r.Sent)
	}
	time.Sleep(time.Second)
	if after := count(); after != before {
		t.Fatalf("replaying the same traffic changed the messages and conversations: %d, then %d", before, after)
	}
}

func ltWaitReady(t *testing.T, ctx context.Context, base string, served <-chan error, log *wagwtest.SyncBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-served:
			t.Fatalf("serve stopped: %v\n%s", err, log.String())
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 30 s\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLoadtestCaptureReplay: what the gateway's capture writer keeps,
// rotated over several files, replays as the same bytes, with the
// signature left out (the replayer signs with the target's secret).
func TestLoadtestCaptureReplay(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "capture.jsonl")
	cw, err := loadtest.NewCaptureFile(path, 4096)
	if err != nil {
		t.Fatal(err)
	}
	gen := loadtest.NewGenerator(loadtest.GenConfig{Seed: 9, Contacts: 20})
	var want [][]byte
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range 60 {
		req, _ := gen.Next()
		body := req.Body
		if i == 7 {
			body = append([]byte(nil), body...)
			body = append(body[:len(body)-1], []byte("\xff}")...) // not UTF-8: kept as base64
		}
		want = append(want, body)
		// Sequential capture for a known order; concurrency is checked below.
		cw.Write(body, map[string]string{"Content-Type": "application/json", whatsapp.SignatureHeader: "sha256=00", "Host": "x"},
			at.Add(time.Duration(i)*100*time.Millisecond))
	}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			req, _ := gen.Next()
			mu.Unlock()
			cw.Write(req.Body, nil, at.Add(time.Hour))
		}()
	}
	wg.Wait()
	if err := cw.Close(); err != nil || cw.Err() != nil {
		t.Fatalf("close: %v, %v", err, cw.Err())
	}
	cw.Write([]byte("{}"), nil, at) // after Close: dropped

	files, _ := filepath.Glob(filepath.Join(dir, "capture-*.jsonl"))
	if len(files) < 2 {
		t.Fatalf("want rotated files, got %v", files)
	}
	files = append(files, path) // rotated ones sort in time order, the live file last
	for _, f := range files {
		if st, _ := os.Stat(f); st.Size() > 4096*2 {
			t.Fatalf("%s is %d bytes, over the rotation size", f, st.Size())
		}
	}
	rp, err := loadtest.OpenReplay(files, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	var got []loadtest.Request
	for {
		r, ok := rp.Next()
		if !ok {
			break
		}
		got = append(got, r)
	}
	if rp.Err() != nil {
		t.Fatal(rp.Err())
	}
	if len(got) != len(want)+8 {
		t.Fatalf("replayed %d webhooks, want %d", len(got), len(want)+8)
	}
	for i, w := range want {
		if !bytes.Equal(got[i].Body, w) {
			t.Fatalf("webhook %d: replayed body differs", i)
		}
		if _, ok := got[i].Headers[whatsapp.SignatureHeader]; ok || got[i].Headers["Host"] != "" || got[i].Headers["Content-Type"] != "application/json" {
			t.Fatalf("webhook %d: headers %v", i, got[i].Headers)
		}
		if wantAt := time.Duration(i) * 50 * time.Millisecond; got[i].At != wantAt {
			t.Fatalf("webhook %d at %v, want %v at speed 2", i, got[i].At, wantAt)
		}
		if i != 7 && len(got[i].Messages)+len(got[i].Statuses) == 0 {
			t.Fatalf("webhook %d: no items parsed", i)
		}
	}
	var rec loadtest.CaptureRecord
	b, _ := os.ReadFile(files[0])
	if err := json.Unmarshal(bytes.SplitN(b, []byte("\n"), 2)[0], &rec); err != nil || rec.At.IsZero() || rec.Body == "" {
		t.Fatalf("capture line: %v %+v", err, rec)
	}
	if strings.Contains(string(b), `\u003c`) {
		t.Fatalf("capture escapes HTML characters")
	}
}

func TestLoadtestRefusesRemoteTargets(t *testing.T) {
	for _, target := range []string{"http://10.0.0.5:8080/webhook", "http://example.com/webhook", "192.168.1.2:80"} {
		if _, err := loadtest.CheckTarget(target, false); err == nil {
			t.Errorf("%s accepted without -allow-remote", target)
		}
	}
	for _, target := range []string{"http://127.0.0.1:8080", "localhost:9000", "http://[::1]:8080/webhook", "127.0.0.2:8080"} {
		if _, err := loadtest.CheckTarget(target, false); err != nil {
			t.Errorf("%s refused: %v", target, err)
		}
	}
	var out bytes.Buffer
	err := runLoadtest(context.Background(), []string{"run", "-url", "http://10.1.2.3:8080/webhook", "-requests", "1", "-verify", "none", "-secret", "x"},
		func(string) string { return "" }, &out)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("remote target: %v", err)
	}
}

// TestLoadtestRunFailsWhenNothingAcknowledged: a run whose every request
// was refused (401: the wrong secret) acknowledged nothing, so nothing was
// verified; it fails and the command returns an error, whatever the
// verification source.
func TestLoadtestRunFailsWhenNothingAcknowledged(t *testing.T) {
	dsn, _ := newTestDB(t)
	var out wagwtest.SyncBuffer
	if err := run(context.Background(), []string{"migrate"}, func(k string) string {
		if k == "DATABASE_URL" {
			return dsn
		}
		return ""
	}, &out, &out); err != nil {
		t.Fatalf("wagw migrate: %v\n%s", err, out.String())
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	for _, verify := range []string{"sql", "none"} {
		var buf bytes.Buffer
		err := runLoadtest(context.Background(), []string{"run", "-url", srv.URL + "/webhook", "-secret", "wrong", "-requests", "40",
			"-rate", "400", "-contacts", "10", "-verify", verify, "-db", dsn, "-settle", "1s", "-out", t.TempDir(), "-quiet"},
			func(string) string { return "" }, &buf)
		if err == nil {
			t.Errorf("-verify %s: a run with 40 of 40 requests answered 401 returned no error:\n%s", verify, buf.String())
		}
		if strings.Contains(buf.String(), "PASSED") || !strings.Contains(buf.String(), "FAILED") {
			t.Errorf("-verify %s: the summary does not say FAILED:\n%s", verify, buf.String())
		}
	}
}

// TestLoadtestRunErrorBudget: errors above -max-errors (a count, or a
// percentage of the requests sent; default 0) fail the run.
func TestLoadtestRunErrorBudget(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%5 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		budget []string
		pass   bool
	}{
		{nil, false},
		{[]string{"-max-errors", "0"}, false},
		{[]string{"-max-errors", "3"}, false},
		{[]string{"-max-errors", "10%"}, false},
		{[]string{"-max-errors", "8"}, true},
		{[]string{"-max-errors", "25%"}, true},
	} {
		n.Store(0)
		var buf bytes.Buffer
		args := append([]string{"run", "-url", srv.URL + "/webhook", "-secret", "s", "-requests", "40", "-rate", "400",
			"-contacts", "10", "-verify", "none", "-out", t.TempDir(), "-quiet", "-closed", "-connections", "1"}, tc.budget...)
		err := runLoadtest(context.Background(), args, func(string) string { return "" }, &buf)
		if (err == nil) != tc.pass {
			t.Errorf("8 errors in 40 requests with %v: error %v, want pass=%v\n%s", tc.budget, err, tc.pass, buf.String())
		}
	}
	var buf bytes.Buffer
	err := runLoadtest(context.Background(), []string{"run", "-url", srv.URL, "-secret", "s", "-requests", "1", "-verify", "none",
		"-max-errors", "lots"}, func(string) string { return "" }, &buf)
	if err == nil || !strings.Contains(err.Error(), "max-errors") {
		t.Errorf("-max-errors lots: %v", err)
	}
}
