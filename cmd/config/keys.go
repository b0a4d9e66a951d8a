package config

import (
	"math"
	"strings"
	"time"

	"tfsync/exchange"
	"tfsync/tf"
)

// A Key declares one setting of tfsync.toml. The declarations below are the one place a key is described: the
// schema (which keys each table accepts, unknown-key detection and suggestions), the defaults, when a key is
// required, the file tfsync init writes and the README's configuration table are all derived from them. The value
// lands in the Config field that field points at. docs/config.md says how to add a key.
type Key struct {
	Table string // "sync", "exchange.graph"
	Name  string // "show_as"
	Kind  Kind

	// Default is the value when the key is absent: a string, int, bool or []string; a duration is written as
	// text ("60m"). nil: the zero value. DefaultDoc replaces the README's default column when the value alone does
	// not say it ("all five").
	Default    any
	DefaultDoc string

	Need Need   // when the key must be set
	Fix  string // how to add it, in the message for a missing required key

	Min, Max       int64         // KindInt: the accepted range
	MinDur, MaxDur time.Duration // KindDuration: the accepted range (MaxDur 0: no upper bound)
	Example        string        // KindDuration, KindURL: a value the messages show
	Suffix         string        // KindURL: the path ending the URL must have
	Words          []string      // KindWord: the allowed words, in the order messages list them

	Doc    string    // the README's one-line meaning
	Secret bool      // holds a secret: redacted, warned about when literal, checked by test-connection
	Init   *InitLine // how tfsync init writes it; nil: init leaves it out

	// field points at the Config field the value lands in.
	field func(*Config) any
	// check decodes and checks the key where its Kind alone cannot: cross-key rules, domains, ids. nil: the
	// generic decoding of its Kind.
	check func(s *section, k *Key, cfg *Config)
}

// Kind is how a key's value is written and checked.
type Kind int

const (
	KindText     Kind = iota // text in quotes
	KindPath                 // a file name, resolved against the config file's folder
	KindBool                 // true or false
	KindInt                  // a whole number in [Min, Max]
	KindWord                 // one of Words
	KindDuration             // a Go duration in quotes, in [MinDur, MaxDur]
	KindList                 // a list of text
	KindSecret               // env:NAME, file:PATH or a literal
	KindURL                  // https (http only for a loopback host)
	KindDate                 // YYYY-MM-DD
)

// Need says when a key must be set.
type Need int

const (
	Optional Need = iota
	Always
	InGraphMode // [exchange] mode = "graph"
	InEWSMode   // [exchange] mode = "ews"
	WhenMailing // [notify] email_to lists an address
)

// doc is the README's default column for a required key.
func (n Need) doc() string {
	switch n {
	case Always:
		return "required"
	case InGraphMode:
		return "required in graph mode"
	case InEWSMode:
		return "required in ews mode"
	case WhenMailing:
		return "required with `email_to`"
	}
	return ""
}

// applies reports whether the need is in force for cfg, as decoded so far.
func (n Need) applies(cfg *Config) bool {
	switch n {
	case Always:
		return true
	case InGraphMode:
		return cfg.Exchange.Mode == "graph"
	case InEWSMode:
		return cfg.Exchange.Mode == "ews"
	}
	return false // WhenMailing is decided by the list as written: see section.needs
}

// InitLine is how tfsync init writes a key.
type InitLine struct {
	Above   string                    // a comment line written above the key
	Value   func(v InitValues) string // the TOML value from init's flags; nil: the default. "" writes Example commented out
	Example string                    // the TOML value of a line written commented out
	Comment string                    // written after the value
	// Commented writes the key commented out with Example: a setting the admin may want, shown but not set.
	Commented bool
}

// A Table declares a TOML table: its keys are the Keys naming it. Tables are listed in the order the README and
// the messages name them.
type Table struct {
	Name  string
	Above string // a comment line tfsync init writes under the header
	Mode  string // init writes the table only in this [exchange] mode; "" always
	// Commented writes the table commented out, with its commented keys: nothing of it is set by init.
	Commented bool
	// check runs after the table's keys: the rules between keys of one table.
	check func(s *section, cfg *Config)
}

// Allowed words, in the order error messages list them.
var (
	showAsWords = []string{
		string(exchange.ShowFree), string(exchange.ShowTentative), string(exchange.ShowBusy),
		string(exchange.ShowOOF), string(exchange.ShowWorkingElsewhere),
	}
)

func kindNames() []string {
	names := make([]string, len(tf.Kinds))
	for i, k := range tf.Kinds {
		names[i] = string(k)
	}
	return names
}

// Tables lists the tables of tfsync.toml.
var Tables = []*Table{
	{Name: "tf"},
	{Name: "state", check: checkStatePath},
	{Name: "exchange"},
	{Name: "exchange.graph", Mode: "graph", Above: "# From the app registration in Entra ID (App registrations -> your app -> Overview).",
		check: checkGraphCredential},
	{Name: "exchange.ews", Mode: "ews"},
	{Name: "sync", Above: "# Inställningar -> Alternativ -> Integration Exchange"},
	{Name: "notify", Commented: true},
	{Name: "log", Above: "# Schedulers throw stdout and stderr away: every log line also goes here, as JSON lines with the pass's run id."},
}

// initTableOrder is the order tfsync init writes the tables in: the log file beside the state store, the notices
// last since they stay commented out.
var initTableOrder = []string{"tf", "state", "log", "exchange", "exchange.graph", "exchange.ews", "sync", "notify"}

// Keys lists every key of tfsync.toml, table by table, in the order the README documents them.
var Keys = []*Key{
	{Table: "tf", Name: "database", Kind: KindPath, Need: Always,
		Fix:   `add database = "tf.db" under [tf]: the SQLite file with TF's integration schema`,
		Doc:   "SQLite file with TF's integration schema",
		Init:  &InitLine{Value: func(v InitValues) string { return QuoteString(v.TFDatabase) }, Comment: "TF's integration database (SQLite)"},
		field: func(c *Config) any { return &c.TF.Database }, check: checkDatabase},
	{Table: "tf", Name: "time_zone", Kind: KindText, Default: "Europe/Stockholm",
		Doc:   "IANA zone of TF's wall times",
		Init:  &InitLine{Comment: "the zone of TF's wall times"},
		field: func(c *Config) any { return &c.TF.ZoneName }, check: checkTimeZone},

	{Table: "state", Name: "path", Kind: KindPath, Default: "tfsync-state.db",
		Doc:   "tfsync's mapping store (the run lock is `PATH.lock`)",
		Init:  &InitLine{Comment: "tfsync's mapping store; the run lock is tfsync-state.db.lock"},
		field: func(c *Config) any { return &c.State.Path }, check: checkStatePathKey},

	{Table: "exchange", Name: "mode", Kind: KindWord, Need: Always, Words: []string{"graph", "ews"},
		Fix:   `add mode = "graph" (Office 365) or mode = "ews" (on-premises Exchange) under [exchange]`,
		Doc:   "`graph` (Office 365) or `ews` (on-premises Exchange)",
		Init:  &InitLine{Value: func(v InitValues) string { return QuoteString(v.Mode) }, Comment: "graph (Office 365) | ews (on-premises Exchange)"},
		field: func(c *Config) any { return &c.Exchange.Mode }, check: checkMode},
	{Table: "exchange", Name: "ca_file", Kind: KindPath,
		Doc:   "PEM file of CA certificates that Entra ID, Graph and EWS connections trust in addition to the system store (an internal CA; the emulator)",
		field: func(c *Config) any { return &c.Exchange.CAFile }, check: checkCAFile},

	{Table: "exchange.graph", Name: "tenant_id", Kind: KindText, Need: InGraphMode,
		Fix:   "add the Directory (tenant) ID from the app's Overview page in Entra ID",
		Doc:   "Directory (tenant) ID, or the tenant's domain",
		Init:  &InitLine{Value: func(v InitValues) string { return QuoteString(v.TenantID) }, Comment: "Directory (tenant) ID"},
		field: func(c *Config) any { return &c.Exchange.Graph.TenantID }, check: checkTenantID},
	{Table: "exchange.graph", Name: "client_id", Kind: KindText, Need: InGraphMode,
		Fix:   "add the Application (client) ID from the app's Overview page in Entra ID",
		Doc:   "Application (client) ID",
		Init:  &InitLine{Value: func(v InitValues) string { return QuoteString(v.ClientID) }, Comment: "Application (client) ID"},
		field: func(c *Config) any { return &c.Exchange.Graph.ClientID }, check: checkClientID},
	// client_secret and certificate are one requirement, checked by checkGraphCredential once both are read.
	{Table: "exchange.graph", Name: "client_secret", Kind: KindSecret, Secret: true,
		DefaultDoc: "required in graph mode: this or `certificate`",
		Fix:        `add client_secret = "env:TFSYNC_CLIENT_SECRET" or certificate = "file:cert.pem", made on the app's Certificates & secrets page in Entra ID`,
		Doc:        "the secret's **Value** (not its ID)",
		Init:       &InitLine{Value: func(v InitValues) string { return QuoteString(v.ClientSecret) }, Comment: "the secret's Value (not its Secret ID)"},
		field:      func(c *Config) any { return &c.Exchange.Graph.ClientSecret }},
	{Table: "exchange.graph", Name: "client_secret_expires", Kind: KindDate,
		Doc: "the secret's Expires date (`2028-06-30`): test-connection, status, the log (daily) and the failure mail warn 30 days ahead (a certificate's own expiry is read from it)",
		Init: &InitLine{Value: func(v InitValues) string { return v.SecretExpires }, Example: "2028-12-31",
			Comment: "the secret's Expires date: tfsync warns 30 days ahead"},
		field: func(c *Config) any { return &c.Exchange.Graph.ClientSecretExpires }},
	{Table: "exchange.graph", Name: "certificate", Kind: KindSecret, Secret: true,
		Doc: "PEM file with certificate and private key, instead of a secret",
		Init: &InitLine{Commented: true, Example: `"file:tfsync-cert.pem"`,
			Comment: "instead of client_secret: PEM with certificate and private key"},
		field: func(c *Config) any { return &c.Exchange.Graph.Certificate }},
	{Table: "exchange.graph", Name: "authority_host", Kind: KindURL, Default: "https://login.microsoftonline.com/",
		Example: "https://login.microsoftonline.com/",
		Doc:     "sovereign clouds, the emulator",
		Init:    &InitLine{Value: func(v InitValues) string { return QuoteString(v.AuthorityHost) }},
		field:   func(c *Config) any { return &c.Exchange.Graph.AuthorityHost }},
	{Table: "exchange.graph", Name: "graph_url", Kind: KindURL, Default: "https://graph.microsoft.com",
		Example: "https://graph.microsoft.com",
		Doc:     "sovereign clouds, the emulator",
		Init:    &InitLine{Value: func(v InitValues) string { return QuoteString(v.GraphURL) }},
		field:   func(c *Config) any { return &c.Exchange.Graph.GraphURL }},

	{Table: "exchange.ews", Name: "url", Kind: KindURL, Need: InEWSMode,
		Example: "https://mail.example.com/EWS/Exchange.asmx", Suffix: ".asmx",
		Fix:   `add url = "https://mail.example.com/EWS/Exchange.asmx" (your Exchange server's EWS endpoint)`,
		Doc:   "`https://mail.example.com/EWS/Exchange.asmx` (https, ends in .asmx)",
		Init:  &InitLine{Value: func(v InitValues) string { return QuoteString(v.EWSURL) }, Comment: "must end in .asmx"},
		field: func(c *Config) any { return &c.Exchange.EWS.URL }},
	{Table: "exchange.ews", Name: "username", Kind: KindText, Need: InEWSMode,
		Fix:   `add the service account, e.g. username = 'EXAMPLE\svc-tf' or "svc-tf@example.com"`,
		Doc:   "the service account (`DOMAIN\\user` or UPN)",
		Init:  &InitLine{Value: func(v InitValues) string { return QuoteLiteral(v.EWSUser) }, Comment: `DOMAIN\user or user@domain`},
		field: func(c *Config) any { return &c.Exchange.EWS.Username }},
	{Table: "exchange.ews", Name: "password", Kind: KindSecret, Need: InEWSMode, Secret: true,
		Fix:   `add the service account's password, e.g. password = "env:TFSYNC_EWS_PASSWORD"`,
		Doc:   "the service account's password",
		Init:  &InitLine{Value: func(v InitValues) string { return QuoteString(v.EWSPassword) }},
		field: func(c *Config) any { return &c.Exchange.EWS.Password }},
	{Table: "exchange.ews", Name: "auth", Kind: KindWord, Default: "ntlm", Words: []string{"ntlm", "basic"},
		Doc:   "`ntlm` or `basic`",
		Init:  &InitLine{Comment: "ntlm | basic"},
		field: func(c *Config) any { return &c.Exchange.EWS.Auth }},
	{Table: "exchange.ews", Name: "access", Kind: KindWord, Default: "impersonation", Words: []string{"impersonation", "delegate"},
		Doc:   "`impersonation` (ApplicationImpersonation role) or `delegate` (Editor on each calendar)",
		Init:  &InitLine{Comment: "impersonation (ApplicationImpersonation role) | delegate (Editor on each calendar)"},
		field: func(c *Config) any { return &c.Exchange.EWS.Access }},

	{Table: "sync", Name: "kinds", Kind: KindList, Default: kindNames(), DefaultDoc: "all five", Words: kindNames(),
		Doc:   "`arende`, `besiktning`, `kontroll`, `driftatgard`, `rondering`",
		Init:  &InitLine{},
		field: func(c *Config) any { return &c.Sync.Kinds }, check: checkKinds},
	{Table: "sync", Name: "default_length", Kind: KindDuration, Default: "60m", MinDur: 5 * time.Minute, MaxDur: 24 * time.Hour, Example: "60m",
		Doc:   "length of a booking without `end`",
		Init:  &InitLine{Comment: "bookings without an end"},
		field: func(c *Config) any { return &c.Sync.DefaultLength }},
	{Table: "sync", Name: "show_as", Kind: KindWord, Default: string(exchange.ShowBusy), Words: showAsWords,
		Doc:   "`free`, `tentative`, `busy`, `oof`, `workingElsewhere`",
		Init:  &InitLine{Comment: "free | tentative | busy | oof | workingElsewhere"},
		field: func(c *Config) any { return &c.Sync.ShowAs }},
	{Table: "sync", Name: "reminder_minutes", Kind: KindInt, Default: 15, Min: -1, Max: 40320,
		Doc:   "`-1` for no reminder",
		Init:  &InitLine{Comment: "-1: no reminder"},
		field: func(c *Config) any { return &c.Sync.ReminderMinutes }},
	{Table: "sync", Name: "hide_headings", Kind: KindBool, Default: false,
		Doc:   "no field labels in the event text",
		Init:  &InitLine{Comment: "true: no field labels in the event text"},
		field: func(c *Config) any { return &c.Sync.HideHeadings }},
	{Table: "sync", Name: "include_location", Kind: KindBool, Default: true,
		Doc:   "put the address in the event",
		Init:  &InitLine{Comment: "put the address in the event"},
		field: func(c *Config) any { return &c.Sync.IncludeLocation }},
	{Table: "sync", Name: "technician_note", Kind: KindBool, Default: true,
		Doc:   "end each event with a line in Swedish: moving the time in the calendar moves the booking in TF; other edits are replaced by TF's text",
		Init:  &InitLine{Comment: "end each event with a line (Swedish): only moving the time flows back to TF"},
		field: func(c *Config) any { return &c.Sync.TechnicianNote }},
	{Table: "sync", Name: "allowed_domains", Kind: KindList, Need: Always,
		Fix: `add allowed_domains = ["example.com"] under [sync]: the e-mail domains of the mailboxes tfsync may write to`,
		Doc: "e-mail domains of the organisation; other resources are skipped and never contacted",
		Init: &InitLine{Above: "# Resources (Inställningar -> Grunddata -> Resurser) are synced only with an e-mail in these domains.",
			Value: func(v InitValues) string { return tomlList(v.AllowedDomains) }},
		field: func(c *Config) any { return &c.Sync.AllowedDomains }, check: checkAllowedDomains},
	{Table: "sync", Name: "past_days", Kind: KindInt, Default: 7, Min: 0, Max: 365,
		Doc:   "the sync window: days back from today",
		Init:  &InitLine{},
		field: func(c *Config) any { return &c.Sync.PastDays }},
	{Table: "sync", Name: "future_days", Kind: KindInt, Default: 90, Min: 1, Max: 730,
		Doc:   "the sync window: days ahead from today",
		Init:  &InitLine{},
		field: func(c *Config) any { return &c.Sync.FutureDays }},
	{Table: "sync", Name: "conflict", Kind: KindWord, Default: "tf", Words: []string{"tf", "calendar", "newest"},
		Doc:   "both sides moved the time: `tf`, `calendar` or `newest`",
		Init:  &InitLine{Comment: "both sides moved the time: tf | calendar | newest"},
		field: func(c *Config) any { return &c.Sync.Conflict }},
	{Table: "sync", Name: "on_calendar_delete", Kind: KindWord, Default: "recreate", Words: []string{"recreate", "detach"},
		Doc:   "a technician deleted the event: `recreate` or `detach`",
		Init:  &InitLine{Comment: "a technician deleted the event: recreate | detach"},
		field: func(c *Config) any { return &c.Sync.OnCalendarDelete }},
	{Table: "sync", Name: "max_delete_percent", Kind: KindInt, Default: 50, Min: 0, Max: 100,
		Doc:   "hold a mailbox's deletes above this share of its linked events…",
		Init:  &InitLine{Comment: "hold back a mailbox's deletes above this share (tfsync sync --force applies them)"},
		field: func(c *Config) any { return &c.Sync.MaxDeletePercent }},
	{Table: "sync", Name: "max_delete_floor", Kind: KindInt, Default: 5, Min: 0, Max: math.MaxInt32,
		Doc:   "…but a mailbox may always lose this many events a pass (one cancelled booking is never held)",
		Init:  &InitLine{},
		field: func(c *Config) any { return &c.Sync.MaxDeleteFloor }},
	{Table: "sync", Name: "concurrency", Kind: KindInt, Default: 8, Min: 1, Max: 64,
		Doc:   "mailboxes looked up at once while observing",
		field: func(c *Config) any { return &c.Sync.Concurrency }},

	{Table: "notify", Name: "email_to", Kind: KindList, DefaultDoc: "off",
		Doc:   "failure e-mail: a failed pass is mailed to these addresses, once per failure",
		Init:  &InitLine{Commented: true, Example: `["drift@example.com"]`, Comment: "a failed pass is mailed here, once per failure"},
		field: func(c *Config) any { return &c.Notify.EmailTo }, check: checkEmailTo},
	{Table: "notify", Name: "smtp", Kind: KindText, Need: WhenMailing,
		Fix:   `email_to is set, so add the mail server as smtp = "smtp.example.com:587"`,
		Doc:   "the mail server, `host:port`",
		Init:  &InitLine{Commented: true, Example: `"smtp.example.com:587"`},
		field: func(c *Config) any { return &c.Notify.SMTP }, check: checkSMTP},
	{Table: "notify", Name: "from", Kind: KindText, Need: WhenMailing,
		Fix:   `email_to is set, so add the sender as from = "tfsync@example.com"`,
		Doc:   "the sender address",
		Init:  &InitLine{Commented: true, Example: `"tfsync@example.com"`},
		field: func(c *Config) any { return &c.Notify.From }, check: checkFrom},
	{Table: "notify", Name: "username", Kind: KindText,
		Doc:   "the mail server's user name, when it wants one",
		Init:  &InitLine{Commented: true, Example: `"tfsync@example.com"`},
		field: func(c *Config) any { return &c.Notify.Username }},
	{Table: "notify", Name: "password", Kind: KindSecret, Secret: true,
		Doc:   "the mail server's password",
		Init:  &InitLine{Commented: true, Example: `"env:TFSYNC_SMTP_PASSWORD"`},
		field: func(c *Config) any { return &c.Notify.Password }},
	{Table: "notify", Name: "starttls", Kind: KindWord, Default: "auto", Words: []string{"auto", "always", "never"},
		Doc:   "`auto` (when the server offers it), `always` or `never`",
		field: func(c *Config) any { return &c.Notify.StartTLS }},
	{Table: "notify", Name: "repeat_after", Kind: KindDuration, Default: "6h", MinDur: time.Minute, Example: "6h",
		Doc:   "the same failure is not mailed again before this",
		field: func(c *Config) any { return &c.Notify.RepeatAfter }},

	{Table: "log", Name: "file", Kind: KindPath, DefaultDoc: "none (`tfsync init` writes `tfsync.log`)",
		Doc:   "a log file: every log line as JSON with the run id; `--log-file` overrides it",
		Init:  &InitLine{Value: func(InitValues) string { return QuoteString("tfsync.log") }, Comment: "beside the state store"},
		field: func(c *Config) any { return &c.Log.File }, check: checkLogFile},
	{Table: "log", Name: "max_size", Kind: KindInt, Default: 10, Min: 1, Max: 1024,
		Doc:   "megabytes before the file is rotated",
		Init:  &InitLine{Comment: "megabytes a file may reach before it is rotated (tfsync-<time>.log)"},
		field: func(c *Config) any { return &c.Log.MaxSize }},
	{Table: "log", Name: "max_files", Kind: KindInt, Default: 5, Min: 1, Max: 1000,
		Doc:   "files kept, the current one included",
		Init:  &InitLine{Comment: "files kept, the current one included"},
		field: func(c *Config) any { return &c.Log.MaxFiles }},
}

// key returns the declaration of table.name; a name that is not declared is a programming error.
func key(table, name string) *Key {
	for _, k := range Keys {
		if k.Table == table && k.Name == name {
			return k
		}
	}
	panic("config: no key " + table + "." + name)
}

// tableKeys returns the declarations of one table, in order.
func tableKeys(table string) []*Key {
	var keys []*Key
	for _, k := range Keys {
		if k.Table == table {
			keys = append(keys, k)
		}
	}
	return keys
}

// schema lists the keys each table accepts, in the order the README documents them; a table's sub-tables follow
// its keys (Tables lists a parent before its sub-tables). "" is the top level.
var schema = buildSchema()

func buildSchema() map[string][]string {
	s := map[string][]string{"": nil}
	for _, t := range Tables {
		parent, name := "", t.Name
		if i := strings.LastIndexByte(t.Name, '.'); i >= 0 {
			parent, name = t.Name[:i], t.Name[i+1:]
		}
		for _, k := range tableKeys(t.Name) {
			s[t.Name] = append(s[t.Name], k.Name)
		}
		s[parent] = append(s[parent], name)
	}
	return s
}
