// Package emulator is a stateful, in-memory stand-in for the Exchange servers tfsync talks to.
//
// The core (this file, state*.go and control.go) keeps mailboxes and their events and implements exchange.Calendar
// directly, so the engine can be tested without any wire format. The HTTP fronts (graph*.go and entra*.go for
// Microsoft Graph and Entra ID, ews*.go for EWS) sit on the same state through the internal API in state.go, so one
// emulator can be reached in process, over Graph and over EWS at once. Tests and the demo drive it as a
// technician would through the control API in control.go.
package emulator

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"tfsync/exchange"
)

// Options configure an Emulator.
type Options struct {
	// Now is the server's clock (created and last-modified times). Nil means time.Now.
	Now func() time.Time
	// Lenient turns off the habits of real Exchange in fidelity.go (rewritten bodies, long ids and sync states,
	// IIS 503 pages, full time zone definitions, AutoResolve as specified, injected conflicts), restoring the
	// emulator's old, kinder behaviour. Tests never set it; TFSYNC_EMULATOR_LENIENT=1 sets it for every emulator,
	// so that a fidelity test can be seen failing against the kinder server.
	Lenient bool
	// StableIDs makes event ids the same from run to run, for golden files. Otherwise each emulator's ids differ
	// from every other's, as no two Exchange mailbox databases share an item id: a store kept from an earlier run
	// (a restarted demo) never finds one of its ids given to another event.
	StableIDs bool
}

// Emulator is the emulated server. It is safe for concurrent use: one mutex guards all state, which keeps every
// operation atomic and is plenty for tests and the demo.
type Emulator struct {
	now func() time.Time
	// instance tells this emulator's cursors from another's (a restarted demo keeps cursors in its store).
	instance string

	mu        sync.Mutex
	mailboxes map[string]*mailbox       // by normAddr
	requests  map[string]map[string]int // normAddr -> op -> count
	serial    uint64                    // emulator-wide counter behind ids and change keys
	fault     func(op, mailbox string) error
	lenient   bool
	idSalt    uint64          // mixed into every id (0 with StableIDs)
	nonce     uint64          // sync states handed out, so each one differs (nextNonce)
	conflicts map[string]bool // event ids whose next EWS update meets an injected conflict (InjectConflict)
}

// New returns an emulator without mailboxes; add them with AddMailbox.
func New(opts Options) *Emulator {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	em := &Emulator{
		now:       now,
		instance:  base64.RawURLEncoding.EncodeToString(b),
		mailboxes: map[string]*mailbox{},
		requests:  map[string]map[string]int{},
		lenient:   opts.Lenient || os.Getenv("TFSYNC_EMULATOR_LENIENT") == "1",
	}
	if !opts.StableIDs && !em.lenient {
		em.idSalt = binary.BigEndian.Uint64(append(make([]byte, 2), b...))
	}
	return em
}

var (
	_ exchange.Calendar = (*Emulator)(nil)
	_ exchange.Checker  = (*Emulator)(nil)
)

// Close implements exchange.Calendar. The core holds no connections.
func (e *Emulator) Close() error { return nil }

// Operation names the core's Calendar passes to the fault hook and counts in Requests.
const (
	OpRead        = "read"
	OpCreate      = "create"
	OpUpdate      = "update"
	OpDelete      = "delete"
	OpGet         = "get"
	OpFind        = "find"
	OpCheck       = "check"
	OpCredentials = "credentials"
)

// begin counts the operation, consults the fault hook and checks the app's access, as a server would on each
// request. The error is already explained for an admin.
func (e *Emulator) begin(ctx context.Context, op, addr string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, addr, err)
	}
	e.mu.Lock()
	e.recordLocked(op, addr)
	fault := e.fault
	e.mu.Unlock()
	if fault != nil {
		if err := fault(op, addr); err != nil {
			return fmt.Errorf("%s %s: %w", op, addr, err)
		}
	}
	e.mu.Lock()
	err := e.checkLocked(addr, ViaGraph)
	e.mu.Unlock()
	return explain(addr, err)
}

// explain turns a mailbox access error into what an admin must fix, keeping the sentinels for errors.Is.
func explain(addr string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnknownMailbox):
		return fmt.Errorf("mailbox %s: %w: check the resource's e-mail address in TF (Inställningar -> Grunddata -> "+
			"Resurser); it must be the user's primary SMTP address", addr, err)
	case errors.Is(err, ErrUnlicensed):
		return fmt.Errorf("mailbox %s: %w: give the user an Exchange Online licence, or turn off sync for the "+
			"resource in TF", addr, err)
	case errors.Is(err, ErrBlocked):
		return fmt.Errorf("mailbox %s: %w: add the user to the mail-enabled security group of the app's "+
			"ApplicationAccessPolicy (Test-ApplicationAccessPolicy shows the result; a change can take an hour)",
			addr, err)
	}
	return fmt.Errorf("mailbox %s: %w", addr, err)
}

// CheckCredentials implements exchange.Checker: the emulator accepts any credentials unless the fault hook fails
// the "credentials" operation (mailbox "").
func (e *Emulator) CheckCredentials(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	fault := e.fault
	e.mu.Unlock()
	if fault != nil {
		if err := fault(OpCredentials, ""); err != nil {
			return fmt.Errorf("check credentials: %w", err)
		}
	}
	return nil
}

// CheckAccess implements exchange.Calendar.
func (e *Emulator) CheckAccess(ctx context.Context, mailbox string) error {
	if err := e.begin(ctx, OpCheck, mailbox); err != nil {
		return fmt.Errorf("check access: %w", err)
	}
	return nil
}

// Get implements exchange.Calendar.
func (e *Emulator) Get(ctx context.Context, mailbox, eventID string) (exchange.Event, error) {
	if err := e.begin(ctx, OpGet, mailbox); err != nil {
		return exchange.Event{}, fmt.Errorf("get event: %w", err)
	}
	d, err := e.getEvent(mailbox, eventID)
	if err != nil {
		return exchange.Event{}, fmt.Errorf("get event %s in %s: %w", eventID, mailbox, err)
	}
	return toEvent(d), nil
}

// FindByBooking implements exchange.Calendar.
func (e *Emulator) FindByBooking(ctx context.Context, mailbox, bookingID string) ([]exchange.Event, error) {
	if err := e.begin(ctx, OpFind, mailbox); err != nil {
		return nil, fmt.Errorf("find booking %s: %w", bookingID, err)
	}
	found, err := e.findByProp(mailbox, BookingKey, bookingID)
	if err != nil {
		return nil, fmt.Errorf("find booking %s in %s: %w", bookingID, mailbox, explain(mailbox, err))
	}
	out := make([]exchange.Event, len(found))
	for i, d := range found {
		out[i] = toEvent(d)
	}
	return out, nil
}

// Read implements exchange.Calendar with the change feed. The cursor encodes the mailbox, the window and the seq;
// an empty, garbled, foreign (other mailbox, window or emulator) or expired cursor gives a full read.
func (e *Emulator) Read(ctx context.Context, reqs []exchange.ReadRequest) []exchange.ReadResult {
	out := make([]exchange.ReadResult, len(reqs))
	for i, req := range reqs {
		out[i] = e.readOne(ctx, req)
		exchange.NoteReadDone(ctx, req.Mailbox)
	}
	return out
}

func (e *Emulator) readOne(ctx context.Context, req exchange.ReadRequest) exchange.ReadResult {
	res := exchange.ReadResult{Mailbox: req.Mailbox}
	if err := e.begin(ctx, OpRead, req.Mailbox); err != nil {
		res.Err = fmt.Errorf("read calendar: %w", err)
		return res
	}
	since := e.decodeCursor(req.Cursor, req.Mailbox, req.Window)
	cs, err := e.changes(req.Mailbox, req.Window, since, 0)
	if errors.Is(err, ErrCursorExpired) {
		since = 0
		cs, err = e.changes(req.Mailbox, req.Window, 0, 0)
	}
	if err != nil {
		res.Err = fmt.Errorf("read calendar: %w", explain(req.Mailbox, err))
		return res
	}
	res.Full = since == 0
	for _, c := range cs.Changed {
		res.Events = append(res.Events, toEvent(c.Event))
	}
	slices.SortFunc(res.Events, func(a, b exchange.Event) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	res.Removed = cs.Removed
	res.Cursor = e.encodeCursor(req.Mailbox, req.Window, cs.Seq)
	return res
}

// cursor is the core Calendar's change token, JSON in URL-safe base64 so it stays opaque to the engine.
type cursor struct {
	Instance string `json:"i"`
	Mailbox  string `json:"m"`
	Start    int64  `json:"s"`
	End      int64  `json:"e"`
	Seq      uint64 `json:"q"`
}

func (e *Emulator) encodeCursor(mailbox string, w exchange.Window, seq uint64) string {
	b, _ := json.Marshal(cursor{Instance: e.instance, Mailbox: normAddr(mailbox), Start: w.Start.UnixNano(),
		End: w.End.UnixNano(), Seq: seq})
	return "emu1." + base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the seq to read from, or 0 (a full read) for a cursor that does not fit the request.
func (e *Emulator) decodeCursor(s, mailbox string, w exchange.Window) uint64 {
	raw, ok := strings.CutPrefix(s, "emu1.")
	if !ok {
		return 0
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return 0
	}
	var c cursor
	if json.Unmarshal(b, &c) != nil {
		return 0
	}
	if c.Instance != e.instance || c.Mailbox != normAddr(mailbox) || c.Start != w.Start.UnixNano() ||
		c.End != w.End.UnixNano() {
		return 0
	}
	return c.Seq
}

// Write implements exchange.Calendar. Ops run one after another and done gets each result as it is confirmed.
func (e *Emulator) Write(ctx context.Context, ops []exchange.Op, done func([]exchange.OpResult)) {
	for _, op := range ops {
		r := exchange.OpResult{Op: op}
		r.Event, r.Err = e.writeOne(ctx, op)
		if done != nil {
			done([]exchange.OpResult{r})
		}
	}
}

func (e *Emulator) writeOne(ctx context.Context, op exchange.Op) (exchange.Event, error) {
	switch op.Kind {
	case exchange.OpCreate, exchange.OpUpdate, exchange.OpDelete:
	default:
		return exchange.Event{}, fmt.Errorf("write %s: unknown operation %q", op.Mailbox, op.Kind)
	}
	if err := e.begin(ctx, string(op.Kind), op.Mailbox); err != nil {
		return exchange.Event{}, fmt.Errorf("%s event: %w", op.Kind, err)
	}
	switch op.Kind {
	case exchange.OpCreate:
		if op.TransactionID == "" {
			return exchange.Event{}, fmt.Errorf("create event in %s: %w: no transaction id", op.Mailbox,
				exchange.ErrInvalidEvent)
		}
		d := fromEvent(op.Event)
		d.TransactionID = op.TransactionID
		stored, _, err := e.createEvent(op.Mailbox, d)
		if err != nil {
			return exchange.Event{}, fmt.Errorf("create event in %s: %w", op.Mailbox, explain(op.Mailbox, err))
		}
		return toEvent(stored), nil
	case exchange.OpUpdate:
		want := fromEvent(op.Event)
		stored, err := e.updateEvent(op.Mailbox, op.Event.ID, "", func(d *EventData) error {
			setSynced(d, want)
			return nil
		})
		if err != nil {
			return exchange.Event{}, fmt.Errorf("update event %s in %s: %w", op.Event.ID, op.Mailbox,
				explain(op.Mailbox, err))
		}
		return toEvent(stored), nil
	default:
		err := e.deleteEvent(op.Mailbox, op.Event.ID)
		if err != nil && !errors.Is(err, ErrEventNotFound) {
			return exchange.Event{}, fmt.Errorf("delete event %s in %s: %w", op.Event.ID, op.Mailbox,
				explain(op.Mailbox, err))
		}
		return exchange.Event{ID: op.Event.ID}, nil
	}
}

// fromEvent builds the server form of an event tfsync writes: an HTML body and the booking id property.
func fromEvent(ev exchange.Event) EventData {
	d := EventData{
		Subject:  ev.Subject,
		Body:     ev.Body,
		BodyType: "html",
		Location: ev.Location,
		Start:    ev.Start,
		End:      ev.End,
		TimeZone: ev.TimeZone,
		IsAllDay: ev.AllDay,
		ShowAs:   ev.ShowAs,
	}
	if ev.ReminderMinutes != exchange.NoReminder {
		d.ReminderOn, d.ReminderMinutes = true, ev.ReminderMinutes
	}
	if ev.BookingID != "" {
		d.ExtProps = map[PropKey]string{BookingKey: ev.BookingID}
	}
	if ev.InstallationID != "" {
		if d.ExtProps == nil {
			d.ExtProps = map[PropKey]string{}
		}
		d.ExtProps[InstallationKey] = ev.InstallationID
	}
	return d
}

// setSynced copies the fields tfsync owns from want onto d, leaving the rest (categories, sensitivity, other
// applications' properties) as the user left them, which is what a Graph PATCH of those fields does.
func setSynced(d *EventData, want EventData) {
	d.Subject, d.Body, d.BodyType, d.Location = want.Subject, want.Body, want.BodyType, want.Location
	d.Start, d.End, d.TimeZone, d.EndTimeZone, d.IsAllDay = want.Start, want.End, want.TimeZone, "", want.IsAllDay
	d.ShowAs, d.ReminderOn, d.ReminderMinutes = want.ShowAs, want.ReminderOn, want.ReminderMinutes
	if id := want.BookingID(); id != "" {
		if d.ExtProps == nil {
			d.ExtProps = map[PropKey]string{}
		}
		d.ExtProps[BookingKey] = id
	}
	if id := want.InstallationID(); id != "" {
		if d.ExtProps == nil {
			d.ExtProps = map[PropKey]string{}
		}
		d.ExtProps[InstallationKey] = id
	}
}

// toEvent renders a stored event in tfsync's terms, with its times in the zone it was written in.
func toEvent(d EventData) exchange.Event {
	loc, err := LoadZone(d.TimeZone)
	if err != nil {
		loc = time.UTC // normalise accepted the zone when it was stored, so this does not happen
	}
	ev := exchange.Event{
		ID:              d.ID,
		ChangeKey:       d.ChangeKey,
		BookingID:       d.BookingID(),
		InstallationID:  d.InstallationID(),
		Subject:         d.Subject,
		Body:            d.Body,
		Location:        d.Location,
		Start:           d.Start.In(loc),
		End:             d.End.In(loc),
		AllDay:          d.IsAllDay,
		TimeZone:        loc.String(), // IANA, also for an event a front stored with a Windows zone id
		ShowAs:          d.ShowAs,
		ReminderMinutes: exchange.NoReminder,
		LastModified:    d.LastModified.UTC(),
	}
	if d.ReminderOn {
		ev.ReminderMinutes = d.ReminderMinutes
	}
	return ev
}
