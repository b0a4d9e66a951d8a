package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

type batchResp struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// batch posts a $batch and returns its items by id.
func (f *fixture) batch(t *testing.T, requests []map[string]any) (int, map[string]batchResp, reply) {
	t.Helper()
	r := f.graph("POST", "/$batch", map[string]any{"requests": requests})
	if r.status != http.StatusOK {
		return r.status, nil, r
	}
	var env struct {
		Responses []batchResp `json:"responses"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("batch body %s: %v", r.body, err)
	}
	out := map[string]batchResp{}
	for _, it := range env.Responses {
		if _, dup := out[it.ID]; dup {
			t.Fatalf("item %s answered twice", it.ID)
		}
		out[it.ID] = it
	}
	if len(out) != len(requests) {
		t.Fatalf("%d responses for %d requests", len(out), len(requests))
	}
	return r.status, out, r
}

func createItem(id, mailbox, bookingID string) map[string]any {
	return map[string]any{
		"id": id, "method": "POST", "url": "/users/" + mailbox + "/events",
		"headers": map[string]string{"Content-Type": "application/json"},
		"body":    eventBody("Batch "+bookingID, bookingID, "tx-"+bookingID, "2026-03-03T09:00:00", "2026-03-03T10:00:00"),
	}
}

func TestBatch(t *testing.T) {
	f := newFixture(t)
	existing := f.create(techA, "Existing", "EX-1", "2026-03-05T09:00:00", "2026-03-05T10:00:00")

	t.Run("mixed operations", func(t *testing.T) {
		_, items, _ := f.batch(t, []map[string]any{
			createItem("1", techA, "B-1"),
			createItem("2", techB, "B-2"),
			{"id": "3", "method": "PATCH", "url": "/users/" + techA + "/events/" + existing,
				"headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]any{"subject": "Patched"}},
			{"id": "4", "method": "GET", "url": "/users/" + unknownUser + "/events"},
		})
		for id, want := range map[string]int{"1": 201, "2": 201, "3": 200, "4": 404} {
			if items[id].Status != want {
				t.Errorf("item %s: status %d, want %d: %s", id, items[id].Status, want, items[id].Body)
			}
		}
		if ct := items["1"].Headers["Content-Type"]; !strings.HasPrefix(ct, "application/json") {
			t.Errorf("item 1 Content-Type %q", ct)
		}
		var ev map[string]any
		if err := json.Unmarshal(items["1"].Body, &ev); err != nil || ev["subject"] != "Batch B-1" {
			t.Errorf("item 1 body %s", items["1"].Body)
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(items["4"].Body, &e)
		if e.Error.Code != "ErrorInvalidUser" || e.Error.Message == "" {
			t.Errorf("item 4 body %s", items["4"].Body)
		}
	})
	t.Run("dependsOn a failed request gets 424", func(t *testing.T) {
		_, items, _ := f.batch(t, []map[string]any{
			{"id": "a", "method": "DELETE", "url": "/users/" + techA + "/events/AAAA-no-such-event"},
			{"id": "b", "method": "GET", "url": "/users/" + techA + "/events/" + existing, "dependsOn": []string{"a"}},
			{"id": "c", "method": "GET", "url": "/users/" + techA + "/events/" + existing},
			{"id": "d", "method": "GET", "url": "/users/" + techA + "/events/" + existing, "dependsOn": []string{"c"}},
		})
		if items["a"].Status != 404 || items["b"].Status != 424 || items["c"].Status != 200 || items["d"].Status != 200 {
			t.Errorf("statuses a %d b %d c %d d %d", items["a"].Status, items["b"].Status, items["c"].Status, items["d"].Status)
		}
	})
	t.Run("throttled item carries Retry-After", func(t *testing.T) {
		f.em.SetFaults(Faults{Hook: func(op FaultOp) *FaultReply {
			if op.InBatch && strings.Contains(op.Path, "B-throttled") {
				return &FaultReply{Status: http.StatusTooManyRequests, RetryAfter: "0.25"}
			}
			return nil
		}})
		defer f.em.SetFaults(Faults{})
		throttled := createItem("t", techA, "B-3")
		throttled["url"] = "/users/" + techA + "/events?marker=B-throttled"
		_, items, _ := f.batch(t, []map[string]any{createItem("ok", techA, "B-4"), throttled})
		if items["ok"].Status != 201 || items["t"].Status != 429 || items["t"].Headers["Retry-After"] != "0.25" {
			t.Errorf("ok %d, throttled %d with headers %v", items["ok"].Status, items["t"].Status, items["t"].Headers)
		}
	})
	t.Run("a delta link made relative works in a batch", func(t *testing.T) {
		r := f.graph("GET", "/users/"+techA+"/calendarView/delta?"+deltaWindow, nil)
		link := r.json(t)["@odata.deltaLink"].(string)
		rel := strings.TrimPrefix(link, f.srv.URL+"/v1.0")
		_, items, _ := f.batch(t, []map[string]any{{"id": "1", "method": "GET", "url": rel}})
		if items["1"].Status != 200 || !strings.Contains(string(items["1"].Body), "@odata.deltaLink") {
			t.Errorf("relative delta link: %d %s", items["1"].Status, items["1"].Body)
		}
		_, items, _ = f.batch(t, []map[string]any{{"id": "1", "method": "GET", "url": link}})
		if items["1"].Status != 400 {
			t.Errorf("absolute url in a batch: %d, want 400", items["1"].Status)
		}
	})
}

func TestBatchValidation(t *testing.T) {
	f := newFixture(t)
	many := func(n int) []map[string]any {
		var out []map[string]any
		for i := range n {
			out = append(out, map[string]any{"id": fmt.Sprint(i + 1), "method": "GET", "url": "/users/" + techA + "/events"})
		}
		return out
	}
	tests := []struct {
		name     string
		requests []map[string]any
	}{
		{"21 requests", many(21)},
		{"duplicate ids", append(many(2), map[string]any{"id": "1", "method": "GET", "url": "/users/" + techA + "/events"})},
		{"write without Content-Type", []map[string]any{{"id": "1", "method": "POST", "url": "/users/" + techA + "/events",
			"body": map[string]any{"subject": "x"}}}},
		{"dependsOn an unknown id", []map[string]any{{"id": "1", "method": "GET", "url": "/users/" + techA + "/events",
			"dependsOn": []string{"9"}}}},
		{"dependency cycle", []map[string]any{
			{"id": "1", "method": "GET", "url": "/users/" + techA + "/events", "dependsOn": []string{"2"}},
			{"id": "2", "method": "GET", "url": "/users/" + techA + "/events", "dependsOn": []string{"1"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, r := f.batch(t, tt.requests)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", status, r.body)
			}
			if code, _ := errorCode(t, r); code != "BadRequest" {
				t.Errorf("code %s", code)
			}
		})
	}
	if status, items, _ := f.batch(t, many(20)); status != 200 || len(items) != 20 {
		t.Errorf("20 requests: %d", status)
	}
}

// TestBatchQueuesPerMailbox: Graph runs at most four of a batch's items for one mailbox at a time, so twenty
// slow items for one mailbox are queued, not throttled.
func TestBatchQueuesPerMailbox(t *testing.T) {
	f := newFixture(t)
	f.em.SetFaults(Faults{OpLatency: 20 * time.Millisecond})
	var reqs []map[string]any
	for i := range 20 {
		reqs = append(reqs, createItem(fmt.Sprint(i), techA, fmt.Sprintf("Q-%d", i)))
	}
	_, items, _ := f.batch(t, reqs)
	for id, it := range items {
		if it.Status != http.StatusCreated {
			t.Errorf("item %s: %d %s", id, it.Status, it.Body)
		}
	}
	tr := f.em.Traffic()
	if tr.Throttled != 0 || tr.Mailboxes[techA] != 20 {
		t.Errorf("traffic %+v, want 20 operations for %s and none throttled", tr, techA)
	}
}
