package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"tfsync/cmd/config"
	"tfsync/exchange"
	calsync "tfsync/sync"
	"tfsync/tf"
)

// lockStaleAfter is how long a pass may hold the run lock before a second pass calls it an alarm (exit 6): far
// beyond any sane pass (a thousand mailboxes take well under a minute).
const lockStaleAfter = time.Hour

// pass holds what one sync or dry-run needs, opened in dependency order and closed in reverse.
type pass struct {
	cfg    *config.Config
	src    tf.Source
	store  *calsync.Store
	cal    exchange.Calendar
	engine *calsync.Engine
	lock   *calsync.RunLock
	scope  []string // --resource of a scoped pass
	// noStore: no state store exists yet; a dry-run plans against an empty one in memory.
	noStore bool
}

func (p *pass) Close() {
	if p.src != nil {
		p.src.Close()
	}
	if p.store != nil {
		p.store.Close()
	}
	if p.cal != nil {
		p.cal.Close()
	}
	if p.lock != nil {
		p.lock.Release()
	}
}

type passOptions struct {
	// Resources scopes the pass to these TF resources (ids or e-mails): no other mailbox is read or written.
	Resources []string
	Full      bool
	Force     bool
	Rebuild   bool
	Lock      bool
	// ReadOnly opens the store read-only (dry-run); a missing store is planned against as empty.
	ReadOnly bool
	// CreateInstallation lets the pass create the installation id in TF's database (sync; dry-run only reads it).
	CreateInstallation bool
}

// startRun gives the context a logger carrying a fresh run id.
func (f *Factory) startRun(ctx context.Context) (context.Context, string) {
	id := newRunID()
	f.runID = id
	l := f.Logger(id)
	return l.WithContext(ctx), id
}

func (f *Factory) openPass(ctx context.Context, runID string, o passOptions) (*pass, error) {
	log := zerolog.Ctx(ctx)
	cfg, err := f.Config(ctx)
	if err != nil {
		return nil, err
	}
	p := &pass{cfg: cfg}
	if !o.ReadOnly {
		// Before the lock (whose file lives in the same folder) and before any calendar: one message naming the
		// file, its owner and this account, instead of every action failing with "readonly database".
		if err := f.CheckStoreWritable(cfg); err != nil {
			return nil, fmt.Errorf("%w. This pass changed nothing and contacted no calendar", err)
		}
	}
	if o.Lock {
		p.lock, err = calsync.AcquireRunLock(cfg.State.Path, f.Now(), lockStaleAfter)
		if err != nil {
			var held *calsync.LockHeldError
			if errors.As(err, &held) && held.Stale {
				return nil, fmt.Errorf("another tfsync pass (pid %d) has held the run lock since %s, far longer than a pass takes: check for a hung process and end it: %w",
					held.PID, held.Since.Format(time.RFC3339), err)
			}
			if errors.As(err, &held) {
				return nil, fmt.Errorf("another tfsync pass (pid %d, since %s) is running; this one leaves it alone: %w",
					held.PID, held.Since.Format(time.RFC3339), err)
			}
			return nil, fmt.Errorf("take the run lock: %w", err)
		}
		if f.AfterLock != nil {
			if err := f.AfterLock(ctx); err != nil {
				p.Close()
				return nil, err
			}
		}
	}
	if o.Rebuild {
		moved, err := calsync.RebuildStore(cfg.State.Path, f.Now)
		if err != nil {
			p.Close()
			if errors.Is(err, calsync.ErrStoreHoldsTF) {
				return nil, storeOpenError(cfg, err)
			}
			return nil, fmt.Errorf("move the state store aside: %w", err)
		}
		if moved != "" {
			log.Warn().Str("moved_to", moved).Msg("state store moved aside; every event is relinked through its booking id")
		}
	}
	if o.ReadOnly {
		p.store, err = f.OpenStoreReadOnly(ctx, cfg)
		if errors.Is(err, calsync.ErrStoreMissing) {
			p.noStore = true
			p.store, err = calsync.OpenEmptyStore(ctx, cfg.State.Path, f.Now)
		}
	} else {
		p.store, err = f.OpenStore(ctx, cfg)
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	if err := refuseWhileUninstalling(ctx, p.store); err != nil {
		p.Close()
		return nil, err
	}
	if p.src, err = f.OpenSource(cfg); err != nil {
		p.Close()
		return nil, err
	}
	installation, err := installationID(ctx, p.src, o.CreateInstallation)
	if err != nil {
		p.Close()
		return nil, err
	}
	if p.cal, err = f.NewCalendar(ctx, cfg); err != nil {
		p.Close()
		return nil, err
	}
	p.engine = &calsync.Engine{
		Source:      p.src,
		Calendar:    p.cal,
		Store:       p.store,
		Settings:    Settings(cfg),
		Now:         f.Now,
		RunID:       runID,
		Force:       o.Force,
		Full:        o.Full,
		Concurrency: cfg.Sync.Concurrency,
	}
	p.engine.Settings.InstallationID = installation
	if f.showProgress() {
		p.engine.Progress = f.progressLine().writing
	}
	if len(o.Resources) > 0 {
		scope, err := resolveScope(ctx, p, o.Resources)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.engine.Mailboxes = func(mb string) bool { return scope[mb] }
		log.Info().Strs("resources", o.Resources).Msg("scoped pass: other mailboxes are neither read nor written")
	}
	return p, nil
}

// watchPass puts into ctx what the backends report during a pass: their pauses before retries, and, on a
// terminal, each mailbox whose calendar has been read.
func (f *Factory) watchPass(ctx context.Context) (context.Context, *exchange.Waits) {
	w := &exchange.Waits{}
	ctx = exchange.WithWaits(ctx, w)
	if f.showProgress() {
		ctx = exchange.WithReadDone(ctx, f.progressLine().readDone)
	}
	return ctx, w
}

// endWatch ends the progress line and logs, once per mailbox, how long the backend waited before retrying its
// requests in all: what a throttled pass needs said at INFO, where each retry is only a debug line.
func (f *Factory) endWatch(ctx context.Context, w *exchange.Waits) {
	if f.progress != nil {
		f.progress.done()
	}
	log := zerolog.Ctx(ctx)
	for _, t := range w.Totals() {
		secs := t.Wait.Round(time.Second).Seconds()
		log.Info().Str("mailbox", t.Mailbox).Int("retries", t.Retries).Float64("wait_seconds", t.Wait.Seconds()).
			Msg(fmt.Sprintf("throttled or busy: waited %.0f s in all before %d retries", secs, t.Retries))
	}
}

// progressLine is the pass's progress line on a terminal, made on first use.
func (f *Factory) progressLine() *progressLine {
	if f.progress == nil {
		f.progress = newProgressLine(f.IO.ErrOut, f.Now)
	}
	return f.progress
}
