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

func setupAttackQBO(t *testing.T, dialectName string) *qboBundle {
	t.Helper()
	db := dbtest.Open(t, dialectName)
	return setupAttackQBODB(t, db)
}

func setupAttackQBODB(t *testing.T, db *database.DB) *qboBundle {
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
			b := setupAttackQBO(t, d)
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

// Tenancy, roles, portal and secrets of the QuickBooks GraphQL surface (these held).
func TestAttackQBOTenancyAndSecrets(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setupAttackQBO(t, d)
			id := b.pushedCustomer(t, "Acme")
			aUS := b.orgA.Entities[0].ID
			var bodies []string
			run := func(token, q string, vars map[string]any) gqlResponse {
				r := b.gql(t, token, q, vars)
				raw, _ := json.Marshal(r)
				bodies = append(bodies, string(r.Data)+string(raw))
				return r
			}
			link, err := b.client.QBOLink.Query().Where(qbolink.RecordID(id)).Only(orgCtx(b.orgA))
			require.NoError(t, err)

			// Organization B names A's entity, customer, connection and link.
			r := run(b.orgB.Admin, `query($e: ID!) { quickBooksConnection(entityId: $e) { id realmId } }`, map[string]any{"e": aUS})
			require.Contains(t, string(r.Data), `"quickBooksConnection":null`)
			for _, q := range []string{
				`mutation($in: SyncToQuickBooksInput!) { syncToQuickBooks(input: $in) { links { id } } }`,
			} {
				r = run(b.orgB.Admin, q, map[string]any{"in": map[string]any{"entityId": aUS, "recordType": "CUSTOMER", "recordIds": []string{id}}})
				require.NotEmpty(t, r.Errors, "B pushes into A's company")
			}
			r = run(b.orgB.Admin, `mutation($in: UnlinkQuickBooksRecordInput!) { unlinkQuickBooksRecord(input: $in) { removed } }`,
				map[string]any{"in": map[string]any{"entityId": aUS, "recordType": "CUSTOMER", "recordId": id}})
			require.NotEmpty(t, r.Errors, "B unlinks A's record")
			r = run(b.orgB.Admin, `mutation($in: LinkQuickBooksRecordInput!) { linkQuickBooksRecord(input: $in) { link { id } } }`,
				map[string]any{"in": map[string]any{"entityId": aUS, "recordType": "CUSTOMER", "recordId": id, "qboId": *link.QboID}})
			require.NotEmpty(t, r.Errors, "B links A's record")
			r = run(b.orgB.Admin, `mutation($in: QuickBooksEntityInput!) { disconnectQuickBooks(input: $in) { connection { id } } }`,
				map[string]any{"in": map[string]any{"entityId": aUS}})
			require.NotEmpty(t, r.Errors, "B disconnects A")
			r = run(b.orgB.Admin, `mutation($in: QuickBooksEntityInput!) { updateQuickBooksLists(input: $in) { autoMapped } }`,
				map[string]any{"in": map[string]any{"entityId": aUS}})
			require.NotEmpty(t, r.Errors, "B updates A's lists")
			r = run(b.orgB.Admin, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": link.ID})
			require.Contains(t, string(r.Data), `"node":null`)
			r = run(b.orgB.Admin, `query { qboLinks(first: 50) { totalCount } qboListEntries(first: 5) { totalCount } }`, nil)
			require.Empty(t, r.Errors)
			require.Contains(t, string(r.Data), `"qboLinks":{"totalCount":0}`)
			r = run(b.orgB.Admin, `query($id: ID!) { node(id: $id) { ... on Customer { qboInfo { record } } } }`, map[string]any{"id": id})
			require.NotContains(t, string(r.Data), "Acme")

			// Roles: a viewer pushes nothing; an accountant links nothing.
			r = run(b.orgA.Viewer, `mutation($in: SyncToQuickBooksInput!) { syncToQuickBooks(input: $in) { links { id } } }`,
				map[string]any{"in": map[string]any{"entityId": aUS, "recordType": "CUSTOMER", "recordIds": []string{id}}})
			require.NotEmpty(t, r.Errors)
			r = run(b.orgA.Accountant, `mutation($in: QuickBooksEntityInput!) { connectQuickBooks(input: $in) { authorizeUrl } }`,
				map[string]any{"in": map[string]any{"entityId": aUS}})
			require.NotEmpty(t, r.Errors)

			// A portal client of the customer sees none of it.
			portal, err := b.testBundle.tokens.Mint("p1", b.orgA.ID, nil, id, time.Hour)
			require.NoError(t, err)
			for _, q := range []string{
				`query($id: ID!) { node(id: $id) { ... on Customer { qboLinks { id qboId } } } }`,
				`query($id: ID!) { node(id: $id) { ... on Customer { qboInfo { record } } } }`,
			} {
				r = run(portal, q, map[string]any{"id": id})
				require.NotEmpty(t, r.Errors, q)
				require.NotContains(t, string(r.Data), *link.QboID)
			}
			r = run(portal, `query { qboLinks(first: 5) { totalCount } }`, nil)
			require.NotEmpty(t, r.Errors)

			// Forged input.
			bad := []map[string]any{
				{"entityId": aUS, "recordType": "ACCOUNT", "recordIds": []string{id}},
				{"entityId": aUS, "recordType": "CUSTOMER", "recordIds": func() []string {
					s := make([]string, 31)
					for i := range s {
						s[i] = id
					}
					return s
				}()},
				{"entityId": aUS, "recordType": "CUSTOMER", "recordIds": []string{}},
				{"entityId": aUS, "recordType": "CUSTOMER", "recordIds": []string{strings.Repeat("x", 5000)}},
			}
			for _, in := range bad {
				r = run(b.orgA.Admin, `mutation($in: SyncToQuickBooksInput!) { syncToQuickBooks(input: $in) { links { id } } }`, map[string]any{"in": in})
				require.NotEmpty(t, r.Errors, "%v", in["recordType"])
			}
			// A connection answer with everything it has, and the admin queue.
			r = run(b.orgA.Admin, `query($e: ID!) { quickBooksConnection(entityId: $e) { id realmId companyName status lastError accessExpiresAt refreshExpiresAt settings { serviceItemId } pendingLinks failedLinks } }`, map[string]any{"e": aUS})
			require.Empty(t, r.Errors)
			r = run(b.orgA.Admin, `query($id: ID!) { node(id: $id) { ... on Customer { qboLinks { id qboId syncToken lastError } qboInfo { record link { id } } } } }`, map[string]any{"id": id})
			require.Empty(t, r.Errors)
			for _, s := range []string{b.tokens.AccessToken, b.tokens.RefreshToken, b.secret} {
				for _, body := range bodies {
					require.NotContains(t, body, s, "a secret in a GraphQL response")
				}
				require.NotContains(t, b.logs.String(), s, "a secret in the logs")
			}
		})
	}
}

// Revoking the grant in the middle of a drain pauses it: the links stay pending, the
// connection needs re-authorization, one admin issue; reconnecting resumes and everything
// reaches QuickBooks once.
func TestAttackRevokeMidDrainPausesThenResumes(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setupAttackQBO(t, d)
			ctx := orgCtx(b.orgA)
			var ids []string
			for _, n := range []string{"Alpha", "Bravo", "Charlie", "Delta"} {
				var out struct {
					CreateCustomer struct{ Customer struct{ ID string } }
				}
				b.gqlOK(t, b.orgA.Accountant, `mutation($in: CreateCustomerInput!) { createCustomer(input: $in) { customer { id } } }`,
					map[string]any{"in": map[string]any{"name": n + " LLC", "displayName": n, "email": strings.ToLower(n) + "@example.com", "currency": "USD"}}, &out)
				ids = append(ids, out.CreateCustomer.Customer.ID)
			}
			b.gqlOK(t, b.orgA.Accountant, `mutation($in: SyncToQuickBooksInput!) { syncToQuickBooks(input: $in) { links { id } } }`,
				map[string]any{"in": map[string]any{"entityId": b.orgA.Entities[0].ID, "recordType": "CUSTOMER", "recordIds": ids}}, nil)
			realm := b.srv.RealmIDs()[0]
			// The grant is revoked as the batch arrives (it is then refused).
			require.NoError(t, b.srv.InjectFault(qbotest.Fault{Endpoint: "batch", Kind: qbotest.FaultRevokeRefreshTokens, Count: 1}))
			err := b.engine.Drain(ctx, b.client, b.row.ID)
			require.NoError(t, err, "a refused connection pauses the drain")
			row, err := b.store.Get(ctx, b.client, b.row.ID)
			require.NoError(t, err)
			require.Equal(t, "needs_reauth", string(row.Status))
			links, err := b.client.QBOLink.Query().Where(qbolink.RecordIDIn(ids...)).All(ctx)
			require.NoError(t, err)
			for _, l := range links {
				require.Equal(t, qbolink.StatusPending, l.Status, l.LastError)
			}
			n, err := b.client.AdminIssue.Query().Count(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, n, "one admin issue")
			// A second drain (the sweep, a retry) changes nothing and raises nothing more.
			require.NoError(t, b.engine.Drain(ctx, b.client, b.row.ID))
			n, err = b.client.AdminIssue.Query().Count(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, n)

			// Reconnect the same company: the same row, links resume.
			tok := b.srv.IssueTokens(realm)
			now := time.Now().UTC()
			row, err = b.store.Save(ctx, b.client, conn.Connect{EntityID: b.orgA.Entities[0].ID, RealmID: realm, BaseURL: b.srv.URL,
				Tokens: conn.Tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken, AccessExpiresAt: now.Add(time.Hour),
					RefreshExpiresAt: now.Add(100 * 24 * time.Hour)}})
			require.NoError(t, err)
			require.Equal(t, b.row.ID, row.ID)
			require.NoError(t, b.engine.Drain(ctx, b.client, b.row.ID))
			links, err = b.client.QBOLink.Query().Where(qbolink.RecordIDIn(ids...)).All(ctx)
			require.NoError(t, err)
			for _, l := range links {
				require.Equal(t, qbolink.StatusSynced, l.Status, l.LastError)
			}
			require.Len(t, b.srv.Realm(realm).Customers(), 4, "each customer once")
			issues, err := b.client.AdminIssue.Query().All(ctx)
			require.NoError(t, err)
			for _, s := range []string{b.tokens.AccessToken, b.tokens.RefreshToken, tok.AccessToken, tok.RefreshToken, b.secret} {
				for _, iss := range issues {
					require.NotContains(t, iss.ErrorMessage+iss.JobArgs, s, "a secret in an admin issue")
				}
				require.NotContains(t, b.logs.String(), s, "a secret in the logs")
			}
		})
	}
}

// linkQuickBooksRecord refuses a QuickBooks record another Books record holds, and a record
// of another type or one QuickBooks does not have.
func TestAttackLinkTakenRecord(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setupAttackQBO(t, d)
			ctx := orgCtx(b.orgA)
			first := b.pushedCustomer(t, "Acme")
			second := b.pushedCustomer(t, "Beta")
			l1, err := b.client.QBOLink.Query().Where(qbolink.RecordID(first)).Only(ctx)
			require.NoError(t, err)
			link := `mutation($in: LinkQuickBooksRecordInput!) { linkQuickBooksRecord(input: $in) { link { id qboId } } }`
			r := b.gql(t, b.orgA.Admin, link, map[string]any{"in": map[string]any{"entityId": b.orgA.Entities[0].ID,
				"recordType": "CUSTOMER", "recordId": second, "qboId": *l1.QboID}})
			require.NotEmpty(t, r.Errors, "two Books customers on one QuickBooks customer")
			for _, in := range []map[string]any{
				{"recordType": "VENDOR", "recordId": second, "qboId": *l1.QboID},
				{"recordType": "CUSTOMER", "recordId": second, "qboId": "99999"},
				{"recordType": "CUSTOMER", "recordId": second, "qboId": "1 OR 1=1"},
				{"recordType": "INVOICE", "recordId": second, "qboId": "1"},
			} {
				in["entityId"] = b.orgA.Entities[0].ID
				r = b.gql(t, b.orgA.Admin, link, map[string]any{"in": in})
				require.NotEmpty(t, r.Errors, "%v", in)
			}
			n, err := b.client.QBOLink.Query().Where(qbolink.ClaimEQ(*l1.QboID), qbolink.QboType("Customer")).Count(ctx)
			require.NoError(t, err)
			require.Equal(t, 1, n)
		})
	}
}

// Finding 8: a journal entry posted through the REST journal-entry API into a connected
// entity is never pushed (no QuickBooks rule runs there), while the same entry posted
// through GraphQL's postJournalEntry is.
func TestAttackRESTJournalEntryIsPushedLikeGraphQL(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setupAttackQBO(t, d)
			status, _, raw := b.jePostRaw(t, b.orgA.Key, "", jeMarshal(t, jeBody("US", "time-123", "150.00")))
			require.Equal(t, http.StatusCreated, status, "body: %s", raw)
			id, _ := jeDecode(t, raw)["id"].(string)
			n, err := b.client.QBOLink.Query().Where(qbolink.RecordID(id)).Count(orgCtx(b.orgA))
			require.NoError(t, err)
			require.Equal(t, 1, n, "the entry is on its way to QuickBooks, as one posted through GraphQL would be")
		})
	}
}

// Finding 9: after an entity is disconnected and connected to another company, "View QB
// info" of a record linked in the old company fails as a whole: qboInfo reads every link of
// the record, and the old connection has no tokens. The same happens while a connection
// needs re-authorization.
func TestAttackQBOInfoAfterSwitchingCompany(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setupAttackQBO(t, d)
			ctx := orgCtx(b.orgA)
			id := b.pushedCustomer(t, "Acme")
			_, err := b.store.Disconnect(ctx, b.client, b.row.ID)
			require.NoError(t, err)
			realm := b.srv.RealmIDs()[1]
			tok := b.srv.IssueTokens(realm)
			now := time.Now().UTC()
			b.row, err = b.store.Save(ctx, b.client, conn.Connect{EntityID: b.orgA.Entities[0].ID, RealmID: realm, BaseURL: b.srv.URL,
				Tokens: conn.Tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken, AccessExpiresAt: now.Add(time.Hour),
					RefreshExpiresAt: now.Add(100 * 24 * time.Hour)}})
			require.NoError(t, err)
			b.gqlOK(t, b.orgA.Accountant, `mutation($in: SyncToQuickBooksInput!) { syncToQuickBooks(input: $in) { links { id } } }`,
				map[string]any{"in": map[string]any{"entityId": b.orgA.Entities[0].ID, "recordType": "CUSTOMER", "recordIds": []string{id}}}, nil)
			require.NoError(t, b.engine.Drain(ctx, b.client, b.row.ID))
			r := b.gqlTimeout(t, 8*time.Second, b.orgA.Accountant, `query($id: ID!) { node(id: $id) { ... on Customer { qboInfo { record link { id } } } } }`,
				map[string]any{"id": id})
			require.Empty(t, r.Errors, "the new company's record is shown; the old company's link reads as unavailable")
			require.Contains(t, string(r.Data), `"DisplayName":"Acme"`)
		})
	}
}
