package ews

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"tfsync/exchange"
)

// Retry limits. Exchange's throttling asks clients to back off rather than hammer it, and a pass runs every few
// minutes, so a request that keeps failing is left to the next pass instead of being retried for long.
const (
	maxAttempts    = 5                // tries of one request for 503, throttling and dropped connections
	firstBackOff   = time.Second      // the first exponential pause; it doubles on every retry
	maxExpBackOff  = 30 * time.Second // the longest exponential pause
	maxServerPause = 2 * time.Minute  // a longer BackOffMilliseconds is not waited for: the request fails throttled
	maxResponse    = 64 << 20         // bytes of one response read at most
)

// call describes one SOAP request.
type call struct {
	name    string // the operation, for logs and errors ("CreateItem")
	mailbox string // the mailbox the request is for: impersonated, and named in errors; "" for none
	op      any    // the request element
	// idempotent requests are re-sent after a dropped connection. CreateItem is not: the server may have committed
	// it, so its caller looks for the booking first (see errMaybeCommitted).
	idempotent bool
	write      bool // the request writes events (error mapping: a refused write is an invalid event)
}

// errMaybeCommitted reports a non-idempotent request whose connection failed after it was sent: the server may or
// may not have carried it out.
type errMaybeCommitted struct{ err error }

func (e *errMaybeCommitted) Error() string { return e.err.Error() }
func (e *errMaybeCommitted) Unwrap() error { return e.err }

// retryDecision says whether a failed attempt is tried again and after how long.
type retryDecision struct {
	Retry bool
	Delay time.Duration
	// TooLong reports a server back-off (in Delay) longer than a pass waits: the failure is reported with it.
	TooLong bool
}

// shouldRetry is the single retry policy of the backend, for whole requests and for the items inside one.
// transient says the failure is worth repeating (a busy or throttled answer, HTTP 503, a dropped connection);
// serverPause is the server's BackOffMilliseconds, 0 when it named none; attempts counts the tries made so far.
func shouldRetry(transient bool, serverPause time.Duration, attempts int) retryDecision {
	switch {
	case !transient || attempts >= maxAttempts:
		return retryDecision{}
	case serverPause > maxServerPause:
		return retryDecision{Delay: serverPause, TooLong: true}
	case serverPause > 0:
		return retryDecision{Retry: true, Delay: serverPause}
	}
	return retryDecision{Retry: true, Delay: expBackOff(attempts)}
}

// attemptFailure is what a failed attempt tells the retry policy.
type attemptFailure struct {
	err         error
	transient   bool          // worth retrying
	serverPause time.Duration // the server's BackOffMilliseconds, 0 for none
}

// do sends a request, retrying what the server or the network asks to be retried, and returns its response
// messages. A response in which every message failed with a transient code (ErrorServerBusy and friends) is retried
// as a whole; mixed outcomes are returned for the caller to sort out per item (see perItem).
func (c *Client) do(ctx context.Context, cl call) ([]responseMessage, error) {
	payload, err := marshalEnvelope(cl.op, cl.mailbox, c.impersonate)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cl.name, err)
	}
	log := c.log(ctx)
	for attempt := 1; ; attempt++ {
		msgs, f := c.attempt(ctx, cl, payload)
		if f.err == nil {
			return msgs, nil
		}
		d := shouldRetry(f.transient, f.serverPause, attempt)
		switch {
		case d.TooLong:
			log.Warn().Str("op", cl.name).Str("mailbox", cl.mailbox).Dur("back_off", d.Delay).
				Msg("ews server asked for a longer pause than a pass waits")
			return nil, &exchange.RetryAfterError{After: d.Delay, Err: f.err}
		case !d.Retry:
			if f.transient {
				log.Warn().Str("op", cl.name).Str("mailbox", cl.mailbox).Int("attempts", attempt).Err(f.err).
					Msg("ews request still failing after retries")
			}
			return nil, f.err
		}
		log.Debug().Str("op", cl.name).Str("mailbox", cl.mailbox).Int("attempt", attempt).Dur("pause", d.Delay).
			Err(f.err).Msg("ews request will be retried")
		if err := c.pause(ctx, cl.mailbox, d.Delay); err != nil {
			return nil, fmt.Errorf("%s: %w", cl.name, err)
		}
	}
}

// pause waits d before a retry for mailbox, and says so to whoever observes the pass.
func (c *Client) pause(ctx context.Context, mailbox string, d time.Duration) error {
	exchange.NoteWait(ctx, mailbox, d)
	return c.sleep(ctx, d)
}

// expBackOff is the pause before retry number attempt (1-based) for failures without a server-given pause.
func expBackOff(attempt int) time.Duration {
	d := firstBackOff << (attempt - 1)
	if d <= 0 || d > maxExpBackOff {
		d = maxExpBackOff
	}
	return d
}

// attempt sends the request once and returns its messages, or the failure for the retry policy to judge.
func (c *Client) attempt(ctx context.Context, cl call, payload []byte) ([]responseMessage, attemptFailure) {
	hc, err := c.acquireClient(ctx)
	if err != nil {
		return nil, attemptFailure{err: fmt.Errorf("%s: %w", cl.name, err)}
	}
	status, header, data, sendErr := c.post(ctx, hc, payload)
	c.releaseClient(hc)
	if sendErr != nil {
		if ctx.Err() != nil {
			return nil, attemptFailure{err: fmt.Errorf("%s: %w", cl.name, ctx.Err())}
		}
		err := c.transportError(sendErr)
		switch {
		case !exchange.TransientTransport(sendErr):
			return nil, attemptFailure{err: err}
		case !cl.idempotent:
			return nil, attemptFailure{err: &errMaybeCommitted{err}}
		}
		return nil, attemptFailure{err: err, transient: true}
	}
	return c.answer(cl, status, header, data)
}

// answer judges the server's answer to one attempt: its messages, or the failure for the retry policy.
func (c *Client) answer(cl call, status int, header http.Header, data []byte) ([]responseMessage, attemptFailure) {
	final := func(err error) attemptFailure { return attemptFailure{err: err} }
	transient := func(err error, pause time.Duration) attemptFailure {
		return attemptFailure{err: err, transient: true, serverPause: pause}
	}
	var env *responseEnvelope
	if len(bytes.TrimSpace(data)) > 0 {
		env, _ = parseResponse(data)
	}
	var f *soapFault
	if env != nil {
		f = env.Body.Fault
	}
	switch {
	case status == http.StatusServiceUnavailable && (f == nil || f.code() != codeServerBusy):
		// 503 is retried whatever its body says: IIS sends plain text, a front end may wrap it in a fault.
		if f != nil {
			return nil, transient(fmt.Errorf("%s: HTTP 503: %w", cl.name,
				c.codeError(f.code(), f.text(), cl.mailbox, cl.write)), 0)
		}
		return nil, transient(c.statusError(status, ""), 0)
	case f != nil:
		// ErrorServerBusy carries the pause Exchange wants; connection-count faults back off exponentially; the
		// rest are final.
		code := f.code()
		return nil, attemptFailure{err: fmt.Errorf("%s: %w", cl.name, c.codeError(code, f.text(), cl.mailbox, cl.write)),
			transient: transientCodes[code], serverPause: serverBusyPause(code, f)}
	case status == http.StatusUnauthorized:
		return nil, final(c.authError(header.Values("WWW-Authenticate")))
	case status != http.StatusOK:
		return nil, final(c.statusError(status, header.Get("Location")))
	}
	if env == nil {
		_, perr := parseResponse(data)
		if perr == nil {
			perr = errors.New("empty body")
		}
		return nil, final(c.badResponse(cl.name, perr))
	}
	msgs := env.Body.Response.Messages.List
	if len(msgs) == 0 {
		return nil, final(c.badResponse(cl.name, fmt.Errorf("%s has no response messages",
			env.Body.Response.XMLName.Local)))
	}
	// When every message failed with a transient code, nothing was done: the request is retried as a whole.
	pause := time.Duration(0)
	for _, m := range msgs {
		if m.ok() || !transientCodes[m.code()] {
			return msgs, attemptFailure{}
		}
		pause = max(pause, m.MessageXML.backOff())
	}
	m := msgs[0]
	return nil, transient(fmt.Errorf("%s: %w", cl.name, c.codeError(m.code(), m.MessageText, cl.mailbox, cl.write)), pause)
}

// serverBusyPause is the pause a fault asks for: ErrorServerBusy's BackOffMilliseconds; other faults back off
// exponentially.
func serverBusyPause(code string, f *soapFault) time.Duration {
	if code != codeServerBusy {
		return 0
	}
	return f.Detail.MessageXML.backOff()
}

// post sends one request and reads the whole answer. A transport error recorded during go-ntlmssp's handshake wins
// over the 401 it then returns.
func (c *Client) post(ctx context.Context, hc *http.Client, payload []byte) (int, http.Header, []byte, error) {
	ctx, rec := withTransportRecord(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.opts.URL, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("Accept", "text/xml")
	req.SetBasicAuth(c.opts.Username, c.opts.Password)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, nil, nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		if terr := rec.get(); terr != nil {
			return 0, nil, nil, terr
		}
	}
	return resp.StatusCode, resp.Header, data, nil
}

// sleep waits d through the injected Sleep.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	return c.opts.Sleep(ctx, d)
}

// itemVerdict is what a batched request's answer means for one item.
type itemVerdict int

const (
	itemSettled   itemVerdict = iota // done, successfully or not: settle recorded the outcome
	itemTransient                    // busy or throttled: sent again after the retry policy's pause
	itemAgain                        // sent again at once, once prepare has readied it (a refreshed change key)
)

// itemBatch is one batched request (GetItem, CreateItem, UpdateItem, DeleteItem) whose items may fail one by one.
// Items are indices chosen by the caller; perItem sends the pending ones until each is settled.
type itemBatch struct {
	name, mailbox string
	write         bool  // the request writes events (error mapping)
	items         []int // the items to send
	// send sends one request for the items and returns one message per item, in order.
	send func(items []int) ([]responseMessage, error)
	// settle records the outcome of item i's message, or says it is to be sent again. A non-nil error ends the
	// whole batch (a read that cannot go on).
	settle func(i int, m responseMessage) (itemVerdict, error)
	// prepare readies the itemAgain items before they are sent again and returns those still to send (nil: all).
	prepare func(again []int) []int
	// recover runs after a non-idempotent request lost its connection: it settles the items the server carried out
	// anyway and returns those still to send (nil: no such request in this batch).
	recover func(items []int) ([]int, error)
	// fail records an error for items (nil: an item that fails ends the whole batch with the error).
	fail func(items []int, err error)
}

// perItem is the backend's one per-item loop. Items the server answered as busy or throttled are sent again after
// the pause shouldRetry names, until none is left or the attempts are used up; then they fail with the server's
// last answer. It returns the items still unsettled and why, when the batch ended early (a request failed as a
// whole, the answer did not fit, the wait was cut short, or settle ended it).
func (c *Client) perItem(ctx context.Context, b itemBatch) ([]int, error) {
	pending := b.items
	for attempt := 1; len(pending) > 0; attempt++ {
		msgs, err := b.send(pending)
		var maybe *errMaybeCommitted
		if errors.As(err, &maybe) && b.recover != nil {
			if pending, err = c.recoverItems(ctx, b, pending, maybe, attempt); err != nil {
				return pending, err
			}
			continue
		}
		if err != nil {
			return pending, err
		}
		if len(msgs) != len(pending) {
			// Some items may be done now; the next pass finds them.
			return pending, c.badResponse(b.name, fmt.Errorf("%d answers for %d items", len(msgs), len(pending)))
		}
		var retry, again []int
		var last responseMessage
		for k, m := range msgs {
			v, err := b.settle(pending[k], m)
			switch {
			case err != nil:
				return pending[k:], err
			case v == itemTransient:
				retry, last = append(retry, pending[k]), m
			case v == itemAgain:
				again = append(again, pending[k])
			}
		}
		if len(again) > 0 && b.prepare != nil {
			again = b.prepare(again)
		}
		if len(retry) > 0 {
			d := shouldRetry(true, last.MessageXML.backOff(), attempt)
			if !d.Retry {
				err := error(c.codeError(last.code(), last.MessageText, b.mailbox, b.write))
				if d.TooLong {
					err = &exchange.RetryAfterError{After: d.Delay, Err: err}
				}
				if b.fail == nil {
					return retry, fmt.Errorf("%s: %w", b.name, err)
				}
				b.fail(retry, err)
				retry = nil
			} else if err := c.pause(ctx, b.mailbox, d.Delay); err != nil {
				return append(retry, again...), err
			}
		}
		pending = append(retry, again...)
	}
	return nil, nil
}

// recoverItems handles a non-idempotent request whose connection dropped after it was sent: after the policy's
// pause it lets the batch settle what the server carried out anyway, and returns the items to send again.
func (c *Client) recoverItems(ctx context.Context, b itemBatch, pending []int, maybe *errMaybeCommitted,
	attempt int) ([]int, error) {
	d := shouldRetry(true, 0, attempt)
	if !d.Retry {
		return pending, maybe.err
	}
	c.log(ctx).Warn().Str("mailbox", b.mailbox).Int("events", len(pending)).Err(maybe.err).
		Msgf("ews connection dropped during %s; looking for the events before sending again", b.name)
	if err := c.pause(ctx, b.mailbox, d.Delay); err != nil {
		return pending, err
	}
	return b.recover(pending)
}
