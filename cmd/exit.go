package cmd

import (
	"errors"

	"tfsync/cmd/config"
	"tfsync/exchange"
	calsync "tfsync/sync"
	"tfsync/tf"
)

// Exit codes, documented in the README. A scheduler alarms on anything but 0.
const (
	ExitOK        = 0 // success; also: another pass holds the lock
	ExitFailure   = 1 // the pass failed (TF unreadable, state store damaged, an unexpected error)
	ExitUsage     = 2 // usage or configuration error
	ExitAuth      = 3 // authentication or connection failure: no calendar could be reached
	ExitPartial   = 4 // some mailboxes or bookings failed, the rest synced
	ExitHeld      = 5 // deletes held back by max_delete_percent (run with --force after checking)
	ExitLockStale = 6 // another pass has held the lock far longer than any pass should take
	// ExitInterrupted: SIGTERM or Ctrl-C stopped the pass at a safe point; the next pass resumes.
	ExitInterrupted = 7
)

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// ExitCode maps an error to the process exit code. It is the only place that does.
func ExitCode(err error) int {
	var ue *usageError
	var cf *checkFailed
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &cf):
		return cf.code
	case errors.Is(err, calsync.ErrLockStale):
		return ExitLockStale
	case errors.Is(err, calsync.ErrLockHeld):
		return ExitOK
	case errors.Is(err, calsync.ErrInterrupted):
		return ExitInterrupted
	case errors.As(err, &ue), errors.Is(err, config.ErrConfig):
		return ExitUsage
	case errors.Is(err, calsync.ErrAllMailboxesFailed), errors.Is(err, exchange.ErrAuth):
		return ExitAuth
	case errors.Is(err, calsync.ErrPartial):
		return ExitPartial
	case errors.Is(err, calsync.ErrDeletesHeld):
		return ExitHeld
	case errors.Is(err, tf.ErrSchema):
		return ExitFailure
	}
	return ExitFailure
}
