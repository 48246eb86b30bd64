package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
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

// withLogging writes one structured line per request. The principal is read from a holder
// the auth step fills in, since it runs further in.
func (s *Server) withLogging(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		who := &principalHolder{}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), holderKey{}, who)))
		attrs := []any{
			"request_id", requestID(r.Context()),
			"method", r.Method,
			"path", r.URL.Path,
			"status", sw.status,
			"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
		}
		if p := who.p; p != nil {
			attrs = append(attrs, "org", p.Org, "principal", p.Subject, "principal_kind", string(p.Kind))
		}
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "request", attrs...)
	})
}

type holderKey struct{}

type principalHolder struct{ p *auth.Principal }

// authenticated returns ctx carrying p, and tells the request log who it was.
func authenticated(ctx context.Context, p *auth.Principal) context.Context {
	if h, ok := ctx.Value(holderKey{}).(*principalHolder); ok {
		h.p = p
	}
	return auth.WithPrincipal(ctx, p)
}

// requireBearer authenticates a staff or portal bearer token.
func (s *Server) requireBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			writeGraphQLError(w, http.StatusUnauthorized, apperr.Unauthenticated, "missing bearer token")
			return
		}
		p, err := s.cfg.Auth.VerifyBearer(r.Context(), strings.TrimSpace(token))
		if err != nil {
			writeGraphQLError(w, http.StatusUnauthorized, apperr.Unauthenticated, err.Error())
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
