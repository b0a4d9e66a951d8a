// Package exitcode is tfsync's one table of process exit codes: the number, a short name and what it means to the
// person or scheduler that ran tfsync. The error printer, the failure e-mail and the docs test all read it, so the
// README, docs/schedulers.md and the mail cannot say different things about the same code.
package exitcode

// The exit codes. A scheduler alarms on anything but OK.
const (
	OK          = 0 // success; also when another pass holds the run lock
	Failure     = 1 // the pass failed: TF unreadable, state store damaged, an unexpected error
	Usage       = 2 // usage or configuration error
	Auth        = 3 // no calendar could be reached: credentials, consent, network
	Partial     = 4 // some mailboxes or bookings failed, the rest synced
	Held        = 5 // deletes held back by max_delete_percent
	LockStale   = 6 // another pass has held the run lock for over an hour
	Interrupted = 7 // SIGTERM or Ctrl-C stopped the pass at a safe point
)

// Code is one row of the table.
type Code struct {
	Code int
	// Name is a short, stable word for logs and scripts ("partial", "lock-stale").
	Name string
	// Meaning is the sentence the README's and docs/schedulers.md's tables begin their row with, and the failure
	// e-mail quotes.
	Meaning string
}

// table is in code order, with no gaps: TestTable keeps it so.
var table = []Code{
	{OK, "ok", "success, also when another pass holds the run lock (logged)"},
	{Failure, "failure", "the pass failed: TF unreadable, state store damaged, or an unexpected error"},
	{Usage, "usage", "usage or configuration error"},
	{Auth, "auth", "authentication or connection failure: no calendar could be reached"},
	{Partial, "partial", "partial: some mailboxes or bookings failed, the rest synced"},
	{Held, "deletes-held", "deletes held back by max_delete_percent"},
	{LockStale, "lock-stale", "another pass has held the run lock for over an hour"},
	{Interrupted, "interrupted", "interrupted: SIGTERM or Ctrl-C stopped the pass at a safe point"},
}

// All returns the table in code order.
func All() []Code { return append([]Code(nil), table...) }

// Lookup returns the row of code, and false for a number tfsync never exits with.
func Lookup(code int) (Code, bool) {
	if code < 0 || code >= len(table) {
		return Code{}, false
	}
	return table[code], true
}

// Name is the code's short name, or "" for a number tfsync never exits with.
func Name(code int) string {
	c, _ := Lookup(code)
	return c.Name
}

// Meaning is what the code means, or "" for a number tfsync never exits with.
func Meaning(code int) string {
	c, _ := Lookup(code)
	return c.Meaning
}
