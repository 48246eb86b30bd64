package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestQBOSandboxStandalone runs `books qbo-sandbox` and walks the README's example: an OAuth
// code, a token, a customer created and queried back.
func TestQBOSandboxStandalone(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"qbo-sandbox", "--addr", addr}) }()
	base := "http://" + addr
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	var loc *url.URL
	require.Eventually(t, func() bool {
		resp, err := noRedirect.Get(base + "/connect/oauth2?client_id=qbotest-client-id&response_type=code" +
			"&scope=com.intuit.quickbooks.accounting&redirect_uri=http://localhost/callback&state=s1")
		if err != nil {
			return false
		}
		resp.Body.Close()
		loc, err = resp.Location()
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "s1", loc.Query().Get("state"))
	realm := loc.Query().Get("realmId")
	require.NotEmpty(t, realm)

	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {"http://localhost/callback"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/v1/tokens/bearer", strings.NewReader(form.Encode()))
	req.SetBasicAuth("qbotest-client-id", "qbotest-client-secret")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	require.NotEmpty(t, tok.AccessToken)
	require.Equal(t, 3600, tok.ExpiresIn)

	api := func(method, path, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, base+"/v3/company/"+realm+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out
	}
	created := api(http.MethodPost, "/customer?minorversion=75", `{"DisplayName":"Acme Corp","PrimaryEmailAddr":{"Address":"ap@acme.example"}}`)
	id := created["Customer"].(map[string]any)["Id"]
	q := url.QueryEscape("SELECT * FROM Customer WHERE DisplayName = 'Acme Corp'")
	found := api(http.MethodGet, "/query?minorversion=75&query="+q, "")
	customers := found["QueryResponse"].(map[string]any)["Customer"].([]any)
	require.Len(t, customers, 1)
	require.Equal(t, id, customers[0].(map[string]any)["Id"])

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("qbo-sandbox did not stop")
	}
}
