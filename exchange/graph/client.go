// Package graph is the Microsoft Graph backend of exchange.Calendar, for mailboxes in Exchange Online.
//
// Tokens come from Entra ID through azidentity (app-only: a client secret or a certificate); requests go through
// the Graph SDK's request adapter, which adds the token. Reads and writes travel in hand-built JSON batches of up
// to 20 requests, because at 500-1,000 mailboxes one request per mailbox and page would cost minutes. The backend
// retries throttled and failed requests itself (retry.go) and explains every failure for the admin (errors.go).
package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	abs "github.com/microsoft/kiota-abstractions-go"
	kauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/rs/zerolog"

	"tfsync/exchange"
)

// Defaults of Options.
const (
	DefaultAuthorityHost  = "https://login.microsoftonline.com/"
	DefaultGraphURL       = "https://graph.microsoft.com"
	DefaultMaxConcurrency = 16
	// DefaultPerMailbox is Graph's limit of concurrent requests per app and mailbox.
	DefaultPerMailbox = 4
	DefaultPageSize   = 100
	// DefaultMaxAttempts bounds the tries of one request, the first included.
	DefaultMaxAttempts = 6
)

const (
	// maxBatch is Graph's limit of requests in one $batch.
	maxBatch = 20
	// maxPages guards against delta links that loop (a known Graph anomaly on recurrence-heavy mailboxes).
	maxPages = 1000
	// requestTimeout bounds one HTTP exchange, so that a server that stops answering cannot hang a pass.
	requestTimeout = 2 * time.Minute
	// maxResponse bounds how much of an answer is read.
	maxResponse = 64 << 20
	// sdkVersion is the msgraph-sdk-go release whose client this backend presents itself as (telemetry header).
	sdkVersion = "1.89.0"
)

// Options configure a Client. TenantID, ClientID and one of ClientSecret and CertificatePEM are required. New
// trusts them: the configuration has validated what the admin wrote (the URLs with exchange.CheckURL, the tenant
// and client ids, one credential), so New checks only what would be a programming error or cannot be built.
type Options struct {
	TenantID string
	ClientID string
	// ClientSecret is the secret's Value (not its ID).
	ClientSecret string
	// CertificatePEM holds the app's certificate and its unencrypted private key, PEM encoded.
	CertificatePEM []byte
	// AuthorityHost is Entra ID's login endpoint; default DefaultAuthorityHost. Must be https.
	AuthorityHost string
	// GraphURL is Graph's root, without the version; default DefaultGraphURL. Plain http only for loopback hosts.
	GraphURL string
	// HTTPClient is used as is for Entra ID; for Graph only its Transport is used, under the SDK's middleware.
	// Nil uses the system's trust store; tfsync passes a client that adds [exchange] ca_file to it.
	HTTPClient *http.Client
	// Zone is TF's time zone: events are written and read in it. Default UTC.
	Zone *time.Location
	// MaxConcurrency bounds the requests (batches count as one) in flight at once; default 16.
	MaxConcurrency int
	// PerMailbox bounds the concurrent requests Graph works on for one mailbox; default 4, Graph's limit.
	PerMailbox int
	// Now is the clock (Retry-After dates); default time.Now.
	Now func() time.Time
	// Sleep waits between retries; default a timer that ends early when ctx does. Tests inject a recorder.
	Sleep func(ctx context.Context, d time.Duration) error
	// PageSize is the events per delta page asked for (Prefer: odata.maxpagesize); default 100.
	PageSize int
	// MaxAttempts bounds the tries of one request (or $batch item) before its failure is reported; default 6.
	MaxAttempts int
	// MaxBatch bounds the requests in one $batch; default and most 20, Graph's limit. 1 sends every request on
	// its own, without a $batch envelope: the naive baseline the performance benchmarks compare against.
	MaxBatch int
}

// Client is the Graph backend. It is safe for concurrent use.
type Client struct {
	opts          Options
	cred          *renewingCredential
	adapter       abs.RequestAdapter
	scopes        []string
	base          string // GraphURL + "/v1.0"
	basePath      string // the path of base, stripped from links the server returns
	graphHost     string
	authorityHost string
	sem           chan struct{}
	// idle are the transports whose idle connections Close closes: the token client's and Graph's.
	idle []interface{ CloseIdleConnections() }
}

var (
	_ exchange.Calendar = (*Client)(nil)
	_ exchange.Checker  = (*Client)(nil)
)

// New builds a client from the options, filling in defaults. It contacts no server; CheckCredentials does.
func New(opts Options) (*Client, error) {
	o := opts
	switch {
	case strings.TrimSpace(o.TenantID) == "":
		return nil, errors.New("graph: tenant_id is empty: set it to the \"Directory (tenant) ID\" on the app's " +
			"Overview page in Entra ID")
	case strings.TrimSpace(o.ClientID) == "":
		return nil, errors.New("graph: client_id is empty: set it to the \"Application (client) ID\" on the app's " +
			"Overview page in Entra ID")
	case o.ClientSecret == "" && len(o.CertificatePEM) == 0:
		return nil, errors.New("graph: no credential: set client_secret (the secret's Value) or certificate")
	case o.ClientSecret != "" && len(o.CertificatePEM) > 0:
		return nil, errors.New("graph: both client_secret and certificate are set: keep one")
	}
	if o.AuthorityHost == "" {
		o.AuthorityHost = DefaultAuthorityHost
	}
	au, err := url.Parse(o.AuthorityHost)
	if err != nil || au.Host == "" {
		return nil, fmt.Errorf("graph: authority_host %q must be a URL such as %s", o.AuthorityHost,
			DefaultAuthorityHost)
	}
	if !strings.HasSuffix(o.AuthorityHost, "/") {
		o.AuthorityHost += "/"
	}
	if o.GraphURL == "" {
		o.GraphURL = DefaultGraphURL
	}
	o.GraphURL = strings.TrimSuffix(strings.TrimSuffix(o.GraphURL, "/"), "/v1.0")
	gu, err := url.Parse(o.GraphURL)
	if err != nil || gu.Host == "" || gu.RawQuery != "" {
		return nil, fmt.Errorf("graph: graph_url %q must be a URL such as %s", o.GraphURL, DefaultGraphURL)
	}
	o = withDefaults(o)
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: requestTimeout}
	}

	c := &Client{
		opts:          o,
		base:          o.GraphURL + "/v1.0",
		basePath:      strings.TrimSuffix(gu.EscapedPath(), "/") + "/v1.0",
		graphHost:     gu.Host,
		authorityHost: au.Host,
		sem:           make(chan struct{}, o.MaxConcurrency),
		// The scope names the resource the token is for: Graph's root, whatever cloud or emulator it is.
		scopes: []string{gu.Scheme + "://" + gu.Host + "/.default"},
	}
	build := func() (azcore.TokenCredential, error) { return newCredential(&o, hc) }
	cred, err := build()
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	c.cred = &renewingCredential{build: build, cur: cred}
	if err := c.buildAdapter(hc, gu.Hostname()); err != nil {
		return nil, err
	}
	return c, nil
}

// withDefaults fills in the options left at their zero value.
func withDefaults(o Options) Options {
	if o.Zone == nil {
		o.Zone = time.UTC
	}
	if o.MaxConcurrency <= 0 {
		o.MaxConcurrency = DefaultMaxConcurrency
	}
	if o.PerMailbox <= 0 {
		o.PerMailbox = DefaultPerMailbox
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxBatch <= 0 || o.MaxBatch > maxBatch {
		o.MaxBatch = maxBatch
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = exchange.Sleep
	}
	return o
}

// buildAdapter builds the SDK's request adapter over hc, sending tokens to graphHost only.
func (c *Client) buildAdapter(hc *http.Client, graphHost string) error {
	o := c.opts
	// The provider sends a token only to hosts in validHosts, compared by host name without port; to any other
	// host it silently sends none.
	auth, err := kauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(c.cred, c.scopes,
		[]string{graphHost})
	if err != nil {
		return fmt.Errorf("graph: authentication provider: %w", err)
	}
	parent := hc.Transport
	if parent == nil {
		parent = http.DefaultTransport
	}
	// Up to MaxConcurrency requests go to Graph at once. A transport that keeps fewer idle connections (Go's
	// default keeps 2) closes the rest after each answer, and the next requests pay a new TLS handshake each.
	if t, ok := parent.(*http.Transport); ok && t.MaxIdleConnsPerHost < o.MaxConcurrency {
		t = t.Clone()
		t.MaxIdleConnsPerHost = o.MaxConcurrency
		parent = t
	}
	c.idle = append(c.idle, hc)
	if t, ok := parent.(interface{ CloseIdleConnections() }); ok {
		c.idle = append(c.idle, t)
	}
	// The SDK's retry handler is left out on purpose: it would retry on top of retry.go (multiplying attempts)
	// and truncates fractional Retry-After values. Redirects are not followed; compression is not used.
	gco := msgraphgocore.GraphClientOptions{GraphServiceLibraryVersion: sdkVersion}
	pipeline := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(parent,
			msgraphgocore.NewGraphTelemetryHandler(&gco), khttp.NewUserAgentHandler()),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       requestTimeout,
	}
	adapter, err := msgraphgocore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, gco, nil, nil, pipeline)
	if err != nil {
		return fmt.Errorf("graph: request adapter: %w", err)
	}
	adapter.SetBaseUrl(c.base)
	c.adapter = adapter
	return nil
}

// Close implements exchange.Calendar: it closes the client's idle connections.
func (c *Client) Close() error {
	for _, t := range c.idle {
		t.CloseIdleConnections()
	}
	return nil
}

func (c *Client) now() time.Time { return c.opts.Now() }

func (c *Client) log(ctx context.Context) *zerolog.Logger {
	l := zerolog.Ctx(ctx).With().Str("backend", "graph").Logger()
	return &l
}

// send makes one HTTP exchange with Graph through the SDK's adapter (which adds the token). rel is the path and
// query below the version root. The answer comes back whatever its status; an error only when none came.
func (c *Client) send(ctx context.Context, method, rel string, hdr map[string]string, body []byte) outcome {
	// A deadline of our own keeps the adapter from adding one whose cancel it drops.
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	u, err := url.Parse(c.base + rel)
	if err != nil {
		return outcome{Err: fmt.Errorf("build url %q: %w", rel, err)}
	}
	ri := abs.NewRequestInformation()
	switch method {
	case http.MethodGet:
		ri.Method = abs.GET
	case http.MethodPost:
		ri.Method = abs.POST
	case http.MethodPatch:
		ri.Method = abs.PATCH
	case http.MethodDelete:
		ri.Method = abs.DELETE
	default:
		return outcome{Err: fmt.Errorf("unsupported method %s", method)}
	}
	ri.SetUri(*u)
	for k, v := range hdr {
		ri.Headers.Add(k, v)
	}
	if body != nil {
		ri.SetStreamContentAndContentType(body, "application/json")
		// A known length avoids chunked transfer encoding.
		ri.Headers.Add("Content-Length", fmt.Sprint(len(body)))
	}
	var out outcome
	got := false
	handler := abs.NewRequestHandlerOption()
	handler.SetResponseHandler(func(response any, _ abs.ErrorMappings) (any, error) {
		resp, ok := response.(*http.Response)
		if !ok || resp == nil {
			return nil, errors.New("no http response")
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		if err != nil {
			return nil, fmt.Errorf("read answer: %w", err)
		}
		out = outcome{Status: resp.StatusCode, Header: flatten(resp.Header), Body: b}
		got = true
		return nil, nil
	})
	ri.AddRequestOptions([]abs.RequestOption{handler})
	if err := c.adapter.SendNoContent(ctx, ri, nil); err != nil {
		return outcome{Err: err}
	}
	if !got {
		return outcome{Err: errors.New("no http response")}
	}
	return out
}

func flatten(h http.Header) map[string]string {
	m := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) > 0 {
			m[k] = v[0]
		}
	}
	return m
}

// acquire takes one of the client-wide request slots.
func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) release() { <-c.sem }

// do sends one request outside a batch, retrying as retry.go says, and returns the successful answer or the
// explained failure.
func (c *Client) do(ctx context.Context, op, mailbox string, kind errorKind, method, rel string,
	hdr map[string]string, body []byte) (outcome, error) {
	attempts, tokenRetries := 0, 0
	for {
		if err := c.acquire(ctx); err != nil {
			return outcome{}, c.failure(op, mailbox, err)
		}
		o := c.send(ctx, method, rel, hdr, body)
		c.release()
		attempts++
		if o.Err == nil && o.Status >= 200 && o.Status < 300 {
			return o, nil
		}
		d := shouldRetry(o, attempts, tokenRetries, c.opts.MaxAttempts, c.now())
		if !d.Retry {
			return o, c.graphFailure(op, mailbox, kind, o)
		}
		if d.RenewToken {
			c.cred.renew()
			tokenRetries++
		}
		c.log(ctx).Debug().Str("mailbox", mailbox).Int("status", o.Status).AnErr("transport", o.Err).
			Dur("wait", d.Delay).Int("attempt", attempts).Msg("retrying graph request")
		exchange.NoteWait(ctx, mailbox, d.Delay)
		if err := c.opts.Sleep(ctx, d.Delay); err != nil {
			return o, c.failure(op, mailbox, err)
		}
	}
}

// preferHeaders ask for times in UTC (parsed whatever zone comes back), ids that survive moves between folders,
// and, for lists, a page size. They are one comma-separated value so that they also fit a $batch item's headers.
func (c *Client) preferHeaders(pageSize int) map[string]string {
	v := `outlook.timezone="UTC", IdType="ImmutableId"`
	if pageSize > 0 {
		v += fmt.Sprintf(", odata.maxpagesize=%d", pageSize)
	}
	return map[string]string{"Prefer": v}
}

// qesc escapes a query value, spaces as %20 (Graph reads '+' as a plus in $filter).
func qesc(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func userPath(mailbox string) string { return "/users/" + url.PathEscape(mailbox) }

func eventPath(mailbox, id string) string {
	return userPath(mailbox) + "/events/" + url.PathEscape(id)
}

// expandBookingID asks for the booking id and installation id properties along with an event (Graph never returns
// extended properties unless they are expanded).
var expandBookingID = "$expand=" + qesc("singleValueExtendedProperties($filter=id eq '"+
	exchange.GraphBookingPropertyID+"' or id eq '"+exchange.GraphInstallationPropertyID+"')")

// relative turns a link the server returned (absolute, under the version root) into a path below the version
// root, so that it can go into a $batch and survives a change of graph_url's scheme or port.
func (c *Client) relative(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("%w: link %q: %v", exchange.ErrBadResponse, link, err)
	}
	rel := u.RequestURI()
	if !u.IsAbs() && !strings.HasPrefix(link, "/") {
		rel = "/" + link
	}
	switch {
	case strings.HasPrefix(rel, c.basePath+"/"):
		return strings.TrimPrefix(rel, c.basePath), nil
	case strings.HasPrefix(rel, "/v1.0/"):
		return strings.TrimPrefix(rel, "/v1.0"), nil
	}
	return "", fmt.Errorf("%w: link %q is not under %s", exchange.ErrBadResponse, link, c.base)
}

// Get returns one event with its booking id, wherever it is in time.
func (c *Client) Get(ctx context.Context, mailbox, eventID string) (exchange.Event, error) {
	if eventID == "" {
		return exchange.Event{}, fmt.Errorf("get event in %s: empty id: %w", mailbox, exchange.ErrNotFound)
	}
	o, err := c.do(ctx, "get event in", mailbox, kindEvent, http.MethodGet,
		eventPath(mailbox, eventID)+"?"+expandBookingID, c.preferHeaders(0), nil)
	if err != nil {
		return exchange.Event{}, err
	}
	var ev eventIn
	if err := json.Unmarshal(o.Body, &ev); err != nil {
		return exchange.Event{}, fmt.Errorf("get event %s in %s: %w: %v", eventID, mailbox, exchange.ErrBadResponse, err)
	}
	e, err := c.toEvent(ev)
	if err != nil {
		return exchange.Event{}, fmt.Errorf("get event %s in %s: %w", eventID, mailbox, err)
	}
	return e, nil
}

// FindByBooking lists the mailbox's events that carry bookingID, in any time range.
func (c *Client) FindByBooking(ctx context.Context, mailbox, bookingID string) ([]exchange.Event, error) {
	filter := fmt.Sprintf("singleValueExtendedProperties/Any(ep: ep/id eq '%s' and ep/value eq '%s')",
		exchange.GraphBookingPropertyID, strings.ReplaceAll(bookingID, "'", "''"))
	rel := userPath(mailbox) + "/events?$filter=" + qesc(filter) + "&" + expandBookingID
	var out []exchange.Event
	seen := map[string]bool{}
	for pages := 0; rel != ""; pages++ {
		if pages >= maxPages || seen[rel] {
			return nil, fmt.Errorf("find events of booking %s in %s: %w: the server's page links repeat",
				bookingID, mailbox, exchange.ErrBadResponse)
		}
		seen[rel] = true
		o, err := c.do(ctx, "find events of booking "+bookingID+" in", mailbox, kindMailbox, http.MethodGet, rel,
			c.preferHeaders(c.opts.PageSize), nil)
		if err != nil {
			return nil, err
		}
		var p eventPage
		if err := json.Unmarshal(o.Body, &p); err != nil {
			return nil, fmt.Errorf("find events of booking %s in %s: %w: %v", bookingID, mailbox,
				exchange.ErrBadResponse, err)
		}
		for _, ev := range p.Value {
			e, err := c.toEvent(ev)
			if err != nil {
				return nil, fmt.Errorf("find events of booking %s in %s: %w", bookingID, mailbox, err)
			}
			// The filter should guarantee this; a server that ignored it must not make tfsync adopt other events.
			if e.BookingID == bookingID {
				out = append(out, e)
			}
		}
		rel = ""
		if p.NextLink != "" {
			if rel, err = c.relative(p.NextLink); err != nil {
				return nil, fmt.Errorf("find events of booking %s in %s: %w", bookingID, mailbox, err)
			}
		}
	}
	return out, nil
}

// CheckAccess reads the mailbox's calendar and one of its events: a missing mailbox or licence, a missing consent
// and an access policy all show here, explained.
func (c *Client) CheckAccess(ctx context.Context, mailbox string) error {
	if _, err := c.do(ctx, "open calendar of", mailbox, kindMailbox, http.MethodGet,
		userPath(mailbox)+"/calendar?$select=id", nil, nil); err != nil {
		return err
	}
	_, err := c.do(ctx, "read events of", mailbox, kindMailbox, http.MethodGet,
		userPath(mailbox)+"/events?$top=1&$select=id", c.preferHeaders(0), nil)
	return err
}
