package ews

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"tfsync/exchange"
	"tfsync/exchange/emulator"
	"tfsync/exchange/emulator/emutest"
	"tfsync/exchange/exchangetest"
)

// The shared rig's EWS service account.
const (
	svcUser     = emutest.ServiceUser
	svcPassword = emutest.ServicePassword
)

// emulatorEnv is the shared rig (one emulator behind HTTPS, no mailboxes until a test adds them) and an EWS client
// pointed at it.
type emulatorEnv struct {
	em     *emulator.Emulator
	srv    *emulator.Server
	client *Client
	sleeps *sleeps
}

type envOptions struct {
	auth, access  string
	password      string // "" means the right one
	impersonation *bool  // the account's ApplicationImpersonation role; nil means what access needs
	path          string // "" means /EWS/Exchange.asmx
	concurrency   int    // Options.MaxConcurrency; 0 means the default
}

func newEmulatorEnv(t *testing.T, o envOptions) *emulatorEnv {
	t.Helper()
	imp := o.access == AccessImpersonation
	if o.impersonation != nil {
		imp = *o.impersonation
	}
	rig := emutest.Start(t, emutest.Options{Mailboxes: []string{}, EWS: true, Impersonation: imp})
	em, srv := rig.Emulator, rig.Server
	password := o.password
	if password == "" {
		password = svcPassword
	}
	path := o.path
	if path == "" {
		path = emutest.EWSPath
	}
	s := &sleeps{}
	c, err := New(Options{
		URL: srv.URL + path, Username: svcUser, Password: password, Auth: o.auth, Access: o.access,
		HTTPClient: srv.Client(), Zone: stockholm(t), Sleep: s.sleep, MaxConcurrency: o.concurrency,
	})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return &emulatorEnv{em: em, srv: srv, client: c, sleeps: s}
}

// TestConformance runs the shared suite over HTTPS against the emulator's EWS front in both access modes and both
// authentication schemes.
func TestConformance(t *testing.T) {
	for _, auth := range []string{AuthNTLM, AuthBasic} {
		for _, access := range []string{AccessImpersonation, AccessDelegate} {
			t.Run(auth+"-"+access, func(t *testing.T) {
				exchangetest.Run(t, func(t *testing.T) exchangetest.Harness {
					env := newEmulatorEnv(t, envOptions{auth: auth, access: access})
					env.em.AddMailbox("tech1@example.com", emulator.MailboxOptions{})
					env.em.AddMailbox("tech2@example.com", emulator.MailboxOptions{})
					denied := emulator.MailboxOptions{NoImpersonation: access == AccessImpersonation,
						NoDelegate: access == AccessDelegate}
					env.em.AddMailbox("denied@example.com", denied)
					return exchangetest.Harness{
						Calendar:  env.client,
						Control:   emulator.EWSControl{Emulator: env.em},
						Mailboxes: []string{"tech1@example.com", "tech2@example.com"},
						Denied:    "denied@example.com",
						Missing:   "nobody@example.com",
						Zone:      stockholm(t),
					}
				})
			})
		}
	}
}

// TestEmulatorFailures checks the message of each way the server refuses, over the wire.
func TestEmulatorFailures(t *testing.T) {
	no := false
	tests := []struct {
		name     string
		opts     envOptions
		mailbox  emulator.MailboxOptions
		address  string // the mailbox to check; "" means the one added
		sentinel error
		want     []string
	}{
		{"wrong password ntlm", envOptions{auth: AuthNTLM, access: AccessImpersonation, password: "wrong"},
			emulator.MailboxOptions{}, "", exchange.ErrAuth,
			[]string{`account EXAMPLE\svc-tf was refused`, "username (DOMAIN\\user or user@domain) and password", "not locked"}},
		{"wrong password basic", envOptions{auth: AuthBasic, access: AccessDelegate, password: "wrong"},
			emulator.MailboxOptions{}, "", exchange.ErrAuth, []string{"was refused", "password"}},
		{"account may not impersonate", envOptions{auth: AuthNTLM, access: AccessImpersonation, impersonation: &no},
			emulator.MailboxOptions{}, "", exchange.ErrAccessDenied,
			[]string{"may not impersonate tech1@example.com", "New-ManagementRoleAssignment -Role ApplicationImpersonation -User EXAMPLE\\svc-tf", "scope"}},
		{"impersonation scope excludes the mailbox", envOptions{auth: AuthNTLM, access: AccessImpersonation},
			emulator.MailboxOptions{NoImpersonation: true}, "", exchange.ErrAccessDenied,
			[]string{"tech1@example.com", "ApplicationImpersonation"}},
		{"no delegate rights", envOptions{auth: AuthNTLM, access: AccessDelegate},
			emulator.MailboxOptions{NoDelegate: true}, "", exchange.ErrAccessDenied,
			[]string{"Editor rights on tech1@example.com's calendar", "Add-MailboxFolderPermission tech1@example.com:\\Calendar -User EXAMPLE\\svc-tf -AccessRights Editor", `access = "impersonation"`}},
		{"no such mailbox", envOptions{auth: AuthBasic, access: AccessImpersonation},
			emulator.MailboxOptions{}, "nobody@example.com", exchange.ErrMailboxNotFound,
			[]string{"nobody@example.com", "primary SMTP address", "Inställningar -> Grunddata -> Resurser"}},
		{"no such mailbox as delegate", envOptions{auth: AuthNTLM, access: AccessDelegate},
			emulator.MailboxOptions{}, "nobody@example.com", exchange.ErrMailboxNotFound,
			[]string{"primary SMTP address"}},
		{"wrong path", envOptions{auth: AuthNTLM, access: AccessImpersonation, path: "/EWS/Services.asmx"},
			emulator.MailboxOptions{}, "", exchange.ErrUnavailable, []string{"has no EWS endpoint", "[exchange.ews] url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEmulatorEnv(t, tt.opts)
			env.em.AddMailbox("tech1@example.com", tt.mailbox)
			address := tt.address
			if address == "" {
				address = "tech1@example.com"
			}
			err := env.client.CheckAccess(context.Background(), address)
			checkError(t, err, tt.sentinel, tt.want)
			if strings.Contains(err.Error(), svcPassword) || (tt.opts.password != "" &&
				strings.Contains(err.Error(), tt.opts.password)) {
				t.Errorf("error %q shows a password", err)
			}
		})
	}
	t.Run("untrusted certificate", func(t *testing.T) {
		env := newEmulatorEnv(t, envOptions{auth: AuthNTLM, access: AccessImpersonation})
		c, err := New(Options{URL: env.srv.URL + "/EWS/Exchange.asmx", Username: svcUser, Password: svcPassword})
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckCredentials(context.Background())
		checkError(t, err, exchange.ErrUnavailable, []string{"certificate", "not trusted", env.srv.URL})
	})
	t.Run("credentials", func(t *testing.T) {
		env := newEmulatorEnv(t, envOptions{auth: AuthNTLM, access: AccessImpersonation})
		if err := env.client.CheckCredentials(context.Background()); err != nil {
			t.Errorf("check credentials: %v", err)
		}
	})
}

// TestEmulatorDroppedCreate drops the connection of a CreateItem after the server committed it: the client must
// find the event by its booking id instead of creating a second one.
func TestEmulatorDroppedCreate(t *testing.T) {
	for _, auth := range []string{AuthNTLM, AuthBasic} {
		t.Run(auth, func(t *testing.T) {
			// One connection, authenticated before the fault is set, so the create's FindItem (for an existing
			// event) is request 1 and its CreateItem request 2.
			env := newEmulatorEnv(t, envOptions{auth: auth, access: AccessImpersonation, concurrency: 1})
			const mb = "tech1@example.com"
			env.em.AddMailbox(mb, emulator.MailboxOptions{})
			var logs bytes.Buffer
			ctx := zerolog.New(&logs).WithContext(context.Background())
			if err := env.client.CheckAccess(ctx, mb); err != nil {
				t.Fatalf("check access: %v", err)
			}
			env.em.SetFaults(emulator.Faults{DropAfterCommitAt: 2})
			ev := goldenEvent(t)
			var rs []exchange.OpResult
			env.client.Write(ctx, []exchange.Op{{Kind: exchange.OpCreate, Mailbox: mb, Event: ev,
				TransactionID: "tx-" + ev.BookingID}}, func(r []exchange.OpResult) { rs = append(rs, r...) })
			if len(rs) != 1 || rs[0].Err != nil {
				t.Fatalf("create after a dropped connection: %+v", rs)
			}
			if !strings.Contains(logs.String(), "connection dropped during CreateItem") {
				t.Fatalf("the CreateItem's connection was not the one dropped; logs:\n%s", logs.String())
			}
			var ids []string
			for _, e := range (emulator.EWSControl{Emulator: env.em}).Events(mb) {
				if e.BookingID == ev.BookingID {
					ids = append(ids, e.ID)
				}
			}
			if len(ids) != 1 {
				t.Fatalf("the server holds %d events for the booking, want 1", len(ids))
			}
			if rs[0].Event.ID != ids[0] || rs[0].Event.ChangeKey == "" {
				t.Errorf("result id %q (change key %q), want the committed event %q", rs[0].Event.ID,
					rs[0].Event.ChangeKey, ids[0])
			}
		})
	}
}

// TestEmulatorThrottling runs writes and reads while the server answers a share of operations with 503: every op
// still succeeds, after pauses the injected Sleep records.
func TestEmulatorThrottling(t *testing.T) {
	env := newEmulatorEnv(t, envOptions{auth: AuthNTLM, access: AccessImpersonation})
	const mb = "tech1@example.com"
	env.em.AddMailbox(mb, emulator.MailboxOptions{})
	env.em.SetFaults(emulator.Faults{Rate503: 0.25, Seed: 7})
	var ops []exchange.Op
	for i := range 10 {
		ev := goldenEvent(t)
		ev.BookingID = ev.BookingID + "-" + string(rune('a'+i))
		ev.Start = ev.Start.AddDate(0, 0, i)
		ev.End = ev.End.AddDate(0, 0, i)
		ops = append(ops, exchange.Op{Kind: exchange.OpCreate, Mailbox: mb, Event: ev, TransactionID: ev.BookingID})
	}
	var rs []exchange.OpResult
	env.client.Write(context.Background(), ops, func(r []exchange.OpResult) { rs = append(rs, r...) })
	for _, r := range rs {
		if r.Err != nil {
			t.Errorf("create %s: %v", r.Op.Event.BookingID, r.Err)
		}
	}
	res := env.client.Read(context.Background(), []exchange.ReadRequest{{Mailbox: mb, Window: exchange.Window{
		Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}}})
	if res[0].Err != nil || len(res[0].Events) != len(ops) {
		t.Errorf("read: %d events, %v; want %d", len(res[0].Events), res[0].Err, len(ops))
	}
	if len(env.sleeps.got()) == 0 {
		t.Errorf("no retry pauses with 25%% of operations failing")
	}
	if n := countEvents(env.em.Events(mb)); n != len(ops) {
		t.Errorf("the server holds %d events, want %d", n, len(ops))
	}
}

func countEvents(evs []exchange.Event) int {
	n := 0
	for _, ev := range evs {
		if ev.BookingID != "" {
			n++
		}
	}
	return n
}

// TestEmulatorServerBusy has the EWS front answer ErrorServerBusy with a back-off: the client waits exactly that
// long (through the injected Sleep) and then succeeds.
func TestEmulatorServerBusy(t *testing.T) {
	env := newEmulatorEnv(t, envOptions{auth: AuthNTLM, access: AccessDelegate})
	const mb = "tech1@example.com"
	env.em.AddMailbox(mb, emulator.MailboxOptions{})
	env.em.SetFaults(emulator.Faults{Hook: func(op emulator.FaultOp) *emulator.FaultReply {
		if op.Front == "ews" && op.N <= 2 {
			return &emulator.FaultReply{Status: 500, Code: "ErrorServerBusy", RetryAfter: "3"}
		}
		return nil
	}})
	if err := env.client.CheckAccess(context.Background(), mb); err != nil {
		t.Fatalf("check access while busy: %v", err)
	}
	if got, want := env.sleeps.got(), []time.Duration{3 * time.Second, 3 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("pauses %v, want %v (the server's BackOffMilliseconds)", got, want)
	}
}

// TestEmulatorStaleChangeKey has the EWS front refuse the first UpdateItem as a conflict: the client fetches the
// current change key and updates once more.
func TestEmulatorStaleChangeKey(t *testing.T) {
	env := newEmulatorEnv(t, envOptions{auth: AuthBasic, access: AccessImpersonation})
	const mb = "tech1@example.com"
	env.em.AddMailbox(mb, emulator.MailboxOptions{})
	ctx := context.Background()
	ev := goldenEvent(t)
	var rs []exchange.OpResult
	env.client.Write(ctx, []exchange.Op{{Kind: exchange.OpCreate, Mailbox: mb, Event: ev, TransactionID: "tx"}},
		func(r []exchange.OpResult) { rs = append(rs, r...) })
	if len(rs) != 1 || rs[0].Err != nil {
		t.Fatalf("create: %+v", rs)
	}
	created := rs[0].Event
	updates := 0
	env.em.SetFaults(emulator.Faults{Hook: func(op emulator.FaultOp) *emulator.FaultReply {
		if op.Front == "ews" && op.Path == "UpdateItem" {
			updates++
			if updates == 1 {
				return &emulator.FaultReply{Status: 500, Code: "ErrorIrresolvableConflict"}
			}
		}
		return nil
	}})
	want := created
	want.Subject, want.ChangeKey = "Kontroll: flyttad", "stale-key"
	rs = nil
	env.client.Write(ctx, []exchange.Op{{Kind: exchange.OpUpdate, Mailbox: mb, Event: want}},
		func(r []exchange.OpResult) { rs = append(rs, r...) })
	if len(rs) != 1 || rs[0].Err != nil {
		t.Fatalf("update after a conflict: %+v", rs)
	}
	if updates != 2 {
		t.Errorf("%d UpdateItem operations, want 2 (retried once)", updates)
	}
	got, err := env.client.Get(ctx, mb, created.ID)
	if err != nil || got.Subject != want.Subject || got.ChangeKey != rs[0].Event.ChangeKey {
		t.Errorf("after the update: %q (change key %q), %v; want %q with the update's change key %q", got.Subject,
			got.ChangeKey, err, want.Subject, rs[0].Event.ChangeKey)
	}
}
