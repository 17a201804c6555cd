//go:build unix

package loadtest

import (
	"context"
	"syscall"
	"testing"
)

// TestSenderStaysUnderTheOpenFilesLimit: asked for more connections than
// the process may open files, the sender keeps fdReserve of them for the
// rest of the run (a run at 20,000 in flight under a limit of 20,000
// failed its dials with "too many open files").
func TestSenderStaysUnderTheOpenFilesLimit(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	lower := rl
	lower.Cur = 1000
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lower); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	s := newSender(context.Background(), RunConfig{URL: "http://127.0.0.1:1/webhook", Timeout: DefaultTimeout}, 5000)
	defer s.close()
	if got := s.client.MaxConnsPerHost; got != 1000-fdReserve {
		t.Fatalf("MaxConnsPerHost %d under a limit of 1,000 files; want %d", got, 1000-fdReserve)
	}
	s2 := newSender(context.Background(), RunConfig{URL: "http://127.0.0.1:1/webhook", Timeout: DefaultTimeout}, 64)
	defer s2.close()
	if got := s2.client.MaxConnsPerHost; got != 64 {
		t.Fatalf("MaxConnsPerHost %d; want the 64 asked for", got)
	}
}
