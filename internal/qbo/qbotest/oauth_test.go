package qbotest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/qbo/qbotest"
)

func authorize(t *testing.T, srv *qbotest.Server, params url.Values) *url.URL {
	t.Helper()
	resp, err := noRedirect.Get(srv.URL + "/connect/oauth2?" + params.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	return loc
}

func TestAuthorizationCodeFlow(t *testing.T) {
	t.Parallel()
	srv := qbotest.NewServer(t, qbotest.WithRealms(2), qbotest.WithClient("cid", "csecret"))
	const redirect = "https://app.example/callback"
	params := url.Values{
		"client_id": {"cid"}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {"com.intuit.quickbooks.accounting"}, "state": {"st-123"},
	}
	loc := authorize(t, srv, params)
	require.Equal(t, "app.example", loc.Host)
	require.Equal(t, "/callback", loc.Path)
	require.Equal(t, "st-123", loc.Query().Get("state"))
	require.Equal(t, srv.RealmIDs()[0], loc.Query().Get("realmId"))
	code := loc.Query().Get("code")
	require.NotEmpty(t, code)

	// Wrong redirect_uri on exchange.
	status, body := postForm(t, srv, "cid", "csecret", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://evil.example/cb"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "invalid_grant", body["error"])

	status, body = postForm(t, srv, "cid", "csecret", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}})
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Equal(t, "bearer", body["token_type"])
	require.Equal(t, json.Number("3600"), body["expires_in"])
	require.Equal(t, json.Number("8726400"), body["x_refresh_token_expires_in"])
	require.NotContains(t, body, "id_token", "no openid scope, no id_token")
	at := body["access_token"].(string)

	status, acct := getWith(t, srv, srv.RealmIDs()[0], at, "account/1")
	require.Equal(t, http.StatusOK, status, "%v", acct)

	// Codes are single use.
	status, body = postForm(t, srv, "cid", "csecret", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, map[string]any{"error": "invalid_grant", "error_description": "Token invalid"}, body)

	// realmId picks the second company; the token is bound to it.
	params.Set("realmId", srv.RealmIDs()[1])
	loc = authorize(t, srv, params)
	require.Equal(t, srv.RealmIDs()[1], loc.Query().Get("realmId"))
	_, body = postForm(t, srv, "cid", "csecret", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirect}})
	at2 := body["access_token"].(string)
	status, _ = getWith(t, srv, srv.RealmIDs()[1], at2, "account/1")
	require.Equal(t, http.StatusOK, status)
	status, gw := getWith(t, srv, srv.RealmIDs()[0], at2, "account/1")
	require.Equal(t, http.StatusForbidden, status)
	require.Equal(t, "3100", gw["fault"].(map[string]any)["error"].([]any)[0].(map[string]any)["code"])
}

func TestAuthorizeErrorsRedirect(t *testing.T) {
	t.Parallel()
	srv := qbotest.NewServer(t)
	loc := authorize(t, srv, url.Values{"client_id": {srv.ClientID()}, "response_type": {"code"}, "redirect_uri": {"https://a.example/cb"}, "scope": {"openid"}, "state": {"s"}})
	require.Equal(t, "invalid_scope", loc.Query().Get("error"))
	require.Equal(t, "s", loc.Query().Get("state"))

	resp, err := noRedirect.Get(srv.URL + "/connect/oauth2?" + url.Values{"client_id": {"nope"}, "redirect_uri": {"https://a.example/cb"}}.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	srv := qbotest.NewServer(t)
	tests := []struct {
		name       string
		id, secret string
		form       url.Values
		status     int
		want       map[string]any
	}{
		{"bad secret", srv.ClientID(), "wrong", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, 401, map[string]any{"error": "invalid_client"}},
		{"no client auth", "", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, 401, map[string]any{"error": "invalid_client"}},
		{"unknown refresh token", srv.ClientID(), srv.ClientSecret(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, 400, map[string]any{"error": "invalid_grant", "error_description": "Token invalid"}},
		{"unknown code", srv.ClientID(), srv.ClientSecret(), url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {"https://a/cb"}}, 400, map[string]any{"error": "invalid_grant", "error_description": "Token invalid"}},
		{"missing grant_type", srv.ClientID(), srv.ClientSecret(), url.Values{}, 400, map[string]any{"error": "invalid_request"}},
		{"unsupported grant", srv.ClientID(), srv.ClientSecret(), url.Values{"grant_type": {"password"}}, 400, map[string]any{"error": "unsupported_grant_type"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, body := postForm(t, srv, tc.id, tc.secret, tc.form)
			require.Equal(t, tc.status, status)
			require.Equal(t, tc.want, body)
		})
	}
}

func TestRefreshRotationGrace(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	srv := qbotest.NewServer(t, qbotest.WithClock(clk.Now), qbotest.WithRefreshGrace(24*time.Hour))
	realm := srv.RealmIDs()[0]
	tok := srv.IssueTokens(realm)

	status, body := refresh(t, srv, tok.RefreshToken)
	require.Equal(t, http.StatusOK, status)
	rt2 := body["refresh_token"].(string)
	require.NotEqual(t, tok.RefreshToken, rt2, "refresh rotates the refresh token")
	require.NotEqual(t, tok.AccessToken, body["access_token"])
	require.Equal(t, json.Number("8726400"), body["x_refresh_token_expires_in"])

	// Old RT still valid inside the grace period…
	clk.Advance(23*time.Hour + 59*time.Minute)
	status, _ = refresh(t, srv, tok.RefreshToken)
	require.Equal(t, http.StatusOK, status)

	// …and dead after it.
	clk.Advance(2 * time.Minute)
	status, body = refresh(t, srv, tok.RefreshToken)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, map[string]any{"error": "invalid_grant", "error_description": "Token invalid"}, body)

	// The newest RT keeps working.
	status, body = refresh(t, srv, rt2)
	require.Equal(t, http.StatusOK, status)
	rt3 := body["refresh_token"].(string)

	// A refresh token that is never used expires after x_refresh_token_expires_in.
	clk.Advance(8726400 * time.Second)
	status, _ = refresh(t, srv, rt3)
	require.Equal(t, http.StatusBadRequest, status)
}

func TestAccessTokenExpiryGives3200(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	srv := qbotest.NewServer(t, qbotest.WithClock(clk.Now))
	realm := srv.RealmIDs()[0]
	tok := srv.IssueTokens(realm)

	clk.Advance(3599 * time.Second)
	status, _ := getWith(t, srv, realm, tok.AccessToken, "account/1")
	require.Equal(t, http.StatusOK, status)

	clk.Advance(time.Second)
	for _, token := range []string{tok.AccessToken, "unknown-token", ""} {
		status, body := getWith(t, srv, realm, token, "account/1")
		require.Equal(t, http.StatusUnauthorized, status)
		requireGateway3200(t, body)
	}
}

func requireGateway3200(t *testing.T, body map[string]any) {
	t.Helper()
	require.Contains(t, body, "fault")
	require.NotContains(t, body, "Fault")
	require.IsType(t, json.Number(""), body["time"], "gateway time is epoch millis")
	f := body["fault"].(map[string]any)
	require.Equal(t, "AUTHENTICATION", f["type"])
	errs := f["error"].([]any)
	require.Len(t, errs, 1)
	e := errs[0].(map[string]any)
	require.Equal(t, "message=AuthenticationFailed; errorCode=003200; statusCode=401", e["message"])
	require.Equal(t, "3200", e["code"])
	require.Contains(t, e, "element")
	require.Nil(t, e["element"])
	require.IsType(t, "", e["detail"])
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	srv := qbotest.NewServer(t)
	realm := srv.RealmIDs()[0]
	tok := srv.IssueTokens(realm)

	revoke := func(id, secret, token string) int {
		b, _ := json.Marshal(map[string]string{"token": token})
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v2/oauth2/tokens/revoke", bytes.NewReader(b))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(id, secret)
		resp, err := noRedirect.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, revoke(srv.ClientID(), "bad", tok.RefreshToken))
	status, _ := getWith(t, srv, realm, tok.AccessToken, "account/1")
	require.Equal(t, http.StatusOK, status)

	require.Equal(t, http.StatusOK, revoke(srv.ClientID(), srv.ClientSecret(), tok.RefreshToken))
	status, body := getWith(t, srv, realm, tok.AccessToken, "account/1")
	require.Equal(t, http.StatusUnauthorized, status, "revoking the RT revokes the connection")
	requireGateway3200(t, body)
	status, _ = refresh(t, srv, tok.RefreshToken)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, http.StatusOK, revoke(srv.ClientID(), srv.ClientSecret(), "never-issued"))
}

// revokeWith posts a revoke request with the given content type and body.
func revokeWith(t *testing.T, srv *qbotest.Server, contentType, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v2/oauth2/tokens/revoke", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	req.SetBasicAuth(srv.ClientID(), srv.ClientSecret())
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// RFC 7009 clients send a form body; it revokes as the JSON body does.
func TestRevokeBodies(t *testing.T) {
	t.Parallel()
	srv := qbotest.NewServer(t)
	realm := srv.RealmIDs()[0]
	cases := []struct {
		name, contentType string
		body              func(tok qbotest.TokenResponse) string
	}{
		{"json refresh", "application/json", func(tok qbotest.TokenResponse) string { return `{"token":"` + tok.RefreshToken + `"}` }},
		{"form refresh", "application/x-www-form-urlencoded", func(tok qbotest.TokenResponse) string {
			return url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}.Encode()
		}},
		{"form access, no hint", "application/x-www-form-urlencoded; charset=UTF-8", func(tok qbotest.TokenResponse) string {
			return url.Values{"token": {tok.AccessToken}}.Encode()
		}},
		{"form with a wrong hint", "application/x-www-form-urlencoded", func(tok qbotest.TokenResponse) string {
			return url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"access_token"}}.Encode()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok := srv.IssueTokens(realm)
			require.Equal(t, http.StatusOK, revokeWith(t, srv, tc.contentType, tc.body(tok)))
			status, body := refresh(t, srv, tok.RefreshToken)
			require.Equal(t, http.StatusBadRequest, status)
			require.Equal(t, "invalid_grant", body["error"])
			status, gw := getWith(t, srv, realm, tok.AccessToken, "account/1")
			require.Equal(t, http.StatusUnauthorized, status)
			requireGateway3200(t, gw)
		})
	}
	t.Run("missing token", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ ct, body string }{
			{"application/x-www-form-urlencoded", "token_type_hint=refresh_token"},
			{"application/json", `{}`},
			{"application/json", `not json`},
		} {
			require.Equal(t, http.StatusBadRequest, revokeWith(t, srv, tc.ct, tc.body), tc.body)
		}
	})
}

// The 401 detail carries no part of the access token, not even a prefix.
func TestAuthFailureDoesNotEchoToken(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	srv := qbotest.NewServer(t, qbotest.WithClock(clk.Now))
	realm := srv.RealmIDs()[0]
	tok := srv.IssueTokens(realm)
	clk.Advance(2 * time.Hour)
	for _, token := range []string{tok.AccessToken, "an-unknown-but-long-access-token-value", "tiny7x"} {
		status, body := getWith(t, srv, realm, token, "account/1")
		require.Equal(t, http.StatusUnauthorized, status)
		requireGateway3200(t, body)
		detail := body["fault"].(map[string]any)["error"].([]any)[0].(map[string]any)["detail"].(string)
		require.NotContains(t, detail, token)
		// No 6-character run of the token (the old detail echoed its first 8).
		for i := 0; i+6 <= len(token); i++ {
			require.NotContains(t, detail, token[i:i+6])
		}
	}
}

func TestOpenIDDiscovery(t *testing.T) {
	t.Parallel()
	srv := qbotest.NewServer(t)
	var want map[string]any
	require.NoError(t, json.Unmarshal(readTestdata(t, "openid-discovery.json"), &want))
	for _, p := range []string{"openid-configuration", "openid_configuration", "openid_sandbox_configuration"} {
		resp, err := noRedirect.Get(srv.URL + "/.well-known/" + p)
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
		for k := range want {
			require.Contains(t, doc, k, "Intuit's document has %s", k)
		}
		require.Equal(t, srv.URL, doc["issuer"])
		require.Equal(t, []any{"client_secret_basic"}, doc["token_endpoint_auth_methods_supported"], "only Basic client auth is emulated")
		for _, k := range []string{"authorization_endpoint", "token_endpoint", "revocation_endpoint", "userinfo_endpoint", "jwks_uri"} {
			require.True(t, strings.HasPrefix(doc[k].(string), srv.URL+"/"), "%s = %v", k, doc[k])
		}

		// The endpoints it names are the emulator's own.
		u, err := url.Parse(doc["authorization_endpoint"].(string))
		require.NoError(t, err)
		u.RawQuery = url.Values{"client_id": {srv.ClientID()}, "redirect_uri": {"https://app.example/cb"},
			"response_type": {"code"}, "scope": {"com.intuit.quickbooks.accounting"}}.Encode()
		resp, err = noRedirect.Get(u.String())
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusFound, resp.StatusCode)

		resp, err = noRedirect.Post(doc["token_endpoint"].(string), "application/x-www-form-urlencoded", strings.NewReader("grant_type=refresh_token"))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the token endpoint wants client auth")

		tok := srv.IssueTokens(srv.RealmIDs()[0])
		req, err := http.NewRequest(http.MethodPost, doc["revocation_endpoint"].(string), strings.NewReader(url.Values{"token": {tok.RefreshToken}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(srv.ClientID(), srv.ClientSecret())
		resp, err = noRedirect.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		status, _ := refresh(t, srv, tok.RefreshToken)
		require.Equal(t, http.StatusBadRequest, status)

		resp, err = noRedirect.Get(doc["jwks_uri"].(string))
		require.NoError(t, err)
		var jwks map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&jwks))
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, []any{}, jwks["keys"], "no key: the id_token signature is not verifiable")

		resp, err = noRedirect.Get(doc["userinfo_endpoint"].(string))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNotImplemented, resp.StatusCode, "userinfo is not emulated")
	}
}
