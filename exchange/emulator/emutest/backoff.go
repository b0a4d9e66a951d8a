package emutest

import (
	"context"
	"sync"
	"time"
)

// Backoff stands in for a backend's Sleep between retries: it records every wait asked for and waits at most Cap
// (zero: not at all), because a test needs the order of events and the waits asked for, not the time itself. It is
// safe for concurrent use.
type Backoff struct {
	Cap time.Duration

	mu    sync.Mutex
	waits []time.Duration
}

// Sleep records d and waits min(d, Cap), or until ctx ends.
func (b *Backoff) Sleep(ctx context.Context, d time.Duration) error {
	b.mu.Lock()
	b.waits = append(b.waits, d)
	b.mu.Unlock()
	if b.Cap <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(min(d, b.Cap))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Waits returns the waits asked for so far, in order.
func (b *Backoff) Waits() []time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Duration(nil), b.waits...)
}
