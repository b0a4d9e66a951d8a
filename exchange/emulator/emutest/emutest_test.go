package emutest

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"tfsync/exchange"
)

// The standard rig: the Graph client reaches the usable mailboxes and is refused the blocked one, over TLS that
// only the rig's CA opens; the emulator reads the rig's clock.
func TestStartStandard(t *testing.T) {
	start := time.Date(2026, 3, 20, 10, 0, 0, 0, time.UTC)
	r := Start(t, Options{Start: start})
	c := r.Graph(t, nil)
	ctx := context.Background()
	if err := c.CheckCredentials(ctx); err != nil {
		t.Fatalf("standard app: %v", err)
	}
	for _, mb := range []string{Anna, Bo} {
		if err := c.CheckAccess(ctx, mb); err != nil {
			t.Errorf("%s: %v", mb, err)
		}
	}
	if err := c.CheckAccess(ctx, Blocked); !errors.Is(err, exchange.ErrAccessDenied) {
		t.Errorf("%s: %v, want access denied", Blocked, err)
	}
	if r.Clock.Now() != start || r.Server == nil {
		t.Errorf("clock at %v, server %v", r.Clock.Now(), r.Server)
	}

	// Without the rig's CA the server is not trusted.
	plain := &http.Client{Transport: &http.Transport{Proxy: nil}}
	if resp, err := plain.Get(r.URL() + "/v1.0/"); err == nil {
		resp.Body.Close()
		t.Error("a client without the rig's CA reached the server")
	}
	data, err := os.ReadFile(r.WriteCA(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(data) {
		t.Error("WriteCA wrote no certificate")
	}
}

// Options: own mailboxes replace the standard ones, and an empty list means none.
func TestNewMailboxes(t *testing.T) {
	ctx := context.Background()
	own := New(t, Options{Mailboxes: []string{"tech1@example.com"}})
	if err := own.Emulator.CheckAccess(ctx, "tech1@example.com"); err != nil {
		t.Errorf("own mailbox: %v", err)
	}
	if err := own.Emulator.CheckAccess(ctx, Anna); err == nil {
		t.Errorf("%s exists beside the test's own mailboxes", Anna)
	}
	none := New(t, Options{Mailboxes: []string{}})
	if err := none.Emulator.CheckAccess(ctx, Anna); err == nil {
		t.Errorf("%s exists with an empty mailbox list", Anna)
	}
}

// Backoff records every wait asked for, serves at most Cap, and gives up when the context ends.
func TestBackoff(t *testing.T) {
	b := &Backoff{}
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.Sleep(ctx, time.Hour); err != nil {
		t.Fatalf("Sleep without a cap: %v", err)
	}
	capped := &Backoff{Cap: time.Millisecond}
	if err := capped.Sleep(ctx, time.Hour); err != nil {
		t.Fatalf("capped Sleep: %v", err)
	}
	cancel()
	if err := b.Sleep(ctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep after the context ended: %v, want context.Canceled", err)
	}
	if got := b.Waits(); len(got) != 2 || got[0] != time.Hour || got[1] != time.Second {
		t.Errorf("waits %v, want [1h 1s]", got)
	}
}
