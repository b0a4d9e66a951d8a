package config

import "time"

// Config is tfsync.toml, after defaults and validation. Field comments name the TOML key.
type Config struct {
	Path string // the file it was read from (absolute); relative paths in it are resolved against its folder

	TF       TF
	State    State
	Exchange Exchange
	Sync     Sync
	Notify   Notify
	Log      Log
}

type TF struct {
	Database string         // [tf] database: path to the SQLite file with the integration schema (resolved)
	TimeZone *time.Location // [tf] time_zone, default "Europe/Stockholm"
	ZoneName string         // the IANA name as written
}

type State struct {
	Path string // [state] path, default "tfsync-state.db" beside the config (resolved)
}

type Exchange struct {
	Mode string // [exchange] mode: "graph" | "ews" (required)
	// CAFile is [exchange] ca_file (resolved): PEM certificates trusted for Entra ID, Graph and EWS in addition to
	// the system store, for an internal CA (or the emulator) without touching the machine's store.
	CAFile string
	Graph  Graph
	EWS    EWS
}

type Graph struct {
	TenantID     string // [exchange.graph] tenant_id (required in graph mode)
	ClientID     string // client_id (required in graph mode)
	ClientSecret Secret // client_secret: env:NAME | file:PATH | literal; one of secret or certificate
	Certificate  Secret // certificate: PEM with the private key and certificate (file:PATH usually)
	// ClientSecretExpires is client_secret_expires: the date the portal shows in the secret's Expires column,
	// midnight at its start in [tf] time_zone; zero when not set. Only used to warn before the secret expires.
	ClientSecretExpires time.Time
	AuthorityHost       string // authority_host, default "https://login.microsoftonline.com/"
	GraphURL            string // graph_url, default "https://graph.microsoft.com"
}

type EWS struct {
	URL      string // [exchange.ews] url (required in ews mode)
	Username string // username (required in ews mode)
	Password Secret // password (required in ews mode)
	Auth     string // auth: "ntlm" (default) | "basic"
	Access   string // access: "impersonation" (default) | "delegate"
}

type Sync struct {
	Kinds            []string      // kinds, default all five
	DefaultLength    time.Duration // default_length, default 60m
	ShowAs           string        // show_as, default "busy"
	ReminderMinutes  int           // reminder_minutes, default 15; -1 none
	HideHeadings     bool          // hide_headings, default false
	IncludeLocation  bool          // include_location, default true
	TechnicianNote   bool          // technician_note, default true: a Swedish line saying only time moves flow back to TF
	AllowedDomains   []string      // allowed_domains (required, at least one; lower-cased, without "@")
	PastDays         int           // past_days, default 7
	FutureDays       int           // future_days, default 90
	Conflict         string        // conflict: "tf" (default) | "calendar" | "newest"
	OnCalendarDelete string        // on_calendar_delete: "recreate" (default) | "detach"
	MaxDeletePercent int           // max_delete_percent, default 50 (0..100)
	MaxDeleteFloor   int           // max_delete_floor, default 5: a mailbox may always lose this many events a pass
	Concurrency      int           // concurrency, default 8: mailboxes read/written at once (bounded by the backend)
}

type Notify struct {
	EmailTo     []string      // [notify] email_to; empty disables notices
	SMTP        string        // smtp host:port (required when email_to is set)
	From        string        // from (required when email_to is set)
	Username    string        // username (optional)
	Password    Secret        // password (optional)
	StartTLS    string        // starttls: "auto" (default) | "always" | "never"
	RepeatAfter time.Duration // repeat_after, default 6h: the same failure is not mailed again before this
}

// Secret is a configured secret reference. Its value is resolved on demand and never printed: String and
// MarshalJSON show only where it comes from.
type Secret struct {
	Ref string // as written: "env:NAME", "file:PATH" or a literal

	// key names the setting in errors ("[exchange.graph] client_secret"); dir is the config file's folder, against
	// which a relative file: path resolves. Both are set by Load; a Secret built in code resolves file: paths
	// against the working directory.
	key  string
	dir  string
	kind string // the bare setting name: "client_secret", "certificate" or "password"; checks its value's shape
}
