package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeDemo runs the README's first command in-process and uses what it writes.
func TestServeDemo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--demo", "--data-dir", dir, "--addr", addr}) }()

	var info struct {
		GraphQLURL     string `json:"graphql_url"`
		AdminToken     string `json:"admin_token"`
		IntegrationKey string `json:"integration_key"`
		Entities       []struct {
			ID, Name string
		} `json:"entities"`
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
	b, err := os.ReadFile(filepath.Join(dir, "demo.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &info))
	require.Equal(t, "http://"+addr+"/graphql", info.GraphQLURL)
	require.Len(t, info.Entities, 2)
	require.NotEmpty(t, info.Entities[0].ID)
	require.NotEmpty(t, info.Entities[0].Name)

	// The admin token reads the seeded entities, with their chart of accounts and classes.
	req, _ := http.NewRequest(http.MethodPost, info.GraphQLURL, strings.NewReader(
		`{"query":"{ legalEntities { totalCount } accounts { totalCount } classes { totalCount } coaMappings { totalCount } }"}`))
	req.Header.Set("Authorization", "Bearer "+info.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var out struct {
		Data map[string]struct{ TotalCount int } `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	resp.Body.Close()
	require.Equal(t, 2, out.Data["legalEntities"].TotalCount)
	require.Greater(t, out.Data["accounts"].TotalCount, 20)
	require.Greater(t, out.Data["classes"].TotalCount, 4)
	require.Greater(t, out.Data["coaMappings"].TotalCount, 20)

	// The integration key posts through the JE API.
	req, _ = http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/journal-entries", strings.NewReader(
		`{"entity":"`+info.Entities[0].ID+`","date":"2026-11-21","description":"demo","source_system":"psa","source_ref":"t-1","currency":"USD",
		"lines":[{"source_code":"unbilled_receivables","debit":"150.00","class":"Consulting"},{"account_code":"4000","credit":"150.00"}]}`))
	req.Header.Set("X-Integration-Key", info.IntegrationKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "SIGTERM-style cancellation shuts down cleanly")
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}

	// A second start on the same data directory reuses the organization and its key.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	addr2 := freeAddr(t)
	done2 := make(chan error, 1)
	go func() { done2 <- run(ctx2, []string{"serve", "--demo", "--data-dir", dir, "--addr", addr2}) }()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr2 + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
	b2, err := os.ReadFile(filepath.Join(dir, "demo.json"))
	require.NoError(t, err)
	var info2 struct {
		IntegrationKey string `json:"integration_key"`
		Entities       []struct{ ID string }
	}
	require.NoError(t, json.Unmarshal(b2, &info2))
	require.Equal(t, info.IntegrationKey, info2.IntegrationKey)
	require.Equal(t, info.Entities[0].ID, info2.Entities[0].ID)
	cancel2()
	require.NoError(t, <-done2)
}
