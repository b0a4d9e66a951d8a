package cmd

import (
	"context"
	"errors"

	"tfsync/exchange"
)

// The HTTP backends are wired here as they land.
func newGraphCalendar(ctx context.Context, cfg *Config) (exchange.Calendar, error) {
	return nil, errors.New("the Microsoft Graph backend is not available in this build")
}

func newEWSCalendar(ctx context.Context, cfg *Config) (exchange.Calendar, error) {
	return nil, errors.New("the EWS backend is not available in this build")
}
