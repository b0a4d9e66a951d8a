package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	"tfsync/exchange/emulator"
	calsync "tfsync/sync"
)

// TestExitCodeTable holds each exit code to what the program returns: for every code of cmd/exitcode's table, the
// meaning the README and docs/schedulers.md give it (the table's own, word for word), and real commands that end
// with it.
func TestExitCodeTable(t *testing.T) {
	// scenario runs tfsync in a fresh installation and returns its exit code and what it printed.
	type scenario struct {
		name string
		run  func(t *testing.T) (int, string)
		// fragment is what the output says, as docs/troubleshooting.md lists it with this exit code; "" for
		// outcomes the troubleshooting tables do not list (success, unknown command or flag).
		fragment string
	}
	sync := func(prepare func(e *env), args ...string) func(t *testing.T) (int, string) {
		return func(t *testing.T) (int, string) {
			e := newEnv(t, "")
			if prepare != nil {
				prepare(e)
			}
			code, out, errOut := e.run(args...)
			return code, out + errOut
		}
	}
	failing := func(mailbox string, err error) func(e *env) {
		return func(e *env) {
			e.em.SetFault(func(op, mb string) error {
				if mailbox == "" || mb == mailbox {
					return fmt.Errorf("injected: %w", err)
				}
				return nil
			})
		}
	}
	lockSince := func(ago time.Duration) func(e *env) {
		return func(e *env) {
			lock, err := calsync.AcquireRunLock(filepath.Join(e.dir, "tfsync-state.db"), e.clock.Now().Add(-ago), time.Hour)
			if err != nil {
				e.t.Fatal(err)
			}
			e.t.Cleanup(func() { lock.Release() })
		}
	}
	table := []struct {
		code      int
		meaning   []string // words cmd/exitcode's meaning of the code must hold, and so the docs' rows
		scenarios []scenario
	}{
		{exitcode.OK, []string{"another pass", "lock"}, []scenario{
			{"a clean pass", sync(nil, "sync"), ""},
			{"another pass holds the lock", sync(lockSince(time.Minute), "sync"), ""},
		}},
		{exitcode.Failure, []string{"TF unreadable"}, []scenario{
			{"TF database gone", sync(func(e *env) { os.Remove(filepath.Join(e.dir, "tf.db")) }, "sync"), "check [tf] database in the config"},
		}},
		{exitcode.Usage, []string{"sage", "configuration"}, []scenario{
			{"usage: unknown command", sync(nil, "snyc"), ""},
			{"usage: extra argument", sync(nil, "sync", "extra-arg"), "does not take the argument(s)"},
			{"usage: unknown flag", sync(nil, "sync", "--bogus"), "Run 'tfsync --help' for usage."},
			{"invalid configuration", func(t *testing.T) (int, string) {
				e := newEnv(t, "show_as = \"bussy\"\n")
				code, out, errOut := e.run("sync")
				return code, out + errOut
			}, "is not valid: use one of"},
			{"configuration file missing", sync(func(e *env) { os.Remove(e.config) }, "sync"), "the configuration file does not exist"},
		}},
		{exitcode.Auth, []string{"no calendar could be reached"}, []scenario{
			{"credentials refused", sync(failing("", exchange.ErrAuth), "sync"), "no calendar could be read"},
			{"every mailbox throttled", sync(failing("", exchange.ErrThrottled), "sync"), "no calendar could be read"},
			{"every mailbox unavailable", sync(failing("", exchange.ErrUnavailable), "sync"), "no calendar could be read"},
		}},
		{exitcode.Partial, []string{"some mailboxes or bookings failed"}, []scenario{
			{"one mailbox throttled", sync(failing("sara.nilsson@example.com", exchange.ErrThrottled), "sync"), "some mailboxes or bookings failed"},
		}},
		{exitcode.Held, []string{"max_delete_percent"}, []scenario{
			{"a mailbox loses all its events", func(t *testing.T) (int, string) {
				e := newEnv(t, "")
				if code, _, _ := e.run("sync"); code != exitcode.OK {
					t.Fatalf("first pass: exit %d", code)
				}
				if _, err := e.db.Exec(`DELETE FROM bookings WHERE resource_id = 'RES-102'`); err != nil {
					t.Fatal(err)
				}
				code, out, errOut := e.run("sync")
				return code, out + errOut
			}, "deletes held back by max_delete_percent"},
		}},
		{exitcode.Interrupted, []string{"SIGTERM"}, []scenario{
			{"a pass stopped at its first write", func(t *testing.T) (int, string) {
				e := newEnv(t, "")
				io, out, errOut := TestIO()
				f := NewFactory(io)
				f.Now = e.clock.Now
				f.NewCalendar = func(context.Context, *config.Config) (exchange.Calendar, error) { return e.em, nil }
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				e.em.SetFault(func(op, mb string) error {
					if op == emulator.OpCreate {
						cancel() // as SIGTERM does, through signal.NotifyContext
					}
					return nil
				})
				code := run(ctx, f, []string{"sync", "--config", e.config})
				return code, out.String() + errOut.String()
			}, "the pass was interrupted"},
			{"a signal before the pass has started", func(t *testing.T) (int, string) {
				e := newEnv(t, "")
				io, out, errOut := TestIO()
				f := NewFactory(io)
				f.Now = e.clock.Now
				f.NewCalendar = func(context.Context, *config.Config) (exchange.Calendar, error) { return e.em, nil }
				ctx, cancel := context.WithCancel(context.Background())
				cancel() // SIGTERM while the store and TF are still being opened
				code := run(ctx, f, []string{"sync", "--config", e.config})
				return code, out.String() + errOut.String()
			}, "the pass was interrupted"},
		}},
		{exitcode.LockStale, []string{"over an hour"}, []scenario{
			{"a pass hung for three hours", sync(lockSince(3*time.Hour), "sync"), "far longer than a pass takes"},
		}},
	}

	documented := map[string]map[int]string{}
	_, readme := docsBlocks(t, "../README.md")
	documented["README.md"] = docsCodeRows(t, readme, "code", "meaning")
	_, sched := docsBlocks(t, "schedulers.md")
	documented["docs/schedulers.md"] = docsCodeRows(t, sched, "Exit code", "Meaning")

	_, trouble := docsBlocks(t, "troubleshooting.md")
	troubleExit := map[string]string{}
	for _, r := range docsTableRows(trouble, "Message contains", "Exit") {
		if m := docsInlineCode.FindStringSubmatch(r[0]); m != nil && len(r) > 1 {
			troubleExit[m[1]] = r[1]
		}
	}

	declared := map[int]exitcode.Code{}
	for _, c := range exitcode.All() {
		declared[c.Code] = c
	}
	tested := map[int]bool{}
	for _, row := range table {
		tested[row.code] = true
		c, ok := declared[row.code]
		if !ok {
			t.Errorf("exit code %d is in this test but not in cmd/exitcode's table", row.code)
		}
		for _, w := range row.meaning {
			if !strings.Contains(c.Meaning, w) {
				t.Errorf("cmd/exitcode: exit code %d means %q, which does not say %q", row.code, c.Meaning, w)
			}
		}
		for _, sc := range row.scenarios {
			t.Run(fmt.Sprintf("%d %s", row.code, sc.name), func(t *testing.T) {
				code, out := sc.run(t)
				if code != row.code {
					t.Errorf("exit %d, documented %d\n%s", code, row.code, out)
				}
				if sc.fragment != "" {
					if !strings.Contains(out, sc.fragment) {
						t.Errorf("the output lacks %q:\n%s", sc.fragment, out)
					}
					exit, ok := troubleExit[sc.fragment]
					if !ok {
						t.Errorf("docs/troubleshooting.md has no row for %q", sc.fragment)
					} else if !strings.Contains(exit, strconv.Itoa(row.code)) {
						t.Errorf("docs/troubleshooting.md gives %q exit %q, the program exits %d", sc.fragment, exit, row.code)
					}
				}
				if strings.HasPrefix(sc.name, "usage:") && !strings.HasPrefix(out, "Error: ") {
					t.Errorf("a usage error is printed as a JSON log line, not plain text:\n%s", out)
				}
			})
		}
	}
	// Every documented table row begins with the table's meaning (the docs go on to say what to do), and the docs
	// document exactly the table's codes.
	for _, c := range exitcode.All() {
		if !tested[c.Code] {
			t.Logf("exit code %d (%s) has no scenario in this test yet: add the command that returns it", c.Code, c.Name)
		}
		for doc, rows := range documented {
			text, ok := rows[c.Code]
			if !ok {
				t.Errorf("%s does not document exit code %d (%s)", doc, c.Code, c.Name)
				continue
			}
			if !docsSays(text, c.Meaning) {
				t.Errorf("%s: exit code %d is documented as %q; cmd/exitcode says %q: begin the row with that", doc, c.Code, text, c.Meaning)
			}
		}
	}
	for doc, rows := range documented {
		for v := range rows {
			if _, ok := declared[v]; !ok {
				t.Errorf("%s documents exit code %d, which cmd/exitcode's table does not have", doc, v)
			}
		}
	}
}

// docsSays reports whether a table cell begins with the sentence: markdown's backticks aside, and a capital letter
// where the cell starts a sentence.
func docsSays(cell, sentence string) bool {
	cell = strings.ReplaceAll(cell, "`", "")
	if cell == "" || sentence == "" {
		return false
	}
	cell = strings.ToLower(cell[:1]) + cell[1:]
	if !strings.HasPrefix(cell, sentence) {
		return false
	}
	// The sentence must end where the cell's does or its punctuation begins, not inside a longer word.
	rest := cell[len(sentence):]
	return rest == "" || strings.ContainsAny(rest[:1], " .,;:")
}

// docsCodeRows reads a markdown table whose first column is an exit code: code -> the next column.
func docsCodeRows(t *testing.T, text string, header ...string) map[int]string {
	t.Helper()
	rows := map[int]string{}
	for _, r := range docsTableRows(text, header...) {
		v, err := strconv.Atoi(r[0])
		if err != nil || len(r) < 2 {
			t.Errorf("exit code table row %q", r)
			continue
		}
		rows[v] = r[1]
	}
	if len(rows) == 0 {
		t.Errorf("no exit code table with columns %q", header)
	}
	return rows
}

func TestUsageErrorsArePlainText(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"snyc"}, "unknown command \"snyc\" for \"tfsync\"\n\nDid you mean this?\n\tsync"},
		{[]string{"sync", "extra-arg"}, `'tfsync sync' does not take the argument(s) "extra-arg"`},
		{[]string{"status", "--bogus"}, "unknown flag: --bogus"},
	} {
		io, out, errOut := TestIO()
		code := run(context.Background(), NewFactory(io), tc.args)
		if code != exitcode.Usage || out.Len() != 0 || !strings.HasPrefix(errOut.String(), "Error: "+tc.want+"\n") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", tc.args, code, out, errOut)
		}
	}
}

func TestHelpStillRuns(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"help", "sync"}, {"sync", "--help"}, {}} {
		io, out, errOut := TestIO()
		if code := run(context.Background(), NewFactory(io), args); code != exitcode.OK || !strings.Contains(out.String(), "Usage:") {
			t.Errorf("%q: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}

func TestConfigFromTheEnvironment(t *testing.T) {
	e := newEnv(t, "")
	io, out, errOut := TestIO()
	f := NewFactory(io)
	f.NewCalendar = func(context.Context, *config.Config) (exchange.Calendar, error) { return e.em, nil }
	f.Now = e.clock.Now
	t.Setenv(config.PathEnv, e.config)
	if code := run(context.Background(), f, []string{"sync"}); code != exitcode.OK {
		t.Fatalf("exit %d with %s set\n%s\n%s", code, config.PathEnv, out, errOut)
	}
	// --config wins over the environment.
	io, _, errOut = TestIO()
	missing := filepath.Join(e.dir, "elsewhere", "tfsync.toml")
	if code := run(context.Background(), NewFactory(io), []string{"status", "--config", missing}); code != exitcode.Usage {
		t.Fatalf("exit %d with --config pointing at no file", code)
	}
	wd, _ := os.Getwd()
	for _, want := range []string{"does not exist", "looked for " + missing, "working directory " + wd, config.PathEnv} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("the missing-config message lacks %q:\n%s", want, errOut)
		}
	}
}

// TestUnreadMailboxIsAnError: a mailbox whose calendar could not be read is counted and printed once, as an error,
// and "Skipped" keeps only what was left alone on purpose.
func TestUnreadMailboxIsAnError(t *testing.T) {
	const victim = "sara.nilsson@example.com"
	e := newEnv(t, "")
	e.em.SetFault(func(op, mb string) error {
		if mb == victim {
			return fmt.Errorf("injected: %w", exchange.ErrThrottled)
		}
		return nil
	})
	code, out, _ := e.run("sync")
	if code != exitcode.Partial {
		t.Fatalf("exit %d\n%s", code, out)
	}
	lines := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, victim) {
			lines++
		}
	}
	if lines != 2 || strings.Count(out, "was not synced") != 1 {
		t.Errorf("%s is on %d lines of the report, want 2 (its row and why):\n%s", victim, lines, out)
	}
	var row []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, victim) {
			row = strings.Fields(line)
			break
		}
	}
	if len(row) != 8 || row[7] != "1" {
		t.Errorf("the row of %s does not count one error: %q\n%s", victim, row, out)
	}
	if strings.Contains(out, "mailbox "+victim) {
		t.Errorf("%s is listed under Skipped:\n%s", victim, out)
	}

	code, out, _ = e.run("sync", "--output", "json")
	if code != exitcode.Partial {
		t.Fatalf("json: exit %d\n%s", code, out)
	}
	var r calsync.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for _, m := range r.Mailboxes {
		failed := m.Mailbox == victim
		if failed != (m.Errors == 1) || failed != (m.Status == calsync.MailboxNotRead) || (!failed && m.Status != calsync.MailboxOK) {
			t.Errorf("mailbox %s: errors %d, status %q", m.Mailbox, m.Errors, m.Status)
		}
	}
	for _, s := range r.Skipped {
		if s.Mailbox == victim {
			t.Errorf("skipped lists the unread mailbox: %+v", s)
		}
	}
}

// TestErrorNamesItsExitCode: the error line a scheduler's log keeps names the exit code by number and by its name in
// cmd/exitcode's table.
func TestErrorNamesItsExitCode(t *testing.T) {
	e := newEnv(t, "")
	os.Remove(filepath.Join(e.dir, "tf.db"))
	code, _, errOut := e.run("sync")
	if code != exitcode.Failure {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	want := fmt.Sprintf(`"exit_code":%d,"exit_name":%q`, code, exitcode.Name(code))
	if !strings.Contains(errOut, want) {
		t.Errorf("the error line lacks %s:\n%s", want, errOut)
	}
}
