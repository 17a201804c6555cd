package main

import (
	"bytes"
	"context"
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

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/loadtest"
	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

// smokeLoad is one `wagw loadtest run` against serve on a fresh
// database: round-robin agents and a welcome text set up by `loadtest
// setup`, a few hundred generated webhooks over three seconds, verified,
// the traffic saved for replay.
type smokeLoad struct {
	ctx    context.Context
	p      *serveProc
	conn   *sqlx.DB
	getenv func(string) string
	dir    string           // the run's report folder
	saved  string           // the saved traffic
	rep    *loadtest.Report // the run's report.json
}

func runSmokeLoad(t *testing.T) *smokeLoad {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	s := &smokeLoad{ctx: ctx, p: startServe(t, env), conn: conn, getenv: func(k string) string { return env[k] }, dir: t.TempDir()}
	s.saved = filepath.Join(s.dir, "traffic.jsonl")
	var out bytes.Buffer
	if err := runLoadtest(ctx, []string{"setup", "-api", s.p.base, "-agents", "3"}, s.getenv, &out); err != nil {
		t.Fatalf("loadtest setup: %v\n%s", err, out.String())
	}
	out.Reset()
	err := runLoadtest(ctx, []string{"run", "-url", s.p.base + "/webhook", "-rate", "120", "-poisson", "-duration", "3s",
		"-contacts", "60", "-seed", "7", "-out", s.dir, "-save", s.saved, "-settle", "25s",
		"-expect-welcome", "-expect-assigned", "-max-spread", "1"}, s.getenv, &out)
	if err != nil {
		t.Fatalf("loadtest run: %v\n%s", err, out.String())
	}
	t.Logf("loadtest run output:\n%s", out.String())
	if s.rep, err = loadtest.ReadReport(filepath.Join(s.dir, loadtest.ReportJSON)); err != nil {
		t.Fatal(err)
	}
	if s.rep.Run == nil || s.rep.Verify == nil {
		t.Fatalf("report without run or verification: %+v", s.rep)
	}
	return s
}

// `wagw loadtest` against serve (runSmokeLoad), one behaviour a subtest.
func TestLoadtestAgainstServe(t *testing.T) {
	s := runSmokeLoad(t)
	r, v := s.rep.Run, s.rep.Verify
	t.Run("the run writes its reports, the HTML one self-contained and passed", func(t *testing.T) {
		for _, name := range []string{loadtest.ReportJSON, loadtest.ReportHTML, loadtest.SentLog} {
			if st, err := os.Stat(filepath.Join(s.dir, name)); err != nil || st.Size() == 0 {
				t.Fatalf("%s missing or empty: %v", name, err)
			}
		}
		html, _ := os.ReadFile(filepath.Join(s.dir, loadtest.ReportHTML))
		if !bytes.Contains(html, []byte("<svg")) || bytes.Contains(html, []byte("src=\"http")) || !bytes.Contains(html, []byte("PASSED")) {
			t.Fatalf("report.html is not a self-contained passed report")
		}
	})
	t.Run("every webhook is acknowledged", func(t *testing.T) {
		if r.Sent < 250 || r.Sent > 500 || r.OK != r.Sent || r.Errors != 0 {
			t.Fatalf("run: %d sent, %d ok, %d errors; want about 360, all ok", r.Sent, r.OK, r.Errors)
		}
		if r.Messages == 0 || r.Statuses == 0 {
			t.Fatalf("run carried %d messages and %d statuses", r.Messages, r.Statuses)
		}
	})
	t.Run("nothing is lost, duplicated, reordered or misattributed", func(t *testing.T) {
		if !v.Passed || v.Lost != 0 || v.Duplicated != 0 || v.Reordered != 0 || v.Misattributed != 0 || v.Unattached != 0 {
			t.Fatalf("verification: %+v", v.Failures())
		}
		if v.Expected != r.Messages || v.Stored < v.Expected || v.StatusesMissing != 0 || v.StatusesExpected != r.Statuses {
			t.Fatalf("counts: run %d messages %d statuses; verify expected %d stored %d, statuses %d missing %d",
				r.Messages, r.Statuses, v.Expected, v.Stored, v.StatusesExpected, v.StatusesMissing)
		}
	})
	t.Run("every conversation is assigned, welcomed, and the load spread within one", func(t *testing.T) {
		if v.Conversations == 0 || v.Conversations > v.Contacts || v.DuplicateConversations != 0 || v.Assigned != v.Conversations {
			t.Fatalf("conversations: %d for %d contacts, %d duplicates, %d assigned", v.Conversations, v.Contacts, v.DuplicateConversations, v.Assigned)
		}
		if v.Welcomes["none"] != 0 || v.SpreadMaxMinus > 1 || len(v.Spread) != 3 {
			t.Fatalf("welcomes %v, spread %+v", v.Welcomes, v.Spread)
		}
	})
	t.Run("latencies and the timeline are measured", func(t *testing.T) {
		if v.E2E.Count == 0 || v.Assignment.Count == 0 || len(r.Timeline) < 3 {
			t.Fatalf("latency not measured: e2e %+v assignment %+v timeline %d", v.E2E, v.Assignment, len(r.Timeline))
		}
		if v.AssignmentUnheard != 0 || v.Assignment.Count != int64(v.Conversations) {
			t.Fatalf("assignment measured for %d of %d conversations, %d commits not heard", v.Assignment.Count, v.Conversations, v.AssignmentUnheard)
		}
	})
	t.Run("verifying again from the sent log agrees, by SQL and through the API", s.verifyAgain)
	t.Run("Meta redelivering everything at once changes nothing", s.replay)
}

// verifyAgain verifies the run a second time from its sent log, through
// SQL and through the HTTP API.
func (s *smokeLoad) verifyAgain(t *testing.T) {
	var out bytes.Buffer
	if err := runLoadtest(s.ctx, []string{"verify", "-dir", s.dir, "-settle", "5s"}, s.getenv, &out); err != nil {
		t.Fatalf("loadtest verify: %v\n%s", err, out.String())
	}
	// The assignment latency is heard only while the run is sent: verified
	// again, the report keeps what the run's own verification measured.
	again, err := loadtest.ReadReport(filepath.Join(s.dir, loadtest.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if a, want := again.Verify.Assignment, s.rep.Verify.Assignment; a.Count == 0 || a != want {
		t.Fatalf("verified again: assignment %+v, want the run's %+v", a, want)
	}
	out.Reset()
	if err := runLoadtest(s.ctx, []string{"verify", "-dir", s.dir, "-settle", "5s", "-verify", "api", "-expect-assigned"}, s.getenv, &out); err != nil {
		t.Fatalf("loadtest verify -verify api: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "verification (api): PASSED") {
		t.Fatalf("API verification:\n%s", out.String())
	}
	t.Logf("API verification:\n%s", out.String())
}

// replay sends the saved traffic again as fast as it goes: the inbound
// messages and conversations stay as they were.
func (s *smokeLoad) replay(t *testing.T) {
	count := func() int {
		return sqlCount(t, s.conn, `SELECT (SELECT count(*) FROM messages WHERE direction = 'in') + (SELECT count(*) FROM conversations)`)
	}
	before := count()
	var out bytes.Buffer
	if err := runLoadtest(s.ctx, []string{"replay", "-url", s.p.base, "-speed", "0", "-connections", "8", "-verify", "none",
		"-out", filepath.Join(s.dir, "replay"), "-quiet", s.saved}, s.getenv, &out); err != nil {
		t.Fatalf("loadtest replay: %v\n%s", err, out.String())
	}
	rrep, err := loadtest.ReadReport(filepath.Join(s.dir, "replay", loadtest.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if rrep.Run.Sent != s.rep.Run.Sent || rrep.Run.OK != s.rep.Run.Sent {
		t.Fatalf("replay sent %d (%d ok), want %d", rrep.Run.Sent, rrep.Run.OK, s.rep.Run.Sent)
	}
	time.Sleep(time.Second)
	if after := count(); after != before {
		t.Fatalf("replaying the same traffic changed the messages and conversations: %d, then %d", before, after)
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

// TestKeepHeardAssignment: verified again later, a run keeps the
// assignment latency heard while it was sent, which the later
// verification cannot measure; a measurement of its own is kept.
func TestKeepHeardAssignment(t *testing.T) {
	heard := &loadtest.VerifyResult{Assignment: loadtest.Latency{Count: 40, P99MS: 120}, AssignmentUnheard: 2}
	v := keepHeard(heard, &loadtest.VerifyResult{Passed: true})
	if v.Assignment != heard.Assignment || v.AssignmentUnheard != 2 || !v.Passed {
		t.Fatalf("verified again: %+v", v)
	}
	own := loadtest.Latency{Count: 41, P99MS: 90}
	if v := keepHeard(heard, &loadtest.VerifyResult{Assignment: own}); v.Assignment != own || v.AssignmentUnheard != 0 {
		t.Fatalf("a verification that measured: %+v", v)
	}
	if v := keepHeard(nil, &loadtest.VerifyResult{}); v.Assignment.Count != 0 {
		t.Fatalf("no report before: %+v", v)
	}
}
