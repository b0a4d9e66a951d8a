package tf

import (
	"database/sql"
	"strings"
	"testing"
	"time"
)

// fuzzZone is a zone with both daylight saving changes, where wall times repeat and vanish.
var fuzzZone = func() *time.Location {
	z, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		panic(err)
	}
	return z
}()

// rowColumns are the columns a RowError may name.
var rowColumns = map[string]bool{"id": true, "kind": true, "resource_id": true, "title": true, "start": true,
	"end": true, "status": true, "version": true, "updated_at": true}

// FuzzParseBooking feeds arbitrary bookings rows (every column as the text SQLite hands over) to the row parser.
// A row is either a RowError that names its booking and column, or a booking tfsync can sync safely: a positive
// span in the TF zone, all-day exactly for rondering and bounded by local midnights, and a start that survives
// being written back to TF and read again. The seed corpus is in testdata/fuzz/FuzzParseBooking; run
// `go test -fuzz=FuzzParseBooking ./tf/` to search further.
func FuzzParseBooking(f *testing.F) {
	f.Add("BES-10233", "besiktning", "R1", "Hiss", "", "", "2026-03-02T09:00:00", "2026-03-02T10:00:00", false,
		"planned", "https://tf.example.com/BES-10233", "1", "2026-03-01T12:00:00")
	f.Fuzz(func(t *testing.T, id, kind, resourceID, title, description, location, start, end string, endNull bool,
		status, url, version, updatedAt string) {
		text := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
		if endNull {
			end = "" // what database/sql scans from NULL
		}
		r := rawBooking{id: text(id), kind: text(kind), resourceID: text(resourceID), title: text(title),
			description: text(description), location: text(location), start: text(start),
			end: sql.NullString{String: end, Valid: !endNull}, status: text(status), url: text(url),
			version: text(version), updatedAt: text(updatedAt)}
		b, bad := parseBooking(r, map[string]bool{"R1": true, "R 2": true}, time.Hour, fuzzZone)
		if bad != nil {
			if bad.BookingID != id || !rowColumns[bad.Column] || strings.TrimSpace(bad.Problem) == "" {
				t.Fatalf("row error %+v does not name the booking %q, a column and the problem", bad, id)
			}
			if b.ID != "" {
				t.Fatalf("a bad row also gave a booking: %+v", b)
			}
			return
		}
		if b.ID != id || strings.TrimSpace(id) == "" || b.Title != strings.TrimSpace(title) || b.Title == "" {
			t.Fatalf("accepted id %q title %q as %q %q", id, title, b.ID, b.Title)
		}
		if _, err := ParseKind(string(b.Kind)); err != nil {
			t.Fatalf("accepted kind %q", b.Kind)
		}
		switch b.Status {
		case StatusPlanned, StatusDone, StatusCancelled:
		default:
			t.Fatalf("accepted status %q", b.Status)
		}
		if !b.End.After(b.Start) || b.Start.Location() != fuzzZone || b.End.Location() != fuzzZone {
			t.Fatalf("span %v - %v is empty or not in the TF zone", b.Start, b.End)
		}
		if b.AllDay != (b.Kind == KindRondering) {
			t.Fatalf("kind %s with all-day %t", b.Kind, b.AllDay)
		}
		if b.AllDay {
			for _, m := range []time.Time{b.Start, b.End} {
				if h, mi, s := m.Clock(); h != 0 || mi != 0 || s != 0 {
					if y := m.Year(); y > 0 && y < 10000 {
						t.Fatalf("all-day bound %v is not a local midnight", m)
					}
				}
			}
			if d := b.End.Sub(b.Start); d < 22*time.Hour || d > 26*time.Hour {
				t.Fatalf("all-day span of %v", d)
			}
			return
		}
		if endNull || strings.TrimSpace(end) == "" {
			if b.End.Sub(b.Start) != time.Hour {
				t.Fatalf("no end gave a span of %v, want the default length", b.End.Sub(b.Start))
			}
		}
		// A move writes the start back as a wall time; reading that again must give the same instant, or a
		// booking would drift by an hour on every pass around a DST change.
		if y := b.Start.Year(); y > 0 && y < 10000 {
			w, err := parseWall(formatWall(b.Start, fuzzZone))
			if err != nil || !w.instant(fuzzZone).Equal(b.Start) {
				t.Fatalf("start %v written back as %q reads as %v (%v)", b.Start, formatWall(b.Start, fuzzZone),
					w.instant(fuzzZone), err)
			}
		}
	})
}

// FuzzWallTime checks the DST rules of TF's wall times: every accepted time resolves to an instant that shows
// the same wall time in the TF zone, except one that falls in the spring gap, which lands exactly one gap later.
func FuzzWallTime(f *testing.F) {
	for _, s := range []string{"2026-03-29T02:30:00", "2026-10-25T02:30:00", "2026-03-29 01:59:59",
		"2026-10-25T03:00", "2026-06-01", "0001-01-01T00:00:00", "9999-12-31T23:59:59", "2026-02-30T10:00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := parseWall(s)
		if err != nil {
			return
		}
		got := w.instant(fuzzZone)
		want := time.Date(w.y, w.mo, w.d, w.h, w.mi, w.s, 0, time.UTC).Format(WallLayout)
		if shown := got.In(fuzzZone).Format(WallLayout); shown != want {
			// Only a wall time the zone skips may move, and then by the length of the gap (one hour here).
			if earlier := got.Add(-time.Hour).In(fuzzZone); earlier.Format(WallLayout) == want ||
				time.Date(w.y, w.mo, w.d, w.h, w.mi, w.s, 0, time.UTC).Add(time.Hour).Format(WallLayout) != shown {
				t.Fatalf("%q resolves to %v, shown as %s", s, got, shown)
			}
		}
		if !w.dateOnly {
			return
		}
		m, next := w.midnight(fuzzZone), w.nextMidnight(fuzzZone)
		if !next.After(m) {
			t.Fatalf("day %q: %v to %v", s, m, next)
		}
	})
}
