package tf

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tfsync/tf/demo"
)

func stockholm(t testing.TB) *time.Location {
	t.Helper()
	z, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Fatalf("load zone: %v", err)
	}
	return z
}

// fixedNow is the injected clock of every test that writes.
var fixedNow = time.Date(2026, 3, 3, 8, 15, 0, 0, time.UTC) // 09:15:00 in Stockholm

// newTFFile creates a TF database with the schema and three resources, and returns its path and a plain
// connection that plays TF writing its own rows.
func newTFFile(t testing.TB) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tf.db")
	if err := CreateSchema(context.Background(), path); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	db := rawDB(t, path)
	mustExec(t, db, `INSERT INTO resources (id, name, email, sync_enabled) VALUES
		('R1', 'Anna Lindqvist', ' anna@example.com ', 1),
		('R2', 'Erik Johansson', NULL, 1),
		('R3', 'Karin Ek', 'karin@example.com', 0)`)
	return path, db
}

func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatalf("open raw: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("exec %q: %v", q, err)
	}
}

func openTF(t testing.TB, path string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(path, SQLiteOptions{Zone: stockholm(t), Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// row is a bookings row for fixtures; empty fields get defaults, end "-" means NULL.
type row struct {
	id, kind, resource, title, start, end, status, version, updatedAt string
}

func insert(t testing.TB, db *sql.DB, rows ...row) {
	t.Helper()
	for _, r := range rows {
		def := func(v, d string) string {
			if v == "" {
				return d
			}
			return v
		}
		var end any = r.end
		if r.end == "-" {
			end = nil
		}
		mustExec(t, db, `INSERT INTO bookings (id, kind, resource_id, title, description, location, start, "end",
			status, url, version, updated_at) VALUES (?, ?, ?, ?, 'beskrivning', ' Storgatan 4 ', ?, ?, ?, ?, ?, ?)`,
			r.id, def(r.kind, "arende"), def(r.resource, "R1"), def(r.title, "Titel "+r.id), r.start, end,
			def(r.status, "planned"), "https://tf.example.com/"+r.id, def(r.version, "1"),
			def(r.updatedAt, "2026-03-01T12:00:00"))
	}
}

func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ids(bs []Booking) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.ID)
	}
	slices.Sort(out)
	return out
}

func query(t testing.TB, from, to string, kinds ...Kind) Query {
	if len(kinds) == 0 {
		kinds = Kinds
	}
	return Query{Window: Window{Start: at(t, from), End: at(t, to)}, Kinds: kinds, DefaultLength: time.Hour}
}

func tables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func TestCreateSchemaIdempotentKeepsData(t *testing.T) {
	ctx := context.Background()
	path, db := newTFFile(t)
	insert(t, db, row{id: "ARE-1", start: "2026-03-03T09:00:00", end: "2026-03-03T10:00:00"})

	for i := range 2 {
		if err := CreateSchema(ctx, path); err != nil {
			t.Fatalf("create schema again (%d): %v", i, err)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM bookings`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("bookings after re-create = %d, %v; want 1", n, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM resources`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("resources after re-create = %d, %v; want 3", n, err)
	}
	want := []string{"bookings", "resources", "tfsync_audit"}
	if got := tables(t, db); !slices.Equal(got, want) {
		t.Fatalf("tables = %v, want %v", got, want)
	}
}

func TestCreateSchemaOnTFTables(t *testing.T) {
	ctx := context.Background()
	t.Run("adds the audit table beside TF's data", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tf.db")
		db := rawDB(t, path)
		mustExec(t, db, schemaSQL)
		mustExec(t, db, `INSERT INTO resources (id, name) VALUES ('R1', 'Anna')`)
		if err := CreateSchema(ctx, path); err != nil {
			t.Fatal(err)
		}
		var name string
		if err := db.QueryRow(`SELECT name FROM resources WHERE id = 'R1'`).Scan(&name); err != nil || name != "Anna" {
			t.Fatalf("resource after create = %q, %v", name, err)
		}
		if got := tables(t, db); !slices.Contains(got, "tfsync_audit") {
			t.Fatalf("tables = %v, want tfsync_audit among them", got)
		}
	})
	t.Run("reports TF tables that lack columns and leaves them as they are", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tf.db")
		db := rawDB(t, path)
		mustExec(t, db, `CREATE TABLE bookings (id TEXT PRIMARY KEY, kind TEXT, title TEXT)`)
		err := CreateSchema(ctx, path)
		if !errors.Is(err, ErrSchema) {
			t.Fatalf("err = %v, want ErrSchema", err)
		}
		if !strings.Contains(err.Error(), `"resource_id"`) {
			t.Errorf("error %q does not name the missing column resource_id", err)
		}
		cols, err := tableColumns(ctx, db, "bookings")
		if err != nil || len(cols) != 3 {
			t.Fatalf("bookings columns after create = %v, %v; want the 3 TF made", cols, err)
		}
	})
	t.Run("missing folder", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope", "tf.db")
		if err := CreateSchema(ctx, path); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v, want an error naming %s", err, path)
		}
	})
}

func TestOpenSQLiteErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		zone    bool
		wantIs  error
		wantMsg []string
	}{
		{
			name:    "missing file",
			setup:   func(t *testing.T, path string) {},
			zone:    true,
			wantIs:  fs.ErrNotExist,
			wantMsg: []string{"does not exist", "tfsync init --create-tf-database --tf-database"},
		},
		{
			name: "empty file",
			setup: func(t *testing.T, path string) {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			zone:    true,
			wantIs:  ErrSchema,
			wantMsg: []string{"no resources or bookings table", "tfsync init --create-tf-database --tf-database", "in an empty file"},
		},
		{
			name: "bookings table missing",
			setup: func(t *testing.T, path string) {
				mustExec(t, rawDB(t, path), `CREATE TABLE resources (id TEXT PRIMARY KEY, name TEXT NOT NULL,
					email TEXT, sync_enabled INTEGER NOT NULL DEFAULT 0)`)
			},
			zone:    true,
			wantIs:  ErrSchema,
			wantMsg: []string{"no bookings table", "tfsync init --create-tf-database --tf-database"},
		},
		{
			name: "columns missing",
			setup: func(t *testing.T, path string) {
				db := rawDB(t, path)
				mustExec(t, db, `CREATE TABLE resources (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT)`)
				mustExec(t, db, `CREATE TABLE bookings (id TEXT PRIMARY KEY, kind TEXT NOT NULL,
					resource_id TEXT NOT NULL, title TEXT NOT NULL, description TEXT, location TEXT,
					start TEXT NOT NULL, url TEXT, version INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL)`)
			},
			zone:   true,
			wantIs: ErrSchema,
			wantMsg: []string{`table resources lacks column(s) "sync_enabled"`,
				`table bookings lacks column(s) "end", "status"`, "ADD COLUMN"},
		},
		{
			name: "not a database",
			setup: func(t *testing.T, path string) {
				if err := os.WriteFile(path, []byte(strings.Repeat("id;kind;title\n", 200)), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			zone:    true,
			wantMsg: []string{"not a database", "SQLite file"},
		},
		{
			name: "no zone",
			setup: func(t *testing.T, path string) {
				if err := CreateSchema(context.Background(), path); err != nil {
					t.Fatal(err)
				}
			},
			wantMsg: []string{"time_zone"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tf.db")
			tt.setup(t, path)
			_, statBefore := os.Stat(path)
			opts := SQLiteOptions{}
			if tt.zone {
				opts.Zone = stockholm(t)
			}
			s, err := OpenSQLite(path, opts)
			if err == nil {
				s.Close()
				t.Fatal("open succeeded, want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.wantIs)
			}
			for _, m := range append(tt.wantMsg, path) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("err = %q, want it to contain %q", err, m)
				}
			}
			if _, statAfter := os.Stat(path); errors.Is(statBefore, fs.ErrNotExist) != errors.Is(statAfter, fs.ErrNotExist) {
				t.Errorf("open changed whether %s exists", path)
			}
		})
	}
}

func TestOpenSQLiteKeepsTFDatabase(t *testing.T) {
	for _, mode := range []string{"delete", "wal", "truncate"} {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tf.db")
			db := rawDB(t, path)
			mustExec(t, db, `PRAGMA journal_mode = `+mode)
			mustExec(t, db, schemaSQL) // TF's two tables, no audit table
			mustExec(t, db, `INSERT INTO resources (id, name, sync_enabled) VALUES ('R1', 'Anna', 1)`)
			insert(t, db, row{id: "ARE-1", start: "2026-03-03T09:00:00", end: "2026-03-03T10:00:00"})

			s := openTF(t, path)
			if _, err := s.MoveBooking(context.Background(), Move{BookingID: "ARE-1", Version: 1,
				Start: at(t, "2026-03-03T10:00:00+01:00"), End: at(t, "2026-03-03T11:00:00+01:00")}); err != nil {
				t.Fatalf("move: %v", err)
			}
			s.Close()

			var got string
			if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&got); err != nil || got != mode {
				t.Errorf("journal_mode = %q, %v; want %q unchanged", got, err, mode)
			}
			if got := tables(t, db); !slices.Contains(got, "tfsync_audit") {
				t.Errorf("tables = %v, want tfsync_audit added", got)
			}
		})
	}
}

func TestOpenSQLiteOddPath(t *testing.T) {
	// Characters that are URI syntax to SQLite must still name the file.
	dir := filepath.Join(t.TempDir(), "TF data 100%")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tf #1?.db")
	if err := CreateSchema(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("schema not created at %s: %v", path, err)
	}
	s := openTF(t, path)
	if _, err := s.Resources(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("folder holds %v, %v; want only the database", entries, err)
	}
}

func TestBookingsWindow(t *testing.T) {
	path, db := newTFFile(t)
	insert(t, db,
		row{id: "ends-at-window-start", start: "2026-03-01T23:00:00", end: "2026-03-02T00:00:00"},
		row{id: "ends-just-after-start", start: "2026-03-01T23:00:00", end: "2026-03-02T00:00:01"},
		row{id: "starts-at-window-start", start: "2026-03-02T00:00:00", end: "2026-03-02T00:30:00"},
		row{id: "starts-just-before-end", start: "2026-03-08T23:59:59", end: "2026-03-09T01:00:00"},
		row{id: "starts-at-window-end", start: "2026-03-09T00:00:00", end: "2026-03-09T01:00:00"},
		row{id: "long-spanning", start: "2026-01-01T08:00:00", end: "2026-04-01T17:00:00"},
		row{id: "long-ending-before", start: "2026-01-01T08:00:00", end: "2026-03-01T17:00:00"},
		row{id: "null-end-reaching-in", start: "2026-03-01T23:30:00", end: "-"},
		row{id: "null-end-ending-at-start", start: "2026-03-01T23:00:00", end: "-"},
		row{id: "empty-end-reaching-in", start: "2026-03-01T23:45:00", end: ""},
		row{id: "space-format", start: "2026-03-03 09:00:00", end: "2026-03-03 10:00:00"},
		row{id: "minute-format", start: "2026-03-03T09:00", end: "2026-03-03T10:00"},
		row{id: "rondering-day-before", kind: "rondering", start: "2026-03-01", end: "-"},
		row{id: "rondering-first-day", kind: "rondering", start: "2026-03-02", end: "-"},
		row{id: "rondering-last-day", kind: "rondering", start: "2026-03-08T07:00:00", end: "x"},
		row{id: "rondering-day-after", kind: "rondering", start: "2026-03-09", end: "-"},
		row{id: "far-past", start: "2025-03-03T09:00:00", end: "2025-03-03T10:00:00"},
		row{id: "far-future", start: "2027-03-03T09:00:00", end: "2027-03-03T10:00:00"},
		row{id: "kind-not-asked-for", kind: "kontroll", start: "2026-03-03T09:00:00", end: "2026-03-03T10:00:00"},
	)
	s := openTF(t, path)
	q := query(t, "2026-03-02T00:00:00+01:00", "2026-03-09T00:00:00+01:00",
		KindArende, KindBesiktning, KindDriftatgard, KindRondering)
	set, err := s.Bookings(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"empty-end-reaching-in", "ends-just-after-start", "long-spanning", "minute-format",
		"null-end-reaching-in", "rondering-first-day", "rondering-last-day", "space-format",
		"starts-at-window-start", "starts-just-before-end"}
	if got := ids(set.Bookings); !slices.Equal(got, want) {
		t.Errorf("ids = %v\nwant %v", got, want)
	}
	if len(set.Bad) != 0 {
		t.Errorf("bad = %v, want none", set.Bad)
	}
	for i := 1; i < len(set.Bookings); i++ {
		if set.Bookings[i].Start.Before(set.Bookings[i-1].Start) {
			t.Errorf("bookings not sorted by start: %s before %s", set.Bookings[i-1].ID, set.Bookings[i].ID)
		}
	}
	byID := map[string]Booking{}
	for _, b := range set.Bookings {
		byID[b.ID] = b
	}
	if b := byID["null-end-reaching-in"]; !b.End.Equal(at(t, "2026-03-02T00:30:00+01:00")) {
		t.Errorf("NULL end resolved to %v, want start + 1h", b.End)
	}
	if b := byID["minute-format"]; !b.Start.Equal(at(t, "2026-03-03T09:00:00+01:00")) {
		t.Errorf("minute-format start = %v", b.Start)
	}
}

func TestBookingsFields(t *testing.T) {
	path, db := newTFFile(t)
	insert(t, db, row{id: "BES-10233", kind: "besiktning", title: "  Lekplats & <gungor>  ",
		start: "2026-03-03T09:00:00", end: "2026-03-03T10:30:00", status: "done", version: "7",
		updatedAt: "2026-03-01 12:34:56"})
	s := openTF(t, path)
	set, err := s.Bookings(context.Background(), query(t, "2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Bookings) != 1 {
		t.Fatalf("bookings = %v, want 1", set.Bookings)
	}
	b := set.Bookings[0]
	want := Booking{ID: "BES-10233", Kind: KindBesiktning, ResourceID: "R1", Title: "Lekplats & <gungor>",
		Description: "beskrivning", Location: "Storgatan 4", Start: at(t, "2026-03-03T09:00:00+01:00"),
		End: at(t, "2026-03-03T10:30:00+01:00"), Status: StatusDone, URL: "https://tf.example.com/BES-10233",
		Version: 7, UpdatedAt: at(t, "2026-03-01T12:34:56+01:00")}
	if !b.Start.Equal(want.Start) || !b.End.Equal(want.End) || !b.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("times = %v..%v updated %v, want %v..%v updated %v", b.Start, b.End, b.UpdatedAt,
			want.Start, want.End, want.UpdatedAt)
	}
	if b.Start.Location().String() != "Europe/Stockholm" {
		t.Errorf("start location = %v, want the TF zone", b.Start.Location())
	}
	b.Start, b.End, b.UpdatedAt = want.Start, want.End, want.UpdatedAt
	if b != want {
		t.Errorf("booking = %+v\nwant      %+v", b, want)
	}
}

func TestBookingsDST(t *testing.T) {
	path, db := newTFFile(t)
	insert(t, db,
		row{id: "RON-spring", kind: "rondering", start: "2026-03-29", end: "-"},
		row{id: "RON-autumn", kind: "rondering", start: "2026-10-25T14:00:00", end: "garbage is ignored"},
		row{id: "ARE-spring-morning", start: "2026-03-29T09:00:00", end: "2026-03-29T10:00:00"},
		row{id: "ARE-autumn-morning", start: "2026-10-25T09:00:00", end: "2026-10-25T10:00:00"},
		row{id: "ARE-across-gap", start: "2026-03-29T01:30:00", end: "2026-03-29T03:30:00"},
		row{id: "ARE-in-gap", start: "2026-03-29T02:30:00", end: "2026-03-29T04:00:00"},
		row{id: "ARE-ambiguous", start: "2026-10-25T02:30:00", end: "2026-10-25T03:00:00"},
	)
	s := openTF(t, path)
	set, err := s.Bookings(context.Background(), query(t, "2026-03-01T00:00:00Z", "2026-12-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Bad) != 0 {
		t.Fatalf("bad = %v", set.Bad)
	}
	got := map[string]Booking{}
	for _, b := range set.Bookings {
		got[b.ID] = b
	}
	tests := []struct {
		id         string
		start, end string
		length     time.Duration
		allDay     bool
	}{
		// The spring day has 23 hours and the autumn day 25; End is still the next local midnight.
		{"RON-spring", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", 23 * time.Hour, true},
		{"RON-autumn", "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00", 25 * time.Hour, true},
		// Timed bookings keep their wall-clock times, whichever offset applies.
		{"ARE-spring-morning", "2026-03-29T09:00:00+02:00", "2026-03-29T10:00:00+02:00", time.Hour, false},
		{"ARE-autumn-morning", "2026-10-25T09:00:00+01:00", "2026-10-25T10:00:00+01:00", time.Hour, false},
		{"ARE-across-gap", "2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00", time.Hour, false},
		// 02:30 does not exist on the spring day: it is read an hour later, as 03:30 summer time.
		{"ARE-in-gap", "2026-03-29T03:30:00+02:00", "2026-03-29T04:00:00+02:00", 30 * time.Minute, false},
		// 02:30 happens twice on the autumn day: the first, summer-time instant is taken.
		{"ARE-ambiguous", "2026-10-25T02:30:00+02:00", "2026-10-25T03:00:00+01:00", 90 * time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			b, ok := got[tt.id]
			if !ok {
				t.Fatalf("%s not read", tt.id)
			}
			if !b.Start.Equal(at(t, tt.start)) || !b.End.Equal(at(t, tt.end)) {
				t.Errorf("got %v .. %v, want %s .. %s", b.Start, b.End, tt.start, tt.end)
			}
			if d := b.End.Sub(b.Start); d != tt.length {
				t.Errorf("length = %v, want %v", d, tt.length)
			}
			if b.AllDay != tt.allDay {
				t.Errorf("AllDay = %v, want %v", b.AllDay, tt.allDay)
			}
		})
	}
}

func TestResolveWall(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name               string
		y, mo, d, h, mi, s int
		zone               *time.Location
		want               string
	}{
		{"ordinary winter", 2026, 1, 15, 9, 0, 0, stockholm(t), "2026-01-15T09:00:00+01:00"},
		{"ordinary summer", 2026, 7, 15, 9, 0, 0, stockholm(t), "2026-07-15T09:00:00+02:00"},
		{"gap start", 2026, 3, 29, 2, 0, 0, stockholm(t), "2026-03-29T03:00:00+02:00"},
		{"fold first minute", 2026, 10, 25, 2, 0, 0, stockholm(t), "2026-10-25T02:00:00+02:00"},
		{"fold last second", 2026, 10, 25, 2, 59, 59, stockholm(t), "2026-10-25T02:59:59+02:00"},
		{"after fold", 2026, 10, 25, 3, 0, 0, stockholm(t), "2026-10-25T03:00:00+01:00"},
		{"day overflow", 2026, 12, 32, 0, 0, 0, stockholm(t), "2027-01-01T00:00:00+01:00"},
		{"new york fold", 2026, 11, 1, 1, 30, 0, ny, "2026-11-01T01:30:00-04:00"},
		{"new york gap", 2026, 3, 8, 2, 30, 0, ny, "2026-03-08T03:30:00-04:00"},
		{"utc", 2026, 10, 25, 2, 30, 0, time.UTC, "2026-10-25T02:30:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolveWall(tt.y, time.Month(tt.mo), tt.d, tt.h, tt.mi, tt.s, tt.zone)
			if !got.Equal(at(t, tt.want)) || got.Location() != tt.zone {
				t.Errorf("got %v, want %s in %v", got, tt.want, tt.zone)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "2026-03-01T12:34:56", want: "2026-03-01T12:34:56+01:00"},
		{in: "2026-03-01 12:34:56.789", want: "2026-03-01T12:34:56+01:00"}, // tfsync works to the second
		{in: "2026-07-01 12:34", want: "2026-07-01T12:34:00+02:00"},
		{in: "2026-03-01T11:34:56Z", want: "2026-03-01T12:34:56+01:00"},
		{in: "2026-03-01T12:34:56+01:00", want: "2026-03-01T12:34:56+01:00"},
		{in: "2026-03-01", wantErr: "is not a time"},
		{in: "", wantErr: "is not a time"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTimestamp(tt.in, stockholm(t))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(at(t, tt.want)) {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestBookingsBadRows(t *testing.T) {
	path, db := newTFFile(t)
	insert(t, db,
		row{id: "GOOD-1", start: "2026-03-03T09:00:00", end: "2026-03-03T10:00:00"},
		row{id: "GOOD-2", kind: "rondering", start: "2026-03-04", end: "-"},
		row{id: "BAD-kind", kind: "besiktnig", start: "2026-03-03T09:00:00", end: "2026-03-03T10:00:00"},
		row{id: "BAD-end-before", start: "2026-03-03T09:00:00", end: "2026-03-03T08:00:00"},
		row{id: "BAD-end-equal", start: "2026-03-03T09:00:00", end: "2026-03-03T09:00:00"},
		row{id: "BAD-end-text", start: "2026-03-03T09:00:00", end: "en timme"},
		row{id: "BAD-end-date", start: "2026-03-03T09:00:00", end: "2026-03-04"},
		row{id: "BAD-start-text", start: "imorgon kl 9", end: "-"},
		row{id: "BAD-start-hour", start: "2026-03-03T25:00:00", end: "-"},
		row{id: "BAD-start-offset", start: "2026-03-03T09:00:00+01:00", end: "-"},
		row{id: "BAD-start-date-only", kind: "besiktning", start: "2026-03-03", end: "-"},
		row{id: "BAD-title", title: "   ", start: "2026-03-03T09:00:00", end: "-"},
		row{id: "BAD-resource", resource: "R9", start: "2026-03-03T09:00:00", end: "-"},
		row{id: "BAD-status", status: "avbokad", start: "2026-03-03T09:00:00", end: "-"},
		row{id: "BAD-version", version: "ett", start: "2026-03-03T09:00:00", end: "-"},
		row{id: "BAD-updated", updatedAt: "i går", start: "2026-03-03T09:00:00", end: "-"},
		// A kind the pass does not sync is not read further, so its problems are not this pass's business.
		row{id: "SKIPPED-kontroll", kind: "kontroll", start: "2026-03-03T09:00:00", end: "igår"},
	)
	s := openTF(t, path)
	// kontroll is not asked for: the typo'd kind, which might have been a kontroll, is reported all the same.
	set, err := s.Bookings(context.Background(), query(t, "2026-03-02T00:00:00+01:00", "2026-03-09T00:00:00+01:00",
		KindArende, KindBesiktning, KindRondering))
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(set.Bookings); !slices.Equal(got, []string{"GOOD-1", "GOOD-2"}) {
		t.Errorf("good rows = %v, want GOOD-1 and GOOD-2", got)
	}
	want := map[string]struct{ column, hint string }{
		"BAD-kind":            {"kind", `unknown kind "besiktnig"; use one of arende, besiktning`},
		"BAD-end-before":      {"end", "must be later than the start"},
		"BAD-end-equal":       {"end", "must be later than the start"},
		"BAD-end-text":        {"end", `"en timme" is not a local time; write it like 2026-03-02T09:00:00`},
		"BAD-end-date":        {"end", "has no time of day"},
		"BAD-start-text":      {"start", `"imorgon kl 9" is not a local time; write it like 2026-03-02T09:00:00`},
		"BAD-start-hour":      {"start", "write it like 2026-03-02T09:00:00"},
		"BAD-start-offset":    {"start", "no offset"},
		"BAD-start-date-only": {"start", "a besiktning booking needs one, like 2026-03-03T09:00:00"},
		"BAD-title":           {"title", "needs a title"},
		"BAD-resource":        {"resource_id", `resource "R9" is not in the resources table; add the resource in TF (Inställningar -> Grunddata -> Resurser)`},
		"BAD-status":          {"status", "use planned, done or cancelled"},
		"BAD-version":         {"version", "not a whole number"},
		"BAD-updated":         {"updated_at", "write a local time like 2026-03-02T09:00:00"},
	}
	got := map[string]RowError{}
	for _, b := range set.Bad {
		got[b.BookingID] = b
	}
	for id, w := range want {
		t.Run(id, func(t *testing.T) {
			b, ok := got[id]
			if !ok {
				t.Fatalf("%s not reported as bad", id)
			}
			if b.Column != w.column || !strings.Contains(b.Problem, w.hint) {
				t.Errorf("got %s: %s, want column %s with %q", b.Column, b.Problem, w.column, w.hint)
			}
		})
	}
	if len(got) != len(want) {
		t.Errorf("bad rows = %v, want exactly %d", set.Bad, len(want))
	}
}

func TestBookingsAlsoIDs(t *testing.T) {
	path, db := newTFFile(t)
	insert(t, db,
		row{id: "IN-WINDOW", start: "2026-03-03T09:00:00", end: "-"},
		row{id: "OUT-OF-WINDOW", start: "2025-06-01T09:00:00", end: "2025-06-01T10:00:00"},
		row{id: "DISABLED-KIND", kind: "kontroll", start: "2026-03-03T09:00:00", end: "-"},
		row{id: "CANCELLED", status: "cancelled", start: "2026-03-04T09:00:00", end: "-"},
		row{id: "DONE-FAR", status: "done", start: "2024-01-01T09:00:00", end: "-"},
		row{id: "TYPO-KIND", kind: "Arende", start: "2025-01-01T09:00:00", end: "-"},
		row{id: "DISABLED-RESOURCE", resource: "R3", start: "2026-03-05T09:00:00", end: "-"},
	)
	// Enough unknown ids to need more than one IN (...) query.
	also := []string{"IN-WINDOW", "OUT-OF-WINDOW", "DISABLED-KIND", "TYPO-KIND"}
	for i := range 1200 {
		also = append(also, fmt.Sprintf("GONE-%d", i))
	}
	also = append(also, "DONE-FAR", "IN-WINDOW")
	s := openTF(t, path)
	ctx := context.Background()

	tests := []struct {
		name    string
		kinds   []Kind
		also    []string
		want    []string
		wantBad []string
	}{
		{"window only", []Kind{KindArende}, nil,
			[]string{"CANCELLED", "DISABLED-RESOURCE", "IN-WINDOW"}, nil},
		{"window and linked ids", []Kind{KindArende}, also,
			[]string{"CANCELLED", "DISABLED-KIND", "DISABLED-RESOURCE", "DONE-FAR", "IN-WINDOW", "OUT-OF-WINDOW"},
			[]string{"TYPO-KIND"}},
		{"no kinds: linked ids only", nil, also,
			[]string{"DISABLED-KIND", "DONE-FAR", "IN-WINDOW", "OUT-OF-WINDOW"}, []string{"TYPO-KIND"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := query(t, "2026-03-02T00:00:00+01:00", "2026-03-09T00:00:00+01:00")
			q.Kinds, q.AlsoIDs = tt.kinds, tt.also
			set, err := s.Bookings(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(set.Bookings); !slices.Equal(got, tt.want) {
				t.Errorf("ids = %v\nwant %v", got, tt.want)
			}
			var bad []string
			for _, b := range set.Bad {
				bad = append(bad, b.BookingID)
			}
			if !slices.Equal(bad, tt.wantBad) {
				t.Errorf("bad = %v, want %v", set.Bad, tt.wantBad)
			}
		})
	}

	t.Run("default length required", func(t *testing.T) {
		_, err := s.Bookings(ctx, Query{Kinds: Kinds})
		if err == nil || !strings.Contains(err.Error(), "default length") {
			t.Fatalf("err = %v, want a default length error", err)
		}
	})
}

func TestResources(t *testing.T) {
	path, db := newTFFile(t)
	mustExec(t, db, `INSERT INTO resources (id, name, email, sync_enabled) VALUES ('R4', 'Leif', 'leif@x.example.org', 2)`)
	s := openTF(t, path)
	got, err := s.Resources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Resource{
		{ID: "R1", Name: "Anna Lindqvist", Email: "anna@example.com", SyncEnabled: true},
		{ID: "R2", Name: "Erik Johansson", Email: "", SyncEnabled: true},
		{ID: "R3", Name: "Karin Ek", Email: "karin@example.com", SyncEnabled: false},
		{ID: "R4", Name: "Leif", Email: "leif@x.example.org", SyncEnabled: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("resources = %+v\nwant %+v", got, want)
	}
}

// stored reads a booking row's text as TF sees it.
func stored(t *testing.T, db *sql.DB, id string) (start, end string, version int64, updated string) {
	t.Helper()
	var e sql.NullString
	if err := db.QueryRow(`SELECT start, "end", version, updated_at FROM bookings WHERE id = ?`, id).
		Scan(&start, &e, &version, &updated); err != nil {
		t.Fatal(err)
	}
	if !e.Valid {
		e.String = "NULL"
	}
	return start, e.String, version, updated
}

func TestMoveBooking(t *testing.T) {
	ctx := context.Background()
	const movedAt = "2026-03-03T09:15:00" // fixedNow in Stockholm
	tests := []struct {
		name      string
		rows      []row
		move      Move
		wantErr   error
		wantMsg   string
		wantStart string
		wantEnd   string
		wantVer   int64
	}{
		{
			name: "timed",
			rows: []row{{id: "BES-1", kind: "besiktning", start: "2026-03-03T09:00:00", end: "2026-03-03T10:00:00", version: "4"}},
			move: Move{BookingID: "BES-1", Version: 4, Start: at(t, "2026-03-04T13:00:00+01:00"),
				End: at(t, "2026-03-04T14:30:00+01:00"), Mailbox: "anna@example.com", EventID: "AAMk1", RunID: "run-1"},
			wantStart: "2026-03-04T13:00:00", wantEnd: "2026-03-04T14:30:00", wantVer: 5,
		},
		{
			name: "times in UTC are stored as TF wall time",
			rows: []row{{id: "ARE-1", start: "2026-03-28T09:00:00", end: "-"}},
			move: Move{BookingID: "ARE-1", Version: 1, Start: at(t, "2026-03-29T07:00:00Z"),
				End: at(t, "2026-03-29T08:00:00Z")},
			wantStart: "2026-03-29T09:00:00", wantEnd: "2026-03-29T10:00:00", wantVer: 2,
		},
		{
			name: "all-day leaves end untouched",
			rows: []row{{id: "RON-1", kind: "rondering", start: "2026-03-03T07:00:00", end: "whatever TF keeps"}},
			move: Move{BookingID: "RON-1", Version: 1, AllDay: true,
				Start: time.Date(2026, 3, 5, 0, 0, 0, 0, stockholm(t)), End: time.Date(2026, 3, 6, 0, 0, 0, 0, stockholm(t))},
			wantStart: "2026-03-05", wantEnd: "whatever TF keeps", wantVer: 2,
		},
		{
			name:      "all-day from a UTC date",
			rows:      []row{{id: "RON-2", kind: "rondering", start: "2026-03-03", end: "-"}},
			move:      Move{BookingID: "RON-2", Version: 1, AllDay: true, Start: at(t, "2026-03-29T00:00:00Z")},
			wantStart: "2026-03-29", wantEnd: "NULL", wantVer: 2,
		},
		{
			name:    "version conflict",
			rows:    []row{{id: "ARE-2", start: "2026-03-03T09:00:00", end: "-", version: "3"}},
			move:    Move{BookingID: "ARE-2", Version: 2, Start: at(t, "2026-03-04T09:00:00Z"), End: at(t, "2026-03-04T10:00:00Z")},
			wantErr: ErrVersionConflict, wantMsg: "TF has version 3, tfsync read version 2",
			wantStart: "2026-03-03T09:00:00", wantEnd: "NULL", wantVer: 3,
		},
		{
			name:    "not found",
			move:    Move{BookingID: "ARE-404", Version: 1, Start: at(t, "2026-03-04T09:00:00Z"), End: at(t, "2026-03-04T10:00:00Z")},
			wantErr: ErrBookingNotFound,
		},
		{
			name:    "all-day move of a timed booking",
			rows:    []row{{id: "ARE-3", start: "2026-03-03T09:00:00", end: "-"}},
			move:    Move{BookingID: "ARE-3", Version: 1, AllDay: true, Start: at(t, "2026-03-04T00:00:00+01:00")},
			wantMsg: "all-day move for a arende booking", wantStart: "2026-03-03T09:00:00", wantEnd: "NULL", wantVer: 1,
		},
		{
			name:    "timed move of a rondering",
			rows:    []row{{id: "RON-3", kind: "rondering", start: "2026-03-03", end: "-"}},
			move:    Move{BookingID: "RON-3", Version: 1, Start: at(t, "2026-03-04T09:00:00+01:00"), End: at(t, "2026-03-04T10:00:00+01:00")},
			wantMsg: "timed move for a rondering booking", wantStart: "2026-03-03", wantEnd: "NULL", wantVer: 1,
		},
		{
			name:    "all-day start not a midnight",
			rows:    []row{{id: "RON-4", kind: "rondering", start: "2026-03-03", end: "-"}},
			move:    Move{BookingID: "RON-4", Version: 1, AllDay: true, Start: at(t, "2026-03-04T01:00:00+01:00")},
			wantMsg: "is not a midnight", wantStart: "2026-03-03", wantEnd: "NULL", wantVer: 1,
		},
		{
			name:    "end not after start",
			rows:    []row{{id: "ARE-4", start: "2026-03-03T09:00:00", end: "-"}},
			move:    Move{BookingID: "ARE-4", Version: 1, Start: at(t, "2026-03-04T09:00:00Z"), End: at(t, "2026-03-04T09:00:00Z")},
			wantMsg: "is not after start", wantStart: "2026-03-03T09:00:00", wantEnd: "NULL", wantVer: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, db := newTFFile(t)
			insert(t, db, tt.rows...)
			before := map[string]string{}
			for _, r := range tt.rows {
				_, _, _, before[r.id] = stored(t, db, r.id)
			}
			s := openTF(t, path)
			v, err := s.MoveBooking(ctx, tt.move)
			failed := tt.wantErr != nil || tt.wantMsg != ""
			switch {
			case !failed && err != nil:
				t.Fatalf("move: %v", err)
			case failed && err == nil:
				t.Fatalf("move succeeded, want an error")
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			case failed && !strings.Contains(err.Error(), tt.wantMsg) || failed && !strings.Contains(err.Error(), tt.move.BookingID):
				t.Errorf("err = %q, want it to name the booking and say %q", err, tt.wantMsg)
			}
			if !failed && v != tt.wantVer {
				t.Errorf("new version = %d, want %d", v, tt.wantVer)
			}
			audit, err := s.Audit(ctx, tt.move.BookingID)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.rows) == 0 {
				if len(audit) != 0 {
					t.Errorf("audit = %+v, want none", audit)
				}
				return
			}
			start, end, version, updated := stored(t, db, tt.move.BookingID)
			if start != tt.wantStart || end != tt.wantEnd || version != tt.wantVer {
				t.Errorf("stored %q, %q, v%d; want %q, %q, v%d", start, end, version, tt.wantStart, tt.wantEnd, tt.wantVer)
			}
			if failed {
				if updated != before[tt.move.BookingID] || len(audit) != 0 {
					t.Errorf("a failed move changed updated_at to %q or wrote audit %+v", updated, audit)
				}
				return
			}
			if updated != movedAt {
				t.Errorf("updated_at = %q, want %q", updated, movedAt)
			}
			if len(audit) != 1 {
				t.Fatalf("audit = %+v, want one row", audit)
			}
			a := audit[0]
			r := tt.rows[0]
			oldEnd := r.end
			if oldEnd == "-" {
				oldEnd = ""
			}
			wantEnd := tt.wantEnd
			if wantEnd == "NULL" {
				wantEnd = ""
			}
			want := AuditRow{ID: a.ID, At: fixedNow, RunID: tt.move.RunID, BookingID: r.id, Mailbox: tt.move.Mailbox,
				EventID: tt.move.EventID, OldStart: r.start, OldEnd: oldEnd, NewStart: tt.wantStart, NewEnd: wantEnd,
				OldVersion: tt.wantVer - 1, NewVersion: tt.wantVer, Source: "calendar"}
			if !a.At.Equal(want.At) {
				t.Errorf("audit at = %v, want %v", a.At, want.At)
			}
			a.At = want.At
			if a != want {
				t.Errorf("audit = %+v\nwant    %+v", a, want)
			}
		})
	}
}

func TestMoveBookingRoundTrip(t *testing.T) {
	ctx := context.Background()
	path, db := newTFFile(t)
	insert(t, db, row{id: "ARE-1", start: "2026-10-24T09:00:00", end: "-"})
	s := openTF(t, path)
	// The first 02:30 of the autumn change day is written as wall time and read back as the same instant.
	m := Move{BookingID: "ARE-1", Version: 1, Start: at(t, "2026-10-25T02:30:00+02:00"),
		End: at(t, "2026-10-25T03:30:00+01:00")}
	v, err := s.MoveBooking(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Booking(ctx, "ARE-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Start.Equal(m.Start) || !b.End.Equal(m.End) || b.Version != v {
		t.Errorf("read back %v..%v v%d, want %v..%v v%d", b.Start, b.End, b.Version, m.Start, m.End, v)
	}
	// A second move with the version just returned succeeds; the stale one does not.
	m.Version = v
	m.Start, m.End = m.Start.Add(24*time.Hour), m.End.Add(24*time.Hour)
	if _, err := s.MoveBooking(ctx, m); err != nil {
		t.Fatalf("move with the new version: %v", err)
	}
	if _, err := s.MoveBooking(ctx, m); !errors.Is(err, ErrVersionConflict) {
		t.Fatalf("move with a stale version: err = %v, want ErrVersionConflict", err)
	}
	if audit, err := s.Audit(ctx, "ARE-1"); err != nil || len(audit) != 2 || audit[1].OldVersion != 2 {
		t.Fatalf("audit = %+v, %v; want two rows, the second from version 2", audit, err)
	}
	if _, err := s.Booking(ctx, "ARE-404", time.Hour); !errors.Is(err, ErrBookingNotFound) {
		t.Fatalf("Booking(missing) err = %v, want ErrBookingNotFound", err)
	}
}

// TestConcurrentTFWriter holds TF's write lock while tfsync reads and writes: both wait for TF's commit
// (busy_timeout) instead of failing with "database is locked", and the write then sees TF's change.
func TestConcurrentTFWriter(t *testing.T) {
	ctx := context.Background()
	path, db := newTFFile(t)
	insert(t, db, row{id: "ARE-1", start: "2026-03-03T09:00:00", end: "-"})
	s := openTF(t, path)

	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN EXCLUSIVE`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO bookings (id, kind, resource_id, title, start, updated_at)
		VALUES ('ARE-2', 'arende', 'R1', 'Ny', '2026-03-04T09:00:00', '2026-03-03T09:00:00')`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `UPDATE bookings SET version = version + 1 WHERE id = 'ARE-1'`); err != nil {
		t.Fatal(err)
	}

	type readResult struct {
		set BookingSet
		err error
	}
	reads := make(chan readResult, 1)
	moves := make(chan error, 1)
	go func() {
		set, err := s.Bookings(ctx, query(t, "2026-03-02T00:00:00+01:00", "2026-03-09T00:00:00+01:00"))
		reads <- readResult{set, err}
	}()
	go func() {
		_, err := s.MoveBooking(ctx, Move{BookingID: "ARE-1", Version: 1, Start: at(t, "2026-03-05T09:00:00Z"),
			End: at(t, "2026-03-05T10:00:00Z")})
		moves <- err
	}()
	// While TF holds its exclusive lock neither call can finish correctly: an early answer is a lock error or a
	// read that ignored the lock. The wait only gives them time to run into the lock.
	select {
	case r := <-reads:
		t.Fatalf("read finished while TF held its lock: %v", r.err)
	case err := <-moves:
		t.Fatalf("move finished while TF held its lock: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	r := <-reads
	if r.err != nil {
		t.Fatalf("read after TF's commit: %v", r.err)
	}
	if got := ids(r.set.Bookings); !slices.Equal(got, []string{"ARE-1", "ARE-2"}) {
		t.Errorf("read %v, want TF's committed ARE-2 too", got)
	}
	if err := <-moves; !errors.Is(err, ErrVersionConflict) {
		t.Errorf("move after TF bumped the version: err = %v, want ErrVersionConflict", err)
	}
}

func TestDemoSeed(t *testing.T) {
	ctx := context.Background()
	zone := stockholm(t)
	for _, now := range []time.Time{
		time.Date(2026, 3, 25, 23, 30, 0, 0, zone), // the window crosses the spring DST change
		time.Date(2026, 10, 20, 0, 5, 0, 0, zone),  // and the autumn one
		time.Date(2026, 12, 30, 12, 0, 0, 0, zone), // and a new year
	} {
		t.Run(now.Format(time.RFC3339), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tf.db")
			if err := CreateSchema(ctx, path); err != nil {
				t.Fatal(err)
			}
			if err := demo.Seed(ctx, rawDB(t, path), now, zone); err != nil {
				t.Fatalf("seed: %v", err)
			}
			s := openTF(t, path)
			q := Query{Window: Window{Start: now.AddDate(0, 0, -7), End: now.AddDate(0, 0, 90)}, Kinds: Kinds,
				DefaultLength: time.Hour}
			set, err := s.Bookings(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Bad) != 0 {
				t.Errorf("bad rows in the demo: %v", set.Bad)
			}
			if len(set.Bookings) < 35 {
				t.Errorf("demo has %d bookings in the window, want about 40", len(set.Bookings))
			}
			kinds := map[Kind]int{}
			statuses := map[Status]int{}
			escaped := false
			for _, b := range set.Bookings {
				kinds[b.Kind]++
				statuses[b.Status]++
				escaped = escaped || strings.ContainsAny(b.Title, "&<>")
				if b.AllDay && b.End.Sub(b.Start) > 25*time.Hour {
					t.Errorf("%s spans more than a day", b.ID)
				}
			}
			for _, k := range Kinds {
				if kinds[k] == 0 {
					t.Errorf("no %s booking in the demo", k)
				}
			}
			if statuses[StatusDone] == 0 || statuses[StatusCancelled] == 0 {
				t.Errorf("statuses = %v, want some done and cancelled", statuses)
			}
			if !escaped {
				t.Error("no demo title needs HTML escaping")
			}
			if _, err := s.Booking(ctx, demo.MovedBooking, time.Hour); err != nil {
				t.Errorf("demo's moved booking: %v", err)
			}

			res, err := s.Resources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var enabled, noEmail, outside, disabled int
			for _, r := range res {
				switch {
				case !r.SyncEnabled:
					disabled++
				case r.Email == "":
					noEmail++
				case strings.HasSuffix(r.Email, "@example.com"):
					enabled++
				default:
					outside++
				}
			}
			if enabled != 4 || noEmail != 1 || outside != 1 || disabled != 1 {
				t.Errorf("resources: %d syncing, %d without e-mail, %d outside the domain, %d disabled; "+
					"want 4, 1, 1, 1", enabled, noEmail, outside, disabled)
			}
		})
	}
}

// BenchmarkBookings reads a 97-day window from 10,000 bookings spread over three years.
func BenchmarkBookings(b *testing.B) {
	path, db := newTFFile(b)
	zone := stockholm(b)
	base := time.Date(2025, 1, 1, 8, 0, 0, 0, zone)
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO bookings (id, kind, resource_id, title, start, "end", updated_at)
		VALUES (?, ?, 'R1', 'Titel', ?, ?, '2025-01-01T00:00:00')`)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		start := base.Add(time.Duration(i) * 157 * time.Minute) // about 3 years in all
		if _, err := stmt.Exec(fmt.Sprintf("ARE-%d", i), Kinds[i%len(Kinds)], start.Format(WallLayout),
			start.Add(time.Hour).Format(WallLayout)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	s := openTF(b, path)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, zone)
	q := Query{Window: Window{Start: now.AddDate(0, 0, -7), End: now.AddDate(0, 0, 90)}, Kinds: Kinds,
		DefaultLength: time.Hour}
	b.ResetTimer()
	var n int
	for b.Loop() {
		set, err := s.Bookings(context.Background(), q)
		if err != nil {
			b.Fatal(err)
		}
		n = len(set.Bookings)
	}
	b.ReportMetric(float64(n), "bookings/op")
}
