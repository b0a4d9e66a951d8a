package config

import (
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// decode fills cfg from the document, table by table and key by key in the order Tables and Keys declare them.
func (d *decoder) decode(doc map[string]any, cfg *Config) {
	root := d.root(doc)
	root.unknown()
	sections := map[string]*section{"": root}
	for _, t := range Tables {
		parent, name := "", t.Name
		if i := strings.LastIndexByte(t.Name, '.'); i >= 0 {
			parent, name = t.Name[:i], t.Name[i+1:]
		}
		s := sections[parent].sub(name)
		sections[t.Name] = s
		for _, k := range tableKeys(t.Name) {
			if k.check != nil {
				k.check(s, k, cfg)
			} else {
				s.decodeKey(k, cfg)
			}
		}
		if t.check != nil {
			t.check(s, cfg)
		}
		s.unknown()
	}
}

// decodeKey reads a key by its Kind, and reports it missing when its Need is in force.
func (s *section) decodeKey(k *Key, cfg *Config) {
	dst := k.field(cfg)
	switch k.Kind {
	case KindText:
		if v, ok := s.required(k.Name, s.needs(k, cfg), k.Fix); ok {
			*dst.(*string) = v
		}
	case KindBool:
		s.setBool(k.Name, dst.(*bool))
	case KindInt:
		s.setInt(k.Name, dst.(*int), k.Min, k.Max)
	case KindWord:
		s.setWord(k.Name, dst.(*string), k.Words)
	case KindDuration:
		s.setDuration(k.Name, dst.(*time.Duration), k.MinDur, k.MaxDur, k.Example)
	case KindDate:
		s.setDate(k.Name, dst.(*time.Time), cfg.TF.TimeZone)
	case KindURL:
		if s.has(k.Name) {
			s.setURL(k.Name, dst.(*string), k.Example, k.Suffix)
		} else if s.needs(k, cfg) {
			s.missing(k.Name, k.Fix)
		}
	case KindSecret:
		if s.setSecret(k.Name, dst.(*Secret)) && s.needs(k, cfg) && !dst.(*Secret).IsSet() {
			s.missing(k.Name, k.Fix)
		}
	default:
		// KindPath and KindList keys say what they mean by a path or a list in a check of their own.
		panic("config: " + k.Table + "." + k.Name + " needs a check")
	}
}

// checkPath reads an optional file name; empty says what leaving the key out does (ifEmpty).
func (s *section) checkPath(k *Key, cfg *Config, ifEmpty string) {
	if p, ok := s.str(k.Name); ok {
		if strings.TrimSpace(p) == "" {
			s.problem(k.Name, "%s is empty: %s", s.name(k.Name), ifEmpty)
		} else {
			*k.field(cfg).(*string) = resolveConfigPath(s.d.dir, strings.TrimSpace(p))
		}
	}
}

func checkDatabase(s *section, k *Key, cfg *Config) {
	if db, ok := s.required(k.Name, s.needs(k, cfg), k.Fix); ok {
		cfg.TF.Database = resolveConfigPath(s.d.dir, db)
	}
}

func checkTimeZone(s *section, k *Key, cfg *Config) {
	if zone, ok := s.str(k.Name); ok {
		loc, err := time.LoadLocation(zone)
		if err != nil || zone == "" || zone == "Local" {
			s.problem(k.Name, "%s = %q is not a known time zone: use an IANA name such as \"Europe/Stockholm\"", s.name(k.Name), oneLine(zone))
		} else {
			cfg.TF.TimeZone, cfg.TF.ZoneName = loc, zone
		}
	}
}

func checkStatePathKey(s *section, k *Key, cfg *Config) {
	if p, ok := s.str(k.Name); ok {
		if strings.TrimSpace(p) == "" {
			s.problem(k.Name, `%s is empty: remove it to use %q beside the config, or name a file`, s.name(k.Name), k.Default)
		} else {
			cfg.State.Path = strings.TrimSpace(p)
		}
	}
	cfg.State.Path = resolveConfigPath(s.d.dir, cfg.State.Path)
}

// checkStatePath keeps the state store out of TF's database.
func checkStatePath(s *section, cfg *Config) {
	if cfg.TF.Database != "" && sameFile(cfg.State.Path, cfg.TF.Database) {
		s.problem("path", "%s names the TF database, the same file as [tf] database (%s): tfsync's state store must be a "+
			"file of its own (a pass would switch TF's database to WAL and add its tables there): set [state] path to "+
			"e.g. \"tfsync-state.db\", or remove it to use that name beside the config", s.name("path"), cfg.TF.Database)
	}
}

func checkMode(s *section, k *Key, cfg *Config) {
	if !s.setWord(k.Name, &cfg.Exchange.Mode, k.Words) && !s.has(k.Name) {
		s.missing(k.Name, k.Fix)
	}
}

func checkCAFile(s *section, k *Key, cfg *Config) {
	s.checkPath(k, cfg, "remove it to trust only the system's certificate store, or name a PEM file")
}

func checkLogFile(s *section, k *Key, cfg *Config) {
	s.checkPath(k, cfg, `remove it to write no log file, or name one such as "tfsync.log"`)
}

// checkID reads a tenant or client id: not the placeholder tfsync init writes, and of the shape valid says.
func (s *section) checkID(k *Key, cfg *Config, what, shape string, valid func(string) bool) {
	v, ok := s.required(k.Name, s.needs(k, cfg), k.Fix)
	switch {
	case !ok:
	case IsPlaceholderID(v):
		s.problem(k.Name, "%s is still the placeholder %s written by tfsync init: replace the placeholder with the %s from the app's Overview page in Entra ID",
			s.name(k.Name), PlaceholderGUID, what)
	case valid(v):
		*k.field(cfg).(*string) = v
	default:
		s.problem(k.Name, shape, s.name(k.Name), oneLine(v))
	}
}

func checkTenantID(s *section, k *Key, cfg *Config) {
	s.checkID(k, cfg, "Directory (tenant) ID",
		"%s = %q is not valid: use the Directory (tenant) ID from the app's Overview page in Entra ID, or the tenant's domain such as contoso.onmicrosoft.com",
		tenantIDPattern.MatchString)
}

func checkClientID(s *section, k *Key, cfg *Config) {
	s.checkID(k, cfg, "Application (client) ID",
		"%s = %q is not a GUID: use the Application (client) ID from the app's Overview page in Entra ID",
		guidPattern.MatchString)
}

// checkGraphCredential wants exactly one of client_secret and certificate in graph mode.
func checkGraphCredential(s *section, cfg *Config) {
	gc := &cfg.Exchange.Graph
	secret, cert := key("exchange.graph", "client_secret"), key("exchange.graph", "certificate")
	switch {
	case gc.ClientSecret.IsSet() && gc.Certificate.IsSet():
		later := cert.Name
		if s.line(secret.Name) > s.line(cert.Name) {
			later = secret.Name
		}
		s.problem(later, "%s and %s are both set: keep exactly one (the app signs in with either a client secret or a certificate)",
			s.name(secret.Name), s.name(cert.Name))
	case InGraphMode.applies(cfg) && !s.failedKey(secret.Name) && !s.failedKey(cert.Name) && !gc.ClientSecret.IsSet() && !gc.Certificate.IsSet():
		s.problem(secret.Name, "%s is missing: %s", s.name(secret.Name), secret.Fix)
	}
}

func checkKinds(s *section, k *Key, cfg *Config) {
	kinds, idx, ok := s.list(k.Name)
	if !ok {
		return
	}
	var good []string
	for n, kind := range kinds {
		switch {
		case !contains(k.Words, kind):
			s.elemProblem(k.Name, idx[n], "%s: %q is not a kind: use some of %s", s.name(k.Name), oneLine(kind), strings.Join(k.Words, ", "))
		case contains(good, kind):
			s.elemProblem(k.Name, idx[n], "%s: %q is listed twice: remove one", s.name(k.Name), kind)
		default:
			good = append(good, kind)
		}
	}
	if len(s.vals[k.Name].([]any)) == 0 {
		s.problem(k.Name, "%s is empty: list at least one of %s, or remove the key to sync all of them", s.name(k.Name), strings.Join(k.Words, ", "))
	} else if len(good) > 0 {
		cfg.Sync.Kinds = good
	}
}

func checkAllowedDomains(s *section, k *Key, cfg *Config) {
	domains, idx, ok := s.list(k.Name)
	switch {
	case !ok && !s.has(k.Name):
		s.missing(k.Name, k.Fix)
	case ok && len(s.vals[k.Name].([]any)) == 0:
		s.problem(k.Name, `%s is empty: list the e-mail domains of the mailboxes tfsync may write to, e.g. ["example.com"]`, s.name(k.Name))
	}
	for n, raw := range domains {
		dom, why := NormalizeDomain(raw)
		if why != "" {
			s.elemProblem(k.Name, idx[n], "%s: %q is not a domain: %s; write a bare domain like \"example.com\"",
				s.name(k.Name), oneLine(raw), why)
			continue
		}
		if !contains(cfg.Sync.AllowedDomains, dom) {
			cfg.Sync.AllowedDomains = append(cfg.Sync.AllowedDomains, dom)
		}
	}
}

func checkEmailTo(s *section, k *Key, cfg *Config) {
	to, idx, _ := s.list(k.Name)
	for i, addr := range to {
		if _, err := mail.ParseAddress(addr); err != nil {
			s.elemProblem(k.Name, idx[i], "%s: %q is not an e-mail address: write it like \"drift@example.com\"", s.name(k.Name), oneLine(addr))
			continue
		}
		cfg.Notify.EmailTo = append(cfg.Notify.EmailTo, addr)
	}
	// Whether notices are wanted is decided by the list as written, so a list of only bad addresses still asks
	// for the mail server.
	s.d.mailing = len(to) > 0
}

func checkSMTP(s *section, k *Key, cfg *Config) {
	if v, ok := s.required(k.Name, s.needs(k, cfg), k.Fix); ok {
		host, port, err := net.SplitHostPort(v)
		p, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			s.problem(k.Name, "%s = %q is not host:port: write it like \"smtp.example.com:587\"", s.name(k.Name), oneLine(v))
		} else {
			cfg.Notify.SMTP = v
		}
	}
}

func checkFrom(s *section, k *Key, cfg *Config) {
	if v, ok := s.required(k.Name, s.needs(k, cfg), k.Fix); ok {
		if _, err := mail.ParseAddress(v); err != nil {
			s.problem(k.Name, "%s = %q is not an e-mail address: write it like \"tfsync@example.com\"", s.name(k.Name), oneLine(v))
		} else {
			cfg.Notify.From = v
		}
	}
}
