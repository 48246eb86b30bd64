package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/internal/billing"
	"books/internal/dbtest"
	"books/internal/ledger"
)

// contractSetup adds to the bundle a customer of org A and a portal token bound to it.
func contractSetup(t *testing.T, dialectName string) (*testBundle, string, string) {
	t.Helper()
	b := setup(t, dialectName)
	c, err := billing.CreateCustomer(orgCtx(b.orgA), b.client, ent.CreateCustomerInput{
		DisplayName: "Initech", Name: "Initech", Currency: "USD",
	})
	require.NoError(t, err)
	portal, err := b.tokens.Mint("portal-initech", b.orgA.ID, nil, c.ID, time.Hour)
	require.NoError(t, err)
	return b, c.ID, portal
}

func TestContractForbiddenFieldIsAnError(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b, _, portal := contractSetup(t, d)

			// A portal client selecting a staff-only non-null connection gets an error at its
			// path, and the null propagates to data: never {"accounts": null} without one.
			r := b.gql(t, portal, `{ accounts { totalCount } }`, nil)
			require.Len(t, r.Errors, 1)
			require.Equal(t, []any{"accounts"}, r.Errors[0].Path)
			require.Equal(t, "FORBIDDEN", r.Errors[0].Extensions["code"])
			require.Equal(t, "null", string(r.Data))

			// A viewer asking for a mutation: FORBIDDEN at the mutation's path.
			r = b.gql(t, b.orgA.Viewer, `mutation { createClass(input: {entityId: "x", name: "y"}) { class { id } } }`, nil)
			require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes())
			require.Equal(t, []any{"createClass"}, r.Errors[0].Path)
			require.Equal(t, "null", string(r.Data))

			// extensions.field names the input field as the API spells it.
			r = b.gql(t, b.orgA.Admin, `mutation($e: ID!) { createClass(input: {entityId: $e, name: "Sub", parentId: "cls_01zzzzzzzzzzzzzzzzzzzzzzzz"}) { class { id } } }`,
				map[string]any{"e": b.orgA.Entities[0].ID})
			require.Equal(t, []string{"NOT_FOUND"}, r.errorCodes())
			require.Equal(t, "parentId", r.Errors[0].Extensions["field"])

			// No token at all never reaches a resolver.
			r = b.gql(t, "", `{ organization { id } }`, nil)
			require.Equal(t, []string{"UNAUTHENTICATED"}, r.errorCodes())
		})
	}
}

func TestContractPortalFilterAllowList(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b, _, portal := contractSetup(t, d)

			type obj = map[string]any
			refused := []struct {
				name, where string
				vars        obj // the same filter as a variable
			}{
				{"staff-only field", `{approvedBy: "user-admin"}`, obj{"approvedBy": "user-admin"}},
				{"staff-only field by operator", `{approvedByContains: "admin"}`, obj{"approvedByContains": "admin"}},
				{"relation into the ledger", `{hasEntityWith: [{hasJournalEntriesWith: [{descriptionContains: "Payment from Initech"}]}]}`,
					obj{"hasEntityWith": []any{obj{"hasJournalEntriesWith": []any{obj{"descriptionContains": "Payment from Initech"}}}}}},
				{"relation to a staff-only edge", `{hasJournalEntry: true}`, obj{"hasJournalEntry": true}},
				{"inside and/or/not", `{or: [{status: PAID}, {not: {syncStatus: SYNCED}}]}`,
					obj{"or": []any{obj{"status": "PAID"}, obj{"not": obj{"syncStatus": "SYNCED"}}}}},
				{"unreadable field of a readable relation", `{hasCustomerWith: [{syncStatus: SYNCED}]}`,
					obj{"hasCustomerWith": []any{obj{"syncStatus": "SYNCED"}}}},
			}
			for _, tc := range refused {
				r := b.gql(t, portal, `{ invoices(where: `+tc.where+`) { totalCount } }`, nil)
				require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes(), tc.name)
				require.Equal(t, "null", string(r.Data), tc.name)
				r = b.gql(t, portal, `query($w: InvoiceWhereInput) { invoices(where: $w) { totalCount } }`, obj{"w": tc.vars})
				require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes(), tc.name+" (variable)")
			}

			allowed := []string{
				`{status: SENT}`,
				`{statusIn: [SENT, PAID], totalGTE: "1.00"}`,
				`{hasCustomerWith: [{nameContainsFold: "init"}]}`,
				`{and: [{dueDateLT: "2030-01-01"}, {not: {balance: "0"}}]}`,
			}
			for _, where := range allowed {
				var out struct{ Invoices struct{ TotalCount int } }
				b.gqlOK(t, portal, `{ invoices(where: `+where+`, orderBy: {field: DUE_DATE}) { totalCount } }`, nil, &out)
			}

			// Staff filter on anything.
			var out struct{ Invoices struct{ TotalCount int } }
			b.gqlOK(t, b.orgA.Viewer, `{ invoices(where: {approvedByNotNil: true, hasEntityWith: [{hasJournalEntriesWith: [{descriptionContains: "x"}]}]}) { totalCount } }`, nil, &out)
		})
	}
}

func TestContractMe(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b, customerID, portal := contractSetup(t, d)
			const q = `{ me { kind subject roles organization { id } customer { id } } }`
			type me struct {
				Me struct {
					Kind         string
					Subject      string
					Roles        []string
					Organization struct{ ID string }
					Customer     *struct{ ID string }
				}
			}
			var staff me
			b.gqlOK(t, b.orgA.FinanceLead, q, nil, &staff)
			require.Equal(t, "STAFF", staff.Me.Kind)
			require.Equal(t, "user-finance_lead-"+b.orgA.ID, staff.Me.Subject)
			require.Equal(t, []string{"FINANCE_LEAD"}, staff.Me.Roles)
			require.Equal(t, b.orgA.ID, staff.Me.Organization.ID)
			require.Nil(t, staff.Me.Customer)

			var client me
			b.gqlOK(t, portal, q, nil, &client)
			require.Equal(t, "PORTAL", client.Me.Kind)
			require.Empty(t, client.Me.Roles)
			require.Equal(t, b.orgA.ID, client.Me.Organization.ID)
			require.NotNil(t, client.Me.Customer)
			require.Equal(t, customerID, client.Me.Customer.ID)
		})
	}
}

func TestContractCostLimits(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			entity := b.orgA.Entities[0].ID

			// 1,000 aliased trial balances: refused before any runs.
			var q strings.Builder
			q.WriteString("{")
			for i := range 1000 {
				fmt.Fprintf(&q, " t%d: trialBalance(entityId: %q, asOf: \"2026-01-31\") { balanced }", i, entity)
			}
			q.WriteString(" }")
			r := b.gql(t, b.orgA.Admin, q.String(), nil)
			require.Equal(t, []string{"COMPLEXITY_LIMIT_EXCEEDED"}, r.errorCodes())

			// A few are fine.
			var few map[string]struct{ Balanced bool }
			b.gqlOK(t, b.orgA.Admin, fmt.Sprintf(`{ a: trialBalance(entityId: %q, asOf: "2026-01-31") { balanced } b: trialBalance(entityId: %q, asOf: "2026-02-28") { balanced } }`, entity, entity), nil, &few)
			require.True(t, few["a"].Balanced)

			// nodes(ids:) takes at most 100 ids; any list argument at most 1,000 items.
			ids := make([]string, 101)
			for i := range ids {
				ids[i] = entity
			}
			r = b.gql(t, b.orgA.Admin, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": ids})
			require.Equal(t, []string{"VALIDATION"}, r.errorCodes())
			var hundred struct{ Nodes []struct{ ID string } }
			b.gqlOK(t, b.orgA.Admin, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": ids[:100]}, &hundred)
			require.Len(t, hundred.Nodes, 100)

			many := make([]string, 20000)
			for i := range many {
				many[i] = entity
			}
			r = b.gql(t, b.orgA.Admin, `query($ids: [ID!]) { accounts(where: {idIn: $ids}) { totalCount } }`, map[string]any{"ids": many})
			require.Equal(t, []string{"VALIDATION"}, r.errorCodes())
			require.Contains(t, r.Errors[0].Message, "20000 items")

			// A filter nested thousands deep in a variable (the parser bounds only literals)
			// is refused before it reaches the database, not answered INTERNAL after seconds.
			deep := map[string]any{"id": "inv_x"}
			for range 3000 {
				deep = map[string]any{"not": deep}
			}
			r = b.gql(t, b.orgA.Viewer, `query($w: InvoiceWhereInput) { invoices(where: $w) { totalCount } }`, map[string]any{"w": deep})
			require.Equal(t, []string{"VALIDATION"}, r.errorCodes())
			require.Contains(t, r.Errors[0].Message, "nests more than")
			// A realistic filter is well within the limit.
			var ok struct{ Invoices struct{ TotalCount int } }
			b.gqlOK(t, b.orgA.Viewer, `{ invoices(where: {and: [{not: {status: VOID}}, {or: [{hasCustomerWith: [{nameContains: "a"}]}, {totalGTE: "1"}]}]}) { totalCount } }`, nil, &ok)

			// An omitted first is costed as the real default page (100), not 50: 100 journal
			// entries of 10 lines each of 5 fields exceed the limit of 5,000.
			r = b.gql(t, b.orgA.Admin, `{ journalEntries { edges { node { lines { id debit credit description accountId } } } } }`, nil)
			require.Equal(t, []string{"COMPLEXITY_LIMIT_EXCEEDED"}, r.errorCodes())
		})
	}
}

// A connection nested in an object is paged like a root one: without first it returns the
// default page, and no page exceeds the maximum.
func TestContractNestedPages(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			entity := b.orgA.Entities[0].ID
			for i := range 120 {
				_, err := ledger.CreateClass(orgCtx(b.orgA), b.client, ent.CreateClassInput{EntityID: entity, Name: fmt.Sprintf("Team %03d", i)})
				require.NoError(t, err)
			}
			var out struct {
				Node struct {
					Classes struct {
						TotalCount int
						Edges      []struct{ Node struct{ ID string } }
						PageInfo   struct{ HasNextPage bool }
					}
				}
			}
			for _, q := range []string{
				`query($id: ID!) { node(id: $id) { ... on LegalEntity { classes { totalCount edges { node { id } } pageInfo { hasNextPage } } } } }`,
				`query($id: ID!, $n: Int) { node(id: $id) { ... on LegalEntity { classes(first: $n) { totalCount edges { node { id } } pageInfo { hasNextPage } } } } }`,
			} {
				b.gqlOK(t, b.orgA.Viewer, q, map[string]any{"id": entity}, &out)
				require.Equal(t, 121, out.Node.Classes.TotalCount, "the seeded Consulting class and 120 more")
				require.Len(t, out.Node.Classes.Edges, 100, "the default page")
				require.True(t, out.Node.Classes.PageInfo.HasNextPage)
			}
			// The same through the organization's entities, two levels down. (Without first on
			// the entities too, the estimate is 100 entities of 100 classes: refused.)
			var org struct {
				Organization struct {
					LegalEntities struct {
						Edges []struct {
							Node struct {
								Classes struct {
									Edges []struct{ Node struct{ ID string } }
								}
							}
						}
					}
				}
			}
			r := b.gql(t, b.orgA.Viewer, `{ organization { legalEntities { edges { node { classes { edges { node { id } } } } } } } }`, nil)
			require.Equal(t, []string{"COMPLEXITY_LIMIT_EXCEEDED"}, r.errorCodes())
			b.gqlOK(t, b.orgA.Viewer, `{ organization { legalEntities(first: 5) { edges { node { classes { edges { node { id } } } } } } } }`, nil, &org)
			require.Len(t, org.Organization.LegalEntities.Edges[0].Node.Classes.Edges, 100)

			r = b.gql(t, b.orgA.Viewer, `query($id: ID!) { node(id: $id) { ... on LegalEntity { classes(first: 1001) { totalCount } } } }`, map[string]any{"id": entity})
			require.NotEmpty(t, r.Errors)
			require.Subset(t, []string{"VALIDATION", "COMPLEXITY_LIMIT_EXCEEDED"}, r.errorCodes())
		})
	}
}
