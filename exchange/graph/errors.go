package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"tfsync/exchange"
)

// Error is a failed Graph or Entra ID call, explained for the admin who has to fix it. It wraps one of the
// exchange sentinels (errors.Is) and, where there is one, the underlying error (errors.As).
type Error struct {
	Op      string // what tfsync was doing, e.g. "create event"
	Mailbox string // empty for calls that concern no mailbox (tokens)
	Status  int    // the HTTP status; 0 when no answer came
	Code    string // Graph's error code or Entra ID's AADSTS code
	Hint    string // what is wrong and where to fix it
	Err     error  // the exchange sentinel

	msg   string // the server's own message, secrets removed
	cause error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Mailbox != "" {
		b.WriteString(" " + e.Mailbox)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Hint != "" {
		b.WriteString(": " + e.Hint)
	}
	switch {
	case e.Status != 0 || e.Code != "":
		b.WriteString(" (server said:")
		if e.Status != 0 {
			b.WriteString(" " + strconv.Itoa(e.Status))
		}
		if e.Code != "" && !strings.HasPrefix(e.msg, e.Code) {
			b.WriteString(" " + e.Code)
		}
		if e.msg != "" {
			b.WriteString(": " + e.msg)
		}
		b.WriteString(")")
	case e.msg != "":
		b.WriteString(" (" + e.msg + ")")
	}
	return b.String()
}

// Unwrap exposes the sentinel and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.Err, e.cause}
	}
	return []error{e.Err}
}

// errorKind is the request kind an error is explained for: the same 404 means "event gone" for an event and
// "no such mailbox" for a mailbox.
type errorKind int

const (
	kindMailbox errorKind = iota // reads of a mailbox, its calendar, lists
	kindEvent                    // GET/PATCH of one event
	kindCreate                   // POST of an event
	kindDelete                   // DELETE of an event
)

// mailbox-level 404 codes: the user or its mailbox does not exist for Graph.
var mailboxMissingCodes = map[string]bool{
	"ErrorInvalidUser":              true,
	"MailboxNotEnabledForRESTAPI":   true,
	"MailboxNotSupportedForRESTAPI": true,
	"Request_ResourceNotFound":      true,
	"ResourceNotFound":              true,
}

// graphFailure turns a Graph answer that is not a success into an *Error.
func (c *Client) graphFailure(op, mailbox string, kind errorKind, o outcome) error {
	if o.Err != nil {
		return c.failure(op, mailbox, o.Err)
	}
	code, msg := parseGraphError(o.Body)
	e := &Error{Op: op, Mailbox: mailbox, Status: o.Status, Code: code, msg: c.redact(msg)}
	lowerMsg := strings.ToLower(msg)
	switch {
	case o.Status == http.StatusNotFound && mailboxMissingCodes[code]:
		e.Err = exchange.ErrMailboxNotFound
		if code == "ErrorInvalidUser" || strings.Contains(code, "ResourceNotFound") {
			e.Hint = fmt.Sprintf("there is no mailbox %s in the tenant: check the resource's e-mail address in TF "+
				"(Inställningar -> Grunddata -> Resurser)", mailbox)
		} else {
			e.Hint = fmt.Sprintf("mailbox %s cannot be reached through Microsoft Graph: it has no Exchange Online "+
				"licence, is inactive, or lives on an on-premises Exchange server; assign an Exchange Online licence "+
				"in the Microsoft 365 admin center, or use mode = \"ews\" for on-premises mailboxes", mailbox)
		}
	case o.Status == http.StatusNotFound && kind == kindMailbox:
		e.Err = exchange.ErrMailboxNotFound
		e.Hint = fmt.Sprintf("Graph found no calendar for %s: check the resource's e-mail address in TF "+
			"(Inställningar -> Grunddata -> Resurser) and that the mailbox has a calendar", mailbox)
	case o.Status == http.StatusNotFound:
		e.Err = exchange.ErrNotFound
	case o.Status == http.StatusBadRequest && (code == "ErrorInvalidIdMalformed" || code == "ErrorInvalidId") &&
		kind != kindCreate && kind != kindMailbox:
		// An id Exchange cannot even parse names no event that exists.
		e.Err = exchange.ErrNotFound
	case o.Status == http.StatusForbidden && (strings.Contains(lowerMsg, "access to odata is disabled") ||
		strings.Contains(msg, "RAOP") || strings.Contains(lowerMsg, "accesspolicy")):
		e.Err = exchange.ErrAccessDenied
		e.Hint = fmt.Sprintf("mailbox %s is blocked by an Exchange Online ApplicationAccessPolicy: add it to the "+
			"mail-enabled security group named in New-ApplicationAccessPolicy for app %s (check with "+
			"Test-ApplicationAccessPolicy -Identity %s -AppId %s); policy changes can take an hour to apply",
			mailbox, c.opts.ClientID, mailbox, c.opts.ClientID)
	case o.Status == http.StatusForbidden:
		e.Err = exchange.ErrAccessDenied
		e.Hint = "the app may not use calendars: admin consent for the Microsoft Graph application permission " +
			"Calendars.ReadWrite is missing; in Entra ID -> App registrations -> <app> -> API permissions add " +
			"Calendars.ReadWrite (Application) and click \"Grant admin consent\""
	case o.Status == http.StatusUnauthorized:
		e.Err = exchange.ErrAuth
		e.Hint = "Microsoft Graph rejected the access token even after a fresh one was obtained: check that " +
			"authority_host and graph_url in [exchange.graph] belong to the same cloud and that this machine's " +
			"clock is right"
	case o.Status == http.StatusTooManyRequests:
		e.Err = exchange.ErrThrottled
		e.Hint = "Microsoft Graph kept throttling this mailbox after several retries; the next pass continues"
		e.cause = retryAfterCause(o, c.now())
	case o.Status == http.StatusConflict || o.Status == http.StatusPreconditionFailed:
		e.Err = exchange.ErrConflict
	case o.Status >= 500 || o.Status == http.StatusFailedDependency:
		e.Err = exchange.ErrUnavailable
		e.Hint = "Microsoft Graph failed repeatedly; the next pass retries"
		e.cause = retryAfterCause(o, c.now())
	case o.Status == http.StatusBadRequest && (kind == kindCreate || kind == kindEvent):
		e.Err = exchange.ErrInvalidEvent
	default:
		e.Err = exchange.ErrBadResponse
	}
	return e
}

// retryAfterCause keeps the server's last Retry-After for the caller, when it gave one.
func retryAfterCause(o outcome, now time.Time) error {
	d, ok := parseRetryAfter(header(o.Header, "Retry-After"), now)
	if !ok {
		return nil
	}
	return &exchange.RetryAfterError{After: d, Err: fmt.Errorf("graph answered %d", o.Status)}
}

// entraRefused reports an azidentity error in which Entra ID answered, refusing the credentials, rather than a
// transport failure on the way to it.
func entraRefused(err error) bool {
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		return false
	}
	return afe.RawResponse != nil || exchange.ClassifyTransport(err) == exchange.TransportOther
}

// failure explains an error that came instead of an HTTP answer from Graph.
func (c *Client) failure(op, mailbox string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if entraRefused(err) {
		return c.authFailure(err)
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		// Entra ID could not be reached while getting a token.
		return c.transportFailure("get access token", "", err, "authority_host")
	}
	return c.transportFailure(op, mailbox, err, "graph_url")
}

// transportFailure explains an error that came instead of an HTTP answer. setting names the configuration key
// holding the host that failed (graph_url or authority_host).
func (c *Client) transportFailure(op, mailbox string, err error, setting string) error {
	host := c.graphHost
	if setting == "authority_host" {
		host = c.authorityHost
	}
	e := &Error{Op: op, Mailbox: mailbox, Err: exchange.ErrUnavailable, cause: err,
		msg: c.redact(firstLine(strings.Join(strings.Fields(err.Error()), " "), 300))}
	e.Hint = exchange.TransportHint(err, host, setting+" in [exchange.graph]")
	return e
}

var aadstsCode = regexp.MustCompile(`AADSTS(\d+)`)

// authFailure explains Entra ID's refusal to issue an access token.
func (c *Client) authFailure(err error) error {
	e := &Error{Op: "get access token", Err: exchange.ErrAuth, cause: err}
	text := err.Error()
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		e.Status = afe.RawResponse.StatusCode
		if body, rerr := runtime.Payload(afe.RawResponse); rerr == nil {
			var te tokenError
			if json.Unmarshal(body, &te) == nil {
				e.msg = firstLine(te.ErrorDescription, 300)
				if e.msg == "" {
					e.msg = te.Error
				}
				if te.Error == "invalid_tenant" {
					e.Code = te.Error
				}
			}
			text += " " + string(body)
		}
	} else {
		e.msg = firstLine(text, 300)
	}
	if m := aadstsCode.FindStringSubmatch(text); m != nil {
		e.Code = "AADSTS" + m[1]
	}
	app := "Entra ID -> App registrations -> (the app with client ID " + c.opts.ClientID + ")"
	switch {
	case e.Code == "AADSTS7000215":
		e.Hint = "the client secret is wrong; often the secret's ID was pasted instead of its Value: in " + app +
			" -> Certificates & secrets, copy the Value column of a current secret (it is shown only right after " +
			"creating it) into client_secret"
	case e.Code == "AADSTS7000222":
		e.Hint = "the client secret has expired: in " + app + " -> Certificates & secrets create a new client " +
			"secret and put its Value in client_secret, or use a certificate instead"
	case e.Code == "AADSTS700016":
		e.Hint = fmt.Sprintf("Entra ID has no application with client_id %s in tenant %s: copy the \"Application "+
			"(client) ID\" from the app's Overview page into client_id, and check tenant_id", c.opts.ClientID,
			c.opts.TenantID)
	case e.Code == "AADSTS90002" || e.Code == "AADSTS900023" || e.Code == "invalid_tenant" ||
		strings.Contains(text, "invalid_tenant"):
		e.Hint = fmt.Sprintf("tenant %q was not found: set tenant_id to the \"Directory (tenant) ID\" shown on the "+
			"app's Overview page in Entra ID", c.opts.TenantID)
	case e.Code == "AADSTS700027" || e.Code == "AADSTS700024" || e.Code == "AADSTS50012":
		e.Hint = "Entra ID did not accept the client certificate: upload its public part in " + app +
			" -> Certificates & secrets -> Certificates, check that it has not expired, and that this machine's " +
			"clock is right"
	case e.Code == "AADSTS7000218":
		e.Hint = "no client secret or certificate was sent: set client_secret or certificate in [exchange.graph]"
	default:
		e.Hint = "Entra ID refused the app's credentials: check tenant_id, client_id and the client secret or " +
			"certificate in [exchange.graph] against " + app
	}
	e.msg = c.redact(e.msg)
	return e
}

// redact removes the client secret from text that came from elsewhere. No server is expected to echo it, but an
// error message is the last place a secret may leak through.
func (c *Client) redact(s string) string {
	if c.opts.ClientSecret != "" && len(c.opts.ClientSecret) >= 4 {
		s = strings.ReplaceAll(s, c.opts.ClientSecret, "[redacted]")
	}
	return s
}
