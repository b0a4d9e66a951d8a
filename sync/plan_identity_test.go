package sync

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"tfsync/exchange"
	"tfsync/tf"
)

const (
	ours   = "inst-ours"
	theirs = "inst-theirs"
)

// syncedAs is synced for an installation: the link's hash and the event carry its id.
func syncedAs(b tf.Booking, mailbox, eventID, installation string) (Link, exchange.Event) {
	st := testSettings()
	st.InstallationID = installation
	ev := Render(b, st)
	ev.ID, ev.ChangeKey = eventID, "ck-"+eventID
	ev.LastModified = planNow.Add(-24 * time.Hour)
	return Link{BookingID: b.ID, Mailbox: mailbox, EventID: eventID, ChangeKey: ev.ChangeKey, Hash: Hash(ev),
		TFVersion: b.Version, EvStart: ev.Start, EvEnd: ev.End, AllDay: ev.AllDay}, ev
}

// TestPlanIdentity holds the rows of the ownership rules: other installations' events, events of earlier
// versions, re-entering bookings, duplicates and technicians' copies, the empty-TF hold and the pass-wide guard.
func TestPlanIdentity(t *testing.T) {
	bes := booking("BES-1", tf.KindBesiktning, "R1", at(23, 9, 0), 2*time.Hour)
	link1, ev1 := syncedAs(bes, anna, "ev1", ours)
	_, foreignEv := syncedAs(bes, anna, "f1", theirs)
	legacyLink, legacyEv := syncedAs(bes, anna, "ev1", "")
	dup := ev1
	dup.ID, dup.ChangeKey = "ev2", "ck-ev2"
	movedCopy := dup
	movedCopy.Start, movedCopy.End = at(25, 9, 0), at(25, 11, 0)
	retitledCopy := dup
	retitledCopy.Subject = "Min egen kopia"
	other := booking("ARE-7", tf.KindArende, "R2", at(24, 8, 0), time.Hour)
	otherLink, _ := syncedAs(other, bo, "o1", ours)

	many := func(s *scenario, mb, res string, n int, status tf.Status) {
		for i := 0; i < n; i++ {
			b := booking(fmt.Sprintf("K-%s-%d", res, i), tf.KindKontroll, res, at(23, 9, 0), time.Hour)
			b.Status = status
			l, _ := syncedAs(b, mb, fmt.Sprintf("k-%s-%d", res, i), ours)
			s.tf(b).link(l)
		}
	}

	cases := []struct {
		name  string
		build func(*scenario)
		force bool
		want  []string
		check func(t *testing.T, p *Plan)
	}{
		{name: "another installation's event is never planned on; ours is created beside it",
			build: func(s *scenario) { s.tf(bes).seen(anna, foreignEv) },
			want:  []string{"create BES-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				if p.Foreign[anna][theirs] != 1 {
					t.Errorf("foreign = %v, want 1 event of %s in %s", p.Foreign, theirs, anna)
				}
			}},
		{name: "another installation's event of a booking not in TF is not deleted",
			build: func(s *scenario) { s.tf(other).link(otherLink).seen(anna, foreignEv) }},
		{name: "another installation's moved event is not written to TF",
			build: func(s *scenario) {
				moved := foreignEv
				moved.Start, moved.End = at(26, 9, 0), at(26, 11, 0)
				s.tf(bes).link(link1).seen(anna, moved)
			}},
		{name: "a linked event that names another installation is retired, not touched",
			build: func(s *scenario) {
				taken := ev1
				taken.InstallationID, taken.ChangeKey = theirs, "ck-taken"
				s.tf(bes).link(link1).seen(anna, taken)
			},
			want: []string{"create BES-1 anna@example.com", "retire BES-1 anna@example.com"}},
		{name: "an earlier version's event of a booking in TF is adopted and stamped",
			build: func(s *scenario) { s.tf(bes).seen(anna, legacyEv) },
			want:  []string{"relink BES-1 anna@example.com", "update BES-1 anna@example.com after-relink"},
			check: func(t *testing.T, p *Plan) {
				if p.Actions[1].Event.InstallationID != ours {
					t.Errorf("stamping update carries installation %q, want %q", p.Actions[1].Event.InstallationID, ours)
				}
			}},
		{name: "an earlier version's linked event is stamped by an update",
			build: func(s *scenario) { s.tf(bes).link(legacyLink) },
			want:  []string{"update BES-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				if a := p.Actions[0]; a.Event.InstallationID != ours || !strings.Contains(a.Reason, "stamped") {
					t.Errorf("update %+v: want it stamped with %s, and said so", a, ours)
				}
			}},
		{name: "an earlier version's event that nothing here knows is left alone",
			build: func(s *scenario) { s.tf(other).link(otherLink).seen(anna, legacyEv) }},
		{name: "an unlinked event of this installation whose booking left TF is deleted",
			build: func(s *scenario) { s.tf(other).link(otherLink).seen(anna, ev1) },
			want:  []string{"delete BES-1 anna@example.com"}},
		{name: "re-entering: the earlier event is relinked, nothing created",
			build: func(s *scenario) { s.tf(bes).seen(anna, ev1) },
			want:  []string{"relink BES-1 anna@example.com"}},
		{name: "re-entering beside a doubled copy: one relinked, the untouched copy deleted",
			build: func(s *scenario) { s.tf(bes).seen(anna, ev1).seen(anna, dup) },
			want:  []string{"delete BES-1 anna@example.com", "relink BES-1 anna@example.com"}},
		{name: "a lost store: the untouched event is relinked, the technician's moved copy left alone",
			build: func(s *scenario) {
				early := movedCopy
				early.ID = "ev0" // sorts first
				s.tf(bes).seen(anna, early).seen(anna, ev1)
			},
			want: []string{"relink BES-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				if p.Actions[0].EventID != "ev1" || len(p.Copies) != 1 || p.Copies[0].EventID != "ev0" {
					t.Errorf("relinked %s, copies %+v; want ev1 relinked and ev0 left as the technician's", p.Actions[0].EventID, p.Copies)
				}
			}},
		{name: "an untouched duplicate is deleted on an ordinary pass",
			build: func(s *scenario) { s.tf(bes).link(link1).seen(anna, dup) },
			want:  []string{"delete BES-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				if a := p.Actions[0]; a.EventID != "ev2" || !a.Duplicate {
					t.Errorf("deleted %+v, want the duplicate ev2", a)
				}
			}},
		{name: "a copy the technician moved is left alone and reported",
			build: func(s *scenario) { s.tf(bes).link(link1).seen(anna, movedCopy) },
			check: func(t *testing.T, p *Plan) {
				if len(p.Copies) != 1 || p.Copies[0].EventID != "ev2" {
					t.Errorf("copies = %+v, want ev2", p.Copies)
				}
			}},
		{name: "a copy the technician retitled is left alone and reported",
			build: func(s *scenario) { s.tf(bes).link(link1).seen(anna, retitledCopy) },
			check: func(t *testing.T, p *Plan) {
				if len(p.Copies) != 1 {
					t.Errorf("copies = %+v, want one", p.Copies)
				}
			}},
		{name: "a reported copy is not planned on or reported again, even when the booking is cancelled",
			build: func(s *scenario) {
				c := bes
				c.Status = tf.StatusCancelled
				s.tf(c, other).link(link1).link(otherLink).seen(anna, movedCopy)
				s.in.Copies = map[mailboxEvent]bool{copyKey(anna, "ev2"): true}
			},
			want: []string{"delete BES-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				if len(p.Copies) != 0 || p.Actions[0].EventID != "ev1" {
					t.Errorf("copies %+v, actions %+v; want only the linked ev1 deleted", p.Copies, p.Actions)
				}
			}},
		{name: "a cancelled booking: the linked event goes, a copy the technician moved stays",
			build: func(s *scenario) {
				c := bes
				c.Status = tf.StatusCancelled
				s.tf(c, other).link(link1).link(otherLink).seen(anna, movedCopy)
			},
			want: []string{"delete BES-1 anna@example.com"},
			check: func(t *testing.T, p *Plan) {
				if p.Actions[0].EventID != "ev1" || len(p.Copies) != 1 {
					t.Errorf("actions %+v, copies %+v; want ev1 deleted and ev2 reported", p.Actions, p.Copies)
				}
			}},
		{name: "duplicates count toward the delete guard",
			build: func(s *scenario) {
				for i := 0; i < 8; i++ {
					d := ev1
					d.ID = fmt.Sprintf("d%d", i)
					s.seen(anna, d)
				}
				s.tf(bes).link(link1)
			},
			want: func() []string {
				var w []string
				for i := 0; i < 8; i++ {
					w = append(w, "delete BES-1 anna@example.com held")
				}
				return w
			}()},
		{name: "an empty TF holds even a small mailbox's deletes",
			build: func(s *scenario) { s.link(link1) },
			want:  []string{"delete BES-1 anna@example.com held"},
			check: func(t *testing.T, p *Plan) {
				if !strings.Contains(p.TFEmpty, "tf.db") || !strings.Contains(p.TFEmpty, "0 bookings") {
					t.Errorf("TFEmpty = %q, want the database and the counts", p.TFEmpty)
				}
			}},
		{name: "TF without resources holds every delete",
			build: func(s *scenario) {
				s.tf(bes, other).link(link1).link(otherLink)
				s.in.Resources = nil
			},
			want: []string{"delete ARE-7 bo@example.com held", "delete BES-1 anna@example.com held"}},
		{name: "--force applies the empty-TF deletes", force: true,
			build: func(s *scenario) { s.link(link1) },
			want:  []string{"delete BES-1 anna@example.com"}},
		{name: "the pass-wide guard holds many small mailboxes' deletes",
			build: func(s *scenario) {
				many(s, anna, "R1", 4, tf.StatusCancelled)
				many(s, bo, "R2", 4, tf.StatusCancelled)
				s.tf(other).link(otherLink)
			},
			want: []string{"delete K-R1-0 anna@example.com held", "delete K-R1-1 anna@example.com held",
				"delete K-R1-2 anna@example.com held", "delete K-R1-3 anna@example.com held",
				"delete K-R2-0 bo@example.com held", "delete K-R2-1 bo@example.com held",
				"delete K-R2-2 bo@example.com held", "delete K-R2-3 bo@example.com held"},
			check: func(t *testing.T, p *Plan) {
				if c := p.Counts(); c["held"] != 8 || c["delete"] != 0 {
					t.Errorf("counts = %v, want all 8 deletes held", c)
				}
			}},
		{name: "one cancelled booking still goes through",
			build: func(s *scenario) {
				c := bes
				c.Status = tf.StatusCancelled
				s.tf(c, other).link(link1).link(otherLink)
			},
			want: []string{"delete BES-1 anna@example.com"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenario()
			s.in.Settings.InstallationID = ours
			s.in.Settings.TFDatabase = "/srv/tf/tf.db"
			tc.build(s)
			s.in.Force = tc.force
			p := MakePlan(s.in)
			got := summary(p)
			want := append([]string(nil), tc.want...)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("plan:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}
