package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/auditevent"
	"books/ent/class"
	"books/ent/coamapping"
	"books/ent/journalentry"
	"books/internal/dbtest"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
)

// ---------------------------------------------------------------------------------------
// Helpers shared by the GraphQL, tenancy and ops tests. All are prefixed gq to stay clear
// of the helpers of other test files in the package.

// gqConn is a decoded Relay connection.
type gqConn[T any] struct {
	TotalCount int `json:"totalCount"`
	PageInfo   struct {
		HasNextPage     bool    `json:"hasNextPage"`
		HasPreviousPage bool    `json:"hasPreviousPage"`
		StartCursor     *string `json:"startCursor"`
		EndCursor       *string `json:"endCursor"`
	} `json:"pageInfo"`
	Edges []struct {
		Cursor string `json:"cursor"`
		Node   T      `json:"node"`
	} `json:"edges"`
}

func (c gqConn[T]) nodes() []T {
	out := make([]T, len(c.Edges))
	for i, e := range c.Edges {
		out[i] = e.Node
	}
	return out
}

// gqLineOut and gqEntryOut decode the journal entry selection of gqEntryFields.
type gqLineOut struct {
	ID      string `json:"id"`
	LineNo  int    `json:"lineNo"`
	Debit   string `json:"debit"`
	Credit  string `json:"credit"`
	Account struct {
		ID   string `json:"id"`
		Code string `json:"code"`
	} `json:"account"`
	Class *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"class"`
}

type gqEntryOut struct {
	ID           string      `json:"id"`
	EntityID     string      `json:"entityId"`
	Date         string      `json:"date"`
	DocumentDate *string     `json:"documentDate"`
	Description  string      `json:"description"`
	Status       string      `json:"status"`
	Total        string      `json:"total"`
	Currency     string      `json:"currency"`
	SourceSystem string      `json:"sourceSystem"`
	SourceRef    string      `json:"sourceRef"`
	CreatedBy    string      `json:"createdBy"`
	CreatedVia   string      `json:"createdVia"`
	ReversalOfID *string     `json:"reversalOfId"`
	Lines        []gqLineOut `json:"lines"`
}

const gqEntryFields = `id entityId date documentDate description status total currency sourceSystem sourceRef
	createdBy createdVia reversalOfId
	lines { id lineNo debit credit account { id code } class { id name } }`

const gqPostMutation = `mutation($in: PostJournalEntryInput!) {
	postJournalEntry(input: $in) { created entry { ` + gqEntryFields + ` } }
}`

type gqPosted struct {
	Created bool       `json:"created"`
	Entry   gqEntryOut `json:"entry"`
}

// gqRequireCode requires r to have failed with code among its errors.
func gqRequireCode(t *testing.T, r gqlResponse, code string) {
	t.Helper()
	require.NotEmpty(t, r.Errors, "expected error %s; data: %s", code, r.Data)
	require.Contains(t, r.errorCodes(), code, "errors: %+v", r.Errors)
}

// gqAccountIDs returns the account ids of entity i of org by code.
func (b *testBundle) gqAccountIDs(t *testing.T, org testOrg, i int) map[string]string {
	t.Helper()
	accts, err := b.client.Account.Query().Where(account.EntityID(org.Entities[i].ID)).All(orgCtx(org))
	require.NoError(t, err)
	out := map[string]string{}
	for _, a := range accts {
		out[a.Code] = a.ID
	}
	return out
}

// gqClassID returns the id of the class named name of entity i of org.
func (b *testBundle) gqClassID(t *testing.T, org testOrg, i int, name string) string {
	t.Helper()
	cl, err := b.client.Class.Query().Where(class.EntityID(org.Entities[i].ID), class.Name(name)).Only(orgCtx(org))
	require.NoError(t, err)
	return cl.ID
}

// gqMappingID returns the id of the COA mapping of entity i of org for sys and code.
func (b *testBundle) gqMappingID(t *testing.T, org testOrg, i int, sys source.System, code string) string {
	t.Helper()
	m, err := b.client.COAMapping.Query().Where(coamapping.EntityID(org.Entities[i].ID),
		coamapping.SourceSystemEQ(sys), coamapping.SourceCode(code)).Only(orgCtx(org))
	require.NoError(t, err)
	return m.ID
}

// gqLine is a PostJournalEntryInput line naming its account by code.
func gqLine(code, debit, credit string) map[string]any {
	l := map[string]any{"accountCode": code}
	if debit != "" {
		l["debit"] = debit
	}
	if credit != "" {
		l["credit"] = credit
	}
	return l
}

// gqEntryInput is a PostJournalEntryInput.
func gqEntryInput(entityID, date string, lines ...map[string]any) map[string]any {
	return map[string]any{"entityId": entityID, "date": date, "description": "test entry", "lines": lines}
}

// gqPost posts an entry through GraphQL; it must succeed.
func (b *testBundle) gqPost(t *testing.T, token string, in map[string]any) gqPosted {
	t.Helper()
	var out struct {
		PostJournalEntry gqPosted `json:"postJournalEntry"`
	}
	b.gqlOK(t, token, gqPostMutation, map[string]any{"in": in}, &out)
	return out.PostJournalEntry
}

// gqSeedEntry posts a balanced entry straight through the ledger (no GraphQL, no audit):
// amount debited to 1250 with class Consulting and credited to revenue.
func (b *testBundle) gqSeedEntry(t *testing.T, org testOrg, i int, date, ref, amount, revenue string) string {
	t.Helper()
	a := money.MustParse(amount)
	res, err := ledger.Post(orgCtx(org), b.client, ledger.Entry{
		EntityID: org.Entities[i].ID, Date: mustDate(date), Description: "seed " + ref,
		Source: source.Books, SourceRef: ref, CreatedBy: "seed", CreatedVia: "test",
		Lines: []ledger.Line{
			{AccountCode: "1250", Debit: a, ClassName: "Consulting"},
			{AccountCode: revenue, Credit: a},
		},
	})
	require.NoError(t, err)
	require.True(t, res.Created)
	return res.Entry.ID
}

type gqTB struct {
	Entity      struct{ Code string } `json:"entity"`
	AsOf        string                `json:"asOf"`
	Currency    string                `json:"currency"`
	TotalDebit  string                `json:"totalDebit"`
	TotalCredit string                `json:"totalCredit"`
	Balanced    bool                  `json:"balanced"`
	Rows        []struct {
		Account struct{ Code string } `json:"account"`
		Debit   string                `json:"debit"`
		Credit  string                `json:"credit"`
		Balance string                `json:"balance"`
	} `json:"rows"`
}

const gqTBQuery = `query($e: ID!, $d: Date!) { trialBalance(entityId: $e, asOf: $d) {
	entity { code } asOf currency totalDebit totalCredit balanced
	rows { account { code } debit credit balance } } }`

// gqTrialBalance reads the trial balance through GraphQL.
func (b *testBundle) gqTrialBalance(t *testing.T, token, entityID, asOf string) gqTB {
	t.Helper()
	var out struct {
		TrialBalance gqTB `json:"trialBalance"`
	}
	b.gqlOK(t, token, gqTBQuery, map[string]any{"e": entityID, "d": asOf}, &out)
	return out.TrialBalance
}

// gqNonZero returns the non-zero balances of a trial balance by account code.
func gqNonZero(tb gqTB) map[string]string {
	out := map[string]string{}
	for _, r := range tb.Rows {
		if money.MustParse(r.Balance).IsZero() {
			continue
		}
		out[r.Account.Code] = r.Balance
	}
	return out
}

// gqRaw posts a GraphQL operation and returns the status and the raw body.
func (b *testBundle) gqRaw(t *testing.T, token, query string, vars map[string]any) (int, []byte) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, b.server.URL+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, data
}

// gqSnapshot renders everything org has in the database, so a test can show an operation
// changed nothing.
func (b *testBundle) gqSnapshot(t *testing.T, org testOrg) string {
	t.Helper()
	ctx := orgCtx(org)
	var out []string
	add := func(kind string, rows []string) {
		sort.Strings(rows)
		out = append(out, fmt.Sprintf("%s(%d): %s", kind, len(rows), strings.Join(rows, "; ")))
	}
	var rows []string
	les, err := b.client.LegalEntity.Query().All(ctx)
	require.NoError(t, err)
	for _, le := range les {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s|%s|%d", le.ID, le.Code, le.Name, le.BaseCurrency, le.TimeZone, le.FiscalYearStartMonth))
	}
	add("entities", rows)
	rows = nil
	accts, err := b.client.Account.Query().All(ctx)
	require.NoError(t, err)
	for _, a := range accts {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%v", a.ID, a.EntityID, a.Code, a.Name, a.Type, a.Subtype, a.Active))
	}
	add("accounts", rows)
	rows = nil
	classes, err := b.client.Class.Query().All(ctx)
	require.NoError(t, err)
	for _, c := range classes {
		parent := ""
		if c.ParentID != nil {
			parent = *c.ParentID
		}
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s|%v", c.ID, c.EntityID, c.Name, parent, c.Active))
	}
	add("classes", rows)
	rows = nil
	maps, err := b.client.COAMapping.Query().All(ctx)
	require.NoError(t, err)
	for _, m := range maps {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s|%s", m.ID, m.EntityID, m.SourceSystem, m.SourceCode, m.AccountID))
	}
	add("mappings", rows)
	rows = nil
	periods, err := b.client.AccountingPeriod.Query().All(ctx)
	require.NoError(t, err)
	for _, p := range periods {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s", p.ID, p.EntityID, p.Name, p.Status))
	}
	add("periods", rows)
	rows = nil
	entries, err := b.client.JournalEntry.Query().All(ctx)
	require.NoError(t, err)
	for _, e := range entries {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s|%s", e.ID, e.EntityID, e.Date, e.Status, e.Total))
	}
	add("entries", rows)
	rows = nil
	lines, err := b.client.JournalLine.Query().All(ctx)
	require.NoError(t, err)
	for _, l := range lines {
		rows = append(rows, fmt.Sprintf("%s|%s|%s|%s|%s", l.ID, l.EntryID, l.AccountID, l.Debit, l.Credit))
	}
	add("lines", rows)
	rows = nil
	keys, err := b.client.IntegrationKey.Query().All(ctx)
	require.NoError(t, err)
	for _, k := range keys {
		rows = append(rows, fmt.Sprintf("%s|%s|%v", k.ID, k.Name, k.RevokedAt != nil))
	}
	add("keys", rows)
	rows = nil
	events, err := b.client.AuditEvent.Query().All(ctx)
	require.NoError(t, err)
	for _, e := range events {
		rows = append(rows, fmt.Sprintf("%s|%s|%s", e.ID, e.Action, e.SubjectID))
	}
	add("audit", rows)
	for _, le := range les {
		tb, err := ledger.GetTrialBalance(ctx, b.client, le.ID, mustDate("2099-12-31"))
		require.NoError(t, err)
		out = append(out, fmt.Sprintf("tb %s: %s/%s", le.Code, tb.TotalDebit, tb.TotalCredit))
	}
	return strings.Join(out, "\n")
}

// ---------------------------------------------------------------------------------------

func TestGraphQLConnections(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.orgA
			us, uk := a.Entities[0].ID, a.Entities[1].ID
			usAccts := b.gqAccountIDs(t, a, 0)
			b.gqSeedEntry(t, a, 0, "2026-09-15", "s1", "100.00", "4000")
			b.gqSeedEntry(t, a, 0, "2026-10-15", "s2", "200.00", "4100")
			b.gqSeedEntry(t, a, 0, "2026-11-15", "s3", "300.00", "4000")
			b.gqSeedEntry(t, a, 1, "2026-10-20", "s4", "400.00", "4000")
			ctx := orgCtx(a)
			jan, err := ledger.FindPeriod(ctx, b.client, us, "2026-01")
			require.NoError(t, err)
			_, err = ledger.ClosePeriod(ctx, b.client, jan.ID, "seed")
			require.NoError(t, err)
			_, err = ledger.FindPeriod(ctx, b.client, us, "2026-02")
			require.NoError(t, err)
			_, err = ledger.FindPeriod(ctx, b.client, uk, "2026-01")
			require.NoError(t, err)
			consulting := b.gqClassID(t, a, 0, "Consulting")
			_, err = ledger.CreateClass(ctx, b.client, ent.CreateClassInput{EntityID: us, Name: "Cloud", ParentID: &consulting})
			require.NoError(t, err)
			// Something of org B that no connection of A may show.
			b.gqSeedEntry(t, b.orgB, 0, "2026-10-15", "b1", "999.00", "4000")

			psaCodes := make([]string, 0, len(ledger.DefaultMappings))
			for code := range ledger.DefaultMappings {
				psaCodes = append(psaCodes, code)
			}
			sort.Strings(psaCodes)

			type node = map[string]any
			tests := []struct {
				name  string
				query string
				vars  map[string]any
				check func(t *testing.T, c gqConn[node])
			}{
				{
					name:  "legal entities ordered by code descending",
					query: `{ c: legalEntities(orderBy: {field: CODE, direction: DESC}) { totalCount edges { node { id code baseCurrency } } } }`,
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 2, c.TotalCount)
						require.Equal(t, []any{"US", "UK"}, gqPluck(c, "code"))
						require.Equal(t, []any{"USD", "GBP"}, gqPluck(c, "baseCurrency"))
					},
				},
				{
					name:  "legal entities where code",
					query: `query($w: LegalEntityWhereInput) { c: legalEntities(where: $w) { totalCount edges { node { id code } } } }`,
					vars:  map[string]any{"w": map[string]any{"code": "UK"}},
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 1, c.TotalCount)
						require.Equal(t, []any{uk}, gqPluck(c, "id"))
					},
				},
				{
					name: "revenue accounts of one entity by code descending",
					query: `query($w: AccountWhereInput) { c: accounts(where: $w, orderBy: {field: CODE, direction: DESC}) {
						totalCount edges { node { code type subtype entityId active } } } }`,
					vars: map[string]any{"w": map[string]any{"entityId": us, "type": "REVENUE"}},
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 3, c.TotalCount)
						require.Equal(t, []any{"4200", "4100", "4000"}, gqPluck(c, "code"))
						for _, n := range c.nodes() {
							require.Equal(t, "REVENUE", n["type"])
							require.Equal(t, us, n["entityId"])
						}
					},
				},
				{
					name:  "accounts with or across entities",
					query: `query($w: AccountWhereInput) { c: accounts(where: $w) { totalCount edges { node { code entityId } } } }`,
					vars:  map[string]any{"w": map[string]any{"or": []any{map[string]any{"code": "1000"}, map[string]any{"code": "6200"}}}},
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 4, c.TotalCount)
						codes := gqPluck(c, "code")
						require.ElementsMatch(t, []any{"1000", "1000", "6200", "6200"}, codes)
					},
				},
				{
					name: "last two accounts by code",
					query: `query($w: AccountWhereInput) { c: accounts(last: 2, where: $w, orderBy: {field: CODE}) {
						totalCount pageInfo { hasNextPage hasPreviousPage } edges { node { code } } } }`,
					vars: map[string]any{"w": map[string]any{"entityId": us}},
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 16, c.TotalCount)
						require.Equal(t, []any{"6100", "6200"}, gqPluck(c, "code"))
						require.True(t, c.PageInfo.HasPreviousPage)
					},
				},
				{
					name: "classes with a parent",
					query: `{ c: classes(where: {hasParent: true}) { totalCount edges { node {
						name parentId parent { id name } } } } }`,
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 1, c.TotalCount)
						n := c.nodes()[0]
						require.Equal(t, "Cloud", n["name"])
						require.Equal(t, consulting, n["parentId"])
						require.Equal(t, "Consulting", n["parent"].(map[string]any)["name"])
					},
				},
				{
					name:  "classes of one entity by name",
					query: `query($e: ID) { c: classes(where: {entityId: $e}, orderBy: {field: NAME, direction: ASC}) { totalCount edges { node { name } } } }`,
					vars:  map[string]any{"e": us},
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 2, c.TotalCount)
						require.Equal(t, []any{"Cloud", "Consulting"}, gqPluck(c, "name"))
					},
				},
				{
					name: "coa mappings of one source system by source code",
					query: `query($e: ID) { c: coaMappings(first: 3, where: {entityId: $e, sourceSystem: PSA}, orderBy: {field: SOURCE_CODE}) {
						totalCount pageInfo { hasNextPage } edges { node { sourceCode sourceSystem } } } }`,
					vars: map[string]any{"e": us},
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, len(ledger.DefaultMappings), c.TotalCount)
						require.Equal(t, []any{psaCodes[0], psaCodes[1], psaCodes[2]}, gqPluck(c, "sourceCode"))
						require.True(t, c.PageInfo.HasNextPage)
					},
				},
				{
					name: "coa mapping resolves its account",
					query: `query($e: ID) { c: coaMappings(where: {entityId: $e, sourceSystem: STRIPE, sourceCode: "processing_fees"}) {
						totalCount edges { node { accountId account { code } } } } }`,
					vars: map[string]any{"e": us},
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 1, c.TotalCount)
						n := c.nodes()[0]
						require.Equal(t, usAccts["6200"], n["accountId"])
						require.Equal(t, "6200", n["account"].(map[string]any)["code"])
					},
				},
				{
					// The default page (100 entries, each with its lines) is over the complexity limit.
					name: "journal entries with lines by date descending",
					query: `query($e: ID) { c: journalEntries(first: 10, where: {entityId: $e}, orderBy: {field: DATE, direction: DESC}) {
						totalCount edges { node { date sourceRef total entity { code }
						lines { lineNo debit credit account { code } class { name } } } } } }`,
					vars: map[string]any{"e": us},
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 3, c.TotalCount)
						require.Equal(t, []any{"2026-11-15", "2026-10-15", "2026-09-15"}, gqPluck(c, "date"))
						first := c.nodes()[0]
						require.Equal(t, "300.00", first["total"])
						require.Equal(t, "US", first["entity"].(map[string]any)["code"])
						lines := first["lines"].([]any)
						require.Len(t, lines, 2)
						l1, l2 := lines[0].(map[string]any), lines[1].(map[string]any)
						require.Equal(t, "1250", l1["account"].(map[string]any)["code"])
						require.Equal(t, "300.00", l1["debit"])
						require.Equal(t, "0.00", l1["credit"])
						require.Equal(t, "Consulting", l1["class"].(map[string]any)["name"])
						require.Equal(t, "4000", l2["account"].(map[string]any)["code"])
						require.Equal(t, "300.00", l2["credit"])
						require.Nil(t, l2["class"])
					},
				},
				{
					name:  "journal entries in a date range",
					query: `query($w: JournalEntryWhereInput) { c: journalEntries(where: $w) { totalCount edges { node { sourceRef date } } } }`,
					vars:  map[string]any{"w": map[string]any{"entityId": us, "dateGTE": "2026-10-01", "dateLTE": "2026-10-31"}},
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 1, c.TotalCount)
						require.Equal(t, []any{"s2"}, gqPluck(c, "sourceRef"))
					},
				},
				{
					name:  "journal entries by a line's account",
					query: `query($w: JournalEntryWhereInput) { c: journalEntries(where: $w) { totalCount edges { node { sourceRef } } } }`,
					vars:  map[string]any{"w": map[string]any{"hasLinesWith": []any{map[string]any{"accountId": usAccts["4100"]}}}},
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 1, c.TotalCount)
						require.Equal(t, []any{"s2"}, gqPluck(c, "sourceRef"))
					},
				},
				{
					name:  "journal entries of the organization only",
					query: `{ c: journalEntries(orderBy: {field: DATE}) { totalCount edges { node { sourceRef } } } }`,
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 4, c.TotalCount)
						require.Equal(t, []any{"s1", "s2", "s4", "s3"}, gqPluck(c, "sourceRef"))
					},
				},
				{
					name:  "closed periods",
					query: `query($e: ID) { c: periods(where: {entityId: $e, status: CLOSED}) { totalCount edges { node { name status startDate endDate closedBy } } } }`,
					vars:  map[string]any{"e": us},
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 1, c.TotalCount)
						n := c.nodes()[0]
						require.Equal(t, "2026-01", n["name"])
						require.Equal(t, "2026-01-01", n["startDate"])
						require.Equal(t, "2026-01-31", n["endDate"])
						require.Equal(t, "seed", n["closedBy"])
					},
				},
				{
					name:  "periods by start date descending",
					query: `query($e: ID) { c: periods(where: {entityId: $e}, orderBy: {field: START_DATE, direction: DESC}) { totalCount edges { node { name status } } } }`,
					vars:  map[string]any{"e": us},
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 2, c.TotalCount)
						require.Equal(t, []any{"2026-02", "2026-01"}, gqPluck(c, "name"))
						require.Equal(t, []any{"OPEN", "CLOSED"}, gqPluck(c, "status"))
					},
				},
				{
					name: "nested connection of an entity",
					query: `query($w: LegalEntityWhereInput) { c: legalEntities(first: 10, where: $w) { totalCount edges { node {
						accounts(where: {type: EXPENSE}) { totalCount } journalEntries { totalCount } } } } }`,
					vars: map[string]any{"w": map[string]any{"id": us}},
					check: func(t *testing.T, c gqConn[node]) {
						require.Equal(t, 1, c.TotalCount)
						n := c.nodes()[0]
						require.EqualValues(t, 4, n["accounts"].(map[string]any)["totalCount"])
						require.EqualValues(t, 3, n["journalEntries"].(map[string]any)["totalCount"])
					},
				},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					var out struct{ C gqConn[node] }
					b.gqlOK(t, a.Viewer, tt.query, tt.vars, &out)
					tt.check(t, out.C)
				})
			}

			t.Run("forward pagination visits every account once", func(t *testing.T) {
				t.Parallel()
				const q = `query($after: Cursor, $e: ID) { accounts(first: 5, after: $after, where: {entityId: $e}, orderBy: {field: CODE}) {
					totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { code } } } }`
				var codes []string
				var after any
				pages := 0
				for {
					var out struct{ Accounts gqConn[struct{ Code string }] }
					b.gqlOK(t, a.Viewer, q, map[string]any{"after": after, "e": us}, &out)
					c := out.Accounts
					require.Equal(t, 16, c.TotalCount, "totalCount counts all matches on every page")
					pages++
					for _, n := range c.nodes() {
						codes = append(codes, n.Code)
					}
					if len(c.Edges) > 0 {
						require.Equal(t, c.Edges[len(c.Edges)-1].Cursor, *c.PageInfo.EndCursor)
						require.Equal(t, c.Edges[0].Cursor, *c.PageInfo.StartCursor)
					}
					if !c.PageInfo.HasNextPage {
						require.Len(t, c.Edges, 1)
						break
					}
					require.Len(t, c.Edges, 5)
					after = *c.PageInfo.EndCursor
					require.Less(t, pages, 10, "pagination does not end")
				}
				require.Equal(t, 4, pages)
				var want []string
				for _, acct := range ledger.DefaultChart {
					want = append(want, acct.Code)
				}
				sort.Strings(want)
				require.Equal(t, want, codes)
			})

			t.Run("backward pagination with before and last", func(t *testing.T) {
				t.Parallel()
				const q = `query($before: Cursor, $e: ID) { journalEntries(last: 2, before: $before, where: {entityId: $e}, orderBy: {field: CREATED_AT}) {
					totalCount pageInfo { hasPreviousPage startCursor } edges { node { sourceRef } } } }`
				var out struct {
					JournalEntries gqConn[struct{ SourceRef string }]
				}
				b.gqlOK(t, a.Viewer, q, map[string]any{"e": us}, &out)
				c := out.JournalEntries
				require.Equal(t, 3, c.TotalCount)
				require.Equal(t, []string{"s2", "s3"}, []string{c.Edges[0].Node.SourceRef, c.Edges[1].Node.SourceRef})
				require.True(t, c.PageInfo.HasPreviousPage)
				var prev struct {
					JournalEntries gqConn[struct{ SourceRef string }]
				}
				b.gqlOK(t, a.Viewer, q, map[string]any{"e": us, "before": *c.PageInfo.StartCursor}, &prev)
				require.Len(t, prev.JournalEntries.Edges, 1)
				require.Equal(t, "s1", prev.JournalEntries.Edges[0].Node.SourceRef)
				require.False(t, prev.JournalEntries.PageInfo.HasPreviousPage)
				require.Equal(t, 3, prev.JournalEntries.TotalCount)
			})

			// Cursors of connections ordered by a Date field carry the date. caldate.Date has
			// no text or binary encoding, so the cursor holds {} and the next page fails with
			// INTERNAL; the test skips while that bug (in internal/caldate) is present.
			for _, o := range []struct{ conn, field, where string }{
				{"journalEntries", "DATE", `{entityId: $e}`},
				{"periods", "START_DATE", `{entityId: $e}`},
				// Times on SQLite: stored text must compare equal to a cursor's time.
				{"accounts", "CREATED_AT", `{entityId: $e}`},
				{"journalEntries", "CREATED_AT", `{entityId: $e}`},
			} {
				t.Run("after a cursor ordered by "+o.field, func(t *testing.T) {
					t.Parallel()
					q := fmt.Sprintf(`query($after: Cursor, $e: ID) { c: %s(first: 1, after: $after, where: %s, orderBy: {field: %s, direction: DESC}) {
						totalCount pageInfo { endCursor hasNextPage } edges { node { id } } } }`, o.conn, o.where, o.field)
					var seen []string
					var after any
					for range 50 {
						r := b.gql(t, a.Viewer, q, map[string]any{"e": us, "after": after})
						require.Empty(t, r.Errors)
						var out struct{ C gqConn[struct{ ID string }] }
						require.NoError(t, json.Unmarshal(r.Data, &out))
						for _, n := range out.C.nodes() {
							seen = append(seen, n.ID)
						}
						if !out.C.PageInfo.HasNextPage {
							break
						}
						after = *out.C.PageInfo.EndCursor
					}
					var all struct{ C gqConn[struct{ ID string }] }
					b.gqlOK(t, a.Viewer, fmt.Sprintf(`query($e: ID) { c: %s(where: %s, orderBy: {field: %s, direction: DESC}) { edges { node { id } } } }`, o.conn, o.where, o.field), map[string]any{"e": us}, &all)
					var want []string
					for _, n := range all.C.nodes() {
						want = append(want, n.ID)
					}
					require.Equal(t, want, seen)
				})
			}

			t.Run("a cursor that is not one is refused", func(t *testing.T) {
				t.Parallel()
				r := b.gql(t, a.Viewer, `{ accounts(first: 2, after: "not-a-cursor") { totalCount } }`, nil)
				gqRequireCode(t, r, "VALIDATION")
			})
		})
	}
}

// gqPluck returns field of every node of c.
func gqPluck(c gqConn[map[string]any], field string) []any {
	out := make([]any, 0, len(c.Edges))
	for _, n := range c.nodes() {
		out = append(out, n[field])
	}
	return out
}

func TestGraphQLNode(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.orgA
			ctx := orgCtx(a)
			us := a.Entities[0].ID
			entryID := b.gqSeedEntry(t, a, 0, "2026-05-05", "n1", "10.00", "4000")
			entry, err := b.client.JournalEntry.Query().Where(journalentry.ID(entryID)).WithLines().Only(ctx)
			require.NoError(t, err)
			period, err := ledger.FindPeriod(ctx, b.client, us, "2026-05")
			require.NoError(t, err)
			key, err := b.client.IntegrationKey.Query().Only(ctx)
			require.NoError(t, err)
			// A mutation makes an audit event to look up.
			b.gqlOK(t, a.Admin, `mutation($id: ID!) { updateLegalEntity(input: {legalEntityId: $id, patch: {name: "Renamed"}}) { legalEntity { id } } }`, map[string]any{"id": us}, nil)
			event, err := b.client.AuditEvent.Query().Where(auditevent.Action("updateLegalEntity")).Only(ctx)
			require.NoError(t, err)

			objects := []struct {
				typename, id, field, want string
			}{
				{"Organization", a.ID, "name", "Org A"},
				{"LegalEntity", us, "code", "US"},
				{"Account", b.gqAccountIDs(t, a, 0)["4000"], "code", "4000"},
				{"Class", b.gqClassID(t, a, 0, "Consulting"), "name", "Consulting"},
				{"COAMapping", b.gqMappingID(t, a, 0, source.PSA, "revenue"), "sourceCode", "revenue"},
				{"AccountingPeriod", period.ID, "name", "2026-05"},
				{"JournalEntry", entryID, "sourceRef", "n1"},
				{"JournalLine", entry.Edges.Lines[0].ID, "debit", "10.00"},
				{"IntegrationKey", key.ID, "name", "test key"},
				{"AuditEvent", event.ID, "action", "updateLegalEntity"},
			}
			fragments := `... on Organization { name } ... on LegalEntity { code } ... on Account { code }
				... on Class { name } ... on COAMapping { sourceCode } ... on AccountingPeriod { name }
				... on JournalEntry { sourceRef } ... on JournalLine { debit } ... on IntegrationKey { name }
				... on AuditEvent { action }`
			for _, o := range objects {
				t.Run("node "+o.typename, func(t *testing.T) {
					t.Parallel()
					var out struct{ Node map[string]any }
					b.gqlOK(t, a.Viewer, `query($id: ID!) { node(id: $id) { __typename id `+fragments+` } }`, map[string]any{"id": o.id}, &out)
					require.NotNil(t, out.Node)
					require.Equal(t, o.typename, out.Node["__typename"])
					require.Equal(t, o.id, out.Node["id"])
					require.Equal(t, o.want, out.Node[o.field])
				})
			}

			t.Run("nodes keeps the order of ids", func(t *testing.T) {
				t.Parallel()
				var idList []string
				for i := len(objects) - 1; i >= 0; i-- {
					idList = append(idList, objects[i].id)
				}
				var out struct{ Nodes []map[string]any }
				b.gqlOK(t, a.Viewer, `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`, map[string]any{"ids": idList}, &out)
				require.Len(t, out.Nodes, len(idList))
				for i, n := range out.Nodes {
					require.Equal(t, idList[i], n["id"])
					require.Equal(t, objects[len(objects)-1-i].typename, n["__typename"])
				}
			})

			for _, id := range []string{
				"je_01zzzzzzzzzzzzzzzzzzzzzzzz", // a known type, no such row
				"acct_missing",
				"nope",             // no prefix
				"xyz_01jd8xabcdef", // unknown prefix
				"",
			} {
				t.Run("unknown id "+id, func(t *testing.T) {
					t.Parallel()
					r := b.gql(t, a.Viewer, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
					gqRequireCode(t, r, "NOT_FOUND")
					require.JSONEq(t, `{"node": null}`, string(r.Data))
				})
			}

			t.Run("nodes with an unknown id", func(t *testing.T) {
				t.Parallel()
				r := b.gql(t, a.Viewer, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
					map[string]any{"ids": []string{us, "je_01zzzzzzzzzzzzzzzzzzzzzzzz", "bogus"}})
				require.JSONEq(t, fmt.Sprintf(`{"nodes": [{"id": %q}, null, null]}`, us), string(r.Data))
				require.Len(t, r.Errors, 2)
				require.Equal(t, []string{"NOT_FOUND", "NOT_FOUND"}, r.errorCodes())
			})
		})
	}
}

func TestGraphQLLegalEntityMutations(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.orgA
			const create = `mutation($in: CreateLegalEntityInput!) { createLegalEntity(input: $in) { legalEntity {
				id code name baseCurrency timeZone fiscalYearStartMonth
				accounts { totalCount } coaMappings { totalCount } } } }`
			var out struct {
				CreateLegalEntity struct {
					LegalEntity struct {
						ID, Code, Name, BaseCurrency, TimeZone string
						FiscalYearStartMonth                   int
						Accounts, CoaMappings                  struct{ TotalCount int }
					}
				}
			}
			b.gqlOK(t, a.Admin, create, map[string]any{"in": map[string]any{
				"code": "CA", "name": "Org A Canada", "baseCurrency": "CAD", "timeZone": "America/Toronto", "fiscalYearStartMonth": 4,
			}}, &out)
			ca := out.CreateLegalEntity.LegalEntity
			require.Equal(t, "CA", ca.Code)
			require.Equal(t, "CAD", ca.BaseCurrency)
			require.Equal(t, "America/Toronto", ca.TimeZone)
			require.Equal(t, 4, ca.FiscalYearStartMonth)
			require.Equal(t, len(ledger.DefaultChart), ca.Accounts.TotalCount, "a new entity gets the default chart")
			require.Equal(t, len(ledger.DefaultMappings)*len(source.All()), ca.CoaMappings.TotalCount)

			// The new entity can be posted to at once, in its own currency.
			posted := b.gqPost(t, a.Accountant, gqEntryInput(ca.ID, "2026-06-01", gqLine("1000", "5.00", ""), gqLine("4000", "", "5.00")))
			require.Equal(t, "CAD", posted.Entry.Currency)

			t.Run("duplicate code is a conflict", func(t *testing.T) {
				t.Parallel()
				for _, code := range []string{"CA", "US"} {
					r := b.gql(t, a.Admin, create, map[string]any{"in": map[string]any{"code": code, "name": "Again", "baseCurrency": "USD"}})
					gqRequireCode(t, r, "CONFLICT")
				}
				var cnt struct{ LegalEntities struct{ TotalCount int } }
				b.gqlOK(t, a.Viewer, `{ legalEntities { totalCount } }`, nil, &cnt)
				require.Equal(t, 3, cnt.LegalEntities.TotalCount)
			})

			t.Run("the same code in another organization is fine", func(t *testing.T) {
				t.Parallel()
				r := b.gql(t, b.orgB.Admin, create, map[string]any{"in": map[string]any{"code": "CA", "name": "Org B Canada", "baseCurrency": "CAD"}})
				require.Empty(t, r.Errors)
			})

			t.Run("unknown currency is a validation error", func(t *testing.T) {
				t.Parallel()
				r := b.gql(t, a.Admin, create, map[string]any{"in": map[string]any{"code": "XX", "name": "Nowhere", "baseCurrency": "ZZ"}})
				gqRequireCode(t, r, "VALIDATION")
				require.NotContains(t, b.gqSnapshot(t, a), "Nowhere")
			})

			t.Run("update", func(t *testing.T) {
				t.Parallel()
				const update = `mutation($id: ID!, $in: LegalEntityPatch!) { updateLegalEntity(input: {legalEntityId: $id, patch: $in}) { legalEntity { id code name timeZone } } }`
				var up struct {
					UpdateLegalEntity struct {
						LegalEntity struct{ ID, Code, Name, TimeZone string }
					}
				}
				b.gqlOK(t, a.Admin, update, map[string]any{"id": a.Entities[0].ID, "in": map[string]any{"name": "Org A United States", "timeZone": "America/New_York"}}, &up)
				require.Equal(t, "Org A United States", up.UpdateLegalEntity.LegalEntity.Name)
				require.Equal(t, "US", up.UpdateLegalEntity.LegalEntity.Code)
				var got struct {
					Node struct{ Name, TimeZone string }
				}
				b.gqlOK(t, a.Viewer, `query($id: ID!) { node(id: $id) { ... on LegalEntity { name timeZone } } }`, map[string]any{"id": a.Entities[0].ID}, &got)
				require.Equal(t, "Org A United States", got.Node.Name)
				require.Equal(t, "America/New_York", got.Node.TimeZone)

				r := b.gql(t, a.Admin, update, map[string]any{"id": a.Entities[1].ID, "in": map[string]any{"code": "US"}})
				gqRequireCode(t, r, "CONFLICT")
				r = b.gql(t, a.Admin, update, map[string]any{"id": "le_01zzzzzzzzzzzzzzzzzzzzzzzz", "in": map[string]any{"name": "x"}})
				gqRequireCode(t, r, "NOT_FOUND")
				le, err := b.client.LegalEntity.Get(orgCtx(a), a.Entities[1].ID)
				require.NoError(t, err)
				require.Equal(t, "UK", le.Code)
			})
		})
	}
}

func TestGraphQLAccountMutations(t *testing.T) {
	t.Parallel()
	const create = `mutation($in: CreateAccountInput!) { createAccount(input: $in) { account { id code name type subtype active entityId } } }`
	const update = `mutation($id: ID!, $in: AccountPatch!) { updateAccount(input: {accountId: $id, patch: $in}) { account { id code name type subtype active } } }`
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()

			t.Run("create", func(t *testing.T) {
				t.Parallel()
				b := setup(t, d)
				a := b.orgA
				us, uk := a.Entities[0].ID, a.Entities[1].ID
				var out struct {
					CreateAccount struct {
						Account struct {
							ID, Code, Name, Type, Subtype, EntityID string
							Active                                  bool
						}
					}
				}
				b.gqlOK(t, a.FinanceLead, create, map[string]any{"in": map[string]any{
					"entityId": us, "code": "4300", "name": "Training Revenue", "type": "REVENUE", "subtype": "INCOME",
				}}, &out)
				require.Equal(t, "4300", out.CreateAccount.Account.Code)
				require.Equal(t, "REVENUE", out.CreateAccount.Account.Type)
				require.Equal(t, "INCOME", out.CreateAccount.Account.Subtype)
				require.Equal(t, us, out.CreateAccount.Account.EntityID)
				require.True(t, out.CreateAccount.Account.Active, "accounts start active")
				// The new account can be posted to by code.
				posted := b.gqPost(t, a.Accountant, gqEntryInput(us, "2026-06-01", gqLine("1000", "75.00", ""), gqLine("4300", "", "75.00")))
				require.Equal(t, out.CreateAccount.Account.ID, posted.Entry.Lines[1].Account.ID)

				// The same code in another entity is fine.
				b.gqlOK(t, a.FinanceLead, create, map[string]any{"in": map[string]any{
					"entityId": uk, "code": "4300", "name": "Training Revenue", "type": "REVENUE", "subtype": "INCOME",
				}}, nil)

				before := b.gqSnapshot(t, a)
				bad := []struct {
					name string
					in   map[string]any
					code string
				}{
					{"subtype of another type", map[string]any{"entityId": us, "code": "4400", "name": "Bad", "type": "REVENUE", "subtype": "BANK"}, "VALIDATION"},
					{"expense subtype on an asset", map[string]any{"entityId": us, "code": "1400", "name": "Bad", "type": "ASSET", "subtype": "EXPENSE"}, "VALIDATION"},
					{"duplicate code", map[string]any{"entityId": us, "code": "4000", "name": "Dup", "type": "REVENUE", "subtype": "INCOME"}, "CONFLICT"},
					{"unknown entity", map[string]any{"entityId": "le_01zzzzzzzzzzzzzzzzzzzzzzzz", "code": "4500", "name": "X", "type": "REVENUE", "subtype": "INCOME"}, "NOT_FOUND"},
					{"empty name", map[string]any{"entityId": us, "code": "4600", "name": "", "type": "REVENUE", "subtype": "INCOME"}, "VALIDATION"},
				}
				for _, tt := range bad {
					r := b.gql(t, a.Admin, create, map[string]any{"in": tt.in})
					gqRequireCode(t, r, tt.code)
					require.Equal(t, "null", string(r.Data), tt.name)
				}
				require.Equal(t, before, b.gqSnapshot(t, a), "refused creations change nothing")
			})

			t.Run("update and deactivate", func(t *testing.T) {
				t.Parallel()
				b := setup(t, d)
				a := b.orgA
				us := a.Entities[0].ID
				accts := b.gqAccountIDs(t, a, 0)
				var out struct {
					UpdateAccount struct {
						Account struct {
							ID, Code, Name, Type, Subtype string
							Active                        bool
						}
					}
				}
				b.gqlOK(t, a.FinanceLead, update, map[string]any{"id": accts["6000"], "in": map[string]any{"name": "General Expenses", "subtype": "OTHER_EXPENSE"}}, &out)
				require.Equal(t, "General Expenses", out.UpdateAccount.Account.Name)
				require.Equal(t, "OTHER_EXPENSE", out.UpdateAccount.Account.Subtype)

				b.gqlOK(t, a.FinanceLead, update, map[string]any{"id": accts["6000"], "in": map[string]any{"active": false}}, &out)
				require.False(t, out.UpdateAccount.Account.Active)

				entries := b.entryCount(t, a)
				r := b.gql(t, a.Accountant, gqPostMutation, map[string]any{"in": gqEntryInput(us, "2026-06-01", gqLine("6000", "10.00", ""), gqLine("1000", "", "10.00"))})
				gqRequireCode(t, r, "INACTIVE_ACCOUNT")
				require.Equal(t, entries, b.entryCount(t, a), "nothing is posted to an inactive account")
				// By id as well as by code.
				r = b.gql(t, a.Accountant, gqPostMutation, map[string]any{"in": gqEntryInput(us, "2026-06-01",
					map[string]any{"accountId": accts["6000"], "debit": "10.00"}, gqLine("1000", "", "10.00"))})
				gqRequireCode(t, r, "INACTIVE_ACCOUNT")
				require.Equal(t, entries, b.entryCount(t, a))

				var inactive struct{ Accounts struct{ TotalCount int } }
				b.gqlOK(t, a.Viewer, `query($e: ID) { accounts(where: {entityId: $e, active: false}) { totalCount } }`, map[string]any{"e": us}, &inactive)
				require.Equal(t, 1, inactive.Accounts.TotalCount)

				b.gqlOK(t, a.FinanceLead, update, map[string]any{"id": accts["6000"], "in": map[string]any{"active": true}}, nil)
				b.gqPost(t, a.Accountant, gqEntryInput(us, "2026-06-01", gqLine("6000", "10.00", ""), gqLine("1000", "", "10.00")))
				require.Equal(t, entries+1, b.entryCount(t, a))

				before := b.gqSnapshot(t, a)
				for _, tt := range []struct {
					name string
					id   string
					in   map[string]any
					code string
				}{
					{"subtype of another type", accts["6000"], map[string]any{"subtype": "BANK"}, "VALIDATION"},
					{"type without a matching subtype", accts["4000"], map[string]any{"type": "EXPENSE"}, "VALIDATION"},
					{"code taken", accts["6000"], map[string]any{"code": "6100"}, "CONFLICT"},
					{"unknown account", "acct_01zzzzzzzzzzzzzzzzzzzzzzzz", map[string]any{"name": "x"}, "NOT_FOUND"},
				} {
					r := b.gql(t, a.FinanceLead, update, map[string]any{"id": tt.id, "in": tt.in})
					gqRequireCode(t, r, tt.code)
				}
				require.Equal(t, before, b.gqSnapshot(t, a))
			})
		})
	}
}

func TestGraphQLClassMutations(t *testing.T) {
	t.Parallel()
	const create = `mutation($in: CreateClassInput!) { createClass(input: $in) { class { id name parentId parent { name } } } }`
	const update = `mutation($id: ID!, $in: ClassPatch!) { updateClass(input: {classId: $id, patch: $in}) { class { id name parentId } } }`
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.orgA
			us := a.Entities[0].ID
			consulting := b.gqClassID(t, a, 0, "Consulting")
			type classOut struct {
				ID, Name string
				ParentID *string
				Parent   *struct{ Name string }
			}
			var cloud, azure struct {
				CreateClass struct{ Class classOut }
			}
			b.gqlOK(t, a.Accountant, create, map[string]any{"in": map[string]any{"entityId": us, "name": "Cloud", "parentId": consulting}}, &cloud)
			require.Equal(t, consulting, *cloud.CreateClass.Class.ParentID)
			require.Equal(t, "Consulting", cloud.CreateClass.Class.Parent.Name)
			b.gqlOK(t, a.Accountant, create, map[string]any{"in": map[string]any{"entityId": us, "name": "Azure", "parentId": cloud.CreateClass.Class.ID}}, &azure)

			var tree struct {
				Node struct {
					Children struct {
						TotalCount int
						Edges      []struct {
							Node struct {
								Name     string
								Children struct {
									Edges []struct{ Node struct{ Name string } }
								}
							}
						}
					}
				}
			}
			b.gqlOK(t, a.Viewer, `query($id: ID!) { node(id: $id) { ... on Class { children(first: 10) { totalCount edges { node { name children(first: 10) { edges { node { name } } } } } } } } }`,
				map[string]any{"id": consulting}, &tree)
			require.Equal(t, 1, tree.Node.Children.TotalCount)
			require.Equal(t, "Cloud", tree.Node.Children.Edges[0].Node.Name)
			require.Equal(t, "Azure", tree.Node.Children.Edges[0].Node.Children.Edges[0].Node.Name)

			// A child class can be used on a line.
			posted := b.gqPost(t, a.Accountant, gqEntryInput(us, "2026-06-01",
				map[string]any{"accountCode": "1250", "debit": "20.00", "classId": azure.CreateClass.Class.ID}, gqLine("4000", "", "20.00")))
			require.Equal(t, "Azure", posted.Entry.Lines[0].Class.Name)

			before := b.gqSnapshot(t, a)
			ukConsulting := b.gqClassID(t, a, 1, "Consulting")
			for _, tt := range []struct {
				name  string
				query string
				vars  map[string]any
				code  string
			}{
				{"own parent", update, map[string]any{"id": consulting, "in": map[string]any{"parentId": consulting}}, "VALIDATION"},
				{"under its grandchild", update, map[string]any{"id": consulting, "in": map[string]any{"parentId": azure.CreateClass.Class.ID}}, "VALIDATION"},
				{"under its child", update, map[string]any{"id": consulting, "in": map[string]any{"parentId": cloud.CreateClass.Class.ID}}, "VALIDATION"},
				{"adopting its ancestor", update, map[string]any{"id": azure.CreateClass.Class.ID, "in": map[string]any{"addChildIds": []string{consulting}}}, "VALIDATION"},
				{"adopting itself", update, map[string]any{"id": consulting, "in": map[string]any{"addChildIds": []string{consulting}}}, "VALIDATION"},
				{"adopting a class of another entity", update, map[string]any{"id": consulting, "in": map[string]any{"addChildIds": []string{ukConsulting}}}, "NOT_FOUND"},
				{"parent in another entity", update, map[string]any{"id": cloud.CreateClass.Class.ID, "in": map[string]any{"parentId": ukConsulting}}, "NOT_FOUND"},
				{"create under a parent of another entity", create, map[string]any{"in": map[string]any{"entityId": us, "name": "X", "parentId": ukConsulting}}, "NOT_FOUND"},
				{"create adopting a class of another entity", create, map[string]any{"in": map[string]any{"entityId": us, "name": "X", "childIds": []string{ukConsulting}}}, "NOT_FOUND"},
				{"create adopting its own parent", create, map[string]any{"in": map[string]any{"entityId": us, "name": "X", "parentId": consulting, "childIds": []string{consulting}}}, "VALIDATION"},
				{"duplicate name", create, map[string]any{"in": map[string]any{"entityId": us, "name": "cloud"}}, "CONFLICT"},
				{"rename to a taken name", update, map[string]any{"id": azure.CreateClass.Class.ID, "in": map[string]any{"name": "Cloud"}}, "CONFLICT"},
				{"unknown class", update, map[string]any{"id": "cls_01zzzzzzzzzzzzzzzzzzzzzzzz", "in": map[string]any{"name": "y"}}, "NOT_FOUND"},
			} {
				r := b.gql(t, a.Accountant, tt.query, tt.vars)
				require.NotEmpty(t, r.Errors, "%s: expected %s", tt.name, tt.code)
				require.Contains(t, r.errorCodes(), tt.code, "%s: %+v", tt.name, r.Errors)
			}
			require.Equal(t, before, b.gqSnapshot(t, a), "refused class changes change nothing")

			// Moving a leaf to the root and back is fine.
			var moved struct {
				UpdateClass struct{ Class classOut }
			}
			b.gqlOK(t, a.Accountant, update, map[string]any{"id": azure.CreateClass.Class.ID, "in": map[string]any{"clearParent": true}}, &moved)
			require.Nil(t, moved.UpdateClass.Class.ParentID)
			b.gqlOK(t, a.Accountant, update, map[string]any{"id": consulting, "in": map[string]any{"addChildIds": []string{azure.CreateClass.Class.ID}}}, nil)
			cl, err := b.client.Class.Get(orgCtx(a), azure.CreateClass.Class.ID)
			require.NoError(t, err)
			require.Equal(t, consulting, *cl.ParentID)
		})
	}
}

func TestGraphQLCOAMappingMutations(t *testing.T) {
	t.Parallel()
	const create = `mutation($in: CreateCOAMappingInput!) { createCOAMapping(input: $in) { coaMapping { id sourceSystem sourceCode account { code } } } }`
	const update = `mutation($id: ID!, $in: COAMappingPatch!) { updateCOAMapping(input: {coaMappingId: $id, patch: $in}) { coaMapping { id sourceCode account { code } } } }`
	const del = `mutation($id: ID!) { deleteCOAMapping(input: {coaMappingId: $id}) { deletedCoaMappingId } }`
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.orgA
			us := a.Entities[0].ID
			usAccts, ukAccts := b.gqAccountIDs(t, a, 0), b.gqAccountIDs(t, a, 1)
			psaTraining := func(ref string) map[string]any {
				return map[string]any{
					"entity": "US", "date": "2026-11-21", "source_system": "psa", "source_ref": ref,
					"lines": []map[string]any{
						{"source_code": "unbilled_receivables", "debit": "40.00"},
						{"source_code": "training", "credit": "40.00"},
					},
				}
			}
			creditCode := func(body map[string]any) string {
				lines := body["lines"].([]any)
				return lines[1].(map[string]any)["account_code"].(string)
			}

			var out struct {
				CreateCOAMapping struct {
					CoaMapping struct {
						ID, SourceSystem, SourceCode string
						Account                      struct{ Code string }
					}
				}
			}
			b.gqlOK(t, a.FinanceLead, create, map[string]any{"in": map[string]any{
				"entityId": us, "sourceSystem": "PSA", "sourceCode": "training", "accountId": usAccts["4100"],
			}}, &out)
			m := out.CreateCOAMapping.CoaMapping
			require.Equal(t, "PSA", m.SourceSystem)
			require.Equal(t, "4100", m.Account.Code)

			status, body := b.postJE(t, a.Key, "", psaTraining("t-1"))
			require.Equal(t, http.StatusCreated, status, "%v", body)
			require.Equal(t, "4100", creditCode(body), "the JE API posts through the new mapping")

			var up struct {
				UpdateCOAMapping struct {
					CoaMapping struct {
						ID, SourceCode string
						Account        struct{ Code string }
					}
				}
			}
			b.gqlOK(t, a.FinanceLead, update, map[string]any{"id": m.ID, "in": map[string]any{"accountId": usAccts["4200"]}}, &up)
			require.Equal(t, "4200", up.UpdateCOAMapping.CoaMapping.Account.Code)
			status, body = b.postJE(t, a.Key, "", psaTraining("t-2"))
			require.Equal(t, http.StatusCreated, status, "%v", body)
			require.Equal(t, "4200", creditCode(body), "the JE API follows the repointed mapping")

			before := b.gqSnapshot(t, a)
			for _, tt := range []struct {
				name  string
				query string
				vars  map[string]any
				code  string
			}{
				{"account of another entity", create, map[string]any{"in": map[string]any{"entityId": us, "sourceSystem": "PSA", "sourceCode": "x", "accountId": ukAccts["4100"]}}, "NOT_FOUND"},
				{"duplicate source code", create, map[string]any{"in": map[string]any{"entityId": us, "sourceSystem": "PSA", "sourceCode": "training", "accountId": usAccts["4000"]}}, "CONFLICT"},
				{"repoint to another entity", update, map[string]any{"id": m.ID, "in": map[string]any{"accountId": ukAccts["4000"]}}, "NOT_FOUND"},
				{"rename onto a taken code", update, map[string]any{"id": m.ID, "in": map[string]any{"sourceCode": "revenue"}}, "CONFLICT"},
				{"update unknown", update, map[string]any{"id": "map_01zzzzzzzzzzzzzzzzzzzzzzzz", "in": map[string]any{"sourceCode": "y"}}, "NOT_FOUND"},
				{"delete unknown", del, map[string]any{"id": "map_01zzzzzzzzzzzzzzzzzzzzzzzz"}, "NOT_FOUND"},
			} {
				r := b.gql(t, a.FinanceLead, tt.query, tt.vars)
				require.NotEmpty(t, r.Errors, tt.name)
				require.Contains(t, r.errorCodes(), tt.code, "%s: %+v", tt.name, r.Errors)
			}
			require.Equal(t, before, b.gqSnapshot(t, a))

			var deleted struct {
				DeleteCOAMapping struct{ DeletedCoaMappingID string }
			}
			b.gqlOK(t, a.FinanceLead, del, map[string]any{"id": m.ID}, &deleted)
			require.Equal(t, m.ID, deleted.DeleteCOAMapping.DeletedCoaMappingID)
			status, body = b.postJE(t, a.Key, "", psaTraining("t-3"))
			require.Equal(t, http.StatusUnprocessableEntity, status, "%v", body)
			require.Equal(t, "UNKNOWN_SOURCE_CODE", errCode(body))
			r := b.gql(t, a.FinanceLead, del, map[string]any{"id": m.ID})
			gqRequireCode(t, r, "NOT_FOUND")
			// Entries posted through the mapping keep their accounts.
			var tb struct{ AccountBalance struct{ Credit string } }
			b.gqlOK(t, a.Viewer, `query($id: ID!) { accountBalance(accountId: $id, asOf: "2026-12-31") { credit } }`, map[string]any{"id": usAccts["4200"]}, &tb)
			require.Equal(t, "40.00", tb.AccountBalance.Credit)
		})
	}
}

func TestGraphQLPostJournalEntry(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.orgA
			us, uk := a.Entities[0].ID, a.Entities[1].ID
			accts := b.gqAccountIDs(t, a, 0)
			consulting := b.gqClassID(t, a, 0, "Consulting")

			in := gqEntryInput(us, "2026-06-15",
				map[string]any{"accountId": accts["1250"], "debit": "1234.56", "classId": consulting, "description": "hours"},
				map[string]any{"accountCode": "4000", "credit": "1000"},
				map[string]any{"accountCode": "4100", "credit": "234.56"},
			)
			in["sourceRef"] = "timesheet-42"
			in["sourceSystem"] = "PSA"
			first := b.gqPost(t, a.Accountant, in)
			require.True(t, first.Created)
			e := first.Entry
			require.Equal(t, "POSTED", e.Status)
			require.Equal(t, "2026-06-15", e.Date)
			require.Nil(t, e.DocumentDate)
			require.Equal(t, "1234.56", e.Total)
			require.Equal(t, "USD", e.Currency, "currency defaults to the entity's")
			require.Equal(t, "PSA", e.SourceSystem)
			require.Equal(t, "timesheet-42", e.SourceRef)
			require.Equal(t, "user-accountant-"+a.ID, e.CreatedBy)
			require.Equal(t, "GRAPHQL", e.CreatedVia)
			require.Len(t, e.Lines, 3)
			require.Equal(t, []int{1, 2, 3}, []int{e.Lines[0].LineNo, e.Lines[1].LineNo, e.Lines[2].LineNo})
			require.Equal(t, "1234.56", e.Lines[0].Debit)
			require.Equal(t, "Consulting", e.Lines[0].Class.Name)
			require.Equal(t, "1000.00", e.Lines[1].Credit, "an integer Money is whole units")
			require.Equal(t, "234.56", e.Lines[2].Credit)

			entries := b.entryCount(t, a)
			again := b.gqPost(t, a.Accountant, in)
			require.False(t, again.Created)
			require.Equal(t, e.ID, again.Entry.ID)
			// A different body under the same reference still returns the first entry.
			in2 := gqEntryInput(us, "2026-07-01", gqLine("1000", "1.00", ""), gqLine("4000", "", "1.00"))
			in2["sourceRef"], in2["sourceSystem"] = "timesheet-42", "PSA"
			third := b.gqPost(t, a.Accountant, in2)
			require.False(t, third.Created)
			require.Equal(t, e.ID, third.Entry.ID)
			require.Equal(t, entries, b.entryCount(t, a))
			// The same reference from another source system is another entry.
			in2["sourceSystem"] = "AMS"
			other := b.gqPost(t, a.Accountant, in2)
			require.True(t, other.Created)
			require.NotEqual(t, e.ID, other.Entry.ID)

			// Manual entries without a reference are all new.
			manual := gqEntryInput(us, "2026-06-16", gqLine("1000", "2.00", ""), gqLine("4000", "", "2.00"))
			m1, m2 := b.gqPost(t, a.Accountant, manual), b.gqPost(t, a.Accountant, manual)
			require.True(t, m1.Created)
			require.True(t, m2.Created)
			require.NotEqual(t, m1.Entry.ID, m2.Entry.ID)
			require.Equal(t, "BOOKS", m1.Entry.SourceSystem)

			gbp := b.gqPost(t, a.Accountant, gqEntryInput(uk, "2026-06-16", gqLine("1000", "3.00", ""), gqLine("4000", "", "3.00")))
			require.Equal(t, "GBP", gbp.Entry.Currency)
			b.requireLedgerBalanced(t, a)
		})
	}
}

func TestGraphQLReverseJournalEntry(t *testing.T) {
	t.Parallel()
	const reverse = `mutation($in: ReverseJournalEntryInput!) { reverseJournalEntry(input: $in) {
		reversal { ` + gqEntryFields + ` reversalOf { id status } } reversed { id status } } }`
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.orgA
			us := a.Entities[0].ID
			b.gqSeedEntry(t, a, 0, "2026-11-01", "base", "500.00", "4100")
			const asOf = "2026-12-31"
			baseline := b.gqTrialBalance(t, a.Viewer, us, asOf)

			orig := b.gqPost(t, a.Accountant, gqEntryInput(us, "2026-11-10",
				map[string]any{"accountCode": "1250", "debit": "120.00", "classId": b.gqClassID(t, a, 0, "Consulting")},
				gqLine("1000", "30.50", ""),
				gqLine("4000", "", "150.50"),
			)).Entry
			require.NotEqual(t, gqNonZero(baseline), gqNonZero(b.gqTrialBalance(t, a.Viewer, us, asOf)))

			var out struct {
				ReverseJournalEntry struct {
					Reversal struct {
						gqEntryOut
						ReversalOf struct{ ID, Status string }
					}
					Reversed struct{ ID, Status string }
				}
			}
			b.gqlOK(t, a.Accountant, reverse, map[string]any{"in": map[string]any{"journalEntryId": orig.ID, "date": "2026-11-20", "description": "oops"}}, &out)
			rev := out.ReverseJournalEntry.Reversal
			require.Equal(t, orig.ID, out.ReverseJournalEntry.Reversed.ID, "the payload carries the reversed entry")
			require.Equal(t, "REVERSED", out.ReverseJournalEntry.Reversed.Status)
			require.NotEqual(t, orig.ID, rev.ID)
			require.Equal(t, "POSTED", rev.Status)
			require.Equal(t, "2026-11-20", rev.Date)
			require.Equal(t, "oops", rev.Description)
			require.Equal(t, orig.ID, *rev.ReversalOfID)
			require.Equal(t, orig.ID, rev.ReversalOf.ID)
			require.Equal(t, "REVERSED", rev.ReversalOf.Status)
			require.Equal(t, orig.Total, rev.Total)
			require.Len(t, rev.Lines, len(orig.Lines))
			for i, l := range rev.Lines {
				require.Equal(t, orig.Lines[i].Account.Code, l.Account.Code, "line %d", i)
				require.Equal(t, orig.Lines[i].Debit, l.Credit, "line %d swaps sides", i)
				require.Equal(t, orig.Lines[i].Credit, l.Debit, "line %d swaps sides", i)
				require.Equal(t, orig.Lines[i].Class, l.Class, "line %d keeps its class", i)
			}

			var node struct {
				Node struct {
					Status     string
					ReversedBy struct{ ID string }
				}
			}
			b.gqlOK(t, a.Viewer, `query($id: ID!) { node(id: $id) { ... on JournalEntry { status reversedBy { id } } } }`, map[string]any{"id": orig.ID}, &node)
			require.Equal(t, "REVERSED", node.Node.Status)
			require.Equal(t, rev.ID, node.Node.ReversedBy.ID)

			after := b.gqTrialBalance(t, a.Viewer, us, asOf)
			require.True(t, after.Balanced)
			require.Equal(t, gqNonZero(baseline), gqNonZero(after), "a reversal nets the entry out")
			// Before the reversal's date the original still counts.
			mid := b.gqTrialBalance(t, a.Viewer, us, "2026-11-15")
			require.Equal(t, "650.50", mid.TotalDebit)

			before := b.gqSnapshot(t, a)
			for _, tt := range []struct {
				name, id, code string
			}{
				{"reversing again", orig.ID, "ALREADY_REVERSED"},
				{"reversing the reversal", rev.ID, "VALIDATION"},
				{"unknown entry", "je_01zzzzzzzzzzzzzzzzzzzzzzzz", "NOT_FOUND"},
			} {
				r := b.gql(t, a.Accountant, reverse, map[string]any{"in": map[string]any{"journalEntryId": tt.id, "date": "2026-11-21"}})
				require.NotEmpty(t, r.Errors, tt.name)
				require.Contains(t, r.errorCodes(), tt.code, "%s: %+v", tt.name, r.Errors)
			}
			require.Equal(t, before, b.gqSnapshot(t, a))
		})
	}
}

func TestGraphQLPeriods(t *testing.T) {
	t.Parallel()
	const closeByName = `mutation($e: ID, $n: String) { closePeriod(input: {entityId: $e, name: $n}) { period { id name status startDate endDate closedAt closedBy } } }`
	const closeByID = `mutation($id: ID) { closePeriod(input: {periodId: $id}) { period { id name status closedAt closedBy } } }`
	const reopenByID = `mutation($id: ID) { reopenPeriod(input: {periodId: $id}) { period { id name status closedAt closedBy } } }`
	type periodOut struct {
		ID, Name, Status, StartDate, EndDate string
		ClosedAt, ClosedBy                   *string
	}
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.orgA
			us, uk := a.Entities[0].ID, a.Entities[1].ID
			october := func() map[string]any {
				return gqEntryInput(us, "2026-10-15", gqLine("1000", "10.00", ""), gqLine("4000", "", "10.00"))
			}

			var closed struct {
				ClosePeriod struct{ Period periodOut }
			}
			b.gqlOK(t, a.FinanceLead, closeByName, map[string]any{"e": us, "n": "2026-10"}, &closed)
			oct := closed.ClosePeriod.Period
			require.Equal(t, "2026-10", oct.Name)
			require.Equal(t, "CLOSED", oct.Status)
			require.Equal(t, "2026-10-01", oct.StartDate)
			require.Equal(t, "2026-10-31", oct.EndDate)
			require.NotNil(t, oct.ClosedAt)
			require.Equal(t, "user-finance_lead-"+a.ID, *oct.ClosedBy)

			before := b.gqSnapshot(t, a)
			for _, date := range []string{"2026-10-01", "2026-10-15", "2026-10-31"} {
				in := october()
				in["date"] = date
				r := b.gql(t, a.Accountant, gqPostMutation, map[string]any{"in": in})
				gqRequireCode(t, r, "PERIOD_CLOSED")
			}
			require.Equal(t, before, b.gqSnapshot(t, a), "nothing is written into a closed period")
			// Neighbouring months and other entities are not affected.
			b.gqPost(t, a.Accountant, gqEntryInput(us, "2026-09-30", gqLine("1000", "1.00", ""), gqLine("4000", "", "1.00")))
			b.gqPost(t, a.Accountant, gqEntryInput(us, "2026-11-01", gqLine("1000", "1.00", ""), gqLine("4000", "", "1.00")))
			b.gqPost(t, a.Accountant, gqEntryInput(uk, "2026-10-15", gqLine("1000", "1.00", ""), gqLine("4000", "", "1.00")))

			late := october()
			late["lateToOpenPeriod"] = true
			moved := b.gqPost(t, a.Accountant, late)
			require.True(t, moved.Created)
			require.Equal(t, "2026-11-01", moved.Entry.Date, "a late entry posts on the first day of the next open period")
			require.NotNil(t, moved.Entry.DocumentDate)
			require.Equal(t, "2026-10-15", *moved.Entry.DocumentDate)

			// Closing again is a no-op; closing November by id (after looking it up by name)
			// pushes late entries on to December.
			var again struct {
				ClosePeriod struct{ Period periodOut }
			}
			b.gqlOK(t, a.FinanceLead, closeByName, map[string]any{"e": us, "n": "2026-10"}, &again)
			require.Equal(t, oct.ID, again.ClosePeriod.Period.ID)
			require.Equal(t, *oct.ClosedAt, *again.ClosePeriod.Period.ClosedAt)
			var reopened struct {
				ReopenPeriod struct{ Period periodOut }
			}
			b.gqlOK(t, a.FinanceLead, `mutation($e: ID, $n: String) { reopenPeriod(input: {entityId: $e, name: $n}) { period { id name status closedAt closedBy } } }`,
				map[string]any{"e": us, "n": "2026-11"}, &reopened)
			require.Equal(t, "OPEN", reopened.ReopenPeriod.Period.Status)
			b.gqlOK(t, a.FinanceLead, closeByID, map[string]any{"id": reopened.ReopenPeriod.Period.ID}, &closed)
			require.Equal(t, "2026-11", closed.ClosePeriod.Period.Name)
			require.Equal(t, "CLOSED", closed.ClosePeriod.Period.Status)
			late2 := october()
			late2["lateToOpenPeriod"] = true
			late2["date"] = "2026-10-20"
			moved2 := b.gqPost(t, a.Accountant, late2)
			require.Equal(t, "2026-12-01", moved2.Entry.Date)
			require.Equal(t, "2026-10-20", *moved2.Entry.DocumentDate)

			var periods struct {
				Periods gqConn[struct{ Name, Status string }]
			}
			b.gqlOK(t, a.Viewer, `query($e: ID) { periods(where: {entityId: $e}, orderBy: {field: START_DATE}) { totalCount edges { node { name status } } } }`, map[string]any{"e": us}, &periods)
			require.Equal(t, 2, periods.Periods.TotalCount)
			require.Equal(t, "2026-10", periods.Periods.nodes()[0].Name)
			require.Equal(t, "CLOSED", periods.Periods.nodes()[1].Status)

			// Reopening by id lets October take postings again.
			b.gqlOK(t, a.FinanceLead, reopenByID, map[string]any{"id": oct.ID}, &reopened)
			require.Equal(t, "OPEN", reopened.ReopenPeriod.Period.Status)
			require.Nil(t, reopened.ReopenPeriod.Period.ClosedAt)
			posted := b.gqPost(t, a.Accountant, october())
			require.Equal(t, "2026-10-15", posted.Entry.Date)
			require.Nil(t, posted.Entry.DocumentDate)

			before = b.gqSnapshot(t, a)
			for _, tt := range []struct {
				name  string
				query string
				vars  map[string]any
				code  string
			}{
				{"no period named", closeByID, map[string]any{}, "VALIDATION"},
				{"entity without a name", closeByName, map[string]any{"e": us}, "VALIDATION"},
				{"bad month", closeByName, map[string]any{"e": us, "n": "2026-13"}, "VALIDATION"},
				{"bad name", closeByName, map[string]any{"e": us, "n": "October"}, "VALIDATION"},
				{"unknown entity", closeByName, map[string]any{"e": "le_01zzzzzzzzzzzzzzzzzzzzzzzz", "n": "2026-10"}, "NOT_FOUND"},
				{"unknown id", closeByID, map[string]any{"id": "per_01zzzzzzzzzzzzzzzzzzzzzzzz"}, "NOT_FOUND"},
				{"reopen unknown id", reopenByID, map[string]any{"id": "per_01zzzzzzzzzzzzzzzzzzzzzzzz"}, "NOT_FOUND"},
			} {
				r := b.gql(t, a.FinanceLead, tt.query, tt.vars)
				require.NotEmpty(t, r.Errors, tt.name)
				require.Contains(t, r.errorCodes(), tt.code, "%s: %+v", tt.name, r.Errors)
			}
			require.Equal(t, before, b.gqSnapshot(t, a))
			b.requireLedgerBalanced(t, a)
		})
	}
}

func TestGraphQLBalances(t *testing.T) {
	t.Parallel()
	const balance = `query($id: ID!, $d: Date!) { accountBalance(accountId: $id, asOf: $d) { account { code } asOf debit credit balance } }`
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.orgA
			us, uk := a.Entities[0].ID, a.Entities[1].ID
			accts := b.gqAccountIDs(t, a, 0)
			b.gqPost(t, a.Accountant, gqEntryInput(us, "2026-03-10", gqLine("1250", "100.00", ""), gqLine("4000", "", "100.00")))
			b.gqPost(t, a.Accountant, gqEntryInput(us, "2026-04-10", gqLine("1000", "50.25", ""), gqLine("4000", "", "50.25")))
			b.gqPost(t, a.Accountant, gqEntryInput(us, "2026-04-30", gqLine("6000", "0.01", ""), gqLine("1000", "", "0.01")))
			b.gqPost(t, a.Accountant, gqEntryInput(uk, "2026-03-10", gqLine("1250", "7.00", ""), gqLine("4000", "", "7.00")))

			t.Run("trial balance as of a date excludes later entries", func(t *testing.T) {
				t.Parallel()
				tb := b.gqTrialBalance(t, a.Viewer, us, "2026-03-31")
				require.Equal(t, "US", tb.Entity.Code)
				require.Equal(t, "2026-03-31", tb.AsOf)
				require.Equal(t, "USD", tb.Currency)
				require.Equal(t, "100.00", tb.TotalDebit)
				require.Equal(t, "100.00", tb.TotalCredit)
				require.True(t, tb.Balanced)
				require.Len(t, tb.Rows, 2)
				require.Equal(t, "1250", tb.Rows[0].Account.Code)
				require.Equal(t, "100.00", tb.Rows[0].Debit)
				require.Equal(t, "0.00", tb.Rows[0].Credit)
				require.Equal(t, "100.00", tb.Rows[0].Balance)
				require.Equal(t, "4000", tb.Rows[1].Account.Code)
				require.Equal(t, "-100.00", tb.Rows[1].Balance)
			})

			t.Run("trial balance includes its as-of day", func(t *testing.T) {
				t.Parallel()
				tb := b.gqTrialBalance(t, a.Viewer, us, "2026-04-30")
				require.Equal(t, "150.26", tb.TotalDebit)
				require.Equal(t, "150.26", tb.TotalCredit)
				require.Equal(t, map[string]string{"1000": "50.24", "1250": "100.00", "4000": "-150.25", "6000": "0.01"}, gqNonZero(tb))
			})

			t.Run("trial balance before any entry is empty", func(t *testing.T) {
				t.Parallel()
				tb := b.gqTrialBalance(t, a.Viewer, us, "2026-03-09")
				require.Empty(t, tb.Rows)
				require.Equal(t, "0.00", tb.TotalDebit)
				require.True(t, tb.Balanced)
			})

			t.Run("trial balance of the other entity", func(t *testing.T) {
				t.Parallel()
				tb := b.gqTrialBalance(t, a.Viewer, uk, "2026-12-31")
				require.Equal(t, "GBP", tb.Currency)
				require.Equal(t, "7.00", tb.TotalDebit)
			})

			// Amounts are JSON strings: decoding into a float would fail or lose digits.
			for _, tt := range []struct {
				asOf                   string
				debit, credit, balance string
			}{
				{"2026-03-09", "0.00", "0.00", "0.00"},
				{"2026-03-10", "0.00", "100.00", "-100.00"},
				{"2026-04-09", "0.00", "100.00", "-100.00"},
				{"2026-04-10", "0.00", "150.25", "-150.25"},
				{"2099-12-31", "0.00", "150.25", "-150.25"},
			} {
				t.Run("account balance as of "+tt.asOf, func(t *testing.T) {
					t.Parallel()
					var out struct {
						AccountBalance struct {
							Account                      struct{ Code string }
							AsOf, Debit, Credit, Balance string
						}
					}
					b.gqlOK(t, a.Viewer, balance, map[string]any{"id": accts["4000"], "d": tt.asOf}, &out)
					got := out.AccountBalance
					require.Equal(t, "4000", got.Account.Code)
					require.Equal(t, tt.asOf, got.AsOf)
					require.Equal(t, tt.debit, got.Debit)
					require.Equal(t, tt.credit, got.Credit)
					require.Equal(t, tt.balance, got.Balance)
				})
			}

			t.Run("unknown ids and bad dates", func(t *testing.T) {
				t.Parallel()
				gqRequireCode(t, b.gql(t, a.Viewer, balance, map[string]any{"id": "acct_01zzzzzzzzzzzzzzzzzzzzzzzz", "d": "2026-01-01"}), "NOT_FOUND")
				gqRequireCode(t, b.gql(t, a.Viewer, gqTBQuery, map[string]any{"e": "le_01zzzzzzzzzzzzzzzzzzzzzzzz", "d": "2026-01-01"}), "NOT_FOUND")
				gqRequireCode(t, b.gql(t, a.Viewer, gqTBQuery, map[string]any{"e": us, "d": "2026-02-30"}), "VALIDATION")
				gqRequireCode(t, b.gql(t, a.Viewer, balance, map[string]any{"id": accts["4000"], "d": "31/12/2026"}), "VALIDATION")
			})
		})
	}
}

func TestGraphQLIntegrationKeys(t *testing.T) {
	t.Parallel()
	const create = `mutation($in: CreateIntegrationKeyInput!) { createIntegrationKey(input: $in) {
		secret integrationKey { id name prefix entityIds sourceSystems createdBy revokedAt } } }`
	const revoke = `mutation($id: ID!) { revokeIntegrationKey(input: {integrationKeyId: $id}) { integrationKey { id revokedAt } } }`
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.orgA
			us := a.Entities[0].ID
			var out struct {
				CreateIntegrationKey struct {
					Secret         string
					IntegrationKey struct {
						ID, Name, Prefix, CreatedBy string
						EntityIds, SourceSystems    []string
						RevokedAt                   *string
					}
				}
			}
			b.gqlOK(t, a.Admin, create, map[string]any{"in": map[string]any{"name": "PSA sync", "entityIds": []string{us}, "sourceSystems": []string{"PSA"}}}, &out)
			secret, key := out.CreateIntegrationKey.Secret, out.CreateIntegrationKey.IntegrationKey
			require.True(t, strings.HasPrefix(secret, key.Prefix), "the prefix is the start of the secret")
			require.Greater(t, len(secret), len(key.Prefix)+20)
			require.Equal(t, []string{us}, key.EntityIds)
			require.Equal(t, []string{"PSA"}, key.SourceSystems)
			require.Equal(t, "user-admin-"+a.ID, key.CreatedBy)
			require.Nil(t, key.RevokedAt)

			// The secret is never shown again, wherever one looks.
			for _, q := range []struct {
				query string
				vars  map[string]any
			}{
				{`{ integrationKeys { totalCount edges { node { id name prefix entityIds sourceSystems createdBy createdAt updatedAt revokedAt } } } }`, nil},
				{`query($id: ID!) { node(id: $id) { ... on IntegrationKey { id name prefix } } }`, map[string]any{"id": key.ID}},
				{`{ auditEvents { edges { node { action subjectId detail } } } }`, nil},
			} {
				status, raw := b.gqRaw(t, a.Admin, q.query, q.vars)
				require.Equal(t, http.StatusOK, status)
				require.Contains(t, string(raw), key.ID)
				require.NotContains(t, string(raw), secret)
				require.NotContains(t, string(raw), "secret", "no secret-bearing field is exposed")
			}

			status, body := b.postJE(t, secret, "", jeBody("US", "k-1", "10.00"))
			require.Equal(t, http.StatusCreated, status, "%v", body)
			status, body = b.postJE(t, secret, "", jeBody("UK", "k-2", "10.00"))
			require.Equal(t, http.StatusForbidden, status, "the key is scoped to its entities: %v", body)
			other := jeBody("US", "k-3", "10.00")
			other["source_system"] = "stripe"
			status, body = b.postJE(t, secret, "", other)
			require.Equal(t, http.StatusForbidden, status, "the key is scoped to its source systems: %v", body)

			var revoked struct {
				RevokeIntegrationKey struct {
					IntegrationKey struct{ ID, RevokedAt string }
				}
			}
			b.gqlOK(t, a.Admin, revoke, map[string]any{"id": key.ID}, &revoked)
			require.Equal(t, key.ID, revoked.RevokeIntegrationKey.IntegrationKey.ID)
			require.NotEmpty(t, revoked.RevokeIntegrationKey.IntegrationKey.RevokedAt)
			entries := b.entryCount(t, a)
			status, body = b.postJE(t, secret, "", jeBody("US", "k-4", "10.00"))
			require.Equal(t, http.StatusUnauthorized, status, "%v", body)
			require.Equal(t, "UNAUTHENTICATED", errCode(body))
			require.Equal(t, entries, b.entryCount(t, a))
			// Revoking twice keeps the first time; other keys keep working.
			var twice struct {
				RevokeIntegrationKey struct {
					IntegrationKey struct{ ID, RevokedAt string }
				}
			}
			b.gqlOK(t, a.Admin, revoke, map[string]any{"id": key.ID}, &twice)
			require.Equal(t, revoked.RevokeIntegrationKey.IntegrationKey.RevokedAt, twice.RevokeIntegrationKey.IntegrationKey.RevokedAt)
			status, body = b.postJE(t, a.Key, "", jeBody("US", "k-5", "10.00"))
			require.Equal(t, http.StatusCreated, status, "%v", body)

			var listed struct {
				IntegrationKeys gqConn[struct {
					ID        string
					RevokedAt *string
				}]
			}
			b.gqlOK(t, a.Admin, `{ integrationKeys(where: {revokedAtNotNil: true}) { totalCount edges { node { id revokedAt } } } }`, nil, &listed)
			require.Equal(t, 1, listed.IntegrationKeys.TotalCount)
			require.Equal(t, key.ID, listed.IntegrationKeys.nodes()[0].ID)

			before := b.gqSnapshot(t, a)
			for _, tt := range []struct {
				name string
				in   map[string]any
				code string
			}{
				{"no name", map[string]any{"name": " ", "entityIds": []string{us}, "sourceSystems": []string{"PSA"}}, "VALIDATION"},
				{"no entities", map[string]any{"name": "x", "entityIds": []string{}, "sourceSystems": []string{"PSA"}}, "VALIDATION"},
				{"no source systems", map[string]any{"name": "x", "entityIds": []string{us}, "sourceSystems": []string{}}, "VALIDATION"},
				{"unknown entity", map[string]any{"name": "x", "entityIds": []string{"le_01zzzzzzzzzzzzzzzzzzzzzzzz"}, "sourceSystems": []string{"PSA"}}, "NOT_FOUND"},
			} {
				r := b.gql(t, a.Admin, create, map[string]any{"in": tt.in})
				require.NotEmpty(t, r.Errors, tt.name)
				require.Contains(t, r.errorCodes(), tt.code, "%s: %+v", tt.name, r.Errors)
			}
			gqRequireCode(t, b.gql(t, a.Admin, revoke, map[string]any{"id": "ik_01zzzzzzzzzzzzzzzzzzzzzzzz"}), "NOT_FOUND")
			require.Equal(t, before, b.gqSnapshot(t, a))
		})
	}
}

// TestGraphQLErrorsChangeNothing runs refused operations and checks each carries its code and
// leaves the organization's data exactly as it was.
func TestGraphQLErrorsChangeNothing(t *testing.T) {
	t.Parallel()
	type ids struct{ us, uk, entry, closedPeriod, mapping, class string }
	line := gqLine
	post := func(in map[string]any) (string, map[string]any) {
		return gqPostMutation, map[string]any{"in": in}
	}
	tests := []struct {
		name  string
		role  func(o testOrg) string
		op    func(x ids) (string, map[string]any)
		code  string
		httpS int
	}{
		{name: "unbalanced entry", code: "UNBALANCED_ENTRY", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "100.00", ""), line("4000", "", "99.99")))
		}},
		{name: "single line", code: "UNBALANCED_ENTRY", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "100.00", "")))
		}},
		{name: "too many decimals", code: "INVALID_AMOUNT", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "1.23456", ""), line("4000", "", "1.23456")))
		}},
		{name: "not a number", code: "INVALID_AMOUNT", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "abc", ""), line("4000", "", "1.00")))
		}},
		{name: "float amount", code: "INVALID_AMOUNT", op: func(x ids) (string, map[string]any) {
			in := gqEntryInput(x.us, "2026-06-01", map[string]any{"accountCode": "1000", "debit": 1.5}, line("4000", "", "1.50"))
			return post(in)
		}},
		{name: "money as a literal", code: "INVALID_AMOUNT", op: func(x ids) (string, map[string]any) {
			return `mutation($e: ID!) { postJournalEntry(input: {entityId: $e, date: "2026-06-01", lines: [
				{accountCode: "1000", debit: "12.345678"}, {accountCode: "4000", credit: "12.345678"}]}) { created } }`, map[string]any{"e": x.us}
		}},
		{name: "negative amount", code: "INVALID_AMOUNT", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "-5.00", ""), line("4000", "-5.00", "")))
		}},
		{name: "zero line", code: "INVALID_AMOUNT", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "0", ""), line("4000", "", "0.00")))
		}},
		{name: "both sides on a line", code: "VALIDATION", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "5.00", "5.00"), line("4000", "", "5.00"), line("1200", "5.00", "")))
		}},
		{name: "account named twice", code: "VALIDATION", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", map[string]any{"accountCode": "1000", "accountId": "acct_x", "debit": "5.00"}, line("4000", "", "5.00")))
		}},
		{name: "bad date", code: "VALIDATION", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-02-30", line("1000", "5.00", ""), line("4000", "", "5.00")))
		}},
		{name: "unknown account", code: "UNKNOWN_ACCOUNT", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "5.00", ""), line("9999", "", "5.00")))
		}},
		{name: "unknown class", code: "UNKNOWN_CLASS", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", map[string]any{"accountCode": "1000", "debit": "5.00", "classId": "cls_01zzzzzzzzzzzzzzzzzzzzzzzz"}, line("4000", "", "5.00")))
		}},
		{name: "class of another entity", code: "UNKNOWN_CLASS", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.uk, "2026-06-01", map[string]any{"accountCode": "1000", "debit": "5.00", "classId": x.class}, line("4000", "", "5.00")))
		}},
		{name: "unknown entity", code: "UNKNOWN_ENTITY", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput("le_01zzzzzzzzzzzzzzzzzzzzzzzz", "2026-06-01", line("1000", "5.00", ""), line("4000", "", "5.00")))
		}},
		{name: "currency of another entity", code: "CURRENCY_MISMATCH", op: func(x ids) (string, map[string]any) {
			in := gqEntryInput(x.us, "2026-06-01", line("1000", "5.00", ""), line("4000", "", "5.00"))
			in["currency"] = "GBP"
			return post(in)
		}},
		{name: "closed period", code: "PERIOD_CLOSED", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-01-15", line("1000", "5.00", ""), line("4000", "", "5.00")))
		}},
		{name: "reverse unknown entry", code: "NOT_FOUND", op: func(x ids) (string, map[string]any) {
			return `mutation { reverseJournalEntry(input: {journalEntryId: "je_01zzzzzzzzzzzzzzzzzzzzzzzz"}) { reversal { id } } }`, nil
		}},
		{name: "reverse dated before the original", code: "VALIDATION", op: func(x ids) (string, map[string]any) {
			return `mutation($id: ID!) { reverseJournalEntry(input: {journalEntryId: $id, date: "2026-01-20"}) { reversal { id } } }`, map[string]any{"id": x.entry}
		}},
		{name: "manual entry to Accounts Receivable", code: "CONTROL_ACCOUNT", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1200", "77.00", ""), line("4000", "", "77.00")))
		}},
		{name: "manual entry to Customer Credits", code: "CONTROL_ACCOUNT", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "7.00", ""), line("2100", "", "7.00")))
		}},
		{name: "half a cent", code: "INVALID_AMOUNT", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "0.005", ""), line("4000", "", "0.005")))
		}},
		{name: "a hundredth of a cent", code: "INVALID_AMOUNT", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "0.0001", ""), line("4000", "", "0.0001")))
		}},
		{name: "not a currency", code: "VALIDATION", op: func(x ids) (string, map[string]any) {
			in := gqEntryInput(x.us, "2026-06-01", line("1000", "5.00", ""), line("4000", "", "5.00"))
			in["currency"] = "ZZZZ"
			return post(in)
		}},
		{name: "date past the ledger's range", code: "VALIDATION", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "9999-12-31", line("1000", "5.00", ""), line("4000", "", "5.00")))
		}},
		{name: "date before the ledger's range", code: "VALIDATION", op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "0001-01-01", line("1000", "5.00", ""), line("4000", "", "5.00")))
		}},
		{name: "a document's source reference", code: "DOCUMENT_OWNED", op: func(x ids) (string, map[string]any) {
			in := gqEntryInput(x.us, "2026-06-01", line("1000", "5.00", ""), line("4000", "", "5.00"))
			in["sourceRef"] = "invoice:inv_01zzzzzzzzzzzzzzzzzzzzzzzz"
			return post(in)
		}},
		{name: "a reversal's source reference", code: "DOCUMENT_OWNED", op: func(x ids) (string, map[string]any) {
			in := gqEntryInput(x.us, "2026-06-01", line("1000", "5.00", ""), line("4000", "", "5.00"))
			in["sourceRef"], in["sourceSystem"] = "reversal:"+x.entry, "PSA"
			return post(in)
		}},
		{name: "update unknown account", code: "NOT_FOUND", op: func(x ids) (string, map[string]any) {
			return `mutation { updateAccount(input: {accountId: "acct_01zzzzzzzzzzzzzzzzzzzzzzzz", patch: {name: "x"}}) { account { id } } }`, nil
		}},
		{name: "close unknown period", code: "NOT_FOUND", op: func(x ids) (string, map[string]any) {
			return `mutation { closePeriod(input: {periodId: "per_01zzzzzzzzzzzzzzzzzzzzzzzz"}) { period { id } } }`, nil
		}},
		{name: "delete unknown mapping", code: "NOT_FOUND", op: func(x ids) (string, map[string]any) {
			return `mutation { deleteCOAMapping(input: {coaMappingId: "map_01zzzzzzzzzzzzzzzzzzzzzzzz"}) { deletedCoaMappingId } }`, nil
		}},
		{name: "unknown argument", code: "GRAPHQL_VALIDATION_FAILED", op: func(x ids) (string, map[string]any) {
			return `mutation($id: ID!) { deleteCOAMapping(input: {coaMappingId: $id}, force: true) { deletedCoaMappingId } }`, map[string]any{"id": x.mapping}
		}},
		{name: "parse error", code: "GRAPHQL_PARSE_FAILED", op: func(x ids) (string, map[string]any) {
			return `mutation { deleteCOAMapping(input: {coaMappingId: `, nil
		}},
		{name: "second mutation fails, first rolls back", code: "UNBALANCED_ENTRY", op: func(x ids) (string, map[string]any) {
			return `mutation($id: ID!, $bad: PostJournalEntryInput!) {
				a: deleteCOAMapping(input: {coaMappingId: $id}) { deletedCoaMappingId }
				b: postJournalEntry(input: $bad) { created } }`, map[string]any{"id": x.mapping,
					"bad": gqEntryInput(x.us, "2026-06-01", line("1000", "1.00", ""), line("4000", "", "2.00"))}
		}},
		{name: "viewer", code: "FORBIDDEN", role: func(o testOrg) string { return o.Viewer }, op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "5.00", ""), line("4000", "", "5.00")))
		}},
		{name: "accountant closes a period", code: "FORBIDDEN", role: func(o testOrg) string { return o.Accountant }, op: func(x ids) (string, map[string]any) {
			return `mutation($e: ID) { closePeriod(input: {entityId: $e, name: "2026-06"}) { period { id } } }`, map[string]any{"e": x.us}
		}},
		{name: "no token", code: "UNAUTHENTICATED", httpS: http.StatusUnauthorized, role: func(testOrg) string { return "" }, op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "5.00", ""), line("4000", "", "5.00")))
		}},
		{name: "bad token", code: "UNAUTHENTICATED", httpS: http.StatusUnauthorized, role: func(testOrg) string { return "not.a.jwt" }, op: func(x ids) (string, map[string]any) {
			return post(gqEntryInput(x.us, "2026-06-01", line("1000", "5.00", ""), line("4000", "", "5.00")))
		}},
	}
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					b := setup(t, d)
					a := b.orgA
					x := ids{us: a.Entities[0].ID, uk: a.Entities[1].ID}
					x.entry = b.gqSeedEntry(t, a, 0, "2026-02-10", "e1", "10.00", "4000")
					p, err := ledger.FindPeriod(orgCtx(a), b.client, x.us, "2026-01")
					require.NoError(t, err)
					_, err = ledger.ClosePeriod(orgCtx(a), b.client, p.ID, "seed")
					require.NoError(t, err)
					x.closedPeriod = p.ID
					x.mapping = b.gqMappingID(t, a, 0, source.PSA, "revenue")
					x.class = b.gqClassID(t, a, 0, "Consulting")

					before, beforeB := b.gqSnapshot(t, a), b.gqSnapshot(t, b.orgB)
					token := a.Admin
					if tt.role != nil {
						token = tt.role(a)
					}
					query, vars := tt.op(x)
					r := b.gql(t, token, query, vars)
					gqRequireCode(t, r, tt.code)
					if tt.httpS != 0 {
						require.Equal(t, tt.httpS, r.status)
					}
					for _, e := range r.Errors {
						require.NotEmpty(t, e.Message)
					}
					if len(r.Data) > 0 && string(r.Data) != "null" {
						require.NotContains(t, string(r.Data), `"created":true`)
					}
					require.Equal(t, before, b.gqSnapshot(t, a), "a refused operation changes nothing")
					require.Equal(t, beforeB, b.gqSnapshot(t, b.orgB))
				})
			}
		})
	}
}

func TestGraphQLLimits(t *testing.T) {
	t.Parallel()
	// nested returns classes { edges { node { parent { … { id } } } } } nested depth levels deep.
	nested := func(depth int) string {
		parents := depth - 4 // classes, edges, node and id
		return `{ classes { edges { node { ` + strings.Repeat("parent { ", parents) + `id` + strings.Repeat(" }", parents) + ` } } } }`
	}
	const heavy = `{ journalEntries(first: 1000) { edges { node { lines { account { name } } } } } }`
	var aliased strings.Builder
	aliased.WriteString("{ ")
	for i := range 5 {
		fmt.Fprintf(&aliased, "a%d: journalEntries(first: 100) { edges { node { id lines { account { name } } } } } ", i)
	}
	aliased.WriteString("}")
	tests := []struct {
		name  string
		query string
		code  string // "" when the query must pass
	}{
		{"depth at the limit", nested(12), ""},
		{"depth over the limit", nested(13), "DEPTH_LIMIT_EXCEEDED"},
		{"depth far over the limit", nested(40), "DEPTH_LIMIT_EXCEEDED"},
		{"depth hidden in a fragment", `query { classes { edges { node { ...P } } } }
			fragment P on Class { parent { parent { parent { parent { parent { parent { parent { parent { parent { id } } } } } } } } } }`, "DEPTH_LIMIT_EXCEEDED"},
		{"depth hidden in inline fragments", `query($id: ID!) { node(id: $id) { ... on Class { parent { parent { parent { parent { parent { parent { parent { parent { parent { parent { parent { parent { id } } } } } } } } } } } } } } }`, "DEPTH_LIMIT_EXCEEDED"},
		{"depth of a mutation", `mutation { createClass(input: {entityId: "x", name: "y"}) { class { parent { parent { parent { parent { parent { parent { parent { parent { parent { parent { parent { parent { id } } } } } } } } } } } } } } }`, "DEPTH_LIMIT_EXCEEDED"},
		{"introspection is not depth limited", `{ __schema { types { name fields { name type { name ofType { name ofType { name ofType { name ofType { name ofType { name ofType { name ofType { name } } } } } } } } } } } }`, ""},
		{"large page of entries with lines", heavy, "COMPLEXITY_LIMIT_EXCEEDED"},
		{"many aliases of mid-sized pages", aliased.String(), "COMPLEXITY_LIMIT_EXCEEDED"},
		{"large page through a nested connection", `{ organization { legalEntities(first: 1) { edges { node { journalEntries(first: 1000) { edges { node { lines { account { name } } } } } } } } } }`, "COMPLEXITY_LIMIT_EXCEEDED"},
		{"large page of accounts through entities", `{ legalEntities(first: 2) { edges { node { accounts(first: 5000) { edges { node { code entity { code } } } } } } } }`, "COMPLEXITY_LIMIT_EXCEEDED"},
		{"normal page of entries", `{ journalEntries(first: 50) { totalCount edges { node { id lines { debit credit account { code name } } } } } }`, ""},
		{"normal query with aliases", `{ a: accounts(first: 20) { totalCount } b: classes(first: 20) { totalCount } c: legalEntities { totalCount } }`, ""},
	}
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			consulting := b.gqClassID(t, b.orgA, 0, "Consulting")
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					var vars map[string]any
					if strings.Contains(tt.query, "$id") {
						vars = map[string]any{"id": consulting}
					}
					r := b.gql(t, b.orgA.Admin, tt.query, vars)
					if tt.code == "" {
						require.Empty(t, r.Errors)
						require.NotEqual(t, "null", string(r.Data))
						return
					}
					require.Equal(t, []string{tt.code}, r.errorCodes(), "%+v", r.Errors)
					require.True(t, len(r.Data) == 0 || string(r.Data) == "null", "a refused operation does not run: %s", r.Data)
					switch tt.code {
					case "DEPTH_LIMIT_EXCEEDED":
						require.Contains(t, r.Errors[0].Message, "limit is 12")
					case "COMPLEXITY_LIMIT_EXCEEDED":
						require.Contains(t, r.Errors[0].Message, "exceeds the limit of 5000")
					}
				})
			}
			t.Run("refused mutation writes nothing", func(t *testing.T) {
				t.Parallel()
				before := b.gqSnapshot(t, b.orgA)
				deep := `mutation($e: ID!) { createClass(input: {entityId: $e, name: "Deep"}) { class { parent { parent { parent { parent { parent { parent { parent { parent { parent { parent { parent { parent { id } } } } } } } } } } } } } } }`
				gqRequireCode(t, b.gql(t, b.orgA.Admin, deep, map[string]any{"e": b.orgA.Entities[0].ID}), "DEPTH_LIMIT_EXCEEDED")
				require.Equal(t, before, b.gqSnapshot(t, b.orgA))
			})
		})
	}
}

func TestGraphQLNoNPlusOne(t *testing.T) {
	t.Parallel()
	const query = `query($n: Int) { journalEntries(first: $n, orderBy: {field: DATE}) { totalCount edges { node {
		id date lines { id debit credit account { code } class { name } } entity { code } } } } }`
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			a := b.orgA
			ctx := orgCtx(a)
			for i := range 60 {
				entity := a.Entities[i%2]
				_, err := ledger.Post(ctx, b.client, ledger.Entry{
					EntityID: entity.ID, Date: mustDate(fmt.Sprintf("2026-%02d-%02d", 1+i%12, 1+i%28)),
					Source: source.Books, SourceRef: fmt.Sprintf("n%d", i), CreatedBy: "seed",
					Lines: []ledger.Line{
						{AccountCode: "1250", Debit: money.MustParse("10.00"), ClassName: "Consulting"},
						{AccountCode: "1000", Debit: money.MustParse("5.00")},
						{AccountCode: "4000", Credit: money.MustParse("12.00")},
						{AccountCode: "4100", Credit: money.MustParse("3.00")},
					},
				})
				require.NoError(t, err)
			}
			type page struct {
				JournalEntries gqConn[struct {
					ID    string
					Lines []struct {
						Account struct{ Code string }
						Class   *struct{ Name string }
					}
					Entity struct{ Code string }
				}]
			}
			counts := map[int]int64{}
			for _, n := range []int{5, 50} {
				var out page
				b.counter.Reset()
				b.gqlOK(t, a.Viewer, query, map[string]any{"n": n}, &out)
				counts[n] = b.counter.Count()
				c := out.JournalEntries
				require.Equal(t, 60, c.TotalCount)
				require.Len(t, c.Edges, n)
				for _, e := range c.nodes() {
					require.Len(t, e.Lines, 4)
					require.NotEmpty(t, e.Entity.Code)
					require.Equal(t, "1250", e.Lines[0].Account.Code)
					require.Equal(t, "Consulting", e.Lines[0].Class.Name)
					require.Nil(t, e.Lines[1].Class)
				}
			}
			t.Logf("statements per request by page size: %v", counts)
			require.Equal(t, counts[5], counts[50], "statements must not grow with the page size: %v", counts)
			require.Less(t, counts[50], int64(15), "statements per request: %v", counts)
			require.Positive(t, counts[5])
		})
	}
}

func TestGraphQLPageSizes(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			var out struct {
				CoaMappings struct {
					TotalCount int
					Edges      []struct{ Node struct{ ID string } }
					PageInfo   struct{ HasNextPage bool }
				}
			}
			// Each organization has far more than 100 mappings.
			b.gqlOK(t, b.orgA.Viewer, `{ coaMappings { totalCount edges { node { id } } pageInfo { hasNextPage } } }`, nil, &out)
			require.Greater(t, out.CoaMappings.TotalCount, 100)
			require.Len(t, out.CoaMappings.Edges, 100, "no first or last: the default page")
			require.True(t, out.CoaMappings.PageInfo.HasNextPage)

			b.gqlOK(t, b.orgA.Viewer, `{ coaMappings(first: 150) { totalCount edges { node { id } } } }`, nil, &out)
			require.Len(t, out.CoaMappings.Edges, 150)

			for _, q := range []string{
				`{ coaMappings(first: 1001) { totalCount } }`,
				`{ coaMappings(last: 1001) { totalCount } }`,
				`{ coaMappings(first: -1) { totalCount } }`,
				`{ legalEntities(first: 2) { edges { node { coaMappings(first: 1001) { totalCount } } } } }`,
			} {
				r := b.gql(t, b.orgA.Viewer, q, nil)
				gqRequireCode(t, r, "VALIDATION")
			}
		})
	}
}

// TestGraphQLCursorByTimeAscending walks a connection ordered by a timestamp, ascending, page
// by page: on SQLite the stored text of a time must compare equal to the cursor's time, or
// the row at each page boundary comes back again.
func TestGraphQLCursorByTimeAscending(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			us := b.orgA.Entities[0].ID
			type page struct {
				Accounts struct {
					Edges    []struct{ Node struct{ ID string } }
					PageInfo struct {
						EndCursor   *string
						HasNextPage bool
					}
				}
			}
			q := `query($e: ID, $after: Cursor) { accounts(first: 4, after: $after, where: {entityId: $e},
				orderBy: {field: CREATED_AT, direction: ASC}) { edges { node { id } } pageInfo { endCursor hasNextPage } } }`
			var walked []string
			var after any
			for range 20 {
				var p page
				b.gqlOK(t, b.orgA.Viewer, q, map[string]any{"e": us, "after": after}, &p)
				for _, e := range p.Accounts.Edges {
					walked = append(walked, e.Node.ID)
				}
				if !p.Accounts.PageInfo.HasNextPage {
					break
				}
				after = *p.Accounts.PageInfo.EndCursor
			}
			var all page
			b.gqlOK(t, b.orgA.Viewer, `query($e: ID) { accounts(first: 100, where: {entityId: $e},
				orderBy: {field: CREATED_AT, direction: ASC}) { edges { node { id } } } }`, map[string]any{"e": us}, &all)
			var want []string
			for _, e := range all.Accounts.Edges {
				want = append(want, e.Node.ID)
			}
			require.Greater(t, len(want), 8, "enough rows for several pages")
			require.Equal(t, want, walked)
		})
	}
}
