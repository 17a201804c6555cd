package gateway_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/gateway"
	"github.com/wagw/wagw/wagwtest"
)

// listen serves the app on a real TCP listener and returns its address.
func (e *env) listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.app.Listener(ln)
	t.Cleanup(func() { e.app.ShutdownWithTimeout(time.Second) })
	return ln.Addr().String()
}

// totalAlloc is the bytes allocated by this process so far (never
// decreases, whatever the garbage collector does).
func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// gzipBomb is a small gzip stream that inflates to n zero bytes.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for written := 0; written < n; written += len(zeros) {
		zw.Write(zeros)
	}
	zw.Close()
	return buf.Bytes()
}

// short cuts a response body for a failure message.
func short(body string) string {
	if len(body) > 300 {
		return body[:300] + "…"
	}
	return body
}

func errorCode(body string) string {
	m := regexp.MustCompile(`"code":"([a-z_]+)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestCompressedBodiesRefusedBeforeInflating: a gzip body that inflates to
// 64 MiB, unsigned, signed over the compressed bytes, or sent to the API,
// is answered 415 without being inflated.
func TestCompressedBodiesRefusedBeforeInflating(t *testing.T) {
	e := newEnv(t, nil)
	bomb := gzipBomb(t, 64<<20)
	for _, tc := range []struct {
		name, method, path, encoding string
		signed                       bool
	}{
		{"unsigned webhook", http.MethodPost, "/webhook", "gzip", false},
		{"signed webhook", http.MethodPost, "/webhook", "gzip", true},
		{"deflate webhook", http.MethodPost, "/webhook", "deflate", true},
		{"brotli webhook", http.MethodPost, "/webhook", "br", true},
		{"identity webhook", http.MethodPost, "/webhook", "identity", true},
		{"api", http.MethodPost, "/v1/agents", "gzip", false},
	} {
		req := httptest.NewRequest(tc.method, tc.path, bytes.NewReader(bomb))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", tc.encoding)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if tc.signed {
			req = signed(bomb, secret)
			req.Header.Set("Content-Encoding", tc.encoding)
		}
		before := totalAlloc()
		code, body := e.do(t, req)
		grown := totalAlloc() - before
		if code != http.StatusUnsupportedMediaType || errorCode(body) != "content_encoding_unsupported" {
			t.Errorf("%s: %d %s, want 415 content_encoding_unsupported", tc.name, code, short(body))
		}
		// The request itself (about 64 KiB) is read once; a fixed multiple
		// of it covers the buffers of the test client and server.
		if limit := uint64(20 * len(bomb)); grown > limit {
			t.Errorf("%s: answering a %d-byte request allocated %d bytes (more than %d)", tc.name, len(bomb), grown, limit)
		}
	}
	readAll(t, e.brokers, topic, 0)
	readAll(t, e.brokers, dlqTopic, 0)
}

// TestAPIBodyLimit: the API takes small bodies only, before it looks at
// the token.
func TestAPIBodyLimit(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.BodyLimit = 4 << 20 })
	addr := e.listen(t)
	// A declared length over the limit is refused from the headers: the
	// client sends them and the start of the body (the server reads 8 KiB
	// of a body before any handler runs), then reads. (A client
	// that goes on writing the whole body may find the connection closed
	// under it and get a reset instead of the answer: that is what an
	// http.Client did here now and then.)
	for _, token := range []string{"", adminToken} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		auth := ""
		if token != "" {
			auth = "Authorization: Bearer " + token + "\r\n"
		}
		fmt.Fprintf(conn, "POST /v1/agents HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"name\":\"%s",
			addr, auth, 70<<10, strings.Repeat("a", 9<<10))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || errorCode(string(b)) != "body_too_large" {
			t.Errorf("a 70 KiB API body (token %q): %d %s, want 413 body_too_large", token, resp.StatusCode, short(string(b)))
		}
	}
	// Chunked, without a declared length, too. The gateway answers once it
	// has read one byte past the limit and closes without reading the
	// rest, so the client sends just that much of a larger chunk, then
	// reads: a client still writing when the gateway closes gets a reset
	// (Go's client then reports the reset, not the answer).
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const limit = 64 << 10
	fmt.Fprintf(conn, "POST /v1/agents HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s",
		addr, adminToken, 2*limit, strings.Repeat("a", limit+1))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a chunked API body past 64 KiB: %d %s, want 413", resp.StatusCode, short(string(b)))
	}
}

// metricValue reads one sample of /metrics over a fresh connection; 0
// when the metric is not there.
func metricValue(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestStalledBodiesCostWhatTheySent opens connections that announce a
// 4 MiB webhook, send 16 KiB of it and stall. Each may cost the server a
// small fixed multiple of what it sent, not the 4 MiB it announced.
func TestStalledBodiesCostWhatTheySent(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.BodyLimit = 4 << 20 })
	addr := e.listen(t)
	const conns, sent = 32, 16 << 10
	limit := uint64(conns * 16 * sent) // 8 MiB in all; announced: 128 MiB
	runtime.GC()
	before := totalAlloc()
	for i := 0; i < conns; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /webhook HTTP/1.1\r\nHost: wagw\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 4<<20)
		c.Write(bytes.Repeat([]byte(" "), sent))
	}
	wagwtest.WaitEvery(t, 10*time.Second, 20*time.Millisecond, fmt.Sprintf("the server reads all %d stalled bodies", conns), func() (bool, string) {
		grown := totalAlloc() - before
		if grown > limit {
			t.Fatalf("%d connections that sent %d bytes each made the server allocate %d MiB (more than %d MiB)", conns, sent, grown>>20, limit>>20)
		}
		reading := metricValue(t, addr, "wagw_http_bodies_reading")
		if reading >= conns {
			t.Logf("%d stalled bodies being read; %d KiB allocated in all", conns, grown>>10)
			return true, ""
		}
		return false, fmt.Sprintf("the server reads %v of the %d stalled bodies (%d KiB allocated)", reading, conns, grown>>10)
	})
}

// TestStalledBodyTimesOut: a client that stops sending its body is
// answered and disconnected after the read timeout.
func TestStalledBodyTimesOut(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.ReadTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", e.listen(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /webhook HTTP/1.1\r\nHost: wagw\r\nContent-Length: 100000\r\n\r\n%s", bytes.Repeat([]byte(" "), 20000))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c) // until the server closes
	if err != nil {
		t.Fatalf("the server kept the stalled connection open: %v (read %q)", err, got)
	}
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 408")) {
		t.Errorf("stalled body answered %q, want 408", got)
	}
}

// TestLargeBodiesAreCapped: with one large-body slot, of two clients that
// each sent 100 KiB of an announced 4 MiB and stalled, one is answered 503
// with Retry-After at once.
func TestLargeBodiesAreCapped(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.BodyLimit = 4 << 20; c.LargeBodies = 1 })
	addr := e.listen(t)
	answers := make(chan string, 2)
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /webhook HTTP/1.1\r\nHost: wagw\r\nContent-Length: %d\r\n\r\n", 4<<20)
		c.Write(bytes.Repeat([]byte(" "), 100<<10))
		go func() {
			b, _ := io.ReadAll(c)
			answers <- string(b)
		}()
	}
	select {
	case got := <-answers:
		if !strings.HasPrefix(got, "HTTP/1.1 503") || !strings.Contains(got, "Retry-After: 1") || errorCode(got) != "busy" {
			t.Fatalf("second large body answered %q, want 503 busy with Retry-After", short(got))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("neither of two large bodies was refused with one slot")
	}
}
