package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"tfsync/cmd/config"
)

// JSONSchemaVersion is the version of the JSON contract in docs/json.md. It changes only when a key is removed or
// changes meaning; new keys do not change it.
const JSONSchemaVersion = 1

// jsonError is the "error" object of a failed command.
type jsonError struct {
	Code    string `json:"code"`    // a stable word: usage, config, auth, partial, deletes-held, ...
	Exit    int    `json:"exit"`    // the process exit code
	Message string `json:"message"` // the same text the log shows, naming the problem and the fix
}

func jsonErrorOf(err error) jsonError {
	var ue *usageError
	code := errorClass(err)
	switch {
	case errors.As(err, &ue):
		code = "usage"
	case errors.Is(err, config.ErrConfig):
		code = "config"
	case errors.Is(err, context.Canceled):
		code = "interrupted"
	}
	return jsonError{Code: code, Exit: ExitCode(err), Message: err.Error()}
}

// writeJSONResult writes the recorded result (or an empty one) as one indented object.
func writeJSONResult(f *Factory, command string, runErr error) {
	if f.jsonWritten {
		return
	}
	f.jsonWritten = true
	var b bytes.Buffer
	b.WriteString(`{"schema_version":`)
	fmt.Fprint(&b, JSONSchemaVersion)
	cmdJSON, _ := json.Marshal(command)
	b.WriteString(`,"command":`)
	b.Write(cmdJSON)
	fields, err := jsonObjectFields(f.jsonResult)
	if err != nil {
		fields = nil // a result that is not an object cannot happen short of a bug; the error still gets out
	}
	for _, fl := range fields {
		if fl.key == "schema_version" || fl.key == "command" || (fl.key == "error" && runErr != nil) {
			continue
		}
		k, _ := json.Marshal(fl.key)
		b.WriteByte(',')
		b.Write(k)
		b.WriteByte(':')
		b.Write(fl.value)
	}
	if runErr != nil {
		e, _ := encodeJSON(jsonErrorOf(runErr)) // strings and ints only: it cannot fail
		b.WriteString(`,"error":`)
		b.Write(e)
	}
	b.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		out.Reset()
		out.Write(b.Bytes())
	}
	out.WriteByte('\n')
	_, _ = f.IO.Out.Write(out.Bytes())
}

type jsonField struct {
	key   string
	value json.RawMessage
}

// jsonObjectFields splits a JSON object into its fields, in order.
func jsonObjectFields(b []byte) ([]jsonField, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var fields []jsonField
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		fields = append(fields, jsonField{key, v})
	}
	return fields, nil
}

// jsonRequested reports whether the arguments ask for JSON, for errors that happen before the flags are parsed.
func jsonRequested(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--output=json", a == "-o=json", a == "-ojson":
			return true
		case (a == "--output" || a == "-o") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

// zonedTime is a moment in JSON: RFC 3339 with the offset of [tf] time_zone, or null when unknown.
type zonedTime struct {
	t    time.Time
	zone *time.Location
}

func inZone(t time.Time, zone *time.Location) zonedTime { return zonedTime{t, zone} }

func (z zonedTime) MarshalJSON() ([]byte, error) {
	if z.t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(z.t.In(z.zone).Format(time.RFC3339))
}

// jsonSpan is a booking's or an event's time in JSON. All-day spans carry all_day and their dates; timed ones the
// start and end. start and end are there for both, as RFC 3339 with offsets.
type jsonSpan struct {
	AllDay  bool      `json:"all_day"`
	Start   zonedTime `json:"start"`
	End     zonedTime `json:"end"`
	Date    *string   `json:"date"`     // all-day: the first day (YYYY-MM-DD); null for timed
	EndDate *string   `json:"end_date"` // all-day: the last day, inclusive; null for timed
}

func spanJSON(start, end time.Time, allDay bool, zone *time.Location) jsonSpan {
	s := jsonSpan{AllDay: allDay, Start: inZone(start, zone), End: inZone(end, zone)}
	if allDay && !start.IsZero() {
		first := start.In(zone).Format("2006-01-02")
		last := first
		if !end.IsZero() && end.After(start) {
			last = end.In(zone).Add(-time.Minute).Format("2006-01-02")
		}
		s.Date, s.EndDate = &first, &last
	}
	return s
}

// isDateSpan reports whether a span runs from a local midnight to a later one: how an all-day event looks when
// only its times are known (a delete planned from a link).
func isDateSpan(start, end time.Time, zone *time.Location) bool {
	if start.IsZero() || !end.After(start) {
		return false
	}
	s, e := start.In(zone), end.In(zone)
	return s.Hour() == 0 && s.Minute() == 0 && s.Second() == 0 && e.Hour() == 0 && e.Minute() == 0 && e.Second() == 0
}

// spanText shows a span in text output, local in zone (named once per table by the caller): a date or dates for
// all-day spans, a day and a time range otherwise.
func spanText(start, end time.Time, allDay bool, zone *time.Location) string {
	if start.IsZero() {
		return ""
	}
	s := start.In(zone)
	if allDay {
		first := s.Format("2006-01-02")
		if end.IsZero() || !end.After(start) {
			return first + " (all day)"
		}
		last := end.In(zone).Add(-time.Minute).Format("2006-01-02")
		if last == first {
			return first + " (all day)"
		}
		return first + " to " + last + " (all day)"
	}
	if end.IsZero() {
		return s.Format("2006-01-02 15:04")
	}
	e := end.In(zone)
	if e.Format("2006-01-02") != s.Format("2006-01-02") {
		return s.Format("2006-01-02 15:04") + " to " + e.Format("2006-01-02 15:04")
	}
	return s.Format("2006-01-02 15:04") + "-" + e.Format("15:04")
}

// timeText is a moment in text output, local in zone; "-" when unknown.
func timeText(t time.Time, zone *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(zone).Format("2006-01-02 15:04")
}

// zoneHeader names the zone in a table's time column: "WHEN (Europe/Stockholm)".
func zoneHeader(col string, zone *time.Location) string {
	return col + " (" + strings.TrimSpace(zone.String()) + ")"
}
