package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"books/server"
)

// The QuickBooks callback is mounted without bearer authentication when configured, and
// GET only (other methods fall to the not-found handler); without one the path is not served.
func TestQBOCallbackRoute(t *testing.T) {
	t.Parallel()
	var hits int
	stub := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		require.Equal(t, "s", r.URL.Query().Get("state"))
		http.Redirect(w, r, "https://app.example/after?qbo=connected", http.StatusFound)
	})
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for _, tt := range []struct {
		name   string
		cfg    server.Config
		method string
		status int
	}{
		{"Get", server.Config{Logger: quiet, QBOCallback: stub}, http.MethodGet, http.StatusFound},
		{"Post", server.Config{Logger: quiet, QBOCallback: stub}, http.MethodPost, http.StatusNotFound},
		{"NotConfigured", server.Config{Logger: quiet}, http.MethodGet, http.StatusNotFound},
	} {
		before := hits
		w := httptest.NewRecorder()
		server.New(tt.cfg).ServeHTTP(w, httptest.NewRequest(tt.method, "/oauth/qbo/callback?state=s&code=c", nil))
		require.Equal(t, tt.status, w.Code, tt.name)
		if tt.status == http.StatusFound {
			require.Equal(t, before+1, hits, tt.name)
			require.Equal(t, "https://app.example/after?qbo=connected", w.Header().Get("Location"))
		} else {
			require.Equal(t, before, hits, tt.name)
		}
	}
}
