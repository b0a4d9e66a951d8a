package cmd

import (
	"fmt"
	"io"
	gosync "sync"
	"time"
)

// showProgress is true only for a person watching a terminal: a scheduler's log or JSON gets no progress lines.
func (f *Factory) showProgress() bool {
	return f.IO.ErrTTY && f.LogFormat != "json"
}

// progressLine is the one line a pass redraws on a terminal while it reads and writes calendars. Log lines go
// through it too (logWriter), so a log line never lands in the middle of it: the line is wiped, the log line
// written, and the progress line drawn again below.
type progressLine struct {
	mu      gosync.Mutex
	w       io.Writer
	now     func() time.Time
	current string
	sticky  bool // current is drawn again below a log line (the writes); the read count is left above it
	last    time.Time
	read    int
}

// progressRedraw is how often the line is redrawn at most: often enough to look alive, rarely enough to cost nothing.
const progressRedraw = 250 * time.Millisecond

// clearLine wipes the terminal line: carriage return, then erase to its end.
const clearLine = "\r\x1b[K"

func newProgressLine(w io.Writer, now func() time.Time) *progressLine {
	return &progressLine{w: w, now: now}
}

// set shows text as the progress line; unless force, only when the last redraw is long enough ago.
func (p *progressLine) set(text string, force, sticky bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sticky = sticky
	t := p.now()
	if !force && t.Sub(p.last) < progressRedraw {
		p.current = text
		return
	}
	p.last = t
	p.current = text
	fmt.Fprint(p.w, clearLine+text)
}

// done ends the progress line, leaving its last text on the screen.
func (p *progressLine) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current != "" {
		fmt.Fprint(p.w, clearLine+p.current+"\n")
		p.current = ""
	}
}

// readDone counts a mailbox whose calendar has been read.
func (p *progressLine) readDone(string) {
	p.mu.Lock()
	p.read++
	n := p.read
	p.mu.Unlock()
	p.set(fmt.Sprintf("  reading calendars: %d read", n), false, false)
}

// writing is the engine's progress callback while it applies the plan. Small batches show nothing.
func (p *progressLine) writing(done, total int) {
	if total < 100 {
		return
	}
	p.set(fmt.Sprintf("  writing to calendars: %d of %d (%d%%)", done, total, done*100/total), done == total, true)
}

// logWriter returns w made to keep the progress line intact around each log line.
func (p *progressLine) logWriter() io.Writer { return progressLogWriter{p} }

type progressLogWriter struct{ p *progressLine }

func (l progressLogWriter) Write(b []byte) (int, error) {
	p := l.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current == "" {
		return p.w.Write(b)
	}
	if !p.sticky {
		// The engine does not say when the reads end, and the log lines that follow them are the changes it
		// plans: the read count stays on a line of its own, above them.
		fmt.Fprint(p.w, clearLine+p.current+"\n")
		p.current = ""
		return p.w.Write(b)
	}
	fmt.Fprint(p.w, clearLine)
	n, err := p.w.Write(b)
	fmt.Fprint(p.w, p.current)
	return n, err
}
