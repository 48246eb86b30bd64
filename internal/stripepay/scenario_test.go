package stripepay_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/adminissue"
	"books/ent/invoice"
	"books/ent/payment"
	"books/ent/paymentattempt"
	"books/ent/refund"
	"books/ent/stripeevent"
	"books/internal/billing"
	"books/internal/money"
	"books/internal/stripepay/stripefake"
)

// scenarioPayment is one invoice of the scenario and what happened to its payment.
type scenarioPayment struct {
	e        *entity
	cus      *ent.Customer
	inv      *ent.Invoice
	cents    int64 // the invoice's total
	pi, ch   string
	refunded int64 // cents refunded, in Books or in the dashboard
	dispute  string
	lost     bool
}

// TestStripeScenario pays 200 invoices of two entities (each on its own Stripe account)
// through the portal while the fake drops, duplicates and reorders webhooks, refunds some
// through Books and some in Stripe's dashboard, has some disputed (lost and won), and then
// settles. Every payment must be recorded once in its invoice's entity, every refund and
// lost dispute posted once, no event left behind, and the ledgers must hold their
// invariants (the setup's cleanup checks them).
func TestStripeScenario(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		const (
			count = 200
			batch = 20
		)
		// Which payments are refunded in the dashboard (while their own events are still
		// held, so the refund may arrive first), disputed, or refunded through Books later;
		// each index once. Amounts: 0 refunds in full.
		dashboard := map[int]int64{3: 0, 27: 1000, 58: 0, 91: 2500, 140: 1}
		disputes := map[int]bool{12: true, 77: false, 160: true} // lost?
		books := map[int]int64{5: 0, 44: 3000, 101: 1, 133: 0, 199: 4200}

		customers := make([]*ent.Customer, 10)
		for i := range customers {
			customers[i] = b.newCustomer(t, fmt.Sprintf("Customer %02d", i))
		}
		pays := make([]*scenarioPayment, count)
		for i := range pays {
			e := b.ents[i%2]
			cents := int64(5000 + i*137)
			cus := customers[i%len(customers)]
			pays[i] = &scenarioPayment{e: e, cus: cus, cents: cents,
				inv: b.approvedInvoice(t, e, cus, money.FromUnits(cents*100).String())}
		}

		b.fake.SetFaults(stripefake.Faults{Drop: 0.2, Duplicate: 0.1, Reorder: true})
		for start := 0; start < count; start += batch {
			// Held while the batch is paid, then released shuffled: a payment's events, its
			// refund's and its dispute's arrive in any order.
			b.fake.Pause()
			payAll(t, b, pays[start:start+batch], 4)
			for i := start; i < start+batch; i++ {
				sp := pays[i]
				if amount, ok := dashboard[i]; ok {
					_, err := b.fake.Refund(sp.ch, amount)
					require.NoError(t, err)
					sp.refunded = orAll(amount, sp.cents)
				}
				if lost, ok := disputes[i]; ok {
					dp, err := b.fake.Dispute(sp.ch)
					require.NoError(t, err)
					require.NoError(t, b.fake.CloseDispute(dp, !lost))
					sp.dispute, sp.lost = dp, lost
				}
			}
			b.fake.Resume()
		}
		b.flush(t, 10*time.Minute)
		b.settle(t)

		// Refunds through Books, their confirmations held and released shuffled.
		b.fake.Pause()
		bookRefunds := map[string]int{}
		for i, amount := range books {
			sp := pays[i]
			cents := orAll(amount, sp.cents)
			rf, err := b.svc.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: b.paymentOf(t, sp.pi).ID,
				Amount: usd(cents), Reason: "scenario"})
			require.NoError(t, err)
			require.Equal(t, refund.StatusPending, rf.Status)
			sp.refunded = cents
			bookRefunds[rf.ID] = i
		}
		b.fake.Resume()
		b.flush(t, 10*time.Minute)
		b.settle(t)

		// Every PaymentIntent recorded once, in its invoice's entity, and every invoice as
		// its refunds and disputes leave it.
		all, err := b.client.Payment.Query().Where(payment.ProcessorEQ(payment.ProcessorStripe)).All(b.ctx)
		require.NoError(t, err)
		require.Len(t, all, count)
		byRef := map[string]*ent.Payment{}
		for _, p := range all {
			require.NotContains(t, byRef, p.ExternalRef, "PaymentIntent %s recorded twice", p.ExternalRef)
			byRef[p.ExternalRef] = p
		}
		for i, sp := range pays {
			p := byRef[sp.pi]
			require.NotNil(t, p, "payment %d (%s)", i, sp.pi)
			require.Equal(t, sp.inv.EntityID, p.EntityID, "payment %d", i)
			require.Equal(t, sp.cents*100, p.Amount.Units(), "payment %d", i)
			require.Equal(t, sp.refunded*100, p.Refunded.Units(), "payment %d", i)
			var reversed int64
			if sp.lost {
				reversed = sp.cents
			}
			require.Equal(t, reversed*100, p.Reversed.Units(), "payment %d", i)

			inv := b.invoice(t, sp.inv.ID)
			open := sp.refunded + reversed
			require.Equal(t, open*100, inv.Balance.Units(), "invoice %d", i)
			switch {
			case open == 0:
				require.Equal(t, invoice.StatusPaid, inv.Status, "invoice %d", i)
			case open == sp.cents:
				require.Equal(t, invoice.StatusApproved, inv.Status, "invoice %d re-opened in full", i)
			default:
				require.Equal(t, invoice.StatusPartiallyPaid, inv.Status, "invoice %d", i)
			}
		}
		attempts, err := b.client.PaymentAttempt.Query().All(b.ctx)
		require.NoError(t, err)
		require.Len(t, attempts, count)
		for _, a := range attempts {
			require.Equal(t, paymentattempt.StatusSucceeded, a.Status, a.ID)
		}

		// Refunds: ten, each confirmed by Stripe and posted.
		rfs, err := b.client.Refund.Query().All(b.ctx)
		require.NoError(t, err)
		require.Len(t, rfs, len(dashboard)+len(books))
		for _, rf := range rfs {
			require.Equal(t, refund.StatusSucceeded, rf.Status, rf.ID)
			require.Regexp(t, "^re_", rf.ExternalRef)
			require.NotNil(t, rf.JournalEntryID)
			if i, ok := bookRefunds[rf.ID]; ok {
				require.Equal(t, pays[i].refunded*100, rf.Amount.Units())
			}
		}

		// Charge reversals: the lost disputes', and only theirs.
		crs, err := b.client.ChargeReversal.Query().All(b.ctx)
		require.NoError(t, err)
		var lost []string
		for _, sp := range pays {
			if sp.lost {
				lost = append(lost, sp.dispute)
			}
		}
		var reversed []string
		for _, cr := range crs {
			reversed = append(reversed, cr.ExternalRef)
			i := indexOfDispute(pays, cr.ExternalRef)
			require.NotEqual(t, -1, i, "charge reversal %s of no dispute", cr.ExternalRef)
			require.Equal(t, byRef[pays[i].pi].ID, cr.PaymentID)
		}
		require.ElementsMatch(t, lost, reversed)
		n, err := b.client.AdminIssue.Query().Where(adminissue.Kind("stripe_dispute")).Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, len(disputes), n)
		require.Empty(t, b.issues(t, "stripe_event"), "no event failed")

		// The inbox: nothing pending or failed; duplicates collapsed; what was dropped was
		// listed by the backstop; every event Books acts on is there.
		b.requireInboxDone(t)
		stats := b.fake.WebhookStats()
		require.Positive(t, stats.Dropped)
		require.Positive(t, stats.Duplicated)
		rows := b.inbox(t, "")
		byVia := map[stripeevent.ReceivedVia]int{}
		stored := map[string]bool{}
		for _, row := range rows {
			byVia[row.ReceivedVia]++
			stored[row.StripeAccountID+"/"+row.EventID] = true
		}
		require.Less(t, byVia[stripeevent.ReceivedViaWebhook], stats.Delivered, "duplicate deliveries collapse")
		require.Positive(t, byVia[stripeevent.ReceivedViaBackstop], "dropped events are recovered by the backstop")
		for _, e := range b.ents {
			for _, ev := range b.fakeEvents(t, e, "", handledTypes...) {
				require.True(t, stored[e.acct.ID+"/"+ev.ID], "event %s (%s) not in the inbox", ev.ID, ev.Type)
			}
		}
		t.Logf("%s: %d inbox rows (%d by webhook, %d by backstop); webhooks %+v", d, len(rows),
			byVia[stripeevent.ReceivedViaWebhook], byVia[stripeevent.ReceivedViaBackstop], stats)
	})
}

// handledTypes are the event types Books acts on (the backstop lists these).
var handledTypes = []string{
	"charge.succeeded", "payment_intent.succeeded", "invoice.paid", "charge.refunded",
	"payment_intent.payment_failed", "payment_intent.processing", "payment_intent.canceled",
	"charge.dispute.created", "charge.dispute.closed",
}

// payAll pays each invoice through the portal, workers at a time, as customers would at
// once; it records each PaymentIntent and charge.
func payAll(t *testing.T, b *testBundle, pays []*scenarioPayment, workers int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(pays))
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				sp := pays[i]
				p, err := b.svc.CreateInvoicePayment(b.portal(sp.cus), b.client, sp.inv.ID, paymentattempt.MethodCard)
				if err != nil {
					errs[i] = err
					continue
				}
				sp.pi = *p.Attempt.PaymentIntentID
				errs[i] = b.fake.Confirm(sp.pi, "pm_card_visa")
			}
		}()
	}
	for i := range pays {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "paying invoice %s", pays[i].inv.ID)
		pays[i].ch = b.chargeOf(t, pays[i].pi)
	}
}

// orAll is amount, or all when amount is 0 (the fake's "refund what is left").
func orAll(amount, all int64) int64 {
	if amount == 0 {
		return all
	}
	return amount
}

func indexOfDispute(pays []*scenarioPayment, dp string) int {
	for i, sp := range pays {
		if sp.dispute == dp {
			return i
		}
	}
	return -1
}
