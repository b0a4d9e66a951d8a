package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGraph is a scripted stand-in for Entra ID and Graph, for tests of this package's own mechanics (tokens on
// the wire, batching, retries, paging) that need exact control over each answer. Behaviour against a faithful
// server is tested with the emulator (graph_test.go).
type fakeGraph struct {
	srv *httptest.Server

	// item answers one request: a $batch item, or a request sent alone (then batch is false).
	item func(it batchItem, batch bool) batchItemResponse
	// envelope, when set, may fail the n-th $batch (from 1) as a whole: with a status, or by dropping the
	// connection after the items were carried out (drop).
	envelope func(n int, auth string) (status int, drop bool)

	mu       sync.Mutex
	tokens   int
	batches  [][]batchItem // the items of each $batch, in arrival order
	singles  []string      // method and url of requests sent alone
	authSeen []string      // Authorization headers of Graph requests
}

func newFakeGraph(t *testing.T, item func(it batchItem, batch bool) batchItemResponse) *fakeGraph {
	t.Helper()
	f := &fakeGraph{item: item}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	// Connections the test drops on purpose would otherwise log handshake noise.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/v2.0/.well-known/openid-configuration"):
		tenant := strings.Split(strings.TrimPrefix(p, "/"), "/")[0]
		base := f.srv.URL + "/" + tenant
		writeJSON(w, 200, map[string]any{
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"issuer":                 base + "/v2.0",
		})
	case strings.HasSuffix(p, "/oauth2/v2.0/token"):
		f.mu.Lock()
		f.tokens++
		n := f.tokens
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
			"access_token": fmt.Sprintf("tok-%d", n)})
	case p == "/v1.0/$batch":
		f.mu.Lock()
		f.authSeen = append(f.authSeen, r.Header.Get("Authorization"))
		f.mu.Unlock()
		var req batchRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Requests) > maxBatch {
			writeJSON(w, 400, map[string]any{"error": map[string]any{"code": "BadRequest", "message": "bad batch"}})
			return
		}
		f.mu.Lock()
		f.batches = append(f.batches, req.Requests)
		n := len(f.batches)
		f.mu.Unlock()
		status, drop := 0, false
		if f.envelope != nil {
			status, drop = f.envelope(n, r.Header.Get("Authorization"))
		}
		if status != 0 {
			code, msg := "serviceNotAvailable", "The service is temporarily unavailable."
			if status == http.StatusUnauthorized {
				code, msg = "InvalidAuthenticationToken", "Access token has expired or is not yet valid."
			} else {
				w.Header().Set("Retry-After", "0.25")
			}
			writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
			return
		}
		var resp batchResponse
		for _, it := range req.Requests {
			r := f.item(it, true)
			r.ID = it.ID
			resp.Responses = append(resp.Responses, r)
		}
		if drop {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		writeJSON(w, 200, resp)
	case strings.HasPrefix(p, "/v1.0/"):
		f.mu.Lock()
		f.authSeen = append(f.authSeen, r.Header.Get("Authorization"))
		f.singles = append(f.singles, r.Method+" "+strings.TrimPrefix(r.URL.RequestURI(), "/v1.0"))
		f.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		res := f.item(batchItem{Method: r.Method, URL: strings.TrimPrefix(r.URL.RequestURI(), "/v1.0"), Body: body}, false)
		for k, v := range res.Headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(res.Status)
		_, _ = w.Write(res.Body)
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sleeps records the waits a client asked for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func (f *fakeGraph) client(t *testing.T, modify func(*Options)) (*Client, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	o := Options{
		TenantID: "contoso.onmicrosoft.com", ClientID: "11111111-2222-3333-4444-555555555555",
		ClientSecret: "fake-secret-value", AuthorityHost: f.srv.URL, GraphURL: f.srv.URL,
		HTTPClient: f.srv.Client(), Sleep: sl.sleep,
	}
	if modify != nil {
		modify(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, sl
}

func jsonBody(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func (f *fakeGraph) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n []int
	for _, b := range f.batches {
		n = append(n, len(b))
	}
	return n
}
