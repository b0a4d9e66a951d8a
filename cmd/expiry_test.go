package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tfsync/cmd/exitcode"
	"tfsync/exchange/emulator"
)

// TestSecretExpiryWarnings: a client secret that expires within 30 days is warned about by test-connection and
// status, and in the log once a day, not on every pass.
func TestSecretExpiryWarnings(t *testing.T) {
	e := newEnv(t, "")
	rewrite(t, e.config, `client_secret = "env:TFSYNC_TEST_SECRET"`, "client_secret = \"env:TFSYNC_TEST_SECRET\"\nclient_secret_expires = 2026-04-05")
	const warn = "the client secret expires on 2026-04-05, in 16 days"

	code, _, stderr := e.run("sync")
	if code != exitcode.OK || strings.Count(stderr, warn) != 1 {
		t.Fatalf("first pass: exit %d, want the warning once in the log:\n%s", code, stderr)
	}
	e.clock.Advance(5 * time.Minute)
	if _, _, stderr = e.run("sync"); strings.Contains(stderr, "expires on") {
		t.Errorf("the warning is logged again the same day:\n%s", stderr)
	}
	e.clock.Advance(24 * time.Hour)
	if _, _, stderr = e.run("sync"); !strings.Contains(stderr, "in 15 days") {
		t.Errorf("the warning is not logged the next day:\n%s", stderr)
	}

	if _, out, _ := e.run("status"); !strings.Contains(out, "Warning: the client secret expires on 2026-04-05") {
		t.Errorf("status does not warn:\n%s", out)
	}
	_, out, _ := e.run("status", "--output", "json")
	var st struct{ Warnings []string }
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "client_secret_expires") {
		t.Errorf("status JSON warnings = %q (%v)\n%s", st.Warnings, err, out)
	}
	if _, out, _ := e.run("test-connection"); !strings.Contains(out, "WARN  credential expiry") || !strings.Contains(out, "Connection test passed") {
		t.Errorf("test-connection does not warn, or fails on a warning:\n%s", out)
	}

	// Far from the date, nothing is said.
	e.clock.Set(time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC))
	if _, out, stderr := e.run("status"); strings.Contains(out+stderr, "expires") {
		t.Errorf("a warning three months ahead:\n%s", out)
	}
}

// TestExpiredCredentialNamedAsCause: when Entra ID refuses an expired secret or certificate, tfsync names the
// expiry, with its date and where it comes from, rather than a bare AADSTS code.
func TestExpiredCredentialNamedAsCause(t *testing.T) {
	emu, cfg := graphEnv(t)
	dir := filepath.Dir(cfg)
	secret, _ := os.ReadFile(filepath.Join(dir, "client-secret.txt"))
	rewrite(t, cfg, `client_secret = "file:client-secret.txt"`, "client_secret = \"file:client-secret.txt\"\nclient_secret_expires = 2026-01-31")
	emu.em.AddApp(emulator.App{TenantID: emuTenantID, ClientID: emuClientID, SecretValue: strings.TrimSpace(string(secret)),
		SecretID: "2b1f6c1e-7d3a-4e1b-9f0a-5c4d3e2f1a0b", SecretExpired: true, Consented: true})
	now := time.Date(2026, 2, 10, 9, 0, 0, 0, time.UTC)
	code, out := testConnectionAt(t, emu, cfg, now)
	if code != exitcode.Auth || !strings.Contains(out, "Entra ID refused the client secret, which expired on 2026-01-31 ([exchange.graph] client_secret_expires)") ||
		!strings.Contains(out, "AADSTS7000222") {
		t.Fatalf("exit %d\n%s", code, out)
	}

	// A certificate's own notAfter is read: one that expires in ten days is warned about.
	certPEM, keyPEM := testCert(t, now.Add(10*24*time.Hour))
	os.WriteFile(filepath.Join(dir, "tfsync.pem"), append(certPEM, keyPEM...), 0o600)
	rewrite(t, cfg, "client_secret = \"file:client-secret.txt\"\nclient_secret_expires = 2026-01-31", `certificate = "file:tfsync.pem"`)
	emu.em.AddApp(emulator.App{TenantID: emuTenantID, ClientID: emuClientID, CertificatePEM: certPEM, Consented: true})
	code, out = testConnectionAt(t, emu, cfg, now)
	if code != exitcode.OK || !strings.Contains(out, "the certificate expires on 2026-02-20, in 10 days") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func testConnectionAt(t *testing.T, emu *emulatorSetup, cfg string, now time.Time) (int, string) {
	t.Helper()
	io, out, errOut := TestIO()
	f := NewFactory(io)
	f.Now = func() time.Time { return now }
	f.NewCalendar = emu.calendarFor
	code := run(t.Context(), f, []string{"test-connection", "--config", cfg})
	return code, out.String() + errOut.String()
}
