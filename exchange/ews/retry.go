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

// do sends a request, retrying what the server or the network asks to be retried, and returns its response
// messages. A response in which every message failed with a transient code (ErrorServerBusy and friends) is retried
// as a whole; mixed outcomes are returned for the caller to sort out per item.
func (c *Client) do(ctx context.Context, cl call) ([]responseMessage, error) {
	payload, err := marshalEnvelope(cl.op, cl.mailbox, c.impersonate)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cl.name, err)
	}
	log := c.log(ctx)
	for attempt := 1; ; attempt++ {
		msgs, pause, err := c.attempt(ctx, cl, payload, attempt)
		if pause == 0 {
			return msgs, err
		}
		if attempt >= maxAttempts {
			log.Warn().Str("op", cl.name).Str("mailbox", cl.mailbox).Int("attempts", attempt).Err(err).
				Msg("ews request still failing after retries")
			return nil, err
		}
		if pause > maxServerPause {
			log.Warn().Str("op", cl.name).Str("mailbox", cl.mailbox).Dur("back_off", pause).
				Msg("ews server asked for a longer pause than a pass waits")
			return nil, &exchange.RetryAfterError{After: pause, Err: err}
		}
		log.Debug().Str("op", cl.name).Str("mailbox", cl.mailbox).Int("attempt", attempt).Dur("pause", pause).
			Err(err).Msg("ews request will be retried")
		exchange.NoteWait(ctx, cl.mailbox, pause)
		if err := c.sleep(ctx, pause); err != nil {
			return nil, fmt.Errorf("%s: %w", cl.name, err)
		}
	}
}

// expBackOff is the pause before retry number attempt (1-based) for failures without a server-given pause.
func expBackOff(attempt int) time.Duration {
	d := firstBackOff << (attempt - 1)
	if d <= 0 || d > maxExpBackOff {
		d = maxExpBackOff
	}
	return d
}

// attempt sends the request once. A non-zero pause means the failure err is worth retrying after that pause.
func (c *Client) attempt(ctx context.Context, cl call, payload []byte, attempt int) ([]responseMessage, time.Duration,
	error) {
	hc, err := c.acquireClient(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", cl.name, err)
	}
	status, header, data, sendErr := c.post(ctx, hc, payload)
	c.releaseClient(hc)
	if sendErr != nil {
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("%s: %w", cl.name, ctx.Err())
		}
		err := c.transportError(sendErr)
		if permanentTransport(sendErr) {
			return nil, 0, err
		}
		if !cl.idempotent {
			return nil, 0, &errMaybeCommitted{err}
		}
		return nil, expBackOff(attempt), err
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
			return nil, expBackOff(attempt), fmt.Errorf("%s: HTTP 503: %w", cl.name,
				c.codeError(f.code(), f.text(), cl.mailbox, cl.write))
		}
		return nil, expBackOff(attempt), c.statusError(status, "")
	case f != nil:
		return c.fault(cl, f, attempt)
	case status == http.StatusUnauthorized:
		return nil, 0, c.authError(header.Values("WWW-Authenticate"))
	case status != http.StatusOK:
		return nil, 0, c.statusError(status, header.Get("Location"))
	}
	if env == nil {
		_, perr := parseResponse(data)
		if perr == nil {
			perr = errors.New("empty body")
		}
		return nil, 0, c.badResponse(cl.name, perr)
	}
	msgs := env.Body.Response.Messages.List
	if len(msgs) == 0 {
		return nil, 0, c.badResponse(cl.name, fmt.Errorf("%s has no response messages",
			env.Body.Response.XMLName.Local))
	}
	// When every message failed with a transient code, nothing was done: the request is retried as a whole.
	pause := time.Duration(0)
	for _, m := range msgs {
		if m.ok() || !transientCodes[m.code()] {
			return msgs, 0, nil
		}
		if d := m.MessageXML.backOff(); d > pause {
			pause = d
		}
	}
	if pause == 0 {
		pause = expBackOff(attempt)
	}
	m := msgs[0]
	return nil, pause, fmt.Errorf("%s: %w", cl.name, c.codeError(m.code(), m.MessageText, cl.mailbox, cl.write))
}

// fault maps a SOAP fault. ErrorServerBusy carries the pause Exchange wants; connection-count faults back off
// exponentially; the rest are final.
func (c *Client) fault(cl call, f *soapFault, attempt int) ([]responseMessage, time.Duration, error) {
	code := f.code()
	err := fmt.Errorf("%s: %w", cl.name, c.codeError(code, f.text(), cl.mailbox, cl.write))
	switch {
	case code == codeServerBusy:
		if d := f.Detail.MessageXML.backOff(); d > 0 {
			return nil, d, err
		}
		return nil, expBackOff(attempt), err
	case transientCodes[code]:
		return nil, expBackOff(attempt), err
	}
	return nil, 0, err
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

// defaultSleep waits d or until ctx ends.
func defaultSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
