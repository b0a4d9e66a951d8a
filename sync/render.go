package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"html"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"tfsync/exchange"
	"tfsync/tf"
)

// Exchange limits subjects to 255 characters; longer ones are cut with an ellipsis rather than refused.
const maxSubject = 255

// Long descriptions are cut so that one runaway row cannot make an event too large to store.
const maxDescription = 8000

// TechnicianNoteText ends each event's body when [sync] technician_note is on. Technicians who edit an event's
// text see it restored on the next pass; this tells them, in TF's language, that only the time flows back.
const TechnicianNoteText = "Flyttar du tiden här i kalendern flyttas bokningen i TF. Andra ändringar i händelsen ersätts med texten från TF vid nästa synkronisering."

// Render turns a booking into the event tfsync wants in the calendar. It is pure: the same booking and settings
// always give the same event, which is what makes the content hash a reliable change detector.
func Render(b tf.Booking, s Settings) exchange.Event {
	ev := exchange.Event{
		BookingID:       b.ID,
		InstallationID:  s.InstallationID,
		Subject:         truncate(b.Kind.Label()+": "+cleanLine(b.Title), maxSubject),
		Body:            renderBody(b, s),
		Start:           b.Start,
		End:             b.End,
		AllDay:          b.AllDay,
		TimeZone:        s.Zone.String(),
		ShowAs:          s.ShowAs,
		ReminderMinutes: s.ReminderMinutes,
	}
	if s.IncludeLocation {
		ev.Location = truncate(cleanLine(b.Location), maxSubject)
	}
	return ev
}

// include_location = false keeps the address out of the body too, since "location
// information in the booking" means both places to an admin.
// Body labels are Swedish, like the subject's kind label: the technicians read them in TF's language.
func renderBody(b tf.Booking, s Settings) string {
	var sb strings.Builder
	field := func(label, value string) {
		if value == "" {
			return
		}
		sb.WriteString("<p>")
		if !s.HideHeadings {
			sb.WriteString("<b>" + html.EscapeString(label) + ":</b> ")
		}
		sb.WriteString(value)
		sb.WriteString("</p>\n")
	}
	field("Boknings-id", html.EscapeString(cleanLine(b.ID)))
	if s.IncludeLocation {
		field("Objekt/adress", html.EscapeString(cleanLine(b.Location)))
	}
	if d := cleanText(b.Description); d != "" {
		field("Beskrivning", strings.ReplaceAll(html.EscapeString(truncate(d, maxDescription)), "\n", "<br>"))
	}
	if u := safeURL(b.URL); u != "" {
		field("Länk till TF", `<a href="`+html.EscapeString(u)+`">Öppna i TF</a>`)
	}
	if s.TechnicianNote {
		sb.WriteString("<p><i>" + html.EscapeString(TechnicianNoteText) + "</i></p>\n")
	}
	return sb.String()
}

// safeURL keeps only absolute http(s) links, so a javascript: or data: URL from a bad row never becomes a link.
func safeURL(raw string) string {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.String()
}

// cleanLine makes text safe for one-line fields: valid UTF-8, no control characters, single spaces.
func cleanLine(s string) string {
	if isCleanLine(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// isCleanLine reports whether cleanLine would return s unchanged: most TF text is, and checking is far cheaper
// than rebuilding it.
func isCleanLine(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	prevSpace := false
	for _, r := range s {
		switch {
		case r == utf8.RuneError, unicode.IsControl(r), r == '\u2028', r == '\u2029':
			return false // RuneError here is invalid UTF-8 or a literal U+FFFD; either way take the slow path
		case unicode.IsSpace(r):
			if r != ' ' || prevSpace {
				return false
			}
			prevSpace = true
		default:
			prevSpace = false
		}
	}
	return true
}

// cleanText is cleanLine for multi-line text: it keeps line breaks.
func cleanText(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = cleanLine(l)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// Hash identifies the content tfsync writes for an event. A booking whose rendered event hashes differently from
// the hash stored at the last write has changed in TF (or the settings that shape the event changed).
func Hash(ev exchange.Event) string {
	// Each field is written as "<length>:<value>;" so that no two different events hash alike. The bytes are
	// built by hand, not with fmt: an idle pass hashes every booking in the window.
	buf := make([]byte, 0, 64+len(ev.Subject)+len(ev.Body)+len(ev.Location))
	for _, f := range [...]string{
		ev.BookingID, ev.Subject, ev.Body, ev.Location,
		ev.Start.UTC().Format(time.RFC3339), ev.End.UTC().Format(time.RFC3339),
		strconv.FormatBool(ev.AllDay), ev.TimeZone, string(ev.ShowAs), strconv.Itoa(ev.ReminderMinutes),
	} {
		buf = strconv.AppendInt(buf, int64(len(f)), 10)
		buf = append(buf, ':')
		buf = append(buf, f...)
		buf = append(buf, ';')
	}
	// The installation id joins the hash only when set, so that events written before installation ids existed
	// hash as they did then, and a link to one differs from its stamped rendering: the next pass stamps it.
	if ev.InstallationID != "" {
		buf = append(buf, "installation:"...)
		buf = append(buf, ev.InstallationID...)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:16])
}

var (
	tagRE   = regexp.MustCompile(`(?s)<(script|style|head)[^>]*>.*?</(script|style|head)>|<[^>]*>`)
	blockRE = regexp.MustCompile(`(?i)<(br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>`)
)

// BodyText reduces an HTML body to its visible text, so that a server wrapping or reformatting the HTML tfsync
// wrote (Exchange adds <html><head>…) is not mistaken for a technician's edit.
func BodyText(body string) string {
	body = blockRE.ReplaceAllString(body, "\n")
	body = tagRE.ReplaceAllString(body, " ")
	body = html.UnescapeString(body)
	return strings.Join(strings.Fields(body), " ")
}

// sameContent compares the fields tfsync owns, other than the times, between what the calendar holds and what
// tfsync wants there.
func sameContent(have, want exchange.Event) bool {
	return strings.TrimSpace(have.Subject) == want.Subject &&
		strings.TrimSpace(have.Location) == want.Location &&
		have.ShowAs == want.ShowAs &&
		have.AllDay == want.AllDay &&
		have.ReminderMinutes == want.ReminderMinutes &&
		BodyText(have.Body) == BodyText(want.Body)
}

// sameTimes compares an event's span with a known one. All-day spans compare by local date, since servers may
// report their midnights in another zone.
func sameTimes(ev exchange.Event, start, end time.Time, allDay bool, zone *time.Location) bool {
	if ev.AllDay != allDay {
		return false
	}
	if allDay {
		return sameDate(ev.Start, start, zone) && sameDate(ev.End, end, zone)
	}
	return ev.Start.Equal(start) && ev.End.Equal(end)
}

func sameDate(a, b time.Time, zone *time.Location) bool {
	ay, am, ad := a.In(zone).Date()
	by, bm, bd := b.In(zone).Date()
	return ay == by && am == bm && ad == bd
}
