package ews

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Exchange names time zones by their Windows ids. ianaToWindows follows CLDR's windowsZones table for Europe, UTC
// and the zones around it; TF runs in Sweden, and an installation elsewhere gets a clear error naming its zone.
var ianaToWindows = map[string]string{
	"UTC": "UTC", "Etc/UTC": "UTC", "Etc/UCT": "UTC", "Etc/Universal": "UTC", "Etc/Zulu": "UTC",
	"Etc/GMT": "UTC", "GMT": "UTC",

	"Europe/Amsterdam": "W. Europe Standard Time", "Europe/Andorra": "W. Europe Standard Time",
	"Europe/Berlin": "W. Europe Standard Time", "Europe/Busingen": "W. Europe Standard Time",
	"Europe/Gibraltar": "W. Europe Standard Time", "Europe/Luxembourg": "W. Europe Standard Time",
	"Europe/Malta": "W. Europe Standard Time", "Europe/Monaco": "W. Europe Standard Time",
	"Europe/Oslo": "W. Europe Standard Time", "Europe/Rome": "W. Europe Standard Time",
	"Europe/San_Marino": "W. Europe Standard Time", "Europe/Stockholm": "W. Europe Standard Time",
	"Europe/Vaduz": "W. Europe Standard Time", "Europe/Vatican": "W. Europe Standard Time",
	"Europe/Vienna": "W. Europe Standard Time", "Europe/Zurich": "W. Europe Standard Time",
	"Arctic/Longyearbyen": "W. Europe Standard Time",

	"Europe/Belgrade": "Central Europe Standard Time", "Europe/Bratislava": "Central Europe Standard Time",
	"Europe/Budapest": "Central Europe Standard Time", "Europe/Ljubljana": "Central Europe Standard Time",
	"Europe/Podgorica": "Central Europe Standard Time", "Europe/Prague": "Central Europe Standard Time",
	"Europe/Tirane": "Central Europe Standard Time",

	"Europe/Brussels": "Romance Standard Time", "Europe/Copenhagen": "Romance Standard Time",
	"Europe/Madrid": "Romance Standard Time", "Europe/Paris": "Romance Standard Time",
	"Africa/Ceuta": "Romance Standard Time",

	"Europe/Sarajevo": "Central European Standard Time", "Europe/Skopje": "Central European Standard Time",
	"Europe/Warsaw": "Central European Standard Time", "Europe/Zagreb": "Central European Standard Time",

	"Europe/London": "GMT Standard Time", "Europe/Dublin": "GMT Standard Time", "Europe/Lisbon": "GMT Standard Time",
	"Europe/Guernsey": "GMT Standard Time", "Europe/Isle_of_Man": "GMT Standard Time",
	"Europe/Jersey": "GMT Standard Time", "Atlantic/Canary": "GMT Standard Time",
	"Atlantic/Faroe": "GMT Standard Time", "Atlantic/Madeira": "GMT Standard Time",

	"Atlantic/Reykjavik": "Greenwich Standard Time",
	"Atlantic/Azores":    "Azores Standard Time",

	"Europe/Helsinki": "FLE Standard Time", "Europe/Kiev": "FLE Standard Time", "Europe/Kyiv": "FLE Standard Time",
	"Europe/Mariehamn": "FLE Standard Time", "Europe/Riga": "FLE Standard Time", "Europe/Sofia": "FLE Standard Time",
	"Europe/Tallinn": "FLE Standard Time", "Europe/Vilnius": "FLE Standard Time",
	"Europe/Uzhgorod": "FLE Standard Time", "Europe/Zaporozhye": "FLE Standard Time",

	"Europe/Athens": "GTB Standard Time", "Europe/Bucharest": "GTB Standard Time",
	"Asia/Nicosia": "GTB Standard Time", "Asia/Famagusta": "GTB Standard Time", "Europe/Nicosia": "GTB Standard Time",

	"Europe/Chisinau":    "E. Europe Standard Time",
	"Europe/Kaliningrad": "Kaliningrad Standard Time",
	"Europe/Minsk":       "Belarus Standard Time",
	"Europe/Istanbul":    "Turkey Standard Time",
	"Europe/Moscow":      "Russian Standard Time", "Europe/Simferopol": "Russian Standard Time",
	"Europe/Kirov":     "Russian Standard Time",
	"Europe/Volgograd": "Volgograd Standard Time",
	"Europe/Astrakhan": "Astrakhan Standard Time", "Europe/Ulyanovsk": "Astrakhan Standard Time",
	"Europe/Saratov": "Saratov Standard Time",
	"Europe/Samara":  "Russia Time Zone 3",
}

// windowsToIANA is CLDR's default ("001") zone for each Windows id above.
var windowsToIANA = map[string]string{
	"UTC":                            "UTC",
	"W. Europe Standard Time":        "Europe/Berlin",
	"Central Europe Standard Time":   "Europe/Budapest",
	"Romance Standard Time":          "Europe/Paris",
	"Central European Standard Time": "Europe/Warsaw",
	"GMT Standard Time":              "Europe/London",
	"Greenwich Standard Time":        "Atlantic/Reykjavik",
	"Azores Standard Time":           "Atlantic/Azores",
	"FLE Standard Time":              "Europe/Kiev",
	"GTB Standard Time":              "Europe/Bucharest",
	"E. Europe Standard Time":        "Europe/Chisinau",
	"Kaliningrad Standard Time":      "Europe/Kaliningrad",
	"Belarus Standard Time":          "Europe/Minsk",
	"Turkey Standard Time":           "Europe/Istanbul",
	"Russian Standard Time":          "Europe/Moscow",
	"Volgograd Standard Time":        "Europe/Volgograd",
	"Astrakhan Standard Time":        "Europe/Astrakhan",
	"Saratov Standard Time":          "Europe/Saratov",
	"Russia Time Zone 3":             "Europe/Samara",
}

// WindowsZone returns the Windows time zone id Exchange uses for an IANA zone name.
func WindowsZone(iana string) (string, error) {
	if id, ok := ianaToWindows[iana]; ok {
		return id, nil
	}
	return "", fmt.Errorf("time zone %q has no Windows time zone id that tfsync knows: set [tf] time_zone to a "+
		"European zone such as \"Europe/Stockholm\", or UTC", iana)
}

// ianaZone names a Windows zone id in IANA terms: the configured zone when it is the same Windows zone (so an
// event written in Europe/Stockholm reads back as Europe/Stockholm, not Europe/Berlin), else CLDR's default, else "".
func ianaZone(windowsID string, preferred *time.Location) string {
	if windowsID == "" {
		return ""
	}
	if preferred != nil {
		if id, ok := ianaToWindows[preferred.String()]; ok && id == windowsID {
			return preferred.String()
		}
	}
	return windowsToIANA[windowsID]
}

var zoneCache sync.Map // IANA name -> *time.Location

// loadZone loads an IANA zone once.
func loadZone(name string) (*time.Location, error) {
	if loc, ok := zoneCache.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("load time zone %q: %w", name, err)
	}
	zoneCache.Store(name, loc)
	return loc, nil
}

// zoneFromDefinition picks an IANA zone for a time zone definition whose id maps to none: the preferred zone when
// the definition's periods have its offsets, else the fixed-offset Etc/GMT zone of the definition's standard
// period (whole hours only; the preferred zone's offsets are taken in the year of at; "" otherwise, and the caller falls back to the preferred zone). The times of the item
// are instants either way; the zone only decides the dates of an all-day event.
func zoneFromDefinition(def *timeZoneXML, preferred *time.Location, at time.Time) string {
	var offsets []int // seconds east of UTC, standard first
	for _, p := range def.Periods {
		bias, ok := parseXSDuration(p.Bias)
		if !ok {
			return ""
		}
		off := -int(bias / time.Second) // a Period's Bias is what is added to local time to get UTC
		if strings.EqualFold(p.Name, "Standard") {
			offsets = append([]int{off}, offsets...)
		} else {
			offsets = append(offsets, off)
		}
	}
	if len(offsets) == 0 {
		return ""
	}
	if preferred != nil {
		year := at.In(preferred).Year()
		_, jan := time.Date(year, 1, 1, 0, 0, 0, 0, preferred).Zone()
		_, jul := time.Date(year, 7, 1, 0, 0, 0, 0, preferred).Zone()
		std, dst := min(jan, jul), max(jan, jul)
		want := []int{std}
		if dst != std {
			want = append(want, dst)
		}
		got := slices.Clone(offsets)
		slices.Sort(got)
		got = slices.Compact(got)
		if slices.Equal(got, want) {
			return preferred.String()
		}
	}
	std := offsets[0]
	if std%3600 != 0 || std < -12*3600 || std > 14*3600 {
		return ""
	}
	if std == 0 {
		return "UTC"
	}
	// Etc/GMT zones have POSIX signs: Etc/GMT-9 is nine hours east of UTC.
	return fmt.Sprintf("Etc/GMT%+d", -std/3600)
}

// parseXSDuration reads the xs:duration forms time zone definitions use: "-PT1H", "PT2H30M", "PT0M".
func parseXSDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if !strings.HasPrefix(s, "PT") {
		return 0, false
	}
	d, err := time.ParseDuration(strings.ToLower(strings.TrimPrefix(s, "PT")))
	if err != nil {
		return 0, false
	}
	if neg {
		d = -d
	}
	return d, true
}
