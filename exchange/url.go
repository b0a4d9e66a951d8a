package exchange

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// The ways a server URL can be wrong, for CheckURL's callers to phrase for the setting at hand (errors.Is).
var (
	ErrNotURL      = errors.New("not an absolute http or https URL")
	ErrURLUserInfo = errors.New("holds a user name or password")
	ErrPlainHTTP   = errors.New("uses plain http, which is accepted only for a loopback host (127.0.0.1, ::1, localhost)")
	ErrURLPath     = errors.New("does not point at the endpoint")
)

// CheckURL is the one rule for a server URL an admin configures (Graph, Entra ID, EWS): an absolute URL without a
// user name or password, over https, or plain http to a loopback host only (an emulator or a tunnel on this
// machine: credentials and calendars never cross a network in clear). pathSuffix, when not empty, is the ending the
// path must have (".asmx" for EWS, whose endpoint tfsync calls directly instead of through Autodiscover). The
// configuration calls it; the backends' constructors trust what it passed. Errors wrap one of ErrNotURL,
// ErrURLUserInfo, ErrPlainHTTP and ErrURLPath and never repeat a password the URL held.
func CheckURL(raw, pathSuffix string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%q is %w", redactURL(raw), ErrNotURL)
	}
	switch {
	case u.User != nil:
		return nil, fmt.Errorf("%q %w", u.Redacted(), ErrURLUserInfo)
	case strings.EqualFold(u.Scheme, "https"):
	case strings.EqualFold(u.Scheme, "http"):
		if !IsLoopback(u.Hostname()) {
			return nil, fmt.Errorf("%q %w: use https", raw, ErrPlainHTTP)
		}
	default:
		return nil, fmt.Errorf("%q is %w: use https", raw, ErrNotURL)
	}
	if pathSuffix != "" && !strings.HasSuffix(strings.ToLower(u.Path), strings.ToLower(pathSuffix)) {
		return nil, fmt.Errorf("%q %w: its path must end in %s", raw, ErrURLPath, pathSuffix)
	}
	return u, nil
}

// IsLoopback reports whether host (without port) is this machine: localhost or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactURL hides the user information of a URL that did not parse well enough for url.Redacted.
func redactURL(raw string) string {
	at := strings.LastIndex(raw, "@")
	if at < 0 {
		return raw
	}
	if scheme, _, ok := strings.Cut(raw[:at], "://"); ok {
		return scheme + "://xxxxx" + raw[at:]
	}
	return "xxxxx" + raw[at:]
}
