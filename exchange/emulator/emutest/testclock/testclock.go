// Package testclock is the one clock of a test, moved by hand. It imports nothing, so that every test can use it:
// the emulator's own in-package tests too, which cannot import the rig in emutest (it imports the emulator).
package testclock

import (
	"sync"
	"time"
)

// Clock is a test's clock: the emulator's (token expiry, change cursors), a backend's, TF's, the store's and the
// engine's all read the same one. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock standing at t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
