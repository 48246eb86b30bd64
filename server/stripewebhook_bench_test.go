package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"books/ent"
	"books/ent/account"
	"books/ent/invoice"
	"books/ent/payment"
	"books/ent/paymentapplication"
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
	"books/server"
)

// BenchmarkStripeWebhookIntake measures POST /webhooks/stripe/{accountId} over real HTTP on
// each database, with the events applied while they arrive: every op is one signed
// charge.succeeded delivery (fresh event id, its own PaymentIntent) paying one approved
// invoice in full, answered 200 once stored in the account's inbox (which enqueues a
// stripe_inbox job); a job runner working stripepay.InboxWorker, as in `books serve`, records
// the payments. Before the timer: b.N approved invoices and b.N events; each delivery is
// signed when it is sent, so its timestamp is fresh. At the end every event must be stored
// once, every invoice paid exactly once (one payment per PaymentIntent), and the
// organization's ledger must pass integritytest.Check.
//
//   - paced_1000: deliveries are scheduled at 1,000 a second from up to 64 connections;
//     latency is measured from each delivery's scheduled time, so a server falling behind
//     shows in it (no coordinated omission). ns/op is then the pacing (1 ms) unless the
//     server cannot keep up.
//   - unpaced: 16 senders post back to back, for the most the intake accepts.
//
// Custom metrics: events/s accepted; p50_ms / p99_ms / max_ms of the answers; posted_s, from
// the first delivery until every invoice is paid; posted/s, b.N over posted_s. The timer
// covers the deliveries only. Setting up 5,000 invoices and applying 5,000 events takes
// minutes per run, hence the timeout:
//
//	go test ./server/ -run '^$' -bench BenchmarkStripeWebhookIntake -benchtime 5000x -count 3 -timeout 2h
func BenchmarkStripeWebhookIntake(b *testing.B) {
	for _, d := range dbtest.Dialects(b) {
		b.Run(d+"/paced_1000", func(b *testing.B) { swbRun(b, d, 1000, 64) })
		b.Run(d+"/unpaced", func(b *testing.B) { swbRun(b, d, 0, 16) })
	}
}

// swbFix is the benchmark's world: the server, the Stripe service and its runner, one
// organization with one entity and one Stripe account.
type swbFix struct {
	db      *database.DB
	client  *ent.Client
	server  *httptest.Server
	org     string
	alice   context.Context // admin: creates and submits
	bob     context.Context // finance lead: approves
	entity  *ent.LegalEntity
	item    *ent.Item
	cus     *ent.Customer
	svc     *stripepay.Service
	acct    *ent.StripeAccount
	whsec   string
	hookURL string
}

// swbSetup builds the fixture on dialectName, with the runner working the inbox.
func swbSetup(tb testing.TB, dialectName string) *swbFix {
	tb.Helper()
	db := dbtest.OpenJobs(tb, dialectName)
	// The pool as `books serve` opens it (internal/database): dbtest keeps two idle
	// PostgreSQL connections for tests running side by side.
	db.SQL.SetMaxIdleConns(40)
	client := db.Client()
	f := &swbFix{db: db, client: client}
	org, err := client.Organization.Create().SetName("Stripe bench org").Save(tenant.System(context.Background()))
	require.NoError(tb, err)
	f.org = org.ID
	f.alice = auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindUser, Subject: "alice", Org: org.ID, Roles: []auth.Role{auth.RoleAdmin}})
	f.bob = auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindUser, Subject: "bob", Org: org.ID, Roles: []auth.Role{auth.RoleFinanceLead}})

	key, err := secrets.GenerateKey()
	require.NoError(tb, err)
	box, err := secrets.ParseKeys("bench:" + key)
	require.NoError(tb, err)
	broker := realtime.NewLocal()
	tb.Cleanup(func() { _ = broker.Close() })
	queue := &adminq.Queue{Client: client, Broker: broker}
	fake := stripefake.New(stripefake.Options{})
	apiURL, err := fake.Start()
	require.NoError(tb, err)
	tb.Cleanup(fake.Close)
	discard := slog.New(slog.NewJSONHandler(io.Discard, nil))
	svc := &stripepay.Service{Box: box, APIURL: apiURL, Queue: &recon.Queue{Broker: broker}, Issues: queue,
		Client: client, Logger: discard}
	if dialectName == dialect.Postgres {
		svc.Lease = push.PostgresLease(db.SQL) // as cmd/books wires it
	}
	kinds := jobs.NewKinds()
	jobs.Register(kinds, &stripepay.InboxWorker{Service: svc})
	jobs.Register(kinds, &stripepay.RetryWorker{Service: svc})
	runner, err := jobs.New(db, jobs.Config{Kinds: kinds, Issues: queue, Logger: discard})
	require.NoError(tb, err)
	svc.Runner = runner
	f.svc = svc
	queue.Enqueue = runner.Enqueue
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(tb, runner.Start(ctx))
	tb.Cleanup(func() { _ = runner.Stop(context.Background()); cancel() })

	tokens, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret!"), "books")
	require.NoError(tb, err)
	f.server = httptest.NewServer(server.New(server.Config{DB: db, Client: client, Auth: auth.NewService(tokens, client),
		Logger: discard, Broker: broker, Queue: queue, Stripe: svc}))
	tb.Cleanup(f.server.Close)

	f.entity, err = ledger.CreateEntity(f.alice, client, ent.CreateLegalEntityInput{Code: "US", Name: "US Inc", BaseCurrency: "USD"})
	require.NoError(tb, err)
	income, err := client.Account.Query().Where(account.EntityID(f.entity.ID), account.Code("4000")).OnlyID(f.alice)
	require.NoError(tb, err)
	f.item, err = billing.CreateItem(f.alice, client, ent.CreateItemInput{Name: "Consulting hour", EntityID: f.entity.ID,
		IncomeAccountID: income, DefaultRate: money.MustParse("150.00")})
	require.NoError(tb, err)
	email := "acme@example.com"
	f.cus, err = billing.CreateCustomer(f.alice, client, ent.CreateCustomerInput{Name: "Acme Corp", DisplayName: "Acme",
		Currency: "USD", Email: &email})
	require.NoError(tb, err)
	sk, pk := "sk_test_"+rand.Text(), "pk_test_"+rand.Text()
	f.whsec = "whsec_" + rand.Text()
	f.acct, err = svc.CreateAccount(f.alice, client, stripepay.AccountInput{Name: "Stripe US", PublishableKey: pk,
		SecretKey: sk, WebhookSecrets: []string{f.whsec}, IsDefault: true})
	require.NoError(tb, err)
	_, err = stripepay.SetBillingProfile(f.alice, client, f.entity.ID, f.acct.ID, true)
	require.NoError(tb, err)
	fake.AddAccount(sk, pk)
	f.hookURL = f.server.URL + stripepay.WebhookPath(f.acct.ID)
	return f
}

// swbInvoice is an approved invoice and the PaymentIntent its customer's portal client
// started paying it with.
type swbInvoice struct {
	inv *ent.Invoice
	pi  string
}

// swbInvoices creates n approved invoices of one line each (the approver differs from the
// submitter, as billing requires) and starts paying each by card in the portal
// (Service.CreateInvoicePayment: a payment attempt, and a PaymentIntent in the fake), from
// several goroutines.
func (f *swbFix) swbInvoices(tb testing.TB, n int) []swbInvoice {
	tb.Helper()
	out := make([]swbInvoice, n)
	today := caldate.Today(time.UTC)
	portal := auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindPortal, Subject: "portal-" + f.cus.ID, Org: f.org, Customer: f.cus.ID})
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				price := money.MustParse(fmt.Sprintf("%d.%02d", 50+i%950, i%100))
				inv, err := billing.CreateInvoice(f.alice, f.client, billing.InvoiceInput{EntityID: f.entity.ID,
					CustomerID: f.cus.ID, IssueDate: today.AddDays(-1), DueDate: today.AddDays(29),
					Lines: []billing.LineInput{{ItemID: f.item.ID, Quantity: money.MustParseQuantity("1"), UnitPrice: &price}}})
				if err == nil {
					_, err = billing.SubmitInvoice(f.alice, f.client, inv.ID)
				}
				if err == nil {
					inv, err = billing.ApproveInvoice(f.bob, f.client, inv.ID)
				}
				var p *stripepay.Payment
				if err == nil {
					p, err = f.svc.CreateInvoicePayment(portal, f.client, inv.ID, paymentattempt.MethodCard)
				}
				if err != nil {
					errs <- fmt.Errorf("invoice %d: %w", i, err)
					next.Store(int64(n))
					return
				}
				out[i] = swbInvoice{inv: inv, pi: *p.Attempt.PaymentIntentID}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(tb, err)
	}
	return out
}

// swbEvent is the body of a charge.succeeded event: the charge of the invoice's
// PaymentIntent, for its total, with Books' metadata.
func (f *swbFix) swbEvent(tb testing.TB, run string, i int, in swbInvoice) []byte {
	tb.Helper()
	now := time.Now().Unix()
	inv := in.inv
	cents := inv.Total.Units()
	for range money.Scale - 2 { // to USD's minor units
		cents /= 10
	}
	obj := map[string]any{
		"id": fmt.Sprintf("ch_%s%06d", run, i), "object": "charge", "amount": cents, "amount_captured": cents,
		"amount_refunded": 0, "captured": true, "paid": true, "refunded": false, "status": "succeeded",
		"currency": "usd", "created": now, "livemode": false,
		"payment_intent": in.pi,
		"metadata": map[string]string{stripepay.MetaEntity: f.entity.ID, stripepay.MetaInvoice: inv.ID,
			stripepay.MetaCustomer: f.cus.ID},
		"payment_method_details": map[string]any{"type": "card",
			"card": map[string]any{"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}},
	}
	return swbEventBody(tb, fmt.Sprintf("evt_%s%06d", run, i), "charge.succeeded", now, obj)
}

func swbEventBody(tb testing.TB, id, typ string, created int64, obj any) []byte {
	tb.Helper()
	body, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": stripe.APIVersion, "created": created,
		"data": map[string]any{"object": obj}, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil}, "type": typ,
	})
	require.NoError(tb, err)
	return body
}

// swbRun delivers b.N events with senders goroutines, at rate a second (0: as fast as they
// go), and waits until every invoice is paid.
func swbRun(b *testing.B, dialectName string, rate float64, senders int) {
	f := swbSetup(b, dialectName)
	invoices := f.swbInvoices(b, b.N)
	run := rand.Text()[:8]
	bodies := make([][]byte, b.N)
	for i, inv := range invoices {
		bodies[i] = f.swbEvent(b, run, i, inv)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders, MaxIdleConns: senders}}
	defer client.CloseIdleConnections()
	send := func(body []byte) error {
		sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: f.whsec}).Header
		req, err := http.NewRequest(http.MethodPost, f.hookURL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set(stripepay.SignatureHeader, sig)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d: %s", resp.StatusCode, raw)
		}
		return nil
	}
	// Warm the connections and the server's first statements, untimed, with events Books
	// stores and ignores.
	for i := range senders {
		obj := map[string]any{"object": "balance", "livemode": false}
		require.NoError(b, send(swbEventBody(b, fmt.Sprintf("evt_%swarm%03d", run, i), "balance.available", time.Now().Unix(), obj)))
	}

	sys := tenant.System(context.Background())
	paidCount := func() (int, error) {
		return f.client.Payment.Query().Where(payment.ProcessorEQ(payment.ProcessorStripe)).Count(sys)
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failures atomic.Int64
	var firstErr sync.Once
	var errOut error
	var wg sync.WaitGroup
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	b.ResetTimer()
	start := time.Now()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				due := time.Now()
				if interval > 0 {
					due = start.Add(time.Duration(i) * interval)
					time.Sleep(time.Until(due))
				}
				if err := send(bodies[i]); err != nil {
					failures.Add(1)
					firstErr.Do(func() { errOut = err })
				}
				lat[i] = time.Since(due)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	require.Zero(b, failures.Load(), "failed deliveries; first: %v", errOut)

	// Wait until every event is applied: a payment, its application and the invoice paid
	// commit together, so N stripe payments means N invoices paid.
	var posted time.Duration
	last, lastAt := -1, time.Now()
	for {
		n, err := paidCount()
		require.NoError(b, err)
		if n >= b.N {
			posted = time.Since(start)
			break
		}
		if n != last {
			last, lastAt = n, time.Now()
		}
		if time.Since(lastAt) > 2*time.Minute {
			var st []struct {
				Status stripeevent.Status `json:"status"`
				Count  int                `json:"count"`
			}
			_ = f.client.StripeEvent.Query().GroupBy(stripeevent.FieldStatus).Aggregate(ent.Count()).Scan(sys, &st)
			require.Failf(b, "posting stalled", "%d of %d invoices paid after %s, none for 2 minutes; events by status %v",
				n, b.N, time.Since(start), st)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The warm-up events may still wait their turn (the inbox applies by Stripe's clock, to
	// the second): let them be applied before counting.
	for {
		pending, err := f.client.StripeEvent.Query().Where(stripeevent.StatusEQ(stripeevent.StatusPending)).Count(sys)
		require.NoError(b, err)
		if pending == 0 {
			break
		}
		require.Less(b, time.Since(start), posted+2*time.Minute, "%d events still pending", pending)
		time.Sleep(10 * time.Millisecond)
	}

	// Every event stored once and applied; every invoice paid exactly once, by the payment
	// of its own PaymentIntent.
	events, err := f.client.StripeEvent.Query().Where(stripeevent.StripeAccountID(f.acct.ID)).All(sys)
	require.NoError(b, err)
	require.Len(b, events, b.N+senders, "every delivery stored once")
	byStatus := map[stripeevent.Status]int{}
	for _, e := range events {
		byStatus[e.Status]++
	}
	require.Equal(b, map[stripeevent.Status]int{stripeevent.StatusProcessed: b.N, stripeevent.StatusIgnored: senders}, byStatus)
	pays, err := f.client.Payment.Query().Where(payment.ProcessorEQ(payment.ProcessorStripe)).All(sys)
	require.NoError(b, err)
	require.Len(b, pays, b.N)
	refs := map[string]bool{}
	for _, p := range pays {
		require.False(b, refs[p.ExternalRef], "PaymentIntent %s recorded twice", p.ExternalRef)
		refs[p.ExternalRef] = true
	}
	for _, in := range invoices {
		require.True(b, refs[in.pi], "invoice %s: no payment of its PaymentIntent", in.inv.ID)
	}
	open, err := f.client.PaymentAttempt.Query().Where(paymentattempt.StatusNEQ(paymentattempt.StatusSucceeded)).Count(sys)
	require.NoError(b, err)
	require.Zero(b, open, "every payment attempt succeeded")
	apps, err := f.client.PaymentApplication.Query().Where(paymentapplication.UnappliedAtIsNil()).All(sys)
	require.NoError(b, err)
	require.Len(b, apps, b.N)
	perInvoice := map[string]int{}
	for _, a := range apps {
		perInvoice[a.InvoiceID]++
	}
	require.Len(b, perInvoice, b.N, "one application per invoice")
	paid, err := f.client.Invoice.Query().Where(invoice.StatusEQ(invoice.StatusPaid), invoice.BalanceEQ(money.Amount{})).Count(sys)
	require.NoError(b, err)
	require.Equal(b, b.N, paid, "every invoice paid in full")
	integritytest.Check(b, f.client, f.org)

	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
	b.ReportMetric(posted.Seconds(), "posted_s")
	b.ReportMetric(float64(b.N)/posted.Seconds(), "posted/s")
}
