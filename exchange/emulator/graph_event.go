package emulator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"tfsync/exchange"
)

// This file translates between Graph's event JSON and the core's EventData: parsing POST/PATCH bodies with
// Graph's validation, and rendering events exactly in Graph's shape, honouring Prefer, $select and $expand.

// graphDateTime is how Graph writes dateTimeTimeZone.dateTime: seven fractional digits, no offset.
const graphDateTime = "2006-01-02T15:04:05.0000000"

// eventProperties are the properties of microsoft.graph.event (v1.0), by lower-cased name. A body naming any other
// property is refused, as Graph's OData reader does.
var eventProperties = func() map[string]string {
	names := []string{"allowNewTimeProposals", "attendees", "body", "bodyPreview", "categories", "changeKey",
		"createdDateTime", "end", "hasAttachments", "hideAttendees", "iCalUId", "id", "importance", "isAllDay",
		"isCancelled", "isDraft", "isOnlineMeeting", "isOrganizer", "isReminderOn", "lastModifiedDateTime",
		"location", "locations", "onlineMeeting", "onlineMeetingProvider", "onlineMeetingUrl", "organizer",
		"originalEndTimeZone", "originalStart", "originalStartTimeZone", "recurrence", "reminderMinutesBeforeStart",
		"responseRequested", "responseStatus", "sensitivity", "seriesMasterId", "showAs", "start", "subject",
		"transactionId", "type", "webLink", "attachments", "calendar", "extensions", "instances",
		"multiValueExtendedProperties", "singleValueExtendedProperties"}
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = n
	}
	return m
}()

// dateTimeInput is a parsed dateTimeTimeZone.
type dateTimeInput struct {
	t    time.Time
	zone string // as the client wrote it
}

// eventInput is a parsed POST or PATCH body: only the properties it names.
type eventInput struct {
	has           map[string]bool // canonical property names present
	subject       string
	bodyType      string
	bodyContent   string
	start, end    dateTimeInput
	isAllDay      bool
	showAs        string
	sensitivity   string
	isReminderOn  bool
	reminder      int
	location      string
	categories    []string
	transactionID string
	extProps      map[PropKey]string
}

func requestBodyRead(format string, args ...any) *graphResponse {
	return graphError(http.StatusBadRequest, "RequestBodyRead", fmt.Sprintf(format, args...))
}

// parseEventInput reads an event body as Graph does: unknown properties and wrongly typed values are refused with
// RequestBodyRead, an unknown time zone with TimeZoneNotSupportedException.
func parseEventInput(body []byte, create bool) (*eventInput, *graphResponse) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, graphError(http.StatusBadRequest, "BadRequest", "Empty Payload. JSON content expected.")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, requestBodyRead("Invalid JSON. %s", err)
	}
	in := &eventInput{has: map[string]bool{}}
	for key, v := range raw {
		if strings.HasPrefix(key, "@") || strings.Contains(key, "@odata.") {
			if key == "@odata.type" {
				var t string
				if json.Unmarshal(v, &t) != nil || strings.TrimPrefix(t, "#") != "microsoft.graph.event" {
					return nil, requestBodyRead("A type named '%s' could not be resolved by the model. When a model "+
						"is available, each type name must resolve to a valid type.", strings.Trim(string(v), `"`))
				}
			}
			continue
		}
		name, ok := eventProperties[strings.ToLower(key)]
		if !ok {
			return nil, requestBodyRead("The property '%s' does not exist on type 'microsoft.graph.event'. Make "+
				"sure to only use property names that are defined by the type or mark the type as open type.", key)
		}
		in.has[name] = true
		if errResp := in.parseProperty(name, v); errResp != nil {
			return nil, errResp
		}
	}
	return in, nil
}

func (in *eventInput) parseProperty(name string, v json.RawMessage) *graphResponse {
	isNull := string(v) == "null"
	str := func(dst *string) *graphResponse {
		if isNull {
			*dst = ""
			return nil
		}
		if json.Unmarshal(v, dst) != nil {
			return requestBodyRead("Cannot convert the literal '%s' to the expected type 'Edm.String'.", v)
		}
		return nil
	}
	boolean := func(dst *bool) *graphResponse {
		if json.Unmarshal(v, dst) != nil {
			return requestBodyRead("Cannot convert the literal '%s' to the expected type 'Edm.Boolean'.", v)
		}
		return nil
	}
	switch name {
	case "subject":
		return str(&in.subject)
	case "transactionId":
		return str(&in.transactionID)
	case "showAs":
		if r := str(&in.showAs); r != nil {
			return r
		}
		switch in.showAs {
		case "free", "tentative", "busy", "oof", "workingElsewhere", "unknown":
			return nil
		}
		return requestBodyRead("The value '%s' is not valid for the enum type 'microsoft.graph.freeBusyStatus'.", in.showAs)
	case "sensitivity":
		if r := str(&in.sensitivity); r != nil {
			return r
		}
		switch in.sensitivity {
		case "normal", "personal", "private", "confidential":
			return nil
		}
		return requestBodyRead("The value '%s' is not valid for the enum type 'microsoft.graph.sensitivity'.", in.sensitivity)
	case "isAllDay":
		return boolean(&in.isAllDay)
	case "isReminderOn":
		return boolean(&in.isReminderOn)
	case "reminderMinutesBeforeStart":
		if json.Unmarshal(v, &in.reminder) != nil {
			return requestBodyRead("Cannot convert the literal '%s' to the expected type 'Edm.Int32'.", v)
		}
	case "categories":
		if !isNull && json.Unmarshal(v, &in.categories) != nil {
			return requestBodyRead("Cannot convert the literal '%s' to a collection of 'Edm.String'.", v)
		}
	case "body":
		var b struct {
			ContentType string `json:"contentType"`
			Content     string `json:"content"`
		}
		if !isNull && json.Unmarshal(v, &b) != nil {
			return requestBodyRead("Cannot read the value of property 'body' as 'microsoft.graph.itemBody'.")
		}
		in.bodyType = strings.ToLower(b.ContentType)
		if in.bodyType == "" {
			in.bodyType = "text"
		}
		if in.bodyType != "text" && in.bodyType != "html" {
			return requestBodyRead("The value '%s' is not valid for the enum type 'microsoft.graph.bodyType'.", b.ContentType)
		}
		in.bodyContent = b.Content
	case "location":
		var l struct {
			DisplayName string `json:"displayName"`
		}
		if !isNull && json.Unmarshal(v, &l) != nil {
			return requestBodyRead("Cannot read the value of property 'location' as 'microsoft.graph.location'.")
		}
		in.location = l.DisplayName
	case "start", "end":
		dt, r := parseDateTimeTimeZone(name, v)
		if r != nil {
			return r
		}
		if name == "start" {
			in.start = dt
		} else {
			in.end = dt
		}
	case "singleValueExtendedProperties":
		var props []struct {
			ID    string  `json:"id"`
			Value *string `json:"value"`
		}
		if json.Unmarshal(v, &props) != nil {
			return requestBodyRead("Cannot read the value of property 'singleValueExtendedProperties'.")
		}
		in.extProps = map[PropKey]string{}
		for _, p := range props {
			key, ok := parseExtPropID(p.ID)
			if !ok {
				return graphError(http.StatusBadRequest, "ErrorInvalidProperty",
					fmt.Sprintf("The extended property id '%s' is invalid.", p.ID))
			}
			if p.Value == nil {
				return graphError(http.StatusBadRequest, "ErrorInvalidProperty",
					fmt.Sprintf("The extended property '%s' has no value.", p.ID))
			}
			in.extProps[key] = *p.Value
		}
	}
	// Read-only and unsupported properties (attendees, recurrence, id, ...) are accepted and ignored, as Graph
	// ignores read-only values; tfsync never sends attendees.
	return nil
}

// parseDateTimeTimeZone reads {"dateTime": "...", "timeZone": "..."}: dateTime is a wall time in timeZone (IANA or
// Windows name; UTC when empty); one with an explicit offset is taken as that instant.
func parseDateTimeTimeZone(prop string, v json.RawMessage) (dateTimeInput, *graphResponse) {
	var dt struct {
		DateTime string `json:"dateTime"`
		TimeZone string `json:"timeZone"`
	}
	if json.Unmarshal(v, &dt) != nil || dt.DateTime == "" {
		return dateTimeInput{}, requestBodyRead("Cannot read the value of property '%s' as 'microsoft.graph.dateTimeTimeZone'.", prop)
	}
	loc, err := LoadZone(dt.TimeZone)
	if err != nil {
		return dateTimeInput{}, graphError(http.StatusBadRequest, "TimeZoneNotSupportedException",
			fmt.Sprintf("A valid TimeZone value must be specified. The following TimeZone value is not supported: '%s'.", dt.TimeZone))
	}
	if t, err := time.Parse(time.RFC3339Nano, dt.DateTime); err == nil {
		return dateTimeInput{t: t, zone: dt.TimeZone}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, dt.DateTime, loc); err == nil {
			return dateTimeInput{t: t, zone: dt.TimeZone}, nil
		}
	}
	return dateTimeInput{}, graphError(http.StatusBadRequest, "BadRequest",
		fmt.Sprintf("Cannot convert the literal '%s' to the expected type 'Edm.DateTime'.", dt.DateTime))
}

// apply writes the parsed properties onto d (an empty EventData for a create, the stored event for a patch).
func (in *eventInput) apply(d *EventData) *graphResponse {
	if in.has["subject"] {
		d.Subject = in.subject
	}
	if in.has["body"] {
		d.BodyType = in.bodyType
		d.Body = in.bodyContent
		if d.BodyType == "html" {
			d.Body = wrapHTML(d.Body)
		}
	}
	if in.has["start"] {
		d.Start, d.TimeZone = in.start.t, in.start.zone
	}
	if in.has["end"] {
		d.End, d.EndTimeZone = in.end.t, in.end.zone
	}
	if in.has["isAllDay"] {
		d.IsAllDay = in.isAllDay
	}
	if in.has["showAs"] {
		d.ShowAs = exchange.ShowAs(in.showAs)
	}
	if in.has["sensitivity"] {
		d.Sensitivity = in.sensitivity
	}
	if in.has["isReminderOn"] {
		d.ReminderOn = in.isReminderOn
	}
	if in.has["reminderMinutesBeforeStart"] {
		d.ReminderMinutes = in.reminder
	}
	if in.has["location"] {
		d.Location = in.location
	}
	if in.has["categories"] {
		d.Categories = slices.Clone(in.categories)
	}
	if in.has["transactionId"] && d.TransactionID == "" {
		d.TransactionID = in.transactionID
	}
	if len(in.extProps) > 0 {
		if d.ExtProps == nil {
			d.ExtProps = map[PropKey]string{}
		}
		for k, v := range in.extProps {
			d.ExtProps[k] = v
		}
	}
	if !in.has["isReminderOn"] && d.ID == "" {
		// A new event gets Outlook's default reminder, 15 minutes, unless the client says otherwise.
		d.ReminderOn = true
		if !in.has["reminderMinutesBeforeStart"] {
			d.ReminderMinutes = 15
		}
	}
	return nil
}

// wrapHTML stores an HTML fragment the way Exchange does: as a complete document, exactly as the response of
// Microsoft Graph's "Create event" example shows it (learn.microsoft.com/graph/api/user-post-events: the request
// posts "Does noon work for you?" and the response's body.content starts
// "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>").
// A body that already is a document is kept.
func wrapHTML(content string) string {
	if strings.Contains(strings.ToLower(content), "<html") {
		return content
	}
	return "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n<body>\r\n" +
		content + "\r\n</body>\r\n</html>\r\n"
}

var (
	headRE  = regexp.MustCompile(`(?is)<head.*?</head>|<style.*?</style>|<script.*?</script>|<!--.*?-->`)
	breakRE = regexp.MustCompile(`(?i)<br\s*/?>|</p>|</div>|</li>|</tr>|</h[1-6]>`)
	tagRE   = regexp.MustCompile(`(?s)<[^>]*>`)
	spaceRE = regexp.MustCompile(`[ \t\r\f\v]+`)
	linesRE = regexp.MustCompile(`\s*\n\s*`)
)

// htmlToText renders HTML as plain text, roughly as Exchange does for text bodies and previews.
func htmlToText(s string) string {
	s = headRE.ReplaceAllString(s, "")
	s = breakRE.ReplaceAllString(s, "\n")
	s = tagRE.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	s = strings.ReplaceAll(s, "\u00a0", " ")
	s = spaceRE.ReplaceAllString(s, " ")
	s = linesRE.ReplaceAllString(s, "\n")
	return strings.TrimSpace(s)
}

// textToHTML renders a text body as Exchange's HTML.
func textToHTML(s string) string {
	esc := strings.ReplaceAll(html.EscapeString(s), "\n", "<br>\r\n")
	return wrapHTML(`<div class="PlainText">` + esc + `</div>`)
}

// bodyPreview is the first 255 characters of the body's text, on one line.
func bodyPreview(d EventData) string {
	text := d.Body
	if d.BodyType == "html" {
		text = htmlToText(text)
	}
	text = strings.Join(strings.Fields(text), " ")
	r := []rune(text)
	if len(r) > 255 {
		r = r[:255]
	}
	return string(r)
}

// eventView is how a request wants events rendered: Prefer headers, $select and $expand.
type eventView struct {
	zoneName    string         // response time zone as the client named it; "UTC" by default
	zone        *time.Location // the zone itself
	zoneApplied bool           // the client asked for a zone and got it
	bodyType    string         // "text" or "html" when the client asked (outlook.body-content-type)
	maxPageSize int            // odata.maxpagesize, 0 when not asked
	immutableID bool           // IdType="ImmutableId": ids here never change anyway
	sel         map[string]bool
	expandAll   bool      // $expand=singleValueExtendedProperties without a filter
	expandIDs   []PropKey // $expand=singleValueExtendedProperties($filter=id eq '...')
	expand      bool
}

// parseView reads Prefer, $select and $expand.
func parseView(req *graphRequest) (eventView, *graphResponse) {
	v := eventView{zoneName: "UTC", zone: time.UTC}
	for _, line := range req.header.Values("Prefer") {
		for _, pref := range strings.Split(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(pref), "=")
			value = strings.Trim(strings.TrimSpace(value), `"`)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "outlook.timezone":
				if loc, err := LoadZone(value); err == nil && value != "" {
					v.zoneName, v.zone, v.zoneApplied = value, loc, true
				}
			case "outlook.body-content-type":
				if t := strings.ToLower(value); t == "text" || t == "html" {
					v.bodyType = t
				}
			case "odata.maxpagesize":
				if n, err := parsePositive(value); err == nil && n > 0 {
					v.maxPageSize = n
				}
			case "idtype":
				v.immutableID = strings.EqualFold(value, "ImmutableId")
			}
		}
	}
	if sel := req.query.Get("$select"); sel != "" {
		v.sel = map[string]bool{}
		for _, p := range strings.Split(sel, ",") {
			p = strings.TrimSpace(p)
			name, ok := eventProperties[strings.ToLower(p)]
			if !ok {
				return v, graphError(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Parsing OData Select and "+
					"Expand failed: Could not find a property named '%s' on type 'microsoft.graph.event'.", p))
			}
			v.sel[name] = true
		}
	}
	if exp := strings.TrimSpace(req.query.Get("$expand")); exp != "" {
		ids, all, ok := parseExtPropExpand(exp)
		if !ok {
			return v, graphError(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Parsing OData Select and "+
				"Expand failed: The expand expression '%s' is not supported.", exp))
		}
		v.expand, v.expandAll, v.expandIDs = true, all, ids
	}
	return v, nil
}

// applied reports the preferences the response honoured.
func (v eventView) applied(resp *graphResponse) {
	var prefs []string
	if v.zoneApplied {
		prefs = append(prefs, fmt.Sprintf(`outlook.timezone="%s"`, v.zoneName))
	}
	if v.bodyType != "" {
		prefs = append(prefs, fmt.Sprintf(`outlook.body-content-type="%s"`, v.bodyType))
	}
	if v.immutableID {
		prefs = append(prefs, `IdType="ImmutableId"`)
	}
	if len(prefs) > 0 {
		if resp.header == nil {
			resp.header = http.Header{}
		}
		resp.header.Set("Preference-Applied", strings.Join(prefs, ","))
	}
}

// renderDateTime writes an instant as dateTimeTimeZone in the response zone. All-day events always come back as
// midnights of their own dates (labelled with the response zone), as Outlook does.
func (v eventView) renderDateTime(t time.Time, allDay bool, eventZone string) orderedJSON {
	var wall time.Time
	if allDay {
		loc, err := LoadZone(eventZone)
		if err != nil {
			loc = time.UTC
		}
		l := t.In(loc)
		wall = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC)
	} else {
		wall = t.In(v.zone)
	}
	return orderedJSON{{"dateTime", wall.Format(graphDateTime)}, {"timeZone", v.zoneName}}
}

// renderEvent writes an event in Graph's shape. With $select only the selected properties (plus @odata.etag and
// id) appear; singleValueExtendedProperties only when expanded; transactionId only when set. delta adds the
// @odata.type annotation delta responses carry.
func renderEvent(d EventData, v eventView, base, addr string, delta bool) orderedJSON {
	out := orderedJSON{}
	if delta {
		out = append(out, jsonField{"@odata.type", "#microsoft.graph.event"})
	}
	out = append(out, jsonField{"@odata.etag", `W/"` + d.ChangeKey + `"`}, jsonField{"id", d.ID})
	add := func(name string, value any) {
		if v.sel == nil || v.sel[name] {
			out = append(out, jsonField{name, value})
		}
	}
	startZone := d.TimeZone
	if startZone == "" {
		startZone = "UTC"
	}
	endZone := d.EndTimeZone
	if endZone == "" {
		endZone = startZone
	}
	bodyType, content := d.BodyType, d.Body
	switch {
	case v.bodyType == "text" && bodyType == "html":
		bodyType, content = "text", htmlToText(content)
	case v.bodyType == "html" && bodyType == "text":
		bodyType, content = "html", textToHTML(content)
	}
	categories := d.Categories
	if categories == nil {
		categories = []string{}
	}
	add("createdDateTime", d.Created.UTC().Format(graphDateTime+"Z"))
	add("lastModifiedDateTime", d.LastModified.UTC().Format(graphDateTime+"Z"))
	add("changeKey", d.ChangeKey)
	add("categories", categories)
	if d.TransactionID != "" {
		add("transactionId", d.TransactionID)
	}
	if d.ForeignZone != "" {
		// Another client's zone id that maps to no IANA zone is reported as written (the event resource:
		// originalStartTimeZone "can be any of the supported time zones, or a custom one", e.g. "Customized Time
		// Zone" for an imported iCalendar event).
		add("originalStartTimeZone", d.ForeignZone)
		add("originalEndTimeZone", d.ForeignZone)
	} else {
		add("originalStartTimeZone", originalZone(startZone))
		add("originalEndTimeZone", originalZone(endZone))
	}
	add("iCalUId", iCalUID(d.ID))
	add("reminderMinutesBeforeStart", d.ReminderMinutes)
	add("isReminderOn", d.ReminderOn)
	add("hasAttachments", false)
	add("subject", d.Subject)
	add("bodyPreview", bodyPreview(d))
	add("importance", "normal")
	add("sensitivity", d.Sensitivity)
	add("isAllDay", d.IsAllDay)
	add("isCancelled", false)
	add("isOrganizer", true)
	add("responseRequested", true)
	add("seriesMasterId", nil)
	add("showAs", string(d.ShowAs))
	add("type", "singleInstance")
	add("webLink", fmt.Sprintf("%s/owa/?itemid=%s&exvsurl=1&path=/calendar/item", base, strings.ReplaceAll(d.ID, "=", "%3D")))
	add("onlineMeetingUrl", nil)
	add("isOnlineMeeting", false)
	add("onlineMeetingProvider", "unknown")
	add("allowNewTimeProposals", true)
	add("isDraft", false)
	add("hideAttendees", false)
	add("responseStatus", orderedJSON{{"response", "organizer"}, {"time", "0001-01-01T00:00:00Z"}})
	add("body", orderedJSON{{"contentType", bodyType}, {"content", content}})
	add("start", v.renderDateTime(d.Start, d.IsAllDay, startZone))
	add("end", v.renderDateTime(d.End, d.IsAllDay, endZone))
	add("location", renderLocation(d.Location))
	locations := []any{}
	if d.Location != "" {
		locations = append(locations, renderLocation(d.Location))
	}
	add("locations", locations)
	add("recurrence", nil)
	add("attendees", []any{})
	add("organizer", orderedJSON{{"emailAddress", orderedJSON{{"name", addr}, {"address", addr}}}})
	add("onlineMeeting", nil)
	if v.expand && !delta {
		props := []any{}
		keys := make([]PropKey, 0, len(d.ExtProps))
		for k := range d.ExtProps {
			if v.expandAll || slices.Contains(v.expandIDs, k) {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(a, b PropKey) int { return strings.Compare(a.SetID+a.Name, b.SetID+b.Name) })
		for _, k := range keys {
			props = append(props, orderedJSON{{"id", "String {" + k.SetID + "} Name " + k.Name}, {"value", d.ExtProps[k]}})
		}
		// Graph omits the expanded collection when no property matched.
		if len(props) > 0 {
			out = append(out, jsonField{"singleValueExtendedProperties@odata.context",
				base + "/v1.0/$metadata#users('" + addr + "')/events('" + d.ID + "')/singleValueExtendedProperties"})
			out = append(out, jsonField{"singleValueExtendedProperties", props})
		}
	}
	return out
}

// originalZone names the zone an event was written in as Graph reports it: the Windows id when there is one.
func originalZone(zone string) string {
	if id, ok := WindowsZone(zone); ok {
		return id
	}
	return zone
}

func renderLocation(name string) orderedJSON {
	if name == "" {
		return orderedJSON{{"displayName", ""}, {"locationType", "default"}, {"uniqueIdType", "unknown"},
			{"address", orderedJSON{}}, {"coordinates", orderedJSON{}}}
	}
	return orderedJSON{{"displayName", name}, {"locationType", "default"}, {"uniqueId", name},
		{"uniqueIdType", "private"}, {"address", orderedJSON{}}, {"coordinates", orderedJSON{}}}
}

// iCalUID derives a stable, Exchange-looking iCalUId from the event id.
func iCalUID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "040000008200E00074C5B7101A82E00800000000" + strings.ToUpper(hex.EncodeToString(sum[:]))
}

// extPropIDRE matches "String {guid} Name X": the type and the Name keyword in any letter case, the name as is.
var extPropIDRE = regexp.MustCompile(`^\s*(?i:string)\s+\{([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}\s+(?i:name)\s+(\S.*?)\s*$`)

// parseExtPropID parses a singleValueExtendedProperty id of the named-string form tfsync uses.
func parseExtPropID(id string) (PropKey, bool) {
	m := extPropIDRE.FindStringSubmatch(id)
	if m == nil {
		return PropKey{}, false
	}
	return MakePropKey(m[1], m[2]), true
}

const odataString = `'((?:[^']|'')*)'`

var (
	// extPropFilterRE is singleValueExtendedProperties/Any(ep: ep/id eq '...' and ep/value eq '...').
	extPropFilterRE = regexp.MustCompile(`^\s*(?i:singleValueExtendedProperties)/(?i:any)\(\s*(\w+)\s*:\s*(\w+)/(?i:id)\s+(?i:eq)\s+` +
		odataString + `\s+(?i:and)\s+(\w+)/(?i:value)\s+(?i:eq)\s+` + odataString + `\s*\)\s*$`)
	expandRE   = regexp.MustCompile(`^\s*(?i:singleValueExtendedProperties)\s*(?:\(\s*\$(?i:filter)\s*=\s*(.*)\)\s*)?$`)
	idEqRE     = regexp.MustCompile(`^\s*(?i:id)\s+(?i:eq)\s+` + odataString + `\s*$`)
	orSplitRE  = regexp.MustCompile(`\s+(?i:or)\s+`)
	unquoteODS = strings.NewReplacer("''", "'")
)

// parseExtPropFilter parses the one $filter form Graph offers to find events by an extended property's value.
func parseExtPropFilter(f string) (PropKey, string, bool) {
	m := extPropFilterRE.FindStringSubmatch(f)
	if m == nil || m[1] != m[2] || m[1] != m[4] {
		return PropKey{}, "", false
	}
	key, ok := parseExtPropID(unquoteODS.Replace(m[3]))
	if !ok {
		return PropKey{}, "", false
	}
	return key, unquoteODS.Replace(m[5]), true
}

// parseExtPropExpand parses $expand=singleValueExtendedProperties($filter=id eq '...' [or id eq '...']).
func parseExtPropExpand(exp string) (ids []PropKey, all bool, ok bool) {
	m := expandRE.FindStringSubmatch(exp)
	if m == nil {
		return nil, false, false
	}
	if strings.TrimSpace(m[1]) == "" {
		return nil, true, true
	}
	for _, clause := range orSplitRE.Split(m[1], -1) {
		c := idEqRE.FindStringSubmatch(clause)
		if c == nil {
			return nil, false, false
		}
		key, valid := parseExtPropID(unquoteODS.Replace(c[1]))
		if !valid {
			return nil, false, false
		}
		ids = append(ids, key)
	}
	return ids, false, true
}
