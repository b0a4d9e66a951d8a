package cmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tfsync/cmd/exitcode"
	"tfsync/exchange/emulator"
)

// graphEnv is a demo installation reached through the real Graph backend over HTTPS, as `tfsync emulator` sets it
// up; each test case then breaks one thing an admin can get wrong.
func graphEnv(t *testing.T) (*emulatorSetup, string) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	tfDB := filepath.Join(dir, "tf.db")
	if err := seedDemo(ctx, tfDB, testNow, mustStockholm()); err != nil {
		t.Fatal(err)
	}
	io, _, _ := TestIO()
	f := NewFactory(io)
	emu, err := setupEmulator(ctx, f, "127.0.0.1:0", dir, tfDB, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	cfg := filepath.Join(dir, "tfsync.toml")
	if err := os.WriteFile(cfg, []byte(emu.configTOML("graph")), 0o600); err != nil {
		t.Fatal(err)
	}
	return emu, cfg
}

func testConnection(t *testing.T, emu *emulatorSetup, cfg string, args ...string) (int, string) {
	t.Helper()
	io, out, errOut := TestIO()
	f := NewFactory(io)
	f.NewCalendar = emu.calendarFor
	code := run(context.Background(), f, append([]string{"test-connection", "--config", cfg}, args...))
	return code, out.String() + errOut.String()
}

func TestTestConnectionGraphFailures(t *testing.T) {
	emu, cfg := graphEnv(t)
	if code, out := testConnection(t, emu, cfg); code != exitcode.OK {
		t.Fatalf("a good setup fails: exit %d\n%s", code, out)
	}
	secretFile := filepath.Join(filepath.Dir(cfg), "client-secret.txt")
	secret, _ := os.ReadFile(secretFile)
	app := emulator.App{TenantID: emuTenantID, ClientID: emuClientID, SecretValue: strings.TrimSpace(string(secret)),
		SecretID: "2b1f6c1e-7d3a-4e1b-9f0a-5c4d3e2f1a0b", Consented: true}
	cases := []struct {
		name   string
		break_ func()
		want   []string
	}{
		// The secret's ID pasted instead of its value is refused before Entra ID is asked: TestSecretInputs.
		{"wrong secret", func() {
			os.WriteFile(secretFile, []byte("not-the-secret\n"), 0o600)
		}, []string{"AADSTS7000215", "client secret is wrong"}},
		{"expired secret", func() {
			a := app
			a.SecretExpired = true
			emu.em.AddApp(a)
		}, []string{"AADSTS7000222", "expired"}},
		{"wrong client id", func() {
			rewrite(t, cfg, emuClientID, "0a0b0c0d-1111-4222-8333-444455556666")
		}, []string{"AADSTS700016", "Application (client) ID"}},
		{"wrong tenant id", func() {
			rewrite(t, cfg, emuTenantID, "5e5e5e5e-1111-4222-8333-444455556666")
		}, []string{"tenant", "Directory (tenant) ID"}},
		{"admin consent not granted", func() {
			a := app
			a.Consented = false
			emu.em.AddApp(a)
		}, []string{"admin consent", "Calendars.ReadWrite"}},
		{"mailbox blocked by an ApplicationAccessPolicy", func() {
			emu.em.SetMailbox("sara.nilsson@example.com", emulator.MailboxOptions{Blocked: true})
		}, []string{"sara.nilsson@example.com", "ApplicationAccessPolicy"}},
		{"mailbox without an Exchange Online licence", func() {
			emu.em.SetMailbox("johan.berg@example.com", emulator.MailboxOptions{Unlicensed: true})
		}, []string{"johan.berg@example.com", "licence"}},
		{"mailbox that does not exist", func() {
			emu.em.RemoveMailbox("mehmet.yilmaz@example.com")
		}, []string{"mehmet.yilmaz@example.com", "Inställningar -> Grunddata -> Resurser"}},
	}
	orig, _ := os.ReadFile(cfg)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Each case starts from the good setup.
			os.WriteFile(cfg, orig, 0o600)
			os.WriteFile(secretFile, secret, 0o600)
			emu.em.AddApp(app)
			for _, mb := range emu.mailboxes {
				emu.em.AddMailbox(mb, emulator.MailboxOptions{})
			}
			tc.break_()
			code, out := testConnection(t, emu, cfg)
			if code != exitcode.Auth {
				t.Fatalf("exit %d, want 3\n%s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, strings.TrimSpace(string(secret))) {
				t.Error("the secret was printed")
			}
		})
	}
	t.Run("json for scripts", func(t *testing.T) {
		os.WriteFile(cfg, orig, 0o600)
		os.WriteFile(secretFile, secret, 0o600)
		emu.em.AddApp(app)
		emu.em.SetMailbox("sara.nilsson@example.com", emulator.MailboxOptions{Blocked: true})
		io, out, _ := TestIO()
		f := NewFactory(io)
		f.NewCalendar = emu.calendarFor
		code := run(context.Background(), f, []string{"test-connection", "--config", cfg, "--output", "json"})
		var res checkList
		if err := json.Unmarshal(out.Bytes(), &res); err != nil || code != exitcode.Auth || res.OK {
			t.Fatalf("exit %d, %v\n%s", code, err, out)
		}
		// list-resources --check reports the same mailbox, and exits 3.
		io2, out2, _ := TestIO()
		f2 := NewFactory(io2)
		f2.NewCalendar = emu.calendarFor
		code = run(context.Background(), f2, []string{"list-resources", "--check", "--config", cfg})
		if code != exitcode.Auth || !strings.Contains(out2.String(), "ApplicationAccessPolicy") {
			t.Fatalf("list-resources --check: exit %d\n%s", code, out2)
		}
	})
}

func rewrite(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(b), old, new)), 0o600); err != nil {
		t.Fatal(err)
	}
}
