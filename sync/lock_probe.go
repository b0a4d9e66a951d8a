package sync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/gofrs/flock"
)

// ProbeRunLock tells whether a pass holds the run lock beside the mapping store at storePath, for status: nil when
// it is free. It takes the lock only for the moment of the test and writes nothing into it, so a pass starting
// at that very moment at worst leaves as it does beside any other pass, to run at the next tick.
func ProbeRunLock(storePath string, now time.Time, staleAfter time.Duration) (*LockHeldError, error) {
	path := storePath + ".lock"
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no pass ever ran here
	}
	fl := flock.New(path)
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("test the run lock %s: %w", path, err)
	}
	if ok {
		if err := fl.Unlock(); err != nil {
			return nil, fmt.Errorf("test the run lock %s: %w", path, err)
		}
		return nil, nil
	}
	return runLockHeld(path, now, staleAfter), nil
}
