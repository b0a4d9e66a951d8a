package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"tfsync/cmd/config"
	calsync "tfsync/sync"
	"tfsync/tf"
)

// The state store's open modes and checks, and the claim that ties one state store to one TF database.

// OpenStoreReadOnly opens the state store for the commands that only read it (status, list-resources, dry-run,
// test-connection): it never creates, migrates or switches the file, so running one of them as another account
// leaves nothing the scheduled account cannot write. No store yet is calsync.ErrStoreMissing.
func (f *Factory) OpenStoreReadOnly(ctx context.Context, cfg *config.Config) (*calsync.Store, error) {
	st, err := calsync.OpenStoreReadOnly(ctx, cfg.State.Path, f.Now)
	if err != nil {
		return nil, storeOpenError(cfg, err)
	}
	return st, nil
}

// storeOpenError adds the setting to fix; a store path that names TF's database is a configuration error.
func storeOpenError(cfg *config.Config, err error) error {
	var he *calsync.StoreHoldsTFError
	if errors.As(err, &he) {
		return fmt.Errorf("%w: [state] path in %s names %s, which holds TF's tables (%s): it is a TF database, not "+
			"tfsync's state store ([tf] database names %s). tfsync neither opens it as its store nor moves it aside: "+
			"set [state] path to a file of its own, e.g. tfsync-state.db beside the config",
			config.ErrConfig, cfg.Path, he.Path, strings.Join(he.Tables, ", "), cfg.TF.Database)
	}
	return fmt.Errorf("open state store ([state] path in %s): %w", cfg.Path, err)
}

// CheckStoreWritable checks, before a pass takes the run lock or touches a calendar, that this account may write
// the state store, its folder and the files beside it. Tests running as root replace StoreWriteProbe.
func (f *Factory) CheckStoreWritable(cfg *config.Config) error {
	return calsync.CheckStoreWritable(cfg.State.Path, f.StoreWriteProbe)
}

// storeClaimer is TF's side of the claim (tf.SQLite).
type storeClaimer interface {
	StoreClaim(ctx context.Context) (tf.StoreClaim, bool, error)
	ClaimStore(ctx context.Context, c tf.StoreClaim, takeOver bool) (tf.StoreClaim, bool, error)
}

// thisStore describes the state store this configuration uses, on this machine.
func thisStore(cfg *config.Config) tf.StoreClaim {
	host, _ := os.Hostname()
	p, err := filepath.Abs(cfg.State.Path)
	if err != nil {
		p = cfg.State.Path
	}
	return tf.StoreClaim{StorePath: p, Host: host}
}

// claimStore records in TF's database that this state store serves it, before any calendar is touched, and
// refuses the pass (exit 2) when another store does, unless takeOver. The claim is keyed on the TF database
// (one row): a TF database holds exactly one installation (tfsync_installation), whose id is recorded beside.
func (f *Factory) claimStore(ctx context.Context, p *pass, runID string, takeOver bool) error {
	cl, ok := p.src.(storeClaimer)
	if !ok {
		return nil
	}
	c := thisStore(p.cfg)
	// The pass has got (or, on the first sync, created) the installation id already; the claim keeps it beside.
	c.LastRunAt, c.RunID, c.InstallationID = f.Now(), runID, p.engine.Settings.InstallationID
	prev, had, err := cl.ClaimStore(ctx, c, takeOver)
	if errors.Is(err, tf.ErrOtherStore) {
		return fmt.Errorf("%w: %w", config.ErrConfig, err)
	}
	if err != nil {
		return err
	}
	if had && takeOver && !prev.SameStore(c) {
		zerolog.Ctx(ctx).Warn().Str("previous_store", prev.StorePath).Str("previous_host", prev.Host).
			Time("previous_run", prev.LastRunAt).
			Msg("--take-over: this state store now serves the TF database; the previous one's passes will be refused")
	}
	return nil
}

// otherStoreNotice says, for the read-only commands, when another state store serves the TF database: a sync
// from this configuration would be refused. "" when not, or when it cannot be told.
func otherStoreNotice(ctx context.Context, cfg *config.Config, src tf.Source) string {
	if _, err := storeClaimStatus(ctx, cfg, src); errors.Is(err, tf.ErrOtherStore) {
		return err.Error()
	}
	return ""
}

// storeClaimStatus reads which state store serves the TF database, without writing: a line for test-connection,
// or an *tf.OtherStoreError when another store does. ok is "" when the TF source keeps no claim.
func storeClaimStatus(ctx context.Context, cfg *config.Config, src tf.Source) (ok string, err error) {
	cl, isClaimer := src.(storeClaimer)
	if !isClaimer {
		return "", nil
	}
	prev, had, err := cl.StoreClaim(ctx)
	if err != nil {
		return "", err
	}
	if !had {
		return "no pass has recorded a state store in the TF database yet; the first `tfsync sync` records this one", nil
	}
	this := thisStore(cfg)
	if !prev.SameStore(this) {
		return "", &tf.OtherStoreError{Database: cfg.TF.Database, Other: prev, This: this}
	}
	return fmt.Sprintf("this state store serves the TF database; its last pass started %s", prev.LastRunAt.UTC().Format(time.RFC3339)), nil
}
