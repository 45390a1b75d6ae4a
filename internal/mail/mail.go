// Package mail sends Sapient's few emails (invitation and password reset
// links) through an SMTP relay named by a URL, smtp://user:pass@host:port.
//
// It uses net/smtp: STARTTLS whenever the server offers it (RFC 3207), and
// AUTH PLAIN (RFC 4616) only over TLS or to a server on this machine, as
// net/smtp allows, so that a password never crosses a network in clear.
package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// MaxURLLen bounds the SMTP URL; a longer one is refused at start.
const MaxURLLen = 2048

// DefaultPort is the port of an SMTP URL that names none: message
// submission (RFC 6409).
const DefaultPort = "587"

// Mailer sends mail through one SMTP server.
type Mailer struct {
	addr     string // host:port
	host     string // for TLS and PLAIN
	user     string
	password string
	hasAuth  bool
	from     string // the bare address
	fromHdr  string // the From header value
	// Timeout bounds one delivery, from dial to QUIT; zero means 30s.
	Timeout time.Duration
	// TLS is the configuration of STARTTLS; nil verifies the server's
	// certificate for its host name with the system roots.
	TLS *tls.Config
}

// New checks an SMTP URL (smtp://[user[:pass]@]host[:port]) and a From
// address and returns a Mailer. An empty from takes sapient@ the host of
// issuer. Every problem is a clear error meant for the person starting
// Sapient; none repeats the password.
func New(rawURL, from, issuer string) (*Mailer, error) {
	if len(rawURL) > MaxURLLen {
		return nil, fmt.Errorf("mail: the SMTP URL is too long (%d bytes; at most %d)", len(rawURL), MaxURLLen)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("mail: the SMTP URL is malformed; write it as smtp://user:pass@host:port")
	}
	if u.Scheme != "smtp" {
		return nil, fmt.Errorf("mail: the SMTP URL must begin with smtp:// (not %q)", u.Scheme+"://")
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, errors.New("mail: the SMTP URL must be smtp://user:pass@host:port, with a host and nothing after the port")
	}
	port := u.Port()
	if port == "" {
		port = DefaultPort
	}
	if strings.ContainsAny(u.Hostname(), " \r\n\t") {
		return nil, errors.New("mail: the SMTP URL's host is not valid")
	}
	m := &Mailer{addr: net.JoinHostPort(u.Hostname(), port), host: u.Hostname()}
	if u.User != nil {
		m.user = u.User.Username()
		m.password, _ = u.User.Password()
		m.hasAuth = m.user != ""
	}
	if from == "" {
		iu, err := url.Parse(issuer)
		if err != nil || iu.Hostname() == "" {
			return nil, errors.New("mail: set a From address (--smtp-from): the issuer names no host")
		}
		from = "sapient@" + iu.Hostname()
	}
	a, err := mail.ParseAddress(from)
	if err != nil || strings.ContainsAny(from, "\r\n") {
		return nil, fmt.Errorf("mail: the From address %q is not a valid email address", from)
	}
	m.from, m.fromHdr = a.Address, a.String()
	return m, nil
}

// From is the address mail is sent from.
func (m *Mailer) From() string { return m.from }

// Message is one plain-text email to one person.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Send delivers msg. ctx and Timeout bound the whole conversation.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	to, err := mail.ParseAddress(msg.To)
	if err != nil || strings.ContainsAny(msg.To+msg.Subject, "\r\n") {
		return fmt.Errorf("mail: refusing to send to %q", msg.To)
	}
	timeout := m.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return fmt.Errorf("mail: connect to %s: %w", m.addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		return fmt.Errorf("mail: %s: %w", m.addr, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := m.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: m.host}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("mail: STARTTLS with %s: %w", m.addr, err)
		}
	}
	if m.hasAuth {
		if err := c.Auth(smtp.PlainAuth("", m.user, m.password, m.host)); err != nil {
			return fmt.Errorf("mail: authenticate to %s: %w", m.addr, err)
		}
	}
	if err := c.Mail(m.from); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("mail: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(m.compose(to, msg)); err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	return c.Quit()
}

// compose writes the message in RFC 5322 form, the body quoted-printable
// so that long lines (links) survive every relay.
func (m *Mailer) compose(to *mail.Address, msg Message) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", m.fromHdr)
	fmt.Fprintf(&b, "To: %s\r\n", to.String())
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", msg.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(msg.Body, "\n", "\r\n")))
	qp.Close()
	return b.Bytes()
}

// Purposes of a link mail.
const (
	Invite = "invite"
	Reset  = "reset"
)

// LinkMessage is the email that carries a one-time link for purpose
// (Invite or Reset) to the person at to.
func LinkMessage(purpose, to, link string) Message {
	if purpose == Invite {
		return Message{To: to, Subject: "You are invited to Sapient",
			Body: "You have been invited to Sapient, the API credentials console.\n\n" +
				"Open this link to choose your password. It works once, for 72 hours:\n\n" + link + "\n\n" +
				"If you did not expect this invitation, ignore this email.\n"}
	}
	return Message{To: to, Subject: "Reset your Sapient password",
		Body: "Someone asked to reset the password of your Sapient account.\n\n" +
			"Open this link to choose a new password. It works once, for 1 hour:\n\n" + link + "\n\n" +
			"If you did not ask for it, ignore this email: your password stays as it is.\n"}
}
