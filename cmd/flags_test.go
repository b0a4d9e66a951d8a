package cmd

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"tfsync/cmd/config"
)

// Each command's flags are tested through its runF seam, as the GitHub CLI does: argv in, the options struct the
// run function would receive out, or the usage error a bad combination gets. The run function never executes.

// flagCase is one argv for a command: the options it yields, or a usage error containing wantErr.
type flagCase[O any] struct {
	name    string
	argv    string
	want    O
	wantErr string
}

func testFlags[O any](t *testing.T, newCmd func(*Factory, func(context.Context, *O) error) *cobra.Command, cases []flagCase[O]) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			streams, _, _ := TestIO()
			var got *O
			c := newCmd(NewFactory(streams), func(_ context.Context, o *O) error { got = o; return nil })
			// A parent with the root's error handling, so flag and argument errors are usage errors as in tfsync.
			root := &cobra.Command{Use: "tfsync", SilenceErrors: true, SilenceUsage: true}
			root.SetFlagErrorFunc(flagUsageError)
			root.AddCommand(c)
			typeArgErrors(root)
			root.SetArgs(append([]string{c.Name()}, strings.Fields(tt.argv)...))
			root.SetOut(streams.Out)
			root.SetErr(streams.ErrOut)
			err := root.ExecuteContext(context.Background())
			if tt.wantErr != "" {
				var ue *usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("%s %s: error = %v, want a usage error containing %q", c.Name(), tt.argv, err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("the run function was called despite the usage error, with %+v", *got)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s %s: %v", c.Name(), tt.argv, err)
			}
			if got == nil {
				t.Fatal("the run function was not called")
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("%s %s:\noptions = %+v\nwant      %+v", c.Name(), tt.argv, *got, tt.want)
			}
		})
	}
}

func TestNewCmdSync(t *testing.T) {
	testFlags(t, NewCmdSync, []flagCase[SyncOptions]{
		{name: "no flags", argv: "", want: SyncOptions{}},
		{name: "full and force", argv: "--full --force", want: SyncOptions{Full: true, Force: true}},
		{name: "resources repeat", argv: "--resource RES-101 --resource anna@example.com",
			want: SyncOptions{Resources: []string{"RES-101", "anna@example.com"}}},
		{name: "a comma stays in one resource", argv: "--resource a,b", want: SyncOptions{Resources: []string{"a,b"}}},
		{name: "rebuild", argv: "--rebuild", want: SyncOptions{Rebuild: true}},
		{name: "take over", argv: "--take-over", want: SyncOptions{TakeOver: true}},
		{name: "scoped force", argv: "--resource RES-101 --force", want: SyncOptions{Resources: []string{"RES-101"}, Force: true}},
		{name: "rebuild with resource", argv: "--rebuild --resource RES-101", wantErr: "cannot be combined with --resource"},
		{name: "an argument", argv: "now", wantErr: "does not take the argument"},
		{name: "unknown flag", argv: "--dry", wantErr: "unknown flag: --dry"},
	})
}

func TestNewCmdDryRun(t *testing.T) {
	testFlags(t, NewCmdDryRun, []flagCase[DryRunOptions]{
		{name: "no flags", argv: "", want: DryRunOptions{}},
		{name: "full", argv: "--full", want: DryRunOptions{Full: true}},
		{name: "force", argv: "--force", want: DryRunOptions{Force: true}},
		{name: "resources", argv: "--resource RES-101 --resource RES-102", want: DryRunOptions{Resources: []string{"RES-101", "RES-102"}}},
		{name: "no rebuild", argv: "--rebuild", wantErr: "unknown flag: --rebuild"},
		{name: "an argument", argv: "RES-101", wantErr: "does not take the argument"},
	})
}

func TestNewCmdStatus(t *testing.T) {
	testFlags(t, NewCmdStatus, []flagCase[StatusOptions]{
		{name: "defaults", argv: "", want: StatusOptions{Runs: 10, MaxAge: defaultMaxAge}},
		{name: "check", argv: "--check", want: StatusOptions{Runs: 10, Check: true, MaxAge: 45 * time.Minute}},
		{name: "runs and max age", argv: "--runs 3 --max-age 2h", want: StatusOptions{Runs: 3, MaxAge: 2 * time.Hour}},
		{name: "runs 0", argv: "--runs 0", wantErr: "--runs must be at least 1"},
		{name: "max age 0", argv: "--max-age 0s", wantErr: "--max-age must be a positive duration"},
		{name: "max age negative", argv: "--max-age -5m", wantErr: "--max-age must be a positive duration"},
		{name: "max age without unit", argv: "--max-age 45", wantErr: "invalid argument"},
		{name: "an argument", argv: "now", wantErr: "does not take the argument"},
	})
}

func TestNewCmdListResources(t *testing.T) {
	testFlags(t, NewCmdListResources, []flagCase[ListResourcesOptions]{
		{name: "no flags", argv: "", want: ListResourcesOptions{}},
		{name: "check", argv: "--check", want: ListResourcesOptions{Check: true}},
		{name: "an argument", argv: "RES-101", wantErr: "does not take the argument"},
	})
}

func TestNewCmdTestConnection(t *testing.T) {
	testFlags(t, NewCmdTestConnection, []flagCase[TestConnectionOptions]{
		{name: "no flags", argv: "", want: TestConnectionOptions{}},
		{name: "round trip", argv: "--round-trip anna@example.com", want: TestConnectionOptions{RoundTrip: "anna@example.com"}},
		{name: "round trip with =", argv: "--round-trip=anna@example.com", want: TestConnectionOptions{RoundTrip: "anna@example.com"}},
		{name: "round trip without a mailbox", argv: "--round-trip", wantErr: "flag needs an argument"},
		{name: "an argument", argv: "anna@example.com", wantErr: "does not take the argument"},
	})
}

func TestNewCmdShow(t *testing.T) {
	testFlags(t, NewCmdShow, []flagCase[ShowOptions]{
		{name: "resource", argv: "--resource RES-101", want: ShowOptions{Resource: "RES-101"}},
		{name: "resource by e-mail", argv: "--resource anna@example.com", want: ShowOptions{Resource: "anna@example.com"}},
		{name: "booking", argv: "--booking BES-10233", want: ShowOptions{Booking: "BES-10233"}},
		{name: "neither", argv: "", wantErr: "give exactly one of --resource"},
		{name: "both", argv: "--resource RES-101 --booking BES-10233", wantErr: "give exactly one of --resource"},
		{name: "an argument", argv: "--resource RES-101 extra", wantErr: "does not take the argument"},
	})
}

func TestNewCmdInit(t *testing.T) {
	defaults := InitOptions{InitValues: config.InitValues{Mode: "graph", ClientSecret: "file:client-secret.txt",
		AuthorityHost: "https://login.microsoftonline.com/", GraphURL: "https://graph.microsoft.com",
		EWSURL: "https://mail.example.com/EWS/Exchange.asmx", EWSUser: `EXAMPLE\svc-tf`, EWSPassword: "file:ews-password.txt",
		TFDatabase: "tf.db"}}
	with := func(change func(*InitOptions)) InitOptions {
		o := defaults
		change(&o)
		return o
	}
	testFlags(t, NewCmdInit, []flagCase[InitOptions]{
		{name: "defaults", argv: "", want: defaults},
		{name: "graph app", argv: "--tenant-id T --client-id C --client-secret env:SECRET --client-secret-expires 2028-12-31 --allowed-domain example.com",
			want: with(func(o *InitOptions) {
				o.TenantID, o.ClientID, o.ClientSecret, o.SecretExpires = "T", "C", "env:SECRET", "2028-12-31"
				o.AllowedDomains = []string{"example.com"}
			})},
		{name: "domains repeat and split at commas", argv: "--allowed-domain example.com,example.org --allowed-domain example.net",
			want: with(func(o *InitOptions) { o.AllowedDomains = []string{"example.com", "example.org", "example.net"} })},
		{name: "ews", argv: `--mode ews --ews-url https://ex.example.com/EWS/Exchange.asmx --ews-username DOM\svc --ews-password env:PW`,
			want: with(func(o *InitOptions) {
				o.Mode, o.EWSURL, o.EWSUser, o.EWSPassword = "ews", "https://ex.example.com/EWS/Exchange.asmx", `DOM\svc`, "env:PW"
			})},
		{name: "urls", argv: "--authority-host https://127.0.0.1:9443/ --graph-url https://127.0.0.1:9443",
			want: with(func(o *InitOptions) {
				o.AuthorityHost, o.GraphURL = "https://127.0.0.1:9443/", "https://127.0.0.1:9443"
			})},
		{name: "tf database", argv: "--tf-database /srv/tf/tf.db --create-tf-database --force",
			want: with(func(o *InitOptions) { o.TFDatabase, o.CreateTF, o.Force = "/srv/tf/tf.db", true, true })},
		{name: "bad mode", argv: "--mode exchange", wantErr: `--mode "exchange" is not valid`},
		{name: "client secret on the command line", argv: "--client-secret s3cr3t", wantErr: "give secrets as env:NAME or file:PATH"},
		{name: "ews password on the command line", argv: "--mode ews --ews-password hunter2", wantErr: "give secrets as env:NAME or file:PATH"},
		{name: "expiry not a date", argv: "--client-secret-expires 31/12/2028", wantErr: "is not a date"},
		{name: "an argument", argv: "tfsync.toml", wantErr: "does not take the argument"},
	})
}

func TestNewCmdUninstall(t *testing.T) {
	testFlags(t, NewCmdUninstall, []flagCase[UninstallOptions]{
		{name: "no flags", argv: "", want: UninstallOptions{}},
		{name: "yes", argv: "--yes", want: UninstallOptions{Yes: true}},
		{name: "drop tf tables", argv: "--yes --drop-tf-tables", want: UninstallOptions{Yes: true, DropTFTables: true}},
		{name: "an argument", argv: "yes", wantErr: "does not take the argument"},
	})
}

func TestNewCmdDemo(t *testing.T) {
	testFlags(t, NewCmdDemo, []flagCase[DemoOptions]{
		{name: "defaults", argv: "", want: DemoOptions{Mode: "graph"}},
		{name: "ews kept", argv: "--mode ews --keep", want: DemoOptions{Mode: "ews", Keep: true}},
		{name: "dir", argv: "--dir /tmp/demo", want: DemoOptions{Mode: "graph", Dir: "/tmp/demo"}},
		{name: "bad mode", argv: "--mode owa", wantErr: `--mode "owa" is not valid: use graph or ews`},
		{name: "an argument", argv: "ews", wantErr: "does not take the argument"},
	})
}

func TestNewCmdEmulator(t *testing.T) {
	testFlags(t, NewCmdEmulator, []flagCase[EmulatorOptions]{
		{name: "defaults", argv: "", want: EmulatorOptions{Listen: "127.0.0.1:0", Dir: "tfsync-emulator"}},
		{name: "all flags", argv: "--listen 127.0.0.1:8443 --dir emu --tf-database tf.db --mailbox a@example.com,b@example.com --mailbox c@example.com",
			want: EmulatorOptions{Listen: "127.0.0.1:8443", Dir: "emu", TFDatabase: "tf.db",
				Mailboxes: []string{"a@example.com", "b@example.com", "c@example.com"}}},
		{name: "an argument", argv: "start", wantErr: "does not take the argument"},
	})
}

func TestNewCmdVersion(t *testing.T) {
	testFlags(t, NewCmdVersion, []flagCase[VersionOptions]{
		{name: "no flags", argv: "", want: VersionOptions{}},
		{name: "a flag", argv: "--short", wantErr: "unknown flag: --short"},
		{name: "an argument", argv: "now", wantErr: "does not take the argument"},
	})
}

// TestEveryCommandHasAFlagTest keeps this file in step with the command tree: a new command gets a table here.
func TestEveryCommandHasAFlagTest(t *testing.T) {
	tested := map[string]bool{"sync": true, "dry-run": true, "status": true, "list-resources": true, "test-connection": true,
		"show": true, "init": true, "uninstall": true, "demo": true, "emulator": true, "version": true}
	for _, c := range NewCmdRoot(NewFactory(&IOStreams{})).Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if !tested[c.Name()] {
			t.Errorf("tfsync %s has no table of argv -> options in flags_test.go", c.Name())
		}
	}
}
