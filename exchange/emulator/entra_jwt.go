package emulator

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// The emulator signs its access tokens with one RSA key per process: generating a 2048-bit key takes long enough
// that a test suite starting dozens of emulators would notice, and nothing outside the process trusts it anyway.
var tokenKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

// tokenKeyID names the signing key in token headers and in the JWKS document.
const tokenKeyID = "tfsync-emulator-1"

// jwtParts is a decoded compact JWS.
type jwtParts struct {
	header    map[string]any
	claims    map[string]any
	signed    string // "header.payload", the signing input
	signature []byte
}

var errMalformedJWT = errors.New("malformed jwt")

// parseJWT decodes a compact JWS without verifying it.
func parseJWT(s string) (*jwtParts, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, errMalformedJWT
	}
	var p jwtParts
	for i, dst := range []*map[string]any{&p.header, &p.claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, errMalformedJWT
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, errMalformedJWT
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errMalformedJWT
	}
	p.signed = parts[0] + "." + parts[1]
	p.signature = sig
	return &p, nil
}

// verifyRSA checks the JWS signature with pub for the algorithms Entra accepts in client assertions.
func (p *jwtParts) verifyRSA(pub *rsa.PublicKey) error {
	alg, _ := p.header["alg"].(string)
	sum := sha256.Sum256([]byte(p.signed))
	switch alg {
	case "RS256":
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], p.signature)
	case "PS256":
		return rsa.VerifyPSS(pub, crypto.SHA256, sum[:], p.signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	default:
		return fmt.Errorf("unsupported alg %q", alg)
	}
}

// claimString returns a string claim, or "".
func (p *jwtParts) claimString(name string) string {
	s, _ := p.claims[name].(string)
	return s
}

// claimUnix returns a numeric date claim (seconds since the epoch), and whether it was present.
func (p *jwtParts) claimUnix(name string) (int64, bool) {
	switch v := p.claims[name].(type) {
	case float64:
		return int64(v), true
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	}
	return 0, false
}

// signRS256 builds a compact JWS over claims with the emulator's token key.
func signRS256(claims map[string]any) (string, error) {
	key, err := tokenKey()
	if err != nil {
		return "", fmt.Errorf("token signing key: %w", err)
	}
	header, err := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": tokenKeyID})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signed := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// verifyAccessToken parses a bearer token and checks that the emulator signed it. It does not check lifetime or
// audience; the Graph front does that so it can answer with Graph's specific messages.
func verifyAccessToken(s string) (*jwtParts, error) {
	p, err := parseJWT(s)
	if err != nil {
		return nil, err
	}
	key, err := tokenKey()
	if err != nil {
		return nil, err
	}
	if alg, _ := p.header["alg"].(string); alg != "RS256" {
		return nil, fmt.Errorf("unexpected alg %q", alg)
	}
	if err := p.verifyRSA(&key.PublicKey); err != nil {
		return nil, err
	}
	return p, nil
}

// appCertificate is a certificate registered on an app, with the thumbprints client assertions name it by.
type appCertificate struct {
	cert   *x509.Certificate
	sha1   []byte
	sha256 []byte
}

// parseAppCertificates reads every CERTIFICATE block of a PEM bundle.
func parseAppCertificates(pemData []byte) ([]appCertificate, error) {
	var out []appCertificate
	for rest := pemData; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		s1 := sha1.Sum(cert.Raw)
		s256 := sha256.Sum256(cert.Raw)
		out = append(out, appCertificate{cert: cert, sha1: s1[:], sha256: s256[:]})
	}
	return out, nil
}

// decodeThumbprint accepts both base64 alphabets: RFC 7515 says base64url, MSAL sends standard base64.
func decodeThumbprint(s string) []byte {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}
