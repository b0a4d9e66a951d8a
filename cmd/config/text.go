package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

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

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// suggest returns the known key closest to a misspelt one, or "" if none is close.
func suggest(word string, options []string) string {
	best, bestDist := "", 3
	for _, o := range options {
		if strings.EqualFold(o, word) {
			return o
		}
		if d := editDistance(strings.ToLower(word), o); d < bestDist && d <= len(o)/3+1 {
			best, bestDist = o, d
		}
	}
	return best
}

func editDistance(a, b string) int {
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

var bareKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// bareKey quotes a key the way TOML would need it, which also keeps odd keys on one line.
func bareKey(k string) string {
	if bareKeyPattern.MatchString(k) {
		return k
	}
	return strconv.Quote(k)
}

func dotted(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = bareKey(p)
	}
	return strings.Join(parts, ".")
}

func tableName(path []string) string { return "[" + dotted(path) + "]" }

func typeName(v any) string {
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

// showValue renders a (non-secret) value as TOML would, on one line.
func showValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(oneLine(x))
	case []any:
		return "[...]"
	case map[string]any:
		return "{...}"
	default:
		return oneLine(fmt.Sprint(x))
	}
}

// oneLine keeps a quoted value from breaking the one-problem-per-line layout, and long values short.
func oneLine(s string) string {
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

// formatDuration writes 5m and 24h rather than Go's 5m0s and 24h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
