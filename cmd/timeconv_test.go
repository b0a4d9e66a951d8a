package cmd

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tfsync/cmd/exitcode"
)

// newSmallEnv is an installation with two technicians and a handful of bookings relative to now's day, small
// enough for golden files.
func newSmallEnv(t *testing.T, now time.Time) *env {
	t.Helper()
	e := newBareEnv(t, now, "anna.lindqvist@example.com", "johan.berg@example.com")
	zone := mustStockholm()
	day := func(n int) string {
		l := now.In(zone)
		return time.Date(l.Year(), l.Month(), l.Day()+n, 12, 0, 0, 0, zone).Format("2006-01-02")
	}
	stamp := now.In(zone).Format("2006-01-02T15:04:05")
	_, err := e.db.Exec(`
INSERT INTO resources (id, name, email, sync_enabled) VALUES
  ('RES-101', 'Anna Lindqvist', 'anna.lindqvist@example.com', 1),
  ('RES-102', 'Johan Berg', 'johan.berg@example.com', 1);
INSERT INTO bookings (id, kind, resource_id, title, location, start, "end", updated_at) VALUES
  ('BES-1', 'besiktning', 'RES-101', 'Lekplatsbesiktning Hammarby', 'Hammarby 12:3', ?1 || 'T09:00:00', ?1 || 'T10:30:00', ?5),
  ('ARE-2', 'arende', 'RES-101', 'Droppande kran', 'Solrosen 4', ?2 || 'T13:00:00', NULL, ?5),
  ('RON-3', 'rondering', 'RES-102', 'Fastighetsrondering Eken', 'Eken 1', ?3, NULL, ?5),
  ('RON-4', 'rondering', 'RES-102', 'Fastighetsrondering Solrosen', 'Solrosen 4', ?4, NULL, ?5);`,
		day(1), day(2), day(3), day(4), stamp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.config, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TFSYNC_TEST_SECRET", "s3cr3t-value-never-printed")
	return e
}

var (
	goldenRunID   = regexp.MustCompile(`("run_id": ")[0-9a-f]+(")`)
	goldenEventID = regexp.MustCompile(`("event_id": ")[^"]+(")`)
	goldenTextRun = regexp.MustCompile(`(  run )[0-9a-f]{12}\b`)
)

// TestDryRunTimesGolden pins one time convention for admins in both daylight-saving seasons: text shows every
// time local in [tf] time_zone, the zone named once in the table's header, all-day rounds as dates (deletes too,
// which are planned from UTC instants in the store); JSON uses RFC 3339 with the zone's offset throughout and
// marks all-day events with all_day and their dates.
func TestDryRunTimesGolden(t *testing.T) {
	for _, season := range []struct {
		name string
		now  time.Time
	}{
		{"summer", time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)},
		{"winter", time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)},
	} {
		t.Run(season.name, func(t *testing.T) {
			e := newSmallEnv(t, season.now)
			var text, js []byte
			step := func(title string) {
				_, out, _ := e.run("dry-run")
				out = strings.ReplaceAll(out, e.dir, "DIR")
				text = append(text, "== "+title+"\n"+goldenTextRun.ReplaceAllString(out, "${1}RUN")+"\n"...)
				_, out, _ = e.run("dry-run", "--output", "json")
				out = strings.ReplaceAll(out, e.dir, "DIR")
				// The emulator, like Exchange, gives every run its own event ids.
				out = goldenEventID.ReplaceAllString(goldenRunID.ReplaceAllString(out, "${1}RUN${2}"), "${1}EVENT${2}")
				js = append(js, "== "+title+"\n"+out+"\n"...)
			}
			step("creates")
			if code, out, errOut := e.run("sync"); code != exitcode.OK {
				t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
			}
			if _, err := e.db.Exec(`DELETE FROM bookings WHERE id IN ('ARE-2', 'RON-3')`); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(5 * time.Minute)
			step("deletes after ARE-2 and the all-day RON-3 left TF")
			golden(t, filepath.Join("testdata", "times", "dryrun-"+season.name+".txt"), text)
			golden(t, filepath.Join("testdata", "times", "dryrun-"+season.name+".json"), js)
		})
	}
}

// golden compares got with a golden file; -update rewrites it.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (run go test -update and review the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
