package ews

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"tfsync/exchange"
	"tfsync/exchange/emulator"
)

// These tests drive the EWS backend against the emulator's habits that copy real Exchange (exchange/emulator's
// fidelity.go). Each fails against the old, kinder emulator: run them with TFSYNC_EMULATOR_LENIENT=1 to see it.

var year2026 = exchange.Window{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	End: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}

func createOne(t *testing.T, env *emulatorEnv, mb string) exchange.Event {
	t.Helper()
	var rs []exchange.OpResult
	env.client.Write(context.Background(), []exchange.Op{{Kind: exchange.OpCreate, Mailbox: mb, Event: goldenEvent(t),
		TransactionID: "tx"}}, func(r []exchange.OpResult) { rs = append(rs, r...) })
	if len(rs) != 1 || rs[0].Err != nil {
		t.Fatalf("create: %+v", rs)
	}
	return rs[0].Event
}

func updateOne(t *testing.T, env *emulatorEnv, mb string, ev exchange.Event) exchange.Event {
	t.Helper()
	var rs []exchange.OpResult
	env.client.Write(context.Background(), []exchange.Op{{Kind: exchange.OpUpdate, Mailbox: mb, Event: ev}},
		func(r []exchange.OpResult) { rs = append(rs, r...) })
	if len(rs) != 1 || rs[0].Err != nil {
		t.Fatalf("update: %+v", rs)
	}
	return rs[0].Event
}

// Exchange converts an HTML body on save and again on every later save: what the backend reads back is a whole
// document whose markup changes, while its text stays what tfsync wrote.
func TestEmulatorBodyConvertedOnSave(t *testing.T) {
	env := newEmulatorEnv(t, envOptions{auth: AuthNTLM, access: AccessImpersonation})
	const mb = "tech1@example.com"
	env.em.AddMailbox(mb, emulator.MailboxOptions{})
	ctx := context.Background()
	written := goldenEvent(t)
	created := createOne(t, env, mb)
	got, err := env.client.Get(ctx, mb, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Body == written.Body || !strings.HasPrefix(got.Body, "<html>\r\n<head>") {
		t.Fatalf("body read back as written %q; Exchange returns a converted document", got.Body)
	}
	if textOf(got.Body) != textOf(written.Body) {
		t.Fatalf("body text %q, want %q", textOf(got.Body), textOf(written.Body))
	}
	moved := got
	moved.Start, moved.End = got.Start.Add(time.Hour), got.End.Add(time.Hour)
	updateOne(t, env, mb, moved)
	again, err := env.client.Get(ctx, mb, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.Body == got.Body || textOf(again.Body) != textOf(written.Body) {
		t.Fatalf("after an update the body is %q; want the same text in a newly converted document", again.Body)
	}
}

// textOf is the body's visible text, whitespace collapsed (the comparison sync.BodyText makes, without importing
// sync into a backend's tests).
func textOf(body string) string {
	var b strings.Builder
	in, head := false, false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '<':
			in = true
			rest := strings.ToLower(body[i:])
			if strings.HasPrefix(rest, "<head") {
				head = true
			} else if strings.HasPrefix(rest, "</head") {
				head = false
			}
			b.WriteByte(' ')
		case c == '>':
			in = false
		case !in && !head:
			b.WriteByte(c)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// IIS answers 503 with its own HTML page, no SOAP: the backend retries it with exponential pauses, and when it
// persists reports the server as unavailable (not as some EWS response code).
func TestEmulatorBare503(t *testing.T) {
	env := newEmulatorEnv(t, envOptions{auth: AuthNTLM, access: AccessDelegate})
	const mb = "tech1@example.com"
	env.em.AddMailbox(mb, emulator.MailboxOptions{})
	env.em.SetFaults(emulator.Faults{Hook: func(op emulator.FaultOp) *emulator.FaultReply {
		if op.Front == "ews" && op.N <= 2 {
			return &emulator.FaultReply{Status: 503}
		}
		return nil
	}})
	if err := env.client.CheckAccess(context.Background(), mb); err != nil {
		t.Fatalf("check access after two 503s: %v", err)
	}
	if got, want := env.sleeps.got(), []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("pauses %v, want %v", got, want)
	}
	env.em.SetFaults(emulator.Faults{Hook: func(op emulator.FaultOp) *emulator.FaultReply {
		return &emulator.FaultReply{Status: 503}
	}})
	err := env.client.CheckAccess(context.Background(), mb)
	var e *Error
	if !errors.As(err, &e) || e.Code != "HTTP 503" || !errors.Is(err, exchange.ErrUnavailable) ||
		!strings.Contains(e.Hint, "stayed unavailable (HTTP 503)") {
		t.Fatalf("a lasting bare 503: %v (%#v); want the server reported unavailable with HTTP 503", err, e)
	}
}

// Another client's save racing tfsync's update makes the store report ErrorIrresolvableConflict (a ChangeKey
// conflict, injected through the control API): the backend reads the current ChangeKey and updates once more.
func TestEmulatorChangeKeyConflict(t *testing.T) {
	env := newEmulatorEnv(t, envOptions{auth: AuthBasic, access: AccessImpersonation})
	const mb = "tech1@example.com"
	env.em.AddMailbox(mb, emulator.MailboxOptions{})
	created := createOne(t, env, mb)
	if err := env.em.InjectConflict(mb, created.ID); err != nil {
		t.Fatal(err)
	}
	env.em.ResetRequests()
	want := created
	want.Subject = "Kontroll: flyttad"
	got := updateOne(t, env, mb, want)
	ops := env.em.RequestsByOp(mb)
	if ops["ews.UpdateItem"] != 2 || ops["ews.GetItem"] != 1 {
		t.Errorf("requests %v: want UpdateItem twice around one GetItem (re-read, retry)", ops)
	}
	if got.ChangeKey == "" || got.ChangeKey == created.ChangeKey {
		t.Errorf("change key after the update %q", got.ChangeKey)
	}
	evs := emulator.EWSControl{Emulator: env.em}.Events(mb)
	if len(evs) != 1 || evs[0].Subject != want.Subject || evs[0].ID != created.ID {
		t.Fatalf("server holds %+v, want the one event with the new subject", evs)
	}
}

// An item another client wrote in a zone whose id maps to no IANA zone comes with the zone's full definition: the
// backend reads its instants unchanged and its zone from the definition.
func TestEmulatorUnmappableZone(t *testing.T) {
	env := newEmulatorEnv(t, envOptions{auth: AuthNTLM, access: AccessImpersonation})
	const mb = "tech1@example.com"
	env.em.AddMailbox(mb, emulator.MailboxOptions{})
	ctx := context.Background()
	tests := []struct{ zone, want string }{
		{"Europe/Stockholm", "Europe/Stockholm"}, // the definition has the configured zone's offsets
		{"Asia/Tokyo", "Etc/GMT-9"},              // another fixed offset
	}
	for _, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			user, err := env.em.AddUserEvent(mb, exchange.Event{Subject: "Importerad", TimeZone: tt.zone,
				Start: time.Date(2026, 3, 31, 7, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 31, 8, 0, 0, 0, time.UTC),
				ReminderMinutes: exchange.NoReminder})
			if err != nil {
				t.Fatal(err)
			}
			if err := env.em.SetForeignZone(mb, user.ID, "Customized Time Zone"); err != nil {
				t.Fatal(err)
			}
			got, err := env.client.Get(ctx, mb, user.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Start.Equal(user.Start) || !got.End.Equal(user.End) || got.TimeZone != tt.want {
				t.Errorf("read %s-%s in %q, want %s-%s in %q", got.Start, got.End, got.TimeZone, user.Start, user.End,
					tt.want)
			}
			res := env.client.Read(ctx, []exchange.ReadRequest{{Mailbox: mb, Window: year2026}})
			if len(res) != 1 || res[0].Err != nil {
				t.Fatalf("read the change feed: %+v", res)
			}
		})
	}
}

// Item ids are long standard base64 with + / =, sync states long blobs that change on every call: the backend
// keeps them whole.
func TestEmulatorRealisticIDsAndSyncStates(t *testing.T) {
	env := newEmulatorEnv(t, envOptions{auth: AuthNTLM, access: AccessImpersonation})
	const mb = "tech1@example.com"
	env.em.AddMailbox(mb, emulator.MailboxOptions{})
	ctx := context.Background()
	created := createOne(t, env, mb)
	if len(created.ID) < 150 || !strings.ContainsAny(created.ID, "+/") || !strings.HasSuffix(created.ID, "=") {
		t.Fatalf("id %q: want a long standard base64 id like Exchange's", created.ID)
	}
	first := env.client.Read(ctx, []exchange.ReadRequest{{Mailbox: mb, Window: year2026}})
	if len(first) != 1 || first[0].Err != nil || len(first[0].Cursor) < 300 {
		t.Fatalf("first read: %+v", first)
	}
	second := env.client.Read(ctx, []exchange.ReadRequest{{Mailbox: mb, Window: year2026, Cursor: first[0].Cursor}})
	if len(second) != 1 || second[0].Err != nil || len(second[0].Events) != 0 {
		t.Fatalf("idle read: %+v", second)
	}
	if second[0].Cursor == first[0].Cursor {
		t.Errorf("the sync state did not change on an idle read; Exchange's does")
	}
	got, err := env.client.Get(ctx, mb, created.ID)
	if err != nil || got.ID != created.ID {
		t.Fatalf("get by the long id: %+v, %v", got, err)
	}
	var rs []exchange.OpResult
	env.client.Write(ctx, []exchange.Op{{Kind: exchange.OpDelete, Mailbox: mb, Event: got}},
		func(r []exchange.OpResult) { rs = append(rs, r...) })
	if len(rs) != 1 || rs[0].Err != nil || len(env.em.Events(mb)) != 0 {
		t.Fatalf("delete by the long id: %+v", rs)
	}
}
