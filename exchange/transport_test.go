package exchange

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestClassifyTransport(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name      string
		err       error
		want      TransportClass
		transient bool
		hint      []string // the hint names these
	}{
		{"dropped", io.ErrUnexpectedEOF, TransportOther, true, []string{"connection to mail.example", "url in [x]"}},
		{"reset", fmt.Errorf("post: %w", syscall.ECONNRESET), TransportOther, true, []string{"next pass"}},
		{"temporary DNS failure", &net.DNSError{Err: "server misbehaving", Name: "mail.example", IsTemporary: true},
			TransportOther, true, nil},
		{"cancelled", fmt.Errorf("post: %w", context.Canceled), TransportCancelled, false, []string{"cancelled"}},
		{"timed out", fmt.Errorf("post: %w", context.DeadlineExceeded), TransportCancelled, false, []string{"timed out"}},
		{"unknown CA", fmt.Errorf("post: %w", x509.UnknownAuthorityError{}), TransportUntrusted, false,
			[]string{"not trusted", "ca_file", "mail.example", "url in [x]"}},
		{"verification failed", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}},
			TransportUntrusted, false, []string{"not trusted"}},
		{"wrong host name", &tls.CertificateVerificationError{Err: x509.HostnameError{Host: "mail.example"}},
			TransportHostname, false, []string{"not valid for that host name", "url in [x]"}},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, TransportInvalidCert, false,
			[]string{"not valid", "renew"}},
		{"not TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, TransportNotTLS,
			false, []string{"does not speak TLS", "url in [x]"}},
		{"unknown host", &net.DNSError{Err: "no such host", Name: "mail.example", IsNotFound: true}, TransportDNS,
			false, []string{"cannot be resolved", "url in [x]"}},
		{"refused", fmt.Errorf("post: %w", refused), TransportRefused, false,
			[]string{"nothing accepts connections", "url in [x]"}},
		{"text only (MSAL)", fmt.Errorf("Post: x509: certificate signed by unknown authority"), TransportUntrusted,
			false, []string{"not trusted"}},
		{"text only refused", fmt.Errorf("dial tcp: connection refused"), TransportRefused, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassifyTransport(tt.err); got != tt.want {
				t.Errorf("ClassifyTransport = %d, want %d", got, tt.want)
			}
			if got := TransientTransport(tt.err); got != tt.transient {
				t.Errorf("TransientTransport = %v, want %v", got, tt.transient)
			}
			hint := TransportHint(tt.err, "mail.example", "url in [x]")
			for _, s := range tt.hint {
				if !strings.Contains(hint, s) {
					t.Errorf("hint %q lacks %q", hint, s)
				}
			}
		})
	}
}

func TestSleepStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a cancelled context = %v, want context.Canceled", err)
	}
	if err := Sleep(context.Background(), 0); err != nil {
		t.Errorf("Sleep(0) = %v, want nil", err)
	}
}
