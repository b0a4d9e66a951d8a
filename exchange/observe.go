package exchange

import (
	"context"
	"sort"
	"sync"
	"time"
)

// What a pass may want to know while a backend works, without a backend knowing who asks: how long it waited
// before retrying (throttling, a busy server) and which mailboxes' reads are done. A backend reports both with one
// call at the place it happens; the caller puts the receivers in the context.

type waitsKey struct{}
type readDoneKey struct{}

// Waits adds up, per mailbox, the pauses a backend made before retrying a request the server throttled or failed.
// It is safe for concurrent use.
type Waits struct {
	mu sync.Mutex
	by map[string]MailboxWait
}

// MailboxWait is one mailbox's total.
type MailboxWait struct {
	Mailbox string
	Retries int
	Wait    time.Duration
}

// WithWaits returns a context whose backend calls add their retry pauses to w.
func WithWaits(ctx context.Context, w *Waits) context.Context {
	return context.WithValue(ctx, waitsKey{}, w)
}

// NoteWait records that a request for mailbox waits d before it is retried. Backends call it where they pause.
func NoteWait(ctx context.Context, mailbox string, d time.Duration) {
	w, ok := ctx.Value(waitsKey{}).(*Waits)
	if !ok || w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.by == nil {
		w.by = map[string]MailboxWait{}
	}
	t := w.by[mailbox]
	t.Mailbox = mailbox
	t.Retries++
	t.Wait += d
	w.by[mailbox] = t
}

// Totals returns each mailbox that waited, by mailbox.
func (w *Waits) Totals() []MailboxWait {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]MailboxWait, 0, len(w.by))
	for _, t := range w.by {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mailbox < out[j].Mailbox })
	return out
}

// WithReadDone returns a context whose Calendar.Read calls report each mailbox whose read has ended, well or not.
func WithReadDone(ctx context.Context, done func(mailbox string)) context.Context {
	return context.WithValue(ctx, readDoneKey{}, done)
}

// NoteReadDone reports that mailbox's read has ended. Backends call it once per mailbox from Read.
func NoteReadDone(ctx context.Context, mailbox string) {
	if done, ok := ctx.Value(readDoneKey{}).(func(string)); ok && done != nil {
		done(mailbox)
	}
}

// Sleep waits d or until ctx ends: the backends' default pause between retries (their Options.Sleep, which tests
// replace to record the pauses instead of waiting them).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
