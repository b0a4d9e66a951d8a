package emulator

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file holds the EWS front's wire format: the XML tree requests are parsed into, the schema rules the front
// enforces the way Exchange's schema validation does, and the writer responses and SOAP faults are built with.

// The namespaces of EWS's SOAP 1.1 messages.
const (
	nsEWSSoap   = "http://schemas.xmlsoap.org/soap/envelope/"
	nsEWSMsg    = "http://schemas.microsoft.com/exchange/services/2006/messages"
	nsEWSTypes  = "http://schemas.microsoft.com/exchange/services/2006/types"
	nsEWSErrors = "http://schemas.microsoft.com/exchange/services/2006/errors"
)

// ewsNode is one element of a parsed request: enough of a DOM to check element order (which Exchange's schema
// validation enforces and encoding/xml's struct decoding would ignore) and to report where a violation is.
type ewsNode struct {
	name      xml.Name
	attrs     []xml.Attr
	kids      []*ewsNode
	text      string
	line, col int
}

// ewsParseXML reads one XML document into a tree. It refuses DTDs, as Exchange does.
func ewsParseXML(data []byte) (*ewsNode, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var stack []*ewsNode
	var root *ewsNode
	for {
		line, col := d.InputPos()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &ewsNode{name: t.Name, attrs: t.Attr, line: line, col: col + 1}
			if len(stack) > 0 {
				parent := stack[len(stack)-1]
				parent.kids = append(parent.kids, n)
			} else if root != nil {
				return nil, fmt.Errorf("more than one root element")
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, fmt.Errorf("text outside the root element")
			}
		case xml.Directive:
			return nil, fmt.Errorf("DTD is prohibited")
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no root element")
	}
	return root, nil
}

// attr returns an attribute without a namespace (EWS attributes are unqualified).
func (n *ewsNode) attr(local string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// child returns the first child element with the name, or nil.
func (n *ewsNode) child(ns, local string) *ewsNode {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if k.name.Space == ns && k.name.Local == local {
			return k
		}
	}
	return nil
}

// value is the element's text without surrounding white space.
func (n *ewsNode) value() string { return strings.TrimSpace(n.text) }

// ewsFault is a SOAP fault: the answer to a request Exchange refuses as a whole (HTTP 500).
type ewsFault struct {
	status  int
	code    string // ResponseCodeType value, e.g. ErrorSchemaValidation
	message string
	// messageXML is extra detail as t:MessageXml children, already serialised (e.g. BackOffMilliseconds).
	messageXML string
	// soapCode replaces the "a:<code>" faultcode with a SOAP 1.1 code such as "s:VersionMismatch".
	soapCode string
	// plain answers with IIS's own page instead of SOAP (an unavailable application pool: writeIISUnavailable).
	plain bool
}

// ewsSchemaFault is Exchange's answer to a request its schema validation rejects.
func ewsSchemaFault(n *ewsNode, format string, args ...any) *ewsFault {
	violation := fmt.Sprintf(format, args...)
	f := &ewsFault{status: http.StatusInternalServerError, code: "ErrorSchemaValidation",
		message: "The request failed schema validation: " + violation}
	var b ewsXMLBuilder
	if n != nil {
		b.leaf("t:LineNumber", strconv.Itoa(n.line))
		b.leaf("t:LinePosition", strconv.Itoa(n.col))
	}
	b.leaf("t:Violation", violation)
	f.messageXML = b.String()
	return f
}

// ewsFaultFor builds a fault with Exchange's text for a response code.
func ewsFaultFor(code string) *ewsFault {
	return &ewsFault{status: http.StatusInternalServerError, code: code, message: ewsMessageText(code)}
}

// ewsErr is a per-item error: an Error response message inside an HTTP 200 answer.
type ewsErr struct {
	code    string
	message string
}

func (e *ewsErr) Error() string { return e.code + ": " + e.message }

// ewsItemErr builds a per-item error with Exchange's text for the code, or msg when given.
func ewsItemErr(code string, msg ...string) *ewsErr {
	if len(msg) > 0 {
		return &ewsErr{code: code, message: msg[0]}
	}
	return &ewsErr{code: code, message: ewsMessageText(code)}
}

// ewsMessageText is the MessageText Exchange sends with a response code.
func ewsMessageText(code string) string {
	switch code {
	case "ErrorItemNotFound":
		return "The specified object was not found in the store."
	case "ErrorNonExistentMailbox":
		return "The SMTP address has no mailbox associated with it."
	case "ErrorAccessDenied":
		return "Access is denied. Check credentials and try again."
	case "ErrorFolderNotFound":
		return "The specified folder could not be found in the store."
	case "ErrorImpersonateUserDenied":
		return "The account does not have permission to impersonate the requested user."
	case "ErrorIrresolvableConflict":
		return "The send or update operation could not be performed because the change key passed in the request " +
			"does not match the current change key for the item."
	case "ErrorChangeKeyRequiredForWriteOperations":
		return "When you specify ConflictResolution other than AlwaysOverwrite, you must supply a change key."
	case "ErrorInvalidSyncStateData":
		return "Synchronization state data is corrupt or otherwise invalid."
	case "ErrorCalendarViewRangeTooBig":
		return "The time range between the StartDate and EndDate of the CalendarView is too large: it may span at " +
			"most two years."
	case "ErrorCalendarEndDateIsEarlierThanStartDate":
		return "EndDate is earlier than StartDate"
	case "ErrorServerBusy":
		return "The server cannot service this request right now. Try again later."
	case "ErrorSendMeetingInvitationsRequired":
		return "SendMeetingInvitations attribute is required for Calendar items."
	case "ErrorSendMeetingInvitationsOrCancellationsRequired":
		return "SendMeetingInvitationsOrCancellations attribute is required for Calendar items."
	case "ErrorSendMeetingCancellationsRequired":
		return "SendMeetingCancellations attribute is required for Calendar items."
	case "ErrorMissingEmailAddress":
		return "When making a request as an account that does not have a mailbox, you must specify the mailbox " +
			"primary SMTP address for any distinguished folder Ids."
	case "ErrorInvalidServerVersion":
		return "The specified server version is invalid."
	case "ErrorInvalidPropertyRequest":
		return "The property request is invalid."
	case "ErrorInvalidIdMalformed":
		return "Id is malformed."
	case "ErrorCalendarInvalidTimeZone":
		return "The time zone isn't valid."
	case "ErrorInternalServerError":
		return "An internal server error occurred. The operation failed."
	}
	return code
}

// ewsXMLBuilder writes XML with the prefixes EWS responses use (s, m, t). Names are trusted; text and attribute
// values are escaped.
type ewsXMLBuilder struct{ b strings.Builder }

func (w *ewsXMLBuilder) String() string { return w.b.String() }

func (w *ewsXMLBuilder) start(name string, attrs ...string) {
	w.b.WriteByte('<')
	w.b.WriteString(name)
	w.attrs(attrs)
	w.b.WriteByte('>')
}

func (w *ewsXMLBuilder) end(name string) {
	w.b.WriteString("</")
	w.b.WriteString(name)
	w.b.WriteByte('>')
}

// empty writes a self-closed element.
func (w *ewsXMLBuilder) empty(name string, attrs ...string) {
	w.b.WriteByte('<')
	w.b.WriteString(name)
	w.attrs(attrs)
	w.b.WriteString("/>")
}

// leaf writes an element holding text.
func (w *ewsXMLBuilder) leaf(name, text string, attrs ...string) {
	w.start(name, attrs...)
	xml.EscapeText(&w.b, []byte(text))
	w.end(name)
}

// raw writes already serialised XML.
func (w *ewsXMLBuilder) raw(s string) { w.b.WriteString(s) }

func (w *ewsXMLBuilder) attrs(kv []string) {
	for i := 0; i+1 < len(kv); i += 2 {
		w.b.WriteByte(' ')
		w.b.WriteString(kv[i])
		w.b.WriteString(`="`)
		var esc bytes.Buffer
		xml.EscapeText(&esc, []byte(kv[i+1]))
		w.b.Write(esc.Bytes())
		w.b.WriteByte('"')
	}
}

// ewsEnvelope wraps a response body in the SOAP envelope Exchange 2013 SP1 sends, with its ServerVersionInfo
// header.
func ewsEnvelope(body string) []byte {
	var w ewsXMLBuilder
	w.raw(`<?xml version="1.0" encoding="utf-8"?>`)
	w.start("s:Envelope", "xmlns:s", nsEWSSoap)
	w.start("s:Header")
	w.empty("h:ServerVersionInfo", "MajorVersion", "15", "MinorVersion", "0", "MajorBuildNumber", "847",
		"MinorBuildNumber", "32", "Version", "V2_6", "xmlns:h", nsEWSTypes, "xmlns", nsEWSTypes,
		"xmlns:xsd", "http://www.w3.org/2001/XMLSchema", "xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
	w.end("s:Header")
	w.start("s:Body", "xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance",
		"xmlns:xsd", "http://www.w3.org/2001/XMLSchema")
	w.raw(body)
	w.end("s:Body")
	w.end("s:Envelope")
	return []byte(w.String())
}

// ewsFaultEnvelope renders a SOAP fault as Exchange does: faultcode a:<code> in the types namespace, and a detail with
// e:ResponseCode, e:Message and, when there is more to say, t:MessageXml.
func ewsFaultEnvelope(f *ewsFault) []byte {
	var w ewsXMLBuilder
	w.raw(`<?xml version="1.0" encoding="utf-8"?>`)
	w.start("s:Envelope", "xmlns:s", nsEWSSoap)
	w.start("s:Body")
	w.start("s:Fault")
	if f.soapCode != "" {
		w.leaf("faultcode", f.soapCode)
	} else {
		w.leaf("faultcode", "a:"+f.code, "xmlns:a", nsEWSTypes)
	}
	w.leaf("faultstring", f.message, "xml:lang", "en-US")
	w.start("detail")
	w.leaf("e:ResponseCode", f.code, "xmlns:e", nsEWSErrors)
	w.leaf("e:Message", f.message, "xmlns:e", nsEWSErrors)
	if f.messageXML != "" {
		w.start("t:MessageXml", "xmlns:t", nsEWSTypes)
		w.raw(f.messageXML)
		w.end("t:MessageXml")
	}
	w.end("detail")
	w.end("s:Fault")
	w.end("s:Body")
	w.end("s:Envelope")
	return []byte(w.String())
}

// ewsCheckOrder enforces an xs:sequence of optional elements: every child must be one of names (in namespace ns), in
// that order, each at most once unless repeatable. Exchange rejects anything else with ErrorSchemaValidation.
func ewsCheckOrder(n *ewsNode, ns string, names []string, repeatable ...string) *ewsFault {
	last := -1
	for _, k := range n.kids {
		idx := -1
		if k.name.Space == ns {
			for i, name := range names {
				if name == k.name.Local {
					idx = i
					break
				}
			}
		}
		repeat := idx == last && idx >= 0 && ewsContains(repeatable, k.name.Local)
		if idx < 0 || (idx <= last && !repeat) {
			return ewsSchemaFault(k, "The element '%s' in namespace '%s' has invalid child element '%s' in namespace "+
				"'%s'.", n.name.Local, n.name.Space, k.name.Local, k.name.Space)
		}
		last = idx
	}
	return nil
}

// ewsRequire reports a missing required child element.
func ewsRequire(n *ewsNode, ns, local string) (*ewsNode, *ewsFault) {
	if c := n.child(ns, local); c != nil {
		return c, nil
	}
	return nil, ewsSchemaFault(n, "The element '%s' in namespace '%s' has incomplete content. List of possible "+
		"elements expected: '%s' in namespace '%s'.", n.name.Local, n.name.Space, local, ns)
}

// ewsRequireAttr reports a missing required attribute.
func ewsRequireAttr(n *ewsNode, name string) (string, *ewsFault) {
	if v, ok := n.attr(name); ok {
		return v, nil
	}
	return "", ewsSchemaFault(n, "The required attribute '%s' is missing.", name)
}

// ewsEnumAttr checks an optional attribute against its enumeration; ok is false when it is absent.
func ewsEnumAttr(n *ewsNode, name string, allowed ...string) (string, bool, *ewsFault) {
	v, ok := n.attr(name)
	if !ok {
		return "", false, nil
	}
	if !ewsContains(allowed, v) {
		return "", false, ewsSchemaFault(n, "The '%s' attribute is invalid - The value '%s' is invalid according to its "+
			"datatype.", name, v)
	}
	return v, true, nil
}

func ewsContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ewsBool reads an xs:boolean.
func ewsBool(n *ewsNode) (bool, *ewsFault) {
	switch n.value() {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, ewsBadValue(n)
}

// ewsInt reads an xs:int.
func ewsInt(n *ewsNode) (int, *ewsFault) {
	v, err := strconv.Atoi(n.value())
	if err != nil {
		return 0, ewsBadValue(n)
	}
	return v, nil
}

func ewsBadValue(n *ewsNode) *ewsFault {
	return ewsSchemaFault(n, "The '%s' element is invalid - The value '%s' is invalid according to its datatype.",
		n.name.Local, n.value())
}

// ewsDateTime reads an xs:dateTime. A value without a zone offset is a wall time in zone (the request's
// TimeZoneContext, else UTC), as Exchange 2010 SP1 and later read it.
func ewsDateTime(s string, zone *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, zone); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// ewsTime writes an instant the way Exchange does: UTC with a Z, whole seconds.
func ewsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// ewsItemOrder is the element order of t:CalendarItem: ItemType's sequence followed by CalendarItemType's
// (types.xsd, Exchange2013_SP1).
var ewsItemOrder = []string{
	// ItemType
	"MimeContent", "ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "Body", "Attachments",
	"DateTimeReceived", "Size", "Categories", "Importance", "InReplyTo", "IsSubmitted", "IsDraft", "IsFromMe",
	"IsResend", "IsUnmodified", "InternetMessageHeaders", "DateTimeSent", "DateTimeCreated", "ResponseObjects",
	"ReminderDueBy", "ReminderIsSet", "ReminderNextTime", "ReminderMinutesBeforeStart", "DisplayCc", "DisplayTo",
	"HasAttachments", "ExtendedProperty", "Culture", "EffectiveRights", "LastModifiedName", "LastModifiedTime",
	"IsAssociated", "WebClientReadFormQueryString", "WebClientEditFormQueryString", "ConversationId", "UniqueBody",
	"Flag", "StoreEntryId", "InstanceKey", "NormalizedBody", "EntityExtractionResult", "PolicyTag", "ArchiveTag",
	"RetentionDate", "Preview", "RightsManagementLicenseData", "PredictedActionReasons", "IsClutter", "BlockStatus",
	"HasBlockedImages", "TextBody", "IconIndex",
	// CalendarItemType
	"UID", "RecurrenceId", "DateTimeStamp", "Start", "End", "OriginalStart", "IsAllDayEvent",
	"LegacyFreeBusyStatus", "Location", "When", "IsMeeting", "IsCancelled", "IsRecurring", "MeetingRequestWasSent",
	"IsResponseRequested", "CalendarItemType", "MyResponseType", "Organizer", "RequiredAttendees",
	"OptionalAttendees", "Resources", "ConflictingMeetingCount", "AdjacentMeetingCount", "ConflictingMeetings",
	"AdjacentMeetings", "Duration", "TimeZone", "AppointmentReplyTime", "AppointmentSequenceNumber",
	"AppointmentState", "Recurrence", "FirstOccurrence", "LastOccurrence", "ModifiedOccurrences",
	"DeletedOccurrences", "MeetingTimeZone", "StartTimeZone", "EndTimeZone", "ConferenceType",
	"AllowNewTimeProposal", "IsOnlineMeeting", "MeetingWorkspaceUrl", "NetShowUrl", "EnhancedLocation",
	"StartWallClock", "EndWallClock", "StartTimeZoneId", "EndTimeZoneId", "IntendedFreeBusyStatus",
	"JoinOnlineMeetingUrl", "OnlineMeetingSettings", "IsOrganizer",
}

// ewsPropertySets maps DistinguishedPropertySetId values to their MAPI property set GUIDs, so a property
// named through either form is the same property.
var ewsPropertySets = map[string]string{
	"Meeting":           "6ed8da90-450b-101b-98da-00aa003f1305",
	"Appointment":       "00062002-0000-0000-c000-000000000046",
	"Common":            "00062008-0000-0000-c000-000000000046",
	"PublicStrings":     "00020329-0000-0000-c000-000000000046",
	"Address":           "00062004-0000-0000-c000-000000000046",
	"InternetHeaders":   "00020386-0000-0000-c000-000000000046",
	"CalendarAssistant": "11000e07-b51b-40d6-af21-caa85edab1d0",
	"UnifiedMessaging":  "4442858e-a9e3-4e80-b900-317a210cc15b",
	"Task":              "00062003-0000-0000-c000-000000000046",
	"Sharing":           "00062040-0000-0000-c000-000000000046",
}

// ewsExtPath is a parsed t:ExtendedFieldURI: the property it names and the attributes to echo it back with.
type ewsExtPath struct {
	key   PropKey
	attrs []string
}

// ewsParseExtPath reads a t:ExtendedFieldURI. The emulator stores named properties only (a property set and a name);
// a PropertyTag or PropertyId is refused as ErrorInvalidExtendedProperty's schema twin.
func ewsParseExtPath(n *ewsNode) (ewsExtPath, *ewsFault) {
	typ, f := ewsRequireAttr(n, "PropertyType")
	if f != nil {
		return ewsExtPath{}, f
	}
	var p ewsExtPath
	set := ""
	if v, ok := n.attr("DistinguishedPropertySetId"); ok {
		g, known := ewsPropertySets[v]
		if !known {
			return ewsExtPath{}, ewsSchemaFault(n, "The 'DistinguishedPropertySetId' attribute is invalid - The value '%s' "+
				"is invalid according to its datatype.", v)
		}
		set = g
		p.attrs = append(p.attrs, "DistinguishedPropertySetId", v)
	}
	if v, ok := n.attr("PropertySetId"); ok {
		if set != "" {
			return ewsExtPath{}, ewsSchemaFault(n, "Only one of DistinguishedPropertySetId and PropertySetId may be given.")
		}
		set = v
		p.attrs = append(p.attrs, "PropertySetId", v)
	}
	name, hasName := n.attr("PropertyName")
	if set == "" || !hasName {
		return ewsExtPath{}, ewsSchemaFault(n, "The emulator supports only named extended properties "+
			"(DistinguishedPropertySetId or PropertySetId, with PropertyName).")
	}
	p.attrs = append(p.attrs, "PropertyName", name, "PropertyType", typ)
	p.key = MakePropKey(set, name)
	return p, nil
}
