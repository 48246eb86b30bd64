// Package server is the HTTP face of Books: routing, authentication, the GraphQL transports,
// the journal-entry API, health and metrics. Handlers stay thin: they parse, authenticate,
// call a domain package and map its coded errors.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"

	"books/ent"
	"books/graph"
	"books/internal/adminq"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/qbo/pull"
	"books/internal/realtime"
	"books/internal/stripepay"
)

// Config is what a Server needs.
type Config struct {
	DB     *database.DB
	Client *ent.Client
	Auth   *auth.Service
	Logger *slog.Logger
	// MaxBodyBytes caps request bodies; 1 MiB when zero.
	MaxBodyBytes int64
	// Limits on GraphQL operations; defaults when zero.
	MaxComplexity int
	MaxDepth      int
	// Broker carries realtime events to GraphQL subscriptions: a realtime.PostgresBroker on
	// PostgreSQL, so they reach every instance; an in-process realtime.Local when nil.
	Broker realtime.Broker
	// Queue raises and settles admin issues; its Enqueue makes retryAdminIssue work. When
	// nil, one announcing on Broker without retries. A Queue without a Broker or Client is
	// copied and completed from here, so set its fields before New, and give the job
	// runner's Queue the same Broker, or the job failures it raises announce nothing.
	Queue *adminq.Queue
	// Registry is where /metrics reads from, shared with the job runner's metrics when the
	// process works jobs. When nil the server makes one, with Go and process collectors.
	Registry *prometheus.Registry
	// CORSOrigins are the browser origins (scheme://host[:port], matched exactly; see
	// ParseOrigins) that may call /graphql and /api/v1/ from another origin, and open
	// WebSockets. The server's own host and clients sending no Origin are always allowed.
	CORSOrigins []string
	// GraphiQL serves the GraphiQL page at GET /graphql to browsers.
	GraphiQL bool
	// RateLimit is the requests per second each principal (or, unauthenticated, each client
	// address) may make, with bursts of RateBurst (2 × RateLimit when zero). Zero: no limit.
	RateLimit float64
	RateBurst int
	// Timeouts of Serve's http.Server; 30 s, 60 s and 120 s when zero. WebSockets are exempt
	// from the first two.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// QBOCallback, when set, serves GET /oauth/qbo/callback, Intuit's redirect back after a
	// company is connected (internal/qbo/connect's Flow.Handler). It takes no bearer token:
	// the browser arrives from Intuit, and the signed state says who asked.
	QBOCallback http.Handler
	// QBOWebhook, when set, serves POST /webhooks/qbo, where Intuit delivers QuickBooks'
	// change notifications (internal/qbo/pull's Intake, configured with the verifier token).
	// It takes no bearer token and no rate limit: the intuit-signature HMAC is the gate.
	// Without it the path answers 404. New sets its OnStore (calling one already set too),
	// to count what it stores.
	QBOWebhook *pull.Intake
	// QuickBooks is the QuickBooks Online integration behind the GraphQL API (connect,
	// settings, push); without it those fields answer QBO_NOT_CONNECTED.
	QuickBooks *graph.QuickBooks
	// Stripe, when set, takes payments through Stripe: the GraphQL fields (accounts, billing
	// profiles, createInvoicePayment, refunds through Stripe) and POST
	// /webhooks/stripe/{accountId}, which takes no bearer token and no rate limit (the
	// account's signing secret is the gate). Without it the path answers 404. New sets its
	// OnStore, to count what the intake stores.
	Stripe *stripepay.Service
}

// Server serves the Books HTTP API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	handler http.Handler
	// entities caches the JE API's entity look-ups.
	entities  entityCache
	origins   origins
	limiter   *rateLimiter
	ws        *wsHub
	readiness readiness
	// schema is the GraphQL schema, for the rules that read argument types.
	schema *ast.Schema
	// webhookNotes counts QuickBooks webhook notifications by outcome.
	webhookNotes *prometheus.CounterVec
	// stripeEvents counts Stripe events received (webhooks and the backstop) by outcome.
	stripeEvents *prometheus.CounterVec
}

// NewRegistry returns a metrics registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxComplexity == 0 {
		cfg.MaxComplexity = 5000
	}
	if cfg.MaxDepth == 0 {
		cfg.MaxDepth = 12
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 60 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Broker == nil {
		cfg.Broker = realtime.NewLocal()
	}
	if cfg.Queue == nil || cfg.Queue.Broker == nil || cfg.Queue.Client == nil {
		var q adminq.Queue
		if cfg.Queue != nil {
			q = *cfg.Queue
		}
		if q.Broker == nil {
			q.Broker = cfg.Broker
		}
		if q.Client == nil {
			q.Client = cfg.Client
		}
		cfg.Queue = &q
	}
	reg := cfg.Registry
	if reg == nil {
		reg = NewRegistry()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), metrics: newMetrics(reg),
		origins: newOrigins(cfg.CORSOrigins), limiter: newRateLimiter(cfg.RateLimit, cfg.RateBurst)}
	s.ws = newWSHub(s.metrics.websockets)
	s.webhookNotes = newWebhookMetrics(reg)
	s.stripeEvents = newStripeMetrics(reg)
	if cfg.DB != nil {
		if err := RegisterDBStats(reg, cfg.DB.SQL); err != nil {
			s.log.Warn("database pool metrics not registered", "err", err.Error())
		}
	}

	gql := s.graphQLHandler()
	s.route("POST /graphql", "graphql", s.requireBearer(s.graphQLPost(gql)))
	// GET serves WebSocket upgrades (authenticated in connection_init), GraphiQL and queries.
	s.route("GET /graphql", "graphql", s.graphQLGet(gql))
	s.route("OPTIONS /graphql", "graphql", gql)
	s.routeJEAPI()
	if cfg.QBOCallback != nil {
		s.route("GET /oauth/qbo/callback", "qbo_callback", cfg.QBOCallback)
	}
	if in := cfg.QBOWebhook; in != nil {
		if prev := in.OnStore; prev != nil {
			in.OnStore = func(st pull.Stored) { prev(st); s.countStored(st) }
		} else {
			in.OnStore = s.countStored
		}
		// Through s.route like every endpoint (metrics, log line, body limit), and with no
		// rate limit: that is applied by the authenticating steps (requireBearer, the JE
		// API's key check), which this route has none of.
		s.route("POST /webhooks/qbo", "qbo_webhook", http.HandlerFunc(s.qboWebhook))
	}
	if sp := cfg.Stripe; sp != nil {
		prev := sp.OnStore
		sp.OnStore = func(fresh, dup int) {
			if prev != nil {
				prev(fresh, dup)
			}
			s.stripeEvents.WithLabelValues(webhookNew).Add(float64(fresh))
			s.stripeEvents.WithLabelValues(webhookDuplicate).Add(float64(dup))
		}
		s.route("POST /webhooks/stripe/{accountId}", "stripe_webhook", http.HandlerFunc(s.stripeWebhook))
	}
	s.route("GET /healthz", "healthz", http.HandlerFunc(s.healthz))
	s.route("GET /readyz", "readyz", http.HandlerFunc(s.readyz))
	s.mux.Handle("GET /metrics", s.limitBody(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	s.mux.Handle("/", s.limitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})))
	s.handler = s.withRequestID(s.withRecover(s.withCORS(s.mux)))
	return s
}

func (s *Server) route(pattern, name string, h http.Handler) {
	quiet := name == "healthz" || name == "readyz"
	s.mux.Handle(pattern, s.instrument(name, s.withLogging(quiet, s.limitBody(h))))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Serve serves on ln until ctx is done, then stops accepting connections and waits up to
// grace for in-flight requests to finish and for open WebSockets to be closed with 1001.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: finishing in-flight requests", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	wsErr := make(chan error, 1)
	go func() { wsErr <- s.ws.shutdown(sctx) }()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-wsErr; err != nil {
		return fmt.Errorf("closing WebSockets: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info("server stopped")
	return nil
}
