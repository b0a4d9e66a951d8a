package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// A NamedSecret is one secret-bearing setting that is set.
type NamedSecret struct {
	Key    string // as messages name it: "[exchange.graph] client_secret"
	Secret Secret
}

// Secrets lists the secret-bearing settings that are set, in declaration order: the keys declared Secret (graph
// client_secret and certificate, the EWS password, the SMTP password). It is the one list behind redaction, the
// warning about a literal secret in a readable file, and test-connection's check that each one resolves.
func (c *Config) Secrets() []NamedSecret {
	var out []NamedSecret
	for _, k := range Keys {
		if !k.Secret {
			continue
		}
		if s := *k.field(c).(*Secret); s.IsSet() {
			out = append(out, NamedSecret{Key: "[" + k.Table + "] " + k.Name, Secret: s})
		}
	}
	return out
}

// SecretValues resolves the set secrets, for a scrubber that keeps them out of text such as a failure mail.
// Unresolvable ones are skipped: a secret that cannot be read cannot leak either.
func (c *Config) SecretValues() []string {
	var out []string
	for _, s := range c.Secrets() {
		if v, err := s.Secret.Value(); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// CheckSecrets resolves every set secret, so a missing environment variable or file is reported by name. The
// error matches ErrConfig.
func (c *Config) CheckSecrets() error {
	var errs []error
	for _, s := range c.Secrets() {
		if _, err := s.Secret.Value(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}

// secretKeyNames are the bare names of the secret-bearing keys, once each, in declaration order.
func secretKeyNames() []string {
	var names []string
	for _, k := range Keys {
		if k.Secret && !contains(names, k.Name) {
			names = append(names, k.Name)
		}
	}
	return names
}

// secretLine matches a line that sets a secret, e.g. `password = ...` or `graph.client_secret = ...`, for
// the syntax errors that must not quote it.
var secretLine = regexp.MustCompile(`^\s*(?:[A-Za-z0-9_.'"-]*\.)?\s*["']?(` +
	strings.Join(secretKeyNames(), "|") + `)["']?\s*=`)
