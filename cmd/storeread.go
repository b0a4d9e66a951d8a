package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"tfsync/cmd/config"
	calsync "tfsync/sync"
	"tfsync/tf"
)

// openResources opens TF and reads its resources, for the commands that list or look up resources; the caller
// closes the source.
func openResources(ctx context.Context, f *Factory, cfg *config.Config) (tf.Source, []tf.Resource, error) {
	src, err := f.OpenSource(cfg)
	if err != nil {
		return nil, nil, err
	}
	resources, err := src.Resources(ctx)
	if err != nil {
		_ = src.Close() // the failed read is what the admin needs to hear about
		return nil, nil, fmt.Errorf("read resources from TF: %w", err)
	}
	return src, resources, nil
}

// storedState is what the read-only commands (status, show, list-resources) read from the state store.
type storedState struct {
	links    map[string]calsync.Link
	states   map[string]calsync.MailboxState
	problems []calsync.BookingProblem
	pending  []calsync.Pending
	runs     []calsync.RunRecord // the newest, with their summaries
}

// readStoredState reads the store read-only, with the newest runs runs: a command run as another account than the
// scheduler must not create or migrate the store the scheduler writes. Before the first pass there is no store,
// and nothing is linked or synced yet.
func readStoredState(ctx context.Context, f *Factory, cfg *config.Config, runs int) (storedState, error) {
	s := storedState{links: map[string]calsync.Link{}, states: map[string]calsync.MailboxState{}}
	st, err := f.OpenStoreReadOnly(ctx, cfg)
	if errors.Is(err, calsync.ErrStoreMissing) {
		zerolog.Ctx(ctx).Warn().Str("path", cfg.State.Path).Msg("no state store yet: no sync pass has run with this configuration, so nothing is linked")
		return s, nil
	}
	if err != nil {
		return s, err
	}
	defer st.Close()
	return readState(ctx, st, runs)
}

// readState reads the links, the mailboxes' states, the booking problems, the unconfirmed creates and the newest
// runs runs from an open store.
func readState(ctx context.Context, st *calsync.Store, runs int) (storedState, error) {
	var s storedState
	var err error
	if s.links, err = st.Links(ctx); err != nil {
		return s, err
	}
	if s.states, err = st.MailboxStates(ctx); err != nil {
		return s, err
	}
	if s.problems, err = st.BookingProblems(ctx); err != nil {
		return s, err
	}
	if s.pending, err = st.PendingCreates(ctx); err != nil {
		return s, err
	}
	if runs > 0 {
		s.runs, err = st.Runs(ctx, runs)
	}
	return s, err
}
