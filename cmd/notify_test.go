package cmd

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/rs/zerolog"

	"tfsync/cmd/config"
	"tfsync/exchange"
	calsync "tfsync/sync"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata")

const (
	notifyTestConfig   = "/etc/tfsync/tfsync.toml"
	notifyTestPassword = "smtp-Pa55word-never-shown"
)

var notifyT0 = time.Date(2026, 3, 20, 10, 0, 0, 0, time.UTC)

// notifyMail is one message the test SMTP server accepted.
type notifyMail struct {
	From    string
	To      []string
	Raw     string
	TLS     bool
	User    string // the AUTH PLAIN user the session authenticated as
	Subject string
	Body    string
	Header  netmail.Header
}

// notifyServer is a real SMTP server (emersion/go-smtp) on loopback that keeps what it receives.
type notifyServer struct {
	Addr string
	user string // when set, AUTH PLAIN with user/pass is offered and required
	pass string

	mu        sync.Mutex
	mails     []notifyMail
	authTries int
}

type notifyServerOptions struct {
	TLS               *tls.Config // offers STARTTLS when set
	User, Pass        string
	AllowInsecureAuth bool
	Delay             time.Duration // every write to the client waits this long, as on a slow, overloaded server
}

// notifySlowListener hands out connections whose every write is delayed.
type notifySlowListener struct {
	net.Listener
	delay time.Duration
}

func (l notifySlowListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return notifySlowConn{Conn: c, delay: l.delay}, nil
}

type notifySlowConn struct {
	net.Conn
	delay time.Duration
}

func (c notifySlowConn) Write(b []byte) (int, error) {
	time.Sleep(c.delay)
	return c.Conn.Write(b)
}

func startNotifyServer(t *testing.T, o notifyServerOptions) *notifyServer {
	t.Helper()
	ns := &notifyServer{user: o.User, pass: o.Pass}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &notifySession{srv: ns, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = o.TLS
	srv.AllowInsecureAuth = o.AllowInsecureAuth
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ns.Addr = l.Addr().String()
	if o.Delay > 0 {
		l = notifySlowListener{Listener: l, delay: o.Delay}
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ns
}

func (ns *notifyServer) received() []notifyMail {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return append([]notifyMail(nil), ns.mails...)
}

type notifySession struct {
	srv  *notifyServer
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (s *notifySession) AuthMechanisms() []string {
	if s.srv.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *notifySession) Auth(mech string) (sasl.Server, error) {
	s.srv.mu.Lock()
	s.srv.authTries++
	s.srv.mu.Unlock()
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.srv.user || password != s.srv.pass {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *notifySession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *notifySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *notifySession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := notifyMail{From: s.from, To: s.to, Raw: string(raw), User: s.user}
	_, m.TLS = s.conn.TLSConnectionState()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	m.Header = msg.Header
	if m.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return err
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	m.Body = strings.ReplaceAll(string(b), "\r\n", "\n")
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, m)
	s.srv.mu.Unlock()
	return nil
}

func (s *notifySession) Reset()        { s.from, s.to = "", nil }
func (s *notifySession) Logout() error { return nil }

// notifyTestCert makes a self-signed certificate for 127.0.0.1 and a pool that trusts it.
func notifyTestCert(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The validity is real time: the TLS handshake checks it against the real clock.
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tfsync test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}, pool
}

func notifyTestStore(t *testing.T) *calsync.Store {
	t.Helper()
	st, err := calsync.OpenStore(context.Background(), filepath.Join(t.TempDir(), "tfsync-state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// notifyTestNotifier mails to two recipients through addr, without TLS, on the clock *now.
func notifyTestNotifier(addr string, now *time.Time) *Notifier {
	n := NewNotifier(config.Notify{
		EmailTo:     []string{"drift@example.com", "Driftcentralen <larm@example.com>"},
		SMTP:        addr,
		From:        "tfsync@example.com",
		StartTLS:    "never",
		RepeatAfter: 6 * time.Hour,
	}, func() time.Time { return *now })
	n.hostname = "tf-server"
	return n
}

// notifyLogCtx returns a context whose zerolog logger writes into the returned buffer.
func notifyLogCtx() (context.Context, *bytes.Buffer) {
	buf := &bytes.Buffer{}
	l := zerolog.New(buf)
	return l.WithContext(context.Background()), buf
}

// Outcomes the tests feed the notifier, built the way a pass builds them.

func notifyPartial(runID string, failed ...string) RunOutcome {
	r := &calsync.Report{RunID: runID}
	for i, mb := range failed {
		r.Mailboxes = append(r.Mailboxes, calsync.MailboxSummary{Mailbox: mb, ReadError: fmt.Sprintf(
			"read calendar of %s: the app may not open this mailbox: an ApplicationAccessPolicy excludes it: add the mailbox to the policy's group: %v", mb, exchange.ErrAccessDenied)})
		r.Failed++
		if i == 0 {
			err := fmt.Errorf("create event: %w", exchange.ErrUnavailable)
			r.Results = append(r.Results, calsync.Result{
				Action: calsync.Action{Kind: calsync.ActCreate, BookingID: "BES-10233", Mailbox: mb},
				Err:    &calsync.ItemError{Action: calsync.ActCreate, Mailbox: mb, Err: err},
				Error:  err.Error(),
			})
			r.Failed++
		}
	}
	return OutcomeOf(runID, notifyTestConfig, r, r.Err())
}

func notifyAuthFailure(runID string) RunOutcome {
	err := fmt.Errorf("%w: %w", calsync.ErrAllMailboxesFailed,
		fmt.Errorf("get token: AADSTS7000215: invalid client secret: put the secret's Value, not its ID, in client_secret: %w", exchange.ErrAuth))
	return OutcomeOf(runID, notifyTestConfig, nil, err)
}

func notifyHeld(runID string) RunOutcome {
	r := &calsync.Report{RunID: runID, Held: 12, Mailboxes: []calsync.MailboxSummary{{Mailbox: "mehmet.yilmaz@example.com", Held: 12}}}
	return OutcomeOf(runID, notifyTestConfig, r, r.Err())
}

func notifyOK(runID string) RunOutcome {
	r := &calsync.Report{RunID: runID, Mailboxes: []calsync.MailboxSummary{{Mailbox: "anna.lindqvist@example.com", Created: 3}}}
	return OutcomeOf(runID, notifyTestConfig, r, r.Err())
}

func TestNotifierSequence(t *testing.T) {
	srv := startNotifyServer(t, notifyServerOptions{})
	st := notifyTestStore(t)
	now := notifyT0
	n := notifyTestNotifier(srv.Addr, &now)
	ctx, logs := notifyLogCtx()

	steps := []struct {
		name        string
		at          time.Duration // since notifyT0
		outcome     RunOutcome
		wantSubject string // empty: no mail
		wantBody    []string
		golden      string
	}{
		{
			name:        "a partial failure is mailed at once",
			outcome:     notifyPartial("run1", "sara.nilsson@example.com", "karin.ek@example.com"),
			wantSubject: "tfsync: sync partly failed: 2 mailboxes on tf-server",
			wantBody: []string{
				"ended with exit code 4: partial",
				"karin.ek@example.com\n    - read calendar of karin.ek@example.com",
				"create BES-10233: create event: service unavailable (temporary: the next pass tries again)",
				"tfsync list-resources --check --config /etc/tfsync/tfsync.toml",
				"tfsync test-connection --config /etc/tfsync/tfsync.toml",
				"Inställningar -> Grunddata -> Resurser",
				"Run id:  run1", "Time:    2026-03-20 10:00:00 UTC", "Host:    tf-server",
				"Exit codes: 0 success",
			},
			golden: "failure.golden",
		},
		{
			name:    "the same failure two minutes later is not mailed",
			at:      2 * time.Minute,
			outcome: notifyPartial("run2", "karin.ek@example.com", "sara.nilsson@example.com"),
		},
		{
			name:    "nor a minute before repeat_after",
			at:      6*time.Hour - time.Minute,
			outcome: notifyPartial("run3", "sara.nilsson@example.com", "karin.ek@example.com"),
		},
		{
			name:        "after repeat_after it is mailed again",
			at:          6 * time.Hour,
			outcome:     notifyPartial("run4", "sara.nilsson@example.com", "karin.ek@example.com"),
			wantSubject: "tfsync: sync partly failed: 2 mailboxes on tf-server",
			wantBody:    []string{"The same failure was mailed at 2026-03-20 10:00:00 UTC and is still going on.", "Run id:  run4"},
		},
		{
			name:        "a different mailbox failing is a different failure",
			at:          6*time.Hour + 2*time.Minute,
			outcome:     notifyPartial("run5", "sara.nilsson@example.com"),
			wantSubject: "tfsync: sync partly failed: 1 mailbox on tf-server",
		},
		{
			name:        "a different exit code is mailed at once",
			at:          6*time.Hour + 4*time.Minute,
			outcome:     notifyAuthFailure("run6"),
			wantSubject: "tfsync: sync failed (exit 3) on tf-server",
			wantBody: []string{
				"exit code 3: authentication or connection failure",
				"AADSTS7000215",
				"Run `tfsync test-connection --config /etc/tfsync/tfsync.toml`",
				"Certificates & secrets",
			},
		},
		{
			name:    "a pass that found the lock held is no recovery",
			at:      6*time.Hour + 6*time.Minute,
			outcome: OutcomeOf("run7", notifyTestConfig, nil, fmt.Errorf("another pass is running: %w", &calsync.LockHeldError{PID: 42})),
		},
		{
			name:    "a configuration error is neither failure nor recovery",
			at:      6*time.Hour + 8*time.Minute,
			outcome: OutcomeOf("run8", notifyTestConfig, nil, fmt.Errorf("%w: [sync] show_as is not valid", config.ErrConfig)),
		},
		{
			name:        "the first good pass sends one recovered notice",
			at:          6*time.Hour + 10*time.Minute,
			outcome:     notifyOK("run9"),
			wantSubject: "tfsync: recovered on tf-server",
			wantBody:    []string{"succeeded again", "The failure mailed at 2026-03-20 16:04:00 UTC (exit code 3: authentication", "Run id:  run9"},
			golden:      "recovered.golden",
		},
		{
			name:    "good passes after that send nothing",
			at:      6*time.Hour + 12*time.Minute,
			outcome: notifyOK("run10"),
		},
		{
			name:        "held deletes are mailed",
			at:          6*time.Hour + 14*time.Minute,
			outcome:     notifyHeld("run11"),
			wantSubject: "tfsync: deletes held back on tf-server",
			wantBody: []string{
				"mehmet.yilmaz@example.com\n    - 12 deletes held back by max_delete_percent",
				"`tfsync dry-run --config /etc/tfsync/tfsync.toml`",
				"`tfsync sync --force --config /etc/tfsync/tfsync.toml`",
			},
		},
		{
			name:        "a stale lock is mailed",
			at:          6*time.Hour + 16*time.Minute,
			outcome:     OutcomeOf("run12", notifyTestConfig, nil, &calsync.LockHeldError{PID: 42, Stale: true}),
			wantSubject: "tfsync: sync failed (exit 6) on tf-server",
			wantBody:    []string{"hung tfsync process on tf-server"},
		},
	}
	sent := 0
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			now = notifyT0.Add(step.at)
			if err := n.AfterRun(ctx, st, step.outcome); err != nil {
				t.Fatalf("AfterRun: %v", err)
			}
			mails := srv.received()
			if step.wantSubject == "" {
				if len(mails) != sent {
					t.Fatalf("mailed %q, want no mail", mails[len(mails)-1].Subject)
				}
				return
			}
			if len(mails) != sent+1 {
				t.Fatalf("%d mails, want 1", len(mails)-sent)
			}
			sent = len(mails)
			m := mails[len(mails)-1]
			if m.Subject != step.wantSubject {
				t.Errorf("subject %q, want %q", m.Subject, step.wantSubject)
			}
			if got := strings.Join(m.To, ","); got != "drift@example.com,larm@example.com" {
				t.Errorf("recipients %s", got)
			}
			if m.From != "tfsync@example.com" || m.Header.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("from %q, Auto-Submitted %q", m.From, m.Header.Get("Auto-Submitted"))
			}
			for _, want := range step.wantBody {
				if !strings.Contains(m.Body, want) {
					t.Errorf("body lacks %q:\n%s", want, m.Body)
				}
			}
			if step.golden != "" {
				notifyGolden(t, step.golden, m.Body)
			}
		})
	}
	if !strings.Contains(logs.String(), `"message":"notice mailed"`) {
		t.Errorf("no log line for a mailed notice:\n%s", logs)
	}
}

func notifyGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "notify", name)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("body differs from %s (run with -update if the change is intended):\n%s", path, got)
	}
}

func TestFailureKey(t *testing.T) {
	base := notifyPartial("run1", "a@example.com", "b@example.com")
	for _, tc := range []struct {
		name  string
		other RunOutcome
		same  bool
	}{
		{"another run of the same failure", notifyPartial("run-2-with-a-longer-id", "a@example.com", "b@example.com"), true},
		{"the same mailboxes in another order", notifyPartial("run3", "b@example.com", "a@example.com"), true},
		{"one mailbox fewer", notifyPartial("run4", "a@example.com"), false},
		{"another mailbox", notifyPartial("run5", "a@example.com", "c@example.com"), false},
		{"another exit code", notifyAuthFailure("run6"), false},
		{"another class of error, same exit code", func() RunOutcome {
			err := fmt.Errorf("%w: %w", calsync.ErrAllMailboxesFailed, exchange.ErrUnavailable)
			return OutcomeOf("run7", notifyTestConfig, nil, err)
		}(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := base.FailureKey() == tc.other.FailureKey(); got != tc.same {
				t.Errorf("keys %q and %q: same = %v, want %v", base.FailureKey(), tc.other.FailureKey(), got, tc.same)
			}
		})
	}
	if a, b := notifyAuthFailure("run-aaaa"), notifyAuthFailure("run-bbbb"); a.FailureKey() != b.FailureKey() || strings.Contains(a.FailureKey(), "run-") {
		t.Errorf("run ids leak into the key: %q", a.FailureKey())
	}
}

func TestOutcomeOf(t *testing.T) {
	mb := "anna.lindqvist@example.com"
	r := &calsync.Report{RunID: "r1", Held: 2, Mailboxes: []calsync.MailboxSummary{
		{Mailbox: mb, Errors: 7, Held: 2},
		{Mailbox: "ok@example.com", Created: 1},
	}}
	for i := range 7 {
		err := fmt.Errorf("update event: %w", exchange.ErrInvalidEvent)
		if i == 0 {
			err = fmt.Errorf("update event: %w", exchange.ErrThrottled)
		}
		r.Results = append(r.Results, calsync.Result{
			Action: calsync.Action{Kind: calsync.ActUpdate, BookingID: fmt.Sprintf("ARE-%d", i), Mailbox: mb},
			Err:    &calsync.ItemError{Action: calsync.ActUpdate, BookingID: fmt.Sprintf("ARE-%d", i), Mailbox: mb, Err: err},
			Error:  err.Error(),
		})
		r.Failed++
	}
	r.Results = append(r.Results, calsync.Result{Action: calsync.Action{Kind: calsync.ActCreate, BookingID: "ARE-9", Mailbox: "ok@example.com"}})
	o := OutcomeOf("", "/x/tfsync.toml", r, r.Err())

	if o.ExitCode != ExitPartial || o.Class != "partial" || o.RunID != "r1" || o.Held != 2 || o.ConfigPath != "/x/tfsync.toml" || o.LockHeld {
		t.Fatalf("outcome %+v", o)
	}
	if len(o.Mailboxes) != 1 {
		t.Fatalf("mailboxes %+v, want only %s", o.Mailboxes, mb)
	}
	got := o.Mailboxes[0]
	if got.Mailbox != mb || len(got.Problems) != notifyMaxProblems || got.More != 2 || got.Held != 2 {
		t.Fatalf("mailbox failure %+v", got)
	}
	if want := "update ARE-0: update event: throttled (temporary: the next pass tries again)"; got.Problems[0] != want {
		t.Errorf("problem %q, want %q", got.Problems[0], want)
	}
	if strings.Contains(got.Problems[1], "temporary") {
		t.Errorf("an invalid event is not temporary: %q", got.Problems[1])
	}

	for _, tc := range []struct {
		name     string
		err      error
		code     int
		class    string
		lockHeld bool
	}{
		{"success", nil, ExitOK, "", false},
		{"lock held", &calsync.LockHeldError{}, ExitOK, "lock-held", true},
		{"lock stale", &calsync.LockHeldError{Stale: true}, ExitLockStale, "lock-stale", false},
		{"TF unreadable", fmt.Errorf("%w: read bookings: disk I/O error", calsync.ErrTFRead), ExitFailure, "tf", false},
		{"store damaged", fmt.Errorf("open state store: %w", calsync.ErrStoreCorrupt), ExitFailure, "store-corrupt", false},
		{"no calendar reachable", fmt.Errorf("%w: %w", calsync.ErrAllMailboxesFailed, exchange.ErrUnavailable), ExitAuth, "unreachable", false},
		{"unexpected", errors.New("boom"), ExitFailure, "other", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := OutcomeOf("r", "", nil, tc.err)
			if o.ExitCode != tc.code || o.Class != tc.class || o.LockHeld != tc.lockHeld {
				t.Errorf("exit %d class %q lockHeld %v, want %d %q %v", o.ExitCode, o.Class, o.LockHeld, tc.code, tc.class, tc.lockHeld)
			}
		})
	}
}

func TestNotifierTLS(t *testing.T) {
	serverTLS, pool := notifyTestCert(t)
	t.Setenv("TFSYNC_TEST_SMTP_PASSWORD", notifyTestPassword)
	password := config.Secret{Ref: "env:TFSYNC_TEST_SMTP_PASSWORD"}

	for _, tc := range []struct {
		name     string
		server   notifyServerOptions
		starttls string
		trust    bool
		wantTLS  bool
		wantErr  string // empty: the mail must arrive
	}{
		{name: "always, with AUTH over STARTTLS", server: notifyServerOptions{TLS: serverTLS, User: "tfsync", Pass: notifyTestPassword},
			starttls: "always", trust: true, wantTLS: true},
		{name: "auto upgrades when the server offers it", server: notifyServerOptions{TLS: serverTLS, User: "tfsync", Pass: notifyTestPassword},
			starttls: "auto", trust: true, wantTLS: true},
		{name: "always refuses a server without STARTTLS", server: notifyServerOptions{User: "tfsync", Pass: notifyTestPassword, AllowInsecureAuth: true},
			starttls: "always", trust: true, wantErr: "STARTTLS"},
		{name: "an untrusted certificate is refused", server: notifyServerOptions{TLS: serverTLS, User: "tfsync", Pass: notifyTestPassword},
			starttls: "always", trust: false, wantErr: "certificate"},
		{name: "no password in the clear without TLS", server: notifyServerOptions{User: "tfsync", Pass: notifyTestPassword, AllowInsecureAuth: true},
			starttls: "never", trust: true, wantErr: "mail the notice through"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startNotifyServer(t, tc.server)
			st := notifyTestStore(t)
			now := notifyT0
			n := notifyTestNotifier(srv.Addr, &now)
			n.cfg.StartTLS = tc.starttls
			n.cfg.Username = "tfsync"
			n.cfg.Password = password
			if tc.trust {
				n.rootCAs = pool
			}
			ctx, logs := notifyLogCtx()
			// An error that quotes the password (no tfsync error does) must still not carry it into the mail.
			o := notifyAuthFailure("run1")
			o.Error += " (server said: bad password " + notifyTestPassword + ")"

			err := n.AfterRun(ctx, st, o)
			mails := srv.received()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				if len(mails) != 0 {
					t.Fatalf("%d mails arrived", len(mails))
				}
				if strings.Contains(err.Error(), notifyTestPassword) {
					t.Errorf("the error carries the password: %v", err)
				}
				if tc.starttls == "never" {
					srv.mu.Lock()
					tries := srv.authTries
					srv.mu.Unlock()
					if tries != 0 {
						t.Errorf("the client tried AUTH %d times on a connection without TLS", tries)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("AfterRun: %v", err)
			}
			if len(mails) != 1 {
				t.Fatalf("%d mails, want 1", len(mails))
			}
			m := mails[0]
			if m.TLS != tc.wantTLS || m.User != "tfsync" {
				t.Errorf("TLS %v user %q, want TLS %v as tfsync", m.TLS, m.User, tc.wantTLS)
			}
			if strings.Contains(m.Raw, notifyTestPassword) || strings.Contains(m.Body, notifyTestPassword) {
				t.Errorf("the password is in the mail:\n%s", m.Raw)
			}
			if !strings.Contains(m.Body, "bad password [redacted]") {
				t.Errorf("the password was not redacted:\n%s", m.Body)
			}
			if strings.Contains(logs.String(), notifyTestPassword) {
				t.Errorf("the password is in the logs:\n%s", logs)
			}
		})
	}
}

func TestNotifierMailServerDown(t *testing.T) {
	closed := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	// silent accepts connections and never says a word, as a hung mail server does.
	silent := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			l.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
		return l.Addr().String()
	}
	t.Setenv("TFSYNC_TEST_SMTP_PASSWORD", notifyTestPassword)

	for _, tc := range []struct {
		name    string
		addr    func(*testing.T) string
		wantErr string
	}{
		{"nothing listens", closed, "connection refused"},
		{"the server never answers", silent, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := notifyTestStore(t)
			now := notifyT0
			cfg := &config.Config{Path: notifyTestConfig, Notify: config.Notify{
				EmailTo: []string{"drift@example.com"}, SMTP: tc.addr(t), From: "tfsync@example.com",
				Username: "tfsync", Password: config.Secret{Ref: "env:TFSYNC_TEST_SMTP_PASSWORD"}, StartTLS: "auto", RepeatAfter: time.Hour,
			}}
			n := NewNotifier(cfg.Notify, func() time.Time { return now })
			n.timeout = 300 * time.Millisecond
			ctx, _ := notifyLogCtx()

			start := time.Now()
			err := n.AfterRun(ctx, st, notifyAuthFailure("run1"))
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("AfterRun took %s against a dead server", elapsed)
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "check [notify] smtp") {
				t.Fatalf("error %v, want one mentioning %q and what to check", err, tc.wantErr)
			}
			// Nothing was recorded, so the next pass tries to mail the failure again.
			err = st.Update(ctx, func(tx *calsync.StoreTx) error {
				if _, _, ok, err := tx.GetNotice(notifyKey); err != nil || ok {
					return fmt.Errorf("notice recorded after a failed send: ok=%v err=%v", ok, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("a server answering slowly is cut off at the overall timeout", func(t *testing.T) {
		// Each answer comes well within the timeout, but the whole conversation takes longer than it: a send must
		// not outlive its budget however the server paces itself.
		srv := startNotifyServer(t, notifyServerOptions{Delay: 40 * time.Millisecond})
		now := notifyT0
		n := notifyTestNotifier(srv.Addr, &now)
		n.timeout = 400 * time.Millisecond
		ctx, _ := notifyLogCtx()
		err := n.AfterRun(ctx, notifyTestStore(t), notifyAuthFailure("run1"))
		if err == nil || !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("error %v, want a timeout", err)
		}
	})

	t.Run("the pass only logs a warning", func(t *testing.T) {
		st := notifyTestStore(t)
		cfg := &config.Config{Path: notifyTestConfig, Notify: config.Notify{
			EmailTo: []string{"drift@example.com"}, SMTP: closed(t), From: "tfsync@example.com",
			Username: "tfsync", Password: config.Secret{Ref: "env:TFSYNC_TEST_SMTP_PASSWORD"}, StartTLS: "auto", RepeatAfter: time.Hour,
		}}
		f := &Factory{Now: func() time.Time { return notifyT0 }}
		ctx, logs := notifyLogCtx()
		r := &calsync.Report{RunID: "run1", Failed: 1, Mailboxes: []calsync.MailboxSummary{{Mailbox: "a@example.com", ReadError: "x"}}}
		notifyAfterRun(ctx, f, &pass{cfg: cfg, store: st}, "run1", r, r.Err())
		if !strings.Contains(logs.String(), `"level":"warn"`) || !strings.Contains(logs.String(), "failure notice not mailed") {
			t.Errorf("no warning logged:\n%s", logs)
		}
		if strings.Contains(logs.String(), notifyTestPassword) {
			t.Errorf("the password is in the logs:\n%s", logs)
		}
	})
}

func TestFailureMailListsAtMost(t *testing.T) {
	var mailboxes []string
	for i := range notifyMaxMailboxes + 5 {
		mailboxes = append(mailboxes, fmt.Sprintf("tech%02d@example.com", i))
	}
	o := notifyPartial("run1", mailboxes...)
	n := NewNotifier(config.Notify{}, nil)
	subject, body := n.failureMail(o, notifyT0, time.Time{})
	if !strings.Contains(subject, "25 mailboxes") {
		t.Errorf("subject %q", subject)
	}
	last := fmt.Sprintf("tech%02d@example.com", notifyMaxMailboxes-1)
	if !strings.Contains(body, last) || strings.Contains(body, fmt.Sprintf("tech%02d@example.com", notifyMaxMailboxes)) ||
		!strings.Contains(body, "... and 5 more mailboxes (see the log of run run1)") {
		t.Errorf("body does not stop after %d mailboxes:\n%s", notifyMaxMailboxes, body)
	}
}

// TestNotifyAfterRunWithoutPass covers a pass that could not open (here: a stale run lock): the notice still goes
// out once, through a store opened for it.
func TestNotifyAfterRunWithoutPass(t *testing.T) {
	srv := startNotifyServer(t, notifyServerOptions{})
	dir := t.TempDir()
	cfg := &config.Config{
		Path:  filepath.Join(dir, "tfsync.toml"),
		State: config.State{Path: filepath.Join(dir, "tfsync-state.db")},
		Notify: config.Notify{EmailTo: []string{"drift@example.com"}, SMTP: srv.Addr, From: "tfsync@example.com",
			StartTLS: "never", RepeatAfter: time.Hour},
	}
	f := &Factory{Now: func() time.Time { return notifyT0 }, LoadConfig: func(string) (*config.Config, []string, error) { return cfg, nil, nil }}
	ctx, logs := notifyLogCtx()
	for i := range 2 {
		notifyAfterRun(ctx, f, nil, fmt.Sprintf("run%d", i), nil, &calsync.LockHeldError{PID: 42, Stale: true})
	}
	mails := srv.received()
	if len(mails) != 1 || mails[0].Subject != "tfsync: sync failed (exit 6) on "+NewNotifier(config.Notify{}, nil).hostname {
		t.Fatalf("%d mails %+v\n%s", len(mails), mails, logs)
	}

	f.LoadConfig = func(string) (*config.Config, []string, error) {
		t.Error("the configuration was loaded for a pass that needs no notice")
		return cfg, nil, nil
	}
	notifyAfterRun(ctx, f, nil, "run3", nil, &calsync.LockHeldError{PID: 42})
	notifyAfterRun(ctx, f, nil, "run4", nil, fmt.Errorf("%w: [sync] show_as is not valid", config.ErrConfig))
	notifyAfterRun(ctx, f, nil, "run5", nil, fmt.Errorf("read bookings: %w", context.Canceled))
	if n := len(srv.received()); n != 1 {
		t.Errorf("%d mails, want still 1", n)
	}
}

func TestNotifierWithoutEmailTo(t *testing.T) {
	n := NewNotifier(config.Notify{SMTP: "127.0.0.1:1"}, nil)
	// A nil store proves it is never touched.
	if err := n.AfterRun(context.Background(), nil, notifyAuthFailure("run1")); err != nil {
		t.Fatal(err)
	}
	var nilNotifier *Notifier
	if err := nilNotifier.AfterRun(context.Background(), nil, notifyAuthFailure("run1")); err != nil {
		t.Fatal(err)
	}
}

func TestNotifyDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{6 * time.Hour, "6h"}, {90 * time.Minute, "1h30m"}, {45 * time.Minute, "45m"}, {30 * time.Second, "30s"},
	} {
		if got := notifyDuration(tc.d); got != tc.want {
			t.Errorf("notifyDuration(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestSyncMailsNotice runs `tfsync sync` end to end with [notify] pointing at the test server.
func TestSyncMailsNotice(t *testing.T) {
	srv := startNotifyServer(t, notifyServerOptions{})
	notify := fmt.Sprintf("[notify]\nemail_to = [\"drift@example.com\"]\nsmtp = %q\nfrom = \"tfsync@example.com\"\nstarttls = \"never\"\n", srv.Addr)

	t.Run("partial, repeated, recovered", func(t *testing.T) {
		e := newEnv(t, notify)
		sara := "sara.nilsson@example.com"
		e.em.SetFault(func(op, mb string) error {
			if mb == sara {
				return fmt.Errorf("injected: %w", exchange.ErrUnavailable)
			}
			return nil
		})
		before := len(srv.received())
		for i := range 2 {
			if code, _, stderr := e.run("sync"); code != ExitPartial {
				t.Fatalf("pass %d: exit %d\n%s", i+1, code, stderr)
			}
		}
		mails := srv.received()[before:]
		if len(mails) != 1 {
			t.Fatalf("%d mails after two failing passes, want 1", len(mails))
		}
		if !strings.HasPrefix(mails[0].Subject, "tfsync: sync partly failed: 1 mailbox on ") || !strings.Contains(mails[0].Body, sara) ||
			!strings.Contains(mails[0].Body, "--config "+e.config) {
			t.Errorf("subject %q\n%s", mails[0].Subject, mails[0].Body)
		}
		if strings.Contains(mails[0].Raw, "s3cr3t-value-never-printed") {
			t.Error("the Graph client secret is in the mail")
		}

		e.em.SetFault(nil)
		for i := range 2 {
			if code, _, stderr := e.run("sync"); code != ExitOK {
				t.Fatalf("good pass %d: exit %d\n%s", i+1, code, stderr)
			}
		}
		mails = srv.received()[before:]
		if len(mails) != 2 || !strings.HasPrefix(mails[1].Subject, "tfsync: recovered on ") {
			t.Fatalf("%d mails; want the failure and one recovered notice", len(mails))
		}
	})

	t.Run("no calendar reachable", func(t *testing.T) {
		e := newEnv(t, notify)
		e.em.SetFault(func(op, mb string) error { return fmt.Errorf("injected: %w", exchange.ErrAuth) })
		before := len(srv.received())
		if code, _, _ := e.run("sync"); code != ExitAuth {
			t.Fatalf("exit %d", code)
		}
		mails := srv.received()[before:]
		if len(mails) != 1 || !strings.HasPrefix(mails[0].Subject, "tfsync: sync failed (exit 3) on ") {
			t.Fatalf("%d mails %+v", len(mails), mails)
		}
	})
}
