package ews

import (
	"fmt"
	"strings"

	"tfsync/exchange"
)

// Error is an answer from EWS that refused a request: an error response message or a SOAP fault, or an HTTP status
// that carries no SOAP. It unwraps to one of exchange's sentinels, and its message says what to fix.
type Error struct {
	Code    string // the EWS ResponseCode (ErrorAccessDenied, ...) or "HTTP 401"
	Message string // the server's MessageText, for the log; may be empty
	Hint    string // what the admin should do, naming the mailbox where one is involved
	Err     error  // the exchange sentinel
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Hint != "" {
		b.WriteString(e.Hint)
	} else {
		b.WriteString(e.Err.Error())
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
	}
	b.WriteString(" (")
	b.WriteString(e.Code)
	b.WriteString(")")
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Response codes the client acts on.
const (
	codeItemNotFound        = "ErrorItemNotFound"
	codeServerBusy          = "ErrorServerBusy"
	codeExceededConnections = "ErrorExceededConnectionCount"
	codeInvalidSyncState    = "ErrorInvalidSyncStateData"
	codeImpersonateDenied   = "ErrorImpersonateUserDenied"
	codeInvalidRestriction  = "ErrorInvalidRestriction"
)

// staleCodes mean the change key of an update was out of date.
var staleCodes = map[string]bool{
	"ErrorIrresolvableConflict":                true,
	"ErrorStaleObject":                         true,
	"ErrorChangeKeyRequiredForWriteOperations": true,
}

// transientCodes are worth retrying after a pause.
var transientCodes = map[string]bool{
	codeServerBusy:                      true,
	codeExceededConnections:             true,
	"ErrorTimeoutExpired":               true,
	"ErrorInternalServerTransientError": true,
	"ErrorMailboxStoreUnavailable":      true,
	"ErrorMailboxMoveInProgress":        true,
	"ErrorConnectionFailed":             true,
}

// invalidEventCodes mean the server refused the event itself.
var invalidEventCodes = map[string]bool{
	"ErrorCalendarEndDateIsEarlierThanStartDate":  true,
	"ErrorCalendarDurationIsTooLong":              true,
	"ErrorCalendarInvalidAttributeValue":          true,
	"ErrorCalendarInvalidDayForTimeChangePattern": true,
	"ErrorCalendarInvalidTimeZone":                true,
	"ErrorInvalidPropertySet":                     true,
	"ErrorInvalidPropertyRequest":                 true,
	"ErrorInvalidPropertyForOperation":            true,
	"ErrorInvalidExtendedPropertyValue":           true,
	"ErrorInvalidValueForProperty":                true,
	"ErrorPropertyValidationFailure":              true,
	"ErrorSchemaValidation":                       true,
	"ErrorInvalidRequest":                         true,
	"ErrorTimeZone":                               true,
	"ErrorValueOutOfRange":                        true,
}

// accessHint says how to give the service account rights on mailbox's calendar in the configured access mode.
func (c *Client) accessHint(mailbox string) string {
	if c.impersonate {
		return fmt.Sprintf("the service account %s may not open %s's calendar: check that its ApplicationImpersonation "+
			"role assignment has a scope that includes this mailbox, or give it Editor rights on the calendar "+
			"(Add-MailboxFolderPermission %s:\\Calendar -User %s -AccessRights Editor) and use access = \"delegate\"",
			c.opts.Username, mailbox, mailbox, c.opts.Username)
	}
	return fmt.Sprintf("the service account %s has no rights on %s's calendar: give the service account Editor "+
		"rights on %s's calendar (Add-MailboxFolderPermission %s:\\Calendar -User %s -AccessRights Editor), "+
		"or use access = \"impersonation\"", c.opts.Username, mailbox, mailbox, mailbox, c.opts.Username)
}

// codeError turns an EWS response code into an Error wrapping the matching sentinel. mailbox is the mailbox the
// request was for ("" for none); write reports whether the request wrote an event.
func (c *Client) codeError(code, text, mailbox string, write bool) *Error {
	e := &Error{Code: code, Message: strings.TrimSpace(text)}
	switch {
	case code == codeItemNotFound || code == "ErrorInvalidIdMalformed" || code == "ErrorInvalidIdNotAnItemAttachmentId":
		e.Err = exchange.ErrNotFound
	case code == codeImpersonateDenied || code == "ErrorImpersonationDenied":
		e.Err = exchange.ErrAccessDenied
		e.Hint = fmt.Sprintf("the service account %s may not impersonate %s: assign the ApplicationImpersonation "+
			"role (New-ManagementRoleAssignment -Role ApplicationImpersonation -User %s) with a scope that "+
			"includes this mailbox", c.opts.Username, mailbox, c.opts.Username)
	case code == "ErrorAccessDenied" || code == "ErrorFolderNotFound" || code == "ErrorDelegateNoUser":
		e.Err = exchange.ErrAccessDenied
		e.Hint = c.accessHint(mailbox)
	case code == "ErrorNonExistentMailbox" || code == "ErrorInvalidSmtpAddress" ||
		code == "ErrorMailboxNotFound" || code == "ErrorNoPublicFolderReplicaAvailable":
		e.Err = exchange.ErrMailboxNotFound
		e.Hint = fmt.Sprintf("Exchange has no mailbox %s: use the mailbox's primary SMTP address in TF "+
			"(Inställningar -> Grunddata -> Resurser)", mailbox)
	case code == codeServerBusy || code == codeExceededConnections:
		e.Err = exchange.ErrThrottled
		e.Hint = fmt.Sprintf("Exchange kept throttling requests for %s; the next pass tries again", orServer(mailbox))
	case staleCodes[code]:
		e.Err = exchange.ErrConflict
	case transientCodes[code]:
		e.Err = exchange.ErrUnavailable
	case write && invalidEventCodes[code]:
		e.Err = exchange.ErrInvalidEvent
	case code == "ErrorInvalidServerVersion" || code == "ErrorInvalidRequest" || code == "ErrorSchemaValidation":
		e.Err = exchange.ErrUnavailable
		e.Hint = fmt.Sprintf("the EWS server refused tfsync's request as invalid: it needs Exchange 2013 or later "+
			"(%s)", strings.TrimSpace(text))
	default:
		e.Err = exchange.ErrUnavailable
	}
	return e
}

func orServer(mailbox string) string {
	if mailbox == "" {
		return "the server"
	}
	return mailbox
}

// authError explains an HTTP 401. challenges are the server's WWW-Authenticate headers: when they do not offer the
// configured scheme, the fix is the auth setting, not the password.
func (c *Client) authError(challenges []string) *Error {
	e := &Error{Code: "HTTP 401", Err: exchange.ErrAuth}
	offered := strings.ToLower(strings.Join(challenges, " "))
	basic := strings.Contains(offered, "basic")
	ntlm := strings.Contains(offered, "ntlm") || strings.Contains(offered, "negotiate")
	switch {
	case len(challenges) > 0 && !basic && !ntlm && strings.Contains(offered, "bearer"):
		e.Hint = fmt.Sprintf("%s accepts only OAuth (Exchange Online): use mode = \"graph\" instead of EWS",
			c.opts.URL)
	case c.opts.Auth == AuthBasic && len(challenges) > 0 && !basic:
		e.Hint = fmt.Sprintf("%s does not accept Basic authentication: set [exchange.ews] auth = \"ntlm\"", c.opts.URL)
	case c.opts.Auth == AuthNTLM && len(challenges) > 0 && !ntlm:
		e.Hint = fmt.Sprintf("%s does not accept NTLM authentication: set [exchange.ews] auth = \"basic\" (over "+
			"https only)", c.opts.URL)
	default:
		e.Hint = fmt.Sprintf("the EWS service account %s was refused: check [exchange.ews] username (DOMAIN\\user "+
			"or user@domain) and password, and that the account is not locked", c.opts.Username)
	}
	return e
}

// statusError explains an HTTP answer without SOAP.
func (c *Client) statusError(status int, location string) *Error {
	e := &Error{Code: fmt.Sprintf("HTTP %d", status), Err: exchange.ErrUnavailable}
	switch {
	case status >= 300 && status < 400:
		e.Hint = fmt.Sprintf("%s redirects to %q: set [exchange.ews] url to the EWS endpoint itself, "+
			"e.g. https://mail.example.com/EWS/Exchange.asmx", c.opts.URL, location)
	case status == 403:
		e.Err = exchange.ErrAccessDenied
		e.Hint = fmt.Sprintf("%s refused the service account %s: EWS may be disabled for it "+
			"(Set-CASMailbox %s -EWSEnabled $true) or blocked by the organization's EWS allow/block lists",
			c.opts.URL, c.opts.Username, c.opts.Username)
	case status == 404:
		e.Hint = fmt.Sprintf("%s has no EWS endpoint: check [exchange.ews] url, "+
			"e.g. https://mail.example.com/EWS/Exchange.asmx", c.opts.URL)
	case status == 503:
		e.Hint = fmt.Sprintf("%s stayed unavailable (HTTP 503) through tfsync's retries; the next pass tries again",
			c.opts.URL)
	default:
		e.Hint = fmt.Sprintf("%s answered HTTP %d without a SOAP response", c.opts.URL, status)
	}
	return e
}

// transportError explains a request that got no HTTP answer.
func (c *Client) transportError(err error) *Error {
	return &Error{Code: "connection", Err: exchange.ErrUnavailable, Message: err.Error(),
		Hint: exchange.TransportHint(err, c.opts.URL, "url in [exchange.ews]") + ": " + err.Error()}
}

// badResponse reports an answer that is not the SOAP tfsync expects.
func (c *Client) badResponse(op string, err error) error {
	return fmt.Errorf("%s: %s answered with a response tfsync cannot read: %v: %w", op, c.opts.URL, err,
		exchange.ErrBadResponse)
}
