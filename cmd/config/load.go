package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	// The embedded zone database makes [tf] time_zone work on Windows, which has no zoneinfo files.
	_ "time/tzdata"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"tfsync/exchange"
	"tfsync/tf"
)

// ErrConfig is what every configuration problem matches with errors.Is: the file is missing, unreadable or invalid,
// or a secret it names cannot be resolved.
var ErrConfig = errors.New("invalid configuration")

// Problem is one thing wrong in the configuration file.
type Problem struct {
	File    string // the path as given to Load
	Line    int    // 1-based; 0 when the problem has no line (a missing file or section)
	Key     string // dotted TOML key, e.g. "sync.show_as"; empty for the file as a whole
	Message string // names the key and the fix; never holds a secret
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Message)
}

// Error lists every problem found in a configuration file, ordered by line.
type Error struct {
	Problems []Problem
	cause    error // the read error behind a missing or unreadable file
}

// Error prints one problem per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (e *Error) Is(target error) bool { return target == ErrConfig }
func (e *Error) Unwrap() error        { return e.cause }

// Allowed words, in the order error messages list them.
var (
	configModes          = []string{"graph", "ews"}
	configEWSAuths       = []string{"ntlm", "basic"}
	configEWSAccesses    = []string{"impersonation", "delegate"}
	configConflicts      = []string{"tf", "calendar", "newest"}
	configOnDeletes      = []string{"recreate", "detach"}
	configStartTLSValues = []string{"auto", "always", "never"}
	configShowAsValues   = []string{
		string(exchange.ShowFree), string(exchange.ShowTentative), string(exchange.ShowBusy),
		string(exchange.ShowOOF), string(exchange.ShowWorkingElsewhere),
	}
)

func configKindNames() []string {
	names := make([]string, len(tf.Kinds))
	for i, k := range tf.Kinds {
		names[i] = string(k)
	}
	return names
}

// configSchema lists the keys each table accepts, in the order the README documents them. "" is the top level.
var configSchema = map[string][]string{
	"":               {"tf", "state", "exchange", "sync", "notify", "log"},
	"tf":             {"database", "time_zone"},
	"state":          {"path"},
	"exchange":       {"mode", "ca_file", "graph", "ews"},
	"exchange.graph": {"tenant_id", "client_id", "client_secret", "client_secret_expires", "certificate", "authority_host", "graph_url"},
	"exchange.ews":   {"url", "username", "password", "auth", "access"},
	"sync": {"kinds", "default_length", "show_as", "reminder_minutes", "hide_headings", "include_location", "technician_note",
		"allowed_domains", "past_days", "future_days", "conflict", "on_calendar_delete", "max_delete_percent",
		"max_delete_floor", "concurrency"},
	"notify": {"email_to", "smtp", "from", "username", "password", "starttls", "repeat_after"},
	"log":    {"file", "max_size", "max_files"},
}

var (
	configTenantIDPattern = regexp.MustCompile(`^[0-9a-zA-Z.-]+$`)
	configGUIDPattern     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// Default returns a Config with every optional setting at its default. The required ones (TF database,
// exchange mode and credentials, allowed domains) are left empty.
func Default() Config {
	zone, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		// time/tzdata is linked in, so this cannot happen short of a broken build.
		panic(fmt.Sprintf("load embedded zone Europe/Stockholm: %v", err))
	}
	return Config{
		TF:    TF{TimeZone: zone, ZoneName: "Europe/Stockholm"},
		State: State{Path: "tfsync-state.db"},
		Exchange: Exchange{
			Graph: Graph{
				AuthorityHost: "https://login.microsoftonline.com/",
				GraphURL:      "https://graph.microsoft.com",
			},
			EWS: EWS{Auth: "ntlm", Access: "impersonation"},
		},
		Sync: Sync{
			Kinds:            configKindNames(),
			DefaultLength:    60 * time.Minute,
			ShowAs:           string(exchange.ShowBusy),
			ReminderMinutes:  15,
			IncludeLocation:  true,
			TechnicianNote:   true,
			PastDays:         7,
			FutureDays:       90,
			Conflict:         "tf",
			OnCalendarDelete: "recreate",
			MaxDeletePercent: 50,
			MaxDeleteFloor:   5,
			Concurrency:      8,
		},
		Notify: Notify{StartTLS: "auto", RepeatAfter: 6 * time.Hour},
		Log:    Log{MaxSize: 10, MaxFiles: 5},
	}
}

// Load reads and validates a tfsync.toml. It reports every problem in the file at once, as a *Error
// (errors.Is ErrConfig). Warnings are things that work but should be fixed, such as a readable file holding a
// secret. Secrets are not resolved here: Secret.Value does that when they are needed.
func Load(path string) (*Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, configReadError(path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, configReadError(path, err)
	}
	// Notepad on Windows saves UTF-8 with a byte order mark, which TOML does not allow, and Notepad's "Unicode" and
	// PowerShell 5's > write UTF-16; both are read, and text that is neither is refused with the fix.
	text, wasUTF16, err := decodeText(data)
	if err != nil {
		return nil, nil, &Error{Problems: []Problem{{File: path, Message: fmt.Sprintf(
			"the configuration file is not UTF-8 text (%v): open it in Notepad and save it as UTF-8", err)}}}
	}
	data = []byte(text)

	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, nil, &Error{Problems: []Problem{configSyntaxProblem(path, data, err)}}
	}

	d := &configDecoder{file: path, dir: filepath.Dir(abs), pos: collectConfigPositions(data)}
	cfg := Default()
	cfg.Path = abs
	d.decode(doc, &cfg)

	warnings := configWarnings(path, &cfg)
	if wasUTF16 {
		warnings = append(warnings, fmt.Sprintf("%s is UTF-16 text (Notepad's \"Unicode\"); tfsync read it, but other tools may not: save it as UTF-8", path))
	}
	if len(d.problems) > 0 {
		sort.SliceStable(d.problems, func(i, j int) bool {
			a, b := d.problems[i].Line, d.problems[j].Line
			if a == 0 || b == 0 {
				return a != 0 && b == 0
			}
			return a < b
		})
		return nil, warnings, &Error{Problems: d.problems}
	}
	return &cfg, warnings, nil
}

func configReadError(path string, err error) error {
	msg := ""
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg = configMissing(path)
	default:
		reason := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = pe.Err
		}
		msg = fmt.Sprintf("cannot read the configuration file: %v: check the path and that the account running tfsync may read it", reason)
	}
	return &Error{Problems: []Problem{{File: path, Message: msg}}, cause: err}
}

// configMissing names the full path searched and the working directory: a scheduled task started in another folder
// ("Start in", WorkingDirectory) looks for a relative --config there.
func configMissing(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	wd, err := os.Getwd()
	if err != nil {
		wd = "unknown (" + err.Error() + ")"
	}
	return fmt.Sprintf(`the configuration file does not exist: looked for %s (working directory %s): run "tfsync init" to write a commented one, or point --config or %s at yours with its full path`,
		abs, wd, PathEnv)
}

// configSecretLine matches a line that sets a secret, e.g. `password = ...` or `graph.client_secret = ...`.
var configSecretLine = regexp.MustCompile(`^\s*(?:[A-Za-z0-9_.'"-]*\.)?\s*["']?(client_secret|certificate|password)["']?\s*=`)

// configSyntaxProblem turns a TOML parse error into a problem with its line. It uses the error's short message
// only, since the long form quotes the offending line; on a line that sets a secret even the short message, which
// can quote a character or token of the value, is replaced.
func configSyntaxProblem(path string, data []byte, err error) Problem {
	p := Problem{File: path}
	msg := err.Error()
	var de *toml.DecodeError
	if errors.As(err, &de) {
		p.Line, _ = de.Position()
		p.Key = strings.Join(de.Key(), ".")
	}
	msg = strings.TrimPrefix(msg, "toml: ")
	if lines := bytes.Split(data, []byte("\n")); p.Line > 0 && p.Line <= len(lines) {
		if m := configSecretLine.FindSubmatch(lines[p.Line-1]); m != nil {
			p.Message = fmt.Sprintf("TOML syntax error in the value of %s (not shown, it is a secret): write it in quotes, e.g. %s = \"env:NAME\"",
				m[1], m[1])
			return p
		}
	}
	hint := "check quotes, brackets and that each setting is key = value on a line of its own"
	if strings.Contains(msg, "escape") {
		hint = `in "double quotes" a backslash starts an escape: write Windows paths in 'single quotes' ('C:\TF\tf.db') or with forward slashes`
	}
	p.Message = fmt.Sprintf("TOML syntax error: %s: %s", configOneLine(msg), hint)
	return p
}

// configWarnings warns about a configuration file that others may read while it holds a secret.
func configWarnings(path string, cfg *Config) []string {
	if runtime.GOOS == "windows" {
		// Windows guards files with ACLs, which the mode bits do not show.
		return nil
	}
	var literal []string
	for _, s := range []Secret{cfg.Exchange.Graph.ClientSecret, cfg.Exchange.Graph.Certificate, cfg.Exchange.EWS.Password, cfg.Notify.Password} {
		if s.isLiteral() {
			literal = append(literal, s.label())
		}
	}
	if len(literal) == 0 {
		return nil
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm()&0o077 == 0 {
		return nil
	}
	return []string{fmt.Sprintf(
		"%s holds a secret (%s) and other users may read it (mode %04o): run chmod 600 %s, or move the secret out with env:NAME or file:PATH",
		path, strings.Join(literal, ", "), info.Mode().Perm(), path)}
}

// configPos is where a key or table is first written.
type configPos struct {
	line     int
	explicit bool // a [table] header, which beats a table implied by a dotted key
}

const configPathSep = "\x00"

func configPathKey(parts []string) string { return strings.Join(parts, configPathSep) }

func configElemKey(parts []string, i int) string {
	return configPathKey(parts) + configPathSep + "[" + strconv.Itoa(i) + "]"
}

// collectConfigPositions maps every key path, table and array element of a document to its line. The decoder
// gives values but no positions, so the document is parsed a second time with go-toml's AST parser.
func collectConfigPositions(data []byte) map[string]configPos {
	var newlines []int
	for i, c := range data {
		if c == '\n' {
			newlines = append(newlines, i)
		}
	}
	lineOf := func(r unstable.Range) int { return sort.SearchInts(newlines, int(r.Offset)) + 1 }

	pos := map[string]configPos{}
	record := func(parts []string, line int, explicit bool) {
		for i := 1; i <= len(parts); i++ {
			k := configPathKey(parts[:i])
			old, seen := pos[k]
			if !seen || (explicit && i == len(parts) && !old.explicit) {
				pos[k] = configPos{line: line, explicit: explicit && i == len(parts)}
			}
		}
	}
	keyOf := func(it unstable.Iterator, base []string) ([]string, int) {
		parts := append([]string(nil), base...)
		line := 0
		for it.Next() {
			k := it.Node()
			parts = append(parts, string(k.Data))
			if line == 0 {
				line = lineOf(k.Raw)
			}
		}
		return parts, line
	}

	var keyValue func(base []string, kv *unstable.Node)
	keyValue = func(base []string, kv *unstable.Node) {
		parts, line := keyOf(kv.Key(), base)
		record(parts, line, false)
		v := kv.Value()
		switch v.Kind {
		case unstable.InlineTable:
			for it := v.Children(); it.Next(); {
				if c := it.Node(); c.Kind == unstable.KeyValue {
					keyValue(parts, c)
				}
			}
		case unstable.Array:
			i := 0
			for it := v.Children(); it.Next(); {
				c := it.Node()
				if c.Kind == unstable.Comment {
					continue
				}
				elemLine := line
				if c.Raw.Length > 0 {
					elemLine = lineOf(c.Raw)
				}
				pos[configElemKey(parts, i)] = configPos{line: elemLine}
				i++
			}
		}
	}

	var p unstable.Parser
	p.Reset(data)
	var current []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			var line int
			current, line = keyOf(e.Key(), nil)
			record(current, line, true)
		case unstable.KeyValue:
			keyValue(current, e)
		}
	}
	return pos
}

// configDecoder checks a decoded document against the schema and fills a Config, collecting every problem.
type configDecoder struct {
	file     string
	dir      string
	pos      map[string]configPos
	problems []Problem
}

// configSection is one TOML table of the schema.
type configSection struct {
	d      *configDecoder
	path   []string
	vals   map[string]any
	keys   []string // the keys it accepts, in the order the README documents them
	broken bool     // written as something other than a table, which is already reported
}

func (d *configDecoder) add(line int, key []string, format string, args ...any) {
	d.problems = append(d.problems, Problem{
		File: d.file, Line: line, Key: strings.Join(key, "."), Message: fmt.Sprintf(format, args...),
	})
}

// line finds the line of a key path, falling back to the nearest enclosing table that is written in the file.
func (d *configDecoder) line(parts []string) int {
	for i := len(parts); i > 0; i-- {
		if p, ok := d.pos[configPathKey(parts[:i])]; ok {
			return p.line
		}
	}
	return 0
}

func (d *configDecoder) root(doc map[string]any) *configSection {
	return &configSection{d: d, vals: doc, keys: configSchema[""]}
}

// sub returns a nested table. A value of another type is reported and treated as an empty table.
func (s *configSection) sub(name string) *configSection {
	path := s.keyPath(name)
	child := &configSection{d: s.d, path: path, keys: configSchema[strings.Join(path, ".")]}
	v, ok := s.vals[name]
	if !ok {
		return child
	}
	m, ok := v.(map[string]any)
	if !ok {
		s.d.add(s.d.line(child.path), child.path, "%s must be a table (a [%s] section), not %s",
			configTableName(child.path), configDotted(child.path), configTypeName(v))
		child.broken = true
		return child
	}
	child.vals = m
	return child
}

func (s *configSection) keyPath(key string) []string {
	return append(append([]string(nil), s.path...), key)
}

// name is how messages show a key: "[sync] show_as", or just the key at the top level.
func (s *configSection) name(key string) string {
	if len(s.path) == 0 {
		return configBareKey(key)
	}
	return configTableName(s.path) + " " + configBareKey(key)
}

func (s *configSection) has(key string) bool {
	_, ok := s.vals[key]
	return ok
}

func (s *configSection) line(key string) int { return s.d.line(s.keyPath(key)) }

func (s *configSection) problem(key string, format string, args ...any) {
	s.d.add(s.line(key), s.keyPath(key), format, args...)
}

func (s *configSection) elemProblem(key string, i int, format string, args ...any) {
	line := s.line(key)
	if p, ok := s.d.pos[configElemKey(s.keyPath(key), i)]; ok {
		line = p.line
	}
	s.d.add(line, s.keyPath(key), format, args...)
}

// missing reports a required key that is absent.
func (s *configSection) missing(key, fix string) {
	if s.broken {
		return
	}
	s.problem(key, "%s is missing: %s", s.name(key), fix)
}

// unknown reports keys the section does not accept, with a guess at what was meant.
func (s *configSection) unknown() {
	names := make([]string, 0, len(s.vals))
	for k := range s.vals {
		if !configContains(s.keys, k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		_, isTable := s.vals[k].(map[string]any)
		what := s.name(k) + " is not a known key"
		if isTable {
			what = configTableName(s.keyPath(k)) + " is not a known section"
		}
		if guess := configSuggest(k, s.keys); guess != "" {
			if _, sub := configSchema[strings.Join(s.keyPath(guess), ".")]; sub {
				guess = configTableName(s.keyPath(guess))
			}
			s.problem(k, "%s: did you mean %s?", what, guess)
			continue
		}
		if homes := configKeyHomes(k, strings.Join(s.path, ".")); len(homes) > 0 && !isTable {
			s.problem(k, "%s here: it belongs under %s", what, strings.Join(homes, " or "))
			continue
		}
		where := "the sections are [" + strings.Join(s.keys, "], [") + "]"
		if len(s.path) > 0 {
			where = configTableName(s.path) + " knows " + strings.Join(s.keys, ", ")
		}
		s.problem(k, "%s: remove it (%s)", what, where)
	}
}

// configKeyHomes names the other tables that accept a key, for a setting written in the wrong place.
func configKeyHomes(key, except string) []string {
	var homes []string
	for table, keys := range configSchema {
		if table != "" && table != except && configContains(keys, key) {
			if _, sub := configSchema[table+"."+key]; !sub {
				homes = append(homes, "["+table+"]")
			}
		}
	}
	sort.Strings(homes)
	return homes
}

func (s *configSection) str(key string) (string, bool) {
	v, ok := s.vals[key]
	if !ok {
		return "", false
	}
	str, ok := v.(string)
	if !ok {
		s.problem(key, "%s = %s must be text in quotes, not %s", s.name(key), configShow(v), configTypeName(v))
		return "", false
	}
	return str, true
}

// required reads a string that must be set when need is true. A missing or empty value is reported with fix; a
// value of the wrong type is reported once, by str.
func (s *configSection) required(key string, need bool, fix string) (string, bool) {
	v, ok := s.str(key)
	v = strings.TrimSpace(v)
	if v != "" {
		return v, true
	}
	if need && (ok || !s.has(key)) {
		s.missing(key, fix)
	}
	return "", false
}

// setDate reads a date, written bare (2027-06-30) or in quotes ("2027-06-30"), as midnight at its start in zone.
func (s *configSection) setDate(key string, dst *time.Time, zone *time.Location) {
	v, ok := s.vals[key]
	if !ok {
		return
	}
	var text string
	switch x := v.(type) {
	case toml.LocalDate:
		text = x.String()
	case string:
		text = strings.TrimSpace(x)
	}
	d, err := time.ParseInLocation("2006-01-02", text, zone)
	if err != nil {
		s.problem(key, "%s = %s is not a date: write it as YYYY-MM-DD, e.g. %s = 2027-06-30 (the Expires date on the app's Certificates & secrets page)",
			s.name(key), configShow(v), configBareKey(key))
		return
	}
	*dst = d
}

// setString reads an optional string that needs no further checks.
func (s *configSection) setString(key string, dst *string) {
	if v, ok := s.str(key); ok {
		*dst = strings.TrimSpace(v)
	}
}

func (s *configSection) setBool(key string, dst *bool) {
	v, ok := s.vals[key]
	if !ok {
		return
	}
	b, ok := v.(bool)
	if !ok {
		s.problem(key, "%s = %s must be true or false (without quotes)", s.name(key), configShow(v))
		return
	}
	*dst = b
}

// setInt reads a whole number in [lo, hi].
func (s *configSection) setInt(key string, dst *int, lo, hi int64) {
	v, ok := s.vals[key]
	if !ok {
		return
	}
	n, ok := v.(int64)
	if !ok {
		s.problem(key, "%s = %s must be a whole number (without quotes), e.g. %s = %d", s.name(key), configShow(v), configBareKey(key), *dst)
		return
	}
	if n < lo || n > hi {
		rng := fmt.Sprintf("use %d to %d", lo, hi)
		if hi == math.MaxInt32 {
			rng = fmt.Sprintf("use %d or more", lo)
		}
		s.problem(key, "%s = %d is out of range: %s", s.name(key), n, rng)
		return
	}
	*dst = int(n)
}

// setWord reads one of a fixed set of words.
func (s *configSection) setWord(key string, dst *string, allowed []string) bool {
	v, ok := s.str(key)
	if !ok {
		return false
	}
	if !configContains(allowed, v) {
		s.problem(key, "%s = %s is not valid: use one of %s", s.name(key), strconv.Quote(v), strings.Join(allowed, ", "))
		return false
	}
	*dst = v
	return true
}

// setDuration reads a Go duration such as "60m" in [lo, hi] (hi 0: no upper bound).
func (s *configSection) setDuration(key string, dst *time.Duration, lo, hi time.Duration, example string) {
	v, ok := s.vals[key]
	if !ok {
		return
	}
	str, ok := v.(string)
	if !ok {
		s.problem(key, "%s = %s must be a duration in quotes, e.g. %s = %q", s.name(key), configShow(v), configBareKey(key), example)
		return
	}
	d, err := time.ParseDuration(strings.TrimSpace(str))
	if err != nil {
		s.problem(key, "%s = %s is not a duration: write it like %q, %q or %q (units h, m, s; no days)",
			s.name(key), strconv.Quote(str), example, "90m", "1h30m")
		return
	}
	if d < lo || (hi > 0 && d > hi) {
		rng := "a duration of at least " + configFormatDuration(lo)
		if hi > 0 {
			rng = "a duration between " + configFormatDuration(lo) + " and " + configFormatDuration(hi)
		}
		s.problem(key, "%s = %s is out of range: use %s", s.name(key), strconv.Quote(str), rng)
		return
	}
	*dst = d
}

// list reads an array of strings. It reports a non-list and elements of other types, and returns the strings with
// their indexes. ok is false when the key is absent or not a list.
func (s *configSection) list(key string) (vals []string, idx []int, ok bool) {
	v, present := s.vals[key]
	if !present {
		return nil, nil, false
	}
	arr, isList := v.([]any)
	if !isList {
		example := `["a", "b"]`
		if str, isStr := v.(string); isStr {
			example = "[" + strconv.Quote(configOneLine(str)) + "]"
		}
		s.problem(key, "%s must be a list in brackets, e.g. %s = %s", s.name(key), configBareKey(key), example)
		return nil, nil, false
	}
	vals, idx = []string{}, []int{}
	for i, e := range arr {
		str, isStr := e.(string)
		if !isStr {
			s.elemProblem(key, i, "%s: element %d = %s must be text in quotes", s.name(key), i+1, configShow(e))
			continue
		}
		vals = append(vals, strings.TrimSpace(str))
		idx = append(idx, i)
	}
	return vals, idx, true
}

// setSecret reads an env:NAME, file:PATH or literal secret. Messages never quote the value. It returns false when
// it reported a problem; an absent or empty secret is left unset and is not a problem here.
func (s *configSection) setSecret(key string, dst *Secret) bool {
	v, ok := s.vals[key]
	if !ok {
		return true
	}
	ref, ok := v.(string)
	if !ok {
		s.problem(key, "%s must be text in quotes (not %s): write env:NAME, file:PATH or the secret itself", s.name(key), configTypeName(v))
		return false
	}
	if ref == "" {
		return true
	}
	lower := strings.ToLower(ref)
	switch {
	case strings.HasPrefix(ref, secretEnvPrefix):
		name := strings.TrimPrefix(ref, secretEnvPrefix)
		if name == "" || strings.ContainsAny(name, "= \t\r\n\x00") {
			s.problem(key, "%s = %q does not name an environment variable: write env:NAME, e.g. env:TFSYNC_SECRET", s.name(key), configOneLine(ref))
			return false
		}
	case strings.HasPrefix(ref, secretFilePrefix):
		p := strings.TrimPrefix(ref, secretFilePrefix)
		if strings.TrimSpace(p) == "" || strings.ContainsRune(p, 0) {
			s.problem(key, "%s = %q does not name a file: write file:PATH, e.g. file:secret.txt beside the config", s.name(key), configOneLine(ref))
			return false
		}
	case strings.HasPrefix(lower, secretEnvPrefix) || strings.HasPrefix(lower, secretFilePrefix):
		s.problem(key, "%s: write env: and file: in lower case; as written the setting would be taken as the secret itself", s.name(key))
		return false
	}
	sec := Secret{Ref: ref, key: s.name(key), dir: s.d.dir, kind: key}
	if sec.isLiteral() {
		if msg := sec.literalProblem(); msg != "" {
			s.problem(key, "%s", msg)
			return false
		}
	}
	*dst = sec
	return true
}

// setURL reads an https URL (http only for a loopback host). suffix, if set, is the path ending it must have.
func (s *configSection) setURL(key string, dst *string, example, suffix string) bool {
	raw, ok := s.str(key)
	if !ok {
		return false
	}
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		s.problem(key, "%s is not a URL: write it like %s", s.name(key), example)
		return false
	}
	if u.User != nil {
		s.problem(key, "%s must not hold a user name or password: put them in their own settings", s.name(key))
		return false
	}
	if u.Scheme == "http" && !configLoopbackHost(u.Hostname()) {
		s.problem(key, "%s = %q must use https: http is accepted only for a loopback host (127.0.0.1, ::1, localhost), e.g. %s",
			s.name(key), raw, example)
		return false
	}
	if suffix != "" && !strings.HasSuffix(strings.ToLower(u.Path), suffix) {
		s.problem(key, "%s = %q must point at the EWS endpoint, ending in %s: e.g. %s", s.name(key), raw, suffix, example)
		return false
	}
	*dst = raw
	return true
}

func configLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// decode fills cfg from the document, section by section.
func (d *configDecoder) decode(doc map[string]any, cfg *Config) {
	root := d.root(doc)
	root.unknown()

	t := root.sub("tf")
	if db, ok := t.required("database", true, `add database = "tf.db" under [tf]: the SQLite file with TF's integration schema`); ok {
		cfg.TF.Database = resolveConfigPath(d.dir, db)
	}
	if zone, ok := t.str("time_zone"); ok {
		loc, err := time.LoadLocation(zone)
		if err != nil || zone == "" || zone == "Local" {
			t.problem("time_zone", "%s = %q is not a known time zone: use an IANA name such as \"Europe/Stockholm\"", t.name("time_zone"), configOneLine(zone))
		} else {
			cfg.TF.TimeZone, cfg.TF.ZoneName = loc, zone
		}
	}
	t.unknown()

	st := root.sub("state")
	if p, ok := st.str("path"); ok {
		if strings.TrimSpace(p) == "" {
			st.problem("path", `%s is empty: remove it to use "tfsync-state.db" beside the config, or name a file`, st.name("path"))
		} else {
			cfg.State.Path = strings.TrimSpace(p)
		}
	}
	cfg.State.Path = resolveConfigPath(d.dir, cfg.State.Path)
	if cfg.TF.Database != "" && sameFile(cfg.State.Path, cfg.TF.Database) {
		st.problem("path", "%s names the TF database, the same file as [tf] database (%s): tfsync's state store must be a "+
			"file of its own (a pass would switch TF's database to WAL and add its tables there): set [state] path to "+
			"e.g. \"tfsync-state.db\", or remove it to use that name beside the config", st.name("path"), cfg.TF.Database)
	}
	st.unknown()

	d.decodeExchange(root, cfg)
	d.decodeSync(root, cfg)
	d.decodeNotify(root, cfg)
	d.decodeLog(root, cfg)
}

func (d *configDecoder) decodeExchange(root *configSection, cfg *Config) {
	ex := root.sub("exchange")
	if !ex.setWord("mode", &cfg.Exchange.Mode, configModes) && !ex.has("mode") {
		ex.missing("mode", `add mode = "graph" (Office 365) or mode = "ews" (on-premises Exchange) under [exchange]`)
	}
	mode := cfg.Exchange.Mode
	if p, ok := ex.str("ca_file"); ok {
		if strings.TrimSpace(p) == "" {
			ex.problem("ca_file", "%s is empty: remove it to trust only the system's certificate store, or name a PEM file", ex.name("ca_file"))
		} else {
			cfg.Exchange.CAFile = resolveConfigPath(d.dir, strings.TrimSpace(p))
		}
	}
	ex.unknown()

	g := ex.sub("graph")
	gc := &cfg.Exchange.Graph
	graph := mode == "graph"
	if v, ok := g.required("tenant_id", graph, "add the Directory (tenant) ID from the app's Overview page in Entra ID"); ok {
		if IsPlaceholderID(v) {
			g.problem("tenant_id", "%s is still the placeholder %s written by tfsync init: replace the placeholder with the Directory (tenant) ID from the app's Overview page in Entra ID",
				g.name("tenant_id"), PlaceholderGUID)
		} else if configTenantIDPattern.MatchString(v) {
			gc.TenantID = v
		} else {
			g.problem("tenant_id", "%s = %q is not valid: use the Directory (tenant) ID from the app's Overview page in Entra ID, or the tenant's domain such as contoso.onmicrosoft.com",
				g.name("tenant_id"), configOneLine(v))
		}
	}
	if v, ok := g.required("client_id", graph, "add the Application (client) ID from the app's Overview page in Entra ID"); ok {
		if IsPlaceholderID(v) {
			g.problem("client_id", "%s is still the placeholder %s written by tfsync init: replace the placeholder with the Application (client) ID from the app's Overview page in Entra ID",
				g.name("client_id"), PlaceholderGUID)
		} else if configGUIDPattern.MatchString(v) {
			gc.ClientID = v
		} else {
			g.problem("client_id", "%s = %q is not a GUID: use the Application (client) ID from the app's Overview page in Entra ID",
				g.name("client_id"), configOneLine(v))
		}
	}
	secretOK := g.setSecret("client_secret", &gc.ClientSecret)
	certOK := g.setSecret("certificate", &gc.Certificate)
	switch {
	case gc.ClientSecret.IsSet() && gc.Certificate.IsSet():
		later := "certificate"
		if g.line("client_secret") > g.line("certificate") {
			later = "client_secret"
		}
		g.problem(later, "%s and %s are both set: keep exactly one (the app signs in with either a client secret or a certificate)",
			g.name("client_secret"), g.name("certificate"))
	case graph && secretOK && certOK && !gc.ClientSecret.IsSet() && !gc.Certificate.IsSet():
		g.problem("client_secret", `%s is missing: add client_secret = "env:TFSYNC_CLIENT_SECRET" or certificate = "file:cert.pem", made on the app's Certificates & secrets page in Entra ID`,
			g.name("client_secret"))
	}
	g.setDate("client_secret_expires", &gc.ClientSecretExpires, cfg.TF.TimeZone)
	g.setURL("authority_host", &gc.AuthorityHost, "https://login.microsoftonline.com/", "")
	g.setURL("graph_url", &gc.GraphURL, "https://graph.microsoft.com", "")
	g.unknown()

	e := ex.sub("ews")
	ec := &cfg.Exchange.EWS
	ews := mode == "ews"
	if e.has("url") {
		e.setURL("url", &ec.URL, "https://mail.example.com/EWS/Exchange.asmx", ".asmx")
	} else if ews {
		e.missing("url", `add url = "https://mail.example.com/EWS/Exchange.asmx" (your Exchange server's EWS endpoint)`)
	}
	ec.Username, _ = e.required("username", ews, `add the service account, e.g. username = 'EXAMPLE\svc-tf' or "svc-tf@example.com"`)
	if e.setSecret("password", &ec.Password) && ews && !ec.Password.IsSet() {
		e.missing("password", `add the service account's password, e.g. password = "env:TFSYNC_EWS_PASSWORD"`)
	}
	e.setWord("auth", &ec.Auth, configEWSAuths)
	e.setWord("access", &ec.Access, configEWSAccesses)
	e.unknown()
}

func (d *configDecoder) decodeSync(root *configSection, cfg *Config) {
	s := root.sub("sync")
	sc := &cfg.Sync

	if kinds, idx, ok := s.list("kinds"); ok {
		allowed := configKindNames()
		var good []string
		for n, k := range kinds {
			switch {
			case !configContains(allowed, k):
				s.elemProblem("kinds", idx[n], "%s: %q is not a kind: use some of %s", s.name("kinds"), configOneLine(k), strings.Join(allowed, ", "))
			case configContains(good, k):
				s.elemProblem("kinds", idx[n], "%s: %q is listed twice: remove one", s.name("kinds"), k)
			default:
				good = append(good, k)
			}
		}
		if len(s.vals["kinds"].([]any)) == 0 {
			s.problem("kinds", "%s is empty: list at least one of %s, or remove the key to sync all of them", s.name("kinds"), strings.Join(allowed, ", "))
		} else if len(good) > 0 {
			sc.Kinds = good
		}
	}

	s.setDuration("default_length", &sc.DefaultLength, 5*time.Minute, 24*time.Hour, "60m")
	s.setWord("show_as", &sc.ShowAs, configShowAsValues)
	s.setInt("reminder_minutes", &sc.ReminderMinutes, -1, 40320)
	s.setBool("hide_headings", &sc.HideHeadings)
	s.setBool("include_location", &sc.IncludeLocation)
	s.setBool("technician_note", &sc.TechnicianNote)

	const domainsFix = `add allowed_domains = ["example.com"] under [sync]: the e-mail domains of the mailboxes tfsync may write to`
	domains, idx, ok := s.list("allowed_domains")
	switch {
	case !ok && !s.has("allowed_domains"):
		s.missing("allowed_domains", domainsFix)
	case ok && len(s.vals["allowed_domains"].([]any)) == 0:
		s.problem("allowed_domains", `%s is empty: list the e-mail domains of the mailboxes tfsync may write to, e.g. ["example.com"]`, s.name("allowed_domains"))
	}
	for n, raw := range domains {
		dom, why := NormalizeDomain(raw)
		if why != "" {
			s.elemProblem("allowed_domains", idx[n], "%s: %q is not a domain: %s; write a bare domain like \"example.com\"",
				s.name("allowed_domains"), configOneLine(raw), why)
			continue
		}
		if !configContains(sc.AllowedDomains, dom) {
			sc.AllowedDomains = append(sc.AllowedDomains, dom)
		}
	}

	s.setInt("past_days", &sc.PastDays, 0, 365)
	s.setInt("future_days", &sc.FutureDays, 1, 730)
	s.setWord("conflict", &sc.Conflict, configConflicts)
	s.setWord("on_calendar_delete", &sc.OnCalendarDelete, configOnDeletes)
	s.setInt("max_delete_percent", &sc.MaxDeletePercent, 0, 100)
	s.setInt("max_delete_floor", &sc.MaxDeleteFloor, 0, math.MaxInt32)
	s.setInt("concurrency", &sc.Concurrency, 1, 64)
	s.unknown()
}

func (d *configDecoder) decodeNotify(root *configSection, cfg *Config) {
	n := root.sub("notify")
	nc := &cfg.Notify

	to, idx, _ := n.list("email_to")
	for i, addr := range to {
		if _, err := mail.ParseAddress(addr); err != nil {
			n.elemProblem("email_to", idx[i], "%s: %q is not an e-mail address: write it like \"drift@example.com\"", n.name("email_to"), configOneLine(addr))
			continue
		}
		nc.EmailTo = append(nc.EmailTo, addr)
	}
	mailing := len(to) > 0

	if v, ok := n.required("smtp", mailing, `email_to is set, so add the mail server as smtp = "smtp.example.com:587"`); ok {
		host, port, err := net.SplitHostPort(v)
		p, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			n.problem("smtp", "%s = %q is not host:port: write it like \"smtp.example.com:587\"", n.name("smtp"), configOneLine(v))
		} else {
			nc.SMTP = v
		}
	}
	if v, ok := n.required("from", mailing, `email_to is set, so add the sender as from = "tfsync@example.com"`); ok {
		if _, err := mail.ParseAddress(v); err != nil {
			n.problem("from", "%s = %q is not an e-mail address: write it like \"tfsync@example.com\"", n.name("from"), configOneLine(v))
		} else {
			nc.From = v
		}
	}
	n.setString("username", &nc.Username)
	n.setSecret("password", &nc.Password)
	n.setWord("starttls", &nc.StartTLS, configStartTLSValues)
	n.setDuration("repeat_after", &nc.RepeatAfter, time.Minute, 0, "6h")
	n.unknown()
}

// NormalizeDomain normalises an allowed domain, or says what is wrong with it.
func NormalizeDomain(raw string) (string, string) {
	dom := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(raw), "@"))
	switch {
	case dom == "":
		return "", "it is empty"
	case strings.ContainsAny(dom, " \t\r\n"):
		return "", "it holds a space"
	case strings.Contains(dom, "@"):
		return "", "it is an address, not a domain"
	case strings.ContainsAny(dom, "/:*?#[]\\"):
		return "", "it holds characters a domain cannot"
	case !strings.Contains(dom, "."):
		return "", "it has no dot"
	}
	for _, label := range strings.Split(dom, ".") {
		if label == "" || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return "", "a part between dots is empty or starts or ends with -"
		}
	}
	return dom, ""
}

func configContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// configSuggest returns the known key closest to a misspelt one, or "" if none is close.
func configSuggest(word string, options []string) string {
	best, bestDist := "", 3
	for _, o := range options {
		if strings.EqualFold(o, word) {
			return o
		}
		if d := configEditDistance(strings.ToLower(word), o); d < bestDist && d <= len(o)/3+1 {
			best, bestDist = o, d
		}
	}
	return best
}

func configEditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt32
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var configBareKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// configBareKey quotes a key the way TOML would need it, which also keeps odd keys on one line.
func configBareKey(k string) string {
	if configBareKeyPattern.MatchString(k) {
		return k
	}
	return strconv.Quote(k)
}

func configDotted(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = configBareKey(p)
	}
	return strings.Join(parts, ".")
}

func configTableName(path []string) string { return "[" + configDotted(path) + "]" }

func configTypeName(v any) string {
	switch v.(type) {
	case string:
		return "text"
	case int64:
		return "a whole number"
	case float64:
		return "a decimal number"
	case bool:
		return "true/false"
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	default:
		return "a date or time"
	}
}

// configShow renders a (non-secret) value as TOML would, on one line.
func configShow(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(configOneLine(x))
	case []any:
		return "[...]"
	case map[string]any:
		return "{...}"
	default:
		return configOneLine(fmt.Sprint(x))
	}
}

// configOneLine keeps a quoted value from breaking the one-problem-per-line layout, and long values short.
func configOneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 80 {
		s = string(r[:77]) + "..."
	}
	return s
}

// configFormatDuration writes 5m and 24h rather than Go's 5m0s and 24h0m0s.
func configFormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
