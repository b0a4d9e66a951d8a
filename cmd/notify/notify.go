// Package notify mails a failure notice when a sync pass fails, again only when the failure changes or
// repeat_after has passed, and one "recovered" notice when a pass succeeds after a failure. It takes its settings
// and the pass's outcome as plain values from cmd, and remembers what it mailed through a NoticeStore, so it knows
// nothing of how the configuration is read or how a pass runs.
package notify

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"tfsync/cmd/exitcode"
)

const (
	// stateOK is what the store remembers once the "recovered" mail has gone out; otherwise it holds the last
	// failure's FailureKey.
	stateOK = "ok"

	// defaultTimeout bounds a whole send (dial, STARTTLS, AUTH, the message), so a dead mail server costs a pass
	// at most this long.
	defaultTimeout = 10 * time.Second

	defaultRepeatAfter = 6 * time.Hour
)

// Settings are the [notify] section as the notifier needs it, plus what it must keep out of every mail.
type Settings struct {
	EmailTo  []string // empty disables notices
	SMTP     string   // host:port
	From     string
	Username string // empty: no AUTH
	// Password resolves the SMTP password when a mail is sent; nil when none is configured.
	Password    func() (string, error)
	StartTLS    string        // "auto" (default), "always" or "never"
	RepeatAfter time.Duration // the same failure is not mailed again before this; 0 means 6h
	// Secrets are the values that must never reach a mail or an error, should an error ever quote one: every
	// secret of the configuration. The SMTP password is added to them by the notifier itself.
	Secrets []string
	// Version is tfsync's version, sent in the User-Agent header.
	Version string
}

// NoticeStore remembers the last notice mailed: when, and the failure's fingerprint (or "ok" after a recovery).
// The state store keeps it, so a failure is mailed once however many passes repeat it.
type NoticeStore interface {
	LastNotice(ctx context.Context) (sent time.Time, state string, ok bool, err error)
	RecordNotice(ctx context.Context, sent time.Time, state string) error
}

// Notifier decides which outcomes to mail and mails them.
type Notifier struct {
	cfg      Settings
	now      func() time.Time
	hostname string
	// rootCAs verifies the mail server's certificate; nil means the system's roots. Tests trust their own CA.
	rootCAs *x509.CertPool
	timeout time.Duration
}

// New builds a notifier. now is the clock deciding when a notice is repeated; nil means time.Now.
func New(s Settings, now func() time.Time) *Notifier {
	if now == nil {
		now = time.Now
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown host"
	}
	return &Notifier{cfg: s, now: now, hostname: host, timeout: defaultTimeout}
}

func (n *Notifier) repeatAfter() time.Duration {
	if n.cfg.RepeatAfter > 0 {
		return n.cfg.RepeatAfter
	}
	return defaultRepeatAfter
}

// AfterRun decides whether the pass's outcome needs a notice, sends it and records it in the store. A notice
// that could not be sent is not recorded, so the next pass tries again. The error says what went wrong and what
// to check; callers log it and never let it change the exit code. Without email_to it does nothing.
func (n *Notifier) AfterRun(ctx context.Context, st NoticeStore, o Outcome) error {
	if n == nil || len(n.cfg.EmailTo) == 0 || o.LockHeld {
		return nil
	}
	failing := o.failing()
	if !failing && o.ExitCode != exitcode.OK {
		return nil
	}
	last, state, seen, err := st.LastNotice(ctx)
	if err != nil {
		return fmt.Errorf("read the last failure notice from the state store: %w", err)
	}

	now := n.now()
	var subject, body, newState string
	switch {
	case failing:
		newState = o.FailureKey()
		repeat := seen && state == newState
		if repeat && now.Sub(last) < n.repeatAfter() {
			return nil
		}
		var lastSent time.Time
		if repeat {
			lastSent = last
		}
		subject, body = n.failureMail(o, now, lastSent)
	case seen && state != stateOK:
		newState = stateOK
		subject, body = n.recoveredMail(o, now, last, state)
	default:
		return nil
	}

	if err := n.send(ctx, o.ConfigPath, now, subject, body); err != nil {
		return err
	}
	zerolog.Ctx(ctx).Info().Str("subject", subject).Strs("to", n.cfg.EmailTo).Msg("notice mailed")
	if err := st.RecordNotice(ctx, now, newState); err != nil {
		return fmt.Errorf("record the mailed notice in the state store (the next pass may mail it again): %w", err)
	}
	return nil
}

// scrub replaces any secret value with a marker. Errors are built never to carry one; this is the last guard.
func (n *Notifier) scrub(s string) string {
	for _, v := range n.secrets() {
		// Very short values would blank out ordinary words, and guessing them is trivial anyway.
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// secrets are the values scrub removes: the caller's and the SMTP password itself.
func (n *Notifier) secrets() []string {
	out := append([]string(nil), n.cfg.Secrets...)
	if n.cfg.Password != nil {
		if v, err := n.cfg.Password(); err == nil {
			out = append(out, v)
		}
	}
	return out
}
