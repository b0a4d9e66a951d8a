package ews

import (
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tfsync/exchange"
)

var update = flag.Bool("update", false, "rewrite the golden request envelopes in testdata")

// goldenDir holds the recorded request envelopes; CI validates them against Microsoft's schema too.
var goldenDir = "testdata"

// schemaDir is the EWS schema beside the repository (../shared/ews-schema from its root).
var schemaDir = filepath.Join("..", "..", "..", "shared", "ews-schema")

// goldenEvent is a booking event with every field tfsync writes, at fixed times.
func goldenEvent(t *testing.T) exchange.Event {
	loc := stockholm(t)
	start := time.Date(2026, 3, 10, 9, 0, 0, 0, loc)
	return exchange.Event{
		BookingID:      "BES-10233",
		InstallationID: "7d1e2c40-5b3a-4f9e-8c11-2a6b9d0e4f01",
		Subject:        "Besiktning: Hiss A & B <plan 2>",
		Body:           "<p><b>Besiktning</b> av hiss &amp; trapphus.</p><p>Nyckel hos vaktmästaren.</p>",
		Location:       "Storgatan 1, Göteborg",
		Start:          start, End: start.Add(90 * time.Minute),
		TimeZone: "Europe/Stockholm", ShowAs: exchange.ShowBusy, ReminderMinutes: 15,
	}
}

// goldenCases each run one client operation; the golden file is the envelope of the named SOAP operation's first
// request (nth, when set).
var goldenCases = []struct {
	name string
	op   string
	nth  int
	run  func(t *testing.T, c *Client)
}{
	{"create", "CreateItem", 0, func(t *testing.T, c *Client) {
		write(t, c, exchange.Op{Kind: exchange.OpCreate, Mailbox: "tech1@example.com", Event: goldenEvent(t),
			TransactionID: "tx-BES-10233"})
	}},
	{"create-allday", "CreateItem", 0, func(t *testing.T, c *Client) {
		// A round on the day the clocks go forward: 23 hours from midnight to midnight in Stockholm.
		ev := goldenEvent(t)
		ev.BookingID, ev.Subject, ev.AllDay, ev.ShowAs, ev.ReminderMinutes = "RON-5", "Rondering: Område 3", true,
			exchange.ShowFree, exchange.NoReminder
		ev.Start = time.Date(2026, 3, 29, 0, 0, 0, 0, stockholm(t))
		ev.End = ev.Start.AddDate(0, 0, 1)
		write(t, c, exchange.Op{Kind: exchange.OpCreate, Mailbox: "tech1@example.com", Event: ev,
			TransactionID: "tx-RON-5"})
	}},
	{"create-lookup", "FindItem", 0, func(t *testing.T, c *Client) {
		// Two creates in one request: the search for existing events asks for both booking ids at once.
		a, b := goldenEvent(t), goldenEvent(t)
		b.BookingID = "ARE-4711"
		write(t, c,
			exchange.Op{Kind: exchange.OpCreate, Mailbox: "tech1@example.com", Event: a, TransactionID: "tx-a"},
			exchange.Op{Kind: exchange.OpCreate, Mailbox: "tech1@example.com", Event: b, TransactionID: "tx-b"})
	}},
	{"update", "UpdateItem", 0, func(t *testing.T, c *Client) {
		ev := goldenEvent(t)
		ev.ID, ev.ChangeKey = "AAMkADk2ZTE0AAA=", "DwAAABYAAAA"
		ev.Location, ev.ReminderMinutes, ev.ShowAs = "", exchange.NoReminder, exchange.ShowTentative
		write(t, c, exchange.Op{Kind: exchange.OpUpdate, Mailbox: "tech1@example.com", Event: ev})
	}},
	{"delete", "DeleteItem", 0, func(t *testing.T, c *Client) {
		write(t, c, exchange.Op{Kind: exchange.OpDelete, Mailbox: "tech1@example.com",
			Event: exchange.Event{ID: "AAMkADk2ZTE0AAA="}})
	}},
	{"find-booking", "FindItem", 0, func(t *testing.T, c *Client) {
		if _, err := c.FindByBooking(context.Background(), "tech1@example.com", "BES-10233"); err != nil {
			t.Fatalf("find by booking: %v", err)
		}
	}},
	{"find-view", "FindItem", 0, func(t *testing.T, c *Client) {
		if err := c.CheckAccess(context.Background(), "tech1@example.com"); err != nil {
			t.Fatalf("check access: %v", err)
		}
	}},
	{"get", "GetItem", 0, func(t *testing.T, c *Client) {
		if _, err := c.Get(context.Background(), "tech1@example.com", "AAMkADk2ZTE0AAA="); err != nil {
			t.Fatalf("get: %v", err)
		}
	}},
	{"sync-first", "SyncFolderItems", 0, func(t *testing.T, c *Client) {
		read(t, c, "")
	}},
	{"sync", "SyncFolderItems", 0, func(t *testing.T, c *Client) {
		read(t, c, encodeCursor(goldenWindow(), fakeSyncState))
	}},
	{"credentials", "FindItem", 0, func(t *testing.T, c *Client) {
		if err := c.CheckCredentials(context.Background()); err != nil {
			t.Fatalf("check credentials: %v", err)
		}
	}},
}

func goldenWindow() exchange.Window {
	return exchange.Window{Start: time.Date(2026, 2, 23, 0, 0, 0, 0, time.UTC),
		End: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
}

func write(t *testing.T, c *Client, ops ...exchange.Op) []exchange.OpResult {
	t.Helper()
	var rs []exchange.OpResult
	c.Write(context.Background(), ops, func(r []exchange.OpResult) { rs = append(rs, r...) })
	if len(rs) != len(ops) {
		t.Fatalf("write: %d results for %d ops", len(rs), len(ops))
	}
	for _, r := range rs {
		if r.Err != nil {
			t.Fatalf("write %s: %v", r.Op.Kind, r.Err)
		}
	}
	return rs
}

func read(t *testing.T, c *Client, cur string) exchange.ReadResult {
	t.Helper()
	res := c.Read(context.Background(), []exchange.ReadRequest{{Mailbox: "tech1@example.com", Window: goldenWindow(),
		Cursor: cur}})
	if res[0].Err != nil {
		t.Fatalf("read: %v", res[0].Err)
	}
	return res[0]
}

// TestGoldenEnvelopes records the request envelope of every operation, in both access modes, and compares it with
// testdata. Run with -update to rewrite the files after a deliberate change.
func TestGoldenEnvelopes(t *testing.T) {
	for _, access := range []string{AccessImpersonation, AccessDelegate} {
		for _, tc := range goldenCases {
			name := tc.name + "." + access
			t.Run(name, func(t *testing.T) {
				f := &fakeEWS{}
				tc.run(t, newFakeClient(t, access, f, nil))
				bodies := f.bodies(tc.op)
				if len(bodies) <= tc.nth {
					t.Fatalf("the operation sent %d %s requests, want more than %d", len(bodies), tc.op, tc.nth)
				}
				got := bodies[tc.nth]
				path := filepath.Join(goldenDir, name+".xml")
				if *update {
					if err := os.MkdirAll(goldenDir, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("read golden file (run go test -update to create it): %v", err)
				}
				if got != string(want) {
					t.Errorf("%s request differs from %s (run with -update if the change is intended)\ngot:\n%s",
						tc.op, path, got)
				}
			})
		}
	}
}

// TestGoldenEnvelopesValidate validates the golden envelopes against Microsoft's EWS schema, as an Exchange server
// would judge them.
func TestGoldenEnvelopesValidate(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint is not on PATH (apt-get install libxml2-utils); CI validates the envelopes itself")
	}
	schema := filepath.Join(schemaDir, "soap-envelope-lax.xsd")
	if _, err := os.Stat(schema); err != nil {
		t.Skipf("the EWS schema is not at %s; CI validates the envelopes itself", schema)
	}
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden envelopes in %s (run go test -update): %v", goldenDir, err)
	}
	out, err := exec.Command(xmllint, append([]string{"--noout", "--schema", schema}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint rejects the envelopes: %v\n%s", err, out)
	}
	// The schema check must be able to fail: a bad example from the schema's own set is rejected.
	bad := filepath.Join(schemaDir, "examples", "bad-order.xml")
	if _, err := os.Stat(bad); err == nil {
		if err := exec.Command(xmllint, "--noout", "--schema", schema, bad).Run(); err == nil {
			t.Errorf("xmllint accepted %s; the validation proves nothing", bad)
		}
	}
}

// TestCalendarItemSchemaOrder checks, without xmllint, that a created CalendarItem's children follow the schema's
// sequence (ItemType's elements, then CalendarItemType's), which Exchange enforces.
func TestCalendarItemSchemaOrder(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(schemaDir, "types.xsd"))
	if err != nil {
		t.Skipf("the EWS schema is not at %s: %v", schemaDir, err)
	}
	order := append(sequenceOf(t, data, "ItemType"), sequenceOf(t, data, "CalendarItemType")...)
	if len(order) < 40 {
		t.Fatalf("read only %d elements from the schema's ItemType and CalendarItemType", len(order))
	}
	w, err := newFakeClient(t, AccessImpersonation, &fakeEWS{}, nil).toWire(goldenEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	out, err := xml.Marshal(w.item)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(string(out)))
	depth, last := 0, -1
	var seen []string
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				name := tok.Name.Local
				i := slices.Index(order, name)
				if i < 0 {
					t.Errorf("CalendarItem child %s is not in the schema", name)
				} else if i < last {
					t.Errorf("CalendarItem child %s comes after %s; the schema wants it before", name, order[last])
				} else {
					last = i
				}
				seen = append(seen, name)
			}
		case xml.EndElement:
			depth--
		}
	}
	if len(seen) < 12 {
		t.Errorf("the created item has children %v; want every field tfsync writes", seen)
	}
}

// sequenceOf lists the element names of a complex type's xs:sequence in types.xsd.
func sequenceOf(t *testing.T, xsd []byte, typeName string) []string {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(xsd)))
	var names []string
	in := false
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if !errors.Is(err, os.ErrClosed) && len(names) == 0 {
				t.Fatalf("complex type %s not found in types.xsd", typeName)
			}
			return names
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Local == "complexType" && attr(tok, "name") == typeName {
				in, depth = true, 0
			}
			if in {
				depth++
				if tok.Name.Local == "element" {
					names = append(names, attr(tok, "name"))
				}
			}
		case xml.EndElement:
			if in {
				depth--
				if depth == 0 {
					return names
				}
			}
		}
	}
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}
