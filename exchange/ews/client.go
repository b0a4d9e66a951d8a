// Package ews is tfsync's backend for on-premises Exchange: a thin SOAP client for the six Exchange Web Services
// operations tfsync needs (CreateItem, UpdateItem, DeleteItem, FindItem, GetItem, SyncFolderItems), with NTLM or
// Basic authentication and either impersonation or delegate access to the technicians' calendars.
package ews

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"tfsync/exchange"
)

// Options configure a Client. New trusts them: the configuration has validated what the admin wrote (the URL with
// exchange.CheckURL, the credentials, auth and access), so New checks only what would be a programming error.
type Options struct {
	URL      string // the EWS endpoint, e.g. https://mail.example.com/EWS/Exchange.asmx
	Username string // DOMAIN\user or user@domain
	Password string
	Auth     string // AuthNTLM (default) or AuthBasic
	Access   string // AccessImpersonation (default) or AccessDelegate

	// HTTPClient supplies the transport (its TLS configuration and timeout are kept; HTTP/2 is turned off, which
	// NTLM needs). Nil means http.DefaultTransport.
	HTTPClient *http.Client
	// Zone is TF's time zone: events without a TimeZone are written in it, and times read back name it when the
	// server's zone is the same Windows zone. Nil means UTC.
	Zone *time.Location
	// Now is the clock (CheckAccess looks at the next day). Nil means time.Now.
	Now func() time.Time
	// Sleep waits between retries. Nil means a timer that stops when ctx ends.
	Sleep func(ctx context.Context, d time.Duration) error
	// PerMailbox is how many requests may be in flight for one mailbox (default 1: EWS throttles per mailbox and
	// wants them one at a time).
	PerMailbox int
	// MaxConcurrency is how many requests may be in flight in total (default 8).
	MaxConcurrency int
}

// Client implements exchange.Calendar over EWS. It is safe for concurrent use.
type Client struct {
	opts        Options
	impersonate bool
	zone        *time.Location

	clients chan *http.Client                     // MaxConcurrency clients, one per request in flight (see newHTTPClients)
	idle    []interface{ CloseIdleConnections() } // their transports, which Close closes
	noOr    atomic.Bool                           // the server refused an Or restriction once; FindItem asks one booking id at a time

	mu    sync.Mutex
	slots map[string]chan struct{} // per mailbox (lower-case): one token per request in flight

	// slotWait, when set (by tests), is called with the mailbox (lower-case) each time a call finds all of the
	// mailbox's tokens taken and is about to wait for one: the handshake that proves serialisation without timing.
	slotWait func(mailbox string)
}

var (
	_ exchange.Calendar = (*Client)(nil)
	_ exchange.Checker  = (*Client)(nil)
)

// New returns a client for opts, filling in defaults. It sends nothing; CheckCredentials does.
func New(opts Options) (*Client, error) {
	if opts.URL == "" {
		return nil, errors.New("ews: Options.URL is empty")
	}
	switch opts.Auth {
	case "":
		opts.Auth = AuthNTLM
	case AuthNTLM, AuthBasic:
	default:
		return nil, fmt.Errorf("ews: auth = %q is not valid: use %q or %q", opts.Auth, AuthNTLM, AuthBasic)
	}
	switch opts.Access {
	case "":
		opts.Access = AccessImpersonation
	case AccessImpersonation, AccessDelegate:
	default:
		return nil, fmt.Errorf("ews: access = %q is not valid: use %q or %q", opts.Access, AccessImpersonation,
			AccessDelegate)
	}
	if opts.Zone == nil {
		opts.Zone = time.UTC
	}
	if _, err := WindowsZone(opts.Zone.String()); err != nil {
		return nil, fmt.Errorf("ews: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = exchange.Sleep
	}
	if opts.PerMailbox <= 0 {
		opts.PerMailbox = 1
	}
	if opts.MaxConcurrency <= 0 {
		opts.MaxConcurrency = 8
	}
	c := &Client{
		opts:        opts,
		impersonate: opts.Access == AccessImpersonation,
		zone:        opts.Zone,
		clients:     make(chan *http.Client, opts.MaxConcurrency),
		slots:       map[string]chan struct{}{},
	}
	hcs, idle := newHTTPClients(opts.HTTPClient, opts.Auth, opts.MaxConcurrency)
	c.idle = idle
	for _, hc := range hcs {
		c.clients <- hc
	}
	return c, nil
}

// Close implements exchange.Calendar: it closes the idle connections of the client's own transports.
func (c *Client) Close() error {
	for _, t := range c.idle {
		t.CloseIdleConnections()
	}
	return nil
}

func (c *Client) log(ctx context.Context) *zerolog.Logger {
	l := zerolog.Ctx(ctx).With().Str("backend", "ews").Logger()
	return &l
}

// acquireClient takes one of the MaxConcurrency HTTP clients, waiting while all are in use.
func (c *Client) acquireClient(ctx context.Context) (*http.Client, error) {
	select {
	case hc := <-c.clients:
		return hc, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Client) releaseClient(hc *http.Client) { c.clients <- hc }

// withMailbox runs fn holding one of mailbox's PerMailbox tokens, so requests to one mailbox (and the pauses
// between their retries) never overlap more than EWS's throttling allows.
func (c *Client) withMailbox(ctx context.Context, mailbox string, fn func() error) error {
	key := strings.ToLower(mailbox)
	c.mu.Lock()
	slot, ok := c.slots[key]
	if !ok {
		slot = make(chan struct{}, c.opts.PerMailbox)
		c.slots[key] = slot
	}
	c.mu.Unlock()
	select {
	case slot <- struct{}{}:
	default:
		if c.slotWait != nil {
			c.slotWait(key)
		}
		select {
		case slot <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-slot }()
	return fn()
}

// CheckCredentials implements exchange.Checker: it sends one harmless request as the service account itself. Any
// SOAP answer proves the URL, TLS and the password; the account needs no mailbox of its own, so an EWS error about
// its own calendar is not a failure.
func (c *Client) CheckCredentials(ctx context.Context) error {
	now := c.opts.Now().UTC()
	_, err := c.do(ctx, call{name: "FindItem", idempotent: true, op: &findItemRequest{
		Traversal: "Shallow",
		ItemShape: itemShape{BaseShape: "IdOnly"},
		CalendarView: &calendarView{MaxEntriesReturned: 1, StartDate: formatTime(now),
			EndDate: formatTime(now.Add(time.Hour))},
		ParentFolderIDs: folderID{Distinguished: distinguishedFolderID{ID: "calendar"}},
	}})
	var e *Error
	if errors.As(err, &e) && strings.HasPrefix(e.Code, "Error") && !errors.Is(err, exchange.ErrThrottled) &&
		!errors.Is(err, exchange.ErrUnavailable) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check ews credentials: %w", err)
	}
	return nil
}

// CheckAccess implements exchange.Calendar: it reads a day of the mailbox's calendar, which proves the mailbox
// exists and that impersonation or the delegate rights reach it. Write rights are not probed (that would leave
// traces in the technician's calendar); a missing Editor right shows on the first write, with the same advice.
func (c *Client) CheckAccess(ctx context.Context, mailbox string) error {
	now := c.opts.Now().UTC()
	err := c.withMailbox(ctx, mailbox, func() error {
		_, _, err := c.findView(ctx, mailbox, now, now.Add(24*time.Hour), 1)
		return err
	})
	if err != nil {
		return fmt.Errorf("check access to %s: %w", mailbox, err)
	}
	return nil
}

// Get implements exchange.Calendar.
func (c *Client) Get(ctx context.Context, mailbox, eventID string) (exchange.Event, error) {
	var ev exchange.Event
	err := c.withMailbox(ctx, mailbox, func() error {
		evs, missing, err := c.getItems(ctx, mailbox, []string{eventID})
		switch {
		case err != nil:
			return err
		case len(missing) > 0 || len(evs) == 0:
			return exchange.ErrNotFound
		}
		ev = evs[0]
		return nil
	})
	if err != nil {
		return exchange.Event{}, fmt.Errorf("get event %s in %s: %w", eventID, mailbox, err)
	}
	return ev, nil
}

// FindByBooking implements exchange.Calendar with a FindItem restriction on the booking id property over the whole
// calendar folder (a CalendarView cannot carry a restriction), then GetItem for the events' details.
func (c *Client) FindByBooking(ctx context.Context, mailbox, bookingID string) ([]exchange.Event, error) {
	var out []exchange.Event
	err := c.withMailbox(ctx, mailbox, func() error {
		found, err := c.findBookings(ctx, mailbox, []string{bookingID})
		if err != nil {
			return err
		}
		evs, _, err := c.getItems(ctx, mailbox, found[bookingID])
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if ev.BookingID == bookingID {
				out = append(out, ev)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find booking %s in %s: %w", bookingID, mailbox, err)
	}
	return out, nil
}
