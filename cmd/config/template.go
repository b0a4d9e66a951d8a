package config

import (
	"io"
	"strings"
	"text/template"
)

// InitValues are what tfsync init was told; the rest of the file it writes comes from the key declarations.
type InitValues struct {
	Mode           string
	TFDatabase     string
	TenantID       string
	ClientID       string
	ClientSecret   string // a secret reference: env:NAME or file:PATH
	SecretExpires  string // YYYY-MM-DD, or "" to write client_secret_expires commented out
	AuthorityHost  string
	GraphURL       string
	EWSURL         string
	EWSUser        string
	EWSPassword    string
	AllowedDomains []string
}

// WriteTemplate writes the commented tfsync.toml that tfsync init writes.
func WriteTemplate(w io.Writer, v InitValues) error { return Template.Execute(w, v) }

// PlaceholderGUID is what tfsync init writes for a tenant or client id it was not given.
const PlaceholderGUID = "00000000-0000-0000-0000-000000000000"

// IsPlaceholderID reports whether a tenant or client id is the all-zero placeholder tfsync init writes.
func IsPlaceholderID(v string) bool { return strings.HasPrefix(v, "00000000-") }

// Template is the commented tfsync.toml that tfsync init writes. It is executed with a struct holding Mode,
// TFDatabase, TenantID, ClientID, ClientSecret, SecretExpires, AuthorityHost, GraphURL, EWSURL, EWSUser,
// EWSPassword and AllowedDomains.
var Template = template.Must(template.New("config").Funcs(template.FuncMap{"q": QuoteString, "sq": QuoteLiteral}).Parse(`# tfsync configuration, written by 'tfsync init'. Check it with 'tfsync test-connection'.
# Relative paths are resolved against this file's folder. Secrets are env:NAME, file:PATH or a literal value;
# prefer env: or file:, and keep this file readable only by the account that runs tfsync.

[tf]
database = {{q .TFDatabase}}        # TF's integration database (SQLite)
time_zone = "Europe/Stockholm"     # the zone of TF's wall times

[state]
path = "tfsync-state.db"           # tfsync's mapping store; the run lock is tfsync-state.db.lock

[log]
# Schedulers throw stdout and stderr away: every log line also goes here, as JSON lines with the pass's run id.
file = "tfsync.log"                # beside the state store
max_size = 10                      # megabytes a file may reach before it is rotated (tfsync-<time>.log)
max_files = 5                      # files kept, the current one included

[exchange]
mode = {{q .Mode}}                    # graph (Office 365) | ews (on-premises Exchange)
{{if eq .Mode "graph"}}
[exchange.graph]
# From the app registration in Entra ID (App registrations -> your app -> Overview).
tenant_id = {{q .TenantID}}   # Directory (tenant) ID
client_id = {{q .ClientID}}   # Application (client) ID
client_secret = {{q .ClientSecret}}   # the secret's Value (not its Secret ID)
{{if .SecretExpires}}client_secret_expires = {{.SecretExpires}}   # the secret's Expires date: tfsync warns 30 days ahead
{{else}}# client_secret_expires = 2028-12-31   # the secret's Expires date: tfsync warns 30 days ahead
{{end -}}
# certificate = "file:tfsync-cert.pem"   # instead of client_secret: PEM with certificate and private key
authority_host = {{q .AuthorityHost}}
graph_url = {{q .GraphURL}}
{{else}}
[exchange.ews]
url = {{q .EWSURL}}   # must end in .asmx
username = {{sq .EWSUser}}   # DOMAIN\user or user@domain
password = {{q .EWSPassword}}
auth = "ntlm"                      # ntlm | basic
access = "impersonation"           # impersonation (ApplicationImpersonation role) | delegate (Editor on each calendar)
{{end}}
[sync]
# Inställningar -> Alternativ -> Integration Exchange
kinds = ["arende", "besiktning", "kontroll", "driftatgard", "rondering"]
default_length = "60m"             # bookings without an end
show_as = "busy"                   # free | tentative | busy | oof | workingElsewhere
reminder_minutes = 15              # -1: no reminder
hide_headings = false              # true: no field labels in the event text
include_location = true            # put the address in the event
technician_note = true             # end each event with a line (Swedish): only moving the time flows back to TF
# Resources (Inställningar -> Grunddata -> Resurser) are synced only with an e-mail in these domains.
allowed_domains = [{{range $i, $d := .AllowedDomains}}{{if $i}}, {{end}}{{q $d}}{{end}}]
past_days = 7
future_days = 90
conflict = "tf"                    # both sides moved the time: tf | calendar | newest
on_calendar_delete = "recreate"    # a technician deleted the event: recreate | detach
max_delete_percent = 50            # hold back a mailbox's deletes above this share (tfsync sync --force applies them)
max_delete_floor = 5

# [notify]
# email_to = ["drift@example.com"]   # a failed pass is mailed here, once per failure
# smtp = "smtp.example.com:587"
# from = "tfsync@example.com"
# username = "tfsync@example.com"
# password = "env:TFSYNC_SMTP_PASSWORD"
`))

// QuoteLiteral writes a single-quoted TOML string, so a DOMAIN\user name needs no escaping.
func QuoteLiteral(s string) string {
	if strings.ContainsAny(s, "'\n") {
		return QuoteString(s)
	}
	return "'" + s + "'"
}

func QuoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
