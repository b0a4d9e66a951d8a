package ews

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"

	"tfsync/exchange"
)

// This file holds the SOAP wire types. Request types carry their namespace prefix in their tags (encoding/xml writes
// "t:Subject" verbatim), and the envelope declares the prefixes, so a request reads exactly like Microsoft's
// examples. Children are declared in the order of the schema's xs:sequence, which Exchange enforces. Response types
// match local names only, so they accept whatever prefixes a server chooses.

const (
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	nsTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"

	// serverVersion is the schema version every request names; it is valid on Exchange 2013 and later.
	serverVersion = "Exchange2013_SP1"

	// wireTime is how request times are written: UTC with a Z, so no TimeZoneContext is needed to read them.
	wireTime = "2006-01-02T15:04:05Z"
)

// ---- requests ----

type envelope struct {
	XMLName   xml.Name `xml:"soap:Envelope"`
	XmlnsSOAP string   `xml:"xmlns:soap,attr"`
	XmlnsM    string   `xml:"xmlns:m,attr"`
	XmlnsT    string   `xml:"xmlns:t,attr"`
	Header    header   `xml:"soap:Header"`
	Body      body     `xml:"soap:Body"`
}

type header struct {
	Version       versionHeader  `xml:"t:RequestServerVersion"`
	Impersonation *impersonation `xml:"t:ExchangeImpersonation,omitempty"`
}

type versionHeader struct {
	Version string `xml:"Version,attr"`
}

// impersonation names the mailbox the service account acts as. ConnectingSID takes exactly one of its four
// children; the primary SMTP address is the one TF holds.
type impersonation struct {
	PrimarySMTPAddress string `xml:"t:ConnectingSID>t:PrimarySmtpAddress"`
}

type body struct {
	Op any // one of the operation types below; its XMLName names the element
}

// marshalEnvelope renders one request. mailbox goes into the impersonation header when impersonate is set.
func marshalEnvelope(op any, mailbox string, impersonate bool) ([]byte, error) {
	env := envelope{
		XmlnsSOAP: nsSOAP, XmlnsM: nsMessages, XmlnsT: nsTypes,
		Header: header{Version: versionHeader{Version: serverVersion}},
		Body:   body{Op: op},
	}
	if impersonate && mailbox != "" {
		env.Header.Impersonation = &impersonation{PrimarySMTPAddress: mailbox}
	}
	out, err := xml.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

type itemID struct {
	ID        string `xml:"Id,attr"`
	ChangeKey string `xml:"ChangeKey,attr,omitempty"`
}

type folderID struct {
	Distinguished distinguishedFolderID `xml:"t:DistinguishedFolderId"`
}

type distinguishedFolderID struct {
	ID      string       `xml:"Id,attr"`
	Mailbox *mailboxAddr `xml:"t:Mailbox,omitempty"`
}

type mailboxAddr struct {
	EmailAddress string `xml:"t:EmailAddress"`
}

type fieldURI struct {
	XMLName  xml.Name `xml:"t:FieldURI"`
	FieldURI string   `xml:"FieldURI,attr"`
}

type extendedFieldURI struct {
	XMLName       xml.Name `xml:"t:ExtendedFieldURI"`
	PropertySetID string   `xml:"PropertySetId,attr"`
	PropertyName  string   `xml:"PropertyName,attr"`
	PropertyType  string   `xml:"PropertyType,attr"`
}

// bookingField is the extended property that carries the booking id on every event tfsync writes.
func bookingField() extendedFieldURI {
	return extendedFieldURI{
		PropertySetID: exchange.BookingPropertySetID,
		PropertyName:  exchange.BookingPropertyName,
		PropertyType:  "String",
	}
}

// installationField is the extended property that names the installation that wrote the event, in the same set.
func installationField() extendedFieldURI {
	return extendedFieldURI{
		PropertySetID: exchange.BookingPropertySetID,
		PropertyName:  exchange.InstallationPropertyName,
		PropertyType:  "String",
	}
}

// tfsyncFields are the extended properties every request that reads or writes tfsync's events names.
func tfsyncFields() []extendedFieldURI {
	return []extendedFieldURI{bookingField(), installationField()}
}

type extendedProperty struct {
	Field extendedFieldURI
	Value string `xml:"t:Value"`
}

type bodyContent struct {
	BodyType string `xml:"BodyType,attr"`
	Text     string `xml:",chardata"`
}

type timeZoneRef struct {
	ID string `xml:"Id,attr"`
}

// calendarItem is a CalendarItem as tfsync writes it, in the schema's order (ItemType's children first, then
// CalendarItemType's). Nil fields are left out, so one type serves CreateItem and each SetItemField.
type calendarItem struct {
	XMLName                    xml.Name           `xml:"t:CalendarItem"`
	Subject                    *string            `xml:"t:Subject,omitempty"`
	Body                       *bodyContent       `xml:"t:Body,omitempty"`
	ReminderIsSet              *bool              `xml:"t:ReminderIsSet,omitempty"`
	ReminderMinutesBeforeStart *int               `xml:"t:ReminderMinutesBeforeStart,omitempty"`
	ExtendedProperty           []extendedProperty `xml:"t:ExtendedProperty,omitempty"`
	Start                      string             `xml:"t:Start,omitempty"`
	End                        string             `xml:"t:End,omitempty"`
	IsAllDayEvent              *bool              `xml:"t:IsAllDayEvent,omitempty"`
	LegacyFreeBusyStatus       string             `xml:"t:LegacyFreeBusyStatus,omitempty"`
	Location                   *string            `xml:"t:Location,omitempty"`
	StartTimeZone              *timeZoneRef       `xml:"t:StartTimeZone,omitempty"`
	EndTimeZone                *timeZoneRef       `xml:"t:EndTimeZone,omitempty"`
}

type createItemRequest struct {
	XMLName                xml.Name       `xml:"m:CreateItem"`
	SendMeetingInvitations string         `xml:"SendMeetingInvitations,attr"`
	SavedItemFolderID      folderID       `xml:"m:SavedItemFolderId"`
	Items                  []calendarItem `xml:"m:Items>t:CalendarItem"`
}

type updateItemRequest struct {
	XMLName            xml.Name     `xml:"m:UpdateItem"`
	ConflictResolution string       `xml:"ConflictResolution,attr"`
	SendInvitations    string       `xml:"SendMeetingInvitationsOrCancellations,attr"`
	ItemChanges        []itemChange `xml:"m:ItemChanges>t:ItemChange"`
}

type itemChange struct {
	ItemID  itemID      `xml:"t:ItemId"`
	Updates itemUpdates `xml:"t:Updates"`
}

// itemUpdates holds SetItemField and DeleteItemField values, applied by the server in this order.
type itemUpdates struct {
	Changes []any
}

// setItemField replaces one field. Exactly one of FieldURI and ExtendedFieldURI is set; the CalendarItem holds the
// new value of that field only.
type setItemField struct {
	XMLName          xml.Name          `xml:"t:SetItemField"`
	FieldURI         *fieldURI         `xml:",omitempty"`
	ExtendedFieldURI *extendedFieldURI `xml:",omitempty"`
	CalendarItem     calendarItem
}

type deleteItemField struct {
	XMLName  xml.Name `xml:"t:DeleteItemField"`
	FieldURI fieldURI
}

type deleteItemRequest struct {
	XMLName                  xml.Name `xml:"m:DeleteItem"`
	DeleteType               string   `xml:"DeleteType,attr"`
	SendMeetingCancellations string   `xml:"SendMeetingCancellations,attr"`
	ItemIDs                  []itemID `xml:"m:ItemIds>t:ItemId"`
}

type itemShape struct {
	BaseShape            string                `xml:"t:BaseShape"`
	BodyType             string                `xml:"t:BodyType,omitempty"`
	AdditionalProperties *additionalProperties `xml:"t:AdditionalProperties,omitempty"`
}

type additionalProperties struct {
	Fields   []fieldURI
	Extended []extendedFieldURI
}

type calendarView struct {
	MaxEntriesReturned int    `xml:"MaxEntriesReturned,attr,omitempty"`
	StartDate          string `xml:"StartDate,attr"`
	EndDate            string `xml:"EndDate,attr"`
}

type indexedPageView struct {
	MaxEntriesReturned int    `xml:"MaxEntriesReturned,attr"`
	Offset             int    `xml:"Offset,attr"`
	BasePoint          string `xml:"BasePoint,attr"`
}

type restriction struct {
	Expr any // isEqualTo or orExpr
}

type isEqualTo struct {
	XMLName  xml.Name `xml:"t:IsEqualTo"`
	Field    extendedFieldURI
	Constant constantValue `xml:"t:FieldURIOrConstant>t:Constant"`
}

type constantValue struct {
	Value string `xml:"Value,attr"`
}

type orExpr struct {
	XMLName xml.Name `xml:"t:Or"`
	Exprs   []isEqualTo
}

type findItemRequest struct {
	XMLName         xml.Name         `xml:"m:FindItem"`
	Traversal       string           `xml:"Traversal,attr"`
	ItemShape       itemShape        `xml:"m:ItemShape"`
	IndexedView     *indexedPageView `xml:"m:IndexedPageItemView,omitempty"`
	CalendarView    *calendarView    `xml:"m:CalendarView,omitempty"`
	Restriction     *restriction     `xml:"m:Restriction,omitempty"`
	ParentFolderIDs folderID         `xml:"m:ParentFolderIds"`
}

type getItemRequest struct {
	XMLName   xml.Name  `xml:"m:GetItem"`
	ItemShape itemShape `xml:"m:ItemShape"`
	ItemIDs   []itemID  `xml:"m:ItemIds>t:ItemId"`
}

type syncFolderItemsRequest struct {
	XMLName            xml.Name  `xml:"m:SyncFolderItems"`
	ItemShape          itemShape `xml:"m:ItemShape"`
	SyncFolderID       folderID  `xml:"m:SyncFolderId"`
	SyncState          string    `xml:"m:SyncState,omitempty"`
	MaxChangesReturned int       `xml:"m:MaxChangesReturned"`
	SyncScope          string    `xml:"m:SyncScope"`
}

// ---- responses ----

type responseEnvelope struct {
	XMLName xml.Name `xml:"Envelope"`
	Body    struct {
		Fault    *soapFault   `xml:"Fault"`
		Response responseBody `xml:",any"`
	} `xml:"Body"`
}

type responseBody struct {
	XMLName  xml.Name
	Messages struct {
		List []responseMessage `xml:",any"`
	} `xml:"ResponseMessages"`
}

type soapFault struct {
	Code   string `xml:"faultcode"`
	String string `xml:"faultstring"`
	Detail struct {
		ResponseCode string     `xml:"ResponseCode"`
		Message      string     `xml:"Message"`
		MessageXML   messageXML `xml:"MessageXml"`
	} `xml:"detail"`
}

// code is the EWS response code of a fault: detail/ResponseCode, or the local part of faultcode ("a:ErrorServerBusy").
func (f *soapFault) code() string {
	if c := strings.TrimSpace(f.Detail.ResponseCode); c != "" {
		return c
	}
	c := strings.TrimSpace(f.Code)
	if i := strings.LastIndexByte(c, ':'); i >= 0 {
		c = c[i+1:]
	}
	return c
}

func (f *soapFault) text() string {
	if m := strings.TrimSpace(f.Detail.Message); m != "" {
		return m
	}
	return strings.TrimSpace(f.String)
}

type messageXML struct {
	Values []struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:",chardata"`
	} `xml:"Value"`
}

// backOff is the BackOffMilliseconds value Exchange sends with ErrorServerBusy, or 0.
func (m messageXML) backOff() time.Duration {
	for _, v := range m.Values {
		if v.Name == "BackOffMilliseconds" {
			if ms, err := strconv.ParseInt(strings.TrimSpace(v.Value), 10, 64); err == nil && ms > 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	return 0
}

// responseMessage is one XxxResponseMessage: a per-item outcome with whatever payload its operation has.
type responseMessage struct {
	XMLName       xml.Name
	ResponseClass string     `xml:"ResponseClass,attr"`
	MessageText   string     `xml:"MessageText"`
	ResponseCode  string     `xml:"ResponseCode"`
	MessageXML    messageXML `xml:"MessageXml"`

	Items      anyItems    `xml:"Items"`      // CreateItem, UpdateItem, GetItem
	RootFolder *rootFolder `xml:"RootFolder"` // FindItem

	SyncState               string `xml:"SyncState"` // SyncFolderItems
	IncludesLastItemInRange string `xml:"IncludesLastItemInRange"`
	Changes                 struct {
		List []syncChange `xml:",any"`
	} `xml:"Changes"`
}

func (m *responseMessage) ok() bool {
	return m.ResponseClass != "Error" && (m.code() == "" || m.code() == "NoError")
}

func (m *responseMessage) code() string { return strings.TrimSpace(m.ResponseCode) }

type rootFolder struct {
	IndexedPagingOffset     int      `xml:"IndexedPagingOffset,attr"`
	TotalItemsInView        int      `xml:"TotalItemsInView,attr"`
	IncludesLastItemInRange string   `xml:"IncludesLastItemInRange,attr"`
	Items                   anyItems `xml:"Items"`
}

// anyItems holds the items of an Items element, whatever their type (CalendarItem, Item, Message, ...).
type anyItems struct {
	List []itemXML `xml:",any"`
}

// syncChange is one of Create, Update, Delete or ReadFlagChange; a Delete holds only an ItemId.
type syncChange struct {
	XMLName xml.Name
	ItemID  *itemIDXML `xml:"ItemId"`
	Items   []itemXML  `xml:",any"`
}

type itemIDXML struct {
	ID        string `xml:"Id,attr"`
	ChangeKey string `xml:"ChangeKey,attr"`
}

type extendedPropertyXML struct {
	Field struct {
		PropertySetID string `xml:"PropertySetId,attr"`
		PropertyName  string `xml:"PropertyName,attr"`
	} `xml:"ExtendedFieldURI"`
	Value string `xml:"Value"`
}

type timeZoneXML struct {
	ID   string `xml:"Id,attr"`
	Name string `xml:"Name,attr"`
	// Periods are the zone's full definition, which Exchange 2010 and later return with the id.
	Periods []struct {
		Bias string `xml:"Bias,attr"`
		Name string `xml:"Name,attr"`
	} `xml:"Periods>Period"`
}

// itemXML is an item as a server returns it; fields a response leaves out stay empty.
type itemXML struct {
	XMLName xml.Name
	ItemID  itemIDXML `xml:"ItemId"`
	Subject string    `xml:"Subject"`
	Body    struct {
		BodyType string `xml:"BodyType,attr"`
		Text     string `xml:",chardata"`
	} `xml:"Body"`
	ReminderIsSet              string                `xml:"ReminderIsSet"`
	ReminderMinutesBeforeStart string                `xml:"ReminderMinutesBeforeStart"`
	ExtendedProperties         []extendedPropertyXML `xml:"ExtendedProperty"`
	LastModifiedTime           string                `xml:"LastModifiedTime"`
	Start                      string                `xml:"Start"`
	End                        string                `xml:"End"`
	IsAllDayEvent              string                `xml:"IsAllDayEvent"`
	LegacyFreeBusyStatus       string                `xml:"LegacyFreeBusyStatus"`
	Location                   string                `xml:"Location"`
	StartTimeZone              *timeZoneXML          `xml:"StartTimeZone"`
	StartTimeZoneID            string                `xml:"StartTimeZoneId"`
}

// bookingID returns the value of tfsync's booking id property, or "".
func (it *itemXML) bookingID() string { return it.tfsyncProperty(exchange.BookingPropertyName) }

// installationID returns the value of tfsync's installation id property, or "".
func (it *itemXML) installationID() string {
	return it.tfsyncProperty(exchange.InstallationPropertyName)
}

func (it *itemXML) tfsyncProperty(name string) string {
	for _, p := range it.ExtendedProperties {
		set := strings.ToLower(strings.Trim(p.Field.PropertySetID, "{}"))
		if set == exchange.BookingPropertySetID && p.Field.PropertyName == name {
			return p.Value
		}
	}
	return ""
}

// times returns the item's start and end when the response carried both.
func (it *itemXML) times() (start, end time.Time, ok bool) {
	if it.Start == "" || it.End == "" {
		return time.Time{}, time.Time{}, false
	}
	s, err1 := parseTime(it.Start)
	e, err2 := parseTime(it.End)
	return s, e, err1 == nil && err2 == nil
}

// parseTime reads an xs:dateTime. A time without an offset is UTC: tfsync sends no TimeZoneContext, and that is
// how Exchange answers then.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("read time %q: %w", s, err)
	}
	return t, nil
}

func parseBool(s string) (bool, bool) {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	return b, err == nil
}

// parseResponse decodes a response body. A SOAP fault comes back as fault; otherwise the response messages.
func parseResponse(data []byte) (*responseEnvelope, error) {
	var env responseEnvelope
	dec := xml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&env); err != nil {
		return nil, err
	}
	if env.Body.Fault == nil && env.Body.Response.XMLName.Local == "" {
		return nil, fmt.Errorf("no response element in the SOAP body")
	}
	return &env, nil
}
