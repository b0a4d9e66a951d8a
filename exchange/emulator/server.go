package emulator

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"
	"weak"

	"tfsync/exchange"
)

// Server is the emulator's HTTPS front: Entra ID (/{tenant}/v2.0/..., /{tenant}/oauth2/v2.0/token), Microsoft
// Graph (/v1.0/...), EWS (/EWS/Exchange.asmx, when the EWS front is built in) and the control API
// (/_emulator/...), all on one loopback port with a certificate from a CA generated at start.
type Server struct {
	// URL is "https://127.0.0.1:PORT": the Entra authority host and the Graph base (Graph lives under /v1.0).
	URL string
	// CACertPEM is the certificate of the CA that signed the server's certificate: trust it to reach the server.
	CACertPEM []byte

	em     *Emulator
	front  *frontState
	hs     *http.Server
	client *http.Client
}

// Serve starts the HTTPS front for em on addr ("127.0.0.1:0" picks a free port) and returns once it accepts
// connections. It serves HTTP/1.1 only: the drop-after-commit fault needs to hijack connections.
func Serve(em *Emulator, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	tcpAddr := ln.Addr().(*net.TCPAddr)
	host := tcpAddr.IP.String()
	if tcpAddr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	certs, err := newServerCerts(host, time.Now())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("make server certificate: %w", err)
	}
	tlsConfig := &tls.Config{
		Certificates: []tls.Certificate{certs.leaf},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
	s := &Server{
		URL:       "https://" + net.JoinHostPort(host, fmt.Sprint(tcpAddr.Port)),
		CACertPEM: certs.caPEM,
		em:        em,
		front:     em.front(),
	}
	s.hs = &http.Server{
		Handler:           s,
		TLSConfig:         tlsConfig,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 30 * time.Second,
		// A library never prints: TLS handshake noise from clients that do not trust the CA goes nowhere.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	// The EWS front (ews*.go) keeps NTLM state per connection, in a struct each connection's context carries.
	if cc, ok := any(s).(interface {
		ewsConnContext(context.Context, net.Conn) context.Context
	}); ok {
		s.hs.ConnContext = cc.ewsConnContext
	}
	s.client = &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: certs.pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     30 * time.Second,
		// The emulator is on loopback: an HTTPS_PROXY from the environment must not reroute test traffic.
		Proxy: nil,
	}}
	go s.hs.Serve(tls.NewListener(ln, tlsConfig))
	return s, nil
}

// Client returns an http.Client that trusts the server's CA. Tests hand its Transport to backends.
func (s *Server) Client() *http.Client { return s.client }

// Close stops the server at once, closing open connections.
func (s *Server) Close() error {
	s.client.CloseIdleConnections()
	return s.hs.Close()
}

// ServeHTTP routes a request to the front that owns its path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/v1.0" || strings.HasPrefix(path, "/v1.0/"):
		s.wire(w, r, s.serveGraph)
	case strings.EqualFold(path, "/EWS/Exchange.asmx"):
		// The EWS front (ews*.go) plugs in by defining (*Server).serveEWS; until it exists there is no EWS here.
		ews, ok := any(s).(interface {
			serveEWS(w http.ResponseWriter, r *http.Request)
		})
		if !ok {
			http.Error(w, "EWS is not built into this emulator", http.StatusNotFound)
			return
		}
		s.wire(w, r, ews.serveEWS)
	case strings.HasPrefix(path, "/_emulator/"):
		s.serveControl(w, r)
	default:
		if !s.serveEntra(w, r) {
			http.NotFound(w, r)
		}
	}
}

// wire applies what every Graph and EWS request goes through: counting, request latency and the drop-after-commit
// fault. The EWS front (ews*.go) gets this for free; it applies per-operation faults and limits itself through
// Server.beginOp.
func (s *Server) wire(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	faults, drop := s.front.beginHTTP()
	if err := sleepCtx(r.Context(), faults.Latency); err != nil {
		return
	}
	if !drop {
		next(w, r)
		return
	}
	// Handle the request in full, so its writes are committed, then close the connection without a byte of
	// response: the client cannot tell whether the server acted.
	next(&discardWriter{header: http.Header{}}, r)
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		tcp.SetLinger(0) // reset, not an orderly close
	}
	raw.Close()
}

// discardWriter swallows a response that will never be sent.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// baseURL is the scheme and host the client used to reach this server, for links in responses.
func (s *Server) baseURL(r *http.Request) string {
	if r.Host == "" {
		return s.URL
	}
	return "https://" + r.Host
}

// frontState is what the HTTP fronts keep beside the core's state: app registrations, EWS accounts, faults,
// limits and traffic counters. It lives outside Emulator (whose fields belong to the core's files) in a table keyed
// by a weak pointer to the emulator, so it goes away with it.
type frontState struct {
	mu            sync.Mutex
	apps          []registeredApp
	ewsAccounts   map[string]EWSAccount // by lower-cased user name
	tokenLifetime time.Duration
	faults        Faults
	rng           *rand.Rand
	faultHTTP     int // HTTP requests since SetFaults
	faultOps      int // operations since SetFaults
	limits        Limits
	limiters      map[string]*mailboxLimiter
	traffic       Traffic
}

var fronts = struct {
	sync.Mutex
	m map[weak.Pointer[Emulator]]*frontState
}{m: map[weak.Pointer[Emulator]]*frontState{}}

// front returns the emulator's front state, creating it on first use.
func (e *Emulator) front() *frontState {
	key := weak.Make(e)
	fronts.Lock()
	defer fronts.Unlock()
	if f := fronts.m[key]; f != nil {
		return f
	}
	f := &frontState{
		ewsAccounts:   map[string]EWSAccount{},
		tokenLifetime: defaultTokenLifetime,
		rng:           rand.New(rand.NewPCG(0, 0x9e3779b97f4a7c15)),
		limits:        Limits{}.withDefaults(),
		limiters:      map[string]*mailboxLimiter{},
		traffic:       Traffic{Mailboxes: map[string]int{}},
	}
	fronts.m[key] = f
	runtime.AddCleanup(e, func(k weak.Pointer[Emulator]) {
		fronts.Lock()
		defer fronts.Unlock()
		delete(fronts.m, k)
	}, key)
	return f
}

func (f *frontState) lifetime() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenLifetime
}

// EWSAccount is an on-premises service account the EWS front accepts (NTLM or Basic). Impersonation says whether
// it holds the ApplicationImpersonation role; per-mailbox exceptions and delegate rights are MailboxOptions.
type EWSAccount struct {
	Username      string // as the client sends it: "DOMAIN\\user" or "user@domain"
	Password      string
	Impersonation bool
}

// AddEWSAccount registers (or replaces) an EWS service account.
func (e *Emulator) AddEWSAccount(a EWSAccount) {
	f := e.front()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ewsAccounts[strings.ToLower(a.Username)] = a
}

// ewsAccount finds the EWS service account a user name denotes, for the EWS front: the name as registered (any
// letter case), else the same user written the other way, DOMAIN\user for a UPN or back (ewsAccountName). A name
// that could mean several accounts means none, so one account's password never logs on as another.
func (e *Emulator) ewsAccount(username string) (EWSAccount, bool) {
	f := e.front()
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.ewsAccounts[strings.ToLower(username)]; ok {
		return a, true
	}
	presented := ewsSplitAccountName(username)
	var found []EWSAccount
	for _, a := range f.ewsAccounts {
		if ewsSplitAccountName(a.Username).matches(presented) {
			found = append(found, a)
		}
	}
	if len(found) != 1 {
		return EWSAccount{}, false
	}
	return found[0], true
}

// beginOp is the per-operation gate every front passes: it counts the operation for its mailbox, consults the
// injected faults, takes a concurrency slot and a unit of budget for the mailbox, and waits Faults.OpLatency.
// When it returns a reply, the operation must be answered with it (and release is nil); otherwise release must be
// called once the operation is done. mailbox "" skips the limits.
func (s *Server) beginOp(ctx context.Context, op FaultOp) (release func(), reply *FaultReply) {
	op.Mailbox = normAddr(op.Mailbox)
	reply, faults := s.front.beginOp(op)
	if reply != nil {
		return nil, reply
	}
	release = func() {}
	if op.Mailbox != "" {
		if release, reply = s.front.admit(op.Mailbox, s.em.now()); reply != nil {
			return nil, reply
		}
	}
	if err := sleepCtx(ctx, faults.OpLatency); err != nil {
		release()
		return nil, &FaultReply{Status: http.StatusServiceUnavailable, Code: "serviceNotAvailable",
			Message: "The request was cancelled."}
	}
	return release, nil
}

// The control API lets a shell (tfsync emulator) and the demo act on the emulator over HTTP. It needs no token:
// the server listens on loopback only. Requests and answers are JSON; errors are {"error": "..."} with 400 or 404.
//
//	GET  /_emulator/mailboxes/{addr}/events                 the calendar as stored (controlEvent list)
//	POST /_emulator/mailboxes/{addr}                         {"unlicensed","blocked","noImpersonation","noDelegate"}: add or set flags
//	POST /_emulator/mailboxes/{addr}/expire-cursors          expire delta tokens and sync states
//	POST /_emulator/mailboxes/{addr}/events/{id}/move        {"start","end"} (RFC 3339): move as a technician would
//	POST /_emulator/mailboxes/{addr}/events/{id}/edit        {"subject","body","location","showAs"} (any subset)
//	POST /_emulator/mailboxes/{addr}/events/{id}/delete      delete as a user would
//	POST /_emulator/mailboxes/{addr}/events/{id}/conflict    the next EWS UpdateItem meets a ChangeKey conflict
//	POST /_emulator/mailboxes/{addr}/events/{id}/foreign-zone {"zoneId"}: another client's zone id, no IANA zone
//	GET  /_emulator/faults, POST /_emulator/faults           controlFaults: {"latency":"25ms","opLatency":"20ms",
//	                                                         "rate429":0.1,"rate503":0,"retryAfter":"0.25",
//	                                                         "dropAfterCommitAt":3,"seed":1}
//	POST /_emulator/limits                                   {"concurrent":4,"budget":10000,"budgetWindow":"10m"}
//	GET  /_emulator/traffic                                  the Traffic counters
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	var segs []string
	for _, p := range strings.Split(strings.Trim(strings.TrimPrefix(r.URL.EscapedPath(), "/_emulator/"), "/"), "/") {
		u, err := url.PathUnescape(p)
		if err != nil {
			controlError(w, http.StatusBadRequest, fmt.Errorf("bad path segment %q", p))
			return
		}
		segs = append(segs, u)
	}
	post := r.Method == http.MethodPost
	get := r.Method == http.MethodGet
	switch {
	case len(segs) == 1 && segs[0] == "faults" && get:
		writeJSON(w, http.StatusOK, "application/json", toControlFaults(s.em.CurrentFaults()))
	case len(segs) == 1 && segs[0] == "faults" && post:
		var cf controlFaults
		if !decodeControl(w, r, &cf) {
			return
		}
		f, err := cf.faults()
		if err != nil {
			controlError(w, http.StatusBadRequest, err)
			return
		}
		s.em.SetFaults(f)
		writeJSON(w, http.StatusOK, "application/json", toControlFaults(f))
	case len(segs) == 1 && segs[0] == "limits" && post:
		var cl struct {
			Concurrent   int    `json:"concurrent"`
			Budget       int    `json:"budget"`
			BudgetWindow string `json:"budgetWindow"`
		}
		if !decodeControl(w, r, &cl) {
			return
		}
		l := Limits{Concurrent: cl.Concurrent, Budget: cl.Budget}
		if cl.BudgetWindow != "" {
			d, err := time.ParseDuration(cl.BudgetWindow)
			if err != nil {
				controlError(w, http.StatusBadRequest, fmt.Errorf("budgetWindow: %w", err))
				return
			}
			l.BudgetWindow = d
		}
		s.em.SetLimits(l)
		w.WriteHeader(http.StatusNoContent)
	case len(segs) == 1 && segs[0] == "traffic" && get:
		writeJSON(w, http.StatusOK, "application/json", s.em.Traffic())
	case len(segs) == 2 && segs[0] == "mailboxes" && post:
		var opts struct {
			Unlicensed      bool `json:"unlicensed"`
			Blocked         bool `json:"blocked"`
			NoImpersonation bool `json:"noImpersonation"`
			NoDelegate      bool `json:"noDelegate"`
		}
		if !decodeControl(w, r, &opts) {
			return
		}
		s.em.AddMailbox(segs[1], MailboxOptions(opts))
		w.WriteHeader(http.StatusNoContent)
	case len(segs) == 3 && segs[0] == "mailboxes" && segs[2] == "expire-cursors" && post:
		controlResult(w, s.em.ExpireCursors(segs[1]))
	case len(segs) == 3 && segs[0] == "mailboxes" && segs[2] == "events" && get:
		evs, err := s.em.listEvents(segs[1], exchange.Window{})
		if err != nil {
			controlResult(w, err)
			return
		}
		out := make([]controlEvent, len(evs))
		for i, d := range evs {
			out[i] = toControlEvent(d)
		}
		writeJSON(w, http.StatusOK, "application/json", out)
	case len(segs) == 5 && segs[0] == "mailboxes" && segs[2] == "events" && post:
		s.controlEventAction(w, r, segs[1], segs[3], segs[4])
	default:
		controlError(w, http.StatusNotFound, fmt.Errorf("no control route %s %s", r.Method, r.URL.Path))
	}
}

func (s *Server) controlEventAction(w http.ResponseWriter, r *http.Request, addr, id, action string) {
	switch action {
	case "move":
		var body struct {
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
		}
		if !decodeControl(w, r, &body) {
			return
		}
		controlResult(w, s.em.MoveEvent(addr, id, body.Start, body.End))
	case "edit":
		var body struct {
			Subject  *string `json:"subject"`
			Body     *string `json:"body"`
			Location *string `json:"location"`
			ShowAs   *string `json:"showAs"`
		}
		if !decodeControl(w, r, &body) {
			return
		}
		controlResult(w, s.em.EditEvent(addr, id, func(d *EventData) {
			if body.Subject != nil {
				d.Subject = *body.Subject
			}
			if body.Body != nil {
				d.Body, d.BodyType = *body.Body, "html"
			}
			if body.Location != nil {
				d.Location = *body.Location
			}
			if body.ShowAs != nil {
				d.ShowAs = exchange.ShowAs(*body.ShowAs)
			}
		}))
	case "delete":
		controlResult(w, s.em.DeleteEvent(addr, id))
	case "conflict":
		controlResult(w, s.em.InjectConflict(addr, id))
	case "foreign-zone":
		var body struct {
			ZoneID string `json:"zoneId"`
		}
		if !decodeControl(w, r, &body) {
			return
		}
		if body.ZoneID == "" {
			body.ZoneID = "Customized Time Zone"
		}
		controlResult(w, s.em.SetForeignZone(addr, id, body.ZoneID))
	default:
		controlError(w, http.StatusNotFound, fmt.Errorf("unknown event action %q (move, edit, delete, conflict, "+
			"foreign-zone)", action))
	}
}

// controlEvent is an event as the control API shows it.
type controlEvent struct {
	ID           string    `json:"id"`
	ChangeKey    string    `json:"changeKey"`
	BookingID    string    `json:"bookingId,omitempty"`
	Subject      string    `json:"subject"`
	Location     string    `json:"location,omitempty"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	TimeZone     string    `json:"timeZone,omitempty"`
	IsAllDay     bool      `json:"isAllDay"`
	ShowAs       string    `json:"showAs"`
	LastModified time.Time `json:"lastModified"`
}

func toControlEvent(d EventData) controlEvent {
	return controlEvent{ID: d.ID, ChangeKey: d.ChangeKey, BookingID: d.BookingID(), Subject: d.Subject,
		Location: d.Location, Start: d.Start, End: d.End, TimeZone: d.TimeZone, IsAllDay: d.IsAllDay,
		ShowAs: string(d.ShowAs), LastModified: d.LastModified}
}

// controlFaults is Faults in JSON (durations as Go duration strings).
type controlFaults struct {
	Latency           string  `json:"latency,omitempty"`
	OpLatency         string  `json:"opLatency,omitempty"`
	Rate429           float64 `json:"rate429,omitempty"`
	Rate503           float64 `json:"rate503,omitempty"`
	RetryAfter        string  `json:"retryAfter,omitempty"`
	DropAfterCommitAt int     `json:"dropAfterCommitAt,omitempty"`
	Seed              uint64  `json:"seed,omitempty"`
}

func toControlFaults(f Faults) controlFaults {
	cf := controlFaults{Rate429: f.Rate429, Rate503: f.Rate503, RetryAfter: f.RetryAfter,
		DropAfterCommitAt: f.DropAfterCommitAt, Seed: f.Seed}
	if f.Latency > 0 {
		cf.Latency = f.Latency.String()
	}
	if f.OpLatency > 0 {
		cf.OpLatency = f.OpLatency.String()
	}
	return cf
}

func (cf controlFaults) faults() (Faults, error) {
	f := Faults{Rate429: cf.Rate429, Rate503: cf.Rate503, RetryAfter: cf.RetryAfter,
		DropAfterCommitAt: cf.DropAfterCommitAt, Seed: cf.Seed}
	var err error
	if cf.Latency != "" {
		if f.Latency, err = time.ParseDuration(cf.Latency); err != nil {
			return Faults{}, fmt.Errorf("latency: %w", err)
		}
	}
	if cf.OpLatency != "" {
		if f.OpLatency, err = time.ParseDuration(cf.OpLatency); err != nil {
			return Faults{}, fmt.Errorf("opLatency: %w", err)
		}
	}
	if f.Rate429 < 0 || f.Rate503 < 0 || f.Rate429+f.Rate503 > 1 {
		return Faults{}, fmt.Errorf("rate429 and rate503 must be fractions adding up to at most 1")
	}
	return f, nil
}

func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		controlError(w, http.StatusBadRequest, fmt.Errorf("decode request body: %w", err))
		return false
	}
	return true
}

func controlResult(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, exchange.ErrNotFound), errors.Is(err, exchange.ErrMailboxNotFound):
		controlError(w, http.StatusNotFound, err)
	default:
		controlError(w, http.StatusBadRequest, err)
	}
}

func controlError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, "application/json", map[string]string{"error": err.Error()})
}
