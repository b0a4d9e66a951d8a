package emulator

import (
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// This file is the emulator's EWS front (SOAP 1.1 over HTTPS at /EWS/Exchange.asmx), as an on-premises Exchange
// 2013 SP1 server answers the six operations tfsync's EWS backend uses: CreateItem, UpdateItem, DeleteItem,
// FindItem, GetItem and SyncFolderItems, on mailboxes' calendars, with impersonation or delegate access. It is
// written from Microsoft's EWS reference (MS-OXWS* and the EWS XML schema), not from the backend.
// Authentication is in ews_auth.go, the SOAP wire format in ews_wire.go, the operations in ews_ops.go and the
// calendar item's wire form in ews_item.go.

// maxEWSBody caps a request body; Exchange's default maxReceivedMessageSize is far larger than tfsync needs.
const maxEWSBody = 8 << 20

// ewsVersions are the RequestServerVersion values the schema (ExchangeVersionType) allows.
var ewsVersions = []string{"Exchange2007", "Exchange2007_SP1", "Exchange2010", "Exchange2010_SP1",
	"Exchange2010_SP2", "Exchange2013", "Exchange2013_SP1"}

// ewsRequest is one SOAP request after authentication and header processing.
type ewsRequest struct {
	s       *Server
	r       *http.Request
	account EWSAccount
	op      *ewsNode // the operation element, the only child of soap:Body
	// impersonate is the mailbox named by ExchangeImpersonation, or "" for delegate access.
	impersonate string
	// zone is the TimeZoneContext's zone (UTC without one); zone-less times in the request are read in it.
	zone   *time.Location
	zoneID string
}

// serveEWS handles one HTTP request to /EWS/Exchange.asmx. The server's wire has already applied request latency
// and will drop the connection after this handler if the request is the drop-after-commit one.
func (s *Server) serveEWS(w http.ResponseWriter, r *http.Request) {
	account, ok := s.ewsAuthenticate(w, r)
	if !ok {
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "EWS takes SOAP requests by POST", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "text/xml" {
		// EWS speaks SOAP 1.1, whose content type is text/xml.
		http.Error(w, "Cannot process the message because the content type '"+r.Header.Get("Content-Type")+
			"' was not the expected type 'text/xml; charset=utf-8'.", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEWSBody+1))
	if err != nil {
		return // the client went away
	}
	if len(body) > maxEWSBody {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	req := &ewsRequest{s: s, r: r, account: account, zone: time.UTC}
	resp, fault := req.handle(body)
	if fault != nil {
		zerolog.Ctx(r.Context()).Debug().Str("code", fault.code).Str("account", account.Username).
			Msg("ews emulator answers with a fault")
		if fault.plain && !s.em.lenient {
			writeIISUnavailable(w)
			return
		}
		writeEWS(w, fault.status, ewsFaultEnvelope(fault))
		return
	}
	writeEWS(w, http.StatusOK, ewsEnvelope(resp))
}

func writeEWS(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// handle parses the envelope, processes its header and runs the operation through the fault and limit gate.
func (req *ewsRequest) handle(body []byte) (string, *ewsFault) {
	root, err := ewsParseXML(body)
	if err != nil {
		return "", ewsSchemaFault(nil, "The request is not well-formed XML: %v", err)
	}
	if root.name.Local != "Envelope" || root.name.Space != nsEWSSoap {
		if root.name.Local == "Envelope" {
			// SOAP 1.1 section 4.4.1: an envelope in another namespace is a version mismatch. Several EWS doc
			// pages print the namespace with https://, which servers refuse.
			return "", &ewsFault{status: http.StatusInternalServerError, code: "ErrorInvalidRequest",
				soapCode: "s:VersionMismatch", message: fmt.Sprintf("The envelope namespace '%s' is not the SOAP 1.1 "+
					"namespace '%s'.", root.name.Space, nsEWSSoap)}
		}
		return "", ewsSchemaFault(root, "The root element must be the SOAP 1.1 Envelope, not '%s'.", root.name.Local)
	}
	if f := ewsCheckOrder(root, nsEWSSoap, []string{"Header", "Body"}); f != nil {
		return "", f
	}
	soapBody, f := ewsRequire(root, nsEWSSoap, "Body")
	if f != nil {
		return "", f
	}
	if f := req.header(root.child(nsEWSSoap, "Header")); f != nil {
		return "", f
	}
	if len(soapBody.kids) != 1 {
		return "", ewsSchemaFault(soapBody, "The SOAP Body must hold exactly one operation element.")
	}
	req.op = soapBody.kids[0]
	run := ewsOperation(req.op.name.Local)
	if req.op.name.Space != nsEWSMsg || run == nil {
		return "", &ewsFault{status: http.StatusInternalServerError, code: "ErrorInvalidRequest",
			message: fmt.Sprintf("The request is invalid: the emulator does not implement the EWS operation '%s' in "+
				"namespace '%s' (it implements CreateItem, UpdateItem, DeleteItem, FindItem, GetItem and "+
				"SyncFolderItems).", req.op.name.Local, req.op.name.Space)}
	}
	op, f := run(req)
	if f != nil {
		return "", f
	}

	release, reply := req.s.beginOp(req.r.Context(), FaultOp{Front: "ews", Mailbox: op.mailbox,
		Method: http.MethodPost, Path: req.op.name.Local})
	if reply != nil {
		// A throttled request is still a request to the mailbox: count it like the others.
		if op.mailbox != "" {
			_ = req.s.em.authorize("ews."+req.op.name.Local, op.mailbox, req.via())
		}
		return "", ewsFaultReply(reply)
	}
	defer release()
	return op.exec()
}

// ewsOp is an operation parsed and validated, ready to run against the mailbox it names.
type ewsOp struct {
	mailbox string // the mailbox the limits and faults are counted against; "" when none resolved
	exec    func() (string, *ewsFault)
}

// ewsOperation returns the function that parses and validates an operation's request (schema faults come from
// there) and returns what runs it; nil for an operation the emulator does not implement.
func ewsOperation(name string) func(*ewsRequest) (ewsOp, *ewsFault) {
	switch name {
	case "CreateItem":
		return (*ewsRequest).createItem
	case "UpdateItem":
		return (*ewsRequest).updateItem
	case "DeleteItem":
		return (*ewsRequest).deleteItem
	case "FindItem":
		return (*ewsRequest).findItem
	case "GetItem":
		return (*ewsRequest).getItem
	case "SyncFolderItems":
		return (*ewsRequest).syncFolderItems
	}
	return nil
}

// ewsFaultReply turns an injected fault or a limit's reply into EWS's answer: a 429 (throttling) becomes the
// ErrorServerBusy fault with BackOffMilliseconds taken from the Retry-After; a reply naming an EWS response code
// becomes that fault; anything else is a bare HTTP status, as IIS sends a 503.
func ewsFaultReply(r *FaultReply) *ewsFault {
	status := r.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	switch {
	case strings.HasPrefix(r.Code, "Error"):
		f := ewsFaultFor(r.Code)
		f.status = status
		if r.Message != "" {
			f.message = r.Message
		}
		if r.Code == "ErrorServerBusy" {
			f.messageXML = ewsBackOffXML(r.RetryAfter)
		}
		return f
	case status == http.StatusTooManyRequests:
		f := ewsFaultFor("ErrorServerBusy")
		f.messageXML = ewsBackOffXML(r.RetryAfter)
		return f
	}
	return &ewsFault{status: status, code: "ErrorInternalServerError", message: http.StatusText(status),
		plain: status == http.StatusServiceUnavailable}
}

// ewsBackOffXML is ErrorServerBusy's MessageXml: how long to wait, in milliseconds, from a Retry-After in seconds.
func ewsBackOffXML(retryAfter string) string {
	secs, err := strconv.ParseFloat(strings.TrimSpace(retryAfter), 64)
	if err != nil || secs <= 0 {
		secs = 1
	}
	var b ewsXMLBuilder
	b.leaf("t:Value", strconv.Itoa(int(math.Ceil(secs*1000))), "Name", "BackOffMilliseconds")
	return b.String()
}

// header processes soap:Header: RequestServerVersion (required here, so backends always send it),
// ExchangeImpersonation and TimeZoneContext. Other headers are ignored.
func (req *ewsRequest) header(h *ewsNode) *ewsFault {
	var version *ewsNode
	if h != nil {
		version = h.child(nsEWSTypes, "RequestServerVersion")
	}
	if version == nil {
		return &ewsFault{status: http.StatusInternalServerError, code: "ErrorInvalidServerVersion",
			message: "The request has no RequestServerVersion header: send <t:RequestServerVersion " +
				"Version=\"Exchange2013_SP1\"/>."}
	}
	v, f := ewsRequireAttr(version, "Version")
	if f != nil {
		return f
	}
	if !ewsContains(ewsVersions, v) {
		return ewsFaultFor("ErrorInvalidServerVersion")
	}
	if imp := h.child(nsEWSTypes, "ExchangeImpersonation"); imp != nil {
		sid, f := ewsRequire(imp, nsEWSTypes, "ConnectingSID")
		if f != nil {
			return f
		}
		if len(sid.kids) != 1 {
			return ewsSchemaFault(sid, "The element 'ConnectingSID' must hold exactly one of PrincipalName, SID, "+
				"PrimarySmtpAddress, SmtpAddress.")
		}
		k := sid.kids[0]
		switch {
		case k.name.Space != nsEWSTypes:
			return ewsSchemaFault(k, "The element 'ConnectingSID' in namespace '%s' has invalid child element '%s' in "+
				"namespace '%s'.", nsEWSTypes, k.name.Local, k.name.Space)
		case k.name.Local == "PrimarySmtpAddress" || k.name.Local == "SmtpAddress" || k.name.Local == "PrincipalName":
			// The emulator's users log on with their e-mail address as UPN, so PrincipalName names them too.
			req.impersonate = normAddr(k.value())
		case k.name.Local == "SID":
			return &ewsFault{status: http.StatusInternalServerError, code: "ErrorInvalidExchangeImpersonationHeaderData",
				message: "The emulator cannot resolve SIDs: name the mailbox with PrimarySmtpAddress."}
		default:
			return ewsSchemaFault(k, "The element 'ConnectingSID' in namespace '%s' has invalid child element '%s' in "+
				"namespace '%s'. List of possible elements expected: 'PrincipalName, SID, PrimarySmtpAddress, "+
				"SmtpAddress' in namespace '%s'.", nsEWSTypes, k.name.Local, nsEWSTypes, nsEWSTypes)
		}
		if req.impersonate == "" {
			return ewsSchemaFault(k, "The element '%s' must not be empty.", k.name.Local)
		}
	}
	if tzc := h.child(nsEWSTypes, "TimeZoneContext"); tzc != nil {
		def, f := ewsRequire(tzc, nsEWSTypes, "TimeZoneDefinition")
		if f != nil {
			return f
		}
		id, _ := def.attr("Id")
		loc, err := LoadZone(id)
		if err != nil {
			return &ewsFault{status: http.StatusInternalServerError, code: "ErrorTimeZone",
				message: fmt.Sprintf("The time zone '%s' in TimeZoneContext is not one the server knows.", id)}
		}
		req.zone, req.zoneID = loc, id
	}
	return nil
}

// via says how the request reaches mailboxes.
func (req *ewsRequest) via() Via {
	if req.impersonate != "" {
		return ViaEWSImpersonation
	}
	return ViaEWSDelegate
}

// access checks that the request may use the mailbox and counts the request for it. Under impersonation the
// account needs the ApplicationImpersonation role and the mailbox must be in its scope; Exchange refuses the whole
// request with a fault otherwise, and also faults an impersonated address without a mailbox. In delegate mode the
// answer is per response message: ErrorNonExistentMailbox, or for missing calendar rights ErrorAccessDenied
// (ErrorFolderNotFound when the operation reads the folder itself, which the account cannot even see).
func (req *ewsRequest) access(mailbox string, folderOp bool) (*ewsErr, *ewsFault) {
	err := req.s.em.authorize("ews."+req.op.name.Local, mailbox, req.via())
	if req.impersonate != "" {
		switch {
		case errors.Is(err, ErrUnknownMailbox), errors.Is(err, ErrUnlicensed):
			return nil, ewsFaultFor("ErrorNonExistentMailbox")
		case !req.account.Impersonation, errors.Is(err, ErrImpersonationDenied):
			return nil, ewsFaultFor("ErrorImpersonateUserDenied")
		}
	}
	switch {
	case err == nil:
		return nil, nil
	case errors.Is(err, ErrUnknownMailbox), errors.Is(err, ErrUnlicensed):
		return ewsItemErr("ErrorNonExistentMailbox"), nil
	case errors.Is(err, ErrNoDelegateRights) && folderOp:
		return ewsItemErr("ErrorFolderNotFound"), nil
	case errors.Is(err, ErrNoDelegateRights), errors.Is(err, ErrBlocked):
		return ewsItemErr("ErrorAccessDenied"), nil
	}
	return ewsItemErr("ErrorInternalServerError"), nil
}

// folderMailbox resolves a folder reference (t:DistinguishedFolderId with an optional t:Mailbox) to the mailbox
// whose calendar it names. A nil folder means the default calendar of the acting user. Only the calendar exists
// in the emulator; other folders are ErrorFolderNotFound. Under impersonation the mailbox is always the
// impersonated one, so that folderAccess checks the impersonation before anything else, as Exchange does.
func (req *ewsRequest) folderMailbox(folder *ewsNode) (string, *ewsErr, *ewsFault) {
	addr := ""
	var folderErr *ewsErr
	if folder != nil {
		if folder.name.Local != "DistinguishedFolderId" {
			folderErr = ewsItemErr("ErrorFolderNotFound", "The emulator addresses calendars by DistinguishedFolderId "+
				"only.")
		} else {
			id, f := ewsRequireAttr(folder, "Id")
			if f != nil {
				return "", nil, f
			}
			if f := ewsCheckOrder(folder, nsEWSTypes, []string{"Mailbox"}); f != nil {
				return "", nil, f
			}
			if mb := folder.child(nsEWSTypes, "Mailbox"); mb != nil {
				if ea := mb.child(nsEWSTypes, "EmailAddress"); ea != nil {
					addr = normAddr(ea.value())
				}
			}
			if id != "calendar" {
				folderErr = ewsItemErr("ErrorFolderNotFound")
			}
		}
	}
	switch {
	case req.impersonate != "":
		if folderErr == nil && addr != "" && addr != req.impersonate {
			// The emulator does not model one user's rights on another's calendar.
			folderErr = ewsItemErr("ErrorAccessDenied")
		}
		return req.impersonate, folderErr, nil
	case folderErr != nil:
		return addr, folderErr, nil
	case addr == "":
		// Service accounts have no mailbox of their own.
		return "", ewsItemErr("ErrorMissingEmailAddress"), nil
	}
	return addr, nil, nil
}

// folderAccess checks access for an operation on a folder whose reference resolved to mailbox (or to folderErr).
// Under impersonation the impersonated mailbox is checked even when the folder reference is wrong: Exchange
// processes the impersonation header before the body.
func (req *ewsRequest) folderAccess(mailbox string, folderErr *ewsErr, folderOp bool) (*ewsErr, *ewsFault) {
	if folderErr != nil && req.impersonate == "" {
		return folderErr, nil
	}
	e, f := req.access(mailbox, folderOp)
	if f != nil {
		return nil, f
	}
	if folderErr != nil {
		return folderErr, nil
	}
	return e, nil
}

// itemMailbox finds the mailbox an item id belongs to, as Exchange reads it from the id itself: the impersonated
// mailbox under impersonation, else whichever mailbox holds (or held) the item. ok is false for an unknown id.
func (req *ewsRequest) itemMailbox(id string) (string, bool) {
	if req.impersonate != "" {
		return req.impersonate, true
	}
	return req.s.em.mailboxOfEvent(id)
}

// ewsResponses renders an operation's response: m:<Op>Response / m:ResponseMessages / one m:<Op>ResponseMessage per
// item, each written by its own function.
func ewsResponses(op string, msgs []string) string {
	var w ewsXMLBuilder
	w.start("m:"+op+"Response", "xmlns:m", nsEWSMsg, "xmlns:t", nsEWSTypes)
	w.start("m:ResponseMessages")
	for _, m := range msgs {
		w.raw(m)
	}
	w.end("m:ResponseMessages")
	w.end("m:" + op + "Response")
	return w.String()
}

// ewsSuccess renders a Success response message with its content.
func ewsSuccess(op, content string) string {
	var w ewsXMLBuilder
	w.start("m:"+op+"ResponseMessage", "ResponseClass", "Success")
	w.leaf("m:ResponseCode", "NoError")
	w.raw(content)
	w.end("m:" + op + "ResponseMessage")
	return w.String()
}

// ewsErrorMessage renders an Error response message; trailer is what the message type carries after the error
// (e.g. an empty m:Items).
func ewsErrorMessage(op string, e *ewsErr, trailer string) string {
	var w ewsXMLBuilder
	w.start("m:"+op+"ResponseMessage", "ResponseClass", "Error")
	w.leaf("m:MessageText", e.message)
	w.leaf("m:ResponseCode", e.code)
	w.leaf("m:DescriptiveLinkKey", "0")
	w.raw(trailer)
	w.end("m:" + op + "ResponseMessage")
	return w.String()
}
