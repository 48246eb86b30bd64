package auth_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"books/internal/auth"
)

func newTokens(t *testing.T) *auth.Tokens {
	t.Helper()
	tok, err := auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), "books")
	require.NoError(t, err)
	return tok
}

func TestTokensRoundTrip(t *testing.T) {
	t.Parallel()
	tokens := newTokens(t)

	staff, err := tokens.Mint("u1", "org_1", []auth.Role{auth.RoleFinanceLead}, "", time.Hour)
	require.NoError(t, err)
	p, err := tokens.Verify(staff)
	require.NoError(t, err)
	require.Equal(t, auth.KindUser, p.Kind)
	require.Equal(t, "org_1", p.Org)
	require.True(t, p.HasAnyRole(auth.RoleFinanceLead))
	require.True(t, p.CanMutate())
	require.Equal(t, "books", p.Issuer)
	require.WithinDuration(t, time.Now().Add(time.Hour), p.ExpiresAt, time.Minute)

	viewer, err := tokens.Mint("u2", "org_1", []auth.Role{auth.RoleViewer}, "", time.Hour)
	require.NoError(t, err)
	p, err = tokens.Verify(viewer)
	require.NoError(t, err)
	require.False(t, p.CanMutate(), "viewers cannot mutate")

	portal, err := tokens.Mint("c1", "org_1", nil, "cus_1", time.Hour)
	require.NoError(t, err)
	p, err = tokens.Verify(portal)
	require.NoError(t, err)
	require.Equal(t, auth.KindPortal, p.Kind)
	require.Equal(t, "cus_1", p.Customer)
	require.False(t, p.CanMutate())
}

func TestTokensRejectBadTokens(t *testing.T) {
	t.Parallel()
	tokens := newTokens(t)
	other, err := auth.NewTokens([]byte("another-secret-another-secret-xx"), "books")
	require.NoError(t, err)
	foreign, err := other.Mint("u1", "org_1", []auth.Role{auth.RoleAdmin}, "", time.Hour)
	require.NoError(t, err)
	expired, err := tokens.Mint("u1", "org_1", []auth.Role{auth.RoleAdmin}, "", -time.Minute)
	require.NoError(t, err)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "u1", "org": "org_1", "iss": "books",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	noOrg, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "iss": "books",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	noRoles, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "org": "org_1", "iss": "books",
		"roles": []string{"superuser"}, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	wrongIssuer, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "org": "org_1", "iss": "evil",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)

	for name, tok := range map[string]string{
		"other secret": foreign, "expired": expired, "alg none": none, "no org": noOrg, "no known role": noRoles,
		"wrong issuer": wrongIssuer, "garbage": "not.a.token", "empty": "",
	} {
		_, err := tokens.Verify(tok)
		require.ErrorIs(t, err, auth.ErrBadToken, name)
	}

	_, err = tokens.Mint("u1", "org_1", []auth.Role{"superuser"}, "", time.Hour)
	require.Error(t, err, "unknown roles are not minted")
	_, err = tokens.Mint("u1", "org_1", nil, "", time.Hour)
	require.Error(t, err, "a token with no role and no customer is not minted")
	_, err = auth.NewTokens([]byte("short"), "books")
	require.Error(t, err, "short secrets are refused")
}

// A principal carries its token's expiry, so what outlives a request (a WebSocket) can
// check it again.
func TestTokensPrincipalExpires(t *testing.T) {
	t.Parallel()
	tokens := newTokens(t)
	before := time.Now().Truncate(time.Second)
	tok, err := tokens.Mint("u1", "org_1", []auth.Role{auth.RoleAdmin}, "", time.Hour)
	require.NoError(t, err)
	p, err := tokens.Verify(tok)
	require.NoError(t, err)
	require.WithinDuration(t, before.Add(time.Hour), p.ExpiresAt, 2*time.Second)
	require.False(t, p.Expired(p.ExpiresAt.Add(-time.Second)))
	require.True(t, p.Expired(p.ExpiresAt))
	require.False(t, (&auth.Principal{Kind: auth.KindIntegrationKey}).Expired(time.Now()), "keys have no expiry")
}
