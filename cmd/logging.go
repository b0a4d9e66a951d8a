package cmd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	gosync "sync"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/natefinch/lumberjack.v2"

	"tfsync/cmd/config"
)

func parseLevel(s string) (zerolog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return zerolog.DebugLevel, nil
	case "", "info":
		return zerolog.InfoLevel, nil
	case "warn", "warning":
		return zerolog.WarnLevel, nil
	case "error":
		return zerolog.ErrorLevel, nil
	}
	return zerolog.InfoLevel, fmt.Errorf("--log-level %q is not valid: use debug, info, warn or error", s)
}

// Logger builds the logger for one run: JSON when stderr is not a terminal (schedulers, CI), human-readable on
// one, and a run id on every line so one pass's lines can be told from the next one's. With a log file
// ([log] file or --log-file) every line also goes there, as JSON. An empty runID means the current run's.
func (f *Factory) Logger(runID string) zerolog.Logger {
	if runID == "" {
		runID = f.runID
	}
	var w io.Writer = f.stderrWriter()
	if f.logs != nil {
		w = zerolog.MultiLevelWriter(w, f.logs)
	}
	return f.newLogger(w, runID)
}

// stderrLogger logs to stderr only: for what must not go into a log file that cannot be written.
func (f *Factory) stderrLogger() zerolog.Logger {
	return f.newLogger(f.stderrWriter(), f.runID)
}

func (f *Factory) newLogger(w io.Writer, runID string) zerolog.Logger {
	level, _ := parseLevel(f.LogLevel)
	ctx := zerolog.New(w).Level(level).With().Timestamp()
	if runID != "" {
		ctx = ctx.Str("run_id", runID)
	}
	return ctx.Logger()
}

func (f *Factory) stderrWriter() io.Writer {
	format := f.LogFormat
	if format == "" {
		format = "json"
		if f.IO.ErrTTY {
			format = "console"
		}
	}
	if format == "console" {
		out := f.IO.ErrOut
		if f.showProgress() {
			out = f.progressLine().logWriter()
		}
		return zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly, NoColor: !f.IO.ErrTTY}
	}
	return f.IO.ErrOut
}

// openLog starts writing the log file once the configuration is known: --log-file wins over [log] file. cfg may
// be nil when there is none (a command that reads no configuration, or one that could not be read).
func (f *Factory) openLog(cfg *config.Config) {
	if f.logs == nil {
		return
	}
	lc := config.Default().Log
	if cfg != nil {
		lc = cfg.Log
	}
	if f.LogFile != "" {
		lc.File = f.LogFile
	}
	f.logs.open(lc)
}

// closeLog ends the log file at the end of the command.
func (f *Factory) closeLog() {
	if f.logs == nil {
		return
	}
	f.openLog(nil) // a no-op once the file is open; writes the held lines to --log-file if nothing opened it
	f.logs.close()
}

// logFile is the log file: JSON lines, rotated by size with lumberjack, which renames on rotation and so works
// the same on Windows. Lines logged before the configuration names the file are held and written when it is
// opened. A file that cannot be opened, written or rotated never stops a pass. When lumberjack cannot rotate it
// (on Windows, another program holds it open without delete sharing, so it cannot be renamed), the pass appends to
// it beyond max_size and the next pass rotates it; when it cannot be written at all (a full disk, a folder the
// account may not write), the rest of the pass logs to stderr only. Either is reported once on stderr.
type logFile struct {
	mu       gosync.Mutex
	w        *lumberjack.Logger
	appendTo *os.File // the file opened for appending after lumberjack failed
	path     string
	keep     int // rotated files kept beside the current one
	held     [][]byte
	settled  bool // the file is open, or known to be absent
	failed   bool
	warnFail func(path string, err error, appending bool)
}

// logHoldMax bounds the lines held before the configuration is read; a pass logs only a few by then.
const logHoldMax = 1000

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case !l.settled:
		if len(l.held) < logHoldMax {
			l.held = append(l.held, bytes.Clone(p))
		}
	case l.w != nil && !l.failed:
		l.write(p)
	}
	// A log file is never a reason to fail: what could not go there went to stderr.
	return len(p), nil
}

func (l *logFile) write(p []byte) {
	if l.appendTo != nil {
		if _, err := l.appendTo.Write(p); err != nil {
			l.fail(err, false)
		}
		return
	}
	_, err := l.w.Write(p)
	if err == nil {
		return
	}
	f, ferr := os.OpenFile(l.path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if ferr == nil {
		if _, ferr = f.Write(p); ferr == nil {
			l.appendTo = f
			l.warn(err, true)
			return
		}
		f.Close()
	}
	l.fail(err, false)
}

func (l *logFile) fail(err error, appending bool) {
	l.failed = true
	l.warn(err, appending)
}

func (l *logFile) warn(err error, appending bool) {
	if l.warnFail != nil {
		l.warnFail(l.path, err, appending)
	}
}

func (l *logFile) open(c config.Log) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.settled {
		return
	}
	l.settled = true
	held := l.held
	l.held = nil
	if c.File == "" {
		return
	}
	// lumberjack's own pruning runs in a goroutine the process may exit before; close prunes instead.
	l.w = &lumberjack.Logger{Filename: c.File, MaxSize: c.MaxSize}
	l.path, l.keep = c.File, max(c.MaxFiles-1, 0)
	for _, p := range held {
		if l.failed {
			break
		}
		l.write(p)
	}
}

// close ends the file at the end of a command; the next command of the same process starts afresh.
func (l *logFile) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer func() { l.settled, l.failed, l.held, l.path = false, false, nil, "" }()
	if l.w == nil {
		return
	}
	l.w.Close()
	l.w = nil
	if l.appendTo != nil {
		l.appendTo.Close()
		l.appendTo = nil
	}
	if err := pruneLogs(l.path, l.keep); err != nil && !l.failed {
		l.warn(err, true)
	}
}

// logBackupTime is how lumberjack stamps a rotated file: tfsync.log becomes tfsync-2026-03-20T10-00-00.000.log.
const logBackupTime = "2006-01-02T15-04-05.000"

// pruneLogs removes the oldest rotated files of path beyond keep.
func pruneLogs(path string, keep int) error {
	backups, err := logBackups(path)
	if err != nil {
		return err
	}
	var first error
	for _, b := range backups[min(keep, len(backups)):] {
		if err := os.Remove(b); err != nil && !os.IsNotExist(err) && first == nil {
			first = fmt.Errorf("remove an old log file: %w", err)
		}
	}
	return first
}

// logBackups lists the rotated files of path, newest first.
func logBackups(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	ext := filepath.Ext(base)
	prefix := strings.TrimSuffix(base, ext) + "-"
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list the log folder: %w", err)
	}
	type backup struct {
		name string
		at   time.Time
	}
	var found []backup
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, ext) {
			continue
		}
		at, err := time.Parse(logBackupTime, strings.TrimSuffix(strings.TrimPrefix(n, prefix), ext))
		if err != nil {
			continue
		}
		found = append(found, backup{filepath.Join(dir, n), at})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].at.After(found[j].at) })
	names := make([]string, len(found))
	for i, b := range found {
		names[i] = b.name
	}
	return names, nil
}
