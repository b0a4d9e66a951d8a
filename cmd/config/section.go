package config

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"tfsync/exchange"
)

// decoder checks a decoded document against the schema and fills a Config, collecting every problem.
type decoder struct {
	file     string
	dir      string
	pos      map[string]position
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
		if p, ok := d.pos[pathKey(parts[:i])]; ok {
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
			tableName(child.path), dotted(child.path), typeName(v))
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
		return bareKey(key)
	}
	return tableName(s.path) + " " + bareKey(key)
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
	if p, ok := s.d.pos[elemKey(s.keyPath(key), i)]; ok {
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
		if !contains(s.keys, k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		_, isTable := s.vals[k].(map[string]any)
		what := s.name(k) + " is not a known key"
		if isTable {
			what = tableName(s.keyPath(k)) + " is not a known section"
		}
		if guess := suggest(k, s.keys); guess != "" {
			if _, sub := schema[strings.Join(s.keyPath(guess), ".")]; sub {
				guess = tableName(s.keyPath(guess))
			}
			s.problem(k, "%s: did you mean %s?", what, guess)
			continue
		}
		if homes := keyHomes(k, strings.Join(s.path, ".")); len(homes) > 0 && !isTable {
			s.problem(k, "%s here: it belongs under %s", what, strings.Join(homes, " or "))
			continue
		}
		where := "the sections are [" + strings.Join(s.keys, "], [") + "]"
		if len(s.path) > 0 {
			where = tableName(s.path) + " knows " + strings.Join(s.keys, ", ")
		}
		s.problem(k, "%s: remove it (%s)", what, where)
	}
}

// keyHomes names the other tables that accept a key, for a setting written in the wrong place.
func keyHomes(key, except string) []string {
	var homes []string
	for table, keys := range schema {
		if table != "" && table != except && contains(keys, key) {
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
		s.problem(key, "%s = %s must be text in quotes, not %s", s.name(key), showValue(v), typeName(v))
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
			s.name(key), showValue(v), bareKey(key))
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
		s.problem(key, "%s = %s must be true or false (without quotes)", s.name(key), showValue(v))
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
		s.problem(key, "%s = %s must be a whole number (without quotes), e.g. %s = %d", s.name(key), showValue(v), bareKey(key), *dst)
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
	if !contains(allowed, v) {
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
		s.problem(key, "%s = %s must be a duration in quotes, e.g. %s = %q", s.name(key), showValue(v), bareKey(key), example)
		return
	}
	d, err := time.ParseDuration(strings.TrimSpace(str))
	if err != nil {
		s.problem(key, "%s = %s is not a duration: write it like %q, %q or %q (units h, m, s; no days)",
			s.name(key), strconv.Quote(str), example, "90m", "1h30m")
		return
	}
	if d < lo || (hi > 0 && d > hi) {
		rng := "a duration of at least " + formatDuration(lo)
		if hi > 0 {
			rng = "a duration between " + formatDuration(lo) + " and " + formatDuration(hi)
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
			example = "[" + strconv.Quote(oneLine(str)) + "]"
		}
		s.problem(key, "%s must be a list in brackets, e.g. %s = %s", s.name(key), bareKey(key), example)
		return nil, nil, false
	}
	vals, idx = []string{}, []int{}
	for i, e := range arr {
		str, isStr := e.(string)
		if !isStr {
			s.elemProblem(key, i, "%s: element %d = %s must be text in quotes", s.name(key), i+1, showValue(e))
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
		s.problem(key, "%s must be text in quotes (not %s): write env:NAME, file:PATH or the secret itself", s.name(key), typeName(v))
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
			s.problem(key, "%s = %q does not name an environment variable: write env:NAME, e.g. env:TFSYNC_SECRET", s.name(key), oneLine(ref))
			return false
		}
	case strings.HasPrefix(ref, secretFilePrefix):
		p := strings.TrimPrefix(ref, secretFilePrefix)
		if strings.TrimSpace(p) == "" || strings.ContainsRune(p, 0) {
			s.problem(key, "%s = %q does not name a file: write file:PATH, e.g. file:secret.txt beside the config", s.name(key), oneLine(ref))
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
	// exchange.CheckURL is the one rule; the messages add the setting, an example and the fix.
	_, err := exchange.CheckURL(raw, suffix)
	switch {
	case err == nil:
		*dst = raw
		return true
	case errors.Is(err, exchange.ErrURLUserInfo):
		s.problem(key, "%s must not hold a user name or password: put them in their own settings", s.name(key))
	case errors.Is(err, exchange.ErrPlainHTTP):
		s.problem(key, "%s = %q must use https: http is accepted only for a loopback host (127.0.0.1, ::1, localhost), e.g. %s",
			s.name(key), raw, example)
	case errors.Is(err, exchange.ErrURLPath):
		s.problem(key, "%s = %q must point at the EWS endpoint, ending in %s: e.g. %s", s.name(key), raw, suffix, example)
	default:
		s.problem(key, "%s is not a URL: write it like %s", s.name(key), example)
	}
	return false
}
