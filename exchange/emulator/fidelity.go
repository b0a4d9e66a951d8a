package emulator

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"tfsync/exchange"
)

// This file gathers the places where the emulator copies an unkind habit of real Exchange that a kinder server
// would hide from tfsync's backends: HTML bodies rewritten on save, ids and sync states of realistic length and
// alphabet, and change-key conflicts. Each is backed by Microsoft's documentation, cited where it is implemented.
// Options.Lenient (or TFSYNC_EMULATOR_LENIENT=1) turns them off again, so a test's author can show that the test
// fails against the old, kinder emulator (see docs/decisions.md).

// ---- ids ----

// newID makes an event id shaped like Exchange's: a long EntryId-like byte string in base64, here in Graph's
// URL-safe alphabet ("AAMkA…" ids, about 150 characters with '-', '_' and '=' padding: Microsoft Graph's
// concepts/outlook-immutable-id and the event resource's examples). The EWS front writes the same bytes in standard
// base64 ('+', '/', '='), as EWS ids are (ItemIdType's Id is an opaque string, in practice standard base64; Graph's
// translateExchangeIds, api-reference/v1.0/api/user-translateexchangeids, converts "ewsId" to "restId", the
// URL-safe form of the same bytes). The bytes hold a
// fixed prefix, a hash of the mailbox (salted per emulator unless Options.StableIDs) and the emulator-wide serial,
// so ids are never reused, not even by another run. Call with e.mu held, after bumping e.serial.
func (e *Emulator) newID(addr string) string {
	h := fnv.New64a()
	h.Write([]byte(addr))
	mbox := h.Sum64() ^ e.idSalt
	if e.lenient {
		b := make([]byte, 0, 24)
		b = append(b, 0x00, 0x00, 0x32, 0x4b, 0x45, 0x4d) // "AAAyS0VN": looks like, but is not, an EntryId prefix
		b = binary.BigEndian.AppendUint64(b, mbox)
		b = binary.BigEndian.AppendUint64(b, e.serial)
		b = append(b, 0x00, 0x00)
		return base64.URLEncoding.EncodeToString(b)
	}
	// 0x00 0x03 0x24 0x00 encodes as "AAMkA", the start of every mailbox item id; 0xfb 0xff 0xbf encodes as "+/+/"
	// in standard base64 and "-_-_" in URL-safe base64, so both alphabets' special characters always occur; 112
	// bytes leave one '=' of padding, like real ids.
	b := make([]byte, 0, 112)
	b = append(b, 0x00, 0x03, 0x24, 0x00)
	for len(b) < 44 {
		b = binary.BigEndian.AppendUint64(b, mbox)
	}
	b = b[:44]
	b = append(b, 0x46, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfb, 0xff, 0xbf, 0x07, 0x00)
	b = binary.BigEndian.AppendUint64(b, e.serial)
	for len(b) < 106 {
		b = append(b, byte(len(b)*37), 0x00)
	}
	b = b[:106]
	b = append(b, 0xfb, 0xff, 0xbf, 0x00, 0x00, 0x10)
	b = b[:112]
	return base64.URLEncoding.EncodeToString(b)
}

// ewsIDReplacer turns a stored (URL-safe) id into the EWS front's standard base64 form.
var ewsIDReplacer = strings.NewReplacer("-", "+", "_", "/")

// ewsWireID is an event id as the EWS front writes it (as stored, when lenient).
func (e *Emulator) ewsWireID(id string) string {
	if e.lenient {
		return id
	}
	return ewsIDReplacer.Replace(id)
}

// canonicalIDReplacer turns either form of an id into the stored one.
var canonicalIDReplacer = strings.NewReplacer("+", "-", "/", "_")

// canonicalID accepts an id in the EWS (standard base64) or Graph (URL-safe) form and returns the stored form, so
// the control API and the state take ids from either front.
func canonicalID(id string) string { return canonicalIDReplacer.Replace(id) }

// ---- opaque blobs: sync states and delta tokens ----

// padBlob lengthens an encoded cursor with bytes that depend on seed: real EWS sync states are hundreds to
// thousands of characters of base64 (a compressed, serialised watermark set: "H4sIAAAAAAAEAO29B2AcSZY…"), and
// Graph's $deltatoken and $skiptoken values are several hundred characters of base64url. It returns n bytes.
func padBlob(seed uint64, n int) []byte {
	b := make([]byte, 0, n)
	x := seed ^ 0x9e3779b97f4a7c15
	for len(b) < n {
		// xorshift64*: cheap, deterministic filler that does not compress into a tidy pattern.
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		b = binary.LittleEndian.AppendUint64(b, x*0x2545f4914f6cdd1d)
	}
	return b[:n]
}

// ---- bodies ----

var (
	ewsBodyRE  = regexp.MustCompile(`(?is)<body[^>]*>(.*)</body>`)
	ewsParaRE  = regexp.MustCompile(`(?i)<p(\s[^>]*)?>`)
	ewsParaEnd = regexp.MustCompile(`(?i)</p\s*>`)
)

// ewsStoredHTMLHead is how Exchange Server writes the head of an HTML body it converted (calendar items keep their
// body as compressed RTF in the store, PR_RTF_COMPRESSED, and EWS converts it back to HTML on every read; see
// Microsoft Learn "Exchange Web Services: Body" and "BodyType" (web-service-reference/body, bodytype): "The
// returned body will be ... HTML if the stored body is in either HTML or RTF format").
const ewsStoredHTMLHead = "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n" +
	"<meta name=\"Generator\" content=\"Microsoft Exchange Server\">\r\n<!-- converted from rtf -->\r\n" +
	"<style><!-- .EmailQuote { margin-left: 1pt; padding-left: 4pt; border-left: #800000 2px solid; } --></style>" +
	"</head>\r\n<body>\r\n"

// ewsSaveBody is what an EWS save (CreateItem, UpdateItem) does to an HTML body: the store converts it, so it comes
// back as a whole document whose paragraphs became divs, and every later save converts it again (the body
// changes, though its text does not, even when the update did not touch it).
func (e *Emulator) ewsSaveBody(d *EventData) {
	if e.lenient || d.BodyType != "html" || d.Body == "" {
		return
	}
	inner := d.Body
	if m := ewsBodyRE.FindStringSubmatch(inner); m != nil {
		inner = strings.Trim(m[1], "\r\n")
	}
	inner = ewsParaRE.ReplaceAllString(inner, "<div>")
	inner = ewsParaEnd.ReplaceAllString(inner, "</div>")
	d.Body = ewsStoredHTMLHead + "<div>\r\n" + inner + "\r\n</div>\r\n</body>\r\n</html>\r\n"
}

// ---- change key conflicts ----

// InjectConflict makes the next EWS UpdateItem of the event meet another client's save: the event's change key moves
// on (as the other save would move it) and the update fails with ErrorIrresolvableConflict, whatever its
// ConflictResolution, as a save that races another one in the store does. It is the control API's way to make a
// backend meet a ChangeKey conflict; the update after it is handled normally.
func (e *Emulator) InjectConflict(addr, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	mb, err := e.lookup(addr)
	if err != nil {
		return err
	}
	id = canonicalID(id)
	if mb.events[id] == nil {
		return ErrEventNotFound
	}
	if e.conflicts == nil {
		e.conflicts = map[string]bool{}
	}
	e.conflicts[id] = true
	return nil
}

// takeConflict reports (once) whether a conflict was injected for the event, and if so moves its change key on.
func (e *Emulator) takeConflict(addr, id string) bool {
	if e.lenient {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.conflicts[id] {
		return false
	}
	delete(e.conflicts, id)
	mb, err := e.lookup(addr)
	if err != nil || mb.events[id] == nil {
		return false
	}
	e.serial++
	d := mb.events[id].Clone()
	d.ChangeKey = e.newChangeKey()
	d.LastModified = e.now().UTC()
	mb.seq++
	d.Seq = mb.seq
	mb.events[id] = &d
	mb.history[id] = append(mb.history[id], version{seq: d.Seq, ev: &d})
	return true
}

// ---- time zones another client wrote ----

// SetForeignZone marks an event as written by another client in a time zone whose id maps to no IANA zone, such as
// Outlook's "Customized Time Zone" for an imported iCalendar event: the fronts report zoneID as the event's zone,
// with the full definition of the zone the event really follows (its TimeZone), as Exchange keeps a definition with
// every item (MS-OXOCAL PidLidAppointmentTimeZoneDefinitionStartDisplay). The instants do not change.
func (e *Emulator) SetForeignZone(addr, id, zoneID string) error {
	return e.EditEvent(addr, id, func(d *EventData) { d.ForeignZone = zoneID })
}

// ewsZoneDef is the zone an item's StartTimeZone (or EndTimeZone) reports: its id and the location whose rules it
// carries.
func ewsZoneDef(d EventData, end bool) (id string, loc *time.Location) {
	zone := d.TimeZone
	if end && d.EndTimeZone != "" {
		zone = d.EndTimeZone
	}
	loc, err := LoadZone(zone)
	if err != nil {
		loc = time.UTC
	}
	if d.ForeignZone != "" {
		return d.ForeignZone, loc
	}
	return ewsZoneID(zone), loc
}

// Control views for the EWS front's ids.

// EWSControl is the control API with ids in the EWS front's form: what exchangetest.Control needs when the backend
// under test is the EWS one. Every method takes either form of an id.
type EWSControl struct{ *Emulator }

// Events returns the mailbox's events with EWS ids.
func (c EWSControl) Events(addr string) []exchange.Event {
	evs := c.Emulator.Events(addr)
	for i := range evs {
		evs[i].ID = c.ewsWireID(evs[i].ID)
	}
	return evs
}

// AddUserEvent creates a user's event and returns it with its EWS id.
func (c EWSControl) AddUserEvent(addr string, ev exchange.Event) (exchange.Event, error) {
	out, err := c.Emulator.AddUserEvent(addr, ev)
	out.ID = c.ewsWireID(out.ID)
	return out, err
}

// ewsRenderZone writes a StartTimeZone or EndTimeZone element with the zone's full definition, as Exchange 2010 and
// later return it (Microsoft Learn, EWS reference "StartTimeZone": TimeZoneDefinitionType with Periods,
// TransitionsGroups and Transitions; the Period and transition ids follow the "trule:Microsoft/Registry/<id>/..."
// form GetServerTimeZones answers with). The rules are read from the zone's IANA data for the year of at.
func (e *Emulator) ewsRenderZone(w *ewsXMLBuilder, elem, id string, loc *time.Location, at time.Time) {
	if e.lenient {
		w.empty(elem, "Id", id)
		return
	}
	year := at.In(loc).Year()
	jan := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	jul := time.Date(year, 7, 1, 0, 0, 0, 0, loc)
	_, janOff := jan.Zone()
	_, julOff := jul.Zone()
	std, dst := janOff, julOff
	if julOff < janOff { // southern hemisphere: standard time is in July
		std, dst = julOff, janOff
	}
	rule := "trule:Microsoft/Registry/" + id + "/" + fmt.Sprint(year)
	w.start(elem, "Id", id, "Name", fmt.Sprintf("(UTC%s) %s", utcOffset(std), id))
	w.start("t:Periods")
	w.empty("t:Period", "Bias", xsBias(std), "Name", "Standard", "Id", rule+"-Standard")
	if dst != std {
		w.empty("t:Period", "Bias", xsBias(dst), "Name", "Daylight", "Id", rule+"-Daylight")
	}
	w.end("t:Periods")
	w.start("t:TransitionsGroups")
	w.start("t:TransitionsGroup", "Id", "0")
	if dst == std {
		w.start("t:Transition")
		w.leaf("t:To", rule+"-Standard", "Kind", "Period")
		w.end("t:Transition")
	} else {
		for _, tr := range zoneTransitions(loc, year) {
			target := rule + "-Standard"
			if tr.toOffset == dst {
				target = rule + "-Daylight"
			}
			w.start("t:RecurringDayTransition")
			w.leaf("t:To", target, "Kind", "Period")
			w.leaf("t:TimeOffset", xsDuration(tr.wall))
			w.leaf("t:Month", strconv.Itoa(int(tr.month)))
			w.leaf("t:DayOfWeek", tr.weekday.String())
			w.leaf("t:Occurrence", strconv.Itoa(tr.occurrence))
			w.end("t:RecurringDayTransition")
		}
	}
	w.end("t:TransitionsGroup")
	w.end("t:TransitionsGroups")
	w.start("t:Transitions")
	w.start("t:Transition")
	w.leaf("t:To", "0", "Kind", "Group")
	w.end("t:Transition")
	w.end("t:Transitions")
	w.end(elem)
}

type zoneTransition struct {
	toOffset   int
	wall       time.Duration // local time of day (before the change) at which it happens
	month      time.Month
	weekday    time.Weekday
	occurrence int // 1..4, or -1 for the last one in the month
}

// transitionCache keeps zoneTransitions' answers: a FindItem renders a zone for every item.
var transitionCache sync.Map // "zone name|year" -> []zoneTransition

// zoneTransitions finds the offset changes of loc in year, by the hour.
func zoneTransitions(loc *time.Location, year int) []zoneTransition {
	key := loc.String() + "|" + strconv.Itoa(year)
	if v, ok := transitionCache.Load(key); ok {
		return v.([]zoneTransition)
	}
	out := scanTransitions(loc, year)
	transitionCache.Store(key, out)
	return out
}

func scanTransitions(loc *time.Location, year int) []zoneTransition {
	var out []zoneTransition
	t := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	_, prev := t.In(loc).Zone()
	for ; t.Year() == year; t = t.Add(time.Hour) {
		_, off := t.In(loc).Zone()
		if off == prev {
			continue
		}
		before := t.Add(time.Duration(prev) * time.Second) // wall clock in the old offset
		occ := (before.Day()-1)/7 + 1
		if before.AddDate(0, 0, 7).Month() != before.Month() {
			occ = -1
		}
		wall := time.Duration(before.Hour())*time.Hour + time.Duration(before.Minute())*time.Minute
		out = append(out, zoneTransition{toOffset: off, wall: wall, month: before.Month(),
			weekday: before.Weekday(), occurrence: occ})
		prev = off
	}
	return out
}

// xsBias is a Period's Bias: minutes to add to local time to get UTC, as an xs:duration ("-PT1H" for UTC+01:00).
func xsBias(offsetSeconds int) string {
	d := -time.Duration(offsetSeconds) * time.Second
	if d < 0 {
		return "-" + xsDuration(-d)
	}
	return xsDuration(d)
}

func xsDuration(d time.Duration) string {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case m == 0:
		return fmt.Sprintf("PT%dH", h)
	case h == 0:
		return fmt.Sprintf("PT%dM", m)
	}
	return fmt.Sprintf("PT%dH%dM", h, m)
}

func utcOffset(offsetSeconds int) string {
	sign := "+"
	if offsetSeconds < 0 {
		sign, offsetSeconds = "-", -offsetSeconds
	}
	return fmt.Sprintf("%s%02d:%02d", sign, offsetSeconds/3600, offsetSeconds%3600/60)
}

// nextNonce numbers the sync states the EWS front hands out.
func (e *Emulator) nextNonce() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nonce++
	return e.nonce
}

// iisUnavailablePage is the page HTTP.sys sends for a 503 when IIS's application pool behind /EWS is stopped or its
// queue is full: HTML, no SOAP. Microsoft Learn, "Stopping an Application Pool" (Windows Server, cc736923): "HTTP.sys
// is then directed to return HTTP 503-Service Unavailable errors"; HttpSysOptions.Http503Verbosity: "IIS uses
// Limited as its default behavior which will result in sending back a 503 - Service Unavailable" (the Limited
// verbosity's fixed "Service Unavailable" page, below).
const iisUnavailablePage = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">` + "\r\n" +
	`<HTML><HEAD><TITLE>Service Unavailable</TITLE>` + "\r\n" +
	`<META HTTP-EQUIV="Content-Type" Content="text/html; charset=us-ascii"></HEAD>` + "\r\n" +
	`<BODY><h2>Service Unavailable</h2>` + "\r\n" +
	`<hr><p>HTTP Error 503. The service is unavailable.</p>` + "\r\n" +
	`</BODY></HTML>` + "\r\n"

// writeIISUnavailable answers 503 the way IIS does in front of EWS.
func writeIISUnavailable(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=us-ascii")
	w.Header().Set("Server", "Microsoft-HTTPAPI/2.0")
	w.Header().Set("Content-Length", strconv.Itoa(len(iisUnavailablePage)))
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(iisUnavailablePage))
}
