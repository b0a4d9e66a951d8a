package cmd

import (
	"context"
	"errors"

	"github.com/rs/zerolog"

	"tfsync/cmd/config"
	calsync "tfsync/sync"
)

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
