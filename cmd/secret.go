package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// Value resolves the secret: the environment variable of env:NAME, the contents of file:PATH without its trailing
// newline, or the literal. Errors name the variable or the file and the setting, never a value.
func (s Secret) Value() (string, error) {
	switch {
	case s.Ref == "":
		return "", &secretError{msg: fmt.Sprintf("%s is not set: add it to the configuration file", s.label())}
	case strings.HasPrefix(s.Ref, secretEnvPrefix):
		name := strings.TrimPrefix(s.Ref, secretEnvPrefix)
		v := os.Getenv(name)
		if v == "" {
			return "", &secretError{msg: fmt.Sprintf(
				"%s: environment variable %s is not set or empty: set it for the account that runs tfsync (in the scheduled task or service), or use file:PATH",
				s.label(), name)}
		}
		return v, nil
	case strings.HasPrefix(s.Ref, secretFilePrefix):
		path := s.filePath()
		b, err := os.ReadFile(path)
		if err != nil {
			reason := err
			var pe *fs.PathError
			if errors.As(err, &pe) {
				reason = pe.Err
			}
			return "", &secretError{cause: err, msg: fmt.Sprintf(
				"%s: read %s: %v: check that the file exists and that the account running tfsync may read it",
				s.label(), path, reason)}
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", &secretError{msg: fmt.Sprintf("%s: file %s is empty: write the secret into it", s.label(), path)}
		}
		return v, nil
	default:
		return s.Ref, nil
	}
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
func (s Secret) GoString() string { return "cmd.Secret(" + strconv.Quote(s.String()) + ")" }

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
