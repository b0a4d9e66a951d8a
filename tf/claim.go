package tf

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// claimSQL is tfsync's record, in TF's database, of the one state store that serves it. One row: a TF database
// belongs to one installation (its id, once known, is kept beside), so the TF database itself is the key.
const claimSQL = `CREATE TABLE IF NOT EXISTS tfsync_store_claim (
  id              INTEGER PRIMARY KEY CHECK (id = 1),
  installation_id TEXT NOT NULL DEFAULT '', -- the installation's id once this tfsync knows one
  store_path      TEXT NOT NULL,            -- the state store of the last sync pass, absolute
  host            TEXT NOT NULL,            -- the machine that ran it
  last_run_at     TEXT NOT NULL,            -- when it started, RFC 3339 UTC
  run_id          TEXT NOT NULL
)`

// ErrOtherStore: another state store (another path, or another machine) serves this TF database. Two stores on
// one TF database delete and recreate each other's events on every pass.
var ErrOtherStore = errors.New("another state store serves this TF database")

// StoreClaim says which state store serves a TF database, from where, and when it last ran.
type StoreClaim struct {
	InstallationID string    `json:"installation_id,omitempty"`
	StorePath      string    `json:"store_path"`
	Host           string    `json:"host"`
	LastRunAt      time.Time `json:"last_run_at"`
	RunID          string    `json:"run_id"`
}

// SameStore reports whether c and o name the same state store: the same file on the same machine. Host names
// compare case-insensitively, and so do paths on Windows.
func (c StoreClaim) SameStore(o StoreClaim) bool {
	if !strings.EqualFold(c.Host, o.Host) {
		return false
	}
	a, b := filepath.Clean(c.StorePath), filepath.Clean(o.StorePath)
	if runtime.GOOS == "windows" {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// OtherStoreError refuses a pass from a state store other than the one that last served the TF database.
type OtherStoreError struct {
	Database string     // [tf] database
	Other    StoreClaim // the store that last ran
	This     StoreClaim // the store that was refused
}

func (e *OtherStoreError) Error() string {
	return fmt.Sprintf("TF database %s is served by another state store: %s on host %s, whose last pass started %s "+
		"(run %s); this one is %s on host %s. Two state stores on one TF database delete and recreate each other's "+
		"events on every pass, so this pass changed nothing. If the other installation is retired and this one "+
		"replaces it on purpose, stop the other scheduled task and run `tfsync sync --take-over` once here; "+
		"otherwise point [tf] database of this configuration at a TF database of its own, or remove this scheduled task",
		e.Database, e.Other.StorePath, e.Other.Host, e.Other.LastRunAt.UTC().Format(time.RFC3339), e.Other.RunID,
		e.This.StorePath, e.This.Host)
}

func (e *OtherStoreError) Unwrap() error { return ErrOtherStore }

// StoreClaim returns the claim recorded in TF's database; ok is false when no sync pass has recorded one. It only
// reads.
func (s *SQLite) StoreClaim(ctx context.Context) (c StoreClaim, ok bool, err error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tfsync_store_claim'`).Scan(&n); err != nil {
		return c, false, fmt.Errorf("read tfsync_store_claim from TF database %s: %w", s.path, err)
	}
	if n == 0 {
		return c, false, nil
	}
	c, ok, err = readClaim(ctx, s.rdb.QueryRowContext(ctx, claimSelect))
	if err != nil {
		return c, false, fmt.Errorf("read tfsync_store_claim from TF database %s: %w", s.path, err)
	}
	return c, ok, nil
}

const claimSelect = `SELECT installation_id, store_path, host, last_run_at, run_id FROM tfsync_store_claim WHERE id = 1`

func readClaim(ctx context.Context, row *sql.Row) (StoreClaim, bool, error) {
	var c StoreClaim
	var at string
	err := row.Scan(&c.InstallationID, &c.StorePath, &c.Host, &at, &c.RunID)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	if c.LastRunAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return c, false, fmt.Errorf("bad last_run_at %q: %w", at, err)
	}
	return c, true, nil
}

// ClaimStore records that the state store in c serves this TF database, in one write transaction, and returns the
// claim it replaced (ok false when there was none). When another store holds the claim, it fails with an
// *OtherStoreError and writes nothing, unless takeOver is set. An empty c.InstallationID keeps the recorded one.
func (s *SQLite) ClaimStore(ctx context.Context, c StoreClaim, takeOver bool) (prev StoreClaim, ok bool, err error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return prev, false, s.claimErr(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, claimSQL); err != nil {
		return prev, false, s.claimErr(err)
	}
	prev, ok, err = readClaim(ctx, tx.QueryRowContext(ctx, claimSelect))
	if err != nil {
		return prev, false, s.claimErr(err)
	}
	if ok && !takeOver && !prev.SameStore(c) {
		return prev, ok, &OtherStoreError{Database: s.path, Other: prev, This: c}
	}
	if c.InstallationID == "" {
		c.InstallationID = prev.InstallationID
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO tfsync_store_claim (id, installation_id, store_path, host, last_run_at, run_id)
		VALUES (1, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET installation_id = excluded.installation_id, store_path = excluded.store_path,
			host = excluded.host, last_run_at = excluded.last_run_at, run_id = excluded.run_id`,
		c.InstallationID, c.StorePath, c.Host, c.LastRunAt.UTC().Format(time.RFC3339Nano), c.RunID); err != nil {
		return prev, ok, s.claimErr(err)
	}
	if err := tx.Commit(); err != nil {
		return prev, ok, s.claimErr(err)
	}
	return prev, ok, nil
}

func (s *SQLite) claimErr(err error) error {
	return fmt.Errorf("record this state store in tfsync_store_claim: %w", writeError(s.path, err))
}

// CheckWritable proves that this account may write TF's database: it inserts an audit row in a transaction and
// rolls it back. Changing a page makes SQLite take the write lock and open its journal beside the file, as a move
// does; nothing is kept.
func (s *SQLite) CheckWritable(ctx context.Context) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return writeError(s.path, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO tfsync_audit (at, run_id, booking_id, mailbox, event_id, old_start,
		new_start, old_version, new_version, source) VALUES ('', 'write-check', '', '', '', '', '', 0, 0, 'check')`); err != nil {
		return writeError(s.path, err)
	}
	return nil
}

// writeError explains a failed write into TF's database with its fix.
func writeError(path string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrReadonly, sqlite3.ErrCantOpen, sqlite3.ErrPerm, sqlite3.ErrAuth:
			return fmt.Errorf("cannot write TF database %s (%w): give the account running tfsync modify rights on the "+
				"file and on its folder (SQLite writes a journal beside it); tfsync writes moved bookings' times, "+
				"tfsync_audit and tfsync_store_claim there", path, err)
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return fmt.Errorf("write TF database %s: %w: TF or another program kept it locked for more than %s; "+
				"run again when TF is quiet", path, err, busyTimeout)
		}
	}
	return fmt.Errorf("write TF database %s: %w", path, err)
}
