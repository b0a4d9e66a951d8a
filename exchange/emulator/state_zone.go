package emulator

import (
	"fmt"
	"strings"
	"time"
)

// windowsZones maps the Windows time zone ids Exchange and Graph accept to IANA zones (CLDR's "001" territory
// mapping), for the zones tfsync's users are likely to meet. Both fronts accept either kind of name.
var windowsZones = map[string]string{
	"UTC":                            "UTC",
	"GMT Standard Time":              "Europe/London",
	"Greenwich Standard Time":        "Atlantic/Reykjavik",
	"W. Europe Standard Time":        "Europe/Berlin",
	"Central Europe Standard Time":   "Europe/Budapest",
	"Central European Standard Time": "Europe/Warsaw",
	"Romance Standard Time":          "Europe/Paris",
	"FLE Standard Time":              "Europe/Kiev",
	"GTB Standard Time":              "Europe/Bucharest",
	"E. Europe Standard Time":        "Europe/Chisinau",
	"Russian Standard Time":          "Europe/Moscow",
	"Eastern Standard Time":          "America/New_York",
	"Central Standard Time":          "America/Chicago",
	"Mountain Standard Time":         "America/Denver",
	"Pacific Standard Time":          "America/Los_Angeles",
}

// ianaToWindows maps IANA zones to the Windows id Exchange would write for them (EWS StartTimeZone Id).
var ianaToWindows = map[string]string{
	"UTC":                 "UTC",
	"Etc/UTC":             "UTC",
	"Europe/London":       "GMT Standard Time",
	"Europe/Dublin":       "GMT Standard Time",
	"Atlantic/Reykjavik":  "Greenwich Standard Time",
	"Europe/Stockholm":    "W. Europe Standard Time",
	"Europe/Oslo":         "W. Europe Standard Time",
	"Europe/Copenhagen":   "Romance Standard Time",
	"Europe/Berlin":       "W. Europe Standard Time",
	"Europe/Amsterdam":    "W. Europe Standard Time",
	"Europe/Vienna":       "W. Europe Standard Time",
	"Europe/Zurich":       "W. Europe Standard Time",
	"Europe/Rome":         "W. Europe Standard Time",
	"Europe/Paris":        "Romance Standard Time",
	"Europe/Brussels":     "Romance Standard Time",
	"Europe/Madrid":       "Romance Standard Time",
	"Europe/Budapest":     "Central Europe Standard Time",
	"Europe/Prague":       "Central Europe Standard Time",
	"Europe/Warsaw":       "Central European Standard Time",
	"Europe/Helsinki":     "FLE Standard Time",
	"Europe/Kiev":         "FLE Standard Time",
	"Europe/Tallinn":      "FLE Standard Time",
	"Europe/Riga":         "FLE Standard Time",
	"Europe/Vilnius":      "FLE Standard Time",
	"Europe/Bucharest":    "GTB Standard Time",
	"Europe/Athens":       "GTB Standard Time",
	"Europe/Moscow":       "Russian Standard Time",
	"America/New_York":    "Eastern Standard Time",
	"America/Chicago":     "Central Standard Time",
	"America/Denver":      "Mountain Standard Time",
	"America/Los_Angeles": "Pacific Standard Time",
}

// LoadZone resolves a time zone name as Graph and EWS accept it: an IANA name ("Europe/Stockholm"), a Windows id
// ("W. Europe Standard Time"), or "" for UTC. Windows ids resolve to the IANA zone CLDR maps them to, which has
// the same offsets and DST rules.
func LoadZone(name string) (*time.Location, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return time.UTC, nil
	}
	if iana, ok := windowsZones[name]; ok {
		name = iana
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}

// WindowsZone returns the Windows time zone id for a zone name (IANA or already Windows), and false when it is
// not one the emulator knows (a front then writes UTC times with the "UTC" id).
func WindowsZone(name string) (string, bool) {
	if _, ok := windowsZones[name]; ok {
		return name, true
	}
	id, ok := ianaToWindows[name]
	return id, ok
}
