package stripepay_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/chargereversal"
	"books/ent/payment"
	"books/ent/refund"
	"books/internal/apperr"
	"books/internal/billing"
	"books/internal/money"
	"books/internal/stripepay"
	"books/internal/stripepay/stripefake"
	"books/internal/tenant"
)

// paidInvoice pays an invoice of amount through the portal and returns the payment and its charge.
func (b *testBundle) paidInvoice(t *testing.T, amount string) (*ent.Payment, string) {
	t.Helper()
	cus := b.newCustomer(t, "Acme")
	inv := b.approvedInvoice(t, b.ents[0], cus, amount)
	pi := b.pay(t, inv, cus)
	b.quiesce(t)
	p, err := b.client.Payment.Query().Where(payment.ExternalRef(pi)).Only(b.ctx)
	require.NoError(t, err)
	raw, ok := b.fake.PaymentIntent(pi)
	require.True(t, ok)
	var o struct {
		LatestCharge string `json:"latest_charge"`
	}
	require.NoError(t, json.Unmarshal(raw, &o))
	return p, o.LatestCharge
}

func (b *testBundle) refunds(t *testing.T, paymentID string) []*ent.Refund {
	rs, err := b.client.Refund.Query().Where(refund.PaymentID(paymentID)).All(b.ctx)
	require.NoError(t, err)
	return rs
}

func (b *testBundle) payment(t *testing.T, id string) *ent.Payment {
	p, err := b.client.Payment.Get(b.ctx, id)
	require.NoError(t, err)
	return p
}

func stripeRefundsOf(b *testBundle, e *entity) int {
	n := 0
	for _, raw := range b.fake.Events(e.secretKey) {
		if strings.Contains(string(raw), `"refund.created"`) {
			n++
		}
	}
	return n
}

// Refunds racing each other: the money is refunded once.
func TestAttackRefundRace(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		p, _ := b.paidInvoice(t, "100.00")
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = b.svc.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID,
					Amount: money.MustParse("100.00"), Reason: "race"})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				require.Contains(t, []string{apperr.OverRefund, apperr.Conflict}, apperr.Code(err), "%v", err)
			}
		}
		require.Equal(t, 1, ok, "%v", errs)
		b.quiesce(t)
		require.Equal(t, 1, stripeRefundsOf(b, b.ents[0]))
		got := b.payment(t, p.ID)
		require.Equal(t, "100.00", got.Refunded.String())
	})
}

// A Books refund asked (pending, not yet sent) and a dashboard refund of the same money: the
// payment's money goes back once in the ledger, and the Books refund does not hang.
func TestAttackDashboardRefundWhileBooksRefundPending(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		p, ch := b.paidInvoice(t, "100.00")
		// Books' request is recorded, but the call to Stripe does not get through (Stripe down)
		rf, err := b.downSvc().RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID,
			Amount: money.MustParse("100.00"), Reason: "customer asked"})
		require.NoError(t, err)
		require.Equal(t, refund.StatusPending, rf.Status)
		// a person refunds it in the dashboard meanwhile
		_, err = b.fake.Refund(ch, 0)
		require.NoError(t, err)
		b.quiesce(t)
		// the job now asks Stripe
		rf, err = b.svc.SendRefund(b.ctx, b.client, rf.ID)
		require.NoError(t, err)
		b.quiesce(t)
		waitUntil(t, func() bool { return b.payment(t, p.ID).Refunded.String() == "100.00" },
			"the dashboard refund never posted while Books' refund of the same money was pending: refunds %v, events %v",
			dumpRefunds(b.refunds(t, p.ID)), b.eventStates(t))
		rs := b.refunds(t, p.ID)
		for _, l := range strings.Split(b.logs.String(), "\n") {
			if strings.Contains(l, "could not be applied") {
				t.Logf("intermediate failure: %.300s", l)
			}
		}
		t.Logf("refunds: %s", dumpRefunds(rs))
		require.Equal(t, "100.00", b.payment(t, p.ID).Refunded.String())
		for _, r := range rs {
			require.NotEqual(t, refund.StatusPending, r.Status, "a refund hangs pending: %v", dumpRefunds(rs))
		}
	})
}

// downSvc is the service with Stripe unreachable.
func (b *testBundle) downSvc() *stripepay.Service {
	s := b.svc
	return &stripepay.Service{Box: s.Box, APIURL: "http://127.0.0.1:1", Queue: s.Queue, Issues: s.Issues, Runner: s.Runner,
		Lease: s.Lease, Logger: s.Logger, Client: s.Client}
}

func dumpRefunds(rs []*ent.Refund) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID+" "+string(r.Status)+" "+r.Amount.String()+" "+r.ExternalRef+" "+r.FailureMessage)
	}
	return strings.Join(out, "; ")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (b *testBundle) eventStates(t *testing.T) string {
	evs, err := b.client.StripeEvent.Query().All(tenant.System(context.Background()))
	require.NoError(t, err)
	var out []string
	for _, e := range evs {
		if strings.HasPrefix(e.Type, "charge.refunded") || e.Status != "processed" {
			out = append(out, e.Type+"="+string(e.Status)+"("+deref(&e.LastError)+")")
		}
	}
	return strings.Join(out, ", ")
}

func waitUntil(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(format, args...)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A Books refund and a dashboard refund, partial each, plus a replay of the same refund call:
// both post, once each.
func TestAttackBooksAndDashboardPartialRefunds(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		p, ch := b.paidInvoice(t, "100.00")
		rf, err := b.svc.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: money.MustParse("60.00"), Reason: "x"})
		require.NoError(t, err)
		_, err = b.svc.SendRefund(b.ctx, b.client, rf.ID) // the job, after the call: idempotent
		require.NoError(t, err)
		_, err = b.fake.Refund(ch, 4000)
		require.NoError(t, err)
		b.quiesce(t)
		require.Equal(t, 2, stripeRefundsOf(b, b.ents[0]))
		waitUntil(t, func() bool { return b.payment(t, p.ID).Refunded.String() == "100.00" }, "refunded %s; %v",
			b.payment(t, p.ID).Refunded, dumpRefunds(b.refunds(t, p.ID)))
		// a further refund is refused
		_, err = b.svc.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: money.MustParse("0.01"), Reason: "x"})
		require.Equal(t, apperr.OverRefund, apperr.Code(err), "%v", err)
	})
}

// charge.refunded delivered before charge.succeeded and payment_intent.succeeded.
func TestAttackRefundedBeforeSucceeded(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		cus := b.newCustomer(t, "Acme")
		inv := b.approvedInvoice(t, b.ents[0], cus, "100.00")
		b.fake.Pause()
		pi := b.pay(t, inv, cus)
		raw, _ := b.fake.PaymentIntent(pi)
		var o struct {
			LatestCharge string `json:"latest_charge"`
		}
		require.NoError(t, json.Unmarshal(raw, &o))
		_, err := b.fake.Refund(o.LatestCharge, 3000)
		require.NoError(t, err)
		b.fake.SetFaults(stripefake.Faults{Reorder: true, Duplicate: 0.5})
		b.fake.Resume()
		b.quiesce(t)
		b.quiesce(t)
		p, err := b.client.Payment.Query().Where(payment.ExternalRef(pi)).Only(b.ctx)
		require.NoError(t, err)
		waitUntil(t, func() bool { return b.payment(t, p.ID).Refunded.String() == "30.00" }, "refunded %s; events %s",
			b.payment(t, p.ID).Refunded, b.eventStates(t))
		require.Len(t, b.refunds(t, p.ID), 1)
	})
}

// A lost dispute closed twice (the event replayed with a new id, as a backstop+webhook pair
// would not, but Stripe's dispute.closed plus a funds event could): one charge reversal.
func TestAttackDisputeClosedTwice(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		p, ch := b.paidInvoice(t, "100.00")
		dp, err := b.fake.Dispute(ch)
		require.NoError(t, err)
		require.NoError(t, b.fake.CloseDispute(dp, false))
		b.quiesce(t)
		// the same closed dispute again, as a new event id, signed properly
		var obj map[string]any
		for _, raw := range b.fake.Events(b.ents[0].secretKey) {
			var ev struct {
				Type string `json:"type"`
				Data struct {
					Object map[string]any `json:"object"`
				} `json:"data"`
			}
			require.NoError(t, json.Unmarshal(raw, &ev))
			if ev.Type == "charge.dispute.closed" {
				obj = ev.Data.Object
			}
		}
		require.NotNil(t, obj)
		body := eventJSON(t, "charge.dispute.closed", obj, false)
		_, err = b.svc.Receive(context.Background(), b.ents[0].acct.ID, body, sign(body, b.ents[0].webhookSecret, time.Now()))
		require.NoError(t, err)
		b.quiesce(t)
		n, err := b.client.ChargeReversal.Query().Where(chargereversal.PaymentID(p.ID)).Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, "100.00", b.payment(t, p.ID).Reversed.String())
	})
}

// A refund then a lost dispute for the rest, and a Books refund pending when the dispute is lost.
func TestAttackPendingRefundThenDisputeLost(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		p, ch := b.paidInvoice(t, "100.00")
		rf, err := b.downSvc().RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: money.MustParse("100.00"), Reason: "x"})
		require.NoError(t, err)
		dp, err := b.fake.Dispute(ch)
		require.NoError(t, err)
		require.NoError(t, b.fake.CloseDispute(dp, false))
		b.quiesce(t)
		// the job now asks Stripe for the refund of a charge lost in a dispute
		rf, err = b.svc.SendRefund(b.ctx, b.client, rf.ID)
		require.NoError(t, err)
		b.quiesce(t)
		got := b.payment(t, p.ID)
		require.Equal(t, "100.00", got.Reversed.String())
		require.True(t, got.Refunded.IsZero() || got.Refunded.Add(got.Reversed).Cmp(got.Amount) <= 0,
			"more returned than received: refunded %s reversed %s of %s; %s", got.Refunded, got.Reversed, got.Amount, dumpRefunds(b.refunds(t, p.ID)))
		rf, err = b.client.Refund.Get(b.ctx, rf.ID)
		require.NoError(t, err)
		require.NotEqual(t, refund.StatusPending, rf.Status, "the refund hangs pending: %s", dumpRefunds(b.refunds(t, p.ID)))
	})
}

// As above, but Stripe stays unreachable for Books' refund job a little longer: the dashboard
// refund's charge.refunded must not be failed for good because Books' own refund holds the money.
func TestAttackDashboardRefundFailsForGoodWhileBooksRefundPending(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		p, ch := b.paidInvoice(t, "100.00")
		rf, err := b.downSvc().RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID,
			Amount: money.MustParse("100.00"), Reason: "customer asked"})
		require.NoError(t, err)
		_, err = b.fake.Refund(ch, 0)
		require.NoError(t, err)
		require.NoError(t, b.fake.Flush(context.Background()))
		for range 5 { // the inbox job's retries
			_ = b.svc.Process(context.Background(), b.ents[0].acct.ID)
			time.Sleep(150 * time.Millisecond)
		}
		// Stripe is back: the refund job runs, Stripe refuses (already refunded), the hold goes
		rf, err = b.svc.SendRefund(b.ctx, b.client, rf.ID)
		require.NoError(t, err)
		for range 3 {
			_ = b.svc.Process(context.Background(), b.ents[0].acct.ID)
			time.Sleep(150 * time.Millisecond)
		}
		got := b.payment(t, p.ID)
		require.Equal(t, "100.00", got.Refunded.String(),
			"a refund made in Stripe's dashboard is not in the ledger (Books' own refund %s is %s); events: %s",
			rf.ID, rf.Status, b.eventStates(t))
	})
}
