package exchange

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Backends wrap them with what they were doing and, where an admin must act, with what to fix.
var (
	// ErrNotFound: the event does not exist (deleted, or never created).
	ErrNotFound = errors.New("event not found")
	// ErrMailboxNotFound: the mailbox does not exist, has no Exchange licence, or is not reachable with this API.
	ErrMailboxNotFound = errors.New("mailbox not found")
	// ErrAccessDenied: the credentials work but may not touch this mailbox (access policy, missing consent or rights).
	ErrAccessDenied = errors.New("access denied")
	// ErrAuth: the credentials themselves are wrong, expired, or the tenant/app is unknown.
	ErrAuth = errors.New("authentication failed")
	// ErrThrottled: the server kept throttling after the backend's retries.
	ErrThrottled = errors.New("throttled")
	// ErrConflict: the event changed on the server since it was read (stale change key) and a retry did not help.
	ErrConflict = errors.New("event changed on the server")
	// ErrUnavailable: the server failed or could not be reached (5xx, network); the next pass may succeed.
	ErrUnavailable = errors.New("service unavailable")
	// ErrInvalidEvent: the server refused the event as malformed (e.g. an all-day event not bounded by midnights).
	ErrInvalidEvent = errors.New("invalid event")
	// ErrBadResponse: the server answered something the backend could not understand.
	ErrBadResponse = errors.New("malformed server response")
)

// Retryable reports whether an error is expected to go away by itself on a later pass.
func Retryable(err error) bool {
	return errors.Is(err, ErrThrottled) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrConflict) ||
		errors.Is(err, ErrBadResponse)
}

// RetryAfterError carries a server's request to wait before trying again. Backends use it between their own
// retries; it reaches the engine only wrapped in ErrThrottled or ErrUnavailable.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }
