package config

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

const (
	secretEnvPrefix  = "env:"
	secretFilePrefix = "file:"
)

// secretError is a secret that cannot be resolved. It counts as a configuration error (errors.Is ErrConfig), so a
// missing environment variable ends a run with the config exit code rather than as an authentication failure.
type secretError struct {
	msg   string
	cause error
}

func (e *secretError) Error() string        { return e.msg }
func (e *secretError) Unwrap() error        { return e.cause }
func (e *secretError) Is(target error) bool { return target == ErrConfig }

// IsSet reports whether the secret was configured at all.
func (s Secret) IsSet() bool { return s.Ref != "" }

// isLiteral reports whether the configuration file holds the secret itself.
func (s Secret) isLiteral() bool {
	return s.Ref != "" && !strings.HasPrefix(s.Ref, secretEnvPrefix) && !strings.HasPrefix(s.Ref, secretFilePrefix)
}

func (s Secret) label() string {
	if s.key != "" {
		return s.key
	}
	return "secret"
}

// filePath is where a file: secret lives, resolved against the config file's folder.
func (s Secret) filePath() string {
	return resolveConfigPath(s.dir, strings.TrimPrefix(s.Ref, secretFilePrefix))
}

// Value resolves the secret: the environment variable of env:NAME, the contents of file:PATH, or the literal. It
// forgives what copy-paste and Windows editors add: surrounding whitespace, a byte order mark and UTF-16 files. A
// certificate written without file: that is not PEM text is read as a file name. A client secret shaped like a GUID
// is refused here, before Entra ID is asked, because it is the secret's ID rather than its value. Errors name the
// variable or the file and the setting, never a value.
func (s Secret) Value() (string, error) {
	var v string
	switch {
	case s.Ref == "":
		return "", &secretError{msg: fmt.Sprintf("%s is not set: add it to the configuration file", s.label())}
	case strings.HasPrefix(s.Ref, secretEnvPrefix):
		name := strings.TrimPrefix(s.Ref, secretEnvPrefix)
		v = cleanSecret(os.Getenv(name))
		if v == "" {
			return "", &secretError{msg: fmt.Sprintf(
				"%s: environment variable %s is not set or empty: set it for the account that runs tfsync (in the scheduled task or service), or use file:PATH",
				s.label(), name)}
		}
	case strings.HasPrefix(s.Ref, secretFilePrefix):
		var err error
		if v, err = s.readFile(s.filePath(), ""); err != nil {
			return "", err
		}
	case s.kind == "certificate" && !strings.Contains(s.Ref, "-----BEGIN"):
		// certificate = "tfsync.pem" without file: can only be a file name: no PEM text is that short.
		var err error
		name := strings.TrimSpace(s.Ref)
		if v, err = s.readFile(resolveConfigPath(s.dir, name), fmt.Sprintf(
			" (the value is not PEM text, so it was taken as a file name; write certificate = \"file:%s\")", name)); err != nil {
			return "", err
		}
	default:
		v = cleanSecret(s.Ref)
	}
	if s.kind == "client_secret" && guidPattern.MatchString(v) {
		return "", &secretError{msg: fmt.Sprintf(
			"%s holds a GUID: this is the secret's ID; copy its Value instead (Entra ID -> App registrations -> the app -> Certificates & secrets, the Value column, shown only right after the secret is made; if it is hidden now, add a new secret)",
			s.label())}
	}
	return v, nil
}

// readFile reads a secret file, decoding a BOM or UTF-16 and trimming whitespace. note is added to read errors.
func (s Secret) readFile(path, note string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		reason := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = pe.Err
		}
		return "", &secretError{cause: err, msg: fmt.Sprintf(
			"%s: read %s: %v%s: check that the file exists and that the account running tfsync may read it",
			s.label(), path, reason, note)}
	}
	text, _, err := decodeText(b)
	if err != nil {
		return "", &secretError{cause: err, msg: fmt.Sprintf("%s: file %s is not text (%v): save it as UTF-8 with only the secret in it", s.label(), path, err)}
	}
	v := cleanSecret(text)
	if v == "" {
		return "", &secretError{msg: fmt.Sprintf("%s: file %s is empty: write the secret into it", s.label(), path)}
	}
	return v, nil
}

// cleanSecret drops what copy-paste adds around a secret: whitespace, line ends and byte order marks. No secret
// Entra ID, Exchange or a mail server issues starts or ends with them.
func cleanSecret(v string) string {
	return strings.TrimFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == '\ufeff' })
}

// secretPathPattern matches a literal that is a file name rather than a secret: a file ending secrets are kept in,
// a drive letter, a share or a relative path. A client secret never holds a backslash (Entra ID's have letters,
// digits and ~._- only, older ones base64), so one there marks a Windows path too; a password may hold one.
var (
	secretPathPattern      = regexp.MustCompile(`(?i)(\.(txt|pem|key|pfx|p12|crt|cer|secret)$|^[a-z]:[\\/]|^\.{1,2}[\\/]|^\\\\)`)
	clientSecretPathMarker = "\\"
)

// literalProblem checks a secret written into the configuration file itself, as far as that can be done without
// using it. The message never quotes a value that may be the secret.
func (s Secret) literalProblem() string {
	v := cleanSecret(s.Ref)
	if s.kind == "certificate" {
		return "" // Value reads a certificate that is not PEM text as a file name.
	}
	if s.kind == "client_secret" && guidPattern.MatchString(v) {
		return fmt.Sprintf("%s holds a GUID: this is the secret's ID; copy its Value instead (Entra ID -> App registrations -> the app -> Certificates & secrets, the Value column)", s.label())
	}
	looksLikeFile := secretPathPattern.MatchString(v) || (s.kind == "client_secret" && strings.Contains(v, clientSecretPathMarker))
	if !looksLikeFile && !strings.ContainsAny(v, "\x00") {
		if info, err := os.Stat(resolveConfigPath(s.dir, v)); err == nil && info.Mode().IsRegular() {
			looksLikeFile = true
		}
	}
	if looksLikeFile {
		return fmt.Sprintf("%s = %q looks like a file name, not a secret: write file:%s to read the secret from that file", s.label(), v, v)
	}
	return ""
}

// decodeText turns a file's bytes into UTF-8 text: a UTF-8 byte order mark is dropped and UTF-16 with a byte order
// mark (Notepad's "Unicode", PowerShell 5's >) is decoded. Anything else must be valid UTF-8 without NUL bytes.
func decodeText(b []byte) (text string, wasUTF16 bool, err error) {
	var order binary.ByteOrder
	switch {
	case bytes.HasPrefix(b, []byte{0xef, 0xbb, 0xbf}):
		b = b[3:]
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		order = binary.LittleEndian
	case bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		order = binary.BigEndian
	}
	if order != nil {
		b = b[2:]
		if len(b)%2 != 0 {
			return "", true, errors.New("UTF-16 text with an odd number of bytes")
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = order.Uint16(b[2*i:])
		}
		return string(utf16.Decode(u)), true, nil
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return "", false, errors.New("it holds NUL bytes, as UTF-16 without a byte order mark does")
	}
	if !utf8.Valid(b) {
		return "", false, errors.New("it is not valid UTF-8")
	}
	return string(b), false, nil
}

// String shows where the secret comes from, never its value.
func (s Secret) String() string {
	switch {
	case s.Ref == "":
		return "(not set)"
	case s.isLiteral():
		return "(literal)"
	default:
		return s.Ref
	}
}

// GoString keeps %#v from printing the literal through the Ref field.
func (s Secret) GoString() string { return "config.Secret(" + strconv.Quote(s.String()) + ")" }

// Format routes every fmt verb through String, so not even %d or %x on a Config reaches the Ref field.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, s.GoString())
	case verb == 'q':
		fmt.Fprint(f, strconv.Quote(s.String()))
	default:
		fmt.Fprint(f, s.String())
	}
}

// MarshalJSON writes what String shows, so --output json and structured logs never carry the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText does the same for text encoders (TOML, log fields).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// resolveConfigPath resolves a path written in the config file against the file's folder. It follows the host's
// rules: on Windows a path like C:\TF\tf.db or \\server\share\tf.db is kept, and \tf.db means the config
// drive's root.
func resolveConfigPath(dir, p string) string {
	switch {
	case p == "":
		return ""
	case filepath.IsAbs(p):
		return filepath.Clean(p)
	case filepath.VolumeName(p) != "":
		// A drive-relative path such as C:tf.db: joining it to dir would produce nonsense.
		return filepath.Clean(p)
	case os.IsPathSeparator(p[0]):
		return filepath.Clean(filepath.VolumeName(dir) + p)
	case dir == "":
		return filepath.Clean(p)
	default:
		return filepath.Join(dir, p)
	}
}
