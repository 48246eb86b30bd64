package demo_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/internal/auth"
	"books/internal/dbtest"
	"books/internal/demo"
)

type bundle struct {
	client *ent.Client
	tokens *auth.Tokens
	dir    string
}

func setup(t *testing.T, dialectName string) *bundle {
	t.Helper()
	tokens, err := auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), "books")
	require.NoError(t, err)
	return &bundle{client: dbtest.Open(t, dialectName).Client(), tokens: tokens, dir: t.TempDir()}
}

func (b *bundle) seed(t *testing.T) demo.Info {
	t.Helper()
	info, err := demo.Seed(context.Background(), b.client, b.tokens, b.dir, "http://example.invalid/graphql")
	require.NoError(t, err)
	return info
}

// A demo.json written before it held the portal customer still gets a portal token on the
// next start, bound to the same seeded customer a fresh seed binds.
func TestSeedFillsPortalCustomerOnReuse(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			first := b.seed(t)
			require.NotEmpty(t, first.PortalCustomer.ID)

			// Rewrite demo.json as an older version wrote it.
			path := filepath.Join(b.dir, "demo.json")
			old := map[string]any{"graphql_url": first.GraphQLURL, "admin_token": first.AdminToken,
				"integration_key": first.IntegrationKey, "organization_id": first.OrganizationID, "entities": first.Entities}
			raw, err := json.Marshal(old)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, raw, 0o600))

			again := b.seed(t)
			require.Equal(t, first.OrganizationID, again.OrganizationID, "the organization is reused, not seeded twice")
			require.Equal(t, first.PortalCustomer, again.PortalCustomer)
			p, err := b.tokens.Verify(again.PortalToken)
			require.NoError(t, err)
			require.Equal(t, auth.KindPortal, p.Kind)
			require.Equal(t, first.PortalCustomer.ID, p.Customer)
			p, err = b.tokens.Verify(again.FinanceLeadToken)
			require.NoError(t, err)
			require.Equal(t, []auth.Role{auth.RoleFinanceLead}, p.Roles)

			// What was written is what was returned, readable by the owner only.
			st, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
			raw, err = os.ReadFile(path)
			require.NoError(t, err)
			var written demo.Info
			require.NoError(t, json.Unmarshal(raw, &written))
			require.Equal(t, again, written)
		})
	}
}
