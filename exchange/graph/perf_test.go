package graph_test

import (
	"context"
	"fmt"
	"testing"

	"tfsync/exchange/emulator"
	"tfsync/exchange/graph"
)

// TestWriteRequestCount checks what a Write costs in HTTP requests: twenty writes per $batch when they spread over
// many mailboxes (the batches are filled round-robin and built as they go out), and one request per write when
// MaxBatch is 1, the naive baseline of the benchmarks.
func TestWriteRequestCount(t *testing.T) {
	tests := []struct {
		name         string
		maxBatch     int
		mailboxes    int
		ops          int
		wantRequests int
	}{
		{"batched over many mailboxes", 0, 30, 900, 45},
		{"batched, one mailbox", 0, 1, 45, 3},
		{"one request per write", 1, 3, 12, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			var mailboxes []string
			for i := range tt.mailboxes {
				mb := fmt.Sprintf("perf%02d@example.com", i)
				e.em.AddMailbox(mb, emulator.MailboxOptions{})
				mailboxes = append(mailboxes, mb)
			}
			c := e.client(t, func(o *graph.Options) { o.MaxBatch = tt.maxBatch })
			if err := c.CheckCredentials(context.Background()); err != nil {
				t.Fatalf("CheckCredentials: %v", err)
			}
			ops := createOps(e.zone, "PERF", tt.ops, mailboxes...)
			e.em.ResetTraffic()
			for _, r := range write(t, c, ops) {
				if r.Err != nil {
					t.Errorf("create %s: %v", r.Op.Event.BookingID, r.Err)
				}
			}
			if tr := e.em.Traffic(); tr.HTTPRequests != tt.wantRequests || tr.Operations != tt.ops {
				t.Errorf("%d creates took %d HTTP requests and %d operations, want %d and %d", tt.ops,
					tr.HTTPRequests, tr.Operations, tt.wantRequests, tt.ops)
			}
			e.checkTruth(t, ops)
		})
	}
}
