package ews

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"tfsync/exchange"
	"tfsync/exchange/emulator/emutest"
)

// responsesDir holds the emulator's answers to the backend's requests; CI validates them against Microsoft's schema
// with xmllint, as it does the requests, so the EWS front's shapes stay ones a real client accepts.
var responsesDir = filepath.Join("testdata", "responses")

// recorder keeps the last response body of each kind (the local name of soap:Body's child).
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	last map[string][]byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil || resp.StatusCode == http.StatusUnauthorized {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var env struct {
		Body struct {
			Inner []struct{ XMLName xml.Name } `xml:",any"`
		} `xml:"Body"`
	}
	if xml.Unmarshal(body, &env) == nil && len(env.Body.Inner) == 1 {
		r.mu.Lock()
		r.last[env.Body.Inner[0].XMLName.Local] = body
		r.mu.Unlock()
	}
	return resp, nil
}

// syncStateRE finds the sync state, the one part of an answer that differs from run to run (it names the emulator
// instance and a nonce).
var syncStateRE = regexp.MustCompile(`<m:SyncState>[^<]*</m:SyncState>`)

// TestGoldenResponses records the EWS front's answer to each operation the backend sends and an error message
// (not a SOAP fault: the schema's lax envelope driver admits only EWS elements in soap:Body), and compares them with testdata/responses. Run with -update to rewrite the files.
func TestGoldenResponses(t *testing.T) {
	const mb = "tech1@example.com"
	rig := emutest.Start(t, emutest.Options{Start: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), StableIDs: true,
		Mailboxes: []string{mb}, EWS: true, Impersonation: true})
	rec := &recorder{next: rig.HTTPClient().Transport, last: map[string][]byte{}}
	hc := *rig.HTTPClient()
	hc.Transport = rec
	s := &sleeps{}
	c, err := New(Options{URL: rig.EWSURL(), Username: svcUser, Password: svcPassword,
		Auth: AuthBasic, Access: AccessImpersonation, HTTPClient: &hc, Zone: stockholm(t), Sleep: s.sleep})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	golden := map[string][]byte{}
	keep := func(kind, name string) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if rec.last[kind] == nil {
			t.Fatalf("no %s answer recorded", kind)
		}
		golden[name] = rec.last[kind]
	}
	var rs []exchange.OpResult
	write := func(op exchange.Op) exchange.Event {
		rs = nil
		c.Write(ctx, []exchange.Op{op}, func(r []exchange.OpResult) { rs = append(rs, r...) })
		if len(rs) != 1 || rs[0].Err != nil {
			t.Fatalf("%s: %+v", op.Kind, rs)
		}
		return rs[0].Event
	}
	created := write(exchange.Op{Kind: exchange.OpCreate, Mailbox: mb, Event: goldenEvent(t), TransactionID: "tx"})
	keep("CreateItemResponse", "create")
	if res := c.Read(ctx, []exchange.ReadRequest{{Mailbox: mb, Window: year2026}}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	keep("SyncFolderItemsResponse", "sync-first")
	keep("GetItemResponse", "get")
	if _, err := c.FindByBooking(ctx, mb, created.BookingID); err != nil {
		t.Fatal(err)
	}
	keep("FindItemResponse", "find-booking")
	moved := created
	moved.Start, moved.End = created.Start.Add(time.Hour), created.End.Add(time.Hour)
	write(exchange.Op{Kind: exchange.OpUpdate, Mailbox: mb, Event: moved})
	keep("UpdateItemResponse", "update")
	write(exchange.Op{Kind: exchange.OpDelete, Mailbox: mb, Event: created})
	keep("DeleteItemResponse", "delete")
	if res := c.Read(ctx, []exchange.ReadRequest{{Mailbox: mb, Window: year2026}}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	keep("SyncFolderItemsResponse", "sync-delete")
	if _, err := c.Get(ctx, mb, created.ID); err == nil {
		t.Fatal("get of a deleted item succeeded")
	}
	keep("GetItemResponse", "get-not-found")

	for name, body := range golden {
		got := syncStateRE.ReplaceAll(body, []byte("<m:SyncState>SYNCSTATE</m:SyncState>"))
		path := filepath.Join(responsesDir, name+".xml")
		if *update {
			if err := os.MkdirAll(responsesDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read golden file (run go test -update to create it): %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s (run with -update if the change is intended)\ngot:\n%s", name, path, got)
		}
	}
}
