package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/wagwtest"
)

// wagwBinary is the wagw binary that TestMain builds once for the tests
// that need real processes they can kill (crash_test.go, fault_test.go).
var wagwBinary string

// TestMain builds ./cmd/wagw into a temporary directory, runs the tests and
// removes it.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wagw-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir for the wagw binary:", err)
		os.Exit(1)
	}
	wagwBinary = filepath.Join(dir, "wagw")
	build := exec.Command(goTool(), "build", "-o", wagwBinary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the wagw binary for the process tests:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// runLog is where run writes its logs in a test: kept, and shown when the
// test fails.
func runLog(t *testing.T) *wagwtest.SyncBuffer {
	t.Helper()
	logs := &wagwtest.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			out := logs.String()
			t.Logf("logs of run, %d lines, the last 40:\n%s", strings.Count(out, "\n"), tail(out, 40))
		}
	})
	return logs
}

// freeTCPAddr returns a 127.0.0.1 address with a port that was free a
// moment ago, for a process to listen on later. The port lies below the
// kernel's ephemeral range: a port from ":0" comes from that range, and
// between our Close and the process's bind any outgoing connection on the
// machine may take it as its source port ("address already in use").
//
// A port is handed out once per test binary: parallel tests pick their
// ports before their servers bind them, and two picks of the same free
// port made one server fail with "address already in use".
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	lo, hi := 10000, ephemeralPortLow()
	for range 200 {
		if hi-lo < 1000 {
			break
		}
		port := lo + rand.IntN(hi-lo)
		if !handedOut.take(port) {
			continue // given to another test already
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // in use: pick another
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// portSet is the ports freeTCPAddr has handed out.
type portSet struct {
	mu    sync.Mutex
	ports map[int]bool
}

var handedOut = &portSet{ports: map[int]bool{}}

// take marks port handed out; false when it was already.
func (s *portSet) take(port int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ports[port] {
		return false
	}
	s.ports[port] = true
	return true
}

// ephemeralPortLow is the first port of the kernel's ephemeral range
// (Linux: /proc/sys/net/ipv4/ip_local_port_range; 32768 elsewhere, the
// Linux default, which stays below the IANA range of 49152).
func ephemeralPortLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// newTestDB creates a fresh database for the test (not migrated), returns its
// URL and a connection to it, and drops it when the test ends. Cleanups
// registered later (servers, child processes) run before the drop.
func newTestDB(t *testing.T) (string, *sqlx.DB) {
	t.Helper()
	dsn := dbtest.URL(t)
	conn, err := db.Open(context.Background(), db.Config{URL: dsn, CreateDatabase: true, MaxOpenConns: 4})
	if err != nil {
		t.Fatalf("tests need a real Postgres: %v\n(start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start, or set WAGW_TEST_DATABASE_URL)", err)
	}
	t.Cleanup(func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := db.DropDatabase(ctx, dsn); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return dsn, conn
}

// step runs one step of a story as a subtest named as its behaviour. A
// step that stops (t.Fatal) ends the story: the later steps build on what
// it did not finish. Failed checks (t.Error) let the story go on. What
// must outlive a step (a broker, a process) is started on the parent t:
// a step's cleanups run when the step ends.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	finished := false
	t.Run(name, func(t *testing.T) {
		f(t)
		finished = true
	})
	if !finished {
		t.Fatalf("step %q stopped; the steps after it build on it", name)
	}
}

// sqlCount runs a single-value count query.
func sqlCount(t *testing.T, conn *sqlx.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.Get(&n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// Ports handed to child processes lie below the ephemeral range, where no
// outgoing connection takes them.
func TestFreeTCPAddrIsBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralPortLow()
	for range 50 {
		_, p, err := net.SplitHostPort(freeTCPAddr(t))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := strconv.Atoi(p); n >= low || n < 1024 {
			t.Fatalf("port %d, want one in [1024, %d)", n, low)
		}
	}
}
