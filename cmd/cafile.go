package cmd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"time"

	"tfsync/cmd/config"
)

// caRequestTimeout bounds one request on a client built for ca_file, as the backends' own default clients do.
const caRequestTimeout = 2 * time.Minute

// httpClientFor returns the HTTP client the backends use: nil (their defaults, the system store) without
// [exchange] ca_file, else one whose TLS trusts the file's certificates in addition to the system store. On Windows
// and macOS Go asks the platform verifier first and falls back to these certificates, so an internal CA works
// there too, where SSL_CERT_FILE is ignored.
func httpClientFor(cfg *config.Config) (*http.Client, error) {
	if cfg.Exchange.CAFile == "" {
		return nil, nil
	}
	pool, err := caPool(cfg.Exchange.CAFile)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t, Timeout: caRequestTimeout}, nil
}

// caPool is the system store plus the PEM certificates in path.
func caPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		reason := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = pe.Err
		}
		return nil, fmt.Errorf("%w: [exchange] ca_file: read %s: %v: check the path and that the account running tfsync may read it",
			config.ErrConfig, path, reason)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		// Without a system store (a bare container), the file's certificates alone are trusted.
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%w: [exchange] ca_file: %s holds no PEM certificate (-----BEGIN CERTIFICATE-----): export the CA certificate as Base-64 encoded X.509 (.cer/.pem)",
			config.ErrConfig, path)
	}
	return pool, nil
}
