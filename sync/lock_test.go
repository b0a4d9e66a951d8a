package sync

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var lockT0 = time.Date(2026, 3, 29, 10, 0, 0, 0, time.UTC)

func TestAcquireRunLockWritesHolder(t *testing.T) {
	store := filepath.Join(t.TempDir(), "state.db")
	l, err := AcquireRunLock(store, lockT0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release() // for early failures; Release is idempotent
	if l.Path() != store+".lock" {
		t.Errorf("Path() = %q, want %q", l.Path(), store+".lock")
	}
	// While it is held, read the details as another process does: on Windows byte 0 is locked.
	info, err := readRunLockInfo(store + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if info.PID != os.Getpid() || !info.StartedAt.Equal(lockT0) || info.Host != host {
		t.Errorf("lock file holds %+v, want pid %d, started_at %v, host %q", info, os.Getpid(), lockT0, host)
	}

	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	// The details stay behind, and the whole file is plain JSON for whoever looks after a crash.
	data, err := os.ReadFile(store + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	var left runLockInfo
	if err := json.Unmarshal(data, &left); err != nil || left != info {
		t.Errorf("lock file after release = %q (%v), want the JSON of %+v", data, err, info)
	}
	if err := l.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	var none *RunLock
	if err := none.Release(); err != nil {
		t.Errorf("Release on nil: %v", err)
	}

	// Released, it is free for the next pass, which overwrites the details.
	l2, err := AcquireRunLock(store, lockT0.Add(time.Minute), time.Hour)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	defer l2.Release()
	if info, err := readRunLockInfo(store + ".lock"); err != nil || !info.StartedAt.Equal(lockT0.Add(time.Minute)) {
		t.Errorf("details after re-acquiring: %+v, %v", info, err)
	}
}

// flock locks belong to an open file description, so a second AcquireRunLock in the same process conflicts with
// the first, just as a second process would.
func TestAcquireRunLockHeldInProcess(t *testing.T) {
	tests := []struct {
		name       string
		now        time.Time
		staleAfter time.Duration
		wantStale  bool
		wantMsg    string
	}{
		{"fresh", lockT0.Add(10 * time.Minute), time.Hour, false, "another tfsync pass is running"},
		{"stale", lockT0.Add(3 * time.Hour), time.Hour, true, "longer than the bound of 1h0m0s"},
		{"no bound", lockT0.Add(1000 * time.Hour), 0, false, "another tfsync pass is running"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := filepath.Join(t.TempDir(), "state.db")
			first, err := AcquireRunLock(store, lockT0, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			defer first.Release()

			second, err := AcquireRunLock(store, tc.now, tc.staleAfter)
			if err == nil {
				second.Release()
				t.Fatal("second AcquireRunLock in one process: no error")
			}
			t.Log(err)
			var held *LockHeldError
			if !errors.As(err, &held) {
				t.Fatalf("err = %v (%T), want *LockHeldError", err, err)
			}
			if held.PID != os.Getpid() || !held.Since.Equal(lockT0) || held.Stale != tc.wantStale {
				t.Errorf("LockHeldError = %+v, want pid %d, since %v, stale %v", held, os.Getpid(), lockT0, tc.wantStale)
			}
			if !errors.Is(err, ErrLockHeld) {
				t.Error("errors.Is(err, ErrLockHeld) = false")
			}
			if errors.Is(err, ErrLockStale) != tc.wantStale {
				t.Errorf("errors.Is(err, ErrLockStale) = %v, want %v", !tc.wantStale, tc.wantStale)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), store+".lock") {
				t.Errorf("err = %q, want it to name the lock file and contain %q", err, tc.wantMsg)
			}
		})
	}
}

// A holder that has not written its details yet is reported without them, and never as stale.
func TestAcquireRunLockHolderWithoutDetails(t *testing.T) {
	store := filepath.Join(t.TempDir(), "state.db")
	first, err := AcquireRunLock(store, lockT0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release()
	if err := os.Truncate(store+".lock", 0); err != nil {
		t.Fatal(err)
	}
	_, err = AcquireRunLock(store, lockT0.Add(100*time.Hour), time.Hour)
	var held *LockHeldError
	if !errors.As(err, &held) || held.PID != 0 || held.Stale || errors.Is(err, ErrLockStale) {
		t.Errorf("err = %v (%+v), want a non-stale LockHeldError without a pid", err, held)
	}
}

const lockHelperEnv = "TFSYNC_TEST_LOCK_HELPER"

// TestRunLockHelperProcess is not a test: TestRunLockKilledHolder runs the test binary as a child that takes the
// lock, says so, and waits to be killed.
func TestRunLockHelperProcess(t *testing.T) {
	store := os.Getenv(lockHelperEnv)
	if store == "" {
		t.Skip("helper process for TestRunLockKilledHolder")
	}
	l, err := AcquireRunLock(store, lockT0, time.Hour)
	if err != nil {
		os.Stdout.WriteString("error: " + err.Error() + "\n")
		os.Exit(2)
	}
	os.Stdout.WriteString("locked\n")
	io.Copy(io.Discard, os.Stdin) // returns only if the parent closes stdin, which it does not
	l.Release()
	os.Exit(0)
}

func TestRunLockKilledHolder(t *testing.T) {
	store := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunLockHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+store)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q (%v), want \"locked\"", line, err)
	}

	// While the child lives, its lock holds, and its details name it.
	_, err = AcquireRunLock(store, lockT0.Add(time.Minute), time.Hour)
	var held *LockHeldError
	if !errors.As(err, &held) || held.PID != cmd.Process.Pid || !held.Since.Equal(lockT0) || held.Stale {
		t.Fatalf("while the child holds the lock: err = %v (%+v), want a LockHeldError with pid %d", err, held,
			cmd.Process.Pid)
	}

	// SIGKILL gives the child no chance to release anything; the operating system frees the lock.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	l, err := AcquireRunLock(store, lockT0.Add(2*time.Minute), time.Hour)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	defer l.Release()
	if info, err := readRunLockInfo(store + ".lock"); err != nil || info.PID != os.Getpid() {
		t.Errorf("lock file after re-acquiring: %+v, %v; want this process's pid %d", info, err, os.Getpid())
	}
}
