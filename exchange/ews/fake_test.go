package ews

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEWS is an http.RoundTripper that answers EWS requests from a script, for tests of the client's own logic:
// wire formats, error mapping and retries. The conformance tests run against the emulator instead.
type fakeEWS struct {
	mu       sync.Mutex
	requests []fakeRequest
	counts   map[string]int
	// handle answers the n-th request (from 1) of operation op. A nil handle, or a zero status, gives the default
	// successful answer.
	handle func(op string, n int, body string) fakeAnswer
}

type fakeRequest struct {
	op   string
	body string
}

// fakeAnswer is one scripted answer: err fails the round trip (a dropped connection), else status and body.
type fakeAnswer struct {
	status int
	body   string
	header http.Header
	err    error
}

var opRE = regexp.MustCompile(`<soap:Body>\s*<m:(\w+)`)

func (f *fakeEWS) RoundTrip(req *http.Request) (*http.Response, error) {
	data, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	_ = req.Body.Close()
	body := string(data)
	op := ""
	if m := opRE.FindStringSubmatch(body); m != nil {
		op = m[1]
	}
	f.mu.Lock()
	if f.counts == nil {
		f.counts = map[string]int{}
	}
	f.counts[op]++
	n := f.counts[op]
	f.requests = append(f.requests, fakeRequest{op: op, body: body})
	f.mu.Unlock()

	var a fakeAnswer
	if f.handle != nil {
		a = f.handle(op, n, body)
	}
	if a.err != nil {
		return nil, a.err
	}
	if a.status == 0 {
		a = fakeAnswer{status: 200, body: defaultAnswer(op, body)}
	}
	h := a.header
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "text/xml; charset=utf-8")
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(strings.NewReader(a.body)),
		Request: req}, nil
}

// bodies returns the bodies of the requests of operation op, in order.
func (f *fakeEWS) bodies(op string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		if r.op == op {
			out = append(out, r.body)
		}
	}
	return out
}

func (f *fakeEWS) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

const fakeSyncState = "H4sIAAAAAAAEAO29B2AcSZ="

var (
	itemIDRE     = regexp.MustCompile(`<t:ItemId Id="([^"]*)"`)
	calItemRE    = regexp.MustCompile(`<t:CalendarItem>`)
	itemChangeRE = regexp.MustCompile(`<t:ItemChange>`)
)

// defaultAnswer is a plausible successful answer to any request.
func defaultAnswer(op, body string) string {
	switch op {
	case "FindItem":
		return response(op, okMessage(op, `<m:RootFolder TotalItemsInView="0" IncludesLastItemInRange="true"><t:Items/></m:RootFolder>`))
	case "CreateItem":
		var msgs []string
		for i := range calItemRE.FindAllStringIndex(body, -1) {
			msgs = append(msgs, okMessage(op, fmt.Sprintf(`<m:Items><t:CalendarItem><t:ItemId Id="AAMk-new-%d" ChangeKey="DwAAAA-1"/></t:CalendarItem></m:Items>`, i)))
		}
		return response(op, msgs...)
	case "UpdateItem":
		var msgs []string
		ids := itemIDRE.FindAllStringSubmatch(body, -1)
		for i := range itemChangeRE.FindAllStringIndex(body, -1) {
			msgs = append(msgs, okMessage(op, fmt.Sprintf(`<m:Items><t:CalendarItem><t:ItemId Id="%s" ChangeKey="DwAAAA-2"/></t:CalendarItem></m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>`, ids[i][1])))
		}
		return response(op, msgs...)
	case "DeleteItem":
		var msgs []string
		for range itemIDRE.FindAllStringSubmatch(body, -1) {
			msgs = append(msgs, okMessage(op, ""))
		}
		return response(op, msgs...)
	case "GetItem":
		var msgs []string
		for _, m := range itemIDRE.FindAllStringSubmatch(body, -1) {
			msgs = append(msgs, okMessage(op, "<m:Items>"+fakeItem(m[1], "DwAAAA-3", "BES-10233")+"</m:Items>"))
		}
		return response(op, msgs...)
	case "SyncFolderItems":
		return response(op, okMessage(op, `<m:SyncState>`+fakeSyncState+`</m:SyncState><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange><m:Changes/>`))
	}
	return response(op)
}

// fakeItem is a calendar item as GetItem returns it.
func fakeItem(id, changeKey, bookingID string) string {
	return `<t:CalendarItem><t:ItemId Id="` + id + `" ChangeKey="` + changeKey + `"/>` +
		`<t:Subject>Besiktning: Hiss A</t:Subject><t:Body BodyType="HTML">&lt;html&gt;&lt;body&gt;&lt;p&gt;Nyckel hos vaktmästaren&lt;/p&gt;&lt;/body&gt;&lt;/html&gt;</t:Body>` +
		`<t:ReminderIsSet>true</t:ReminderIsSet><t:ReminderMinutesBeforeStart>15</t:ReminderMinutesBeforeStart>` +
		`<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="{6F3C1A52-8D4E-4B7A-9C2F-5E0D7B1A4C93}" PropertyName="BookingId" PropertyType="String"/><t:Value>` + bookingID + `</t:Value></t:ExtendedProperty>` +
		`<t:LastModifiedTime>2026-03-01T10:00:00Z</t:LastModifiedTime>` +
		`<t:Start>2026-03-10T08:00:00Z</t:Start><t:End>2026-03-10T09:30:00Z</t:End><t:IsAllDayEvent>false</t:IsAllDayEvent>` +
		`<t:LegacyFreeBusyStatus>Busy</t:LegacyFreeBusyStatus><t:Location>Storgatan 1</t:Location>` +
		`<t:StartTimeZone Id="W. Europe Standard Time" Name="(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna"/>` +
		`</t:CalendarItem>`
}

func okMessage(op, inner string) string {
	return `<m:` + op + `ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>` + inner +
		`</m:` + op + `ResponseMessage>`
}

func errorMessage(op, code, text string) string {
	return `<m:` + op + `ResponseMessage ResponseClass="Error"><m:MessageText>` + text + `</m:MessageText>` +
		`<m:ResponseCode>` + code + `</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey></m:` + op +
		`ResponseMessage>`
}

func busyMessage(op string, backOffMs int) string {
	return `<m:` + op + `ResponseMessage ResponseClass="Error"><m:MessageText>The server cannot service this request right now. Try again later.</m:MessageText>` +
		`<m:ResponseCode>ErrorServerBusy</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>` +
		fmt.Sprintf(`<m:MessageXml><t:Value Name="BackOffMilliseconds">%d</t:Value></m:MessageXml>`, backOffMs) +
		`</m:` + op + `ResponseMessage>`
}

func response(op string, msgs ...string) string {
	return `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">` +
		`<s:Header><h:ServerVersionInfo xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11"/></s:Header>` +
		`<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">` +
		`<m:` + op + `Response xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">` +
		`<m:ResponseMessages>` + strings.Join(msgs, "") + `</m:ResponseMessages></m:` + op + `Response></s:Body></s:Envelope>`
}

// fault is a SOAP fault as Exchange sends it with HTTP 500.
func fault(code, text string, backOffMs int) string {
	var xml bytes.Buffer
	xml.WriteString(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>`)
	xml.WriteString(`<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:` + code + `</faultcode>`)
	xml.WriteString(`<faultstring xml:lang="en-US">` + text + `</faultstring><detail>`)
	xml.WriteString(`<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">` + code + `</e:ResponseCode>`)
	xml.WriteString(`<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">` + text + `</e:Message>`)
	if backOffMs > 0 {
		fmt.Fprintf(&xml, `<t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><t:Value Name="BackOffMilliseconds">%d</t:Value></t:MessageXml>`, backOffMs)
	}
	xml.WriteString(`</detail></s:Fault></s:Body></s:Envelope>`)
	return xml.String()
}

// sleeps records the pauses the client asks for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// fixedNow is the clock of the unit tests.
var fixedNow = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)

// newFakeClient returns a client talking to a fakeEWS.
func newFakeClient(t *testing.T, access string, f *fakeEWS, s *sleeps) *Client {
	t.Helper()
	if s == nil {
		s = &sleeps{}
	}
	c, err := New(Options{
		URL: "https://mail.example.com/EWS/Exchange.asmx", Username: `EXAMPLE\svc-tf`, Password: "Secret-Pa55",
		Auth: AuthBasic, Access: access, HTTPClient: &http.Client{Transport: f}, Zone: stockholm(t),
		Now: func() time.Time { return fixedNow }, Sleep: s.sleep,
	})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return c
}

func stockholm(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Fatalf("load Europe/Stockholm: %v", err)
	}
	return loc
}
