package emulator

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"tfsync/exchange"
)

// The EWS front's habits copied from real Exchange, checked on the wire.

func TestEWS503IsIISPage(t *testing.T) {
	f := newEWSFixture(t)
	f.em.SetFaults(Faults{Hook: func(FaultOp) *FaultReply { return &FaultReply{Status: http.StatusServiceUnavailable} }})
	r := f.call(ewsTech1, ewsGetBody(`<t:BaseShape>IdOnly</t:BaseShape>`, "x"))
	if r.status != http.StatusServiceUnavailable || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(r.body, "HTTP Error 503. The service is unavailable.") || strings.Contains(r.body, "Envelope") {
		t.Fatalf("503 answered %d %q:\n%s\nwant IIS's HTML page without SOAP", r.status, r.header.Get("Content-Type"), r.body)
	}
}

func TestEWSAutoResolveKeepsARaisedSensitivity(t *testing.T) {
	f := newEWSFixture(t)
	id, ck := f.create(ewsTech1, "Service", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	if err := f.em.EditEvent(ewsTech1, id, func(d *EventData) { d.Sensitivity = "confidential" }); err != nil {
		t.Fatal(err)
	}
	body := ewsUpdateBody("AutoResolve", ewsSendNone, id, ck,
		ewsSetField("item:Sensitivity", `<t:Sensitivity>Normal</t:Sensitivity>`)+
			ewsSetField("item:Subject", `<t:Subject>Ny rubrik</t:Subject>`))
	msgs := f.call(ewsTech1, body).messages(t, "UpdateItem")
	if got := ewsCodes(msgs); len(got) != 1 || got[0] != "Success NoError" || msgs[0].text("Count") != "1" {
		t.Fatalf("AutoResolve with a stale change key: %v, %s conflicts; want success with one conflict", got,
			msgs[0].text("Count"))
	}
	d, err := f.em.getEvent(ewsTech1, id)
	if err != nil || d.Subject != "Ny rubrik" || d.Sensitivity != "confidential" {
		t.Fatalf("stored %q %q (%v); want the new subject and the other user's Confidential kept", d.Subject,
			d.Sensitivity, err)
	}
}

func TestEWSInjectedConflict(t *testing.T) {
	f := newEWSFixture(t)
	id, ck := f.create(ewsTech1, "Service", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	if err := f.em.InjectConflict(ewsTech1, id); err != nil {
		t.Fatal(err)
	}
	set := ewsSetField("item:Subject", `<t:Subject>Ny rubrik</t:Subject>`)
	msgs := f.call(ewsTech1, ewsUpdateBody("AlwaysOverwrite", ewsSendNone, id, ck, set)).messages(t, "UpdateItem")
	if got := ewsCodes(msgs); len(got) != 1 || got[0] != "Error ErrorIrresolvableConflict" {
		t.Fatalf("update meeting the injected conflict: %v", got)
	}
	d, _ := f.em.getEvent(ewsTech1, id)
	if d.ChangeKey == ck || d.Subject != "Service" {
		t.Fatalf("after the conflict: change key %q (was %q), subject %q; want a new key and no change", d.ChangeKey, ck,
			d.Subject)
	}
	msgs = f.call(ewsTech1, ewsUpdateBody("NeverOverwrite", ewsSendNone, id, d.ChangeKey, set)).messages(t, "UpdateItem")
	if got := ewsCodes(msgs); len(got) != 1 || got[0] != "Success NoError" {
		t.Fatalf("the next update with the current change key: %v", got)
	}
}

func TestEWSForeignZoneHasAFullDefinition(t *testing.T) {
	f := newEWSFixture(t)
	id, _ := f.create(ewsTech1, "Service", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	if err := f.em.SetForeignZone(ewsTech1, id, "Customized Time Zone"); err != nil {
		t.Fatal(err)
	}
	shape := `<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>` +
		`<t:FieldURI FieldURI="calendar:StartTimeZone"/></t:AdditionalProperties>`
	msgs := f.call(ewsTech1, ewsGetBody(shape, id)).messages(t, "GetItem")
	tz := msgs[0].first("StartTimeZone")
	if tz == nil {
		t.Fatal("no StartTimeZone")
	}
	if got, _ := tz.attr("Id"); got != "Customized Time Zone" || len(tz.all("Period")) != 2 ||
		len(tz.all("RecurringDayTransition")) != 2 {
		t.Fatalf("StartTimeZone Id %q with %d periods, %d transitions; want the unmappable id with W. Europe's rules",
			got, len(tz.all("Period")), len(tz.all("RecurringDayTransition")))
	}
}

func TestEWSSyncStateChangesOnEveryCall(t *testing.T) {
	f := newEWSFixture(t)
	f.create(ewsTech1, "Service", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	p1 := f.sync(t, "", 10)
	p2 := f.sync(t, p1.state, 10)
	p3 := f.sync(t, p2.state, 10)
	if len(p2.changes)+len(p3.changes) != 0 || p2.state == p3.state || len(p3.state) < 300 {
		t.Fatalf("idle syncs: changes %v %v, states of %d characters, equal %v; want long states that differ",
			p2.changes, p3.changes, len(p3.state), p2.state == p3.state)
	}
}

func TestControlRoutesForFidelity(t *testing.T) {
	f := newEWSFixture(t)
	id, ck := f.create(ewsTech1, "Service", "B-1", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z")
	for _, r := range []struct{ action, body string }{{"conflict", ""}, {"foreign-zone", `{"zoneId":"Customized Time Zone"}`}} {
		resp, err := f.srv.Client().Post(f.srv.URL+"/_emulator/mailboxes/"+ewsTech1+"/events/"+url.PathEscape(id)+"/"+r.action,
			"application/json", strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s: status %d", r.action, resp.StatusCode)
		}
	}
	d, _ := f.em.getEvent(ewsTech1, id)
	if d.ForeignZone != "Customized Time Zone" {
		t.Errorf("foreign zone %q", d.ForeignZone)
	}
	set := ewsSetField("item:Subject", `<t:Subject>Ny rubrik</t:Subject>`)
	msgs := f.call(ewsTech1, ewsUpdateBody("AlwaysOverwrite", ewsSendNone, id, ck, set)).messages(t, "UpdateItem")
	if got := ewsCodes(msgs); len(got) != 1 || got[0] != "Error ErrorIrresolvableConflict" {
		t.Fatalf("update after the control API's conflict: %v", got)
	}
}

// Two servers (or two runs of the emulator) never hand out the same id: a store kept from an earlier run must not
// find its ids given to other events.
func TestIDsDifferFromRunToRun(t *testing.T) {
	var ids []string
	for range 2 {
		em := New(Options{})
		em.AddMailbox(ewsTech1, MailboxOptions{})
		ev, err := em.AddUserEvent(ewsTech1, exchange.Event{Subject: "Möte", Start: time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC),
			End: time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC), ReminderMinutes: exchange.NoReminder})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	if ids[0] == ids[1] || len(ids[0]) < 150 {
		t.Fatalf("two runs gave the first event the ids %q and %q; want long ids that differ", ids[0], ids[1])
	}
}
