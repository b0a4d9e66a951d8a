package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	"tfsync/exchange/emulator"
)

type showJSON struct {
	Resource *struct{ ID string }
	Mailbox  *struct {
		Mailbox      string
		HeldDeletes  int    `json:"held_deletes"`
		LinkedEvents int    `json:"linked_events"`
		LastError    string `json:"last_error"`
	}
	Bookings []struct {
		BookingID string `json:"booking_id"`
		Linked    bool
		InStep    bool `json:"in_step"`
		TF        *struct{ Start string }
		Calendar  *struct{ Start string }
		Pending   []struct {
			Action string
			Held   bool
		}
		Failures []struct{ Action, Error string }
	}
}

func (e *env) show(args ...string) (string, showJSON) {
	e.t.Helper()
	code, text, stderr := e.run(append([]string{"show"}, args...)...)
	if code != exitcode.OK {
		e.t.Fatalf("show %v: exit %d\n%s%s", args, code, text, stderr)
	}
	_, out, _ := e.run(append([]string{"show", "-o", "json"}, args...)...)
	var res showJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		e.t.Fatalf("show JSON: %v\n%s", err, out)
	}
	return text, res
}

// TestShow answers "what does tfsync have for Anna?" for a linked booking, one whose delete is held back and one
// whose update failed, in text and JSON, without contacting Exchange.
func TestShow(t *testing.T) {
	e := newEnv(t, "")
	if code, out, _ := e.run("sync"); code != exitcode.OK {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}

	t.Run("linked", func(t *testing.T) {
		text, res := e.show("--booking", "BES-10233")
		if len(res.Bookings) != 1 || !res.Bookings[0].Linked || !res.Bookings[0].InStep || res.Resource == nil || res.Resource.ID != "RES-101" {
			t.Fatalf("%+v", res)
		}
		b := res.Bookings[0]
		if b.TF == nil || b.Calendar == nil || b.TF.Start != b.Calendar.Start || !strings.HasSuffix(b.TF.Start, "+01:00") {
			t.Errorf("times: %+v %+v", b.TF, b.Calendar)
		}
		for _, want := range []string{"Resource RES-101, Anna Lindqvist", "IN TF (Europe/Stockholm)", "BES-10233", "in step"} {
			if !strings.Contains(text, want) {
				t.Errorf("text lacks %q:\n%s", want, text)
			}
		}
		// By e-mail, the whole mailbox.
		_, all := e.show("--resource", "Anna.Lindqvist@example.com")
		if all.Mailbox == nil || all.Mailbox.LinkedEvents != 8 || len(all.Bookings) < 8 {
			t.Errorf("anna: %+v", all.Mailbox)
		}
	})

	t.Run("failed", func(t *testing.T) {
		if _, err := e.db.Exec(`UPDATE bookings SET title = title || ' (ändrad)', version = version + 1 WHERE id = 'BES-10234'`); err != nil {
			t.Fatal(err)
		}
		e.em.SetFault(func(op, mb string) error {
			if op == emulator.OpUpdate && mb == "sara.nilsson@example.com" {
				return fmt.Errorf("injected: %w", exchange.ErrInvalidEvent)
			}
			return nil
		})
		defer e.em.SetFault(nil)
		e.clock.Advance(5 * time.Minute)
		if code, out, _ := e.run("sync"); code != exitcode.Partial {
			t.Fatalf("sync with a failing update: exit %d\n%s", code, out)
		}
		text, res := e.show("--booking", "BES-10234")
		if len(res.Bookings) != 1 || len(res.Bookings[0].Failures) != 1 || res.Bookings[0].Failures[0].Action != "update" ||
			!strings.Contains(res.Bookings[0].Failures[0].Error, "injected") {
			t.Fatalf("%+v", res.Bookings)
		}
		if !strings.Contains(text, "failed: ") {
			t.Errorf("text does not say it failed:\n%s", text)
		}
	})

	t.Run("held", func(t *testing.T) {
		if _, err := e.db.Exec(`DELETE FROM bookings WHERE resource_id = 'RES-101'`); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(5 * time.Minute)
		if code, out, _ := e.run("sync"); code != exitcode.Held {
			t.Fatalf("sync deleting all of Anna's bookings: exit %d, want 5\n%s", code, out)
		}
		text, res := e.show("--resource", "RES-101")
		held := 0
		for _, b := range res.Bookings {
			if len(b.Pending) == 1 && b.Pending[0].Held && b.Pending[0].Action == "delete" && b.Linked && b.TF == nil {
				held++
			}
		}
		if held != 8 || res.Mailbox == nil || res.Mailbox.HeldDeletes != 8 {
			t.Fatalf("held = %d, mailbox %+v", held, res.Mailbox)
		}
		for _, want := range []string{"8 deletes held back in this mailbox", "(not in TF)", "delete held back by max_delete_percent"} {
			if !strings.Contains(text, want) {
				t.Errorf("text lacks %q:\n%s", want, text)
			}
		}
	})

	t.Run("unknown", func(t *testing.T) {
		if code, _, stderr := e.run("show", "--resource", "RES-999"); code != exitcode.Usage || !strings.Contains(stderr, "list-resources") {
			t.Errorf("unknown resource: exit %d\n%s", code, stderr)
		}
		if code, _, _ := e.run("show"); code != exitcode.Usage {
			t.Errorf("show without a flag: exit %d", code)
		}
	})
}

// show before the first pass answers from TF alone and leaves the state store uncreated, as status and
// list-resources do: show run as another account must not create the store the scheduler writes.
func TestShowBeforeTheFirstPass(t *testing.T) {
	e := newEnv(t, "")
	text, res := e.show("--resource", "RES-101")
	if res.Resource == nil || res.Resource.ID != "RES-101" || res.Mailbox == nil || res.Mailbox.LinkedEvents != 0 || len(res.Bookings) == 0 {
		t.Fatalf("%+v", res)
	}
	for _, b := range res.Bookings {
		if b.Linked {
			t.Errorf("%s is linked before any pass", b.BookingID)
		}
	}
	// A planned booking waits for the first pass; a cancelled or done one is never written.
	for _, want := range []string{"not in the calendar yet", "cancelled in TF: not synced", "done in TF: not synced"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "tfsync-state.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("show created the state store: %v", err)
	}
}
