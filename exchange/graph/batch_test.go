package graph

import (
	"fmt"
	"testing"

	"tfsync/exchange"
)

func TestTakeBatch(t *testing.T) {
	calls := func(spec ...any) []*call {
		// spec is mailbox, count, mailbox, count, ...
		var out []*call
		for i := 0; i < len(spec); i += 2 {
			for range spec[i+1].(int) {
				out = append(out, &call{mailbox: spec[i].(string)})
			}
		}
		return out
	}
	tests := []struct {
		name        string
		perMailbox  int
		pending     []*call
		load        map[string]int
		wantBatch   map[string]int
		wantContrib map[string]int
		wantRest    int
	}{
		{"one mailbox fills a batch", 4, calls("a", 45), nil, map[string]int{"a": 20}, map[string]int{"a": 4}, 25},
		{"mailboxes mixed", 4, calls("a", 3, "b", 30), nil, map[string]int{"a": 3, "b": 17},
			map[string]int{"a": 3, "b": 4}, 13},
		{"a busy mailbox waits", 4, calls("a", 5, "b", 2), map[string]int{"a": 4}, map[string]int{"b": 2},
			map[string]int{"b": 2}, 5},
		{"a partly busy mailbox gets what is left", 4, calls("a", 5), map[string]int{"a": 2}, map[string]int{"a": 2},
			map[string]int{"a": 2}, 3},
		{"per mailbox 1", 1, calls("a", 5, "b", 5), nil, map[string]int{"a": 1, "b": 1},
			map[string]int{"a": 1, "b": 1}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{opts: Options{PerMailbox: tt.perMailbox}}
			load := tt.load
			if load == nil {
				load = map[string]int{}
			}
			batch, rest, contrib := c.takeBatch(tt.pending, load)
			got := map[string]int{}
			for _, cl := range batch {
				got[cl.mailbox]++
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantBatch) || fmt.Sprint(contrib) != fmt.Sprint(tt.wantContrib) ||
				len(rest) != tt.wantRest {
				t.Errorf("takeBatch = %v (contrib %v), %d left; want %v (contrib %v), %d left", got, contrib, len(rest),
					tt.wantBatch, tt.wantContrib, tt.wantRest)
			}
			if len(batch) > maxBatch {
				t.Errorf("batch of %d, over Graph's %d", len(batch), maxBatch)
			}
		})
	}
}

func TestRelative(t *testing.T) {
	c, err := New(Options{TenantID: "t", ClientID: "c", ClientSecret: "s", GraphURL: "https://127.0.0.1:8443"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		link, want string
		wantErr    bool
	}{
		{"https://127.0.0.1:8443/v1.0/users/a@b.se/calendarView/delta?$deltatoken=x%3D", "/users/a@b.se/calendarView/delta?$deltatoken=x%3D", false},
		{"https://graph.microsoft.com/v1.0/users/a%40b.se/events?$skip=10", "/users/a%40b.se/events?$skip=10", false},
		{"/v1.0/users/a/events", "/users/a/events", false},
		{"https://127.0.0.1:8443/beta/users/a/events", "", true},
		{"::", "", true},
	}
	for _, tt := range tests {
		got, err := c.relative(tt.link)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("relative(%q) = %q, %v; want %q, error %v", tt.link, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestInterleave(t *testing.T) {
	ops := func(mailboxes ...string) []exchange.Op {
		var out []exchange.Op
		for _, mb := range mailboxes {
			out = append(out, exchange.Op{Mailbox: mb})
		}
		return out
	}
	tests := []struct {
		name string
		ops  []exchange.Op
		want []int
	}{
		{"none", nil, []int{}},
		{"one mailbox keeps its order", ops("a", "a", "a"), []int{0, 1, 2}},
		{"round-robin in order of first appearance", ops("a", "a", "a", "b", "c", "c"), []int{0, 3, 4, 1, 5, 2}},
		{"mixed input", ops("b", "a", "b", "a", "b"), []int{0, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := interleave(tt.ops); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("interleave = %v, want %v", got, tt.want)
			}
		})
	}
}
