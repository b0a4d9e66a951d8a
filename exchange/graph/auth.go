package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"tfsync/exchange"
)

// newCredential builds the app-only credential: a client secret, or a certificate with its private key.
func newCredential(o *Options, hc *http.Client) (azcore.TokenCredential, error) {
	co := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: o.AuthorityHost},
		Transport: hc,
		// A few quick retries ride out a blip; a wrong host or an untrusted certificate should fail within
		// seconds, not the default's tens of seconds.
		Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: 300 * time.Millisecond, MaxRetryDelay: 2 * time.Second},
	}
	if len(o.CertificatePEM) > 0 {
		certs, key, err := azidentity.ParseCertificates(o.CertificatePEM, nil)
		if err != nil {
			// The parser's message never contains key material.
			return nil, fmt.Errorf("read the client certificate: %w (the file must hold the certificate and its "+
				"unencrypted private key in PEM)", err)
		}
		return azidentity.NewClientCertificateCredential(o.TenantID, o.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
	}
	return azidentity.NewClientSecretCredential(o.TenantID, o.ClientID, o.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: co, DisableInstanceDiscovery: true})
}

// renewingCredential is the credential the request adapter uses. It can throw away its token cache: when Graph
// rejects a token the cache still deems valid (revoked, or the clocks disagree), the only way to a new token is a
// new credential.
type renewingCredential struct {
	build func() (azcore.TokenCredential, error)

	mu      sync.Mutex
	cur     azcore.TokenCredential
	renewed time.Time
}

func (r *renewingCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	r.mu.Lock()
	cur := r.cur
	r.mu.Unlock()
	return cur.GetToken(ctx, opts)
}

// renew replaces the credential, at most once a second so that many requests rejected together cause one
// renewal. It measures with the real clock: this is a guard against a burst, not a behaviour under test.
func (r *renewingCredential) renew() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !r.renewed.IsZero() && now.Sub(r.renewed) < time.Second {
		return
	}
	cred, err := r.build()
	if err != nil {
		// The options were valid when the first credential was built from them; keep that one.
		return
	}
	r.cur = cred
	r.renewed = now
}

// CheckCredentials gets an access token for Graph: it proves the tenant, client id and secret or certificate
// without naming a mailbox. The error explains what to fix in Entra ID or the configuration.
func (c *Client) CheckCredentials(ctx context.Context) error {
	// EnableCAE as the adapter does, so that both share one token cache.
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: c.scopes, EnableCAE: true})
	if err == nil {
		return c.checkRoles(tok.Token)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("get access token: %w", err)
	}
	if entraRefused(err) {
		return c.authFailure(err)
	}
	return c.transportFailure("get access token", "", err, "authority_host")
}

// calendarsRole is the application permission tfsync needs.
const calendarsRole = "Calendars.ReadWrite"

// checkRoles looks into the access token for the Calendars.ReadWrite application permission. Entra ID issues a
// token even when admin consent is missing, only without the role, and Graph then refuses every mailbox: saying
// so here names the cause once instead of once per mailbox. A token that is not a readable JWT is not judged.
func (c *Client) checkRoles(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil
	}
	var claims struct {
		Roles []string `json:"roles"`
		AppID string   `json:"appid"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.AppID == "" {
		return nil
	}
	if slices.Contains(claims.Roles, calendarsRole) {
		return nil
	}
	have := "none"
	if len(claims.Roles) > 0 {
		have = strings.Join(claims.Roles, ", ")
	}
	return &Error{Op: "check app permissions", Err: exchange.ErrAccessDenied,
		Hint: "the access token carries no " + calendarsRole + " application permission (it has: " + have + "): " +
			"admin consent is missing; in Entra ID -> App registrations -> (the app with client ID " +
			c.opts.ClientID + ") -> API permissions add Microsoft Graph, Application permission " + calendarsRole +
			", and click \"Grant admin consent\""}
}
