package tf

import (
	"context"
	"database/sql"
	"fmt"
)

// OwnTables lists the tables tfsync keeps in TF's database (named tfsync_*), such as tfsync_audit.
func OwnTables(ctx context.Context, path string) ([]string, error) {
	db, err := openOwn(path, "rw")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return ownTables(ctx, db)
}

// DropOwnTables drops tfsync's own tables from TF's database and returns their names. TF's tables are never
// touched: only names starting tfsync_ are dropped, in one transaction.
func DropOwnTables(ctx context.Context, path string) ([]string, error) {
	db, err := openOwn(path, "rw")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("drop tfsync's tables in %s: %w", path, openError(path, err))
	}
	defer tx.Rollback()
	names, err := ownTables(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, err := tx.ExecContext(ctx, `DROP TABLE "`+n+`"`); err != nil {
			return nil, fmt.Errorf("drop %s in %s: %w", n, path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("drop tfsync's tables in %s: %w", path, err)
	}
	return names, nil
}

func openOwn(path, mode string) (*sql.DB, error) {
	d, err := dsn(path, mode, true)
	if err != nil {
		return nil, fmt.Errorf("open TF database %s: %w", path, err)
	}
	db, err := sql.Open("sqlite3", d)
	if err != nil {
		return nil, fmt.Errorf("open TF database %s: %w", path, err)
	}
	return db, nil
}

func ownTables(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'tfsync\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tfsync's tables: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}
