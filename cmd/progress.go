package cmd

import (
	"fmt"
	"io"
	"time"
)

// showProgress is true only for a person watching a terminal: a scheduler's log or JSON gets no progress lines.
func (f *Factory) showProgress() bool {
	return f.IO.ErrTTY && f.LogFormat != "json"
}

// newProgress returns a progress callback that redraws one line at most a few times a second and only for
// batches worth watching (a first pass of hundreds of events).
func newProgress(w io.Writer, now func() time.Time) func(done, total int) {
	var last time.Time
	return func(done, total int) {
		if total < 100 {
			return
		}
		t := now()
		if done < total && t.Sub(last) < 250*time.Millisecond {
			return
		}
		last = t
		fmt.Fprintf(w, "\r  writing to calendars: %d of %d (%d%%)", done, total, done*100/total)
		if done == total {
			fmt.Fprintln(w)
		}
	}
}
