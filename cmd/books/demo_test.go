package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/internal/auth"
	"books/internal/dbtest"
	"books/internal/demo"
)

// startDemo runs `books serve --demo` in-process on a fresh database of the dialect and
// returns what it wrote to demo.json. The server stops when the test ends.
func startDemo(t *testing.T, dialectName string) (demo.Info, string) {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", "--data-dir", dir, "--addr", addr,
			"--database-url", dbtest.URL(t, dialectName)})
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			done <- err
			return true // serve failed to start; the read below reports it
		default:
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 50*time.Millisecond)
	b, err := os.ReadFile(filepath.Join(dir, "demo.json"))
	require.NoError(t, err)
	var info demo.Info
	require.NoError(t, json.Unmarshal(b, &info))
	return info, dir
}

type gqlResult struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (r gqlResult) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	code, _ := r.Errors[0].Extensions["code"].(string)
	return code
}

func demoGraphQL(t *testing.T, url, token, query string, vars map[string]any) gqlResult {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out gqlResult
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

type demoInvoices struct {
	Invoices struct {
		TotalCount int
		Edges      []struct {
			Node struct {
				ID       string
				Status   string
				Customer struct{ ID string }
			}
		}
	}
}

const demoInvoicesQuery = `{ invoices(first: 100) { totalCount edges { node { id status customer { id } } } } }`

// TestDemoPeople checks the tokens a fresh demo.json holds: each authenticates as the person
// it names, and the finance lead can approve an invoice the admin submitted, which the admin
// alone cannot.
func TestDemoPeople(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			info, dir := startDemo(t, d)
			require.NotEmpty(t, info.AdminToken)
			require.NotEmpty(t, info.FinanceLeadToken)
			require.NotEmpty(t, info.PortalToken)
			require.NotEmpty(t, info.PortalCustomer.ID)
			require.Equal(t, "Acme Manufacturing", info.PortalCustomer.Name)

			// The tokens carry the right person, roles and customer.
			c := common{dataDir: dir, jwtIssuer: "books"}
			tokens, err := c.tokens(nil)
			require.NoError(t, err)
			for _, tt := range []struct {
				token string
				want  auth.Principal
			}{
				{info.AdminToken, auth.Principal{Kind: auth.KindUser, Subject: demo.AdminSubject, Org: info.OrganizationID, Roles: []auth.Role{auth.RoleAdmin}}},
				{info.FinanceLeadToken, auth.Principal{Kind: auth.KindUser, Subject: demo.FinanceLeadSubject, Org: info.OrganizationID, Roles: []auth.Role{auth.RoleFinanceLead}}},
				{info.PortalToken, auth.Principal{Kind: auth.KindPortal, Subject: "portal-" + info.PortalCustomer.ID, Org: info.OrganizationID, Customer: info.PortalCustomer.ID}},
			} {
				p, err := tokens.Verify(tt.token)
				require.NoError(t, err)
				require.True(t, p.ExpiresAt.After(time.Now()), "an expiry in the future")
				got := *p
				got.Issuer, got.ExpiresAt = "", time.Time{} // the rest is what the demo decides
				require.Equal(t, tt.want, got)
			}

			// Every token authenticates against the running server.
			for _, tok := range []string{info.AdminToken, info.FinanceLeadToken, info.PortalToken} {
				res := demoGraphQL(t, info.GraphQLURL, tok, `{ __typename }`, nil)
				require.Empty(t, res.Errors)
			}

			// The portal token sees its customer's invoices only.
			var staff, portal demoInvoices
			res := demoGraphQL(t, info.GraphQLURL, info.AdminToken, demoInvoicesQuery, nil)
			require.Empty(t, res.Errors)
			require.NoError(t, json.Unmarshal(res.Data, &staff))
			res = demoGraphQL(t, info.GraphQLURL, info.PortalToken, demoInvoicesQuery, nil)
			require.Empty(t, res.Errors)
			require.NoError(t, json.Unmarshal(res.Data, &portal))
			require.NotZero(t, portal.Invoices.TotalCount)
			require.Less(t, portal.Invoices.TotalCount, staff.Invoices.TotalCount)
			for _, e := range portal.Invoices.Edges {
				require.Equal(t, info.PortalCustomer.ID, e.Node.Customer.ID)
			}

			// The admin submits a seeded draft; the approval gate refuses the admin's own
			// approval and takes the finance lead's. Status values are compared without
			// case, as the schema's enum spelling is being changed to UPPER_SNAKE.
			var draft string
			for _, e := range staff.Invoices.Edges {
				if e.Node.Status == "DRAFT" {
					draft = e.Node.ID
					break
				}
			}
			require.NotEmpty(t, draft, "the demo seeds a draft invoice")
			vars := map[string]any{"id": draft}
			res = demoGraphQL(t, info.GraphQLURL, info.AdminToken, `mutation($id: ID!) { submitInvoice(input: {invoiceId: $id}) { invoice { id } } }`, vars)
			require.Empty(t, res.Errors)
			const approve = `mutation($id: ID!) { approveInvoice(input: {invoiceId: $id}) { invoice { id status number approvedBy } } }`
			res = demoGraphQL(t, info.GraphQLURL, info.AdminToken, approve, vars)
			require.Equal(t, "SELF_APPROVAL", res.code())
			res = demoGraphQL(t, info.GraphQLURL, info.FinanceLeadToken, approve, vars)
			require.Empty(t, res.Errors)
			var approved struct {
				ApproveInvoice struct {
					Invoice struct {
						Status, ApprovedBy string
						Number             *string
					}
				}
			}
			require.NoError(t, json.Unmarshal(res.Data, &approved))
			inv := approved.ApproveInvoice.Invoice
			require.Equal(t, "APPROVED", inv.Status)
			require.Equal(t, demo.FinanceLeadSubject, inv.ApprovedBy)
			require.NotNil(t, inv.Number)
		})
	}
}
