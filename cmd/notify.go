package cmd

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	mail "github.com/wneessen/go-mail"

	"tfsync/cmd/config"
	"tfsync/exchange"
	calsync "tfsync/sync"
	"tfsync/tf"
)

const (
	// notifyKey is the one row in the store's notices table that remembers the last mail sent: its state is a
	// failure's fingerprint, or notifyStateOK once the "recovered" mail has gone out.
	notifyKey     = "sync"
	notifyStateOK = "ok"

	// notifyTimeout bounds a whole send (dial, STARTTLS, AUTH, the message), so a dead mail server costs a pass
	// at most this long.
	notifyTimeout = 10 * time.Second

	// A notice lists at most this many mailboxes and this many problems per mailbox; the log has the rest.
	notifyMaxMailboxes = 20
	notifyMaxProblems  = 5
)

// RunOutcome is what the notifier needs to know about a finished pass.
type RunOutcome struct {
	ExitCode int
	RunID    string
	Error    string // the pass's error text; empty when it succeeded
	// Class names what kind of error ended the pass ("auth", "partial", "tf", "store-corrupt", ...); it is part of
	// the failure's fingerprint, unlike the error text, which may carry counts and ids that change every pass.
	Class      string
	Mailboxes  []MailboxFailure // sorted by mailbox
	Held       int              // deletes held back by max_delete_percent in the whole pass
	ConfigPath string
	// LockHeld is set when the pass left because another pass held the run lock: exit 0, yet it says nothing
	// about whether syncing works, so it is neither a failure nor a recovery.
	LockHeld bool
	// Warnings are things that will fail soon, such as a credential about to expire; the failure mail lists them.
	Warnings []string
}

// MailboxFailure is what went wrong in one mailbox: a short list of problems, each naming its fix.
type MailboxFailure struct {
	Mailbox  string
	Problems []string // at most notifyMaxProblems
	More     int      // problems left out of Problems
	Held     int      // deletes held back in this mailbox
}

// OutcomeOf summarises a pass for the notifier. r may be nil when the pass ended before it had a report.
func OutcomeOf(runID, configPath string, r *calsync.Report, runErr error) RunOutcome {
	o := RunOutcome{
		ExitCode:   ExitCode(runErr),
		RunID:      runID,
		Error:      errString(runErr),
		Class:      errorClass(runErr),
		ConfigPath: configPath,
		LockHeld:   errors.Is(runErr, calsync.ErrLockHeld) && !errors.Is(runErr, calsync.ErrLockStale),
	}
	if r == nil {
		return o
	}
	if o.RunID == "" {
		o.RunID = r.RunID
	}
	o.Held = r.Held
	by := map[string]*MailboxFailure{}
	get := func(mb string) *MailboxFailure {
		if mb == "" {
			mb = "(no mailbox)"
		}
		if m, ok := by[mb]; ok {
			return m
		}
		m := &MailboxFailure{Mailbox: mb}
		by[mb] = m
		return m
	}
	add := func(m *MailboxFailure, problem string) {
		if len(m.Problems) < notifyMaxProblems {
			m.Problems = append(m.Problems, problem)
		} else {
			m.More++
		}
	}
	for _, s := range r.Mailboxes {
		if s.ReadError != "" {
			add(get(s.Mailbox), s.ReadError)
		}
		if s.Held > 0 {
			get(s.Mailbox).Held = s.Held
		}
	}
	for _, res := range r.Results {
		if res.Err == nil && res.Error == "" {
			continue
		}
		text := res.Error
		if text == "" {
			text = res.Err.Error()
		}
		var ie *calsync.ItemError
		if errors.As(res.Err, &ie) && ie.Retryable() {
			text += " (temporary: the next pass tries again)"
		}
		add(get(res.Mailbox), fmt.Sprintf("%s %s: %s", res.Kind, res.BookingID, text))
	}
	// New bad TF rows belong to no mailbox; they are named once, in the mail of the pass that first met them.
	for _, p := range r.Problems {
		if p.Mailbox == "" {
			add(get("TF"), p.Reason)
		}
	}
	for _, m := range by {
		o.Mailboxes = append(o.Mailboxes, *m)
	}
	sort.Slice(o.Mailboxes, func(i, j int) bool { return o.Mailboxes[i].Mailbox < o.Mailboxes[j].Mailbox })
	return o
}

// errorClass names the kind of error that ended a pass. The checks go from the most specific cause to the
// summary sentinels, since ErrAllMailboxesFailed wraps the backend's own error.
func errorClass(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, calsync.ErrLockStale):
		return "lock-stale"
	case errors.Is(err, calsync.ErrLockHeld):
		return "lock-held"
	case errors.Is(err, exchange.ErrAuth):
		return "auth"
	case errors.Is(err, exchange.ErrAccessDenied):
		return "access-denied"
	case errors.Is(err, exchange.ErrMailboxNotFound):
		return "mailbox-not-found"
	case errors.Is(err, exchange.ErrUnavailable), errors.Is(err, exchange.ErrThrottled):
		return "unreachable"
	case errors.Is(err, calsync.ErrAllMailboxesFailed):
		return "no-calendar"
	case errors.Is(err, calsync.ErrStoreCorrupt):
		return "store-corrupt"
	case errors.Is(err, calsync.ErrStoreTooNew):
		return "store-too-new"
	case errors.Is(err, calsync.ErrTFRead), errors.Is(err, tf.ErrSchema):
		return "tf"
	case errors.Is(err, calsync.ErrPartial):
		return "partial"
	case errors.Is(err, calsync.ErrDeletesHeld):
		return "deletes-held"
	}
	return "other"
}

// failing reports whether the outcome is a failure state worth a notice. Exit 2 (configuration) is not: the
// [notify] section itself may be what is broken, and whoever edited the file sees the error at once.
func (o RunOutcome) failing() bool {
	switch o.ExitCode {
	case ExitFailure, ExitAuth, ExitPartial, ExitHeld, ExitLockStale:
		return true
	}
	return false
}

// FailureKey is a stable fingerprint of what failed: the exit code, the error class and the failing mailboxes,
// never run ids, times or counts, so the same failure repeating every few minutes has the same key.
func (o RunOutcome) FailureKey() string {
	names := make([]string, 0, len(o.Mailboxes))
	for _, m := range o.Mailboxes {
		names = append(names, m.Mailbox)
	}
	sort.Strings(names)
	sum := sha256.Sum256([]byte(strings.Join(names, "\n")))
	return fmt.Sprintf("exit=%d class=%s mailboxes=%d sum=%x", o.ExitCode, o.Class, len(names), sum[:6])
}

// Notifier mails a failure notice when a pass fails or turns partial, again only when the failure changes or
// repeat_after has passed, and one "recovered" notice when a pass succeeds after a failure.
type Notifier struct {
	cfg      config.Notify
	now      func() time.Time
	hostname string
	// rootCAs verifies the mail server's certificate; nil means the system's roots. Tests trust their own CA.
	rootCAs *x509.CertPool
	timeout time.Duration
	// redact holds secret values that must never reach a mail or a log line, should an error ever quote one.
	redact []string
}

// NewNotifier builds a notifier for the [notify] section. now is the clock deciding when a notice is repeated;
// nil means time.Now.
func NewNotifier(cfg config.Notify, now func() time.Time) *Notifier {
	if now == nil {
		now = time.Now
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown host"
	}
	return &Notifier{cfg: cfg, now: now, hostname: host, timeout: notifyTimeout}
}

func (n *Notifier) repeatAfter() time.Duration {
	if n.cfg.RepeatAfter > 0 {
		return n.cfg.RepeatAfter
	}
	return 6 * time.Hour
}

// AfterRun decides whether the pass's outcome needs a notice, sends it and records it in the store. A notice
// that could not be sent is not recorded, so the next pass tries again. The error says what went wrong and what
// to check; callers log it and never let it change the exit code. Without email_to it does nothing.
func (n *Notifier) AfterRun(ctx context.Context, st *calsync.Store, o RunOutcome) error {
	if n == nil || len(n.cfg.EmailTo) == 0 || o.LockHeld {
		return nil
	}
	failing := o.failing()
	if !failing && o.ExitCode != ExitOK {
		return nil
	}
	var (
		last  time.Time
		state string
		seen  bool
	)
	err := st.Update(ctx, func(tx *calsync.StoreTx) error {
		var err error
		last, state, seen, err = tx.GetNotice(notifyKey)
		return err
	})
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
	case seen && state != notifyStateOK:
		newState = notifyStateOK
		subject, body = n.recoveredMail(o, now, last, state)
	default:
		return nil
	}

	if err := n.send(ctx, o.ConfigPath, now, subject, body); err != nil {
		return err
	}
	zerolog.Ctx(ctx).Info().Str("subject", subject).Strs("to", n.cfg.EmailTo).Msg("notice mailed")
	err = st.Update(ctx, func(tx *calsync.StoreTx) error { return tx.PutNotice(notifyKey, now, newState) })
	if err != nil {
		return fmt.Errorf("record the mailed notice in the state store (the next pass may mail it again): %w", err)
	}
	return nil
}

// notifyExitMeaning is the README's exit-code table, as a notice explains it.
var notifyExitMeaning = map[int]string{
	ExitOK:        "success",
	ExitFailure:   "the pass failed: TF unreadable, state store damaged, or an unexpected error",
	ExitUsage:     "usage or configuration error",
	ExitAuth:      "authentication or connection failure: no calendar could be reached",
	ExitPartial:   "partial: some mailboxes or bookings failed, the rest synced",
	ExitHeld:      "deletes held back by max_delete_percent",
	ExitLockStale: "another pass has held the run lock for over an hour",
}

func (n *Notifier) failureMail(o RunOutcome, now, lastSent time.Time) (subject, body string) {
	failed := 0
	for _, m := range o.Mailboxes {
		if len(m.Problems) > 0 {
			failed++
		}
	}
	switch {
	case o.ExitCode == ExitPartial && failed > 0:
		subject = fmt.Sprintf("tfsync: sync partly failed: %s on %s", notifyPlural(failed, "mailbox", "mailboxes"), n.hostname)
	case o.ExitCode == ExitPartial:
		subject = "tfsync: sync partly failed on " + n.hostname
	case o.ExitCode == ExitHeld:
		subject = "tfsync: deletes held back on " + n.hostname
	default:
		subject = fmt.Sprintf("tfsync: sync failed (exit %d) on %s", o.ExitCode, n.hostname)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "The tfsync sync pass on %s ended with exit code %d: %s.\n", n.hostname, o.ExitCode, notifyExitMeaning[o.ExitCode])
	if !lastSent.IsZero() {
		fmt.Fprintf(&b, "The same failure was mailed at %s and is still going on.\n", notifyTime(lastSent))
	}

	b.WriteString("\nWhat failed:\n")
	// A partial pass's or a hold's own error only counts what the mailbox list below shows in full.
	listed := false
	if o.Error != "" && (len(o.Mailboxes) == 0 || (o.Class != "partial" && o.Class != "deletes-held")) {
		fmt.Fprintf(&b, "  %s\n", o.Error)
		listed = true
	}
	for i, m := range o.Mailboxes {
		if listed {
			b.WriteString("\n")
		}
		listed = true
		if i == notifyMaxMailboxes {
			more := len(o.Mailboxes) - i
			fmt.Fprintf(&b, "  ... and %d more %s (see the log of run %s)\n", more, notifyNoun(more, "mailbox", "mailboxes"), o.RunID)
			break
		}
		fmt.Fprintf(&b, "  %s\n", m.Mailbox)
		for _, p := range m.Problems {
			fmt.Fprintf(&b, "    - %s\n", p)
		}
		if m.More > 0 {
			fmt.Fprintf(&b, "    - ... and %d more (see the log of run %s)\n", m.More, o.RunID)
		}
		if m.Held > 0 {
			fmt.Fprintf(&b, "    - %s held back by max_delete_percent\n", notifyPlural(m.Held, "delete", "deletes"))
		}
	}

	b.WriteString("\nWhat to do:\n")
	for _, step := range n.nextSteps(o) {
		fmt.Fprintf(&b, "  - %s\n", step)
	}
	if len(o.Warnings) > 0 {
		b.WriteString("\nAlso:\n")
		for _, w := range o.Warnings {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
	}

	n.footer(&b, o, now)
	b.WriteString("\nExit codes: 0 success (also when another pass holds the lock), 1 the pass failed, 2 configuration error, " +
		"3 no calendar could be reached, 4 partial, 5 deletes held back, 6 run lock held for over an hour.\n")
	fmt.Fprintf(&b, "\ntfsync mails a failure once, again every %s while it lasts, and once more when a pass succeeds again ([notify] repeat_after%s).\n",
		notifyDuration(n.repeatAfter()), notifyIn(o.ConfigPath))
	return n.scrub(subject), n.scrub(b.String())
}

func (n *Notifier) recoveredMail(o RunOutcome, now, lastSent time.Time, lastState string) (subject, body string) {
	subject = "tfsync: recovered on " + n.hostname
	var b strings.Builder
	fmt.Fprintf(&b, "The tfsync sync pass on %s succeeded again.\n\n", n.hostname)
	var code int
	if _, err := fmt.Sscanf(lastState, "exit=%d", &code); err == nil {
		fmt.Fprintf(&b, "The failure mailed at %s (exit code %d: %s) is over; it needs nothing more.\n",
			notifyTime(lastSent), code, notifyExitMeaning[code])
	} else {
		fmt.Fprintf(&b, "The failure mailed at %s is over; it needs nothing more.\n", notifyTime(lastSent))
	}
	n.footer(&b, o, now)
	return subject, n.scrub(b.String())
}

func (n *Notifier) footer(b *strings.Builder, o RunOutcome, now time.Time) {
	b.WriteString("\n")
	fmt.Fprintf(b, "Run id:  %s\n", o.RunID)
	fmt.Fprintf(b, "Time:    %s\n", notifyTime(now))
	fmt.Fprintf(b, "Host:    %s\n", n.hostname)
	if o.ConfigPath != "" {
		fmt.Fprintf(b, "Config:  %s\n", o.ConfigPath)
	}
}

// nextSteps says what an admin should do about a failure, as commands they can paste.
func (n *Notifier) nextSteps(o RunOutcome) []string {
	cfg := ""
	if o.ConfigPath != "" {
		cfg = " --config " + notifyQuote(o.ConfigPath)
	}
	testConn := "Run `tfsync test-connection" + cfg + "`: it checks the configuration, TF's database, the credentials and each enabled resource's calendar, and says what to fix where."
	var steps []string
	switch o.ExitCode {
	case ExitAuth:
		steps = append(steps, testConn)
		switch o.Class {
		case "auth":
			steps = append(steps, "The credentials were refused. For Office 365, check the Entra app's client secret or certificate (Entra admin center -> App registrations -> Certificates & secrets; secrets expire); for on-premises Exchange, the service account's password.")
		case "unreachable":
			steps = append(steps, "Exchange (Graph or EWS) could not be reached or kept failing. Check the network from this computer to it; after a passing outage the next pass recovers by itself.")
		}
	case ExitPartial:
		steps = append(steps,
			"The mailboxes above were not fully synced; the others were. Each error says what to fix; errors marked temporary clear by themselves.",
			"Run `tfsync list-resources --check"+cfg+"` to see every resource's e-mail and last error, and `tfsync test-connection"+cfg+"` to try each calendar.",
			"A wrong or missing e-mail address is fixed on the resource in TF (Inställningar -> Grunddata -> Resurser).")
		if o.Held > 0 {
			steps = append(steps, "Deletes were also held back: check them with `tfsync dry-run"+cfg+"`, then run `tfsync sync --force"+cfg+"` if they are intended.")
		}
	case ExitHeld:
		steps = append(steps,
			"A pass would have deleted more of a mailbox's events than max_delete_percent allows, so the deletes were held back (creates and updates were applied).",
			"Check the plan with `tfsync dry-run"+cfg+"`. If the deletes are intended (a kind or a resource was switched off, bookings were cancelled in bulk), run `tfsync sync --force"+cfg+"` once; if not, find out why the bookings left TF first.")
	case ExitLockStale:
		steps = append(steps, "Another tfsync pass has held the run lock for over an hour. Look for a hung tfsync process on "+n.hostname+" and end it; the next pass then runs normally.")
	default:
		switch o.Class {
		case "store-corrupt":
			steps = append(steps, "The state store is damaged. Run `tfsync sync --rebuild"+cfg+"` once: it moves the file aside and relinks every event through its booking id, without duplicates.")
		case "store-too-new":
			steps = append(steps, "A newer tfsync has written the state store. Run that newer version here too.")
		case "tf":
			steps = append(steps, "TF's database could not be read. Check [tf] database"+notifyIn(o.ConfigPath)+" and that the account running tfsync may read it.", testConn)
		default:
			steps = append(steps, "Run `tfsync sync"+cfg+"` by hand to see the error as it happens, and read the log of run "+o.RunID+".", testConn)
		}
	}
	return steps
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

// secrets are the values scrub removes: the configured others and the SMTP password itself.
func (n *Notifier) secrets() []string {
	out := slices.Clone(n.redact)
	if n.cfg.Password.IsSet() {
		if v, err := n.cfg.Password.Value(); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// notifyError is a send failure whose text has been scrubbed of secrets; it still unwraps to the cause.
type notifyError struct {
	msg string
	err error
}

func (e *notifyError) Error() string { return e.msg }
func (e *notifyError) Unwrap() error { return e.err }

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
		timeout = notifyTimeout
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
		return &notifyConn{Conn: c, limit: deadline}, nil
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
		if n.cfg.Password.IsSet() {
			if password, err = n.cfg.Password.Value(); err != nil {
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
	m.SetUserAgent("tfsync " + Version)
	// Auto-Submitted (RFC 3834) keeps out-of-office replies away from the sender address.
	m.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	m.SetBodyString(mail.TypeTextPlain, body)

	if err := client.DialAndSendWithContext(ctx, m); err != nil {
		hint := "check [notify] smtp, starttls, username and password" + notifyIn(configPath) + " and that this computer may reach the mail server"
		if port == 465 {
			hint = "port 465 expects TLS from the first byte, which tfsync does not speak: use the server's submission port 587 (STARTTLS) or 25"
		}
		return &notifyError{msg: n.scrub(fmt.Sprintf("mail the notice through %s: %v: %s", n.cfg.SMTP, err, hint)), err: err}
	}
	return nil
}

// notifyConn keeps a connection's deadlines at or before limit, whatever its user asks for.
type notifyConn struct {
	net.Conn
	limit time.Time
}

func (c *notifyConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(c.limit) {
		return c.limit
	}
	return t
}

func (c *notifyConn) SetDeadline(t time.Time) error     { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *notifyConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *notifyConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

// notifyAfterRun mails the pass's outcome when [notify] asks for it. It never changes the exit code: problems
// are logged as warnings. p may be nil when the pass could not open (a stale lock, an unreadable TF database);
// the store is then opened here, so such a failure is still mailed once rather than on every pass.
func notifyAfterRun(ctx context.Context, f *Factory, p *pass, runID string, r *calsync.Report, runErr error) {
	log := zerolog.Ctx(ctx)
	o := OutcomeOf(runID, "", r, runErr)
	if o.LockHeld || o.ExitCode == ExitUsage || errors.Is(runErr, context.Canceled) {
		return
	}
	var (
		cfg *config.Config
		st  *calsync.Store
	)
	if p != nil {
		cfg, st = p.cfg, p.store
	}
	if cfg == nil {
		c, _, err := f.LoadConfig(f.ConfigPath)
		if err != nil {
			return // a configuration error is exit 2, which is never mailed
		}
		cfg = c
	}
	if len(cfg.Notify.EmailTo) == 0 {
		return
	}
	if st == nil {
		s, err := calsync.OpenStore(ctx, cfg.State.Path, f.Now)
		if err != nil {
			log.Warn().Err(err).Msg("no failure notice: the state store, which remembers what was mailed, cannot be opened")
			return
		}
		defer s.Close()
		st = s
	}
	o.ConfigPath = cfg.Path
	o.Warnings = credentialWarnings(cfg, f.Now())
	n := NewNotifier(cfg.Notify, f.Now)
	n.redact = notifySecretValues(cfg)
	if err := n.AfterRun(ctx, st, o); err != nil {
		log.Warn().Err(err).Msg("failure notice not mailed; the next pass tries again")
	}
}

// notifySecretValues resolves the configured secrets so the notifier can keep them out of mails. Unresolvable
// ones are skipped: a secret that cannot be read cannot leak either.
func notifySecretValues(cfg *config.Config) []string {
	var out []string
	for _, s := range []config.Secret{cfg.Exchange.Graph.ClientSecret, cfg.Exchange.EWS.Password, cfg.Notify.Password} {
		if !s.IsSet() {
			continue
		}
		if v, err := s.Value(); err == nil {
			out = append(out, v)
		}
	}
	return out
}

func notifyPlural(n int, one, many string) string {
	return strconv.Itoa(n) + " " + notifyNoun(n, one, many)
}

func notifyNoun(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func notifyTime(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") }

// notifyDuration shows a duration without trailing zero units: 6h, 1h30m, 45m.
func notifyDuration(d time.Duration) string {
	s := d.String()
	if d%time.Minute == 0 {
		s = strings.TrimSuffix(s, "0s")
	}
	if d%time.Hour == 0 {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func notifyIn(path string) string {
	if path == "" {
		return ""
	}
	return " in " + path
}

// notifyQuote quotes a path for pasting into a shell when it needs it; double quotes work in cmd, PowerShell
// and POSIX shells alike.
func notifyQuote(p string) string {
	if strings.ContainsAny(p, " \t'\"&;()") {
		return `"` + p + `"`
	}
	return p
}
