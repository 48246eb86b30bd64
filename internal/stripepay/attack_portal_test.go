package stripepay_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"books/ent/invoice"
	"books/ent/payment"
	"books/ent/paymentattempt"
	"books/ent/reconciliationitem"
	"books/internal/apperr"
	"books/internal/billing"
	"books/internal/tenant"
)

// createdPIs counts payment_intent.created events of an account in the fake.
func (b *testBundle) createdPIs(e *entity) map[string]bool {
	out := map[string]bool{}
	for _, raw := range b.fake.Events(e.secretKey) {
		s := string(raw)
		if strings.Contains(s, `"payment_intent.created"`) {
			i := strings.Index(s, `"id":"pi_`)
			for i >= 0 {
				j := strings.Index(s[i+6:], `"`)
				out[s[i+6:i+6+j]] = true
				break
			}
		}
	}
	return out
}

func TestAttackPortalForeignAndClosedInvoices(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		acme, evil := b.newCustomer(t, "Acme"), b.newCustomer(t, "Evil")
		inv := b.approvedInvoice(t, b.ents[0], acme, "100.00")
		_, err := b.svc.CreateInvoicePayment(b.portal(evil), b.client, inv.ID, paymentattempt.MethodCard)
		require.Equal(t, apperr.NotFound, apperr.Code(err), "%v", err)
		pi := b.pay(t, inv, acme)
		b.quiesce(t)
		_, err = b.svc.CreateInvoicePayment(b.portal(acme), b.client, inv.ID, paymentattempt.MethodCard)
		require.Equal(t, apperr.InvalidTransition, apperr.Code(err), "%v", err)
		// the other customer sees none of Acme's attempts or payments
		n, err := b.client.PaymentAttempt.Query().Count(b.portal(evil))
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = b.client.Payment.Query().Count(b.portal(evil))
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = b.client.PaymentAttempt.Query().Where(paymentattempt.PaymentIntentID(pi)).Count(b.portal(acme))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		// void
		inv2 := b.approvedInvoice(t, b.ents[0], acme, "10.00")
		_, err = billing.VoidInvoice(b.ctx, b.client, inv2.ID, "test")
		require.NoError(t, err)
		_, err = b.svc.CreateInvoicePayment(b.portal(acme), b.client, inv2.ID, paymentattempt.MethodCard)
		require.Equal(t, apperr.InvalidTransition, apperr.Code(err), "%v", err)
	})
}

// Many concurrent createInvoicePayment calls for one invoice: one attempt, one PaymentIntent.
func TestAttackPortalConcurrentCreate(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		acme := b.newCustomer(t, "Acme")
		inv := b.approvedInvoice(t, b.ents[0], acme, "100.00")
		var wg sync.WaitGroup
		pis := make([]string, 12)
		errs := make([]error, 12)
		for i := range pis {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := b.svc.CreateInvoicePayment(b.portal(acme), b.client, inv.ID, paymentattempt.MethodCard)
				errs[i] = err
				if err == nil {
					pis[i] = *p.Attempt.PaymentIntentID
				}
			}()
		}
		wg.Wait()
		seen := map[string]bool{}
		for i, err := range errs {
			if err != nil {
				t.Logf("call %d: %v (%s)", i, err, apperr.Code(err))
				continue
			}
			seen[pis[i]] = true
		}
		require.Len(t, seen, 1, "several PaymentIntents for one balance: %v; errors %v", seen, errs)
		atts, err := b.client.PaymentAttempt.Query().All(b.ctx)
		require.NoError(t, err)
		require.Len(t, atts, 1)
		require.Len(t, b.createdPIs(b.ents[0]), 1)
	})
}

// Card then ACH for one balance: are two PaymentIntents open, both payable?
func TestAttackPortalCardAndACHBothOpen(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		acme := b.newCustomer(t, "Acme")
		inv := b.approvedInvoice(t, b.ents[0], acme, "100.00")
		p1, err := b.svc.CreateInvoicePayment(b.portal(acme), b.client, inv.ID, paymentattempt.MethodCard)
		require.NoError(t, err)
		p2, err := b.svc.CreateInvoicePayment(b.portal(acme), b.client, inv.ID, paymentattempt.MethodAch)
		require.NoError(t, err)
		open, err := b.client.PaymentAttempt.Query().Where(paymentattempt.StatusEQ(paymentattempt.StatusRequiresPayment)).Count(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, open, "one attempt waits for the customer at a time")
		// The card attempt was canceled, in Stripe too: it can no longer be paid.
		require.Error(t, b.fake.Confirm(*p1.Attempt.PaymentIntentID, "pm_card_visa"))
		err2 := b.fake.Confirm(*p2.Attempt.PaymentIntentID, "pm_usBankAccount")
		if err2 == nil {
			_ = b.fake.SettleACH(*p2.Attempt.PaymentIntentID)
		}
		b.quiesce(t)
		ps, err := b.client.Payment.Query().Where(payment.ProcessorEQ(payment.ProcessorStripe)).All(b.ctx)
		require.NoError(t, err)
		require.Len(t, ps, 1, "one invoice balance of 100 was paid twice through two open PaymentIntents (%d attempts open before paying; ACH confirm error %v)", open, err2)
	})
}

// An ACH debit is processing (days at the bank): the invoice still shows its balance, and the
// portal asks again by card. Does Books open a second PaymentIntent for the same balance?
func TestAttackPortalACHProcessingThenCard(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		acme := b.newCustomer(t, "Acme")
		inv := b.approvedInvoice(t, b.ents[0], acme, "100.00")
		p1, err := b.svc.CreateInvoicePayment(b.portal(acme), b.client, inv.ID, paymentattempt.MethodAch)
		require.NoError(t, err)
		require.NoError(t, b.fake.Confirm(*p1.Attempt.PaymentIntentID, "pm_usBankAccount"))
		b.quiesce(t)
		att, err := b.client.PaymentAttempt.Get(b.ctx, p1.Attempt.ID)
		require.NoError(t, err)
		require.Equal(t, paymentattempt.StatusProcessing, att.Status)
		p2, err := b.svc.CreateInvoicePayment(b.portal(acme), b.client, inv.ID, paymentattempt.MethodCard)
		if err != nil {
			return // refused: good
		}
		require.NoError(t, b.fake.Confirm(*p2.Attempt.PaymentIntentID, "pm_card_visa"))
		require.NoError(t, b.fake.SettleACH(*p1.Attempt.PaymentIntentID))
		b.quiesce(t)
		ps, err := b.client.Payment.Query().Where(payment.ProcessorEQ(payment.ProcessorStripe)).All(b.ctx)
		require.NoError(t, err)
		items, err := b.client.ReconciliationItem.Query().Where(reconciliationitem.SourceEQ(reconciliationitem.SourceStripe)).All(b.ctx)
		require.NoError(t, err)
		got, err := b.client.Invoice.Get(b.ctx, inv.ID)
		require.NoError(t, err)
		require.Equal(t, invoice.StatusPaid, got.Status)
		require.Len(t, ps, 1, "while ACH %s was processing a card PaymentIntent %s was opened for the same balance; the customer paid twice: %d payments, %d recon items",
			*p1.Attempt.PaymentIntentID, *p2.Attempt.PaymentIntentID, len(ps), len(items))
	})
}

var _ = context.Background
var _ = tenant.System
