package graph

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"tfsync/exchange"
)

func graphBody(code, msg string) []byte {
	return []byte(fmt.Sprintf(`{"error":{"code":%q,"message":%q,"innerError":{"date":"2026-05-04T06:00:00",`+
		`"request-id":"r","client-request-id":"c"}}}`, code, msg))
}

func TestGraphFailure(t *testing.T) {
	c := newOfflineClient(t, time.UTC)
	const mb = "tekniker@example.com"
	tests := []struct {
		name     string
		kind     errorKind
		o        outcome
		want     error
		contains []string
	}{
		{"access policy", kindMailbox, outcome{Status: 403,
			Body: graphBody("ErrorAccessDenied", "Access to OData is disabled.")},
			exchange.ErrAccessDenied, []string{"ApplicationAccessPolicy", "mail-enabled security group", mb,
				"an hour", c.opts.ClientID}},
		{"access policy, live wording", kindCreate, outcome{Status: 403, Body: graphBody("ErrorAccessDenied",
			"Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.")},
			exchange.ErrAccessDenied, []string{"ApplicationAccessPolicy"}},
		{"no admin consent", kindMailbox, outcome{Status: 403,
			Body: graphBody("ErrorAccessDenied", "Access is denied. Check credentials and try again.")},
			exchange.ErrAccessDenied, []string{"Calendars.ReadWrite", "Grant admin consent", "API permissions"}},
		{"unknown user", kindMailbox, outcome{Status: 404,
			Body: graphBody("ErrorInvalidUser", "The requested user '"+mb+"' is invalid.")},
			exchange.ErrMailboxNotFound, []string{"Inställningar -> Grunddata -> Resurser", mb}},
		{"unknown user on an event", kindEvent, outcome{Status: 404,
			Body: graphBody("ErrorInvalidUser", "The requested user '"+mb+"' is invalid.")},
			exchange.ErrMailboxNotFound, []string{"Resurser"}},
		{"unlicensed", kindCreate, outcome{Status: 404,
			Body: graphBody("MailboxNotEnabledForRESTAPI", "REST API is not yet supported for this mailbox.")},
			exchange.ErrMailboxNotFound, []string{"licence", "on-premises", "ews"}},
		{"event gone", kindEvent, outcome{Status: 404,
			Body: graphBody("ErrorItemNotFound", "The specified object was not found in the store.")},
			exchange.ErrNotFound, nil},
		{"malformed id", kindEvent, outcome{Status: 400, Body: graphBody("ErrorInvalidIdMalformed", "Id is malformed.")},
			exchange.ErrNotFound, nil},
		{"token rejected", kindMailbox, outcome{Status: 401,
			Body: graphBody("InvalidAuthenticationToken", "Access token has expired or is not yet valid.")},
			exchange.ErrAuth, []string{"authority_host", "graph_url"}},
		{"throttled", kindCreate, outcome{Status: 429, Header: map[string]string{"Retry-After": "2.128"},
			Body: graphBody("TooManyRequests", "Please retry again later.")}, exchange.ErrThrottled, nil},
		{"unavailable", kindDelete, outcome{Status: 503, Body: graphBody("serviceNotAvailable", "Try later")},
			exchange.ErrUnavailable, nil},
		{"bad event", kindCreate, outcome{Status: 400, Body: graphBody("ErrorInvalidRequest", "bad all-day")},
			exchange.ErrInvalidEvent, []string{"bad all-day"}},
		{"conflict", kindEvent, outcome{Status: 409, Body: graphBody("ErrorIrresolvableConflict", "conflict")},
			exchange.ErrConflict, nil},
		{"error body without message", kindEvent, outcome{Status: 403, Body: []byte(`{"error":{"code":"ErrorAccessDenied"}}`)},
			exchange.ErrAccessDenied, []string{"ErrorAccessDenied"}},
		{"body that is not JSON", kindMailbox, outcome{Status: 502, Body: []byte("<html>Bad gateway</html>")},
			exchange.ErrUnavailable, []string{"Bad gateway"}},
		{"unexpected status", kindMailbox, outcome{Status: 418, Body: nil}, exchange.ErrBadResponse, []string{"418"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.graphFailure("read calendar of", mb, tt.kind, tt.o)
			if !errors.Is(err, tt.want) {
				t.Fatalf("graphFailure = %v, want it to wrap %v", err, tt.want)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q lacks %q", err.Error(), s)
				}
			}
			var ge *Error
			if !errors.As(err, &ge) || ge.Status != tt.o.Status {
				t.Errorf("errors.As *Error: %v, status %v; want status %d", ge, ge, tt.o.Status)
			}
		})
	}
	t.Run("throttled keeps Retry-After", func(t *testing.T) {
		err := c.graphFailure("create event in", mb, kindCreate, outcome{Status: 429,
			Header: map[string]string{"Retry-After": "2.128"}, Body: graphBody("TooManyRequests", "later")})
		var ra *exchange.RetryAfterError
		if !errors.As(err, &ra) || ra.After != 2128*time.Millisecond {
			t.Errorf("errors.As RetryAfterError: %v (%v), want After 2.128s", ra, err)
		}
	})
}

// tokenFailure builds the error azidentity returns when Entra ID's token endpoint refuses.
func tokenFailure(status int, body string) error {
	req, _ := http.NewRequest(http.MethodPost, "https://login.example/tenant/oauth2/v2.0/token", nil)
	return &azidentity.AuthenticationFailedError{RawResponse: &http.Response{
		StatusCode: status, Status: http.StatusText(status), Request: req,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(body)),
	}}
}

func entraBody(errCode string, code int, desc string) string {
	return fmt.Sprintf(`{"error":%q,"error_description":"AADSTS%d: %s\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026-05-04 06:00:00Z",`+
		`"error_codes":[%d],"timestamp":"2026-05-04 06:00:00Z","trace_id":"1","correlation_id":"2"}`, errCode, code, desc, code)
}

func TestAuthFailure(t *testing.T) {
	c := newOfflineClient(t, time.UTC)
	tests := []struct {
		name     string
		err      error
		want     error
		contains []string
	}{
		{"wrong secret", tokenFailure(401, entraBody("invalid_client", 7000215, "Invalid client secret provided.")),
			exchange.ErrAuth, []string{"AADSTS7000215", "secret's ID was pasted instead of its Value",
				"Certificates & secrets", "Value column"}},
		{"expired secret", tokenFailure(401, entraBody("invalid_client", 7000222, "The provided client secret keys are expired.")),
			exchange.ErrAuth, []string{"AADSTS7000222", "expired", "new client secret", "certificate"}},
		{"unknown app", tokenFailure(400, entraBody("unauthorized_client", 700016, "Application with identifier 'x' was not found.")),
			exchange.ErrAuth, []string{"AADSTS700016", "Application (client) ID", c.opts.ClientID, "tenant_id"}},
		{"unknown tenant", tokenFailure(400, entraBody("invalid_request", 90002, "Tenant 'x' not found.")),
			exchange.ErrAuth, []string{"AADSTS90002", "Directory (tenant) ID"}},
		{"unknown tenant at discovery", tokenFailure(400, `{"error":"invalid_tenant","error_description":"AADSTS90002: Tenant not found."}`),
			exchange.ErrAuth, []string{"Directory (tenant) ID"}},
		{"certificate not registered", tokenFailure(401, entraBody("invalid_client", 700027, "Client assertion failed signature validation.")),
			exchange.ErrAuth, []string{"certificate", "Certificates & secrets"}},
		{"other refusal", tokenFailure(400, entraBody("invalid_request", 12345, "Something else.")),
			exchange.ErrAuth, []string{"AADSTS12345", "tenant_id, client_id"}},
		{"secret echoed back is redacted", tokenFailure(401, entraBody("invalid_client", 7000215,
			"Invalid client secret Sx8Q~not-a-real-secret-value provided.")), exchange.ErrAuth, []string{"[redacted]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.failure("read calendar of", "a@example.com", tt.err)
			if !errors.Is(err, tt.want) {
				t.Fatalf("failure = %v, want it to wrap %v", err, tt.want)
			}
			msg := err.Error()
			for _, s := range tt.contains {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q lacks %q", msg, s)
				}
			}
			if strings.Contains(msg, c.opts.ClientSecret) {
				t.Errorf("message %q contains the client secret", msg)
			}
			var afe *azidentity.AuthenticationFailedError
			if !errors.As(err, &afe) {
				t.Errorf("the azidentity error is not reachable with errors.As")
			}
		})
	}
}

func TestTransportFailure(t *testing.T) {
	c := newOfflineClient(t, time.UTC)
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name     string
		err      error
		contains []string
	}{
		{"untrusted certificate", fmt.Errorf("Post: %w", x509.UnknownAuthorityError{}),
			[]string{"not trusted", "ca_file", "graph_url"}},
		{"unknown host", &net.DNSError{Err: "no such host", Name: "graph.example", IsNotFound: true},
			[]string{"cannot be resolved", "graph_url"}},
		{"refused", fmt.Errorf("Post: %w", refused), []string{"nothing accepts connections", "graph_url"}},
		{"dropped", io.ErrUnexpectedEOF, []string{"connection", "graph.microsoft.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.failure("read calendar of", "a@example.com", tt.err)
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("failure = %T %v, want *Error", err, err)
			}
			if !errors.Is(err, exchange.ErrUnavailable) && !errors.Is(err, exchange.ErrAuth) {
				t.Errorf("failure = %v, want ErrUnavailable or ErrAuth", err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q lacks %q", err.Error(), s)
				}
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	good := Options{TenantID: "contoso.onmicrosoft.com", ClientID: "app", ClientSecret: "secret-value"}
	tests := []struct {
		name    string
		modify  func(*Options)
		wantErr string // "" for success
	}{
		{"defaults", func(*Options) {}, ""},
		{"no tenant", func(o *Options) { o.TenantID = "" }, "Directory (tenant) ID"},
		{"no client id", func(o *Options) { o.ClientID = "" }, "Application (client) ID"},
		{"no credential", func(o *Options) { o.ClientSecret = "" }, "client_secret"},
		{"both credentials", func(o *Options) { o.CertificatePEM = []byte("x") }, "keep one"},
		{"bad certificate", func(o *Options) { o.ClientSecret, o.CertificatePEM = "", []byte("not pem") }, "certificate"},
		{"authority over http", func(o *Options) { o.AuthorityHost = "http://login.example/" }, "https"},
		{"graph over http on loopback", func(o *Options) { o.GraphURL = "http://127.0.0.1:8443" }, ""},
		{"graph url with version", func(o *Options) { o.GraphURL = "https://graph.microsoft.us/v1.0/" }, ""},
		{"graph url not a url", func(o *Options) { o.GraphURL = "graph" }, "graph_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.modify(&o)
			c, err := New(o)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.opts.PerMailbox != DefaultPerMailbox || c.opts.MaxConcurrency != DefaultMaxConcurrency {
					t.Errorf("defaults not applied: %+v", c.opts)
				}
				if strings.HasSuffix(c.base, "/v1.0/v1.0") || !strings.HasSuffix(c.base, "/v1.0") {
					t.Errorf("base %q, want exactly one /v1.0", c.base)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "secret-value") {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}
