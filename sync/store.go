package sync

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/rs/zerolog"
)

// Store errors. Both reach the admin through cmd, so the wrapped messages say what to do.
var (
	// ErrStoreCorrupt: the mapping store's file is not an SQLite database or fails its integrity check. The fix is
	// `tfsync sync --rebuild`, which moves the file aside (RebuildStore) and relinks every event by its booking id.
	ErrStoreCorrupt = errors.New("mapping store is damaged")
	// ErrStoreTooNew: the mapping store was migrated by a newer tfsync than this one.
	ErrStoreTooNew = errors.New("mapping store was written by a newer tfsync")
	// ErrStoreMissing: a read-only command found no store: no pass has run with this configuration yet.
	ErrStoreMissing = errors.New("no state store yet")
	// ErrStoreReadOnly: a write to a store opened by OpenStoreReadOnly or OpenEmptyStore.
	ErrStoreReadOnly = errors.New("the state store was opened read-only")
	// ErrStoreHoldsTF: [state] path names a file with TF's tables, i.e. TF's database.
	ErrStoreHoldsTF = errors.New("the state store path names a TF database")
)

//go:embed migrations/*.sql
var storeMigrationFS embed.FS

// closeAfterFailure closes c on a path that has already failed. The caller reports that first failure; a close
// that fails as well (of a database that was only read, or never written) loses nothing and would only hide the
// cause. The deferred rows.Close calls in this package need no such care: every loop checks rows.Err, and
// closing rows that were read to the end, or on a path that returns an error anyway, has nothing to report.
func closeAfterFailure(c io.Closer) { _ = c.Close() }

// storeDSNParams are applied by go-sqlite3 to every connection it opens. busy_timeout, foreign_keys and synchronous
// are per connection, so they must be here rather than run once. WAL lets list-resources read while a pass writes,
// and synchronous=NORMAL is durable in WAL mode except for the last commits before a power loss, which the next pass
// repairs through booking ids. _txlock=immediate makes every transaction take the write lock at BEGIN, so two
// writers queue on busy_timeout instead of failing with SQLITE_BUSY when a read lock cannot be upgraded.
const storeDSNParams = "_busy_timeout=5000&_foreign_keys=on&_synchronous=NORMAL&_journal_mode=WAL&_txlock=immediate"

// storeTimeLayout is RFC 3339 with a fixed nine-digit fraction: exact, and it sorts correctly as text.
const storeTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// storeSQLiteHeader starts every SQLite database file.
var storeSQLiteHeader = []byte("SQLite format 3\x00")

// Link ties a TF booking to the event tfsync wrote for it in one mailbox.
type Link struct {
	BookingID string
	Mailbox   string
	EventID   string
	ChangeKey string
	Hash      string // hash of the event content last written
	TFVersion int64  // the booking's TF version last synced
	EvStart   time.Time
	EvEnd     time.Time // the event's times as last seen (UTC when read back)
	AllDay    bool
	Detached  bool
	UpdatedAt time.Time // set by the store to the transaction's time on every PutLink
}

// Pending is a create sent to a mailbox but not yet confirmed.
type Pending struct {
	BookingID     string
	Mailbox       string
	TransactionID string
	CreatedAt     time.Time // zero means the transaction's time
}

// Cursor is a mailbox's change cursor and the window it was made for.
type Cursor struct {
	Mailbox     string
	Cursor      string
	WindowStart time.Time
	WindowEnd   time.Time
	UpdatedAt   time.Time // set by the store to the transaction's time on every PutCursor
}

// MailboxState is a mailbox's health as of its last pass.
type MailboxState struct {
	Mailbox             string
	LastSync            time.Time
	LastError           string
	LastErrorAt         time.Time
	HeldDeletes         int
	ConsecutiveFailures int
}

// RunRecord is one pass in the run history.
type RunRecord struct {
	ID         string
	StartedAt  time.Time
	FinishedAt time.Time // zero while the pass runs, or when it died
	ExitCode   int
	Summary    []byte // JSON; nil for none
	Outcome    string // RunPass (the default), RunRunning, RunLockHeld or RunLockStale
	Error      string // the run's error, if any
}

// Run outcomes: what a run record stands for.
const (
	RunPass      = "pass"       // the pass ran; ExitCode says how it went
	RunRunning   = "running"    // the pass started and has not finished: it still runs, or it was killed
	RunLockHeld  = "lock_held"  // it left at once: another pass held the run lock
	RunLockStale = "lock_stale" // another pass had held the run lock far too long (exit 6)
)

// Store is the SQLite mapping store. Its methods are safe for concurrent use; several processes may open the same
// file (the run lock, not the store, keeps two passes apart).
type Store struct {
	db       *sql.DB
	path     string
	now      func() time.Time
	readOnly bool // opened by OpenStoreReadOnly or OpenEmptyStore: Update refuses
}

// OpenStore opens the mapping store at path, creating it if it does not exist, and applies any pending migrations.
// An existing file that is not an SQLite database or fails PRAGMA quick_check is never treated as empty: the error
// wraps ErrStoreCorrupt. A store migrated by a newer tfsync fails with ErrStoreTooNew, and a file that holds TF's
// own tables with ErrStoreHoldsTF (it is never switched to WAL or given tfsync's tables). now stamps the rows'
// updated_at times; nil means time.Now. Only a sync pass opens the store this way: the commands that only read use
// OpenStoreReadOnly, so that running one of them as another account never leaves a store the scheduled account
// cannot write.
func OpenStore(ctx context.Context, path string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	existing, err := checkStorePath(path)
	if err != nil {
		return nil, err
	}
	if existing {
		if err := checkStoreHeader(path); err != nil {
			return nil, err
		}
		if err := checkNotTFDatabase(ctx, path); err != nil {
			return nil, err
		}
	}

	db, err := sql.Open("sqlite3", path+"?"+storeDSNParams)
	if err != nil {
		return nil, fmt.Errorf("open mapping store %s: %w", path, err)
	}
	s := &Store{db: db, path: path, now: now}
	if err := s.prepare(ctx); err != nil {
		closeAfterFailure(db)
		return nil, err
	}
	return s, nil
}

// checkStorePath checks the parts of path that SQLite would report badly, and says whether a non-empty file is
// there.
func checkStorePath(path string) (existing bool, err error) {
	if path == "" {
		return false, errors.New("open mapping store: no path: set [state] path in the config")
	}
	// go-sqlite3 cuts a plain file name at the first '?' to read its options.
	if strings.ContainsRune(path, '?') {
		return false, fmt.Errorf("open mapping store %s: the path contains '?', which SQLite cannot open: choose another [state] path", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return false, fmt.Errorf("open mapping store %s: folder %s does not exist: create it or change [state] path", path, dir)
		}
	}
	switch fi, err := os.Stat(path); {
	case err == nil && fi.IsDir():
		return false, fmt.Errorf("open mapping store %s: it is a folder: set [state] path to a file name", path)
	case err == nil:
		// SQLite itself treats an empty file as a new database, and an empty file is what a crash between
		// creating the store and its first commit leaves, so only a non-empty file must look like SQLite.
		return fi.Size() > 0, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("open mapping store %s: %w", path, err)
	}
	return false, nil
}

// OpenStoreReadOnly opens the mapping store at path for reading only: it never creates the file, never changes
// its journal mode and never migrates it, so status, list-resources, dry-run and test-connection can run as any
// account that may read the file without leaving anything behind that the scheduled account could not write.
// No store (or an empty file, which is what a crash before the first commit leaves) fails with ErrStoreMissing.
// The store is read into memory at once (a few megabytes for ten thousand links) and the file closed; a store an
// older tfsync wrote is migrated in that copy, so it reads as the current schema while the file stays as it is
// until the next sync pass upgrades it. Damaged, too new and TF-database files fail
// as in OpenStore. Update on the returned store fails with ErrStoreReadOnly.
func OpenStoreReadOnly(ctx context.Context, path string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	existing, err := checkStorePath(path)
	if err != nil {
		return nil, err
	}
	if !existing {
		return nil, fmt.Errorf("%w: %s does not exist yet; the first `tfsync sync` creates it", ErrStoreMissing, path)
	}
	if err := checkStoreHeader(path); err != nil {
		return nil, err
	}
	s, err := readStoreIntoMemory(ctx, path, now)
	if errors.Is(err, ErrStoreCorrupt) && (storeFileExists(path+"-wal") || storeFileExists(path+"-journal")) {
		// The copy was read without locks and a pass started meanwhile: read it again, sharing that pass's
		// locks, before calling the store damaged (whose advice, --rebuild, would be wrong for a torn copy).
		s, err = readStoreIntoMemory(ctx, path, now)
	}
	if err != nil {
		return nil, err
	}
	mem := s.db
	pending, err := s.pendingMigrations(ctx)
	if err == nil && pending {
		// An older tfsync wrote the file: the copy is brought up to date in memory; the file itself is upgraded
		// by the next sync pass.
		err = s.migrate(ctx)
	}
	if err != nil {
		closeAfterFailure(mem)
		return nil, err
	}
	return s, nil
}

// readStoreIntoMemory copies the store at path into a read-only in-memory Store and quick-checks the copy.
func readStoreIntoMemory(ctx context.Context, path string, now func() time.Time) (*Store, error) {
	db, err := openReadOnlyDB(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := checkNoTFTables(ctx, db, path); err != nil {
		closeAfterFailure(db)
		return nil, err
	}
	mem, err := copyStoreToMemory(ctx, db)
	// The file was only read, and everything needed is in the copy now: a failing close loses nothing.
	_ = db.Close()
	if err != nil {
		return nil, (&Store{path: path}).wrapErr("read mapping store", err)
	}
	s := &Store{db: mem, path: path, now: now, readOnly: true}
	if err := s.quickCheck(ctx); err != nil {
		closeAfterFailure(mem)
		return nil, err
	}
	return s, nil
}

// OpenEmptyStore returns an empty, current store that lives in memory only: what dry-run plans against when no
// pass has created the real one yet. path is only used in messages.
func OpenEmptyStore(ctx context.Context, path string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	mem, err := openMemoryDB()
	if err != nil {
		return nil, err
	}
	s := &Store{db: mem, path: path, now: now, readOnly: true}
	if err := s.migrate(ctx); err != nil {
		closeAfterFailure(mem)
		return nil, err
	}
	return s, nil
}

// openReadOnlyDB opens path with SQLite's mode=ro, never creating a file beside it. A WAL database read by a
// plain read-only connection gets -wal and -shm files created for it, owned by the account reading; a pass run by
// another account then cannot write them and fails on every write ("attempt to write a readonly database"). So
// when no -wal file exists (no connection has the store open, and everything is in the main file) the file is
// opened as immutable, which reads it without locks and without those files; callers copy it into memory at
// once (copyStoreToMemory), so a pass starting meanwhile has only that copy's moment to interfere, and a torn
// copy fails the quick check rather than being believed. When a -wal exists, a pass has the store open (or died
// with it open), its -shm is there, and the read-only connection shares both.
func openReadOnlyDB(ctx context.Context, path string) (*sql.DB, error) {
	query := "mode=ro&_busy_timeout=5000"
	// A -journal is a write in progress on a store that is not in WAL mode (a file system without shared
	// memory): read it with locks then, too.
	if !storeFileExists(path+"-wal") && !storeFileExists(path+"-journal") {
		query += "&immutable=1"
	}
	dsn, err := storeURI(path, query)
	if err != nil {
		return nil, fmt.Errorf("open mapping store %s: %w", path, err)
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open mapping store %s: %w", path, err)
	}
	// A query, not a ping: SQLite opens the file lazily.
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		closeAfterFailure(db)
		return nil, (&Store{path: path}).wrapErr("open mapping store", err)
	}
	return db, nil
}

// storeURI turns path into a file: URI with the given query, escaping what SQLite would read as URI syntax.
func storeURI(path, query string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive path: file:///C:/...
	}
	p = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
	return "file://" + p + "?" + query, nil
}

// openMemoryDB opens a private in-memory database. One connection only: every connection to ":memory:" is a
// database of its own, so the pool must never open a second one or let the first one go.
func openMemoryDB() (*sql.DB, error) {
	db, err := sql.Open("sqlite3", "file::memory:?_foreign_keys=on")
	if err != nil {
		return nil, fmt.Errorf("open in-memory store: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// copyStoreToMemory copies the database behind src into a new in-memory database with SQLite's backup API.
func copyStoreToMemory(ctx context.Context, src *sql.DB) (*sql.DB, error) {
	mem, err := openMemoryDB()
	if err != nil {
		return nil, err
	}
	dst, err := mem.Conn(ctx)
	if err != nil {
		closeAfterFailure(mem)
		return nil, err
	}
	defer dst.Close() // returns the connection to mem's pool; mem is closed on failure or owned by the caller
	from, err := src.Conn(ctx)
	if err != nil {
		closeAfterFailure(mem)
		return nil, err
	}
	defer from.Close() // returns the connection to src's pool, which the caller closes
	err = dst.Raw(func(d any) error {
		return from.Raw(func(s any) error {
			dc, ok1 := d.(*sqlite3.SQLiteConn)
			sc, ok2 := s.(*sqlite3.SQLiteConn)
			if !ok1 || !ok2 {
				return errors.New("not an SQLite connection")
			}
			b, err := dc.Backup("main", sc, "main")
			if err != nil {
				return err
			}
			if _, err := b.Step(-1); err != nil {
				_ = b.Finish() // releases the backup; the step's error is the one that says what went wrong
				return err
			}
			return b.Finish()
		})
	})
	if err != nil {
		closeAfterFailure(mem)
		return nil, err
	}
	return mem, nil
}

// pendingMigrations reports whether the store lacks migrations this tfsync has, and fails with ErrStoreTooNew
// when it has one this tfsync does not know. It only reads.
func (s *Store) pendingMigrations(ctx context.Context) (bool, error) {
	ms, err := storeMigrations()
	if err != nil {
		return false, fmt.Errorf("read embedded migrations: %w", err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'migrations'`).Scan(&n); err != nil {
		return false, s.wrapErr("read applied migrations", err)
	}
	if n == 0 {
		return true, nil
	}
	applied := map[int]bool{}
	rows, err := s.db.QueryContext(ctx, "SELECT version FROM migrations")
	if err != nil {
		return false, s.wrapErr("read applied migrations", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return false, s.wrapErr("read applied migrations", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return false, s.wrapErr("read applied migrations", err)
	}
	if err := s.checkNotTooNew(ms, applied); err != nil {
		return false, err
	}
	for _, m := range ms {
		if !applied[m.version] {
			return true, nil
		}
	}
	return false, nil
}

// checkNotTooNew fails with ErrStoreTooNew when applied holds a migration ms does not.
func (s *Store) checkNotTooNew(ms []storeMigration, applied map[int]bool) error {
	known := map[int]bool{}
	for _, m := range ms {
		known[m.version] = true
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}
	for v := range applied {
		if !known[v] {
			return fmt.Errorf("%w: the store at %s has schema migration %d, this tfsync knows up to %d: "+
				"run the newer tfsync, or point [state] path at another file", ErrStoreTooNew, s.path, v, latest)
		}
	}
	return nil
}

// checkNotTFDatabase fails with ErrStoreHoldsTF when the SQLite file at path holds TF's tables. It opens the file
// read-only, so TF's database is never switched to WAL or written. A file SQLite cannot read passes: the normal
// open then reports it as damaged.
func checkNotTFDatabase(ctx context.Context, path string) error {
	db, err := openReadOnlyDB(ctx, path)
	if err != nil {
		return nil
	}
	defer db.Close() // read-only: nothing to lose if closing fails
	return checkNoTFTables(ctx, db, path)
}

// checkNoTFTables fails with a *StoreHoldsTFError when db holds TF's tables.
func checkNoTFTables(ctx context.Context, db *sql.DB, path string) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND lower(name) IN ('bookings', 'resources') ORDER BY name`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var name string
		if rows.Scan(&name) == nil {
			found = append(found, name)
		}
	}
	if len(found) > 0 {
		return &StoreHoldsTFError{Path: path, Tables: found}
	}
	return nil
}

// StoreHoldsTFError: the file named as the state store holds TF's tables. It unwraps to ErrStoreHoldsTF.
type StoreHoldsTFError struct {
	Path   string
	Tables []string
}

func (e *StoreHoldsTFError) Error() string {
	return fmt.Sprintf("%s holds TF's tables (%s): it is a TF database, not tfsync's state store, and tfsync "+
		"neither opens it as its store nor moves it aside; set [state] path to a file of its own, e.g. "+
		"tfsync-state.db beside the config", e.Path, strings.Join(e.Tables, ", "))
}

func (e *StoreHoldsTFError) Unwrap() error { return ErrStoreHoldsTF }

// prepare checks the opened file and brings its schema up to date.
func (s *Store) prepare(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.wrapErr("open mapping store", err)
	}
	if err := s.quickCheck(ctx); err != nil {
		return err
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return s.wrapErr("read journal mode", err)
	}
	if !strings.EqualFold(mode, "wal") {
		// Some network file systems cannot hold WAL's shared memory. The store still works, only with less
		// concurrency, so this is worth a warning rather than a refusal.
		zerolog.Ctx(ctx).Warn().Str("path", s.path).Str("journal_mode", mode).
			Msg("mapping store is not in WAL mode; keep [state] path on a local disk")
	}
	return s.migrate(ctx)
}

// quickCheck runs PRAGMA quick_check, which reads every page, and turns any finding into ErrStoreCorrupt.
func (s *Store) quickCheck(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return s.wrapErr("check mapping store", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return s.wrapErr("check mapping store", err)
		}
		// SQLite prefixes the first finding with "*** in database main ***" and a newline.
		line = strings.TrimSpace(strings.TrimPrefix(line, "*** in database main ***"))
		if line != "ok" && line != "" {
			problems = append(problems, strings.ReplaceAll(line, "\n", " "))
		}
	}
	if err := rows.Err(); err != nil {
		return s.wrapErr("check mapping store", err)
	}
	if len(problems) > 0 {
		if len(problems) > 3 {
			problems = append(problems[:3], fmt.Sprintf("and %d more", len(problems)-3))
		}
		return &storeCorruptError{path: s.path, cause: fmt.Errorf("integrity check: %s", strings.Join(problems, "; "))}
	}
	return nil
}

// checkStoreHeader rejects a non-empty file that does not start like an SQLite database, before SQLite touches it.
func checkStoreHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open mapping store %s: %w", path, err)
	}
	defer f.Close() // read-only: nothing to lose if closing fails
	head := make([]byte, len(storeSQLiteHeader))
	if _, err := io.ReadFull(f, head); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("open mapping store %s: %w", path, err)
	}
	if !bytes.Equal(head, storeSQLiteHeader) {
		return &storeCorruptError{path: path, cause: errors.New("the file is not an SQLite database")}
	}
	return nil
}

// storeCorruptError explains a damaged store and its fix. It unwraps to ErrStoreCorrupt and to its cause.
type storeCorruptError struct {
	path  string
	cause error
}

func (e *storeCorruptError) Error() string {
	return fmt.Sprintf("the mapping store at %s is damaged (%v): run \"tfsync sync --rebuild\", which moves it aside "+
		"and relinks every event through its booking id; nothing in the calendars is lost", e.path, e.cause)
}

func (e *storeCorruptError) Unwrap() []error { return []error{ErrStoreCorrupt, e.cause} }

// wrapErr wraps err with what was being done, and as ErrStoreCorrupt when SQLite found the file damaged.
func (s *Store) wrapErr(doing string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrCorrupt, sqlite3.ErrNotADB:
			return &storeCorruptError{path: s.path, cause: fmt.Errorf("%s: %w", doing, err)}
		case sqlite3.ErrCantOpen, sqlite3.ErrPerm, sqlite3.ErrReadonly:
			return fmt.Errorf("%s %s: %w: check that the account running tfsync may read and write the file and "+
				"its folder, or change [state] path", doing, s.path, err)
		case sqlite3.ErrBusy:
			return fmt.Errorf("%s %s: %w: another program kept the store locked for more than 5 seconds; close "+
				"any tool that has it open", doing, s.path, err)
		}
	}
	return fmt.Errorf("%s %s: %w", doing, s.path, err)
}

// storeMigration is one embedded schema file, numbered by its name's leading digits ("0001_init.sql" is 1).
type storeMigration struct {
	version int
	name    string
}

func storeMigrations() ([]storeMigration, error) {
	names, err := fs.Glob(storeMigrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []storeMigration
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		digits, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(digits)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: the name must start with its number, as in 0001_init.sql", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same number", other, base)
		}
		seen[v] = base
		ms = append(ms, storeMigration{version: v, name: name})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies the embedded migrations the store lacks, in order, each in its own transaction, and records them
// in the migrations table.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := storeMigrations()
	if err != nil {
		return fmt.Errorf("read embedded migrations: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return s.wrapErr("create migrations table", err)
	}

	applied := map[int]bool{}
	rows, err := s.db.QueryContext(ctx, "SELECT version FROM migrations")
	if err != nil {
		return s.wrapErr("read applied migrations", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			closeAfterFailure(rows)
			return s.wrapErr("read applied migrations", err)
		}
		applied[v] = true
	}
	if err := rows.Close(); err != nil {
		return s.wrapErr("read applied migrations", err)
	}
	if err := rows.Err(); err != nil {
		return s.wrapErr("read applied migrations", err)
	}

	if err := s.checkNotTooNew(ms, applied); err != nil {
		return err
	}

	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if err := s.applyMigration(ctx, m); err != nil {
			return err
		}
		zerolog.Ctx(ctx).Debug().Str("path", s.path).Str("migration", path.Base(m.name)).Msg("migrated mapping store")
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, m storeMigration) error {
	body, err := storeMigrationFS.ReadFile(m.name)
	if err != nil {
		return fmt.Errorf("read migration %s: %w", m.name, err)
	}
	doing := "apply migration " + path.Base(m.name) + " to"
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrapErr(doing, err)
	}
	// After Commit the rollback is a no-op (sql.ErrTxDone); before it, the error being returned is the news.
	defer tx.Rollback()
	// Another process opening the store at the same moment may have applied it since we looked; the immediate
	// transaction makes this second look authoritative.
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM migrations WHERE version = ?", m.version).Scan(&n); err != nil {
		return s.wrapErr(doing, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return s.wrapErr(doing, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO migrations (version, name, applied_at) VALUES (?, ?, ?)",
		m.version, path.Base(m.name), storeTime(s.now())); err != nil {
		return s.wrapErr(doing, err)
	}
	if err := tx.Commit(); err != nil {
		return s.wrapErr(doing, err)
	}
	return nil
}

// ReadOnly reports whether the store was opened for reading only.
func (s *Store) ReadOnly() bool { return s.readOnly }

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Close closes the store. In WAL mode the last connection to close checkpoints the log into the main file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close mapping store %s: %w", s.path, err)
	}
	return nil
}

// Links returns every link, keyed by booking id.
func (s *Store) Links(ctx context.Context) (map[string]Link, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT booking_id, mailbox, event_id, change_key, hash, tf_version,
		ev_start, ev_end, all_day, detached, updated_at FROM links`)
	if err != nil {
		return nil, s.wrapErr("read links from", err)
	}
	defer rows.Close()
	links := map[string]Link{}
	for rows.Next() {
		var l Link
		if err := rows.Scan(&l.BookingID, &l.Mailbox, &l.EventID, &l.ChangeKey, &l.Hash, &l.TFVersion,
			storeTimeDest{&l.EvStart}, storeTimeDest{&l.EvEnd}, &l.AllDay, &l.Detached,
			storeTimeDest{&l.UpdatedAt}); err != nil {
			return nil, s.wrapErr("read links from", err)
		}
		links[l.BookingID] = l
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrapErr("read links from", err)
	}
	return links, nil
}

// PendingCreates returns the journal of creates not yet confirmed, oldest first.
func (s *Store) PendingCreates(ctx context.Context) ([]Pending, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT booking_id, mailbox, transaction_id, created_at FROM pending
		ORDER BY created_at, booking_id, mailbox`)
	if err != nil {
		return nil, s.wrapErr("read pending creates from", err)
	}
	defer rows.Close()
	var ps []Pending
	for rows.Next() {
		var p Pending
		if err := rows.Scan(&p.BookingID, &p.Mailbox, &p.TransactionID, storeTimeDest{&p.CreatedAt}); err != nil {
			return nil, s.wrapErr("read pending creates from", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrapErr("read pending creates from", err)
	}
	return ps, nil
}

// Cursors returns every mailbox's cursor, keyed by mailbox.
func (s *Store) Cursors(ctx context.Context) (map[string]Cursor, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT mailbox, cursor, window_start, window_end, updated_at FROM cursors`)
	if err != nil {
		return nil, s.wrapErr("read cursors from", err)
	}
	defer rows.Close()
	cs := map[string]Cursor{}
	for rows.Next() {
		var c Cursor
		if err := rows.Scan(&c.Mailbox, &c.Cursor, storeTimeDest{&c.WindowStart}, storeTimeDest{&c.WindowEnd},
			storeTimeDest{&c.UpdatedAt}); err != nil {
			return nil, s.wrapErr("read cursors from", err)
		}
		cs[c.Mailbox] = c
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrapErr("read cursors from", err)
	}
	return cs, nil
}

// MailboxStates returns every mailbox's state, keyed by mailbox.
func (s *Store) MailboxStates(ctx context.Context) (map[string]MailboxState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT mailbox, last_sync, last_error, last_error_at, held_deletes,
		consecutive_failures FROM mailboxes`)
	if err != nil {
		return nil, s.wrapErr("read mailbox states from", err)
	}
	defer rows.Close()
	ms := map[string]MailboxState{}
	for rows.Next() {
		var m MailboxState
		if err := rows.Scan(&m.Mailbox, storeTimeDest{&m.LastSync}, &m.LastError, storeTimeDest{&m.LastErrorAt},
			&m.HeldDeletes, &m.ConsecutiveFailures); err != nil {
			return nil, s.wrapErr("read mailbox states from", err)
		}
		ms[m.Mailbox] = m
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrapErr("read mailbox states from", err)
	}
	return ms, nil
}

// Runs returns up to limit runs, newest first; limit <= 0 returns them all.
func (s *Store) Runs(ctx context.Context, limit int) ([]RunRecord, error) {
	return s.runs(ctx, limit, "summary")
}

// RunHistory is Runs without the summaries, which can be large: enough to tell how the passes went.
func (s *Store) RunHistory(ctx context.Context, limit int) ([]RunRecord, error) {
	return s.runs(ctx, limit, "NULL")
}

func (s *Store) runs(ctx context.Context, limit int, summary string) ([]RunRecord, error) {
	if limit <= 0 {
		limit = -1 // SQLite's "no limit"
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, started_at, finished_at, exit_code, `+summary+`, outcome, error
		FROM runs ORDER BY started_at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, s.wrapErr("read runs from", err)
	}
	defer rows.Close()
	var rs []RunRecord
	for rows.Next() {
		var r RunRecord
		var summary sql.NullString
		if err := rows.Scan(&r.ID, storeTimeDest{&r.StartedAt}, storeTimeDest{&r.FinishedAt}, &r.ExitCode,
			&summary, &r.Outcome, &r.Error); err != nil {
			return nil, s.wrapErr("read runs from", err)
		}
		if summary.Valid {
			r.Summary = []byte(summary.String)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrapErr("read runs from", err)
	}
	return rs, nil
}

// Update runs fn in one write transaction and commits it when fn returns nil; on an error (or a panic) nothing fn
// wrote is kept and fn's error is returned as is. Every UpdatedAt fn's writes set is the store clock's time when
// Update began. A cancelled ctx rolls the transaction back, so to record writes already confirmed by a server while
// shutting down, pass context.WithoutCancel(ctx).
func (s *Store) Update(ctx context.Context, fn func(tx *StoreTx) error) (err error) {
	if s.readOnly {
		return fmt.Errorf("update mapping store %s: %w", s.path, ErrStoreReadOnly)
	}
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrapErr("begin update of", err)
	}
	tx := &StoreTx{ctx: ctx, tx: sqlTx, now: s.now().UTC(), stmts: map[string]*sql.Stmt{}, store: s}
	committed := false
	defer func() {
		if !committed {
			if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) && err != nil {
				err = fmt.Errorf("%w (and roll back: %v)", err, rbErr)
			}
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	committed = true
	if err := sqlTx.Commit(); err != nil {
		return s.wrapErr("commit update of", err)
	}
	return nil
}

// RebuildStore moves the store at path, with its -wal and -shm files, aside to path.corrupt-YYYYMMDDTHHMMSS (now's
// wall time) and returns the new name of the main file, so the next OpenStore starts an empty store and the pass
// relinks every event by its booking id. Call it with the store closed and the run lock held. A missing store is
// not an error: movedTo is then "".
func RebuildStore(path string, now func() time.Time) (movedTo string, err error) {
	if now == nil {
		now = time.Now
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("move mapping store %s aside: %w", path, err)
	}
	// --rebuild is for a damaged store; a file with TF's tables is TF's live database, whatever the
	// configuration says, and moving it aside would take TF down.
	if err := checkNotTFDatabase(context.Background(), path); err != nil {
		return "", fmt.Errorf("move mapping store %s aside: %w", path, err)
	}
	base := path + ".corrupt-" + now().Format("20060102T150405")
	target := base
	// Two rebuilds in one second must not overwrite the first copy (os.Rename replaces files on Windows).
	for i := 2; ; i++ {
		if !storeFileExists(target) && !storeFileExists(target+"-wal") && !storeFileExists(target+"-shm") {
			break
		}
		target = fmt.Sprintf("%s.%d", base, i)
	}
	if err := os.Rename(path, target); err != nil {
		return "", fmt.Errorf("move mapping store %s aside: %w", path, err)
	}
	// SQLite would replay a leftover -wal into the new store, so the companions must follow the main file.
	for _, suffix := range []string{"-wal", "-shm"} {
		err := os.Rename(path+suffix, target+suffix)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return target, fmt.Errorf("moved mapping store %s to %s, but not its %s file: move or delete %s by hand before the next pass: %w",
				path, target, suffix, path+suffix, err)
		}
	}
	return target, nil
}

func storeFileExists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

// storeTime encodes t for a time column; the zero time is NULL.
func storeTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(storeTimeLayout)
}

// storeTimeDest scans a time column into *t; NULL and "" scan as the zero time.
type storeTimeDest struct{ t *time.Time }

func (d storeTimeDest) Scan(src any) error {
	var text string
	switch v := src.(type) {
	case nil:
		*d.t = time.Time{}
		return nil
	case string:
		text = v
	case []byte:
		text = string(v)
	default:
		return fmt.Errorf("time column holds %T, not text", src)
	}
	if text == "" {
		*d.t = time.Time{}
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return fmt.Errorf("bad time %q: %w", text, err)
	}
	*d.t = t.UTC()
	return nil
}
