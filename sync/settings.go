package sync

import (
	"fmt"
	"net/mail"
	"strings"
	"time"

	"tfsync/exchange"
	"tfsync/tf"
)

// ConflictPolicy decides who wins when a booking changed in TF and its event was moved in the calendar.
type ConflictPolicy string

const (
	ConflictTF       ConflictPolicy = "tf"       // TF's times win; the calendar move is undone
	ConflictCalendar ConflictPolicy = "calendar" // the calendar's times are written to TF
	ConflictNewest   ConflictPolicy = "newest"   // the later change wins (TF updated_at vs the event's last modification)
)

// DeletePolicy decides what happens when a technician deletes a synced event.
type DeletePolicy string

const (
	DeleteRecreate DeletePolicy = "recreate" // the event comes back on the next pass
	DeleteDetach   DeletePolicy = "detach"   // the booking stops being synced to that calendar
)

// Settings are the [sync] options the planner needs, already validated.
type Settings struct {
	Zone             *time.Location
	Kinds            []tf.Kind
	DefaultLength    time.Duration
	ShowAs           exchange.ShowAs
	ReminderMinutes  int
	HideHeadings     bool
	IncludeLocation  bool
	TechnicianNote   bool // end the body with TechnicianNoteText
	AllowedDomains   []string
	PastDays         int
	FutureDays       int
	Conflict         ConflictPolicy
	OnCalendarDelete DeletePolicy
	MaxDeletePercent int
	MaxDeleteFloor   int
	// InstallationID is this installation's id (kept in TF's database); it is written on every event and decides
	// which events are this installation's. Empty before the first sync pass created it: then no stamped event is
	// this installation's.
	InstallationID string
	// TFDatabase names TF's database in messages (the empty-TF hold).
	TFDatabase string
}

// Window is the sync window for a moment: from local midnight PastDays before today to local midnight after the
// last of FutureDays. Day boundaries keep it stable within a day, so a change cursor made for it stays valid
// until the next day.
func (s Settings) Window(now time.Time) exchange.Window {
	local := now.In(s.Zone)
	y, m, d := local.Date()
	return exchange.Window{
		Start: time.Date(y, m, d-s.PastDays, 0, 0, 0, 0, s.Zone),
		End:   time.Date(y, m, d+s.FutureDays+1, 0, 0, 0, 0, s.Zone),
	}
}

func (s Settings) kindEnabled(k tf.Kind) bool {
	for _, e := range s.Kinds {
		if e == k {
			return true
		}
	}
	return false
}

// Mailbox returns the mailbox a resource syncs to, or why it cannot be synced. A resource that is skipped is never
// contacted.
func (s Settings) Mailbox(r tf.Resource) (mailbox string, skip string) {
	email := strings.TrimSpace(r.Email)
	if email == "" {
		return "", "no e-mail address: fill in the resource's e-mail in TF (Inställningar -> Grunddata -> Resurser)"
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || !strings.Contains(addr.Address, "@") {
		return "", fmt.Sprintf("e-mail %q is not a valid address: correct it in TF (Inställningar -> Grunddata -> Resurser)", email)
	}
	mailbox = strings.ToLower(addr.Address)
	if !s.DomainAllowed(mailbox) {
		return "", fmt.Sprintf("e-mail %s is outside allowed_domains (%s): use an address of the organisation that owns the Exchange connection, or add the domain to [sync] allowed_domains",
			mailbox, strings.Join(s.AllowedDomains, ", "))
	}
	return mailbox, ""
}

// DomainAllowed reports whether an address belongs to one of the allowed domains (exactly; a subdomain is a
// different organisation unless listed).
func (s Settings) DomainAllowed(address string) bool {
	at := strings.LastIndex(address, "@")
	if at < 0 {
		return false
	}
	domain := strings.ToLower(address[at+1:])
	for _, d := range s.AllowedDomains {
		if strings.EqualFold(strings.TrimPrefix(d, "@"), domain) {
			return true
		}
	}
	return false
}
