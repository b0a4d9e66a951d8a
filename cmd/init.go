package cmd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tfsync/cmd/config"
	"tfsync/tf"
)

// InitOptions are init's flags.
type InitOptions struct {
	config.InitValues // what goes into the file
	CreateTF          bool
	Force             bool
}

// NewCmdInit wires `tfsync init`.
func NewCmdInit(f *Factory, runF func(context.Context, *InitOptions) error) *cobra.Command {
	opts := &InitOptions{}
	c := &cobra.Command{
		Use:   "init",
		Short: "Write a commented configuration file (and, with --create-tf-database, an empty TF database)",
		Long: `init writes a commented tfsync.toml at --config with the values given as flags and placeholders for the
rest, ready for 'tfsync test-connection'. With --create-tf-database it also creates the TF integration schema in
the file named by --tf-database (an existing database is left as it is: the tables are created only if missing).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch opts.Mode {
			case "graph", "ews":
			default:
				return &usageError{fmt.Sprintf("--mode %q is not valid: use graph or ews", opts.Mode)}
			}
			for _, ref := range []string{opts.ClientSecret, opts.EWSPassword} {
				if ref != "" && !strings.HasPrefix(ref, "env:") && !strings.HasPrefix(ref, "file:") {
					return &usageError{"give secrets as env:NAME or file:PATH, never on the command line, where other users can see them"}
				}
			}
			if opts.SecretExpires != "" {
				if _, err := time.Parse("2006-01-02", opts.SecretExpires); err != nil {
					return &usageError{fmt.Sprintf("--client-secret-expires %q is not a date: write it as YYYY-MM-DD, the Expires date on the app's Certificates & secrets page", opts.SecretExpires)}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runInit(cmd.Context(), f, opts)
		},
	}
	fl := c.Flags()
	fl.StringVar(&opts.Mode, "mode", "graph", "graph (Office 365) or ews (on-premises Exchange)")
	fl.StringVar(&opts.TenantID, "tenant-id", "", "Directory (tenant) ID of the Entra ID app")
	fl.StringVar(&opts.ClientID, "client-id", "", "Application (client) ID of the Entra ID app")
	fl.StringVar(&opts.ClientSecret, "client-secret", "file:client-secret.txt", "where the client secret is: file:PATH (a scheduler sees it) or env:NAME")
	fl.StringVar(&opts.SecretExpires, "client-secret-expires", "", "the client secret's Expires date (YYYY-MM-DD): tfsync warns 30 days ahead")
	graph := config.Default().Exchange.Graph // the declared defaults, so init writes what an absent key means
	fl.StringVar(&opts.AuthorityHost, "authority-host", graph.AuthorityHost, "Entra ID authority host")
	fl.StringVar(&opts.GraphURL, "graph-url", graph.GraphURL, "Microsoft Graph URL")
	fl.StringVar(&opts.EWSURL, "ews-url", "https://mail.example.com/EWS/Exchange.asmx", "EWS URL (ends in .asmx)")
	fl.StringVar(&opts.EWSUser, "ews-username", `EXAMPLE\svc-tf`, "EWS service account")
	fl.StringVar(&opts.EWSPassword, "ews-password", "file:ews-password.txt", "where the EWS password is: file:PATH (a scheduler sees it) or env:NAME")
	fl.StringSliceVar(&opts.AllowedDomains, "allowed-domain", nil, "e-mail domain of the technicians' mailboxes (required; repeat for more; asked for on a terminal)")
	fl.StringVar(&opts.TFDatabase, "tf-database", "tf.db", "TF integration database")
	fl.BoolVar(&opts.CreateTF, "create-tf-database", false, "also create the TF integration schema in --tf-database")
	fl.BoolVar(&opts.Force, "force", false, "overwrite an existing configuration file")
	return c
}

func runInit(ctx context.Context, f *Factory, opts *InitOptions) error {
	// With --output json the text goes to stderr; stdout gets what was written and what is left to do.
	p := f.printer()
	res := initResult{Config: f.ConfigPath, NextSteps: []string{}}
	err := writeInit(ctx, f, p.Text(), opts, &res)
	if p.JSON() {
		if jerr := p.Result(res); jerr != nil && err == nil {
			err = jerr
		}
	}
	return err
}

// initResult is init's JSON result (docs/json.md).
type initResult struct {
	Config        string   `json:"config"`
	ConfigWritten bool     `json:"config_written"`
	TFDatabase    string   `json:"tf_database_created"` // "" when --create-tf-database was not given
	NextSteps     []string `json:"next_steps"`
}

// writeInit writes the configuration (and the TF schema), telling w what it did and what is left to do.
func writeInit(ctx context.Context, f *Factory, w io.Writer, opts *InitOptions, res *initResult) error {
	path := f.ConfigPath
	if _, err := os.Stat(path); err == nil && !opts.Force {
		if !opts.CreateTF {
			return &usageError{fmt.Sprintf("%s already exists: edit it, or give --force to overwrite it", path)}
		}
		// An existing installation that only needs the TF schema keeps its configuration.
		db, err := createTFSchema(ctx, w, path, opts.TFDatabase)
		res.TFDatabase = db
		return err
	}
	o := *opts
	if len(o.AllowedDomains) == 0 {
		domains, err := askAllowedDomains(f)
		if err != nil {
			return err
		}
		o.AllowedDomains = domains
	}
	for _, d := range o.AllowedDomains {
		if _, why := config.NormalizeDomain(d); why != "" {
			return &usageError{fmt.Sprintf("--allowed-domain %q is not a domain: %s; give a bare domain like example.com", d, why)}
		}
	}
	if o.TenantID == "" {
		o.TenantID = config.PlaceholderGUID
	}
	if o.ClientID == "" {
		o.ClientID = config.PlaceholderGUID
	}
	var buf bytes.Buffer
	if err := config.WriteTemplate(&buf, o.InitValues); err != nil {
		return fmt.Errorf("render the configuration: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("make the config folder: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(w, "Wrote %s.\n", path)
	res.ConfigWritten = true
	if opts.CreateTF {
		db, err := createTFSchema(ctx, w, path, opts.TFDatabase)
		res.TFDatabase = db
		if err != nil {
			return err
		}
	}
	for i, step := range initNextSteps(&o) {
		fmt.Fprintln(w, step)
		if i > 0 {
			res.NextSteps = append(res.NextSteps, strings.TrimSpace(step))
		}
	}
	return nil
}

// initNextSteps says what is left to do for the mode just written.
func initNextSteps(o *InitOptions) []string {
	steps := []string{"Next:"}
	if o.Mode == "ews" {
		steps = append(steps,
			"  1. Check url and username under [exchange.ews]: your Exchange server's EWS endpoint and the service account.",
			"  2. Put the service account's password where password says ("+o.EWSPassword+"), readable only by the account that runs tfsync.",
			"  3. Give the service account the ApplicationImpersonation role (or, with access = \"delegate\", Editor on each technician's calendar).",
			"  4. Run 'tfsync test-connection'.")
		return steps
	}
	n := 1
	if o.TenantID == config.PlaceholderGUID || o.ClientID == config.PlaceholderGUID {
		steps = append(steps, fmt.Sprintf("  %d. Replace the placeholder tenant_id and client_id with the ids on the app's Overview page in Entra ID.", n))
		n++
	}
	steps = append(steps, fmt.Sprintf("  %d. Put the client secret's Value where client_secret says (%s), readable only by the account that runs tfsync.", n, o.ClientSecret))
	n++
	if o.SecretExpires == "" {
		steps = append(steps, fmt.Sprintf("  %d. Write the secret's Expires date into client_secret_expires, so tfsync warns before it expires.", n))
		n++
	}
	steps = append(steps, fmt.Sprintf("  %d. Run 'tfsync test-connection'.", n))
	return steps
}

// askAllowedDomains asks for the mailbox domains on a terminal; elsewhere --allowed-domain is required, since a
// guessed domain would make every resource "outside allowed_domains" without saying why.
func askAllowedDomains(f *Factory) ([]string, error) {
	const need = "--allowed-domain is required: give the e-mail domain of the technicians' mailboxes, e.g. --allowed-domain example.com (repeat it for more)"
	if !f.IO.InTTY {
		return nil, &usageError{need}
	}
	fmt.Fprint(f.IO.ErrOut, "E-mail domain(s) of the technicians' mailboxes, separated by commas (e.g. example.com): ")
	line, err := bufio.NewReader(f.IO.In).ReadString('\n')
	if err != nil && line == "" {
		return nil, &usageError{need}
	}
	var domains []string
	for _, d := range strings.Split(line, ",") {
		if d = strings.TrimSpace(d); d != "" {
			domains = append(domains, d)
		}
	}
	if len(domains) == 0 {
		return nil, &usageError{need}
	}
	return domains, nil
}

// createTFSchema creates TF's integration schema in db (relative to the configuration's folder), leaving any
// existing tables and rows as they are.
func createTFSchema(ctx context.Context, w io.Writer, configPath, db string) (string, error) {
	if !filepath.IsAbs(db) {
		db = filepath.Join(filepath.Dir(configPath), db)
	}
	if err := tf.CreateSchema(ctx, db); err != nil {
		return "", fmt.Errorf("create the TF schema in %s: %w", db, err)
	}
	fmt.Fprintf(w, "Created the TF integration schema in %s (existing tables and rows are kept).\n", db)
	return db, nil
}
