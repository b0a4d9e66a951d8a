package cmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tfsync/cmd/config"
	"tfsync/exchange"
	"tfsync/exchange/emulator"
	"tfsync/tf"
)

// The emulator's app registration and service account. They exist only inside the emulator.
const (
	emuTenantID = "4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
	emuClientID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	emuEWSUser  = `DEMO\svc-tf`
)

// EmulatorOptions are emulator's flags.
type EmulatorOptions struct {
	Listen     string
	Dir        string
	TFDatabase string
	Mailboxes  []string
}

// NewCmdEmulator wires `tfsync emulator`.
func NewCmdEmulator(f *Factory, runF func(context.Context, *EmulatorOptions) error) *cobra.Command {
	opts := &EmulatorOptions{}
	c := &cobra.Command{
		Use:   "emulator",
		Short: "Run the built-in Graph/Entra ID/EWS emulator on loopback for smoke tests",
		Long: `emulator runs the built-in emulator of Microsoft Graph, Entra ID and EWS over HTTPS on a loopback port
until stopped (Ctrl+C). It writes into --dir its CA certificate, the secrets, a TF database with demo data (unless
--tf-database names one), and two ready configurations, tfsync.toml (Graph) and tfsync-ews.toml (EWS), then
prints how to use them, e.g.:

  SSL_CERT_FILE=DIR/emulator-ca.pem tfsync sync --config DIR/tfsync.toml

A mailbox is created for every resource e-mail in the TF database, plus any --mailbox.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runEmulator(cmd.Context(), f, opts)
		},
	}
	c.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:0", "loopback address to listen on (port 0 picks a free one)")
	c.Flags().StringVar(&opts.Dir, "dir", "tfsync-emulator", "folder for the CA certificate, secrets, TF database and configurations")
	c.Flags().StringVar(&opts.TFDatabase, "tf-database", "", "use this TF database instead of demo data")
	c.Flags().StringSliceVar(&opts.Mailboxes, "mailbox", nil, "an extra mailbox to create (repeatable)")
	return c
}

// emulatorSetup is a running emulator with the files a tfsync configuration needs to reach it.
type emulatorSetup struct {
	em        *emulator.Emulator
	srv       *emulator.Server
	dir       string
	caFile    string
	tfDB      string
	mailboxes []string
}

func (s *emulatorSetup) Close() { s.srv.Close() }

// configTOML is a configuration for the given mode that points at the emulator.
func (s *emulatorSetup) configTOML(mode string) string { return s.configTOMLFor(mode, s.tfDB) }

// configTOMLFor is configTOML for another TF database.
func (s *emulatorSetup) configTOMLFor(mode, tfDB string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Points at the tfsync emulator at %s; written by tfsync.\n", s.srv.URL)
	fmt.Fprintf(&b, "[tf]\ndatabase = %s\ntime_zone = \"Europe/Stockholm\"\n\n", config.QuoteString(tfDB))
	fmt.Fprintf(&b, "[state]\npath = %s\n\n", config.QuoteString("tfsync-state-"+mode+".db"))
	// ca_file rather than SSL_CERT_FILE: Go on Windows verifies through the system store and ignores the variable.
	fmt.Fprintf(&b, "[exchange]\nmode = %q\nca_file = \"emulator-ca.pem\"\n\n", mode)
	if mode == "graph" {
		fmt.Fprintf(&b, "[exchange.graph]\ntenant_id = %q\nclient_id = %q\nclient_secret = \"file:client-secret.txt\"\n", emuTenantID, emuClientID)
		fmt.Fprintf(&b, "authority_host = %q\ngraph_url = %q\n\n", s.srv.URL+"/", s.srv.URL)
	} else {
		fmt.Fprintf(&b, "[exchange.ews]\nurl = %q\nusername = %s\npassword = \"file:ews-password.txt\"\nauth = \"ntlm\"\naccess = \"impersonation\"\n\n",
			s.srv.URL+"/EWS/Exchange.asmx", config.QuoteLiteral(emuEWSUser))
	}
	b.WriteString("[sync]\nallowed_domains = [\"example.com\"]\n")
	return b.String()
}

func mustStockholm() *time.Location {
	z, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		panic(err) // time/tzdata is linked in
	}
	return z
}

func newSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func setupEmulator(ctx context.Context, f *Factory, addr, dir, tfDB string, extra []string) (*emulatorSetup, error) {
	em := emulator.New(emulator.Options{Now: f.Now})
	srv, err := emulator.Serve(em, addr)
	if err != nil {
		return nil, fmt.Errorf("start the emulator: %w", err)
	}
	s := &emulatorSetup{em: em, srv: srv, dir: dir, tfDB: tfDB, caFile: filepath.Join(dir, "emulator-ca.pem")}
	secret, password := newSecret(), newSecret()
	em.AddApp(emulator.App{TenantID: emuTenantID, ClientID: emuClientID, SecretValue: secret, SecretID: newSecret()[:36], Consented: true})
	em.AddEWSAccount(emulator.EWSAccount{Username: emuEWSUser, Password: password, Impersonation: true})
	files := map[string][]byte{
		"emulator-ca.pem":   srv.CACertPEM,
		"client-secret.txt": []byte(secret + "\n"),
		"ews-password.txt":  []byte(password + "\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			srv.Close()
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
	}
	src, err := tf.OpenSQLite(tfDB, tf.SQLiteOptions{Zone: mustStockholm(), Now: f.Now})
	if err != nil {
		srv.Close()
		return nil, err
	}
	resources, err := src.Resources(ctx)
	src.Close()
	if err != nil {
		srv.Close()
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range resources {
		if e := strings.ToLower(strings.TrimSpace(r.Email)); e != "" && !seen[e] {
			seen[e] = true
			em.AddMailbox(e, emulator.MailboxOptions{})
			s.mailboxes = append(s.mailboxes, e)
		}
	}
	for _, e := range extra {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" && !seen[e] {
			seen[e] = true
			em.AddMailbox(e, emulator.MailboxOptions{})
			s.mailboxes = append(s.mailboxes, e)
		}
	}
	return s, nil
}

// calendarFor builds the real backend for cfg, trusting the emulator's CA.
func (s *emulatorSetup) calendarFor(ctx context.Context, cfg *config.Config) (exchange.Calendar, error) {
	client := s.srv.Client()
	switch cfg.Exchange.Mode {
	case "ews":
		return newEWSCalendar(ctx, cfg, client)
	default:
		return newGraphCalendar(ctx, cfg, client)
	}
}

func runEmulator(ctx context.Context, f *Factory, opts *EmulatorOptions) error {
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("make %s: %w", dir, err)
	}
	tfDB := opts.TFDatabase
	if tfDB == "" {
		tfDB = filepath.Join(dir, "tf.db")
		if _, err := os.Stat(tfDB); err != nil {
			if err := seedDemo(ctx, tfDB, f.Now(), mustStockholm()); err != nil {
				return err
			}
		}
	}
	// The EWS configuration gets a TF database of its own: one TF database is one installation with one state
	// store, and a second store on it is refused. With --tf-database both configurations name that database, and
	// only one of them can sync it.
	tfDBs := map[string]string{"graph": tfDB, "ews": tfDB}
	if opts.TFDatabase == "" {
		tfDBs["ews"] = filepath.Join(dir, "tf-ews.db")
		if _, err := os.Stat(tfDBs["ews"]); err != nil {
			if err := seedDemo(ctx, tfDBs["ews"], f.Now(), mustStockholm()); err != nil {
				return err
			}
		}
	}
	s, err := setupEmulator(ctx, f, opts.Listen, dir, tfDB, opts.Mailboxes)
	if err != nil {
		return err
	}
	defer s.Close()
	for mode, name := range map[string]string{"graph": "tfsync.toml", "ews": "tfsync-ews.toml"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s.configTOMLFor(mode, tfDBs[mode])), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	p := f.printer()
	if p.JSON() {
		// Written at once: the emulator runs until it is stopped, and a script needs its address now.
		err := p.ResultNow("emulator", struct {
			URL       string            `json:"url"`
			Mailboxes []string          `json:"mailboxes"`
			CAFile    string            `json:"ca_file"`
			Configs   map[string]string `json:"configs"`
		}{s.srv.URL, append([]string{}, s.mailboxes...), s.caFile,
			map[string]string{"graph": filepath.Join(dir, "tfsync.toml"), "ews": filepath.Join(dir, "tfsync-ews.toml")}})
		if err != nil {
			return err
		}
	}
	w := p.Text()
	fmt.Fprintf(w, "Emulator listening on %s (Entra ID, Graph under /v1.0, EWS at /EWS/Exchange.asmx, control API under /_emulator/).\n", s.srv.URL)
	fmt.Fprintf(w, "Mailboxes: %s\n", strings.Join(s.mailboxes, ", "))
	fmt.Fprintf(w, "CA certificate: %s\n", s.caFile)
	fmt.Fprintf(w, "Configurations: %s (Graph), %s (EWS)\n\n", filepath.Join(dir, "tfsync.toml"), filepath.Join(dir, "tfsync-ews.toml"))
	fmt.Fprintf(w, "Both configurations trust the emulator's CA through [exchange] ca_file, on Linux and on Windows alike.\n\n")
	fmt.Fprintf(w, "Try:\n  tfsync sync --config %s\n", filepath.Join(dir, "tfsync.toml"))
	fmt.Fprintf(w, "On Windows (PowerShell or cmd, in that folder):\n  .\\tfsync.exe sync --config tfsync.toml\n\nStop with Ctrl+C.\n")
	<-ctx.Done()
	return nil
}
