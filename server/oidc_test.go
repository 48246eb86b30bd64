package server_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/auth"
	"books/internal/auth/oidctest"
	"books/internal/dbtest"
	"books/server"
)

const oidcAudience = "https://books.example/api"

// oidcSetup is setup with an in-process OIDC provider whose access tokens the server
// accepts beside Books' own HS256 tokens (which the seeded organizations' tokens still are).
func oidcSetup(t *testing.T, dialectName string) (*testBundle, *oidctest.Issuer) {
	t.Helper()
	iss := oidctest.New(t, oidcAudience)
	db := dbtest.Open(t, dialectName)
	client := db.Client()
	tokens, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret!"), "books")
	require.NoError(t, err)
	o, err := auth.NewOIDC(context.Background(), auth.OIDCConfig{Issuer: iss.URL, Audience: oidcAudience})
	require.NoError(t, err)
	authn := auth.NewService(tokens, client)
	require.NoError(t, authn.UseOIDC(o))
	srv := server.New(server.Config{DB: db, Client: client, Auth: authn, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	b := &testBundle{db: db, client: client, server: hs, tokens: tokens}
	b.orgA = b.seedOrg(t, "Org A")
	b.orgB = b.seedOrg(t, "Org B")
	return b, iss
}

// oidcToken signs a provider token for subject with the claim mapping's claims in extra.
func oidcToken(t *testing.T, iss *oidctest.Issuer, k *oidctest.Key, subject string, extra map[string]any) string {
	t.Helper()
	return iss.Sign(t, k, iss.Claims(time.Now(), subject, extra))
}

type orgOut struct {
	Organization struct{ ID, Name string }
}

// TestOIDCSignIn signs people in with the provider's tokens through the real server.
func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b, iss := oidcSetup(t, d)

			t.Run("staff token answers its organization", func(t *testing.T) {
				t.Parallel()
				for _, k := range []*oidctest.Key{iss.RSA, iss.EC} {
					for _, org := range []testOrg{b.orgA, b.orgB} {
						tok := oidcToken(t, iss, k, "auth0|alice", map[string]any{"books_org": org.ID, "books_roles": []string{"viewer"}})
						var out orgOut
						b.gqlOK(t, tok, `{ organization { id name } }`, nil, &out)
						require.Equal(t, org.ID, out.Organization.ID, k.Alg)
					}
				}
				var out orgOut
				b.gqlOK(t, oidcToken(t, iss, iss.RSA, "auth0|alice", map[string]any{"books_org": b.orgA.ID, "books_roles": "admin"}),
					`{ organization { id name } }`, nil, &out)
				require.Equal(t, "Org A", out.Organization.Name)
			})

			t.Run("me describes the signed-in person", func(t *testing.T) {
				t.Parallel()
				tok := oidcToken(t, iss, iss.RSA, "auth0|alice", map[string]any{
					"books_org": b.orgA.ID, "books_roles": []string{"accountant", "viewer"},
					"name": "Alice Auditor", "email": "alice@example.com",
				})
				var out struct {
					Me struct {
						Kind, Subject string
						Name, Email   *string
						Roles         []string
						Organization  struct{ ID string }
						Customer      *struct{ ID string }
					}
				}
				b.gqlOK(t, tok, `{ me { kind subject name email roles organization { id } customer { id } } }`, nil, &out)
				require.Equal(t, "STAFF", out.Me.Kind)
				require.Equal(t, "auth0|alice", out.Me.Subject)
				require.Equal(t, "Alice Auditor", *out.Me.Name)
				require.Equal(t, "alice@example.com", *out.Me.Email)
				require.ElementsMatch(t, []string{"ACCOUNTANT", "VIEWER"}, out.Me.Roles)
				require.Equal(t, b.orgA.ID, out.Me.Organization.ID)
				require.Nil(t, out.Me.Customer)
			})

			t.Run("a token within the clock leeway works for the whole request", func(t *testing.T) {
				t.Parallel()
				past := time.Now().Add(-10 * time.Second)
				tok := iss.Sign(t, iss.RSA, iss.Claims(past.Add(-time.Hour), "auth0|late", map[string]any{
					"books_org": b.orgA.ID, "books_roles": []string{"viewer"}, "exp": past.Unix(),
				}))
				var out orgOut
				b.gqlOK(t, tok, `{ organization { id name } }`, nil, &out)
				require.Equal(t, b.orgA.ID, out.Organization.ID)
			})

			t.Run("Books' own tokens still work", func(t *testing.T) {
				t.Parallel()
				var out orgOut
				b.gqlOK(t, b.orgB.Viewer, `{ organization { id name } }`, nil, &out)
				require.Equal(t, b.orgB.ID, out.Organization.ID)
			})

			t.Run("roles from the token decide what may change", func(t *testing.T) {
				t.Parallel()
				viewer := oidcToken(t, iss, iss.EC, "auth0|vic", map[string]any{"books_org": b.orgA.ID, "books_roles": []string{"viewer"}})
				r := b.gql(t, viewer, `mutation { createCustomer(input: {name: "Viewer Co", displayName: "Viewer Co", currency: "USD"}) { customer { id } } }`, nil)
				require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes())

				accountant := oidcToken(t, iss, iss.EC, "auth0|ann", map[string]any{"books_org": b.orgA.ID, "books_roles": []string{"ACCOUNTANT"}})
				id := b.biCreateCustomer(t, accountant, map[string]any{"name": "Signed In Co", "displayName": "Signed In Co", "currency": "USD"})
				c, err := b.client.Customer.Get(orgCtx(b.orgA), id)
				require.NoError(t, err)
				require.Equal(t, "Signed In Co", c.DisplayName)
			})

			t.Run("WebSocket connection_init takes the provider's token", func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				tok := oidcToken(t, iss, iss.RSA, "auth0|alice", map[string]any{"books_org": b.orgA.ID, "books_roles": []string{"viewer"}})
				rc := rtDial(t, ctx, b.server.URL, "graphql-transport-ws", tok)
				rc.subscribe(t, ctx, "1", `{ organization { id name } }`, nil)
				m, ok := rc.next(10 * time.Second)
				require.True(t, ok, "no answer")
				require.Equal(t, "next", m.Type, "payload: %s", m.Payload)
				var out struct{ Data orgOut }
				require.NoError(t, json.Unmarshal(m.Payload, &out))
				require.Equal(t, b.orgA.ID, out.Data.Organization.ID)
			})
		})
	}
}

// TestOIDCRefused proves every bad provider token is refused with UNAUTHENTICATED, and that
// only genuine tokens lacking scope are told what is missing.
func TestOIDCRefused(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b, iss := oidcSetup(t, d)
			now := time.Now()
			staff := func(extra map[string]any) map[string]any {
				c := iss.Claims(now, "auth0|mallory", map[string]any{"books_org": b.orgA.ID, "books_roles": []string{"admin"}})
				for k, v := range extra {
					if v == nil {
						delete(c, k)
					} else {
						c[k] = v
					}
				}
				return c
			}
			confusion := oidctest.Forge(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": iss.RSA.KID}, staff(nil),
				func(in []byte) []byte {
					m := hmac.New(sha256.New, iss.RSA.PublicPEM(t))
					m.Write(in)
					return m.Sum(nil)
				})
			for name, tc := range map[string]struct {
				token string
				msg   string
			}{
				"wrong audience":      {iss.Sign(t, iss.RSA, staff(map[string]any{"aud": "https://other.example/api"})), auth.ErrBadToken.Error()},
				"wrong issuer":        {iss.Sign(t, iss.RSA, staff(map[string]any{"iss": "https://evil.example"})), auth.ErrBadToken.Error()},
				"expired":             {iss.Sign(t, iss.EC, staff(map[string]any{"exp": now.Add(-5 * time.Minute).Unix()})), auth.ErrBadToken.Error()},
				"alg none":            {oidctest.Forge(t, map[string]any{"alg": "none", "kid": iss.RSA.KID}, staff(nil), nil), auth.ErrBadToken.Error()},
				"HS256 key confusion": {confusion, auth.ErrBadToken.Error()},
				"no organization":     {iss.Sign(t, iss.RSA, staff(map[string]any{"books_org": nil})), "no organization"},
				"no roles":            {iss.Sign(t, iss.RSA, staff(map[string]any{"books_roles": nil})), "no known role and names no customer"},
				"only unknown roles":  {iss.Sign(t, iss.RSA, staff(map[string]any{"books_roles": []string{"owner"}})), "no known role"},
			} {
				r := b.gql(t, tc.token, `{ organization { id name } }`, nil)
				require.Equal(t, http.StatusUnauthorized, r.status, name)
				require.Equal(t, []string{"UNAUTHENTICATED"}, r.errorCodes(), name)
				require.Contains(t, r.Errors[0].Message, tc.msg, name)
				require.Empty(t, string(r.Data), name)
			}
		})
	}
}

// TestOIDCPortal proves the customer claim makes a portal client of that customer.
func TestOIDCPortal(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b, iss := oidcSetup(t, d)
			f := b.biFixture(t, b.orgA)
			acme := b.biApproved(t, f, f.biInput(f.acme, "2026-02-03", "2026-03-03", biLine(f.consult, "1", "")))
			b.biApproved(t, f, f.biInput(f.globex, "2026-02-03", "2026-03-03", biLine(f.consult, "2", "")))

			// Staff roles in a portal token are ignored: it is a portal client all the same.
			portal := oidcToken(t, iss, iss.EC, "auth0|acme-ap", map[string]any{
				"books_org": b.orgA.ID, "books_customer": f.acme, "books_roles": []string{"admin"}})
			var out struct {
				Invoices struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
			b.gqlOK(t, portal, `{ invoices { edges { node { id } } } }`, nil, &out)
			require.Len(t, out.Invoices.Edges, 1)
			require.Equal(t, acme.ID, out.Invoices.Edges[0].Node.ID)

			r := b.gql(t, portal, `{ legalEntities { totalCount } }`, nil)
			require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes(), "portal clients do not read the ledger")
		})
	}
}
