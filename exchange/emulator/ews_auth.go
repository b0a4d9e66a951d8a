package emulator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/md4"
)

// This file is the EWS front's authentication, as IIS does it for /EWS/Exchange.asmx: Basic, and NTLM (also under
// the Negotiate scheme) with NTLMv2 responses. NTLM authenticates the TCP connection, not the request: once the
// handshake succeeded, later requests on the same connection need no Authorization header.

// ntlmTargetDomain is the NetBIOS domain the emulator's NTLM challenge names.
const ntlmTargetDomain = "EMULATOR"

// NTLM negotiate flags the challenge sets (MS-NLMP 2.2.2.5): Unicode, request target, NTLM, always sign, target
// type domain, extended session security, target info, version, 128- and 56-bit. It leaves out LM_KEY and
// KEY_EXCH, which NTLMv2-only clients refuse.
const ntlmChallengeFlags uint32 = 1<<0 | 1<<2 | 1<<9 | 1<<15 | 1<<16 | 1<<19 | 1<<23 | 1<<25 | 1<<29 | 1<<31

var ntlmSignature = []byte("NTLMSSP\x00")

// ntlmConn is one TCP connection's authentication state. Each accepted connection gets its own, in the
// connection's context (ewsConnContext), so the state is tied to the connection object and dies with it. Keying it
// by the connection's addresses instead let a new connection that reused a closed one's client port (loopback
// reuses ports at once) inherit the old connection's logon before the close was reported, and so skip the
// handshake with whatever password it held.
type ntlmConn struct {
	mu        sync.Mutex
	challenge []byte      // the server challenge of a handshake in progress; nil when none
	account   *EWSAccount // set once a handshake on this connection succeeded
}

// ntlmConnKey is the context key of a connection's *ntlmConn.
type ntlmConnKey struct{}

// ewsConnContext gives each accepted connection fresh NTLM state; Serve installs it as http.Server.ConnContext.
func (s *Server) ewsConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, ntlmConnKey{}, &ntlmConn{})
}

// ntlmConnOf returns the NTLM state of the request's connection, or nil when the request did not come through
// Serve's listener (then NTLM, which needs a connection, is refused).
func ntlmConnOf(r *http.Request) *ntlmConn {
	c, _ := r.Context().Value(ntlmConnKey{}).(*ntlmConn)
	return c
}

// logon returns the account the connection's handshake authenticated, or nil.
func (c *ntlmConn) logon() *EWSAccount {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.account
}

// set replaces the connection's handshake state.
func (c *ntlmConn) set(challenge []byte, account *EWSAccount) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.challenge, c.account = challenge, account
}

// takeChallenge returns the pending server challenge and forgets it, together with any earlier logon: a
// challenge answers one AUTHENTICATE message only, and a connection that starts a new handshake is no longer
// authenticated until it completes it.
func (c *ntlmConn) takeChallenge() []byte {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	challenge := c.challenge
	c.challenge, c.account = nil, nil
	return challenge
}

// ewsAuthenticate checks the request's credentials. It returns the account, or false after writing the 401 (or
// the NTLM challenge) itself. A request that presents credentials and fails also logs its connection off, so a
// wrong password never rides on an earlier handshake.
func (s *Server) ewsAuthenticate(w http.ResponseWriter, r *http.Request) (EWSAccount, bool) {
	conn := ntlmConnOf(r)
	auth := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(auth, " ")
	token = strings.TrimSpace(token)
	switch {
	case auth == "":
		if a := conn.logon(); a != nil {
			return *a, true
		}
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(token)
		if err == nil {
			user, pass, ok := strings.Cut(string(raw), ":")
			if a, found := s.em.ewsAccount(user); ok && found && a.Password == pass {
				return a, true
			}
		}
		conn.set(nil, nil)
	case strings.EqualFold(scheme, "NTLM") || strings.EqualFold(scheme, "Negotiate"):
		// IIS cannot run connection-based NTLM over HTTP/2 and resets the stream (HTTP_1_1_REQUIRED); aborting
		// the handler is the closest a Go handler gets.
		if r.ProtoMajor >= 2 {
			panic(http.ErrAbortHandler)
		}
		msg, err := base64.StdEncoding.DecodeString(token)
		if err != nil || len(msg) < 12 || !bytes.Equal(msg[:8], ntlmSignature) {
			conn.set(nil, nil)
			break // Kerberos or garbage: not something this server speaks
		}
		switch binary.LittleEndian.Uint32(msg[8:12]) {
		case 1:
			if conn == nil {
				break
			}
			challenge := make([]byte, 8)
			_, _ = rand.Read(challenge) // crypto/rand.Read never fails on supported platforms
			conn.set(challenge, nil)
			ewsDrainBody(r)
			w.Header().Set("WWW-Authenticate", scheme+" "+
				base64.StdEncoding.EncodeToString(ntlmChallengeMessage(challenge, s.em.now())))
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(ewsUnauthorizedPage))
			return EWSAccount{}, false
		case 3:
			challenge := conn.takeChallenge()
			if challenge == nil {
				break
			}
			// The account is looked up once and the proof checked against that account's password, so the
			// account returned is the one whose password the client proved it knows.
			var acct EWSAccount
			_, _, ok := verifyNTLMv2(msg, challenge, func(user, domain string) (string, bool) {
				a, found := s.ewsNTLMAccount(user, domain)
				acct = a
				return a.Password, found
			})
			if !ok {
				break
			}
			conn.set(nil, &acct)
			return acct, true
		default:
			conn.set(nil, nil)
		}
	}
	ewsDrainBody(r)
	h := w.Header()
	h.Add("WWW-Authenticate", "Negotiate")
	h.Add("WWW-Authenticate", "NTLM")
	h.Add("WWW-Authenticate", `Basic realm="`+r.Host+`"`)
	h.Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(ewsUnauthorizedPage))
	return EWSAccount{}, false
}

const ewsUnauthorizedPage = "<html><head><title>401 - Unauthorized</title></head><body><h1>401 - Unauthorized: " +
	"Access is denied due to invalid credentials.</h1></body></html>"

// ewsDrainBody reads what is left of a request body, so the connection (and with it an NTLM handshake) survives.
func ewsDrainBody(r *http.Request) {
	buf := make([]byte, 32<<10)
	for n := 0; n < maxEWSBody; {
		k, err := r.Body.Read(buf)
		n += k
		if err != nil {
			return
		}
	}
}

// ewsAccountName is a user name split the way Windows reads it: DOMAIN\user, user@upn.suffix or a bare user.
type ewsAccountName struct {
	user    string // lower-cased
	netbios string // lower-cased NetBIOS domain: the DOMAIN part, or the first label of a UPN suffix
	suffix  string // lower-cased UPN suffix, when given as a UPN
}

func ewsSplitAccountName(name string) ewsAccountName {
	name = strings.ToLower(strings.TrimSpace(name))
	if d, u, ok := strings.Cut(name, `\`); ok {
		return ewsAccountName{user: u, netbios: d}
	}
	if u, suffix, ok := strings.Cut(name, "@"); ok {
		netbios, _, _ := strings.Cut(suffix, ".")
		return ewsAccountName{user: u, netbios: netbios, suffix: suffix}
	}
	return ewsAccountName{user: name}
}

// matches reports whether a presented name denotes the account: the same user in the same domain, whichever of
// the two forms each side uses. A bare user name matches any domain, as IIS's default logon domain would.
func (a ewsAccountName) matches(presented ewsAccountName) bool {
	if a.user != presented.user {
		return false
	}
	switch {
	case presented.netbios == "" || a.netbios == "":
		return true
	case presented.suffix != "" && a.suffix != "":
		return presented.suffix == a.suffix
	}
	return presented.netbios == a.netbios
}

// ewsNTLMAccount finds the account for the user and domain of an NTLM AUTHENTICATE message. A client given a
// UPN sends it whole as the user with an empty domain.
func (s *Server) ewsNTLMAccount(user, domain string) (EWSAccount, bool) {
	if domain == "" {
		return s.em.ewsAccount(user)
	}
	return s.em.ewsAccount(domain + `\` + user)
}

// ntlmChallengeMessage builds the CHALLENGE message (MS-NLMP 2.2.1.2) with target info naming the emulator and
// carrying the server's time, which NTLMv2 clients put into their response.
func ntlmChallengeMessage(challenge []byte, now time.Time) []byte {
	target := ntlmUTF16(ntlmTargetDomain)
	var info bytes.Buffer
	av := func(id uint16, value []byte) {
		_ = binary.Write(&info, binary.LittleEndian, id)
		_ = binary.Write(&info, binary.LittleEndian, uint16(len(value)))
		info.Write(value)
	}
	av(2, target)                               // MsvAvNbDomainName
	av(1, ntlmUTF16("EWS"))                     // MsvAvNbComputerName
	av(4, ntlmUTF16("emulator.local"))          // MsvAvDnsDomainName
	av(3, ntlmUTF16("ews.emulator.local"))      // MsvAvDnsComputerName
	av(7, binary.LittleEndian.AppendUint64(nil, // MsvAvTimestamp, a FILETIME
		uint64(now.UnixNano()/100+116444736000000000)))
	av(0, nil) // MsvAvEOL

	const headerLen = 56 // fixed fields (48) and the version (8)
	var b bytes.Buffer
	b.Write(ntlmSignature)
	_ = binary.Write(&b, binary.LittleEndian, uint32(2))
	ntlmVarField(&b, len(target), headerLen)
	_ = binary.Write(&b, binary.LittleEndian, ntlmChallengeFlags)
	b.Write(challenge)
	b.Write(make([]byte, 8)) // reserved
	ntlmVarField(&b, info.Len(), headerLen+len(target))
	b.Write([]byte{6, 3, 0x80, 0x25, 0, 0, 0, 15}) // version 6.3 build 9600, NTLM revision 15
	b.Write(target)
	b.Write(info.Bytes())
	return b.Bytes()
}

func ntlmVarField(b *bytes.Buffer, length, offset int) {
	_ = binary.Write(b, binary.LittleEndian, uint16(length))
	_ = binary.Write(b, binary.LittleEndian, uint16(length))
	_ = binary.Write(b, binary.LittleEndian, uint32(offset))
}

// verifyNTLMv2 checks an AUTHENTICATE message (MS-NLMP 2.2.1.3) against the server challenge: it recomputes
// NTProofStr = HMAC_MD5(NTOWFv2, challenge || blob) with NTOWFv2 = HMAC_MD5(MD4(UTF16LE(password)),
// UTF16LE(UPPER(user) + domain)), using the user and domain exactly as the client sent them (that is what it
// hashed). password looks up the account's password. NTLMv1 responses are refused.
func verifyNTLMv2(msg, challenge []byte, password func(user, domain string) (string, bool)) (
	user, domain string, ok bool) {
	field := func(off int) ([]byte, bool) {
		if len(msg) < off+8 {
			return nil, false
		}
		l := int(binary.LittleEndian.Uint16(msg[off:]))
		start := int(binary.LittleEndian.Uint32(msg[off+4:]))
		if start < 0 || start+l > len(msg) {
			return nil, false
		}
		return msg[start : start+l], true
	}
	nt, ok1 := field(20)
	dom, ok2 := field(28)
	usr, ok3 := field(36)
	if !ok1 || !ok2 || !ok3 || len(nt) <= 24 || len(usr) == 0 {
		return "", "", false
	}
	var err error
	if user, err = ntlmFromUTF16(usr); err != nil {
		return "", "", false
	}
	if domain, err = ntlmFromUTF16(dom); err != nil {
		return "", "", false
	}
	pass, found := password(user, domain)
	if !found {
		return "", "", false
	}
	h := md4.New()
	h.Write(ntlmUTF16(pass))
	ntowf := ntlmHMAC(h.Sum(nil), ntlmUTF16(strings.ToUpper(user)+domain))
	proof := ntlmHMAC(ntowf, challenge, nt[16:])
	if !hmac.Equal(proof, nt[:16]) {
		return "", "", false
	}
	return user, domain, true
}

func ntlmHMAC(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

func ntlmUTF16(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, v := range u {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

func ntlmFromUTF16(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("odd length %d for UTF-16", len(b))
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}
