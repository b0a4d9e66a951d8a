package exchangetest_test

import (
	"context"
	"testing"

	"tfsync/cmd"
	"tfsync/cmd/config"
	"tfsync/exchange"
	"tfsync/exchange/exchangetest"
)

// TestConformanceRealServer runs the suite against the server a tfsync configuration reaches, when
// TFSYNC_CONFORMANCE_CONFIG and TFSYNC_CONFORMANCE_MAILBOX are set (docs/conformance.md); otherwise it skips.
func TestConformanceRealServer(t *testing.T) {
	newHarness := exchangetest.RealHarness(t, func(ctx context.Context, path string) (exchange.Calendar, error) {
		cfg, _, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		return cmd.NewFactory(cmd.SystemIO()).NewCalendar(ctx, cfg)
	})
	exchangetest.Run(t, newHarness)
}
