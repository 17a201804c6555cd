package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

// childProc is `wagw <args>` in a process of its own: the binary TestMain
// built, with the test's environment plus env.
type childProc struct {
	cmd  *exec.Cmd
	out  *wagwtest.SyncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, set before done is closed
}

func startChild(t *testing.T, name string, env []string, args ...string) *childProc {
	t.Helper()
	c := &childProc{out: &wagwtest.SyncBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(wagwBinary, args...)
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		if !c.exited() {
			c.cmd.Process.Kill()
		}
		<-c.done
		if t.Failed() {
			out := c.out.String()
			t.Logf("output of %s (pid %d), %d lines, the last 40:\n%s", name, c.cmd.Process.Pid, strings.Count(out, "\n"), tail(out, 40))
		}
	})
	return c
}

// wait waits for the process to exit and returns cmd.Wait's result.
func (c *childProc) wait() error {
	<-c.done
	return c.err
}

// exited reports whether the process has exited, without blocking.
func (c *childProc) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// committed returns the sum of the offsets the consumer group "wagw" has
// committed on topic: how many records it will not be given again.
func committed(t *testing.T, addr, topic string, partitions int) int64 {
	t.Helper()
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := (&kafka.Client{Addr: kafka.TCP(addr)}).OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: "wagw", Topics: map[string][]int{topic: parts}})
	if err != nil {
		t.Fatalf("fetch committed offsets: %v", err)
	}
	var sum int64
	for _, p := range resp.Topics[topic] {
		if p.CommittedOffset > 0 {
			sum += p.CommittedOffset
		}
	}
	return sum
}

// crashStory is a stream of 300 contacts × 10 messages on the embedded
// broker, interleaved across contacts, each body carrying the contact's
// sequence number, for `wagw consumer` processes on a migrated database.
type crashStory struct {
	dsn  string
	conn *sqlx.DB
	emb  *broker.Embedded
	env  []string
}

const (
	crashTopic                         = "wa.events"
	crashContacts, crashPerContact     = 300, 10
	crashTotal                         = crashContacts * crashPerContact
	crashProduceBatch                  = 500
	crashSessionTimeout, crashStallFor = "3s", "5s"
)

func crashWAMID(c, seq int) string { return fmt.Sprintf("wamid.CRASH.%03d.%02d", c, seq) }

// A `wagw consumer` killed with SIGKILL (no graceful commit) in the middle
// of a stream, and started again: a story of steps, each a subtest.
func TestConsumerCrash(t *testing.T) {
	t.Parallel()
	s := &crashStory{}
	s.dsn, s.conn = newTestDB(t)
	emb, err := broker.StartEmbedded(broker.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{crashTopic, crashTopic + ".dlq"}, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	s.emb = emb
	step(t, "wagw migrate applies the schema to a fresh database", s.migrate)
	step(t, "the stream is on the broker", s.produce)
	step(t, "a consumer killed mid-stream has stored part of it", s.killFirst)
	step(t, "a second consumer stores the rest, then stops in order on SIGTERM", s.runSecond)
	step(t, "every message is stored exactly once, in each contact's order", s.exactlyOnceInOrder)
}

func (s *crashStory) migrate(t *testing.T) {
	var out wagwtest.SyncBuffer
	if err := run(context.Background(), []string{"migrate"}, func(k string) string {
		if k == "DATABASE_URL" {
			return s.dsn
		}
		return ""
	}, &out, &out); err != nil {
		t.Fatalf("wagw migrate: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "applied") {
		t.Fatalf("wagw migrate applied nothing on a fresh database:\n%s", out.String())
	}
}

func (s *crashStory) produce(t *testing.T) {
	prod := broker.NewProducer(broker.ProducerConfig{Brokers: []string{s.emb.Addr()}, Topic: crashTopic})
	defer prod.Close()
	now := time.Now().UTC()
	batch := make([]event.Envelope, 0, crashProduceBatch)
	for seq := 1; seq <= crashPerContact; seq++ {
		for c := 0; c < crashContacts; c++ {
			wa := fmt.Sprintf("49170%06d", c)
			wamid := crashWAMID(c, seq)
			at := now.Add(time.Duration(seq-crashPerContact) * time.Minute)
			batch = append(batch, event.Envelope{
				Version: event.Version, ID: wamid, Kind: event.KindMessage, Field: "messages",
				WABAID: "102290129340500", PhoneNumberID: "109000000000005", DisplayPhoneNumber: "15550005555",
				Contact:    event.Contact{WaID: wa, Name: "Crash " + wa},
				OccurredAt: at, ReceivedAt: now,
				Message: &whatsapp.Message{ID: wamid, From: wa, Timestamp: fmt.Sprint(at.Unix()), Type: whatsapp.TypeText,
					Text: &whatsapp.Text{Body: fmt.Sprintf("seq=%d", seq)}},
			})
			if len(batch) == cap(batch) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := prod.Publish(ctx, batch)
				cancel()
				if err != nil {
					t.Fatalf("produce: %v", err)
				}
				batch = batch[:0]
			}
		}
	}
	if len(batch) > 0 {
		t.Fatal("message count must be a multiple of the produce batch")
	}
	s.env = []string{"KAFKA_BROKERS=" + s.emb.Addr(), "KAFKA_TOPIC=" + crashTopic, "DATABASE_URL=" + s.dsn,
		"WAGW_CONSUMER_WORKERS=2", "WAGW_LOG_LEVEL=info",
		// A killed member holds its partitions for the session timeout;
		// keep the test short, and let the stall watchdog act early.
		"WAGW_CONSUMER_SESSION_TIMEOUT=" + crashSessionTimeout, "WAGW_CONSUMER_STALL_TIMEOUT=" + crashStallFor}
}

func (s *crashStory) stored(t *testing.T) int {
	return sqlCount(t, s.conn, `SELECT count(*) FROM messages`)
}

func (s *crashStory) killFirst(t *testing.T) {
	first := startChild(t, "first consumer", s.env, "consumer")
	start := time.Now()
	var atKill int
	wagwtest.WaitEvery(t, 20*time.Second, 2*time.Millisecond, "first consumer stores part of the stream", func() (bool, string) {
		if first.exited() {
			t.Fatalf("first consumer exited on its own: %v\n%s", first.wait(), first.out)
		}
		atKill = s.stored(t)
		return atKill >= crashTotal/4, fmt.Sprintf("%d of %d stored", atKill, crashTotal)
	})
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL first consumer: %v", err)
	}
	first.wait()
	after := s.stored(t)
	t.Logf("killed the first consumer after %v: %d of %d messages stored (%d seen just before the kill), %d offsets committed",
		time.Since(start).Round(time.Millisecond), after, crashTotal, atKill, committed(t, s.emb.Addr(), crashTopic, 4))
	if after >= crashTotal {
		t.Fatalf("the first consumer stored all %d messages before it was killed: the crash happened after the stream, not in it", crashTotal)
	}
}

// runSecond starts a consumer again (it lives as long as this step).
func (s *crashStory) runSecond(t *testing.T) {
	second := startChild(t, "second consumer", s.env, "consumer")
	start := time.Now()
	wagwtest.WaitEvery(t, 40*time.Second, 20*time.Millisecond, "second consumer stores the rest of the stream", func() (bool, string) {
		if second.exited() {
			t.Fatalf("second consumer exited on its own: %v\n%s", second.wait(), second.out)
		}
		n := s.stored(t)
		return n >= crashTotal, fmt.Sprintf("%d of %d stored", n, crashTotal)
	})
	t.Logf("the second consumer finished the stream in %v", time.Since(start).Round(time.Millisecond))

	// An ordered stop of the consumer subcommand: SIGTERM, exit 0.
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.done:
		if err := second.err; err != nil {
			t.Errorf("second consumer exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("second consumer did not exit within 10 s of SIGTERM")
	}
}

// exactlyOnceInOrder: the table holds each produced wamid once, and
// nothing else, each contact's in sequence; one contact and one
// conversation per contact.
func (s *crashStory) exactlyOnceInOrder(t *testing.T) {
	var rows []struct {
		WaID  string `db:"wa_id"`
		WAMID string `db:"wamid"`
		Body  string `db:"body"`
	}
	if err := s.conn.Select(&rows, `SELECT c.wa_id, m.wamid, m.body FROM messages m JOIN contacts c ON c.id = m.contact_id ORDER BY m.id`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != crashTotal {
		t.Errorf("%d messages stored, want %d", len(rows), crashTotal)
	}
	seen := map[string]int{}
	next := map[string]int{} // per contact: the sequence number expected next
	for _, r := range rows {
		seen[r.WAMID]++
		if seen[r.WAMID] == 2 {
			t.Errorf("message %s stored twice", r.WAMID)
		}
		var seq int
		if _, err := fmt.Sscanf(r.Body, "seq=%d", &seq); err != nil {
			t.Fatalf("message %s: body %q", r.WAMID, r.Body)
		}
		if want := next[r.WaID] + 1; seq != want {
			t.Errorf("contact %s: message seq=%d stored where seq=%d was due (order broken or a message lost)", r.WaID, seq, want)
		}
		next[r.WaID] = seq
	}
	for c := 0; c < crashContacts; c++ {
		for seq := 1; seq <= crashPerContact; seq++ {
			if w := crashWAMID(c, seq); seen[w] == 0 {
				t.Errorf("message %s was produced but never stored", w)
			}
		}
	}
	if len(seen) != crashTotal {
		t.Errorf("%d distinct wamids stored, want %d", len(seen), crashTotal)
	}
	if n := sqlCount(t, s.conn, `SELECT count(*) FROM contacts`); n != crashContacts {
		t.Errorf("%d contacts stored, want %d", n, crashContacts)
	}
	if n := sqlCount(t, s.conn, `SELECT count(*) FROM conversations`); n != crashContacts {
		t.Errorf("%d conversations stored, want one per contact (%d)", n, crashContacts)
	}
}
