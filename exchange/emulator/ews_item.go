package emulator

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"tfsync/exchange"
)

// This file holds the calendar item's wire form in the EWS front: parsing t:CalendarItem into EventData changes,
// and rendering EventData in the shape (ItemShape) a request asks for.

// ewsSettableFields maps the FieldURIs of the properties a client may set or delete to their t:CalendarItem element.
var ewsSettableFields = map[string]string{
	"item:Subject":                    "Subject",
	"item:Sensitivity":                "Sensitivity",
	"item:Body":                       "Body",
	"item:Categories":                 "Categories",
	"item:ReminderIsSet":              "ReminderIsSet",
	"item:ReminderMinutesBeforeStart": "ReminderMinutesBeforeStart",
	"calendar:Start":                  "Start",
	"calendar:End":                    "End",
	"calendar:IsAllDayEvent":          "IsAllDayEvent",
	"calendar:LegacyFreeBusyStatus":   "LegacyFreeBusyStatus",
	"calendar:Location":               "Location",
	"calendar:StartTimeZone":          "StartTimeZone",
	"calendar:EndTimeZone":            "EndTimeZone",
}

// ewsField is one property of a t:CalendarItem in a request, its value already checked against its schema type.
type ewsField struct {
	name     string // the element's local name
	node     *ewsNode
	bodyType string // "html" or "text" for Body
	s        string
	b        bool
	i        int
	t        time.Time
	list     []string
	prop     ewsExtPath
}

// parseCalendarItem reads the properties of a t:CalendarItem (or t:Item) in CreateItem or SetItemField, enforcing
// the schema's element order and value types.
func (req *ewsRequest) parseCalendarItem(n *ewsNode) ([]ewsField, *ewsFault) {
	if f := ewsCheckOrder(n, nsEWSTypes, ewsItemOrder, "ExtendedProperty"); f != nil {
		return nil, f
	}
	var out []ewsField
	for _, k := range n.kids {
		f := ewsField{name: k.name.Local, node: k}
		var fault *ewsFault
		switch k.name.Local {
		case "Subject", "Location":
			f.s = k.text
		case "Sensitivity":
			v := k.value()
			if !ewsContains([]string{"Normal", "Personal", "Private", "Confidential"}, v) {
				return nil, ewsBadValue(k)
			}
			f.s = strings.ToLower(v)
		case "Body":
			bt, err := ewsRequireAttr(k, "BodyType")
			if err != nil {
				return nil, err
			}
			switch bt {
			case "HTML":
				f.bodyType = "html"
			case "Text":
				f.bodyType = "text"
			default:
				return nil, ewsSchemaFault(k, "The 'BodyType' attribute is invalid - The value '%s' is invalid "+
					"according to its datatype.", bt)
			}
			f.s = k.text
		case "Categories":
			if f := ewsCheckOrder(k, nsEWSTypes, []string{"String"}, "String"); f != nil {
				return nil, f
			}
			for _, c := range k.kids {
				f.list = append(f.list, c.text)
			}
		case "ReminderIsSet", "IsAllDayEvent":
			f.b, fault = ewsBool(k)
		case "ReminderMinutesBeforeStart":
			f.i, fault = ewsInt(k)
			if fault == nil && (f.i < 0 || f.i > 2629800) {
				fault = ewsBadValue(k)
			}
		case "Start", "End":
			t, ok := ewsDateTime(k.text, req.zone)
			if !ok {
				return nil, ewsBadValue(k)
			}
			f.t = t
		case "LegacyFreeBusyStatus":
			show, ok := showAsFromEWS(k.value())
			if !ok {
				return nil, ewsBadValue(k)
			}
			f.s = string(show)
		case "StartTimeZone", "EndTimeZone":
			id, ok := k.attr("Id")
			if !ok || strings.TrimSpace(id) == "" {
				return nil, ewsSchemaFault(k, "The emulator reads time zones by their Id attribute only.")
			}
			f.s = id
		case "ExtendedProperty":
			if f := ewsCheckOrder(k, nsEWSTypes, []string{"ExtendedFieldURI", "Value", "Values"}); f != nil {
				return nil, f
			}
			uri, f2 := ewsRequire(k, nsEWSTypes, "ExtendedFieldURI")
			if f2 != nil {
				return nil, f2
			}
			if f.prop, fault = ewsParseExtPath(uri); fault != nil {
				return nil, fault
			}
			val := k.child(nsEWSTypes, "Value")
			if val == nil {
				return nil, ewsSchemaFault(k, "The emulator stores single-valued extended properties only (t:Value).")
			}
			f.s = val.text
		}
		if fault != nil {
			return nil, fault
		}
		out = append(out, f)
	}
	return out, nil
}

// ewsApplyField sets one parsed property on an event. Properties outside ewsSettableFields are refused as Exchange
// refuses setting read-only ones (the emulator keeps only what tfsync's events use).
func ewsApplyField(d *EventData, f ewsField) *ewsErr {
	switch f.name {
	case "Subject":
		d.Subject = f.s
	case "Location":
		d.Location = f.s
	case "Sensitivity":
		d.Sensitivity = f.s
	case "Body":
		d.Body, d.BodyType = f.s, f.bodyType
	case "Categories":
		d.Categories = f.list
	case "ReminderIsSet":
		d.ReminderOn = f.b
	case "ReminderMinutesBeforeStart":
		d.ReminderMinutes = f.i
	case "IsAllDayEvent":
		d.IsAllDay = f.b
	case "Start":
		d.Start = f.t
	case "End":
		d.End = f.t
	case "LegacyFreeBusyStatus":
		d.ShowAs = exchange.ShowAs(f.s)
	case "StartTimeZone", "EndTimeZone":
		if _, err := LoadZone(f.s); err != nil {
			return ewsItemErr("ErrorCalendarInvalidTimeZone", fmt.Sprintf("The time zone '%s' isn't valid.", f.s))
		}
		if f.name == "StartTimeZone" {
			d.TimeZone = f.s
		} else {
			d.EndTimeZone = f.s
		}
	case "ExtendedProperty":
		if d.ExtProps == nil {
			d.ExtProps = map[PropKey]string{}
		}
		d.ExtProps[f.prop.key] = f.s
	default:
		return ewsItemErr("ErrorInvalidPropertySet", fmt.Sprintf("Set action is invalid for property: the emulator "+
			"does not store %s.", f.name))
	}
	return nil
}

// ewsFinishEvent does what Exchange does once a calendar item's properties are set: an all-day event's times move to
// midnights in its time zones (the wire facts: "all-day events snap to midnight in the creation zone"), and an
// end before the start is refused.
func ewsFinishEvent(d *EventData) *ewsErr {
	if d.IsAllDay && !d.Start.IsZero() && !d.End.IsZero() {
		startZone, err1 := LoadZone(d.TimeZone)
		endZone := startZone
		var err2 error
		if d.EndTimeZone != "" {
			endZone, err2 = LoadZone(d.EndTimeZone)
		}
		if err1 == nil && err2 == nil {
			s := d.Start.In(startZone)
			start := time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, startZone)
			e := d.End.In(endZone)
			end := time.Date(e.Year(), e.Month(), e.Day(), 0, 0, 0, 0, endZone)
			if end.Before(d.End) {
				end = end.AddDate(0, 0, 1)
			}
			if !end.After(start) {
				s := start.In(endZone)
				end = time.Date(s.Year(), s.Month(), s.Day()+1, 0, 0, 0, 0, endZone)
			}
			d.Start, d.End = start, end
		}
	}
	if !d.Start.IsZero() && !d.End.IsZero() && d.End.Before(d.Start) {
		return ewsItemErr("ErrorCalendarEndDateIsEarlierThanStartDate")
	}
	return nil
}

// ewsStateErr maps the state API's errors for an item to EWS response codes.
func ewsStateErr(err error) *ewsErr {
	var ee *ewsErr
	switch {
	case errors.As(err, &ee):
		return ee
	case errors.Is(err, ErrEventNotFound):
		return ewsItemErr("ErrorItemNotFound")
	case errors.Is(err, ErrStaleChangeKey):
		return ewsItemErr("ErrorIrresolvableConflict")
	case errors.Is(err, ErrUnknownMailbox), errors.Is(err, ErrUnlicensed):
		return ewsItemErr("ErrorNonExistentMailbox")
	case errors.Is(err, exchange.ErrInvalidEvent):
		return ewsItemErr("ErrorPropertyValidationFailure", err.Error())
	}
	return ewsItemErr("ErrorInternalServerError")
}

func showAsFromEWS(v string) (exchange.ShowAs, bool) {
	switch v {
	case "Free":
		return exchange.ShowFree, true
	case "Tentative":
		return exchange.ShowTentative, true
	case "Busy":
		return exchange.ShowBusy, true
	case "OOF":
		return exchange.ShowOOF, true
	case "WorkingElsewhere":
		return exchange.ShowWorkingElsewhere, true
	case "NoData":
		return "unknown", true
	}
	return "", false
}

func showAsToEWS(s exchange.ShowAs) string {
	switch s {
	case exchange.ShowFree:
		return "Free"
	case exchange.ShowTentative:
		return "Tentative"
	case exchange.ShowOOF:
		return "OOF"
	case exchange.ShowWorkingElsewhere:
		return "WorkingElsewhere"
	case "unknown":
		return "NoData"
	}
	return "Busy"
}

// ewsShape is a parsed ItemResponseShape.
type ewsShape struct {
	base   string          // IdOnly, Default or AllProperties
	fields map[string]bool // AdditionalProperties FieldURIs
	props  []ewsExtPath    // AdditionalProperties ExtendedFieldURIs
}

// ewsShapeOrder is ItemResponseShapeType's element order.
var ewsShapeOrder = []string{"BaseShape", "IncludeMimeContent", "BodyType", "UniqueBodyType", "NormalizedBodyType",
	"FilterHtmlContent", "ConvertHtmlCodePageToUTF8", "InlineImageUrlTemplate", "BlockExternalImages",
	"AddBlankTargetToLinks", "MaximumBodySize", "AdditionalProperties"}

func ewsParseShape(n *ewsNode) (ewsShape, *ewsFault) {
	sh := ewsShape{fields: map[string]bool{}}
	if f := ewsCheckOrder(n, nsEWSTypes, ewsShapeOrder); f != nil {
		return sh, f
	}
	base, f := ewsRequire(n, nsEWSTypes, "BaseShape")
	if f != nil {
		return sh, f
	}
	sh.base = base.value()
	if !ewsContains([]string{"IdOnly", "Default", "AllProperties"}, sh.base) {
		return sh, ewsBadValue(base)
	}
	if add := n.child(nsEWSTypes, "AdditionalProperties"); add != nil {
		if len(add.kids) == 0 {
			return sh, ewsSchemaFault(add, "The element 'AdditionalProperties' has incomplete content.")
		}
		for _, p := range add.kids {
			switch {
			case p.name.Space == nsEWSTypes && p.name.Local == "FieldURI":
				uri, f := ewsRequireAttr(p, "FieldURI")
				if f != nil {
					return sh, f
				}
				sh.fields[uri] = true
			case p.name.Space == nsEWSTypes && p.name.Local == "ExtendedFieldURI":
				ep, f := ewsParseExtPath(p)
				if f != nil {
					return sh, f
				}
				sh.props = append(sh.props, ep)
			case p.name.Space == nsEWSTypes && p.name.Local == "IndexedFieldURI":
				// Indexed properties (addresses, phone numbers) do not exist on calendar items.
			default:
				return sh, ewsSchemaFault(p, "The element 'AdditionalProperties' has invalid child element '%s'.",
					p.name.Local)
			}
		}
	}
	return sh, nil
}

// ewsDefaultFields are what BaseShape Default returns for a calendar item, besides its id.
var ewsDefaultFields = []string{"item:Subject", "calendar:Start", "calendar:End", "calendar:LegacyFreeBusyStatus",
	"calendar:Location", "calendar:CalendarItemType"}

// wants reports whether the shape includes a property. AllProperties covers every property the emulator renders
// except the body where the operation cannot return it (FindItem, SyncFolderItems).
func (sh ewsShape) wants(uri string, noBody bool) bool {
	if sh.fields[uri] {
		return true
	}
	switch sh.base {
	case "AllProperties":
		return !(noBody && uri == "item:Body")
	case "Default":
		return ewsContains(ewsDefaultFields, uri)
	}
	return false
}

// bodyRequested reports a body request FindItem and SyncFolderItems refuse.
func (sh ewsShape) bodyRequested() bool { return sh.fields["item:Body"] }

// ewsRenderItem writes a t:CalendarItem with the properties the shape asks for, in the schema's order.
func (em *Emulator) ewsRenderItem(w *ewsXMLBuilder, d EventData, sh ewsShape, noBody bool) {
	want := func(uri string) bool { return sh.wants(uri, noBody) }
	w.start("t:CalendarItem")
	w.empty("t:ItemId", "Id", em.ewsWireID(d.ID), "ChangeKey", d.ChangeKey)
	if want("item:ItemClass") {
		w.leaf("t:ItemClass", "IPM.Appointment")
	}
	if want("item:Subject") {
		w.leaf("t:Subject", d.Subject)
	}
	if want("item:Sensitivity") {
		w.leaf("t:Sensitivity", ewsCapitalize(d.Sensitivity))
	}
	if want("item:Body") {
		bt := "Text"
		if d.BodyType == "html" {
			bt = "HTML"
		}
		w.leaf("t:Body", d.Body, "BodyType", bt)
	}
	if want("item:Categories") && len(d.Categories) > 0 {
		w.start("t:Categories")
		for _, c := range d.Categories {
			w.leaf("t:String", c)
		}
		w.end("t:Categories")
	}
	if want("item:DateTimeCreated") {
		w.leaf("t:DateTimeCreated", ewsTime(d.Created))
	}
	if want("item:ReminderIsSet") {
		w.leaf("t:ReminderIsSet", strconv.FormatBool(d.ReminderOn))
	}
	if want("item:ReminderMinutesBeforeStart") {
		w.leaf("t:ReminderMinutesBeforeStart", strconv.Itoa(d.ReminderMinutes))
	}
	for _, p := range sh.props {
		v, ok := d.ExtProps[p.key]
		if !ok {
			continue
		}
		w.start("t:ExtendedProperty")
		w.empty("t:ExtendedFieldURI", p.attrs...)
		w.leaf("t:Value", v)
		w.end("t:ExtendedProperty")
	}
	if want("item:LastModifiedTime") {
		w.leaf("t:LastModifiedTime", ewsTime(d.LastModified))
	}
	if want("calendar:Start") {
		w.leaf("t:Start", ewsTime(d.Start))
	}
	if want("calendar:End") {
		w.leaf("t:End", ewsTime(d.End))
	}
	if want("calendar:IsAllDayEvent") {
		w.leaf("t:IsAllDayEvent", strconv.FormatBool(d.IsAllDay))
	}
	if want("calendar:LegacyFreeBusyStatus") {
		w.leaf("t:LegacyFreeBusyStatus", showAsToEWS(d.ShowAs))
	}
	if want("calendar:Location") {
		w.leaf("t:Location", d.Location)
	}
	for _, flag := range []string{"IsMeeting", "IsCancelled", "IsRecurring"} {
		if want("calendar:" + flag) {
			w.leaf("t:"+flag, "false")
		}
	}
	if want("calendar:CalendarItemType") {
		w.leaf("t:CalendarItemType", "Single")
	}
	startZone, startLoc := ewsZoneDef(d, false)
	endZone, endLoc := ewsZoneDef(d, true)
	if em.lenient && d.ForeignZone != "" {
		startZone, endZone = "UTC", "UTC" // the old emulator rendered a zone it could not map as UTC
	}
	if want("calendar:StartTimeZone") {
		em.ewsRenderZone(w, "t:StartTimeZone", startZone, startLoc, d.Start)
	}
	if want("calendar:EndTimeZone") {
		em.ewsRenderZone(w, "t:EndTimeZone", endZone, endLoc, d.End)
	}
	if want("calendar:StartTimeZoneId") {
		w.leaf("t:StartTimeZoneId", startZone)
	}
	if want("calendar:EndTimeZoneId") {
		w.leaf("t:EndTimeZoneId", endZone)
	}
	w.end("t:CalendarItem")
}

// ewsZoneID is the Windows time zone id Exchange reports for a stored zone; UTC for one it does not know.
func ewsZoneID(zone string) string {
	if zone == "" {
		return "UTC"
	}
	if id, ok := WindowsZone(zone); ok {
		return id
	}
	return "UTC"
}

func ewsCapitalize(s string) string {
	if s == "" {
		return "Normal"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
