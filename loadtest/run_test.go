package loadtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagw/wagw/whatsapp"
)

type sliceSource struct {
	reqs []Request
	i    int
}

func (s *sliceSource) Next() (Request, bool) {
	if s.i >= len(s.reqs) {
		return Request{}, false
	}
	s.i++
	return s.reqs[s.i-1], true
}

// TestLoadtestRunnerOpenLoopNoCoordinatedOmission: a server that takes
// 20 ms per request, one request in flight at a time, offered 200/s: the
// requests leave later and later, and their latency counts from when they
// should have left, not from when they did.
func TestLoadtestRunnerOpenLoopNoCoordinatedOmission(t *testing.T) {
	secret := []byte("s3cret")
	var bad atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !whatsapp.Verify(r.Header.Get(whatsapp.SignatureHeader), body, secret) || r.Header.Get("Content-Type") != "application/json" {
			bad.Add(1)
		}
		time.Sleep(20 * time.Millisecond)
	}))
	defer srv.Close()
	g := NewGenerator(GenConfig{Seed: 1, Contacts: 10, Rate: 200})
	var progress bytes.Buffer
	res, err := Run(context.Background(), RunConfig{URL: srv.URL, Secret: secret, MaxInFlight: 1, Requests: 20,
		Progress: &progress, ProgressEvery: 100 * time.Millisecond}, g)
	if err != nil {
		t.Fatal(err)
	}
	if bad.Load() != 0 || res.Sent != 20 || res.OK != 20 || res.Codes["200"] != 20 {
		t.Fatalf("sent %d ok %d codes %v, %d badly signed", res.Sent, res.OK, res.Codes, bad.Load())
	}
	// The last request was meant for 95 ms but left after about 19×20 ms.
	if res.Latency.MaxMS < 250 || res.Late.MaxMS < 200 {
		t.Fatalf("latency %+v, late %+v: coordinated omission", res.Latency, res.Late)
	}
	if res.Latency.P50MS < 20 {
		t.Fatalf("p50 %v below the server's own time", res.Latency.P50MS)
	}
	// From its actual send, each request took the server's 20 ms.
	if res.Answer.Count != 20 || res.Answer.MinMS < 20 || res.Answer.MaxMS > 150 {
		t.Fatalf("answered %+v from the actual send; want 20 answers of about 20 ms", res.Answer)
	}
	if !strings.Contains(progress.String(), "sent ") || len(res.Timeline) == 0 {
		t.Fatalf("no progress: %q", progress.String())
	}
}

// TestLoadtestRunnerOpenLoopBoundsInFlight: offered far more than a slow
// server answers, the open loop has exactly MaxInFlight requests in
// flight at its peak, never more, and sends them all.
func TestLoadtestRunnerOpenLoopBoundsInFlight(t *testing.T) {
	var now, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(30 * time.Millisecond)
		now.Add(-1)
	}))
	defer srv.Close()
	g := NewGenerator(GenConfig{Seed: 3, Profile: ProfileSingle, Contacts: 50, Rate: 2000})
	res, err := Run(context.Background(), RunConfig{URL: srv.URL + "/webhook", Secret: []byte("x"), MaxInFlight: 5, Requests: 60}, g)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 60 || res.OK != 60 {
		t.Fatalf("sent %d, ok %d; want 60 and 60", res.Sent, res.OK)
	}
	if p := peak.Load(); p != 5 {
		t.Fatalf("%d requests in flight at the peak; want MaxInFlight, 5", p)
	}
}

// TestLoadtestRunnerOpenLoopStopsWhenCancelled: cancelled while behind
// its schedule (every request already due) and below MaxInFlight, the
// open loop starts no more senders and hands out no more requests: each
// would be sent on the cancelled context and counted as "cancelled".
func TestLoadtestRunnerOpenLoopStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	var sent, late atomic.Int32
	src := &sliceSource{reqs: make([]Request, 3000)} // all at 0: all due at once
	began := time.Now()
	res, err := Run(ctx, RunConfig{URL: srv.URL, MaxInFlight: 1000, Timeout: 5 * time.Second, OnSend: func(Request) {
		if ctx.Err() != nil {
			late.Add(1)
		}
		if sent.Add(1) == 3 {
			cancel()
		}
	}}, src)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v; want context.Canceled", err)
	}
	t.Logf("sent %d late %d", sent.Load(), late.Load())
	if late.Load() > 20 {
		t.Fatalf("%d of %d requests handed out after the run was cancelled", late.Load(), sent.Load())
	}
	// The requests in flight (the server never answers) end with the
	// run, not at their 5 s timeout, and count as cancelled.
	if took := time.Since(began); took >= 5*time.Second || res == nil || res.Codes["cancelled"] != int(sent.Load()) {
		t.Fatalf("returned after %v with %+v; want at once, every request sent cancelled", took, res)
	}
}

func TestLoadtestRunnerClosedLoopAndErrors(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%10 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	g := NewGenerator(GenConfig{Seed: 2, Profile: ProfileSingle, Contacts: 100})
	res, err := Run(context.Background(), RunConfig{URL: srv.URL + "/webhook", Secret: []byte("x"), Closed: true, Connections: 4,
		Duration: 300 * time.Millisecond}, g)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != "closed" || res.Sent < 50 || res.Codes["503"] == 0 || res.Errors != res.Codes["503"] || res.Seconds > 1 {
		t.Fatalf("closed loop: %+v", res)
	}
	if res.Messages != res.OK { // single profile: one unique message per acknowledged POST
		t.Fatalf("messages %d, ok %d", res.Messages, res.OK)
	}
	// A stopped server: transport errors are counted, not fatal.
	srv.Close()
	res, err = Run(context.Background(), RunConfig{URL: srv.URL, Requests: 3, Timeout: time.Second}, &sliceSource{reqs: []Request{{}, {}, {}}})
	if err != nil || res.Errors != 3 || res.Codes["refused"] != 3 {
		t.Fatalf("stopped server: %v %+v", err, res.Codes)
	}
}

// TestLoadtestRunnerKeepsUnclassifiedErrors: a failure that is none of
// timeout, refused, reset or cancelled (here an answer that is not HTTP)
// is counted as "error", and its text is kept once.
func TestLoadtestRunnerKeepsUnclassifiedErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("NOT HTTP AT ALL\r\n\r\n")
		_ = buf.Flush()
	}))
	defer srv.Close()
	res, err := Run(context.Background(), RunConfig{URL: srv.URL, Requests: 3, MaxInFlight: 1, Timeout: time.Second},
		&sliceSource{reqs: []Request{{}, {}, {}}})
	if err != nil || res.Codes["error"] != 3 {
		t.Fatalf("%v %+v", err, res.Codes)
	}
	if len(res.Unclassified) != 1 || !strings.Contains(res.Unclassified[0], "NOT HTTP AT ALL") {
		t.Fatalf("unclassified %q; want the one text, once", res.Unclassified)
	}
}

func TestLoadtestRunnerDrainAndReport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	var stored atomic.Int64
	g := NewGenerator(GenConfig{Seed: 5, Contacts: 50, Rate: 400})
	res, err := Run(context.Background(), RunConfig{URL: srv.URL, Secret: []byte("x"), Duration: 500 * time.Millisecond,
		ProgressEvery: 100 * time.Millisecond, DrainTimeout: 2 * time.Second,
		Stored: func(context.Context) (int64, error) {
			// The "consumer" stores 25 more messages at every poll.
			return stored.Add(25), nil
		}}, g)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent < 150 || res.Sent > 250 || res.Drain == nil || !res.Drain.Drained || res.Drain.Expected != int64(res.Messages) {
		t.Fatalf("sent %d drain %+v messages %d", res.Sent, res.Drain, res.Messages)
	}
	rep := &Report{Name: "unit", Command: "test", CreatedAt: time.Now(), Host: ThisHost(), Run: res,
		Verify: &VerifyResult{Source: "fake", Passed: true, Checks: []Check{{Name: "x", OK: true, Detail: "fine"}},
			Spread: []AgentCount{{ID: 1, Name: "Ana <b>", Conversations: 3}}, AssignmentUnheard: 7, Timeline: []VerifySecond{{T: 0, Count: 1, E2EP50: 1, E2EP99: 2, Acked: 5, Stored: 4}}}}
	dir := t.TempDir()
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(filepath.Join(dir, ReportHTML))
	if bytes.Count(page, []byte("<svg")) < 4 || bytes.Contains(page, []byte("Ana <b>")) || !bytes.Contains(page, []byte("PASSED")) {
		t.Fatalf("report.html: %d charts, escaped %v", bytes.Count(page, []byte("<svg")), !bytes.Contains(page, []byte("Ana <b>")))
	}
	if !bytes.Contains(page, []byte(`assignment commits not heard</th><td class="num">7<`)) {
		t.Fatal("report.html does not show the conversations whose assignment commit was not heard")
	}
	var buf bytes.Buffer
	if err := WriteSentLog(&buf, res, &Baseline{MessageID: 7}); err != nil {
		t.Fatal(err)
	}
	back, base, err := ReadSentLog(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if base.MessageID != 7 || back.Sent != res.Sent || back.Messages != res.Messages || len(back.Requests) != len(res.Requests) ||
		back.Latency.P99MS != res.Latency.P99MS {
		t.Fatalf("sent log round trip: %+v vs %+v", back, res)
	}
	var sum bytes.Buffer
	rep.WriteSummary(&sum)
	if !strings.Contains(sum.String(), "PASSED") || !strings.Contains(sum.String(), "p99") {
		t.Fatalf("summary: %s", sum.String())
	}
}

func TestReplayPacesAndMarksRedeliveries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.jsonl")
	f, _ := os.Create(path)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cw := NewCaptureWriter(f, start, []byte("old-secret"))
	g := NewGenerator(GenConfig{Seed: 8, Contacts: 5, Rate: 10, RedeliverShare: 0.2})
	var sent []Request
	for range 50 {
		r, _ := g.Next()
		sent = append(sent, r)
		if err := cw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	cw.Flush()
	f.Close()
	for _, speed := range []float64{1, 4, 0} {
		rp, err := OpenReplay([]string{path}, speed)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			r, ok := rp.Next()
			if !ok {
				if i != len(sent) {
					t.Fatalf("speed %v: %d requests, want %d", speed, i, len(sent))
				}
				break
			}
			want := sent[i]
			wantAt := time.Duration(0)
			if speed > 0 {
				wantAt = time.Duration(float64(want.At) / speed)
			}
			if !bytes.Equal(r.Body, want.Body) || r.At != wantAt || r.Redelivery != want.Redelivery || len(r.Messages) != len(want.Messages) {
				t.Fatalf("speed %v request %d: at %v (want %v), redelivery %v (want %v)", speed, i, r.At, wantAt, r.Redelivery, want.Redelivery)
			}
			for j := range r.Messages {
				if r.Messages[j] != want.Messages[j] {
					t.Fatalf("request %d message %d: %+v, want %+v", i, j, r.Messages[j], want.Messages[j])
				}
			}
			if _, has := r.Headers[whatsapp.SignatureHeader]; has {
				t.Fatalf("captured signature kept")
			}
		}
		rp.Close()
	}
}

// TestClassifyError: transport failures get the class the reports count
// them under; anything else is "error".
func TestClassifyError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "timeout"},
		{&url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}}, "timeout"},
		{fasthttp.ErrTimeout, "timeout"},
		{fasthttp.ErrNoFreeConns, "timeout"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "refused"},
		{&url.Error{Op: "Post", URL: "http://x", Err: syscall.ECONNREFUSED}, "refused"},
		// fasthttp's error when the server closed the connection before
		// the first byte of an answer.
		{fasthttp.ErrConnectionClosed, "reset"},
		{&url.Error{Op: "Post", URL: "http://x", Err: syscall.ECONNRESET}, "reset"},
		{&url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}}, "reset"},
		{io.ErrUnexpectedEOF, "reset"},
		{context.Canceled, "cancelled"},
		{errors.New("net/http: malformed HTTP response"), "error"},
	} {
		if got := classifyError(tc.err); got != tc.want {
			t.Errorf("classifyError(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestWithoutPorts: two failures that differ only in their connections'
// ports are one text; other numbers stay.
func TestWithoutPorts(t *testing.T) {
	a := withoutPorts("Post \"http://127.0.0.1:18080/webhook\": write tcp 127.0.0.1:41234->127.0.0.1:18080: write: broken pipe")
	b := withoutPorts("Post \"http://127.0.0.1:18080/webhook\": write tcp 127.0.0.1:50002->127.0.0.1:18080: write: broken pipe")
	want := "Post \"http://127.0.0.1:*/webhook\": write tcp 127.0.0.1:*->127.0.0.1:*: write: broken pipe"
	if a != want || b != want {
		t.Fatalf("got %q and %q; want %q", a, b, want)
	}
	if got := withoutPorts("dial tcp [::1]:8080: 503: no: 7 of 9"); got != "dial tcp [::1]:*: 503: no: 7 of 9" {
		t.Fatalf("got %q", got)
	}
}
