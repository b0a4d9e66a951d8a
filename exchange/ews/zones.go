package ews

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"tfsync/exchange"
)

// WindowsZone returns the Windows time zone id Exchange uses for an IANA zone name.
func WindowsZone(iana string) (string, error) {
	if id, ok := exchange.WindowsZone(iana); ok {
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
		if id, ok := exchange.WindowsZone(preferred.String()); ok && id == windowsID {
			return preferred.String()
		}
	}
	iana, _ := exchange.IANAZone(windowsID)
	return iana
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
