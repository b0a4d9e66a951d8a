package sync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// ErrStoreNotWritable: the account running tfsync may not write the state store or a file beside it. A
// *StoreAccessError names which file, its owner and the account.
var ErrStoreNotWritable = errors.New("the state store is not writable")

// WriteProbe reports whether this process may write name (a folder when dir is true) without changing anything
// a pass relies on. ProbeWrite is the real one; tests running as root, whom file modes do not stop, pass one that
// reads the modes instead.
type WriteProbe func(name string, dir bool) error

// ProbeWrite creates and removes a scratch file in a folder, and opens a file for writing without truncating it.
// Both ask the operating system itself, so ACLs, read-only attributes and mounts count as they would for SQLite.
func ProbeWrite(name string, dir bool) error {
	if dir {
		f, err := os.CreateTemp(name, ".tfsync-write-check-*")
		if err != nil {
			return err
		}
		scratch := f.Name()
		// The scratch file is empty and removed at once: whether the folder is writable is what Remove says.
		_ = f.Close()
		return os.Remove(scratch)
	}
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// StoreAccessError explains which file beside the state store this account may not write, and the fix.
type StoreAccessError struct {
	Store   string // [state] path
	Path    string // the file or folder that may not be written
	Dir     bool
	Owner   string // "" when the system does not tell (Windows)
	Account string // the account running tfsync
	Err     error
}

func (e *StoreAccessError) Error() string {
	what := "the state store " + e.Path
	switch {
	case e.Dir:
		what = "the state store's folder " + e.Path
	case e.Path != e.Store:
		what = fmt.Sprintf("%s, beside the state store %s,", e.Path, e.Store)
	}
	owner := "owned by " + e.Owner
	if e.Owner == "" {
		owner = "whose owner tfsync cannot tell on this system (see the file's Properties -> Security -> Advanced)"
	}
	cause := e.Err
	var pe *fs.PathError
	if errors.As(cause, &pe) {
		cause = pe.Err
	}
	return fmt.Sprintf("%s is %s and may not be written by %s, the account running tfsync (%v). Give %s modify "+
		"rights on the folder %s and the files in it (the store, its -wal and -shm files and the .lock file), or run "+
		"tfsync as the account that owns them",
		what, owner, e.Account, cause, e.Account, filepath.Dir(e.Store))
}

func (e *StoreAccessError) Unwrap() []error { return []error{ErrStoreNotWritable, e.Err} }

// CheckStoreWritable checks that this process may write everything a pass writes beside the store at storePath:
// the folder (SQLite creates the -wal and -shm files there, the run lock its .lock file, --rebuild renames), and
// each of those files that exists. It changes nothing but a scratch file it removes at once. probe nil means
// ProbeWrite. A missing folder is reported as OpenStore reports it.
func CheckStoreWritable(storePath string, probe WriteProbe) error {
	if probe == nil {
		probe = ProbeWrite
	}
	dir := filepath.Dir(storePath)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("open mapping store %s: folder %s does not exist: create it or change [state] path", storePath, dir)
	}
	if err := probe(dir, true); err != nil {
		return storeAccessError(storePath, dir, true, err)
	}
	for _, name := range []string{storePath, storePath + "-wal", storePath + "-shm", storePath + ".lock"} {
		fi, err := os.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil && fi.IsDir() {
			return fmt.Errorf("open mapping store %s: %s is a folder: remove it, or set [state] path to another file name", storePath, name)
		}
		if err == nil {
			err = probe(name, false)
		}
		if err != nil {
			return storeAccessError(storePath, name, false, err)
		}
	}
	return nil
}

func storeAccessError(store, name string, dir bool, err error) error {
	return &StoreAccessError{Store: store, Path: name, Dir: dir, Owner: fileOwner(name), Account: CurrentAccount(),
		Err: err}
}

// CurrentAccount names the account this process runs as, as the system shows it (DOMAIN\user on Windows).
func CurrentAccount() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	for _, v := range []string{"USERNAME", "USER"} {
		if s := os.Getenv(v); s != "" {
			return s
		}
	}
	return "uid " + strconv.Itoa(os.Getuid())
}
