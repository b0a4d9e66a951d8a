package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"tfsync/exchange"
)

// graphMailboxConcurrency is how many items of one $batch Graph works on at once for one mailbox: a batch with
// many items for a mailbox occupies at most this many of the mailbox's concurrent-request budget.
const graphMailboxConcurrency = 4

// call is one Graph request that travels inside a $batch, with its retry state and its last outcome.
type call struct {
	mailbox string
	method  string
	url     string // below the version root, e.g. "/users/a@b.se/events"
	headers map[string]string
	body    []byte
	tag     any // the owner's bookkeeping

	attempts     int
	tokenRetries int
	out          outcome
}

func (cl *call) ok() bool { return cl.out.Err == nil && cl.out.Status >= 200 && cl.out.Status < 300 }

// requeued are calls back from their wait before a retry; err is set when the wait was cut short.
type requeued struct {
	calls []*call
	err   error
}

type sentBatch struct {
	calls   []*call
	contrib map[string]int
}

// runBatches sends calls in $batch requests of up to maxBatch items, several mailboxes mixed, and retries the
// items that failed retryably (only those, re-batched, after their own Retry-After or a back-off). It keeps at most
// MaxConcurrency batches in flight and at most PerMailbox of a mailbox's requests at Graph at once.
//
// handle is called with the calls that finished (succeeded, or failed for good) each time a batch answers or a
// wait ends; it runs on runBatches' goroutine, never concurrently with itself, and may return follow-up calls
// (the next page of a delta) that are sent in the same way. runBatches returns when every call has finished.
func (c *Client) runBatches(ctx context.Context, calls []*call, handle func(finished []*call) []*call) {
	pending := append([]*call(nil), calls...)
	load := map[string]int{} // per mailbox: its share of the requests in flight
	inflight, sleeping := 0, 0
	results := make(chan sentBatch)
	requeue := make(chan requeued)
	log := c.log(ctx)

	for len(pending) > 0 || inflight > 0 || sleeping > 0 {
		for inflight < c.opts.MaxConcurrency && len(pending) > 0 {
			batch, rest, contrib := c.takeBatch(pending, load)
			// A batch cut short by busy mailboxes waits until a batch in flight comes back and frees their slots:
			// sent now, the same calls would take more requests.
			if len(batch) == 0 || len(batch) < c.batchSize() && len(rest) > 0 && inflight > 0 {
				break
			}
			b := sentBatch{calls: batch, contrib: contrib}
			pending = rest
			for m, k := range b.contrib {
				load[m] += k
			}
			inflight++
			go func() {
				c.sendBatch(ctx, b.calls)
				results <- b
			}()
		}

		var finished []*call
		select {
		case b := <-results:
			inflight--
			for m, k := range b.contrib {
				if load[m] -= k; load[m] <= 0 {
					delete(load, m)
				}
			}
			// Items that failed together and got no wait from the server wait together, so that they travel
			// together again; each item's server-given Retry-After is honoured as given.
			retry := map[time.Duration][]*call{}
			shared := time.Duration(-1)
			for _, cl := range b.calls {
				if cl.ok() {
					finished = append(finished, cl)
					continue
				}
				d := shouldRetry(cl.out, cl.attempts, cl.tokenRetries, c.opts.MaxAttempts, c.now())
				if !d.Retry {
					finished = append(finished, cl)
					continue
				}
				if d.RenewToken {
					c.cred.renew()
					cl.tokenRetries++
				}
				if !d.ServerDelay && !d.RenewToken {
					if shared < 0 {
						shared = d.Delay
					}
					d.Delay = shared
				}
				retry[d.Delay] = append(retry[d.Delay], cl)
				log.Debug().Str("mailbox", cl.mailbox).Str("method", cl.method).Int("status", cl.out.Status).
					AnErr("transport", cl.out.Err).Dur("wait", d.Delay).Int("attempt", cl.attempts).
					Msg("retrying graph request")
			}
			for d, cls := range retry {
				noteWaits(ctx, cls, d)
				sleeping++
				go func() {
					err := c.opts.Sleep(ctx, d)
					requeue <- requeued{calls: cls, err: err}
				}()
			}
		case rq := <-requeue:
			sleeping--
			if rq.err != nil {
				for _, cl := range rq.calls {
					cl.out = outcome{Err: rq.err}
				}
				finished = rq.calls
			} else {
				pending = append(pending, rq.calls...)
			}
		}
		if len(finished) > 0 {
			pending = append(pending, handle(finished)...)
		}
	}
}

// takeBatch picks up to MaxBatch pending calls that the mailboxes' budgets allow, in order, and returns them, the
// calls left pending, and each mailbox's share of the batch.
func (c *Client) takeBatch(pending []*call, load map[string]int) (batch, rest []*call, contrib map[string]int) {
	size := c.batchSize()
	count := map[string]int{}
	rest = pending[:0:0]
	for _, cl := range pending {
		if len(batch) < size {
			n := count[cl.mailbox] + 1
			if load[cl.mailbox]+min(n, graphMailboxConcurrency) <= c.opts.PerMailbox ||
				load[cl.mailbox] == 0 && n == 1 {
				batch = append(batch, cl)
				count[cl.mailbox] = n
				continue
			}
		}
		rest = append(rest, cl)
	}
	contrib = make(map[string]int, len(count))
	for m, n := range count {
		contrib[m] = min(n, graphMailboxConcurrency)
	}
	return batch, rest, contrib
}

// batchSize is the most calls one $batch carries.
func (c *Client) batchSize() int {
	if c.opts.MaxBatch <= 0 || c.opts.MaxBatch > maxBatch {
		return maxBatch
	}
	return c.opts.MaxBatch
}

// sendBatch sends calls as one POST /$batch and stores each item's outcome in its call. When the batch as a whole
// fails (no answer, or an error status for the envelope), every item gets that outcome.
func (c *Client) sendBatch(ctx context.Context, calls []*call) {
	if c.opts.MaxBatch == 1 && len(calls) == 1 {
		// Batching is off: the request goes as itself, the way a client without $batch would send it.
		cl := calls[0]
		cl.attempts++
		if err := c.acquire(ctx); err != nil {
			cl.out = outcome{Err: err}
			return
		}
		cl.out = c.send(ctx, cl.method, cl.url, cl.headers, cl.body)
		c.release()
		return
	}
	req := batchRequest{Requests: make([]batchItem, len(calls))}
	for i, cl := range calls {
		cl.attempts++
		it := batchItem{ID: strconv.Itoa(i + 1), Method: cl.method, URL: cl.url, Headers: map[string]string{}}
		for k, v := range cl.headers {
			it.Headers[k] = v
		}
		if cl.body != nil {
			it.Body = cl.body
			it.Headers["Content-Type"] = "application/json"
		}
		if len(it.Headers) == 0 {
			it.Headers = nil
		}
		req.Requests[i] = it
	}
	setAll := func(o outcome) {
		for _, cl := range calls {
			cl.out = o
		}
	}
	body, err := json.Marshal(req)
	if err != nil {
		setAll(outcome{Err: fmt.Errorf("encode batch: %w", err)})
		return
	}
	if err := c.acquire(ctx); err != nil {
		setAll(outcome{Err: err})
		return
	}
	o := c.send(ctx, http.MethodPost, "/$batch", map[string]string{"Accept": "application/json"}, body)
	c.release()
	if o.Err != nil || o.Status != http.StatusOK {
		setAll(o)
		return
	}
	var resp batchResponse
	if err := json.Unmarshal(o.Body, &resp); err != nil {
		// Most likely an answer cut short; the items are retried like a dropped connection.
		setAll(outcome{Err: fmt.Errorf("%w: batch answer: %v", exchange.ErrBadResponse, err)})
		return
	}
	byID := make(map[string]batchItemResponse, len(resp.Responses))
	for _, r := range resp.Responses {
		byID[r.ID] = r
	}
	for i, cl := range calls {
		r, found := byID[strconv.Itoa(i+1)]
		if !found {
			cl.out = outcome{Err: fmt.Errorf("%w: the batch answer lacks item %d", exchange.ErrBadResponse, i+1)}
			continue
		}
		cl.out = outcome{Status: r.Status, Header: r.Headers, Body: itemBodyBytes(r.Body)}
	}
}

// itemBodyBytes returns a batch item's body as bytes: JSON bodies are inline, others come base64-encoded as a
// JSON string.
func itemBodyBytes(raw json.RawMessage) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				return b
			}
			return []byte(s)
		}
	}
	return raw
}

// noteWaits counts a pause once per mailbox of the calls that wait it together.
func noteWaits(ctx context.Context, cls []*call, d time.Duration) {
	seen := map[string]bool{}
	for _, cl := range cls {
		if !seen[cl.mailbox] {
			seen[cl.mailbox] = true
			exchange.NoteWait(ctx, cl.mailbox, d)
		}
	}
}
