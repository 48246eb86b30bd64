package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/reconciliationitem"
	"books/graph"
	"books/internal/auth"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/integrity/integritytest"
	"books/internal/qbo/pull"
	"books/internal/qbo/recon"
	"books/internal/realtime"
	"books/server"
)

// rcInstance is one server instance with the reconciliation queue: its own pool, ent
// client, broker, queue (announcing on that broker) and HTTP server.
type rcInstance struct {
	client *ent.Client
	queue  *recon.Queue
	gq     *testBundle // GraphQL over HTTP to this instance
}

func rcStart(t *testing.T, db *database.DB, tokens *auth.Tokens, broker realtime.Broker) *rcInstance {
	t.Helper()
	client := db.Client()
	q := &recon.Queue{Broker: broker}
	srv := server.New(server.Config{
		DB: db, Client: client, Auth: auth.NewService(tokens, client),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Broker: broker, QuickBooks: &graph.QuickBooks{Puller: &pull.Puller{Queue: q}, Recon: q},
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &rcInstance{client: client, queue: q, gq: &testBundle{db: db, client: client, tokens: tokens, server: hs}}
}

const rcQueueSubscription = `subscription($entity: ID) { reconciliationQueue(entityId: $entity) {
	type reconciliationItem { id entityId qboId status } } }`

type rcEvent struct {
	Type string
	Item struct{ ID, EntityID, QboID, Status string } `json:"reconciliationItem"`
}

// rcWarmUp marks the QuickBooks ids of items raised only to learn that a subscription is
// live; the helpers below skip their events, which may still be on their way.
const rcWarmUp = "warm-"

// nextQueueEvent waits up to d for the next reconciliationQueue event of operation id other
// than a warm-up's.
func (rc *rtConn) nextQueueEvent(t *testing.T, id string, d time.Duration) (rcEvent, bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m, ok := rc.next(time.Until(deadline))
		if !ok {
			return rcEvent{}, false
		}
		require.Equal(t, id, m.ID, "message %s: %s", m.Type, m.Payload)
		require.Contains(t, []string{"next", "data"}, m.Type, "message %s: %s", m.Type, m.Payload)
		var r struct {
			Data   struct{ ReconciliationQueue rcEvent }
			Errors []any
		}
		require.NoError(t, json.Unmarshal(m.Payload, &r))
		require.Empty(t, r.Errors, "%s", m.Payload)
		if !strings.HasPrefix(r.Data.ReconciliationQueue.Item.QboID, rcWarmUp) {
			return r.Data.ReconciliationQueue, true
		}
	}
}

// requireQueueEvent requires the next event of operation id, within 5 s, to be typ for item.
func (rc *rtConn) requireQueueEvent(t *testing.T, id, typ string, item *ent.ReconciliationItem, status string) {
	t.Helper()
	got, ok := rc.nextQueueEvent(t, id, 5*time.Second)
	require.True(t, ok, "no %s event for %s within 5 s", typ, item.ID)
	require.Equal(t, typ, got.Type)
	require.Equal(t, item.ID, got.Item.ID)
	require.Equal(t, item.EntityID, got.Item.EntityID)
	require.Equal(t, status, got.Item.Status)
}

// requireNoQueueEvent requires no event but a warm-up's to arrive within d.
func (rc *rtConn) requireNoQueueEvent(t *testing.T, id string, d time.Duration) {
	t.Helper()
	if got, ok := rc.nextQueueEvent(t, id, d); ok {
		t.Fatalf("unexpected %s event for item %s (%s)", got.Type, got.Item.ID, got.Item.QboID)
	}
}

// rcSubscribe subscribes rc (operation id) and waits until the subscription is live: the
// subscription is set up asynchronously after "subscribe", with no acknowledgement, so
// warm-up items are raised through raise every 200 ms until one is received.
func rcSubscribe(t *testing.T, ctx context.Context, rc *rtConn, id string, vars map[string]any, raise func(qboID string)) {
	t.Helper()
	rc.subscribe(t, ctx, id, rcQueueSubscription, vars)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		raise(fmt.Sprintf("%s%s-%d", rcWarmUp, id, i))
		m, ok := rc.next(200 * time.Millisecond)
		if !ok {
			continue
		}
		require.Equal(t, id, m.ID, "message %s: %s", m.Type, m.Payload)
		require.Contains(t, []string{"next", "data"}, m.Type, "message %s: %s", m.Type, m.Payload)
		return
	}
	t.Fatal("the subscriber received nothing within 10 s")
}

// rcScenario is what the local and the cross-instance tests share: items are raised and
// settled through instance a and must reach subscribers of instance b (the same instance
// in the local test), for their organization and entity only.
func rcScenario(t *testing.T, ctx context.Context, a, b *rcInstance, protocol string) {
	t.Helper()
	seed := a.gq
	orgA, orgB := seed.seedOrg(t, "Org A"), seed.seedOrg(t, "Org B")
	t.Cleanup(func() {
		if !t.Failed() {
			integritytest.Check(t, a.client, orgA.ID)
		}
	})
	conns := seed.rcConnect(t, orgA, orgB)
	f := seed.biFixture(t, orgA)
	inv := seed.biApproved(t, f, f.biInput(f.acme, "2026-11-01", "2026-12-01", biLine(f.consult, "1", ""))) // 150.00
	raise := func(org testOrg, entityID, qboID, amount string) *ent.ReconciliationItem {
		return rcRaise(t, a.queue, a.client, org, conns[entityID], reconciliationitem.KindUnmatchedPayment, qboID, "", amount, "")
	}
	us, uk := f.us, f.uk

	subA := rtDial(t, ctx, b.gq.server.URL, protocol, orgA.Viewer)
	rcSubscribe(t, ctx, subA, "a", map[string]any{"entity": us}, func(id string) { raise(orgA, us, id, "1.00") })
	subB := rtDial(t, ctx, b.gq.server.URL, protocol, orgB.Viewer)
	rcSubscribe(t, ctx, subB, "b", nil, func(id string) { raise(orgB, orgB.Entities[0].ID, id, "1.00") })

	// Raised on instance a (its queue, pool and broker), received on b.
	x := rcRaise(t, a.queue, a.client, orgA, conns[us], reconciliationitem.KindUnmatchedPayment, "77", f.acme, "150.00", inv.number())
	subA.requireQueueEvent(t, "a", "ADDED", x, "OPEN")
	// Another entity's item is not for this subscriber; the next event is x's update.
	raise(orgA, uk, "88", "10.00")
	x = rcRaise(t, a.queue, a.client, orgA, conns[us], reconciliationitem.KindCustomerMismatch, "77", f.acme, "150.00", inv.number())
	subA.requireQueueEvent(t, "a", "UPDATED", x, "OPEN")

	// Changes through GraphQL on a announce after their commit; a refused one announces nothing.
	seed.rcDo(t, orgA.Accountant, rcDefer, map[string]any{"reconciliationItemId": x.ID, "note": "ask the client"})
	subA.requireQueueEvent(t, "a", "UPDATED", x, "DEFERRED")
	res := seed.gql(t, orgA.Admin, rcDismiss, map[string]any{"in": map[string]any{"reconciliationItemId": x.ID}})
	require.Equal(t, []string{"VALIDATION"}, res.errorCodes())
	res = seed.gql(t, orgA.Accountant, rcMatch, map[string]any{"in": map[string]any{"reconciliationItemId": x.ID,
		"applications": []map[string]any{biApp(inv.ID, "150.01")}}})
	require.Equal(t, []string{"OVER_APPLICATION"}, res.errorCodes())
	seed.rcDo(t, orgA.Accountant, rcMatch, map[string]any{"reconciliationItemId": x.ID,
		"applications": []map[string]any{biApp(inv.ID, "150.00")}})
	subA.requireQueueEvent(t, "a", "RESOLVED", x, "MATCHED")
	y := raise(orgA, us, "99", "25.00")
	subA.requireQueueEvent(t, "a", "ADDED", y, "OPEN")
	seed.rcDo(t, orgA.Admin, rcDismiss, map[string]any{"reconciliationItemId": y.ID, "note": "a test payment"})
	subA.requireQueueEvent(t, "a", "RESOLVED", y, "DISMISSED")
	subA.requireNoQueueEvent(t, "a", 300*time.Millisecond)

	// The org B subscriber got none of org A's events. An org A item's id published on org
	// B's topic (as a bug or a forged NOTIFY might) is dropped: the subscriber loads each
	// item in its own tenant scope. Its own items arrive.
	subB.requireNoQueueEvent(t, "b", 300*time.Millisecond)
	forged, err := json.Marshal(recon.Event{Type: recon.Added, ID: x.ID})
	require.NoError(t, err)
	require.NoError(t, a.queue.Broker.Publish(ctx, recon.Topic(orgB.ID), forged))
	z := raise(orgB, orgB.Entities[0].ID, "77", "5.00")
	subB.requireQueueEvent(t, "b", "ADDED", z, "OPEN")
	subB.requireNoQueueEvent(t, "b", 300*time.Millisecond)
	subA.requireNoQueueEvent(t, "a", 100*time.Millisecond)

	// Portal clients may not subscribe.
	portal, err := seed.tokens.Mint("portal-"+f.acme, orgA.ID, nil, f.acme, time.Hour)
	require.NoError(t, err)
	c := b.gq.gqWSDial(t, ctx)
	gqWSInit(t, ctx, c, map[string]any{"Authorization": "Bearer " + portal})
	out := gqWSRun(t, ctx, c, "s", `subscription { reconciliationQueue { type } }`)
	require.NotEmpty(t, out)
	require.Equal(t, []string{"FORBIDDEN"}, out[len(out)-1].errorCodes(), "portal clients cannot subscribe")
}

// TestReconciliationQueueRealtime: one server, its in-process broker, on both databases.
func TestReconciliationQueueRealtime(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			db := dbtest.Open(t, d)
			tokens, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret!"), "books")
			require.NoError(t, err)
			local := realtime.NewLocal()
			t.Cleanup(func() { local.Close() })
			inst := rcStart(t, db, tokens, local)
			protocol := "graphql-transport-ws"
			if d == dialect.SQLite {
				protocol = "graphql-ws" // the legacy protocol too
			}
			rcScenario(t, ctx, inst, inst, protocol)
		})
	}
}

// TestReconciliationQueueAcrossInstances is two server instances on one PostgreSQL
// database, each with its own pool and PostgresBroker (LISTEN/NOTIFY): items raised and
// settled through instance A reach a WebSocket subscriber on instance B.
func TestReconciliationQueueAcrossInstances(t *testing.T) {
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
	a := rcStart(t, dbA, tokens, brokerA)
	b := rcStart(t, dbB, tokens, brokerB)
	rcScenario(t, ctx, a, b, "graphql-transport-ws")
}
