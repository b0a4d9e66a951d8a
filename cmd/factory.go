package cmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"tfsync/cmd/config"
	"tfsync/exchange"
	calsync "tfsync/sync"
	"tfsync/tf"
)

// Factory holds what commands share: streams, global flags, the clock, and how to build each dependency. It is
// the one place that knows which backend, TF source and store a pass uses.
type Factory struct {
	IO         *IOStreams
	ConfigPath string
	Output     string
	LogLevel   string
	LogFormat  string
	LogFile    string // --log-file: overrides [log] file
	Now        func() time.Time

	// NewCalendar builds the calendar backend for a configuration. The demo and tests replace it.
	NewCalendar func(ctx context.Context, cfg *config.Config) (exchange.Calendar, error)
	// LoadConfig reads the configuration. The demo replaces it with its embedded default.
	LoadConfig func(path string) (*config.Config, []string, error)
	// StoreWriteProbe checks that a file or folder beside the state store may be written; nil asks the operating
	// system (calsync.ProbeWrite). Tests running as root, whom file modes do not stop, replace it.
	StoreWriteProbe calsync.WriteProbe
	// AfterLock runs once a pass holds the run lock, before it opens anything else; nil does nothing. The crash
	// tests hold a pass there until a second one has met the lock, so the two certainly overlap.
	AfterLock func(ctx context.Context) error

	// jsonResult is the command's JSON result (printer.go), written by run with the error (jsonout.go);
	// jsonWritten is set once it is out.
	jsonResult  []byte
	jsonWritten bool

	runID string   // the current run's id, once startRun has made one
	logs  *logFile // the log file, opened when the configuration is read

	progress *progressLine // on a terminal, the pass's progress line, which log lines keep intact
}

// NewFactory returns the production wiring.
func NewFactory(io *IOStreams) *Factory {
	f := &Factory{IO: io, Output: "text", LogLevel: "info", Now: time.Now, LoadConfig: config.Load}
	f.NewCalendar = newCalendar
	f.logs = &logFile{warnFail: func(path string, err error, appending bool) {
		l := f.stderrLogger()
		if appending {
			l.Warn().Err(err).Str("log_file", path).Msg("the log file cannot be rotated; this pass appends to it beyond max_size and the next pass rotates it: close any program that holds it open without sharing it")
			return
		}
		l.Warn().Err(err).Str("log_file", path).Msg("the log file cannot be written; this pass goes on and logs to stderr only: check that the account running tfsync may write to that folder and that the disk has room")
	}}
	return f
}

// Config loads the configuration and logs its warnings.
func (f *Factory) Config(ctx context.Context) (*config.Config, error) {
	cfg, warnings, err := f.LoadConfig(f.ConfigPath)
	if err != nil {
		return nil, err
	}
	f.openLog(cfg)
	for _, w := range warnings {
		zerolog.Ctx(ctx).Warn().Msg(w)
	}
	return cfg, nil
}

// OpenSource opens TF's integration database.
func (f *Factory) OpenSource(cfg *config.Config) (tf.Source, error) {
	src, err := tf.OpenSQLite(cfg.TF.Database, tf.SQLiteOptions{Zone: cfg.TF.TimeZone, Now: f.Now})
	if err != nil {
		return nil, fmt.Errorf("open TF database ([tf] database in %s): %w", cfg.Path, err)
	}
	return src, nil
}

// OpenStore opens the mapping store for a sync pass, creating and migrating it as needed. The commands that only
// read use OpenStoreReadOnly.
func (f *Factory) OpenStore(ctx context.Context, cfg *config.Config) (*calsync.Store, error) {
	st, err := calsync.OpenStore(ctx, cfg.State.Path, f.Now)
	if err != nil {
		return nil, storeOpenError(cfg, err)
	}
	return st, nil
}

// Settings turns the [sync] section into the engine's settings.
func Settings(cfg *config.Config) calsync.Settings {
	kinds := make([]tf.Kind, 0, len(cfg.Sync.Kinds))
	for _, k := range cfg.Sync.Kinds {
		kinds = append(kinds, tf.Kind(k))
	}
	return calsync.Settings{
		Zone:             cfg.TF.TimeZone,
		Kinds:            kinds,
		DefaultLength:    cfg.Sync.DefaultLength,
		ShowAs:           exchange.ShowAs(cfg.Sync.ShowAs),
		ReminderMinutes:  cfg.Sync.ReminderMinutes,
		HideHeadings:     cfg.Sync.HideHeadings,
		IncludeLocation:  cfg.Sync.IncludeLocation,
		TechnicianNote:   cfg.Sync.TechnicianNote,
		AllowedDomains:   cfg.Sync.AllowedDomains,
		PastDays:         cfg.Sync.PastDays,
		FutureDays:       cfg.Sync.FutureDays,
		Conflict:         calsync.ConflictPolicy(cfg.Sync.Conflict),
		OnCalendarDelete: calsync.DeletePolicy(cfg.Sync.OnCalendarDelete),
		MaxDeletePercent: cfg.Sync.MaxDeletePercent,
		MaxDeleteFloor:   cfg.Sync.MaxDeleteFloor,
		TFDatabase:       cfg.TF.Database,
	}
}

// newRunID makes a short random id that ties one pass's log lines, run record and audit rows together.
func newRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newCalendar is the backend switch.
func newCalendar(ctx context.Context, cfg *config.Config) (exchange.Calendar, error) {
	client, err := httpClientFor(cfg)
	if err != nil {
		return nil, err
	}
	switch cfg.Exchange.Mode {
	case "graph":
		return newGraphCalendar(ctx, cfg, client)
	case "ews":
		return newEWSCalendar(ctx, cfg, client)
	}
	return nil, fmt.Errorf("%w: [exchange] mode %q is not valid: use graph or ews", config.ErrConfig, cfg.Exchange.Mode)
}
