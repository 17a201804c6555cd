package loadtest

import (
	"net"
	"testing"
	"time"
)

// TestConnSetBoundsOpenSockets: with every slot taken, a dial waits until
// a connection's socket is closed, and fails as a timeout when none is
// within the dialer's timeout; a connection closed twice frees one slot.
func TestConnSetBoundsOpenSockets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	set := &connSet{open: map[*trackedConn]struct{}{}, slots: make(chan struct{}, 2),
		dialer: net.Dialer{Timeout: 300 * time.Millisecond}}
	addr := ln.Addr().String()
	a, err := set.dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.dial(addr); err != nil {
		t.Fatal(err)
	}
	third := make(chan error, 1)
	go func() {
		_, err := set.dial(addr) // kept open
		third <- err
	}()
	select {
	case err := <-third:
		t.Fatalf("a third connection with 2 slots was dialled at once (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	a.Close()
	a.Close()
	if err := <-third; err != nil {
		t.Fatalf("the third dial after a close: %v", err)
	}
	if _, err := set.dial(addr); classifyError(err) != "timeout" {
		t.Fatalf("a dial with every slot taken for the dialer's timeout: %v, want a timeout", err)
	}
	set.closeAll()
	if _, err := set.dial(addr); err == nil {
		t.Fatal("a dial after closeAll succeeded")
	}
}
