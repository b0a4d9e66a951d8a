package sync

import (
	"context"
	"fmt"
	"sort"

	"github.com/rs/zerolog"

	"tfsync/exchange"
	"tfsync/tf"
)

// Observe reads everything the planner needs. It changes nothing anywhere. An error means the pass cannot go on
// at all (TF or the store unreadable); a mailbox that cannot be read is reported in its Observation instead.
func (e *Engine) Observe(ctx context.Context) (*PlanInput, error) {
	now := e.Now()
	ob := &observer{e: e, window: e.Settings.Window(now)}
	if err := ob.readStore(ctx); err != nil {
		return nil, err
	}
	resources, err := e.Source.Resources(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: read resources: %w", ErrTFRead, err)
	}
	ob.chooseMailboxes(ctx, resources)

	// The calendars are read while TF is: the one waits on the network, the other on the disk and the CPU.
	readCtx, cancelRead := context.WithCancel(ctx)
	defer cancelRead()
	read := make(chan []exchange.ReadResult, 1)
	go func() { read <- e.Calendar.Read(readCtx, ob.reqs) }()

	bookings, err := ob.readBookings(ctx)
	if err != nil {
		cancelRead()
		<-read
		return nil, err
	}
	in := &PlanInput{
		Now:          now,
		Settings:     e.Settings,
		Force:        e.Force,
		Resources:    resources,
		Bookings:     bookings,
		Links:        ob.links,
		Observations: map[string]*Observation{},
		Copies:       ob.copies,
	}

	results := <-read
	if len(results) != len(ob.reqs) {
		return nil, fmt.Errorf("calendar backend returned %d read results for %d mailboxes", len(results), len(ob.reqs))
	}
	obs := ob.completeReads(ctx, results)
	if err := e.lookForReentries(ctx, in, ob.names, obs, results, ob.reqs, ob.linkedByMailbox, ob.pendingByMailbox); err != nil {
		return nil, err
	}
	return ob.finish(ctx, in, obs)
}

// observer is the state one Observe shares between its steps.
type observer struct {
	e      *Engine
	window exchange.Window

	links    map[string]Link
	pending  []Pending
	cursors  map[string]Cursor
	deferred *Deferred
	copies   map[mailboxEvent]bool

	linkedByMailbox  map[string]map[string]string // mailbox -> event id -> booking id
	pendingByMailbox map[string][]Pending
	// orphanOnly marks a calendar holding only events left behind by reassignments: it is read to delete them,
	// and only for that.
	orphanOnly map[string]bool
	names      []string // the mailboxes read, sorted
	reqs       []exchange.ReadRequest
}

// readStore reads what the state store knows.
func (ob *observer) readStore(ctx context.Context) error {
	st := ob.e.Store
	var err error
	if ob.links, err = st.Links(ctx); err != nil {
		return fmt.Errorf("read links from the state store: %w", err)
	}
	if ob.pending, err = st.PendingCreates(ctx); err != nil {
		return fmt.Errorf("read pending creates from the state store: %w", err)
	}
	if ob.cursors, err = st.Cursors(ctx); err != nil {
		return fmt.Errorf("read cursors from the state store: %w", err)
	}
	if ob.deferred, err = st.Deferred(ctx); err != nil {
		return fmt.Errorf("read deferred changes from the state store: %w", err)
	}
	if ob.copies, err = st.Copies(ctx); err != nil {
		return fmt.Errorf("read technicians' copies from the state store: %w", err)
	}
	ob.links, ob.pending = foldMailboxCase(ob.links, ob.pending)
	return nil
}

// chooseMailboxes picks the mailboxes to read and makes their read requests: every enabled resource's, and every
// linked or pending one still allowed (events may have to be deleted there). A mailbox outside allowed_domains is
// never contacted.
func (ob *observer) chooseMailboxes(ctx context.Context, resources []tf.Resource) {
	e, log := ob.e, zerolog.Ctx(ctx)
	ob.linkedByMailbox = map[string]map[string]string{}
	ob.pendingByMailbox = map[string][]Pending{}
	ob.orphanOnly = map[string]bool{}
	mailboxes := map[string]bool{}
	for _, r := range resources {
		if !r.SyncEnabled {
			continue
		}
		if mb, skip := e.Settings.Mailbox(r); skip == "" {
			mailboxes[mb] = true
		} else {
			log.Warn().Str("resource", r.ID).Str("name", r.Name).Msg("resource skipped: " + skip)
		}
	}
	for _, l := range ob.links {
		if !e.Settings.DomainAllowed(l.Mailbox) {
			continue
		}
		mailboxes[l.Mailbox] = true
		if ob.linkedByMailbox[l.Mailbox] == nil {
			ob.linkedByMailbox[l.Mailbox] = map[string]string{}
		}
		ob.linkedByMailbox[l.Mailbox][l.EventID] = l.BookingID
	}
	for _, pc := range ob.pending {
		if e.Settings.DomainAllowed(pc.Mailbox) {
			mailboxes[pc.Mailbox] = true
			ob.pendingByMailbox[pc.Mailbox] = append(ob.pendingByMailbox[pc.Mailbox], pc)
		}
	}
	for _, o := range ob.deferred.Orphans {
		if e.Settings.DomainAllowed(o.Mailbox) && !mailboxes[o.Mailbox] {
			mailboxes[o.Mailbox], ob.orphanOnly[o.Mailbox] = true, true
		}
	}
	ob.names = make([]string, 0, len(mailboxes))
	for mb := range mailboxes {
		if e.inScope(mb) {
			ob.names = append(ob.names, mb)
		}
	}
	sort.Strings(ob.names)
	ob.makeRequests()
}

// makeRequests makes one read request per mailbox, from its saved cursor unless the pass reads in full.
func (ob *observer) makeRequests() {
	ob.reqs = make([]exchange.ReadRequest, len(ob.names))
	for i, mb := range ob.names {
		req := exchange.ReadRequest{Mailbox: mb, Window: ob.window}
		if c, ok := ob.cursors[mb]; ok && !ob.e.Full {
			req.Cursor = c.Cursor
		}
		known := ob.linkedByMailbox[mb]
		req.Known = func(id string) bool { _, ok := known[id]; return ok }
		ob.reqs[i] = req
	}
}

// readBookings reads TF's bookings in the window, and the linked and pending ones wherever they are now.
func (ob *observer) readBookings(ctx context.Context) (tf.BookingSet, error) {
	e := ob.e
	also := make([]string, 0, len(ob.links)+len(ob.pending))
	for id := range ob.links {
		also = append(also, id)
	}
	for _, pc := range ob.pending {
		also = append(also, pc.BookingID)
	}
	sort.Strings(also)
	bookings, err := e.Source.Bookings(ctx, tf.Query{
		Window:        tf.Window{Start: ob.window.Start, End: ob.window.End},
		Kinds:         e.Settings.Kinds,
		AlsoIDs:       also,
		DefaultLength: e.Settings.DefaultLength,
	})
	if err != nil {
		return tf.BookingSet{}, fmt.Errorf("%w: read bookings: %w", ErrTFRead, err)
	}
	for _, bad := range bookings.Bad {
		zerolog.Ctx(ctx).Warn().Str("booking", bad.BookingID).Str("column", bad.Column).Msg("bad booking row skipped: " + bad.Problem)
	}
	return bookings, nil
}

// completeReads looks up what the reads leave open, several mailboxes at a time.
func (ob *observer) completeReads(ctx context.Context, results []exchange.ReadResult) []*Observation {
	e := ob.e
	obs := make([]*Observation, len(results))
	e.eachMailbox(len(results), func(i int) {
		mb := ob.names[i]
		obs[i] = e.observe(ctx, results[i], ob.linkedByMailbox[mb], ob.pendingByMailbox[mb], ob.deferred.OwnWrites[mb])
	})
	return obs
}

// finish puts the observations into in with what earlier passes deferred. Every mailbox failing fails the pass as
// a whole.
func (ob *observer) finish(ctx context.Context, in *PlanInput, obs []*Observation) (*PlanInput, error) {
	failed := 0
	var firstErr error
	for i, o := range obs {
		mb := ob.names[i]
		o.Mailbox = mb
		o.OrphanOnly = ob.orphanOnly[mb]
		in.Observations[mb] = o
		if o.Err != nil {
			failed++
			if firstErr == nil {
				firstErr = o.Err
			}
			zerolog.Ctx(ctx).Error().Str("mailbox", mb).Err(o.Err).Msg("calendar not read; nothing is changed in it this pass")
		}
	}
	ob.e.settleDeferred(in, ob.deferred)
	// Not one calendar read is the same alarm whatever the cause (credentials, network, throttling): exit 3.
	if failed > 0 && failed == len(obs) {
		return in, fmt.Errorf("%w: %w", ErrAllMailboxesFailed, firstErr)
	}
	return in, nil
}
