package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
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

var (
	configTenantIDPattern = regexp.MustCompile(`^[0-9a-zA-Z.-]+$`)
	configGUIDPattern     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// Default returns a Config with every optional setting at its declared default. The required ones (TF database,
// exchange mode and credentials, allowed domains) are left empty.
func Default() Config {
	var c Config
	for _, k := range Keys {
		if k.Default != nil {
			setDefault(k, k.field(&c))
		}
	}
	zone, err := time.LoadLocation(c.TF.ZoneName)
	if err != nil {
		// time/tzdata is linked in, so this cannot happen short of a broken build.
		panic(fmt.Sprintf("load embedded zone %s: %v", c.TF.ZoneName, err))
	}
	c.TF.TimeZone = zone
	return c
}

// setDefault stores k's declared default in the field dst points at. A default that does not fit its field is a
// programming error, which TestDefaultConfig meets first.
func setDefault(k *Key, dst any) {
	switch p := dst.(type) {
	case *string:
		*p = k.Default.(string)
	case *int:
		*p = k.Default.(int)
	case *bool:
		*p = k.Default.(bool)
	case *[]string:
		*p = append([]string(nil), k.Default.([]string)...)
	case *time.Duration:
		d, err := time.ParseDuration(k.Default.(string))
		if err != nil {
			panic(fmt.Sprintf("config: default of %s.%s: %v", k.Table, k.Name, err))
		}
		*p = d
	default:
		panic(fmt.Sprintf("config: %s.%s has a default but its field is %T", k.Table, k.Name, dst))
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

	d := &decoder{file: path, dir: filepath.Dir(abs), pos: collectConfigPositions(data), failed: map[string]bool{}}
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
	for _, s := range cfg.Secrets() {
		if s.Secret.isLiteral() {
			literal = append(literal, s.Key)
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

// decoder checks a decoded document against the schema and fills a Config, collecting every problem.
type decoder struct {
	file     string
	dir      string
	pos      map[string]configPos
	problems []Problem
	failed   map[string]bool // dotted keys that drew a problem
	mailing  bool            // [notify] email_to lists an address (valid or not), so smtp and from are needed
}

// needs reports whether k must be set, given what is decoded so far.
func (s *section) needs(k *Key, cfg *Config) bool {
	if k.Need == WhenMailing {
		return s.d.mailing
	}
	return k.Need.applies(cfg)
}

// failedKey reports whether a key of this table drew a problem.
func (s *section) failedKey(key string) bool { return s.d.failed[strings.Join(s.keyPath(key), ".")] }

// section is one TOML table of the schema.
type section struct {
	d      *decoder
	path   []string
	vals   map[string]any
	keys   []string // the keys it accepts, in the order the README documents them
	broken bool     // written as something other than a table, which is already reported
}

func (d *decoder) add(line int, key []string, format string, args ...any) {
	d.problems = append(d.problems, Problem{
		File: d.file, Line: line, Key: strings.Join(key, "."), Message: fmt.Sprintf(format, args...),
	})
	d.failed[strings.Join(key, ".")] = true
}

// line finds the line of a key path, falling back to the nearest enclosing table that is written in the file.
func (d *decoder) line(parts []string) int {
	for i := len(parts); i > 0; i-- {
		if p, ok := d.pos[configPathKey(parts[:i])]; ok {
			return p.line
		}
	}
	return 0
}

func (d *decoder) root(doc map[string]any) *section {
	return &section{d: d, vals: doc, keys: schema[""]}
}

// sub returns a nested table. A value of another type is reported and treated as an empty table.
func (s *section) sub(name string) *section {
	path := s.keyPath(name)
	child := &section{d: s.d, path: path, keys: schema[strings.Join(path, ".")]}
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

func (s *section) keyPath(key string) []string {
	return append(append([]string(nil), s.path...), key)
}

// name is how messages show a key: "[sync] show_as", or just the key at the top level.
func (s *section) name(key string) string {
	if len(s.path) == 0 {
		return configBareKey(key)
	}
	return configTableName(s.path) + " " + configBareKey(key)
}

func (s *section) has(key string) bool {
	_, ok := s.vals[key]
	return ok
}

func (s *section) line(key string) int { return s.d.line(s.keyPath(key)) }

func (s *section) problem(key string, format string, args ...any) {
	s.d.add(s.line(key), s.keyPath(key), format, args...)
}

func (s *section) elemProblem(key string, i int, format string, args ...any) {
	line := s.line(key)
	if p, ok := s.d.pos[configElemKey(s.keyPath(key), i)]; ok {
		line = p.line
	}
	s.d.add(line, s.keyPath(key), format, args...)
}

// missing reports a required key that is absent.
func (s *section) missing(key, fix string) {
	if s.broken {
		return
	}
	s.problem(key, "%s is missing: %s", s.name(key), fix)
}

// unknown reports keys the section does not accept, with a guess at what was meant.
func (s *section) unknown() {
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
			if _, sub := schema[strings.Join(s.keyPath(guess), ".")]; sub {
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
	for table, keys := range schema {
		if table != "" && table != except && configContains(keys, key) {
			if _, sub := schema[table+"."+key]; !sub {
				homes = append(homes, "["+table+"]")
			}
		}
	}
	sort.Strings(homes)
	return homes
}

func (s *section) str(key string) (string, bool) {
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
func (s *section) required(key string, need bool, fix string) (string, bool) {
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
func (s *section) setDate(key string, dst *time.Time, zone *time.Location) {
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
func (s *section) setString(key string, dst *string) {
	if v, ok := s.str(key); ok {
		*dst = strings.TrimSpace(v)
	}
}

func (s *section) setBool(key string, dst *bool) {
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
func (s *section) setInt(key string, dst *int, lo, hi int64) {
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
func (s *section) setWord(key string, dst *string, allowed []string) bool {
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
func (s *section) setDuration(key string, dst *time.Duration, lo, hi time.Duration, example string) {
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
func (s *section) list(key string) (vals []string, idx []int, ok bool) {
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
func (s *section) setSecret(key string, dst *Secret) bool {
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
func (s *section) setURL(key string, dst *string, example, suffix string) bool {
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
