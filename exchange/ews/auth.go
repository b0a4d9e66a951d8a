package ews

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/go-ntlmssp"
)

// Authentication schemes for Options.Auth.
const (
	AuthNTLM  = "ntlm"
	AuthBasic = "basic"
)

// Access modes for Options.Access.
const (
	AccessImpersonation = "impersonation"
	AccessDelegate      = "delegate"
)

// defaultTimeout bounds one HTTP exchange (the NTLM handshake included) when the caller's client sets none.
const defaultTimeout = 100 * time.Second

// newHTTPClients builds the n clients tfsync sends EWS requests with; each request takes one for itself.
//
// NTLM authenticates a connection, not a request: the negotiate and authenticate messages of go-ntlmssp's handshake
// must travel on the connection that got the challenge. A shared pool hands concurrent requests' handshake steps
// to different connections, and the server then refuses them with 401. So every client has a transport of its own
// that keeps a single connection, and a request holds its client for its whole handshake; the next request on that
// connection is already authenticated. The transports are clones of the caller's (its TLS settings: the emulator's
// CA in tests, the system's trust store otherwise) with HTTP/2 turned off, since go-ntlmssp's handshake fails over
// HTTP/2 (the server answers HTTP_1_1_REQUIRED). A caller's RoundTripper that is not an *http.Transport is shared
// as it is. Redirects are not followed: a POST redirected to a login page is a wrong URL, and the error says so.
// The transports cloned here are returned as idle too, for Client.Close.
func newHTTPClients(base *http.Client, auth string, n int) (clients []*http.Client,
	idle []interface{ CloseIdleConnections() }) {
	var rt http.RoundTripper = http.DefaultTransport
	timeout := defaultTimeout
	if base != nil {
		if base.Transport != nil {
			rt = base.Transport
		}
		if base.Timeout > 0 {
			timeout = base.Timeout
		}
	}
	clients = make([]*http.Client, n)
	for i := range clients {
		crt := rt
		if t, ok := rt.(*http.Transport); ok {
			t = t.Clone()
			t.ForceAttemptHTTP2 = false
			t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			if t.TLSClientConfig != nil {
				t.TLSClientConfig.NextProtos = nil
			}
			t.MaxConnsPerHost = 1
			t.MaxIdleConnsPerHost = 1
			crt = t
			idle = append(idle, t)
		}
		crt = recordingTransport{crt}
		if auth == AuthNTLM {
			crt = ntlmssp.Negotiator{RoundTripper: crt}
		}
		clients[i] = &http.Client{
			Transport: crt,
			Timeout:   timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return clients, idle
}

// recordingTransport notes the transport errors of each step of a request in the request's context.
//
// go-ntlmssp answers a failed handshake step with the server's first 401 instead of the error, so a connection that
// drops after the server committed a write would look like wrong credentials. The record lets the client tell the
// two apart.
type recordingTransport struct {
	rt http.RoundTripper
}

func (t recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		if rec, ok := req.Context().Value(transportRecordKey{}).(*transportRecord); ok {
			rec.set(err)
		}
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		// go-ntlmssp keeps the first 401 open until its handshake ends. Reading it now frees the connection, so
		// the handshake's next steps can use it: the transport keeps a single connection (see newHTTPClients).
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		resp.Body = io.NopCloser(bytes.NewReader(data))
	}
	return resp, nil
}

type transportRecordKey struct{}

type transportRecord struct {
	mu  sync.Mutex
	err error
}

func (r *transportRecord) set(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

func (r *transportRecord) get() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func withTransportRecord(ctx context.Context) (context.Context, *transportRecord) {
	rec := &transportRecord{}
	return context.WithValue(ctx, transportRecordKey{}, rec), rec
}
