package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata and the README's configuration table")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestInitTemplate pins the file tfsync init writes for each mode, with and without the optional values.
func TestInitTemplate(t *testing.T) {
	cases := []struct {
		name string
		v    InitValues
	}{
		{"init-graph.golden", InitValues{Mode: "graph", TFDatabase: "tf.db", TenantID: PlaceholderGUID, ClientID: PlaceholderGUID,
			ClientSecret: "file:client-secret.txt", AuthorityHost: "https://login.microsoftonline.com/", GraphURL: "https://graph.microsoft.com",
			AllowedDomains: []string{"example.com"}}},
		{"init-graph-expires.golden", InitValues{Mode: "graph", TFDatabase: `C:\TF\tf "x".db`, TenantID: "contoso.onmicrosoft.com",
			ClientID: "11111111-2222-3333-4444-555555555555", ClientSecret: "env:TFSYNC_CLIENT_SECRET", SecretExpires: "2027-06-30",
			AuthorityHost: "https://127.0.0.1:8443/", GraphURL: "https://127.0.0.1:8443", AllowedDomains: []string{"example.com", "example.se"}}},
		{"init-ews.golden", InitValues{Mode: "ews", TFDatabase: "tf.db", EWSURL: "https://mail.example.com/EWS/Exchange.asmx",
			EWSUser: `EXAMPLE\svc-tf`, EWSPassword: "file:ews-password.txt", AllowedDomains: []string{"example.com"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteTemplate(&b, c.v); err != nil {
				t.Fatal(err)
			}
			golden(t, c.name, b.Bytes())
		})
	}
}
