package emulator

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// testCert is a certificate and its key, as an admin would upload the certificate to the app.
type testCert struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
	pem  []byte // certificate only
}

func newTestCert(t *testing.T) testCert {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "tfsync"},
		NotBefore:    time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCert{key: key, cert: cert, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// assertion builds a client assertion as MSAL does (PS256, x5t#S256 in standard base64), with claims overridable.
func (c testCert) assertion(t *testing.T, signer *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	thumb := sha256.Sum256(c.cert.Raw)
	header, _ := json.Marshal(map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": base64.StdEncoding.EncodeToString(thumb[:])})
	payload, _ := json.Marshal(claims)
	signed := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPSS(rand.Reader, signer, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

var aadTimestamp = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`)

// checkAADError verifies Entra's error shape and returns error and the AADSTS code.
func checkAADError(t *testing.T, body []byte) (string, int, string) {
	t.Helper()
	var e struct {
		Error         string `json:"error"`
		Description   string `json:"error_description"`
		Codes         []int  `json:"error_codes"`
		Timestamp     string `json:"timestamp"`
		TraceID       string `json:"trace_id"`
		CorrelationID string `json:"correlation_id"`
		ErrorURI      string `json:"error_uri"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if len(e.Codes) != 1 {
		t.Fatalf("error_codes = %v", e.Codes)
	}
	prefix := "AADSTS" + itoa(e.Codes[0]) + ": "
	if !strings.HasPrefix(e.Description, prefix) {
		t.Errorf("error_description %q does not start with %q", e.Description, prefix)
	}
	for _, line := range []string{"\r\nTrace ID: " + e.TraceID, "\r\nCorrelation ID: " + e.CorrelationID, "\r\nTimestamp: " + e.Timestamp} {
		if !strings.Contains(e.Description, line) {
			t.Errorf("error_description lacks %q", line)
		}
	}
	if !aadTimestamp.MatchString(e.Timestamp) || e.TraceID == "" || e.CorrelationID == "" {
		t.Errorf("timestamp %q, trace %q, correlation %q", e.Timestamp, e.TraceID, e.CorrelationID)
	}
	if !strings.HasSuffix(e.ErrorURI, "/error?code="+itoa(e.Codes[0])) {
		t.Errorf("error_uri %q", e.ErrorURI)
	}
	return e.Error, e.Codes[0], e.Description
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func TestDiscovery(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		tenant     string
		wantStatus int
		wantError  string
		wantCode   int
	}{
		{"known tenant", testTenant, http.StatusOK, "", 0},
		{"tenant id in upper case", strings.ToUpper(testTenant), http.StatusOK, "", 0},
		{"unknown tenant", "11111111-2222-3333-4444-555555555555", http.StatusBadRequest, "invalid_tenant", 90002},
		{"malformed tenant", "contoso_tenant", http.StatusBadRequest, "invalid_request", 900023},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.srv.Client().Get(f.srv.URL + "/" + tt.tenant + "/v2.0/.well-known/openid-configuration")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("body %q: %v", raw, err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, raw)
			}
			if tt.wantCode != 0 {
				errName, code, _ := checkAADError(t, raw)
				if errName != tt.wantError || code != tt.wantCode {
					t.Errorf("error %s AADSTS%d, want %s AADSTS%d", errName, code, tt.wantError, tt.wantCode)
				}
				return
			}
			issuer, _ := url.Parse(body["issuer"].(string))
			base, _ := url.Parse(f.srv.URL)
			if issuer.Scheme != base.Scheme || issuer.Host != base.Host {
				t.Errorf("issuer %s does not share scheme and host with %s", issuer, base)
			}
			if got := body["token_endpoint"]; got != f.srv.URL+"/"+testTenant+"/oauth2/v2.0/token" {
				t.Errorf("token_endpoint = %v", got)
			}
			if got, _ := body["authorization_endpoint"].(string); !strings.HasSuffix(got, "/oauth2/v2.0/authorize") {
				t.Errorf("authorization_endpoint = %v", got)
			}
		})
	}
}

func TestTokenEndpoint(t *testing.T) {
	f := newFixture(t)
	good := newTestCert(t)
	other := newTestCert(t)
	f.em.AddApp(App{TenantID: testTenant, ClientID: "cert-app", CertificatePEM: good.pem, Consented: true})
	f.em.AddApp(App{TenantID: testTenant, ClientID: "expired-app", SecretValue: "old", SecretExpired: true, Consented: true})
	f.em.AddApp(App{TenantID: testTenant, ClientID: "unconsented-app", SecretValue: "v"})

	tokenURL := f.srv.URL + "/" + testTenant + "/oauth2/v2.0/token"
	now := f.clock.Now()
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{"aud": tokenURL, "iss": "cert-app", "sub": "cert-app", "jti": "1",
			"nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	secretForm := func(client, secret string) url.Values {
		return url.Values{"client_id": {client}, "client_secret": {secret}, "grant_type": {"client_credentials"},
			"scope": {"https://graph.microsoft.com/.default"}}
	}
	assertionForm := func(a string) url.Values {
		return url.Values{"client_id": {"cert-app"}, "client_assertion": {a}, "grant_type": {"client_credentials"},
			"client_assertion_type": {clientAssertionType}, "scope": {"https://graph.microsoft.com/.default"}}
	}
	tests := []struct {
		name       string
		tenant     string
		form       url.Values
		wantStatus int
		wantError  string
		wantCode   int
		wantText   string
		wantRoles  []string
	}{
		{name: "client secret", form: secretForm(testClient, testSecret), wantStatus: 200, wantRoles: []string{CalendarsReadWrite}},
		{name: "wrong secret", form: secretForm(testClient, "nope"), wantStatus: 401, wantError: "invalid_client", wantCode: 7000215,
			wantText: "Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '" + testClient + "'."},
		{name: "secret id instead of value", form: secretForm(testClient, testSecID), wantStatus: 401, wantError: "invalid_client", wantCode: 7000215,
			wantText: "not the client secret ID"},
		{name: "expired secret", form: secretForm("expired-app", "old"), wantStatus: 401, wantError: "invalid_client", wantCode: 7000222,
			wantText: "are expired"},
		{name: "unknown client", form: secretForm("no-such-app", "x"), wantStatus: 400, wantError: "unauthorized_client", wantCode: 700016,
			wantText: "Application with identifier 'no-such-app' was not found in the directory"},
		{name: "unknown tenant", tenant: "contoso.example", form: secretForm(testClient, testSecret), wantStatus: 400,
			wantError: "invalid_request", wantCode: 90002, wantText: "Tenant 'contoso.example' not found"},
		{name: "no credential", form: url.Values{"client_id": {testClient}, "grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}},
			wantStatus: 401, wantError: "invalid_client", wantCode: 7000218},
		{name: "scope without .default", form: url.Values{"client_id": {testClient}, "client_secret": {testSecret},
			"grant_type": {"client_credentials"}, "scope": {"Calendars.ReadWrite"}}, wantStatus: 400, wantError: "invalid_scope", wantCode: 1002012},
		{name: "unconsented app gets a token without roles", form: secretForm("unconsented-app", "v"), wantStatus: 200},
		{name: "certificate assertion", form: assertionForm(good.assertion(t, good.key, claims(nil))), wantStatus: 200,
			wantRoles: []string{CalendarsReadWrite}},
		{name: "assertion signed by another key", form: assertionForm(good.assertion(t, other.key, claims(nil))), wantStatus: 401,
			wantError: "invalid_client", wantCode: 700027, wantText: "did not match the expected signature value"},
		{name: "assertion with an unregistered certificate", form: assertionForm(other.assertion(t, other.key, claims(nil))),
			wantStatus: 401, wantError: "invalid_client", wantCode: 700027, wantText: "The key was not found"},
		{name: "expired assertion", form: assertionForm(good.assertion(t, good.key, claims(func(c map[string]any) {
			c["nbf"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-30*time.Minute).Unix()
		}))), wantStatus: 401, wantError: "invalid_client", wantCode: 700024},
		{name: "assertion for another audience", form: assertionForm(good.assertion(t, good.key, claims(func(c map[string]any) {
			c["aud"] = "https://login.microsoftonline.com/" + testTenant + "/oauth2/v2.0/token"
		}))), wantStatus: 401, wantError: "invalid_client", wantCode: 700212},
		{name: "assertion issued by another client", form: assertionForm(good.assertion(t, good.key, claims(func(c map[string]any) {
			c["iss"], c["sub"] = testClient, testClient
		}))), wantStatus: 401, wantError: "invalid_client", wantCode: 700021},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := tt.tenant
			if tenant == "" {
				tenant = testTenant
			}
			status, body := f.tokenRequest(tenant, tt.form)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, body)
			}
			if tt.wantCode != 0 {
				errName, code, desc := checkAADError(t, body)
				if errName != tt.wantError || code != tt.wantCode {
					t.Errorf("error %s AADSTS%d, want %s AADSTS%d", errName, code, tt.wantError, tt.wantCode)
				}
				if !strings.Contains(desc, tt.wantText) {
					t.Errorf("error_description %q lacks %q", desc, tt.wantText)
				}
				return
			}
			var tok struct {
				TokenType    string `json:"token_type"`
				ExpiresIn    int    `json:"expires_in"`
				ExtExpiresIn int    `json:"ext_expires_in"`
				AccessToken  string `json:"access_token"`
			}
			if err := json.Unmarshal(body, &tok); err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" || tok.ExpiresIn != 3599 || tok.ExtExpiresIn != 3599 {
				t.Errorf("token response %+v", tok)
			}
			p, err := verifyAccessToken(tok.AccessToken)
			if err != nil {
				t.Fatalf("access token: %v", err)
			}
			var roles []string
			if rs, ok := p.claims["roles"].([]any); ok {
				for _, r := range rs {
					roles = append(roles, r.(string))
				}
			}
			if strings.Join(roles, ",") != strings.Join(tt.wantRoles, ",") {
				t.Errorf("roles %v, want %v", roles, tt.wantRoles)
			}
			if p.claimString("tid") != testTenant || p.claimString("appid") != tt.form.Get("client_id") {
				t.Errorf("claims tid %q appid %q", p.claimString("tid"), p.claimString("appid"))
			}
			if exp, _ := p.claimUnix("exp"); exp != now.Add(3599*time.Second).Unix() {
				t.Errorf("exp %d, want now + 3599 s", exp)
			}
		})
	}
}

func TestTokenLifetime(t *testing.T) {
	f := newFixture(t)
	f.em.SetTokenLifetime(10 * time.Minute)
	status, body := f.tokenRequest(testTenant, url.Values{"client_id": {testClient}, "client_secret": {testSecret},
		"grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}})
	if status != 200 || !strings.Contains(string(body), `"expires_in":600`) {
		t.Fatalf("token: %d %s", status, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(body, &tok)
	if r := f.graphWithToken(tok.AccessToken, "GET", "/users/"+techA+"/events", nil); r.status != 200 {
		t.Fatalf("fresh token: %d %s", r.status, r.body)
	}
	f.clock.Advance(10 * time.Minute)
	r := f.graphWithToken(tok.AccessToken, "GET", "/users/"+techA+"/events", nil)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("expired token: %d %s", r.status, r.body)
	}
	if code, msg := errorCode(t, r); code != "InvalidAuthenticationToken" || msg != "Lifetime validation failed, the token is expired." {
		t.Errorf("expired token: %s %q", code, msg)
	}
}

// TestAzidentity is the ground truth: the real azidentity credentials (MSAL underneath) must get tokens from the
// emulator exactly as they would from login.microsoftonline.com.
func TestAzidentity(t *testing.T) {
	em := New(Options{})
	cert := newTestCert(t)
	em.AddApp(App{TenantID: testTenant, ClientID: testClient, SecretValue: testSecret, SecretID: testSecID,
		CertificatePEM: cert.pem, Consented: true})
	srv, err := Serve(em, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	opts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.URL + "/"},
		Transport: srv.Client(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
	scope := policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("client secret", func(t *testing.T) {
		cred, err := azidentity.NewClientSecretCredential(testTenant, testClient, testSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := cred.GetToken(ctx, scope)
		if err != nil {
			t.Fatalf("GetToken: %v", err)
		}
		if _, err := verifyAccessToken(tok.Token); err != nil {
			t.Errorf("token is not the emulator's: %v", err)
		}
		if d := time.Until(tok.ExpiresOn); d < 50*time.Minute || d > 61*time.Minute {
			t.Errorf("ExpiresOn in %v, want about an hour", d)
		}
	})
	t.Run("client certificate", func(t *testing.T) {
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: mustPKCS8(t, cert.key)})
		certs, key, err := azidentity.ParseCertificates(append(cert.pem, keyPEM...), nil)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := azidentity.NewClientCertificateCredential(testTenant, testClient, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cred.GetToken(ctx, scope); err != nil {
			t.Fatalf("GetToken: %v", err)
		}
	})
	t.Run("wrong secret is an AuthenticationFailedError with Entra's body", func(t *testing.T) {
		cred, err := azidentity.NewClientSecretCredential(testTenant, testClient, testSecID,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cred.GetToken(ctx, scope)
		if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
			t.Fatalf("err = %v, want AADSTS7000215", err)
		}
		var afe *azidentity.AuthenticationFailedError
		if !errors.As(err, &afe) || afe.RawResponse == nil || afe.RawResponse.StatusCode != http.StatusUnauthorized {
			t.Errorf("err = %#v, want *azidentity.AuthenticationFailedError with a 401 RawResponse", err)
		}
	})
}

func mustPKCS8(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
