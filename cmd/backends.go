package cmd

import (
	"context"
	"fmt"
	"net/http"

	"tfsync/cmd/config"
	"tfsync/exchange"
	"tfsync/exchange/ews"
	"tfsync/exchange/graph"
)

// newGraphCalendar builds the Microsoft Graph backend from [exchange.graph]. client is nil in production (the
// system trust store); the demo passes one that trusts its emulator.
func newGraphCalendar(ctx context.Context, cfg *config.Config, client *http.Client) (exchange.Calendar, error) {
	g := cfg.Exchange.Graph
	opts := graph.Options{
		TenantID:       g.TenantID,
		ClientID:       g.ClientID,
		AuthorityHost:  g.AuthorityHost,
		GraphURL:       g.GraphURL,
		HTTPClient:     client,
		Zone:           cfg.TF.TimeZone,
		MaxConcurrency: 2 * cfg.Sync.Concurrency,
	}
	if g.ClientSecret.IsSet() {
		v, err := g.ClientSecret.Value()
		if err != nil {
			return nil, err
		}
		opts.ClientSecret = v
	}
	if g.Certificate.IsSet() {
		v, err := g.Certificate.Value()
		if err != nil {
			return nil, err
		}
		opts.CertificatePEM = []byte(v)
	}
	c, err := graph.New(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: set up the Microsoft Graph backend: %w", config.ErrConfig, err)
	}
	return c, nil
}

// newEWSCalendar builds the EWS backend from [exchange.ews].
func newEWSCalendar(ctx context.Context, cfg *config.Config, client *http.Client) (exchange.Calendar, error) {
	e := cfg.Exchange.EWS
	password, err := e.Password.Value()
	if err != nil {
		return nil, err
	}
	c, err := ews.New(ews.Options{
		URL:            e.URL,
		Username:       e.Username,
		Password:       password,
		Auth:           e.Auth,
		Access:         e.Access,
		HTTPClient:     client,
		Zone:           cfg.TF.TimeZone,
		MaxConcurrency: cfg.Sync.Concurrency,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: set up the EWS backend: %w", config.ErrConfig, err)
	}
	return c, nil
}
