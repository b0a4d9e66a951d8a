package emulator

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"tfsync/exchange"
	"tfsync/exchange/emulator/emutest/testclock"
)

// Shared fixtures for the front's tests: a running server on loopback, an app registration, mailboxes in every
// state Graph distinguishes, and a token for the app.

const (
	testTenant = "8f1f6d3c-2b5e-4c7a-9d21-3a6b5c4d7e80"
	testClient = "3c6d9a1e-5f2b-4e8d-a7c3-1b2c3d4e5f60"
	testSecret = "s3cr3t~value.from-the-portal"
	testSecID  = "0e9f8a7b-6c5d-4e3f-2a1b-0c9d8e7f6a5b"

	techA       = "tech.a@contoso.com"
	techB       = "tech.b@contoso.com"
	blockedBox  = "blocked@contoso.com"
	unlicensed  = "nolicence@contoso.com"
	unknownUser = "nobody@contoso.com"
)

type fixture struct {
	t     *testing.T
	em    *Emulator
	srv   *Server
	clock *testclock.Clock
	token string
}

// newFixture starts an emulator with a fake clock at 2026-03-02 08:00 UTC.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := testclock.New(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))
	return newFixtureWithClock(t, clock, clock.Now)
}

func newFixtureWithClock(t *testing.T, clock *testclock.Clock, now func() time.Time) *fixture {
	t.Helper()
	em := New(Options{Now: now, StableIDs: true}) // stable ids for the golden files
	em.AddApp(App{TenantID: testTenant, ClientID: testClient, SecretValue: testSecret, SecretID: testSecID, Consented: true})
	em.AddMailbox(techA, MailboxOptions{})
	em.AddMailbox(techB, MailboxOptions{})
	em.AddMailbox(blockedBox, MailboxOptions{Blocked: true})
	em.AddMailbox(unlicensed, MailboxOptions{Unlicensed: true})
	srv, err := Serve(em, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	f := &fixture{t: t, em: em, srv: srv, clock: clock}
	f.token = f.getToken(testClient, testSecret)
	return f
}

// getToken runs the client-credentials grant with a secret and fails the test unless it succeeds.
func (f *fixture) getToken(clientID, secret string) string {
	f.t.Helper()
	status, body := f.tokenRequest(testTenant, url.Values{
		"client_id": {clientID}, "client_secret": {secret}, "grant_type": {"client_credentials"},
		"scope": {"https://graph.microsoft.com/.default openid offline_access profile"},
	})
	if status != http.StatusOK {
		f.t.Fatalf("token: %d %s", status, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		f.t.Fatalf("token body %s: %v", body, err)
	}
	return tok.AccessToken
}

func (f *fixture) tokenRequest(tenant string, form url.Values) (int, []byte) {
	f.t.Helper()
	resp, err := f.srv.Client().PostForm(f.srv.URL+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		f.t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// reply is a response with its body read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %d body %q: %v", r.status, r.body, err)
	}
	return m
}

// graph sends a Graph request with the fixture's token. path is under /v1.0; body is JSON-encoded unless it is
// already []byte; headers come in name, value pairs.
func (f *fixture) graph(method, path string, body any, headers ...string) reply {
	f.t.Helper()
	return f.graphWithToken(f.token, method, path, body, headers...)
}

func (f *fixture) graphWithToken(token, method, path string, body any, headers ...string) reply {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	target := path
	if !strings.HasPrefix(path, "https://") {
		target = f.srv.URL + "/v1.0" + path
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// eventBody is a typical tfsync create.
func eventBody(subject, bookingID, txid string, start, end string) map[string]any {
	b := map[string]any{
		"@odata.type":  "#microsoft.graph.event",
		"subject":      subject,
		"body":         map[string]any{"contentType": "html", "content": "<p>Byt filter &amp; kontrollera fläkt</p>"},
		"start":        map[string]any{"dateTime": start, "timeZone": "W. Europe Standard Time"},
		"end":          map[string]any{"dateTime": end, "timeZone": "W. Europe Standard Time"},
		"location":     map[string]any{"displayName": "Storgatan 1"},
		"showAs":       "busy",
		"isReminderOn": true, "reminderMinutesBeforeStart": 15,
		"singleValueExtendedProperties": []any{
			map[string]any{"id": exchange.GraphBookingPropertyID, "value": bookingID},
		},
	}
	if txid != "" {
		b["transactionId"] = txid
	}
	return b
}

// create posts an event to techA and returns its id.
func (f *fixture) create(mailbox, subject, bookingID, start, end string) string {
	f.t.Helper()
	r := f.graph("POST", "/users/"+url.PathEscape(mailbox)+"/events", eventBody(subject, bookingID, "", start, end))
	if r.status != http.StatusCreated {
		f.t.Fatalf("create: %d %s", r.status, r.body)
	}
	return r.json(f.t)["id"].(string)
}

// errorCode checks Graph's error shape (code, message, innerError with date and both request ids) and returns the
// code and message.
func errorCode(t *testing.T, r reply) (string, string) {
	t.Helper()
	var body struct {
		Error struct {
			Code       *string `json:"code"`
			Message    *string `json:"message"`
			InnerError *struct {
				Date            string `json:"date"`
				RequestID       string `json:"request-id"`
				ClientRequestID string `json:"client-request-id"`
			} `json:"innerError"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	e := body.Error
	if e.Code == nil || e.Message == nil || *e.Message == "" {
		t.Fatalf("error body %s lacks code or message", r.body)
	}
	if e.InnerError == nil || e.InnerError.Date == "" || e.InnerError.RequestID == "" || e.InnerError.ClientRequestID == "" {
		t.Fatalf("error body %s lacks innerError{date, request-id, client-request-id}", r.body)
	}
	if _, err := time.Parse("2006-01-02T15:04:05", e.InnerError.Date); err != nil {
		t.Errorf("innerError.date %q: %v", e.InnerError.Date, err)
	}
	return *e.Code, *e.Message
}

func TestServeTLS(t *testing.T) {
	f := newFixture(t)

	block, _ := pem.Decode(f.srv.CACertPEM)
	if block == nil {
		t.Fatal("CACertPEM holds no PEM block")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !ca.IsCA {
		t.Fatalf("CACertPEM is not a CA certificate: %v", err)
	}
	if !strings.HasPrefix(f.srv.URL, "https://127.0.0.1:") {
		t.Errorf("URL = %q, want https://127.0.0.1:PORT", f.srv.URL)
	}

	t.Run("client trusts the CA", func(t *testing.T) {
		resp, err := f.srv.Client().Get(f.srv.URL + "/" + testTenant + "/v2.0/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status %d", resp.StatusCode)
		}
		if resp.TLS == nil || resp.TLS.PeerCertificates[0].PublicKeyAlgorithm != x509.ECDSA {
			t.Error("server certificate is not ECDSA")
		}
	})
	t.Run("a client without the CA is refused", func(t *testing.T) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
		_, err := c.Get(f.srv.URL + "/v1.0/users")
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("err = %v, want x509.UnknownAuthorityError", err)
		}
	})
	t.Run("unknown path", func(t *testing.T) {
		resp, err := f.srv.Client().Get(f.srv.URL + "/nothing/here/at/all")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("status %d, want 404", resp.StatusCode)
		}
	})
}

func TestControlAPI(t *testing.T) {
	f := newFixture(t)
	id := f.create(techA, "Besiktning", "BES-1", "2026-03-03T09:00:00", "2026-03-03T10:00:00")
	c := f.srv.Client()
	post := func(path, body string) *http.Response {
		t.Helper()
		resp, err := c.Post(f.srv.URL+"/_emulator"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	listEvents := func(addr string) []controlEvent {
		t.Helper()
		resp, err := c.Get(f.srv.URL + "/_emulator/mailboxes/" + url.PathEscape(addr) + "/events")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var evs []controlEvent
		if err := json.NewDecoder(resp.Body).Decode(&evs); err != nil {
			t.Fatal(err)
		}
		return evs
	}

	evs := listEvents(techA)
	if len(evs) != 1 || evs[0].ID != id || evs[0].BookingID != "BES-1" {
		t.Fatalf("events = %+v", evs)
	}
	if r := post("/mailboxes/"+techA+"/events/"+id+"/move", `{"start":"2026-03-04T12:00:00Z","end":"2026-03-04T13:00:00Z"}`); r.StatusCode != http.StatusNoContent {
		t.Fatalf("move: %d", r.StatusCode)
	}
	if got := listEvents(techA)[0].Start; !got.Equal(time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("start after move = %v", got)
	}
	if r := post("/mailboxes/"+techA+"/events/"+id+"/edit", `{"subject":"Ändrad"}`); r.StatusCode != http.StatusNoContent {
		t.Fatalf("edit: %d", r.StatusCode)
	}
	if got := listEvents(techA)[0].Subject; got != "Ändrad" {
		t.Errorf("subject after edit = %q", got)
	}
	if r := post("/mailboxes/"+techA+"/events/"+id+"/delete", ``); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	if r := post("/mailboxes/"+techA+"/events/"+id+"/delete", ``); r.StatusCode != http.StatusNotFound {
		t.Errorf("second delete: %d, want 404", r.StatusCode)
	}
	if got := listEvents(techA); len(got) != 0 {
		t.Errorf("events after delete = %+v", got)
	}
	if r := post("/mailboxes/new.tech@contoso.com", `{"blocked":true}`); r.StatusCode != http.StatusNoContent {
		t.Fatalf("add mailbox: %d", r.StatusCode)
	}
	if opts, ok := f.em.Mailbox("new.tech@contoso.com"); !ok || !opts.Blocked {
		t.Errorf("mailbox after control add = %+v, %v", opts, ok)
	}
	if r := post("/faults", `{"latency":"1ms","rate429":0.5,"retryAfter":"0.25"}`); r.StatusCode != http.StatusOK {
		t.Fatalf("faults: %d", r.StatusCode)
	}
	if got := f.em.CurrentFaults(); got.Latency != time.Millisecond || got.Rate429 != 0.5 || got.RetryAfter != "0.25" {
		t.Errorf("faults after control = %+v", got)
	}
	if r := post("/faults", `{"rate429":0.8,"rate503":0.8}`); r.StatusCode != http.StatusBadRequest {
		t.Errorf("rates adding up to more than 1: %d, want 400", r.StatusCode)
	}
	if r := post("/nonsense", `{}`); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown control route: %d, want 404", r.StatusCode)
	}
}
