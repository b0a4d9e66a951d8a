package tf

import (
	"context"
	"testing"
)

// TestInstallation checks that a read-only lookup never creates the id, that the first Installation creates it
// once, and that it survives reopening the database and differs between two TF databases.
func TestInstallation(t *testing.T) {
	ctx := context.Background()
	path, raw := newTFFile(t)
	s := openTF(t, path)

	id, err := s.ReadInstallation(ctx)
	if err != nil || id != "" {
		t.Fatalf("ReadInstallation before any pass = %q, %v; want \"\" and no error", id, err)
	}
	var tables int
	if err := raw.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'tfsync_installation'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("ReadInstallation created tfsync_installation (%d tables, %v); a read-only command must not write", tables, err)
	}

	first, err := s.Installation(ctx)
	if err != nil || len(first) != 36 {
		t.Fatalf("Installation = %q, %v; want a UUID", first, err)
	}
	again, err := s.Installation(ctx)
	if err != nil || again != first {
		t.Fatalf("second Installation = %q, %v; want %q", again, err, first)
	}
	s.Close()
	reopened := openTF(t, path)
	if got, err := reopened.ReadInstallation(ctx); err != nil || got != first {
		t.Fatalf("ReadInstallation after reopening = %q, %v; want %q", got, err, first)
	}
	var rows int
	if err := raw.QueryRow(`SELECT count(*) FROM tfsync_installation`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("tfsync_installation holds %d rows (%v), want 1", rows, err)
	}

	otherPath, _ := newTFFile(t)
	other, err := openTF(t, otherPath).Installation(ctx)
	if err != nil || other == "" || other == first {
		t.Fatalf("a second TF database's installation = %q, %v; want a different id than %q", other, err, first)
	}
}
