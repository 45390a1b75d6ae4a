package oauth_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"sapient.dev/sapient/internal/server/servertest"
	"sapient.dev/sapient/internal/store/storetest"
)

// TestLargeBodyWithExpectContinue: a token request of 1 MiB sent with
// "Expect: 100-continue", as curl sends large bodies, is answered 413 with
// an RFC 6749 error instead of "100 Continue" followed by a connection
// closed under the body; the client never has to send the body.
func TestLargeBodyWithExpectContinue(t *testing.T) {
	env := servertest.New(t, storetest.Backends()[0])
	const size = 1 << 20
	for _, path := range []string{"/connect/token", "/connect/introspect", "/connect/revocation"} {
		t.Run(path+" raw", func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(env.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second)) // a hung server fails the test rather than hanging it
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: sapient.test\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
				"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", path, size)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var got tokenReply
			if resp.StatusCode != http.StatusRequestEntityTooLarge || json.Unmarshal(body, &got) != nil || got.Error != "invalid_request" ||
				!strings.Contains(got.ErrorDescription, "limit") || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("got %s %q, want 413 with an invalid_request error", resp.Status, body)
			}
		})
	}
	t.Run("net/http client", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/connect/token", bytes.NewReader(bytes.Repeat([]byte("a"), size)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Expect", "100-continue")
		client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("the client saw no answer: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
	})
	t.Run("no Content-Length", func(t *testing.T) {
		// Chunked: the size is known only by reading, so the body is read
		// up to the limit and the answer names the problem.
		body := io.MultiReader(strings.NewReader("grant_type=client_credentials&pad="), bytes.NewReader(bytes.Repeat([]byte("a"), 20<<10)))
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/connect/token", body)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("the client saw no answer: %v", err)
		}
		defer resp.Body.Close()
		var got tokenReply
		json.NewDecoder(resp.Body).Decode(&got)
		if resp.StatusCode/100 != 4 || got.Error != "invalid_request" || !strings.Contains(got.ErrorDescription, "large") {
			t.Fatalf("got %d %+v, want an invalid_request error about the size", resp.StatusCode, got)
		}
	})
}
