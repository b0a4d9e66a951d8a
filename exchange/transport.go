package exchange

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// TransportClass names what went wrong when a request got no HTTP answer. Both backends classify with
// ClassifyTransport, so they agree on what a retry within the pass can fix and on how the failure is explained.
type TransportClass int

const (
	// TransportOther is a connection that dropped, was reset or timed out on the way: a retry may succeed.
	TransportOther TransportClass = iota
	// TransportCancelled: the request was cancelled or ran out of time (the caller's context or the backend's own
	// per-request deadline). Waiting as long again within the pass is not worth it; the next pass retries.
	TransportCancelled
	// TransportUntrusted: the server's certificate is not signed by a trusted CA.
	TransportUntrusted
	// TransportHostname: the certificate is not valid for the host name in the URL.
	TransportHostname
	// TransportInvalidCert: the certificate itself is invalid (expired, not yet valid, not for serving).
	TransportInvalidCert
	// TransportNotTLS: the server answered https with something that is not TLS (wrong scheme or port).
	TransportNotTLS
	// TransportDNS: the host name does not resolve.
	TransportDNS
	// TransportRefused: nothing accepts connections at the host and port.
	TransportRefused
)

// Transient reports whether a retry within the pass may succeed. Certificate, name and listener problems need
// an admin and stay until one acts; a cancelled request is not repeated.
func (c TransportClass) Transient() bool { return c == TransportOther }

// TransientTransport reports whether a request that got no answer, with err, may be repeated within the pass.
func TransientTransport(err error) bool { return ClassifyTransport(err).Transient() }

// ClassifyTransport classifies an error that came instead of an HTTP answer.
func ClassifyTransport(err error) TransportClass {
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return TransportCancelled
	case errors.As(err, &hostErr):
		return TransportHostname
	case errors.As(err, &invalid):
		return TransportInvalidCert
	case errors.As(err, &unknownCA) || errors.As(err, &verify):
		return TransportUntrusted
	case errors.As(err, &record):
		return TransportNotTLS
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return TransportDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return TransportRefused
	}
	// Some libraries (MSAL, inside azidentity) keep only the text of a transport error.
	s := err.Error()
	switch {
	case strings.Contains(s, "x509: ") || strings.Contains(s, "tls: "):
		return TransportUntrusted
	case strings.Contains(s, "no such host"):
		return TransportDNS
	case strings.Contains(s, "connection refused"):
		return TransportRefused
	}
	return TransportOther
}

// TransportHint says to an admin what a request that got no answer means and what to fix. host names the server
// (a URL or a host name); setting names where it is configured, e.g. "url in [exchange.ews]".
func TransportHint(err error, host, setting string) string {
	switch ClassifyTransport(err) {
	case TransportCancelled:
		return "the operation was cancelled or timed out"
	case TransportUntrusted:
		return fmt.Sprintf("the TLS certificate of %s is not trusted: name a PEM file with the CA that issued it in "+
			"[exchange] ca_file (or add the CA to the system's trust store), or correct %s if the host is wrong",
			host, setting)
	case TransportHostname:
		return fmt.Sprintf("the TLS certificate of %s is not valid for that host name: use the host name the "+
			"certificate names in %s", host, setting)
	case TransportInvalidCert:
		var invalid x509.CertificateInvalidError
		errors.As(err, &invalid)
		return fmt.Sprintf("the TLS certificate of %s is not valid (%v): renew it on the server", host, invalid)
	case TransportNotTLS:
		return fmt.Sprintf("%s does not speak TLS: check the scheme and port in %s", host, setting)
	case TransportDNS:
		return fmt.Sprintf("the host %s cannot be resolved: check %s and this machine's DNS and proxy settings",
			host, setting)
	case TransportRefused:
		return fmt.Sprintf("nothing accepts connections at %s: check %s and any firewall between this machine and "+
			"the host", host, setting)
	}
	return fmt.Sprintf("the connection to %s failed; the next pass retries (if it keeps failing, check %s and that "+
		"the server is up)", host, setting)
}
