package auth_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"

	"books/internal/auth"
	"books/internal/auth/oidctest"
)

const testAudience = "https://books.example/api"

// clock is a settable time source for the verifier, so tests move time instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type oidcBundle struct {
	iss    *oidctest.Issuer
	clock  *clock
	oidc   *auth.OIDC
	svc    *auth.Service
	tokens *auth.Tokens
	log    *bytes.Buffer
}

// setupOIDC starts an in-process provider and a Service verifying both its tokens and
// Books' own HS256 tokens.
func setupOIDC(t *testing.T, cfg auth.OIDCConfig) *oidcBundle {
	t.Helper()
	b := &oidcBundle{iss: oidctest.New(t, testAudience), clock: &clock{t: time.Now()}, log: &bytes.Buffer{}, tokens: newTokens(t)}
	cfg.Issuer, cfg.Audience, cfg.Now = b.iss.URL, testAudience, b.clock.Now
	cfg.Logger = slog.New(slog.NewJSONHandler(&lockedWriter{w: b.log}, nil))
	var err error
	b.oidc, err = auth.NewOIDC(context.Background(), cfg)
	require.NoError(t, err)
	b.svc = auth.NewService(b.tokens, nil)
	require.NoError(t, b.svc.UseOIDC(b.oidc))
	return b
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// staff returns the claims of a valid staff token of org with roles.
func (b *oidcBundle) staff(extra map[string]any) map[string]any {
	c := b.iss.Claims(b.clock.Now(), "auth0|alice", map[string]any{"books_org": "org_1", "books_roles": []string{"accountant"}})
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func (b *oidcBundle) verify(t *testing.T, token string) (*auth.Principal, error) {
	t.Helper()
	return b.svc.VerifyBearer(context.Background(), token)
}

func TestOIDCClaimMapping(t *testing.T) {
	t.Parallel()
	b := setupOIDC(t, auth.OIDCConfig{})

	t.Run("staff with RS256 and ES256", func(t *testing.T) {
		t.Parallel()
		for _, k := range []*oidctest.Key{b.iss.RSA, b.iss.EC} {
			claims := b.staff(map[string]any{"books_roles": []string{"ADMIN", "viewer", "superuser", "viewer"},
				"name": "Alice Adams", "email": "alice@example.com"})
			p, err := b.verify(t, b.iss.Sign(t, k, claims))
			require.NoError(t, err, k.Alg)
			require.Equal(t, auth.KindUser, p.Kind)
			require.Equal(t, "auth0|alice", p.Subject)
			require.Equal(t, b.iss.URL, p.Issuer)
			require.Equal(t, "org_1", p.Org)
			require.Equal(t, []auth.Role{auth.RoleAdmin, auth.RoleViewer}, p.Roles, "known roles, any case, once; unknown ignored")
			require.Empty(t, p.Customer)
			require.Equal(t, "Alice Adams", p.Name)
			require.Equal(t, "alice@example.com", p.Email)
			require.Equal(t, time.Unix(claims["exp"].(int64), 0).Add(30*time.Second), p.ExpiresAt, "exp plus the leeway the token is accepted for")
			require.True(t, p.CanMutate())
		}
	})

	t.Run("one role as a string, name from preferred_username", func(t *testing.T) {
		t.Parallel()
		p, err := b.verify(t, b.iss.Sign(t, b.iss.RSA, b.staff(map[string]any{"books_roles": "finance_lead", "preferred_username": "alice"})))
		require.NoError(t, err)
		require.Equal(t, []auth.Role{auth.RoleFinanceLead}, p.Roles)
		require.Equal(t, "alice", p.Name)
	})

	t.Run("customer claim makes a portal principal", func(t *testing.T) {
		t.Parallel()
		p, err := b.verify(t, b.iss.Sign(t, b.iss.EC, b.staff(map[string]any{"books_customer": "cus_1", "books_roles": []string{"admin"}})))
		require.NoError(t, err)
		require.Equal(t, auth.KindPortal, p.Kind)
		require.Equal(t, "cus_1", p.Customer)
		require.Equal(t, "org_1", p.Org)
		require.Empty(t, p.Roles, "a portal client never carries staff roles")
		require.False(t, p.CanMutate())
	})

	t.Run("Books' own HS256 tokens still verify", func(t *testing.T) {
		t.Parallel()
		tok, err := b.tokens.Mint("local-admin", "org_1", []auth.Role{auth.RoleAdmin}, "", time.Hour)
		require.NoError(t, err)
		p, err := b.verify(t, tok)
		require.NoError(t, err)
		require.Equal(t, "books", p.Issuer)
		require.Equal(t, []auth.Role{auth.RoleAdmin}, p.Roles)
	})
}

func TestOIDCConfigurableClaims(t *testing.T) {
	t.Parallel()
	b := setupOIDC(t, auth.OIDCConfig{OrgClaim: "https://books.example/org", RolesClaim: "groups", CustomerClaim: "cust"})
	p, err := b.verify(t, b.iss.Sign(t, b.iss.RSA, b.iss.Claims(b.clock.Now(), "u1", map[string]any{
		"https://books.example/org": "org_9", "groups": []string{"viewer"}, "books_org": "org_wrong"})))
	require.NoError(t, err)
	require.Equal(t, "org_9", p.Org)
	require.Equal(t, []auth.Role{auth.RoleViewer}, p.Roles)

	p, err = b.verify(t, b.iss.Sign(t, b.iss.RSA, b.iss.Claims(b.clock.Now(), "c1", map[string]any{
		"https://books.example/org": "org_9", "cust": "cus_7"})))
	require.NoError(t, err)
	require.Equal(t, auth.KindPortal, p.Kind)
	require.Equal(t, "cus_7", p.Customer)

	_, err = b.verify(t, b.iss.Sign(t, b.iss.RSA, b.iss.Claims(b.clock.Now(), "u1", map[string]any{
		"books_org": "org_1", "books_roles": []string{"admin"}})))
	require.ErrorIs(t, err, auth.ErrBadToken, "the default claim names are not read once others are configured")
	require.Contains(t, err.Error(), "https://books.example/org")
}

func TestOIDCRefusals(t *testing.T) {
	t.Parallel()
	b := setupOIDC(t, auth.OIDCConfig{})
	now := b.clock.Now()
	stranger := oidctest.NewKey(t, jose.RS256)
	hs256 := func(secret []byte) func([]byte) []byte {
		return func(in []byte) []byte {
			m := hmac.New(sha256.New, secret)
			m.Write(in)
			return m.Sum(nil)
		}
	}
	sign := func(claims map[string]any) string { return b.iss.Sign(t, b.iss.RSA, claims) }
	impostor := oidctest.NewKey(t, jose.RS256)
	impostor.KID = b.iss.RSA.KID
	jwk, err := json.Marshal(jose.JSONWebKey{Key: b.iss.RSA.Public(), KeyID: b.iss.RSA.KID})
	require.NoError(t, err)

	// Refused before the claims are read: the message is ErrBadToken's, whatever the cause.
	for name, tok := range map[string]string{
		"wrong audience":                     sign(b.staff(map[string]any{"aud": "https://other.example/api"})),
		"wrong issuer":                       sign(b.staff(map[string]any{"iss": "https://evil.example"})),
		"issuer of Books' own tokens, RS256": sign(b.staff(map[string]any{"iss": "books"})),
		"expired":                            sign(b.staff(map[string]any{"exp": now.Add(-time.Minute).Unix()})),
		"no exp":                             sign(b.staff(map[string]any{"exp": nil})),
		"not yet valid":                      sign(b.staff(map[string]any{"nbf": now.Add(time.Minute).Unix()})),
		"issued in the future":               sign(b.staff(map[string]any{"iat": now.Add(time.Minute).Unix()})),
		"signed by an unknown key":           b.iss.Sign(t, stranger, b.staff(nil)),
		"unknown key using a published kid":  b.iss.Sign(t, impostor, b.staff(nil)),
		"alg none":                           oidctest.Forge(t, map[string]any{"alg": "none", "kid": b.iss.RSA.KID}, b.staff(nil), nil),
		"alg none, no kid":                   oidctest.Forge(t, map[string]any{"alg": "none"}, b.staff(nil), nil),
		"HS256 keyed with the public key (PEM)": oidctest.Forge(t, map[string]any{"alg": "HS256", "kid": b.iss.RSA.KID},
			b.staff(nil), hs256(b.iss.RSA.PublicPEM(t))),
		"HS256 keyed with the public key (JWK)": oidctest.Forge(t, map[string]any{"alg": "HS256", "kid": b.iss.RSA.KID},
			b.staff(nil), hs256(jwk)),
		"RS512": oidctest.Forge(t, map[string]any{"alg": "RS512", "kid": b.iss.RSA.KID}, b.staff(nil), func([]byte) []byte { return []byte("x") }),
		"ES256 naming the RSA key": oidctest.Forge(t, map[string]any{"alg": "ES256", "kid": b.iss.RSA.KID},
			b.staff(nil), func([]byte) []byte { return make([]byte, 64) }),
		"tampered claims": func() string {
			parts := strings.Split(sign(b.staff(nil)), ".")
			forged := strings.Split(oidctest.Forge(t, map[string]any{}, b.staff(map[string]any{"books_roles": []string{"admin"}}), nil), ".")
			return parts[0] + "." + forged[1] + "." + parts[2]
		}(),
		"garbage": "not.a.token",
		"empty":   "",
	} {
		p, err := b.verify(t, tok)
		require.Nil(t, p, name)
		require.Equal(t, auth.ErrBadToken, err, name)
	}

	// Genuine tokens that grant nothing are refused with a message saying what is missing.
	for name, tc := range map[string]struct {
		extra map[string]any
		want  string
	}{
		"no organization":         {map[string]any{"books_org": nil}, "no organization"},
		"organization not string": {map[string]any{"books_org": 42}, "no organization"},
		"no roles":                {map[string]any{"books_roles": nil}, "no known role"},
		"only unknown roles":      {map[string]any{"books_roles": []string{"superuser", "root"}}, "no known role"},
		"empty customer, no role": {map[string]any{"books_roles": nil, "books_customer": ""}, "no known role"},
		"no subject":              {map[string]any{"sub": nil}, "no subject"},
		"blank subject":           {map[string]any{"sub": "   "}, "no subject"},
	} {
		p, err := b.verify(t, sign(b.staff(tc.extra)))
		require.Nil(t, p, name)
		require.ErrorIs(t, err, auth.ErrBadToken, name)
		require.Contains(t, err.Error(), tc.want, name)
		require.Contains(t, err.Error(), "books_org, books_roles, books_customer", name)
	}
}

func TestOIDCLeeway(t *testing.T) {
	t.Parallel()
	b := setupOIDC(t, auth.OIDCConfig{})
	now := b.clock.Now()
	for name, tc := range map[string]struct {
		extra map[string]any
		ok    bool
	}{
		"expired 20s ago":     {map[string]any{"exp": now.Add(-20 * time.Second).Unix()}, true},
		"expired 40s ago":     {map[string]any{"exp": now.Add(-40 * time.Second).Unix()}, false},
		"valid from in 20s":   {map[string]any{"nbf": now.Add(20 * time.Second).Unix()}, true},
		"valid from in 40s":   {map[string]any{"nbf": now.Add(40 * time.Second).Unix()}, false},
		"issued in 20s":       {map[string]any{"iat": now.Add(20 * time.Second).Unix()}, true},
		"issued in 40s":       {map[string]any{"iat": now.Add(40 * time.Second).Unix()}, false},
		"audience among many": {map[string]any{"aud": []string{"https://other.example", testAudience}}, true},
	} {
		_, err := b.verify(t, b.iss.Sign(t, b.iss.EC, b.staff(tc.extra)))
		if tc.ok {
			require.NoError(t, err, name)
		} else {
			require.Equal(t, auth.ErrBadToken, err, name)
		}
	}
}

func TestOIDCKeyRotation(t *testing.T) {
	t.Parallel()
	b := setupOIDC(t, auth.OIDCConfig{MinRefreshInterval: time.Minute})
	require.Equal(t, 1, b.iss.JWKSFetches(), "keys are fetched at start-up")

	for range 5 {
		_, err := b.verify(t, b.iss.Sign(t, b.iss.RSA, b.staff(nil)))
		require.NoError(t, err)
	}
	require.Equal(t, 1, b.iss.JWKSFetches(), "known keys come from the cache")

	// The provider rotates: a new RSA key replaces the old one.
	next := oidctest.NewKey(t, jose.RS256)
	b.iss.Publish(next, b.iss.EC)
	p, err := b.verify(t, b.iss.Sign(t, next, b.staff(nil)))
	require.NoError(t, err, "a token signed with the new key verifies after a refresh")
	require.Equal(t, "auth0|alice", p.Subject)
	require.Equal(t, 2, b.iss.JWKSFetches())

	_, err = b.verify(t, b.iss.Sign(t, b.iss.RSA, b.staff(nil)))
	require.Equal(t, auth.ErrBadToken, err, "the withdrawn key no longer verifies")

	// A flood of unknown key ids costs the provider nothing within the interval...
	for range 50 {
		_, err := b.verify(t, b.iss.Sign(t, oidctest.NewKey(t, jose.ES256), b.staff(nil)))
		require.Equal(t, auth.ErrBadToken, err)
	}
	require.Equal(t, 2, b.iss.JWKSFetches(), "refreshes are rate-limited")

	// ...and one fetch after it; a kid the refreshed set lacks is still refused.
	b.clock.Advance(time.Minute + time.Second)
	for range 50 {
		_, err := b.verify(t, b.iss.Sign(t, oidctest.NewKey(t, jose.ES256), b.staff(nil)))
		require.Equal(t, auth.ErrBadToken, err)
	}
	require.Equal(t, 3, b.iss.JWKSFetches())

	_, err = b.verify(t, b.iss.Sign(t, next, b.staff(nil)))
	require.NoError(t, err, "the current key keeps verifying from the cache")
	require.Equal(t, 3, b.iss.JWKSFetches())
}

func TestOIDCConcurrentRefresh(t *testing.T) {
	t.Parallel()
	b := setupOIDC(t, auth.OIDCConfig{})
	next := oidctest.NewKey(t, jose.ES256)
	b.iss.Publish(b.iss.RSA, next)
	tok := b.iss.Sign(t, next, b.staff(nil))

	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() { _, errs[i] = b.verify(t, tok) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 2, b.iss.JWKSFetches(), "callers missing together share one fetch")
}

func TestOIDCCacheAge(t *testing.T) {
	t.Parallel()
	b := setupOIDC(t, auth.OIDCConfig{})

	// The provider is down when the cache ages out: the cached keys keep serving.
	b.clock.Advance(61 * time.Minute)
	b.iss.SetDown(true)
	_, err := b.verify(t, b.iss.Sign(t, b.iss.RSA, b.staff(nil)))
	require.NoError(t, err)
	require.Equal(t, 2, b.iss.JWKSFetches())
	require.Contains(t, b.log.String(), "OIDC key set refresh failed")

	// Back up, it has withdrawn the RSA key: once the cache is old, that key stops verifying.
	b.iss.SetDown(false)
	b.iss.Publish(b.iss.EC)
	b.clock.Advance(time.Minute)
	_, err = b.verify(t, b.iss.Sign(t, b.iss.RSA, b.staff(nil)))
	require.Equal(t, auth.ErrBadToken, err)
	_, err = b.verify(t, b.iss.Sign(t, b.iss.EC, b.staff(nil)))
	require.NoError(t, err)
	require.Equal(t, 3, b.iss.JWKSFetches())
}

func TestNewOIDCErrors(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, testAudience)
	ctx := context.Background()

	_, err := auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: iss.URL})
	require.ErrorContains(t, err, "audience is required")

	_, err = auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: "issuer.example", Audience: testAudience})
	require.ErrorContains(t, err, "not an http(s) URL")

	_, err = auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: iss.URL + "/", Audience: testAudience})
	require.ErrorContains(t, err, "names issuer", "discovery must name the configured issuer exactly")

	_, err = auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: iss.URL + "/tenant", Audience: testAudience})
	require.ErrorContains(t, err, "404")

	iss.SetDown(true)
	_, err = auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: iss.URL, Audience: testAudience})
	require.ErrorContains(t, err, "OIDC keys at "+iss.URL+"/jwks")
	iss.SetDown(false)

	iss.Publish()
	_, err = auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: iss.URL, Audience: testAudience})
	require.ErrorContains(t, err, "no RS256 or ES256 signing key")

	iss.Publish(iss.RSA)
	o, err := auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: iss.URL, Audience: testAudience})
	require.NoError(t, err)
	tokens, err := auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), iss.URL)
	require.NoError(t, err)
	require.ErrorContains(t, auth.NewService(tokens, nil).UseOIDC(o), "also Books' own token issuer")
}
