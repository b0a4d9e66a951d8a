package emulator

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// deltaPage is one decoded delta response.
type deltaPage struct {
	events    []map[string]any
	removed   []string
	nextLink  string
	deltaLink string
}

func (f *fixture) deltaGet(t *testing.T, target string, headers ...string) deltaPage {
	t.Helper()
	r := f.graph("GET", target, nil, headers...)
	if r.status != http.StatusOK {
		t.Fatalf("delta %s: %d %s", target, r.status, r.body)
	}
	body := r.json(t)
	var p deltaPage
	p.nextLink, _ = body["@odata.nextLink"].(string)
	p.deltaLink, _ = body["@odata.deltaLink"].(string)
	if (p.nextLink == "") == (p.deltaLink == "") {
		t.Fatalf("page must carry exactly one of nextLink and deltaLink: %s", r.body)
	}
	for _, v := range body["value"].([]any) {
		item := v.(map[string]any)
		if item["@odata.type"] != "#microsoft.graph.event" {
			t.Errorf("delta item without @odata.type: %v", item)
		}
		if rm, ok := item["@removed"].(map[string]any); ok {
			if rm["reason"] != "deleted" {
				t.Errorf("@removed = %v", rm)
			}
			p.removed = append(p.removed, item["id"].(string))
			continue
		}
		p.events = append(p.events, item)
	}
	return p
}

// deltaRound follows nextLinks to the end of a round and returns everything seen and the deltaLink.
func (f *fixture) deltaRound(t *testing.T, target string, headers ...string) (events []map[string]any, removed []string, deltaLink string, pages int) {
	t.Helper()
	for {
		p := f.deltaGet(t, target, headers...)
		pages++
		events = append(events, p.events...)
		removed = append(removed, p.removed...)
		if p.deltaLink != "" {
			return events, removed, p.deltaLink, pages
		}
		target = p.nextLink
		if pages > 100 {
			t.Fatal("nextLinks loop")
		}
	}
}

func ids(events []map[string]any) []string {
	var out []string
	for _, e := range events {
		out = append(out, e["id"].(string))
	}
	sort.Strings(out)
	return out
}

const deltaWindow = "startDateTime=2026-03-01T00:00:00Z&endDateTime=2026-04-01T00:00:00Z"

func TestDeltaRounds(t *testing.T) {
	f := newFixture(t)
	a := f.create(techA, "A", "D-1", "2026-03-03T09:00:00", "2026-03-03T10:00:00")
	b := f.create(techA, "B", "D-2", "2026-03-04T09:00:00", "2026-03-04T10:00:00")
	c := f.create(techA, "C", "D-3", "2026-03-05T09:00:00", "2026-03-05T10:00:00")
	f.create(techA, "Outside", "D-4", "2026-05-05T09:00:00", "2026-05-05T10:00:00")
	pageOf2 := []string{"Prefer", "odata.maxpagesize=2", "Prefer", `outlook.timezone="W. Europe Standard Time"`}

	// The SDK's spelling: delta(), with the mailbox's @ escaped.
	first := f.deltaGet(t, "/users/tech.a%40contoso.com/calendarView/delta()?"+deltaWindow, pageOf2...)
	if len(first.events) != 2 || first.nextLink == "" {
		t.Fatalf("first page: %d events, nextLink %q", len(first.events), first.nextLink)
	}
	if start := first.events[0]["start"].(map[string]any); start["timeZone"] != "W. Europe Standard Time" {
		t.Errorf("Prefer outlook.timezone not honoured in delta: %v", start)
	}
	if _, ok := first.events[0]["singleValueExtendedProperties"]; ok {
		t.Error("delta returned extended properties")
	}
	rest, _, deltaLink, _ := f.deltaRound(t, first.nextLink, pageOf2...)
	got := ids(append(first.events, rest...))
	want := []string{a, b, c}
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("initial round saw %v, want %v", got, want)
	}
	if !strings.Contains(deltaLink, "$deltatoken=") {
		t.Fatalf("deltaLink %q", deltaLink)
	}

	t.Run("nothing changed", func(t *testing.T) {
		events, removed, next, _ := f.deltaRound(t, deltaLink)
		if len(events)+len(removed) != 0 {
			t.Errorf("events %v removed %v", ids(events), removed)
		}
		deltaLink = next
	})
	t.Run("technician moves, deletes and moves out of the window", func(t *testing.T) {
		if err := f.em.MoveEvent(techA, a, time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 10, 13, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
		if err := f.em.DeleteEvent(techA, b); err != nil {
			t.Fatal(err)
		}
		if err := f.em.MoveEvent(techA, c, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 13, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
		events, removed, next, _ := f.deltaRound(t, deltaLink)
		if len(events) != 1 || events[0]["id"] != a {
			t.Fatalf("changed events %v, want the moved %s", ids(events), a)
		}
		if start := events[0]["start"].(map[string]any)["dateTime"]; start != "2026-03-10T12:00:00.0000000" {
			t.Errorf("moved event start %v", start)
		}
		sort.Strings(removed)
		want := []string{b, c}
		sort.Strings(want)
		if strings.Join(removed, ",") != strings.Join(want, ",") {
			t.Errorf("removed %v, want the deleted %s and the moved-out %s", removed, b, c)
		}
		deltaLink = next
	})
	t.Run("expired token", func(t *testing.T) {
		if err := f.em.ExpireCursors(techA); err != nil {
			t.Fatal(err)
		}
		r := f.graph("GET", deltaLink, nil)
		if r.status != http.StatusGone {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if code, _ := errorCode(t, r); !strings.EqualFold(code, "syncStateNotFound") {
			t.Errorf("code %s", code)
		}
		loc := r.header.Get("Location")
		if !strings.HasSuffix(loc, "$deltatoken=") {
			t.Fatalf("Location %q", loc)
		}
		events, _, _, _ := f.deltaRound(t, loc)
		if len(events) != 1 || events[0]["id"] != a {
			t.Errorf("restart from Location saw %v, want %s", ids(events), a)
		}
	})
	t.Run("garbage token", func(t *testing.T) {
		r := f.graph("GET", "/users/"+techA+"/calendarView/delta?$deltatoken=garbage!", nil)
		if code, _ := errorCode(t, r); r.status != http.StatusBadRequest || code != "resyncRequired" {
			t.Errorf("garbage token: %d %s", r.status, code)
		}
	})
	t.Run("token of another mailbox", func(t *testing.T) {
		u, _ := url.Parse(deltaLink)
		r := f.graph("GET", "/users/"+techB+"/calendarView/delta?"+u.RawQuery, nil)
		if r.status != http.StatusGone {
			t.Errorf("foreign token: %d %s", r.status, r.body)
		}
	})
}

func TestDeltaRequests(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		path     string
		status   int
		wantCode string
	}{
		{"delta", "/users/" + techA + "/calendarView/delta?" + deltaWindow, 200, ""},
		{"microsoft.graph.delta", "/users/" + techA + "/calendarView/microsoft.graph.delta?" + deltaWindow, 200, ""},
		{"calendar path", "/users/" + techA + "/calendar/calendarView/delta()?" + deltaWindow, 200, ""},
		{"no window", "/users/" + techA + "/calendarView/delta", 400, "ErrorInvalidParameter"},
		{"$select", "/users/" + techA + "/calendarView/delta?$select=subject&" + deltaWindow, 400, "ErrorInvalidUrlQuery"},
		{"blocked mailbox", "/users/" + blockedBox + "/calendarView/delta?" + deltaWindow, 403, "ErrorAccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.graph("GET", tt.path, nil)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.wantCode != "" {
				if code, _ := errorCode(t, r); code != tt.wantCode {
					t.Errorf("code %s, want %s", code, tt.wantCode)
				}
			}
		})
	}
}
