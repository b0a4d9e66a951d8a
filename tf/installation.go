package tf

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

//go:embed installation.sql
var installationSQL string

// Installer is implemented by TF sources that keep tfsync's installation id (tf.SQLite).
type Installer interface {
	// Installation returns the installation id, creating it on first use (sync).
	Installation(ctx context.Context) (string, error)
	// ReadInstallation returns the installation id, or "" when none has been created yet; it never writes
	// (read-only commands).
	ReadInstallation(ctx context.Context) (string, error)
}

// ReadInstallation returns the installation id recorded in TF's database, or "" when no sync pass has created one.
func (s *SQLite) ReadInstallation(ctx context.Context) (string, error) {
	id, err := readInstallation(ctx, s.rdb)
	if err != nil {
		return "", fmt.Errorf("read the installation id from TF database %s: %w", s.path, err)
	}
	return id, nil
}

// Installation returns the installation id recorded in TF's database, creating the table and the id (a random
// UUID) on first use, in one transaction so two first passes cannot make two ids.
func (s *SQLite) Installation(ctx context.Context) (string, error) {
	if id, err := readInstallation(ctx, s.rdb); err != nil || id != "" {
		if err != nil {
			return "", fmt.Errorf("read the installation id from TF database %s: %w", s.path, err)
		}
		return id, nil
	}
	id, err := s.createInstallation(ctx)
	if err != nil {
		return "", fmt.Errorf("create the installation id in TF database %s: %w (tfsync needs write access to it)",
			s.path, err)
	}
	return id, nil
}

func (s *SQLite) createInstallation(ctx context.Context) (string, error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, installationSQL); err != nil {
		return "", err
	}
	var id string
	err = tx.QueryRowContext(ctx, `SELECT id FROM tfsync_installation ORDER BY created_at, id LIMIT 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		id = uuid.NewString()
		_, err = tx.ExecContext(ctx, `INSERT INTO tfsync_installation (id, created_at) VALUES (?, ?)`, id,
			s.now().Format(time.RFC3339))
	}
	if err != nil {
		return "", err
	}
	return id, tx.Commit()
}

func readInstallation(ctx context.Context, db *sql.DB) (string, error) {
	var n int
	err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tfsync_installation'`).Scan(&n)
	if err != nil || n == 0 {
		return "", err
	}
	var id string
	err = db.QueryRowContext(ctx, `SELECT id FROM tfsync_installation ORDER BY created_at, id LIMIT 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}
