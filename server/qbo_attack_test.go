package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/qbolink"
	"books/graph"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/qbo"
	"books/internal/qbo/conn"
	"books/internal/qbo/push"
	"books/internal/qbo/qbotest"
	"books/internal/secrets"
	"books/internal/tenant"
	"books/server"
)

// qboBundle is a server with QuickBooks wired as `books serve` wires it (the token refresher
// behind the push engine's HTTP client) and organization A's US entity connected to realm 0.
type qboBundle struct {
	*testBundle
	srv    *qbotest.Server
	store  *conn.Store
	engine *push.Engine
	row    *ent.QBOConnection
	logs   *lockedBuf
	tokens qbotest.TokenResponse
	secret string
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func setupQBO(t *testing.T, dialectName string) *qboBundle {
	t.Helper()
	db := dbtest.Open(t, dialectName)
	return setupQBODB(t, db)
}

func setupQBODB(t *testing.T, db *database.DB) *qboBundle {
	t.Helper()
	client := db.Client()
	tokens, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret!"), "books")
	require.NoError(t, err)
	authn := auth.NewService(tokens, client)
	em := qbotest.NewServer(t, qbotest.WithRealms(2), qbotest.WithoutLimits())
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(t, err)
	store := conn.NewStore(box)
	app := conn.EmulatorApp(em.URL, em.ClientID(), em.ClientSecret(), "https://books.example/oauth/qbo/callback")
	refresher := &conn.Refresher{Store: store, DB: db, App: app}
	logs := &lockedBuf{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	engine := &push.Engine{Store: store, App: app, Limiter: qbo.NewLimiter(qbo.DefaultLimits()), Logger: log,
		HTTPClient: func(ctx context.Context, row *ent.QBOConnection) (*http.Client, error) {
			hc := refresher.HTTPClient(ctx, row.ID)
			hc.Timeout = 5 * time.Second
			return hc, nil
		},
		Unauthorized: func(ctx context.Context, row *ent.QBOConnection) error { return refresher.Rejected(ctx, row.ID) },
	}
	srv := server.New(server.Config{DB: db, Client: client, Auth: authn, Logger: log,
		QuickBooks: &graph.QuickBooks{Engine: engine}})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	b := &qboBundle{testBundle: &testBundle{db: db, client: client, server: hs, tokens: tokens}, srv: em, store: store,
		engine: engine, logs: logs, secret: em.ClientSecret()}
	b.orgA = b.seedOrg(t, "Org A")
	b.orgB = b.seedOrg(t, "Org B")
	realm := em.RealmIDs()[0]
	b.tokens = em.IssueTokens(realm)
	now := time.Now().UTC()
	b.row, err = store.Save(orgCtx(b.orgA), client, conn.Connect{EntityID: b.orgA.Entities[0].ID, RealmID: realm, BaseURL: em.URL,
		Tokens: conn.Tokens{Access: b.tokens.AccessToken, Refresh: b.tokens.RefreshToken, AccessExpiresAt: now.Add(time.Hour),
			RefreshExpiresAt: now.Add(100 * 24 * time.Hour)}})
	require.NoError(t, err)
	return b
}

// customerA creates a customer of organization A and pushes it to realm 0.
func (b *qboBundle) pushedCustomer(t *testing.T, name string) string {
	t.Helper()
	var out struct {
		CreateCustomer struct{ Customer struct{ ID string } }
	}
	b.gqlOK(t, b.orgA.Accountant, `mutation($in: CreateCustomerInput!) { createCustomer(input: $in) { customer { id } } }`,
		map[string]any{"in": map[string]any{"name": name + " LLC", "displayName": name, "email": strings.ToLower(name) + "@example.com", "currency": "USD"}}, &out)
	id := out.CreateCustomer.Customer.ID
	b.gqlOK(t, b.orgA.Accountant, `mutation($in: SyncToQuickBooksInput!) { syncToQuickBooks(input: $in) { links { id status } } }`,
		map[string]any{"in": map[string]any{"entityId": b.orgA.Entities[0].ID, "recordType": "CUSTOMER", "recordIds": []string{id}}}, nil)
	require.NoError(t, b.engine.Drain(orgCtx(b.orgA), b.client, b.row.ID))
	l, err := b.client.QBOLink.Query().Where(qbolink.RecordID(id)).Only(orgCtx(b.orgA))
	require.NoError(t, err)
	require.Equal(t, qbolink.StatusSynced, l.Status, l.LastError)
	return id
}

// gqlTimeout is gql with a deadline: a request still running after d fails the test.
func (b *qboBundle) gqlTimeout(t *testing.T, d time.Duration, token, query string, vars map[string]any) gqlResponse {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.server.URL+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "the request did not finish within %s", d)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out gqlResponse
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	out.status = resp.StatusCode
	return out
}

// Finding 4: qboInfo calls QuickBooks live, but a mutation's payload can select it, so the
// call runs inside the mutation's transaction. On SQLite (one connection) the token source
// cannot read the connection's tokens while the transaction holds the connection: the
// request hangs, and with it every other request of the server.
func TestAttackQBOInfoInsideMutation(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setupQBO(t, d)
			id := b.pushedCustomer(t, "Acme")
			r := b.gqlTimeout(t, 8*time.Second, b.orgA.Accountant, `mutation($in: UpdateCustomerInput!) {
				updateCustomer(input: $in) { customer { id qboInfo { record } } } }`,
				map[string]any{"in": map[string]any{"customerId": id, "patch": map[string]any{"phone": "+1 555 0100"}}})
			// Refused (or answered), never left hanging; the live read works in a query.
			if len(r.Errors) == 0 {
				require.Contains(t, string(r.Data), `"DisplayName":"Acme"`)
			}
			r = b.gqlTimeout(t, 8*time.Second, b.orgA.Accountant, `query($id: ID!) { node(id: $id) { ... on Customer { qboInfo { record } } } }`,
				map[string]any{"id": id})
			require.Empty(t, r.Errors)
			require.Contains(t, string(r.Data), `"DisplayName":"Acme"`)
		})
	}
}

var _ = tenant.System
