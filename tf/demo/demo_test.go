package demo

import (
	"strings"
	"testing"
	"time"
)

func stockholm(t *testing.T) *time.Location {
	t.Helper()
	zone, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Fatalf("load zone: %v", err)
	}
	return zone
}

func TestDemoSQLPlaceholders(t *testing.T) {
	got, err := SQL(time.Date(2026, 3, 28, 23, 59, 0, 0, time.UTC), stockholm(t)) // 00:59 on the 29th
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "{{") {
		t.Error("unexpanded placeholder left in the demo SQL")
	}
	// BES-10233 is {{day +1}}: the day after the 29th in Stockholm, whatever UTC says.
	if !strings.Contains(got, "'2026-03-30T09:00:00'") {
		t.Error("day offsets are not counted from the local date")
	}
}

// A placeholder SQL does not know is an error naming it, not SQL with the braces left in.
func TestDemoSQLUnknownPlaceholder(t *testing.T) {
	saved := tfSQL
	t.Cleanup(func() { tfSQL = saved })
	tfSQL = "SELECT '{{day +1}}', '{{week 2}}', '{{day x}}';"
	_, err := SQL(time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC), stockholm(t))
	if err == nil || !strings.Contains(err.Error(), "{{week 2}}") || !strings.Contains(err.Error(), "{{day x}}") {
		t.Errorf("SQL with unknown placeholders: err = %v, want one naming {{week 2}} and {{day x}}", err)
	}
}
