package cmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	"tfsync/exchange/emulator"
	"tfsync/sync"
)

// fidelityEnv is the demo's TF database and an emulator behind HTTPS, with a configuration for one backend.
func fidelityEnv(t *testing.T, mode string) (*emulatorSetup, string) {
	t.Helper()
	emu, _ := graphEnv(t)
	cfg := filepath.Join(filepath.Dir(emu.caFile), "tfsync-"+mode+".toml")
	if err := os.WriteFile(cfg, []byte(emu.configTOML(mode)), 0o600); err != nil {
		t.Fatal(err)
	}
	return emu, cfg
}

// passTotals is what one sync pass did, summed over the mailboxes.
type passTotals struct{ created, updated, deleted int }

func syncPass(t *testing.T, emu *emulatorSetup, cfg string) passTotals {
	t.Helper()
	io, out, errOut := TestIO()
	f := NewFactory(io)
	f.NewCalendar = emu.calendarFor
	f.Now = func() time.Time { return testNow }
	code := run(context.Background(), f, []string{"sync", "--config", cfg, "--output", "json"})
	if code != exitcode.OK {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	var r sync.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("sync output: %v\n%s", err, out.String())
	}
	var p passTotals
	for _, m := range r.Mailboxes {
		p.created += m.Created
		p.updated += m.Updated
		p.deleted += m.Deleted
	}
	return p
}

// A server that rewrites HTML bodies (Graph stores them as whole documents; EWS converts them on every save) must
// not make tfsync rewrite its events on every pass, and a technician's edit of the text is restored exactly once.
func TestBodyRewritingServer(t *testing.T) {
	for _, mode := range []string{"graph", "ews"} {
		t.Run(mode, func(t *testing.T) {
			emu, cfg := fidelityEnv(t, mode)
			if p := syncPass(t, emu, cfg); p.created == 0 {
				t.Fatalf("first pass created nothing: %+v", p)
			}
			mb, ev := firstSynced(t, emu.em, emu.mailboxes)
			switch mode {
			case "graph":
				if !strings.HasPrefix(ev.Body, "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>") {
					t.Fatalf("Graph stored the body as written, not as a document: %q", ev.Body)
				}
			case "ews":
				if !strings.Contains(ev.Body, `<meta name="Generator" content="Microsoft Exchange Server">`) {
					t.Fatalf("EWS stored the body as written, not converted: %q", ev.Body)
				}
			}
			want := sync.BodyText(ev.Body)
			if p := syncPass(t, emu, cfg); p != (passTotals{}) {
				t.Fatalf("idle pass after the server rewrote the bodies wrote %+v", p)
			}
			if err := emu.em.EditEvent(mb, ev.ID, func(d *emulator.EventData) {
				d.Body, d.BodyType = "<p>Nyckel hos grannen</p>", "html"
			}); err != nil {
				t.Fatal(err)
			}
			if p := syncPass(t, emu, cfg); p != (passTotals{updated: 1}) {
				t.Fatalf("the technician's text edit: pass wrote %+v, want one update", p)
			}
			after, err := eventByID(emu.em, mb, ev.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got := sync.BodyText(after.Body); got != want {
				t.Fatalf("restored body text %q, want %q", got, want)
			}
			if p := syncPass(t, emu, cfg); p != (passTotals{}) {
				t.Fatalf("idle pass after the restore wrote %+v", p)
			}
		})
	}
}

// Ids and cursors of realistic length and alphabet (EWS: standard base64 with + / =; Graph: base64url) survive the
// store unchanged.
func TestLongIDsAndCursorsRoundTripThroughTheStore(t *testing.T) {
	for _, mode := range []string{"graph", "ews"} {
		t.Run(mode, func(t *testing.T) {
			emu, cfg := fidelityEnv(t, mode)
			syncPass(t, emu, cfg)
			st, err := sync.OpenStore(context.Background(),
				filepath.Join(filepath.Dir(cfg), "tfsync-state-"+mode+".db"), time.Now)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			links, err := st.Links(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			serverIDs := map[string]bool{}
			for _, mb := range emu.mailboxes {
				var evs []exchange.Event
				if mode == "ews" {
					evs = emulator.EWSControl{Emulator: emu.em}.Events(mb)
				} else {
					evs = emu.em.Events(mb)
				}
				for _, ev := range evs {
					serverIDs[ev.ID] = true
				}
			}
			special := "+/"
			if mode == "graph" {
				special = "-_"
			}
			sawSpecial := false
			for _, l := range links {
				if l.EventID == "" {
					continue
				}
				if len(l.EventID) < 150 || !serverIDs[l.EventID] {
					t.Fatalf("stored event id %q (%d characters) is not a server id of realistic length",
						l.EventID, len(l.EventID))
				}
				sawSpecial = sawSpecial || strings.ContainsAny(l.EventID, special)
			}
			if !sawSpecial {
				t.Errorf("no stored id uses %q: the ids are not in the server's alphabet", special)
			}
			cursors, err := st.Cursors(context.Background())
			if err != nil || len(cursors) == 0 {
				t.Fatalf("cursors %v, %v", cursors, err)
			}
			for mb, c := range cursors {
				if len(c.Cursor) < 300 {
					t.Errorf("cursor of %s is %d characters, want a long server blob kept whole", mb, len(c.Cursor))
				}
			}
			st.Close()
			// The stored cursors resume: an idle pass reads changes from them and writes nothing.
			if p := syncPass(t, emu, cfg); p != (passTotals{}) {
				t.Fatalf("idle pass with long cursors wrote %+v", p)
			}
		})
	}
}

// firstSynced returns a tfsync event (one carrying a booking id) and its mailbox.
func firstSynced(t *testing.T, em *emulator.Emulator, mailboxes []string) (string, emulator.EventData) {
	t.Helper()
	for _, mb := range mailboxes {
		for _, d := range em.RawEvents(mb) {
			if d.BookingID() != "" && d.BodyType == "html" {
				return mb, d
			}
		}
	}
	t.Fatal("no synced event with an HTML body")
	return "", emulator.EventData{}
}

func eventByID(em *emulator.Emulator, mb, id string) (emulator.EventData, error) {
	for _, d := range em.RawEvents(mb) {
		if d.ID == id {
			return d, nil
		}
	}
	return emulator.EventData{}, exchange.ErrNotFound
}
