package mail_test

import (
	"crypto/tls"
	"strings"
	"testing"

	"sapient.dev/sapient/internal/mail"
	"sapient.dev/sapient/internal/mail/mailtest"
)

// TestNew: a malformed or huge SMTP URL or From address is a clear error
// at start, which never repeats the password; a good one is accepted.
func TestNew(t *testing.T) {
	for _, tt := range []struct{ name, url, from, want string }{
		{"huge", "smtp://h:25/" + strings.Repeat("a", mail.MaxURLLen), "", "too long"},
		{"malformed", "smtp://u:p@[::1:25", "", "malformed"},
		{"scheme", "http://host:25", "", "must begin with smtp://"},
		{"no host", "smtp://:25", "", "with a host"},
		{"path", "smtp://host:25/x?y=1", "", "nothing after the port"},
		{"from", "smtp://host:25", "not an address\r\nBcc: x@y", "not a valid email"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mail.New(tt.url, tt.from, "http://localhost:8080")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%q) = %v, want an error saying %q", tt.url, err, tt.want)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error repeats the password: %v", err)
			}
		})
	}
	m, err := mail.New("smtp://u:secretpw@mail.example.com", "", "https://auth.example.com")
	if err != nil || m.From() != "sapient@auth.example.com" {
		t.Errorf("New(good) = %v, %v; want From sapient@auth.example.com", m, err)
	}
}

// TestSend delivers a link mail to a real SMTP server, authenticated.
func TestSend(t *testing.T) {
	srv := mailtest.Start(t)
	m, err := mail.New(srv.URL, "", "http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	link := "http://localhost:8080/link?token=" + strings.Repeat("x", 43)
	if err := m.Send(t.Context(), mail.LinkMessage(mail.Reset, "ann@example.com", link)); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, "ann@example.com", "Reset")
	if got.Link() != link || got.User != "sapient" || got.From != "sapient@localhost" || !strings.Contains(got.Subject, "Reset") {
		t.Errorf("received %+v, link %q", got, got.Link())
	}
	if err := m.Send(t.Context(), mail.Message{To: "a@b.test\r\nBcc: c@d.test", Subject: "x"}); err == nil {
		t.Error("a header injection in To was sent")
	}
}

// TestSendSTARTTLS: when the server offers STARTTLS the mail goes over
// TLS, with the server's certificate checked, and only then authenticates.
func TestSendSTARTTLS(t *testing.T) {
	srv, roots := mailtest.StartTLS(t)
	m, err := mail.New(srv.URL, "", "http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	m.TLS = &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	if err := m.Send(t.Context(), mail.LinkMessage(mail.Invite, "bob@example.com", "http://localhost:8080/link?token=abc")); err != nil {
		t.Fatal(err)
	}
	if got := srv.Wait(t, "bob@example.com", "invited"); !got.TLS || got.User != "sapient" {
		t.Errorf("received %+v, want over TLS and authenticated", got)
	}
	// A certificate that is not trusted stops the mail.
	m.TLS = &tls.Config{ServerName: "127.0.0.1"}
	if err := m.Send(t.Context(), mail.LinkMessage(mail.Invite, "eve@example.com", "http://x/link?token=abc")); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("untrusted certificate: %v, want a STARTTLS error", err)
	}
}
