package sync

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gofrs/flock"
)

// Run lock errors. A *LockHeldError carries the holder's details and unwraps to these.
var (
	// ErrLockHeld: another pass holds the run lock; this pass leaves without doing anything.
	ErrLockHeld = errors.New("another tfsync pass holds the run lock")
	// ErrLockStale: the run lock has been held longer than any pass should take; the holder may hang.
	ErrLockStale = errors.New("run lock held past its bound")
)

// The holder's details start at this offset of the lock file. On Windows the lock is a mandatory byte-range lock on
// byte 0, so no other handle (not even the holder's own second one) can read or write that byte.
const runLockInfoOffset = 1

// runLockInfo is what the holder writes into the lock file.
type runLockInfo struct {
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	Host      string    `json:"host"`
}

// RunLock is a held run lock. The operating system releases it when the process ends, however it ends.
type RunLock struct {
	path string
	fl   *flock.Flock
}

// LockHeldError reports that another live process holds the run lock. PID and Since are zero when the holder has
// not written its details yet (it took the lock a moment ago).
type LockHeldError struct {
	Path  string // the lock file
	PID   int
	Host  string
	Since time.Time
	Stale bool // held longer than the bound given to AcquireRunLock
	Held  time.Duration
	Bound time.Duration
}

func (e *LockHeldError) Error() string {
	holder := "another process"
	if e.PID != 0 {
		holder = fmt.Sprintf("process %d", e.PID)
		if e.Host != "" {
			holder += " on " + e.Host
		}
	}
	if e.Stale {
		return fmt.Sprintf("the run lock %s has been held by %s since %s (%s, longer than the bound of %s): that pass "+
			"may hang; end %s if it is stuck (the lock is freed when it exits)",
			e.Path, holder, e.Since.UTC().Format(time.RFC3339), e.Held.Round(time.Second), e.Bound, holder)
	}
	if e.Since.IsZero() {
		return fmt.Sprintf("the run lock %s is held by %s: another tfsync pass is running", e.Path, holder)
	}
	return fmt.Sprintf("the run lock %s is held by %s since %s: another tfsync pass is running",
		e.Path, holder, e.Since.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is match ErrLockHeld, and ErrLockStale as well when the lock is stale.
func (e *LockHeldError) Unwrap() []error {
	if e.Stale {
		return []error{ErrLockHeld, ErrLockStale}
	}
	return []error{ErrLockHeld}
}

// AcquireRunLock takes the run lock beside the mapping store at storePath (the file storePath + ".lock") without
// waiting, and writes the holder's pid, start time (now) and host into it. When another process holds it, the
// error is a *LockHeldError, stale when now minus the holder's start exceeds staleAfter (staleAfter <= 0: never).
// A lock left by a killed process is simply taken: the operating system released it. Two AcquireRunLock calls in
// one process also exclude each other.
func AcquireRunLock(storePath string, now time.Time, staleAfter time.Duration) (*RunLock, error) {
	path := storePath + ".lock"
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("take run lock %s: it is a folder, not the lock file tfsync keeps beside [state] path: "+
			"remove the folder (tfsync creates the file), or change [state] path", path)
	}
	initRunLockFile(path)
	// The lock file is never deleted: removing it while another process waits on the old file would let two
	// processes hold "the" lock on two different files.
	fl := flock.New(path, flock.SetPermissions(0o644))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("take run lock %s: %w: check that the folder of [state] path exists and is writable", path, err)
	}
	if !ok {
		return nil, runLockHeld(path, now, staleAfter)
	}
	l := &RunLock{path: path, fl: fl}
	// The host name only helps an admin find the holder; without it the record still has the pid and the time.
	host, _ := os.Hostname()
	if err := writeRunLockInfo(path, runLockInfo{PID: os.Getpid(), StartedAt: now.UTC(), Host: host}); err != nil {
		// The write failure is what the admin must fix; should the release fail too, the lock goes with this
		// process, which is about to end the pass.
		_ = l.Release()
		return nil, fmt.Errorf("write run lock %s: %w", path, err)
	}
	return l, nil
}

// Path returns the lock file.
func (l *RunLock) Path() string { return l.path }

// Release gives the lock up. It is safe to call more than once and on nil.
func (l *RunLock) Release() error {
	if l == nil || l.fl == nil {
		return nil
	}
	// The holder's details stay in the file: after a crash they tell who held it last.
	if err := l.fl.Unlock(); err != nil {
		return fmt.Errorf("release run lock %s: %w", l.path, err)
	}
	return nil
}

func runLockHeld(path string, now time.Time, staleAfter time.Duration) *LockHeldError {
	e := &LockHeldError{Path: path, Bound: staleAfter}
	// Unreadable details (the holder is between taking the lock and writing them) leave the error without a
	// holder and never stale: a false alarm would page someone for nothing.
	info, err := readRunLockInfo(path)
	if err != nil || info.StartedAt.IsZero() {
		return e
	}
	e.PID, e.Host, e.Since = info.PID, info.Host, info.StartedAt
	e.Held = now.Sub(info.StartedAt)
	e.Stale = staleAfter > 0 && e.Held > staleAfter
	return e
}

// initRunLockFile makes byte 0 of a new lock file a newline, so the file reads as plain JSON. It must happen before
// locking, because on Windows the holder's second handle cannot write that byte. Every process writes the same
// byte, so racing here is harmless, and a failure (the file is locked, or not ours to write) changes nothing that
// TryLock will not report.
func initRunLockFile(path string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close() // see above: a failure here changes nothing TryLock will not report
	if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
		_, _ = f.WriteAt([]byte{'\n'}, 0) // see above: racing writers write the same byte, and TryLock reports the rest
	}
}

// writeRunLockInfo writes the holder's details through a second handle, since flock's own handle is read-only.
// Closing that handle does not release the lock: flock(2) and LockFileEx locks belong to the locking handle.
func writeRunLockInfo(path string, info runLockInfo) error {
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	// Shorten first, so a reader sees either nothing usable or the whole new record, never the old holder's
	// record (which could look stale).
	// On a failed write the write's error is the one to report; the handle is closed all the same.
	if err := f.Truncate(runLockInfoOffset); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.WriteAt(append(data, '\n'), runLockInfoOffset); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func readRunLockInfo(path string) (runLockInfo, error) {
	var info runLockInfo
	f, err := os.Open(path)
	if err != nil {
		return info, err
	}
	defer f.Close() // read-only: nothing to lose if closing fails
	data, err := io.ReadAll(io.NewSectionReader(f, runLockInfoOffset, 4096))
	if err != nil {
		return info, err
	}
	err = json.NewDecoder(bytes.NewReader(data)).Decode(&info)
	return info, err
}
