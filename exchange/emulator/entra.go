package emulator

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// This file is the emulator's Entra ID (Azure AD) v2.0 front: tenant discovery and the client-credentials token
// endpoint, with the AADSTS errors Entra really answers, so that azidentity/MSAL accept it as login.microsoftonline.com
// and an admin's mistakes (secret id instead of value, expired secret, wrong tenant) surface exactly as in production.

// GraphResource is the resource (application ID URI) of Microsoft Graph; tokens for it carry it as their audience.
const GraphResource = "https://graph.microsoft.com"

// graphAppID is Microsoft Graph's well-known application id, which Entra also accepts as the resource of a scope.
const graphAppID = "00000003-0000-0000-c000-000000000000"

// CalendarsReadWrite is the application permission (app role) tfsync needs on Graph.
const CalendarsReadWrite = "Calendars.ReadWrite"

// defaultTokenLifetime is what Entra typically grants: expires_in 3599.
const defaultTokenLifetime = 3599 * time.Second

// App is an app registration (with its service principal) in a tenant, as the token endpoint sees it.
type App struct {
	TenantID string // directory (tenant) id; also accepted in any letter case
	ClientID string // application (client) id

	// SecretValue is the client secret's value (what a client must send); SecretID is the secret's id, which the
	// portal shows next to it and admins paste by mistake. SecretExpired makes the secret answer AADSTS7000222.
	SecretValue   string
	SecretID      string
	SecretExpired bool

	// CertificatePEM holds the certificate(s) uploaded to the app (PEM, public part only); a client assertion
	// signed with a matching private key is accepted.
	CertificatePEM []byte

	// Consented: an admin granted the app's application permissions. Without consent Entra still issues a token,
	// but with no roles, and Graph answers 403.
	Consented bool
	// RolesGranted are the app roles in the token when Consented; nil means just Calendars.ReadWrite.
	RolesGranted []string
}

// registeredApp is an App with its parsed certificates.
type registeredApp struct {
	App
	certs []appCertificate
}

// AddApp registers (or replaces) an app in its tenant; the tenant becomes known to discovery and the token
// endpoint. It panics on an unparsable CertificatePEM: that is a bug in the test or demo that calls it.
func (e *Emulator) AddApp(app App) {
	certs, err := parseAppCertificates(app.CertificatePEM)
	if err != nil {
		panic(fmt.Sprintf("emulator: AddApp %s: %v", app.ClientID, err))
	}
	f := e.front()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apps = slices.DeleteFunc(f.apps, func(a registeredApp) bool {
		return strings.EqualFold(a.TenantID, app.TenantID) && strings.EqualFold(a.ClientID, app.ClientID)
	})
	f.apps = append(f.apps, registeredApp{App: app, certs: certs})
}

// SetTokenLifetime sets the expires_in of tokens issued from now on; Graph rejects a token once the emulator's
// clock passes its expiry (401 InvalidAuthenticationToken). Zero restores the default of 3599 s.
func (e *Emulator) SetTokenLifetime(d time.Duration) {
	f := e.front()
	f.mu.Lock()
	defer f.mu.Unlock()
	if d <= 0 {
		d = defaultTokenLifetime
	}
	f.tokenLifetime = d
}

// tenantPattern is what Entra accepts as a tenant segment (a GUID or a domain name); MSAL checks the same.
var tenantPattern = regexp.MustCompile(`^[0-9a-zA-Z-.]+$`)

// knownTenant returns the registered spelling of a tenant id, and whether any app is registered in it.
func (f *frontState) knownTenant(tenant string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.apps {
		if strings.EqualFold(a.TenantID, tenant) {
			return a.TenantID, true
		}
	}
	return "", false
}

func (f *frontState) findApp(tenant, clientID string) (registeredApp, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.apps {
		if strings.EqualFold(a.TenantID, tenant) && strings.EqualFold(a.ClientID, clientID) {
			return a, true
		}
	}
	return registeredApp{}, false
}

// serveEntra answers the Entra routes: /{tenant}/v2.0/.well-known/openid-configuration,
// /{tenant}/oauth2/v2.0/token and /{tenant}/discovery/v2.0/keys. It reports false for any other path.
func (s *Server) serveEntra(w http.ResponseWriter, r *http.Request) bool {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 {
		return false
	}
	tenant, rest := parts[0], strings.Join(parts[1:], "/")
	switch strings.ToLower(rest) {
	case "v2.0/.well-known/openid-configuration":
		s.serveDiscovery(w, r, tenant)
	case "oauth2/v2.0/token":
		s.serveToken(w, r, tenant)
	case "discovery/v2.0/keys":
		s.serveKeys(w, r)
	default:
		return false
	}
	return true
}

// aadError is Entra's OAuth error body.
type aadError struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	Codes         []int  `json:"error_codes"`
	Timestamp     string `json:"timestamp"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
	ErrorURI      string `json:"error_uri"`
}

// writeAADError answers with Entra's error shape: the description carries "AADSTSnnnn: message" and the trace,
// correlation and timestamp lines Entra appends, separated by CRLF.
func (s *Server) writeAADError(w http.ResponseWriter, r *http.Request, status int, errName string, code int, msg string) {
	now := s.em.now().UTC()
	trace := newUUID()
	corr := r.Header.Get("client-request-id")
	if corr == "" {
		corr = newUUID()
	}
	ts := now.Format("2006-01-02 15:04:05Z")
	body := aadError{
		Error: errName,
		Description: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			code, msg, trace, corr, ts),
		Codes:         []int{code},
		Timestamp:     ts,
		TraceID:       trace,
		CorrelationID: corr,
		ErrorURI:      fmt.Sprintf("%s/error?code=%d", s.baseURL(r), code),
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("x-ms-request-id", trace)
	h.Set("client-request-id", corr)
	writeJSON(w, status, "application/json; charset=utf-8", body)
}

const (
	msgTenantNotFound = "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing " +
		"into the correct cloud. Check with your subscription administrator, this may happen if there are no " +
		"active subscriptions for the tenant."
	msgTenantMalformed = "Specified tenant identifier '%s' is neither a valid DNS name, nor a valid external domain."
)

// checkTenant validates the tenant segment and answers the error itself when it is malformed or unknown.
func (s *Server) checkTenant(w http.ResponseWriter, r *http.Request, tenant, unknownErr string) (string, bool) {
	if !tenantPattern.MatchString(tenant) {
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_request", 900023, fmt.Sprintf(msgTenantMalformed, tenant))
		return "", false
	}
	canonical, ok := s.front.knownTenant(tenant)
	if !ok {
		s.writeAADError(w, r, http.StatusBadRequest, unknownErr, 90002, fmt.Sprintf(msgTenantNotFound, tenant))
		return "", false
	}
	return canonical, true
}

// serveDiscovery answers the OpenID Connect metadata MSAL reads before its first token request. MSAL needs
// token_endpoint, authorization_endpoint and an issuer whose scheme and host equal the authority's.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	tid, ok := s.checkTenant(w, r, tenant, "invalid_tenant")
	if !ok {
		return
	}
	base := s.baseURL(r)
	t := base + "/" + tid
	doc := map[string]any{
		"token_endpoint":                        t + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              t + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                t + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     base + "/oidc/userinfo",
		"authorization_endpoint":                t + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         t + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  t + "/oauth2/v2.0/logout",
		"claims_supported": []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
			"cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce",
			"preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"kerberos_endpoint":     t + "/kerberos",
		"tenant_region_scope":   "EU",
		"cloud_instance_name":   "microsoftonline.com",
		"cloud_graph_host_name": "graph.windows.net",
		"msgraph_host":          r.Host,
		"rbac_url":              "https://pas.windows.net",
	}
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", doc)
}

// serveKeys publishes the key the emulator signs access tokens with, as Entra's JWKS does.
func (s *Server) serveKeys(w http.ResponseWriter, r *http.Request) {
	key, err := tokenKey()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	e := big.NewInt(int64(key.PublicKey.E)).Bytes()
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", map[string]any{
		"keys": []map[string]any{{
			"kty": "RSA", "use": "sig", "kid": tokenKeyID,
			"n": base64.RawURLEncoding.EncodeToString(key.PublicKey.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(e),
		}},
	})
}

const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// serveToken is the v2.0 token endpoint for the client-credentials grant. Checks run in the order that gives an
// admin the most useful error first: tenant, grant, client id, credential, scope.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	s.front.countToken()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeAADError(w, r, http.StatusMethodNotAllowed, "invalid_request", 900561,
			"The endpoint only accepts POST requests. Received a "+r.Method+" request.")
		return
	}
	tid, ok := s.checkTenant(w, r, tenant, "invalid_request")
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: 'grant_type'.")
		return
	}
	form := r.PostForm
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if user, pass, ok := r.BasicAuth(); ok {
		// client_secret_basic: the form-encoded id and secret in the Authorization header.
		clientID, _ = url.QueryUnescape(user)
		secret, _ = url.QueryUnescape(pass)
	}
	grant := form.Get("grant_type")
	switch {
	case grant == "":
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: 'grant_type'.")
		return
	case grant != "client_credentials":
		s.writeAADError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant))
		return
	case clientID == "":
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: 'client_id'.")
		return
	}
	app, ok := s.front.findApp(tid, clientID)
	if !ok {
		s.writeAADError(w, r, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the "+
				"application has not been installed by the administrator of the tenant or consented to by any user "+
				"in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant))
		return
	}

	assertion := form.Get("client_assertion")
	var appidacr string
	switch {
	case secret != "":
		if secret != app.SecretValue || app.SecretValue == "" {
			s.writeAADError(w, r, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf(
				"Invalid client secret provided. Ensure the secret being sent in the request is the client secret "+
					"value, not the client secret ID, for a secret added to app '%s'.", app.ClientID))
			return
		}
		if app.SecretExpired {
			s.writeAADError(w, r, http.StatusUnauthorized, "invalid_client", 7000222, fmt.Sprintf(
				"The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new "+
					"keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials "+
					"for added security: https://aka.ms/certCreds.", app.ClientID))
			return
		}
		appidacr = "1"
	case assertion != "":
		if t := form.Get("client_assertion_type"); t != clientAssertionType {
			s.writeAADError(w, r, http.StatusBadRequest, "invalid_request", 50027, fmt.Sprintf(
				"client_assertion_type '%s' is not supported; use '%s'.", t, clientAssertionType))
			return
		}
		if code, msg := s.checkAssertion(r, app, tid, assertion); code != 0 {
			s.writeAADError(w, r, http.StatusUnauthorized, "invalid_client", code, msg)
			return
		}
		appidacr = "2"
	default:
		s.writeAADError(w, r, http.StatusUnauthorized, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}

	if code, errName, msg := checkScope(form.Get("scope"), tenant, r.Host); code != 0 {
		s.writeAADError(w, r, http.StatusBadRequest, errName, code, msg)
		return
	}

	tok, expiresIn, err := s.issueToken(app, appidacr)
	if err != nil {
		s.writeAADError(w, r, http.StatusInternalServerError, "temporarily_unavailable", 50000,
			"There was an error issuing a token.")
		return
	}
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", map[string]any{
		"token_type":     "Bearer",
		"expires_in":     expiresIn,
		"ext_expires_in": expiresIn,
		"access_token":   tok,
	})
}

// checkScope accepts exactly one "{Graph}/.default" scope among the OIDC scopes MSAL adds. The Graph resource may
// be named by its URI, its app id, or this server's own host (a client configured with graph_url = the emulator).
func checkScope(scope, tenant, host string) (code int, errName, msg string) {
	if strings.TrimSpace(scope) == "" {
		return 900144, "invalid_request", "The request body must contain the following parameter: 'scope'."
	}
	var resource string
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "openid", "offline_access", "profile", "email":
			continue
		}
		if !strings.HasSuffix(sc, "/.default") {
			return 1002012, "invalid_scope", fmt.Sprintf("The provided value for scope %s is not valid. Client "+
				"credential flows must have a scope value with /.default suffixed to the resource identifier "+
				"(application ID URI).", sc)
		}
		resource = strings.TrimSuffix(sc, "/.default")
	}
	switch strings.TrimSuffix(strings.ToLower(resource), "/") {
	case GraphResource, graphAppID, "https://" + strings.ToLower(host):
		return 0, "", ""
	case "":
		return 1002012, "invalid_scope", fmt.Sprintf("The provided value for scope %s is not valid. Client "+
			"credential flows must have a scope value with /.default suffixed to the resource identifier "+
			"(application ID URI).", scope)
	}
	return 500011, "invalid_resource", fmt.Sprintf("The resource principal named %s was not found in the tenant "+
		"named %s. This can happen if the application has not been installed by the administrator of the tenant "+
		"or consented to by any user in the tenant. You might have sent your authentication request to the wrong "+
		"tenant.", resource, tenant)
}

// checkAssertion verifies a certificate client assertion as Entra does: a JWS signed (PS256, or RS256 as ADFS-era
// clients do) by a certificate registered on the app and named by its thumbprint, with iss = sub = client id, the
// token endpoint as audience and a current validity period. It returns the AADSTS code and message of the first
// failure, or 0.
func (s *Server) checkAssertion(r *http.Request, app registeredApp, tid, assertion string) (int, string) {
	p, err := parseJWT(assertion)
	if err != nil {
		return 50027, "JWT token is invalid or malformed."
	}
	var thumb []byte
	var useSHA1 bool
	if v, ok := p.header["x5t#S256"].(string); ok {
		thumb = decodeThumbprint(v)
	} else if v, ok := p.header["x5t"].(string); ok {
		thumb, useSHA1 = decodeThumbprint(v), true
	}
	var match *appCertificate
	for i, c := range app.certs {
		want := c.sha256
		if useSHA1 {
			want = c.sha1
		}
		if len(thumb) > 0 && bytes.Equal(thumb, want) {
			match = &app.certs[i]
			break
		}
	}
	thumbHex := strings.ToUpper(hex.EncodeToString(thumb))
	if match == nil {
		return 700027, fmt.Sprintf("Client assertion contains an invalid signature. [Reason - The key was not "+
			"found., Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or "+
			"directly use MS Graph to see configured keys for app Id '%s'.]", thumbHex, app.ClientID)
	}
	pub, ok := match.cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return 700027, "Client assertion contains an invalid signature. [Reason - The key is not an RSA key.]"
	}
	if err := p.verifyRSA(pub); err != nil {
		return 700027, fmt.Sprintf("Client assertion contains an invalid signature. [Reason - The provided "+
			"signature value did not match the expected signature value., Thumbprint of key used by client: '%s', "+
			"Found key 'Start=%s, End=%s']", thumbHex, match.cert.NotBefore.UTC().Format("01/02/2006 15:04:05"),
			match.cert.NotAfter.UTC().Format("01/02/2006 15:04:05"))
	}
	if iss, sub := p.claimString("iss"), p.claimString("sub"); !strings.EqualFold(iss, app.ClientID) ||
		!strings.EqualFold(sub, app.ClientID) {
		return 700021, "Client assertion application identifier doesn't match 'client_id' parameter. Review the " +
			"documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials ."
	}
	if !s.validAudience(r, tid, p.claimString("aud")) {
		return 700212, fmt.Sprintf("Client assertion audience claim does not match Realm issuer. Expected '%s', "+
			"got '%s'.", s.baseURL(r)+"/"+tid+"/oauth2/v2.0/token", p.claimString("aud"))
	}
	now := s.em.now()
	exp, hasExp := p.claimUnix("exp")
	nbf, hasNbf := p.claimUnix("nbf")
	// Entra allows five minutes of clock skew either way.
	const skew = 5 * time.Minute
	if !hasExp || now.Add(-skew).After(time.Unix(exp, 0)) || (hasNbf && now.Add(skew).Before(time.Unix(nbf, 0))) {
		return 700024, fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, "+
			"assertion valid from %s, expiry time of assertion %s.", now.UTC().Format("2006-01-02T15:04:05.0000000Z"),
			time.Unix(nbf, 0).UTC().Format("2006-01-02T15:04:05.0000000Z"),
			time.Unix(exp, 0).UTC().Format("2006-01-02T15:04:05.0000000Z"))
	}
	return 0, ""
}

// validAudience accepts the v2.0 and v1 token endpoints of the tenant (by id or as named in the URL) and the bare
// authority, as Entra does.
func (s *Server) validAudience(r *http.Request, tid, aud string) bool {
	aud = strings.TrimSuffix(strings.ToLower(aud), "/")
	base := strings.ToLower(s.baseURL(r))
	tenants := []string{strings.ToLower(tid)}
	if seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/"); len(seg) > 0 {
		tenants = append(tenants, strings.ToLower(seg[0]))
	}
	for _, t := range tenants {
		for _, suffix := range []string{"/oauth2/v2.0/token", "/oauth2/token", ""} {
			if aud == base+"/"+t+suffix {
				return true
			}
		}
	}
	return false
}

// issueToken signs an app-only access token for Graph, shaped like Entra's v1 tokens for Graph.
func (s *Server) issueToken(app registeredApp, appidacr string) (string, int, error) {
	lifetime := s.front.lifetime()
	now := s.em.now()
	exp := now.Add(lifetime)
	var roles []string
	if app.Consented {
		roles = app.RolesGranted
		if roles == nil {
			roles = []string{CalendarsReadWrite}
		}
	}
	oid := deterministicUUID("sp:" + strings.ToLower(app.TenantID) + ":" + strings.ToLower(app.ClientID))
	claims := map[string]any{
		"aud":             GraphResource,
		"iss":             "https://sts.windows.net/" + app.TenantID + "/",
		"iat":             now.Unix(),
		"nbf":             now.Unix(),
		"exp":             exp.Unix(),
		"aio":             "E2RgYJj0vPTB",
		"app_displayname": "tfsync",
		"appid":           app.ClientID,
		"appidacr":        appidacr,
		"idp":             "https://sts.windows.net/" + app.TenantID + "/",
		"idtyp":           "app",
		"oid":             oid,
		"rh":              "0.emulator.",
		"sub":             oid,
		"tid":             app.TenantID,
		"uti":             strings.ReplaceAll(newUUID(), "-", "")[:22],
		"ver":             "1.0",
		"xms_tcdt":        now.Add(-365 * 24 * time.Hour).Unix(),
	}
	if len(roles) > 0 {
		claims["roles"] = roles
	}
	tok, err := signRS256(claims)
	if err != nil {
		return "", 0, err
	}
	return tok, int(lifetime / time.Second), nil
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "00000000-0000-4000-8000-000000000000"
	}
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// deterministicUUID derives a stable UUID-shaped id from a name (object ids that stay the same across tokens).
func deterministicUUID(name string) string {
	sum := sha256.Sum256([]byte(name))
	var b [16]byte
	copy(b[:], sum[:16])
	return formatUUID(b)
}

// writeJSON writes v as JSON with the given status and content type.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(b)
}
