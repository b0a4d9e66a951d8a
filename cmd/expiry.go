package cmd

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rs/zerolog"

	"tfsync/cmd/config"
	"tfsync/exchange"
	calsync "tfsync/sync"
)

// expiryWarnAhead is how long before a client secret or certificate expires that tfsync starts to warn.
const expiryWarnAhead = 30 * 24 * time.Hour

// expiryNoticeKey is the store's notices row that remembers the day the expiry warning was last logged.
const expiryNoticeKey = "credential-expiry-log"

// credentialExpiry is when the Entra ID app's credential stops working, as far as tfsync knows.
type credentialExpiry struct {
	What    string    // "the client secret" or "the certificate"
	Setting string    // where the date comes from, for the admin
	At      time.Time // zero when unknown
}

// credentialExpiryOf reads the certificate's notAfter, or client_secret_expires for a client secret. EWS
// passwords have no date tfsync could know.
func credentialExpiryOf(cfg *config.Config) credentialExpiry {
	g := cfg.Exchange.Graph
	if cfg.Exchange.Mode != "graph" {
		return credentialExpiry{}
	}
	if g.Certificate.IsSet() {
		v, err := g.Certificate.Value()
		if err != nil {
			return credentialExpiry{}
		}
		e := credentialExpiry{What: "the certificate", Setting: "the certificate's notAfter in " + g.Certificate.String()}
		rest := []byte(v)
		for {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			// The first certificate is the app's own; a chain behind it does not decide when Entra ID refuses.
			if c, err := x509.ParseCertificate(b.Bytes); err == nil {
				e.At = c.NotAfter
			}
			break
		}
		return e
	}
	if g.ClientSecret.IsSet() && !g.ClientSecretExpires.IsZero() {
		return credentialExpiry{What: "the client secret", Setting: "[exchange.graph] client_secret_expires", At: g.ClientSecretExpires}
	}
	return credentialExpiry{}
}

// fix says how to renew the credential.
func (e credentialExpiry) fix() string {
	if e.What == "the certificate" {
		return "make a new certificate, upload it on the app's Certificates & secrets page in Entra ID and point [exchange.graph] certificate at it"
	}
	return "make a new client secret on the app's Certificates & secrets page in Entra ID, write its Value into the secret file and its Expires date into client_secret_expires"
}

// Expired reports whether the credential's date has passed.
func (e credentialExpiry) Expired(now time.Time) bool { return !e.At.IsZero() && !now.Before(e.At) }

// Warning is the text to show when the credential expires within expiryWarnAhead or has expired, else "".
func (e credentialExpiry) Warning(now time.Time, zone *time.Location) string {
	if e.At.IsZero() || e.At.Sub(now) > expiryWarnAhead {
		return ""
	}
	day := e.At.In(zone).Format("2006-01-02")
	if e.Expired(now) {
		return fmt.Sprintf("%s expired on %s (%s): %s", e.What, day, e.Setting, e.fix())
	}
	days := int(math.Ceil(e.At.Sub(now).Hours() / 24))
	return fmt.Sprintf("%s expires on %s, in %s (%s): renew it before then: %s", e.What, day, notifyPlural(days, "day", "days"), e.Setting, e.fix())
}

// expiredCredentialError names an expired credential as the cause when Entra ID refuses to sign tfsync in.
type expiredCredentialError struct {
	msg string
	err error
}

func (e *expiredCredentialError) Error() string { return e.msg + ": " + e.err.Error() }
func (e *expiredCredentialError) Unwrap() error { return e.err }

// explainExpired wraps an authentication failure with the expired credential that most likely caused it.
func explainExpired(cfg *config.Config, now time.Time, err error) error {
	if err == nil || cfg == nil || !errors.Is(err, exchange.ErrAuth) {
		return err
	}
	var already *expiredCredentialError
	if errors.As(err, &already) {
		return err
	}
	e := credentialExpiryOf(cfg)
	if !e.Expired(now) {
		return err
	}
	return &expiredCredentialError{err: err, msg: fmt.Sprintf("Entra ID refused %s, which expired on %s (%s): %s",
		e.What, e.At.In(cfg.TF.TimeZone).Format("2006-01-02"), e.Setting, e.fix())}
}

// credentialWarnings lists the expiry warnings for status and the failure mail: never nil, so JSON shows [].
func credentialWarnings(cfg *config.Config, now time.Time) []string {
	if w := credentialExpiryOf(cfg).Warning(now, cfg.TF.TimeZone); w != "" {
		return []string{w}
	}
	return []string{}
}

// logExpiryDaily logs the expiry warning at most once a calendar day (in [tf] time_zone), remembered in the store,
// so a pass every few minutes does not flood the log.
func logExpiryDaily(ctx context.Context, cfg *config.Config, st *calsync.Store, now time.Time) {
	w := credentialExpiryOf(cfg).Warning(now, cfg.TF.TimeZone)
	if w == "" || st == nil {
		return
	}
	today := now.In(cfg.TF.TimeZone).Format("2006-01-02")
	logged := false
	err := st.Update(ctx, func(tx *calsync.StoreTx) error {
		_, state, ok, err := tx.GetNotice(expiryNoticeKey)
		if err != nil || (ok && state == today) {
			return err
		}
		logged = true
		return tx.PutNotice(expiryNoticeKey, now, today)
	})
	if err == nil && logged {
		zerolog.Ctx(ctx).Warn().Msg(w)
	}
}
