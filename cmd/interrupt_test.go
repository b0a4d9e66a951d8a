package cmd

import (
	"encoding/json"
	"os"
	"runtime"
	"strings"
	gosync "sync"
	"syscall"
	"testing"

	"tfsync/cmd/exitcode"
	"tfsync/exchange/emulator"
)

// TestSIGTERMDuringSync stops the real binary with SIGTERM while its first write is in flight: the pass ends at
// the next safe point with exit 7, says it was interrupted (not 89 "service unavailable" failures), marks no
// mailbox failing, and the next pass converges with no duplicate.
func TestSIGTERMDuringSync(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("SIGTERM is a Unix signal")
	}
	if testing.Short() {
		t.Skip("runs tfsync as a child process")
	}
	for _, mode := range []string{"graph", "ews"} {
		t.Run(mode, func(t *testing.T) { t.Parallel(); sigtermDuringSync(t, mode) })
	}
}

func sigtermDuringSync(t *testing.T, mode string) {
	e := newCrashEnv(t)
	if err := os.WriteFile(e.config, []byte(e.emu.configTOML(mode)), 0o600); err != nil {
		t.Fatal(err)
	}
	hit, release := make(chan struct{}), make(chan struct{})
	var once gosync.Once
	e.emu.em.SetFaults(emulator.Faults{Hook: func(op emulator.FaultOp) *emulator.FaultReply {
		if op.Path == "CreateItem" || (op.Front == "graph" && op.Method == "POST" && strings.Contains(op.Path, "/events")) {
			// The first write waits until the signalled process has gone: it can only have gone by handling the
			// signal, since this request has no answer yet.
			once.Do(func() {
				close(hit)
				<-release
			})
		}
		return nil
	}})
	c := e.start("sync")
	exited := make(chan int, 1)
	go func() { exited <- c.wait() }()
	var code int
	select {
	case <-hit:
		c.cmd.Process.Signal(syscall.SIGTERM)
		code = <-exited
		close(release)
	case code = <-exited:
		t.Fatalf("the pass ended (exit %d) before its first write\n%s", code, c.stderr.String())
	}
	e.emu.em.SetFaults(emulator.Faults{})
	stderr := c.stderr.String()
	stdout := c.stdout.String()
	if code != exitcode.Interrupted || !strings.Contains(stderr, "interrupted") || strings.Contains(stderr, "service unavailable") ||
		!strings.Contains(stdout, "Interrupted (SIGTERM or Ctrl-C)") || strings.Contains(stdout, "Failed:") {
		t.Fatalf("SIGTERM: exit %d, want %d\n%s\n%s", code, exitcode.Interrupted, stdout, stderr)
	}

	status, out, errOut := e.runWithGraph("status", "--output", "json")
	if status != exitcode.OK {
		t.Fatalf("status: exit %d\n%s", status, errOut)
	}
	var st struct {
		Runs []struct {
			ExitCode int `json:"exit_code"`
		} `json:"runs"`
		Mailboxes []statusMailbox `json:"mailboxes"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if len(st.Runs) == 0 || st.Runs[0].ExitCode != exitcode.Interrupted {
		t.Errorf("the run is not recorded as interrupted: %s", out)
	}
	for _, m := range st.Mailboxes {
		if m.ConsecutiveFailures != 0 || m.LastError != "" {
			t.Errorf("%s is marked failing after an interruption: %+v", m.Mailbox, m)
		}
	}

	if code, out, errOut := e.runWithGraph("sync"); code != exitcode.OK {
		t.Fatalf("the pass after SIGTERM: exit %d\n%s\n%s", code, out, errOut)
	}
	writes := func() int {
		n := e.writes()
		for _, mb := range e.emu.mailboxes {
			ops := e.emu.em.RequestsByOp(mb)
			n += ops["ews.CreateItem"] + ops["ews.UpdateItem"] + ops["ews.DeleteItem"]
		}
		return n
	}
	before := writes()
	if code, out, errOut := e.runWithGraph("sync"); code != exitcode.OK || writes() != before {
		t.Fatalf("the passes after SIGTERM did not converge: exit %d, %d writes\n%s\n%s", code, writes()-before, out, errOut)
	}
	if s := e.calendars(); len(s.dups) > 0 {
		t.Fatalf("duplicates after SIGTERM: %v", s.dups)
	}
}

// TestStatusListsBookingProblems: a bad TF row makes the pass that first meets it exit 4, later passes exit 0, and
// status and list-resources list it with the reason and the fix until it is corrected.
func TestStatusListsBookingProblems(t *testing.T) {
	e := newEnv(t, "")
	var id string
	if err := e.db.QueryRow(`SELECT id FROM bookings WHERE kind = 'arende' AND status = 'planned' ORDER BY id LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(`UPDATE bookings SET start = 'i morgon', version = version + 1 WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := e.run("sync"); code != exitcode.Partial {
		t.Fatalf("first pass with a bad row: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := e.run("sync"); code != exitcode.OK {
		t.Fatalf("second pass with the same bad row: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, c := range []string{"status", "list-resources"} {
		code, out, errOut := e.run(c)
		if code != exitcode.OK || !strings.Contains(out, "Bookings left alone until someone acts") || !strings.Contains(out, id) ||
			!strings.Contains(out, "correct the booking in TF") {
			t.Errorf("%s: exit %d\n%s\n%s", c, code, out, errOut)
		}
	}
	if _, err := e.db.Exec(`UPDATE bookings SET start = '2026-03-23T09:00:00', version = version + 1 WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := e.run("sync"); code != exitcode.OK {
		t.Fatalf("after the correction: exit %d", code)
	}
	if _, out, _ := e.run("status"); strings.Contains(out, "Bookings left alone") {
		t.Errorf("status still lists the corrected row:\n%s", out)
	}
}
