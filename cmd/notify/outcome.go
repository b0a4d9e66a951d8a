package notify

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"

	"tfsync/cmd/exitcode"
)

// A notice lists at most this many mailboxes and this many problems per mailbox; the log has the rest.
const (
	MaxMailboxes = 20
	MaxProblems  = 5
)

// Outcome is what the notifier needs to know about a finished pass. cmd builds it from the pass's error and report;
// the notifier knows nothing of how a pass runs.
type Outcome struct {
	ExitCode int
	RunID    string
	Error    string // the pass's error text; empty when it succeeded
	// Class names what kind of error ended the pass ("auth", "partial", "tf", "store-corrupt", ...); it is part of
	// the failure's fingerprint, unlike the error text, which may carry counts and ids that change every pass.
	Class      string
	Mailboxes  []MailboxFailure // sorted by mailbox; AddProblem and SetHeld keep them so
	Held       int              // deletes held back by max_delete_percent in the whole pass
	ConfigPath string
	// LockHeld is set when the pass left because another pass held the run lock: exit 0, yet it says nothing
	// about whether syncing works, so it is neither a failure nor a recovery.
	LockHeld bool
	// Warnings are things that will fail soon, such as a credential about to expire; the failure mail lists them.
	Warnings []string
}

// MailboxFailure is what went wrong in one mailbox: a short list of problems, each naming its fix.
type MailboxFailure struct {
	Mailbox  string
	Problems []string // at most MaxProblems
	More     int      // problems left out of Problems
	Held     int      // deletes held back in this mailbox
}

// AddProblem records one thing that went wrong in a mailbox ("" is filed as "(no mailbox)"). Past MaxProblems a
// mailbox only counts them.
func (o *Outcome) AddProblem(mailbox, problem string) {
	m := o.mailbox(mailbox)
	if len(m.Problems) < MaxProblems {
		m.Problems = append(m.Problems, problem)
	} else {
		m.More++
	}
}

// SetHeld records how many of a mailbox's deletes were held back.
func (o *Outcome) SetHeld(mailbox string, held int) { o.mailbox(mailbox).Held = held }

// mailbox finds or adds the entry of mb, keeping Mailboxes sorted.
func (o *Outcome) mailbox(mb string) *MailboxFailure {
	if mb == "" {
		mb = "(no mailbox)"
	}
	i := sort.Search(len(o.Mailboxes), func(i int) bool { return o.Mailboxes[i].Mailbox >= mb })
	if i == len(o.Mailboxes) || o.Mailboxes[i].Mailbox != mb {
		o.Mailboxes = append(o.Mailboxes, MailboxFailure{})
		copy(o.Mailboxes[i+1:], o.Mailboxes[i:])
		o.Mailboxes[i] = MailboxFailure{Mailbox: mb}
	}
	return &o.Mailboxes[i]
}

// failing reports whether the outcome is a failure state worth a notice. Exit 2 (configuration) is not: the
// [notify] section itself may be what is broken, and whoever edited the file sees the error at once.
func (o Outcome) failing() bool {
	switch o.ExitCode {
	case exitcode.Failure, exitcode.Auth, exitcode.Partial, exitcode.Held, exitcode.LockStale:
		return true
	}
	return false
}

// FailureKey is a stable fingerprint of what failed: the exit code, the error class and the failing mailboxes,
// never run ids, times or counts, so the same failure repeating every few minutes has the same key.
func (o Outcome) FailureKey() string {
	names := make([]string, 0, len(o.Mailboxes))
	for _, m := range o.Mailboxes {
		names = append(names, m.Mailbox)
	}
	sort.Strings(names)
	sum := sha256.Sum256([]byte(strings.Join(names, "\n")))
	return fmt.Sprintf("exit=%d class=%s mailboxes=%d sum=%x", o.ExitCode, o.Class, len(names), sum[:6])
}
