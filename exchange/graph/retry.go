package graph

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tfsync/exchange"
)

const (
	// maxRetryAfter is the longest server-requested wait honoured within a pass. A server asking for more fails
	// the item now: the next scheduled pass comes sooner than a long wait would end.
	maxRetryAfter = 2 * time.Minute
	backoffBase   = time.Second
	backoffCap    = 30 * time.Second
	// maxTokenRetries bounds the retries after a 401: one fresh token either works or the credentials are wrong.
	maxTokenRetries = 1
)

// retryDecision says whether and when a failed request is tried again.
type retryDecision struct {
	Retry bool
	Delay time.Duration
	// ServerDelay is set when Delay is the server's own Retry-After rather than a back-off.
	ServerDelay bool
	// RenewToken asks for a fresh access token before the retry (the server rejected the one sent).
	RenewToken bool
}

// outcome is what one attempt of a request produced: a status with its headers and body, or a transport error.
type outcome struct {
	Status int
	Header map[string]string
	Body   []byte
	Err    error
}

// shouldRetry is the single retry policy of the backend, for requests sent alone and for items inside a $batch.
// attempts counts the tries made so far (1 after the first), tokenRetries the retries already made after a 401;
// limit is the most tries allowed.
func shouldRetry(o outcome, attempts, tokenRetries, limit int, now time.Time) retryDecision {
	if attempts >= limit {
		return retryDecision{}
	}
	if o.Err != nil {
		if !retryableTransport(o.Err) {
			return retryDecision{}
		}
		// The request may have been carried out before the connection broke; repeating it is safe because a
		// create carries a transactionId, an update rewrites the same fields and a deleted event deletes as success.
		return retryDecision{Retry: true, Delay: backoff(attempts)}
	}
	switch o.Status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
		http.StatusBadGateway, http.StatusInternalServerError:
		if d, ok := parseRetryAfter(header(o.Header, "Retry-After"), now); ok {
			if d > maxRetryAfter {
				return retryDecision{}
			}
			return retryDecision{Retry: true, Delay: d, ServerDelay: true}
		}
		return retryDecision{Retry: true, Delay: backoff(attempts)}
	case http.StatusConflict, http.StatusFailedDependency:
		// 409 is Exchange's ErrorIrresolvableConflict between concurrent writes; 424 an item that depended on
		// another. Both usually pass on a second try.
		return retryDecision{Retry: true, Delay: backoff(attempts)}
	case http.StatusUnauthorized:
		if tokenRetries < maxTokenRetries {
			return retryDecision{Retry: true, RenewToken: true}
		}
	}
	return retryDecision{}
}

// retryableTransport reports whether a request that got no answer may be repeated: not when the caller gave up,
// not when the credentials failed, and not when the host cannot be reached at all (wrong URL, untrusted
// certificate), which a retry within the pass does not change.
func retryableTransport(err error) bool {
	return !entraRefused(err) && exchange.TransientTransport(err)
}

// backoff is the wait before try attempts+1 when the server named none: exponential from backoffBase, capped, with
// jitter so that many mailboxes throttled together do not come back together.
func backoff(attempts int) time.Duration {
	if attempts < 1 {
		attempts = 1
	}
	d := backoffCap
	if attempts <= 16 {
		d = min(backoffBase<<(attempts-1), backoffCap)
	}
	half := d / 2
	return half + rand.N(half+1)
}

// parseRetryAfter reads a Retry-After header: seconds, possibly fractional ("2.128", honoured to the nanosecond),
// or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if d, ok := parseSeconds(v); ok {
		return d, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// parseSeconds parses a non-negative decimal number of seconds exactly, without a detour through float64.
func parseSeconds(s string) (time.Duration, bool) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && frac == "" || hasDot && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return 0, false
	}
	if whole == "" {
		whole = "0"
	}
	// A wait longer than a day is as good as forever here; keep the arithmetic far from overflow.
	if len(whole) > 6 {
		return 24 * time.Hour, true
	}
	secs, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	if len(frac) > 9 {
		frac = frac[:9]
	}
	var ns int64
	if frac != "" {
		ns, err = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return 0, false
		}
	}
	return time.Duration(secs)*time.Second + time.Duration(ns), true
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
