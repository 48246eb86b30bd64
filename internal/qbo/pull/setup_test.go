package pull_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/qboinboxevent"
	"books/ent/qbolink"
	"books/ent/reconciliationitem"
	"books/internal/adminq"
	"books/internal/apperr"
	"books/internal/auth"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/integrity/integritytest"
	"books/internal/ledger"
	"books/internal/money"
	"books/internal/qbo"
	"books/internal/qbo/conn"
	"books/internal/qbo/pull"
	"books/internal/qbo/push"
	"books/internal/qbo/qbotest"
	"books/internal/qbo/recon"
	"books/internal/qbo/settings"
	"books/internal/realtime"
	"books/internal/secrets"
	"books/internal/tenant"
	"books/jobs"
)

const verifier = "test-verifier-token"

// testBundle is a Books organization with one entity connected to an emulated QuickBooks
// company that delivers webhooks to the intake, and a job runner working the push, the
// inbox and the poller.
type testBundle struct {
	dialect  string
	db       *database.DB
	client   *ent.Client
	ctx      context.Context // alice, an accountant
	bob      context.Context // bob, a finance lead: approves
	org      string
	entity   *ent.LegalEntity
	item     *ent.Item
	srv      *qbotest.Server
	realm    *qbotest.Realm
	row      *ent.QBOConnection
	engine   *push.Engine
	puller   *pull.Puller
	broker   *realtime.Local
	api      *qbo.Client // the "QuickBooks user"
	hookURL  string
	received chan struct{}
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// setup builds the bundle; opts configure the emulator's webhooks (WithWebhook is added).
func setup(t testing.TB, dialectName string, hookOpts ...qbotest.WebhookOption) *testBundle {
	t.Helper()
	return setupSrv(t, dialectName, nil, hookOpts...)
}

// setupSrv is setup with options of the emulator (a clock).
func setupSrv(t testing.TB, dialectName string, srvOpts []qbotest.Option, hookOpts ...qbotest.WebhookOption) *testBundle {
	t.Helper()
	db := dbtest.OpenJobs(t, dialectName)
	client := db.Client()
	org, err := client.Organization.Create().SetName("Test org").Save(tenant.System(context.Background()))
	require.NoError(t, err)
	alice := auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindUser, Subject: "alice", Org: org.ID, Roles: []auth.Role{auth.RoleAccountant}})
	bob := auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindUser, Subject: "bob", Org: org.ID, Roles: []auth.Role{auth.RoleFinanceLead}})
	b := &testBundle{dialect: dialectName, db: db, client: client, ctx: alice, bob: bob, org: org.ID, broker: realtime.NewLocal()}
	t.Cleanup(func() {
		if !t.Failed() {
			integritytest.Check(t, client, org.ID)
		}
	})
	t.Cleanup(func() { _ = b.broker.Close() })
	b.entity, err = ledger.CreateEntity(alice, client, ent.CreateLegalEntityInput{Code: "US", Name: "US Inc", BaseCurrency: "USD"})
	require.NoError(t, err)
	b.item, err = billing.CreateItem(alice, client, ent.CreateItemInput{Name: "Consulting hour", EntityID: b.entity.ID,
		IncomeAccountID: b.accountID(t, "4000"), DefaultRate: money.MustParse("150.00")})
	require.NoError(t, err)

	// The intake listens before the emulator starts, so the emulator can deliver to it.
	queue := &adminq.Queue{Client: client}
	b.puller = &pull.Puller{Queue: &recon.Queue{Broker: b.broker},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	intake := &pull.Intake{Puller: b.puller, Client: client, Verifier: verifier}
	b.received = make(chan struct{}, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if _, err := intake.Receive(r.Context(), body, r.Header.Get(pull.SignatureHeader)); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		select {
		case b.received <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(hook.Close)
	b.hookURL = hook.URL

	b.srv = qbotest.NewServer(t, append([]qbotest.Option{qbotest.WithRealms(1), qbotest.WithoutLimits(),
		qbotest.WithWebhook(hook.URL, verifier, hookOpts...)}, srvOpts...)...)
	b.realm = b.srv.Realm(b.srv.RealmIDs()[0])
	tok := b.srv.IssueTokens(b.realm.ID())
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(t, err)
	store := conn.NewStore(box)
	now := time.Now().UTC()
	b.row, err = store.Save(alice, client, conn.Connect{EntityID: b.entity.ID, RealmID: b.realm.ID(), BaseURL: b.srv.URL,
		Tokens: conn.Tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken, AccessExpiresAt: now.Add(time.Hour),
			RefreshExpiresAt: now.Add(100 * 24 * time.Hour)}})
	require.NoError(t, err)
	b.engine = &push.Engine{Store: store, Issues: queue, HTTPClient: func(context.Context, *ent.QBOConnection) (*http.Client, error) {
		return &http.Client{Transport: bearer{tok.AccessToken}, Timeout: 10 * time.Second}, nil
	}, RemoteDeleteSettled: b.puller.RemoteDeleteSettled}
	b.puller.Engine = b.engine
	b.api, err = b.engine.API(b.ctx, b.row)
	require.NoError(t, err)
	b.mapAccounts(t)
	b.row, err = client.QBOConnection.UpdateOne(b.row).SetSettings(settings.Settings{ServiceItemID: "1"}).Save(b.ctx)
	require.NoError(t, err)

	kinds := jobs.NewKinds()
	jobs.Register(kinds, &push.SyncWorker{Engine: b.engine, Client: client})
	jobs.Register(kinds, &pull.InboxWorker{Puller: b.puller, Client: client})
	jobs.Register(kinds, &pull.PollConnectionWorker{Puller: b.puller, Client: client})
	r, err := jobs.New(db, jobs.Config{Kinds: kinds, Issues: queue, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		FetchPollInterval: 20 * time.Millisecond, StopGrace: time.Second})
	require.NoError(t, err)
	b.engine.Runner, b.puller.Runner = r, r
	if dialectName == dialect.Postgres {
		b.engine.Lease = push.PostgresLease(db.SQL)
		lease := push.PostgresLease(db.SQL)
		b.puller.Lease = lease
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	require.NoError(t, r.Start(ctx))
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return b
}

func eachDialect(t *testing.T, fn func(t *testing.T, dialectName string)) {
	t.Helper()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, d)
		})
	}
}

func (b *testBundle) accountID(t testing.TB, code string) string {
	t.Helper()
	id, err := b.client.Account.Query().Where(account.EntityID(b.entity.ID), account.Code(code)).OnlyID(b.ctx)
	require.NoError(t, err)
	return id
}

// mapAccounts maps every Books account to a QuickBooks account of the same kind.
func (b *testBundle) mapAccounts(t testing.TB) {
	t.Helper()
	byName := map[string]string{}
	for _, a := range b.realm.Accounts() {
		byName[a["Name"].(string)] = a["Id"].(string)
	}
	accts, err := b.client.Account.Query().Where(account.EntityID(b.entity.ID)).All(b.ctx)
	require.NoError(t, err)
	for _, a := range accts {
		name := "Undeposited Funds"
		switch {
		case a.Subtype == account.SubtypeAccountsReceivable:
			name = "Accounts Receivable (A/R)"
		case a.Type == account.TypeLiability:
			name = "Deferred Revenue"
		case a.Type == account.TypeEquity:
			name = "Retained Earnings"
		case a.Type == account.TypeRevenue:
			name = "Services"
		case a.Type == account.TypeExpense:
			name = "Office Expenses"
		}
		_, err := b.client.QBOLink.Create().SetConnectionID(b.row.ID).SetEntityID(b.entity.ID).
			SetRecordType(qbolink.RecordTypeAccount).SetRecordID(a.ID).SetQboType("Account").SetQboID(byName[name]).
			SetStatus(qbolink.StatusSynced).SetSyncedGeneration(1).Save(b.ctx)
		require.NoError(t, err)
	}
}

func (b *testBundle) newCustomer(t testing.TB, name string) *ent.Customer {
	t.Helper()
	email := strings.ToLower(strings.ReplaceAll(name, " ", "")) + "@example.com"
	cus, err := billing.CreateCustomer(b.ctx, b.client, ent.CreateCustomerInput{Name: name + " Corp", DisplayName: name,
		Currency: "USD", Email: &email})
	require.NoError(t, err)
	return cus
}

func (b *testBundle) approvedInvoice(t testing.TB, cus *ent.Customer, amount string) *ent.Invoice {
	t.Helper()
	price := money.MustParse(amount)
	inv, err := billing.CreateInvoice(b.ctx, b.client, billing.InvoiceInput{EntityID: b.entity.ID, CustomerID: cus.ID,
		IssueDate: caldate.MustParse("2026-11-01"), DueDate: caldate.MustParse("2026-12-01"),
		Lines: []billing.LineInput{{ItemID: b.item.ID, Quantity: money.MustParseQuantity("1"), UnitPrice: &price}}})
	require.NoError(t, err)
	_, err = billing.SubmitInvoice(b.ctx, b.client, inv.ID)
	require.NoError(t, err)
	inv, err = billing.ApproveInvoice(b.bob, b.client, inv.ID)
	require.NoError(t, err)
	return inv
}

// pushAll pushes invoices (30 at a time) and waits until QuickBooks holds them all.
func (b *testBundle) pushAll(t testing.TB, invs []*ent.Invoice) {
	t.Helper()
	for i := 0; i < len(invs); i += push.MaxPush {
		var batch []string
		for _, inv := range invs[i:min(i+push.MaxPush, len(invs))] {
			batch = append(batch, inv.ID)
		}
		tx, err := b.client.Tx(b.ctx)
		require.NoError(t, err)
		_, err = b.engine.Push(b.ctx, tx.Client(), b.entity.ID, qbolink.RecordTypeInvoice, batch)
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
	}
	ids := make([]string, len(invs))
	for i, inv := range invs {
		ids[i] = inv.ID
	}
	require.Eventually(t, func() bool {
		n, err := b.client.QBOLink.Query().Where(qbolink.ConnectionID(b.row.ID), qbolink.RecordTypeEQ(qbolink.RecordTypeInvoice),
			qbolink.RecordIDIn(ids...), qbolink.StatusEQ(qbolink.StatusSynced)).Count(b.ctx)
		require.NoError(t, err)
		return n == len(invs)
	}, 60*time.Second, 50*time.Millisecond, "every invoice reaches QuickBooks")
}

// qboID returns the QuickBooks id of a linked Books record.
func (b *testBundle) qboID(t testing.TB, rt qbolink.RecordType, id string) string {
	t.Helper()
	l, err := b.client.QBOLink.Query().Where(qbolink.ConnectionID(b.row.ID), qbolink.RecordTypeEQ(rt), qbolink.RecordID(id)).Only(b.ctx)
	require.NoError(t, err)
	require.NotNil(t, l.QboID)
	return *l.QboID
}

// qboPay records a payment in QuickBooks as its user would: total, and what it applies to
// which QuickBooks invoices.
func (b *testBundle) qboPay(t testing.TB, customerQBO, total string, ref string, apply map[string]string) map[string]any {
	t.Helper()
	lines := []any{}
	for inv, amt := range apply {
		lines = append(lines, map[string]any{"Amount": json.Number(amt),
			"LinkedTxn": []any{map[string]any{"TxnId": inv, "TxnType": "Invoice"}}})
	}
	body := map[string]any{"CustomerRef": map[string]any{"value": customerQBO}, "TotalAmt": json.Number(total),
		"TxnDate": "2026-11-20", "Line": lines}
	if ref != "" {
		body["PaymentRefNum"] = ref
	}
	raw, err := b.api.Create(context.Background(), "Payment", body, fmt.Sprintf("t-%d", time.Now().UnixNano()))
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

func (b *testBundle) qboVoid(t testing.TB, entity string, obj map[string]any) {
	t.Helper()
	cur, ok := b.realm.Get(entity, obj["Id"].(string))
	require.True(t, ok)
	_, err := b.api.Void(context.Background(), entity, cur["Id"].(string), cur["SyncToken"].(string), fmt.Sprintf("v-%d", time.Now().UnixNano()))
	require.NoError(t, err)
}

func (b *testBundle) qboDelete(t testing.TB, entity, id string) {
	t.Helper()
	cur, ok := b.realm.Get(entity, id)
	require.True(t, ok)
	_, err := b.api.Delete(context.Background(), entity, id, cur["SyncToken"].(string), fmt.Sprintf("d-%d", time.Now().UnixNano()))
	require.NoError(t, err)
}

// settle waits until the emulator has delivered every webhook and the inbox is processed.
func (b *testBundle) settle(t testing.TB) {
	t.Helper()
	require.Eventually(t, func() bool {
		// Every notification queued is delivered or given up (none in flight).
		if st := b.srv.WebhookStats(); st.Pending > 0 || st.Delivered+st.Failed < st.Queued {
			return false
		}
		n, err := b.client.QBOInboxEvent.Query().Where(qboinboxevent.StatusEQ(qboinboxevent.StatusPending)).Count(tenant.System(b.ctx))
		require.NoError(t, err)
		return n == 0
	}, 90*time.Second, 50*time.Millisecond, "webhooks delivered and processed")
}

// poll runs a polling pass as its job does, then waits for the inbox.
func (b *testBundle) poll(t testing.TB) {
	t.Helper()
	require.NoError(t, b.puller.Poll(context.Background(), b.client, b.row.ID))
	b.settle(t)
}

func (b *testBundle) openItems(t testing.TB) []*ent.ReconciliationItem {
	t.Helper()
	items, err := b.client.ReconciliationItem.Query().Where(reconciliationitem.StatusEQ(reconciliationitem.StatusOpen)).
		Order(ent.Asc(reconciliationitem.FieldID)).All(b.ctx)
	require.NoError(t, err)
	return items
}

func cents(t testing.TB, v any) int64 {
	t.Helper()
	a, err := money.Parse(fmt.Sprint(v))
	require.NoError(t, err)
	return a.Units() / 100
}

func qbotestDropAll() qbotest.Fault { return qbotest.Fault{Kind: qbotest.FaultDropWebhook} }

func apperrCode(err error) string { return apperr.Code(err) }
