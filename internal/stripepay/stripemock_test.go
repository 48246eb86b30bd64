package stripepay_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"books/ent"
	"books/ent/account"
	"books/ent/payment"
	"books/ent/paymentattempt"
	"books/ent/refund"
	"books/ent/stripeevent"
	"books/internal/adminq"
	"books/internal/auth"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/dbtest"
	"books/internal/ledger"
	"books/internal/money"
	"books/internal/qbo/push"
	"books/internal/qbo/recon"
	"books/internal/realtime"
	"books/internal/secrets"
	"books/internal/stripepay"
	"books/internal/stripepay/stripemock"
	"books/internal/tenant"
)

// The stripe-mock tests check the Service's Stripe calls against Stripe's own mock, which
// validates each request against Stripe's OpenAPI specification: a parameter Books sends
// under the wrong name or in the wrong shape is a 400 there. stripe-mock keeps no state and
// answers fixtures, so these tests look at what was asked and what came back, not at
// money moving (the fake, stripefake, is for that). Helpers are prefixed sm.

// smFix is an organization with one USD entity taking payments through one Stripe account
// whose API is stripe-mock; every call to it is recorded.
type smFix struct {
	client   *ent.Client
	admin    context.Context
	lead     context.Context
	org      string
	svc      *stripepay.Service
	calls    *smRecorder
	logs     *smLog
	le       *ent.LegalEntity
	item     *ent.Item
	customer *ent.Customer
	acct     *ent.StripeAccount
	// The account's keys.
	secretKey, publishableKey, webhookSecret string
}

func smSetup(t *testing.T, dialectName string) *smFix {
	t.Helper()
	db := dbtest.Open(t, dialectName)
	client := db.Client()
	org, err := client.Organization.Create().SetName("Mock org").Save(tenant.System(context.Background()))
	require.NoError(t, err)
	f := &smFix{client: client, org: org.ID, calls: &smRecorder{next: http.DefaultTransport}, logs: &smLog{},
		secretKey: "sk_test_" + rand.Text(), publishableKey: "pk_test_" + rand.Text(), webhookSecret: "whsec_" + rand.Text()}
	f.admin = auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindUser, Subject: "alice", Org: org.ID, Roles: []auth.Role{auth.RoleAdmin}})
	f.lead = auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindUser, Subject: "bob", Org: org.ID, Roles: []auth.Role{auth.RoleFinanceLead}})
	key, err := secrets.GenerateKey()
	require.NoError(t, err)
	box, err := secrets.ParseKeys("test:" + key)
	require.NoError(t, err)
	broker := realtime.NewLocal()
	t.Cleanup(func() { _ = broker.Close() })
	f.svc = &stripepay.Service{Box: box, APIURL: stripemock.Start(t), Client: client,
		HTTPClient: &http.Client{Transport: f.calls, Timeout: 30 * time.Second},
		Queue:      &recon.Queue{Broker: broker}, Issues: &adminq.Queue{Client: client, Broker: broker},
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if dialectName == dialect.Postgres {
		f.svc.Lease = push.PostgresLease(db.SQL)
	}

	f.le, err = ledger.CreateEntity(f.admin, client, ent.CreateLegalEntityInput{Code: "US", Name: "US Inc", BaseCurrency: "USD"})
	require.NoError(t, err)
	income, err := client.Account.Query().Where(account.EntityID(f.le.ID), account.Code("4000")).OnlyID(f.admin)
	require.NoError(t, err)
	f.item, err = billing.CreateItem(f.admin, client, ent.CreateItemInput{Name: "Consulting hour", EntityID: f.le.ID,
		IncomeAccountID: income, DefaultRate: money.MustParse("150.00")})
	require.NoError(t, err)
	email := "ap@acme.example"
	f.customer, err = billing.CreateCustomer(f.admin, client, ent.CreateCustomerInput{Name: "Acme Corp", DisplayName: "Acme",
		Currency: "USD", Email: &email})
	require.NoError(t, err)
	f.acct, err = f.svc.CreateAccount(f.admin, client, stripepay.AccountInput{Name: "Stripe US", PublishableKey: f.publishableKey,
		SecretKey: f.secretKey, WebhookSecrets: []string{f.webhookSecret}})
	require.NoError(t, err)
	_, err = stripepay.SetBillingProfile(f.admin, client, f.le.ID, f.acct.ID, true)
	require.NoError(t, err)
	t.Cleanup(func() {
		if !t.Failed() {
			logs := f.logs.String()
			require.NotContains(t, logs, f.secretKey, "the secret key is never logged")
			require.NotContains(t, logs, f.webhookSecret, "the signing secret is never logged")
		}
	})
	return f
}

// invoice creates, submits and approves an invoice of one line of amount.
func (f *smFix) invoice(t *testing.T, amount string) *ent.Invoice {
	t.Helper()
	price := money.MustParse(amount)
	inv, err := billing.CreateInvoice(f.admin, f.client, billing.InvoiceInput{EntityID: f.le.ID, CustomerID: f.customer.ID,
		IssueDate: caldate.MustParse("2026-11-01"), DueDate: caldate.MustParse("2026-12-01"),
		Lines: []billing.LineInput{{ItemID: f.item.ID, Quantity: money.MustParseQuantity("1"), UnitPrice: &price}}})
	require.NoError(t, err)
	_, err = billing.SubmitInvoice(f.admin, f.client, inv.ID)
	require.NoError(t, err)
	inv, err = billing.ApproveInvoice(f.lead, f.client, inv.ID)
	require.NoError(t, err)
	return inv
}

// portal is the context of the customer's portal client.
func (f *smFix) portal() context.Context {
	return auth.WithPrincipal(context.Background(), &auth.Principal{
		Kind: auth.KindPortal, Subject: "portal-" + f.customer.ID, Org: f.org, Customer: f.customer.ID})
}

// requireAccepted requires every call since mark to have been answered 2xx by stripe-mock,
// and returns them.
func (f *smFix) requireAccepted(t *testing.T, mark int) []smCall {
	t.Helper()
	calls := f.calls.since(mark)
	require.NotEmpty(t, calls, "Stripe was called")
	for _, c := range calls {
		require.Equal(t, "Bearer "+f.secretKey, c.auth, "%s %s: with the account's own key", c.method, c.path)
		require.True(t, c.status >= 200 && c.status < 300, "stripe-mock refused %s %s?%s (%d): %s",
			c.method, c.path, c.form.Encode(), c.status, c.body)
	}
	return calls
}

// signed is body as Stripe would deliver it to the account's endpoint.
func (f *smFix) signed(body []byte) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: f.webhookSecret}).Header
}

// TestStripeMockCreateInvoicePayment: the PaymentIntent Books asks for is one Stripe takes,
// by card and by bank debit, and its id comes back onto the attempt with the client secret
// for the portal; asking again reuses the attempt, and a superseded one is canceled at
// Stripe with a request Stripe takes too.
func TestStripeMockCreateInvoicePayment(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		for _, method := range []paymentattempt.Method{paymentattempt.MethodCard, paymentattempt.MethodAch} {
			t.Run(d+"/"+string(method), func(t *testing.T) {
				t.Parallel()
				f := smSetup(t, d)
				inv := f.invoice(t, "250.00")

				mark := f.calls.mark()
				p, err := f.svc.CreateInvoicePayment(f.portal(), f.client, inv.ID, method)
				require.NoError(t, err)
				calls := f.requireAccepted(t, mark)
				require.Len(t, calls, 1)
				c := calls[0]
				require.Equal(t, "POST /v1/payment_intents", c.method+" "+c.path)
				wantType := map[paymentattempt.Method]string{paymentattempt.MethodCard: "card",
					paymentattempt.MethodAch: "us_bank_account"}[method]
				require.Equal(t, map[string]string{
					"amount": "25000", "currency": "usd", "payment_method_types[0]": wantType,
					"description": "Invoice " + *inv.Number, "metadata[entity_id]": f.le.ID, "metadata[invoice_id]": inv.ID,
					"metadata[customer_id]": f.customer.ID, "metadata[attempt_id]": p.Attempt.ID,
				}, c.flat(), "the PaymentIntent asked for")
				require.Equal(t, "books:"+p.Attempt.ID, c.idempotencyKey)

				require.NotNil(t, p.Attempt.PaymentIntentID)
				pi := *p.Attempt.PaymentIntentID
				require.True(t, strings.HasPrefix(pi, "pi_"), "a PaymentIntent id: %s", pi)
				// At Stripe the secret starts with the PaymentIntent's id; stripe-mock's fixtures
				// do not tie the two.
				require.Regexp(t, `^pi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+$`, p.ClientSecret, "a PaymentIntent's client secret")
				require.Equal(t, f.publishableKey, p.PublishableKey)
				stored, err := f.client.PaymentAttempt.Get(f.admin, p.Attempt.ID)
				require.NoError(t, err)
				require.Equal(t, pi, *stored.PaymentIntentID, "the PaymentIntent's id is stored on the attempt")
				require.Equal(t, paymentattempt.StatusRequiresPayment, stored.Status)
				require.Equal(t, method, stored.Method)
				require.Equal(t, "250.00", stored.Amount.String())
				require.NotContains(t, f.logs.String(), p.ClientSecret, "the client secret is the customer's, never logged")

				// Again: the same attempt, under the same idempotency key.
				mark = f.calls.mark()
				again, err := f.svc.CreateInvoicePayment(f.portal(), f.client, inv.ID, method)
				require.NoError(t, err)
				require.Equal(t, p.Attempt.ID, again.Attempt.ID)
				require.Equal(t, pi, *again.Attempt.PaymentIntentID)
				require.NotEmpty(t, again.ClientSecret)
				calls = f.requireAccepted(t, mark)
				require.Len(t, calls, 1)
				require.Equal(t, "books:"+p.Attempt.ID, calls[0].idempotencyKey)

				// Part of the invoice paid by cheque: the next ask is for the new balance, and the
				// old PaymentIntent is canceled at Stripe first.
				_, err = billing.RecordPayment(f.admin, f.client, billing.PaymentInput{EntityID: f.le.ID, CustomerID: f.customer.ID,
					Amount: money.MustParse("100.00"), ReceivedDate: caldate.MustParse("2026-11-05"), Method: payment.MethodCheck,
					Applications: []billing.Application{{InvoiceID: inv.ID, Amount: money.MustParse("100.00")}}})
				require.NoError(t, err)
				mark = f.calls.mark()
				next, err := f.svc.CreateInvoicePayment(f.portal(), f.client, inv.ID, method)
				require.NoError(t, err)
				require.NotEqual(t, p.Attempt.ID, next.Attempt.ID)
				calls = f.requireAccepted(t, mark)
				require.Len(t, calls, 2)
				require.Equal(t, "POST /v1/payment_intents/"+pi+"/cancel", calls[0].method+" "+calls[0].path)
				require.Equal(t, "POST /v1/payment_intents", calls[1].method+" "+calls[1].path)
				require.Equal(t, "15000", calls[1].form.Get("amount"))
				old, err := f.client.PaymentAttempt.Get(f.admin, p.Attempt.ID)
				require.NoError(t, err)
				require.Equal(t, paymentattempt.StatusCanceled, old.Status)
				require.NotContains(t, f.logs.String(), "could not cancel", "stripe-mock took the cancellation")
			})
		}
	}
}

// TestStripeMockRefundPayment: a Stripe payment (recorded from a signed
// payment_intent.succeeded, as its webhook would) is refunded through Stripe with a request
// Stripe takes; Stripe's refund id is stored on the pending refund, which posts when
// charge.refunded confirms it.
func TestStripeMockRefundPayment(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f := smSetup(t, d)
			inv := f.invoice(t, "250.00")
			p, err := f.svc.CreateInvoicePayment(f.portal(), f.client, inv.ID, paymentattempt.MethodCard)
			require.NoError(t, err)
			pi := *p.Attempt.PaymentIntentID

			// Stripe says the PaymentIntent succeeded.
			ev := map[string]any{"id": "evt_" + rand.Text(), "object": "event", "api_version": stripe.APIVersion,
				"created": time.Now().Unix(), "livemode": false, "type": "payment_intent.succeeded",
				"data": map[string]any{"object": map[string]any{"id": pi, "object": "payment_intent", "amount": 25000,
					"amount_received": 25000, "currency": "usd", "status": "succeeded", "payment_method_types": []string{"card"},
					"metadata": map[string]string{stripepay.MetaEntity: f.le.ID, stripepay.MetaInvoice: inv.ID,
						stripepay.MetaCustomer: f.customer.ID, stripepay.MetaAttempt: p.Attempt.ID}}}}
			body, err := json.Marshal(ev)
			require.NoError(t, err)
			dup, err := f.svc.Receive(context.Background(), f.acct.ID, body, f.signed(body))
			require.NoError(t, err)
			require.False(t, dup)
			require.NoError(t, f.svc.Process(context.Background(), f.acct.ID))
			pay, err := f.client.Payment.Query().Where(payment.ExternalRef(pi)).Only(f.admin)
			require.NoError(t, err)
			require.Equal(t, payment.ProcessorStripe, pay.Processor)
			require.Equal(t, "250.00", pay.Amount.String())

			mark := f.calls.mark()
			rf, err := f.svc.RefundPayment(f.lead, f.client, billing.CashReturnInput{PaymentID: pay.ID,
				Amount: money.MustParse("100.00"), Reason: "requested by the customer"})
			require.NoError(t, err)
			calls := f.requireAccepted(t, mark)
			require.Len(t, calls, 1)
			c := calls[0]
			require.Equal(t, "POST /v1/refunds", c.method+" "+c.path)
			require.Equal(t, map[string]string{"amount": "10000", "payment_intent": pi,
				"metadata[books_refund_id]": rf.ID, "metadata[entity_id]": f.le.ID}, c.flat(), "the refund asked for")
			require.Equal(t, "books:"+rf.ID, c.idempotencyKey)

			require.True(t, strings.HasPrefix(rf.ExternalRef, "re_"), "Stripe's refund id: %q", rf.ExternalRef)
			stored, err := f.client.Refund.Get(f.admin, rf.ID)
			require.NoError(t, err)
			require.Equal(t, rf.ExternalRef, stored.ExternalRef, "Stripe's refund id is stored")
			require.Equal(t, refund.StatusPending, stored.Status, "posted only when charge.refunded confirms it")
			require.Nil(t, stored.JournalEntryID)

			// Asked again (the job's retry), nothing more is sent: the refund has Stripe's id.
			mark = f.calls.mark()
			again, err := f.svc.SendRefund(f.admin, f.client, rf.ID)
			require.NoError(t, err)
			require.Equal(t, rf.ExternalRef, again.ExternalRef)
			require.Empty(t, f.calls.since(mark))
		})
	}
}

// TestStripeMockBackstop: the backstop's event list is a request Stripe takes; what it lists
// is stored once (a second pass finds only duplicates) and applied without error.
func TestStripeMockBackstop(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f := smSetup(t, d)
			ctx := context.Background()

			mark := f.calls.mark()
			_, err := f.svc.Backstop(ctx, f.acct.ID)
			require.NoError(t, err)
			calls := f.requireAccepted(t, mark)
			c := calls[0]
			require.Equal(t, "GET /v1/events", c.method+" "+c.path)
			require.Equal(t, "100", c.query.Get("limit"))
			require.NotEmpty(t, c.query.Get("created[gte]"))
			types := c.query["types[]"]
			if len(types) == 0 {
				for i := 0; c.query.Has(fmt.Sprintf("types[%d]", i)); i++ {
					types = append(types, c.query.Get(fmt.Sprintf("types[%d]", i)))
				}
			}
			require.Contains(t, types, "charge.refunded")
			require.Contains(t, types, "payment_intent.succeeded")

			acct, err := f.client.StripeAccount.Get(f.admin, f.acct.ID)
			require.NoError(t, err)
			require.NotNil(t, acct.EventsPolledAt, "the pass is recorded")
			require.NotNil(t, acct.EventsThrough)
			stored, err := f.client.StripeEvent.Query().Count(tenant.System(ctx))
			require.NoError(t, err)

			// Listed again: nothing new.
			fresh, err := f.svc.Backstop(ctx, f.acct.ID)
			require.NoError(t, err)
			require.Zero(t, fresh, "a second pass lists only what is stored")
			f.requireAccepted(t, mark)
			n, err := f.client.StripeEvent.Query().Count(tenant.System(ctx))
			require.NoError(t, err)
			require.Equal(t, stored, n)

			require.NoError(t, f.svc.Process(ctx, f.acct.ID))
			rows, err := f.client.StripeEvent.Query().All(tenant.System(ctx))
			require.NoError(t, err)
			for _, r := range rows {
				require.Equal(t, stripeevent.ReceivedViaBackstop, r.ReceivedVia)
				require.Contains(t, []stripeevent.Status{stripeevent.StatusProcessed, stripeevent.StatusIgnored}, r.Status,
					"event %s (%s): %s", r.EventID, r.Type, r.LastError)
			}
		})
	}
}

// TestStripeMockValidates: stripe-mock does refuse a request of the wrong shape, so the
// tests above, which it accepts, mean something.
func TestStripeMockValidates(t *testing.T) {
	t.Parallel()
	base := stripemock.Start(t)
	post := func(form url.Values) int {
		req, err := http.NewRequest(http.MethodPost, base+"/v1/payment_intents", strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer sk_test_"+rand.Text())
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	tests := []struct {
		name string
		form url.Values
		want int
	}{
		{"a well-formed PaymentIntent", url.Values{"amount": {"1000"}, "currency": {"usd"}, "payment_method_types[]": {"card"}}, http.StatusOK},
		{"no currency", url.Values{"amount": {"1000"}}, http.StatusBadRequest},
		{"an amount that is not a number", url.Values{"amount": {"ten"}, "currency": {"usd"}}, http.StatusBadRequest},
		{"an unknown parameter", url.Values{"amount": {"1000"}, "currency": {"usd"}, "invoice_id": {"inv_1"}}, http.StatusBadRequest},
		{"metadata not a map", url.Values{"amount": {"1000"}, "currency": {"usd"}, "metadata": {"x"}}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, post(tt.form))
		})
	}
	// A second Start in the same binary shares the process.
	require.Equal(t, base, stripemock.Start(t))
}

// smRecorder records the calls made to Stripe.
type smRecorder struct {
	next  http.RoundTripper
	mu    sync.Mutex
	calls []smCall
}

// smCall is one request to Stripe and its answer's status.
type smCall struct {
	method, path, auth, idempotencyKey string
	query, form                        url.Values
	status                             int
	body                               string
}

// flat is the form with each key's first value.
func (c smCall) flat() map[string]string {
	out := map[string]string{}
	for k, v := range c.form {
		out[k] = v[0]
	}
	return out
}

func (r *smRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	c := smCall{method: req.Method, path: req.URL.Path, auth: req.Header.Get("Authorization"),
		idempotencyKey: req.Header.Get("Idempotency-Key"), query: req.URL.Query()}
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(strings.NewReader(string(b)))
		if c.form, err = url.ParseQuery(string(b)); err != nil {
			return nil, err
		}
	}
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	c.status = resp.StatusCode
	if resp.StatusCode >= 300 {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		c.body = string(b)
		resp.Body = io.NopCloser(strings.NewReader(c.body))
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return resp, nil
}

func (r *smRecorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func (r *smRecorder) since(mark int) []smCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]smCall(nil), r.calls[mark:]...)
}

// smLog is a log buffer safe for many goroutines.
type smLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *smLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *smLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
