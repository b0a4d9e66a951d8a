package notify

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"

	mail "github.com/wneessen/go-mail"
)

// sendError is a send failure whose text has been scrubbed of secrets; it still unwraps to the cause.
type sendError struct {
	msg string
	err error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.err }

// send mails one notice to every email_to address.
func (n *Notifier) send(ctx context.Context, configPath string, date time.Time, subject, body string) error {
	host, portText, err := net.SplitHostPort(n.cfg.SMTP)
	if err != nil {
		return fmt.Errorf("[notify] smtp = %q is not host:port: write it like \"smtp.example.com:587\"", n.cfg.SMTP)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("[notify] smtp = %q has no valid port: write it like \"smtp.example.com:587\"", n.cfg.SMTP)
	}
	policy := mail.TLSOpportunistic
	switch n.cfg.StartTLS {
	case "always":
		policy = mail.TLSMandatory
	case "never":
		policy = mail.NoTLS
	}

	// The deadline is real time, not the injected clock: it bounds a network conversation. go-mail extends its
	// connection deadline before each step, so the connection clamps every deadline to this one.
	timeout := n.timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := c.SetDeadline(deadline); err != nil {
			c.Close()
			return nil, err
		}
		return &clampedConn{Conn: c, limit: deadline}, nil
	}
	opts := []mail.Option{
		mail.WithPort(port),
		mail.WithTimeout(timeout),
		mail.WithTLSPolicy(policy),
		mail.WithTLSConfig(&tls.Config{ServerName: host, RootCAs: n.rootCAs, MinVersion: tls.VersionTLS12}),
		mail.WithDialContextFunc(dial),
	}
	if n.cfg.Username != "" {
		password := ""
		if n.cfg.Password != nil {
			if password, err = n.cfg.Password(); err != nil {
				return fmt.Errorf("mail the notice: %w", err)
			}
		}
		// Auto-discovery picks the strongest mechanism the server offers and refuses PLAIN and LOGIN on a
		// connection without TLS, so the password never crosses the network in the clear.
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(n.cfg.Username), mail.WithPassword(password))
	}
	client, err := mail.NewClient(host, opts...)
	if err != nil {
		return fmt.Errorf("set up the mail client for [notify] smtp = %q: %w", n.cfg.SMTP, err)
	}

	m := mail.NewMsg()
	if err := m.From(n.cfg.From); err != nil {
		return fmt.Errorf("[notify] from = %q: %w", n.cfg.From, err)
	}
	if err := m.To(n.cfg.EmailTo...); err != nil {
		return fmt.Errorf("[notify] email_to: %w", err)
	}
	m.Subject(subject)
	m.SetDateWithValue(date)
	m.SetMessageID()
	m.SetUserAgent("tfsync " + n.cfg.Version)
	// Auto-Submitted (RFC 3834) keeps out-of-office replies away from the sender address.
	m.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	m.SetBodyString(mail.TypeTextPlain, body)

	if err := client.DialAndSendWithContext(ctx, m); err != nil {
		hint := "check [notify] smtp, starttls, username and password" + in(configPath) + " and that this computer may reach the mail server"
		if port == 465 {
			hint = "port 465 expects TLS from the first byte, which tfsync does not speak: use the server's submission port 587 (STARTTLS) or 25"
		}
		return &sendError{msg: n.scrub(fmt.Sprintf("mail the notice through %s: %v: %s", n.cfg.SMTP, err, hint)), err: err}
	}
	return nil
}

// clampedConn keeps a connection's deadlines at or before limit, whatever its user asks for.
type clampedConn struct {
	net.Conn
	limit time.Time
}

func (c *clampedConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(c.limit) {
		return c.limit
	}
	return t
}

func (c *clampedConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *clampedConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *clampedConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.clamp(t)) }
