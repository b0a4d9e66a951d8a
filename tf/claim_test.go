package tf

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStoreClaim(t *testing.T) {
	ctx := context.Background()
	path, db := newTFFile(t)
	s := openTF(t, path)
	t0 := time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC)

	if _, ok, err := s.StoreClaim(ctx); ok || err != nil {
		t.Fatalf("a TF database no pass has claimed: ok %v, %v", ok, err)
	}
	prod := StoreClaim{StorePath: "/srv/tfsync/state.db", Host: "APP01", LastRunAt: t0, RunID: "r1"}
	if _, had, err := s.ClaimStore(ctx, prod, false); had || err != nil {
		t.Fatalf("first claim: had %v, %v", had, err)
	}
	// The same store again, the host spelled in another case: accepted, and the last run moves on.
	again := prod
	again.Host, again.LastRunAt, again.RunID = "app01", t0.Add(5*time.Minute), "r2"
	if prev, had, err := s.ClaimStore(ctx, again, false); !had || err != nil || prev.RunID != "r1" {
		t.Fatalf("same store: prev %+v had %v, %v", prev, had, err)
	}

	// A second store on the same TF database is refused, and nothing is written.
	trial := StoreClaim{StorePath: "/srv/trial/state.db", Host: "APP01", LastRunAt: t0.Add(6 * time.Minute), RunID: "t1"}
	_, _, err := s.ClaimStore(ctx, trial, false)
	var oe *OtherStoreError
	if !errors.Is(err, ErrOtherStore) || !errors.As(err, &oe) {
		t.Fatalf("second store: %v", err)
	}
	for _, want := range []string{"/srv/tfsync/state.db", "host app01", "2026-03-20T09:05:00Z", "run r2", "--take-over", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%s", want, err)
		}
	}
	if c, _, _ := s.StoreClaim(ctx); c.RunID != "r2" {
		t.Fatalf("a refused claim was written: %+v", c)
	}

	// Taken over on purpose: the trial store now serves it, the old one is refused, and the installation id
	// recorded beside the claim is kept when a later claim does not name one.
	trial.InstallationID = "inst-1"
	if _, _, err := s.ClaimStore(ctx, trial, true); err != nil {
		t.Fatal(err)
	}
	trial.InstallationID, trial.RunID = "", "t2"
	if _, _, err := s.ClaimStore(ctx, trial, false); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := s.StoreClaim(ctx); c.InstallationID != "inst-1" || c.RunID != "t2" {
		t.Fatalf("claim after take-over: %+v", c)
	}
	if _, _, err := s.ClaimStore(ctx, again, false); !errors.Is(err, ErrOtherStore) {
		t.Fatalf("the old store after a take-over: %v", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM tfsync_store_claim`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("claim rows = %d, %v", n, err)
	}
}

func TestCheckWritableChangesNothing(t *testing.T) {
	ctx := context.Background()
	path, db := newTFFile(t)
	s := openTF(t, path)
	if err := s.CheckWritable(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM tfsync_audit`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("audit rows after the check = %d, %v", n, err)
	}
}
