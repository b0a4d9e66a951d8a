package emulator

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Faults are injected by the HTTP fronts (Graph and EWS), on top of the limits the real service enforces.
//
// The performance benchmarks' cost model (25 ms per HTTP request, 20 ms per operation inside it, at most 4
// operations of one mailbox at a time) is Faults{Latency: 25 * time.Millisecond, OpLatency: 20 * time.Millisecond}
// with the default Limits: OpLatency is spent while the operation holds one of its mailbox's 4 concurrency slots,
// and a $batch queues its items for a mailbox so that at most 4 run at once.
type Faults struct {
	// Latency delays every HTTP request to Graph or EWS before it is handled (a $batch is one request).
	Latency time.Duration
	// OpLatency delays every operation (a plain Graph request, each $batch item, each EWS request) while it holds
	// a concurrency slot of its mailbox.
	OpLatency time.Duration
	// Rate429 and Rate503 are the fractions (0..1) of operations answered 429 TooManyRequests and 503
	// serviceNotAvailable instead of being handled. A $batch item gets the status in its own response.
	Rate429 float64
	Rate503 float64
	// RetryAfter is the Retry-After value of injected 429/503 answers and of concurrency 429s, e.g. "0.25"
	// (Graph sends fractional values); empty means "1".
	RetryAfter string
	// DropAfterCommitAt, when > 0, picks the N-th HTTP request to Graph or EWS after SetFaults (counting from 1):
	// it is handled in full, its writes committed, and then its connection is closed without a response, so the
	// client sees a transport error after the server acted.
	DropAfterCommitAt int
	// Seed seeds the random draws behind Rate429 and Rate503, so a run can be repeated.
	Seed uint64
	// Hook, when set, is consulted for every operation before the rates; a non-nil reply answers the operation
	// instead of handling it.
	Hook func(FaultOp) *FaultReply
}

// FaultOp describes an operation to Faults.Hook.
type FaultOp struct {
	N       int    // the operation's number since SetFaults, counting from 1
	Front   string // "graph" or "ews"
	Mailbox string // lower-cased address the operation names; "" when it names none
	Method  string // HTTP method of the operation (of the $batch item)
	Path    string // Graph: the path under /v1.0 with its query; EWS: the SOAP operation name
	InBatch bool   // a $batch item
}

// FaultReply is an injected answer. The Graph front sends it as Graph's error JSON; the EWS front as its fault.
type FaultReply struct {
	Status     int    // HTTP status, e.g. 429, 503, 500
	RetryAfter string // Retry-After header value; "" sends none
	Code       string // Graph error code; empty picks one for the status
	Message    string // Graph error message; empty picks one for the status
}

// Limits are what the real service enforces per app and mailbox (Graph throttling limits for Outlook).
type Limits struct {
	// Concurrent is how many operations on one mailbox may run at once; one more is answered 429
	// ApplicationThrottled (MailboxConcurrency). Zero means 4.
	Concurrent int
	// Budget is how many operations one mailbox may receive per BudgetWindow; past it, 429 TooManyRequests with a
	// Retry-After until the window ends. Zero means 10,000.
	Budget int
	// BudgetWindow is the budget's fixed window, on the emulator's clock. Zero means 10 minutes.
	BudgetWindow time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.Concurrent <= 0 {
		l.Concurrent = 4
	}
	if l.Budget <= 0 {
		l.Budget = 10000
	}
	if l.BudgetWindow <= 0 {
		l.BudgetWindow = 10 * time.Minute
	}
	return l
}

// Traffic counts what reached the HTTP fronts since the emulator started (or since ResetTraffic).
type Traffic struct {
	HTTPRequests  int            // HTTP requests to Graph and EWS (a $batch is one)
	TokenRequests int            // requests to the token endpoint
	Operations    int            // plain Graph requests, $batch items and EWS requests
	Throttled     int            // operations answered 429, by the limits or by Faults
	Mailboxes     map[string]int // operations per mailbox (lower-cased address), $batch items included
}

// SetFaults replaces the injected faults and restarts the request and operation numbering they use.
func (e *Emulator) SetFaults(f Faults) {
	fs := e.front()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = f
	fs.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
	fs.faultHTTP, fs.faultOps = 0, 0
}

// CurrentFaults returns the faults in force.
func (e *Emulator) CurrentFaults() Faults {
	fs := e.front()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.faults
}

// SetLimits replaces the per-mailbox limits; zero fields take the real service's values.
func (e *Emulator) SetLimits(l Limits) {
	fs := e.front()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.limits = l.withDefaults()
}

// Traffic returns the request counters.
func (e *Emulator) Traffic() Traffic {
	fs := e.front()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	t := fs.traffic
	t.Mailboxes = make(map[string]int, len(fs.traffic.Mailboxes))
	for k, v := range fs.traffic.Mailboxes {
		t.Mailboxes[k] = v
	}
	return t
}

// ResetTraffic zeroes the request counters.
func (e *Emulator) ResetTraffic() {
	fs := e.front()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.traffic = Traffic{Mailboxes: map[string]int{}}
}

// mailboxLimiter is one mailbox's concurrency and budget state.
type mailboxLimiter struct {
	inflight    int
	windowStart time.Time
	used        int
}

func (f *frontState) countToken() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.traffic.TokenRequests++
}

// beginHTTP counts an HTTP request to Graph or EWS and returns the faults that apply to it and whether it is the
// one to drop after commit.
func (f *frontState) beginHTTP() (Faults, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.traffic.HTTPRequests++
	f.faultHTTP++
	return f.faults, f.faults.DropAfterCommitAt > 0 && f.faultHTTP == f.faults.DropAfterCommitAt
}

// beginOp counts an operation for a mailbox and decides whether a fault answers it instead.
func (f *frontState) beginOp(op FaultOp) (*FaultReply, Faults) {
	f.mu.Lock()
	f.traffic.Operations++
	if op.Mailbox != "" {
		f.traffic.Mailboxes[op.Mailbox]++
	}
	f.faultOps++
	op.N = f.faultOps
	faults := f.faults
	var draw429, draw503 bool
	if faults.Rate429 > 0 || faults.Rate503 > 0 {
		x := f.rng.Float64()
		draw429 = x < faults.Rate429
		draw503 = !draw429 && x < faults.Rate429+faults.Rate503
	}
	f.mu.Unlock()

	retryAfter := faults.RetryAfter
	if retryAfter == "" {
		retryAfter = "1"
	}
	var reply *FaultReply
	if faults.Hook != nil {
		reply = faults.Hook(op)
	}
	switch {
	case reply != nil:
	case draw429:
		reply = &FaultReply{Status: http.StatusTooManyRequests, RetryAfter: retryAfter}
	case draw503:
		reply = &FaultReply{Status: http.StatusServiceUnavailable, RetryAfter: retryAfter}
	}
	if reply != nil && reply.Status == http.StatusTooManyRequests {
		f.mu.Lock()
		f.traffic.Throttled++
		f.mu.Unlock()
	}
	return reply, faults
}

// admit takes one of the mailbox's concurrency slots and one unit of its budget. When the mailbox is at its limit
// it returns the 429 to answer instead; otherwise release must be called when the operation is done.
func (f *frontState) admit(mailbox string, now time.Time) (release func(), reply *FaultReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lim := f.limiters[mailbox]
	if lim == nil {
		lim = &mailboxLimiter{}
		f.limiters[mailbox] = lim
	}
	if lim.windowStart.IsZero() || !now.Before(lim.windowStart.Add(f.limits.BudgetWindow)) {
		lim.windowStart, lim.used = now, 0
	}
	if lim.used >= f.limits.Budget {
		f.traffic.Throttled++
		wait := lim.windowStart.Add(f.limits.BudgetWindow).Sub(now)
		return nil, &FaultReply{Status: http.StatusTooManyRequests,
			RetryAfter: strconv.Itoa(int(math.Ceil(wait.Seconds()))),
			Code:       "TooManyRequests", Message: "Please retry again later."}
	}
	if lim.inflight >= f.limits.Concurrent {
		f.traffic.Throttled++
		retryAfter := f.faults.RetryAfter
		if retryAfter == "" {
			retryAfter = "1"
		}
		return nil, &FaultReply{Status: http.StatusTooManyRequests, RetryAfter: retryAfter,
			Code: "ApplicationThrottled", Message: "Application is over its MailboxConcurrency limit."}
	}
	lim.used++
	lim.inflight++
	released := false
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !released {
			released = true
			lim.inflight--
		}
	}, nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// graphFaultError completes a FaultReply with Graph's code and message for its status.
func graphFaultError(r *FaultReply) (code, message string) {
	code, message = r.Code, r.Message
	if code == "" {
		switch r.Status {
		case http.StatusTooManyRequests:
			code = "TooManyRequests"
		case http.StatusServiceUnavailable:
			code = "serviceNotAvailable"
		case http.StatusGatewayTimeout:
			code = "gatewayTimeout"
		default:
			code = "generalException"
		}
	}
	if message == "" {
		switch r.Status {
		case http.StatusTooManyRequests:
			message = "Please retry again later."
		case http.StatusServiceUnavailable:
			message = "The service is temporarily unavailable. Please retry again later."
		default:
			message = fmt.Sprintf("The server answered %d %s.", r.Status, http.StatusText(r.Status))
		}
	}
	return code, message
}
