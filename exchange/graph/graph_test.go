package graph_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tfsync/exchange"
	"tfsync/exchange/emulator"
	"tfsync/exchange/emulator/emutest"
	"tfsync/exchange/emulator/emutest/testclock"
	"tfsync/exchange/exchangetest"
	"tfsync/exchange/graph"
)

// The standard app and mailboxes of the shared rig, by the names these tests use.
const (
	tenantID = emutest.TenantID
	clientID = emutest.ClientID
	secretID = emutest.SecretID
	secret   = emutest.Secret

	anna    = emutest.Anna
	bo      = emutest.Bo
	blocked = emutest.Blocked
	missing = emutest.Missing
	nolic   = emutest.Unlicensed
)

// env is the shared rig (one emulator on loopback HTTPS with the standard app and mailboxes, and its clock, which
// tests move for token expiry), with the Graph client's back-off. Retries wait for real, but briefly (the
// emulator's Retry-After values are fractions of a second), and their waits are recorded.
type env struct {
	rig     *emutest.Rig
	em      *emulator.Emulator
	srv     *emulator.Server
	clock   *testclock.Clock
	zone    *time.Location
	backoff *emutest.Backoff
}

// newEnv starts the rig; app, when not nil, changes the standard app registration.
func newEnv(t *testing.T, app func(*emulator.App)) *env {
	t.Helper()
	r := emutest.Start(t, emutest.Options{App: app})
	return &env{rig: r, em: r.Emulator, srv: r.Server, clock: r.Clock, zone: r.Zone,
		backoff: &emutest.Backoff{Cap: 20 * time.Millisecond}}
}

// options are the rig's Graph client options with the recording back-off.
func (e *env) options() graph.Options {
	o := e.rig.GraphOptions()
	o.Sleep = e.backoff.Sleep
	return o
}

func (e *env) client(t *testing.T, modify func(*graph.Options)) *graph.Client {
	t.Helper()
	return e.rig.Graph(t, func(o *graph.Options) {
		o.Sleep = e.backoff.Sleep
		if modify != nil {
			modify(o)
		}
	})
}

func (e *env) sleeps() []time.Duration { return e.backoff.Waits() }

func TestConformance(t *testing.T) {
	exchangetest.Run(t, func(t *testing.T) exchangetest.Harness {
		e := newEnv(t, nil)
		return exchangetest.Harness{
			Calendar:  e.client(t, nil),
			Control:   e.em,
			Mailboxes: []string{anna, bo},
			Denied:    blocked,
			Missing:   missing,
			Zone:      e.zone,
		}
	})
}

func event(zone *time.Location, bookingID string, i int) exchange.Event {
	start := time.Date(2026, 6, 1+i%28, 7+i%9, 0, 0, 0, zone)
	return exchange.Event{BookingID: bookingID, Subject: "Kontroll " + bookingID, Body: "<p>Kontroll</p>",
		Location: "Storgatan 1", Start: start, End: start.Add(time.Hour), TimeZone: zone.String(),
		ShowAs: exchange.ShowBusy, ReminderMinutes: 15}
}

func createOps(zone *time.Location, prefix string, n int, mailboxes ...string) []exchange.Op {
	var ops []exchange.Op
	for i := range n {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		ops = append(ops, exchange.Op{Kind: exchange.OpCreate, Mailbox: mailboxes[i%len(mailboxes)],
			TransactionID: "tx-" + id, Event: event(zone, id, i)})
	}
	return ops
}

// write runs Write and returns the results, failing unless every op got exactly one and done was never
// called concurrently.
func write(t *testing.T, c exchange.Calendar, ops []exchange.Op) []exchange.OpResult {
	t.Helper()
	var busy, concurrent atomic.Bool
	var got []exchange.OpResult
	c.Write(context.Background(), ops, func(rs []exchange.OpResult) {
		if !busy.CompareAndSwap(false, true) {
			concurrent.Store(true)
		}
		got = append(got, rs...)
		busy.Store(false)
	})
	if concurrent.Load() {
		t.Errorf("done was called concurrently")
	}
	count := map[string]int{}
	for _, r := range got {
		count[r.Op.TransactionID+"|"+r.Op.Event.ID]++
	}
	for _, op := range ops {
		if n := count[op.TransactionID+"|"+op.Event.ID]; n != 1 {
			t.Errorf("op %s %s got %d results, want 1", op.Kind, op.TransactionID+op.Event.ID, n)
		}
	}
	return got
}

// checkTruth fails unless the server holds exactly one event for each booking of ops.
func (e *env) checkTruth(t *testing.T, ops []exchange.Op) {
	t.Helper()
	perMailbox := map[string]map[string]int{}
	for _, op := range ops {
		if perMailbox[op.Mailbox] == nil {
			perMailbox[op.Mailbox] = map[string]int{}
			for _, ev := range e.em.Events(op.Mailbox) {
				perMailbox[op.Mailbox][ev.BookingID]++
			}
		}
		if n := perMailbox[op.Mailbox][op.Event.BookingID]; n != 1 {
			t.Errorf("%s holds %d events for booking %s, want 1", op.Mailbox, n, op.Event.BookingID)
		}
	}
}

func TestWriteBatches(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, nil)
	if err := c.CheckCredentials(context.Background()); err != nil {
		t.Fatalf("CheckCredentials: %v", err)
	}
	ops := createOps(e.zone, "BATCH", 45, anna)
	e.em.ResetTraffic()
	res := write(t, c, ops)
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("create %s: %v", r.Op.Event.BookingID, r.Err)
		}
	}
	if n := e.em.Traffic().HTTPRequests; n != 3 {
		t.Errorf("45 creates took %d HTTP requests, want ceil(45/20) = 3 batches", n)
	}
	e.checkTruth(t, ops)
}

func TestReadManyMailboxes(t *testing.T) {
	e := newEnv(t, nil)
	var mailboxes []string
	for i := range 45 {
		mb := fmt.Sprintf("tekniker%02d@example.com", i)
		e.em.AddMailbox(mb, emulator.MailboxOptions{})
		mailboxes = append(mailboxes, mb)
	}
	c := e.client(t, nil)
	w := exchange.Window{Start: time.Date(2026, 5, 1, 0, 0, 0, 0, e.zone), End: time.Date(2026, 8, 1, 0, 0, 0, 0, e.zone)}
	var reqs []exchange.ReadRequest
	for _, mb := range mailboxes {
		reqs = append(reqs, exchange.ReadRequest{Mailbox: mb, Window: w})
	}
	if err := c.CheckCredentials(context.Background()); err != nil {
		t.Fatalf("CheckCredentials: %v", err)
	}
	e.em.ResetTraffic()
	res := c.Read(context.Background(), reqs)
	for i, r := range res {
		if r.Err != nil || r.Mailbox != mailboxes[i] || !r.Full || r.Cursor == "" {
			t.Errorf("read %s: %+v", mailboxes[i], r)
		}
	}
	if n := e.em.Traffic().HTTPRequests; n != 3 {
		t.Errorf("reading 45 empty mailboxes took %d HTTP requests, want ceil(45/20) = 3", n)
	}

	t.Run("expired delta link reads the window again", func(t *testing.T) {
		ops := createOps(e.zone, "EXP", 3, mailboxes[0])
		write(t, c, ops)
		if err := e.em.ExpireCursors(mailboxes[0]); err != nil {
			t.Fatalf("expire: %v", err)
		}
		r := c.Read(context.Background(), []exchange.ReadRequest{{Mailbox: mailboxes[0], Window: w, Cursor: res[0].Cursor}})[0]
		if r.Err != nil || !r.Full || len(r.Events) != 3 {
			t.Fatalf("read with an expired cursor: err %v, full %v, %d events; want a full read of 3", r.Err, r.Full,
				len(r.Events))
		}
		for _, ev := range r.Events {
			if !strings.HasPrefix(ev.BookingID, "EXP-") {
				t.Errorf("event %s has booking id %q", ev.ID, ev.BookingID)
			}
		}
	})
}

func TestThrottledWritesConfirmOnce(t *testing.T) {
	e := newEnv(t, nil)
	// More attempts than the default, so that random faults cannot exhaust them: the test is about every op being
	// confirmed exactly once, not about giving up.
	c := e.client(t, func(o *graph.Options) { o.MaxAttempts = 30 })
	e.em.SetFaults(emulator.Faults{Rate429: 0.3, Rate503: 0.15, RetryAfter: "0.128", Seed: 7})
	ops := createOps(e.zone, "THR", 80, anna, bo)
	res := write(t, c, ops)
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("create %s: %v", r.Op.Event.BookingID, r.Err)
		}
	}
	e.em.SetFaults(emulator.Faults{})
	e.checkTruth(t, ops)
	if tr := e.em.Traffic(); tr.Throttled == 0 {
		t.Errorf("the emulator throttled nothing; the test proves nothing")
	}
	exact := false
	for _, d := range e.sleeps() {
		if d == 128*time.Millisecond {
			exact = true
		}
	}
	if !exact {
		t.Errorf("waits %v never honour the Retry-After of 0.128 s exactly", e.sleeps())
	}

	t.Run("updates and deletes under throttling", func(t *testing.T) {
		var more []exchange.Op
		for i, r := range res {
			ev := r.Event
			if i%2 == 0 {
				ev.Subject += " (ändrad)"
				more = append(more, exchange.Op{Kind: exchange.OpUpdate, Mailbox: r.Op.Mailbox, Event: ev})
			} else {
				more = append(more, exchange.Op{Kind: exchange.OpDelete, Mailbox: r.Op.Mailbox, Event: exchange.Event{ID: ev.ID}})
			}
		}
		e.em.SetFaults(emulator.Faults{Rate429: 0.3, Rate503: 0.15, RetryAfter: "0.05", Seed: 11})
		for _, r := range write(t, c, more) {
			if r.Err != nil {
				t.Errorf("%s %s: %v", r.Op.Kind, r.Op.Event.ID, r.Err)
			}
		}
		e.em.SetFaults(emulator.Faults{})
		left := len(e.em.Events(anna)) + len(e.em.Events(bo))
		if left != len(res)/2 {
			t.Errorf("%d events left, want %d", left, len(res)/2)
		}
	})
}

func TestThrottlingGivesUp(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, nil)
	e.em.SetFaults(emulator.Faults{Rate429: 1, RetryAfter: "0.01"})
	res := write(t, c, createOps(e.zone, "GIVEUP", 1, anna))
	if !errors.Is(res[0].Err, exchange.ErrThrottled) || !exchange.Retryable(res[0].Err) {
		t.Errorf("create under constant throttling: %v, want a retryable ErrThrottled", res[0].Err)
	}
	if n := len(e.sleeps()); n != graph.DefaultMaxAttempts-1 {
		t.Errorf("%d retries, want %d", n, graph.DefaultMaxAttempts-1)
	}
}

func TestDropAfterCommit(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t, nil)
	ops := createOps(e.zone, "DROP", 7, anna, bo)
	// The first HTTP request (the $batch of all seven creates) is carried out, then its connection closed.
	e.em.SetFaults(emulator.Faults{DropAfterCommitAt: 1})
	res := write(t, c, ops)
	ids := map[string]bool{}
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("create %s: %v", r.Op.Event.BookingID, r.Err)
		}
		ids[r.Event.ID] = true
	}
	if len(ids) != len(ops) {
		t.Errorf("%d distinct event ids confirmed for %d creates", len(ids), len(ops))
	}
	e.checkTruth(t, ops)

	t.Run("deletes", func(t *testing.T) {
		var dels []exchange.Op
		for _, r := range res {
			dels = append(dels, exchange.Op{Kind: exchange.OpDelete, Mailbox: r.Op.Mailbox, Event: exchange.Event{ID: r.Event.ID}})
		}
		e.em.SetFaults(emulator.Faults{DropAfterCommitAt: 1})
		for _, r := range write(t, c, dels) {
			if r.Err != nil {
				t.Errorf("delete %s after a dropped answer: %v", r.Op.Event.ID, r.Err)
			}
		}
		if n := len(e.em.Events(anna)) + len(e.em.Events(bo)); n != 0 {
			t.Errorf("%d events left after deleting all", n)
		}
	})
}

func TestTokenExpiresMidRun(t *testing.T) {
	e := newEnv(t, nil)
	e.em.SetTokenLifetime(10 * time.Minute)
	c := e.client(t, nil)
	if err := c.CheckAccess(context.Background(), anna); err != nil {
		t.Fatalf("check access: %v", err)
	}
	// The token the client holds is still valid by this machine's clock, but not by the server's.
	e.clock.Advance(11 * time.Minute)
	e.em.ResetTraffic()
	res := write(t, c, createOps(e.zone, "TOKEN", 3, anna))
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("create after the token expired: %v", r.Err)
		}
	}
	if err := c.CheckAccess(context.Background(), anna); err != nil {
		t.Errorf("check access after the token expired: %v", err)
	}
	if n := e.em.Traffic().TokenRequests; n != 1 {
		t.Errorf("%d token requests after expiry, want 1 new token", n)
	}
}

// TestFailureModes checks the admin-facing message of each way the setup can be wrong.
func TestFailureModes(t *testing.T) {
	tests := []struct {
		name     string
		app      func(*emulator.App)
		opts     func(*graph.Options)
		check    func(c *graph.Client) error // nil: CheckCredentials
		want     error
		contains []string
	}{
		{name: "wrong secret", opts: func(o *graph.Options) { o.ClientSecret = "not-the-secret" },
			want: exchange.ErrAuth, contains: []string{"AADSTS7000215", "Value column", "Certificates & secrets"}},
		{name: "secret id instead of its value", opts: func(o *graph.Options) { o.ClientSecret = secretID },
			want: exchange.ErrAuth, contains: []string{"AADSTS7000215", "secret's ID was pasted instead of its Value"}},
		{name: "expired secret", app: func(a *emulator.App) { a.SecretExpired = true },
			want: exchange.ErrAuth, contains: []string{"AADSTS7000222", "expired", "new client secret"}},
		{name: "unknown client id", opts: func(o *graph.Options) { o.ClientID = "99999999-9999-4999-8999-999999999999" },
			want: exchange.ErrAuth, contains: []string{"AADSTS700016", "Application (client) ID"}},
		{name: "unknown tenant", opts: func(o *graph.Options) { o.TenantID = "00000000-0000-4000-8000-000000000000" },
			want: exchange.ErrAuth, contains: []string{"Directory (tenant) ID"}},
		{name: "no admin consent: credentials", app: func(a *emulator.App) { a.Consented = false },
			want: exchange.ErrAccessDenied, contains: []string{"Calendars.ReadWrite", "Grant admin consent"}},
		{name: "no admin consent: mailbox", app: func(a *emulator.App) { a.Consented = false },
			check: func(c *graph.Client) error { return c.CheckAccess(context.Background(), anna) },
			want:  exchange.ErrAccessDenied, contains: []string{"Calendars.ReadWrite", "Grant admin consent"}},
		{name: "access policy", check: func(c *graph.Client) error { return c.CheckAccess(context.Background(), blocked) },
			want: exchange.ErrAccessDenied, contains: []string{"ApplicationAccessPolicy", "security group", blocked}},
		{name: "unknown user", check: func(c *graph.Client) error { return c.CheckAccess(context.Background(), missing) },
			want: exchange.ErrMailboxNotFound, contains: []string{"Inställningar -> Grunddata -> Resurser", missing}},
		{name: "unlicensed", check: func(c *graph.Client) error { return c.CheckAccess(context.Background(), nolic) },
			want: exchange.ErrMailboxNotFound, contains: []string{"licence", nolic}},
		{name: "untrusted certificate", opts: func(o *graph.Options) { o.HTTPClient = nil },
			want: exchange.ErrUnavailable, contains: []string{"not trusted", "ca_file", "authority_host"}},
		{name: "nothing listening", opts: func(o *graph.Options) { o.AuthorityHost, o.GraphURL = closedURL(t), closedURL(t) },
			want: exchange.ErrUnavailable, contains: []string{"nothing accepts connections", "authority_host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.app)
			c := e.client(t, tt.opts)
			check := tt.check
			if check == nil {
				check = func(c *graph.Client) error { return c.CheckCredentials(context.Background()) }
			}
			err := check(c)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want it to wrap %v", err, tt.want)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message lacks %q:\n%v", s, err)
				}
			}
			for _, s := range []string{secret, "not-the-secret"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("message contains the secret:\n%v", err)
				}
			}
		})
	}
}

// closedURL is an https URL on loopback where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "https://" + addr
}

func TestCertificateCredential(t *testing.T) {
	certPEM, keyPEM := selfSignedCert(t)
	e := newEnv(t, func(a *emulator.App) { a.SecretValue, a.CertificatePEM = "", certPEM })
	c := e.client(t, func(o *graph.Options) {
		o.ClientSecret = ""
		o.CertificatePEM = append(append([]byte(nil), certPEM...), keyPEM...)
	})
	if err := c.CheckCredentials(context.Background()); err != nil {
		t.Fatalf("CheckCredentials with a certificate: %v", err)
	}
	if err := c.CheckAccess(context.Background(), anna); err != nil {
		t.Fatalf("CheckAccess with a certificate: %v", err)
	}

	t.Run("a certificate the app does not know", func(t *testing.T) {
		other, otherKey := selfSignedCert(t)
		c := e.client(t, func(o *graph.Options) {
			o.ClientSecret = ""
			o.CertificatePEM = append(append([]byte(nil), other...), otherKey...)
		})
		err := c.CheckCredentials(context.Background())
		if !errors.Is(err, exchange.ErrAuth) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("unknown certificate: %v, want ErrAuth naming the certificate", err)
		}
	})
}

func selfSignedCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "tfsync test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}
