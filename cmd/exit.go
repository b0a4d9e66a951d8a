package cmd

import (
	"errors"

	"tfsync/cmd/config"
	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	calsync "tfsync/sync"
	"tfsync/tf"
)

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// errUsage is what every usageError is, for errors.Is.
var errUsage = errors.New("usage error")

func (e *usageError) Is(target error) bool { return target == errUsage }

// exitCodes map errors to exit codes: the first row whose errors the error wraps wins, so a stale lock is told from
// a held one, and an interruption or a configuration error from whatever the pass was doing when it happened.
var exitCodes = []struct {
	code int
	errs []error
}{
	{exitcode.LockStale, []error{calsync.ErrLockStale}},
	{exitcode.OK, []error{calsync.ErrLockHeld}},
	{exitcode.Interrupted, []error{calsync.ErrInterrupted}},
	{exitcode.Usage, []error{errUsage, config.ErrConfig}},
	{exitcode.Auth, []error{calsync.ErrAllMailboxesFailed, exchange.ErrAuth}},
	{exitcode.Partial, []error{calsync.ErrPartial}},
	{exitcode.Held, []error{calsync.ErrDeletesHeld}},
	{exitcode.Failure, []error{tf.ErrSchema}},
}

// ExitCode maps an error to the process exit code. It is the only place that does.
func ExitCode(err error) int {
	var cf *checkFailed
	switch {
	case err == nil:
		return exitcode.OK
	case errors.As(err, &cf):
		return cf.code
	}
	for _, c := range exitCodes {
		if isAny(err, c.errs) {
			return c.code
		}
	}
	return exitcode.Failure
}

// isAny reports whether err wraps any of errs.
func isAny(err error, errs []error) bool {
	for _, e := range errs {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// errorClasses name the kinds of error that end a pass: the failure mail's fingerprint and advice, and the JSON
// error's code, read them. The first class whose errors the error wraps wins, so the list goes from the most
// specific cause to the summary sentinels: ErrAllMailboxesFailed wraps the backend's own error.
var errorClasses = []struct {
	class string
	errs  []error
}{
	{"lock-stale", []error{calsync.ErrLockStale}},
	{"lock-held", []error{calsync.ErrLockHeld}},
	{"auth", []error{exchange.ErrAuth}},
	{"access-denied", []error{exchange.ErrAccessDenied}},
	{"mailbox-not-found", []error{exchange.ErrMailboxNotFound}},
	{"unreachable", []error{exchange.ErrUnavailable, exchange.ErrThrottled}},
	{"no-calendar", []error{calsync.ErrAllMailboxesFailed}},
	{"store-corrupt", []error{calsync.ErrStoreCorrupt}},
	{"store-too-new", []error{calsync.ErrStoreTooNew}},
	{"tf", []error{calsync.ErrTFRead, tf.ErrSchema}},
	{"partial", []error{calsync.ErrPartial}},
	{"deletes-held", []error{calsync.ErrDeletesHeld}},
}

// errorClass names the kind of error that ended a pass: "" for none, "other" for one of no known kind.
func errorClass(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range errorClasses {
		if isAny(err, c.errs) {
			return c.class
		}
	}
	return "other"
}
