package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tfsync/cmd/exitcode"
)

// TestCAFileTrustedByEveryBackend: the configurations `tfsync emulator` writes reach it through the production
// wiring (no test client) because [exchange] ca_file names its CA; that is the path Windows needs, where Go ignores
// SSL_CERT_FILE. Without the setting the same server is not trusted, and a file without a certificate is a
// configuration error.
func TestCAFileTrustedByEveryBackend(t *testing.T) {
	t.Setenv("SSL_CERT_FILE", filepath.Join(t.TempDir(), "none.pem")) // the system store must not be what trusts it
	emu, cfg := graphEnv(t)
	ewsCfg := filepath.Join(filepath.Dir(cfg), "tfsync-ews.toml")
	if err := os.WriteFile(ewsCfg, []byte(emu.configTOML("ews")), 0o600); err != nil {
		t.Fatal(err)
	}
	prod := func(args ...string) (int, string) {
		io, out, errOut := TestIO()
		f := NewFactory(io) // newCalendar: the client comes from ca_file
		code := run(context.Background(), f, args)
		return code, out.String() + errOut.String()
	}
	for _, c := range []string{cfg, ewsCfg} {
		if code, out := prod("test-connection", "--config", c); code != exitcode.OK {
			t.Fatalf("%s with ca_file: exit %d\n%s", filepath.Base(c), code, out)
		}
	}

	rewrite(t, cfg, "ca_file = \"emulator-ca.pem\"\n", "")
	if code, out := prod("test-connection", "--config", cfg); code != exitcode.Auth || !strings.Contains(out, "[exchange] ca_file") {
		t.Fatalf("without ca_file: exit %d, want 3 naming ca_file\n%s", code, out)
	}
	rewrite(t, ewsCfg, "ca_file = \"emulator-ca.pem\"\n", "")
	if code, out := prod("test-connection", "--config", ewsCfg); code != exitcode.Auth || !strings.Contains(out, "[exchange] ca_file") {
		t.Fatalf("EWS without ca_file: exit %d, want 3 naming ca_file\n%s", code, out)
	}

	os.WriteFile(filepath.Join(filepath.Dir(cfg), "not-a-ca.pem"), []byte("hello\n"), 0o600)
	rewrite(t, cfg, "[exchange]\n", "[exchange]\nca_file = \"not-a-ca.pem\"\n")
	if code, out := prod("test-connection", "--config", cfg); code != exitcode.Usage || !strings.Contains(out, "holds no PEM certificate") {
		t.Fatalf("a file without a certificate: exit %d\n%s", code, out)
	}
}
