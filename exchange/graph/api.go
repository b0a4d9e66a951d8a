package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"tfsync/exchange"
)

// Wire types of the Microsoft Graph v1.0 calls this backend makes. They hold only the fields tfsync reads or
// writes; everything else in Graph's answers is ignored.

// dateTimeTimeZone is Graph's wall time plus the zone it is written in ("2016-12-09T20:30:00.0000000", "UTC").
type dateTimeTimeZone struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

type itemBody struct {
	ContentType string `json:"contentType"`
	Content     string `json:"content"`
}

type location struct {
	DisplayName string `json:"displayName"`
}

type extendedProperty struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

type removedInfo struct {
	Reason string `json:"reason"`
}

// eventIn is an event as Graph returns it (GET, delta, and the answers to POST and PATCH).
type eventIn struct {
	ID                            string             `json:"id"`
	ChangeKey                     string             `json:"changeKey"`
	Subject                       string             `json:"subject"`
	Body                          *itemBody          `json:"body"`
	Location                      *location          `json:"location"`
	Start                         *dateTimeTimeZone  `json:"start"`
	End                           *dateTimeTimeZone  `json:"end"`
	IsAllDay                      bool               `json:"isAllDay"`
	ShowAs                        string             `json:"showAs"`
	IsReminderOn                  bool               `json:"isReminderOn"`
	ReminderMinutesBeforeStart    int                `json:"reminderMinutesBeforeStart"`
	LastModifiedDateTime          string             `json:"lastModifiedDateTime"`
	SingleValueExtendedProperties []extendedProperty `json:"singleValueExtendedProperties"`
	Removed                       *removedInfo       `json:"@removed"`
}

// eventOut is the body of a create (POST) or update (PATCH). Every field tfsync owns is always sent, so an update
// restores whatever a user changed.
type eventOut struct {
	Subject                       string             `json:"subject"`
	Body                          itemBody           `json:"body"`
	Location                      location           `json:"location"`
	Start                         dateTimeTimeZone   `json:"start"`
	End                           dateTimeTimeZone   `json:"end"`
	IsAllDay                      bool               `json:"isAllDay"`
	ShowAs                        string             `json:"showAs"`
	Sensitivity                   string             `json:"sensitivity"`
	IsReminderOn                  bool               `json:"isReminderOn"`
	ReminderMinutesBeforeStart    int                `json:"reminderMinutesBeforeStart"`
	TransactionID                 string             `json:"transactionId,omitempty"`
	SingleValueExtendedProperties []extendedProperty `json:"singleValueExtendedProperties"`
}

// eventPage is one page of a list or delta answer. A delta page has exactly one of NextLink and DeltaLink.
type eventPage struct {
	Value     []eventIn `json:"value"`
	NextLink  string    `json:"@odata.nextLink"`
	DeltaLink string    `json:"@odata.deltaLink"`
}

// batchRequest is the body of POST /$batch (at most maxBatch requests, ids unique within the batch).
type batchRequest struct {
	Requests []batchItem `json:"requests"`
}

type batchItem struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

type batchResponse struct {
	Responses []batchItemResponse `json:"responses"`
}

type batchItemResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// graphError is Graph's error body: {"error":{"code","message","innerError":{...}}}.
type graphError struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// parseGraphError reads the code and message of an error body. It never fails: a body that is not Graph's error
// shape yields empty strings, so a missing "message" (which makes the SDK's ODataError.Error panic) is harmless.
func parseGraphError(body []byte) (code, message string) {
	var ge graphError
	if json.Unmarshal(body, &ge) != nil || ge.Error == nil {
		return "", strings.TrimSpace(firstLine(string(body), 200))
	}
	return ge.Error.Code, ge.Error.Message
}

// tokenError is the Entra ID v2.0 token endpoint's error body.
type tokenError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
}

// firstLine returns s up to its first line break, cut to at most max bytes on a character boundary.
func firstLine(s string, max int) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > max {
		s = s[:max]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return s
}

// header returns a batch item's header regardless of the case the server wrote its name in.
func header(h map[string]string, name string) string {
	if v, ok := h[name]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// wireLayout is Graph's dateTime without fraction; parsing also accepts the fraction Graph sends
// ("2016-12-09T20:30:00.0000000").
const wireLayout = "2006-01-02T15:04:05"

// parseDateTime reads a dateTimeTimeZone as a time in the zone it names.
func parseDateTime(d *dateTimeTimeZone) (time.Time, error) {
	if d == nil || d.DateTime == "" {
		return time.Time{}, errors.New("missing dateTime")
	}
	loc, err := zoneByName(d.TimeZone)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.ParseInLocation(wireLayout, strings.TrimSuffix(d.DateTime, "Z"), loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("dateTime %q: %w", d.DateTime, err)
	}
	return t, nil
}

var zoneCache sync.Map // name -> *time.Location

// zoneByName resolves a zone as Graph writes it: "UTC", a Windows name ("W. Europe Standard Time") or an IANA name.
func zoneByName(name string) (*time.Location, error) {
	switch name {
	case "", "UTC", "Etc/UTC", "Etc/GMT", "GMT", "Coordinated Universal Time", "tzone://Microsoft/Utc":
		return time.UTC, nil
	}
	if l, ok := zoneCache.Load(name); ok {
		return l.(*time.Location), nil
	}
	iana := name
	if v, ok := exchange.IANAZone(name); ok {
		iana = v
	}
	loc, err := time.LoadLocation(iana)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	zoneCache.Store(name, loc)
	return loc, nil
}

// wireZone is the zone name written for loc: the Windows name when there is one (every Graph method accepts those;
// only some IANA names are), else the IANA name, and ok=false when loc has no usable name (time.Local).
func wireZone(loc *time.Location) (name string, ok bool) {
	n := loc.String()
	if loc == time.UTC || n == "UTC" {
		return "UTC", true
	}
	if w, found := exchange.WindowsZone(n); found {
		return w, true
	}
	if n == "" || n == "Local" {
		return "", false
	}
	return n, true
}

// toEvent turns an event from Graph into tfsync's terms, its times in the client's zone.
func (c *Client) toEvent(ev eventIn) (exchange.Event, error) {
	return toEventIn(ev, c.opts.Zone)
}

// toEventIn turns an event from Graph into tfsync's terms, its times (all-day bounds: midnights) in zone.
func toEventIn(ev eventIn, zone *time.Location) (exchange.Event, error) {
	if ev.ID == "" {
		return exchange.Event{}, fmt.Errorf("%w: an event without id", exchange.ErrBadResponse)
	}
	start, err := parseDateTime(ev.Start)
	if err != nil {
		return exchange.Event{}, fmt.Errorf("%w: event %s start: %v", exchange.ErrBadResponse, ev.ID, err)
	}
	end, err := parseDateTime(ev.End)
	if err != nil {
		return exchange.Event{}, fmt.Errorf("%w: event %s end: %v", exchange.ErrBadResponse, ev.ID, err)
	}
	e := exchange.Event{
		ID:              ev.ID,
		ChangeKey:       ev.ChangeKey,
		Subject:         ev.Subject,
		AllDay:          ev.IsAllDay,
		TimeZone:        zone.String(),
		ShowAs:          exchange.ShowAs(ev.ShowAs),
		ReminderMinutes: exchange.NoReminder,
	}
	if ev.IsAllDay {
		e.Start, e.End = allDayBound(start, zone), allDayBound(end, zone)
	} else {
		e.Start, e.End = start.In(zone), end.In(zone)
	}
	if ev.IsReminderOn {
		e.ReminderMinutes = ev.ReminderMinutesBeforeStart
	}
	if ev.Body != nil {
		e.Body = ev.Body.Content
		if strings.EqualFold(ev.Body.ContentType, "text") {
			e.Body = html.EscapeString(e.Body)
		}
	}
	if ev.Location != nil {
		e.Location = ev.Location.DisplayName
	}
	if ev.LastModifiedDateTime != "" {
		if t, err := time.Parse(time.RFC3339Nano, ev.LastModifiedDateTime); err == nil {
			e.LastModified = t.UTC()
		}
	}
	for _, p := range ev.SingleValueExtendedProperties {
		switch {
		case strings.EqualFold(p.ID, exchange.GraphBookingPropertyID):
			e.BookingID = p.Value
		case strings.EqualFold(p.ID, exchange.GraphInstallationPropertyID):
			e.InstallationID = p.Value
		}
	}
	return e, nil
}

// allDayBound turns a bound of an all-day event into a midnight in zone. Graph gives all-day events as floating
// midnights in whatever zone was asked for; a server that converted them as instants instead gives some other
// hour, and the nearest midnight in zone is then the day meant.
func allDayBound(t time.Time, zone *time.Location) time.Time {
	if isMidnight(t) {
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, zone)
	}
	lt := t.In(zone)
	y, m, d := lt.Date()
	mid := time.Date(y, m, d, 0, 0, 0, 0, zone)
	if lt.Sub(mid) >= 12*time.Hour {
		mid = time.Date(y, m, d+1, 0, 0, 0, 0, zone)
	}
	return mid
}

// toWire builds the body of a create or update. transactionID is set for creates only.
func (c *Client) toWire(e exchange.Event, transactionID string) (eventOut, error) {
	loc := c.opts.Zone
	if e.TimeZone != "" {
		l, err := zoneByName(e.TimeZone)
		if err != nil {
			return eventOut{}, fmt.Errorf("%w: %v", exchange.ErrInvalidEvent, err)
		}
		loc = l
	}
	if e.Start.IsZero() || e.End.IsZero() || e.End.Before(e.Start) {
		return eventOut{}, fmt.Errorf("%w: start %v and end %v", exchange.ErrInvalidEvent, e.Start, e.End)
	}
	out := eventOut{
		Subject:     e.Subject,
		Body:        itemBody{ContentType: "html", Content: e.Body},
		Location:    location{DisplayName: e.Location},
		IsAllDay:    e.AllDay,
		ShowAs:      string(e.ShowAs),
		Sensitivity: "normal",
		// No attendees are ever sent: tfsync writes into the technician's own calendar and invites nobody.
		TransactionID: transactionID,
	}
	if out.ShowAs == "" {
		out.ShowAs = string(exchange.ShowBusy)
	}
	if e.ReminderMinutes >= 0 {
		out.IsReminderOn = true
		out.ReminderMinutesBeforeStart = e.ReminderMinutes
	}
	if e.BookingID != "" {
		out.SingleValueExtendedProperties = []extendedProperty{{ID: exchange.GraphBookingPropertyID, Value: e.BookingID}}
	}
	if e.InstallationID != "" {
		out.SingleValueExtendedProperties = append(out.SingleValueExtendedProperties,
			extendedProperty{ID: exchange.GraphInstallationPropertyID, Value: e.InstallationID})
	}
	name, named := wireZone(loc)
	if e.AllDay {
		// All-day events run midnight to midnight in the zone they are written in; anything else is refused here
		// rather than silently moved to other days.
		ls, le := e.Start.In(loc), e.End.In(loc)
		if !isMidnight(ls) || !isMidnight(le) || !le.After(ls) {
			return eventOut{}, fmt.Errorf("%w: an all-day event must run from midnight to a later midnight in %s, "+
				"not %s to %s", exchange.ErrInvalidEvent, loc, ls.Format(time.DateTime), le.Format(time.DateTime))
		}
		start := time.Date(ls.Year(), ls.Month(), ls.Day(), 0, 0, 0, 0, time.UTC)
		end := time.Date(le.Year(), le.Month(), le.Day(), 0, 0, 0, 0, time.UTC)
		if !named {
			name = "UTC"
		}
		out.Start = dateTimeTimeZone{DateTime: start.Format(wireLayout), TimeZone: name}
		out.End = dateTimeTimeZone{DateTime: end.Format(wireLayout), TimeZone: name}
		return out, nil
	}
	if !named {
		loc, name = time.UTC, "UTC"
	}
	out.Start = dateTimeTimeZone{DateTime: e.Start.In(loc).Format(wireLayout), TimeZone: name}
	out.End = dateTimeTimeZone{DateTime: e.End.In(loc).Format(wireLayout), TimeZone: name}
	return out, nil
}

func isMidnight(t time.Time) bool {
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}
