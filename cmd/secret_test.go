package cmd

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"tfsync/cmd/exitcode"
	"tfsync/exchange/emulator"
)

// testCert makes a self-signed certificate valid until notAfter and its private key, PEM encoded.
func testCert(t *testing.T, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tfsync test"},
		NotBefore:    notAfter.AddDate(-2, 0, 0),
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func utf16Bytes(s string, order binary.ByteOrder) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2+2*len(u))
	if order == binary.LittleEndian {
		b[0], b[1] = 0xff, 0xfe
	} else {
		b[0], b[1] = 0xfe, 0xff
	}
	for i, c := range u {
		order.PutUint16(b[2+2*i:], c)
	}
	return b
}

// TestSecretInputs feeds test-connection each way an admin pastes a secret wrongly. Harmless noise around a good
// secret is forgiven and the pass signs in; a secret that cannot be right (a file name, the secret's ID) is refused
// with the fix before Entra ID is asked, which the emulator's token count shows.
func TestSecretInputs(t *testing.T) {
	emu, cfg := graphEnv(t)
	dir := filepath.Dir(cfg)
	secretFile := filepath.Join(dir, "client-secret.txt")
	rawSecret, _ := os.ReadFile(secretFile)
	secret := strings.TrimSpace(string(rawSecret))
	secretID := "2b1f6c1e-7d3a-4e1b-9f0a-5c4d3e2f1a0b"
	orig, _ := os.ReadFile(cfg)
	origText := string(orig)
	const secretLine = `client_secret = "file:client-secret.txt"`
	if !strings.Contains(origText, secretLine) {
		t.Fatalf("the emulator's configuration changed:\n%s", origText)
	}
	certPEM, keyPEM := testCert(t, time.Now().AddDate(1, 0, 0))
	const envName = "TFSYNC_TEST_CLIENT_SECRET"

	cases := []struct {
		name     string
		line     string // replaces the client_secret line
		file     []byte // client-secret.txt's content, when not nil
		env      string
		config   func(text string) []byte // the whole configuration file, when not nil
		wantCode int
		want     []string
		contacts bool // whether Entra ID may be asked for a token
	}{
		{name: "UTF-8 BOM (PowerShell 5 Set-Content -Encoding UTF8)", file: []byte("\ufeff" + secret + "\r\n"), wantCode: exitcode.OK, contacts: true},
		{name: "leading and trailing spaces in the file", file: []byte("  " + secret + " \n"), wantCode: exitcode.OK, contacts: true},
		{name: "UTF-16 LE file (Notepad Unicode, PowerShell 5 >)", file: utf16Bytes(secret+"\r\n", binary.LittleEndian), wantCode: exitcode.OK, contacts: true},
		{name: "UTF-16 BE file", file: utf16Bytes(secret, binary.BigEndian), wantCode: exitcode.OK, contacts: true},
		{name: "env: value with a trailing newline", line: `client_secret = "env:` + envName + `"`, env: secret + "\n", wantCode: exitcode.OK, contacts: true},
		{name: "literal with surrounding spaces", line: `client_secret = " ` + secret + ` "`, wantCode: exitcode.OK, contacts: true},
		{name: "a path without file:", line: `client_secret = "client-secret.txt"`, wantCode: exitcode.Usage,
			want: []string{"looks like a file name", "write file:client-secret.txt"}},
		{name: "a Windows path without file:", line: `client_secret = 'C:\tfsync\secret'`, wantCode: exitcode.Usage,
			want: []string{"looks like a file name", `write file:C:\tfsync\secret`}},
		{name: "the secret's ID in the file", file: []byte(secretID + "\n"), wantCode: exitcode.Usage,
			want: []string{"this is the secret's ID; copy its Value", "Certificates & secrets"}},
		{name: "the secret's ID in env:", line: `client_secret = "env:` + envName + `"`, env: secretID, wantCode: exitcode.Usage,
			want: []string{"this is the secret's ID; copy its Value"}},
		{name: "the secret's ID as a literal", line: `client_secret = "` + secretID + `"`, wantCode: exitcode.Usage,
			want: []string{"this is the secret's ID; copy its Value"}},
		{name: "a wrong but plausible secret", file: []byte("not-the-secret~value\n"), wantCode: exitcode.Auth,
			want: []string{"AADSTS7000215"}, contacts: true},
		{name: "certificate path without file:", line: `certificate = "tfsync.pem"`, wantCode: exitcode.OK, contacts: true},
		{name: "certificate path without file: that does not exist", line: `certificate = "missing.pem"`, wantCode: exitcode.Usage,
			want: []string{"missing.pem", "taken as a file name", `write certificate = "file:missing.pem"`}},
		{name: "UTF-16 configuration with a BOM", config: func(text string) []byte { return utf16Bytes(text, binary.LittleEndian) },
			wantCode: exitcode.OK, want: []string{"save it as UTF-8"}, contacts: true},
		{name: "UTF-16 configuration without a BOM", config: func(text string) []byte { return utf16Bytes(text, binary.LittleEndian)[2:] },
			wantCode: exitcode.Usage, want: []string{"save it as UTF-8"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := origText
			if tc.line != "" {
				text = strings.Replace(text, secretLine, tc.line, 1)
			}
			data := []byte(text)
			if tc.config != nil {
				data = tc.config(text)
			}
			if err := os.WriteFile(cfg, data, 0o600); err != nil {
				t.Fatal(err)
			}
			file := rawSecret
			if tc.file != nil {
				file = tc.file
			}
			os.WriteFile(secretFile, file, 0o600)
			os.WriteFile(filepath.Join(dir, "tfsync.pem"), append(append([]byte(nil), certPEM...), keyPEM...), 0o600)
			t.Setenv(envName, tc.env)
			app := emulator.App{TenantID: emuTenantID, ClientID: emuClientID, SecretValue: secret, SecretID: secretID, Consented: true}
			if strings.HasPrefix(tc.line, "certificate") {
				app.SecretValue, app.CertificatePEM = "", certPEM
			}
			emu.em.AddApp(app)
			emu.em.ResetTraffic()

			code, out := testConnection(t, emu, cfg)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tc.wantCode, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, secret) {
				t.Error("the secret was printed")
			}
			tokens := emu.em.Traffic().TokenRequests
			if tc.contacts != (tokens > 0) {
				t.Errorf("%d token requests reached Entra ID; want contact = %v", tokens, tc.contacts)
			}
		})
	}
}
