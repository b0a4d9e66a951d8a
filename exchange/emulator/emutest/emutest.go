// Package emutest is the test rig every package's tests share to reach the emulator: one emulator with the
// standard app registration, EWS service account and mailboxes, one settable clock, and, when started, its HTTPS
// front on loopback with the CA to trust and a Graph client configured for it.
//
// The emulator's own in-package tests cannot import this package (it imports the emulator); they share its clock,
// testclock.Clock. The EWS backend's in-package tests cannot take an EWS client from here either (this package
// would import the backend under test), so the rig gives them the URL and the service account to build one.
package emutest

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tfsync/exchange/emulator"
	"tfsync/exchange/emulator/emutest/testclock"
	"tfsync/exchange/graph"
)

// The standard app registration in Entra ID. It exists only inside the emulator.
const (
	TenantID = "8a5c2e11-3f0b-4d7e-9a61-2b4c6d8e0f13"
	ClientID = "0f1e2d3c-4b5a-6978-8a9b-c0d1e2f3a4b5"
	SecretID = "5d4c3b2a-1908-4f6e-8d7c-6b5a49382716"
	Secret   = "Qx8Q~emulator.secret-VALUE_0123456789abcdef"
)

// The standard EWS service account.
const (
	ServiceUser     = `EXAMPLE\svc-tf`
	ServicePassword = "Corr3ct-Horse"
)

// The standard mailboxes: two usable ones, one an access policy blocks, one without an Exchange licence, and an
// address with no mailbox at all.
const (
	Anna       = "anna.tekniker@example.com"
	Bo         = "bo.tekniker@example.com"
	Blocked    = "blocked@example.com"
	Unlicensed = "unlicensed@example.com"
	Missing    = "nobody@example.com"
)

// EWSPath is where the EWS front listens.
const EWSPath = "/EWS/Exchange.asmx"

// Options change the standard rig.
type Options struct {
	// Start is the clock's first reading; zero means now.
	Start time.Time
	// StableIDs gives events predictable ids, for golden files.
	StableIDs bool
	// Mailboxes are the usable mailboxes: nil means the standard ones (Anna and Bo, with Blocked and Unlicensed
	// beside them), an empty list none.
	Mailboxes []string
	// App changes the standard app registration before it is added.
	App func(*emulator.App)
	// EWS adds the standard EWS service account, with the ApplicationImpersonation role when Impersonation is set.
	EWS           bool
	Impersonation bool
}

// Rig is one emulator and its clock; Server is nil unless the rig was started.
type Rig struct {
	Emulator *emulator.Emulator
	Server   *emulator.Server
	Clock    *testclock.Clock
	// Zone is Europe/Stockholm, the zone the tests write events in.
	Zone *time.Location
}

// New returns an emulator in this process, without its HTTPS front: for tests that hand the emulator itself to
// the engine as its calendar.
func New(t testing.TB, o Options) *Rig {
	t.Helper()
	zone, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Fatalf("load zone: %v", err)
	}
	start := o.Start
	if start.IsZero() {
		start = time.Now()
	}
	r := &Rig{Clock: testclock.New(start), Zone: zone}
	r.Emulator = emulator.New(emulator.Options{Now: r.Clock.Now, StableIDs: o.StableIDs})
	app := emulator.App{TenantID: TenantID, ClientID: ClientID, SecretValue: Secret, SecretID: SecretID,
		Consented: true}
	if o.App != nil {
		o.App(&app)
	}
	r.Emulator.AddApp(app)
	if o.EWS {
		r.Emulator.AddEWSAccount(emulator.EWSAccount{Username: ServiceUser, Password: ServicePassword,
			Impersonation: o.Impersonation})
	}
	if o.Mailboxes == nil {
		r.Emulator.AddMailbox(Anna, emulator.MailboxOptions{})
		r.Emulator.AddMailbox(Bo, emulator.MailboxOptions{})
		r.Emulator.AddMailbox(Blocked, emulator.MailboxOptions{Blocked: true})
		r.Emulator.AddMailbox(Unlicensed, emulator.MailboxOptions{Unlicensed: true})
	}
	for _, mb := range o.Mailboxes {
		r.Emulator.AddMailbox(mb, emulator.MailboxOptions{})
	}
	return r
}

// Start returns New's emulator behind its HTTPS front on a free loopback port, with a certificate from a CA made
// for this rig. The server closes when the test ends.
func Start(t testing.TB, o Options) *Rig {
	t.Helper()
	r := New(t, o)
	srv, err := emulator.Serve(r.Emulator, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("serve the emulator: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	r.Server = srv
	return r
}

// URL is the server's base, "https://127.0.0.1:PORT": the Entra authority host and the Graph base.
func (r *Rig) URL() string { return r.Server.URL }

// EWSURL is the EWS front's address.
func (r *Rig) EWSURL() string { return r.Server.URL + EWSPath }

// HTTPClient trusts the rig's CA, and only it; it never goes through a proxy.
func (r *Rig) HTTPClient() *http.Client { return r.Server.Client() }

// WriteCA writes the CA certificate (PEM) into dir and returns its path, for SSL_CERT_FILE or a configuration's
// ca_file.
func (r *Rig) WriteCA(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "emulator-ca.pem")
	if err := os.WriteFile(path, r.Server.CACertPEM, 0o600); err != nil {
		t.Fatalf("write the emulator's CA: %v", err)
	}
	return path
}

// GraphOptions are a Graph client's options for the standard app on this rig: its credentials, URLs, TLS trust
// and zone. The client keeps its own clock and back-off unless the caller sets Now and Sleep.
func (r *Rig) GraphOptions() graph.Options {
	return graph.Options{
		TenantID: TenantID, ClientID: ClientID, ClientSecret: Secret,
		AuthorityHost: r.Server.URL, GraphURL: r.Server.URL, HTTPClient: r.Server.Client(), Zone: r.Zone,
	}
}

// Graph returns a Graph client for this rig, with GraphOptions changed by modify (when not nil).
func (r *Rig) Graph(t testing.TB, modify func(*graph.Options)) *graph.Client {
	t.Helper()
	o := r.GraphOptions()
	if modify != nil {
		modify(&o)
	}
	c, err := graph.New(o)
	if err != nil {
		t.Fatalf("new Graph client: %v", err)
	}
	return c
}
