package cmd

import (
	"fmt"
	"io"
	"time"

	calsync "tfsync/sync"
)

// printBookingProblems lists the bookings tfsync leaves alone until someone acts, with the reason and the fix.
func printBookingProblems(w io.Writer, problems []calsync.BookingProblem, zone *time.Location) {
	if len(problems) == 0 {
		return
	}
	fmt.Fprintln(w, "\nBookings left alone until someone acts:")
	t := newTable(w, "BOOKING", "MAILBOX", "SINCE", "REASON", "FIX")
	for _, p := range problems {
		mb := p.Mailbox
		if mb == "" {
			mb = "-"
		}
		t.Row(p.BookingID, mb, p.Since.In(zone).Format(timeWithZone), p.Reason, p.Fix)
	}
	t.Flush()
}
