package tf

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestMoveBookings checks that moves written together succeed or fail each on its own: a failure, even one after
// its booking row was already updated (the audit insert), leaves that booking as it was and the others moved.
func TestMoveBookings(t *testing.T) {
	ctx := context.Background()
	path, db := newTFFile(t)
	insert(t, db,
		row{id: "ARE-1", start: "2026-03-03T09:00:00", end: "-"},
		row{id: "ARE-2", start: "2026-03-03T09:00:00", end: "-", version: "3"},
		row{id: "ARE-3", start: "2026-03-03T09:00:00", end: "-"},
		row{id: "ARE-4", start: "2026-03-03T09:00:00", end: "-"},
		row{id: "RON-1", kind: "rondering", start: "2026-03-03", end: "-"},
	)
	// The audit insert of ARE-4 fails, after its booking row was updated.
	mustExec(t, db, `CREATE TRIGGER fail_audit BEFORE INSERT ON tfsync_audit WHEN NEW.booking_id = 'ARE-4'
		BEGIN SELECT RAISE(ABORT, 'audit refused'); END`)
	s := openTF(t, path)

	timed := func(id string, version int64, start, end string) Move {
		return Move{BookingID: id, Version: version, Start: at(t, start), End: at(t, end), RunID: "run-1"}
	}
	moves := []Move{
		timed("ARE-1", 1, "2026-03-04T13:00:00+01:00", "2026-03-04T14:00:00+01:00"),
		timed("ARE-2", 2, "2026-03-04T13:00:00+01:00", "2026-03-04T14:00:00+01:00"),
		timed("ARE-404", 1, "2026-03-04T13:00:00+01:00", "2026-03-04T14:00:00+01:00"),
		timed("ARE-3", 1, "2026-03-04T13:00:00+01:00", "2026-03-04T13:00:00+01:00"),
		timed("ARE-4", 1, "2026-03-04T13:00:00+01:00", "2026-03-04T14:00:00+01:00"),
		{BookingID: "RON-1", Version: 1, AllDay: true, Start: time.Date(2026, 3, 5, 0, 0, 0, 0, stockholm(t))},
	}
	tests := []struct {
		id                 string
		wantErr            error
		wantMsg            string
		wantStart, wantEnd string
		wantVer            int64
	}{
		{id: "ARE-1", wantStart: "2026-03-04T13:00:00", wantEnd: "2026-03-04T14:00:00", wantVer: 2},
		{id: "ARE-2", wantErr: ErrVersionConflict, wantStart: "2026-03-03T09:00:00", wantEnd: "NULL", wantVer: 3},
		{id: "ARE-404", wantErr: ErrBookingNotFound},
		{id: "ARE-3", wantMsg: "is not after start", wantStart: "2026-03-03T09:00:00", wantEnd: "NULL", wantVer: 1},
		{id: "ARE-4", wantMsg: "audit refused", wantStart: "2026-03-03T09:00:00", wantEnd: "NULL", wantVer: 1},
		{id: "RON-1", wantStart: "2026-03-05", wantEnd: "NULL", wantVer: 2},
	}

	results := s.MoveBookings(ctx, moves)
	if len(results) != len(moves) {
		t.Fatalf("%d results for %d moves", len(results), len(moves))
	}
	for i, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			r := results[i]
			failed := tt.wantErr != nil || tt.wantMsg != ""
			switch {
			case !failed && r.Err != nil:
				t.Fatalf("move: %v", r.Err)
			case failed && r.Err == nil:
				t.Fatalf("move succeeded with version %d, want an error", r.Version)
			case tt.wantErr != nil && !errors.Is(r.Err, tt.wantErr):
				t.Errorf("err = %v, want %v", r.Err, tt.wantErr)
			case failed && (!strings.Contains(r.Err.Error(), tt.wantMsg) || !strings.Contains(r.Err.Error(), tt.id)):
				t.Errorf("err = %q, want it to name the booking and say %q", r.Err, tt.wantMsg)
			case !failed && r.Version != tt.wantVer:
				t.Errorf("new version = %d, want %d", r.Version, tt.wantVer)
			}
			audit, err := s.Audit(ctx, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if wantRows := map[bool]int{true: 0, false: 1}[failed]; len(audit) != wantRows {
				t.Errorf("%d audit rows, want %d", len(audit), wantRows)
			}
			if tt.wantStart == "" {
				return
			}
			start, end, version, _ := stored(t, db, tt.id)
			if start != tt.wantStart || end != tt.wantEnd || version != tt.wantVer {
				t.Errorf("stored %q, %q, v%d; want %q, %q, v%d", start, end, version, tt.wantStart, tt.wantEnd,
					tt.wantVer)
			}
		})
	}
}

// TestMoveBookingsCancelled checks that when the transaction cannot run at all, every move fails and none is
// written.
func TestMoveBookingsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	path, db := newTFFile(t)
	insert(t, db, row{id: "ARE-1", start: "2026-03-03T09:00:00", end: "-"})
	s := openTF(t, path)
	cancel()
	results := s.MoveBookings(ctx, []Move{{BookingID: "ARE-1", Version: 1,
		Start: at(t, "2026-03-04T13:00:00+01:00"), End: at(t, "2026-03-04T14:00:00+01:00")}})
	if r := results[0]; r.Err == nil || r.Version != 0 || !strings.Contains(r.Err.Error(), "ARE-1") {
		t.Errorf("result = %+v, want a failure naming ARE-1 and no version", r)
	}
	if start, _, version, _ := stored(t, db, "ARE-1"); start != "2026-03-03T09:00:00" || version != 1 {
		t.Errorf("stored %q v%d, want the booking unmoved", start, version)
	}
}
