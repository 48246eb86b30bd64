package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent/auditevent"
	"books/ent/journalentry"
	"books/internal/auth"
	"books/internal/dbtest"
	"books/internal/ledger"
	"books/internal/ledger/source"
)

// gqOrgIDs are ids of one organization's records, for tenancy and role tests.
type gqOrgIDs struct {
	Org, US, UK, Account4000, Account6000, Class, Mapping, MappingAR string
	Entry, Line, ClosedPeriod, OpenPeriod, Key, Audit                string
}

// gqSeedOrg gives org an entry, a closed and an open period and an audit event, and returns
// the ids of its records.
func (b *testBundle) gqSeedOrg(t *testing.T, org testOrg) gqOrgIDs {
	t.Helper()
	ctx := orgCtx(org)
	x := gqOrgIDs{Org: org.ID, US: org.Entities[0].ID, UK: org.Entities[1].ID}
	accts := b.gqAccountIDs(t, org, 0)
	x.Account4000, x.Account6000 = accts["4000"], accts["6000"]
	x.Class = b.gqClassID(t, org, 0, "Consulting")
	x.Mapping = b.gqMappingID(t, org, 0, source.PSA, "revenue")
	x.MappingAR = b.gqMappingID(t, org, 0, source.PSA, "ar")
	x.Entry = b.gqSeedEntry(t, org, 0, "2026-02-10", "seed-"+org.ID, "25.00", "4000")
	e, err := b.client.JournalEntry.Query().Where(journalentry.ID(x.Entry)).WithLines().Only(ctx)
	require.NoError(t, err)
	x.Line = e.Edges.Lines[0].ID
	jan, err := ledger.FindPeriod(ctx, b.client, x.US, "2026-01")
	require.NoError(t, err)
	_, err = ledger.ClosePeriod(ctx, b.client, jan.ID, "seed")
	require.NoError(t, err)
	x.ClosedPeriod = jan.ID
	feb, err := ledger.FindPeriod(ctx, b.client, x.US, "2026-02")
	require.NoError(t, err)
	x.OpenPeriod = feb.ID
	key, err := b.client.IntegrationKey.Query().Only(ctx)
	require.NoError(t, err)
	x.Key = key.ID
	b.gqlOK(t, org.Admin, `mutation($id: ID!) { updateClass(input: {classId: $id, patch: {active: true}}) { class { id } } }`, map[string]any{"id": x.Class}, nil)
	ev, err := b.client.AuditEvent.Query().Where(auditevent.Action("updateClass")).Only(ctx)
	require.NoError(t, err)
	x.Audit = ev.ID
	return x
}

func TestTenancyReads(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a, bx := b.gqSeedOrg(t, b.orgA), b.gqSeedOrg(t, b.orgB)
			b.gqSeedEntry(t, b.orgB, 1, "2026-03-01", "b-extra", "77.00", "4100")

			t.Run("connections show only the caller's organization", func(t *testing.T) {
				t.Parallel()
				var out struct {
					LegalEntities   gqConn[struct{ ID string }]
					Accounts        gqConn[struct{ EntityID string }]
					Classes         gqConn[struct{ EntityID string }]
					CoaMappings     gqConn[struct{ EntityID string }]
					JournalEntries  gqConn[struct{ ID, EntityID string }]
					Periods         gqConn[struct{ ID string }]
					IntegrationKeys gqConn[struct{ ID string }]
					AuditEvents     gqConn[struct{ ID string }]
					Organization    struct {
						ID            string
						LegalEntities struct{ TotalCount int }
					}
				}
				// Small pages where a few rows are expected keep the operation under the
				// complexity limit, which counts the default page as 100 rows.
				b.gqlOK(t, b.orgA.Viewer, `{
					legalEntities(first: 10) { totalCount edges { node { id } } }
					accounts(first: 100) { totalCount edges { node { entityId } } }
					classes(first: 10) { totalCount edges { node { entityId } } }
					coaMappings(first: 300) { totalCount edges { node { entityId } } }
					journalEntries(first: 10) { totalCount edges { node { id entityId } } }
					periods(first: 10) { totalCount edges { node { id } } }
					integrationKeys(first: 10) { totalCount edges { node { id } } }
					auditEvents(first: 10) { totalCount edges { node { id } } }
					organization { id legalEntities { totalCount } }
				}`, nil, &out)
				mine := map[string]bool{a.US: true, a.UK: true}
				require.Equal(t, 2, out.LegalEntities.TotalCount)
				for _, n := range out.LegalEntities.nodes() {
					require.True(t, mine[n.ID])
				}
				require.Equal(t, 2*len(ledger.DefaultChart), out.Accounts.TotalCount)
				for _, n := range out.Accounts.nodes() {
					require.True(t, mine[n.EntityID])
				}
				require.Equal(t, 2, out.Classes.TotalCount)
				for _, n := range out.Classes.nodes() {
					require.True(t, mine[n.EntityID])
				}
				require.Equal(t, 2*len(ledger.DefaultMappings)*len(source.All()), out.CoaMappings.TotalCount)
				require.Len(t, out.CoaMappings.Edges, out.CoaMappings.TotalCount)
				for _, n := range out.CoaMappings.nodes() {
					require.True(t, mine[n.EntityID])
				}
				require.Equal(t, 1, out.JournalEntries.TotalCount)
				require.Equal(t, a.Entry, out.JournalEntries.nodes()[0].ID)
				require.Equal(t, 2, out.Periods.TotalCount)
				require.Equal(t, 1, out.IntegrationKeys.TotalCount)
				require.Equal(t, a.Key, out.IntegrationKeys.nodes()[0].ID)
				// The seed's posting (audited by the database) and its updateClass mutation.
				require.Equal(t, 2, out.AuditEvents.TotalCount)
				require.Contains(t, []string{out.AuditEvents.nodes()[0].ID, out.AuditEvents.nodes()[1].ID}, a.Audit)
				require.Equal(t, a.Org, out.Organization.ID)
				require.Equal(t, 2, out.Organization.LegalEntities.TotalCount)
			})

			filters := []struct{ name, query string }{
				{"accounts of B's entity", `query($b: ID) { c: accounts(where: {entityId: $b}) { totalCount } }`},
				{"entries of B's entity", `query($b: ID) { c: journalEntries(where: {entityId: $b}) { totalCount } }`},
				{"entities by B's id", `query($b: ID) { c: legalEntities(where: {id: $b}) { totalCount } }`},
				{"periods of B's entity", `query($b: ID) { c: periods(where: {entityId: $b}) { totalCount } }`},
				{"mappings of B's entity", `query($b: ID) { c: coaMappings(where: {entityId: $b}) { totalCount } }`},
				{"entries through B's entity", `query($b: ID) { c: journalEntries(where: {hasEntityWith: [{id: $b}]}) { totalCount } }`},
			}
			for _, f := range filters {
				t.Run("filter on "+f.name, func(t *testing.T) {
					t.Parallel()
					var out struct{ C struct{ TotalCount int } }
					b.gqlOK(t, b.orgA.Admin, f.query, map[string]any{"b": bx.US}, &out)
					require.Zero(t, out.C.TotalCount)
					// The same filter finds B's rows for B, so the filter itself works.
					b.gqlOK(t, b.orgB.Admin, f.query, map[string]any{"b": bx.US}, &out)
					require.Positive(t, out.C.TotalCount)
				})
			}

			bIDs := map[string]string{
				"organization": bx.Org, "entity": bx.US, "account": bx.Account4000, "class": bx.Class,
				"mapping": bx.Mapping, "period": bx.ClosedPeriod, "entry": bx.Entry, "line": bx.Line,
				"integration key": bx.Key, "audit event": bx.Audit,
			}
			for name, id := range bIDs {
				t.Run("node of B's "+name, func(t *testing.T) {
					t.Parallel()
					r := b.gql(t, b.orgA.Admin, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
					gqRequireCode(t, r, "NOT_FOUND")
					require.JSONEq(t, `{"node": null}`, string(r.Data))
					// B itself can read it.
					var mine struct{ Node struct{ ID string } }
					b.gqlOK(t, b.orgB.Viewer, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}, &mine)
					require.Equal(t, id, mine.Node.ID)
				})
			}

			t.Run("nodes mixing A's and B's ids", func(t *testing.T) {
				t.Parallel()
				idList := []string{a.US}
				for _, id := range bIDs {
					idList = append(idList, id)
				}
				r := b.gql(t, b.orgA.Admin, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": idList})
				var out struct{ Nodes []*struct{ ID string } }
				require.NoError(t, json.Unmarshal(r.Data, &out))
				require.Len(t, out.Nodes, len(idList))
				require.Equal(t, a.US, out.Nodes[0].ID)
				for _, n := range out.Nodes[1:] {
					require.Nil(t, n)
				}
				require.Len(t, r.Errors, len(bIDs))
				for _, c := range r.errorCodes() {
					require.Equal(t, "NOT_FOUND", c)
				}
			})

			t.Run("balances of B", func(t *testing.T) {
				t.Parallel()
				gqRequireCode(t, b.gql(t, b.orgA.Admin, gqTBQuery, map[string]any{"e": bx.US, "d": "2099-12-31"}), "NOT_FOUND")
				gqRequireCode(t, b.gql(t, b.orgA.Admin, `query($id: ID!) { accountBalance(accountId: $id, asOf: "2099-12-31") { balance } }`,
					map[string]any{"id": bx.Account4000}), "NOT_FOUND")
				tb := b.gqTrialBalance(t, b.orgB.Viewer, bx.US, "2099-12-31")
				require.Equal(t, "25.00", tb.TotalDebit)
			})
		})
	}
}

func TestTenancyWrites(t *testing.T) {
	t.Parallel()
	type ids = gqOrgIDs
	tests := []struct {
		name  string
		query string
		vars  func(a, b ids) map[string]any
		code  string
	}{
		{"update B's entity", `mutation($id: ID!) { updateLegalEntity(input: {legalEntityId: $id, patch: {name: "Mine now"}}) { legalEntity { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"id": b.US} }, "NOT_FOUND"},
		{"take B's account into A's entity", `mutation($id: ID!, $acct: [ID!]) { updateLegalEntity(input: {legalEntityId: $id, patch: {addAccountIds: $acct}}) { legalEntity { id } } }`,
			// The patch has no edge lists any more: refused before it runs.
			func(a, b ids) map[string]any { return map[string]any{"id": a.US, "acct": []string{b.Account4000}} }, "GRAPHQL_VALIDATION_FAILED"},
		{"create an account in B's entity", `mutation($e: ID!) { createAccount(input: {entityId: $e, code: "4999", name: "x", type: REVENUE, subtype: INCOME}) { account { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"e": b.US} }, "NOT_FOUND"},
		{"update B's account", `mutation($id: ID!) { updateAccount(input: {accountId: $id, patch: {name: "hacked", active: false}}) { account { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"id": b.Account4000} }, "NOT_FOUND"},
		{"create a class in B's entity", `mutation($e: ID!) { createClass(input: {entityId: $e, name: "x"}) { class { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"e": b.US} }, "NOT_FOUND"},
		{"create a class under B's class", `mutation($e: ID!, $p: ID) { createClass(input: {entityId: $e, name: "x", parentId: $p}) { class { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"e": a.US, "p": b.Class} }, "NOT_FOUND"},
		{"create a class adopting B's class", `mutation($e: ID!, $c: [ID!]) { createClass(input: {entityId: $e, name: "x", childIds: $c}) { class { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"e": a.US, "c": []string{b.Class}} }, "NOT_FOUND"},
		{"update B's class", `mutation($id: ID!) { updateClass(input: {classId: $id, patch: {name: "hacked"}}) { class { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"id": b.Class} }, "NOT_FOUND"},
		{"move A's class under B's", `mutation($id: ID!, $p: ID) { updateClass(input: {classId: $id, patch: {parentId: $p}}) { class { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"id": a.Class, "p": b.Class} }, "NOT_FOUND"},
		{"adopt B's class", `mutation($id: ID!, $c: [ID!]) { updateClass(input: {classId: $id, patch: {addChildIds: $c}}) { class { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"id": a.Class, "c": []string{b.Class}} }, "NOT_FOUND"},
		{"map to B's account", `mutation($e: ID!, $acct: ID!) { createCOAMapping(input: {entityId: $e, sourceSystem: PSA, sourceCode: "x", accountId: $acct}) { coaMapping { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"e": a.US, "acct": b.Account4000} }, "NOT_FOUND"},
		{"map in B's entity", `mutation($e: ID!, $acct: ID!) { createCOAMapping(input: {entityId: $e, sourceSystem: PSA, sourceCode: "x", accountId: $acct}) { coaMapping { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"e": b.US, "acct": b.Account4000} }, "NOT_FOUND"},
		{"update B's mapping", `mutation($id: ID!) { updateCOAMapping(input: {coaMappingId: $id, patch: {sourceCode: "hacked"}}) { coaMapping { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"id": b.Mapping} }, "NOT_FOUND"},
		{"repoint A's mapping to B's account", `mutation($id: ID!, $acct: ID) { updateCOAMapping(input: {coaMappingId: $id, patch: {accountId: $acct}}) { coaMapping { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"id": a.Mapping, "acct": b.Account4000} }, "NOT_FOUND"},
		{"delete B's mapping", `mutation($id: ID!) { deleteCOAMapping(input: {coaMappingId: $id}) { deletedCoaMappingId } }`,
			func(a, b ids) map[string]any { return map[string]any{"id": b.Mapping} }, "NOT_FOUND"},
		{"post into B's entity", gqPostMutation,
			func(a, b ids) map[string]any {
				return map[string]any{"in": gqEntryInput(b.US, "2026-06-01", gqLine("1000", "5.00", ""), gqLine("4000", "", "5.00"))}
			}, "UNKNOWN_ENTITY"},
		{"post to B's account", gqPostMutation,
			func(a, b ids) map[string]any {
				return map[string]any{"in": gqEntryInput(a.US, "2026-06-01", map[string]any{"accountId": b.Account4000, "debit": "5.00"}, gqLine("4000", "", "5.00"))}
			}, "UNKNOWN_ACCOUNT"},
		{"post with B's class", gqPostMutation,
			func(a, b ids) map[string]any {
				return map[string]any{"in": gqEntryInput(a.US, "2026-06-01", map[string]any{"accountCode": "1000", "debit": "5.00", "classId": b.Class}, gqLine("4000", "", "5.00"))}
			}, "UNKNOWN_CLASS"},
		{"reverse B's entry", `mutation($id: ID!) { reverseJournalEntry(input: {journalEntryId: $id, date: "2026-06-01"}) { reversal { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"id": b.Entry} }, "NOT_FOUND"},
		{"close B's period by id", `mutation($id: ID) { closePeriod(input: {periodId: $id}) { period { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"id": b.OpenPeriod} }, "NOT_FOUND"},
		{"close B's period by name", `mutation($e: ID) { closePeriod(input: {entityId: $e, name: "2026-03"}) { period { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"e": b.US} }, "NOT_FOUND"},
		{"reopen B's period", `mutation($id: ID) { reopenPeriod(input: {periodId: $id}) { period { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"id": b.ClosedPeriod} }, "NOT_FOUND"},
		{"key for B's entity", `mutation($e: [ID!]!) { createIntegrationKey(input: {name: "x", entityIds: $e, sourceSystems: [PSA]}) { secret } }`,
			func(a, b ids) map[string]any { return map[string]any{"e": []string{a.US, b.US}} }, "NOT_FOUND"},
		{"revoke B's key", `mutation($id: ID!) { revokeIntegrationKey(input: {integrationKeyId: $id}) { integrationKey { id } } }`,
			func(a, b ids) map[string]any { return map[string]any{"id": b.Key} }, "NOT_FOUND"},
	}
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					b := setup(t, d)
					a, bx := b.gqSeedOrg(t, b.orgA), b.gqSeedOrg(t, b.orgB)
					beforeA, beforeB := b.gqSnapshot(t, b.orgA), b.gqSnapshot(t, b.orgB)
					r := b.gql(t, b.orgA.Admin, tt.query, tt.vars(a, bx))
					gqRequireCode(t, r, tt.code)
					require.Equal(t, beforeB, b.gqSnapshot(t, b.orgB), "B's data is unchanged")
					require.Equal(t, beforeA, b.gqSnapshot(t, b.orgA), "a refused mutation writes nothing, not even an audit event")
					// B's key still works.
					status, body := b.postJE(t, b.orgB.Key, "", jeBody("US", "after-"+tt.name, "1.00"))
					require.Equal(t, http.StatusCreated, status, "%v", body)
				})
			}
		})
	}
}

func TestTenancyIntegrationKey(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			bUS := b.orgB.Entities[0].ID
			bAccts := b.gqAccountIDs(t, b.orgB, 0)
			beforeA, beforeB := b.gqSnapshot(t, b.orgA), b.gqSnapshot(t, b.orgB)

			for _, tt := range []struct {
				name   string
				body   map[string]any
				status int
				code   string
			}{
				{"B's entity by id", jeBody(bUS, "x-1", "10.00"), http.StatusUnprocessableEntity, "UNKNOWN_ENTITY"},
				{"B's account by id", func() map[string]any {
					body := jeBody("US", "x-2", "10.00")
					body["lines"] = []map[string]any{{"account_id": bAccts["1000"], "debit": "10.00"}, {"account_code": "4000", "credit": "10.00"}}
					return body
				}(), http.StatusUnprocessableEntity, "UNKNOWN_ACCOUNT"},
			} {
				status, body := b.postJE(t, b.orgA.Key, "", tt.body)
				require.NotEqual(t, http.StatusCreated, status, "%s: %v", tt.name, body)
				require.Equal(t, tt.status, status, "%s: %v", tt.name, body)
				require.Equal(t, tt.code, errCode(body), tt.name)
			}
			require.Equal(t, beforeB, b.gqSnapshot(t, b.orgB))
			require.Equal(t, beforeA, b.gqSnapshot(t, b.orgA))

			// An entity code names the caller's own entity, never B's of the same code.
			status, body := b.postJE(t, b.orgA.Key, "idem-shared", jeBody("US", "shared-ref", "10.00"))
			require.Equal(t, http.StatusCreated, status, "%v", body)
			require.Equal(t, b.orgA.Entities[0].ID, body["entity_id"])
			require.Equal(t, beforeB, b.gqSnapshot(t, b.orgB))
			// B's key with the same idempotency key and source reference gets its own entry,
			// not A's response.
			status, bBody := b.postJE(t, b.orgB.Key, "idem-shared", jeBody("US", "shared-ref", "10.00"))
			require.Equal(t, http.StatusCreated, status, "%v", bBody)
			require.Equal(t, bUS, bBody["entity_id"])
			require.NotEqual(t, body["id"], bBody["id"])
			require.Equal(t, 1, b.entryCount(t, b.orgA))
			require.Equal(t, 1, b.entryCount(t, b.orgB))
		})
	}
}

// gqRoleMutation is a mutation with valid arguments for the ids of gqSeedOrg.
type gqRoleMutation struct {
	field   string
	query   string
	vars    func(x gqOrgIDs) map[string]any
	subject func(x gqOrgIDs, data map[string]any) string
}

func gqRoleMutations() []gqRoleMutation {
	returned := func(path ...string) func(gqOrgIDs, map[string]any) string {
		return func(_ gqOrgIDs, data map[string]any) string {
			var v any = data["m"]
			for _, p := range path {
				v = v.(map[string]any)[p]
			}
			return v.(string)
		}
	}
	arg := func(f func(x gqOrgIDs) string) func(gqOrgIDs, map[string]any) string {
		return func(x gqOrgIDs, _ map[string]any) string { return f(x) }
	}
	return []gqRoleMutation{
		{"createLegalEntity", `mutation { m: createLegalEntity(input: {code: "R1", name: "Role entity", baseCurrency: "USD"}) { legalEntity { id } } }`,
			func(gqOrgIDs) map[string]any { return nil }, returned("legalEntity", "id")},
		{"updateLegalEntity", `mutation($id: ID!) { m: updateLegalEntity(input: {legalEntityId: $id, patch: {name: "Renamed"}}) { legalEntity { id } } }`,
			func(x gqOrgIDs) map[string]any { return map[string]any{"id": x.US} }, arg(func(x gqOrgIDs) string { return x.US })},
		{"createAccount", `mutation($e: ID!) { m: createAccount(input: {entityId: $e, code: "4900", name: "Other", type: REVENUE, subtype: OTHER_INCOME}) { account { id } } }`,
			func(x gqOrgIDs) map[string]any { return map[string]any{"e": x.US} }, returned("account", "id")},
		{"updateAccount", `mutation($id: ID!) { m: updateAccount(input: {accountId: $id, patch: {name: "General Expenses"}}) { account { id } } }`,
			func(x gqOrgIDs) map[string]any { return map[string]any{"id": x.Account6000} }, arg(func(x gqOrgIDs) string { return x.Account6000 })},
		{"createClass", `mutation($e: ID!) { m: createClass(input: {entityId: $e, name: "Role class"}) { class { id } } }`,
			func(x gqOrgIDs) map[string]any { return map[string]any{"e": x.US} }, returned("class", "id")},
		{"updateClass", `mutation($id: ID!) { m: updateClass(input: {classId: $id, patch: {name: "Consulting Services"}}) { class { id } } }`,
			func(x gqOrgIDs) map[string]any { return map[string]any{"id": x.Class} }, arg(func(x gqOrgIDs) string { return x.Class })},
		{"createCOAMapping", `mutation($e: ID!, $acct: ID!) { m: createCOAMapping(input: {entityId: $e, sourceSystem: PSA, sourceCode: "role_code", accountId: $acct}) { coaMapping { id } } }`,
			func(x gqOrgIDs) map[string]any { return map[string]any{"e": x.US, "acct": x.Account4000} }, returned("coaMapping", "id")},
		{"updateCOAMapping", `mutation($id: ID!, $acct: ID) { m: updateCOAMapping(input: {coaMappingId: $id, patch: {accountId: $acct}}) { coaMapping { id } } }`,
			func(x gqOrgIDs) map[string]any { return map[string]any{"id": x.Mapping, "acct": x.Account6000} }, arg(func(x gqOrgIDs) string { return x.Mapping })},
		{"deleteCOAMapping", `mutation($id: ID!) { m: deleteCOAMapping(input: {coaMappingId: $id}) { deletedCoaMappingId } }`,
			func(x gqOrgIDs) map[string]any { return map[string]any{"id": x.MappingAR} }, arg(func(x gqOrgIDs) string { return x.MappingAR })},
		{"postJournalEntry", `mutation($in: PostJournalEntryInput!) { m: postJournalEntry(input: $in) { entry { id } } }`,
			func(x gqOrgIDs) map[string]any {
				return map[string]any{"in": gqEntryInput(x.US, "2026-06-01", gqLine("1000", "5.00", ""), gqLine("4000", "", "5.00"))}
			}, returned("entry", "id")},
		{"reverseJournalEntry", `mutation($id: ID!) { m: reverseJournalEntry(input: {journalEntryId: $id, date: "2026-06-02"}) { reversal { id } } }`,
			func(x gqOrgIDs) map[string]any { return map[string]any{"id": x.Entry} }, returned("reversal", "id")},
		{"closePeriod", `mutation($e: ID) { m: closePeriod(input: {entityId: $e, name: "2026-05"}) { period { id } } }`,
			func(x gqOrgIDs) map[string]any { return map[string]any{"e": x.US} }, returned("period", "id")},
		{"reopenPeriod", `mutation($id: ID) { m: reopenPeriod(input: {periodId: $id}) { period { id } } }`,
			func(x gqOrgIDs) map[string]any { return map[string]any{"id": x.ClosedPeriod} }, arg(func(x gqOrgIDs) string { return x.ClosedPeriod })},
		{"createIntegrationKey", `mutation($e: [ID!]!) { m: createIntegrationKey(input: {name: "role key", entityIds: $e, sourceSystems: [PSA]}) { integrationKey { id } } }`,
			func(x gqOrgIDs) map[string]any { return map[string]any{"e": []string{x.US}} }, returned("integrationKey", "id")},
		{"revokeIntegrationKey", `mutation($id: ID!) { m: revokeIntegrationKey(input: {integrationKeyId: $id}) { integrationKey { id } } }`,
			func(x gqOrgIDs) map[string]any { return map[string]any{"id": x.Key} }, arg(func(x gqOrgIDs) string { return x.Key })},
	}
}

// TestRolesAndAudit runs every mutation with every staff role: each is allowed or refused
// with FORBIDDEN as the schema's @hasRole says, a refused one changes nothing, and every
// allowed one leaves exactly one audit event naming the mutation, the caller and the subject.
func TestRolesAndAudit(t *testing.T) {
	t.Parallel()
	all := []string{}
	for _, m := range gqRoleMutations() {
		all = append(all, m.field)
	}
	allowed := map[auth.Role][]string{
		auth.RoleAdmin: all,
		auth.RoleFinanceLead: {"createAccount", "updateAccount", "createClass", "updateClass", "createCOAMapping",
			"updateCOAMapping", "deleteCOAMapping", "postJournalEntry", "reverseJournalEntry", "closePeriod", "reopenPeriod"},
		auth.RoleAccountant: {"createClass", "updateClass", "postJournalEntry", "reverseJournalEntry"},
		auth.RoleViewer:     {},
	}
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, role := range []auth.Role{auth.RoleAdmin, auth.RoleFinanceLead, auth.RoleAccountant, auth.RoleViewer} {
				t.Run(string(role), func(t *testing.T) {
					t.Parallel()
					b := setup(t, d)
					x := b.gqSeedOrg(t, b.orgA)
					token := map[auth.Role]string{auth.RoleAdmin: b.orgA.Admin, auth.RoleFinanceLead: b.orgA.FinanceLead,
						auth.RoleAccountant: b.orgA.Accountant, auth.RoleViewer: b.orgA.Viewer}[role]
					subjectOfToken := "user-" + string(role) + "-" + b.orgA.ID
					type want struct{ action, subject string }
					var wanted []want
					for _, m := range gqRoleMutations() {
						before := b.gqSnapshot(t, b.orgA)
						r := b.gql(t, token, m.query, m.vars(x))
						if !slices.Contains(allowed[role], m.field) {
							require.Equal(t, []string{"FORBIDDEN"}, r.errorCodes(), "%s may not %s: %+v", role, m.field, r.Errors)
							require.Equal(t, before, b.gqSnapshot(t, b.orgA), "%s: a refused mutation changes nothing", m.field)
							continue
						}
						require.Empty(t, r.Errors, "%s may %s", role, m.field)
						var data map[string]any
						require.NoError(t, json.Unmarshal(r.Data, &data))
						wanted = append(wanted, want{gqAuditAction(m.field), m.subject(x, data)})
					}

					// The events are readable by any staff member, newest last.
					var out struct {
						AuditEvents gqConn[struct {
							Action, Actor, ActorType, Via, SubjectID, RequestID string
						}]
					}
					b.gqlOK(t, b.orgA.Viewer, `query($since: Time) { auditEvents(where: {atGT: $since}, orderBy: {field: AT}) { totalCount edges { node {
						action actor actorType via subjectId requestId } } } }`, map[string]any{"since": gqAuditSeedTime(t, b, x)}, &out)
					events := out.AuditEvents.nodes()
					require.Len(t, events, len(wanted), "one audit event per successful mutation, none for refused ones")
					for i, e := range events {
						require.Equal(t, wanted[i].action, e.Action)
						require.Equal(t, wanted[i].subject, e.SubjectID, e.Action)
						require.NotEmpty(t, e.SubjectID, e.Action)
						require.Equal(t, subjectOfToken, e.Actor)
						require.Equal(t, "USER", e.ActorType)
						require.Equal(t, "GRAPHQL", e.Via)
						require.True(t, strings.HasPrefix(e.RequestID, "req_"), "request id %q", e.RequestID)
					}
					// Filtering by action finds them too.
					if len(wanted) > 0 {
						var one struct{ AuditEvents struct{ TotalCount int } }
						b.gqlOK(t, b.orgA.Viewer, `query($a: String) { auditEvents(where: {action: $a, actor: "`+subjectOfToken+`"}) { totalCount } }`,
							map[string]any{"a": wanted[0].action}, &one)
						require.Equal(t, 1, one.AuditEvents.TotalCount)
					}

					// Every role may read.
					var read struct {
						Accounts     struct{ TotalCount int }
						TrialBalance struct{ Balanced bool }
					}
					b.gqlOK(t, token, `query($e: ID!) { accounts { totalCount } trialBalance(entityId: $e, asOf: "2099-12-31") { balanced } }`, map[string]any{"e": x.US}, &read)
					require.Positive(t, read.Accounts.TotalCount)
					require.True(t, read.TrialBalance.Balanced)
				})
			}
		})
	}
}

// gqAuditAction is the audit action a mutation records: its name, except for ledger
// postings, which the database records as journal_entry.post or journal_entry.reverse.
func gqAuditAction(field string) string {
	switch field {
	case "postJournalEntry":
		return "journal_entry.post"
	case "reverseJournalEntry":
		return "journal_entry.reverse"
	}
	return field
}

// gqAuditSeedTime returns when gqSeedOrg's audit event was written, to read the events after it.
func gqAuditSeedTime(t *testing.T, b *testBundle, x gqOrgIDs) string {
	t.Helper()
	ev, err := b.client.AuditEvent.Query().Where(auditevent.ID(x.Audit)).Only(orgCtx(b.orgA))
	require.NoError(t, err)
	return ev.At.UTC().Format(time.RFC3339Nano)
}

func TestAuditEventDetails(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.orgA
			us := a.Entities[0].ID
			accts := b.gqAccountIDs(t, a, 0)

			// The request id of the call is recorded.
			body, err := json.Marshal(map[string]any{
				"query":     `mutation($id: ID!) { updateAccount(input: {accountId: $id, patch: {name: "General Expenses"}}) { account { id } } }`,
				"variables": map[string]any{"id": accts["6000"]},
			})
			require.NoError(t, err)
			req, err := http.NewRequest(http.MethodPost, b.server.URL+"/graphql", bytes.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+a.FinanceLead)
			req.Header.Set("X-Request-Id", "audit-req-1")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)

			var out struct {
				AuditEvents gqConn[struct{ Action, SubjectID, Detail string }]
			}
			b.gqlOK(t, a.Viewer, `{ auditEvents(where: {requestId: "audit-req-1"}) { totalCount edges { node { action subjectId detail } } } }`, nil, &out)
			require.Equal(t, 1, out.AuditEvents.TotalCount)
			ev := out.AuditEvents.nodes()[0]
			require.Equal(t, "updateAccount", ev.Action)
			require.Equal(t, accts["6000"], ev.SubjectID)
			require.Contains(t, ev.Detail, "General Expenses", "the detail keeps the arguments, not pointers to them")

			// Two mutations in one operation are two events; when the second fails, the
			// first is rolled back with its event.
			b.gqlOK(t, a.Accountant, `mutation($e: ID!) {
				x: createClass(input: {entityId: $e, name: "One"}) { class { id } }
				y: createClass(input: {entityId: $e, name: "Two"}) { class { id } } }`, map[string]any{"e": us}, nil)
			before := b.gqSnapshot(t, a)
			r := b.gql(t, a.Accountant, `mutation($e: ID!) {
				x: createClass(input: {entityId: $e, name: "Three"}) { class { id } }
				y: createClass(input: {entityId: $e, name: "One"}) { class { id } } }`, map[string]any{"e": us})
			gqRequireCode(t, r, "CONFLICT")
			require.Equal(t, before, b.gqSnapshot(t, a))
			n, err := b.client.AuditEvent.Query().Where(auditevent.Action("createClass")).Count(orgCtx(a))
			require.NoError(t, err)
			require.Equal(t, 2, n)

			// Queries are not audited.
			b.gqlOK(t, a.Admin, `{ accounts { totalCount } }`, nil, nil)
			total, err := b.client.AuditEvent.Query().Count(orgCtx(a))
			require.NoError(t, err)
			require.Equal(t, 3, total)
			// Nor do B's events show up for A.
			b.gqlOK(t, b.orgB.Accountant, `mutation($e: ID!) { createClass(input: {entityId: $e, name: "B"}) { class { id } } }`, map[string]any{"e": b.orgB.Entities[0].ID}, nil)
			var count struct{ AuditEvents struct{ TotalCount int } }
			b.gqlOK(t, a.Viewer, `{ auditEvents { totalCount } }`, nil, &count)
			require.Equal(t, 3, count.AuditEvents.TotalCount)
		})
	}
}

func TestPortalToken(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			x := b.gqSeedOrg(t, b.orgA)
			portal, err := b.tokens.Mint("p1", b.orgA.ID, nil, "cus_x", time.Hour)
			require.NoError(t, err)
			// A portal token that also claims a staff role is still only a portal client.
			portalAdmin, err := b.tokens.Mint("p2", b.orgA.ID, []auth.Role{auth.RoleAdmin}, "cus_y", time.Hour)
			require.NoError(t, err)

			var org struct{ Organization struct{ ID, Name string } }
			b.gqlOK(t, portal, `{ organization { id name } }`, nil, &org)
			require.Equal(t, b.orgA.ID, org.Organization.ID)
			require.Equal(t, "Org A", org.Organization.Name)

			ledgerQueries := []struct {
				name  string
				query string
				vars  map[string]any
				code  string // FORBIDDEN when empty
			}{
				{"journalEntries", `{ journalEntries { totalCount edges { node { id total } } } }`, nil, ""},
				{"accounts", `{ accounts { totalCount } }`, nil, ""},
				{"legalEntities", `{ legalEntities { totalCount } }`, nil, ""},
				{"classes", `{ classes { totalCount } }`, nil, ""},
				{"coaMappings", `{ coaMappings { totalCount } }`, nil, ""},
				{"periods", `{ periods { totalCount } }`, nil, ""},
				{"auditEvents", `{ auditEvents { totalCount } }`, nil, ""},
				{"integrationKeys", `{ integrationKeys { totalCount } }`, nil, ""},
				// node and nodes are open to the portal for its invoices and payments; the data
				// layer shows it no journal entry, so the id resolves to nothing.
				{"node with an entry id", `query($id: ID!) { node(id: $id) { id ... on JournalEntry { total } } }`, map[string]any{"id": x.Entry}, "NOT_FOUND"},
				{"nodes", `query($id: ID!) { nodes(ids: [$id]) { id } }`, map[string]any{"id": x.Entry}, "NOT_FOUND"},
				{"trialBalance", `query($e: ID!) { trialBalance(entityId: $e, asOf: "2099-12-31") { totalDebit } }`, map[string]any{"e": x.US}, ""},
				{"accountBalance", `query($a: ID!) { accountBalance(accountId: $a, asOf: "2099-12-31") { balance } }`, map[string]any{"a": x.Account4000}, ""},
				{"the ledger through the organization", `{ organization { name legalEntities(first: 5) { totalCount edges { node { code
					journalEntries(first: 5) { edges { node { id total lines { debit } } } } accounts(first: 5) { edges { node { code } } } } } } } }`, nil, ""},
				{"mutation", `mutation($e: ID!) { createClass(input: {entityId: $e, name: "Portal"}) { class { id } } }`, map[string]any{"e": x.US}, ""},
			}
			for _, tok := range []struct{ name, token string }{{"portal", portal}, {"portal claiming admin", portalAdmin}} {
				for _, q := range ledgerQueries {
					t.Run(tok.name+" "+q.name, func(t *testing.T) {
						t.Parallel()
						before := b.gqSnapshot(t, b.orgA)
						status, raw := b.gqRaw(t, tok.token, q.query, q.vars)
						require.Equal(t, http.StatusOK, status)
						var r gqlResponse
						require.NoError(t, json.Unmarshal(raw, &r))
						code := q.code
						if code == "" {
							code = "FORBIDDEN"
						}
						gqRequireCode(t, r, code)
						for _, c := range r.errorCodes() {
							require.Equal(t, code, c)
						}
						// A refusal is an error at the refused field's path, never a silent null.
						for _, e := range r.Errors {
							require.NotEmpty(t, e.Path, "%+v", r.Errors)
						}
						if code == "FORBIDDEN" {
							// Every refused field here is non-null, so the null reaches data.
							require.Equal(t, "null", string(r.Data))
						}
						// No ledger value leaks into the response. A NOT_FOUND message quotes the
						// id the caller sent, so the data alone must not hold it.
						require.NotContains(t, string(r.Data), x.Entry)
						leaks := []string{"25.00", `"US"`, "4000", x.US}
						if code == "FORBIDDEN" {
							leaks = append(leaks, x.Entry)
						}
						for _, leak := range leaks {
							require.NotContains(t, string(raw), leak)
						}
						require.Equal(t, before, b.gqSnapshot(t, b.orgA))
					})
				}
			}
		})
	}
}

func TestBearerRequired(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			otherTokens, err := auth.NewTokens([]byte("another-secret-another-secret-another!"), "books")
			require.NoError(t, err)
			forged, err := otherTokens.Mint("intruder", b.orgA.ID, []auth.Role{auth.RoleAdmin}, "", time.Hour)
			require.NoError(t, err)
			otherIssuer, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret!"), "not-books")
			require.NoError(t, err)
			wrongIssuer, err := otherIssuer.Mint("intruder", b.orgA.ID, []auth.Role{auth.RoleAdmin}, "", time.Hour)
			require.NoError(t, err)
			expired, err := b.tokens.Mint("old", b.orgA.ID, []auth.Role{auth.RoleAdmin}, "", -time.Minute)
			require.NoError(t, err)
			for _, tt := range []struct{ name, header string }{
				{"missing", ""},
				{"empty bearer", "Bearer "},
				{"not bearer", "Basic dXNlcjpwYXNz"},
				{"garbage", "Bearer not-a-token"},
				{"other secret", "Bearer " + forged},
				{"other issuer", "Bearer " + wrongIssuer},
				{"expired", "Bearer " + expired},
				{"integration key as bearer", "Bearer " + b.orgA.Key},
			} {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					for _, q := range []string{`{ accounts { totalCount } }`, `mutation { deleteCOAMapping(input: {coaMappingId: "map_x"}) { deletedCoaMappingId } }`} {
						before := b.gqSnapshot(t, b.orgA)
						req, err := http.NewRequest(http.MethodPost, b.server.URL+"/graphql", strings.NewReader(fmt.Sprintf(`{"query": %q}`, q)))
						require.NoError(t, err)
						req.Header.Set("Content-Type", "application/json")
						if tt.header != "" {
							req.Header.Set("Authorization", tt.header)
						}
						resp, err := http.DefaultClient.Do(req)
						require.NoError(t, err)
						var r gqlResponse
						require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
						resp.Body.Close()
						require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
						require.Equal(t, []string{"UNAUTHENTICATED"}, r.errorCodes())
						require.Empty(t, r.Data)
						require.Equal(t, before, b.gqSnapshot(t, b.orgA))
					}
				})
			}
		})
	}
}
