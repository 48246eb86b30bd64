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
	"books/internal/adminq"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/realtime"
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
}

// Server serves the Books HTTP API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	handler http.Handler
	// entities caches the JE API's entity look-ups.
	entities entityCache
	// schema is the GraphQL schema, for the rules that read argument types.
	schema *ast.Schema
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
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), metrics: newMetrics(reg)}

	gql := s.graphQLHandler()
	s.route("POST /graphql", "graphql", s.requireBearer(gql))
	// WebSocket upgrades authenticate in connection_init instead of a header.
	s.route("GET /graphql", "graphql", gql)
	s.routeJEAPI()
	s.route("GET /healthz", "healthz", http.HandlerFunc(s.healthz))
	s.route("GET /readyz", "readyz", http.HandlerFunc(s.readyz))
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	s.handler = s.withRequestID(s.withRecover(s.mux))
	return s
}

func (s *Server) route(pattern, name string, h http.Handler) {
	s.mux.Handle(pattern, s.instrument(name, s.withLogging(h)))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Serve serves on ln until ctx is done, then stops accepting connections and waits up to
// grace for in-flight requests to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
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
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info("server stopped")
	return nil
}
