package stripepay_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"

	"books/ent"
	"books/ent/account"
	"books/ent/adminissue"
	"books/ent/journalentry"
	"books/ent/journalline"
	"books/ent/payment"
	"books/ent/reconciliationitem"
	"books/ent/stripeevent"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/stripepay"
	"books/internal/tenant"
)

// quiet stops the fake's webhooks to e's account: its events stay listable (Events, the
// backstop), so a test can deliver them itself, in the order it wants, or leave them to the
// backstop.
func (b *testBundle) quiet(e *entity) { b.fake.SetWebhook(e.secretKey, "", "") }

// loud turns e's webhooks back on.
func (b *testBundle) loud(e *entity) {
	b.fake.SetWebhook(e.secretKey, b.hookURL+stripepay.WebhookPath(e.acct.ID), e.webhookSecret)
}

// fakeEvent is one event of the fake, with the id of the object it is about.
type fakeEvent struct {
	ID, Type, Object string
	Raw              json.RawMessage
}

// fakeEvents returns e's events in the fake, oldest first, about object (any when empty)
// and of the types given (any when none).
func (b *testBundle) fakeEvents(t testing.TB, e *entity, object string, types ...string) []fakeEvent {
	t.Helper()
	var out []fakeEvent
	for _, raw := range b.fake.Events(e.secretKey) {
		var ev struct {
			ID   string `json:"id"`
			Type string `json:"type"`
			Data struct {
				Object struct {
					ID            string `json:"id"`
					PaymentIntent string `json:"payment_intent"`
				} `json:"object"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(raw, &ev))
		about := ev.Data.Object.ID
		if object != "" && about != object && ev.Data.Object.PaymentIntent != object {
			continue
		}
		if len(types) > 0 && !slices.Contains(types, ev.Type) {
			continue
		}
		out = append(out, fakeEvent{ID: ev.ID, Type: ev.Type, Object: about, Raw: raw})
	}
	return out
}

// fakeEvent returns e's one event of typ about object.
func (b *testBundle) fakeEvent(t testing.TB, e *entity, object, typ string) fakeEvent {
	t.Helper()
	evs := b.fakeEvents(t, e, object, typ)
	require.Len(t, evs, 1, "events %s about %s", typ, object)
	return evs[0]
}

// signed signs body with secret as Stripe would now; it returns the Stripe-Signature header.
func signed(body []byte, secret string) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret}).Header
}

// deliver hands body to the intake of e's account, signed with its secret, as a webhook
// would.
func (b *testBundle) deliver(t testing.TB, e *entity, body []byte) (duplicate bool) {
	t.Helper()
	dup, err := b.svc.Receive(context.Background(), e.acct.ID, body, signed(body, e.webhookSecret))
	require.NoError(t, err)
	return dup
}

// event renders a Stripe event of typ about obj in the pinned API version, as a webhook
// carries it; the id is new.
func event(t testing.TB, typ string, obj any) []byte {
	t.Helper()
	return eventWith(t, typ, obj, func(map[string]any) {})
}

// eventWith is event with the envelope changed by edit (api_version, livemode, …).
func eventWith(t testing.TB, typ string, obj any, edit func(map[string]any)) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	require.NoError(t, err)
	ev := map[string]any{"id": newID("evt_"), "object": "event",
		"api_version": stripe.APIVersion, "created": time.Now().Unix(), "livemode": false,
		"pending_webhooks": 1, "type": typ, "data": map[string]any{"object": json.RawMessage(raw)}}
	edit(ev)
	body, err := json.Marshal(ev)
	require.NoError(t, err)
	return body
}

// reissued is a fake event sent again under a new event id (Stripe's retry of an effect it
// already sent, or a forged copy): the inbox cannot collapse it, so only the effect's own
// key keeps it from applying twice.
func reissued(t testing.TB, raw json.RawMessage) []byte {
	t.Helper()
	var ev map[string]any
	require.NoError(t, json.Unmarshal(raw, &ev))
	ev["id"] = newID(fmt.Sprint(ev["id"], "_again_"))
	body, err := json.Marshal(ev)
	require.NoError(t, err)
	return body
}

// succeededPI is a succeeded card PaymentIntent Books did not create, of amount minor units.
func succeededPI(id string, amount int64, currency string, meta map[string]string) map[string]any {
	if meta == nil {
		meta = map[string]string{}
	}
	return map[string]any{"id": id, "object": "payment_intent", "amount": amount, "amount_received": amount,
		"currency": currency, "metadata": meta, "payment_method_types": []string{"card"}, "status": "succeeded",
		"created": time.Now().Unix(), "livemode": false}
}

// newID is a Stripe-looking id no other test makes.
func newID(prefix string) string { return prefix + "books" + rand.Text() }

// chargeOf is the charge of a PaymentIntent in the fake.
func (b *testBundle) chargeOf(t testing.TB, pi string) string {
	t.Helper()
	raw, ok := b.fake.PaymentIntent(pi)
	require.True(t, ok, "PaymentIntent %s", pi)
	var v struct {
		LatestCharge string `json:"latest_charge"`
	}
	require.NoError(t, json.Unmarshal(raw, &v))
	require.NotEmpty(t, v.LatestCharge)
	return v.LatestCharge
}

// stripe is a Stripe client of e's account, on the fake.
func (b *testBundle) stripe(e *entity) *client.API {
	return client.New(e.secretKey, &stripe.Backends{API: stripe.GetBackendWithConfig(stripe.APIBackend,
		&stripe.BackendConfig{URL: stripe.String(b.fake.URL()), LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
			MaxNetworkRetries: stripe.Int64(0)})})
}

// stripeRefunds lists the refunds Stripe holds for a charge.
func (b *testBundle) stripeRefunds(t testing.TB, e *entity, charge string) []*stripe.Refund {
	t.Helper()
	it := b.stripe(e).Refunds.List(&stripe.RefundListParams{Charge: stripe.String(charge)})
	var out []*stripe.Refund
	for it.Next() {
		out = append(out, it.Refund())
	}
	require.NoError(t, it.Err())
	return out
}

// paymentOf is the one payment recorded for a Stripe key (pi_…, ch_…).
func (b *testBundle) paymentOf(t testing.TB, key string) *ent.Payment {
	t.Helper()
	ps, err := b.client.Payment.Query().Where(payment.ExternalRef(key)).All(b.ctx)
	require.NoError(t, err)
	require.Len(t, ps, 1, "payments of %s", key)
	return ps[0]
}

func (b *testBundle) invoice(t testing.TB, id string) *ent.Invoice {
	t.Helper()
	inv, err := b.client.Invoice.Get(b.ctx, id)
	require.NoError(t, err)
	return inv
}

// receiptEntry is the entry Books posted in source system stripe for money with no invoice.
func (b *testBundle) receiptEntry(t testing.TB, key string) *ent.JournalEntry {
	t.Helper()
	jes, err := b.client.JournalEntry.Query().Where(journalentry.SourceSystemEQ(source.Stripe),
		journalentry.SourceRef("receipt:"+key)).All(b.ctx)
	require.NoError(t, err)
	require.Len(t, jes, 1, "receipt entries of %s", key)
	return jes[0]
}

// line is one side of a journal line, by account code.
type line struct {
	Code   string
	Debit  string
	Credit string
}

// lines are an entry's lines by account code, in a form require.ElementsMatch can compare.
func (b *testBundle) lines(t testing.TB, entryID string) []line {
	t.Helper()
	ls, err := b.client.JournalLine.Query().Where(journalline.EntryID(entryID)).All(b.ctx)
	require.NoError(t, err)
	var out []line
	for _, l := range ls {
		a, err := b.client.Account.Get(b.ctx, l.AccountID)
		require.NoError(t, err)
		out = append(out, line{Code: a.Code, Debit: l.Debit.String(), Credit: l.Credit.String()})
	}
	return out
}

// accountID is the id of an account of the entity's chart by code.
func (b *testBundle) accountID(t testing.TB, e *entity, code string) string {
	t.Helper()
	id, err := b.client.Account.Query().Where(account.EntityID(e.le.ID), account.Code(code)).OnlyID(b.ctx)
	require.NoError(t, err)
	return id
}

// items are the Stripe reconciliation items about a Stripe object.
func (b *testBundle) items(t testing.TB, object string) []*ent.ReconciliationItem {
	t.Helper()
	its, err := b.client.ReconciliationItem.Query().Where(reconciliationitem.SourceEQ(reconciliationitem.SourceStripe),
		reconciliationitem.QboID(object)).All(b.ctx)
	require.NoError(t, err)
	return its
}

// inbox is the inbox rows of an account (every account when empty).
func (b *testBundle) inbox(t testing.TB, accountID string) []*ent.StripeEvent {
	t.Helper()
	q := b.client.StripeEvent.Query()
	if accountID != "" {
		q = q.Where(stripeevent.StripeAccountID(accountID))
	}
	rows, err := q.All(tenant.System(context.Background()))
	require.NoError(t, err)
	return rows
}

// inboxRow is the inbox row of a Stripe event id.
func (b *testBundle) inboxRow(t testing.TB, eventID string) *ent.StripeEvent {
	t.Helper()
	row, err := b.client.StripeEvent.Query().Where(stripeevent.EventID(eventID)).Only(tenant.System(context.Background()))
	require.NoError(t, err)
	return row
}

// requireInboxDone fails unless every inbox row is processed or ignored.
func (b *testBundle) requireInboxDone(t testing.TB) {
	t.Helper()
	for _, row := range b.inbox(t, "") {
		require.Contains(t, []stripeevent.Status{stripeevent.StatusProcessed, stripeevent.StatusIgnored}, row.Status,
			"event %s (%s): %s", row.EventID, row.Type, row.LastError)
	}
}

// issues are the open admin issues of a kind.
func (b *testBundle) issues(t testing.TB, kind string) []*ent.AdminIssue {
	t.Helper()
	is, err := b.client.AdminIssue.Query().Where(adminissue.Kind(kind)).All(b.ctx)
	require.NoError(t, err)
	return is
}

// closedURL is the address of a server that is no longer there: Stripe unreachable.
func closedURL() string {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

// usd is an amount of dollars given in cents.
func usd(cents int64) money.Amount { return money.FromUnits(cents * 100) }

// eventually polls cond until it holds or the time is up.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			require.Failf(t, "timed out", "waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// apply applies e's inbox as far as it goes: Process until nothing of the account is
// pending, or Process says some events must wait (its error). Process returns at once
// while an inbox job holds the account, so it is called again until it has run itself.
func (b *testBundle) apply(t testing.TB, e *entity) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		if err := b.svc.Process(ctx, e.acct.ID); err != nil {
			return err
		}
		n, err := b.client.StripeEvent.Query().Where(stripeevent.StripeAccountID(e.acct.ID),
			stripeevent.StatusEQ(stripeevent.StatusPending)).Count(tenant.System(ctx))
		require.NoError(t, err)
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			require.Failf(t, "apply", "%d events of %s still pending", n, e.acct.Name)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// spareAccount adds a Stripe account no billing profile names (known to the fake, with no
// webhook endpoint there: tests deliver its events themselves).
func (b *testBundle) spareAccount(t testing.TB, name string) *entity {
	t.Helper()
	e := &entity{secretKey: "sk_test_" + rand.Text(), publishableKey: "pk_test_" + rand.Text(), webhookSecret: "whsec_" + rand.Text()}
	var err error
	e.acct, err = b.svc.CreateAccount(b.ctx, b.client, stripepay.AccountInput{Name: name, PublishableKey: e.publishableKey,
		SecretKey: e.secretKey, WebhookSecrets: []string{e.webhookSecret}})
	require.NoError(t, err)
	b.fake.AddAccount(e.secretKey, e.publishableKey)
	return e
}

// flush waits for the fake's deliveries for up to limit: the scenario's hundreds of
// deliveries take minutes under the race detector (SQLite is Go code there too), more than
// settle allows.
func (b *testBundle) flush(t testing.TB, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	require.NoError(t, b.fake.Flush(ctx))
}
