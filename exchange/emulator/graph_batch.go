package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// This file is JSON batching: POST /v1.0/$batch with up to 20 requests. Items run concurrently unless dependsOn
// orders them; an item whose dependency failed gets 424; the items of one mailbox run at most four at a time
// (Graph forwards them to Outlook that way), so a batch alone never trips the mailbox concurrency limit but can
// when other requests for the mailbox are in flight. Each item passes the same pipeline as a plain request
// (faults, limits, checks), so throttling shows up as a 429 item with Retry-After in its own headers. Responses
// come back in random order, as Graph does not keep the request order either.

// maxBatchRequests is Graph's limit of requests per batch.
const maxBatchRequests = 20

type batchItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      json.RawMessage   `json:"body,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"`
}

type batchItemResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

func badBatch(format string, args ...any) *graphResponse {
	return graphError(http.StatusBadRequest, "BadRequest", fmt.Sprintf(format, args...))
}

// serveBatch runs a $batch envelope.
func (s *Server) serveBatch(req *graphRequest) *graphResponse {
	if req.method != http.MethodPost {
		return graphError(http.StatusMethodNotAllowed, "BadRequest", "The $batch endpoint only accepts POST.")
	}
	var env struct {
		Requests []batchItem `json:"requests"`
	}
	if err := json.Unmarshal(req.body, &env); err != nil {
		return badBatch("Invalid batch payload format.")
	}
	items := env.Requests
	switch {
	case len(items) == 0:
		return badBatch("Invalid batch payload format.")
	case len(items) > maxBatchRequests:
		return badBatch("Unable to deserialize batch request. The number of requests in a batch exceeds the limit "+
			"of %d.", maxBatchRequests)
	}
	byID := map[string]int{}
	for i, it := range items {
		switch {
		case it.ID == "":
			return badBatch("Batch request at index %d has no id.", i)
		case it.Method == "":
			return badBatch("Batch request id : %s does not contain a method.", it.ID)
		case it.URL == "":
			return badBatch("Batch request id : %s does not contain a url.", it.ID)
		}
		if _, dup := byID[it.ID]; dup {
			return badBatch("Batch request contains a duplicate id '%s'. Request ids must be unique within a batch.", it.ID)
		}
		byID[it.ID] = i
		m := strings.ToUpper(it.Method)
		if (m == http.MethodPost || m == http.MethodPatch || m == http.MethodPut) &&
			(len(it.Body) == 0 || string(it.Body) == "null" || headerValue(it.Headers, "Content-Type") == "") {
			return badBatch("Write request id : %s does not contain Content-Type header or body.", it.ID)
		}
	}
	for _, it := range items {
		for _, dep := range it.DependsOn {
			if _, ok := byID[dep]; !ok || dep == it.ID {
				return badBatch("Request id : %s depends on request id : %s, which is not in the batch.", it.ID, dep)
			}
		}
	}
	if hasDependencyCycle(items, byID) {
		return badBatch("The dependsOn of the batch requests form a cycle.")
	}

	// One queue per mailbox, so that at most Limits.Concurrent items of a mailbox run at once.
	s.front.mu.Lock()
	concurrent := s.front.limits.Concurrent
	s.front.mu.Unlock()
	q := &batchQueue{slots: map[string]chan struct{}{}}
	for _, it := range items {
		if u, err := url.Parse(it.URL); err == nil {
			if rt, errResp := parseRoute(u.EscapedPath()); errResp == nil {
				if _, ok := q.slots[normAddr(rt.user)]; !ok {
					q.slots[normAddr(rt.user)] = make(chan struct{}, concurrent)
				}
			}
		}
	}

	results := make([]batchItemResponse, len(items))
	done := make([]chan struct{}, len(items))
	for i := range done {
		done[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[i])
			for _, dep := range it.DependsOn {
				j := byID[dep]
				<-done[j]
				if results[j].Status >= 400 {
					results[i] = s.batchResult(req, it.ID, graphError(http.StatusFailedDependency, "FailedDependency",
						fmt.Sprintf("The request failed because request id : %s, which it depends on, failed.", dep)))
					return
				}
			}
			results[i] = s.batchResult(req, it.ID, s.runBatchItem(req, it, q))
		}()
	}
	wg.Wait()
	rand.Shuffle(len(results), func(i, j int) { results[i], results[j] = results[j], results[i] })
	resp := &graphResponse{status: http.StatusOK, header: http.Header{}, body: map[string]any{"responses": results}}
	resp.header.Set("Content-Type", "application/json; charset=utf-8")
	return resp
}

// runBatchItem turns an item into an operation and runs it.
func (s *Server) runBatchItem(outer *graphRequest, it batchItem, q *batchQueue) *graphResponse {
	u, err := url.Parse(it.URL)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return badBatch("Invalid request URL '%s': the url of a batch request must be relative to the version, "+
			"e.g. /users/{id}/events.", it.URL)
	}
	h := http.Header{}
	for k, v := range it.Headers {
		h.Set(k, v)
	}
	req := &graphRequest{
		ctx:       outer.ctx,
		method:    strings.ToUpper(it.Method),
		rawPath:   "/" + strings.TrimPrefix(u.EscapedPath(), "/"),
		query:     u.Query(),
		header:    h,
		body:      batchBody(it),
		base:      outer.base,
		auth:      outer.auth,
		requestID: newUUID(),
		clientID:  outer.clientID,
		inBatch:   true,
	}
	return s.runOp(req, q)
}

// batchBody extracts an item's body: a JSON value as it is, or a base64 string (how non-JSON bodies travel).
func batchBody(it batchItem) []byte {
	b := bytes.TrimSpace(it.Body)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] != '"' {
		return b
	}
	var str string
	if json.Unmarshal(b, &str) != nil {
		return b
	}
	if dec, err := base64.StdEncoding.DecodeString(str); err == nil {
		return dec
	}
	return []byte(str)
}

// batchResult converts an operation's response into a batch response item.
func (s *Server) batchResult(outer *graphRequest, id string, resp *graphResponse) batchItemResponse {
	itemReq := &graphRequest{requestID: newUUID(), clientID: outer.clientID}
	s.finish(itemReq, resp)
	out := batchItemResponse{ID: id, Status: resp.status, Headers: map[string]string{}}
	for k, v := range resp.header {
		switch strings.ToLower(k) {
		case "request-id", "client-request-id":
			continue // the envelope carries them
		}
		if len(v) > 0 {
			out.Headers[k] = v[0]
		}
	}
	if resp.body != nil {
		b, err := marshalNoEscape(resp.body)
		if err == nil {
			out.Body = b
		}
	}
	return out
}

// headerValue finds a header in a batch item's map, whose names are case-insensitive.
func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// hasDependencyCycle reports whether dependsOn links loop.
func hasDependencyCycle(items []batchItem, byID map[string]int) bool {
	state := make([]int, len(items)) // 0 unvisited, 1 on the stack, 2 done
	var visit func(i int) bool
	visit = func(i int) bool {
		switch state[i] {
		case 1:
			return true
		case 2:
			return false
		}
		state[i] = 1
		for _, dep := range items[i].DependsOn {
			if visit(byID[dep]) {
				return true
			}
		}
		state[i] = 2
		return false
	}
	for i := range items {
		if visit(i) {
			return true
		}
	}
	return false
}
