// Package webhooktest runs, for tests, a webhook receiver that verifies
// Sapient's deliveries with the standardwebhooks library (Node), and the
// server options that make deliveries retry within milliseconds.
package webhooktest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"sapient.dev/sapient/internal/server"
	"sapient.dev/sapient/internal/store"
	"sapient.dev/sapient/internal/webhook"
)

// RequireInterop turns a missing Node or standardwebhooks package into a
// failure (CI) instead of a skip.
const RequireInterop = "SAPIENT_TEST_REQUIRE_INTEROP"

// FastRetries makes the queue retry within milliseconds (River makes a
// retry due within its scheduler interval available at once) and never
// give up during a test, and lets it deliver to a receiver on loopback.
func FastRetries(c *server.Config) {
	c.Webhooks = webhook.Options{AllowPrivate: true, RetryBase: 5 * time.Millisecond, RetryCap: 40 * time.Millisecond,
		MaxAttempts: 100_000, PollInterval: 20 * time.Millisecond}
}

// Receiver is the Node program interop/node/webhook-receiver.mjs, which
// verifies every delivery with the standardwebhooks library.
type Receiver struct {
	cmd    *exec.Cmd
	lines  chan Received
	port   int
	secret string
}

// Received is one line the receiver printed: a verified delivery, a
// refused one, or that it listens.
type Received struct {
	OK        bool    `json:"ok"`
	Error     string  `json:"error"`
	ID        string  `json:"id"`
	Listening int     `json:"listening"`
	Event     Payload `json:"event"`
	Raw       string  `json:"-"`
}

// Payload is the body as the receiver's library parsed it.
type Payload struct {
	Type      string         `json:"type"`
	Timestamp string         `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// NodeDir is interop/node, where the receiver lives; it skips the test
// (fails it with SAPIENT_TEST_REQUIRE_INTEROP=1) when Node or the
// standardwebhooks package is missing.
func NodeDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "interop", "node")
	missing := func(why string) {
		if os.Getenv(RequireInterop) == "1" {
			t.Fatalf("%s, but %s=1", why, RequireInterop)
		}
		t.Skip(why)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json")); err != nil {
		missing("Node package standardwebhooks is not installed; run npm ci --prefix interop/node")
	}
	return dir
}

// FreePort returns a loopback port nothing listens on now.
func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartReceiver starts the receiver on port and waits until it listens.
func StartReceiver(t *testing.T, dir string, port int, secret string) *Receiver {
	t.Helper()
	cmd := exec.Command("node", "webhook-receiver.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret, fmt.Sprintf("PORT=%d", port))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &Receiver{cmd: cmd, lines: make(chan Received, 100), port: port, secret: secret}
	t.Cleanup(r.Stop)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m Received
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = Received{Error: "not JSON: " + sc.Text()}
			}
			m.Raw = sc.Text()
			r.lines <- m
		}
		close(r.lines)
	}()
	select {
	case m, ok := <-r.lines:
		if !ok || m.Listening != port {
			t.Fatalf("receiver did not start: %+v", m)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("receiver did not start within 30s")
	}
	return r
}

// Stop ends the receiver as a crash would.
func (r *Receiver) Stop() {
	if r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// Next waits for the next verified delivery of type typ, failing on any
// delivery the library refused.
func (r *Receiver) Next(t *testing.T, typ string) Received {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-r.lines:
			if !ok {
				t.Fatalf("receiver exited while waiting for %s", typ)
			}
			if !m.OK {
				t.Fatalf("standardwebhooks refused a delivery: %s", m.Raw)
			}
			if m.Event.Type == typ {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s delivery within 30s", typ)
		}
	}
}

// WaitDelivery polls the store until a delivery of the endpoint matches.
func WaitDelivery(t *testing.T, s store.Store, endpointID string, match func(store.WebhookDelivery) bool) store.WebhookDelivery {
	t.Helper()
	for range 3000 {
		list, err := s.ListWebhookDeliveries(t.Context(), endpointID, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			if match(d) {
				return d
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no matching delivery within 30s")
	return store.WebhookDelivery{}
}
