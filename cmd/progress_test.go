package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	"tfsync/exchange/emulator"
)

// TestProgressCoversReadingAndWritingAndSurvivesLogLines: the progress line counts the calendars read, then the
// writes; a log line in between wipes it, starts on a line of its own, and the progress line is drawn again after it.
func TestProgressCoversReadingAndWritingAndSurvivesLogLines(t *testing.T) {
	var buf bytes.Buffer
	clock := testNow
	p := newProgressLine(&buf, func() time.Time { clock = clock.Add(time.Second); return clock })
	for _, mb := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		p.readDone(mb)
	}
	if got := buf.String(); !strings.HasSuffix(got, clearLine+"  reading calendars: 3 read") {
		t.Fatalf("after three reads: %q", got)
	}
	buf.Reset()
	p.logWriter().Write([]byte("10:00:00 INF resource skipped\n"))
	if got := buf.String(); got != clearLine+"  reading calendars: 3 read\n10:00:00 INF resource skipped\n" {
		t.Errorf("a log line after the reads: %q (the read count stays above it)", got)
	}
	p.writing(120, 400)
	buf.Reset()
	log := p.logWriter()
	log.Write([]byte("10:00:00 INF create BES-1 in a@example.com\n"))
	if got, want := buf.String(), clearLine+"10:00:00 INF create BES-1 in a@example.com\n"+"  writing to calendars: 120 of 400 (30%)"; got != want {
		t.Errorf("a log line under progress:\n got %q\nwant %q", got, want)
	}
	buf.Reset()
	p.done()
	log.Write([]byte("after\n"))
	if got := buf.String(); got != clearLine+"  writing to calendars: 120 of 400 (30%)\nafter\n" {
		t.Errorf("after the pass: %q", got)
	}
}

// TestPassOnATerminalShowsReadProgress runs a pass as a person at a terminal sees it: console logs and the read
// progress on stderr, the report on stdout.
func TestPassOnATerminalShowsReadProgress(t *testing.T) {
	e := newEnv(t, "")
	io, out, errOut := TestIO()
	io.ErrTTY = true
	f := NewFactory(io)
	f.Now = e.clock.Now
	f.NewCalendar = func(context.Context, *config.Config) (exchange.Calendar, error) { return e.em, nil }
	if code := run(context.Background(), f, []string{"sync", "--config", e.config}); code != exitcode.OK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// The injected clock stands still, so only the first read is drawn, and the last is kept by done.
	if s := errOut.String(); !strings.Contains(s, "reading calendars: 1 read") || !strings.Contains(s, "reading calendars: 4 read\n") {
		t.Errorf("no read progress on the terminal:\n%q", s)
	}
	if strings.Contains(out.String(), "reading calendars") {
		t.Error("progress went to stdout")
	}
}

// TestThrottledPassLogsItsWaitPerMailbox runs the real program over Graph against a throttling server: each
// mailbox that waited gets one INFO line with its total wait in seconds.
func TestThrottledPassLogsItsWaitPerMailbox(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the program as a child process")
	}
	e := newCrashEnv(t)
	e.emu.em.SetFaults(emulator.Faults{Rate429: 0.3, RetryAfter: "0.05", Seed: 5})
	code, _, stderr := e.schedulerRun("sync")
	if code != exitcode.OK && code != exitcode.Partial {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if e.emu.em.Traffic().Throttled == 0 {
		t.Fatal("the emulator throttled nothing; the test proves nothing")
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var m struct {
			Level, Message, Mailbox string
			Retries                 int
			WaitSeconds             float64 `json:"wait_seconds"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stderr line is not JSON: %q", line)
		}
		if !strings.HasPrefix(m.Message, "throttled or busy") {
			continue
		}
		seen[m.Mailbox]++
		if m.Level != "info" || m.Retries < 1 || m.WaitSeconds < 0.05*float64(m.Retries)-1e-9 || !strings.Contains(m.Message, " s in all") {
			t.Errorf("wait line: %+v", m)
		}
	}
	if len(seen) == 0 {
		t.Fatalf("no wait line for a throttled pass:\n%s", stderr)
	}
	for mb, n := range seen {
		if n != 1 {
			t.Errorf("%s has %d wait lines, want one", mb, n)
		}
	}
}
