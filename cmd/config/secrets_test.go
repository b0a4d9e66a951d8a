package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestSecretsList checks the one list of secrets: every key of kind secret is declared a secret (and so is
// redacted, warned about and checked), Secrets names each set one, the syntax-error scrubber knows each name, and
// SecretValues resolves the certificate too, which the notifier's own list once left out.
func TestSecretsList(t *testing.T) {
	for _, k := range Keys {
		if (k.Kind == KindSecret) != k.Secret {
			t.Errorf("%s.%s: kind secret = %v but Secret = %v", k.Table, k.Name, k.Kind == KindSecret, k.Secret)
		}
	}
	t.Setenv("TFSYNC_TEST_A", "secret-a")
	t.Setenv("TFSYNC_TEST_B", "-----BEGIN PRIVATE KEY-----")
	t.Setenv("TFSYNC_TEST_C", "secret-c")
	t.Setenv("TFSYNC_TEST_D", "secret-d")
	var c Config
	c.Exchange.Graph.ClientSecret = Secret{Ref: "env:TFSYNC_TEST_A"}
	c.Exchange.Graph.Certificate = Secret{Ref: "env:TFSYNC_TEST_B"}
	c.Exchange.EWS.Password = Secret{Ref: "env:TFSYNC_TEST_C"}
	c.Notify.Password = Secret{Ref: "env:TFSYNC_TEST_D"}
	var names []string
	for _, s := range c.Secrets() {
		names = append(names, s.Key)
	}
	want := []string{"[exchange.graph] client_secret", "[exchange.graph] certificate", "[exchange.ews] password", "[notify] password"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("Secrets() = %q, want %q", names, want)
	}
	if got := c.SecretValues(); !reflect.DeepEqual(got, []string{"secret-a", "-----BEGIN PRIVATE KEY-----", "secret-c", "secret-d"}) {
		t.Errorf("SecretValues() = %q", got)
	}
	if err := c.CheckSecrets(); err != nil {
		t.Errorf("CheckSecrets() = %v", err)
	}
	c.Notify.Password = Secret{Ref: "env:TFSYNC_TEST_UNSET"}
	if err := c.CheckSecrets(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "TFSYNC_TEST_UNSET") {
		t.Errorf("CheckSecrets() with an unset variable = %v, want ErrConfig naming it", err)
	}
	if got := len(c.SecretValues()); got != 3 {
		t.Errorf("SecretValues() kept %d values, want the 3 that resolve", got)
	}
	if got := len((&Config{}).Secrets()); got != 0 {
		t.Errorf("Secrets() of an empty Config = %d entries, want none", got)
	}
	for _, line := range []string{"client_secret = x", "certificate = x", "password = x", "exchange.ews.password = x"} {
		if !secretLine.MatchString(line) {
			t.Errorf("the syntax-error scrubber does not see a secret on %q", line)
		}
	}
}
