package sync

import (
	"context"
	"strings"
	"testing"

	"tfsync/exchange/emulator"
)

// An unreadable create journal in the middle of a pass sends no create: without the journalled transaction id a
// create an earlier pass sent unconfirmed could be made twice. The next pass, with the journal readable again,
// creates the event once.
func TestApplyWithUnreadableJournalSendsNoCreate(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	fx.seedDemo()
	fx.sync()
	const mb = "anna.lindqvist@example.com"
	fx.exec(`INSERT INTO bookings (id, kind, resource_id, title, start, status, version, updated_at) VALUES ('ARE-9', 'arende', 'RES-101', 'Ny', '2026-03-25T10:00:00', 'planned', 2, '2026-03-20T09:00:00')`)
	if err := fx.store.Update(ctx, func(tx *StoreTx) error {
		return tx.PutPending(Pending{BookingID: "ARE-9", Mailbox: mb, TransactionID: "txn-lost", CreatedAt: fx.clock.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	in, err := fx.eng.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plan := MakePlan(in)
	// The journal breaks between observing and applying.
	if _, err := fx.store.db.Exec(`UPDATE pending SET created_at = 'garbage'`); err != nil {
		t.Fatal(err)
	}
	fx.em.ResetRequests()
	r := fx.eng.Apply(ctx, in, plan)
	if n := fx.em.RequestsByOp(mb)[emulator.OpCreate]; n != 0 {
		t.Fatalf("%d creates sent without a readable journal, want 0", n)
	}
	failed := 0
	for _, res := range r.Results {
		if res.Kind == ActCreate && res.BookingID == "ARE-9" {
			if res.Err == nil || !strings.Contains(res.Err.Error(), "read the journal") {
				t.Fatalf("create of ARE-9: %v, want the journal read error", res.Err)
			}
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("create of ARE-9 reported %d times, want once", failed)
	}

	if _, err := fx.store.db.Exec(`UPDATE pending SET created_at = ?`, fx.clock.Now().Format("2006-01-02T15:04:05Z07:00")); err != nil {
		t.Fatal(err)
	}
	fx.em.ResetRequests()
	fx.sync()
	if n := fx.em.RequestsByOp(mb)[emulator.OpCreate]; n != 1 {
		t.Fatalf("%d creates once the journal reads, want 1", n)
	}
	if pending, err := fx.store.PendingCreates(ctx); err != nil || len(pending) != 0 {
		t.Fatalf("journal after the create: %+v %v", pending, err)
	}
}

// Unreadable mailbox states leave them as they are (their failure counts are not reset) and still save the
// cursors, so the pass reads on from where it got.
func TestUnreadableMailboxStatesKeepTheirCountsAndSaveCursors(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	fx.seedDemo()
	fx.sync()
	const mb = "anna.lindqvist@example.com"
	if _, err := fx.store.db.Exec(`UPDATE mailboxes SET last_sync = 'garbage', consecutive_failures = 2 WHERE mailbox = ?`, mb); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.store.db.Exec(`DELETE FROM cursors`); err != nil {
		t.Fatal(err)
	}
	fx.sync()
	var lastSync string
	var failures int
	if err := fx.store.db.QueryRow(`SELECT last_sync, consecutive_failures FROM mailboxes WHERE mailbox = ?`, mb).
		Scan(&lastSync, &failures); err != nil {
		t.Fatal(err)
	}
	if lastSync != "garbage" || failures != 2 {
		t.Fatalf("mailbox state rewritten without the previous one: last_sync %q, failures %d", lastSync, failures)
	}
	cursors, err := fx.store.Cursors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cursors[mb]; !ok {
		t.Fatalf("no cursor saved for %s: %v", mb, cursors)
	}
}
