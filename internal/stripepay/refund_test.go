package stripepay_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/invoice"
	"books/ent/payment"
	"books/ent/refund"
	"books/internal/apperr"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/stripepay"
	"books/jobs"
)

// paid is an invoice paid through Stripe and recorded: its PaymentIntent, charge and payment.
type paid struct {
	inv     *ent.Invoice
	pi, ch  string
	payment *ent.Payment
}

func (b *testBundle) paid(t testing.TB, e *entity, amount string) paid {
	t.Helper()
	cus := b.newCustomer(t, "Customer "+rand.Text()[:8])
	inv := b.approvedInvoice(t, e, cus, amount)
	pi := b.pay(t, inv, cus)
	b.settle(t)
	return paid{inv: inv, pi: pi, ch: b.chargeOf(t, pi), payment: b.paymentOf(t, pi)}
}

// A refund asked through Books is pending, holding its amount and posting nothing, until
// Stripe's charge.refunded confirms it.
func TestRefundPayment(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[0]

		t.Run("pending until charge.refunded", func(t *testing.T) {
			pd := b.paid(t, e, "200.00")
			// The confirming event is held back: the test delivers it.
			b.quiet(e)
			defer b.loud(e)
			rf, err := b.svc.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: pd.payment.ID,
				Amount: usd(5000), Reason: "goodwill"})
			require.NoError(t, err)
			require.Equal(t, refund.StatusPending, rf.Status)
			require.Regexp(t, "^re_", rf.ExternalRef, "Stripe's id is kept as soon as Stripe answers")
			require.Nil(t, rf.JournalEntryID)
			require.True(t, b.paymentOf(t, pd.pi).Refunded.IsZero())
			require.Equal(t, invoice.StatusPaid, b.invoice(t, pd.inv.ID).Status)
			res := b.stripeRefunds(t, e, pd.ch)
			require.Len(t, res, 1)
			require.Equal(t, rf.ID, res[0].Metadata[stripepay.MetaRefund])
			require.Equal(t, int64(5000), res[0].Amount)

			b.deliver(t, e, b.fakeEvent(t, e, pd.ch, "charge.refunded").Raw)
			require.NoError(t, b.apply(t, e))
			rf, err = b.client.Refund.Get(b.ctx, rf.ID)
			require.NoError(t, err)
			require.Equal(t, refund.StatusSucceeded, rf.Status)
			require.NotNil(t, rf.JournalEntryID)
			require.ElementsMatch(t, []line{{"2100", "50.00", "0.00"}, {"1300", "0.00", "50.00"}}, b.lines(t, *rf.JournalEntryID))
			require.Equal(t, "50.00", b.paymentOf(t, pd.pi).Refunded.String())
			got := b.invoice(t, pd.inv.ID)
			require.Equal(t, invoice.StatusPartiallyPaid, got.Status)
			require.Equal(t, "50.00", got.Balance.String())
		})

		t.Run("concurrent refunds cannot exceed the payment", func(t *testing.T) {
			pd := b.paid(t, e, "100.00")
			var wg sync.WaitGroup
			errs := make([]error, 2)
			start := make(chan struct{})
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = b.svc.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: pd.payment.ID, Amount: usd(6000)})
				}()
			}
			close(start)
			wg.Wait()
			codes := []string{apperr.Code(errs[0]), apperr.Code(errs[1])}
			require.ElementsMatch(t, []string{"", apperr.OverRefund}, codes, "%v", errs)
			b.settle(t)
			require.Len(t, b.stripeRefunds(t, e, pd.ch), 1)
			require.Equal(t, "60.00", b.paymentOf(t, pd.pi).Refunded.String())
		})

		t.Run("refunded in Stripe's dashboard first", func(t *testing.T) {
			pd := b.paid(t, e, "100.00")
			// Books has not heard of the dashboard's refund when it asks for the whole amount.
			b.quiet(e)
			dash, err := b.fake.Refund(pd.ch, 0)
			require.NoError(t, err)
			rf, err := b.svc.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: pd.payment.ID, Amount: usd(10000)})
			require.NoError(t, err)
			require.Equal(t, refund.StatusFailed, rf.Status)
			require.Contains(t, rf.FailureMessage, "already been refunded")
			require.Nil(t, rf.JournalEntryID)
			require.Empty(t, rf.ExternalRef)

			// The dashboard's refund posts when its event arrives (here: listed by the backstop).
			b.loud(e)
			b.settle(t)
			got, err := b.client.Refund.Query().Where(refund.ExternalRef(dash)).Only(b.ctx)
			require.NoError(t, err)
			require.Equal(t, refund.StatusSucceeded, got.Status)
			require.Equal(t, "100.00", got.Amount.String())
			require.Equal(t, "100.00", b.paymentOf(t, pd.pi).Refunded.String())

			// Now Books knows: nothing is left to refund.
			_, err = b.svc.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: pd.payment.ID, Amount: usd(100)})
			require.Equal(t, apperr.OverRefund, apperr.Code(err), "%v", err)
			require.Len(t, b.stripeRefunds(t, e, pd.ch), 1)
		})

		t.Run("Stripe unreachable: the job asks again", func(t *testing.T) {
			pd := b.paid(t, e, "100.00")
			b.quiet(e)
			defer b.loud(e)
			down := b.otherService(closedURL(), nil)
			rf, err := down.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: pd.payment.ID, Amount: usd(2500)})
			require.NoError(t, err)
			require.Equal(t, refund.StatusPending, rf.Status)
			require.Empty(t, rf.ExternalRef)
			require.Empty(t, b.stripeRefunds(t, e, pd.ch))

			worker := &stripepay.RefundWorker{Service: b.svc}
			job := &river.Job[stripepay.RefundArgs]{Args: stripepay.RefundArgs{Tenant: jobs.Tenant{OrganizationID: b.org}, RefundID: rf.ID}}
			require.NoError(t, worker.Work(context.Background(), job))
			require.NoError(t, worker.Work(context.Background(), job))
			_, err = b.svc.SendRefund(b.ctx, b.client, rf.ID)
			require.NoError(t, err)
			res := b.stripeRefunds(t, e, pd.ch)
			require.Len(t, res, 1)
			rf, err = b.client.Refund.Get(b.ctx, rf.ID)
			require.NoError(t, err)
			require.Equal(t, res[0].ID, rf.ExternalRef)

			b.loud(e)
			b.settle(t)
			rf, err = b.client.Refund.Get(b.ctx, rf.ID)
			require.NoError(t, err)
			require.Equal(t, refund.StatusSucceeded, rf.Status)
		})

		t.Run("Stripe's answer lost: the idempotency key makes one refund", func(t *testing.T) {
			pd := b.paid(t, e, "100.00")
			b.quiet(e)
			defer b.loud(e)
			lossy := b.otherService(b.fake.URL(), &http.Client{Transport: lostAnswers{}})
			rf, err := lossy.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: pd.payment.ID, Amount: usd(4000)})
			require.NoError(t, err)
			require.Equal(t, refund.StatusPending, rf.Status)
			require.Empty(t, rf.ExternalRef, "Books never saw Stripe's answer")
			require.Len(t, b.stripeRefunds(t, e, pd.ch), 1, "Stripe made the refund")

			rf, err = b.svc.SendRefund(b.ctx, b.client, rf.ID)
			require.NoError(t, err)
			res := b.stripeRefunds(t, e, pd.ch)
			require.Len(t, res, 1, "asking again under the same key makes no second refund")
			require.Equal(t, res[0].ID, rf.ExternalRef)

			b.loud(e)
			b.settle(t)
			rf, err = b.client.Refund.Get(b.ctx, rf.ID)
			require.NoError(t, err)
			require.Equal(t, refund.StatusSucceeded, rf.Status)
			require.Equal(t, "40.00", b.paymentOf(t, pd.pi).Refunded.String())
		})

		t.Run("inside the caller's transaction: Stripe is asked once it commits", func(t *testing.T) {
			pd := b.paid(t, e, "100.00")
			refundIn := func(t *testing.T, commit bool) *ent.Refund {
				tx, err := b.client.Tx(b.ctx)
				require.NoError(t, err)
				rf, err := b.svc.RefundPayment(ent.NewTxContext(b.ctx, tx), tx.Client(),
					billing.CashReturnInput{PaymentID: pd.payment.ID, Amount: usd(2000)})
				require.NoError(t, err)
				require.Equal(t, refund.StatusPending, rf.Status)
				require.Empty(t, b.stripeRefunds(t, e, pd.ch), "Stripe is not asked while the transaction is open")
				if commit {
					require.NoError(t, tx.Commit())
				} else {
					require.NoError(t, tx.Rollback())
				}
				return rf
			}

			rolledBack := refundIn(t, false)
			require.Empty(t, b.stripeRefunds(t, e, pd.ch), "a refund rolled back is never asked")
			_, err := b.client.Refund.Get(b.ctx, rolledBack.ID)
			require.True(t, ent.IsNotFound(err))

			rf := refundIn(t, true)
			res := b.stripeRefunds(t, e, pd.ch)
			require.Len(t, res, 1)
			require.Equal(t, rf.ID, res[0].Metadata[stripepay.MetaRefund])
			b.settle(t)
			rf, err = b.client.Refund.Get(b.ctx, rf.ID)
			require.NoError(t, err)
			require.Equal(t, refund.StatusSucceeded, rf.Status)
			require.Equal(t, res[0].ID, rf.ExternalRef)
		})

		t.Run("a payment of another processor refunds at once", func(t *testing.T) {
			cus := b.newCustomer(t, "Cash")
			inv := b.approvedInvoice(t, e, cus, "70.00")
			p, err := billing.RecordPayment(b.ctx, b.client, billing.PaymentInput{EntityID: e.le.ID, CustomerID: cus.ID,
				Amount: usd(7000), ReceivedDate: caldate.MustParse("2026-11-05"), Method: payment.MethodCheck,
				Applications: []billing.Application{{InvoiceID: inv.ID, Amount: usd(7000)}}})
			require.NoError(t, err)
			rf, err := b.svc.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: p.ID, Amount: usd(7000)})
			require.NoError(t, err)
			require.Equal(t, refund.StatusSucceeded, rf.Status)
			require.NotNil(t, rf.JournalEntryID)
			require.Equal(t, invoice.StatusApproved, b.invoice(t, inv.ID).Status)
		})

		t.Run("a Stripe refund's reference is Stripe's", func(t *testing.T) {
			pd := b.paid(t, e, "10.00")
			_, err := b.svc.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: pd.payment.ID, Amount: usd(100), ExternalRef: "re_mine"})
			require.Equal(t, apperr.Validation, apperr.Code(err))
			_, err = b.svc.RefundPayment(b.ctx, b.client, billing.CashReturnInput{PaymentID: "pay_nobody", Amount: usd(100)})
			require.Equal(t, apperr.NotFound, apperr.Code(err))
		})

		t.Run("a dashboard refund posts once", func(t *testing.T) {
			pd := b.paid(t, e, "100.00")
			re, err := b.fake.Refund(pd.ch, 2500)
			require.NoError(t, err)
			b.settle(t)
			refunded := b.fakeEvent(t, e, pd.ch, "charge.refunded")
			require.True(t, b.deliver(t, e, refunded.Raw))
			b.deliver(t, e, reissued(t, refunded.Raw))
			b.settle(t)
			rfs, err := b.client.Refund.Query().Where(refund.PaymentID(pd.payment.ID)).All(b.ctx)
			require.NoError(t, err)
			require.Len(t, rfs, 1)
			require.Equal(t, re, rfs[0].ExternalRef)
			require.Equal(t, refund.StatusSucceeded, rfs[0].Status)
			require.Equal(t, "25.00", b.paymentOf(t, pd.pi).Refunded.String())
		})
		b.settle(t)
		b.requireInboxDone(t)
	})
}

// otherService is a Service like the bundle's that reaches Stripe at apiURL through hc: one
// call made while Stripe is down, or its answer lost, without touching the bundle's Service
// that jobs use.
func (b *testBundle) otherService(apiURL string, hc *http.Client) *stripepay.Service {
	return &stripepay.Service{Box: b.svc.Box, APIURL: apiURL, HTTPClient: hc, Queue: b.svc.Queue, Issues: b.svc.Issues,
		Runner: b.svc.Runner, Client: b.client, Logger: b.svc.Logger}
}

// lostAnswers sends each request and loses the answer, as a connection cut after Stripe
// acted would.
type lostAnswers struct{}

func (lostAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return nil, errors.New("connection reset by peer")
}
