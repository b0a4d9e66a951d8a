package emulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"tfsync/exchange"
)

// This file is calendarView delta: GET /users/{id}/calendarView/delta. The first call names the window
// (startDateTime, endDateTime); every page after it is reached through @odata.nextLink, and a round ends with an
// @odata.deltaLink to start the next round from. The links carry opaque tokens that encode the mailbox, the window
// and the core's change sequence, so the server keeps no per-client state (as Graph's own tokens do).

// defaultDeltaPageSize is the page size when the client sends no Prefer: odata.maxpagesize.
const defaultDeltaPageSize = 10

// maxDeltaPageSize caps odata.maxpagesize.
const maxDeltaPageSize = 1000

// deltaToken is what $skiptoken and $deltatoken encode.
type deltaToken struct {
	Mailbox string `json:"m"`
	Start   int64  `json:"s"` // window start, Unix nanoseconds
	End     int64  `json:"e"` // window end, Unix nanoseconds
	Seq     uint64 `json:"q"` // the change sequence the next page (or round) continues from
	// Instance ties the token to this emulator: a token from another run is as unknown as an expired one.
	Instance string `json:"i"`
	// Pad lengthens the token to a realistic size: Graph's $skiptoken and $deltatoken values run to several hundred
	// characters of base64url (api-reference/v1.0/api/event-delta.md's examples are abbreviated; real ones are
	// long), and the store and the backends must keep them whole.
	Pad string `json:"x,omitempty"`
}

func (t deltaToken) window() exchange.Window {
	return exchange.Window{Start: time.Unix(0, t.Start).UTC(), End: time.Unix(0, t.End).UTC()}
}

func (s *Server) encodeDeltaToken(t deltaToken) string {
	t.Instance = s.em.instance
	if !s.em.lenient {
		t.Pad = base64.RawURLEncoding.EncodeToString(padBlob(t.Seq^uint64(t.Start), 300))
	}
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errBadDeltaToken = errors.New("bad delta token")

func (s *Server) decodeDeltaToken(v, mailbox string) (deltaToken, error) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return deltaToken{}, errBadDeltaToken
	}
	var t deltaToken
	if err := json.Unmarshal(b, &t); err != nil || t.End <= t.Start {
		return deltaToken{}, errBadDeltaToken
	}
	if t.Instance != s.em.instance || t.Mailbox != mailbox {
		return t, ErrCursorExpired
	}
	return t, nil
}

// deltaOp answers one page of calendarView delta.
func (s *Server) deltaOp(req *graphRequest, rt graphRoute) *graphResponse {
	for _, unsupported := range []string{"$select", "$expand", "$filter", "$orderby", "$search"} {
		if req.query.Has(unsupported) {
			return graphError(http.StatusBadRequest, "ErrorInvalidUrlQuery", fmt.Sprintf("The following parameters "+
				"are not supported with change tracking over the 'CalendarView' resource: '%s'.", unsupported))
		}
	}
	view, errResp := parseView(req)
	if errResp != nil {
		return errResp
	}
	mailbox := normAddr(rt.user)
	var tok deltaToken
	skip, delta := queryParam(req.query, "$skiptoken"), queryParam(req.query, "$deltatoken")
	switch {
	case skip != "" || delta != "":
		v := skip
		if v == "" {
			v = delta
		}
		t, err := s.decodeDeltaToken(v, mailbox)
		if errors.Is(err, errBadDeltaToken) {
			return graphError(http.StatusBadRequest, "resyncRequired",
				"The delta token is malformed or no longer valid. Start a new initial synchronization.")
		}
		if err != nil {
			return s.syncStateGone(req, rt, t)
		}
		tok = t
	default:
		// An initial round, including one started from a 410's Location (whose $deltatoken is empty).
		w, errResp := parseWindow(req.query)
		if errResp != nil {
			return errResp
		}
		tok = deltaToken{Mailbox: mailbox, Start: w.Start.UnixNano(), End: w.End.UnixNano()}
	}
	pageSize := defaultDeltaPageSize
	if view.maxPageSize > 0 {
		pageSize = min(view.maxPageSize, maxDeltaPageSize)
	}
	cs, err := s.em.changes(rt.user, tok.window(), tok.Seq, pageSize)
	if errors.Is(err, ErrCursorExpired) {
		return s.syncStateGone(req, rt, tok)
	}
	if err != nil {
		return mailboxError(rt.user, err)
	}
	values := make([]any, 0, len(cs.Changed)+len(cs.Removed))
	for _, c := range cs.Changed {
		values = append(values, renderEvent(c.Event, view, req.base, mailbox, true))
	}
	for _, id := range cs.Removed {
		values = append(values, orderedJSON{
			{"@odata.type", "#microsoft.graph.event"},
			{"id", id},
			{"@removed", orderedJSON{{"reason", "deleted"}}},
		})
	}
	next := tok
	next.Seq = cs.Seq
	link := req.base + "/v1.0/users/" + url.PathEscape(mailbox) + "/calendarView/delta?"
	out := orderedJSON{{"@odata.context", req.base + "/v1.0/$metadata#Collection(event)"}}
	if cs.More {
		out = append(out, jsonField{"@odata.nextLink", link + "$skiptoken=" + s.encodeDeltaToken(next)})
	} else {
		out = append(out, jsonField{"@odata.deltaLink", link + "$deltatoken=" + s.encodeDeltaToken(next)})
	}
	out = append(out, jsonField{"value", values})
	resp := &graphResponse{status: http.StatusOK, header: http.Header{}, body: out}
	view.applied(resp)
	if view.maxPageSize > 0 {
		applied := resp.header.Get("Preference-Applied")
		if applied != "" {
			applied += ","
		}
		resp.header.Set("Preference-Applied", applied+fmt.Sprintf("odata.maxpagesize=%d", pageSize))
	}
	return resp
}

// syncStateGone answers an expired (or foreign) token as Graph does: 410 Gone, with a Location that starts a new
// initial round (an empty $deltatoken; here with the token's window, so following it works as is).
func (s *Server) syncStateGone(req *graphRequest, rt graphRoute, tok deltaToken) *graphResponse {
	resp := graphError(http.StatusGone, "SyncStateNotFound", "The sync state generation is not found.")
	loc := req.base + "/v1.0/users/" + url.PathEscape(normAddr(rt.user)) + "/calendarView/delta?"
	if tok.End > tok.Start {
		w := tok.window()
		loc += "startDateTime=" + w.Start.Format(time.RFC3339Nano) + "&endDateTime=" +
			w.End.Format(time.RFC3339Nano) + "&"
	}
	resp.header.Set("Location", loc+"$deltatoken=")
	return resp
}
