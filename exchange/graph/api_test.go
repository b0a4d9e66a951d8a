package graph

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"tfsync/exchange"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

func TestParseDateTime(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	stockholm := mustZone(t, "Europe/Stockholm")
	tests := []struct {
		name    string
		in      *dateTimeTimeZone
		want    time.Time
		wantErr bool
	}{
		{"Graph's UTC with seven fraction digits", &dateTimeTimeZone{"2016-12-09T20:30:00.0000000", "UTC"},
			time.Date(2016, 12, 9, 20, 30, 0, 0, time.UTC), false},
		{"no zone means UTC", &dateTimeTimeZone{"2026-03-29T01:00:00", ""},
			time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), false},
		{"Windows name", &dateTimeTimeZone{"2026-03-29T00:00:00.0000000", "W. Europe Standard Time"},
			time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), false},
		{"IANA name", &dateTimeTimeZone{"2026-10-25T02:30:00", "Europe/Stockholm"},
			time.Date(2026, 10, 25, 2, 30, 0, 0, stockholm), false},
		{"fraction kept", &dateTimeTimeZone{"2026-01-02T03:04:05.5000000", "UTC"},
			time.Date(2026, 1, 2, 3, 4, 5, 5e8, time.UTC), false},
		{"unknown zone", &dateTimeTimeZone{"2026-01-02T03:04:05", "Mars Standard Time"}, time.Time{}, true},
		{"not a time", &dateTimeTimeZone{"yesterday", "UTC"}, time.Time{}, true},
		{"missing", nil, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDateTime(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseDateTime(%+v) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && !got.Equal(tt.want) {
				t.Errorf("parseDateTime(%+v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestToEventIn(t *testing.T) {
	sthlm := mustZone(t, "Europe/Stockholm")
	dt := func(s, z string) *dateTimeTimeZone { return &dateTimeTimeZone{DateTime: s, TimeZone: z} }
	tests := []struct {
		name string
		in   string // the event as JSON
		want exchange.Event
	}{
		{
			name: "timed booking event in UTC",
			in: `{"id":"AAMk1","changeKey":"ck1","subject":"Besiktning","body":{"contentType":"html","content":"<p>x</p>"},
				"location":{"displayName":"Storgatan 1"},"start":{"dateTime":"2026-03-27T07:00:00.0000000","timeZone":"UTC"},
				"end":{"dateTime":"2026-03-27T08:30:00.0000000","timeZone":"UTC"},"isAllDay":false,"showAs":"busy",
				"isReminderOn":true,"reminderMinutesBeforeStart":15,"lastModifiedDateTime":"2026-03-01T10:00:00.1234567Z",
				"singleValueExtendedProperties":[{"id":"String {6F3C1A52-8D4E-4B7A-9C2F-5E0D7B1A4C93} Name BookingId","value":"BES-1"}]}`,
			want: exchange.Event{ID: "AAMk1", ChangeKey: "ck1", BookingID: "BES-1", Subject: "Besiktning",
				Body: "<p>x</p>", Location: "Storgatan 1", Start: time.Date(2026, 3, 27, 8, 0, 0, 0, sthlm),
				End: time.Date(2026, 3, 27, 9, 30, 0, 0, sthlm), TimeZone: "Europe/Stockholm", ShowAs: exchange.ShowBusy,
				ReminderMinutes: 15, LastModified: time.Date(2026, 3, 1, 10, 0, 0, 123456700, time.UTC)},
		},
		{
			name: "all-day as floating midnights, reminder off, text body",
			in: `{"id":"AAMk2","changeKey":"ck2","subject":"Rondering","body":{"contentType":"text","content":"a < b"},
				"start":{"dateTime":"2026-03-29T00:00:00.0000000","timeZone":"UTC"},
				"end":{"dateTime":"2026-03-30T00:00:00.0000000","timeZone":"UTC"},"isAllDay":true,"showAs":"free",
				"isReminderOn":false,"reminderMinutesBeforeStart":15}`,
			want: exchange.Event{ID: "AAMk2", ChangeKey: "ck2", Subject: "Rondering", Body: "a &lt; b",
				Start: time.Date(2026, 3, 29, 0, 0, 0, 0, sthlm), End: time.Date(2026, 3, 30, 0, 0, 0, 0, sthlm),
				AllDay: true, TimeZone: "Europe/Stockholm", ShowAs: exchange.ShowFree, ReminderMinutes: exchange.NoReminder},
		},
		{
			name: "all-day converted to UTC instants by the server",
			in: `{"id":"AAMk3","start":{"dateTime":"2026-10-24T22:00:00","timeZone":"UTC"},
				"end":{"dateTime":"2026-10-25T23:00:00","timeZone":"UTC"},"isAllDay":true}`,
			want: exchange.Event{ID: "AAMk3", Start: time.Date(2026, 10, 25, 0, 0, 0, 0, sthlm),
				End: time.Date(2026, 10, 26, 0, 0, 0, 0, sthlm), AllDay: true, TimeZone: "Europe/Stockholm",
				ReminderMinutes: exchange.NoReminder},
		},
	}
	_ = dt
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev eventIn
			if err := json.Unmarshal([]byte(tt.in), &ev); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			got, err := toEventIn(ev, sthlm)
			if err != nil {
				t.Fatalf("toEventIn: %v", err)
			}
			if !got.Start.Equal(tt.want.Start) || !got.End.Equal(tt.want.End) || !got.LastModified.Equal(tt.want.LastModified) {
				t.Errorf("times %v–%v (modified %v), want %v–%v (%v)", got.Start, got.End, got.LastModified,
					tt.want.Start, tt.want.End, tt.want.LastModified)
			}
			if got.Start.Location() != sthlm {
				t.Errorf("start is in %v, want Europe/Stockholm", got.Start.Location())
			}
			got.Start, got.End, got.LastModified = tt.want.Start, tt.want.End, tt.want.LastModified
			if got != tt.want {
				t.Errorf("toEventIn =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
	t.Run("missing start", func(t *testing.T) {
		_, err := toEventIn(eventIn{ID: "x", End: dt("2026-01-01T00:00:00", "UTC")}, sthlm)
		if !errors.Is(err, exchange.ErrBadResponse) {
			t.Errorf("toEventIn without start: %v, want ErrBadResponse", err)
		}
	})
}

func newOfflineClient(t *testing.T, zone *time.Location) *Client {
	t.Helper()
	c, err := New(Options{TenantID: "contoso.onmicrosoft.com", ClientID: "11111111-2222-3333-4444-555555555555",
		ClientSecret: "Sx8Q~not-a-real-secret-value", Zone: zone})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestToWire(t *testing.T) {
	sthlm := mustZone(t, "Europe/Stockholm")
	c := newOfflineClient(t, sthlm)
	base := exchange.Event{BookingID: "BES-1", Subject: "S", Body: "<p>b</p>", Location: "L",
		TimeZone: "Europe/Stockholm", ShowAs: exchange.ShowTentative, ReminderMinutes: 15}
	at := func(m time.Month, d, h, min int, loc *time.Location) time.Time {
		return time.Date(2026, m, d, h, min, 0, 0, loc)
	}
	tests := []struct {
		name    string
		modify  func(*exchange.Event)
		txn     string
		want    string // a JSON fragment that must appear
		notWant string // a fragment that must not
		wantErr error
	}{
		{name: "timed in the Windows name of the zone", modify: func(e *exchange.Event) {
			e.Start, e.End = at(3, 29, 8, 0, sthlm), at(3, 29, 9, 0, sthlm)
		}, want: `"start":{"dateTime":"2026-03-29T08:00:00","timeZone":"W. Europe Standard Time"}`},
		{name: "times given in another zone are written in the event's", modify: func(e *exchange.Event) {
			e.Start, e.End = at(10, 25, 7, 0, time.UTC), at(10, 25, 8, 0, time.UTC)
		}, want: `"end":{"dateTime":"2026-10-25T09:00:00","timeZone":"W. Europe Standard Time"}`},
		{name: "create carries transaction id and booking id", txn: "tx-1", modify: func(e *exchange.Event) {
			e.Start, e.End = at(5, 4, 8, 0, sthlm), at(5, 4, 9, 0, sthlm)
		}, want: `"transactionId":"tx-1","singleValueExtendedProperties":[{"id":"String {6f3c1a52-8d4e-4b7a-9c2f-5e0d7b1a4c93} Name BookingId","value":"BES-1"}]`},
		{name: "update has no transaction id", modify: func(e *exchange.Event) {
			e.Start, e.End = at(5, 4, 8, 0, sthlm), at(5, 4, 9, 0, sthlm)
		}, notWant: `transactionId`},
		{name: "no reminder", modify: func(e *exchange.Event) {
			e.Start, e.End, e.ReminderMinutes = at(5, 4, 8, 0, sthlm), at(5, 4, 9, 0, sthlm), exchange.NoReminder
		}, want: `"isReminderOn":false`},
		{name: "html body, normal sensitivity, show as", modify: func(e *exchange.Event) {
			e.Start, e.End = at(5, 4, 8, 0, sthlm), at(5, 4, 9, 0, sthlm)
		}, want: `"body":{"contentType":"html","content":"\u003cp\u003eb\u003c/p\u003e"},"location":{"displayName":"L"}`},
		{name: "all-day over the spring change", modify: func(e *exchange.Event) {
			e.Start, e.End, e.AllDay = at(3, 29, 0, 0, sthlm), at(3, 30, 0, 0, sthlm), true
		}, want: `"start":{"dateTime":"2026-03-29T00:00:00","timeZone":"W. Europe Standard Time"},"end":{"dateTime":"2026-03-30T00:00:00","timeZone":"W. Europe Standard Time"},"isAllDay":true`},
		{name: "all-day not at midnight", modify: func(e *exchange.Event) {
			e.Start, e.End, e.AllDay = at(3, 29, 1, 0, sthlm), at(3, 30, 0, 0, sthlm), true
		}, wantErr: exchange.ErrInvalidEvent},
		{name: "all-day at UTC midnight", modify: func(e *exchange.Event) {
			e.Start, e.End, e.AllDay = at(10, 25, 0, 0, time.UTC), at(10, 26, 0, 0, time.UTC), true
		}, wantErr: exchange.ErrInvalidEvent},
		{name: "end before start", modify: func(e *exchange.Event) {
			e.Start, e.End = at(5, 4, 9, 0, sthlm), at(5, 4, 8, 0, sthlm)
		}, wantErr: exchange.ErrInvalidEvent},
		{name: "unknown zone", modify: func(e *exchange.Event) {
			e.Start, e.End, e.TimeZone = at(5, 4, 8, 0, sthlm), at(5, 4, 9, 0, sthlm), "Nowhere/Atlantis"
		}, wantErr: exchange.ErrInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := base
			tt.modify(&ev)
			w, err := c.toWire(ev, tt.txn)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("toWire error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("toWire: %v", err)
			}
			b, _ := json.Marshal(w)
			if tt.want != "" && !strings.Contains(string(b), tt.want) {
				t.Errorf("body %s\nlacks %s", b, tt.want)
			}
			if tt.notWant != "" && strings.Contains(string(b), tt.notWant) {
				t.Errorf("body %s\nhas %s", b, tt.notWant)
			}
			if strings.Contains(string(b), "attendees") {
				t.Errorf("body %s has attendees", b)
			}
		})
	}
}

// TestWireRoundTrip writes events and reads the wire form back: the instants must survive, across both DST changes.
func TestWireRoundTrip(t *testing.T) {
	sthlm := mustZone(t, "Europe/Stockholm")
	c := newOfflineClient(t, sthlm)
	for _, start := range []time.Time{
		time.Date(2026, 3, 28, 22, 0, 0, 0, sthlm),
		time.Date(2026, 3, 29, 3, 0, 0, 0, sthlm),
		time.Date(2026, 10, 25, 2, 30, 0, 0, time.UTC),
		time.Date(2026, 10, 24, 23, 45, 0, 0, sthlm),
	} {
		t.Run(start.Format(time.RFC3339), func(t *testing.T) {
			w, err := c.toWire(exchange.Event{BookingID: "B", Start: start, End: start.Add(6 * time.Hour),
				TimeZone: "Europe/Stockholm"}, "")
			if err != nil {
				t.Fatalf("toWire: %v", err)
			}
			s, err1 := parseDateTime(&w.Start)
			e, err2 := parseDateTime(&w.End)
			if err1 != nil || err2 != nil {
				t.Fatalf("parse back: %v, %v", err1, err2)
			}
			if !s.Equal(start) || e.Sub(s) != 6*time.Hour {
				t.Errorf("round trip gives %v–%v, want %v + 6h", s, e, start)
			}
		})
	}
}

func TestWireZone(t *testing.T) {
	tests := []struct {
		loc    *time.Location
		want   string
		wantOK bool
	}{
		{time.UTC, "UTC", true},
		{mustZone(t, "Europe/Stockholm"), "W. Europe Standard Time", true},
		{mustZone(t, "Europe/Helsinki"), "FLE Standard Time", true},
		{mustZone(t, "America/Argentina/Salta"), "America/Argentina/Salta", true},
		{time.Local, "", false},
	}
	for _, tt := range tests {
		got, ok := wireZone(tt.loc)
		if tt.loc == time.Local && time.Local.String() != "Local" {
			continue
		}
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("wireZone(%v) = %q, %v; want %q, %v", tt.loc, got, ok, tt.want, tt.wantOK)
		}
	}
}
