package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/auth/oidctest"
)

// TestServeOIDC starts serve with an OIDC provider configured and signs in with its token.
func TestServeOIDC(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, "books-api")
	dir := t.TempDir()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", "--data-dir", dir, "--addr", addr,
			"--oidc-issuer", iss.URL, "--oidc-audience", "books-api"})
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
	raw, err := os.ReadFile(filepath.Join(dir, "demo.json"))
	require.NoError(t, err)
	var info struct {
		OrganizationID string `json:"organization_id"`
	}
	require.NoError(t, json.Unmarshal(raw, &info))
	require.NotEmpty(t, info.OrganizationID)

	tok := iss.Sign(t, iss.RSA, iss.Claims(time.Now(), "auth0|alice",
		map[string]any{"books_org": info.OrganizationID, "books_roles": []string{"admin"}}))
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(`{"query":"{ organization { id name } }"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var out struct {
		Data struct{ Organization struct{ ID string } }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	resp.Body.Close()
	require.Equal(t, info.OrganizationID, out.Data.Organization.ID)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestServeOIDCMisconfigured proves a bad OIDC configuration stops serve at start-up.
func TestServeOIDCMisconfigured(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, "books-api")
	down := oidctest.New(t, "books-api")
	down.SetDown(true)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"issuer without audience":   {[]string{"--oidc-issuer", iss.URL}, "needs BOOKS_OIDC_AUDIENCE"},
		"audience without issuer":   {[]string{"--oidc-audience", "books-api"}, "BOOKS_OIDC_ISSUER is not"},
		"no provider at the issuer": {[]string{"--oidc-issuer", iss.URL + "/nothing", "--oidc-audience", "books-api"}, "OIDC discovery at " + iss.URL + "/nothing"},
		"keys unavailable":          {[]string{"--oidc-issuer", down.URL, "--oidc-audience", "books-api"}, "OIDC keys at " + down.URL},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"serve", "--data-dir", t.TempDir(), "--addr", freeAddr(t)}, tc.args...)
			err := run(context.Background(), args)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
