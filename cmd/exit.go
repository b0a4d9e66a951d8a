package cmd

import (
	"errors"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	calsync "tfsync/sync"
	"tfsync/tf"
)

// Exit codes, by their names in cmd. The numbers, names and meanings are the one table in cmd/exitcode, which the
// README and docs/schedulers.md follow (TestExitCodeTable).
const (
	ExitOK          = exitcode.OK
	ExitFailure     = exitcode.Failure
	ExitUsage       = exitcode.Usage
	ExitAuth        = exitcode.Auth
	ExitPartial     = exitcode.Partial
	ExitHeld        = exitcode.Held
	ExitLockStale   = exitcode.LockStale
	ExitInterrupted = exitcode.Interrupted
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

// errorClass names the kind of error that ended a pass: the failure mail's fingerprint and advice, and the JSON
// error's code, read it. The checks go from the most specific cause to the summary sentinels, since
// ErrAllMailboxesFailed wraps the backend's own error.
func errorClass(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, calsync.ErrLockStale):
		return "lock-stale"
	case errors.Is(err, calsync.ErrLockHeld):
		return "lock-held"
	case errors.Is(err, exchange.ErrAuth):
		return "auth"
	case errors.Is(err, exchange.ErrAccessDenied):
		return "access-denied"
	case errors.Is(err, exchange.ErrMailboxNotFound):
		return "mailbox-not-found"
	case errors.Is(err, exchange.ErrUnavailable), errors.Is(err, exchange.ErrThrottled):
		return "unreachable"
	case errors.Is(err, calsync.ErrAllMailboxesFailed):
		return "no-calendar"
	case errors.Is(err, calsync.ErrStoreCorrupt):
		return "store-corrupt"
	case errors.Is(err, calsync.ErrStoreTooNew):
		return "store-too-new"
	case errors.Is(err, calsync.ErrTFRead), errors.Is(err, tf.ErrSchema):
		return "tf"
	case errors.Is(err, calsync.ErrPartial):
		return "partial"
	case errors.Is(err, calsync.ErrDeletesHeld):
		return "deletes-held"
	}
	return "other"
}
