package tf

import (
	"fmt"
	"strings"
	"time"
)

// TF stores times as local wall times without an offset, in the zone configured as [tf] time_zone.
const (
	// WallLayout is how tfsync writes a booking's time ('YYYY-MM-DDTHH:MM:SS').
	WallLayout = "2006-01-02T15:04:05"
	// DateLayout is how tfsync writes an all-day (rondering) booking's start.
	DateLayout = "2006-01-02"
)

// wallLayouts are the datetime spellings accepted on read. TF and hand-written integrations use both the ISO "T"
// and SQL's space, with and without seconds.
var wallLayouts = []string{
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
}

// wallValue is a parsed wall time: its date and, unless dateOnly, its time of day.
type wallValue struct {
	y         int
	mo        time.Month
	d         int
	h, mi, s  int
	dateOnly  bool
	formatted string // the text as read, for messages
}

// parseWall reads one stored time. It accepts the datetime layouts above and a bare date; the caller decides
// whether a bare date is acceptable. Fractional seconds are accepted and dropped: bookings are kept to the second.
func parseWall(s string) (wallValue, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return wallValue{}, fmt.Errorf("empty; write a local time such as 2026-03-02T09:00:00")
	}
	for _, layout := range wallLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return wallValue{y: t.Year(), mo: t.Month(), d: t.Day(), h: t.Hour(), mi: t.Minute(), s: t.Second(),
				formatted: s}, nil
		}
	}
	if t, err := time.Parse(DateLayout, s); err == nil {
		return wallValue{y: t.Year(), mo: t.Month(), d: t.Day(), dateOnly: true, formatted: s}, nil
	}
	return wallValue{}, fmt.Errorf("%q is not a local time; write it like 2026-03-02T09:00:00 "+
		"(local time in the TF time zone, no offset; a bare date 2026-03-02 only for rondering)", s)
}

// instant resolves the wall time in zone.
func (w wallValue) instant(zone *time.Location) time.Time {
	return resolveWall(w.y, w.mo, w.d, w.h, w.mi, w.s, zone)
}

// midnight is the local midnight that starts the value's date.
func (w wallValue) midnight(zone *time.Location) time.Time {
	return resolveWall(w.y, w.mo, w.d, 0, 0, 0, zone)
}

// nextMidnight is the local midnight that ends the value's date, whatever the day's length (23 or 25 hours on
// the days daylight saving time starts or ends).
func (w wallValue) nextMidnight(zone *time.Location) time.Time {
	return resolveWall(w.y, w.mo, w.d+1, 0, 0, 0, zone)
}

// resolveWall turns a wall-clock reading in zone into an instant, with fixed rules for the two DST edge cases:
//
//   - A time repeated when clocks go back (Europe/Stockholm 2026-10-25 02:30) is the first of its two instants,
//     the one still in summer time. time.Date leaves the choice open (and picks the later one today).
//   - A time skipped when clocks go forward (2026-03-29 02:30) does not exist. It is read with the offset in
//     force before the change, which lands the same distance after the gap: 02:30 becomes 03:30 summer time, as
//     time.Date does. TF itself cannot show such a time, so it only comes from hand-written rows.
func resolveWall(y int, mo time.Month, d, h, mi, s int, zone *time.Location) time.Time {
	asUTC := time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	// Zone offsets a day either side bound the ones that can apply: no real zone changes offset twice in a day.
	_, before := asUTC.Add(-24 * time.Hour).In(zone).Zone()
	_, after := asUTC.Add(24 * time.Hour).In(zone).Zone()
	var best time.Time
	for _, off := range []int{before, after} {
		c := asUTC.Add(-time.Duration(off) * time.Second).In(zone)
		// Compare with asUTC, not the arguments: time.Date normalises overflow such as day 32.
		if sameWall(c, asUTC) {
			if best.IsZero() || c.Before(best) {
				best = c
			}
		}
	}
	if best.IsZero() {
		// The wall time falls in a gap.
		best = asUTC.Add(-time.Duration(before) * time.Second).In(zone)
	}
	return best
}

func sameWall(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	ah, ami, as := a.Clock()
	bh, bmi, bs := b.Clock()
	return ay == by && am == bm && ad == bd && ah == bh && ami == bmi && as == bs
}

// formatWall writes t as a local wall time in zone, to the second.
func formatWall(t time.Time, zone *time.Location) string {
	return t.In(zone).Format(WallLayout)
}
