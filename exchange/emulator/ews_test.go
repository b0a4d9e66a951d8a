package emulator

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-ntlmssp"

	"tfsync/exchange"
	"tfsync/exchange/emulator/emutest/testclock"
)

// These tests drive the EWS front over HTTPS with hand-written envelopes, the way Exchange would be driven, and
// read the answers with encoding/xml into a generic tree (not the front's own parser).

const (
	ewsUser       = `EXAMPLE\svc-tf`
	ewsPassword   = "S3cret!pw"
	ewsTech1      = "tech1@example.com"
	ewsTech2      = "tech2@example.com"
	ewsBookingSet = "c11ff724-aa03-4555-9952-8fa248a11c3e" // the examples' private property set
)

type ewsFixture struct {
	t     *testing.T
	em    *Emulator
	srv   *Server
	clock *testclock.Clock
}

func newEWSFixture(t *testing.T) *ewsFixture {
	t.Helper()
	f := &ewsFixture{t: t, clock: testclock.New(time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC))}
	f.em = New(Options{Now: f.clock.Now})
	f.em.AddMailbox(ewsTech1, MailboxOptions{})
	f.em.AddMailbox(ewsTech2, MailboxOptions{})
	f.em.AddEWSAccount(EWSAccount{Username: ewsUser, Password: ewsPassword, Impersonation: true})
	f.em.AddEWSAccount(EWSAccount{Username: "delegate@example.com", Password: "deleg8"})
	srv, err := Serve(f.em, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	f.srv = srv
	t.Cleanup(func() { srv.Close() })
	return f
}

// ewsDoc is a generic XML tree for reading answers.
type ewsDoc struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Kids    []ewsDoc   `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (d *ewsDoc) attr(name string) (string, bool) {
	for _, a := range d.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// all returns the descendants with the local name, in document order.
func (d *ewsDoc) all(local string) []*ewsDoc {
	var out []*ewsDoc
	for i := range d.Kids {
		k := &d.Kids[i]
		if k.XMLName.Local == local {
			out = append(out, k)
		}
		out = append(out, k.all(local)...)
	}
	return out
}

// first returns the first descendant with the local name, or nil.
func (d *ewsDoc) first(local string) *ewsDoc {
	if all := d.all(local); len(all) > 0 {
		return all[0]
	}
	return nil
}

// text returns the text of the first descendant with the local name; "<none>" when there is none.
func (d *ewsDoc) text(local string) string {
	if n := d.first(local); n != nil {
		return n.Text
	}
	return "<none>"
}

func (d *ewsDoc) kidNames() []string {
	var out []string
	for _, k := range d.Kids {
		out = append(out, k.XMLName.Local)
	}
	return out
}

type ewsReply struct {
	status int
	header http.Header
	body   string
	doc    *ewsDoc
}

// messages returns the response messages of an operation's answer.
func (r ewsReply) messages(t *testing.T, op string) []*ewsDoc {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body:\n%s", r.status, r.body)
	}
	if r.doc.first(op+"Response") == nil {
		t.Fatalf("no %sResponse in:\n%s", op, r.body)
	}
	return r.doc.all(op + "ResponseMessage")
}

// fault returns the fault code and the detail's ResponseCode.
func (r ewsReply) fault(t *testing.T) (faultcode, responseCode string) {
	t.Helper()
	if r.status != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 with a fault; body:\n%s", r.status, r.body)
	}
	if r.doc.first("Fault") == nil {
		t.Fatalf("no soap Fault in:\n%s", r.body)
	}
	return r.doc.text("faultcode"), r.doc.text("ResponseCode")
}

func ewsParseReply(t *testing.T, resp *http.Response) ewsReply {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	r := ewsReply{status: resp.StatusCode, header: resp.Header, body: string(b), doc: &ewsDoc{}}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
		if err := xml.Unmarshal(b, r.doc); err != nil {
			t.Fatalf("answer is not XML: %v\n%s", err, b)
		}
	}
	return r
}

// post sends an envelope with Basic credentials (none when user is "").
func (f *ewsFixture) post(user, pass, envelope string) ewsReply {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/EWS/Exchange.asmx", strings.NewReader(envelope))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("post: %v", err)
	}
	return ewsParseReply(f.t, resp)
}

// call sends an operation as the impersonating service account (impersonate "" for delegate access).
func (f *ewsFixture) call(impersonate, body string) ewsReply {
	f.t.Helper()
	return f.post(ewsUser, ewsPassword, ewsEnv(impersonate, body))
}

func ewsEnv(impersonate, body string) string {
	imp := ""
	if impersonate != "" {
		imp = `<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>` + impersonate +
			`</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`
	}
	return `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<soap:Header><t:RequestServerVersion Version="Exchange2013_SP1"/>` + imp + `
<t:TimeZoneContext><t:TimeZoneDefinition Id="W. Europe Standard Time"/></t:TimeZoneContext></soap:Header>
<soap:Body>` + body + `</soap:Body></soap:Envelope>`
}

func ewsFolder(mailbox string) string {
	if mailbox == "" {
		return `<t:DistinguishedFolderId Id="calendar"/>`
	}
	return `<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>` + mailbox +
		`</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>`
}

func ewsBookingProp(value string) string {
	return `<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="` + ewsBookingSet +
		`" PropertyName="BookingId" PropertyType="String"/><t:Value>` + value + `</t:Value></t:ExtendedProperty>`
}

const ewsBookingURI = `<t:ExtendedFieldURI PropertySetId="` + ewsBookingSet +
	`" PropertyName="BookingId" PropertyType="String"/>`

func ewsCreateBody(mailbox, subject, booking, start, end string) string {
	return `<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>` + ewsFolder(mailbox) +
		`</m:SavedItemFolderId><m:Items><t:CalendarItem><t:Subject>` + subject + `</t:Subject>` +
		`<t:Body BodyType="HTML">&lt;p&gt;` + subject + `&lt;/p&gt;</t:Body><t:ReminderIsSet>true</t:ReminderIsSet>` +
		`<t:ReminderMinutesBeforeStart>30</t:ReminderMinutesBeforeStart>` + ewsBookingProp(booking) +
		`<t:Start>` + start + `</t:Start><t:End>` + end + `</t:End><t:IsAllDayEvent>false</t:IsAllDayEvent>` +
		`<t:LegacyFreeBusyStatus>Busy</t:LegacyFreeBusyStatus><t:Location>Plant room</t:Location>` +
		`<t:StartTimeZone Id="W. Europe Standard Time"/><t:EndTimeZone Id="W. Europe Standard Time"/>` +
		`</t:CalendarItem></m:Items></m:CreateItem>`
}

// create makes an event through the front and returns its id and change key.
func (f *ewsFixture) create(mailbox, subject, booking, start, end string) (id, changeKey string) {
	f.t.Helper()
	msgs := f.call(mailbox, ewsCreateBody(mailbox, subject, booking, start, end)).messages(f.t, "CreateItem")
	if len(msgs) != 1 || ewsClass(msgs[0]) != "Success" {
		f.t.Fatalf("create %s: %+v", subject, msgs)
	}
	item := msgs[0].first("ItemId")
	id, _ = item.attr("Id")
	changeKey, _ = item.attr("ChangeKey")
	if id == "" || changeKey == "" {
		f.t.Fatalf("create %s: no ItemId Id and ChangeKey", subject)
	}
	return id, changeKey
}

func ewsClass(m *ewsDoc) string {
	c, _ := m.attr("ResponseClass")
	return c
}

// ewsCode is a response message's class and code, e.g. "Error ErrorItemNotFound".
func ewsCode(m *ewsDoc) string { return ewsClass(m) + " " + m.text("ResponseCode") }

func ewsGetBody(shape string, ids ...string) string {
	var b strings.Builder
	b.WriteString(`<m:GetItem><m:ItemShape>` + shape + `</m:ItemShape><m:ItemIds>`)
	for _, id := range ids {
		b.WriteString(`<t:ItemId Id="` + id + `"/>`)
	}
	b.WriteString(`</m:ItemIds></m:GetItem>`)
	return b.String()
}

func TestEWSChallenge(t *testing.T) {
	f := newEWSFixture(t)
	r := f.post("", "", ewsEnv(ewsTech1, ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, "x")))
	if r.status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", r.status)
	}
	got := r.header.Values("WWW-Authenticate")
	if len(got) != 3 || got[0] != "Negotiate" || got[1] != "NTLM" || !strings.HasPrefix(got[2], `Basic realm="`) {
		t.Errorf("WWW-Authenticate = %q, want Negotiate, NTLM, Basic realm=...", got)
	}
	if n := f.em.Requests(ewsTech1); n != 0 {
		t.Errorf("an unauthenticated request was counted for the mailbox (%d)", n)
	}
}

func TestEWSBasicAuth(t *testing.T) {
	f := newEWSFixture(t)
	tests := []struct {
		name, user, pass string
		want             int
	}{
		{"domain form", ewsUser, ewsPassword, http.StatusOK},
		{"domain in other case", `example\SVC-TF`, ewsPassword, http.StatusOK},
		{"upn form", "svc-tf@example.com", ewsPassword, http.StatusOK},
		{"upn account by upn", "delegate@example.com", "deleg8", http.StatusOK},
		{"upn account by domain form", `EXAMPLE\delegate`, "deleg8", http.StatusOK},
		{"wrong password", ewsUser, "wrong", http.StatusUnauthorized},
		{"password case matters", ewsUser, strings.ToUpper(ewsPassword), http.StatusUnauthorized},
		{"other domain", `OTHER\svc-tf`, ewsPassword, http.StatusUnauthorized},
		{"unknown user", `EXAMPLE\nobody`, ewsPassword, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.post(tt.user, tt.pass, ewsEnv("", ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, "nope")))
			if r.status != tt.want {
				t.Fatalf("status %d, want %d; body:\n%s", r.status, tt.want, r.body)
			}
			if tt.want == http.StatusUnauthorized && len(r.header.Values("WWW-Authenticate")) != 3 {
				t.Errorf("a refused login must be challenged again, got %q", r.header.Values("WWW-Authenticate"))
			}
		})
	}
}

func TestEWSWrongMethodAndContentType(t *testing.T) {
	f := newEWSFixture(t)
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/EWS/Exchange.asmx", nil)
	req.SetBasicAuth(ewsUser, ewsPassword)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, f.srv.URL+"/EWS/Exchange.asmx",
		strings.NewReader(ewsEnv(ewsTech1, ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, "x"))))
	req.SetBasicAuth(ewsUser, ewsPassword)
	req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	resp, err = f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("SOAP 1.2 content type: status %d, want 415", resp.StatusCode)
	}
}

func TestEWSEnvelopeFaults(t *testing.T) {
	f := newEWSFixture(t)
	get := ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, "x")
	tests := []struct {
		name, envelope     string
		wantFaultcode      string
		wantResponseCode   string
		wantViolationMatch string
	}{
		{"not xml", "this is not xml", "a:ErrorSchemaValidation", "ErrorSchemaValidation", "not well-formed"},
		{"https envelope namespace", strings.Replace(ewsEnv(ewsTech1, get), "http://schemas.xmlsoap.org",
			"https://schemas.xmlsoap.org", 1), "s:VersionMismatch", "ErrorInvalidRequest", ""},
		{"unknown operation", ewsEnv(ewsTech1, `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>`+
			`</m:FolderShape><m:FolderIds>`+ewsFolder("")+`</m:FolderIds></m:GetFolder>`),
			"a:ErrorInvalidRequest", "ErrorInvalidRequest", ""},
		{"no RequestServerVersion", strings.Replace(ewsEnv(ewsTech1, get),
			`<t:RequestServerVersion Version="Exchange2013_SP1"/>`, "", 1),
			"a:ErrorInvalidServerVersion", "ErrorInvalidServerVersion", ""},
		{"unknown server version", strings.Replace(ewsEnv(ewsTech1, get), "Exchange2013_SP1", "Exchange2099", 1),
			"a:ErrorInvalidServerVersion", "ErrorInvalidServerVersion", ""},
		{"two operations", ewsEnv(ewsTech1, get+get), "a:ErrorSchemaValidation", "ErrorSchemaValidation",
			"exactly one operation"},
		{"unknown time zone context", strings.Replace(ewsEnv(ewsTech1, get), "W. Europe Standard Time",
			"Atlantis Time", 1), "a:ErrorTimeZone", "ErrorTimeZone", ""},
		{"CalendarItem out of schema order", ewsEnv(ewsTech1, `<m:CreateItem SendMeetingInvitations="SendToNone">`+
			`<m:Items><t:CalendarItem><t:Start>2026-03-29T07:00:00Z</t:Start><t:Subject>late</t:Subject>`+
			`</t:CalendarItem></m:Items></m:CreateItem>`), "a:ErrorSchemaValidation", "ErrorSchemaValidation",
			"invalid child element 'Subject'"},
		{"bad boolean", ewsEnv(ewsTech1, `<m:CreateItem SendMeetingInvitations="SendToNone"><m:Items>`+
			`<t:CalendarItem><t:ReminderIsSet>yes</t:ReminderIsSet></t:CalendarItem></m:Items></m:CreateItem>`),
			"a:ErrorSchemaValidation", "ErrorSchemaValidation", "ReminderIsSet"},
		{"bad ConflictResolution", ewsEnv(ewsTech1, `<m:UpdateItem ConflictResolution="Sometimes" `+
			`SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange><t:ItemId Id="x"/>`+
			`<t:Updates><t:DeleteItemField><t:FieldURI FieldURI="calendar:Location"/></t:DeleteItemField>`+
			`</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`),
			"a:ErrorSchemaValidation", "ErrorSchemaValidation", "ConflictResolution"},
		{"FindItem without Traversal", ewsEnv(ewsTech1, `<m:FindItem><m:ItemShape><t:BaseShape>IdOnly`+
			`</t:BaseShape></m:ItemShape><m:ParentFolderIds>`+ewsFolder(ewsTech1)+`</m:ParentFolderIds></m:FindItem>`),
			"a:ErrorSchemaValidation", "ErrorSchemaValidation", "Traversal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.post(ewsUser, ewsPassword, tt.envelope)
			fc, rc := r.fault(t)
			if fc != tt.wantFaultcode || rc != tt.wantResponseCode {
				t.Errorf("fault %s / %s, want %s / %s", fc, rc, tt.wantFaultcode, tt.wantResponseCode)
			}
			if tt.wantViolationMatch != "" && !strings.Contains(r.doc.text("faultstring"), tt.wantViolationMatch) {
				t.Errorf("faultstring %q does not mention %q", r.doc.text("faultstring"), tt.wantViolationMatch)
			}
		})
	}
}

// TestEWSSchemaExamples sends the shared example envelopes: the good ones are accepted (HTTP 200 with their
// operation's response), the bad ones refused with the fault Exchange's schema validation gives.
func TestEWSSchemaExamples(t *testing.T) {
	f := newEWSFixture(t)
	tests := []struct {
		file      string
		op        string // the response for a good example
		wantCode  string // the first message's class and code
		faultcode string // for a bad example
	}{
		{file: "create.xml", op: "CreateItem", wantCode: "Success NoError"},
		{file: "find.xml", op: "FindItem", wantCode: "Success NoError"},
		{file: "get.xml", op: "GetItem", wantCode: "Error ErrorItemNotFound"},
		{file: "update.xml", op: "UpdateItem", wantCode: "Error ErrorItemNotFound"},
		{file: "delete.xml", op: "DeleteItem", wantCode: "Error ErrorItemNotFound"},
		{file: "sync.xml", op: "SyncFolderItems", wantCode: "Error ErrorInvalidSyncStateData"},
		{file: "bad-header.xml", faultcode: "a:ErrorSchemaValidation"},
		{file: "bad-https.xml", faultcode: "s:VersionMismatch"},
		{file: "bad-max.xml", faultcode: "a:ErrorSchemaValidation"},
		{file: "bad-nodeletetype.xml", faultcode: "a:ErrorSchemaValidation"},
		{file: "bad-order.xml", faultcode: "a:ErrorSchemaValidation"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "ews", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			r := f.post(ewsUser, ewsPassword, string(b))
			if tt.faultcode != "" {
				if fc, _ := r.fault(t); fc != tt.faultcode {
					t.Errorf("faultcode %s, want %s", fc, tt.faultcode)
				}
				return
			}
			msgs := r.messages(t, tt.op)
			if len(msgs) == 0 || ewsCode(msgs[0]) != tt.wantCode {
				t.Fatalf("got %v, want %s:\n%s", ewsCodes(msgs), tt.wantCode, r.body)
			}
		})
	}
}

func ewsCodes(msgs []*ewsDoc) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, ewsCode(m))
	}
	return out
}

// TestEWSCreateAndGet creates the shared example's item and reads it back with every property.
func TestEWSCreateAndGet(t *testing.T) {
	f := newEWSFixture(t)
	b, err := os.ReadFile(filepath.Join("testdata", "ews", "create.xml"))
	if err != nil {
		t.Fatal(err)
	}
	msgs := f.post(ewsUser, ewsPassword, string(b)).messages(t, "CreateItem")
	if got := ewsCodes(msgs); len(got) != 1 || got[0] != "Success NoError" {
		t.Fatalf("create: %v", got)
	}
	if names := msgs[0].kidNames(); strings.Join(names, ",") != "ResponseCode,Items" {
		t.Errorf("CreateItemResponseMessage children %v, want ResponseCode, Items", names)
	}
	id, _ := msgs[0].first("ItemId").attr("Id")

	raw := f.em.RawEvents(ewsTech1)
	if len(raw) != 1 {
		t.Fatalf("stored %d events, want 1", len(raw))
	}
	d := raw[0]
	if got := d.ExtProps[MakePropKey(ewsBookingSet, "BookingId")]; got != "4711" {
		t.Errorf("private booking property %q, want 4711", got)
	}
	if got := d.ExtProps[MakePropKey("00020329-0000-0000-C000-000000000046", "BookingId")]; got != "4711" {
		t.Errorf("PublicStrings booking property %q, want 4711", got)
	}
	if d.Sensitivity != "private" || d.BodyType != "text" || d.ReminderOn || d.ShowAs != exchange.ShowBusy ||
		d.TimeZone != "W. Europe Standard Time" || len(d.Categories) != 1 {
		t.Errorf("stored %+v", d)
	}

	shape := `<t:BaseShape>AllProperties</t:BaseShape><t:AdditionalProperties>` + ewsBookingURI +
		`</t:AdditionalProperties>`
	msgs = f.call(ewsTech1, ewsGetBody(shape, id)).messages(t, "GetItem")
	if got := ewsCodes(msgs); len(got) != 1 || got[0] != "Success NoError" {
		t.Fatalf("get: %v", got)
	}
	item := msgs[0].first("CalendarItem")
	want := map[string]string{
		"Subject": "Boiler service - Smith", "Sensitivity": "Private", "Body": "Booking 4711",
		"ReminderIsSet": "false", "Start": "2025-03-10T08:00:00Z", "End": "2025-03-10T10:00:00Z",
		"IsAllDayEvent": "false", "LegacyFreeBusyStatus": "Busy", "Location": "12 High St", "Value": "4711",
		"ItemClass": "IPM.Appointment", "CalendarItemType": "Single", "String": "Booking",
		"DateTimeCreated": "2026-03-20T09:00:00Z",
	}
	for name, v := range want {
		if got := item.text(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	if bt, _ := item.first("Body").attr("BodyType"); bt != "Text" {
		t.Errorf("Body BodyType %q, want Text", bt)
	}
	if tz, _ := item.first("StartTimeZone").attr("Id"); tz != "W. Europe Standard Time" {
		t.Errorf("StartTimeZone Id %q", tz)
	}
	if set, _ := item.first("ExtendedFieldURI").attr("PropertySetId"); set != ewsBookingSet {
		t.Errorf("ExtendedFieldURI echoes PropertySetId %q, want %q", set, ewsBookingSet)
	}
	// Elements must come in the schema's order, as a strict client's parser may expect.
	ewsAssertOrder(t, item)

	// IdOnly returns the id alone; Default a few properties but no body.
	for _, tt := range []struct {
		base     string
		wantKids string
	}{
		{"IdOnly", "ItemId"},
		{"Default", "ItemId,Subject,Start,End,LegacyFreeBusyStatus,Location,CalendarItemType"},
	} {
		msgs := f.call(ewsTech1, ewsGetBody(`<t:BaseShape>`+tt.base+`</t:BaseShape>`, id)).messages(t, "GetItem")
		if got := strings.Join(msgs[0].first("CalendarItem").kidNames(), ","); got != tt.wantKids {
			t.Errorf("%s shape: %s, want %s", tt.base, got, tt.wantKids)
		}
	}
}

func ewsAssertOrder(t *testing.T, item *ewsDoc) {
	t.Helper()
	last := -1
	for _, name := range item.kidNames() {
		idx := -1
		for i, n := range ewsItemOrder {
			if n == name {
				idx = i
			}
		}
		if idx < 0 || idx < last || (idx == last && name != "ExtendedProperty") {
			t.Errorf("CalendarItem children out of schema order: %v", item.kidNames())
			return
		}
		last = idx
	}
}

func TestEWSGetSeveral(t *testing.T) {
	f := newEWSFixture(t)
	id1, _ := f.create(ewsTech1, "One", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	id2, _ := f.create(ewsTech2, "Two", "B-2", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	tests := []struct {
		name, impersonate string
		ids               []string
		want              []string
	}{
		{"one found one missing", ewsTech1, []string{id1, "AAMkAD="},
			[]string{"Success NoError", "Error ErrorItemNotFound"}},
		{"another mailbox's item under impersonation", ewsTech1, []string{id2},
			[]string{"Error ErrorItemNotFound"}},
		{"delegate reads items of two mailboxes", "", []string{id1, id2},
			[]string{"Success NoError", "Success NoError"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := f.call(tt.impersonate, ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, tt.ids...)).
				messages(t, "GetItem")
			if got := ewsCodes(msgs); strings.Join(got, ";") != strings.Join(tt.want, ";") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func ewsUpdateBody(resolution, sendAttr, id, changeKey, updates string) string {
	ck := ""
	if changeKey != "" {
		ck = ` ChangeKey="` + changeKey + `"`
	}
	return `<m:UpdateItem ConflictResolution="` + resolution + `"` + sendAttr + `><m:ItemChanges><t:ItemChange>` +
		`<t:ItemId Id="` + id + `"` + ck + `/><t:Updates>` + updates + `</t:Updates></t:ItemChange></m:ItemChanges>` +
		`</m:UpdateItem>`
}

const ewsSendNone = ` SendMeetingInvitationsOrCancellations="SendToNone"`

func ewsSetField(uri, element string) string {
	return `<t:SetItemField><t:FieldURI FieldURI="` + uri + `"/><t:CalendarItem>` + element +
		`</t:CalendarItem></t:SetItemField>`
}

func TestEWSUpdate(t *testing.T) {
	f := newEWSFixture(t)
	move := ewsSetField("calendar:Start", "<t:Start>2026-03-29T09:00:00Z</t:Start>") +
		ewsSetField("calendar:End", "<t:End>2026-03-29T10:30:00Z</t:End>")
	tests := []struct {
		name       string
		body       func(id, ck string) string
		want       string
		check      func(t *testing.T, d EventData)
		staleFirst bool // edit the event as a user first, so the change key sent is stale
	}{
		{name: "move with the current change key", want: "Success NoError",
			body: func(id, ck string) string { return ewsUpdateBody("AutoResolve", ewsSendNone, id, ck, move) },
			check: func(t *testing.T, d EventData) {
				if !d.Start.Equal(time.Date(2026, 3, 29, 9, 0, 0, 0, time.UTC)) ||
					!d.End.Equal(time.Date(2026, 3, 29, 10, 30, 0, 0, time.UTC)) {
					t.Errorf("times %s - %s", d.Start, d.End)
				}
			}},
		// MS-OXWSCORE 3.1.4.9.4.1: AutoResolve resolves the conflict itself; only NeverOverwrite fails.
		{name: "stale change key with AutoResolve", want: "Success NoError", staleFirst: true,
			body: func(id, ck string) string { return ewsUpdateBody("AutoResolve", ewsSendNone, id, ck, move) }},
		{name: "stale change key with NeverOverwrite", want: "Error ErrorIrresolvableConflict", staleFirst: true,
			body: func(id, ck string) string { return ewsUpdateBody("NeverOverwrite", ewsSendNone, id, ck, move) }},
		{name: "stale change key with AlwaysOverwrite", want: "Success NoError", staleFirst: true,
			body: func(id, ck string) string { return ewsUpdateBody("AlwaysOverwrite", ewsSendNone, id, ck, move) }},
		{name: "no change key with AutoResolve", want: "Error ErrorChangeKeyRequiredForWriteOperations",
			body: func(id, ck string) string { return ewsUpdateBody("AutoResolve", ewsSendNone, id, "", move) }},
		{name: "no SendMeetingInvitationsOrCancellations",
			want: "Error ErrorSendMeetingInvitationsOrCancellationsRequired",
			body: func(id, ck string) string { return ewsUpdateBody("AlwaysOverwrite", "", id, ck, move) }},
		{name: "start moved past the end", want: "Error ErrorCalendarEndDateIsEarlierThanStartDate",
			body: func(id, ck string) string {
				return ewsUpdateBody("AlwaysOverwrite", ewsSendNone, id, ck,
					ewsSetField("calendar:Start", "<t:Start>2026-03-30T09:00:00Z</t:Start>"))
			}},
		{name: "set field mismatching its path", want: "Error ErrorUpdatePropertyMismatch",
			body: func(id, ck string) string {
				return ewsUpdateBody("AlwaysOverwrite", ewsSendNone, id, ck,
					ewsSetField("item:Subject", "<t:Location>elsewhere</t:Location>"))
			}},
		{name: "set field with two properties", want: "Error ErrorIncorrectUpdatePropertyCount",
			body: func(id, ck string) string {
				return ewsUpdateBody("AlwaysOverwrite", ewsSendNone, id, ck,
					ewsSetField("item:Subject", "<t:Subject>a</t:Subject><t:Location>b</t:Location>"))
			}},
		{name: "subject, body, show as, reminder and booking id", want: "Success NoError",
			body: func(id, ck string) string {
				return ewsUpdateBody("AlwaysOverwrite", ewsSendNone, id, ck,
					ewsSetField("item:Subject", "<t:Subject>Renamed</t:Subject>")+
						ewsSetField("item:Body", `<t:Body BodyType="Text">plain</t:Body>`)+
						ewsSetField("calendar:LegacyFreeBusyStatus", "<t:LegacyFreeBusyStatus>OOF</t:LegacyFreeBusyStatus>")+
						ewsSetField("item:ReminderIsSet", "<t:ReminderIsSet>false</t:ReminderIsSet>")+
						`<t:SetItemField>`+ewsBookingURI+`<t:CalendarItem>`+ewsBookingProp("B-99")+
						`</t:CalendarItem></t:SetItemField>`)
			},
			check: func(t *testing.T, d EventData) {
				if d.Subject != "Renamed" || d.Body != "plain" || d.BodyType != "text" || d.ShowAs != exchange.ShowOOF ||
					d.ReminderOn || d.ExtProps[MakePropKey(ewsBookingSet, "BookingId")] != "B-99" {
					t.Errorf("stored %+v", d)
				}
			}},
		{name: "delete location and booking id", want: "Success NoError",
			body: func(id, ck string) string {
				return ewsUpdateBody("AlwaysOverwrite", ewsSendNone, id, ck,
					`<t:DeleteItemField><t:FieldURI FieldURI="calendar:Location"/></t:DeleteItemField>`+
						`<t:DeleteItemField>`+ewsBookingURI+`</t:DeleteItemField>`)
			},
			check: func(t *testing.T, d EventData) {
				if d.Location != "" || len(d.ExtProps) != 0 {
					t.Errorf("stored location %q, props %v", d.Location, d.ExtProps)
				}
			}},
		{name: "delete the start", want: "Error ErrorInvalidPropertyDelete",
			body: func(id, ck string) string {
				return ewsUpdateBody("AlwaysOverwrite", ewsSendNone, id, ck,
					`<t:DeleteItemField><t:FieldURI FieldURI="calendar:Start"/></t:DeleteItemField>`)
			}},
		{name: "missing item", want: "Error ErrorItemNotFound",
			body: func(id, ck string) string { return ewsUpdateBody("AlwaysOverwrite", ewsSendNone, "AAMkAD=", "", move) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ck := f.create(ewsTech1, "Service", fmt.Sprint("B-", i), "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
			if tt.staleFirst {
				if err := f.em.EditSubject(ewsTech1, id, "edited in Outlook"); err != nil {
					t.Fatal(err)
				}
			}
			msgs := f.call(ewsTech1, tt.body(id, ck)).messages(t, "UpdateItem")
			if got := ewsCodes(msgs); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("got %v, want %s", got, tt.want)
			}
			if tt.want == "Success NoError" {
				newCK, _ := msgs[0].first("ItemId").attr("ChangeKey")
				if newCK == "" || newCK == ck {
					t.Errorf("change key after update %q (before %q): want a new one", newCK, ck)
				}
				if msgs[0].text("Count") != "0" {
					t.Errorf("ConflictResults Count %q, want 0", msgs[0].text("Count"))
				}
			}
			if tt.check != nil {
				d, err := f.em.getEvent(ewsTech1, id)
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, d)
			}
		})
	}
}

func TestEWSDelete(t *testing.T) {
	f := newEWSFixture(t)
	id, _ := f.create(ewsTech1, "Doomed", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	del := func(attrs, id string) ewsReply {
		return f.call(ewsTech1, `<m:DeleteItem`+attrs+`><m:ItemIds><t:ItemId Id="`+id+`"/></m:ItemIds></m:DeleteItem>`)
	}
	if got := ewsCodes(del(` DeleteType="HardDelete"`, id).messages(t, "DeleteItem")); got[0] !=
		"Error ErrorSendMeetingCancellationsRequired" {
		t.Errorf("without SendMeetingCancellations: %v", got)
	}
	if fc, _ := del(` SendMeetingCancellations="SendToNone"`, id).fault(t); fc != "a:ErrorSchemaValidation" {
		t.Errorf("without DeleteType: fault %s", fc)
	}
	msgs := del(` DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToNone"`, id).messages(t, "DeleteItem")
	if got := ewsCodes(msgs); got[0] != "Success NoError" {
		t.Fatalf("delete: %v", got)
	}
	if n := len(f.em.RawEvents(ewsTech1)); n != 0 {
		t.Errorf("%d events left after delete", n)
	}
	msgs = del(` DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToNone"`, id).messages(t, "DeleteItem")
	if got := ewsCodes(msgs); got[0] != "Error ErrorItemNotFound" {
		t.Errorf("second delete: %v", got)
	}
}

func ewsFindBody(mailbox, shape, view, restriction string) string {
	return `<m:FindItem Traversal="Shallow"><m:ItemShape>` + shape + `</m:ItemShape>` + view + restriction +
		`<m:ParentFolderIds>` + ewsFolder(mailbox) + `</m:ParentFolderIds></m:FindItem>`
}

// ewsIsBooking is the IsEqualTo that finds items by booking id.
func ewsIsBooking(v string) string {
	return `<t:IsEqualTo>` + ewsBookingURI + `<t:FieldURIOrConstant><t:Constant Value="` + v +
		`"/></t:FieldURIOrConstant></t:IsEqualTo>`
}

func TestEWSFindItem(t *testing.T) {
	f := newEWSFixture(t)
	idA, _ := f.create(ewsTech1, "A", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	idB, _ := f.create(ewsTech1, "B", "B-2", "2026-03-30T07:00:00Z", "2026-03-30T08:00:00Z")
	idC, _ := f.create(ewsTech1, "C", "B-1", "2027-06-01T07:00:00Z", "2027-06-01T08:00:00Z")
	shape := `<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="calendar:Start"/>` +
		ewsBookingURI + `</t:AdditionalProperties>`
	view := func(attrs string) string { return `<m:CalendarView` + attrs + `/>` }
	byBooking := func(v string) string { return `<m:Restriction>` + ewsIsBooking(v) + `</m:Restriction>` }
	byBookings := func(exprs ...string) string {
		return `<m:Restriction><t:Or>` + strings.Join(exprs, "") + `</t:Or></m:Restriction>`
	}
	paged := func(max, offset int) string {
		return fmt.Sprintf(`<m:IndexedPageItemView MaxEntriesReturned="%d" Offset="%d" BasePoint="Beginning"/>`,
			max, offset)
	}
	tests := []struct {
		name         string
		body         string
		want         string
		wantIDs      []string
		wantTotal    string
		wantIncludes string
	}{
		{name: "calendar view", want: "Success NoError", wantIDs: []string{idA, idB}, wantTotal: "2",
			wantIncludes: "true",
			body: ewsFindBody(ewsTech1, shape,
				view(` StartDate="2026-03-29T00:00:00Z" EndDate="2026-04-01T00:00:00Z"`), "")},
		{name: "calendar view capped by MaxEntriesReturned", want: "Success NoError", wantIDs: []string{idA},
			wantTotal: "2", wantIncludes: "false",
			body: ewsFindBody(ewsTech1, shape, view(` MaxEntriesReturned="1" StartDate="2026-03-29T00:00:00Z" `+
				`EndDate="2026-04-01T00:00:00Z"`), "")},
		{name: "calendar view in the request's time zone", want: "Success NoError", wantIDs: []string{idA},
			wantTotal: "1", wantIncludes: "true",
			// 08:30 W. Europe summer time is 06:30Z, 09:30 is 07:30Z: A (07:00Z-08:00Z) overlaps.
			body: ewsFindBody(ewsTech1, shape, view(` StartDate="2026-03-29T08:30:00" EndDate="2026-03-29T09:30:00"`), "")},
		{name: "calendar view over two years", want: "Error ErrorCalendarViewRangeTooBig",
			body: ewsFindBody(ewsTech1, shape, view(` StartDate="2026-01-01T00:00:00Z" EndDate="2028-01-02T00:00:00Z"`), "")},
		{name: "calendar view ending before it starts", want: "Error ErrorCalendarEndDateIsEarlierThanStartDate",
			body: ewsFindBody(ewsTech1, shape, view(` StartDate="2026-05-01T00:00:00Z" EndDate="2026-04-01T00:00:00Z"`), "")},
		{name: "find by booking id in any time range", want: "Success NoError", wantIDs: []string{idA, idC},
			wantTotal: "2", wantIncludes: "true", body: ewsFindBody(ewsTech1, shape, "", byBooking("B-1"))},
		{name: "find by booking id with a paged view", want: "Success NoError", wantIDs: []string{idC},
			wantTotal: "2", wantIncludes: "true",
			body: ewsFindBody(ewsTech1, shape, `<m:IndexedPageItemView MaxEntriesReturned="10" Offset="1" `+
				`BasePoint="Beginning"/>`, byBooking("B-1"))},
		{name: "find by booking id paged from the end", want: "Success NoError", wantIDs: []string{idC},
			wantTotal: "2", wantIncludes: "false",
			body: ewsFindBody(ewsTech1, shape, `<m:IndexedPageItemView MaxEntriesReturned="1" Offset="0" `+
				`BasePoint="End"/>`, byBooking("B-1"))},
		{name: "find by unknown booking id", want: "Success NoError", wantTotal: "0", wantIncludes: "true",
			body: ewsFindBody(ewsTech1, shape, "", byBooking("B-404"))},
		{name: "restriction with a calendar view", want: "Error ErrorInvalidRestriction",
			body: ewsFindBody(ewsTech1, shape, view(` StartDate="2026-03-29T00:00:00Z" EndDate="2026-04-01T00:00:00Z"`),
				byBooking("B-1"))},
		{name: "Or of booking ids", want: "Success NoError", wantIDs: []string{idA, idB, idC}, wantTotal: "3",
			wantIncludes: "true",
			body:         ewsFindBody(ewsTech1, shape, "", byBookings(ewsIsBooking("B-2"), ewsIsBooking("B-1")))},
		{name: "Or with an unknown and a repeated id", want: "Success NoError", wantIDs: []string{idB},
			wantTotal: "1", wantIncludes: "true",
			body: ewsFindBody(ewsTech1, shape, paged(10, 0),
				byBookings(ewsIsBooking("B-2"), ewsIsBooking("B-404"), ewsIsBooking("B-2")))},
		{name: "Or of one id", want: "Success NoError", wantIDs: []string{idB}, wantTotal: "1", wantIncludes: "true",
			body: ewsFindBody(ewsTech1, shape, "", byBookings(ewsIsBooking("B-2")))},
		{name: "nested Or", want: "Success NoError", wantIDs: []string{idA, idB, idC}, wantTotal: "3",
			wantIncludes: "true",
			body: ewsFindBody(ewsTech1, shape, "", byBookings(ewsIsBooking("B-1"),
				`<t:Or>`+ewsIsBooking("B-404")+ewsIsBooking("B-2")+`</t:Or>`))},
		{name: "Or paged", want: "Success NoError", wantIDs: []string{idB, idC}, wantTotal: "3", wantIncludes: "true",
			body: ewsFindBody(ewsTech1, shape, paged(2, 1), byBookings(ewsIsBooking("B-1"), ewsIsBooking("B-2")))},
		{name: "Or with a calendar view", want: "Error ErrorInvalidRestriction",
			body: ewsFindBody(ewsTech1, shape, view(` StartDate="2026-03-29T00:00:00Z" EndDate="2026-04-01T00:00:00Z"`),
				byBookings(ewsIsBooking("B-1"), ewsIsBooking("B-2")))},
		{name: "Or holding an And", want: "Error ErrorInvalidRestriction",
			body: ewsFindBody(ewsTech1, shape, "", byBookings(ewsIsBooking("B-1"),
				`<t:And>`+ewsIsBooking("B-2")+ewsIsBooking("B-1")+`</t:And>`))},
		{name: "body in FindItem", want: "Error ErrorInvalidPropertyRequest",
			body: ewsFindBody(ewsTech1, `<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>`+
				`<t:FieldURI FieldURI="item:Body"/></t:AdditionalProperties>`, "", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := f.call(ewsTech1, tt.body).messages(t, "FindItem")
			if got := ewsCodes(msgs); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("got %v, want %s", got, tt.want)
			}
			if tt.want != "Success NoError" {
				return
			}
			root := msgs[0].first("RootFolder")
			total, _ := root.attr("TotalItemsInView")
			includes, _ := root.attr("IncludesLastItemInRange")
			if total != tt.wantTotal || includes != tt.wantIncludes {
				t.Errorf("TotalItemsInView %s IncludesLastItemInRange %s, want %s %s", total, includes,
					tt.wantTotal, tt.wantIncludes)
			}
			var ids []string
			for _, it := range root.all("CalendarItem") {
				id, _ := it.first("ItemId").attr("Id")
				ids = append(ids, id)
				if it.text("Value") == "<none>" || it.text("Start") == "<none>" {
					t.Errorf("item %s lacks the requested booking id or start: %v", id, it.kidNames())
				}
			}
			if strings.Join(ids, ",") != strings.Join(tt.wantIDs, ",") {
				t.Errorf("items %v, want %v", ids, tt.wantIDs)
			}
		})
	}
}

func ewsSyncBody(mailbox, state string, max int) string {
	st := ""
	if state != "" {
		st = `<m:SyncState>` + state + `</m:SyncState>`
	}
	return `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>` +
		`<t:FieldURI FieldURI="calendar:Start"/><t:FieldURI FieldURI="calendar:End"/>` +
		`<t:FieldURI FieldURI="calendar:IsAllDayEvent"/><t:FieldURI FieldURI="item:Subject"/>` + ewsBookingURI +
		`</t:AdditionalProperties></m:ItemShape><m:SyncFolderId>` + ewsFolder(mailbox) + `</m:SyncFolderId>` + st +
		fmt.Sprintf(`<m:MaxChangesReturned>%d</m:MaxChangesReturned>`, max) +
		`<m:SyncScope>NormalItems</m:SyncScope></m:SyncFolderItems>`
}

// ewsSyncPage is what one SyncFolderItems answer said: "Create id", "Update id", "Delete id".
type ewsSyncPage struct {
	changes  []string
	state    string
	includes string
	items    map[string]*ewsDoc
}

func (f *ewsFixture) sync(t *testing.T, state string, max int) ewsSyncPage {
	t.Helper()
	msgs := f.call(ewsTech1, ewsSyncBody(ewsTech1, state, max)).messages(t, "SyncFolderItems")
	if got := ewsCodes(msgs); len(got) != 1 || got[0] != "Success NoError" {
		t.Fatalf("sync: %v", got)
	}
	m := msgs[0]
	if names := strings.Join(m.kidNames(), ","); names != "ResponseCode,SyncState,IncludesLastItemInRange,Changes" {
		t.Errorf("SyncFolderItemsResponseMessage children %s", names)
	}
	p := ewsSyncPage{state: m.text("SyncState"), includes: m.text("IncludesLastItemInRange"), items: map[string]*ewsDoc{}}
	for _, c := range m.first("Changes").Kids {
		id, _ := c.first("ItemId").attr("Id")
		p.changes = append(p.changes, c.XMLName.Local+" "+id)
		if c.XMLName.Local == "Delete" {
			if _, hasCK := c.first("ItemId").attr("ChangeKey"); hasCK || len(c.Kids) != 1 {
				t.Errorf("Delete must hold a bare ItemId: %+v", c)
			}
			continue
		}
		p.items[id] = c.first("CalendarItem")
	}
	return p
}

func TestEWSSyncFolderItems(t *testing.T) {
	f := newEWSFixture(t)
	idA, _ := f.create(ewsTech1, "A", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	idB, _ := f.create(ewsTech1, "B", "B-2", "2031-03-30T07:00:00Z", "2031-03-30T08:00:00Z") // far future: no window
	user, err := EWSControl{f.em}.AddUserEvent(ewsTech1, exchange.Event{Subject: "Dentist",
		Start: time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 31, 13, 0, 0, 0, time.UTC),
		ReminderMinutes: exchange.NoReminder})
	if err != nil {
		t.Fatal(err)
	}

	// The first sync pages through the whole calendar.
	p1 := f.sync(t, "", 2)
	if strings.Join(p1.changes, ",") != "Create "+idA+",Create "+idB || p1.includes != "false" {
		t.Fatalf("first page %v includes %s", p1.changes, p1.includes)
	}
	if it := p1.items[idA]; it.text("Value") != "B-1" || it.text("Start") != "2026-03-29T07:00:00Z" ||
		it.text("Subject") != "A" || it.text("IsAllDayEvent") != "false" {
		t.Errorf("created item A rendered as %+v", it.kidNames())
	}
	p2 := f.sync(t, p1.state, 2)
	if strings.Join(p2.changes, ",") != "Create "+user.ID || p2.includes != "true" {
		t.Fatalf("second page %v includes %s", p2.changes, p2.includes)
	}
	if it := p2.items[user.ID]; it.first("ExtendedProperty") != nil {
		t.Errorf("the user's own event has no booking id, got %v", it.kidNames())
	}
	if p3 := f.sync(t, p2.state, 2); len(p3.changes) != 0 || p3.includes != "true" {
		t.Errorf("nothing changed, got %v", p3.changes)
	}

	// A technician moves A and deletes B.
	if err := f.em.MoveEvent(ewsTech1, idA, time.Date(2026, 3, 29, 9, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 29, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if err := f.em.DeleteEvent(ewsTech1, idB); err != nil {
		t.Fatal(err)
	}
	p4 := f.sync(t, p2.state, 512)
	if strings.Join(p4.changes, ",") != "Update "+idA+",Delete "+idB {
		t.Fatalf("after move and delete %v", p4.changes)
	}
	if got := p4.items[idA].text("Start"); got != "2026-03-29T09:00:00Z" {
		t.Errorf("moved start %s", got)
	}

	tests := []struct{ name, state string }{
		{"garbage", "H4sIAAAAAAAEAO29B2AcSZ="},
		{"not base64", "%%%"},
		{"another mailbox's state", (&ewsRequest{s: f.srv}).encodeSyncState(ewsTech2, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := f.call(ewsTech1, ewsSyncBody(ewsTech1, tt.state, 10)).messages(t, "SyncFolderItems")
			if got := ewsCodes(msgs); got[0] != "Error ErrorInvalidSyncStateData" {
				t.Errorf("got %v", got)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		if err := f.em.ExpireCursors(ewsTech1); err != nil {
			t.Fatal(err)
		}
		msgs := f.call(ewsTech1, ewsSyncBody(ewsTech1, p4.state, 10)).messages(t, "SyncFolderItems")
		if got := ewsCodes(msgs); got[0] != "Error ErrorInvalidSyncStateData" {
			t.Fatalf("got %v", got)
		}
		// Dropping the state and starting over works.
		if p := f.sync(t, "", 512); len(p.changes) != 2 || p.includes != "true" {
			t.Errorf("resync %v", p.changes)
		}
	})
}

func TestEWSAccess(t *testing.T) {
	f := newEWSFixture(t)
	f.em.AddMailbox("locked@example.com", MailboxOptions{NoImpersonation: true, NoDelegate: true})
	f.em.AddMailbox("nolicence@example.com", MailboxOptions{Unlicensed: true})
	create := func(mb string) string {
		return ewsCreateBody(mb, "S", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	}
	find := func(mb string) string {
		return ewsFindBody(mb, `<t:BaseShape>IdOnly</t:BaseShape>`, `<m:CalendarView StartDate="2026-03-01T00:00:00Z" `+
			`EndDate="2026-04-01T00:00:00Z"/>`, "")
	}
	tests := []struct {
		name, user, pass, impersonate, body, op string
		wantFault                               string // faultcode, for a refused request
		wantCode                                string
	}{
		{name: "impersonation outside the role's scope", impersonate: "locked@example.com",
			body: create("locked@example.com"), wantFault: "a:ErrorImpersonateUserDenied"},
		{name: "impersonation without the role", user: "delegate@example.com", pass: "deleg8",
			impersonate: ewsTech1, body: create(ewsTech1), wantFault: "a:ErrorImpersonateUserDenied"},
		{name: "impersonating an unknown address", impersonate: "ghost@example.com",
			body: find("ghost@example.com"), wantFault: "a:ErrorNonExistentMailbox"},
		{name: "impersonation with the role", impersonate: ewsTech1, body: create(ewsTech1), op: "CreateItem",
			wantCode: "Success NoError"},
		{name: "delegate create with rights", user: "delegate@example.com", pass: "deleg8", body: create(ewsTech1),
			op: "CreateItem", wantCode: "Success NoError"},
		{name: "delegate create without rights", body: create("locked@example.com"), op: "CreateItem",
			wantCode: "Error ErrorAccessDenied"},
		{name: "delegate find without rights", body: find("locked@example.com"), op: "FindItem",
			wantCode: "Error ErrorFolderNotFound"},
		{name: "delegate on an unknown mailbox", body: create("ghost@example.com"), op: "CreateItem",
			wantCode: "Error ErrorNonExistentMailbox"},
		{name: "delegate on a mailbox without licence", body: find("nolicence@example.com"), op: "FindItem",
			wantCode: "Error ErrorNonExistentMailbox"},
		{name: "delegate without naming a mailbox", body: find(""), op: "FindItem",
			wantCode: "Error ErrorMissingEmailAddress"},
		{name: "impersonating one mailbox, naming another", impersonate: ewsTech1, body: find(ewsTech2),
			op: "FindItem", wantCode: "Error ErrorAccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pass := tt.user, tt.pass
			if user == "" {
				user, pass = ewsUser, ewsPassword
			}
			r := f.post(user, pass, ewsEnv(tt.impersonate, tt.body))
			if tt.wantFault != "" {
				fc, rc := r.fault(t)
				if fc != tt.wantFault || "a:"+rc != tt.wantFault {
					t.Errorf("fault %s / %s, want %s", fc, rc, tt.wantFault)
				}
				return
			}
			if got := ewsCodes(r.messages(t, tt.op)); len(got) != 1 || got[0] != tt.wantCode {
				t.Errorf("got %v, want %s", got, tt.wantCode)
			}
		})
	}
	if n := f.em.Requests("locked@example.com"); n != 3 {
		t.Errorf("requests counted for locked@example.com: %d, want 3", n)
	}
}

func TestEWSRequestCounting(t *testing.T) {
	f := newEWSFixture(t)
	id, _ := f.create(ewsTech1, "A", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	f.call(ewsTech1, ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, id, id))
	got := f.em.RequestsByOp(ewsTech1)
	if got["ews.CreateItem"] != 1 || got["ews.GetItem"] != 1 || len(got) != 2 {
		t.Errorf("RequestsByOp = %v, want one CreateItem and one GetItem", got)
	}
	if n := f.em.Traffic().Mailboxes[ewsTech1]; n != 2 {
		t.Errorf("Traffic for %s = %d, want 2", ewsTech1, n)
	}
}

func TestEWSAllDaySnapsToMidnight(t *testing.T) {
	f := newEWSFixture(t)
	body := `<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>` + ewsFolder(ewsTech1) +
		`</m:SavedItemFolderId><m:Items><t:CalendarItem><t:Subject>Round</t:Subject>` +
		`<t:Start>2026-03-29T06:00:00Z</t:Start><t:End>2026-03-29T14:00:00Z</t:End>` +
		`<t:IsAllDayEvent>true</t:IsAllDayEvent><t:StartTimeZone Id="W. Europe Standard Time"/>` +
		`<t:EndTimeZone Id="W. Europe Standard Time"/></t:CalendarItem></m:Items></m:CreateItem>`
	if got := ewsCodes(f.call(ewsTech1, body).messages(t, "CreateItem")); got[0] != "Success NoError" {
		t.Fatalf("create: %v", got)
	}
	evs := f.em.Events(ewsTech1)
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	// 2026-03-29 is the switch to summer time in Europe: midnight is 23:00Z the day before, the next one 22:00Z.
	if want := time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC); !evs[0].Start.Equal(want) {
		t.Errorf("start %s, want %s", evs[0].Start.UTC(), want)
	}
	if want := time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC); !evs[0].End.Equal(want) {
		t.Errorf("end %s, want %s", evs[0].End.UTC(), want)
	}
}

func TestEWSServerBusy(t *testing.T) {
	f := newEWSFixture(t)
	f.em.SetFaults(Faults{Rate429: 1, RetryAfter: "0.3"})
	r := f.call(ewsTech1, ewsCreateBody(ewsTech1, "S", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z"))
	fc, rc := r.fault(t)
	if fc != "a:ErrorServerBusy" || rc != "ErrorServerBusy" {
		t.Fatalf("fault %s / %s, want ErrorServerBusy", fc, rc)
	}
	var backOff string
	for _, v := range r.doc.all("Value") {
		if name, _ := v.attr("Name"); name == "BackOffMilliseconds" {
			backOff = v.Text
		}
	}
	if backOff != "300" {
		t.Errorf("BackOffMilliseconds %q, want 300", backOff)
	}
	if n := len(f.em.RawEvents(ewsTech1)); n != 0 {
		t.Errorf("a throttled create stored %d events", n)
	}
	if n := f.em.Requests(ewsTech1); n != 1 {
		t.Errorf("a throttled request counts for its mailbox: %d, want 1", n)
	}

	// A hook throttles only the first operation; the retry goes through.
	f.em.SetFaults(Faults{Hook: func(op FaultOp) *FaultReply {
		if op.Front == "ews" && op.N == 1 && op.Mailbox == ewsTech1 && op.Path == "CreateItem" {
			return &FaultReply{Status: http.StatusTooManyRequests, RetryAfter: "2"}
		}
		return nil
	}})
	body := ewsCreateBody(ewsTech1, "S", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	if fc, _ := f.call(ewsTech1, body).fault(t); fc != "a:ErrorServerBusy" {
		t.Fatalf("first: %s", fc)
	}
	if got := ewsCodes(f.call(ewsTech1, body).messages(t, "CreateItem")); got[0] != "Success NoError" {
		t.Errorf("retry: %v", got)
	}

	// A 503 is a bare HTTP status, as IIS sends it.
	f.em.SetFaults(Faults{Rate503: 1})
	if r := f.call(ewsTech1, body); r.status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", r.status)
	}
}

func TestEWSDropAfterCommit(t *testing.T) {
	f := newEWSFixture(t)
	f.em.SetFaults(Faults{DropAfterCommitAt: 1})
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/EWS/Exchange.asmx", strings.NewReader(
		ewsEnv(ewsTech1, ewsCreateBody(ewsTech1, "S", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z"))))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.SetBasicAuth(ewsUser, ewsPassword)
	resp, err := f.srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("status %d, want a dropped connection", resp.StatusCode)
	}
	if n := len(f.em.RawEvents(ewsTech1)); n != 1 {
		t.Errorf("the dropped create stored %d events, want 1", n)
	}
}

// ewsCountingTransport counts round trips, to see how many legs an NTLM exchange took.
type ewsCountingTransport struct {
	rt    http.RoundTripper
	trips int
}

func (c *ewsCountingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.trips++
	return c.rt.RoundTrip(r)
}

func TestEWSNTLM(t *testing.T) {
	f := newEWSFixture(t)
	newClient := func() (*http.Client, *ewsCountingTransport) {
		tr := f.srv.Client().Transport.(*http.Transport).Clone()
		// go-ntlmssp needs HTTP/1.1: NTLM authenticates the connection, which HTTP/2 multiplexes.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		ct := &ewsCountingTransport{rt: tr}
		return &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: ct}}, ct
	}
	send := func(c *http.Client, user, pass string) ewsReply {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/EWS/Exchange.asmx",
			strings.NewReader(ewsEnv("", ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, "AAMkAD="))))
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.SetBasicAuth(user, pass)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		return ewsParseReply(t, resp)
	}
	tests := []struct {
		name, user, pass string
		want             int
	}{
		{"domain form", ewsUser, ewsPassword, http.StatusOK},
		{"upn form", "svc-tf@example.com", ewsPassword, http.StatusOK},
		{"upn account", "delegate@example.com", "deleg8", http.StatusOK},
		{"wrong password", ewsUser, "not-the-password", http.StatusUnauthorized},
		{"unknown user", `EXAMPLE\mallory`, ewsPassword, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ct := newClient()
			defer c.CloseIdleConnections()
			r := send(c, tt.user, tt.pass)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d; body:\n%s", r.status, tt.want, r.body)
			}
			// Anonymous, NEGOTIATE, AUTHENTICATE.
			if ct.trips != 3 {
				t.Errorf("%d round trips, want 3", ct.trips)
			}
			if tt.want != http.StatusOK {
				return
			}
			if got := ewsCodes(r.messages(t, "GetItem")); got[0] != "Error ErrorItemNotFound" {
				t.Errorf("answer %v", got)
			}
			// The connection is authenticated now: the next request's anonymous first try succeeds.
			ct.trips = 0
			if r := send(c, tt.user, tt.pass); r.status != http.StatusOK || ct.trips != 1 {
				t.Errorf("second request: status %d after %d round trips, want 200 after 1", r.status, ct.trips)
			}
		})
	}
	t.Run("another connection is not authenticated", func(t *testing.T) {
		c, _ := newClient()
		defer c.CloseIdleConnections()
		if r := send(c, ewsUser, ewsPassword); r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		if r := f.post("", "", ewsEnv(ewsTech1, ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, "x"))); r.status !=
			http.StatusUnauthorized {
			t.Errorf("anonymous request on a fresh connection: status %d, want 401", r.status)
		}
	})
}

func TestEWSImpersonationCheckedFirst(t *testing.T) {
	f := newEWSFixture(t)
	f.em.AddMailbox("locked@example.com", MailboxOptions{NoImpersonation: true})
	tests := []struct{ name, body string }{
		{"folder of another mailbox", ewsSyncBody(ewsTech1, "", 10)},
		{"a folder the emulator lacks", strings.Replace(ewsSyncBody("", "", 10), `Id="calendar"`, `Id="inbox"`, 1)},
		{"an unknown item", ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, "AAMkAD=")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fc, _ := f.call("locked@example.com", tt.body).fault(t); fc != "a:ErrorImpersonateUserDenied" {
				t.Errorf("fault %s, want a:ErrorImpersonateUserDenied", fc)
			}
		})
	}
}

func TestEWSRestrictionValidation(t *testing.T) {
	f := newEWSFixture(t)
	f.create(ewsTech1, "A", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	find := func(expr string) string {
		return ewsFindBody(ewsTech1, `<t:BaseShape>IdOnly</t:BaseShape>`, "",
			`<m:Restriction>`+expr+`</m:Restriction>`)
	}
	isEqual := func(path, operand string) string {
		return `<t:IsEqualTo>` + path + `<t:FieldURIOrConstant>` + operand + `</t:FieldURIOrConstant></t:IsEqualTo>`
	}
	const constant = `<t:Constant Value="B-1"/>`
	tests := []struct {
		name      string
		expr      string
		wantFault string // the fault's ResponseCode, for a request refused as a whole
		wantCode  string // else the message's class and code
	}{
		{name: "empty Or", expr: `<t:Or/>`, wantFault: "ErrorSchemaValidation"},
		{name: "Or holding a non-expression", expr: `<t:Or>` + constant + `</t:Or>`,
			wantFault: "ErrorSchemaValidation"},
		{name: "Or holding an expression in the messages namespace",
			expr: `<t:Or><m:IsEqualTo>` + ewsBookingURI + `<t:FieldURIOrConstant>` + constant +
				`</t:FieldURIOrConstant></m:IsEqualTo></t:Or>`, wantFault: "ErrorSchemaValidation"},
		{name: "Restriction holding two expressions", expr: ewsIsBooking("B-1") + ewsIsBooking("B-2"),
			wantFault: "ErrorSchemaValidation"},
		{name: "two constants", expr: isEqual(ewsBookingURI, constant+constant), wantFault: "ErrorSchemaValidation"},
		{name: "constant without a value", expr: isEqual(ewsBookingURI, `<t:Constant/>`),
			wantFault: "ErrorSchemaValidation"},
		{name: "IsEqualTo without an operand", expr: `<t:IsEqualTo>` + ewsBookingURI + `</t:IsEqualTo>`,
			wantFault: "ErrorSchemaValidation"},
		// Exchange validates the whole request before it evaluates any of it.
		{name: "ill-formed term beside an unsupported one",
			expr:      `<t:Or><t:Exists>` + ewsBookingURI + `</t:Exists><t:IsEqualTo>` + ewsBookingURI + `</t:IsEqualTo></t:Or>`,
			wantFault: "ErrorSchemaValidation"},
		{name: "property against property", expr: isEqual(ewsBookingURI, ewsBookingURI),
			wantCode: "Error ErrorInvalidRestriction"},
		{name: "ordinary property", expr: isEqual(`<t:FieldURI FieldURI="item:Subject"/>`, `<t:Constant Value="A"/>`),
			wantCode: "Error ErrorInvalidRestriction"},
		{name: "Or holding a Not", expr: `<t:Or>` + ewsIsBooking("B-1") + `<t:Not>` + ewsIsBooking("B-2") +
			`</t:Not></t:Or>`, wantCode: "Error ErrorInvalidRestriction"},
		{name: "well-formed Or", expr: `<t:Or>` + ewsIsBooking("B-1") + ewsIsBooking("B-2") + `</t:Or>`,
			wantCode: "Success NoError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.call(ewsTech1, find(tt.expr))
			if tt.wantFault != "" {
				if _, rc := r.fault(t); rc != tt.wantFault {
					t.Errorf("fault %s, want %s", rc, tt.wantFault)
				}
				return
			}
			if got := ewsCodes(r.messages(t, "FindItem")); len(got) != 1 || got[0] != tt.wantCode {
				t.Errorf("got %v, want %s", got, tt.wantCode)
			}
		})
	}
}

func TestEWSAccountNames(t *testing.T) {
	f := newEWSFixture(t)
	// A second svc-tf in another domain makes the bare name ambiguous.
	f.em.AddEWSAccount(EWSAccount{Username: `OTHER\svc-tf`, Password: "other-pw"})
	tests := []struct {
		name, user, pass string
		want             int
	}{
		{"registered name", `OTHER\svc-tf`, "other-pw", http.StatusOK},
		{"upn naming one domain", "svc-tf@example.com", ewsPassword, http.StatusOK},
		{"upn of the other domain", "svc-tf@other.example", "other-pw", http.StatusOK},
		{"one account's password for the other", ewsUser, "other-pw", http.StatusUnauthorized},
		{"ambiguous bare name, first password", "svc-tf", ewsPassword, http.StatusUnauthorized},
		{"ambiguous bare name, second password", "svc-tf", "other-pw", http.StatusUnauthorized},
		{"bare name of a unique account", "delegate", "deleg8", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.post(tt.user, tt.pass, ewsEnv("", ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, "nope")))
			if r.status != tt.want {
				t.Errorf("status %d, want %d", r.status, tt.want)
			}
		})
	}
}

func TestEWSMailboxOfEvent(t *testing.T) {
	f := newEWSFixture(t)
	live, _ := f.create(ewsTech1, "A", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	gone, _ := f.create(ewsTech2, "B", "B-2", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	if err := f.em.DeleteEvent(ewsTech2, gone); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, id, wantAddr string, wantOK bool) {
		t.Helper()
		if addr, ok := f.em.mailboxOfEvent(id); addr != wantAddr || ok != wantOK {
			t.Errorf("mailboxOfEvent(%s) = %q, %v; want %q, %v", id, addr, ok, wantAddr, wantOK)
		}
	}
	t.Run("live event", func(t *testing.T) { check(t, live, ewsTech1, true) })
	t.Run("deleted event", func(t *testing.T) { check(t, gone, ewsTech2, true) })
	t.Run("unknown id", func(t *testing.T) { check(t, "AAMkAD=", "", false) })
	t.Run("deleted event after its tombstone expired", func(t *testing.T) {
		if err := f.em.ExpireCursors(ewsTech2); err != nil {
			t.Fatal(err)
		}
		check(t, gone, "", false)
	})
	// Delegate access finds the item's mailbox from its id alone.
	t.Run("delegate GetItem", func(t *testing.T) {
		msgs := f.call("", ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, live, gone)).messages(t, "GetItem")
		if got := strings.Join(ewsCodes(msgs), ","); got != "Success NoError,Error ErrorItemNotFound" {
			t.Errorf("got %s", got)
		}
	})
}

// ntlmStep sends one leg of a hand-driven NTLM handshake (or an anonymous request when auth is "") on client.
func ntlmStep(t *testing.T, c *http.Client, url, auth string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/EWS/Exchange.asmx",
		strings.NewReader(ewsEnv("", ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, "AAMkAD="))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// ntlmLogon runs a whole handshake by hand on client and returns the final status.
func ntlmLogon(t *testing.T, c *http.Client, url, user, pass string) int {
	t.Helper()
	neg, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		t.Fatal(err)
	}
	resp := ntlmStep(t, c, url, "NTLM "+base64.StdEncoding.EncodeToString(neg))
	scheme, token, _ := strings.Cut(resp.Header.Get("WWW-Authenticate"), " ")
	challenge, err := base64.StdEncoding.DecodeString(token)
	if resp.StatusCode != http.StatusUnauthorized || scheme != "NTLM" || err != nil {
		t.Fatalf("negotiate: status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	auth, err := ntlmssp.NewAuthenticateMessage(challenge, user, pass, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ntlmStep(t, c, url, "NTLM "+base64.StdEncoding.EncodeToString(auth)).StatusCode
}

// TestEWSNTLMLogOff checks that on one connection a failed logon undoes an earlier good one: the connection is
// never left authenticated after a request that presented wrong credentials.
func TestEWSNTLMLogOff(t *testing.T) {
	f := newEWSFixture(t)
	newConn := func() *http.Client {
		tr := f.srv.Client().Transport.(*http.Transport).Clone()
		tr.MaxConnsPerHost = 1 // every request on one connection
		return &http.Client{Transport: tr}
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(ewsUser+":wrong"))
	tests := []struct {
		name    string
		relogon func(c *http.Client) int
	}{
		{"wrong NTLM password", func(c *http.Client) int { return ntlmLogon(t, c, f.srv.URL, ewsUser, "wrong") }},
		{"wrong Basic password", func(c *http.Client) int { return ntlmStep(t, c, f.srv.URL, basic).StatusCode }},
		{"authenticate without a challenge", func(c *http.Client) int {
			auth, _ := ntlmssp.NewAuthenticateMessage(ntlmChallengeMessage(make([]byte, 8), f.clock.Now()), ewsUser,
				ewsPassword, nil)
			return ntlmStep(t, c, f.srv.URL, "NTLM "+base64.StdEncoding.EncodeToString(auth)).StatusCode
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn()
			defer c.CloseIdleConnections()
			if st := ntlmLogon(t, c, f.srv.URL, ewsUser, ewsPassword); st != http.StatusOK {
				t.Fatalf("good logon: status %d", st)
			}
			if st := ntlmStep(t, c, f.srv.URL, "").StatusCode; st != http.StatusOK {
				t.Fatalf("anonymous request after the good logon: status %d", st)
			}
			if st := tt.relogon(c); st != http.StatusUnauthorized {
				t.Errorf("bad logon: status %d, want 401", st)
			}
			if st := ntlmStep(t, c, f.srv.URL, "").StatusCode; st != http.StatusUnauthorized {
				t.Errorf("anonymous request after the bad logon: status %d, want 401", st)
			}
		})
	}
}

// TestEWSNTLMStateFollowsTheConnection drives the handler with two connections that have the same addresses, as
// a new connection has when it reuses a closed one's client port: the second must not inherit the first's logon
// or its challenge.
func TestEWSNTLMStateFollowsTheConnection(t *testing.T) {
	f := newEWSFixture(t)
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443}
	newConn := func() context.Context {
		ctx := context.WithValue(context.Background(), http.LocalAddrContextKey, local)
		return f.srv.ewsConnContext(ctx, nil)
	}
	send := func(conn context.Context, auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequestWithContext(conn, http.MethodPost, "/EWS/Exchange.asmx", strings.NewReader("<x/>"))
		r.RemoteAddr = "127.0.0.1:50000"
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		f.srv.ewsAuthenticate(w, r)
		return w
	}
	neg, _ := ntlmssp.NewNegotiateMessage("", "")
	a := newConn()
	w := send(a, "NTLM "+base64.StdEncoding.EncodeToString(neg))
	_, token, _ := strings.Cut(w.Header().Get("WWW-Authenticate"), " ")
	challenge, _ := base64.StdEncoding.DecodeString(token)
	authMsg, err := ntlmssp.NewAuthenticateMessage(challenge, ewsUser, ewsPassword, nil)
	if err != nil {
		t.Fatalf("answer the challenge: %v", err)
	}
	authenticate := "NTLM " + base64.StdEncoding.EncodeToString(authMsg)

	b := newConn()
	if w := send(b, authenticate); w.Code != http.StatusUnauthorized {
		t.Errorf("AUTHENTICATE on another connection with the same addresses: status %d, want 401", w.Code)
	}
	if w := send(a, authenticate); w.Code != http.StatusOK {
		t.Fatalf("AUTHENTICATE on its own connection: status %d, want 200", w.Code)
	}
	if w := send(a, ""); w.Code != http.StatusOK {
		t.Errorf("anonymous request on the authenticated connection: status %d, want 200", w.Code)
	}
	if w := send(b, ""); w.Code != http.StatusUnauthorized {
		t.Errorf("anonymous request on another connection with the same addresses: status %d, want 401", w.Code)
	}
	if w := send(a, authenticate); w.Code != http.StatusUnauthorized {
		t.Errorf("replayed AUTHENTICATE: status %d, want 401", w.Code)
	}
}

// TestEWSNTLMHammer runs many NTLM logons at once, good and bad, each client on its own connections, which it
// closes after every round so that client ports are reused quickly: no bad logon may ever succeed, and no good one
// fail.
func TestEWSNTLMHammer(t *testing.T) {
	f := newEWSFixture(t)
	const workers, rounds = 8, 12
	bad := []struct{ user, pass string }{
		{ewsUser, "not-the-password"},
		{ewsUser, "deleg8"}, // another account's password
		{`EXAMPLE\mallory`, ewsPassword},
		{"svc-tf@example.com", strings.ToUpper(ewsPassword)},
	}
	var mu sync.Mutex
	var goodOK, badRefused int
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				user, pass, good := ewsUser, ewsPassword, (w+i)%2 == 0
				if !good {
					b := bad[(w+i)%len(bad)]
					user, pass = b.user, b.pass
				}
				tr := f.srv.Client().Transport.(*http.Transport).Clone()
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
				c := &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: tr}}
				// Two requests: the handshake, then the anonymous first try on the connection it left behind.
				for range 2 {
					req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/EWS/Exchange.asmx",
						strings.NewReader(ewsEnv("", ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, "AAMkAD="))))
					req.Header.Set("Content-Type", "text/xml; charset=utf-8")
					req.SetBasicAuth(user, pass)
					resp, err := c.Do(req)
					if err != nil {
						t.Errorf("worker %d round %d: %v", w, i, err)
						break
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					switch {
					case good && resp.StatusCode == http.StatusOK:
						goodOK++
					case !good && resp.StatusCode == http.StatusUnauthorized:
						badRefused++
					case good:
						t.Errorf("worker %d round %d: good logon as %s answered %d", w, i, user, resp.StatusCode)
					default:
						t.Errorf("worker %d round %d: BAD logon as %s with a wrong password answered %d", w, i, user,
							resp.StatusCode)
					}
					mu.Unlock()
				}
				tr.CloseIdleConnections()
			}
		}()
	}
	wg.Wait()
	if want := workers * rounds; goodOK+badRefused != want*2 || goodOK != want || badRefused != want {
		t.Errorf("%d good logons accepted and %d bad ones refused, want %d of each", goodOK, badRefused, want)
	}
}
