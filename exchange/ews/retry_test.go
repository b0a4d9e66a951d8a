package ews

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"tfsync/exchange"
)

// TestShouldRetry is the EWS backend's one retry policy, for whole requests and for the items inside one.
func TestShouldRetry(t *testing.T) {
	tests := []struct {
		name        string
		transient   bool
		serverPause time.Duration
		attempts    int
		want        retryDecision
	}{
		{"final failure", false, 0, 1, retryDecision{}},
		{"busy without a back-off", true, 0, 1, retryDecision{Retry: true, Delay: time.Second}},
		{"exponential", true, 0, 3, retryDecision{Retry: true, Delay: 4 * time.Second}},
		{"server back-off", true, 1500 * time.Millisecond, 2, retryDecision{Retry: true, Delay: 1500 * time.Millisecond}},
		{"back-off of exactly a pass's limit", true, maxServerPause, 1, retryDecision{Retry: true, Delay: maxServerPause}},
		{"back-off longer than a pass waits", true, maxServerPause + time.Millisecond, 1,
			retryDecision{Delay: maxServerPause + time.Millisecond, TooLong: true}},
		{"last attempt", true, time.Second, maxAttempts, retryDecision{}},
		{"last attempt with a long back-off", true, time.Hour, maxAttempts, retryDecision{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shouldRetry(tt.transient, tt.serverPause, tt.attempts); got != tt.want {
				t.Errorf("shouldRetry = %+v, want %+v", got, tt.want)
			}
		})
	}
	for attempt := 1; attempt < 12; attempt++ {
		if d := shouldRetry(true, 0, attempt).Delay; attempt < maxAttempts && (d <= 0 || d > maxExpBackOff) {
			t.Errorf("back-off after %d attempts = %v, want within (0, %v]", attempt, d, maxExpBackOff)
		}
	}
}

// TestPerItemBackOff: items a server answers as busy are sent again after the pause it names, and the pauses are
// reported to the pass like every other; a per-item back-off longer than a pass waits fails that item throttled at
// once, carrying the server's pause, as a whole request does.
func TestPerItemBackOff(t *testing.T) {
	const mb = "tech1@example.com"
	t.Run("pause honoured and reported", func(t *testing.T) {
		s := &sleeps{}
		f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
			if op == "DeleteItem" && n == 1 {
				return fakeAnswer{status: 200, body: response(op, okMessage(op, ""), busyMessage(op, 1200))}
			}
			return fakeAnswer{}
		}}
		c := newFakeClient(t, AccessImpersonation, f, s)
		var waits exchange.Waits
		ctx := exchange.WithWaits(context.Background(), &waits)
		var rs []exchange.OpResult
		c.Write(ctx, []exchange.Op{
			{Kind: exchange.OpDelete, Mailbox: mb, Event: exchange.Event{ID: "AAMk-1"}},
			{Kind: exchange.OpDelete, Mailbox: mb, Event: exchange.Event{ID: "AAMk-2"}},
		}, func(r []exchange.OpResult) { rs = append(rs, r...) })
		for _, r := range rs {
			if r.Err != nil {
				t.Errorf("delete %s: %v", r.Op.Event.ID, r.Err)
			}
		}
		if got := s.got(); !slices.Equal(got, []time.Duration{1200 * time.Millisecond}) {
			t.Errorf("pauses %v, want [1.2s]", got)
		}
		if tot := waits.Totals(); len(tot) != 1 || tot[0].Wait != 1200*time.Millisecond || tot[0].Retries != 1 {
			t.Errorf("waits reported %+v, want one of 1.2s for %s", tot, mb)
		}
		if n := f.count("DeleteItem"); n != 2 {
			t.Errorf("%d DeleteItem requests, want 2", n)
		}
	})
	t.Run("back-off longer than a pass waits", func(t *testing.T) {
		s := &sleeps{}
		f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
			if op == "DeleteItem" {
				return fakeAnswer{status: 200, body: response(op, okMessage(op, ""), busyMessage(op, 297749))}
			}
			return fakeAnswer{}
		}}
		c := newFakeClient(t, AccessImpersonation, f, s)
		var rs []exchange.OpResult
		c.Write(context.Background(), []exchange.Op{
			{Kind: exchange.OpDelete, Mailbox: mb, Event: exchange.Event{ID: "AAMk-1"}},
			{Kind: exchange.OpDelete, Mailbox: mb, Event: exchange.Event{ID: "AAMk-2"}},
		}, func(r []exchange.OpResult) { rs = append(rs, r...) })
		byID := map[string]error{}
		for _, r := range rs {
			byID[r.Op.Event.ID] = r.Err
		}
		if byID["AAMk-1"] != nil {
			t.Errorf("the deleted item failed: %v", byID["AAMk-1"])
		}
		var ra *exchange.RetryAfterError
		if err := byID["AAMk-2"]; !errors.Is(err, exchange.ErrThrottled) || !errors.As(err, &ra) ||
			ra.After != 297749*time.Millisecond {
			t.Errorf("the busy item: %v, want ErrThrottled with a RetryAfterError of 297.749s", err)
		}
		if got := s.got(); len(got) != 0 {
			t.Errorf("pauses %v, want none", got)
		}
		if n := f.count("DeleteItem"); n != 1 {
			t.Errorf("%d DeleteItem requests, want 1", n)
		}
	})
}
