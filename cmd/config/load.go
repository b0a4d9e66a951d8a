package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	// The embedded zone database makes [tf] time_zone work on Windows, which has no zoneinfo files.
	_ "time/tzdata"

	"github.com/pelletier/go-toml/v2"
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
	tenantIDPattern = regexp.MustCompile(`^[0-9a-zA-Z.-]+$`)
	guidPattern     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
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
		return nil, nil, readError(path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, readError(path, err)
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
		return nil, nil, &Error{Problems: []Problem{syntaxProblem(path, data, err)}}
	}

	d := &decoder{file: path, dir: filepath.Dir(abs), pos: collectPositions(data), failed: map[string]bool{}}
	cfg := Default()
	cfg.Path = abs
	d.decode(doc, &cfg)

	warnings := literalSecretWarnings(path, &cfg)
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

func readError(path string, err error) error {
	msg := ""
	switch {
	case errors.Is(err, fs.ErrNotExist):
		msg = missingFileMessage(path)
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

// missingFileMessage names the full path searched and the working directory: a scheduled task started in another folder
// ("Start in", WorkingDirectory) looks for a relative --config there.
func missingFileMessage(path string) string {
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

// syntaxProblem turns a TOML parse error into a problem with its line. It uses the error's short message
// only, since the long form quotes the offending line; on a line that sets a secret even the short message, which
// can quote a character or token of the value, is replaced.
func syntaxProblem(path string, data []byte, err error) Problem {
	p := Problem{File: path}
	msg := err.Error()
	var de *toml.DecodeError
	if errors.As(err, &de) {
		p.Line, _ = de.Position()
		p.Key = strings.Join(de.Key(), ".")
	}
	msg = strings.TrimPrefix(msg, "toml: ")
	if lines := bytes.Split(data, []byte("\n")); p.Line > 0 && p.Line <= len(lines) {
		if m := secretLine.FindSubmatch(lines[p.Line-1]); m != nil {
			p.Message = fmt.Sprintf("TOML syntax error in the value of %s (not shown, it is a secret): write it in quotes, e.g. %s = \"env:NAME\"",
				m[1], m[1])
			return p
		}
	}
	hint := "check quotes, brackets and that each setting is key = value on a line of its own"
	if strings.Contains(msg, "escape") {
		hint = `in "double quotes" a backslash starts an escape: write Windows paths in 'single quotes' ('C:\TF\tf.db') or with forward slashes`
	}
	p.Message = fmt.Sprintf("TOML syntax error: %s: %s", oneLine(msg), hint)
	return p
}

// literalSecretWarnings warns about a configuration file that others may read while it holds a secret.
func literalSecretWarnings(path string, cfg *Config) []string {
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
