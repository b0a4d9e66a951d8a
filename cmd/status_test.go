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

	"tfsync/cmd/exitcode"
	calsync "tfsync/sync"
)

// statusHistory writes a history of passes into the installation's state store, as passes would have.
type statusHistory struct {
	t  *testing.T
	e  *env
	st *calsync.Store
	n  int
}

func newStatusHistory(t *testing.T) *statusHistory {
	e := newEnv(t, "")
	st, err := calsync.OpenStore(context.Background(), filepath.Join(e.dir, "tfsync-state.db"), e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &statusHistory{t: t, e: e, st: st}
	h.update(func(tx *calsync.StoreTx) error {
		for i, mb := range []string{"anna.lindqvist@example.com", "mehmet.yilmaz@example.com"} {
			for j := 0; j < 3+i; j++ {
				if err := tx.PutLink(calsync.Link{BookingID: fmt.Sprintf("B-%d%d", i, j), Mailbox: mb, EventID: fmt.Sprintf("ev-%d%d", i, j)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return h
}

func (h *statusHistory) update(fn func(tx *calsync.StoreTx) error) {
	h.t.Helper()
	if err := h.st.Update(context.Background(), fn); err != nil {
		h.t.Fatal(err)
	}
}

// run records one run that started at start and took two seconds.
func (h *statusHistory) run(start time.Time, outcome string, exit int, errText string, summary string) {
	h.t.Helper()
	h.n++
	rec := calsync.RunRecord{ID: fmt.Sprintf("run-%03d", h.n), StartedAt: start, FinishedAt: start.Add(2 * time.Second),
		Outcome: outcome, ExitCode: exit, Error: errText}
	if outcome == calsync.RunRunning {
		rec.FinishedAt = time.Time{}
	}
	if summary != "" {
		rec.Summary = []byte(summary)
	}
	h.update(func(tx *calsync.StoreTx) error { return tx.PutRun(rec) })
}

func (h *statusHistory) mailbox(s calsync.MailboxState) {
	h.t.Helper()
	h.update(func(tx *calsync.StoreTx) error { return tx.PutMailboxState(s) })
}

// status runs tfsync status with args at the history's now and returns the exit code and stdout, with this
// process's pid and host name (a held lock's) replaced by PID and HOST.
func (h *statusHistory) status(args ...string) (int, string) {
	h.t.Helper()
	code, out, stderr := h.e.run(append([]string{"status"}, args...)...)
	if strings.Contains(stderr, `"level":"error"`) {
		h.t.Errorf("status logged an error:\n%s", stderr)
	}
	host, _ := os.Hostname()
	out = strings.ReplaceAll(out, "pid "+strconv.Itoa(os.Getpid()), "pid PID")
	out = strings.ReplaceAll(out, `"pid": `+strconv.Itoa(os.Getpid()), `"pid": 0`)
	if host != "" {
		// Only where the lock's holder is named: a short host name may be part of other words.
		out = strings.ReplaceAll(out, "pid PID on "+host+" ", "pid PID on HOST ")
		out = strings.ReplaceAll(out, `"host": "`+host+`"`, `"host": "HOST"`)
	}
	return code, out
}

func statusGolden(t *testing.T, name, got string) {
	t.Helper()
	golden(t, filepath.Join("testdata", "status", name), []byte(got))
}

const statusAuthError = "no calendar could be read: read calendar: read anna.lindqvist@example.com: Microsoft Entra ID refused the client secret (AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app 11111111-2222-3333-4444-555555555555. Trace ID: 0f0e0d0c-0b0a-0908-0706-050403020100 Correlation ID: 00112233-4455-6677-8899-aabbccddeeff Timestamp: 2026-03-20 01:05:00Z): create a new client secret under Certificates & secrets and put its Value in [exchange.graph] client_secret"

// TestStatusOverAHistory reads status over stores with histories of good, failed, hung (exit 6) and lock-skipped
// passes: the headline, the exit code of --check, and the age rule, with golden files for the text and the JSON.
func TestStatusOverAHistory(t *testing.T) {
	stockholm := mustStockholm()
	at := func(hhmm string) time.Time {
		d, err := time.ParseInLocation("2006-01-02 15:04", "2026-03-20 "+hhmm, stockholm)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		name      string
		now       string
		build     func(h *statusHistory)
		args      []string // more flags for the --check run
		headline  string
		checkExit int
	}{
		{
			name: "ok",
			now:  "10:57",
			build: func(h *statusHistory) {
				h.run(at("10:40"), calsync.RunPass, 0, "", `{"report":{"mailboxes":[{"mailbox":"anna.lindqvist@example.com","created":3}]}}`)
				h.run(at("10:45"), calsync.RunPass, 0, "", "")
				h.run(at("10:45").Add(time.Second), calsync.RunLockHeld, 0, "another tfsync pass (pid 4242, since 2026-03-20T09:45:00Z) is running; this one leaves it alone: run lock held", "")
				h.run(at("10:50"), calsync.RunPass, 0, "", "")
				h.run(at("10:55"), calsync.RunPass, 0, "", "")
				h.mailbox(calsync.MailboxState{Mailbox: "anna.lindqvist@example.com", LastSync: at("10:55")})
				h.mailbox(calsync.MailboxState{Mailbox: "mehmet.yilmaz@example.com", LastSync: at("10:55")})
			},
			headline:  "OK: last pass 2 min ago, 7 events in step",
			checkExit: exitcode.OK,
		},
		{
			name: "failing",
			now:  "03:07",
			build: func(h *statusHistory) {
				h.run(at("01:50"), calsync.RunPass, 0, "", "")
				h.run(at("01:55"), calsync.RunPass, 0, "", "")
				for i := 0; i < 12; i++ {
					start := at("02:05").Add(time.Duration(i) * 5 * time.Minute)
					switch i {
					case 4:
						h.run(start, calsync.RunLockStale, exitcode.LockStale, "another tfsync pass (pid 4242) has held the run lock since 2026-03-20T00:20:00Z, far longer than a pass takes: check for a hung process and end it: run lock held too long", "")
					case 7:
						h.run(start.Add(-time.Minute), calsync.RunLockHeld, 0, "another tfsync pass is running; this one leaves it alone", "")
						fallthrough
					default:
						h.run(start, calsync.RunPass, exitcode.Auth, statusAuthError, "")
					}
				}
				h.mailbox(calsync.MailboxState{Mailbox: "anna.lindqvist@example.com", LastSync: at("01:55"), LastError: statusAuthError, LastErrorAt: at("03:00"), ConsecutiveFailures: 11})
				h.mailbox(calsync.MailboxState{Mailbox: "mehmet.yilmaz@example.com", LastSync: at("01:55"), LastError: strings.ReplaceAll(statusAuthError, "anna.lindqvist", "mehmet.yilmaz"), LastErrorAt: at("03:00"), ConsecutiveFailures: 11})
			},
			headline:  "FAILING since 02:05 CET (12 passes): no calendar could be read: read calendar: read anna.lindqvist@example.com: Microsoft Entra ID refused the client secret (AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in…; last good pass 01:55 CET",
			checkExit: exitcode.Auth,
		},
		{
			name: "stale",
			now:  "13:10",
			build: func(h *statusHistory) {
				h.run(at("09:55"), calsync.RunPass, 0, "", "")
				h.run(at("10:00"), calsync.RunPass, 0, "", "")
				h.mailbox(calsync.MailboxState{Mailbox: "anna.lindqvist@example.com", LastSync: at("10:00")})
			},
			headline:  "STALE: last pass 3 h 10 min ago (10:00 CET); no pass for 3 h 10 min (more than 45 min): check that the scheduled task still runs; last good pass 10:00 CET",
			checkExit: exitcode.Failure,
		},
		{
			name: "hung",
			now:  "12:30",
			build: func(h *statusHistory) {
				h.run(at("09:25"), calsync.RunPass, 0, "", "")
				h.run(at("09:30"), calsync.RunRunning, 0, "", "")
				h.run(at("10:35"), calsync.RunLockStale, exitcode.LockStale, "another tfsync pass (pid 4242) has held the run lock since 2026-03-20T08:30:00Z, far longer than a pass takes: check for a hung process and end it: run lock held too long", "")
				lock, err := calsync.AcquireRunLock(filepath.Join(h.e.dir, "tfsync-state.db"), at("09:30"), time.Hour)
				if err != nil {
					h.t.Fatal(err)
				}
				h.t.Cleanup(func() { lock.Release() })
			},
			headline:  "HUNG: pid PID on HOST has held the run lock since 09:30 CET, far longer than a pass takes: end that process; last good pass 09:25 CET",
			checkExit: exitcode.LockStale,
		},
		{
			name: "held",
			now:  "10:07",
			build: func(h *statusHistory) {
				h.run(at("10:00"), calsync.RunPass, 0, "", "")
				h.run(at("10:05"), calsync.RunPass, exitcode.Held, "deletes held back: 2 deletes held back by max_delete_percent; check the plan with `tfsync dry-run`, then run `tfsync sync --force` to apply them",
					`{"report":{"results":[{"action":"delete","booking_id":"B-10","mailbox":"mehmet.yilmaz@example.com","reason":"the booking is gone from TF","held":true},{"action":"delete","booking_id":"B-11","mailbox":"mehmet.yilmaz@example.com","reason":"the booking is gone from TF","held":true}],"mailboxes":[]}}`)
				h.mailbox(calsync.MailboxState{Mailbox: "mehmet.yilmaz@example.com", LastSync: at("10:05"), HeldDeletes: 2})
			},
			headline:  "HELD since 10:05 CET (1 pass): deletes held back: 2 deletes held back by max_delete_percent; check the plan with `tfsync dry-run`, then run `tfsync sync --force` to apply them; last good pass 10:00 CET",
			checkExit: exitcode.Held,
		},
		{
			name:      "never",
			now:       "10:00",
			build:     func(h *statusHistory) {},
			headline:  "NO PASS YET: no pass is recorded in this state store: check that the scheduled task runs 'tfsync sync' with this configuration",
			checkExit: exitcode.Failure,
		},
		{
			name: "running",
			now:  "10:06",
			build: func(h *statusHistory) {
				h.run(at("10:00"), calsync.RunPass, 0, "", "")
				h.run(at("10:05"), calsync.RunRunning, 0, "", "")
				lock, err := calsync.AcquireRunLock(filepath.Join(h.e.dir, "tfsync-state.db"), at("10:05"), time.Hour)
				if err != nil {
					h.t.Fatal(err)
				}
				h.t.Cleanup(func() { lock.Release() })
			},
			headline:  "OK: last pass 6 min ago, 7 events in step; a pass is running since 10:05 CET (pid PID)",
			checkExit: exitcode.OK,
		},
		{
			name: "interrupted",
			now:  "10:12",
			build: func(h *statusHistory) {
				h.run(at("10:00"), calsync.RunPass, 0, "", "")
				h.run(at("10:05"), calsync.RunPass, 7, "the pass was interrupted", "")
				h.run(at("10:10"), calsync.RunPass, 7, "the pass was interrupted", "")
			},
			headline:  "OK: last pass 12 min ago, 7 events in step",
			checkExit: exitcode.OK,
		},
		{
			name: "killed",
			now:  "10:12",
			build: func(h *statusHistory) {
				h.run(at("10:00"), calsync.RunPass, 0, "", "")
				h.run(at("10:05"), calsync.RunRunning, 0, "", "")
				h.run(at("10:10"), calsync.RunPass, 0, "", "")
			},
			headline:  "OK: last pass 2 min ago, 7 events in step",
			checkExit: exitcode.OK,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newStatusHistory(t)
			h.e.clock.Set(at(tc.now).Add(30 * time.Second))
			tc.build(h)

			code, out := h.status()
			if code != exitcode.OK {
				t.Fatalf("status: exit %d\n%s", code, out)
			}
			if first, _, _ := strings.Cut(out, "\n"); first != tc.headline {
				t.Errorf("headline\n got %s\nwant %s", first, tc.headline)
			}
			statusGolden(t, tc.name+".txt", out)
			if tc.name == "failing" && (!strings.Contains(out, "E1  2 mailboxes: no calendar could be read: read calendar: read <mailbox>:") || strings.Contains(out, "E2")) {
				t.Errorf("the mailboxes' shared error is not listed once with its count:\n%s", out)
			}
			code, out = h.status("--output", "json")
			if code != exitcode.OK {
				t.Fatalf("status --output json: exit %d\n%s", code, out)
			}
			var rep statusReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			if rep.SchemaVersion != 1 || rep.Health.Headline != tc.headline || rep.Health.ExitCode != tc.checkExit {
				t.Errorf("JSON health: %+v", rep.Health)
			}
			for _, empty := range []string{`"runs": null`, `"mailboxes": null`, `"held_back": null`, `"warnings": null`} {
				if strings.Contains(out, empty) {
					t.Errorf("JSON has %s: empty lists are []", empty)
				}
			}
			statusGolden(t, tc.name+".json", out)

			code, out = h.status(append([]string{"--check"}, tc.args...)...)
			if code != tc.checkExit || out != tc.headline+"\n" {
				t.Errorf("status --check: exit %d, want %d; printed %q", code, tc.checkExit, out)
			}
			code, out = h.status("--check", "--output", "json")
			var check map[string]any
			if err := json.Unmarshal([]byte(out), &check); err != nil || code != tc.checkExit ||
				check["headline"] != tc.headline || check["exit_code"] != float64(tc.checkExit) || check["schema_version"] != float64(1) {
				t.Errorf("status --check --output json: exit %d, %v\n%s", code, err, out)
			}
		})
	}
}

// TestStatusCheckAgeRule: --check alarms when no pass has succeeded within --max-age, and not before.
func TestStatusCheckAgeRule(t *testing.T) {
	h := newStatusHistory(t)
	last := h.e.clock.Now()
	h.run(last, calsync.RunPass, 0, "", "")
	finished := last.Add(2 * time.Second)
	for _, tc := range []struct {
		after  time.Duration
		maxAge string
		exit   int
	}{
		{44 * time.Minute, "", exitcode.OK},
		{45 * time.Minute, "", exitcode.OK},
		{45*time.Minute + time.Second, "", exitcode.Failure},
		{10 * time.Minute, "5m", exitcode.Failure},
		{2 * time.Hour, "3h", exitcode.OK},
	} {
		h.e.clock.Set(finished.Add(tc.after))
		args := []string{"--check"}
		if tc.maxAge != "" {
			args = append(args, "--max-age", tc.maxAge)
		}
		code, out := h.status(args...)
		if code != tc.exit {
			t.Errorf("%s after the last pass, max age %q: exit %d, want %d: %s", tc.after, tc.maxAge, code, tc.exit, out)
		}
	}
}

// TestEveryPassIsRecorded: a pass that leaves because another holds the lock, and one that finds the lock held far
// too long (exit 6), are recorded like the passes that ran.
func TestEveryPassIsRecorded(t *testing.T) {
	e := newEnv(t, "")
	if code, _, _ := e.run("sync"); code != exitcode.OK {
		t.Fatal(code)
	}
	lockAt := func(ago time.Duration) *calsync.RunLock {
		lock, err := calsync.AcquireRunLock(filepath.Join(e.dir, "tfsync-state.db"), e.clock.Now().Add(-ago), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return lock
	}
	e.clock.Advance(5 * time.Minute)
	lock := lockAt(time.Minute)
	if code, _, _ := e.run("sync"); code != exitcode.OK {
		t.Fatal(code)
	}
	lock.Release()
	e.clock.Advance(5 * time.Minute)
	lock = lockAt(3 * time.Hour)
	if code, _, _ := e.run("sync"); code != exitcode.LockStale {
		t.Fatal(code)
	}
	lock.Release()

	st, err := calsync.OpenStore(context.Background(), filepath.Join(e.dir, "tfsync-state.db"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.RunHistory(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%s %d", r.Outcome, r.ExitCode))
		if r.FinishedAt.IsZero() || r.ID == "" {
			t.Errorf("run %+v not finished", r)
		}
	}
	want := []string{"lock_stale 6", "lock_held 0", "pass 0"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("runs recorded: %q, want %q", got, want)
	}
}
