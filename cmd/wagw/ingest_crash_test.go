package main

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wagw/wagw/whatsapp"

	"github.com/wagw/wagw/wagwtest"
)

// TestServeKill9KeepsAcknowledgedWebhooks: 8 senders post webhooks to
// `wagw serve` (the durable default: each answer waits for the group
// flush) and serve is killed with SIGKILL in the middle of the stream. A
// serve started again on the same data dir stores every webhook that was
// answered 200, once.
func TestServeKill9KeepsAcknowledgedWebhooks(t *testing.T) {
	t.Parallel()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	base := "http://" + env["WAGW_HTTP_ADDR"]
	ready := func(c *childProc) {
		wagwtest.WaitEvery(t, 30*time.Second, 20*time.Millisecond, "serve: GET /readyz = 200", func() (bool, string) {
			if c.exited() {
				t.Fatalf("serve exited before it was ready: %v\n%s", c.wait(), c.out)
			}
			resp, err := http.Get(base + "/readyz")
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, resp.Status
		})
	}
	first := startChild(t, "first serve", envList, "serve")
	ready(first)

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		stop  atomic.Bool
		wg    sync.WaitGroup
		sent  atomic.Int64
	)
	client := &http.Client{Timeout: 5 * time.Second}
	ts := time.Now().Add(-time.Minute).Unix()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				wa := fmt.Sprintf("3163%02d%06d", w, i%200)
				wamid := fmt.Sprintf("wamid.KILL.%d.%06d", w, i)
				body := notification("102290129340400", "109000000000002", "15550002222",
					arr{waContact(wa, "Kill "+wa)}, arr{textMessage(wa, wamid, ts, wamid)}, nil)
				req, _ := http.NewRequest(http.MethodPost, base+"/webhook", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign([]byte(e2eAppSecret), body))
				sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					time.Sleep(5 * time.Millisecond) // serve is down
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					acked[wamid] = true
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.wait()
	time.Sleep(200 * time.Millisecond) // senders see the dead server
	stop.Store(true)
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n < 10 {
		t.Fatalf("only %d of %d webhooks answered 200 before the kill", n, sent.Load())
	}
	stored := sqlCount(t, conn, `SELECT count(*) FROM messages`)
	t.Logf("killed serve with SIGKILL after %d webhooks answered 200 (of %d sent); %d stored at the kill", n, sent.Load(), stored)

	second := startChild(t, "second serve", envList, "serve")
	ready(second)
	wagwtest.WaitEvery(t, 60*time.Second, 50*time.Millisecond, "the restarted serve stores every acknowledged webhook", func() (bool, string) {
		if second.exited() {
			t.Fatalf("second serve exited: %v", second.wait())
		}
		var missing int
		var have []string
		if err := conn.Select(&have, `SELECT wamid FROM messages WHERE wamid LIKE 'wamid.KILL.%'`); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, w := range have {
			got[w] = true
		}
		for w := range acked {
			if !got[w] {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d acknowledged webhooks not stored", missing, n)
	})
	if d := sqlCount(t, conn, `SELECT count(*) - count(DISTINCT wamid) FROM messages`); d != 0 {
		t.Errorf("%d messages stored twice", d)
	}
}
