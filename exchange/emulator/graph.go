package emulator

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"tfsync/exchange"
)

// This file is the emulator's Microsoft Graph v1.0 front for users' calendar events: routing, authentication,
// the per-operation pipeline (faults, limits, mailbox checks) and Graph's error shape. Event JSON lives in
// graph_event.go, calendarView delta in graph_delta.go and JSON batching in graph_batch.go.

// maxGraphBody is Graph's request size limit (4 MB).
const maxGraphBody = 4 << 20

// jsonContentType is what Graph answers JSON with.
const jsonContentType = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"

// graphRequest is one Graph operation: a plain HTTP request or one $batch item.
type graphRequest struct {
	ctx       context.Context
	method    string
	rawPath   string // escaped path under /v1.0, e.g. "/users/tech%40contoso.com/events"
	query     url.Values
	header    http.Header
	body      []byte // decoded (gunzipped) body
	base      string // "https://host", for links
	auth      *graphAuth
	requestID string
	clientID  string // client-request-id
	inBatch   bool
}

// graphResponse is the answer to one operation.
type graphResponse struct {
	status int
	header http.Header
	body   any // marshalled as JSON; nil for no body
}

// graphAuth is what a valid bearer token says.
type graphAuth struct {
	roles []string
	tid   string
	appid string
}

func (a *graphAuth) hasRole(roles ...string) bool {
	for _, r := range roles {
		if slices.Contains(a.roles, r) {
			return true
		}
	}
	return false
}

// serveGraph handles one HTTP request under /v1.0.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	req := &graphRequest{
		ctx:       r.Context(),
		method:    r.Method,
		rawPath:   strings.TrimPrefix(r.URL.EscapedPath(), "/v1.0"),
		query:     r.URL.Query(),
		header:    r.Header,
		base:      s.baseURL(r),
		requestID: newUUID(),
	}
	req.clientID = r.Header.Get("client-request-id")
	if req.clientID == "" {
		req.clientID = req.requestID
	}
	body, resp := readGraphBody(r)
	if resp != nil {
		s.writeGraph(w, req, resp)
		return
	}
	req.body = body
	auth, resp := s.authenticate(req)
	if resp != nil {
		s.writeGraph(w, req, resp)
		return
	}
	req.auth = auth
	if p := req.rawPath; p == "/$batch" || strings.EqualFold(p, "/%24batch") {
		s.writeGraph(w, req, s.serveBatch(req))
		return
	}
	s.writeGraph(w, req, s.runOp(req, nil))
}

// readGraphBody reads a request body, gunzipping it when the client compressed it (the Graph SDK does).
func readGraphBody(r *http.Request) ([]byte, *graphResponse) {
	var rd io.Reader = io.LimitReader(r.Body, maxGraphBody+1)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, graphError(http.StatusBadRequest, "BadRequest", "The request body is not valid gzip.")
		}
		defer zr.Close()
		rd = io.LimitReader(zr, maxGraphBody+1)
	default:
		return nil, graphError(http.StatusUnsupportedMediaType, "UnsupportedMediaType",
			fmt.Sprintf("Content-Encoding '%s' is not supported.", enc))
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, graphError(http.StatusBadRequest, "BadRequest", "The request body could not be read.")
	}
	if len(b) > maxGraphBody {
		return nil, graphError(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			"The request body exceeds the maximum size of 4 MB.")
	}
	return b, nil
}

// authenticate checks the bearer token as Graph does, answering 401 InvalidAuthenticationToken with Graph's
// messages when it is missing, malformed, not ours, for another audience or expired.
func (s *Server) authenticate(req *graphRequest) (*graphAuth, *graphResponse) {
	authz := strings.TrimSpace(req.header.Get("Authorization"))
	scheme, token, _ := strings.Cut(authz, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, s.unauthorized(req, "Access token is empty.")
	}
	p, err := verifyAccessToken(token)
	switch {
	case errors.Is(err, errMalformedJWT):
		return nil, s.unauthorized(req, "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs "+
			"to be in JWS or JWE Compact Serialization Format.")
	case err != nil:
		return nil, s.unauthorized(req, "Access token validation failure. Invalid signature.")
	}
	if aud := strings.TrimSuffix(p.claimString("aud"), "/"); aud != GraphResource && aud != graphAppID {
		return nil, s.unauthorized(req, "Access token validation failure. Invalid audience.")
	}
	exp, ok := p.claimUnix("exp")
	if !ok || !s.em.now().Before(time.Unix(exp, 0)) {
		return nil, s.unauthorized(req, "Lifetime validation failed, the token is expired.")
	}
	a := &graphAuth{tid: p.claimString("tid"), appid: p.claimString("appid")}
	if roles, ok := p.claims["roles"].([]any); ok {
		for _, r := range roles {
			if s, ok := r.(string); ok {
				a.roles = append(a.roles, s)
			}
		}
	}
	return a, nil
}

func (s *Server) unauthorized(req *graphRequest, msg string) *graphResponse {
	resp := graphError(http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
	resp.header.Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="", authorization_uri="%s/common/oauth2/authorize", `+
		`client_id="%s"`, req.base, graphAppID))
	return resp
}

// graphError builds Graph's error answer. Every error carries a code AND a message: the Go SDK panics on an error
// body without a message. innerError is filled in when the response is written.
func graphError(status int, code, message string) *graphResponse {
	return &graphResponse{
		status: status,
		header: http.Header{},
		body:   &graphErrorBody{Error: graphErrorDetail{Code: code, Message: message}},
	}
}

type graphErrorBody struct {
	Error graphErrorDetail `json:"error"`
}

type graphErrorDetail struct {
	Code       string           `json:"code"`
	Message    string           `json:"message"`
	InnerError *graphInnerError `json:"innerError,omitempty"`
}

type graphInnerError struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

// faultResponse turns an injected or limit reply into Graph's error answer.
func faultResponse(r *FaultReply) *graphResponse {
	code, msg := graphFaultError(r)
	resp := graphError(r.Status, code, msg)
	if r.RetryAfter != "" {
		resp.header.Set("Retry-After", r.RetryAfter)
	}
	return resp
}

// finish adds the headers and innerError every Graph answer carries.
func (s *Server) finish(req *graphRequest, resp *graphResponse) {
	if resp.header == nil {
		resp.header = http.Header{}
	}
	resp.header.Set("request-id", req.requestID)
	resp.header.Set("client-request-id", req.clientID)
	resp.header.Set("Cache-Control", "private")
	if eb, ok := resp.body.(*graphErrorBody); ok && eb.Error.InnerError == nil {
		eb.Error.InnerError = &graphInnerError{
			Date:            s.em.now().UTC().Format("2006-01-02T15:04:05"),
			RequestID:       req.requestID,
			ClientRequestID: req.clientID,
		}
	}
	if resp.body != nil && resp.header.Get("Content-Type") == "" {
		if _, isErr := resp.body.(*graphErrorBody); isErr {
			resp.header.Set("Content-Type", "application/json")
		} else {
			resp.header.Set("Content-Type", jsonContentType)
			resp.header.Set("OData-Version", "4.0")
		}
	}
}

// writeGraph sends a response over HTTP.
func (s *Server) writeGraph(w http.ResponseWriter, req *graphRequest, resp *graphResponse) {
	s.finish(req, resp)
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	h.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"Emulator","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"tfsync-emulator"}}`)
	h.Set("Strict-Transport-Security", "max-age=31536000")
	if resp.body == nil {
		w.WriteHeader(resp.status)
		return
	}
	b, err := marshalNoEscape(resp.body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(resp.status)
	w.Write(b)
}

// graphRoute is a parsed Graph path.
type graphRoute struct {
	user    string // the user segment as given, unescaped (UPN or SMTP address)
	kind    string // routeEvents, routeEvent, routeCalendarView, routeDelta, routeCalendar
	eventID string
}

const (
	routeEvents       = "events"
	routeEvent        = "event"
	routeCalendarView = "calendarView"
	routeDelta        = "delta"
	routeCalendar     = "calendar"
)

// parseRoute maps a path under /v1.0 to a route. Segments are unescaped one by one, so an event id may contain
// an escaped '/', and a user may be written tech%40contoso.com.
func parseRoute(rawPath string) (graphRoute, *graphResponse) {
	var segs []string
	for _, p := range strings.Split(strings.Trim(rawPath, "/"), "/") {
		u, err := url.PathUnescape(p)
		if err != nil {
			return graphRoute{}, graphError(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid URL segment '%s'.", p))
		}
		segs = append(segs, u)
	}
	notFound := func(seg string) (graphRoute, *graphResponse) {
		return graphRoute{}, graphError(http.StatusBadRequest, "BadRequest",
			fmt.Sprintf("Resource not found for the segment '%s'.", seg))
	}
	if len(segs) == 0 || segs[0] == "" {
		return notFound("")
	}
	if strings.EqualFold(segs[0], "me") {
		return graphRoute{}, graphError(http.StatusBadRequest, "BadRequest",
			"/me request is only valid with delegated authentication flow.")
	}
	if !strings.EqualFold(segs[0], "users") {
		return notFound(segs[0])
	}
	if len(segs) < 3 || segs[1] == "" {
		return notFound(segs[len(segs)-1])
	}
	rt := graphRoute{user: segs[1]}
	rest := segs[2:]
	if strings.EqualFold(rest[0], "calendar") {
		if len(rest) == 1 {
			rt.kind = routeCalendar
			return rt, nil
		}
		rest = rest[1:]
		if !strings.EqualFold(rest[0], "events") && !strings.EqualFold(rest[0], "calendarView") {
			return notFound(rest[0])
		}
	}
	switch {
	case strings.EqualFold(rest[0], "events") && len(rest) == 1:
		rt.kind = routeEvents
	case strings.EqualFold(rest[0], "events") && len(rest) == 2 && rest[1] != "":
		rt.kind, rt.eventID = routeEvent, rest[1]
	case strings.EqualFold(rest[0], "calendarView") && len(rest) == 1:
		rt.kind = routeCalendarView
	case strings.EqualFold(rest[0], "calendarView") && len(rest) == 2 && isDeltaSegment(rest[1]):
		rt.kind = routeDelta
	default:
		return notFound(rest[len(rest)-1])
	}
	return rt, nil
}

// isDeltaSegment accepts the spellings clients use for the delta function.
func isDeltaSegment(s string) bool {
	switch strings.ToLower(s) {
	case "delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()":
		return true
	}
	return false
}

// opName is how the operation is counted in the core's RequestsByOp.
func (rt graphRoute) opName(method string) string {
	switch {
	case rt.kind == routeEvents && method == http.MethodPost:
		return "graph.create"
	case rt.kind == routeEvents:
		return "graph.list"
	case rt.kind == routeEvent && method == http.MethodPatch:
		return "graph.update"
	case rt.kind == routeEvent && method == http.MethodDelete:
		return "graph.delete"
	case rt.kind == routeEvent:
		return "graph.get"
	}
	return "graph." + rt.kind
}

// batchQueue holds one $batch's per-mailbox slots, so that at most four of its items for one mailbox run at once,
// as Graph forwards them to Outlook.
type batchQueue struct {
	slots map[string]chan struct{}
}

// slot returns the mailbox's queue, or nil outside a batch.
func (q *batchQueue) slot(mailbox string) chan struct{} {
	if q == nil {
		return nil
	}
	return q.slots[mailbox]
}

// runOp runs one operation through the pipeline every Graph request passes: route, counting and faults,
// the mailbox's concurrency and budget, the app's roles, the mailbox's existence, licence and access policy, and
// finally the handler.
func (s *Server) runOp(req *graphRequest, q *batchQueue) *graphResponse {
	rt, errResp := parseRoute(req.rawPath)
	if errResp != nil {
		s.front.beginOp(FaultOp{Front: "graph", Method: req.method, Path: req.rawPath, InBatch: req.inBatch})
		return errResp
	}
	mailbox := normAddr(rt.user)
	if slot := q.slot(mailbox); slot != nil {
		select {
		case slot <- struct{}{}:
			defer func() { <-slot }()
		case <-req.ctx.Done():
			return graphError(http.StatusServiceUnavailable, "serviceNotAvailable", "The request was cancelled.")
		}
	}
	pathWithQuery := req.rawPath
	if len(req.query) > 0 {
		pathWithQuery += "?" + req.query.Encode()
	}
	release, reply := s.beginOp(req.ctx, FaultOp{Front: "graph", Mailbox: mailbox, Method: req.method,
		Path: pathWithQuery, InBatch: req.inBatch})
	if reply != nil {
		return faultResponse(reply)
	}
	defer release()

	write := req.method != http.MethodGet
	if (write && !req.auth.hasRole(CalendarsReadWrite)) ||
		(!write && !req.auth.hasRole(CalendarsReadWrite, "Calendars.Read", "Calendars.ReadBasic.All")) {
		return graphError(http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	}
	if err := s.em.authorize(rt.opName(req.method), rt.user, ViaGraph); err != nil {
		return mailboxError(rt.user, err)
	}

	switch rt.kind {
	case routeEvents:
		switch req.method {
		case http.MethodGet:
			return s.listEventsOp(req, rt)
		case http.MethodPost:
			return s.createEventOp(req, rt)
		}
	case routeEvent:
		switch req.method {
		case http.MethodGet:
			return s.getEventOp(req, rt)
		case http.MethodPatch:
			return s.updateEventOp(req, rt)
		case http.MethodDelete:
			return s.deleteEventOp(req, rt)
		}
	case routeCalendarView:
		if req.method == http.MethodGet {
			return s.calendarViewOp(req, rt)
		}
	case routeDelta:
		if req.method == http.MethodGet {
			return s.deltaOp(req, rt)
		}
	case routeCalendar:
		if req.method == http.MethodGet {
			return s.calendarOp(req, rt)
		}
	}
	return graphError(http.StatusMethodNotAllowed, "BadRequest",
		fmt.Sprintf("The HTTP method '%s' is not allowed for this resource.", req.method))
}

// mailboxError maps the state API's mailbox and event errors to Graph's answers.
func mailboxError(user string, err error) *graphResponse {
	switch {
	case errors.Is(err, ErrUnknownMailbox):
		return graphError(http.StatusNotFound, "ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", user))
	case errors.Is(err, ErrUnlicensed):
		return graphError(http.StatusNotFound, "MailboxNotEnabledForRESTAPI", "REST API is not yet supported for this mailbox.")
	case errors.Is(err, ErrBlocked):
		return graphError(http.StatusForbidden, "ErrorAccessDenied", "Access to OData is disabled.")
	case errors.Is(err, ErrEventNotFound):
		return graphError(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
	case errors.Is(err, ErrStaleChangeKey):
		return graphError(http.StatusPreconditionFailed, "ErrorIrresolvableConflict", "The send or update operation "+
			"could not be performed because the change key passed in the request does not match the current change "+
			"key for the item.")
	case errors.Is(err, exchange.ErrInvalidEvent):
		return graphError(http.StatusBadRequest, "ErrorPropertyValidationFailure", "At least one property failed validation.")
	case errors.Is(err, ErrCursorExpired):
		return graphError(http.StatusGone, "SyncStateNotFound", "The sync state generation is not found.")
	}
	return graphError(http.StatusInternalServerError, "ErrorInternalServerError",
		"An internal server error occurred. The operation failed.")
}

// calendarOp answers GET /users/{id}/calendar: the default calendar (backends use it to check access cheaply).
func (s *Server) calendarOp(req *graphRequest, rt graphRoute) *graphResponse {
	addr := normAddr(rt.user)
	return &graphResponse{status: http.StatusOK, body: orderedJSON{
		{"@odata.context", req.base + "/v1.0/$metadata#users('" + url.PathEscape(addr) + "')/calendar/$entity"},
		{"id", calendarID(addr)},
		{"name", "Calendar"},
		{"color", "auto"},
		{"hexColor", ""},
		{"isDefaultCalendar", true},
		{"changeKey", "DwAAABYAAAA="},
		{"canShare", true},
		{"canViewPrivateItems", true},
		{"canEdit", true},
		{"allowedOnlineMeetingProviders", []string{"teamsForBusiness"}},
		{"defaultOnlineMeetingProvider", "teamsForBusiness"},
		{"isTallyingResponses", true},
		{"isRemovable", false},
		{"owner", orderedJSON{{"name", addr}, {"address", addr}}},
	}}
}

// calendarID makes a stable, Exchange-looking id for a mailbox's default calendar.
func calendarID(addr string) string {
	return "AAMkAD" + strings.ReplaceAll(deterministicUUID("calendar:"+addr), "-", "") + "AAA="
}

// pageSize reads $top (list) with Graph's default of 10 and a ceiling of 1000.
func pageSize(q url.Values) (int, *graphResponse) {
	top := 10
	if v := q.Get("$top"); v != "" {
		n, err := parsePositive(v)
		if err != nil {
			return 0, graphError(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid value '%s' for $top.", v))
		}
		top = min(n, 1000)
	}
	return top, nil
}

func parsePositive(v string) (int, error) {
	n := 0
	if v == "" {
		return 0, errors.New("empty")
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int(c-'0')
		if n > 1<<30 {
			return 0, errors.New("too large")
		}
	}
	return n, nil
}

// listEventsOp answers GET /users/{id}/events, optionally filtered by an extended property value.
func (s *Server) listEventsOp(req *graphRequest, rt graphRoute) *graphResponse {
	view, errResp := parseView(req)
	if errResp != nil {
		return errResp
	}
	var evs []EventData
	var err error
	if f := req.query.Get("$filter"); f != "" {
		key, value, ok := parseExtPropFilter(f)
		if !ok {
			return graphError(http.StatusBadRequest, "ErrorInvalidUrlQueryFilter",
				"The query filter contains one or more invalid nodes.")
		}
		evs, err = s.em.findByProp(rt.user, key, value)
	} else {
		evs, err = s.em.listEvents(rt.user, exchange.Window{})
	}
	if err != nil {
		return mailboxError(rt.user, err)
	}
	return s.pagedEvents(req, rt, evs, view, "/events")
}

// calendarViewOp answers GET /users/{id}/calendarView?startDateTime=...&endDateTime=...
func (s *Server) calendarViewOp(req *graphRequest, rt graphRoute) *graphResponse {
	w, errResp := parseWindow(req.query)
	if errResp != nil {
		return errResp
	}
	view, errResp := parseView(req)
	if errResp != nil {
		return errResp
	}
	evs, err := s.em.listEvents(rt.user, w)
	if err != nil {
		return mailboxError(rt.user, err)
	}
	return s.pagedEvents(req, rt, evs, view, "/calendarView")
}

// pagedEvents answers a collection with $top/$skip paging and an @odata.nextLink.
func (s *Server) pagedEvents(req *graphRequest, rt graphRoute, evs []EventData, view eventView, path string) *graphResponse {
	top, errResp := pageSize(req.query)
	if errResp != nil {
		return errResp
	}
	skip := 0
	if v := req.query.Get("$skip"); v != "" {
		n, err := parsePositive(v)
		if err != nil {
			return graphError(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid value '%s' for $skip.", v))
		}
		skip = n
	}
	addr := normAddr(rt.user)
	values := []any{}
	for i := skip; i < len(evs) && i < skip+top; i++ {
		values = append(values, renderEvent(evs[i], view, req.base, addr, false))
	}
	out := orderedJSON{{"@odata.context", req.base + "/v1.0/$metadata#users('" + url.PathEscape(addr) + "')" + path}}
	out = append(out, jsonField{"value", values})
	if skip+top < len(evs) {
		q := url.Values{}
		for k, v := range req.query {
			q[k] = v
		}
		q.Set("$skip", fmt.Sprint(skip+top))
		q.Set("$top", fmt.Sprint(top))
		out = append(out, jsonField{"@odata.nextLink", req.base + "/v1.0" + req.rawPath + "?" + encodeODataQuery(q)})
	}
	resp := &graphResponse{status: http.StatusOK, body: out}
	view.applied(resp)
	return resp
}

// encodeODataQuery encodes a query like Graph writes its links: '$' and ',' stay readable.
func encodeODataQuery(q url.Values) string {
	return strings.NewReplacer("%24", "$", "%2C", ",").Replace(q.Encode())
}

// parseWindow reads startDateTime and endDateTime, which calendarView needs (and delta on its first call).
func parseWindow(q url.Values) (exchange.Window, *graphResponse) {
	start, end := queryParam(q, "startDateTime"), queryParam(q, "endDateTime")
	if start == "" || end == "" {
		return exchange.Window{}, graphError(http.StatusBadRequest, "ErrorInvalidParameter",
			"This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
	}
	var w exchange.Window
	for _, p := range []struct {
		name, v string
		dst     *time.Time
	}{{"startDateTime", start, &w.Start}, {"endDateTime", end, &w.End}} {
		t, err := parseQueryTime(p.v)
		if err != nil {
			return exchange.Window{}, graphError(http.StatusBadRequest, "ErrorInvalidParameter",
				fmt.Sprintf("The parameter '%s' has an invalid value '%s'.", p.name, p.v))
		}
		*p.dst = t
	}
	if !w.End.After(w.Start) {
		return exchange.Window{}, graphError(http.StatusBadRequest, "ErrorInvalidParameter",
			"The value of EndDateTime must be later than the value of StartDateTime.")
	}
	return w, nil
}

// queryParam reads a query parameter whose name Graph matches case-insensitively.
func queryParam(q url.Values, name string) string {
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// parseQueryTime accepts ISO 8601 with an offset, or without one (then UTC), as Graph does for startDateTime.
func parseQueryTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q", v)
}

// getEventOp answers GET /users/{id}/events/{eventId}.
func (s *Server) getEventOp(req *graphRequest, rt graphRoute) *graphResponse {
	view, errResp := parseView(req)
	if errResp != nil {
		return errResp
	}
	ev, err := s.em.getEvent(rt.user, rt.eventID)
	if err != nil {
		return mailboxError(rt.user, err)
	}
	return s.eventResponse(req, rt, http.StatusOK, ev, view)
}

// eventResponse answers with one event.
func (s *Server) eventResponse(req *graphRequest, rt graphRoute, status int, ev EventData, view eventView) *graphResponse {
	addr := normAddr(rt.user)
	body := renderEvent(ev, view, req.base, addr, false)
	body = append(orderedJSON{{"@odata.context", req.base + "/v1.0/$metadata#users('" + url.PathEscape(addr) + "')/events/$entity"}}, body...)
	resp := &graphResponse{status: status, header: http.Header{}, body: body}
	resp.header.Set("ETag", `W/"`+ev.ChangeKey+`"`)
	if status == http.StatusCreated {
		resp.header.Set("Location", fmt.Sprintf("%s/v1.0/Users('%s')/Events('%s')", req.base, addr, ev.ID))
	}
	view.applied(resp)
	return resp
}

// createEventOp answers POST /users/{id}/events. A repeated transactionId answers 201 with the event it created.
func (s *Server) createEventOp(req *graphRequest, rt graphRoute) *graphResponse {
	in, errResp := parseEventInput(req.body, true)
	if errResp != nil {
		return errResp
	}
	if !in.has["start"] || !in.has["end"] {
		return graphError(http.StatusBadRequest, "ErrorPropertyValidationFailure", "At least one property failed validation.")
	}
	var d EventData
	if err := in.apply(&d); err != nil {
		return err
	}
	ev, _, err := s.em.createEvent(rt.user, d)
	if err != nil {
		return mailboxError(rt.user, err)
	}
	view, errResp := parseView(req)
	if errResp != nil {
		return errResp
	}
	return s.eventResponse(req, rt, http.StatusCreated, ev, view)
}

// updateEventOp answers PATCH /users/{id}/events/{eventId}: only the properties in the body change. An If-Match
// with a stale etag answers 412.
func (s *Server) updateEventOp(req *graphRequest, rt graphRoute) *graphResponse {
	in, errResp := parseEventInput(req.body, false)
	if errResp != nil {
		return errResp
	}
	ifMatch := strings.TrimSpace(req.header.Get("If-Match"))
	if ifMatch == "*" {
		ifMatch = ""
	}
	ifMatch = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(ifMatch, "W/"), `"`), `"`)
	var patchErr *graphResponse
	ev, err := s.em.updateEvent(rt.user, rt.eventID, ifMatch, func(d *EventData) error {
		if r := in.apply(d); r != nil {
			patchErr = r
			return errPatchRejected
		}
		return nil
	})
	if patchErr != nil {
		return patchErr
	}
	if err != nil {
		return mailboxError(rt.user, err)
	}
	view, errResp := parseView(req)
	if errResp != nil {
		return errResp
	}
	return s.eventResponse(req, rt, http.StatusOK, ev, view)
}

var errPatchRejected = errors.New("patch rejected")

// deleteEventOp answers DELETE /users/{id}/events/{eventId} with 204, or 404 ErrorItemNotFound.
func (s *Server) deleteEventOp(req *graphRequest, rt graphRoute) *graphResponse {
	if err := s.em.deleteEvent(rt.user, rt.eventID); err != nil {
		return mailboxError(rt.user, err)
	}
	return &graphResponse{status: http.StatusNoContent, header: http.Header{}}
}

// jsonField and orderedJSON write JSON objects with their keys in Graph's order (maps would sort them).
type jsonField struct {
	key   string
	value any
}

type orderedJSON []jsonField

func (o orderedJSON) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		v, err := marshalNoEscape(f.value)
		if err != nil {
			return nil, err
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// marshalNoEscape marshals without escaping <, > and & (Graph writes HTML bodies as they are).
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
