package emulator

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"tfsync/exchange"
)

var (
	graphInstant  = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$`)
	graphWallTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}$`)
)

func TestCreateEventShape(t *testing.T) {
	f := newFixture(t)
	r := f.graph("POST", "/users/"+url.PathEscape(techA)+"/events",
		eventBody("Besiktning hiss", "BES-10233", "tx-1", "2026-03-03T09:00:00", "2026-03-03T10:30:00"))
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	ev := r.json(t)
	for _, key := range []string{"@odata.context", "@odata.etag", "id", "createdDateTime", "lastModifiedDateTime",
		"changeKey", "categories", "transactionId", "originalStartTimeZone", "iCalUId", "reminderMinutesBeforeStart",
		"isReminderOn", "subject", "bodyPreview", "sensitivity", "isAllDay", "showAs", "type", "body", "start", "end",
		"location"} {
		if _, ok := ev[key]; !ok {
			t.Errorf("created event lacks %q", key)
		}
	}
	if _, ok := ev["singleValueExtendedProperties"]; ok {
		t.Error("extended properties returned without $expand")
	}
	if got := ev["@odata.etag"]; got != `W/"`+ev["changeKey"].(string)+`"` {
		t.Errorf("@odata.etag = %v", got)
	}
	for _, key := range []string{"createdDateTime", "lastModifiedDateTime"} {
		if !graphInstant.MatchString(ev[key].(string)) {
			t.Errorf("%s = %q, want 7 fractional digits and Z", key, ev[key])
		}
	}
	start := ev["start"].(map[string]any)
	if start["dateTime"] != "2026-03-03T08:00:00.0000000" || start["timeZone"] != "UTC" {
		t.Errorf("start = %v, want 08:00 UTC (09:00 W. Europe)", start)
	}
	body := ev["body"].(map[string]any)
	content := body["content"].(string)
	if body["contentType"] != "html" || !strings.HasPrefix(content, "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>") || !strings.Contains(content, "<body>") ||
		!strings.Contains(content, "<p>Byt filter &amp; kontrollera fläkt</p>") {
		t.Errorf("body = %v, want the HTML wrapped as a document", body)
	}
	if ev["bodyPreview"] != "Byt filter & kontrollera fläkt" {
		t.Errorf("bodyPreview = %q", ev["bodyPreview"])
	}
	if ev["type"] != "singleInstance" || ev["transactionId"] != "tx-1" || ev["originalStartTimeZone"] != "W. Europe Standard Time" {
		t.Errorf("type %v transactionId %v originalStartTimeZone %v", ev["type"], ev["transactionId"], ev["originalStartTimeZone"])
	}
	if loc := ev["location"].(map[string]any); loc["displayName"] != "Storgatan 1" {
		t.Errorf("location = %v", loc)
	}
	if r.header.Get("request-id") == "" || r.header.Get("client-request-id") == "" {
		t.Error("response lacks request-id/client-request-id headers")
	}
	if d := f.em.RawEvents(techA); len(d) != 1 || d[0].BookingID() != "BES-10233" {
		t.Errorf("stored events = %+v", d)
	}
}

func TestCreateIdempotentTransactionID(t *testing.T) {
	f := newFixture(t)
	path := "/users/" + techA + "/events"
	body := eventBody("Kontroll", "KON-1", "tfsync-KON-1-v1", "2026-03-03T09:00:00", "2026-03-03T10:00:00")
	first := f.graph("POST", path, body)
	second := f.graph("POST", path, body)
	if first.status != http.StatusCreated || second.status != http.StatusCreated {
		t.Fatalf("statuses %d, %d: %s", first.status, second.status, second.body)
	}
	if a, b := first.json(t)["id"], second.json(t)["id"]; a != b {
		t.Errorf("repeated transactionId made a second event: %v, %v", a, b)
	}
	if n := len(f.em.RawEvents(techA)); n != 1 {
		t.Errorf("%d events stored, want 1", n)
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	valid := func() map[string]any {
		return eventBody("X", "B-1", "", "2026-03-03T09:00:00", "2026-03-03T10:00:00")
	}
	tests := []struct {
		name     string
		edit     func(map[string]any)
		wantCode string
	}{
		{"unknown property", func(b map[string]any) { b["subjekt"] = "typo" }, "RequestBodyRead"},
		{"wrong type", func(b map[string]any) { b["subject"] = 5 }, "RequestBodyRead"},
		{"unknown showAs", func(b map[string]any) { b["showAs"] = "away" }, "RequestBodyRead"},
		{"unknown time zone", func(b map[string]any) {
			b["start"] = map[string]any{"dateTime": "2026-03-03T09:00:00", "timeZone": "Mars Standard Time"}
		}, "TimeZoneNotSupportedException"},
		{"all-day not at midnight", func(b map[string]any) {
			b["isAllDay"] = true
			b["start"] = map[string]any{"dateTime": "2026-03-03T09:00:00", "timeZone": "W. Europe Standard Time"}
			b["end"] = map[string]any{"dateTime": "2026-03-04T09:00:00", "timeZone": "W. Europe Standard Time"}
		}, "ErrorPropertyValidationFailure"},
		{"end before start", func(b map[string]any) {
			b["end"] = map[string]any{"dateTime": "2026-03-03T08:00:00", "timeZone": "W. Europe Standard Time"}
		}, "ErrorPropertyValidationFailure"},
		{"bad extended property id", func(b map[string]any) {
			b["singleValueExtendedProperties"] = []any{map[string]any{"id": "BookingId", "value": "1"}}
		}, "ErrorInvalidProperty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := valid()
			tt.edit(b)
			r := f.graph("POST", "/users/"+techA+"/events", b)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if code, _ := errorCode(t, r); code != tt.wantCode {
				t.Errorf("code %s, want %s", code, tt.wantCode)
			}
		})
	}
	if n := len(f.em.RawEvents(techA)); n != 0 {
		t.Errorf("%d events stored by refused creates", n)
	}
}

func TestAllDayEvents(t *testing.T) {
	f := newFixture(t)
	b := eventBody("Rondering", "RON-1", "", "2026-03-29", "2026-03-30")
	b["isAllDay"] = true
	b["start"] = map[string]any{"dateTime": "2026-03-29T00:00:00", "timeZone": "Europe/Stockholm"}
	b["end"] = map[string]any{"dateTime": "2026-03-30T00:00:00", "timeZone": "Europe/Stockholm"}
	r := f.graph("POST", "/users/"+techA+"/events", b)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	ev := r.json(t)
	// Outlook returns all-day events as midnights of their own dates, whatever zone the response is in.
	start, end := ev["start"].(map[string]any), ev["end"].(map[string]any)
	if start["dateTime"] != "2026-03-29T00:00:00.0000000" || end["dateTime"] != "2026-03-30T00:00:00.0000000" {
		t.Errorf("all-day start %v end %v, want the midnights of the dates", start, end)
	}
	stored := f.em.RawEvents(techA)[0]
	if !stored.Start.Equal(time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC)) || !stored.End.Equal(time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC)) {
		t.Errorf("stored %v .. %v, want Stockholm midnights across the DST change", stored.Start, stored.End)
	}
}

func TestTimeZones(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		zone      string
		wantStart time.Time
	}{
		{"W. Europe Standard Time", time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)},
		{"Central European Standard Time", time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)},
		{"FLE Standard Time", time.Date(2026, 7, 1, 7, 0, 0, 0, time.UTC)},
		{"GMT Standard Time", time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)},
		{"UTC", time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)},
		{"Europe/Stockholm", time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			b := eventBody("TZ", "TZ-"+tt.zone, "", "", "")
			b["start"] = map[string]any{"dateTime": "2026-07-01T10:00:00", "timeZone": tt.zone}
			b["end"] = map[string]any{"dateTime": "2026-07-01T11:00:00", "timeZone": tt.zone}
			r := f.graph("POST", "/users/"+techB+"/events", b)
			if r.status != http.StatusCreated {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			id := r.json(t)["id"].(string)
			got, err := f.em.getEvent(techB, id)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Start.Equal(tt.wantStart) {
				t.Errorf("start %v, want %v", got.Start, tt.wantStart)
			}
			// Asked in the zone it was written in, the event shows its wall time.
			r = f.graph("GET", "/users/"+techB+"/events/"+id, nil, "Prefer", `outlook.timezone="`+tt.zone+`"`)
			start := r.json(t)["start"].(map[string]any)
			if start["dateTime"] != "2026-07-01T10:00:00.0000000" || start["timeZone"] != tt.zone {
				t.Errorf("start in %s = %v", tt.zone, start)
			}
			if !strings.Contains(r.header.Get("Preference-Applied"), tt.zone) {
				t.Errorf("Preference-Applied = %q", r.header.Get("Preference-Applied"))
			}
		})
	}
}

func TestGetPatchDelete(t *testing.T) {
	f := newFixture(t)
	id := f.create(techA, "Ärende", "ARE-7", "2026-03-03T09:00:00", "2026-03-03T10:00:00")

	t.Run("encoded @ and the calendar path", func(t *testing.T) {
		for _, p := range []string{"/users/tech.a%40contoso.com/events/" + id, "/users/" + techA + "/calendar/events/" + id,
			"/users/TECH.A@contoso.com/events/" + url.PathEscape(id)} {
			if r := f.graph("GET", p, nil); r.status != http.StatusOK || r.json(t)["id"] != id {
				t.Errorf("GET %s: %d %s", p, r.status, r.body)
			}
		}
	})
	t.Run("$select", func(t *testing.T) {
		r := f.graph("GET", "/users/"+techA+"/events/"+id+"?$select=subject,start", nil)
		ev := r.json(t)
		if _, ok := ev["body"]; ok || ev["subject"] != "Ärende" || ev["start"] == nil || ev["id"] != id {
			t.Errorf("selected event = %v", ev)
		}
		if r := f.graph("GET", "/users/"+techA+"/events/"+id+"?$select=nonsense", nil); r.status != http.StatusBadRequest {
			t.Errorf("unknown $select property: %d", r.status)
		}
	})
	t.Run("$expand extended property", func(t *testing.T) {
		q := url.Values{"$expand": {"singleValueExtendedProperties($filter=id eq '" + exchange.GraphBookingPropertyID + "')"}}
		r := f.graph("GET", "/users/"+techA+"/events/"+id+"?"+q.Encode(), nil)
		props, _ := r.json(t)["singleValueExtendedProperties"].([]any)
		if len(props) != 1 {
			t.Fatalf("expanded properties = %s", r.body)
		}
		p := props[0].(map[string]any)
		if p["value"] != "ARE-7" || !strings.EqualFold(p["id"].(string), exchange.GraphBookingPropertyID) {
			t.Errorf("property = %v", p)
		}
	})
	var changeKey string
	t.Run("patch", func(t *testing.T) {
		before := f.em.RawEvents(techA)[0].ChangeKey
		r := f.graph("PATCH", "/users/"+techA+"/events/"+id, map[string]any{"subject": "Ärende (flyttat)",
			"start": map[string]any{"dateTime": "2026-03-03T13:00:00", "timeZone": "W. Europe Standard Time"},
			"end":   map[string]any{"dateTime": "2026-03-03T14:00:00", "timeZone": "W. Europe Standard Time"}})
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		ev := r.json(t)
		changeKey = ev["changeKey"].(string)
		if changeKey == before || ev["subject"] != "Ärende (flyttat)" || ev["location"].(map[string]any)["displayName"] != "Storgatan 1" {
			t.Errorf("patched event = %v (change key before %s)", ev, before)
		}
	})
	t.Run("patch with a stale etag", func(t *testing.T) {
		r := f.graph("PATCH", "/users/"+techA+"/events/"+id, map[string]any{"subject": "x"}, "If-Match", `W/"stale"`)
		if r.status != http.StatusPreconditionFailed {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		errorCode(t, r)
		r = f.graph("PATCH", "/users/"+techA+"/events/"+id, map[string]any{"subject": "y"}, "If-Match", `W/"`+changeKey+`"`)
		if r.status != http.StatusOK {
			t.Errorf("current etag: %d %s", r.status, r.body)
		}
	})
	t.Run("delete twice", func(t *testing.T) {
		if r := f.graph("DELETE", "/users/"+techA+"/events/"+id, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		r := f.graph("DELETE", "/users/"+techA+"/events/"+id, nil)
		if code, _ := errorCode(t, r); r.status != http.StatusNotFound || code != "ErrorItemNotFound" {
			t.Errorf("second delete: %d %s", r.status, code)
		}
		r = f.graph("GET", "/users/"+techA+"/events/"+id, nil)
		if code, _ := errorCode(t, r); r.status != http.StatusNotFound || code != "ErrorItemNotFound" {
			t.Errorf("get deleted: %d %s", r.status, code)
		}
	})
}

func TestFilterByExtendedProperty(t *testing.T) {
	f := newFixture(t)
	id := f.create(techA, "A", "BES-1", "2026-03-03T09:00:00", "2026-03-03T10:00:00")
	f.create(techA, "B", "BES-2", "2026-03-04T09:00:00", "2026-03-04T10:00:00")
	guid := exchange.BookingPropertySetID
	tests := []struct {
		name    string
		filter  string
		wantIDs int
		status  int
	}{
		{"exact", "singleValueExtendedProperties/Any(ep: ep/id eq 'String {" + guid + "} Name BookingId' and ep/value eq 'BES-1')", 1, 200},
		{"type keyword and guid in other case", "singleValueExtendedProperties/any(ep: ep/id eq 'string {" + strings.ToUpper(guid) + "} name BookingId' and ep/value eq 'BES-1')", 1, 200},
		{"name in other case matches nothing", "singleValueExtendedProperties/Any(ep: ep/id eq 'String {" + guid + "} Name bookingid' and ep/value eq 'BES-1')", 0, 200},
		{"other value", "singleValueExtendedProperties/Any(ep: ep/id eq 'String {" + guid + "} Name BookingId' and ep/value eq 'BES-404')", 0, 200},
		{"unsupported filter", "subject eq 'A'", 0, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.graph("GET", "/users/"+techA+"/events?"+url.Values{"$filter": {tt.filter}}.Encode(), nil)
			if r.status != tt.status {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if tt.status != 200 {
				errorCode(t, r)
				return
			}
			values := r.json(t)["value"].([]any)
			if len(values) != tt.wantIDs {
				t.Fatalf("%d events, want %d", len(values), tt.wantIDs)
			}
			if tt.wantIDs == 1 && values[0].(map[string]any)["id"] != id {
				t.Errorf("found %v, want %s", values[0], id)
			}
		})
	}
}

func TestGzipBody(t *testing.T) {
	f := newFixture(t)
	raw, _ := json.Marshal(eventBody("Gzip", "GZ-1", "", "2026-03-03T09:00:00", "2026-03-03T10:00:00"))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	r := f.graph("POST", "/users/"+techA+"/events", buf.Bytes(), "Content-Encoding", "gzip")
	if r.status != http.StatusCreated || r.json(t)["subject"] != "Gzip" {
		t.Fatalf("gzip create: %d %s", r.status, r.body)
	}
	if r := f.graph("POST", "/users/"+techA+"/events", raw, "Content-Encoding", "br"); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("brotli body: %d, want 415 (the SDK then resends plain)", r.status)
	}
}

func TestGraphAccessErrors(t *testing.T) {
	f := newFixture(t)
	f.em.AddApp(App{TenantID: testTenant, ClientID: "unconsented", SecretValue: "v"})
	unconsented := f.getToken("unconsented", "v")
	tests := []struct {
		name        string
		token       string
		path        string
		wantStatus  int
		wantCode    string
		wantMessage string
	}{
		{"no token", "", "/users/" + techA + "/events", 401, "InvalidAuthenticationToken", "Access token is empty."},
		{"garbage token", "not-a-jwt", "/users/" + techA + "/events", 401, "InvalidAuthenticationToken", ""},
		{"no consent", unconsented, "/users/" + techA + "/events", 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."},
		{"access policy", f.token, "/users/" + blockedBox + "/events", 403, "ErrorAccessDenied", "Access to OData is disabled."},
		{"unknown user", f.token, "/users/" + unknownUser + "/events", 404, "ErrorInvalidUser", "The requested user '" + unknownUser + "' is invalid."},
		{"unlicensed", f.token, "/users/" + unlicensed + "/events", 404, "MailboxNotEnabledForRESTAPI", "REST API is not yet supported for this mailbox."},
		{"/me with an app token", f.token, "/me/events", 400, "BadRequest", "/me request is only valid with delegated authentication flow."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.graphWithToken(tt.token, "GET", tt.path, nil)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			code, msg := errorCode(t, r)
			if code != tt.wantCode || (tt.wantMessage != "" && msg != tt.wantMessage) {
				t.Errorf("error %s %q, want %s %q", code, msg, tt.wantCode, tt.wantMessage)
			}
			if tt.wantStatus == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("401 without a Bearer WWW-Authenticate challenge")
			}
		})
	}
}

func TestListPaging(t *testing.T) {
	f := newFixture(t)
	for i := range 12 {
		f.create(techA, "E", "P-"+string(rune('a'+i)), "2026-03-03T09:00:00", "2026-03-03T10:00:00")
	}
	r := f.graph("GET", "/users/"+techA+"/calendarView?startDateTime=2026-03-01T00:00:00Z&endDateTime=2026-03-10T00:00:00Z", nil)
	page := r.json(t)
	if n := len(page["value"].([]any)); n != 10 {
		t.Fatalf("first page has %d events, want Graph's default 10", n)
	}
	next, _ := page["@odata.nextLink"].(string)
	if next == "" {
		t.Fatal("no @odata.nextLink")
	}
	r = f.graph("GET", next, nil)
	page = r.json(t)
	if n := len(page["value"].([]any)); n != 2 || page["@odata.nextLink"] != nil {
		t.Errorf("second page: %d events, nextLink %v", n, page["@odata.nextLink"])
	}
	if r := f.graph("GET", "/users/"+techA+"/calendarView", nil); r.status != 400 {
		t.Errorf("calendarView without a window: %d", r.status)
	} else if code, _ := errorCode(t, r); code != "ErrorInvalidParameter" {
		t.Errorf("calendarView without a window: %s", code)
	}
}
