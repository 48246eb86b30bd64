package server

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz reports ready when the database answers and every migration is applied. The
// answer is kept for readyCacheFor, so a flood of probes costs the database one ping a
// second, not one each.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	res := s.readiness.check(s.log, func() readyResult {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := s.cfg.DB.SQL.PingContext(ctx); err != nil {
			return readyResult{reason: "database unreachable", err: err}
		}
		pending, err := s.cfg.DB.Pending(ctx)
		if err != nil || pending > 0 {
			return readyResult{reason: "migrations pending", pending: pending, err: err}
		}
		return readyResult{}
	})
	switch res.reason {
	case "":
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	case "migrations pending":
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": res.reason, "pending": res.pending})
	default:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": res.reason})
	}
}

const readyCacheFor = time.Second

type readyResult struct {
	reason  string // "" when ready
	pending int
	err     error
}

// readiness keeps the last answer of /readyz: probes within readyCacheFor share it, and a
// change is logged once (a warning when the server stops being ready, why, and when it is
// ready again) instead of every probe logging the same failure.
type readiness struct {
	mu   sync.Mutex
	seen bool
	at   time.Time
	last readyResult
}

func (rd *readiness) check(log *slog.Logger, run func() readyResult) readyResult {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.seen && time.Since(rd.at) < readyCacheFor {
		return rd.last
	}
	res := run()
	was, seen := rd.last.reason, rd.seen
	rd.seen, rd.at, rd.last = true, time.Now(), res
	switch {
	case seen && res.reason == was:
	case res.reason != "" && res.err != nil:
		log.Warn("not ready", "reason", res.reason, "err", res.err.Error())
	case res.reason != "":
		log.Warn("not ready", "reason", res.reason)
	case seen:
		log.Info("ready again", "was", was)
	}
	return res
}

type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	posted     *prometheus.CounterVec
	operations *prometheus.CounterVec
	websockets prometheus.Gauge
	opNames    operationNames
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "books_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "books_http_request_duration_seconds", Help: "HTTP request latency by route; WebSocket connections are not requests and are left out.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"route"}),
		posted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "books_journal_entries_posted_total", Help: "Journal entries posted, by interface.",
		}, []string{"via"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "books_graphql_operations_total",
			Help: `GraphQL operations by operation name ("anonymous" without one, "other" past the first 500 names) and the first error's code ("OK" without errors).`,
		}, []string{"operation", "code"}),
		websockets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "books_websocket_connections", Help: "Open GraphQL WebSocket connections.",
		}),
		opNames: operationNames{names: map[string]bool{}},
	}
	reg.MustRegister(m.requests, m.duration, m.posted, m.operations, m.websockets)
	return m
}

// RegisterDBStats adds the connection pool's statistics (go_sql_* with db_name="books") to
// reg; a second registration on the same registry is a no-op.
func RegisterDBStats(reg prometheus.Registerer, db *sql.DB) error {
	err := reg.Register(collectors.NewDBStatsCollector(db, "books"))
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		return nil
	}
	return err
}

func (s *Server) instrument(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		code := sw.status
		if code == 0 {
			code = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		// A WebSocket's lifetime is not a latency; books_websocket_connections counts them.
		if code != http.StatusSwitchingProtocols {
			s.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}
	})
}
