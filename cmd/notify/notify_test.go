package notify

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"tfsync/cmd/exitcode"
	"tfsync/cmd/notify/notifytest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	testConfig   = "/etc/tfsync/tfsync.toml"
	testPassword = "smtp-Pa55word-never-shown"
)

var t0 = time.Date(2026, 3, 20, 10, 0, 0, 0, time.UTC)

// memNotices is the notifier's memory without a state store; cmd's tests run the real store behind it.
type memNotices struct {
	mu    sync.Mutex
	sent  time.Time
	state string
	ok    bool
}

func (m *memNotices) LastNotice(context.Context) (time.Time, string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent, m.state, m.ok, nil
}

func (m *memNotices) RecordNotice(_ context.Context, sent time.Time, state string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent, m.state, m.ok = sent, state, true
	return nil
}

// testNotifier mails to two recipients through addr, without TLS, on the clock *now.
func testNotifier(addr string, now *time.Time) *Notifier {
	n := New(Settings{
		EmailTo:     []string{"drift@example.com", "Driftcentralen <larm@example.com>"},
		SMTP:        addr,
		From:        "tfsync@example.com",
		StartTLS:    "never",
		RepeatAfter: 6 * time.Hour,
	}, func() time.Time { return *now })
	n.hostname = "tf-server"
	return n
}

// logCtx returns a context whose zerolog logger writes into the returned buffer.
func logCtx() (context.Context, *bytes.Buffer) {
	buf := &bytes.Buffer{}
	l := zerolog.New(buf)
	return l.WithContext(context.Background()), buf
}

// Outcomes the tests feed the notifier, as cmd builds them from a pass's error and report (cmd's TestOutcomeOf
// holds cmd to these exit codes, classes and problem texts).

func partial(runID string, failed ...string) Outcome {
	o := Outcome{ExitCode: exitcode.Partial, RunID: runID, Class: "partial", ConfigPath: testConfig}
	n := 0
	for i, mb := range failed {
		o.AddProblem(mb, fmt.Sprintf("read calendar of %s: the app may not open this mailbox: an ApplicationAccessPolicy excludes it: add the mailbox to the policy's group: access denied", mb))
		n++
		if i == 0 {
			o.AddProblem(mb, "create BES-10233: create event: service unavailable (temporary: the next pass tries again)")
			n++
		}
	}
	o.Error = fmt.Sprintf("some mailboxes or bookings failed: %d failed (see the summary)", n)
	return o
}

func authFailure(runID string) Outcome {
	return Outcome{ExitCode: exitcode.Auth, RunID: runID, Class: "auth", ConfigPath: testConfig,
		Error: "no calendar could be read: get token: AADSTS7000215: invalid client secret: put the secret's Value, not its ID, in client_secret: authentication failed"}
}

func held(runID string) Outcome {
	o := Outcome{ExitCode: exitcode.Held, RunID: runID, Class: "deletes-held", ConfigPath: testConfig, Held: 12,
		Error: "deletes held back: 12 deletes held back by max_delete_percent; check the plan with `tfsync dry-run`, then run `tfsync sync --force` to apply them"}
	o.SetHeld("mehmet.yilmaz@example.com", 12)
	return o
}

func succeeded(runID string) Outcome {
	return Outcome{ExitCode: exitcode.OK, RunID: runID, ConfigPath: testConfig}
}

func TestNotifierSequence(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{})
	st := &memNotices{}
	now := t0
	n := testNotifier(srv.Addr, &now)
	ctx, logs := logCtx()

	steps := []struct {
		name        string
		at          time.Duration // since t0
		outcome     Outcome
		wantSubject string // empty: no mail
		wantBody    []string
		golden      string
	}{
		{
			name:        "a partial failure is mailed at once",
			outcome:     partial("run1", "sara.nilsson@example.com", "karin.ek@example.com"),
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
			outcome: partial("run2", "karin.ek@example.com", "sara.nilsson@example.com"),
		},
		{
			name:    "nor a minute before repeat_after",
			at:      6*time.Hour - time.Minute,
			outcome: partial("run3", "sara.nilsson@example.com", "karin.ek@example.com"),
		},
		{
			name:        "after repeat_after it is mailed again",
			at:          6 * time.Hour,
			outcome:     partial("run4", "sara.nilsson@example.com", "karin.ek@example.com"),
			wantSubject: "tfsync: sync partly failed: 2 mailboxes on tf-server",
			wantBody:    []string{"The same failure was mailed at 2026-03-20 10:00:00 UTC and is still going on.", "Run id:  run4"},
		},
		{
			name:        "a different mailbox failing is a different failure",
			at:          6*time.Hour + 2*time.Minute,
			outcome:     partial("run5", "sara.nilsson@example.com"),
			wantSubject: "tfsync: sync partly failed: 1 mailbox on tf-server",
		},
		{
			name:        "a different exit code is mailed at once",
			at:          6*time.Hour + 4*time.Minute,
			outcome:     authFailure("run6"),
			wantSubject: "tfsync: sync failed (exit 3) on tf-server",
			wantBody: []string{
				"exit code 3: authentication or connection failure",
				"AADSTS7000215",
				"Run `tfsync test-connection --config /etc/tfsync/tfsync.toml`",
				"Certificates & secrets",
			},
		},
		{
			name: "a pass that found the lock held is no recovery",
			at:   6*time.Hour + 6*time.Minute,
			outcome: Outcome{ExitCode: exitcode.OK, RunID: "run7", Class: "lock-held", LockHeld: true, ConfigPath: testConfig,
				Error: "another pass is running: the run lock  is held by process 42: another tfsync pass is running"},
		},
		{
			name: "a configuration error is neither failure nor recovery",
			at:   6*time.Hour + 8*time.Minute,
			outcome: Outcome{ExitCode: exitcode.Usage, RunID: "run8", Class: "other", ConfigPath: testConfig,
				Error: "configuration error: [sync] show_as is not valid"},
		},
		{
			name:        "the first good pass sends one recovered notice",
			at:          6*time.Hour + 10*time.Minute,
			outcome:     succeeded("run9"),
			wantSubject: "tfsync: recovered on tf-server",
			wantBody:    []string{"succeeded again", "The failure mailed at 2026-03-20 16:04:00 UTC (exit code 3: authentication", "Run id:  run9"},
			golden:      "recovered.golden",
		},
		{
			name:    "good passes after that send nothing",
			at:      6*time.Hour + 12*time.Minute,
			outcome: succeeded("run10"),
		},
		{
			name:        "held deletes are mailed",
			at:          6*time.Hour + 14*time.Minute,
			outcome:     held("run11"),
			wantSubject: "tfsync: deletes held back on tf-server",
			wantBody: []string{
				"mehmet.yilmaz@example.com\n    - 12 deletes held back by max_delete_percent",
				"`tfsync dry-run --config /etc/tfsync/tfsync.toml`",
				"`tfsync sync --force --config /etc/tfsync/tfsync.toml`",
			},
		},
		{
			name: "a stale lock is mailed",
			at:   6*time.Hour + 16*time.Minute,
			outcome: Outcome{ExitCode: exitcode.LockStale, RunID: "run12", Class: "lock-stale", ConfigPath: testConfig,
				Error: "the run lock  has been held by process 42 since 0001-01-01T00:00:00Z (0s, longer than the bound of 0s): that pass may hang; end process 42 if it is stuck (the lock is freed when it exits)"},
			wantSubject: "tfsync: sync failed (exit 6) on tf-server",
			wantBody:    []string{"hung tfsync process on tf-server"},
		},
	}
	sent := 0
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			now = t0.Add(step.at)
			if err := n.AfterRun(ctx, st, step.outcome); err != nil {
				t.Fatalf("AfterRun: %v", err)
			}
			mails := srv.Received()
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
				golden(t, step.golden, m.Body)
			}
		})
	}
	if !strings.Contains(logs.String(), `"message":"notice mailed"`) {
		t.Errorf("no log line for a mailed notice:\n%s", logs)
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
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

// TestMailExplainsEveryExitCode: the mail's exit-code line is the table, every code with its meaning.
func TestMailExplainsEveryExitCode(t *testing.T) {
	_, body := New(Settings{}, nil).failureMail(authFailure("run1"), t0, time.Time{})
	for _, c := range exitcode.All() {
		if want := fmt.Sprintf("%d %s", c.Code, c.Meaning); !strings.Contains(body, want) {
			t.Errorf("the mail does not explain exit code %d as %q:\n%s", c.Code, want, body)
		}
	}
}

func TestFailureKey(t *testing.T) {
	base := partial("run1", "a@example.com", "b@example.com")
	for _, tc := range []struct {
		name  string
		other Outcome
		same  bool
	}{
		{"another run of the same failure", partial("run-2-with-a-longer-id", "a@example.com", "b@example.com"), true},
		{"the same mailboxes in another order", partial("run3", "b@example.com", "a@example.com"), true},
		{"one mailbox fewer", partial("run4", "a@example.com"), false},
		{"another mailbox", partial("run5", "a@example.com", "c@example.com"), false},
		{"another exit code", authFailure("run6"), false},
		{"another class of error, same exit code", Outcome{ExitCode: exitcode.Auth, RunID: "run7", Class: "unreachable",
			ConfigPath: testConfig, Error: "no calendar could be read: service unavailable"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := base.FailureKey() == tc.other.FailureKey(); got != tc.same {
				t.Errorf("keys %q and %q: same = %v, want %v", base.FailureKey(), tc.other.FailureKey(), got, tc.same)
			}
		})
	}
	if a, b := authFailure("run-aaaa"), authFailure("run-bbbb"); a.FailureKey() != b.FailureKey() || strings.Contains(a.FailureKey(), "run-") {
		t.Errorf("run ids leak into the key: %q", a.FailureKey())
	}
}

// TestOutcomeProblems: problems are filed by mailbox in order, at most MaxProblems each with the rest counted,
// mailboxes kept sorted whatever order they come in.
func TestOutcomeProblems(t *testing.T) {
	var o Outcome
	o.AddProblem("b@example.com", "b1")
	for i := range MaxProblems + 2 {
		o.AddProblem("a@example.com", fmt.Sprintf("a%d", i))
	}
	o.SetHeld("c@example.com", 3)
	o.AddProblem("", "nowhere")
	var got []string
	for _, m := range o.Mailboxes {
		got = append(got, fmt.Sprintf("%s %d+%d held %d", m.Mailbox, len(m.Problems), m.More, m.Held))
	}
	want := "(no mailbox) 1+0 held 0|a@example.com 5+2 held 0|b@example.com 1+0 held 0|c@example.com 0+0 held 3"
	if strings.Join(got, "|") != want {
		t.Errorf("mailboxes %q, want %q", strings.Join(got, "|"), want)
	}
	if p := o.Mailboxes[1].Problems; p[0] != "a0" || p[MaxProblems-1] != fmt.Sprintf("a%d", MaxProblems-1) {
		t.Errorf("problems %q are not the first ones in order", p)
	}
}

func TestNotifierTLS(t *testing.T) {
	serverTLS, pool := notifytest.Cert(t)
	password := func() (string, error) { return testPassword, nil }

	for _, tc := range []struct {
		name     string
		server   notifytest.Options
		starttls string
		trust    bool
		wantTLS  bool
		wantErr  string // empty: the mail must arrive
	}{
		{name: "always, with AUTH over STARTTLS", server: notifytest.Options{TLS: serverTLS, User: "tfsync", Pass: testPassword},
			starttls: "always", trust: true, wantTLS: true},
		{name: "auto upgrades when the server offers it", server: notifytest.Options{TLS: serverTLS, User: "tfsync", Pass: testPassword},
			starttls: "auto", trust: true, wantTLS: true},
		{name: "always refuses a server without STARTTLS", server: notifytest.Options{User: "tfsync", Pass: testPassword, AllowInsecureAuth: true},
			starttls: "always", trust: true, wantErr: "STARTTLS"},
		{name: "an untrusted certificate is refused", server: notifytest.Options{TLS: serverTLS, User: "tfsync", Pass: testPassword},
			starttls: "always", trust: false, wantErr: "certificate"},
		{name: "no password in the clear without TLS", server: notifytest.Options{User: "tfsync", Pass: testPassword, AllowInsecureAuth: true},
			starttls: "never", trust: true, wantErr: "mail the notice through"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := notifytest.Start(t, tc.server)
			st := &memNotices{}
			now := t0
			n := testNotifier(srv.Addr, &now)
			n.cfg.StartTLS = tc.starttls
			n.cfg.Username = "tfsync"
			n.cfg.Password = password
			if tc.trust {
				n.rootCAs = pool
			}
			ctx, logs := logCtx()
			// An error that quotes the password (no tfsync error does) must still not carry it into the mail.
			o := authFailure("run1")
			o.Error += " (server said: bad password " + testPassword + ")"

			err := n.AfterRun(ctx, st, o)
			mails := srv.Received()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				if len(mails) != 0 {
					t.Fatalf("%d mails arrived", len(mails))
				}
				if strings.Contains(err.Error(), testPassword) {
					t.Errorf("the error carries the password: %v", err)
				}
				if tc.starttls == "never" {
					if tries := srv.AuthTries(); tries != 0 {
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
			if strings.Contains(m.Raw, testPassword) || strings.Contains(m.Body, testPassword) {
				t.Errorf("the password is in the mail:\n%s", m.Raw)
			}
			if !strings.Contains(m.Body, "bad password [redacted]") {
				t.Errorf("the password was not redacted:\n%s", m.Body)
			}
			if strings.Contains(logs.String(), testPassword) {
				t.Errorf("the password is in the logs:\n%s", logs)
			}
		})
	}
}

// TestNoticeRedactsTheCallersSecrets: every value the caller names is kept out of the mail and out of a send
// error, whether it is quoted whole or sits inside a longer text.
func TestNoticeRedactsTheCallersSecrets(t *testing.T) {
	secrets := []string{"s3cr3t-client-value", "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"}
	srv := notifytest.Start(t, notifytest.Options{})
	now := t0
	n := testNotifier(srv.Addr, &now)
	n.cfg.Secrets = secrets
	o := authFailure("run1")
	o.Error += " (server said: " + secrets[0] + ", key " + secrets[1] + ")"
	o.Warnings = []string{"the certificate " + secrets[1] + " expires soon"}
	ctx, _ := logCtx()
	if err := n.AfterRun(ctx, &memNotices{}, o); err != nil {
		t.Fatal(err)
	}
	mails := srv.Received()
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
	for _, s := range secrets {
		if strings.Contains(mails[0].Raw, s) || strings.Contains(mails[0].Body, s) {
			t.Errorf("the mail holds the secret %q:\n%s", s, mails[0].Body)
		}
	}
	if strings.Count(mails[0].Body, "[redacted]") != 3 {
		t.Errorf("want the three quotes redacted:\n%s", mails[0].Body)
	}

	// A send error quoting a secret (here: the server address) is scrubbed too.
	n.cfg.Secrets = []string{"127.0.0.1"}
	n.cfg.SMTP = closedAddr(t)
	err := n.AfterRun(ctx, &memNotices{}, authFailure("run2"))
	if err == nil || strings.Contains(err.Error(), "127.0.0.1") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("send error %v", err)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestNotifierMailServerDown(t *testing.T) {
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

	for _, tc := range []struct {
		name    string
		addr    func(*testing.T) string
		wantErr string
	}{
		{"nothing listens", closedAddr, "connection refused"},
		{"the server never answers", silent, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &memNotices{}
			now := t0
			n := New(Settings{
				EmailTo: []string{"drift@example.com"}, SMTP: tc.addr(t), From: "tfsync@example.com",
				Username: "tfsync", Password: func() (string, error) { return testPassword, nil }, StartTLS: "auto", RepeatAfter: time.Hour,
			}, func() time.Time { return now })
			n.timeout = 300 * time.Millisecond
			ctx, _ := logCtx()

			start := time.Now()
			err := n.AfterRun(ctx, st, authFailure("run1"))
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("AfterRun took %s against a dead server", elapsed)
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "check [notify] smtp") {
				t.Fatalf("error %v, want one mentioning %q and what to check", err, tc.wantErr)
			}
			// Nothing was recorded, so the next pass tries to mail the failure again.
			if _, _, ok, _ := st.LastNotice(ctx); ok {
				t.Errorf("notice recorded after a failed send")
			}
		})
	}

	t.Run("a server answering slowly is cut off at the overall timeout", func(t *testing.T) {
		// Each answer comes well within the timeout, but the whole conversation takes longer than it: a send must
		// not outlive its budget however the server paces itself.
		srv := notifytest.Start(t, notifytest.Options{Delay: 40 * time.Millisecond})
		now := t0
		n := testNotifier(srv.Addr, &now)
		n.timeout = 400 * time.Millisecond
		ctx, _ := logCtx()
		err := n.AfterRun(ctx, &memNotices{}, authFailure("run1"))
		if err == nil || !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("error %v, want a timeout", err)
		}
	})
}

func TestFailureMailListsAtMost(t *testing.T) {
	var mailboxes []string
	for i := range MaxMailboxes + 5 {
		mailboxes = append(mailboxes, fmt.Sprintf("tech%02d@example.com", i))
	}
	o := partial("run1", mailboxes...)
	n := New(Settings{}, nil)
	subject, body := n.failureMail(o, t0, time.Time{})
	if !strings.Contains(subject, "25 mailboxes") {
		t.Errorf("subject %q", subject)
	}
	last := fmt.Sprintf("tech%02d@example.com", MaxMailboxes-1)
	if !strings.Contains(body, last) || strings.Contains(body, fmt.Sprintf("tech%02d@example.com", MaxMailboxes)) ||
		!strings.Contains(body, "... and 5 more mailboxes (see the log of run run1)") {
		t.Errorf("body does not stop after %d mailboxes:\n%s", MaxMailboxes, body)
	}
}

func TestFailureMailNamesExpiry(t *testing.T) {
	n := &Notifier{hostname: "tf-server"}
	o := Outcome{ExitCode: exitcode.Partial, RunID: "r1", Error: "boom", Class: "other",
		Warnings: []string{"the client secret expires on 2026-04-05, in 16 days"}}
	_, body := n.failureMail(o, time.Date(2026, 3, 20, 10, 0, 0, 0, time.UTC), time.Time{})
	if !strings.Contains(body, "Also:\n  - the client secret expires on 2026-04-05") {
		t.Errorf("the failure mail does not warn:\n%s", body)
	}
}

func TestNotifierWithoutEmailTo(t *testing.T) {
	n := New(Settings{SMTP: "127.0.0.1:1"}, nil)
	// A nil store proves it is never touched.
	if err := n.AfterRun(context.Background(), nil, authFailure("run1")); err != nil {
		t.Fatal(err)
	}
	var nilNotifier *Notifier
	if err := nilNotifier.AfterRun(context.Background(), nil, authFailure("run1")); err != nil {
		t.Fatal(err)
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{6 * time.Hour, "6h"}, {90 * time.Minute, "1h30m"}, {45 * time.Minute, "45m"}, {30 * time.Second, "30s"},
	} {
		if got := duration(tc.d); got != tc.want {
			t.Errorf("duration(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
