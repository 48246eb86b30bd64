package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/internal/adminq"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/realtime"
	"books/server"
)

// rtInstance is one server instance: its own pool, ent client, broker and HTTP server.
type rtInstance struct {
	db     *database.DB
	client *ent.Client
	broker realtime.Broker
	queue  *adminq.Queue
	server *httptest.Server
}

func rtStart(t *testing.T, db *database.DB, tokens *auth.Tokens, broker realtime.Broker) *rtInstance {
	t.Helper()
	client := db.Client()
	q := &adminq.Queue{Broker: broker, Client: client}
	srv := server.New(server.Config{
		DB: db, Client: client, Auth: auth.NewService(tokens, client),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Broker: broker, Queue: q,
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &rtInstance{db: db, client: client, broker: broker, queue: q, server: hs}
}

// rtConn is a WebSocket client whose messages arrive on a channel, so a test can wait for
// one with a timeout without closing the connection (coder/websocket closes a connection
// whose Read context ends). Pings are answered.
type rtConn struct {
	c        *websocket.Conn
	protocol string
	msgs     chan gqWSMessage
}

func rtDial(t *testing.T, ctx context.Context, baseURL, protocol string, token string) *rtConn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(baseURL, "http") + "/graphql"
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{protocol}})
	require.NoError(t, err)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	require.Equal(t, protocol, c.Subprotocol())
	rc := &rtConn{c: c, protocol: protocol, msgs: make(chan gqWSMessage, 64)}
	go func() {
		defer close(rc.msgs)
		for {
			var m gqWSMessage
			if err := wsjson.Read(ctx, c, &m); err != nil {
				return
			}
			switch m.Type {
			case "ping":
				_ = wsjson.Write(ctx, c, gqWSMessage{Type: "pong"})
				continue
			case "ka": // graphql-ws keep-alive
				continue
			}
			rc.msgs <- m
		}
	}()
	payload, err := json.Marshal(map[string]any{"Authorization": "Bearer " + token})
	require.NoError(t, err)
	require.NoError(t, wsjson.Write(ctx, c, gqWSMessage{Type: "connection_init", Payload: payload}))
	m, ok := rc.next(5 * time.Second)
	require.True(t, ok, "no connection_ack")
	require.Equal(t, "connection_ack", m.Type)
	return rc
}

// subscribe starts an operation: "subscribe" in graphql-transport-ws, "start" in graphql-ws.
func (rc *rtConn) subscribe(t *testing.T, ctx context.Context, id, query string, vars map[string]any) {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	typ := "subscribe"
	if rc.protocol == "graphql-ws" {
		typ = "start"
	}
	require.NoError(t, wsjson.Write(ctx, rc.c, gqWSMessage{ID: id, Type: typ, Payload: raw}))
}

// next returns the next message within d.
func (rc *rtConn) next(d time.Duration) (gqWSMessage, bool) {
	select {
	case m, ok := <-rc.msgs:
		return m, ok
	case <-time.After(d):
		return gqWSMessage{}, false
	}
}

type rtIssue struct {
	ID, Kind, Status, SubjectID string
	EntityID                    *string
	Occurrences                 int
}

// nextIssue waits up to d for the next adminIssues event of operation id.
func (rc *rtConn) nextIssue(t *testing.T, id string, d time.Duration) (rtIssue, bool) {
	t.Helper()
	m, ok := rc.next(d)
	if !ok {
		return rtIssue{}, false
	}
	require.Equal(t, id, m.ID, "message %s: %s", m.Type, m.Payload)
	require.Contains(t, []string{"next", "data"}, m.Type, "message %s: %s", m.Type, m.Payload)
	var r struct {
		Data   struct{ AdminIssues rtIssue }
		Errors []any
	}
	require.NoError(t, json.Unmarshal(m.Payload, &r))
	require.Empty(t, r.Errors, "%s", m.Payload)
	return r.Data.AdminIssues, true
}

// requireQuiet asserts no message arrives within d.
func (rc *rtConn) requireQuiet(t *testing.T, d time.Duration) {
	t.Helper()
	if m, ok := rc.next(d); ok {
		t.Fatalf("unexpected message %s: %s", m.Type, m.Payload)
	}
}

const rtSubscription = `subscription($entity: ID) { adminIssues(entityId: $entity) { id kind status subjectId entityId occurrences } }`

// rtRaiseUntilReceived raises p through raise every 200 ms until rc receives an event of
// operation id (the subscription is set up asynchronously after "subscribe", with no
// acknowledgement), and returns it. It fails after 5 s.
func rtRaiseUntilReceived(t *testing.T, rc *rtConn, id string, raise func() *ent.AdminIssue) (rtIssue, *ent.AdminIssue) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		iss := raise()
		if got, ok := rc.nextIssue(t, id, 200*time.Millisecond); ok {
			return got, iss
		}
	}
	t.Fatal("the subscriber received nothing within 5 s")
	return rtIssue{}, nil
}

// TestRealtimeAcrossInstances is two server instances on one PostgreSQL database, each with
// its own pool and PostgresBroker: an issue raised through instance A reaches a WebSocket
// subscriber on instance B, and only a subscriber of the issue's organization.
func TestRealtimeAcrossInstances(t *testing.T) {
	t.Parallel()
	if dbtest.PostgresURL(t) == "" {
		t.Skip("BOOKS_TEST_POSTGRES_URL not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := dbtest.URL(t, dialect.Postgres) // one fresh schema, opened twice
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func() (*database.DB, *realtime.PostgresBroker) {
		db, err := database.Open(ctx, url)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		br, err := realtime.NewPostgres(ctx, url, log, realtime.WithDB(db.SQL))
		require.NoError(t, err)
		t.Cleanup(func() { br.Close() })
		return db, br
	}
	dbA, brokerA := open()
	dbB, brokerB := open()
	_, err := dbA.Migrate(ctx)
	require.NoError(t, err)
	tokens, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret!"), "books")
	require.NoError(t, err)
	a := rtStart(t, dbA, tokens, brokerA)
	b := rtStart(t, dbB, tokens, brokerB)
	seed := &testBundle{db: dbA, client: a.client, tokens: tokens}
	orgA, orgB := seed.seedOrg(t, "Org A"), seed.seedOrg(t, "Org B")

	subA := rtDial(t, ctx, b.server.URL, "graphql-transport-ws", orgA.Viewer)
	subA.subscribe(t, ctx, "a", rtSubscription, nil)
	subB := rtDial(t, ctx, b.server.URL, "graphql-transport-ws", orgB.Viewer)
	subB.subscribe(t, ctx, "b", rtSubscription, nil)

	// Raised on instance A (its queue, its pool, its broker) …
	problem := adminq.Problem{EntityID: orgA.Entities[0].ID, Kind: "qbo_push_invoice", SubjectType: "invoice",
		SubjectID: "inv_1", ErrorCode: "QBO_AUTH", ErrorMessage: "token expired", JobKind: "qbo_push_invoice", JobArgs: "{}"}
	start := time.Now()
	got, iss := rtRaiseUntilReceived(t, subA, "a", func() *ent.AdminIssue {
		iss, err := a.queue.Raise(orgCtx(orgA), a.client, problem)
		require.NoError(t, err)
		return iss
	})
	// … received on instance B, as the issue is now.
	require.Equal(t, iss.ID, got.ID)
	require.Equal(t, "qbo_push_invoice", got.Kind)
	require.Equal(t, "OPEN", got.Status)
	require.Equal(t, orgA.Entities[0].ID, *got.EntityID)
	t.Logf("first event across instances after %v", time.Since(start))
	for { // drain the events of any earlier raises
		if _, ok := subA.nextIssue(t, "a", 300*time.Millisecond); !ok {
			break
		}
	}

	// A change through GraphQL on instance A (NOTIFY inside the mutation's transaction)
	// reaches B after commit, within 5 s.
	var res struct {
		ResolveAdminIssue struct{ AdminIssue struct{ Status string } }
	}
	seedA := &testBundle{server: a.server}
	seedA.gqlOK(t, orgA.Accountant, `mutation($id: ID!) { resolveAdminIssue(input: {adminIssueId: $id, note: "done"}) { adminIssue { status } } }`,
		map[string]any{"id": iss.ID}, &res)
	require.Equal(t, "RESOLVED", res.ResolveAdminIssue.AdminIssue.Status)
	got, ok := subA.nextIssue(t, "a", 5*time.Second)
	require.True(t, ok, "the resolution reaches instance B")
	require.Equal(t, iss.ID, got.ID)
	require.Equal(t, "RESOLVED", got.Status)

	// A refused mutation (its transaction rolls back) announces nothing.
	r := seedA.gql(t, orgA.Admin, `mutation($id: ID!) { ignoreAdminIssue(input: {adminIssueId: $id, note: " "}) { adminIssue { status } } }`, map[string]any{"id": iss.ID})
	require.Equal(t, []string{"VALIDATION"}, r.errorCodes())

	// The org B subscriber got none of org A's events. Its own arrive — and an org A id
	// published on org B's topic (as a bug or a forged NOTIFY might) is dropped, because the
	// subscriber loads each issue in its own tenant scope.
	subB.requireQuiet(t, 300*time.Millisecond)
	gotB, issB := rtRaiseUntilReceived(t, subB, "b", func() *ent.AdminIssue {
		iss, err := a.queue.Raise(orgCtx(orgB), a.client, adminq.Problem{Kind: "missing_customer_email", SubjectID: "cus_b"})
		require.NoError(t, err)
		return iss
	})
	require.Equal(t, issB.ID, gotB.ID)
	for {
		if _, ok := subB.nextIssue(t, "b", 300*time.Millisecond); !ok {
			break
		}
	}
	require.NoError(t, brokerA.Publish(ctx, adminq.Topic(orgB.ID), []byte(iss.ID)))
	issB2, err := a.queue.Raise(orgCtx(orgB), a.client, adminq.Problem{Kind: "missing_customer_email", SubjectID: "cus_b2"})
	require.NoError(t, err)
	gotB, ok = subB.nextIssue(t, "b", 5*time.Second)
	require.True(t, ok)
	require.Equal(t, issB2.ID, gotB.ID, "org A's issue was not delivered to org B")
	subB.requireQuiet(t, 200*time.Millisecond)
	subA.requireQuiet(t, 200*time.Millisecond)

	// Completing the subscription ends it (gqlgen echoes the complete).
	require.NoError(t, wsjson.Write(ctx, subA.c, gqWSMessage{ID: "a", Type: "complete"}))
	if m, ok := subA.next(2 * time.Second); ok {
		require.Equal(t, "complete", m.Type, "%s", m.Payload)
	}
	_, err = a.queue.Raise(orgCtx(orgA), a.client, adminq.Problem{Kind: "after_complete"})
	require.NoError(t, err)
	subA.requireQuiet(t, 500*time.Millisecond)
}

// TestRealtimeLocal covers SQLite mode (the in-process broker): the legacy graphql-ws
// protocol, the entity filter, and who may subscribe.
func TestRealtimeLocal(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := dbtest.Open(t, dialect.SQLite)
	tokens, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret!"), "books")
	require.NoError(t, err)
	local := realtime.NewLocal()
	t.Cleanup(func() { local.Close() })
	inst := rtStart(t, db, tokens, local)
	seed := &testBundle{db: db, client: inst.client, tokens: tokens, server: inst.server}
	org := seed.seedOrg(t, "Org A")
	us, uk := org.Entities[0].ID, org.Entities[1].ID
	raise := func(entity, subject string) func() *ent.AdminIssue {
		return func() *ent.AdminIssue {
			iss, err := inst.queue.Raise(orgCtx(org), inst.client, adminq.Problem{EntityID: entity, Kind: "qbo_push_invoice", SubjectID: subject})
			require.NoError(t, err)
			return iss
		}
	}

	t.Run("legacy graphql-ws", func(t *testing.T) {
		c := rtDial(t, ctx, inst.server.URL, "graphql-ws", org.Viewer)
		c.subscribe(t, ctx, "1", rtSubscription, map[string]any{"entity": uk})
		got, iss := rtRaiseUntilReceived(t, c, "1", raise(uk, "inv_uk"))
		require.Equal(t, iss.ID, got.ID)
		require.Equal(t, uk, *got.EntityID)
		for {
			if _, ok := c.nextIssue(t, "1", 200*time.Millisecond); !ok {
				break
			}
		}
		// Only the entity asked for.
		raise(us, "inv_us")()
		c.requireQuiet(t, 200*time.Millisecond)
		raise(uk, "inv_uk2")()
		got, ok := c.nextIssue(t, "1", 5*time.Second)
		require.True(t, ok)
		require.Equal(t, "inv_uk2", got.SubjectID)
		// A change made through a GraphQL mutation is announced after its commit.
		var res struct {
			ResolveAdminIssue struct{ AdminIssue struct{ ID string } }
		}
		seed.gqlOK(t, org.Accountant, `mutation($id: ID!) { resolveAdminIssue(input: {adminIssueId: $id}) { adminIssue { id } } }`, map[string]any{"id": iss.ID}, &res)
		require.Equal(t, iss.ID, res.ResolveAdminIssue.AdminIssue.ID)
		got, ok = c.nextIssue(t, "1", 5*time.Second)
		require.True(t, ok)
		require.Equal(t, iss.ID, got.ID)
		require.Equal(t, "RESOLVED", got.Status)
		// stop ends the operation.
		require.NoError(t, wsjson.Write(ctx, c.c, gqWSMessage{ID: "1", Type: "stop"}))
		m, ok := c.next(5 * time.Second)
		require.True(t, ok)
		require.Equal(t, "complete", m.Type)
		raise(uk, "inv_uk3")()
		c.requireQuiet(t, 200*time.Millisecond)
	})

	t.Run("who may subscribe and mutate", func(t *testing.T) {
		portal, err := tokens.Mint("p1", org.ID, nil, "cus_x", time.Hour)
		require.NoError(t, err)
		portalAdmin, err := tokens.Mint("p2", org.ID, []auth.Role{auth.RoleAdmin}, "cus_y", time.Hour)
		require.NoError(t, err)
		for _, tok := range []string{portal, portalAdmin} {
			c := seed.gqWSDial(t, ctx)
			gqWSInit(t, ctx, c, map[string]any{"Authorization": "Bearer " + tok})
			res := gqWSRun(t, ctx, c, "s", `subscription { adminIssues { id } }`)
			require.NotEmpty(t, res)
			require.Equal(t, []string{"FORBIDDEN"}, res[len(res)-1].errorCodes(), "portal clients cannot subscribe")
			res = gqWSRun(t, ctx, c, "m", `mutation { resolveAdminIssue(input: {adminIssueId: "iss_x"}) { adminIssue { id } } }`)
			require.Equal(t, []string{"FORBIDDEN"}, res[0].errorCodes())
		}
		issue := raise(us, "inv_roles")()
		c := seed.gqWSDial(t, ctx)
		gqWSInit(t, ctx, c, map[string]any{"Authorization": "Bearer " + org.Viewer})
		for _, op := range []string{
			`mutation { retryAdminIssue(input: {adminIssueId: "` + issue.ID + `"}) { adminIssue { id } } }`,
			`mutation { resolveAdminIssue(input: {adminIssueId: "` + issue.ID + `"}) { adminIssue { id } } }`,
			`mutation { ignoreAdminIssue(input: {adminIssueId: "` + issue.ID + `", note: "no"}) { adminIssue { id } } }`,
		} {
			res := gqWSRun(t, ctx, c, "m", op)
			require.Equal(t, []string{"FORBIDDEN"}, res[0].errorCodes(), "a viewer cannot change issues: %s", op)
		}
		res := gqWSRun(t, ctx, c, "j", `{ jobs { edges { node { id } } } }`)
		require.Equal(t, []string{"FORBIDDEN"}, res[0].errorCodes(), "jobs are for admins")
		iss, err := inst.client.AdminIssue.Get(orgCtx(org), issue.ID)
		require.NoError(t, err)
		require.Equal(t, "open", iss.Status.String())
	})
}
