package emulator

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"tfsync/exchange"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/graph")

var (
	uuidRE  = regexp.MustCompile(`("(?:request-id|client-request-id)":")[0-9a-f-]{36}`)
	tokenRE = regexp.MustCompile(`(\$(?:skip|delta)token=)[A-Za-z0-9_-]+`)
)

// TestGoldenWireShapes pins the JSON the Graph front answers with (testdata/graph/*.json), so a change to the
// wire shape shows up in review. Host, request ids and delta tokens are normalised; go test -update rewrites them.
func TestGoldenWireShapes(t *testing.T) {
	f := newFixture(t)
	mb := url.PathEscape(techA)
	created := f.graph("POST", "/users/"+mb+"/events",
		eventBody("Besiktning hiss", "BES-10233", "tfsync-BES-10233", "2026-03-03T09:00:00", "2026-03-03T10:30:00"))
	id := created.json(t)["id"].(string)
	expand := url.Values{"$expand": {"singleValueExtendedProperties($filter=id eq '" + exchange.GraphBookingPropertyID + "')"}}
	expanded := f.graph("GET", "/users/"+mb+"/events/"+id+"?"+expand.Encode(), nil,
		"Prefer", `outlook.timezone="W. Europe Standard Time"`)
	first := f.graph("GET", "/users/"+mb+"/calendarView/delta?"+deltaWindow, nil)
	if err := f.em.DeleteEvent(techA, id); err != nil {
		t.Fatal(err)
	}
	removed := f.graph("GET", first.json(t)["@odata.deltaLink"].(string), nil)
	unknown := f.graph("GET", "/users/"+unknownUser+"/events", nil)
	_, _, batch := f.batch(t, []map[string]any{{"id": "1", "method": "GET", "url": "/users/" + unknownUser + "/events"}})

	for name, r := range map[string]reply{
		"event_created": created, "event_expanded": expanded, "delta_initial": first, "delta_removed": removed,
		"error_invalid_user": unknown, "batch_item_error": batch,
	} {
		t.Run(name, func(t *testing.T) {
			got := bytes.ReplaceAll(r.body, []byte(f.srv.URL), []byte("https://graph.example"))
			got = uuidRE.ReplaceAll(got, []byte("${1}00000000-0000-4000-8000-000000000000"))
			got = tokenRE.ReplaceAll(got, []byte("${1}TOKEN"))
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatalf("body %s: %v", got, err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", "graph", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (go test -update writes it): %v", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("%s changed; diff it against %s (go test -update rewrites it):\n%s", name, path, pretty.Bytes())
			}
		})
	}
}
