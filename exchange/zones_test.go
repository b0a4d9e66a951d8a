package exchange

import (
	"testing"
	"time"
)

// TestZoneTables checks the one Windows<->IANA table both backends use: every zone is one Go knows, every Windows
// id written can be read back (to a zone that maps to it again), and a zone and the Windows id it is written as
// keep the same offsets in winter and summer.
func TestZoneTables(t *testing.T) {
	offsets := func(loc *time.Location) [2]int {
		_, jan := time.Date(2026, 1, 15, 12, 0, 0, 0, loc).Zone()
		_, jul := time.Date(2026, 7, 15, 12, 0, 0, 0, loc).Zone()
		return [2]int{jan, jul}
	}
	for iana, win := range ianaToWindows {
		loc, err := time.LoadLocation(iana)
		if err != nil {
			t.Errorf("%s is not a zone Go knows: %v", iana, err)
			continue
		}
		back, ok := IANAZone(win)
		if !ok {
			t.Errorf("%s maps to %q, which windowsToIANA cannot read back", iana, win)
			continue
		}
		def, err := time.LoadLocation(back)
		if err != nil {
			t.Errorf("%s (the default of %q) is not a zone Go knows: %v", back, win, err)
			continue
		}
		if offsets(loc) != offsets(def) {
			t.Errorf("%s has offsets %v, but %q reads back as %s with %v", iana, offsets(loc), win, back, offsets(def))
		}
	}
	for win, iana := range windowsToIANA {
		if got, _ := WindowsZone(iana); got != win {
			t.Errorf("windowsToIANA[%q] = %q, which maps back to %q", win, iana, got)
		}
	}
	// The union of what the two backends knew before they shared the table.
	for iana, win := range map[string]string{
		"Europe/Stockholm": "W. Europe Standard Time", "Europe/Kyiv": "FLE Standard Time", "UTC": "UTC",
		"Europe/Samara": "Russia Time Zone 3", "America/New_York": "Eastern Standard Time",
		"Asia/Tokyo": "Tokyo Standard Time", "Pacific/Auckland": "New Zealand Standard Time",
	} {
		if got, ok := WindowsZone(iana); !ok || got != win {
			t.Errorf("WindowsZone(%q) = %q, %v; want %q", iana, got, ok, win)
		}
	}
	if got, ok := WindowsZone("America/Caracas"); ok {
		t.Errorf("WindowsZone(America/Caracas) = %q; want none, the table does not cover it", got)
	}
}
