package pull_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/qboinboxevent"
	"books/internal/apperr"
	"books/internal/dbtest"
	"books/internal/ledger"
	"books/internal/qbo/conn"
	"books/internal/qbo/pull"
	"books/internal/qbo/qbotest"
	"books/internal/secrets"
	"books/internal/tenant"
	"books/jobs"
)

// The signature test vector of qbo-api.md §12 (Intuit's .NET SDK WebhooksServiceTest): a
// legacy body with two entities, its verifier token and intuit-signature.
const (
	vectorToken     = "00faeec4-08d0-4996-bb37-698ae19f0149"
	vectorBody      = `{"eventNotifications":[{"realmId":"1269959970","dataChangeEvent":{"entities":[{"name":"Vendor","id":"40","operation":"Update","lastUpdated":"2016-10-05T03:09:04.000Z"},{"name":"Customer","id":"43","operation":"Create","lastUpdated":"2016-10-05T03:07:04.000Z"}]}}]}`
	vectorSignature = "6q+xGyMirJupwKTh2/WBl2NcdxzxqdIbk3sneKTxLWM="
)

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(vectorBody)
	random := make([]byte, 32)
	_, _ = rand.Read(random)
	tests := []struct {
		name  string
		token string
		body  []byte
		sig   string
		want  bool
	}{
		{"the §12 test vector", vectorToken, body, vectorSignature, true},
		{"qbotest.Sign agrees", vectorToken, body, qbotest.Sign(vectorToken, body), true},
		{"forged signature", vectorToken, body, base64.StdEncoding.EncodeToString(random), false},
		{"another token", "another-token", body, vectorSignature, false},
		{"signature of another body", vectorToken, body, qbotest.Sign(vectorToken, []byte(`{"eventNotifications":[]}`)), false},
		{"truncated body", vectorToken, body[:len(body)-1], vectorSignature, false},
		{"body with a byte appended", vectorToken, append(body[:len(body):len(body)], ' '), vectorSignature, false},
		{"empty signature", vectorToken, body, "", false},
		{"not base64", vectorToken, body, "not base64!", false},
		{"unpadded base64", vectorToken, body, strings.TrimRight(vectorSignature, "="), false},
		{"signature cut short", vectorToken, body, base64.StdEncoding.EncodeToString(random[:16]), false},
		{"no token configured", "", body, qbotest.Sign("", body), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, pull.Verify(tt.token, tt.body, tt.sig))
		})
	}
}

// ceEvent is one CloudEvent as QuickBooks sends it (qbo-api.md §12).
func intakeCE(realm, id, typ, entityID string) map[string]any {
	return map[string]any{"specversion": "1.0", "id": id, "source": "intuit.dsnBgbseACLLRZNxuGjvLn==",
		"type": typ, "datacontenttype": "application/json", "time": "2025-09-10T21:31:25.179851517Z",
		"intuitentityid": entityID, "intuitaccountid": realm, "data": map[string]any{}}
}

func intakeCEBody(t *testing.T, events ...map[string]any) []byte {
	t.Helper()
	if events == nil {
		events = []map[string]any{}
	}
	b, err := json.Marshal(events)
	require.NoError(t, err)
	return b
}

func TestParse(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 9, 10, 21, 31, 25, 179851517, time.UTC)
	tests := []struct {
		name string
		body []byte
		want []pull.Notification // Payload not compared here
	}{
		{"legacy, the §12 vector", []byte(vectorBody), []pull.Notification{
			{Source: qboinboxevent.SourceLegacy, Key: pull.ChangeKey("1269959970", "Vendor", "40", "Update", "2016-10-05T03:09:04.000Z"),
				RealmID: "1269959970", Entity: "Vendor", ID: "40", Operation: "Update", OccurredAt: intakeTime(time.Date(2016, 10, 5, 3, 9, 4, 0, time.UTC))},
			{Source: qboinboxevent.SourceLegacy, Key: pull.ChangeKey("1269959970", "Customer", "43", "Create", "2016-10-05T03:07:04.000Z"),
				RealmID: "1269959970", Entity: "Customer", ID: "43", Operation: "Create", OccurredAt: intakeTime(time.Date(2016, 10, 5, 3, 7, 4, 0, time.UTC))},
		}},
		{"legacy, two realms, a bad time kept without one", []byte(`{"eventNotifications":[
			{"realmId":"1","dataChangeEvent":{"entities":[{"name":"Payment","id":"7","operation":"Void","lastUpdated":"yesterday"}]}},
			{"realmId":"2","dataChangeEvent":{"entities":[{"name":"Invoice","id":"8","operation":"Delete"}]}}]}`), []pull.Notification{
			{Source: qboinboxevent.SourceLegacy, Key: pull.ChangeKey("1", "Payment", "7", "Void", "yesterday"), RealmID: "1", Entity: "Payment", ID: "7", Operation: "Void"},
			{Source: qboinboxevent.SourceLegacy, Key: pull.ChangeKey("2", "Invoice", "8", "Delete", ""), RealmID: "2", Entity: "Invoice", ID: "8", Operation: "Delete"},
		}},
		{"legacy, nothing", []byte(`{"eventNotifications":[]}`), nil},
		{"CloudEvents, the §12 example", intakeCEBody(t, intakeCE("310687", "88cd52aa-33b0-4f4b-9c2a-3c2ab1a0d0c4", "qbo.account.created.v1", "1234")), []pull.Notification{
			{Source: qboinboxevent.SourceCloudevents, Key: pull.EventKey("310687", "88cd52aa-33b0-4f4b-9c2a-3c2ab1a0d0c4"),
				RealmID: "310687", Entity: "Account", ID: "1234", Operation: "Create", OccurredAt: &at},
		}},
		{"CloudEvents, entities and verbs mapped, realms mixed", intakeCEBody(t,
			intakeCE("1", "a", "qbo.payment.updated.v1", "10"),
			intakeCE("2", "b", "qbo.creditmemo.voided.v1", "11"),
			intakeCE("1", "c", "qbo.invoice.deleted.v1", "12"),
			intakeCE("1", "d", "qbo.customer.merged.v1", "13"),
			intakeCE("1", "e", "qbo.refundreceipt.created.v1", "14"),
			intakeCE("1", "f", "qbo.journalentry.created.v1", "15"),
			intakeCE("1", "g", "qbo.widget.emailed.v1", "16"),
		), []pull.Notification{
			{Source: qboinboxevent.SourceCloudevents, Key: pull.EventKey("1", "a"), RealmID: "1", Entity: "Payment", ID: "10", Operation: "Update", OccurredAt: &at},
			{Source: qboinboxevent.SourceCloudevents, Key: pull.EventKey("2", "b"), RealmID: "2", Entity: "CreditMemo", ID: "11", Operation: "Void", OccurredAt: &at},
			{Source: qboinboxevent.SourceCloudevents, Key: pull.EventKey("1", "c"), RealmID: "1", Entity: "Invoice", ID: "12", Operation: "Delete", OccurredAt: &at},
			{Source: qboinboxevent.SourceCloudevents, Key: pull.EventKey("1", "d"), RealmID: "1", Entity: "Customer", ID: "13", Operation: "Merge", OccurredAt: &at},
			{Source: qboinboxevent.SourceCloudevents, Key: pull.EventKey("1", "e"), RealmID: "1", Entity: "RefundReceipt", ID: "14", Operation: "Create", OccurredAt: &at},
			{Source: qboinboxevent.SourceCloudevents, Key: pull.EventKey("1", "f"), RealmID: "1", Entity: "JournalEntry", ID: "15", Operation: "Create", OccurredAt: &at},
			{Source: qboinboxevent.SourceCloudevents, Key: pull.EventKey("1", "g"), RealmID: "1", Entity: "Widget", ID: "16", Operation: "Emailed", OccurredAt: &at},
		}},
		{"CloudEvents, nothing", []byte(` [] `), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := pull.Parse(tt.body)
			require.NoError(t, err)
			require.Len(t, got, len(tt.want))
			if len(tt.want) == 0 {
				require.Empty(t, got)
				return
			}
			for i := range got {
				// Each payload is that one event (a legacy one as a notification of one
				// change), and a body of that one event parses to it again.
				p := got[i].Payload
				body := "[" + string(p) + "]"
				if got[i].Source == qboinboxevent.SourceLegacy {
					body = `{"eventNotifications":[` + string(p) + "]}"
				}
				again, err := pull.Parse([]byte(body))
				require.NoError(t, err, "payload %s", p)
				require.Equal(t, []pull.Notification{got[i]}, again)
				got[i].Payload = nil
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	many := func(n int) []byte {
		evs := make([]map[string]any, n)
		for i := range evs {
			evs[i] = intakeCE("1", fmt.Sprint("ev-", i), "qbo.payment.created.v1", "9")
		}
		return intakeCEBody(t, evs...)
	}
	without := func(field string) []byte {
		ev := intakeCE("1", "x", "qbo.payment.created.v1", "9")
		delete(ev, field)
		return intakeCEBody(t, ev)
	}
	with := func(field string, v any) []byte {
		ev := intakeCE("1", "x", "qbo.payment.created.v1", "9")
		ev[field] = v
		return intakeCEBody(t, ev)
	}
	tests := []struct {
		name string
		body []byte
		want string // in the message
	}{
		{"empty", nil, "empty"},
		{"blank", []byte(" \n"), "empty"},
		{"garbage", []byte("garbage"), "neither"},
		{"a JSON string", []byte(`"eventNotifications"`), "neither"},
		{"bad JSON array", []byte(`[{"id":`), "not valid JSON"},
		{"bad JSON object", []byte(`{"eventNotifications":[`), "not a legacy webhook body"},
		{"trailing data", []byte(`[] []`), "not valid JSON"},
		{"another object", []byte(`{"specversion":"1.0","id":"x"}`), `without "eventNotifications"`},
		{"eventNotifications not a list", []byte(`{"eventNotifications":{}}`), "not a legacy webhook body"},
		{"101 CloudEvents", many(101), "101 events; at most 100"},
		{"an event that is not an object", []byte(`[null]`), "events[0] is not a JSON object"},
		{"CloudEvent without realm", without("intuitaccountid"), "events[0] has no realm"},
		{"CloudEvent without id", without("id"), "events[0] has no id"},
		{"CloudEvent without entity id", without("intuitentityid"), "events[0] has no id"},
		{"CloudEvent without type", without("type"), "is not qbo.<entity>.<verb>.v<n>"},
		{"CloudEvent of another product", with("type", "com.intuit.payment.created.v1"), "is not qbo."},
		{"CloudEvent type without verb", with("type", "qbo.payment"), "is not qbo."},
		{"CloudEvent realm a number", with("intuitaccountid", 310687), "events[0]"},
		{"CloudEvent id too long", with("intuitentityid", strings.Repeat("9", 41)), "longer than 40"},
		{"CloudEvent id with NUL", with("intuitentityid", "9\x00"), "NUL"},
		{"CloudEvent event id too long", with("id", strings.Repeat("x", 400)), "the key is longer"},
		{"legacy without realm", []byte(`{"eventNotifications":[{"dataChangeEvent":{"entities":[{"name":"Payment","id":"1","operation":"Create"}]}}]}`), "has no realmId"},
		{"legacy without entity name", []byte(`{"eventNotifications":[{"realmId":"1","dataChangeEvent":{"entities":[{"id":"1","operation":"Create"}]}}]}`), "entities[0] has no entity"},
		{"legacy without id", []byte(`{"eventNotifications":[{"realmId":"1","dataChangeEvent":{"entities":[{"name":"Payment","operation":"Create"}]}}]}`), "entities[0] has no id"},
		{"legacy without operation", []byte(`{"eventNotifications":[{"realmId":"1","dataChangeEvent":{"entities":[{"name":"Payment","id":"1"}]}}]}`), "has no operation"},
		{"legacy entity not an object", []byte(`{"eventNotifications":[{"realmId":"1","dataChangeEvent":{"entities":["Payment"]}}]}`), "not a JSON object"},
		{"not UTF-8", []byte("[\xff]"), "not UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := pull.Parse(tt.body)
			require.Error(t, err)
			require.Nil(t, got)
			require.Equal(t, apperr.Validation, apperr.Code(err))
			require.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := pull.Parse(many(100))
	require.NoError(t, err, "100 events is the most, and allowed")
}

func intakeTime(v time.Time) *time.Time { return &v }

// intakeFix is an Intake over a fresh database with River's tables, one organization whose
// entity holds the connection of realm intakeRealm, and a job runner that enqueues (only) the
// inbox's jobs. stores records what each store did.
type intakeFix struct {
	db     *ent.Client
	intake *pull.Intake
	conn   *ent.QBOConnection
	runner *jobs.Runner

	mu     sync.Mutex
	stores []pull.Stored
}

const (
	intakeRealm    = "1269959970" // the realm of the §12 vector: connected
	intakeStranger = "4620816365" // held by no connection
)

// intakeNoopWorker registers the inbox job's kind, so that it can be enqueued; the runner
// here works nothing.
type intakeNoopWorker struct {
	river.WorkerDefaults[pull.InboxArgs]
}

func (intakeNoopWorker) Work(context.Context, *river.Job[pull.InboxArgs]) error { return nil }

func newIntakeFix(t *testing.T, dialectName string) *intakeFix {
	t.Helper()
	db := dbtest.OpenJobs(t, dialectName)
	client := db.Client()
	kinds := jobs.NewKinds()
	jobs.Register(kinds, intakeNoopWorker{})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	runner, err := jobs.New(db, jobs.Config{Kinds: kinds, InsertOnly: true, Logger: quiet})
	require.NoError(t, err)
	org, err := client.Organization.Create().SetName("Intake org").Save(tenant.System(context.Background()))
	require.NoError(t, err)
	octx := tenant.WithOrg(context.Background(), org.ID)
	le, err := ledger.CreateEntity(octx, client, ent.CreateLegalEntityInput{Code: "US", Name: "US Inc", BaseCurrency: "USD"})
	require.NoError(t, err)
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(t, err)
	now := time.Now().UTC()
	row, err := conn.NewStore(box).Save(octx, client, conn.Connect{EntityID: le.ID, RealmID: intakeRealm, BaseURL: "https://quickbooks.invalid",
		Tokens: conn.Tokens{Access: "access", Refresh: "refresh", AccessExpiresAt: now.Add(time.Hour), RefreshExpiresAt: now.Add(24 * time.Hour)}})
	require.NoError(t, err)
	f := &intakeFix{db: client, conn: row, runner: runner}
	f.intake = &pull.Intake{Puller: &pull.Puller{Runner: runner, Logger: quiet}, Client: client, Verifier: vectorToken,
		OnStore: func(st pull.Stored) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.stores = append(f.stores, st)
		}}
	return f
}

// takeStores returns the stores made since the last call.
func (f *intakeFix) takeStores() []pull.Stored {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.stores
	f.stores = nil
	return out
}

func (f *intakeFix) inbox(t *testing.T) []*ent.QBOInboxEvent {
	t.Helper()
	rows, err := f.db.QBOInboxEvent.Query().Order(ent.Asc(qboinboxevent.FieldDedupeKey)).All(tenant.System(context.Background()))
	require.NoError(t, err)
	return rows
}

// inboxJobs counts the inbox jobs enqueued.
func (f *intakeFix) inboxJobs(t *testing.T) int {
	t.Helper()
	res, err := f.runner.Client().JobList(context.Background(), river.NewJobListParams().Kinds(pull.InboxArgs{}.Kind()).First(1000))
	require.NoError(t, err)
	return len(res.Jobs)
}

func (f *intakeFix) receive(t *testing.T, body []byte) (int, error) {
	t.Helper()
	return f.intake.Receive(context.Background(), body, qbotest.Sign(vectorToken, body))
}

// TestIntakeReceive stores what a verified delivery holds, once, whatever the repeats, and
// nothing of a delivery it refuses.
func TestIntakeReceive(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f := newIntakeFix(t, d)

			// Refused: nothing stored, nothing enqueued.
			for _, sig := range []string{"", vectorSignature[:20], qbotest.Sign("another", []byte(vectorBody))} {
				_, err := f.intake.Receive(context.Background(), []byte(vectorBody), sig)
				require.Equal(t, apperr.Unauthenticated, apperr.Code(err))
			}
			_, err := f.receive(t, []byte(`{"eventNotifications":[{"dataChangeEvent":{}}]}`))
			require.Equal(t, apperr.Validation, apperr.Code(err))
			n, err := f.receive(t, []byte(`[]`))
			require.NoError(t, err)
			require.Zero(t, n)
			require.Empty(t, f.inbox(t))
			require.Zero(t, f.inboxJobs(t))
			require.Empty(t, f.takeStores(), "nothing to store, no store")

			// The §12 vector: two changes of the connected realm, one job for the connection.
			n, err = f.intake.Receive(context.Background(), []byte(vectorBody), vectorSignature)
			require.NoError(t, err)
			require.Equal(t, 2, n)
			require.Equal(t, []pull.Stored{{New: 2}}, f.takeStores())
			rows := f.inbox(t)
			require.Len(t, rows, 2)
			for _, r := range rows {
				require.Equal(t, qboinboxevent.StatusPending, r.Status)
				require.Equal(t, f.conn.ID, *r.ConnectionID)
				require.Equal(t, f.conn.OrganizationID, *r.OrganizationID)
				require.Equal(t, qboinboxevent.SourceLegacy, r.Source)
				require.NotNil(t, r.OccurredAt)
			}
			require.Equal(t, 1, f.inboxJobs(t))

			// Replayed: acknowledged again, stored once, nothing enqueued.
			n, err = f.intake.Receive(context.Background(), []byte(vectorBody), vectorSignature)
			require.NoError(t, err)
			require.Equal(t, 2, n)
			require.Equal(t, []pull.Stored{{Duplicates: 2}}, f.takeStores())
			require.Len(t, f.inbox(t), 2)
			require.Equal(t, 1, f.inboxJobs(t))

			// CloudEvents: an id twice in one POST, and a realm no connection holds, kept.
			body := intakeCEBody(t, intakeCE(intakeRealm, "ev-1", "qbo.payment.created.v1", "77"),
				intakeCE(intakeRealm, "ev-1", "qbo.payment.created.v1", "77"),
				intakeCE(intakeStranger, "ev-2", "qbo.payment.created.v1", "78"))
			n, err = f.receive(t, body)
			require.NoError(t, err)
			require.Equal(t, 3, n)
			require.Equal(t, []pull.Stored{{New: 2, Duplicates: 1, UnknownRealm: 1}}, f.takeStores())
			rows = f.inbox(t)
			require.Len(t, rows, 4)
			byKey := map[string]*ent.QBOInboxEvent{}
			for _, r := range rows {
				byKey[r.DedupeKey] = r
			}
			known, stranger := byKey[pull.EventKey(intakeRealm, "ev-1")], byKey[pull.EventKey(intakeStranger, "ev-2")]
			require.Equal(t, qboinboxevent.StatusPending, known.Status)
			require.Equal(t, "Payment", known.QboType)
			require.Equal(t, "77", known.QboID)
			require.Equal(t, "Create", known.Operation)
			require.JSONEq(t, string(intakeJSON(t, intakeCE(intakeRealm, "ev-1", "qbo.payment.created.v1", "77"))), known.Payload)
			require.Equal(t, qboinboxevent.StatusUnknownRealm, stranger.Status)
			require.Nil(t, stranger.ConnectionID)
			require.Nil(t, stranger.OrganizationID)
			require.Equal(t, 2, f.inboxJobs(t), "a store with news for the connection enqueues its own job")
		})
	}
}

// TestIntakeGroupCommit: deliveries that arrive while a store is held up wait for it, and
// are then stored together, each answered only once its notifications are in.
func TestIntakeGroupCommit(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f := newIntakeFix(t, d)
			ctx := tenant.System(context.Background())

			// Another transaction holds the first delivery's key (on SQLite, the one
			// connection), so the first store waits for it.
			blocker, err := f.db.Tx(ctx)
			require.NoError(t, err)
			_, err = blocker.QBOInboxEvent.Create().SetID("qie_blocker").SetDedupeKey(pull.EventKey(intakeRealm, "gc-0")).
				SetRealmID(intakeRealm).SetSource(qboinboxevent.SourcePoll).SetQboType("Payment").SetQboID("1").
				SetOperation("Create").Save(ctx)
			require.NoError(t, err)

			const deliveries = 20
			bodies := make([][]byte, deliveries)
			for i := range bodies {
				bodies[i] = intakeCEBody(t, intakeCE(intakeRealm, fmt.Sprint("gc-", i), "qbo.payment.created.v1", fmt.Sprint(i+1)))
			}
			var answered atomic.Int32
			errs := make(chan error, deliveries)
			deliver := func(i int) {
				_, err := f.intake.Receive(context.Background(), bodies[i], qbotest.Sign(vectorToken, bodies[i]))
				answered.Add(1)
				errs <- err
			}
			go deliver(0)
			time.Sleep(50 * time.Millisecond)
			for i := 1; i < deliveries; i++ {
				go deliver(i)
			}
			time.Sleep(200 * time.Millisecond)
			require.Zero(t, answered.Load(), "no delivery is answered before its store commits")
			require.NoError(t, blocker.Commit())
			for range deliveries {
				require.NoError(t, <-errs)
			}

			stores := f.takeStores()
			t.Logf("%d deliveries in %d stores", deliveries, len(stores))
			require.Less(t, len(stores), deliveries, "deliveries that waited were stored together")
			var sum pull.Stored
			withNews := 0
			for _, st := range stores {
				sum.New += st.New
				sum.Duplicates += st.Duplicates
				if st.New > 0 {
					withNews++
				}
			}
			require.Equal(t, pull.Stored{New: deliveries - 1, Duplicates: 1}, sum, "the held key was stored by the other transaction")
			require.Len(t, f.inbox(t), deliveries)
			require.Equal(t, withNews, f.inboxJobs(t), "one inbox job per store with news, not per delivery")
		})
	}
}

func intakeJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestIntakeStoreFails: a store that panics (here: no database client) fails the deliveries
// in it, with an error, instead of taking the process down from the storing goroutine.
func TestIntakeStoreFails(t *testing.T) {
	t.Parallel()
	in := &pull.Intake{Puller: &pull.Puller{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, Verifier: vectorToken}
	n, err := in.Receive(context.Background(), []byte(vectorBody), vectorSignature)
	require.ErrorContains(t, err, "panicked")
	require.Zero(t, n)
	_, err = in.Receive(context.Background(), []byte(vectorBody), vectorSignature)
	require.Error(t, err, "the intake goes on after a failed store")
}
