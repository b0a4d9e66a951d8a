package cmd

import (
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"tfsync/cmd/exitcode"
)

// Two accounts on one installation, with the operating system's own permissions: the real program runs as two
// unprivileged accounts (uid 65534, "nobody", as the admin looking around; uid 65533, with no name, as the
// scheduler), started by this test running as root. The folder lets both create files, as a shared
// C:\ProgramData\tfsync often does; each file belongs to whoever created it.
//
// Issue 10 case 5: before, the admin's `tfsync status` created the store, and every scheduled pass failed on
// "attempt to write a readonly database".
func TestTwoAccountsOneInstallation(t *testing.T) {
	const admin, scheduler = 65534, 65533
	e, run := newAccountsEnv(t)
	store := filepath.Join(e.dir, "tfsync-state-graph.db")

	// notTheAdmins asserts that the admin's read-only commands left no file of theirs in the folder.
	notTheAdmins := func(when string) {
		t.Helper()
		for _, name := range dirNames(t, e.dir) {
			fi, err := os.Stat(filepath.Join(e.dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Sys().(*syscall.Stat_t).Uid == admin {
				t.Fatalf("%s: the admin's read-only commands left %s behind", when, name)
			}
		}
	}
	readOnly := func(when string) {
		t.Helper()
		for _, args := range [][]string{{"status"}, {"list-resources"}, {"dry-run"}} {
			if code, out := run(admin, args...); code != exitcode.OK {
				t.Fatalf("%s: %v as the admin: exit %d\n%s", when, args, code, out)
			}
		}
		// test-connection answers for the account that runs it: the admin could not run the passes once the
		// scheduler's store exists, and it says so.
		code, out := run(admin, "test-connection")
		if _, err := os.Stat(store); err == nil {
			if code != exitcode.Failure || !strings.Contains(out, "FAIL  state store access") || !strings.Contains(out, "owned by uid 65533") {
				t.Fatalf("%s: test-connection as the admin: exit %d\n%s", when, code, out)
			}
		} else if code != exitcode.OK {
			t.Fatalf("%s: test-connection as the admin: exit %d\n%s", when, code, out)
		}
		notTheAdmins(when)
	}

	// Before the first pass: the admin looks around; nothing is created.
	readOnly("before the first pass")
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Fatalf("the store exists before the first pass: %v", err)
	}
	// The scheduler's first pass creates the store; the admin looks again; the scheduler's passes go on.
	if code, out := run(scheduler, "sync"); code != exitcode.OK {
		t.Fatalf("the scheduler's first pass: exit %d\n%s", code, out)
	}
	want := e.calendars()
	readOnly("after the first pass")
	if code, out := run(scheduler, "sync"); code != exitcode.OK {
		t.Fatalf("the scheduler's second pass: exit %d\n%s", code, out)
	}
	if d := want.diff(e.calendars()); len(d) != 0 {
		t.Fatalf("the calendars changed:\n%s", strings.Join(d, "\n"))
	}

	// The admin runs a pass by hand, by mistake: refused before any calendar, with one message naming the
	// store, its owner (an account without a name shows as its uid) and the admin's account.
	before := e.writes()
	code, out := run(admin, "sync")
	if code != exitcode.Failure || strings.Count(strings.TrimSpace(out), "\n") != 0 ||
		!strings.Contains(out, store) || !strings.Contains(out, "owned by uid 65533") || !strings.Contains(out, "may not be written by nobody") {
		t.Fatalf("the admin's pass: exit %d\n%s", code, out)
	}
	if e.writes() != before {
		t.Fatal("the refused pass wrote to a calendar")
	}
	notTheAdmins("after the admin's pass")
	if code, out := run(scheduler, "sync"); code != exitcode.OK {
		t.Fatalf("the scheduler's pass after the admin's: exit %d\n%s", code, out)
	}
	if d := want.diff(e.calendars()); len(d) != 0 {
		t.Fatalf("the calendars changed:\n%s", strings.Join(d, "\n"))
	}
}

// newAccountsEnv is an installation that other accounts may use: a copy of this test binary they may run, a
// folder they may all write, files they may read, TF's database they may write. run starts tfsync as uid.
func newAccountsEnv(t *testing.T) (*crashEnv, func(uid uint32, args ...string) (int, string)) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to start tfsync as other accounts; the file-mode tests in state_test.go cover a non-root run")
	}
	e := newCrashEnv(t)
	bin := filepath.Join(e.dir, "tfsync-test")
	copyFile(t, os.Args[0], bin, 0o755)
	for d := filepath.Dir(e.dir); d != "/" && d != filepath.Clean(os.TempDir()); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(e.dir, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, name := range dirNames(t, e.dir) {
		mode := fs.FileMode(0o644)
		switch name {
		case "tfsync-test":
			mode = 0o755
		case "tf.db":
			mode = 0o666
		}
		if err := os.Chmod(filepath.Join(e.dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	run := func(uid uint32, args ...string) (int, string) {
		t.Helper()
		all := append([]string{"-test.run=^TestCrashHelperProcess$", "-test.count=1", "--"}, args...)
		all = append(all, "--config", e.config, "--log-format", "json")
		cmd := exec.Command(bin, all...)
		cmd.Dir = e.dir
		cmd.Env = append(os.Environ(), crashHelperEnv+"=1", "SSL_CERT_FILE="+e.emu.caFile, "HOME="+e.dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	// A temporary folder under a parent other accounts may not enter (TMPDIR under /root) cannot host this.
	if code, out := run(65534, "version"); code != exitcode.OK {
		t.Skipf("another account cannot run tfsync in %s (exit %d: %s)", e.dir, code, out)
	}
	return e, run
}

// Issue 10 case 5, TF's half, with the operating system's permissions: the scheduler may read TF's database but
// not write it. test-connection says so; a pass stops before any calendar instead of failing on the first booking
// a technician moves.
func TestTFDatabaseReadOnlyForTheScheduler(t *testing.T) {
	const scheduler = 65533
	e, run := newAccountsEnv(t)
	tfPath := filepath.Join(e.dir, "tf.db")
	if err := os.Chmod(tfPath, 0o644); err != nil { // root's, readable by all
		t.Fatal(err)
	}
	code, out := run(scheduler, "test-connection")
	if code != exitcode.Failure || !strings.Contains(out, "FAIL  TF write access") || !strings.Contains(out, "cannot write TF database "+tfPath) ||
		!strings.Contains(out, "modify rights") {
		t.Fatalf("test-connection: exit %d\n%s", code, out)
	}
	// Whichever write of the pass comes first (the store claim, or an installation id), it names the database.
	code, out = run(scheduler, "sync")
	if code != exitcode.Failure || !strings.Contains(out, "TF database "+tfPath) || !strings.Contains(out, "write") {
		t.Fatalf("pass: exit %d\n%s", code, out)
	}
	if e.writes() != 0 {
		t.Fatal("the pass wrote to a calendar")
	}
	// With the right given, the next pass runs.
	if err := os.Chmod(tfPath, 0o666); err != nil {
		t.Fatal(err)
	}
	if code, out := run(scheduler, "sync"); code != exitcode.OK {
		t.Fatalf("pass after the fix: exit %d\n%s", code, out)
	}
}

func copyFile(t *testing.T, from, to string, mode fs.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
