package cmd

import (
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
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
// one, and a run id on every line so one pass's lines can be told from the next one's.
func (f *Factory) Logger(runID string) zerolog.Logger {
	level, _ := parseLevel(f.LogLevel)
	format := f.LogFormat
	if format == "" {
		format = "json"
		if f.IO.ErrTTY {
			format = "console"
		}
	}
	var l zerolog.Logger
	if format == "console" {
		l = zerolog.New(zerolog.ConsoleWriter{Out: f.IO.ErrOut, TimeFormat: time.TimeOnly, NoColor: !f.IO.ErrTTY})
	} else {
		l = zerolog.New(f.IO.ErrOut)
	}
	ctx := l.Level(level).With().Timestamp()
	if runID != "" {
		ctx = ctx.Str("run_id", runID)
	}
	return ctx.Logger()
}
