package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/tenant"
	"books/server"
)

// testOrg is an organization seeded for a test: two entities with the default chart, and
// tokens and an integration key for it.
type testOrg struct {
	ID          string
	Entities    []*ent.LegalEntity // [0] is "US" (USD), [1] is "UK" (GBP)
	Admin       string             // bearer token, role admin
	FinanceLead string
	Accountant  string
	Viewer      string
	Key         string // integration key secret: all entities, all source systems
}

type testBundle struct {
	db      *database.DB
	client  *ent.Client // root client; use with tenant.System or orgCtx
	counter *database.StatementCounter
	server  *httptest.Server
	tokens  *auth.Tokens
	orgA    testOrg
	orgB    testOrg
}

// setup starts a real HTTP server over a fresh database of the dialect with two
// organizations.
func setup(t *testing.T, dialectName string) *testBundle {
	t.Helper()
	return setupWith(t, dialectName, nil)
}

// setupWith is setup with configure completing the server's Config (it may read the
// database) before the server starts.
func setupWith(t *testing.T, dialectName string, configure func(*server.Config)) *testBundle {
	t.Helper()
	db := dbtest.Open(t, dialectName)
	counter := &database.StatementCounter{}
	client := ent.NewClient(ent.Driver(counter.Wrap(db.Driver)))
	tokens, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret!"), "books")
	require.NoError(t, err)
	authn := auth.NewService(tokens, client)
	cfg := server.Config{
		DB: db, Client: client, Auth: authn,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	if configure != nil {
		configure(&cfg)
	}
	srv := server.New(cfg)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	b := &testBundle{db: db, client: client, counter: counter, server: hs, tokens: tokens}
	b.orgA = b.seedOrg(t, "Org A")
	b.orgB = b.seedOrg(t, "Org B")
	return b
}

func (b *testBundle) seedOrg(t *testing.T, name string) testOrg {
	t.Helper()
	ctx := tenant.System(context.Background())
	org, err := b.client.Organization.Create().SetName(name).Save(ctx)
	require.NoError(t, err)
	octx := tenant.WithOrg(context.Background(), org.ID)
	o := testOrg{ID: org.ID}
	for _, in := range []ent.CreateLegalEntityInput{
		{Code: "US", Name: name + " US", BaseCurrency: "USD"},
		{Code: "UK", Name: name + " UK", BaseCurrency: "GBP"},
	} {
		le, err := ledger.CreateEntity(octx, b.client, in)
		require.NoError(t, err)
		o.Entities = append(o.Entities, le)
		_, err = ledger.CreateClass(octx, b.client, ent.CreateClassInput{EntityID: le.ID, Name: "Consulting"})
		require.NoError(t, err)
	}
	key, err := auth.CreateIntegrationKey(octx, b.client, "test key",
		[]string{o.Entities[0].ID, o.Entities[1].ID}, source.All(), "test")
	require.NoError(t, err)
	o.Key = key.Secret
	mint := func(role auth.Role) string {
		tok, err := b.tokens.Mint("user-"+string(role)+"-"+org.ID, org.ID, []auth.Role{role}, "", time.Hour)
		require.NoError(t, err)
		return tok
	}
	o.Admin, o.FinanceLead, o.Accountant, o.Viewer = mint(auth.RoleAdmin), mint(auth.RoleFinanceLead), mint(auth.RoleAccountant), mint(auth.RoleViewer)
	return o
}

// orgCtx returns a context scoped to org, for reading the database directly in assertions.
func orgCtx(org testOrg) context.Context { return tenant.WithOrg(context.Background(), org.ID) }

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
	status int
}

// errorCodes returns extensions.code of every error.
func (r gqlResponse) errorCodes() []string {
	var out []string
	for _, e := range r.Errors {
		code, _ := e.Extensions["code"].(string)
		out = append(out, code)
	}
	return out
}

// gql posts a GraphQL operation with token (none when empty) over real HTTP.
func (b *testBundle) gql(t *testing.T, token, query string, vars map[string]any) gqlResponse {
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
	var out gqlResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	out.status = resp.StatusCode
	return out
}

// gqlOK runs an operation that must succeed and decodes its data into v.
func (b *testBundle) gqlOK(t *testing.T, token, query string, vars map[string]any, v any) {
	t.Helper()
	r := b.gql(t, token, query, vars)
	require.Empty(t, r.Errors, "unexpected GraphQL errors")
	if v != nil {
		require.NoError(t, json.Unmarshal(r.Data, v))
	}
}

// postJE posts a journal entry to the JE API and returns the status and decoded body.
func (b *testBundle) postJE(t *testing.T, key, idemKey string, body any) (int, map[string]any) {
	t.Helper()
	var raw []byte
	switch v := body.(type) {
	case string:
		raw = []byte(v)
	case []byte:
		raw = v
	default:
		var err error
		raw, err = json.Marshal(v)
		require.NoError(t, err)
	}
	req, err := http.NewRequest(http.MethodPost, b.server.URL+"/api/v1/journal-entries", bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-Integration-Key", key)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if len(data) > 0 {
		require.NoError(t, json.Unmarshal(data, &out), "body: %s", data)
	}
	return resp.StatusCode, out
}

// errCode returns error.code of a REST error body.
func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// jeBody is a balanced two-line PSA entry for entity.
func jeBody(entity, ref, amount string) map[string]any {
	return map[string]any{
		"entity": entity, "date": "2026-11-21", "description": "Consulting time",
		"source_system": "psa", "source_ref": ref, "currency": "USD",
		"lines": []map[string]any{
			{"source_code": "unbilled_receivables", "debit": amount, "class": "Consulting"},
			{"account_code": "4000", "credit": amount},
		},
	}
}

// entryCount returns how many journal entries org has.
func (b *testBundle) entryCount(t *testing.T, org testOrg) int {
	t.Helper()
	n, err := b.client.JournalEntry.Query().Count(orgCtx(org))
	require.NoError(t, err)
	return n
}

// requireLedgerBalanced checks every entity's trial balance of org balances.
func (b *testBundle) requireLedgerBalanced(t *testing.T, org testOrg) {
	t.Helper()
	for _, le := range org.Entities {
		tb, err := ledger.GetTrialBalance(orgCtx(org), b.client, le.ID, mustDate("2099-12-31"))
		require.NoError(t, err)
		require.True(t, tb.Balanced(), "trial balance of %s: debits %s credits %s", le.Code, tb.TotalDebit, tb.TotalCredit)
	}
}
