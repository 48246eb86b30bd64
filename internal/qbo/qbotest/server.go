// Package qbotest is an in-process emulator of the QuickBooks Online
// Accounting API v3 and Intuit's OAuth 2.0 endpoints, for tests and local
// development. See FIDELITY.md for what is and is not emulated.
//
// In tests, use NewServer, which works like net/http/httptest:
//
//	srv := qbotest.NewServer(t, qbotest.WithRealms(2))
//	tok := srv.IssueTokens(srv.RealmIDs()[0])
//	// call srv.URL + "/v3/company/<realm>/customer" with "Authorization: Bearer " + tok.AccessToken
//
// All endpoints (authorize, token, revoke and the API) are served from the
// one base URL; a client under test is pointed at srv.URL for each of them.
package qbotest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // company-local offsets (America/Los_Angeles) without relying on the host's zoneinfo
)

// DefaultClientID and DefaultClientSecret are the OAuth client credentials
// the emulator accepts unless WithClient is given.
const (
	DefaultClientID     = "qbotest-client-id"
	DefaultClientSecret = "qbotest-client-secret"
)

// Access and refresh token lifetimes as Intuit states them (qbo-api.md §1).
const (
	AccessTokenLifetime  = 3600 * time.Second
	RefreshTokenLifetime = 8726400 * time.Second
	authCodeLifetime     = 10 * time.Minute
)

const firstRealmID = 9341452732952867

// Option configures a Server.
type Option func(*config)

type config struct {
	realms       int
	firstRealm   int64
	clock        func() time.Time
	clientID     string
	clientSecret string
	grace        time.Duration
	loc          *time.Location
	limits       Limits         // zero fields disable that limit
	webhook      *webhookConfig // nil: no webhooks
	faults       []Fault
}

// WithRealms sets how many companies (realms) the emulator hosts (default 1).
// Realm ids are long digit strings: 9341452732952867, 9341452732952868, ….
func WithRealms(n int) Option { return func(c *config) { c.realms = n } }

// WithFirstRealmID numbers the realms from id instead of the fixed default, so a server started
// again (books serve --demo) does not reuse the ids of companies an earlier one held.
func WithFirstRealmID(id int64) Option { return func(c *config) { c.firstRealm = id } }

// WithClock injects the clock used for token expiry, MetaData times and
// default transaction dates.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithClient sets the OAuth client id and secret the token endpoint accepts.
func WithClient(id, secret string) Option {
	return func(c *config) { c.clientID, c.clientSecret = id, secret }
}

// WithRefreshGrace sets how long a rotated-out refresh token keeps working
// (default 24h, qbo-api.md §1).
func WithRefreshGrace(d time.Duration) Option { return func(c *config) { c.grace = d } }

// WithLocation sets the company time zone used for MetaData times and
// default TxnDate (default America/Los_Angeles).
func WithLocation(loc *time.Location) Option { return func(c *config) { c.loc = loc } }

// Server is a QBO emulator.
type Server struct {
	// URL is the base URL (scheme://host:port, no trailing slash) once started.
	URL string

	cfg      config
	realms   map[string]*Realm
	realmIDs []string
	auth     *authStore

	mu       sync.Mutex
	ln       net.Listener
	hs       *http.Server
	serveErr chan error
	connMu   sync.Mutex
	conns    map[net.Conn]http.ConnState

	changeMu  sync.Mutex
	changeFns []func(Change)

	limiter   *limiter
	faults    *faultSet
	hooks     *webhookSender // nil without WithWebhook
	done      chan struct{}  // closed by Close: ends hanging faults and delivery
	closeOnce sync.Once
}

func (s *Server) trackConn(c net.Conn, st http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if st == http.StateClosed || st == http.StateHijacked {
		delete(s.conns, c)
		return
	}
	s.conns[c] = st
}

// New returns an emulator that is not yet listening; use Handler or Start.
func New(opts ...Option) *Server {
	cfg := config{realms: 1, clock: time.Now, clientID: DefaultClientID, clientSecret: DefaultClientSecret, grace: 24 * time.Hour,
		limits: DefaultLimits()}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.realms < 1 {
		cfg.realms = 1
	}
	if cfg.loc == nil {
		loc, err := time.LoadLocation("America/Los_Angeles")
		if err != nil {
			loc = time.FixedZone("PDT", -7*3600)
		}
		cfg.loc = loc
	}
	s := &Server{cfg: cfg, realms: map[string]*Realm{}, auth: newAuthStore(), done: make(chan struct{})}
	s.limiter = newLimiter(cfg.limits)
	s.faults = newFaultSet(cfg.faults)
	first := cfg.firstRealm
	if first <= 0 {
		first = firstRealmID
	}
	for i := 0; i < cfg.realms; i++ {
		id := strconv.FormatInt(first+int64(i), 10)
		s.realms[id] = newRealm(id, s)
		s.realmIDs = append(s.realmIDs, id)
	}
	if cfg.webhook != nil {
		s.hooks = newWebhookSender(s, *cfg.webhook)
		s.OnChange(s.hooks.enqueue)
	}
	return s
}

// NewServer starts an emulator on 127.0.0.1 with a random port and closes it
// when the test ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("qbotest: start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Start listens on addr and serves in the background; URL is set on return.
func (s *Server) Start(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("qbotest: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.URL = "http://" + ln.Addr().String()
	s.conns = map[net.Conn]http.ConnState{}
	s.hs = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ConnState: s.trackConn}
	s.serveErr = make(chan error, 1)
	go func() { s.serveErr <- s.hs.Serve(ln) }()
	return nil
}

// Close stops the listener, ends requests held by injected faults, waits
// for in-flight requests (up to 5s) and stops webhook delivery (an
// in-flight POST is cancelled; undelivered notifications are discarded).
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	err := s.closeHTTP()
	if s.hooks != nil {
		s.hooks.stop()
	}
	return err
}

func (s *Server) closeHTTP() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs == nil {
		return nil
	}
	// Like httptest.Server.Close: drop connections that are not serving a
	// request (Shutdown alone waits up to 5s for never-used ones), then wait
	// for in-flight requests.
	s.hs.SetKeepAlivesEnabled(false)
	s.connMu.Lock()
	for c, st := range s.conns {
		if st == http.StateNew || st == http.StateIdle {
			_ = c.Close()
		}
	}
	s.connMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.hs.Shutdown(ctx)
	if serr := <-s.serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	s.hs = nil
	return err
}

// Handler returns the emulator's HTTP handler. Requests outside /_control/
// pass through fault injection (faults.go) and, for /v3/company/{realm}/…,
// the per-realm limits (limits.go) before reaching the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.controlRoutes(mux)
	mux.HandleFunc("GET /connect/oauth2", s.handleAuthorize)
	mux.HandleFunc("POST /oauth2/v1/tokens/bearer", s.handleToken)
	mux.HandleFunc("POST /v2/oauth2/tokens/revoke", s.handleRevoke)
	for _, p := range []string{"openid-configuration", "openid_configuration", "openid_sandbox_configuration"} {
		mux.HandleFunc("GET /.well-known/"+p, s.handleDiscovery)
	}
	mux.HandleFunc("GET "+jwksPath, s.handleJWKS)
	mux.HandleFunc(userinfoPath, s.handleUserinfo)
	mux.HandleFunc("/v3/company/{realm}/{entity}", s.handleAPI)
	mux.HandleFunc("/v3/company/{realm}/{entity}/{id}", s.handleAPI)
	// Everything else under the API (invoice/{id}/pdf, invoice/{id}/send,
	// reports/…/…) answers the Unsupported Operation fault, never a
	// plain-text 404.
	mux.HandleFunc("/v3/", s.handleUnsupported)
	return s.guard(mux)
}

// guard is the handler chain: control requests go straight to the routes;
// everything else goes limits → faults → routes, so a request held by a
// latency or timeout fault keeps its concurrency slot.
func (s *Server) guard(routes http.Handler) http.Handler {
	chain := s.withLimits(s.withFaults(routes))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, controlPrefix) {
			routes.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v3/") && wantsXML(r) {
			xw := &xmlWriter{ResponseWriter: w}
			chain.ServeHTTP(xw, r)
			xw.finish(s)
			return
		}
		chain.ServeHTTP(w, r)
	})
}

// xmlWriter buffers a JSON API answer so finish can send it as XML. Bodies
// that are not JSON (the throttle XML) pass through unchanged; a hijacked
// connection (reset and timeout faults) gets nothing.
type xmlWriter struct {
	http.ResponseWriter
	status   int
	buf      bytes.Buffer
	hijacked bool
}

func (x *xmlWriter) WriteHeader(status int) {
	if x.status == 0 {
		x.status = status
	}
}

func (x *xmlWriter) Write(b []byte) (int, error) {
	if x.status == 0 {
		x.status = http.StatusOK
	}
	return x.buf.Write(b)
}

func (x *xmlWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := x.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("qbotest: connection cannot be hijacked")
	}
	x.hijacked = true
	return hj.Hijack()
}

func (x *xmlWriter) finish(s *Server) {
	if x.hijacked || x.status == 0 {
		return
	}
	body := x.buf.Bytes()
	h := x.Header()
	if strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		if xb, err := s.xmlBody(body); err == nil {
			body = xb
			h.Set("Content-Type", "application/xml;charset=UTF-8")
			h.Del("Content-Length")
		}
	}
	x.ResponseWriter.WriteHeader(x.status)
	_, _ = x.ResponseWriter.Write(body)
}

// RealmIDs lists the hosted realm ids in creation order.
func (s *Server) RealmIDs() []string { return append([]string(nil), s.realmIDs...) }

// Realm gives direct access to a realm's data, or nil if it does not exist.
func (s *Server) Realm(id string) *Realm { return s.realms[id] }

// ClientID and ClientSecret return the accepted OAuth client credentials.
func (s *Server) ClientID() string     { return s.cfg.clientID }
func (s *Server) ClientSecret() string { return s.cfg.clientSecret }

func (s *Server) now() time.Time { return s.cfg.clock().In(s.cfg.loc) }

// metaTime formats an entity MetaData time: company-local offset, no fraction.
func (s *Server) metaTime(t time.Time) string {
	return t.In(s.cfg.loc).Format("2006-01-02T15:04:05-07:00")
}

// envelopeTime formats the response envelope "time": with milliseconds.
func (s *Server) envelopeTime() string {
	return s.now().Format("2006-01-02T15:04:05.000-07:00")
}

func (s *Server) String() string { return fmt.Sprintf("qbotest.Server(%s)", s.URL) }
