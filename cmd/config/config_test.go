package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"tfsync/tf"
)

const configTestDir = "testdata"

func configTestdata(t testing.TB, name string) (path, dir string) {
	t.Helper()
	path = filepath.Join(configTestDir, name)
	dir, err := filepath.Abs(configTestDir)
	if err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// writeConfig writes a config file into a fresh temp folder and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tfsync.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoadConfig(t *testing.T, path string) (*Config, []string) {
	t.Helper()
	cfg, warnings, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return cfg, warnings
}

func configProblems(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		t.Fatal("Load succeeded, want a configuration error")
	}
	if !errors.Is(err, ErrConfig) {
		t.Errorf("errors.Is(err, ErrConfig) = false for %v", err)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %T is not a *Error: %v", err, err)
	}
	return ce.Problems
}

// The graph part of a valid config, for tests that vary the rest.
const configTestGraph = `[tf]
database = "tf.db"

[exchange]
mode = "graph"

[exchange.graph]
tenant_id = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
`

func TestLoadConfigGood(t *testing.T) {
	path, dir := configTestdata(t, "good.toml")
	cfg, warnings := mustLoadConfig(t, path)
	if len(warnings) != 0 {
		t.Errorf("warnings = %q, want none", warnings)
	}
	abs, _ := filepath.Abs(path)
	checks := []struct {
		name      string
		got, want any
	}{
		{"Path", cfg.Path, abs},
		{"TF.Database", cfg.TF.Database, filepath.Join(dir, "data", "tf.db")},
		{"TF.ZoneName", cfg.TF.ZoneName, "Europe/Helsinki"},
		{"TF.TimeZone", cfg.TF.TimeZone.String(), "Europe/Helsinki"},
		{"State.Path", cfg.State.Path, filepath.Join(dir, "state", "tfsync-state.db")},
		{"Exchange.Mode", cfg.Exchange.Mode, "graph"},
		{"Graph.TenantID", cfg.Exchange.Graph.TenantID, "contoso.onmicrosoft.com"},
		{"Graph.ClientID", cfg.Exchange.Graph.ClientID, "11111111-2222-3333-4444-555555555555"},
		{"Graph.ClientSecret", cfg.Exchange.Graph.ClientSecret.Ref, "env:TFSYNC_CLIENT_SECRET"},
		{"Graph.Certificate set", cfg.Exchange.Graph.Certificate.IsSet(), false},
		{"Graph.AuthorityHost", cfg.Exchange.Graph.AuthorityHost, "https://login.microsoftonline.us/"},
		{"Graph.GraphURL", cfg.Exchange.Graph.GraphURL, "https://graph.microsoft.us"},
		{"EWS.URL", cfg.Exchange.EWS.URL, "https://mail.example.com/EWS/Exchange.asmx"},
		{"EWS.Username", cfg.Exchange.EWS.Username, `EXAMPLE\svc-tf`},
		{"EWS.Password", cfg.Exchange.EWS.Password.Ref, "file:ews-password.txt"},
		{"EWS.Auth", cfg.Exchange.EWS.Auth, "basic"},
		{"EWS.Access", cfg.Exchange.EWS.Access, "delegate"},
		{"Sync.Kinds", cfg.Sync.Kinds, []string{"besiktning", "kontroll", "rondering"}},
		{"Sync.DefaultLength", cfg.Sync.DefaultLength, 90 * time.Minute},
		{"Sync.ShowAs", cfg.Sync.ShowAs, "tentative"},
		{"Sync.ReminderMinutes", cfg.Sync.ReminderMinutes, -1},
		{"Sync.HideHeadings", cfg.Sync.HideHeadings, true},
		{"Sync.IncludeLocation", cfg.Sync.IncludeLocation, false},
		{"Sync.AllowedDomains", cfg.Sync.AllowedDomains, []string{"example.com", "fastighet.example.se"}},
		{"Sync.PastDays", cfg.Sync.PastDays, 14},
		{"Sync.FutureDays", cfg.Sync.FutureDays, 180},
		{"Sync.Conflict", cfg.Sync.Conflict, "newest"},
		{"Sync.OnCalendarDelete", cfg.Sync.OnCalendarDelete, "detach"},
		{"Sync.MaxDeletePercent", cfg.Sync.MaxDeletePercent, 25},
		{"Sync.MaxDeleteFloor", cfg.Sync.MaxDeleteFloor, 3},
		{"Sync.Concurrency", cfg.Sync.Concurrency, 4},
		{"Notify.EmailTo", cfg.Notify.EmailTo, []string{"drift@example.com", "Driftcentralen <larm@example.com>"}},
		{"Notify.SMTP", cfg.Notify.SMTP, "smtp.example.com:587"},
		{"Notify.From", cfg.Notify.From, "tfsync@example.com"},
		{"Notify.Username", cfg.Notify.Username, "tfsync@example.com"},
		{"Notify.Password", cfg.Notify.Password.Ref, "env:TFSYNC_SMTP_PASSWORD"},
		{"Notify.StartTLS", cfg.Notify.StartTLS, "always"},
		{"Notify.RepeatAfter", cfg.Notify.RepeatAfter, 2 * time.Hour},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

// configComparable drops the *time.Location, whose cache fields make DeepEqual unreliable, after checking its name.
func configComparable(t *testing.T, c Config) Config {
	t.Helper()
	if c.TF.TimeZone == nil || c.TF.TimeZone.String() != c.TF.ZoneName {
		t.Errorf("TF.TimeZone = %v, want the zone %q", c.TF.TimeZone, c.TF.ZoneName)
	}
	c.TF.TimeZone = nil
	return c
}

func TestLoadConfigDefaults(t *testing.T) {
	tests := []struct {
		file string
		want func(dir string) Config
	}{
		{"minimal.toml", func(dir string) Config {
			c := Default()
			c.Path = filepath.Join(dir, "minimal.toml")
			c.TF.Database = filepath.Join(dir, "tf.db")
			c.State.Path = filepath.Join(dir, "tfsync-state.db")
			c.Exchange.Mode = "graph"
			c.Exchange.Graph.TenantID = "contoso.onmicrosoft.com"
			c.Exchange.Graph.ClientID = "11111111-2222-3333-4444-555555555555"
			c.Exchange.Graph.ClientSecret = Secret{Ref: "env:TFSYNC_CLIENT_SECRET", key: "[exchange.graph] client_secret", dir: dir, kind: "client_secret"}
			c.Sync.AllowedDomains = []string{"example.com"}
			return c
		}},
		{"good-ews.toml", func(dir string) Config {
			c := Default()
			c.Path = filepath.Join(dir, "good-ews.toml")
			c.TF.Database = filepath.Join(dir, "tf.db")
			c.State.Path = filepath.Join(dir, "tfsync-state.db")
			c.Exchange.Mode = "ews"
			c.Exchange.EWS.URL = "https://mail.example.com/EWS/Exchange.asmx"
			c.Exchange.EWS.Username = `EXAMPLE\svc-tf`
			c.Exchange.EWS.Password = Secret{Ref: "env:TFSYNC_EWS_PASSWORD", key: "[exchange.ews] password", dir: dir, kind: "password"}
			c.Sync.AllowedDomains = []string{"example.com"}
			return c
		}},
		{"good-cert.toml", func(dir string) Config {
			c := Default()
			c.Path = filepath.Join(dir, "good-cert.toml")
			c.TF.Database = filepath.Join(dir, "tf.db")
			c.State.Path = filepath.Join(dir, "tfsync-state.db")
			c.Exchange.Mode = "graph"
			c.Exchange.Graph.TenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
			c.Exchange.Graph.ClientID = "11111111-2222-3333-4444-555555555555"
			c.Exchange.Graph.Certificate = Secret{Ref: "file:cert.pem", key: "[exchange.graph] certificate", dir: dir, kind: "certificate"}
			c.Sync.AllowedDomains = []string{"example.com"}
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path, dir := configTestdata(t, tt.file)
			cfg, _ := mustLoadConfig(t, path)
			got, want := configComparable(t, *cfg), configComparable(t, tt.want(dir))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := Default()
	var kinds []string
	for _, k := range tf.Kinds {
		kinds = append(kinds, string(k))
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Kinds", c.Sync.Kinds, kinds},
		{"DefaultLength", c.Sync.DefaultLength, time.Hour},
		{"ShowAs", c.Sync.ShowAs, "busy"},
		{"ReminderMinutes", c.Sync.ReminderMinutes, 15},
		{"IncludeLocation", c.Sync.IncludeLocation, true},
		{"PastDays", c.Sync.PastDays, 7},
		{"FutureDays", c.Sync.FutureDays, 90},
		{"Conflict", c.Sync.Conflict, "tf"},
		{"OnCalendarDelete", c.Sync.OnCalendarDelete, "recreate"},
		{"MaxDeletePercent", c.Sync.MaxDeletePercent, 50},
		{"MaxDeleteFloor", c.Sync.MaxDeleteFloor, 5},
		{"Concurrency", c.Sync.Concurrency, 8},
		{"Zone", c.TF.TimeZone.String(), "Europe/Stockholm"},
		{"AuthorityHost", c.Exchange.Graph.AuthorityHost, "https://login.microsoftonline.com/"},
		{"GraphURL", c.Exchange.Graph.GraphURL, "https://graph.microsoft.com"},
		{"EWS.Auth", c.Exchange.EWS.Auth, "ntlm"},
		{"EWS.Access", c.Exchange.EWS.Access, "impersonation"},
		{"StartTLS", c.Notify.StartTLS, "auto"},
		{"RepeatAfter", c.Notify.RepeatAfter, 6 * time.Hour},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestLoadConfigBadFiles(t *testing.T) {
	type problem struct {
		line     int
		key      string   // Problem.Key
		contains []string // besides "file:line: "
	}
	tests := []struct {
		file string
		want []problem // every problem, in order
	}{
		{"bad-unknown-key.toml", []problem{{14, "sync.show_ass", []string{"[sync] show_ass is not a known key", "did you mean show_as?"}}}},
		{"bad-unknown-section.toml", []problem{{15, "notfy", []string{"[notfy] is not a known section", "did you mean [notify]?"}}}},
		{"bad-misplaced-key.toml", []problem{{14, "sync.mode", []string{"[sync] mode", "belongs under [exchange]"}}}},
		{"bad-syntax.toml", []problem{{14, "", []string{"TOML syntax error", "quotes"}}}},
		{"bad-syntax-windows-path.toml", []problem{{2, "", []string{"TOML syntax error", "single quotes"}}}},
		{"bad-show-as.toml", []problem{{14, "sync.show_as", []string{`[sync] show_as = "bussy" is not valid: use one of free, tentative, busy, oof, workingElsewhere`}}}},
		{"bad-conflict.toml", []problem{{14, "sync.conflict", []string{`[sync] conflict = "TF" is not valid: use one of tf, calendar, newest`}}}},
		{"bad-duration.toml", []problem{{14, "sync.default_length", []string{`[sync] default_length = "60 min" is not a duration`, `"60m"`}}}},
		{"bad-duration-range.toml", []problem{{14, "sync.default_length", []string{`[sync] default_length = "2m" is out of range`, "between 5m and 24h"}}}},
		{"bad-missing-mode.toml", []problem{{4, "exchange.mode", []string{"[exchange] mode is missing", `mode = "graph"`, `mode = "ews"`}}}},
		{"bad-mode.toml", []problem{{5, "exchange.mode", []string{`[exchange] mode = "o365" is not valid: use one of graph, ews`}}}},
		{"bad-missing-graph-ids.toml", []problem{
			{7, "exchange.graph.tenant_id", []string{"[exchange.graph] tenant_id is missing", "Directory (tenant) ID", "Entra ID"}},
			{7, "exchange.graph.client_id", []string{"[exchange.graph] client_id is missing", "Application (client) ID from the app's Overview page in Entra ID"}},
		}},
		{"bad-missing-graph-secret.toml", []problem{{7, "exchange.graph.client_secret", []string{"[exchange.graph] client_secret is missing", "certificate"}}}},
		{"bad-both-secret-and-cert.toml", []problem{{11, "exchange.graph.certificate", []string{"client_secret and [exchange.graph] certificate are both set", "exactly one"}}}},
		{"bad-tenant-id.toml", []problem{{8, "exchange.graph.tenant_id", []string{"[exchange.graph] tenant_id", "is not valid", "contoso.onmicrosoft.com"}}}},
		{"bad-client-id.toml", []problem{{9, "exchange.graph.client_id", []string{`[exchange.graph] client_id = "tfsync" is not a GUID`, "Application (client) ID"}}}},
		{"bad-graph-url-http.toml", []problem{{12, "exchange.graph.graph_url", []string{"[exchange.graph] graph_url", "must use https", "loopback"}}}},
		{"bad-secret-ref.toml", []problem{{10, "exchange.graph.client_secret", []string{"[exchange.graph] client_secret", "env:NAME"}}}},
		{"bad-ews-url-http.toml", []problem{{8, "exchange.ews.url", []string{"[exchange.ews] url", "must use https"}}}},
		{"bad-ews-url-not-asmx.toml", []problem{{8, "exchange.ews.url", []string{"[exchange.ews] url", ".asmx", "e.g. https://mail.example.com/EWS/Exchange.asmx"}}}},
		{"bad-ews-missing.toml", []problem{
			{7, "exchange.ews.url", []string{"[exchange.ews] url is missing"}},
			{7, "exchange.ews.username", []string{"[exchange.ews] username is missing"}},
			{7, "exchange.ews.password", []string{"[exchange.ews] password is missing"}},
		}},
		{"bad-ews-auth.toml", []problem{{11, "exchange.ews.auth", []string{`[exchange.ews] auth = "kerberos" is not valid: use one of ntlm, basic`}}}},
		{"bad-kinds.toml", []problem{
			{16, "sync.kinds", []string{`[sync] kinds: "ärende" is not a kind`, "arende, besiktning, kontroll, driftatgard, rondering"}},
			{17, "sync.kinds", []string{`[sync] kinds: "arende" is listed twice`}},
		}},
		{"bad-kinds-empty.toml", []problem{{14, "sync.kinds", []string{"[sync] kinds is empty"}}}},
		{"bad-domain.toml", []problem{{15, "sync.allowed_domains", []string{`[sync] allowed_domains: "example com" is not a domain`, "space", `"example.com"`}}}},
		{"bad-domain-no-dot.toml", []problem{{13, "sync.allowed_domains", []string{`"@localhost" is not a domain`, "no dot"}}}},
		{"bad-missing-domains.toml", []problem{{12, "sync.allowed_domains", []string{"[sync] allowed_domains is missing", `allowed_domains = ["example.com"]`}}}},
		{"bad-range.toml", []problem{{14, "sync.past_days", []string{"[sync] past_days = 400 is out of range: use 0 to 365"}}}},
		{"bad-range-concurrency.toml", []problem{{14, "sync.concurrency", []string{"[sync] concurrency = 0 is out of range: use 1 to 64"}}}},
		{"bad-type.toml", []problem{{14, "sync.past_days", []string{`[sync] past_days = "7" must be a whole number`}}}},
		{"bad-type-bool.toml", []problem{{14, "sync.hide_headings", []string{`[sync] hide_headings = "yes" must be true or false`}}}},
		{"bad-zone.toml", []problem{{3, "tf.time_zone", []string{`[tf] time_zone = "Europe/Stokholm" is not a known time zone`, "Europe/Stockholm"}}}},
		{"bad-missing-database.toml", []problem{{1, "tf.database", []string{"[tf] database is missing"}}}},
		{"bad-email.toml", []problem{{16, "notify.email_to", []string{`[notify] email_to: "drift at example.com" is not an e-mail address`}}}},
		{"bad-notify-missing-smtp.toml", []problem{{15, "notify.smtp", []string{"[notify] smtp is missing", "smtp.example.com:587"}}}},
		{"bad-smtp-port.toml", []problem{{17, "notify.smtp", []string{`[notify] smtp = "smtp.example.com" is not host:port`}}}},
		{"bad-repeat-after.toml", []problem{{16, "notify.repeat_after", []string{`[notify] repeat_after = "30s" is out of range`, "at least 1m"}}}},
		{"bad-starttls.toml", []problem{{16, "notify.starttls", []string{`[notify] starttls = "yes" is not valid: use one of auto, always, never`}}}},
		{"bad-many.toml", []problem{
			{4, "tf.time_zone", []string{"[tf] time_zone"}},
			{16, "sync.show_as", []string{"[sync] show_as"}},
			{17, "sync.past_days", []string{"[sync] past_days = -1 is out of range"}},
			{18, "sync.concurency", []string{"did you mean concurrency?"}},
		}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path, _ := configTestdata(t, tt.file)
			cfg, _, err := Load(path)
			if cfg != nil {
				t.Errorf("Load returned a config along with the error")
			}
			problems := configProblems(t, err)
			lines := strings.Split(err.Error(), "\n")
			if len(problems) != len(tt.want) || len(lines) != len(tt.want) {
				t.Fatalf("got %d problems (%d lines), want %d:\n%v", len(problems), len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				p := problems[i]
				if p.File != path || p.Line != w.line || p.Key != w.key {
					t.Errorf("problem %d = {%s %d %q}, want {%s %d %q}", i, p.File, p.Line, p.Key, path, w.line, w.key)
				}
				prefix := fmt.Sprintf("%s:%d: ", path, w.line)
				if !strings.HasPrefix(lines[i], prefix) {
					t.Errorf("line %d = %q, want it to start with %q", i, lines[i], prefix)
				}
				for _, s := range w.contains {
					if !strings.Contains(lines[i], s) {
						t.Errorf("line %d = %q, want it to contain %q", i, lines[i], s)
					}
				}
			}
		})
	}
	// Every bad file in testdata has a row, so none is left unchecked.
	files, _ := filepath.Glob(filepath.Join(configTestDir, "bad-*.toml"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no row in this table", f)
		}
	}
}

// TestLoadConfigInline checks problems written in shapes other than plain tables: no file, dotted keys, inline
// tables, a byte order mark and CRLF line ends, and tables of the wrong type.
func TestLoadConfigInline(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		line     int
		key      string
		contains []string
	}{
		{
			name: "dotted keys at the top level",
			body: "tf.database = \"tf.db\"\nexchange.mode = \"graph\"\nexchange.graph.tenant_id = \"contoso.onmicrosoft.com\"\n" +
				"exchange.graph.client_id = \"11111111-2222-3333-4444-555555555555\"\nexchange.graph.client_secret = \"env:X\"\n" +
				"sync.allowed_domains = [\"example.com\"]\nsync.show_as = \"bussy\"\n",
			line: 7, key: "sync.show_as", contains: []string{`[sync] show_as = "bussy"`},
		},
		{
			name: "inline table",
			body: configTestGraph + "client_secret = \"env:X\"\n\n[sync]\nallowed_domains = [\"example.com\"]\n\n" +
				"[notify]\nemail_to = [\"drift@example.com\"]\nsmtp = \"smtp.example.com:25\"\nfrom = \"tfsync@example.com\"\n" +
				"x = { starttls = \"nope\" }\n",
			line: 19, key: "notify.x", contains: []string{"[notify.x] is not a known section"},
		},
		{
			name: "value inside a multi-line inline table",
			body: "tf = {\n  database = \"tf.db\",\n  time_zone = \"Nowhere/Land\",\n}\n" +
				"exchange = { mode = \"ews\", ews = { url = \"https://mail.example.com/EWS/Exchange.asmx\", username = \"u\", password = \"p\" } }\n" +
				"sync = { allowed_domains = [\"example.com\"] }\n",
			line: 3, key: "tf.time_zone", contains: []string{`[tf] time_zone = "Nowhere/Land"`},
		},
		{
			name: "byte order mark and CRLF",
			body: "\ufeff" + strings.ReplaceAll(configTestGraph+"client_secret = \"env:X\"\n\n[sync]\nallowed_domains = [\"example.com\"]\npast_days = 999\n", "\n", "\r\n"),
			line: 14, key: "sync.past_days", contains: []string{"[sync] past_days = 999 is out of range"},
		},
		{
			name: "section that is not a table",
			body: "notify = 5\n" + configTestGraph + "client_secret = \"env:X\"\n\n[sync]\nallowed_domains = [\"example.com\"]\n",
			line: 1, key: "notify", contains: []string{"[notify] must be a table", "not a whole number"},
		},
		{
			name: "key in the wrong section",
			body: configTestGraph + "client_secret = \"env:X\"\nshow_as = \"busy\"\n\n[sync]\nallowed_domains = [\"example.com\"]\n",
			line: 11, key: "exchange.graph.show_as", contains: []string{"it belongs under [sync]"},
		},
		{
			name: "array of tables for a section",
			body: configTestGraph + "client_secret = \"env:X\"\n\n[[sync]]\nallowed_domains = [\"example.com\"]\n",
			line: 12, key: "sync", contains: []string{"[sync] must be a table", "not a list"},
		},
		{
			name: "list given as a string",
			body: configTestGraph + "client_secret = \"env:X\"\n\n[sync]\nallowed_domains = \"example.com\"\n",
			line: 13, key: "sync.allowed_domains", contains: []string{`allowed_domains = ["example.com"]`},
		},
		{
			name: "upper-case secret prefix",
			body: configTestGraph + "client_secret = \"ENV:TFSYNC_SECRET\"\n\n[sync]\nallowed_domains = [\"example.com\"]\n",
			line: 10, key: "exchange.graph.client_secret", contains: []string{"lower case"},
		},
		{
			name: "url with credentials",
			body: configTestGraph + "client_secret = \"env:X\"\ngraph_url = \"https://user:hunter2@graph.example.com\"\n\n[sync]\nallowed_domains = [\"example.com\"]\n",
			line: 11, key: "exchange.graph.graph_url", contains: []string{"must not hold a user name or password"},
		},
		{
			name: "url without a scheme",
			body: configTestGraph + "client_secret = \"env:X\"\nauthority_host = \"login.microsoftonline.com\"\n\n[sync]\nallowed_domains = [\"example.com\"]\n",
			line: 11, key: "exchange.graph.authority_host", contains: []string{"[exchange.graph] authority_host is not a URL: write it like https://login.microsoftonline.com/"},
		},
		{
			name: "url of another scheme",
			body: configTestGraph + "client_secret = \"env:X\"\ngraph_url = \"ftp://graph.example.com\"\n\n[sync]\nallowed_domains = [\"example.com\"]\n",
			line: 11, key: "exchange.graph.graph_url", contains: []string{"[exchange.graph] graph_url is not a URL"},
		},
		{
			name: "http to loopback",
			body: configTestGraph + "client_secret = \"env:X\"\ngraph_url = \"http://[::1]:8080\"\n\n[sync]\nallowed_domains = [\"example.com\"]\nbad_key = 1\n",
			line: 15, key: "sync.bad_key", contains: []string{"[sync] bad_key is not a known key"},
		},
		{
			name: "duplicate key",
			body: configTestGraph + "client_secret = \"env:X\"\n\n[sync]\nallowed_domains = [\"example.com\"]\npast_days = 1\npast_days = 2\n",
			line: 15, contains: []string{"TOML syntax error"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.body)
			_, _, err := Load(path)
			problems := configProblems(t, err)
			if len(problems) != 1 {
				t.Fatalf("got %d problems, want 1:\n%v", len(problems), err)
			}
			p := problems[0]
			if p.Line != tt.line || (tt.key != "" && p.Key != tt.key) {
				t.Errorf("problem at line %d key %q, want line %d key %q: %v", p.Line, p.Key, tt.line, tt.key, err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the URL's password: %v", err)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tfsync.toml")
	_, _, err := Load(path)
	problems := configProblems(t, err)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false for %v", err)
	}
	if len(problems) != 1 || problems[0].File != path || !strings.Contains(err.Error(), "tfsync init") {
		t.Errorf("error = %v, want one problem naming %s and tfsync init", err, path)
	}
}

func TestLoadConfigUnreadable(t *testing.T) {
	// A folder is unreadable as a file for every user, root included.
	dir := t.TempDir()
	_, _, err := Load(dir)
	configProblems(t, err)
	if !strings.Contains(err.Error(), "cannot read the configuration file") {
		t.Errorf("error = %v, want it to say the file cannot be read", err)
	}
}

// TestLoadConfigHidesSecrets: no problem message quotes a secret, whatever is wrong with it.
func TestLoadConfigHidesSecrets(t *testing.T) {
	const value = "Sup3rS3cretValue"
	tests := []struct {
		name string
		body string
		line int
	}{
		{"unquoted secret", configTestGraph + "client_secret = " + value + "\n", 10},
		{"unterminated secret", configTestGraph + "client_secret = \"" + value + "\n", 10},
		{"secret of the wrong type", configTestGraph + "client_secret = [\"" + value + "\"]\n", 10},
		{"dotted secret key", "exchange.graph.client_secret = " + value + "\n", 1},
		{"misspelt secret key", configTestGraph + "client_secert = \"" + value + "\"\n", 10},
		{"ews password", "[exchange.ews]\npassword = " + value + "x\n", 2},
		{"smtp password", "[notify]\npassword = 5" + value + "\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(writeConfig(t, tt.body))
			problems := configProblems(t, err)
			if strings.Contains(err.Error(), value) || strings.Contains(err.Error(), "U+0053") {
				t.Errorf("error shows the secret: %v", err)
			}
			found := false
			for _, p := range problems {
				found = found || p.Line == tt.line
			}
			if !found {
				t.Errorf("no problem at line %d: %v", tt.line, err)
			}
		})
	}
}

func TestResolveConfigPath(t *testing.T) {
	type row struct{ dir, path, want string }
	rows := []row{
		{"/etc/tfsync", "tf.db", "/etc/tfsync/tf.db"},
		{"/etc/tfsync", "data/../tf.db", "/etc/tfsync/tf.db"},
		{"/etc/tfsync", "/var/lib/tf/tf.db", "/var/lib/tf/tf.db"},
		{"/etc/tfsync", "", ""},
	}
	if runtime.GOOS == "windows" {
		rows = []row{
			{`C:\ProgramData\tfsync`, "tf.db", `C:\ProgramData\tfsync\tf.db`},
			{`C:\ProgramData\tfsync`, "data/tf.db", `C:\ProgramData\tfsync\data\tf.db`},
			{`C:\ProgramData\tfsync`, `D:\TF\tf.db`, `D:\TF\tf.db`},
			{`C:\ProgramData\tfsync`, `d:/TF/tf.db`, `d:\TF\tf.db`},
			{`C:\ProgramData\tfsync`, `\\server\share\tf.db`, `\\server\share\tf.db`},
			{`C:\ProgramData\tfsync`, `\TF\tf.db`, `C:\TF\tf.db`},
			{`C:\ProgramData\tfsync`, `D:tf.db`, `D:tf.db`},
		}
	}
	for _, r := range rows {
		if got := resolveConfigPath(r.dir, r.path); got != r.want {
			t.Errorf("resolveConfigPath(%q, %q) = %q, want %q", r.dir, r.path, got, r.want)
		}
	}
}

func TestLoadConfigRelativePaths(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "elsewhere", "tf.db")
	body := strings.Replace(configTestGraph, `database = "tf.db"`, "database = '"+abs+"'", 1) +
		"client_secret = \"file:secrets/graph.txt\"\n\n[state]\npath = \"state.db\"\n\n[sync]\nallowed_domains = [\"example.com\"]\n"
	path := writeConfig(t, body)
	dir := filepath.Dir(path)
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "graph.txt"), []byte("from-file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Loading through a relative path must resolve against the file's folder, not the working directory.
	t.Chdir(filepath.Dir(dir))
	cfg, _ := mustLoadConfig(t, filepath.Join(filepath.Base(dir), "tfsync.toml"))
	if cfg.TF.Database != abs {
		t.Errorf("TF.Database = %q, want %q kept as written", cfg.TF.Database, abs)
	}
	if want := filepath.Join(dir, "state.db"); cfg.State.Path != want {
		t.Errorf("State.Path = %q, want %q", cfg.State.Path, want)
	}
	if cfg.Path != path {
		t.Errorf("Path = %q, want %q", cfg.Path, path)
	}
	t.Chdir(t.TempDir())
	got, err := cfg.Exchange.Graph.ClientSecret.Value()
	if err != nil || got != "from-file" {
		t.Errorf("ClientSecret.Value() = %q, %v; want %q", got, err, "from-file")
	}
}

func TestSecretValue(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("secret.txt", "s3cret\n")
	write("two-lines.pem", "-----BEGIN-----\nabc\n-----END-----\n\n")
	write("empty.txt", "\n")
	t.Setenv("TFSYNC_TEST_SECRET", "from-env")
	t.Setenv("TFSYNC_TEST_EMPTY", "")

	const key = "[exchange.graph] client_secret"
	tests := []struct {
		name     string
		secret   Secret
		want     string
		errHas   []string // the error must name these
		errLacks []string
	}{
		{name: "env", secret: Secret{Ref: "env:TFSYNC_TEST_SECRET", key: key}, want: "from-env"},
		{name: "file relative to the config folder", secret: Secret{Ref: "file:secret.txt", key: key, dir: dir}, want: "s3cret"},
		{name: "file absolute", secret: Secret{Ref: "file:" + filepath.Join(dir, "secret.txt"), key: key, dir: "/nowhere"}, want: "s3cret"},
		{name: "file keeps inner newlines", secret: Secret{Ref: "file:two-lines.pem", dir: dir}, want: "-----BEGIN-----\nabc\n-----END-----"},
		{name: "literal", secret: Secret{Ref: "p@ss:word", key: key}, want: "p@ss:word"},
		{name: "env unset", secret: Secret{Ref: "env:TFSYNC_TEST_UNSET_VARIABLE", key: key},
			errHas: []string{"TFSYNC_TEST_UNSET_VARIABLE", key, "not set"}},
		{name: "env empty", secret: Secret{Ref: "env:TFSYNC_TEST_EMPTY", key: key}, errHas: []string{"TFSYNC_TEST_EMPTY", key}},
		{name: "file missing", secret: Secret{Ref: "file:nope.txt", key: key, dir: dir},
			errHas: []string{filepath.Join(dir, "nope.txt"), key}},
		{name: "file empty", secret: Secret{Ref: "file:empty.txt", key: key, dir: dir}, errHas: []string{"empty", key}},
		{name: "not set", secret: Secret{}, errHas: []string{"not set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.secret.Value()
			if tt.errHas == nil {
				if err != nil || got != tt.want {
					t.Errorf("Value() = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Value() = %q, want an error", got)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("errors.Is(err, ErrConfig) = false for %v", err)
			}
			for _, s := range tt.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "from-env") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
	if _, err := (Secret{Ref: "file:nope.txt", dir: dir}).Value(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestSecretIsSet(t *testing.T) {
	for _, tt := range []struct {
		ref  string
		want bool
	}{{"", false}, {"x", true}, {"env:X", true}, {"file:x", true}} {
		if got := (Secret{Ref: tt.ref}).IsSet(); got != tt.want {
			t.Errorf("Secret{%q}.IsSet() = %v, want %v", tt.ref, got, tt.want)
		}
	}
}

// TestSecretNeverPrinted prints and marshals a whole Config holding literal secrets every way a careless caller
// might, and looks for the values.
func TestSecretNeverPrinted(t *testing.T) {
	values := []string{"GraphSecretValue", "CertificatePemValue", "EwsPasswordValue", "SmtpPasswordValue"}
	body := `[tf]
database = "tf.db"
[exchange]
mode = "graph"
[exchange.graph]
tenant_id = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
client_secret = "GraphSecretValue"
[exchange.ews]
password = "EwsPasswordValue"
[sync]
allowed_domains = ["example.com"]
[notify]
password = "SmtpPasswordValue"
`
	cfg, _ := mustLoadConfig(t, writeConfig(t, body))
	// The certificate cannot be set beside the client secret in a file; set it here to cover the field.
	cfg.Exchange.Graph.Certificate = Secret{Ref: "CertificatePemValue"}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outputs = append(outputs, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, *cfg), fmt.Sprintf(verb, cfg.Exchange.Graph.ClientSecret))
	}
	outputs = append(outputs, fmt.Sprint(cfg.Exchange), fmt.Sprintln(cfg.Notify), cfg.Exchange.EWS.Password.String(),
		cfg.Exchange.EWS.Password.GoString())
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := toml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(j), string(tm))

	for _, out := range outputs {
		for _, v := range values {
			if strings.Contains(out, v) {
				t.Fatalf("output shows secret %q:\n%s", v, out)
			}
		}
	}
	if !strings.Contains(string(j), `"ClientSecret":"(literal)"`) {
		t.Errorf("JSON %s does not show the secret as (literal)", j)
	}
	shown := []struct{ ref, want string }{
		{"env:TFSYNC_X", "env:TFSYNC_X"}, {"file:secret.txt", "file:secret.txt"}, {"hunter2", "(literal)"}, {"", "(not set)"},
	}
	for _, s := range shown {
		if got := fmt.Sprint(Secret{Ref: s.ref}); got != s.want {
			t.Errorf("Secret{%q} prints %q, want %q", s.ref, got, s.want)
		}
	}
	// Literal values still resolve.
	if v, err := cfg.Exchange.EWS.Password.Value(); err != nil || v != "EwsPasswordValue" {
		t.Errorf("EWS password Value() = %q, %v", v, err)
	}
}

func TestLoadConfigWarnsReadableSecret(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows guards files with ACLs, not mode bits")
	}
	literal := configTestGraph + "client_secret = \"hunter2\"\n\n[sync]\nallowed_domains = [\"example.com\"]\n"
	fromEnv := configTestGraph + "client_secret = \"env:TFSYNC_CLIENT_SECRET\"\n\n[sync]\nallowed_domains = [\"example.com\"]\n"
	tests := []struct {
		name string
		body string
		mode os.FileMode
		warn bool
	}{
		{"literal, world-readable", literal, 0o644, true},
		{"literal, group-readable", literal, 0o640, true},
		{"literal, owner only", literal, 0o600, false},
		{"env, world-readable", fromEnv, 0o644, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.body)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, warnings := mustLoadConfig(t, path)
			if !tt.warn {
				if len(warnings) != 0 {
					t.Errorf("warnings = %q, want none", warnings)
				}
				return
			}
			if len(warnings) != 1 {
				t.Fatalf("warnings = %q, want one", warnings)
			}
			for _, s := range []string{path, "chmod 600", "env:", "file:", "[exchange.graph] client_secret"} {
				if !strings.Contains(warnings[0], s) {
					t.Errorf("warning %q does not contain %q", warnings[0], s)
				}
			}
			if strings.Contains(warnings[0], "hunter2") {
				t.Errorf("warning shows the secret: %q", warnings[0])
			}
		})
	}
}

func FuzzLoadConfig(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(configTestDir, "*.toml"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "tfsync.toml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := Load(path)
		if err == nil {
			if cfg == nil || cfg.TF.TimeZone == nil || cfg.TF.Database == "" || len(cfg.Sync.AllowedDomains) == 0 {
				t.Fatalf("Load succeeded with an incomplete config: %+v", cfg)
			}
			return
		}
		var ce *Error
		if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) || len(ce.Problems) == 0 {
			t.Fatalf("error %T is not a *Error with problems: %v", err, err)
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, p := range ce.Problems {
			if strings.ContainsAny(p.Message, "\r\n") || p.Line < 0 || p.Line > lines {
				t.Fatalf("problem %+v spans lines or points past the file's %d lines", p, lines)
			}
		}
	})
}
