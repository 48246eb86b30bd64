package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/rs/cors"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"books/internal/apperr"
	"books/internal/auth"
)

// ParseOrigins reads a comma-separated list of browser origins (scheme://host[:port]) that
// may call the API from another origin. Origins are matched exactly; wildcards, paths and
// anything but http and https are refused, so a typo fails at start-up instead of opening
// the API to more than was meant.
func ParseOrigins(list string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(list, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		norm, err := normalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		out = append(out, norm)
	}
	return out, nil
}

func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.Contains(u.Host, "*") {
		return "", fmt.Errorf("origin %q is not of the form http(s)://host[:port]", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// origins is the set of cross-origin callers the CORS layer and the WebSocket upgrade both
// consult, so the two can never disagree.
type origins map[string]bool

func newOrigins(list []string) origins {
	m := origins{}
	for _, o := range list {
		if norm, err := normalizeOrigin(o); err == nil {
			m[norm] = true
		}
	}
	return m
}

func (o origins) allowed(origin string) bool {
	return o[strings.ToLower(origin)]
}

// allowWebSocket reports whether r may open a WebSocket: no Origin (not a browser), the
// server's own host, or a listed origin. Browsers do not apply CORS to WebSockets, so this
// check is what keeps another site's page from using a visitor's connection.
func (o origins) allowWebSocket(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host) || o.allowed(origin)
}

// withCORS answers preflights and adds CORS headers on the API paths (/graphql and
// /api/v1/) for the configured origins only; any other origin gets no CORS header at all.
// Tokens travel in headers, never cookies, so credentials stay off.
func (s *Server) withCORS(next http.Handler) http.Handler {
	c := cors.New(cors.Options{
		AllowOriginFunc: s.origins.allowed,
		AllowedMethods:  []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "Content-Type", "X-Request-Id", "X-Integration-Key",
			"Idempotency-Key"},
		ExposedHeaders: []string{"X-Request-Id", "Retry-After"},
		MaxAge:         600,
	})
	api := c.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/graphql" || strings.HasPrefix(r.URL.Path, "/api/v1/") {
			api.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeCoded answers with a coded error in the body shape of the path's API: GraphQL's
// {"errors":[…]} on /graphql, {"error":{…}} elsewhere. The code also goes to the request log.
func writeCoded(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	noteCodes(r.Context(), code)
	if r.URL.Path == "/graphql" {
		writeGraphQLError(w, status, code, message)
		return
	}
	writeError(w, status, code, message)
}

// drainLimit bounds what is read of a refused body; see refuseBody.
const drainLimit = 8 << 20

// limitBody caps the request body of every endpoint. A declared length above the cap is
// refused before a byte is read, so no "100 Continue" goes out for it; a body of unknown
// length is cut off at the cap, and the handler reading it answers 413.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			s.refuseBody(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// refuseBody answers 413 to a request whose declared body is too large. A client that
// asked to continue sends nothing more. One that sends its whole body before reading the
// answer would fail writing to a connection the server has closed and never see the 413,
// so, once the answer is out, up to drainLimit bytes are read and discarded — never kept —
// for a while, and the connection is then closed.
func (s *Server) refuseBody(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	writeCoded(w, r, http.StatusRequestEntityTooLarge, apperr.PayloadTooLarge,
		fmt.Sprintf("request body is larger than %d bytes", s.cfg.MaxBodyBytes))
	if r.Header.Get("Expect") != "" {
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	_ = rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.CopyN(io.Discard, r.Body, drainLimit)
}

// bodyReadError answers a failure to read a request body: 413 when it passed the cap.
func bodyReadError(w http.ResponseWriter, r *http.Request, err error, limit int64) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeCoded(w, r, http.StatusRequestEntityTooLarge, apperr.PayloadTooLarge,
			fmt.Sprintf("request body is larger than %d bytes", limit))
		return
	}
	writeCoded(w, r, http.StatusBadRequest, apperr.BadRequest, "could not read the request body")
}

// rateLimited reports whether the request must wait, and if so answers 429 with
// Retry-After. Authenticated callers are limited by principal, others by client address.
func (s *Server) rateLimited(w http.ResponseWriter, r *http.Request, p *auth.Principal) bool {
	ok, wait := s.limiter.allow(rateKey(r, p), time.Now())
	if ok {
		return false
	}
	secs := retrySeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeCoded(w, r, http.StatusTooManyRequests, apperr.RateLimited,
		fmt.Sprintf("too many requests; retry in %d s", secs))
	return true
}

// rateKey names whose bucket a request draws from. The client address is the connection's
// peer: a proxy's X-Forwarded-For is not trusted, since any client can write it.
func rateKey(r *http.Request, p *auth.Principal) string {
	if p != nil {
		return principalKey(p)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + host
}

func principalKey(p *auth.Principal) string {
	return string(p.Kind) + ":" + p.Org + ":" + p.Subject
}

// retrySeconds is a wait in whole seconds, rounded up, at least one: Retry-After's unit.
func retrySeconds(wait time.Duration) int {
	return max(1, int((wait+time.Second-1)/time.Second))
}

// isJSONRequest reports whether the request's body is declared application/json.
func isJSONRequest(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// graphQLPost checks the envelope of a POST /graphql body before gqlgen sees it, so every
// malformed request gets a coded client error: a body that is not application/json (415),
// a batch (a JSON array), anything but one JSON object with a string query (400).
func (s *Server) graphQLPost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isJSONRequest(r) {
			writeCoded(w, r, http.StatusUnsupportedMediaType, apperr.UnsupportedMediaType,
				"send the operation as Content-Type: application/json")
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			bodyReadError(w, r, err, s.cfg.MaxBodyBytes)
			return
		}
		if e := checkGraphQLEnvelope(body); e != nil {
			writeCoded(w, r, http.StatusBadRequest, e.Code, e.Message)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// checkGraphQLEnvelope checks body is {"query": string, "operationName"?: string,
// "variables"?: object, "extensions"?: object}.
func checkGraphQLEnvelope(body []byte) *apperr.Error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return apperr.New(apperr.BadRequest, `the request body is empty; send {"query": "…"}`)
	}
	if trimmed[0] == '[' {
		return apperr.New(apperr.BatchNotSupported, "batched operations (a JSON array) are not supported; send one operation per request")
	}
	// Decoded as gqlgen decodes it (keys match case-insensitively, the last one wins), so
	// what passes here is what gqlgen reads.
	var env struct {
		Query         json.RawMessage `json:"query"`
		OperationName json.RawMessage `json:"operationName"`
		Variables     json.RawMessage `json:"variables"`
		Extensions    json.RawMessage `json:"extensions"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return apperr.New(apperr.BadRequest, `the request body must be a JSON object {"query": "…"}`)
	}
	if !isJSON(env.Query, '"') {
		return apperr.New(apperr.BadRequest, "query must be a string")
	}
	for _, f := range []struct {
		name string
		v    json.RawMessage
		kind byte
	}{{"operationName", env.OperationName, '"'}, {"variables", env.Variables, '{'}, {"extensions", env.Extensions, '{'}} {
		if len(f.v) > 0 && string(f.v) != "null" && !isJSON(f.v, f.kind) {
			what := "a string"
			if f.kind == '{' {
				what = "an object"
			}
			return apperr.New(apperr.BadRequest, "%s must be %s", f.name, what)
		}
	}
	return nil
}

// isJSON reports whether raw (a valid JSON value) starts with kind: '"' string, '{' object.
func isJSON(raw json.RawMessage, kind byte) bool {
	return len(raw) > 0 && raw[0] == kind
}

// graphQLGet serves GET /graphql: WebSocket upgrades, the GraphiQL page for browsers when
// enabled, and otherwise queries in the URL (GraphQL over HTTP), with a bearer token.
func (s *Server) graphQLGet(gql http.Handler) http.Handler {
	queries := s.requireBearer(queriesOnly(gql))
	ws := s.webSocket(gql)
	var graphiql http.Handler
	if s.cfg.GraphiQL {
		graphiql = playground.Handler("Books GraphQL", "/graphql",
			playground.WithGraphiqlUiHeaders(map[string]string{"Authorization": "Bearer "}))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Upgrade") != "":
			ws.ServeHTTP(w, r)
		case graphiql != nil && strings.Contains(r.Header.Get("Accept"), "text/html"):
			graphiql.ServeHTTP(w, r)
		default:
			queries.ServeHTTP(w, r)
		}
	})
}

// queriesOnly refuses a mutation or subscription sent with GET (405, Allow: POST), as the
// GraphQL over HTTP specification asks: GET must be safe to repeat and to prefetch.
func queriesOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		doc, err := parser.ParseQuery(&ast.Source{Input: q.Get("query")})
		if err == nil {
			if op := doc.Operations.ForName(q.Get("operationName")); op != nil && op.Operation != ast.Query {
				msg := "a mutation cannot be sent with GET; use POST"
				if op.Operation == ast.Subscription {
					msg = "a subscription needs a WebSocket (graphql-transport-ws)"
				}
				w.Header().Set("Allow", http.MethodPost)
				writeCoded(w, r, http.StatusMethodNotAllowed, apperr.MethodNotAllowed, msg)
				return
			}
		}
		// Parse errors are gqlgen's to report, with its code.
		next.ServeHTTP(w, r)
	})
}
