package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServeHTTPEdge starts serve --demo with an extra CORS origin: the SPA's dev server and
// the listed origin may call the API from the browser, others may not, and GraphiQL is on.
func TestServeHTTPEdge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", "--data-dir", dir, "--addr", addr,
			"--cors-origins", "https://app.example.com", "--rate-limit", "0"})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
		}
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)

	preflight := func(origin string) string {
		req, _ := http.NewRequest(http.MethodOptions, "http://"+addr+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.Header.Get("Access-Control-Allow-Origin")
	}
	require.Equal(t, "http://localhost:5173", preflight("http://localhost:5173"))
	require.Equal(t, "https://app.example.com", preflight("https://app.example.com"))
	require.Empty(t, preflight("https://evil.example"))

	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/graphql", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, strings.ToLower(string(body)), "graphiql")
}

func TestServeRefusesBadOrigins(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"serve", "--data-dir", t.TempDir(), "--addr", freeAddr(t), "--cors-origins", "*"})
	require.ErrorContains(t, err, "--cors-origins")
}

func TestReport(t *testing.T) {
	t.Parallel()

	t.Run("a fatal error is one JSON log line", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		code := report(&buf, []string{"serve", "--demo"}, errors.New("listen tcp 127.0.0.1:8080: bind: address already in use"))
		require.Equal(t, 1, code)
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		require.Len(t, lines, 1)
		var line map[string]any
		require.NoError(t, json.Unmarshal([]byte(lines[0]), &line))
		require.Equal(t, "ERROR", line["level"])
		require.Equal(t, "serve", line["command"])
		require.Contains(t, line["err"], "address already in use")
	})

	t.Run("a usage mistake is text for the person", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		err := run(context.Background(), []string{"nope"})
		require.Equal(t, 2, report(&buf, []string{"nope"}, err))
		require.Contains(t, buf.String(), "usage: books <command>")
		require.False(t, json.Valid(buf.Bytes()))
	})

	t.Run("help is not an error", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		require.Equal(t, 0, report(&buf, []string{"serve", "-h"}, flag.ErrHelp))
		require.Empty(t, buf.String())
	})
}
