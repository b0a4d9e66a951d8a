package tf

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/rs/zerolog"
)

var (
	//go:embed schema.sql
	schemaSQL string
	//go:embed audit.sql
	auditSQL string
)

// busyTimeout is how long a statement waits for TF's own writers to release their lock before giving up. TF
// commits are short; ten seconds rides out a burst without hanging a scheduled pass for long.
var busyTimeout = 10 * time.Second // a variable so that tests need not wait it out

// auditSource marks audit rows written for a move made in a calendar.
const auditSource = "calendar"

// idChunk bounds the ids bound into one IN (...) query, well under SQLite's variable limit.
const idChunk = 500

// schemaTable lists the integration schema's columns tfsync needs in one table.
type schemaTable struct {
	name    string
	columns []string
}

var integrationSchema = []schemaTable{
	{"resources", []string{"id", "name", "email", "sync_enabled"}},
	{"bookings", []string{"id", "kind", "resource_id", "title", "description", "location", "start", "end",
		"status", "url", "version", "updated_at"}},
}

// SQLiteOptions configures OpenSQLite.
type SQLiteOptions struct {
	// Zone is TF's wall-time zone ([tf] time_zone). Required.
	Zone *time.Location
	// Now is the clock for updated_at and audit times; nil means time.Now.
	Now func() time.Time
}

// SQLite is the Source over TF's integration schema in a SQLite file.
type SQLite struct {
	path string
	zone *time.Location
	now  func() time.Time
	// Reads and writes use separate pools. Reads take deferred transactions, so they never block TF's writers
	// longer than a snapshot needs. Writes begin IMMEDIATE: a deferred transaction that reads and then writes
	// can hit a lock upgrade that busy_timeout cannot wait out, while IMMEDIATE waits for the write lock first.
	rdb *sql.DB
	wdb *sql.DB
}

var _ Source = (*SQLite)(nil)

// AuditRow is one row of tfsync_audit: a booking time tfsync wrote back into TF.
type AuditRow struct {
	ID        int64
	At        time.Time
	RunID     string
	BookingID string
	Mailbox   string
	EventID   string
	// The booking's start and end exactly as stored before and after the move; "" stands for a NULL end.
	OldStart, OldEnd string
	NewStart, NewEnd string
	OldVersion       int64
	NewVersion       int64
	Source           string
}

// dsn builds a go-sqlite3 URI for path. mode is "rw" (the file must exist) or "rwc" (create it). The journal
// mode is deliberately left alone: it is a property of TF's database file, and TF chose it.
func dsn(path, mode string, immediate bool) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", path, err)
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		// A Windows drive path: file:///C:/tf/tf.db.
		p = "/" + p
	}
	// These characters are URI syntax to SQLite; everything else in a path is taken literally.
	p = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
	v := url.Values{}
	v.Set("mode", mode)
	v.Set("_busy_timeout", strconv.FormatInt(busyTimeout.Milliseconds(), 10))
	// go-sqlite3 lowers synchronous to NORMAL by default; keep SQLite's FULL for writes into TF's database.
	v.Set("_sync", "FULL")
	if immediate {
		v.Set("_txlock", "immediate")
	}
	return "file://" + p + "?" + v.Encode(), nil
}

// OpenSQLite opens TF's integration database at path. The file must exist and hold the resources and bookings
// tables with the integration schema's columns (errors wrap ErrSchema); tfsync's audit table is added if missing.
func OpenSQLite(path string, opts SQLiteOptions) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("open TF database: no path given (set [tf] database)")
	}
	if opts.Zone == nil {
		return nil, fmt.Errorf("open TF database %s: no time zone given (set [tf] time_zone, e.g. "+
			"\"Europe/Stockholm\")", path)
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open TF database: %s does not exist (%w); check [tf] database in the config, "+
			"or run `tfsync init --create-tf-database --tf-database %s` to create an empty one", path, fs.ErrNotExist, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open TF database: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("open TF database: %s is a folder; [tf] database must name the SQLite file", path)
	}

	s := &SQLite{path: path, zone: opts.Zone, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	rdsn, err := dsn(path, "rw", false)
	if err != nil {
		return nil, fmt.Errorf("open TF database: %w", err)
	}
	wdsn, err := dsn(path, "rw", true)
	if err != nil {
		return nil, fmt.Errorf("open TF database: %w", err)
	}
	if s.rdb, err = sql.Open("sqlite3", rdsn); err != nil {
		return nil, fmt.Errorf("open TF database %s: %w", path, err)
	}
	if s.wdb, err = sql.Open("sqlite3", wdsn); err != nil {
		s.rdb.Close()
		return nil, fmt.Errorf("open TF database %s: %w", path, err)
	}
	// One writer is all a pass needs, and SQLite serialises writers anyway.
	s.wdb.SetMaxOpenConns(1)

	ctx := context.Background()
	if err := s.init(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *SQLite) init(ctx context.Context) error {
	if err := s.rdb.PingContext(ctx); err != nil {
		return openError(s.path, err)
	}
	if err := checkSchema(ctx, s.rdb, s.path); err != nil {
		return err
	}
	var n int
	err := s.rdb.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tfsync_audit'`).Scan(&n)
	if err != nil {
		return openError(s.path, err)
	}
	if n == 0 {
		// Only when missing: even a no-op CREATE would take TF's write lock on every pass.
		if err := s.createAudit(ctx); err != nil {
			var se sqlite3.Error
			if errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked) {
				return fmt.Errorf("create tfsync_audit in TF database %s: %w: another program (TF itself, a backup) "+
					"held TF's write lock for over %s; tfsync needs it for a moment on its first pass to add its audit "+
					"table, and the next pass tries again", s.path, err, busyTimeout)
			}
			return fmt.Errorf("create tfsync_audit in TF database %s: %w (tfsync needs write access to it)",
				s.path, err)
		}
	}
	return nil
}

func (s *SQLite) createAudit(ctx context.Context) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, auditSQL); err != nil {
		return err
	}
	return tx.Commit()
}

// openError explains the errors SQLite gives for a file that is not a usable database.
func openError(path string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB:
			return fmt.Errorf("open TF database %s: %w; [tf] database must name a SQLite file with TF's "+
				"integration schema", path, err)
		case sqlite3.ErrCantOpen, sqlite3.ErrPerm, sqlite3.ErrReadonly:
			return fmt.Errorf("open TF database %s: %w; check that the file and its folder are readable and "+
				"writable by the account running tfsync", path, err)
		}
	}
	return fmt.Errorf("open TF database %s: %w", path, err)
}

// checkSchema verifies that both tables exist with every column tfsync uses.
func checkSchema(ctx context.Context, db *sql.DB, path string) error {
	var missingTables []string
	var problems []string
	for _, t := range integrationSchema {
		have, err := tableColumns(ctx, db, t.name)
		if err != nil {
			return openError(path, err)
		}
		if len(have) == 0 {
			missingTables = append(missingTables, t.name)
			continue
		}
		var missing []string
		for _, c := range t.columns {
			if !have[c] {
				missing = append(missing, strconv.Quote(c))
			}
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("table %s lacks column(s) %s", t.name,
				strings.Join(missing, ", ")))
		}
	}
	switch {
	case len(missingTables) == len(integrationSchema):
		return fmt.Errorf("%w: %s has no resources or bookings table; run `tfsync init --create-tf-database --tf-database %s` to "+
			"create the schema in an empty file, or point [tf] database at TF's integration database",
			ErrSchema, path, path)
	case len(missingTables) > 0:
		return fmt.Errorf("%w: %s has no %s table; run `tfsync init --create-tf-database --tf-database %s` to add it (existing "+
			"tables and data are kept)", ErrSchema, path, missingTables[0], path)
	case len(problems) > 0:
		return fmt.Errorf("%w: %s: %s; add them as the integration schema defines them "+
			"(ALTER TABLE ... ADD COLUMN); tfsync never alters TF's tables itself",
			ErrSchema, path, strings.Join(problems, "; "))
	}
	return nil
}

func tableColumns(ctx context.Context, db *sql.DB, table string) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		have[strings.ToLower(name)] = true
	}
	return have, rows.Err()
}

// CreateSchema creates the file at path if needed, the integration schema's two tables if they are missing,
// and tfsync's audit table. It never drops or alters existing tables or data; if existing tables lack columns,
// it says so with an error wrapping ErrSchema.
func CreateSchema(ctx context.Context, path string) error {
	if path == "" {
		return errors.New("create TF schema: no path given")
	}
	d, err := dsn(path, "rwc", true)
	if err != nil {
		return fmt.Errorf("create TF schema: %w", err)
	}
	db, err := sql.Open("sqlite3", d)
	if err != nil {
		return fmt.Errorf("create TF schema in %s: %w", path, err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create TF schema: %w", openError(path, err))
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schemaSQL); err != nil {
		return fmt.Errorf("create TF schema in %s: %w", path, err)
	}
	if _, err := tx.ExecContext(ctx, auditSQL); err != nil {
		return fmt.Errorf("create tfsync_audit in %s: %w", path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create TF schema in %s: %w", path, err)
	}
	return checkSchema(ctx, db, path)
}

// Close releases the database.
func (s *SQLite) Close() error {
	return errors.Join(s.rdb.Close(), s.wdb.Close())
}

// Resources returns every resource ordered by id, with e-mail trimmed.
func (s *SQLite) Resources(ctx context.Context) ([]Resource, error) {
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("read resources: %w", err)
	}
	defer tx.Rollback()
	res, err := readResources(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("read resources: %w", err)
	}
	return res, nil
}

func readResources(ctx context.Context, tx *sql.Tx) ([]Resource, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT id, name, email, ifnull(sync_enabled, 0) != 0 FROM resources ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Resource
	for rows.Next() {
		var id, name, email sql.NullString
		var enabled bool
		if err := rows.Scan(&id, &name, &email, &enabled); err != nil {
			return nil, err
		}
		out = append(out, Resource{ID: id.String, Name: strings.TrimSpace(name.String),
			Email: strings.TrimSpace(email.String), SyncEnabled: enabled})
	}
	return out, rows.Err()
}

// rawBooking is a bookings row as stored. Every column is read as text so that one malformed row becomes a
// RowError instead of failing the whole read.
type rawBooking struct {
	id, kind, resourceID, title, description, location, start, end, status, url, version,
	updatedAt sql.NullString
}

const bookingColumns = `id, kind, resource_id, title, description, location, start, "end", status, url, ` +
	`version, updated_at`

// scanBookings reads rows; sizeHint is how many rows are likely, so that ten thousand are not copied as the slice
// grows.
func scanBookings(rows *sql.Rows, sizeHint int) ([]rawBooking, error) {
	defer rows.Close()
	out := make([]rawBooking, 0, sizeHint)
	for rows.Next() {
		var r rawBooking
		if err := rows.Scan(&r.id, &r.kind, &r.resourceID, &r.title, &r.description, &r.location, &r.start,
			&r.end, &r.status, &r.url, &r.version, &r.updatedAt); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Bookings returns the bookings of q.Kinds that overlap q.Window, plus every booking in q.AlsoIDs, read in one
// transaction, sorted by start and id. Rows that cannot be read go to BookingSet.Bad. An empty q.Kinds selects
// no window bookings, only q.AlsoIDs. Rows of an unknown kind in the window are reported, never dropped.
func (s *SQLite) Bookings(ctx context.Context, q Query) (BookingSet, error) {
	if q.DefaultLength <= 0 {
		return BookingSet{}, fmt.Errorf("read bookings: default length %s is not positive", q.DefaultLength)
	}
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return BookingSet{}, fmt.Errorf("read bookings: %w", err)
	}
	defer tx.Rollback()
	resources, err := readResources(ctx, tx)
	if err != nil {
		return BookingSet{}, fmt.Errorf("read bookings: read resources: %w", err)
	}
	var windowRows []rawBooking
	if len(q.Kinds) > 0 {
		if windowRows, err = s.windowRows(ctx, tx, q); err != nil {
			return BookingSet{}, fmt.Errorf("read bookings: %w", err)
		}
	}
	// The linked bookings are mostly in the window: only those the window query did not return are read by id,
	// which halves an idle pass's reading.
	inAlso, missing := splitAlso(windowRows, q.AlsoIDs)
	byID, err := rowsByID(ctx, tx, missing)
	if err != nil {
		return BookingSet{}, fmt.Errorf("read bookings: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return BookingSet{}, fmt.Errorf("read bookings: %w", err)
	}

	known := make(map[string]bool, len(resources))
	for _, r := range resources {
		known[r.ID] = true
	}
	seen := make(map[string]bool, len(windowRows)+len(byID))
	set := BookingSet{Bookings: make([]Booking, 0, len(windowRows)+len(byID))}
	// Bookings asked for by id are taken whatever their window, kind or status, from either query.
	also := func(r rawBooking) {
		if seen[r.id.String] {
			return
		}
		seen[r.id.String] = true
		b, bad := parseBooking(r, known, q.DefaultLength, s.zone)
		if bad != nil {
			set.Bad = append(set.Bad, *bad)
			return
		}
		set.Bookings = append(set.Bookings, b)
	}
	for i, r := range windowRows {
		if inAlso[i] {
			also(r)
		}
	}
	for _, r := range byID {
		also(r)
	}
	for _, r := range windowRows {
		if seen[r.id.String] {
			continue
		}
		seen[r.id.String] = true
		k, err := ParseKind(r.kind.String)
		if err != nil {
			set.Bad = append(set.Bad, RowError{BookingID: r.id.String, Column: "kind",
				Problem: kindProblem(r.kind)})
			continue
		}
		if !slices.Contains(q.Kinds, k) {
			continue
		}
		b, bad := parseBooking(r, known, q.DefaultLength, s.zone)
		if bad != nil {
			set.Bad = append(set.Bad, *bad)
			continue
		}
		if b.Start.Before(q.Window.End) && b.End.After(q.Window.Start) {
			set.Bookings = append(set.Bookings, b)
		}
	}
	slices.SortFunc(set.Bookings, func(a, b Booking) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	slices.SortFunc(set.Bad, func(a, b RowError) int { return strings.Compare(a.BookingID, b.BookingID) })
	zerolog.Ctx(ctx).Debug().Int("bookings", len(set.Bookings)).Int("bad_rows", len(set.Bad)).
		Msg("read TF bookings")
	return set, nil
}

// windowRows narrows the window query in SQL by comparing stored text, so that a large history is not parsed.
// Stored times begin 'YYYY-MM-DD', which sorts like the date, so date-prefix bounds select a superset that Go
// then filters exactly: a booking starting no later than the window's last date, and either starting within a
// default length (or the day of a rondering) before the window, or ending on or after its first date. Rows whose
// start is not date-shaped are always read, so a malformed start is reported instead of never matching.
func (s *SQLite) windowRows(ctx context.Context, tx *sql.Tx, q Query) ([]rawBooking, error) {
	margin := max(q.DefaultLength, 24*time.Hour)
	hi := q.Window.End.In(s.zone).AddDate(0, 0, 1).Format(DateLayout)
	loStart := q.Window.Start.Add(-margin).In(s.zone).Format(DateLayout)
	loEnd := q.Window.Start.In(s.zone).Format(DateLayout)
	rows, err := tx.QueryContext(ctx, `SELECT `+bookingColumns+` FROM bookings
		WHERE (start < ?1 AND (start >= ?2 OR "end" >= ?3))
		   OR start IS NULL
		   OR start NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'`, hi, loStart, loEnd)
	if err != nil {
		return nil, err
	}
	// In a steady state the window holds about the bookings already linked.
	return scanBookings(rows, len(q.AlsoIDs))
}

// splitAlso marks the rows whose id is among ids, and returns the ids not found among rows.
func splitAlso(rows []rawBooking, ids []string) (found []bool, missing []string) {
	found = make([]bool, len(rows))
	if len(ids) == 0 {
		return found, nil
	}
	index := make(map[string]int, len(rows))
	for i, r := range rows {
		index[r.id.String] = i
	}
	for _, id := range ids {
		if i, ok := index[id]; ok {
			found[i] = true
		} else {
			missing = append(missing, id)
		}
	}
	return found, missing
}

func rowsByID(ctx context.Context, tx *sql.Tx, ids []string) ([]rawBooking, error) {
	out := make([]rawBooking, 0, len(ids))
	for chunk := range slices.Chunk(ids, idChunk) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		marks := strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")
		rows, err := tx.QueryContext(ctx, `SELECT `+bookingColumns+` FROM bookings WHERE id IN (`+marks+`)`,
			args...)
		if err != nil {
			return nil, err
		}
		got, err := scanBookings(rows, len(chunk))
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

func kindProblem(kind sql.NullString) string {
	return fmt.Sprintf("unknown kind %q; use one of arende, besiktning, kontroll, driftatgard, rondering",
		kind.String)
}

// parseBooking resolves one row, or says which column is wrong and what a valid value looks like.
func parseBooking(r rawBooking, resources map[string]bool, defaultLength time.Duration,
	zone *time.Location) (Booking, *RowError) {
	id := r.id.String
	bad := func(column, problem string, args ...any) (Booking, *RowError) {
		return Booking{}, &RowError{BookingID: id, Column: column, Problem: fmt.Sprintf(problem, args...)}
	}
	if strings.TrimSpace(id) == "" {
		return bad("id", "empty; every booking needs TF's id, such as BES-10233")
	}
	kind, err := ParseKind(r.kind.String)
	if err != nil {
		return bad("kind", "%s", kindProblem(r.kind))
	}
	if !resources[r.resourceID.String] {
		return bad("resource_id", "resource %q is not in the resources table; add the resource in TF "+
			"(Inställningar -> Grunddata -> Resurser) or assign the booking to an existing one",
			r.resourceID.String)
	}
	title := strings.TrimSpace(r.title.String)
	if title == "" {
		return bad("title", "empty; every booking needs a title (it becomes the event's subject)")
	}
	status := Status(r.status.String)
	switch status {
	case StatusPlanned, StatusDone, StatusCancelled:
	default:
		return bad("status", "unknown status %q; use planned, done or cancelled", r.status.String)
	}
	version, err := strconv.ParseInt(strings.TrimSpace(r.version.String), 10, 64)
	if err != nil {
		return bad("version", "%q is not a whole number; the version must be an integer that TF bumps on "+
			"every change", r.version.String)
	}
	updated, err := parseTimestamp(r.updatedAt.String, zone)
	if err != nil {
		return bad("updated_at", "%s", err.Error())
	}

	b := Booking{ID: id, Kind: kind, ResourceID: r.resourceID.String, Title: title,
		Description: r.description.String, Location: strings.TrimSpace(r.location.String), Status: status,
		URL: strings.TrimSpace(r.url.String), Version: version, UpdatedAt: updated}

	start, err := parseWall(r.start.String)
	if err != nil {
		return bad("start", "%s", err.Error())
	}
	if kind.AllDay() {
		// A round is done some time during its day; its "end" is not read at all.
		b.Start, b.End, b.AllDay = start.midnight(zone), start.nextMidnight(zone), true
		return b, nil
	}
	if start.dateOnly {
		return bad("start", "%q has no time of day; a %s booking needs one, like %sT09:00:00 (only rondering "+
			"bookings are all-day)", start.formatted, kind, start.formatted)
	}
	b.Start = start.instant(zone)
	if strings.TrimSpace(r.end.String) == "" {
		// NULL, and an empty string TF may write for "no end", both mean the default length.
		b.End = b.Start.Add(defaultLength)
		return b, nil
	}
	end, err := parseWall(r.end.String)
	if err != nil {
		return bad("end", "%s", err.Error())
	}
	if end.dateOnly {
		return bad("end", "%q has no time of day; write the end like %sT10:00:00, or leave it NULL for the "+
			"default length", end.formatted, end.formatted)
	}
	b.End = end.instant(zone)
	if !b.End.After(b.Start) {
		return bad("end", "%q is not after the start %q; the end must be later than the start, or NULL for "+
			"the default length", end.formatted, start.formatted)
	}
	return b, nil
}

// parseTimestamp reads updated_at: a local wall time like the booking times, or RFC 3339 with an offset.
func parseTimestamp(s string, zone *time.Location) (time.Time, error) {
	if w, err := parseWall(s); err == nil && !w.dateOnly {
		return w.instant(zone), nil
	}
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(s)); err == nil {
		return t.In(zone), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time; write a local time like 2026-03-02T09:00:00", s)
}

// Booking reads one booking by id, whatever its window, kind or status. It returns an error wrapping
// ErrBookingNotFound if there is no such row, and a *RowError if the row cannot be read.
func (s *SQLite) Booking(ctx context.Context, id string, defaultLength time.Duration) (Booking, error) {
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return Booking{}, fmt.Errorf("read booking %s: %w", id, err)
	}
	defer tx.Rollback()
	resources, err := readResources(ctx, tx)
	if err != nil {
		return Booking{}, fmt.Errorf("read booking %s: read resources: %w", id, err)
	}
	rows, err := rowsByID(ctx, tx, []string{id})
	if err != nil {
		return Booking{}, fmt.Errorf("read booking %s: %w", id, err)
	}
	if len(rows) == 0 {
		return Booking{}, fmt.Errorf("read booking %s: %w", id, ErrBookingNotFound)
	}
	known := map[string]bool{}
	for _, r := range resources {
		known[r.ID] = true
	}
	b, bad := parseBooking(rows[0], known, defaultLength, s.zone)
	if bad != nil {
		return Booking{}, bad
	}
	return b, nil
}

// MoveBooking writes a booking's new time from a calendar, if TF still has the version the engine read.
//
// A timed move stores Start and End as local wall times ('YYYY-MM-DDTHH:MM:SS' in the TF zone). An all-day move
// (rondering) stores only the date of Start, which must be a midnight in its own Location, as 'YYYY-MM-DD'; the
// "end" column is left as it is. updated_at is set to now and an audit row is written in the same transaction.
// Wall times cannot tell apart the two instants of a repeated autumn hour: a move to the second 02:30 is stored
// as 02:30 and read back as the first (see resolveWall).
// Errors wrap ErrBookingNotFound or ErrVersionConflict when TF has deleted or changed the booking.
func (s *SQLite) MoveBooking(ctx context.Context, m Move) (int64, error) {
	r := s.MoveBookings(ctx, []Move{m})[0]
	return r.Version, r.Err
}

// MoveResult is the outcome of one move of MoveBookings: the booking's new version, or why it was not moved.
type MoveResult struct {
	Version int64
	Err     error
}

// MoveBookings writes several moves as MoveBooking does, each succeeding or failing on its own, in one transaction:
// TF's database is synced to disk once for all of them rather than once per move, which is most of the time a
// pass with a hundred moves spends on them. The results are in the order of moves.
func (s *SQLite) MoveBookings(ctx context.Context, moves []Move) []MoveResult {
	out := make([]MoveResult, len(moves))
	// fail fails every move that had not failed yet: nothing of the transaction is kept.
	fail := func(err error) []MoveResult {
		for i := range out {
			if out[i].Err == nil {
				out[i] = MoveResult{Err: fmt.Errorf("move booking %s: %w", moves[i].BookingID, err)}
			}
		}
		return out
	}
	if len(moves) == 0 {
		return out
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	for i, m := range moves {
		newStart, newEnd, err := s.moveText(m)
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrInvalidMove, err)
		}
		if err == nil {
			var broken error
			if out[i].Version, err, broken = s.moveOne(ctx, tx, m, newStart, newEnd); broken != nil {
				return fail(broken)
			}
		}
		if err != nil {
			out[i].Err = fmt.Errorf("move booking %s: %w", m.BookingID, err)
			continue
		}
		zerolog.Ctx(ctx).Debug().Str("booking_id", m.BookingID).Str("start", newStart).Str("end", newEnd).
			Int64("version", out[i].Version).Msg("moved booking in TF")
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("commit: %w", err))
	}
	return out
}

// moveText formats the move's new start and end as they will be stored ("" end for all-day moves).
func (s *SQLite) moveText(m Move) (start, end string, err error) {
	if m.BookingID == "" {
		return "", "", errors.New("no booking id")
	}
	if m.AllDay {
		h, mi, sec := m.Start.Clock()
		if h != 0 || mi != 0 || sec != 0 || m.Start.Nanosecond() != 0 {
			return "", "", fmt.Errorf("all-day start %s is not a midnight", m.Start.Format(time.RFC3339))
		}
		return m.Start.Format(DateLayout), "", nil
	}
	start, end = formatWall(m.Start, s.zone), formatWall(m.End, s.zone)
	if !m.End.Truncate(time.Second).After(m.Start.Truncate(time.Second)) {
		return "", "", fmt.Errorf("end %s is not after start %s", end, start)
	}
	return start, end, nil
}

// moveOne writes one move inside tx under a savepoint, so that a move that fails leaves nothing behind while the
// transaction goes on with the next. A non-nil broken means the transaction itself can no longer be trusted.
func (s *SQLite) moveOne(ctx context.Context, tx *sql.Tx, m Move, newStart, newEnd string) (v int64, err, broken error) {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT move_booking"); err != nil {
		return 0, nil, err
	}
	v, err = s.move(ctx, tx, m, newStart, newEnd)
	if err != nil {
		if _, rb := tx.ExecContext(ctx, "ROLLBACK TO move_booking"); rb != nil {
			return 0, nil, fmt.Errorf("roll back a failed move: %w", rb)
		}
	}
	if _, rel := tx.ExecContext(ctx, "RELEASE move_booking"); rel != nil {
		return 0, nil, rel
	}
	return v, err, nil
}

func (s *SQLite) move(ctx context.Context, tx *sql.Tx, m Move, newStart, newEnd string) (int64, error) {
	var kind, oldStart sql.NullString
	var oldEnd sql.NullString
	var version int64
	err := tx.QueryRowContext(ctx, `SELECT kind, start, "end", version FROM bookings WHERE id = ?`, m.BookingID).
		Scan(&kind, &oldStart, &oldEnd, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrBookingNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("read booking: %w", err)
	}
	if version != m.Version {
		return 0, fmt.Errorf("%w (TF has version %d, tfsync read version %d)", ErrVersionConflict, version,
			m.Version)
	}
	k, err := ParseKind(kind.String)
	if err != nil {
		return 0, err
	}
	if k.AllDay() != m.AllDay {
		if m.AllDay {
			return 0, fmt.Errorf("%w: an all-day move for a %s booking, which has times of day", ErrInvalidMove, k)
		}
		return 0, fmt.Errorf("%w: a timed move for a %s booking, which is all-day", ErrInvalidMove, k)
	}

	now := s.now()
	updatedAt := formatWall(now, s.zone)
	var res sql.Result
	if m.AllDay {
		newEnd = oldEnd.String
		res, err = tx.ExecContext(ctx, `UPDATE bookings SET start = ?, version = version + 1, updated_at = ?
			WHERE id = ? AND version = ?`, newStart, updatedAt, m.BookingID, m.Version)
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE bookings SET start = ?, "end" = ?, version = version + 1,
			updated_at = ? WHERE id = ? AND version = ?`, newStart, newEnd, updatedAt, m.BookingID, m.Version)
	}
	if err != nil {
		return 0, fmt.Errorf("update booking: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("update booking: %w", err)
	}
	if n == 0 {
		// Unreachable while this transaction holds the write lock, but the update is the authority.
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM bookings WHERE id = ?`, m.BookingID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, ErrBookingNotFound
		}
		return 0, ErrVersionConflict
	}
	newVersion := m.Version + 1

	newEndValue := sql.NullString{String: newEnd, Valid: !m.AllDay || oldEnd.Valid}
	_, err = tx.ExecContext(ctx, `INSERT INTO tfsync_audit (at, run_id, booking_id, mailbox, event_id,
		old_start, old_end, new_start, new_end, old_version, new_version, source)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		now.In(s.zone).Format(time.RFC3339), m.RunID, m.BookingID, m.Mailbox, m.EventID,
		oldStart.String, oldEnd, newStart, newEndValue, version, newVersion, auditSource)
	if err != nil {
		return 0, fmt.Errorf("write audit row: %w", err)
	}
	return newVersion, nil
}

// Audit returns the audit rows of one booking, oldest first.
func (s *SQLite) Audit(ctx context.Context, bookingID string) ([]AuditRow, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, at, run_id, booking_id, mailbox, event_id, old_start,
		old_end, new_start, new_end, old_version, new_version, source
		FROM tfsync_audit WHERE booking_id = ? ORDER BY id`, bookingID)
	if err != nil {
		return nil, fmt.Errorf("read audit of %s: %w", bookingID, err)
	}
	defer rows.Close()
	var out []AuditRow
	for rows.Next() {
		var a AuditRow
		var at string
		var oldEnd, newEnd sql.NullString
		if err := rows.Scan(&a.ID, &at, &a.RunID, &a.BookingID, &a.Mailbox, &a.EventID, &a.OldStart, &oldEnd,
			&a.NewStart, &newEnd, &a.OldVersion, &a.NewVersion, &a.Source); err != nil {
			return nil, fmt.Errorf("read audit of %s: %w", bookingID, err)
		}
		if a.At, err = time.Parse(time.RFC3339, at); err != nil {
			return nil, fmt.Errorf("read audit of %s: row %d: %w", bookingID, a.ID, err)
		}
		a.OldEnd, a.NewEnd = oldEnd.String, newEnd.String
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit of %s: %w", bookingID, err)
	}
	return out, nil
}
