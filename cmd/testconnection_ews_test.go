package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tfsync/cmd/exitcode"
	"tfsync/exchange/emulator"
)

func TestTestConnectionEWSFailures(t *testing.T) {
	emu, _ := graphEnv(t)
	dir := filepath.Dir(emu.caFile)
	cfg := filepath.Join(dir, "tfsync-ews.toml")
	if err := os.WriteFile(cfg, []byte(emu.configTOML("ews")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := testConnection(t, emu, cfg); code != exitcode.OK {
		t.Fatalf("a good setup fails: exit %d\n%s", code, out)
	}
	pwFile := filepath.Join(dir, "ews-password.txt")
	pw, _ := os.ReadFile(pwFile)
	account := emulator.EWSAccount{Username: emuEWSUser, Password: strings.TrimSpace(string(pw)), Impersonation: true}
	orig, _ := os.ReadFile(cfg)
	cases := []struct {
		name   string
		break_ func()
		want   []string
	}{
		{"wrong password", func() { os.WriteFile(pwFile, []byte("wrong\n"), 0o600) },
			[]string{"was refused", `DOMAIN\user`, "password"}},
		{"no ApplicationImpersonation role", func() {
			a := account
			a.Impersonation = false
			emu.em.AddEWSAccount(a)
		}, []string{"may not impersonate", "ApplicationImpersonation"}},
		{"impersonation scope leaves out a mailbox", func() {
			emu.em.SetMailbox("sara.nilsson@example.com", emulator.MailboxOptions{NoImpersonation: true})
		}, []string{"sara.nilsson@example.com", "ApplicationImpersonation"}},
		{"delegate without Editor rights", func() {
			rewrite(t, cfg, `access = "impersonation"`, `access = "delegate"`)
			emu.em.SetMailbox("johan.berg@example.com", emulator.MailboxOptions{NoDelegate: true})
		}, []string{"johan.berg@example.com", "Editor"}},
		{"mailbox that does not exist", func() {
			emu.em.RemoveMailbox("mehmet.yilmaz@example.com")
		}, []string{"mehmet.yilmaz@example.com", "primary SMTP address"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(cfg, orig, 0o600)
			os.WriteFile(pwFile, pw, 0o600)
			emu.em.AddEWSAccount(account)
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
			if strings.Contains(out, account.Password) {
				t.Error("the password was printed")
			}
		})
	}
	t.Run("a URL that is not an .asmx", func(t *testing.T) {
		os.WriteFile(cfg, orig, 0o600)
		rewrite(t, cfg, "/EWS/Exchange.asmx", "/EWS/")
		code, out := testConnection(t, emu, cfg)
		if code != exitcode.Usage || !strings.Contains(out, ".asmx") || !strings.Contains(out, "https://mail.example.com/EWS/Exchange.asmx") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
}

// The EWS story end to end through the command line, as `tfsync demo --mode ews` tells it.
func TestDemoOverEWS(t *testing.T) {
	io, out, _ := TestIO()
	f := NewFactory(io)
	code := run(context.Background(), f, []string{"demo", "--mode", "ews", "--dir", t.TempDir()})
	if s := out.String(); code != exitcode.OK || !strings.Contains(s, "EWS (SyncFolderItems") || !strings.Contains(s, "version 2") {
		t.Fatalf("exit %d\n%s", code, s)
	}
}
