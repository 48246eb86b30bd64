package qbotest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// TokenResponse is the JSON body of a successful token request.
type TokenResponse struct {
	AccessToken            string `json:"access_token"`
	RefreshToken           string `json:"refresh_token"`
	TokenType              string `json:"token_type"`
	ExpiresIn              int64  `json:"expires_in"`
	XRefreshTokenExpiresIn int64  `json:"x_refresh_token_expires_in"`
	IDToken                string `json:"id_token,omitempty"`
}

// grant is one connection (authorization of a client to a realm). Revoking
// any of its tokens revokes the whole grant, as Intuit's revoke does.
type grant struct {
	realmID  string
	clientID string
	scope    string
	revoked  bool
}

type accessToken struct {
	g       *grant
	expires time.Time
}

type refreshToken struct {
	g          *grant
	expires    time.Time
	rotatedAt  time.Time // zero while this is the current refresh token
	rotatedOut bool
}

type authCode struct {
	realmID, clientID, redirectURI, scope string
	expires                               time.Time
	used                                  bool
}

type authStore struct {
	mu      sync.Mutex
	codes   map[string]*authCode
	access  map[string]*accessToken
	refresh map[string]*refreshToken
}

func newAuthStore() *authStore {
	return &authStore{codes: map[string]*authCode{}, access: map[string]*accessToken{}, refresh: map[string]*refreshToken{}}
}

func randToken(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// issue mints a fresh access + refresh token pair for g. Caller holds a.mu.
func (s *Server) issueLocked(g *grant) TokenResponse {
	now := s.now()
	at := randToken("qbo-at-", 24)
	rt := randToken("qbo-rt-", 24)
	s.auth.access[at] = &accessToken{g: g, expires: now.Add(AccessTokenLifetime)}
	s.auth.refresh[rt] = &refreshToken{g: g, expires: now.Add(RefreshTokenLifetime)}
	tr := TokenResponse{
		AccessToken: at, RefreshToken: rt, TokenType: "bearer",
		ExpiresIn: int64(AccessTokenLifetime / time.Second), XRefreshTokenExpiresIn: int64(RefreshTokenLifetime / time.Second),
	}
	if hasScope(g.scope, "openid") {
		tr.IDToken = s.idToken(g, now)
	}
	return tr
}

// idToken returns an unsigned-looking JWT (header.claims.signature). The
// signature is random bytes: it is not verifiable (see FIDELITY.md).
func (s *Server) idToken(g *grant, now time.Time) string {
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "qbotest"})
	claims, _ := json.Marshal(map[string]any{
		"iss": s.URL, "aud": []string{g.clientID}, "sub": "qbotest-user", "realmid": g.realmID,
		"iat": now.Unix(), "exp": now.Add(AccessTokenLifetime).Unix(),
	})
	sig := make([]byte, 32)
	_, _ = rand.Read(sig)
	return enc.EncodeToString(hdr) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString(sig)
}

func hasScope(scope, want string) bool {
	for _, f := range strings.Fields(scope) {
		if f == want {
			return true
		}
	}
	return false
}

// IssueTokens connects the configured client to realmID without the
// authorize/code round trip, as a shortcut for tests. It panics on an
// unknown realm.
func (s *Server) IssueTokens(realmID string) TokenResponse {
	if s.realms[realmID] == nil {
		panic("qbotest: unknown realm " + realmID)
	}
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	return s.issueLocked(&grant{realmID: realmID, clientID: s.cfg.clientID, scope: "com.intuit.quickbooks.accounting"})
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("intuit_tid", randToken("", 8))
	w.WriteHeader(status)
	body := map[string]string{"error": code}
	if desc != "" {
		body["error_description"] = desc
	}
	_ = json.NewEncoder(w).Encode(body)
}

// handleAuthorize emulates the consent screen by approving at once and
// redirecting with code, state and realmId. The realm is the first one
// unless the (emulator-only) realmId query parameter picks another.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	clientID, redirectURI := q.Get("client_id"), q.Get("redirect_uri")
	if clientID != s.cfg.clientID {
		http.Error(w, "invalid client_id", http.StatusBadRequest)
		return
	}
	ru, err := url.Parse(redirectURI)
	if redirectURI == "" || err != nil || !ru.IsAbs() {
		http.Error(w, "invalid redirect_uri", http.StatusBadRequest)
		return
	}
	redirect := func(params url.Values) {
		rq := ru.Query()
		for k, v := range params {
			rq[k] = v
		}
		if st := q.Get("state"); st != "" {
			rq.Set("state", st)
		}
		u := *ru
		u.RawQuery = rq.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	if q.Get("response_type") != "code" {
		redirect(url.Values{"error": {"unsupported_response_type"}})
		return
	}
	scope := q.Get("scope")
	if !hasScope(scope, "com.intuit.quickbooks.accounting") {
		redirect(url.Values{"error": {"invalid_scope"}})
		return
	}
	realmID := s.realmIDs[0]
	if want := q.Get("realmId"); want != "" {
		if s.realms[want] == nil {
			redirect(url.Values{"error": {"access_denied"}})
			return
		}
		realmID = want
	}
	code := randToken("AB", 20)
	s.auth.mu.Lock()
	s.auth.codes[code] = &authCode{realmID: realmID, clientID: clientID, redirectURI: redirectURI, scope: scope, expires: s.now().Add(authCodeLifetime)}
	s.auth.mu.Unlock()
	redirect(url.Values{"code": {code}, "realmId": {realmID}})
}

func (s *Server) clientOK(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	return ok &&
		subtle.ConstantTimeCompare([]byte(id), []byte(s.cfg.clientID)) == 1 &&
		subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.clientSecret)) == 1
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if !s.clientOK(r) {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "")
		return
	}
	now := s.now()
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	var tr TokenResponse
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "authorization_code":
		code := r.PostForm.Get("code")
		c := s.auth.codes[code]
		if code == "" || r.PostForm.Get("redirect_uri") == "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "")
			return
		}
		if c == nil || c.used || !now.Before(c.expires) || c.clientID != s.cfg.clientID || c.redirectURI != r.PostForm.Get("redirect_uri") {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Token invalid")
			return
		}
		c.used = true
		tr = s.issueLocked(&grant{realmID: c.realmID, clientID: c.clientID, scope: c.scope})
	case "refresh_token":
		raw := r.PostForm.Get("refresh_token")
		if raw == "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "")
			return
		}
		rt := s.auth.refresh[raw]
		if rt == nil || rt.g.revoked || rt.g.clientID != s.cfg.clientID || !now.Before(rt.expires) ||
			(rt.rotatedOut && !now.Before(rt.rotatedAt.Add(s.cfg.grace))) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Token invalid")
			return
		}
		// Rotate: the presented token (if still current) is rotated out and
		// keeps working for the grace period.
		if !rt.rotatedOut {
			rt.rotatedOut, rt.rotatedAt = true, now
		}
		tr = s.issueLocked(rt.g)
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "")
		return
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.Header().Set("intuit_tid", randToken("", 8))
	_ = json.NewEncoder(w).Encode(tr)
}

// handleRevoke revokes the grant behind an access or refresh token. Unknown
// tokens succeed too (RFC 7009 §2.2).
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.clientOK(r) {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "")
		return
	}
	token, ok := revokeToken(r)
	if !ok {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "")
		return
	}
	s.auth.mu.Lock()
	if at := s.auth.access[token]; at != nil {
		at.g.revoked = true
	}
	if rt := s.auth.refresh[token]; rt != nil {
		rt.g.revoked = true
	}
	s.auth.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// revokeToken reads the token to revoke from either body Intuit's clients
// send: the JSON {"token"} of Intuit's SDKs, or the RFC 7009 form
// (token=…&token_type_hint=…) that generic OAuth libraries send. The hint
// is ignored: revoking either token revokes the whole connection.
func revokeToken(r *http.Request) (string, bool) {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err != nil {
			return "", false
		}
		tok := r.PostForm.Get("token")
		return tok, tok != ""
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody)).Decode(&body); err != nil {
		return "", false
	}
	return body.Token, body.Token != ""
}

// authenticate checks the bearer token for a request to realmID. It writes
// the gateway fault and returns false on failure.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, realmID string) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "bearer ")
	}
	s.auth.mu.Lock()
	at := s.auth.access[strings.TrimSpace(tok)]
	valid := ok && at != nil && !at.g.revoked && s.now().Before(at.expires)
	s.auth.mu.Unlock()
	if !valid {
		writeGatewayFault(w, http.StatusUnauthorized, "AuthenticationFailed", "003200", "3200", "AUTHENTICATION",
			authFailedDetail(strings.TrimSpace(tok)), s.now())
		return false
	}
	if at.g.realmID != realmID || s.realms[realmID] == nil {
		writeGatewayFault(w, http.StatusForbidden, "ApplicationAuthorizationFailed", "003100", "3100", "SERVICE", "", s.now())
		return false
	}
	return true
}

// authFailedDetail is the 401 detail. QuickBooks has been seen answering
// "Token expired: <redacted>" (the reporter masked the token) and
// "Malformed bearer token: too short or too long" (qbo-api.md §11
// sources). The emulator echoes no part of the token, not even a prefix:
// a prefix narrows the secret, and a client that logs faults must not leak
// it.
func authFailedDetail(tok string) string {
	// Tokens this short are never issued; answer them as malformed.
	const minToken = 9
	if len(tok) < minToken {
		return "Malformed bearer token: too short or too long"
	}
	return "Token expired: <redacted>"
}

// writeGatewayFault writes the API gateway's lowercase-keyed fault
// (qbo-api.md §11): "time" is epoch milliseconds, "element" is null.
func writeGatewayFault(w http.ResponseWriter, status int, name, errorCode, code, typ, detail string, now time.Time) {
	body := map[string]any{
		"fault": map[string]any{
			"error": []any{map[string]any{
				"message": "message=" + name + "; errorCode=" + errorCode + "; statusCode=" + itoa(status),
				"detail":  detail,
				"code":    code,
				"element": nil,
			}},
			"type": typ,
		},
		"time": now.UnixMilli(),
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="Intuit", error="invalid_token"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// RevokeGrants revokes every connection (grant) to realmID, as when the
// company's user disconnects the app: its access and refresh tokens stop
// working at once. It returns how many grants were revoked.
func (s *Server) RevokeGrants(realmID string) int {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	seen := map[*grant]bool{}
	for _, at := range s.auth.access {
		seen[at.g] = true
	}
	for _, rt := range s.auth.refresh {
		seen[rt.g] = true
	}
	n := 0
	for g := range seen {
		if g.realmID == realmID && !g.revoked {
			g.revoked = true
			n++
		}
	}
	return n
}

// Paths of the OpenID endpoints. Intuit serves its discovery document at
// /.well-known/openid_configuration (sandbox: openid_sandbox_configuration)
// on another host; the emulator serves it from its own base URL under those
// names and the standard openid-configuration, all pointing at itself.
const (
	jwksPath     = "/op/v1/jwks"
	userinfoPath = "/v1/openid_connect/userinfo"
)

// handleDiscovery serves the OpenID discovery document with the fields of
// Intuit's (intuit/QuickBooks-V3-DotNET-SDK discovery.json), every endpoint
// on the emulator. The issuer is the base URL, as in the id_token's "iss".
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	base := s.baseURL(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base,
		"authorization_endpoint":                base + "/connect/oauth2",
		"token_endpoint":                        base + "/oauth2/v1/tokens/bearer",
		"userinfo_endpoint":                     base + userinfoPath,
		"revocation_endpoint":                   base + "/v2/oauth2/tokens/revoke",
		"jwks_uri":                              base + jwksPath,
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "email", "profile", "address", "phone"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"claims_supported":                      []string{"aud", "exp", "iat", "iss", "realmid", "sub"},
	})
}

// handleJWKS serves an empty key set: the emulator's id_token signature is
// random bytes, so there is no key a client could verify it with.
func (s *Server) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"keys": []any{}})
}

// handleUserinfo is listed in the discovery document but not emulated; it
// answers the OAuth error a resource server gives for an unsupported call.
func (s *Server) handleUserinfo(w http.ResponseWriter, _ *http.Request) {
	writeOAuthError(w, http.StatusNotImplemented, "unsupported_operation", "userinfo is not emulated by qbotest")
}

// baseURL is the emulator's base URL: s.URL once started (the id_token's
// "iss" is the same), else the request's host (Handler mounted elsewhere).
func (s *Server) baseURL(r *http.Request) string {
	if s.URL != "" {
		return s.URL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
