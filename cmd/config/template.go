package config

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// InitValues are what tfsync init was told; the rest of the file it writes comes from the key declarations.
type InitValues struct {
	Mode           string
	TFDatabase     string
	TenantID       string
	ClientID       string
	ClientSecret   string // a secret reference: env:NAME or file:PATH
	SecretExpires  string // YYYY-MM-DD, or "" to write client_secret_expires commented out
	AuthorityHost  string
	GraphURL       string
	EWSURL         string
	EWSUser        string
	EWSPassword    string
	AllowedDomains []string
}

// PlaceholderGUID is what tfsync init writes for a tenant or client id it was not given.
const PlaceholderGUID = "00000000-0000-0000-0000-000000000000"

// IsPlaceholderID reports whether a tenant or client id is the all-zero placeholder tfsync init writes.
func IsPlaceholderID(v string) bool { return strings.HasPrefix(v, "00000000-") }

// templateHeader opens the file tfsync init writes.
const templateHeader = `# tfsync configuration, written by 'tfsync init'. Check it with 'tfsync test-connection'.
# Relative paths are resolved against this file's folder. Secrets are env:NAME, file:PATH or a literal value;
# prefer env: or file:, and keep this file readable only by the account that runs tfsync.
`

// templateCommentColumn is where the comments after values start, so they line up.
const templateCommentColumn = 35

// WriteTemplate writes the commented tfsync.toml that tfsync init writes: the tables in initTableOrder (those of
// the other [exchange] mode left out), each with the keys whose declaration has an InitLine.
func WriteTemplate(w io.Writer, v InitValues) error {
	var b strings.Builder
	b.WriteString(templateHeader)
	for _, name := range initTableOrder {
		t := table(name)
		if t.Mode != "" && t.Mode != v.Mode {
			continue
		}
		b.WriteString("\n")
		if t.Commented {
			b.WriteString("# ")
		}
		b.WriteString("[" + t.Name + "]\n")
		if t.Above != "" {
			b.WriteString(t.Above + "\n")
		}
		for _, k := range tableKeys(name) {
			if k.Init != nil {
				b.WriteString(k.templateLine(v))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// templateLine is how init writes k: set to init's value or the default, or commented out with an example.
func (k *Key) templateLine(v InitValues) string {
	in := k.Init
	line := ""
	switch {
	case in.Commented:
		line = "# " + k.Name + " = " + in.Example
	case in.Value != nil && in.Value(v) == "":
		line = "# " + k.Name + " = " + in.Example
	case in.Value != nil:
		line = k.Name + " = " + in.Value(v)
	default:
		line = k.Name + " = " + tomlValue(k.Default)
	}
	if in.Comment != "" {
		pad := max(templateCommentColumn-utf8.RuneCountInString(line), 3)
		line += strings.Repeat(" ", pad) + "# " + in.Comment
	}
	if in.Above != "" {
		line = in.Above + "\n" + line
	}
	return line + "\n"
}

// tomlValue writes a declared default as TOML.
func tomlValue(v any) string {
	switch x := v.(type) {
	case string:
		return QuoteString(x)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case []string:
		return tomlList(x)
	}
	panic(fmt.Sprintf("config: no TOML form for a default of type %T", v))
}

// tomlList writes a TOML array of strings on one line.
func tomlList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = QuoteString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// table returns the declaration of a table; a name that is not declared is a programming error.
func table(name string) *Table {
	for _, t := range Tables {
		if t.Name == name {
			return t
		}
	}
	panic("config: no table " + name)
}

// QuoteLiteral writes a single-quoted TOML string, so a DOMAIN\user name needs no escaping.
func QuoteLiteral(s string) string {
	if strings.ContainsAny(s, "'\n") {
		return QuoteString(s)
	}
	return "'" + s + "'"
}

func QuoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
