package cmd

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"tfsync/cmd/exitcode"
	"tfsync/exchange"
	"tfsync/exchange/emulator"
)

const roundTripMailbox = "karin.ek@example.com"

// plantOwnEvent gives the round trip's mailbox an event of the user's own, which the round trip must not touch.
func plantOwnEvent(t *testing.T, em *emulator.Emulator) exchange.Event {
	t.Helper()
	own, err := em.AddUserEvent(roundTripMailbox, exchange.Event{Subject: "Tandläkare",
		Start: testNow.Add(26 * time.Hour), End: testNow.Add(27 * time.Hour), ReminderMinutes: exchange.NoReminder})
	if err != nil {
		t.Fatal(err)
	}
	return own
}

// onlyOwnEventLeft checks the mailbox holds exactly the user's event, unchanged.
func onlyOwnEventLeft(t *testing.T, em *emulator.Emulator, own exchange.Event) {
	t.Helper()
	evs := em.Events(roundTripMailbox)
	if len(evs) != 1 || evs[0].ID != own.ID || evs[0].ChangeKey != own.ChangeKey {
		t.Fatalf("mailbox holds %+v, want only the user's own event, untouched", evs)
	}
}

var stepLine = regexp.MustCompile(`(?m)^OK\s+round trip: (create|read back|move|read the move|delete)\s+.*\(\d+(\.\d+)?[µnm]?s\)$`)

func TestRoundTrip(t *testing.T) {
	for _, mode := range []string{"graph", "ews"} {
		t.Run(mode, func(t *testing.T) {
			emu, cfg := fidelityEnv(t, mode)
			own := plantOwnEvent(t, emu.em)
			code, out := testConnection(t, emu, cfg, "--round-trip", roundTripMailbox)
			if code != exitcode.OK {
				t.Fatalf("exit %d\n%s", code, out)
			}
			if n := len(stepLine.FindAllString(out, -1)); n != 5 {
				t.Fatalf("%d of 5 round-trip steps reported OK with their time:\n%s", n, out)
			}
			if strings.Contains(out, "clean up") {
				t.Errorf("a clean run reports a clean-up:\n%s", out)
			}
			onlyOwnEventLeft(t, emu.em, own)
			if n := len(emu.em.Tombstones(roundTripMailbox)); n != 1 {
				t.Errorf("%d deleted events, want the one test event", n)
			}
		})
	}
}

// A failure half-way (the move is refused) still deletes the test event, and reports the clean-up.
func TestRoundTripCleansUpAfterAFailure(t *testing.T) {
	for _, mode := range []string{"graph", "ews"} {
		t.Run(mode, func(t *testing.T) {
			emu, cfg := fidelityEnv(t, mode)
			own := plantOwnEvent(t, emu.em)
			emu.em.SetFaults(emulator.Faults{Hook: func(op emulator.FaultOp) *emulator.FaultReply {
				if op.Mailbox != roundTripMailbox {
					return nil
				}
				if (op.Front == "graph" && op.Method == "PATCH") || (op.Front == "ews" && op.Path == "UpdateItem") {
					return &emulator.FaultReply{Status: 403, Code: "ErrorAccessDenied", Message: "Access is denied."}
				}
				return nil
			}})
			code, out := testConnection(t, emu, cfg, "--round-trip", roundTripMailbox)
			if code != exitcode.Auth {
				t.Fatalf("exit %d, want 3\n%s", code, out)
			}
			for _, want := range []*regexp.Regexp{
				regexp.MustCompile(`(?m)^OK\s+round trip: create\s`),
				regexp.MustCompile(`(?m)^FAIL\s+round trip: move\s+round trip in karin\.ek@example\.com, move \(after `),
				regexp.MustCompile(`(?m)^OK\s+round trip: clean up\s+deleted the test event after the failure`),
			} {
				if !want.MatchString(out) {
					t.Errorf("output does not match %s:\n%s", want, out)
				}
			}
			if strings.Contains(out, "round trip: delete") {
				t.Errorf("steps after the failure ran:\n%s", out)
			}
			onlyOwnEventLeft(t, emu.em, own)
		})
	}
}

// A mailbox the app may not write fails the round trip before anything is created.
func TestRoundTripDeniedMailbox(t *testing.T) {
	for _, mode := range []string{"graph", "ews"} {
		t.Run(mode, func(t *testing.T) {
			emu, cfg := fidelityEnv(t, mode)
			own := plantOwnEvent(t, emu.em)
			emu.em.SetMailbox(roundTripMailbox, emulator.MailboxOptions{Blocked: mode == "graph", NoImpersonation: mode == "ews"})
			code, out := testConnection(t, emu, cfg, "--round-trip", roundTripMailbox)
			if code != exitcode.Auth || !strings.Contains(out, "round trip: create") || !strings.Contains(out, roundTripMailbox) {
				t.Fatalf("exit %d, want 3 with the create step failing for %s\n%s", code, roundTripMailbox, out)
			}
			emu.em.SetMailbox(roundTripMailbox, emulator.MailboxOptions{})
			onlyOwnEventLeft(t, emu.em, own)
			if n := len(emu.em.Tombstones(roundTripMailbox)); n != 0 {
				t.Errorf("%d deleted events in a mailbox the app may not write", n)
			}
		})
	}
}
