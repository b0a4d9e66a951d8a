package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestConcurrencyLimit(t *testing.T) {
	f := newFixture(t)
	// Each operation holds its mailbox slot for a long time, so four requests in flight fill the mailbox.
	f.em.SetFaults(Faults{OpLatency: time.Minute, RetryAfter: "2"})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/v1.0/users/"+techA+"/events", nil)
			req.Header.Set("Authorization", "Bearer "+f.token)
			if resp, err := f.srv.Client().Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	waitFor(t, func() bool { return f.inflight(techA) == 4 })

	r := f.graph("GET", "/users/"+techA+"/events", nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "2" {
		t.Errorf("fifth concurrent request: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if code, msg := errorCode(t, r); code != "ApplicationThrottled" || msg != "Application is over its MailboxConcurrency limit." {
		t.Errorf("fifth concurrent request: %s %q", code, msg)
	}
	// Another mailbox is not affected: throttling is per mailbox.
	f.em.SetFaults(Faults{})
	if r := f.graph("GET", "/users/"+techB+"/events", nil); r.status != http.StatusOK {
		t.Errorf("other mailbox: %d", r.status)
	}
	cancel()
	wg.Wait()
	waitFor(t, func() bool { return f.inflight(techA) == 0 })
	if r := f.graph("GET", "/users/"+techA+"/events", nil); r.status != http.StatusOK {
		t.Errorf("after the four finished: %d", r.status)
	}
}

func (f *fixture) inflight(mailbox string) int {
	fs := f.em.front()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if l := fs.limiters[mailbox]; l != nil {
		return l.inflight
	}
	return 0
}

// waitFor polls a condition that other goroutines make true; it never asserts on timing.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRequestBudget(t *testing.T) {
	f := newFixture(t)
	f.em.SetLimits(Limits{Budget: 3, BudgetWindow: time.Minute})
	for i := range 3 {
		if r := f.graph("GET", "/users/"+techA+"/events", nil); r.status != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, r.status)
		}
	}
	f.clock.Advance(15 * time.Second)
	r := f.graph("GET", "/users/"+techA+"/events", nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "45" {
		t.Fatalf("over budget: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if code, _ := errorCode(t, r); code != "TooManyRequests" {
		t.Errorf("over budget: %s", code)
	}
	if r := f.graph("GET", "/users/"+techB+"/events", nil); r.status != http.StatusOK {
		t.Errorf("other mailbox: %d", r.status)
	}
	f.clock.Advance(45 * time.Second)
	if r := f.graph("GET", "/users/"+techA+"/events", nil); r.status != http.StatusOK {
		t.Errorf("next window: %d", r.status)
	}
}

func TestInjectedFaults(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name           string
		faults         Faults
		wantStatus     int
		wantCode       string
		wantRetryAfter string
	}{
		{"429 with fractional Retry-After", Faults{Rate429: 1, RetryAfter: "0.25"}, 429, "TooManyRequests", "0.25"},
		{"503", Faults{Rate503: 1}, 503, "serviceNotAvailable", "1"},
		{"hook", Faults{Hook: func(op FaultOp) *FaultReply {
			if op.Mailbox == techA && op.Method == "GET" {
				return &FaultReply{Status: http.StatusGatewayTimeout}
			}
			return nil
		}}, 504, "gatewayTimeout", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.em.SetFaults(tt.faults)
			defer f.em.SetFaults(Faults{})
			r := f.graph("GET", "/users/"+techA+"/events", nil)
			if r.status != tt.wantStatus || r.header.Get("Retry-After") != tt.wantRetryAfter {
				t.Fatalf("status %d Retry-After %q", r.status, r.header.Get("Retry-After"))
			}
			if code, _ := errorCode(t, r); code != tt.wantCode {
				t.Errorf("code %s", code)
			}
		})
	}
	t.Run("rates are drawn per operation", func(t *testing.T) {
		f.em.SetFaults(Faults{Rate429: 0.5, Seed: 7})
		defer f.em.SetFaults(Faults{})
		counts := map[int]int{}
		for range 40 {
			counts[f.graph("GET", "/users/"+techA+"/events", nil).status]++
		}
		if counts[200] == 0 || counts[429] == 0 || counts[200]+counts[429] != 40 {
			t.Errorf("statuses %v, want a mix of 200 and 429", counts)
		}
	})
}

func TestDropAfterCommit(t *testing.T) {
	f := newFixture(t)
	f.em.SetFaults(Faults{DropAfterCommitAt: 2})
	if r := f.graph("GET", "/users/"+techA+"/events", nil); r.status != http.StatusOK {
		t.Fatalf("request 1: %d", r.status)
	}
	body, _ := json.Marshal(eventBody("Dropped", "DROP-1", "tx-drop", "2026-03-03T09:00:00", "2026-03-03T10:00:00"))
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1.0/users/"+techA+"/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("request 2 answered %d, want a transport error", resp.StatusCode)
	}
	evs := f.em.RawEvents(techA)
	if len(evs) != 1 || evs[0].BookingID() != "DROP-1" {
		t.Fatalf("the dropped create was not committed: %+v", evs)
	}
	// A retry with the same transactionId finds the committed event instead of making a second one.
	r := f.graph("POST", "/users/"+techA+"/events", body)
	if r.status != http.StatusCreated || r.json(t)["id"] != evs[0].ID || len(f.em.RawEvents(techA)) != 1 {
		t.Errorf("retry: %d %s", r.status, r.body)
	}
}

func TestTraffic(t *testing.T) {
	f := newFixture(t)
	f.em.ResetTraffic()
	f.graph("GET", "/users/"+techA+"/events", nil)
	f.batch(t, []map[string]any{
		createItem("1", techA, "T-1"),
		createItem("2", techB, "T-2"),
		{"id": "3", "method": "GET", "url": "/users/" + unknownUser + "/events"},
	})
	tr := f.em.Traffic()
	want := map[string]int{techA: 2, techB: 1, unknownUser: 1}
	for mb, n := range want {
		if tr.Mailboxes[mb] != n {
			t.Errorf("%s: %d operations, want %d", mb, tr.Mailboxes[mb], n)
		}
	}
	if tr.Mailboxes[blockedBox] != 0 || tr.HTTPRequests != 2 || tr.Operations != 4 {
		t.Errorf("traffic %+v: want 2 HTTP requests, 4 operations, none for %s", tr, blockedBox)
	}
	if got := f.em.Requests(techA); got != 2 {
		t.Errorf("core Requests(%s) = %d, want 2", techA, got)
	}
}
