package graph

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 4, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"2.128", 2128 * time.Millisecond, true},
		{"1.7", 1700 * time.Millisecond, true},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 3 ", 3 * time.Second, true},
		{".5", 500 * time.Millisecond, true},
		{"1.1234567891", time.Second + 123456789, true},
		{"99999999", 24 * time.Hour, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.", 0, false},
		{"1.2.3", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.in, now)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestShouldRetry(t *testing.T) {
	now := time.Date(2026, 5, 4, 6, 0, 0, 0, time.UTC)
	ra := func(v string) map[string]string { return map[string]string{"Retry-After": v} }
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name         string
		o            outcome
		attempts     int
		tokenRetries int
		wantRetry    bool
		wantDelay    time.Duration // checked when wantRetry and not wantBackoff
		wantBackoff  bool          // the delay is a back-off for attempts
		wantRenew    bool
	}{
		{name: "429 with fractional Retry-After", o: outcome{Status: 429, Header: ra("2.128")}, attempts: 1,
			wantRetry: true, wantDelay: 2128 * time.Millisecond},
		{name: "429 header name in lower case", o: outcome{Status: 429, Header: map[string]string{"retry-after": "4"}},
			attempts: 1, wantRetry: true, wantDelay: 4 * time.Second},
		{name: "429 asking for more than the cap", o: outcome{Status: 429, Header: ra("600")}, attempts: 1},
		{name: "429 without Retry-After", o: outcome{Status: 429}, attempts: 2, wantRetry: true, wantBackoff: true},
		{name: "503", o: outcome{Status: 503}, attempts: 1, wantRetry: true, wantBackoff: true},
		{name: "503 with Retry-After", o: outcome{Status: 503, Header: ra("1")}, attempts: 3, wantRetry: true,
			wantDelay: time.Second},
		{name: "504", o: outcome{Status: 504}, attempts: 1, wantRetry: true, wantBackoff: true},
		{name: "429 on the last attempt", o: outcome{Status: 429, Header: ra("1")}, attempts: DefaultMaxAttempts},
		{name: "409 conflict", o: outcome{Status: 409}, attempts: 1, wantRetry: true, wantBackoff: true},
		{name: "404", o: outcome{Status: 404}, attempts: 1},
		{name: "400", o: outcome{Status: 400}, attempts: 1},
		{name: "403", o: outcome{Status: 403}, attempts: 1},
		{name: "401 first time", o: outcome{Status: 401}, attempts: 1, wantRetry: true, wantRenew: true},
		{name: "401 after a fresh token", o: outcome{Status: 401}, attempts: 2, tokenRetries: 1},
		{name: "connection dropped", o: outcome{Err: io.ErrUnexpectedEOF}, attempts: 1, wantRetry: true,
			wantBackoff: true},
		{name: "connection reset", o: outcome{Err: fmt.Errorf("post: %w", syscall.ECONNRESET)}, attempts: 1,
			wantRetry: true, wantBackoff: true},
		{name: "cancelled", o: outcome{Err: fmt.Errorf("post: %w", context.Canceled)}, attempts: 1},
		{name: "untrusted certificate", o: outcome{Err: fmt.Errorf("post: %w", x509.UnknownAuthorityError{})},
			attempts: 1},
		{name: "unknown host", o: outcome{Err: &net.DNSError{Err: "no such host", Name: "graph.example", IsNotFound: true}},
			attempts: 1},
		{name: "connection refused", o: outcome{Err: refused}, attempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := shouldRetry(tt.o, tt.attempts, tt.tokenRetries, DefaultMaxAttempts, now)
			if d.Retry != tt.wantRetry || d.RenewToken != tt.wantRenew {
				t.Fatalf("shouldRetry = %+v, want retry %v renew %v", d, tt.wantRetry, tt.wantRenew)
			}
			switch {
			case !d.Retry:
			case tt.wantBackoff:
				top := min(backoffBase<<(tt.attempts-1), backoffCap)
				if d.Delay < top/2 || d.Delay > top {
					t.Errorf("back-off after %d attempts = %v, want within [%v, %v]", tt.attempts, d.Delay, top/2, top)
				}
			case d.Delay != tt.wantDelay:
				t.Errorf("delay = %v, want %v", d.Delay, tt.wantDelay)
			}
		})
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	for attempts := 1; attempts <= 40; attempts++ {
		top := backoffCap
		if attempts <= 16 {
			top = min(backoffBase<<(attempts-1), backoffCap)
		}
		for range 20 {
			if d := backoff(attempts); d < top/2 || d > top {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempts, d, top/2, top)
			}
		}
	}
}
