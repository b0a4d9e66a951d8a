package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	"tfsync/cmd/notify"
	calsync "tfsync/sync"
)

// This file is the whole of cmd's wiring to the failure notice (cmd/notify): it turns the configuration into the
// notifier's settings, a pass's error and report into its outcome, and the state store into its memory.

// noticeKey is the one row in the store's notices table that remembers the last notice mailed.
const noticeKey = "sync"

// notifyAfterRun mails the pass's outcome when [notify] asks for it. It never changes the exit code: problems
// are logged as warnings. p may be nil when the pass could not open (a stale lock, an unreadable TF database);
// the store is then opened here, so such a failure is still mailed once rather than on every pass.
func notifyAfterRun(ctx context.Context, f *Factory, p *pass, runID string, r *calsync.Report, runErr error) {
	log := zerolog.Ctx(ctx)
	o := outcomeOf(runID, "", r, runErr)
	if o.LockHeld || o.ExitCode == exitcode.Usage || errors.Is(runErr, context.Canceled) {
		return
	}
	var (
		cfg *config.Config
		st  *calsync.Store
	)
	if p != nil {
		cfg, st = p.cfg, p.store
	}
	if cfg == nil {
		c, _, err := f.LoadConfig(f.ConfigPath)
		if err != nil {
			return // a configuration error is exit 2, which is never mailed
		}
		cfg = c
	}
	if len(cfg.Notify.EmailTo) == 0 {
		return
	}
	if st == nil {
		s, err := calsync.OpenStore(ctx, cfg.State.Path, f.Now)
		if err != nil {
			log.Warn().Err(err).Msg("no failure notice: the state store, which remembers what was mailed, cannot be opened")
			return
		}
		defer s.Close()
		st = s
	}
	o.ConfigPath = cfg.Path
	o.Warnings = credentialWarnings(cfg, f.Now())
	n := notify.New(notifySettings(cfg), f.Now)
	if err := n.AfterRun(ctx, storeNotices{st}, o); err != nil {
		log.Warn().Err(err).Msg("failure notice not mailed; the next pass tries again")
	}
}

// notifySettings is the [notify] section as the notifier takes it, with every secret of the configuration (the one
// Secrets() list, the certificate included) to keep out of the mail.
func notifySettings(cfg *config.Config) notify.Settings {
	s := notify.Settings{
		EmailTo:     cfg.Notify.EmailTo,
		SMTP:        cfg.Notify.SMTP,
		From:        cfg.Notify.From,
		Username:    cfg.Notify.Username,
		StartTLS:    cfg.Notify.StartTLS,
		RepeatAfter: cfg.Notify.RepeatAfter,
		Secrets:     cfg.SecretValues(),
		Version:     Version,
	}
	if cfg.Notify.Password.IsSet() {
		s.Password = cfg.Notify.Password.Value
	}
	return s
}

// outcomeOf summarises a pass for the notifier. r may be nil when the pass ended before it had a report.
func outcomeOf(runID, configPath string, r *calsync.Report, runErr error) notify.Outcome {
	o := notify.Outcome{
		ExitCode:   ExitCode(runErr),
		RunID:      runID,
		Error:      errString(runErr),
		Class:      errorClass(runErr),
		ConfigPath: configPath,
		LockHeld:   errors.Is(runErr, calsync.ErrLockHeld) && !errors.Is(runErr, calsync.ErrLockStale),
	}
	if r == nil {
		return o
	}
	if o.RunID == "" {
		o.RunID = r.RunID
	}
	o.Held = r.Held
	for _, s := range r.Mailboxes {
		if s.ReadError != "" {
			o.AddProblem(s.Mailbox, s.ReadError)
		}
		if s.Held > 0 {
			o.SetHeld(s.Mailbox, s.Held)
		}
	}
	for _, res := range r.Results {
		if res.Err == nil && res.Error == "" {
			continue
		}
		text := res.Error
		if text == "" {
			text = res.Err.Error()
		}
		var ie *calsync.ItemError
		if errors.As(res.Err, &ie) && ie.Retryable() {
			text += " (temporary: the next pass tries again)"
		}
		o.AddProblem(res.Mailbox, fmt.Sprintf("%s %s: %s", res.Kind, res.BookingID, text))
	}
	// New bad TF rows belong to no mailbox; they are named once, in the mail of the pass that first met them.
	for _, p := range r.Problems {
		if p.Mailbox == "" {
			o.AddProblem("TF", p.Reason)
		}
	}
	return o
}

// storeNotices keeps the notifier's memory in the state store's notices table.
type storeNotices struct{ st *calsync.Store }

func (s storeNotices) LastNotice(ctx context.Context) (sent time.Time, state string, ok bool, err error) {
	err = s.st.Update(ctx, func(tx *calsync.StoreTx) error {
		var err error
		sent, state, ok, err = tx.GetNotice(noticeKey)
		return err
	})
	return sent, state, ok, err
}

func (s storeNotices) RecordNotice(ctx context.Context, sent time.Time, state string) error {
	return s.st.Update(ctx, func(tx *calsync.StoreTx) error { return tx.PutNotice(noticeKey, sent, state) })
}
