package cmd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	calsync "tfsync/sync"
)

// schedulerRun is one pass of the real program as a scheduler starts it: no terminal, no standard input, stdout
// and stderr captured (and then, in a real scheduler, thrown away).
func (e *crashEnv) schedulerRun(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	all := append([]string{"-test.run=^TestCrashHelperProcess$", "-test.count=1", "--"}, args...)
	cmd := exec.Command(os.Args[0], all...)
	cmd.Env = append(os.Environ(), crashHelperEnv+"=1", "SSL_CERT_FILE="+e.emu.caFile, config.PathEnv+"="+e.config)
	cmd.Dir = e.dir
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, &out, &errOut
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		e.t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// reportHead is the first line of a text report: the time with its zone, and the run id.
var reportHead = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z+\-0-9]+  run ([0-9a-f]{12})\n`)

// logRunIDs reads a log file: every line must be a JSON object; it returns the run ids in order of first line.
func logRunIDs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("%s: a line is not JSON: %q", path, sc.Text())
		}
		if _, filler := line["filler"]; filler {
			continue
		}
		id, _ := line["run_id"].(string)
		if id == "" {
			t.Errorf("%s: a line without run id: %q", path, sc.Text())
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// fillLog grows the log file to just under a megabyte with JSON lines, so the next pass's first line rotates it.
func fillLog(t *testing.T, path string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	const line = `{"filler":"................................................................................................"}` + "\n"
	n := (1<<20 - 64 - int(info.Size())) / len(line)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Repeat(line, n)); err != nil {
		t.Fatal(err)
	}
}

// TestSchedulerPassesLogToARotatingFile runs the real program as a scheduler does: the log file exists, holds every
// pass's run id, rotates at its size and keeps max_files files; the report on stdout starts with time and run id.
func TestSchedulerPassesLogToARotatingFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the program as child processes")
	}
	e := newCrashEnv(t)
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, "\n[log]\nfile = \"logs/tfsync.log\"\nmax_size = 1\nmax_files = 3\n"...)
	if err := os.WriteFile(e.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(e.dir, "logs", "tfsync.log")

	var runs []string
	pass := func() string {
		t.Helper()
		code, out, stderr := e.schedulerRun("sync", "--log-level", "debug")
		if code != exitcode.OK {
			t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
		}
		m := reportHead.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("the report does not start with the time and the run id:\n%s", out)
		}
		runs = append(runs, m[1])
		return m[1]
	}

	first := pass()
	if ids := logRunIDs(t, logPath); len(ids) != 1 || ids[0] != first {
		t.Fatalf("log file after one pass holds runs %q, want [%s]", ids, first)
	}
	second := pass()
	if ids := logRunIDs(t, logPath); len(ids) != 2 || ids[1] != second {
		t.Fatalf("log file after two passes holds runs %q", ids)
	}
	// A pass that leaves because another holds the lock prints no report, and is in the log with its own run id.
	lock, err := calsync.AcquireRunLock(filepath.Join(e.dir, "tfsync-state-graph.db"), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := e.schedulerRun("sync")
	lock.Release()
	if code != exitcode.OK || out != "" {
		t.Fatalf("with the lock held: exit %d\n%s\n%s", code, out, stderr)
	}
	ids := logRunIDs(t, logPath)
	if len(ids) != 3 || ids[2] == second {
		t.Fatalf("the pass that left for the lock is not in the log with a run id of its own: %q", ids)
	}
	runs = append(runs, ids[2])
	if data, _ := os.ReadFile(logPath); !strings.Contains(string(data), "is running; this one leaves it alone") {
		t.Errorf("the log does not say why the pass left")
	}
	for i := 0; i < 4; i++ {
		fillLog(t, logPath)
		id := pass()
		if ids := logRunIDs(t, logPath); len(ids) != 1 || ids[0] != id {
			t.Fatalf("after a rotation the log file holds runs %q, want only %s", ids, id)
		}
		backups, err := logBackups(logPath)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(i+1, 2); len(backups) != want {
			t.Fatalf("rotation %d: %d rotated files kept, want %d (max_files = 3): %q", i+1, len(backups), want, backups)
		}
		if ids := logRunIDs(t, backups[0]); ids[len(ids)-1] != runs[len(runs)-2] {
			t.Errorf("the newest rotated file ends with run %q, want the previous pass %s", ids, runs[len(runs)-2])
		}
		info, err := os.Stat(backups[0])
		if err != nil || info.Size() > 1<<20 {
			t.Errorf("rotated file %s is larger than max_size: %v", backups[0], info.Size())
		}
	}
}

func TestLogFileThatCannotBeWrittenNeverStopsAPass(t *testing.T) {
	e := newEnv(t, "")
	// A folder that cannot be made, even by root: its parent is a file.
	blocker := filepath.Join(e.dir, "not-a-folder")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := e.run("sync", "--log-file", filepath.Join(blocker, "tfsync.log"))
	if code != exitcode.OK || !strings.Contains(out, "total") {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	if n := strings.Count(stderr, "the log file cannot be written"); n != 1 {
		t.Errorf("the unwritable log file is reported %d times, want once:\n%s", n, stderr)
	}
}

func TestLogFileFlagCatchesAConfigurationError(t *testing.T) {
	e := newEnv(t, "show_as = \"bussy\"\n")
	logPath := filepath.Join(e.dir, "flag.log")
	if code, _, _ := e.run("sync", "--log-file", logPath); code != exitcode.Usage {
		t.Fatalf("exit %d", code)
	}
	data, err := os.ReadFile(logPath)
	if err != nil || !strings.Contains(string(data), "show_as") || !strings.Contains(string(data), `"run_id"`) {
		t.Fatalf("the log file lacks the configuration error with the run id: %v\n%s", err, data)
	}
}

func TestLogConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(extra string) string {
		p := filepath.Join(dir, "tfsync.toml")
		cfg := "[tf]\ndatabase = \"tf.db\"\n[exchange]\nmode = \"ews\"\n[exchange.ews]\nurl = \"https://mail.example.com/EWS/Exchange.asmx\"\nusername = \"svc\"\npassword = \"env:X\"\n[sync]\nallowed_domains = [\"example.com\"]\n" + extra
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, _, err := config.Load(write(""))
	if err != nil || cfg.Log.File != "" || cfg.Log.MaxSize != 10 || cfg.Log.MaxFiles != 5 {
		t.Fatalf("defaults: %+v, %v", cfg.Log, err)
	}
	cfg, _, err = config.Load(write("[log]\nfile = \"logs/tfsync.log\"\nmax_size = 2\nmax_files = 9\n"))
	if err != nil || cfg.Log.File != filepath.Join(dir, "logs", "tfsync.log") || cfg.Log.MaxSize != 2 || cfg.Log.MaxFiles != 9 {
		t.Fatalf("set: %+v, %v", cfg.Log, err)
	}
	_, _, err = config.Load(write("[log]\nmax_size = 0\nmax_file = 3\n"))
	for _, want := range []string{"[log] max_size = 0 is out of range", "[log] max_file is not a known key: did you mean max_files?"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// TestLogFileThatCannotBeRotatedIsAppendedTo: when lumberjack refuses a write (here a line larger than max_size;
// on Windows a rename that another program's open handle forbids), the line is appended to the file all the same,
// the rest of the pass follows it there, and the trouble is reported once.
func TestLogFileThatCannotBeRotatedIsAppendedTo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tfsync.log")
	var warned []string
	l := &logFile{warnFail: func(p string, err error, appending bool) {
		warned = append(warned, fmt.Sprintf("%s %t %v", p, appending, err))
	}}
	l.Write([]byte(`{"held":1}` + "\n"))
	l.open(config.Log{File: path, MaxSize: 1, MaxFiles: 2})
	big := `{"big":"` + strings.Repeat("x", 1<<20) + `"}` + "\n"
	l.Write([]byte(big))
	l.Write([]byte(`{"after":1}` + "\n"))
	l.close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"held":1}` + "\n" + big + `{"after":1}` + "\n"; string(data) != want {
		t.Errorf("log file holds %d bytes, want the %d of the three lines", len(data), len(want))
	}
	if len(warned) != 1 || !strings.Contains(warned[0], " true ") {
		t.Errorf("warnings: %q, want one that says the file is appended to", warned)
	}
}
