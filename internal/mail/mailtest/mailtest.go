// Package mailtest runs a real SMTP server in-process for tests
// (github.com/emersion/go-smtp) and hands over the messages it receives.
package mailtest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is a mail received.
type Message struct {
	From, To      string
	Subject, Body string // the body decoded
	User          string // who authenticated, "" for nobody
	TLS           bool   // the message came over STARTTLS
}

// Server is an SMTP server on 127.0.0.1 that keeps what it receives.
type Server struct {
	// URL is the smtp:// URL to send through it, with the user and
	// password it accepts.
	URL string

	mu   sync.Mutex
	msgs []Message
	more chan struct{}
}

// Start runs a server until the test ends. It accepts AUTH PLAIN for
// user "sapient" and password "mail secret".
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, nil)
}

// StartTLS is Start with STARTTLS offered, under a certificate for
// 127.0.0.1 that the returned pool trusts; AUTH is accepted only after
// STARTTLS.
func StartTLS(t testing.TB) (*Server, *x509.CertPool) {
	t.Helper()
	// httptest makes a certificate for 127.0.0.1; borrow it.
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	cert, pool := ts.TLS.Certificates[0], x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	ts.Close()
	return start(t, &tls.Config{Certificates: []tls.Certificate{cert}}), pool
}

func start(t testing.TB, tlsConfig *tls.Config) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: "smtp://sapient:mail%20secret@" + l.Addr().String(), more: make(chan struct{}, 1)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, conn: c}, nil }))
	srv.Domain = "localhost"
	srv.TLSConfig = tlsConfig
	srv.AllowInsecureAuth = tlsConfig == nil
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Messages returns what arrived so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait returns the first message to the address to whose subject
// contains subject, waiting up to ten seconds for it (a mail may be sent
// in the background).
func (s *Server) Wait(t testing.TB, to, subject string) Message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for _, m := range s.Messages() {
			if strings.EqualFold(m.To, to) && strings.Contains(m.Subject, subject) {
				return m
			}
		}
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("no mail to %s arrived (got %d others)", to, len(s.Messages()))
		}
	}
}

var linkRE = regexp.MustCompile(`https?://\S+/link\?token=[A-Za-z0-9_\-%]+`)

// Link is the one-time link in a message, "" if there is none.
func (m Message) Link() string { return linkRE.FindString(m.Body) }

type session struct {
	s    *Server
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != "sapient" || pass != "mail secret" {
			return errors.New("invalid credentials")
		}
		x.user = user
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error { x.from = from; return nil }
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error   { x.to = append(x.to, to); return nil }
func (x *session) Reset()                                      { x.from, x.to = "", nil }
func (x *session) Logout() error                               { return nil }

func (x *session) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, body); err != nil {
		return err
	}
	_, overTLS := x.conn.TLSConnectionState()
	x.s.mu.Lock()
	for _, to := range x.to {
		x.s.msgs = append(x.s.msgs, Message{From: x.from, To: to, Subject: msg.Header.Get("Subject"), Body: b.String(), User: x.user, TLS: overTLS})
	}
	x.s.mu.Unlock()
	select {
	case x.s.more <- struct{}{}:
	default:
	}
	return nil
}
