package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
)

// privatePostgres is a Postgres server of the test's own (initdb in a
// temporary directory, on a free port), so that `make chaos` can crash and
// restart it without touching the server other tests use.
type privatePostgres struct {
	t         *testing.T
	bin, data string
	port      int
	url       string
	asUser    []string // runuser prefix when the tests run as root
}

// startPrivatePostgres initialises and starts a server; it is stopped and
// removed when the test ends.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatalf("make chaos restarts a Postgres of its own and needs initdb (/usr/lib/postgresql/*/bin): install the postgresql server package")
	}
	dir, err := os.MkdirTemp("", "wagw-chaos-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &privatePostgres{t: t, bin: filepath.Dir(bins[len(bins)-1]), data: filepath.Join(dir, "data")}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		// initdb refuses to run as root: run the server as postgres.
		pu, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, make chaos needs a postgres user for its own server: %v", err)
		}
		uid, _ := strconv.Atoi(pu.Uid)
		gid, _ := strconv.Atoi(pu.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	_, portStr, _ := strings.Cut(freeTCPAddr(t), ":")
	p.port, _ = strconv.Atoi(portStr)
	p.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
	p.run("initdb", "-D", p.data, "-U", "postgres", "-A", "trust", "--no-sync")
	p.start()
	t.Cleanup(func() { // already stopped when the test failed mid-outage: ignore
		argv := append(append([]string{}, p.asUser...), filepath.Join(p.bin, "pg_ctl"), "-D", p.data, "stop", "-m", "immediate")
		exec.Command(argv[0], argv[1:]...).Run()
	})
	return p
}

func (p *privatePostgres) run(tool string, args ...string) {
	p.t.Helper()
	argv := append(append(append([]string{}, p.asUser...), filepath.Join(p.bin, tool)), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

func (p *privatePostgres) pgctl(args ...string) {
	p.t.Helper()
	p.run("pg_ctl", append([]string{"-D", p.data, "-w", "-t", "30"}, args...)...)
}

// start starts the server and waits until it accepts connections.
func (p *privatePostgres) start() {
	p.t.Helper()
	p.pgctl("start", "-l", filepath.Join(filepath.Dir(p.data), "log"),
		"-o", fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off", p.port, filepath.Dir(p.data)))
	wagwtest.WaitEvery(p.t, 30*time.Second, 100*time.Millisecond, fmt.Sprintf("private Postgres on port %d ready", p.port), func() (bool, string) {
		out, err := exec.Command(filepath.Join(p.bin, "pg_isready"), "-h", "127.0.0.1", "-p", strconv.Itoa(p.port)).CombinedOutput()
		return err == nil, fmt.Sprintf("pg_isready: %v %s", err, bytes.TrimSpace(out))
	})
}

// stop crashes the server (immediate shutdown: no checkpoint, clients cut).
func (p *privatePostgres) stop() {
	p.t.Helper()
	p.pgctl("stop", "-m", "immediate")
}
