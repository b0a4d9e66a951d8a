package sync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// storeFiles lists the files in dir with a hash of each, so a test can assert that nothing was created or
// changed.
func storeFiles(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

func sameFiles(a, b map[string][32]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestOpenStoreReadOnlyNeverWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")

	// No store: said so, and nothing is created.
	if _, err := OpenStoreReadOnly(ctx, path, nil); !errors.Is(err, ErrStoreMissing) || !strings.Contains(err.Error(), path) {
		t.Fatalf("missing store: %v", err)
	}
	if got := storeFiles(t, dir); len(got) != 0 {
		t.Fatalf("a read-only open created %v", got)
	}

	// A store a pass wrote and closed: read in full, and not one byte or file changes (no -wal or -shm is left
	// behind for the scheduled account to trip over).
	s, err := OpenStore(ctx, path, storeClock(storeT0))
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, s, func(tx *StoreTx) error {
		return tx.PutLink(Link{BookingID: "B1", Mailbox: "a@example.com", EventID: "E1", Hash: "h"})
	})
	s.Close()
	before := storeFiles(t, dir)
	ro, err := OpenStoreReadOnly(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	links, err := ro.Links(ctx)
	if err != nil || links["B1"].EventID != "E1" {
		t.Fatalf("links = %v, %v", links, err)
	}
	if err := ro.Update(ctx, func(*StoreTx) error { return nil }); !errors.Is(err, ErrStoreReadOnly) {
		t.Fatalf("Update on a read-only store: %v", err)
	}
	ro.Close()
	if after := storeFiles(t, dir); !sameFiles(before, after) {
		t.Fatalf("files before %d, after %d: a read-only open changed the folder", len(before), len(after))
	}

	// While a pass has the store open (its -wal and -shm exist), the read-only open shares them and sees the
	// pass's committed writes.
	w, err := OpenStore(ctx, path, storeClock(storeT0))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustUpdate(t, w, func(tx *StoreTx) error {
		return tx.PutLink(Link{BookingID: "B2", Mailbox: "a@example.com", EventID: "E2", Hash: "h"})
	})
	ro, err = OpenStoreReadOnly(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if links, err := ro.Links(ctx); err != nil || len(links) != 2 {
		t.Fatalf("links while a pass runs = %v, %v", links, err)
	}
}

func TestOpenStoreReadOnlyOlderAndNewerStores(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	// A store from before this tfsync's migrations (here: none applied) is migrated in memory; the file keeps its
	// old schema for the next sync pass to upgrade.
	old := filepath.Join(dir, "old.db")
	db, err := sql.Open("sqlite3", old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := storeFiles(t, dir)
	ro, err := OpenStoreReadOnly(ctx, old, nil)
	if err != nil {
		t.Fatal(err)
	}
	if links, err := ro.Links(ctx); err != nil || len(links) != 0 {
		t.Fatalf("older store: links %v, %v", links, err)
	}
	ro.Close()
	if !sameFiles(before, storeFiles(t, dir)) {
		t.Fatal("reading an older store changed its file")
	}

	// A store from a newer tfsync is refused, as a sync would refuse it.
	newer := filepath.Join(dir, "newer.db")
	s, err := OpenStore(ctx, newer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', '')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenStoreReadOnly(ctx, newer, nil); !errors.Is(err, ErrStoreTooNew) {
		t.Fatalf("newer store: %v", err)
	}

	// A damaged one is reported as damaged, with the fix.
	bad := filepath.Join(dir, "bad.db")
	if err := os.WriteFile(bad, []byte("not a database at all, but long enough"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStoreReadOnly(ctx, bad, nil); !errors.Is(err, ErrStoreCorrupt) || !strings.Contains(err.Error(), "--rebuild") {
		t.Fatalf("damaged store: %v", err)
	}
}

// makeTFFile writes an SQLite file with TF's two tables in rollback-journal mode, as TF keeps its database.
func makeTFFile(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE resources (id TEXT PRIMARY KEY); CREATE TABLE bookings (id TEXT PRIMARY KEY);
		INSERT INTO resources VALUES ('RES-1')`); err != nil {
		t.Fatal(err)
	}
}

func TestStoreNeverOpensOrMovesATFDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "tf.db")
	makeTFFile(t, path)
	before := storeFiles(t, dir)

	for name, open := range map[string]func() (*Store, error){
		"OpenStore":         func() (*Store, error) { return OpenStore(ctx, path, nil) },
		"OpenStoreReadOnly": func() (*Store, error) { return OpenStoreReadOnly(ctx, path, nil) },
	} {
		s, err := open()
		var he *StoreHoldsTFError
		if !errors.Is(err, ErrStoreHoldsTF) || !errors.As(err, &he) || !strings.Contains(err.Error(), "bookings, resources") {
			if s != nil {
				s.Close()
			}
			t.Fatalf("%s on a TF database: %v", name, err)
		}
	}
	moved, err := RebuildStore(path, nil)
	if !errors.Is(err, ErrStoreHoldsTF) || moved != "" {
		t.Fatalf("RebuildStore on a TF database: moved to %q, %v", moved, err)
	}
	// Not switched to WAL, no tfsync table added, not moved: the folder is byte for byte as it was.
	if !sameFiles(before, storeFiles(t, dir)) {
		t.Fatal("the TF database was changed")
	}
}

func TestCheckStoreWritable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	if err := CheckStoreWritable(path, nil); err != nil {
		t.Fatalf("a writable folder without a store: %v", err)
	}
	s := openTestStore(t, path, nil)
	s.Close()
	if err := CheckStoreWritable(path, nil); err != nil {
		t.Fatalf("a writable store: %v", err)
	}
	if err := CheckStoreWritable(filepath.Join(dir, "missing", "state.db"), nil); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing folder: %v", err)
	}

	// Each thing a pass writes, denied in turn. The probe stands in for the operating system's answer, which a
	// test running as root cannot get from file modes.
	for _, deny := range []string{dir, path, path + ".lock"} {
		if deny == path+".lock" {
			if err := os.WriteFile(deny, []byte("\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		probe := func(name string, _ bool) error {
			if name == deny {
				return fs.ErrPermission
			}
			return nil
		}
		err := CheckStoreWritable(path, probe)
		var ae *StoreAccessError
		if !errors.Is(err, ErrStoreNotWritable) || !errors.As(err, &ae) || ae.Path != deny {
			t.Fatalf("deny %s: %v", deny, err)
		}
		msg := err.Error()
		for _, want := range []string{deny, "owned by " + fileOwner(deny), "may not be written by " + CurrentAccount(),
			"modify rights on the folder " + dir, "(permission denied)"} {
			if !strings.Contains(msg, want) {
				t.Errorf("deny %s: message lacks %q:\n%s", deny, want, msg)
			}
		}
	}

	// Where the owner cannot be told (Windows), the message says so and where to look.
	e := &StoreAccessError{Store: path, Path: path, Account: `EXAMPLE\svc-tf`, Err: fs.ErrPermission}
	if msg := e.Error(); !strings.Contains(msg, "whose owner tfsync cannot tell") || !strings.Contains(msg, `EXAMPLE\svc-tf`) {
		t.Errorf("unknown owner: %s", msg)
	}

	// The real probe against a read-only folder, where file modes bind (not as root).
	if os.Geteuid() == 0 {
		t.Log("running as root, whom file modes do not stop: the read-only folder case is covered by the probe above")
		return
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	if err := CheckStoreWritable(path, nil); !errors.Is(err, ErrStoreNotWritable) {
		t.Fatalf("read-only folder: %v", err)
	}
	if got, _ := os.ReadDir(dir); len(got) != 2 {
		t.Fatalf("the check left files behind: the folder holds %d", len(got))
	}
}

func TestOpenStoreReadOnlyDamaged(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for name, damage := range map[string]func([]byte) []byte{
		"garbage over a table page": func(data []byte) []byte {
			const page = 4096
			out := append([]byte(nil), data...)
			rng.Read(out[5*page : 6*page])
			return out
		},
		"garbage after the header": func(data []byte) []byte {
			out := append([]byte(nil), data...)
			rng.Read(out[100:])
			return out
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeStoreWithLinks(t, 2000)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			damaged := damage(data)
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := OpenStoreReadOnly(context.Background(), path, nil)
			if err == nil {
				s.Close()
				t.Fatal("a damaged store opened read-only without an error")
			}
			if !errors.Is(err, ErrStoreCorrupt) || !strings.Contains(err.Error(), "--rebuild") {
				t.Fatalf("err = %v, want ErrStoreCorrupt with its fix", err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, damaged) {
				t.Fatal("the damaged file was changed")
			}
		})
	}
}

// BenchmarkOpenStore compares what status, list-resources and dry-run pay to open a store of 10,000 links (the
// README's 500 x 20) read-only, copied into memory, with the read-write open a pass makes, each followed by
// reading the links.
func BenchmarkOpenStore(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "state.db")
	s, err := OpenStore(ctx, path, storeClock(storeT0))
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *StoreTx) error {
		for i := 0; i < 10000; i++ {
			if err := tx.PutLink(Link{BookingID: fmt.Sprintf("B%05d", i), Mailbox: fmt.Sprintf("m%03d@example.com", i%500),
				EventID: fmt.Sprintf("AAMkAG%040d", i), ChangeKey: "ck", Hash: "0123456789abcdef0123456789abcdef", TFVersion: 1,
				EvStart: storeT0, EvEnd: storeT0.Add(time.Hour)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	s.Close()
	for name, open := range map[string]func() (*Store, error){
		"read-only":  func() (*Store, error) { return OpenStoreReadOnly(ctx, path, nil) },
		"read-write": func() (*Store, error) { return OpenStore(ctx, path, nil) },
	} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				st, err := open()
				if err != nil {
					b.Fatal(err)
				}
				if links, err := st.Links(ctx); err != nil || len(links) != 10000 {
					b.Fatal(len(links), err)
				}
				st.Close()
			}
		})
	}
}
