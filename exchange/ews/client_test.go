package ews

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tfsync/exchange"
)

func TestNewRefusesBadOptions(t *testing.T) {
	good := Options{URL: "https://mail.example.com/EWS/Exchange.asmx", Username: "svc", Password: "pw"}
	tests := []struct {
		name    string
		modify  func(*Options)
		wantErr string
	}{
		{"no url", func(o *Options) { o.URL = "" }, "URL is empty"},
		{"kerberos", func(o *Options) { o.Auth = "kerberos" }, `auth = "kerberos" is not valid`},
		{"bad access", func(o *Options) { o.Access = "owner" }, `access = "owner" is not valid`},
		{"zone without windows id", func(o *Options) { o.Zone = mustZone(t, "America/Caracas") }, "America/Caracas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.modify(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	c, err := New(good)
	if err != nil {
		t.Fatalf("New with good options: %v", err)
	}
	if c.opts.Auth != AuthNTLM || c.opts.Access != AccessImpersonation || c.opts.PerMailbox != 1 ||
		c.opts.MaxConcurrency != 8 {
		t.Errorf("defaults: auth %q access %q per mailbox %d concurrency %d; want ntlm, impersonation, 1, 8",
			c.opts.Auth, c.opts.Access, c.opts.PerMailbox, c.opts.MaxConcurrency)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestZones(t *testing.T) {
	tests := []struct {
		iana, windows string
	}{
		{"Europe/Stockholm", "W. Europe Standard Time"},
		{"Europe/Oslo", "W. Europe Standard Time"},
		{"Europe/Copenhagen", "Romance Standard Time"},
		{"Europe/Helsinki", "FLE Standard Time"},
		{"Europe/London", "GMT Standard Time"},
		{"Europe/Warsaw", "Central European Standard Time"},
		{"Europe/Prague", "Central Europe Standard Time"},
		{"Europe/Athens", "GTB Standard Time"},
		{"Europe/Istanbul", "Turkey Standard Time"},
		{"Atlantic/Reykjavik", "Greenwich Standard Time"},
		{"UTC", "UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.iana, func(t *testing.T) {
			got, err := WindowsZone(tt.iana)
			if err != nil || got != tt.windows {
				t.Errorf("WindowsZone(%q) = %q, %v; want %q", tt.iana, got, err, tt.windows)
			}
			if _, err := time.LoadLocation(tt.iana); err != nil {
				t.Errorf("%s is not a zone Go knows: %v", tt.iana, err)
			}
			back := ianaZone(tt.windows, mustZone(t, tt.iana))
			if back != tt.iana {
				t.Errorf("ianaZone(%q, %s) = %q, want the preferred zone back", tt.windows, tt.iana, back)
			}
		})
	}
	if _, err := WindowsZone("America/Caracas"); err == nil || !strings.Contains(err.Error(), "America/Caracas") {
		t.Errorf("WindowsZone(America/Caracas) = %v, want an error naming the zone", err)
	}
	if got := ianaZone("Romance Standard Time", mustZone(t, "Europe/Stockholm")); got != "Europe/Paris" {
		t.Errorf("another Windows zone than the preferred one reads as %q, want CLDR's Europe/Paris", got)
	}
}

func TestCursor(t *testing.T) {
	w := goldenWindow()
	cur := encodeCursor(w, "state-1")
	if got, ok := decodeCursor(cur, w); !ok || got != "state-1" {
		t.Errorf("decode own cursor: %q, %v", got, ok)
	}
	other := w
	other.End = other.End.Add(24 * time.Hour)
	for name, c := range map[string]string{
		"other window": cur, "garbage": "not-a-cursor", "graph delta link": "https://graph/delta?token=1",
		"bad base64": cursorPrefix + "!!!", "empty": "",
	} {
		win := w
		if name == "other window" {
			win = other
		}
		if _, ok := decodeCursor(c, win); ok {
			t.Errorf("%s: decodeCursor accepted %q", name, c)
		}
	}
}

func TestToWireRefusesInvalidEvents(t *testing.T) {
	c := newFakeClient(t, AccessImpersonation, &fakeEWS{}, nil)
	loc := stockholm(t)
	day := time.Date(2026, 3, 29, 0, 0, 0, 0, loc)
	tests := []struct {
		name   string
		modify func(*exchange.Event)
	}{
		{"ends before it starts", func(ev *exchange.Event) { ev.End = ev.Start.Add(-time.Hour) }},
		{"all-day from one in the morning", func(ev *exchange.Event) {
			ev.AllDay, ev.Start, ev.End = true, day.Add(time.Hour), day.AddDate(0, 0, 1)
		}},
		{"all-day at UTC midnights", func(ev *exchange.Event) {
			ev.AllDay = true
			ev.Start = time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC)
			ev.End = ev.Start.AddDate(0, 0, 1)
		}},
		{"unknown show-as", func(ev *exchange.Event) { ev.ShowAs = "away" }},
		{"zone without windows id", func(ev *exchange.Event) { ev.TimeZone = "America/Caracas" }},
		{"reminder below -1", func(ev *exchange.Event) { ev.ReminderMinutes = -5 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := goldenEvent(t)
			tt.modify(&ev)
			if _, err := c.toWire(ev); !errors.Is(err, exchange.ErrInvalidEvent) {
				t.Errorf("toWire: %v, want ErrInvalidEvent", err)
			}
		})
	}
	ev := goldenEvent(t)
	ev.AllDay, ev.Start, ev.End = true, day, day.AddDate(0, 0, 1)
	if _, err := c.toWire(ev); err != nil {
		t.Errorf("all-day event on the spring DST day: %v", err)
	}
}

func TestToEvent(t *testing.T) {
	c := newFakeClient(t, AccessImpersonation, &fakeEWS{}, nil)
	ev, err := c.Get(context.Background(), "tech1@example.com", "AAMk-1")
	if err != nil {
		t.Fatal(err)
	}
	want := exchange.Event{
		ID: "AAMk-1", ChangeKey: "DwAAAA-3", BookingID: "BES-10233", Subject: "Besiktning: Hiss A",
		Body: "<html><body><p>Nyckel hos vaktmästaren</p></body></html>", Location: "Storgatan 1",
		Start: time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC),
		TimeZone: "Europe/Stockholm", ShowAs: exchange.ShowBusy, ReminderMinutes: 15,
		LastModified: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
	}
	if ev != want {
		t.Errorf("event from GetItem:\n got %+v\nwant %+v", ev, want)
	}
}

// errorCase is one way EWS can refuse a request, and what tfsync must make of it.
type errorCase struct {
	name     string
	answer   fakeAnswer
	sentinel error
	want     []string // substrings of the message
}

func TestErrorMapping(t *testing.T) {
	const mb = "tech1@example.com"
	msg := func(code, text string) fakeAnswer {
		return fakeAnswer{status: 200, body: response("FindItem", errorMessage("FindItem", code, text))}
	}
	tests := []errorCase{
		{"wrong password", fakeAnswer{status: 401, header: http.Header{"Www-Authenticate": {"Negotiate", "NTLM", "Basic realm=\"mail\""}}},
			exchange.ErrAuth, []string{`account EXAMPLE\svc-tf was refused`, "DOMAIN\\user or user@domain", "not locked"}},
		{"basic not offered", fakeAnswer{status: 401, header: http.Header{"Www-Authenticate": {"Negotiate", "NTLM"}}},
			exchange.ErrAuth, []string{"does not accept Basic", `auth = "ntlm"`}},
		{"exchange online", fakeAnswer{status: 401, header: http.Header{"Www-Authenticate": {"Bearer client_id=\"00000002\""}}},
			exchange.ErrAuth, []string{"OAuth", `mode = "graph"`}},
		{"impersonation denied as fault", fakeAnswer{status: 500, body: fault("ErrorImpersonateUserDenied",
			"The account does not have permission to impersonate the requested user.", 0)},
			exchange.ErrAccessDenied, []string{"may not impersonate " + mb, "New-ManagementRoleAssignment -Role ApplicationImpersonation", "scope"}},
		{"impersonation denied as message", msg("ErrorImpersonateUserDenied", "no"),
			exchange.ErrAccessDenied, []string{"may not impersonate " + mb}},
		{"access denied", msg("ErrorAccessDenied", "Access is denied. Check credentials and try again."),
			exchange.ErrAccessDenied, []string{"ApplicationImpersonation", "Add-MailboxFolderPermission " + mb + ":\\Calendar", "Editor"}},
		{"folder not found", msg("ErrorFolderNotFound", "The specified folder could not be found in the store."),
			exchange.ErrAccessDenied, []string{"Editor"}},
		{"no such mailbox", msg("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."),
			exchange.ErrMailboxNotFound, []string{"no mailbox " + mb, "primary SMTP address", "Inställningar -> Grunddata -> Resurser"}},
		{"not found", fakeAnswer{status: 200, body: response("FindItem", errorMessage("FindItem", "ErrorItemNotFound", "gone"))},
			exchange.ErrNotFound, []string{"ErrorItemNotFound"}},
		{"malformed xml", fakeAnswer{status: 200, body: "<s:Envelope><s:Body><m:FindItemResponse>"},
			exchange.ErrBadResponse, []string{"cannot read", "https://mail.example.com/EWS/Exchange.asmx"}},
		{"html login page", fakeAnswer{status: 200, body: "<html><body>Outlook Web App</body></html>"},
			exchange.ErrBadResponse, []string{"cannot read"}},
		{"redirect", fakeAnswer{status: 302, header: http.Header{"Location": {"https://mail.example.com/owa/auth/logon.aspx"}}},
			exchange.ErrUnavailable, []string{"redirects to", "owa/auth/logon.aspx", "e.g. https://mail.example.com/EWS/Exchange.asmx"}},
		{"not found url", fakeAnswer{status: 404, body: "Not Found"},
			exchange.ErrUnavailable, []string{"has no EWS endpoint", "[exchange.ews] url"}},
		{"ews disabled", fakeAnswer{status: 403, body: "Forbidden"},
			exchange.ErrAccessDenied, []string{"EWSEnabled"}},
		{"old server", fakeAnswer{status: 500, body: fault("ErrorInvalidServerVersion", "The specified server version is invalid.", 0)},
			exchange.ErrUnavailable, []string{"Exchange 2013 or later"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
				if op == "FindItem" {
					return tt.answer
				}
				return fakeAnswer{}
			}}
			err := newFakeClient(t, AccessImpersonation, f, nil).CheckAccess(context.Background(), mb)
			checkError(t, err, tt.sentinel, tt.want)
		})
	}
	t.Run("access denied in delegate mode", func(t *testing.T) {
		f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
			return msg("ErrorAccessDenied", "Access is denied.")
		}}
		err := newFakeClient(t, AccessDelegate, f, nil).CheckAccess(context.Background(), mb)
		checkError(t, err, exchange.ErrAccessDenied, []string{"give the service account Editor rights on " + mb +
			"'s calendar", "Add-MailboxFolderPermission " + mb + ":\\Calendar -User EXAMPLE\\svc-tf -AccessRights Editor",
			`or use access = "impersonation"`})
	})
}

func checkError(t *testing.T, err error, sentinel error, want []string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want one wrapping %v", err, sentinel)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "Secret-Pa55") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestCheckCredentials(t *testing.T) {
	tests := []struct {
		name     string
		answer   fakeAnswer
		sentinel error // nil: the credentials work
	}{
		{"own calendar readable", fakeAnswer{}, nil},
		{"account without a mailbox", fakeAnswer{status: 200, body: response("FindItem",
			errorMessage("FindItem", "ErrorNonExistentMailbox", "no mailbox"))}, nil},
		{"wrong password", fakeAnswer{status: 401}, exchange.ErrAuth},
		{"no EWS there", fakeAnswer{status: 404}, exchange.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeEWS{handle: func(string, int, string) fakeAnswer { return tt.answer }}
			err := newFakeClient(t, AccessImpersonation, f, nil).CheckCredentials(context.Background())
			if tt.sentinel == nil && err != nil || tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("CheckCredentials: %v, want %v", err, tt.sentinel)
			}
			if body := f.bodies("FindItem"); len(body) != 1 || strings.Contains(body[0], "ExchangeImpersonation") {
				t.Errorf("credentials check sent %d FindItem requests (impersonating: %v); want one as the account itself",
					len(body), len(body) > 0 && strings.Contains(body[0], "ExchangeImpersonation"))
			}
		})
	}
}

func TestServerBusyBackOff(t *testing.T) {
	const mb = "tech1@example.com"
	tests := []struct {
		name      string
		answer    func(n int) fakeAnswer // the n-th GetItem answer; zero value: success
		wantSleep []time.Duration
		sentinel  error // nil: Get succeeds
	}{
		{"fault with BackOffMilliseconds", func(n int) fakeAnswer {
			if n <= 2 {
				return fakeAnswer{status: 500, body: fault("ErrorServerBusy", "The server cannot service this request right now.", 1500)}
			}
			return fakeAnswer{}
		}, []time.Duration{1500 * time.Millisecond, 1500 * time.Millisecond}, nil},
		{"message with BackOffMilliseconds", func(n int) fakeAnswer {
			if n == 1 {
				return fakeAnswer{status: 200, body: response("GetItem", busyMessage("GetItem", 2750))}
			}
			return fakeAnswer{}
		}, []time.Duration{2750 * time.Millisecond}, nil},
		{"HTTP 503 backs off exponentially", func(n int) fakeAnswer {
			if n <= 3 {
				return fakeAnswer{status: 503, body: "Service Unavailable"}
			}
			return fakeAnswer{}
		}, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, nil},
		{"connection count backs off exponentially", func(n int) fakeAnswer {
			if n == 1 {
				return fakeAnswer{status: 500, body: fault("ErrorExceededConnectionCount", "too many connections", 0)}
			}
			return fakeAnswer{}
		}, []time.Duration{time.Second}, nil},
		{"dropped connection is retried", func(n int) fakeAnswer {
			if n == 1 {
				return fakeAnswer{err: io.ErrUnexpectedEOF}
			}
			return fakeAnswer{}
		}, []time.Duration{time.Second}, nil},
		{"busy on every attempt", func(int) fakeAnswer {
			return fakeAnswer{status: 500, body: fault("ErrorServerBusy", "busy", 1000)}
		}, []time.Duration{time.Second, time.Second, time.Second, time.Second}, exchange.ErrThrottled},
		{"back-off longer than a pass waits", func(int) fakeAnswer {
			return fakeAnswer{status: 500, body: fault("ErrorServerBusy", "busy", 297749)}
		}, nil, exchange.ErrThrottled},
		{"503 on every attempt", func(int) fakeAnswer {
			return fakeAnswer{status: 503}
		}, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, exchange.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sleeps{}
			f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
				if op == "GetItem" {
					return tt.answer(n)
				}
				return fakeAnswer{}
			}}
			_, err := newFakeClient(t, AccessImpersonation, f, s).Get(context.Background(), mb, "AAMk-1")
			if tt.sentinel == nil && err != nil || tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Fatalf("Get: %v, want %v", err, tt.sentinel)
			}
			if got := s.got(); !slices.Equal(got, tt.wantSleep) {
				t.Errorf("pauses %v, want %v", got, tt.wantSleep)
			}
			if want := len(tt.wantSleep) + 1; f.count("GetItem") != want {
				t.Errorf("%d GetItem requests, want %d", f.count("GetItem"), want)
			}
		})
	}
	t.Run("long back-off is reported", func(t *testing.T) {
		f := &fakeEWS{handle: func(string, int, string) fakeAnswer {
			return fakeAnswer{status: 500, body: fault("ErrorServerBusy", "busy", 297749)}
		}}
		_, err := newFakeClient(t, AccessImpersonation, f, nil).Get(context.Background(), mb, "AAMk-1")
		var ra *exchange.RetryAfterError
		if !errors.As(err, &ra) || ra.After != 297749*time.Millisecond {
			t.Errorf("error %v, want a RetryAfterError of 297.749s", err)
		}
	})
	t.Run("partly busy create retries only the busy item", func(t *testing.T) {
		s := &sleeps{}
		f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
			if op == "CreateItem" && n == 1 {
				return fakeAnswer{status: 200, body: response(op,
					okMessage(op, `<m:Items><t:CalendarItem><t:ItemId Id="AAMk-a" ChangeKey="CK-a"/></t:CalendarItem></m:Items>`),
					busyMessage(op, 800))}
			}
			return fakeAnswer{}
		}}
		a, b := goldenEvent(t), goldenEvent(t)
		b.BookingID = "ARE-4711"
		rs := write(t, newFakeClient(t, AccessImpersonation, f, s),
			exchange.Op{Kind: exchange.OpCreate, Mailbox: mb, Event: a, TransactionID: "tx-a"},
			exchange.Op{Kind: exchange.OpCreate, Mailbox: mb, Event: b, TransactionID: "tx-b"})
		creates := f.bodies("CreateItem")
		if len(creates) != 2 || strings.Count(creates[1], "<t:CalendarItem>") != 1 ||
			!strings.Contains(creates[1], "ARE-4711") {
			t.Fatalf("sent %d CreateItem requests; the second should carry only ARE-4711", len(creates))
		}
		if got := s.got(); !slices.Equal(got, []time.Duration{800 * time.Millisecond}) {
			t.Errorf("pauses %v, want [800ms]", got)
		}
		if rs[0].Event.ID == "" || rs[1].Event.ID == "" {
			t.Errorf("results %+v, want both created", rs)
		}
	})
}

func TestStaleChangeKey(t *testing.T) {
	const mb = "tech1@example.com"
	for _, code := range []string{"ErrorIrresolvableConflict", "ErrorStaleObject", "ErrorChangeKeyRequiredForWriteOperations"} {
		t.Run(code, func(t *testing.T) {
			f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
				if op == "UpdateItem" && n == 1 {
					return fakeAnswer{status: 200, body: response(op, errorMessage(op, code, "stale"))}
				}
				return fakeAnswer{}
			}}
			ev := goldenEvent(t)
			ev.ID, ev.ChangeKey = "AAMk-1", "CK-old"
			rs := write(t, newFakeClient(t, AccessImpersonation, f, nil),
				exchange.Op{Kind: exchange.OpUpdate, Mailbox: mb, Event: ev})
			updates := f.bodies("UpdateItem")
			if len(updates) != 2 {
				t.Fatalf("sent %d UpdateItem requests, want 2 (one retry)", len(updates))
			}
			if !strings.Contains(updates[0], `ChangeKey="CK-old"`) || !strings.Contains(updates[1], `ChangeKey="DwAAAA-3"`) {
				t.Errorf("the retry did not carry the fresh change key from GetItem")
			}
			if f.count("GetItem") != 1 {
				t.Errorf("%d GetItem requests, want 1 for the fresh change key", f.count("GetItem"))
			}
			if rs[0].Event.ChangeKey != "DwAAAA-2" {
				t.Errorf("result change key %q, want the one the update returned", rs[0].Event.ChangeKey)
			}
		})
	}
	t.Run("stale twice", func(t *testing.T) {
		f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
			if op == "UpdateItem" {
				return fakeAnswer{status: 200, body: response(op, errorMessage(op, "ErrorIrresolvableConflict", "stale"))}
			}
			return fakeAnswer{}
		}}
		ev := goldenEvent(t)
		ev.ID = "AAMk-1"
		var rs []exchange.OpResult
		newFakeClient(t, AccessImpersonation, f, nil).Write(context.Background(),
			[]exchange.Op{{Kind: exchange.OpUpdate, Mailbox: mb, Event: ev}},
			func(r []exchange.OpResult) { rs = append(rs, r...) })
		if len(rs) != 1 || !errors.Is(rs[0].Err, exchange.ErrConflict) {
			t.Fatalf("results %+v, want one ErrConflict", rs)
		}
		if n := f.count("UpdateItem"); n != 2 {
			t.Errorf("%d UpdateItem requests, want exactly 2 (retried once)", n)
		}
	})
}

func TestCreateAfterDroppedConnection(t *testing.T) {
	const mb = "tech1@example.com"
	tests := []struct {
		name        string
		committed   bool // the server created the event before the connection dropped
		wantCreates int
	}{
		{"server committed the create", true, 1},
		{"server never saw the create", false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created := false
			f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
				switch {
				case op == "CreateItem" && n == 1:
					created = tt.committed
					return fakeAnswer{err: io.ErrUnexpectedEOF}
				case op == "FindItem" && created:
					return fakeAnswer{status: 200, body: response(op, okMessage(op,
						`<m:RootFolder TotalItemsInView="1" IncludesLastItemInRange="true"><t:Items>`+
							`<t:CalendarItem><t:ItemId Id="AAMk-dropped" ChangeKey="CK-d"/><t:ExtendedProperty>`+
							`<t:ExtendedFieldURI PropertySetId="6f3c1a52-8d4e-4b7a-9c2f-5e0d7b1a4c93" PropertyName="BookingId" PropertyType="String"/>`+
							`<t:Value>BES-10233</t:Value></t:ExtendedProperty></t:CalendarItem></t:Items></m:RootFolder>`))}
				}
				return fakeAnswer{}
			}}
			rs := write(t, newFakeClient(t, AccessImpersonation, f, nil),
				exchange.Op{Kind: exchange.OpCreate, Mailbox: mb, Event: goldenEvent(t), TransactionID: "tx"})
			if n := f.count("CreateItem"); n != tt.wantCreates {
				t.Errorf("%d CreateItem requests, want %d", n, tt.wantCreates)
			}
			if n := f.count("FindItem"); n != 2 {
				t.Errorf("%d FindItem requests, want 2 (before the create and after the dropped connection)", n)
			}
			wantID := "AAMk-new-0"
			if tt.committed {
				wantID = "AAMk-dropped"
			}
			if rs[0].Event.ID != wantID {
				t.Errorf("result id %q, want %q", rs[0].Event.ID, wantID)
			}
		})
	}
}

func TestDeleteOfMissingEventSucceeds(t *testing.T) {
	f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
		if op == "DeleteItem" {
			return fakeAnswer{status: 200, body: response(op, errorMessage(op, "ErrorItemNotFound", "gone"))}
		}
		return fakeAnswer{}
	}}
	rs := write(t, newFakeClient(t, AccessDelegate, f, nil), exchange.Op{Kind: exchange.OpDelete,
		Mailbox: "tech1@example.com", Event: exchange.Event{ID: "AAMk-gone"}})
	if rs[0].Err != nil || rs[0].Event.ID != "AAMk-gone" {
		t.Errorf("delete of a missing event: %+v, want success", rs[0])
	}
}

func TestReadChanges(t *testing.T) {
	w := goldenWindow()
	change := func(kind, id, start, end string) string {
		return `<t:` + kind + `><t:CalendarItem><t:ItemId Id="` + id + `" ChangeKey="CK"/><t:Start>` + start +
			`</t:Start><t:End>` + end + `</t:End></t:CalendarItem></t:` + kind + `>`
	}
	f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
		if op != "SyncFolderItems" {
			return fakeAnswer{}
		}
		// Two pages: the client must follow IncludesLastItemInRange=false.
		if n == 1 {
			return fakeAnswer{status: 200, body: response(op, okMessage(op, `<m:SyncState>page-2</m:SyncState>`+
				`<m:IncludesLastItemInRange>false</m:IncludesLastItemInRange><m:Changes>`+
				change("Create", "in-window", "2026-03-10T08:00:00Z", "2026-03-10T09:30:00Z")+
				change("Update", "moved-out", "2026-12-10T08:00:00Z", "2026-12-10T09:00:00Z")+
				change("Create", "created-then-deleted", "2026-03-11T08:00:00Z", "2026-03-11T09:00:00Z")+
				`</m:Changes>`))}
		}
		return fakeAnswer{status: 200, body: response(op, okMessage(op, `<m:SyncState>final</m:SyncState>`+
			`<m:IncludesLastItemInRange>true</m:IncludesLastItemInRange><m:Changes>`+
			`<t:Delete><t:ItemId Id="created-then-deleted" ChangeKey="CK"/></t:Delete>`+
			`<t:Delete><t:ItemId Id="deleted" ChangeKey="CK"/></t:Delete>`+
			`<t:ReadFlagChange><t:ItemId Id="in-window" ChangeKey="CK"/><t:IsRead>true</t:IsRead></t:ReadFlagChange>`+
			`</m:Changes>`))}
	}}
	res := read(t, newFakeClient(t, AccessImpersonation, f, nil), encodeCursor(w, "start"))
	if res.Full {
		t.Errorf("incremental read: Full = true")
	}
	if len(res.Events) != 1 || res.Events[0].ID != "in-window" || res.Events[0].BookingID != "BES-10233" {
		t.Errorf("events %+v, want just in-window with its booking id", res.Events)
	}
	slices.Sort(res.Removed)
	if want := []string{"created-then-deleted", "deleted", "moved-out"}; !slices.Equal(res.Removed, want) {
		t.Errorf("removed %v, want %v", res.Removed, want)
	}
	if state, ok := decodeCursor(res.Cursor, w); !ok || state != "final" {
		t.Errorf("cursor holds state %q (%v), want final", state, ok)
	}
	syncs := f.bodies("SyncFolderItems")
	if len(syncs) != 2 || !strings.Contains(syncs[1], "<m:SyncState>page-2</m:SyncState>") {
		t.Errorf("sent %d SyncFolderItems; the second should resume from page-2", len(syncs))
	}
	if gets := f.bodies("GetItem"); len(gets) != 1 || strings.Count(gets[0], "<t:ItemId ") != 1 {
		t.Errorf("GetItem requests %d; want one, for the in-window change only", len(gets))
	}
}

func TestReadInvalidSyncState(t *testing.T) {
	for _, shape := range []string{"message", "fault"} {
		t.Run(shape, func(t *testing.T) {
			f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
				if op == "SyncFolderItems" && strings.Contains(body, "<m:SyncState>stale</m:SyncState>") {
					if shape == "fault" {
						return fakeAnswer{status: 500, body: fault("ErrorInvalidSyncStateData", "invalid sync state", 0)}
					}
					return fakeAnswer{status: 200, body: response(op, errorMessage(op, "ErrorInvalidSyncStateData", "invalid"))}
				}
				if op == "FindItem" {
					return fakeAnswer{status: 200, body: response(op, okMessage(op,
						`<m:RootFolder TotalItemsInView="1" IncludesLastItemInRange="true"><t:Items>`+
							`<t:CalendarItem><t:ItemId Id="AAMk-1" ChangeKey="CK"/></t:CalendarItem></t:Items></m:RootFolder>`))}
				}
				return fakeAnswer{}
			}}
			res := read(t, newFakeClient(t, AccessImpersonation, f, nil), encodeCursor(goldenWindow(), "stale"))
			if !res.Full || len(res.Events) != 1 {
				t.Errorf("read with an invalid sync state: Full %v, %d events; want a full read with 1", res.Full,
					len(res.Events))
			}
			if state, _ := decodeCursor(res.Cursor, goldenWindow()); state != fakeSyncState {
				t.Errorf("new cursor holds %q, want the fresh state", state)
			}
		})
	}
}

func TestCalendarViewSplitsFullWindows(t *testing.T) {
	// A view that does not include its last item is read again in halves.
	f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
		if op == "FindItem" && n == 1 {
			return fakeAnswer{status: 200, body: response(op, okMessage(op,
				`<m:RootFolder TotalItemsInView="1000" IncludesLastItemInRange="false"><t:Items>`+
					`<t:CalendarItem><t:ItemId Id="AAMk-1" ChangeKey="CK"/></t:CalendarItem></t:Items></m:RootFolder>`))}
		}
		if op == "FindItem" {
			return fakeAnswer{status: 200, body: response(op, okMessage(op,
				`<m:RootFolder TotalItemsInView="1" IncludesLastItemInRange="true"><t:Items>`+
					`<t:CalendarItem><t:ItemId Id="AAMk-1" ChangeKey="CK"/></t:CalendarItem></t:Items></m:RootFolder>`))}
		}
		return fakeAnswer{}
	}}
	res := read(t, newFakeClient(t, AccessImpersonation, f, nil), "")
	if n := f.count("FindItem"); n != 3 {
		t.Errorf("%d FindItem requests, want 3 (the full view, then two halves)", n)
	}
	if len(res.Events) != 1 {
		t.Errorf("%d events, want the one event once", len(res.Events))
	}
}

func TestPerMailboxSerialises(t *testing.T) {
	// With PerMailbox 1, two reads of one mailbox never overlap, while another mailbox's read may run beside them.
	// The handshake cannot miss an overlap: the first request for a@example.com is held until either a second
	// request for that mailbox reaches the server (an overlap) or the client reports that a second call is waiting
	// for the mailbox's token (serialised). Both happen without the first one finishing, so no timing is involved.
	var mu sync.Mutex
	inFlight := map[string]int{}
	most := map[string]int{}
	queued := make(chan struct{})  // closed when a call for a@example.com waits for the mailbox's token
	arrived := make(chan struct{}) // closed when a second request for a@example.com reaches the server
	var queuedOnce, arrivedOnce sync.Once
	held := false
	f := &fakeEWS{}
	f.handle = func(op string, n int, body string) fakeAnswer {
		mb := strings.ToLower(mailboxRE.FindStringSubmatch(body)[1])
		mu.Lock()
		inFlight[mb]++
		most[mb] = max(most[mb], inFlight[mb])
		hold := mb == "a@example.com" && !held
		if mb == "a@example.com" {
			held = true
			if inFlight[mb] > 1 {
				arrivedOnce.Do(func() { close(arrived) })
			}
		}
		mu.Unlock()
		if hold {
			select {
			case <-queued:
			case <-arrived:
			}
		}
		mu.Lock()
		inFlight[mb]--
		mu.Unlock()
		return fakeAnswer{}
	}
	c := newFakeClient(t, AccessImpersonation, f, nil)
	c.slotWait = func(mb string) {
		if mb == "a@example.com" {
			queuedOnce.Do(func() { close(queued) })
		}
	}
	reqs := []exchange.ReadRequest{
		{Mailbox: "a@example.com", Window: goldenWindow()}, {Mailbox: "a@example.com", Window: goldenWindow()},
		{Mailbox: "A@example.com", Window: goldenWindow()}, {Mailbox: "b@example.com", Window: goldenWindow()},
	}
	res := c.Read(context.Background(), reqs)
	for i, r := range res {
		if r.Err != nil || r.Mailbox != reqs[i].Mailbox || !r.Full {
			t.Errorf("result %d: %+v, want a full read of %s", i, r, reqs[i].Mailbox)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if most["b@example.com"] != 1 {
		t.Errorf("b@example.com was never read")
	}
	if most["a@example.com"] != 1 {
		t.Errorf("requests for one mailbox overlapped (%d at once)", most["a@example.com"])
	}
	select {
	case <-queued:
	default:
		t.Errorf("no read of a@example.com waited for the mailbox while another was in flight")
	}
}

var mailboxRE = regexp.MustCompile(`<t:PrimarySmtpAddress>([^<]*)</t:PrimarySmtpAddress>`)

func TestOrRestrictionFallback(t *testing.T) {
	const mb = "tech1@example.com"
	f := &fakeEWS{handle: func(op string, n int, body string) fakeAnswer {
		if op == "FindItem" && strings.Contains(body, "<t:Or>") {
			return fakeAnswer{status: 200, body: response(op, errorMessage(op, "ErrorInvalidRestriction",
				"The restriction is not supported."))}
		}
		return fakeAnswer{}
	}}
	c := newFakeClient(t, AccessImpersonation, f, nil)
	ops := func(prefix string) []exchange.Op {
		a, b := goldenEvent(t), goldenEvent(t)
		a.BookingID, b.BookingID = prefix+"-1", prefix+"-2"
		return []exchange.Op{{Kind: exchange.OpCreate, Mailbox: mb, Event: a, TransactionID: a.BookingID},
			{Kind: exchange.OpCreate, Mailbox: mb, Event: b, TransactionID: b.BookingID}}
	}
	write(t, c, ops("A")...)
	if n := f.count("FindItem"); n != 3 {
		t.Errorf("first write: %d FindItem requests, want 3 (the refused Or, then one per booking)", n)
	}
	write(t, c, ops("B")...)
	if n := f.count("FindItem"); n != 5 {
		t.Errorf("after the second write: %d FindItem requests, want 5 (no second Or)", n)
	}
	if n := f.count("CreateItem"); n != 2 {
		t.Errorf("%d CreateItem requests, want 2", n)
	}
}
