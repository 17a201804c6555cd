package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// TestBodiesArrivingInPiecesOnKeptAliveConnections: the server streams
// request bodies and, between requests, gives a kept-alive connection's
// buffers back to be shared (fasthttp's ReduceMemoryUsage). A body that
// arrives after its headers, chunked or with a length, must still be read
// from its own connection: every webhook here is signed over its own
// bytes, so a body read through another connection's buffer fails its
// signature. (fasthttp 1.51 gave the read buffer back while a streamed
// body was still to be read from it: the chunked bodies here hung.)
func TestBodiesArrivingInPiecesOnKeptAliveConnections(t *testing.T) {
	e := newEnv(t, nil)
	addr := e.listen(t)
	const conns, perConn = 24, 15
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- postInPieces(addr, c, perConn)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	readAll(t, e.brokers, topic, conns*perConn)
}

// postInPieces sends n signed webhooks on one connection, each one's
// headers first and its body in three parts a moment apart, chunked every
// other time; every answer must be 200.
func postInPieces(addr string, c, n int) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	for i := range n {
		body := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{`+
			`"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},`+
			`"contacts":[{"profile":{"name":"Conn %d"},"wa_id":"1650555%04d"}],"messages":[{"from":"1650555%04d","id":"wamid.pieces.%d.%d",`+
			`"timestamp":"1749416383","type":"text","text":{"body":"%s"}}]}}]}]}`, c, c, c, c, i, strings.Repeat(fmt.Sprint(c%10), 600+i)))
		chunked := i%2 == 1
		head := fmt.Sprintf("POST /webhook HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s: %s\r\n",
			addr, whatsapp.SignatureHeader, whatsapp.Sign([]byte(secret), body))
		if chunked {
			head += "Transfer-Encoding: chunked\r\n\r\n"
		} else {
			head += fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))
		}
		if _, err := io.WriteString(conn, head); err != nil {
			return err
		}
		third := len(body) / 3
		for _, part := range [][]byte{body[:third], body[third : 2*third], body[2*third:]} {
			time.Sleep(2 * time.Millisecond)
			if chunked {
				_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", len(part), part)
			} else {
				_, err = conn.Write(part)
			}
			if err != nil {
				return err
			}
		}
		if chunked {
			if _, err := io.WriteString(conn, "0\r\n\r\n"); err != nil {
				return err
			}
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return fmt.Errorf("connection %d, webhook %d (chunked %v): %v", c, i, chunked, err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("connection %d, webhook %d (chunked %v): %d %s", c, i, chunked, resp.StatusCode, short(string(answer)))
		}
	}
	return nil
}

// TestExpectContinueRefusedOnItsLength: a client that asks before sending
// its body (Expect: 100-continue) is answered 413 at once when the length
// it announces is over its route's limit, and never sends the body; one
// within the limit is told to go on (100 Continue) and is answered.
func TestExpectContinueRefusedOnItsLength(t *testing.T) {
	e := newEnv(t, nil) // BodyLimit 1 MiB, APIBodyLimit 64 KiB
	addr := e.listen(t)
	for _, c := range []struct{ path, length string }{{"/webhook", "5000000"}, {"/v1/agents", "70000"}} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: wagw\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nExpect: 100-continue\r\n\r\n",
			c.path, adminToken, c.length)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil {
			t.Fatalf("POST %s of %s bytes with Expect: 100-continue: %v", c.path, c.length, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || time.Since(start) > time.Second {
			t.Errorf("POST %s of %s bytes with Expect: 100-continue: %d after %v, want 413 at once",
				c.path, c.length, resp.StatusCode, time.Since(start).Round(time.Millisecond))
		}
	}

	body := corpus(t, "meta_text_message.json")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: wagw\r\nContent-Type: application/json\r\n%s: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		whatsapp.SignatureHeader, whatsapp.Sign([]byte(secret), body), len(body))
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("a webhook within the limit with Expect: 100-continue: %q %v, want 100 Continue", line, err)
	}
	if _, err := r.ReadString('\n'); err != nil { // the blank line after it
		t.Fatal(err)
	}
	conn.Write(body)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a webhook within the limit with Expect: 100-continue: %d, want 200", resp.StatusCode)
	}
}
