package tf

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFirstPassWhileTFHoldsItsWriteLock: the first pass adds tfsync_audit, which needs TF's write lock; when TF holds
// it, the message names that cause, not missing write access.
func TestFirstPassWhileTFHoldsItsWriteLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tf.db")
	ctx := context.Background()
	if err := CreateSchema(ctx, path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DROP TABLE IF EXISTS tfsync_audit`); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")
	defer func(d time.Duration) { busyTimeout = d }(busyTimeout)
	busyTimeout = 50 * time.Millisecond
	src, err := OpenSQLite(path, SQLiteOptions{Zone: time.UTC})
	if err == nil {
		src.Close()
		t.Fatal("opened while TF held its write lock")
	}
	if !strings.Contains(err.Error(), "held TF's write lock") || strings.Contains(err.Error(), "needs write access") {
		t.Fatalf("err = %v", err)
	}
}
