package stripepay_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/paymentattempt"
	"books/ent/stripeevent"
	"books/internal/adminq"
	"books/internal/auth"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/database"
	"books/internal/dbtest"
	"books/internal/integrity/integritytest"
	"books/internal/ledger"
	"books/internal/money"
	"books/internal/qbo/push"
	"books/internal/qbo/recon"
	"books/internal/realtime"
	"books/internal/secrets"
	"books/internal/stripepay"
	"books/internal/stripepay/stripefake"
	"books/internal/tenant"
	"books/jobs"
)

// testBundle is a Books organization with two legal entities (US and EU, both USD), each
// taking payments through its own Stripe account in the offline fake, whose webhooks reach
// the intake over real HTTP; a job runner applies the inbox, sends refunds and runs the
// backstop.
type testBundle struct {
	dialect string
	db      *database.DB
	client  *ent.Client
	ctx     context.Context // alice, an admin
	bob     context.Context // bob, a finance lead: approves
	org     string
	fake    *stripefake.Server
	svc     *stripepay.Service
	hookURL string
	logs    *strings.Builder // everything the service logged
	ents    []*entity
}

// entity is one legal entity with its Stripe account and an item to invoice.
type entity struct {
	le   *ent.LegalEntity
	item *ent.Item
	acct *ent.StripeAccount
	// The account's keys as the fake knows them.
	secretKey, publishableKey, webhookSecret string
}

// setup builds the bundle on dialectName.
func setup(t testing.TB, dialectName string) *testBundle {
	t.Helper()
	db := dbtest.OpenJobs(t, dialectName)
	client := db.Client()
	org, err := client.Organization.Create().SetName("Test org").Save(tenant.System(context.Background()))
	require.NoError(t, err)
	alice := auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindUser, Subject: "alice", Org: org.ID, Roles: []auth.Role{auth.RoleAdmin}})
	bob := auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindUser, Subject: "bob", Org: org.ID, Roles: []auth.Role{auth.RoleFinanceLead}})
	logs := &strings.Builder{}
	b := &testBundle{dialect: dialectName, db: db, client: client, ctx: alice, bob: bob, org: org.ID, logs: logs}
	t.Cleanup(func() {
		if !t.Failed() {
			integritytest.Check(t, client, org.ID)
		}
	})
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(t, err)
	broker := realtime.NewLocal()
	t.Cleanup(func() { _ = broker.Close() })
	queue := &adminq.Queue{Client: client, Broker: broker}
	b.fake = stripefake.New(stripefake.Options{})
	url, err := b.fake.Start()
	require.NoError(t, err)
	t.Cleanup(b.fake.Close)
	b.svc = &stripepay.Service{Box: box, APIURL: url, Queue: &recon.Queue{Broker: broker}, Issues: queue, Client: client,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if dialectName == dialect.Postgres {
		b.svc.Lease = push.PostgresLease(db.SQL)
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		id := strings.TrimPrefix(r.URL.Path, "/webhooks/stripe/")
		if _, err := b.svc.Receive(r.Context(), id, body, r.Header.Get(stripepay.SignatureHeader)); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
	}))
	t.Cleanup(hook.Close)
	b.hookURL = hook.URL

	kinds := jobs.NewKinds()
	jobs.Register(kinds, &stripepay.InboxWorker{Service: b.svc})
	jobs.Register(kinds, &stripepay.RefundWorker{Service: b.svc})
	jobs.Register(kinds, &stripepay.RetryWorker{Service: b.svc})
	jobs.Register(kinds, &stripepay.BackstopAccountWorker{Service: b.svc})
	r, err := jobs.New(db, jobs.Config{Kinds: kinds, Issues: queue, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		FetchPollInterval: 20 * time.Millisecond, StopGrace: time.Second})
	require.NoError(t, err)
	b.svc.Runner = r
	queue.Enqueue = r.Enqueue
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	require.NoError(t, r.Start(ctx))
	t.Cleanup(func() { _ = r.Stop(context.Background()) })

	for i, code := range []string{"US", "EU"} {
		b.ents = append(b.ents, b.newEntity(t, code, i == 0))
	}
	return b
}

// newEntity creates an entity with its own Stripe account (registered in the fake, webhooks
// to the intake) and billing profile.
func (b *testBundle) newEntity(t testing.TB, code string, isDefault bool) *entity {
	t.Helper()
	le, err := ledger.CreateEntity(b.ctx, b.client, ent.CreateLegalEntityInput{Code: code, Name: code + " Inc", BaseCurrency: "USD"})
	require.NoError(t, err)
	e := &entity{le: le, secretKey: "sk_test_" + rand.Text(), publishableKey: "pk_test_" + rand.Text(),
		webhookSecret: "whsec_" + rand.Text()}
	income, err := b.client.Account.Query().Where(account.EntityID(le.ID), account.Code("4000")).OnlyID(b.ctx)
	require.NoError(t, err)
	e.item, err = billing.CreateItem(b.ctx, b.client, ent.CreateItemInput{Name: "Consulting hour", EntityID: le.ID,
		IncomeAccountID: income, DefaultRate: money.MustParse("150.00")})
	require.NoError(t, err)
	e.acct, err = b.svc.CreateAccount(b.ctx, b.client, stripepay.AccountInput{Name: "Stripe " + code,
		PublishableKey: e.publishableKey, SecretKey: e.secretKey, WebhookSecrets: []string{e.webhookSecret}, IsDefault: isDefault})
	require.NoError(t, err)
	_, err = stripepay.SetBillingProfile(b.ctx, b.client, le.ID, e.acct.ID, isDefault)
	require.NoError(t, err)
	b.fake.AddAccount(e.secretKey, e.publishableKey)
	b.fake.SetWebhook(e.secretKey, b.hookURL+stripepay.WebhookPath(e.acct.ID), e.webhookSecret)
	return e
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

func (b *testBundle) newCustomer(t testing.TB, name string) *ent.Customer {
	t.Helper()
	email := strings.ToLower(strings.ReplaceAll(name, " ", "")) + "@example.com"
	cus, err := billing.CreateCustomer(b.ctx, b.client, ent.CreateCustomerInput{Name: name + " Corp", DisplayName: name,
		Currency: "USD", Email: &email})
	require.NoError(t, err)
	return cus
}

// approvedInvoice creates, submits (alice) and approves (bob) an invoice of one line.
func (b *testBundle) approvedInvoice(t testing.TB, e *entity, cus *ent.Customer, amount string) *ent.Invoice {
	t.Helper()
	price := money.MustParse(amount)
	inv, err := billing.CreateInvoice(b.ctx, b.client, billing.InvoiceInput{EntityID: e.le.ID, CustomerID: cus.ID,
		IssueDate: caldate.MustParse("2026-11-01"), DueDate: caldate.MustParse("2026-12-01"),
		Lines: []billing.LineInput{{ItemID: e.item.ID, Quantity: money.MustParseQuantity("1"), UnitPrice: &price}}})
	require.NoError(t, err)
	_, err = billing.SubmitInvoice(b.ctx, b.client, inv.ID)
	require.NoError(t, err)
	inv, err = billing.ApproveInvoice(b.bob, b.client, inv.ID)
	require.NoError(t, err)
	return inv
}

// portal is the context of a portal client of cus.
func (b *testBundle) portal(cus *ent.Customer) context.Context {
	return auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindPortal, Subject: "portal-" + cus.ID, Org: b.org, Customer: cus.ID})
}

// pay starts paying inv by card as its customer's portal client and confirms the payment
// in the fake, as Stripe.js would. It returns the PaymentIntent's id.
func (b *testBundle) pay(t testing.TB, inv *ent.Invoice, cus *ent.Customer) string {
	t.Helper()
	p, err := b.svc.CreateInvoicePayment(b.portal(cus), b.client, inv.ID, paymentattempt.MethodCard)
	require.NoError(t, err)
	require.NotEmpty(t, p.ClientSecret)
	require.NoError(t, b.fake.Confirm(*p.Attempt.PaymentIntentID, "pm_card_visa"))
	return *p.Attempt.PaymentIntentID
}

// settle waits until the fake delivered everything, then runs the backstop for every
// account and applies every inbox, until nothing is pending. Process returns at once while
// an inbox job holds the account (that job reads the inbox again before it lets go), so
// settle runs it again until no event of any account is pending.
func (b *testBundle) settle(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, b.fake.Flush(ctx))
	for _, e := range b.ents {
		_, err := b.svc.Backstop(ctx, e.acct.ID)
		require.NoError(t, err)
	}
	sys := tenant.System(ctx)
	for {
		pending, err := b.client.StripeEvent.Query().Where(stripeevent.StatusEQ(stripeevent.StatusPending)).All(sys)
		require.NoError(t, err)
		if len(pending) == 0 {
			return
		}
		accts := map[string]bool{}
		for _, ev := range pending {
			accts[ev.StripeAccountID] = true
		}
		for id := range accts {
			require.NoError(t, b.svc.Process(ctx, id))
		}
		select {
		case <-ctx.Done():
			require.Failf(t, "settle", "%d Stripe events still pending", len(pending))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// lockedWriter makes a strings.Builder safe for the loggers of many goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
