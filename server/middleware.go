package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"books/internal/apperr"
	"books/internal/auth"
)

type reqIDKey struct{}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// withRequestID takes a caller's X-Request-Id when it is sane, or makes one, and echoes it.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID.MatchString(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = "req_" + hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), reqIDKey{}, id)))
	})
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(reqIDKey{}).(string)
	return id
}

func (s *Server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "request_id", requestID(r.Context()),
					"panic", v, "stack", string(debug.Stack()))
				writeError(w, http.StatusInternalServerError, apperr.Internal, "internal error; quote request id "+requestID(r.Context()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection for WebSocket hijacking.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withLogging writes one structured line per request: who called, and for GraphQL the
// operation and the codes of its errors. These are read from a requestInfo the steps
// further in fill. Probes (quiet) log at debug level, so a failing readiness probe does
// not log an error every few seconds; readyz logs its changes itself.
func (s *Server) withLogging(quiet bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		info := &requestInfo{}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
		attrs := []any{
			"request_id", requestID(r.Context()),
			"method", r.Method,
			"path", r.URL.Path,
			"status", sw.status,
			"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
		}
		info.mu.Lock()
		if p := info.p; p != nil {
			attrs = append(attrs, "org", p.Org, "principal", p.Subject, "principal_kind", string(p.Kind))
		}
		if info.operation != "" {
			attrs = append(attrs, "operation", info.operation)
		}
		if len(info.codes) > 0 {
			attrs = append(attrs, "error_codes", info.codes)
		}
		info.mu.Unlock()
		level := slog.LevelInfo
		switch {
		case quiet:
			level = slog.LevelDebug
		case sw.status >= 500:
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "request", attrs...)
	})
}

type infoKey struct{}

// requestInfo is what a request's log line reports besides the request itself.
type requestInfo struct {
	mu        sync.Mutex
	p         *auth.Principal
	operation string
	codes     []string
}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// noteCodes adds error codes to the request's log line.
func noteCodes(ctx context.Context, codes ...string) {
	if info := infoFrom(ctx); info != nil {
		info.mu.Lock()
		defer info.mu.Unlock()
		for _, c := range codes {
			if !slices.Contains(info.codes, c) {
				info.codes = append(info.codes, c)
			}
		}
	}
}

// noteOperation tells the request's log line which GraphQL operation ran, and how it ended.
func noteOperation(ctx context.Context, operation string, codes []string) {
	if info := infoFrom(ctx); info != nil {
		info.mu.Lock()
		info.operation = operation
		info.mu.Unlock()
		noteCodes(ctx, codes...)
	}
}

// authenticated returns ctx carrying p, and tells the request log who it was.
func authenticated(ctx context.Context, p *auth.Principal) context.Context {
	if info := infoFrom(ctx); info != nil {
		info.mu.Lock()
		info.p = p
		info.mu.Unlock()
	}
	return auth.WithPrincipal(ctx, p)
}

// requireBearer authenticates a staff or portal bearer token. The caller's rate is checked
// by principal, or by address when there is no valid token, so guessing tokens is limited
// too.
func (s *Server) requireBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var p *auth.Principal
		err := errors.New("missing bearer token")
		if ok && strings.TrimSpace(token) != "" {
			p, err = s.cfg.Auth.VerifyBearer(r.Context(), strings.TrimSpace(token))
		}
		if s.rateLimited(w, r, p) {
			return
		}
		if err != nil {
			writeCoded(w, r, http.StatusUnauthorized, apperr.Unauthenticated, err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(authenticated(r.Context(), p)))
	})
}

// writeError writes the REST error body {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func writeGraphQLError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"errors": []any{map[string]any{
		"message": message, "extensions": map[string]string{"code": code},
	}}})
}

// writeJSON writes v with its length, so the answer is complete on the wire even while the
// handler goes on (refuseBody reads on after answering).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // plain maps and structs: nothing to fail on
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
