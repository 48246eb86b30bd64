package stripepay_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"

	"books/ent"
	"books/ent/chargereversal"
	"books/ent/coamapping"
	"books/ent/invoice"
	"books/ent/journalentry"
	"books/ent/payment"
	"books/ent/paymentattempt"
	"books/ent/reconciliationitem"
	"books/ent/refund"
	"books/ent/stripeevent"
	"books/internal/apperr"
	"books/internal/auth"
	"books/internal/billing"
	"books/internal/caldate"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/stripepay"
	"books/internal/tenant"
)

// The events of one payment record it once whatever order they are applied in: each event
// is applied alone here, in the order the case names, before the next is delivered.
func TestEventOrderIndependence(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[0]
		cus := b.newCustomer(t, "Acme")
		// Webhooks off: the test delivers the fake's events itself, one at a time.
		b.quiet(e)

		t.Run("payment_intent.succeeded before charge.succeeded", func(t *testing.T) {
			inv := b.approvedInvoice(t, e, cus, "120.00")
			pi := b.pay(t, inv, cus)

			b.deliver(t, e, b.fakeEvent(t, e, pi, "payment_intent.succeeded").Raw)
			require.NoError(t, b.apply(t, e))
			p := b.paymentOf(t, pi)
			require.Equal(t, invoice.StatusPaid, b.invoice(t, inv.ID).Status)

			b.deliver(t, e, b.fakeEvent(t, e, pi, "charge.succeeded").Raw)
			require.NoError(t, b.apply(t, e))
			require.Equal(t, p.ID, b.paymentOf(t, pi).ID)
			row := b.inboxRow(t, b.fakeEvent(t, e, pi, "charge.succeeded").ID)
			require.Equal(t, stripeevent.StatusProcessed, row.Status)
			require.Contains(t, row.Outcome, "already recorded")
		})

		t.Run("charge.refunded before charge.succeeded", func(t *testing.T) {
			inv := b.approvedInvoice(t, e, cus, "80.00")
			pi := b.pay(t, inv, cus)
			ch := b.chargeOf(t, pi)
			re, err := b.fake.Refund(ch, 3000)
			require.NoError(t, err)

			// The refund of a payment Books has not recorded waits for it, holding nothing.
			refunded := b.fakeEvent(t, e, ch, "charge.refunded")
			b.deliver(t, e, refunded.Raw)
			err = b.apply(t, e)
			require.ErrorContains(t, err, "could not be applied yet")
			row := b.inboxRow(t, refunded.ID)
			require.Equal(t, stripeevent.StatusPending, row.Status)
			require.Zero(t, row.Attempts, "waiting is not failing")

			b.deliver(t, e, b.fakeEvent(t, e, pi, "charge.succeeded").Raw)
			b.deliver(t, e, b.fakeEvent(t, e, pi, "payment_intent.succeeded").Raw)
			require.NoError(t, b.apply(t, e))

			p := b.paymentOf(t, pi)
			require.Equal(t, "30.00", p.Refunded.String())
			rf, err := b.client.Refund.Query().Where(refund.ExternalRef(re)).Only(b.ctx)
			require.NoError(t, err)
			require.Equal(t, refund.StatusSucceeded, rf.Status)
			require.Equal(t, p.ID, rf.PaymentID)
			require.NotNil(t, rf.JournalEntryID)
			got := b.invoice(t, inv.ID)
			require.Equal(t, "30.00", got.Balance.String())
			require.Equal(t, invoice.StatusPartiallyPaid, got.Status)
		})
		b.loud(e)
		b.settle(t)
		b.requireInboxDone(t)
	})
}

// Money is routed to metadata.entity_id when that entity takes payments through the
// receiving account, else to the entity of the account's one billing profile, else to the
// default entity: metadata is written by whoever holds an account's keys, so it never moves
// money received on one account into the books of an entity that uses another, nor into
// another organization's.
func TestEventRouting(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		us, eu := b.ents[0], b.ents[1]
		none := b.spareAccount(t, "Stripe spare")
		shared := b.spareAccount(t, "Stripe shared")
		var ca, mx *entity
		for _, code := range []string{"CA", "MX"} {
			le, err := ledger.CreateEntity(b.ctx, b.client, ent.CreateLegalEntityInput{Code: code, Name: code + " Inc", BaseCurrency: "USD"})
			require.NoError(t, err)
			_, err = stripepay.SetBillingProfile(b.ctx, b.client, le.ID, shared.acct.ID, false)
			require.NoError(t, err)
			if code == "CA" {
				ca = &entity{le: le}
			} else {
				mx = &entity{le: le}
			}
		}
		foreign := otherOrgEntity(t, b)

		cases := []struct {
			name       string
			acct       *entity
			meta       map[string]string
			setDefault *entity // makes this entity the default first
			want       *entity
		}{
			{name: "metadata names an entity of the account", acct: shared, meta: map[string]string{stripepay.MetaEntity: ca.le.ID}, want: ca},
			{name: "no metadata: the account's one profile", acct: eu, want: eu},
			{name: "account with no profile: the default entity", acct: none, want: us},
			{name: "account with several profiles: the default entity", acct: shared, want: us},
			{name: "metadata names an entity of another account", acct: us, meta: map[string]string{stripepay.MetaEntity: eu.le.ID}, want: us},
			{name: "metadata names another organization's entity", acct: eu, meta: map[string]string{stripepay.MetaEntity: foreign}, want: eu},
			{name: "metadata names no entity", acct: eu, meta: map[string]string{stripepay.MetaEntity: "le_nobody"}, want: eu},
			{name: "another default entity", acct: none, setDefault: eu, want: eu},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.setDefault != nil {
					_, err := stripepay.SetBillingProfile(b.ctx, b.client, tc.setDefault.le.ID, tc.setDefault.acct.ID, true)
					require.NoError(t, err)
				}
				pi := newID("pi_")
				b.deliver(t, tc.acct, event(t, "payment_intent.succeeded", succeededPI(pi, 1234, "usd", tc.meta)))
				b.settle(t)
				je := b.receiptEntry(t, pi)
				require.Equal(t, tc.want.le.ID, je.EntityID)
				row, err := b.client.StripeEvent.Query().Where(stripeevent.ObjectID(pi)).Only(tenant.System(context.Background()))
				require.NoError(t, err)
				require.Equal(t, tc.want.le.ID, *row.EntityID)
			})
		}

		// A charge made in the dashboard with metadata: Stripe puts the metadata on the
		// PaymentIntent, not on its charge, and sends charge.succeeded first. The payment
		// still goes where the metadata says.
		t.Run("dashboard charge with metadata", func(t *testing.T) {
			b.loud(shared)
			ch, err := b.fake.Charge(shared.secretKey, 4321, "usd", map[string]string{stripepay.MetaEntity: mx.le.ID})
			require.NoError(t, err)
			b.settle(t)
			pi := piOfCharge(t, b, shared, ch)
			require.Equal(t, mx.le.ID, b.receiptEntry(t, pi).EntityID)
		})
		b.requireInboxDone(t)
	})
}

// otherOrgEntity creates another organization with an entity and returns the entity's id.
func otherOrgEntity(t testing.TB, b *testBundle) string {
	t.Helper()
	org, err := b.client.Organization.Create().SetName("Other org").Save(tenant.System(context.Background()))
	require.NoError(t, err)
	ctx := authAdmin(org.ID)
	le, err := ledger.CreateEntity(ctx, b.client, ent.CreateLegalEntityInput{Code: "ZZ", Name: "Other Inc", BaseCurrency: "USD"})
	require.NoError(t, err)
	return le.ID
}

// piOfCharge is the PaymentIntent of a charge, from its charge.succeeded event.
func piOfCharge(t testing.TB, b *testBundle, e *entity, ch string) string {
	t.Helper()
	ev := b.fakeEvent(t, e, ch, "charge.succeeded")
	var v struct {
		Data struct {
			Object struct {
				PaymentIntent string `json:"payment_intent"`
			} `json:"object"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(ev.Raw, &v))
	require.NotEmpty(t, v.Data.Object.PaymentIntent)
	return v.Data.Object.PaymentIntent
}

// A charge with no invoice behind it posts DR Undeposited Funds, CR Revenue through the
// entity's stripe COA mappings, and its refund posts the mirror to the same accounts.
func TestChargeWithoutInvoice(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[0]
		// Point stripe's "revenue" at Managed Services Revenue (4100): Books' own mapping stays
		// on 4000, so the entry shows which mappings it went through.
		m, err := b.client.COAMapping.Query().Where(coamapping.EntityID(e.le.ID),
			coamapping.SourceSystemEQ(source.Stripe), coamapping.SourceCode("revenue")).Only(b.ctx)
		require.NoError(t, err)
		managed := b.accountID(t, e, "4100")
		_, err = ledger.UpdateMapping(b.ctx, b.client, m.ID, ent.UpdateCOAMappingInput{AccountID: &managed})
		require.NoError(t, err)

		ch, err := b.fake.Charge(e.secretKey, 4999, "usd", nil)
		require.NoError(t, err)
		b.settle(t)
		pi := piOfCharge(t, b, e, ch)
		je := b.receiptEntry(t, pi)
		require.Equal(t, e.le.ID, je.EntityID)
		require.ElementsMatch(t, []line{{"1300", "49.99", "0.00"}, {"4100", "0.00", "49.99"}}, b.lines(t, je.ID))
		n, err := b.client.Payment.Query().Where(payment.ExternalRef(pi)).Count(b.ctx)
		require.NoError(t, err)
		require.Zero(t, n, "no invoice, no customer: an entry, not a payment")

		re, err := b.fake.Refund(ch, 1000)
		require.NoError(t, err)
		b.settle(t)
		back, err := b.client.JournalEntry.Query().Where(journalentry.SourceSystemEQ(source.Stripe),
			journalentry.SourceRef("refund:"+re)).Only(b.ctx)
		require.NoError(t, err)
		require.ElementsMatch(t, []line{{"4100", "10.00", "0.00"}, {"1300", "0.00", "10.00"}}, b.lines(t, back.ID))
		b.requireInboxDone(t)
	})
}

// A Stripe Billing invoice is recorded once, from invoice.paid (its charge.succeeded and
// payment_intent.succeeded are ignored): deferred revenue for a period still to come,
// revenue for one past.
func TestStripeInvoice(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[1]
		now := time.Now()
		cases := []struct {
			name       string
			start, end time.Time
			credit     string
		}{
			{"future period", now, now.AddDate(0, 1, 0), "2400"},
			{"past period", now.AddDate(0, -2, 0), now.AddDate(0, -1, 0), "4000"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				in, err := b.fake.PayStripeInvoice(e.secretKey, 3000, "usd", tc.start, tc.end)
				require.NoError(t, err)
				b.settle(t)
				paid := b.fakeEvent(t, e, in, "invoice.paid")
				var v struct {
					Data struct {
						Object struct {
							PaymentIntent string `json:"payment_intent"`
						} `json:"object"`
					} `json:"data"`
				}
				require.NoError(t, json.Unmarshal(paid.Raw, &v))
				pi := v.Data.Object.PaymentIntent
				je := b.receiptEntry(t, pi)
				require.Equal(t, e.le.ID, je.EntityID)
				require.ElementsMatch(t, []line{{"1300", "30.00", "0.00"}, {tc.credit, "0.00", "30.00"}}, b.lines(t, je.ID))
				require.Equal(t, stripeevent.StatusProcessed, b.inboxRow(t, paid.ID).Status)
				for _, ev := range b.fakeEvents(t, e, pi, "charge.succeeded", "payment_intent.succeeded") {
					require.Equal(t, stripeevent.StatusIgnored, b.inboxRow(t, ev.ID).Status, ev.Type)
				}

				// Sent again under new ids, the three events still record it once.
				for _, ev := range append(b.fakeEvents(t, e, pi, "charge.succeeded", "payment_intent.succeeded"), paid) {
					b.deliver(t, e, reissued(t, ev.Raw))
				}
				b.settle(t)
				b.receiptEntry(t, pi)
			})
		}
		b.requireInboxDone(t)
	})
}

// A payment naming an invoice Books does not have is kept: as the customer's unapplied
// payment when the customer is known, else held in the reconciliation queue until a person
// matches it. Either way a reconciliation item says so.
func TestUnknownInvoice(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[0]
		cus := b.newCustomer(t, "Acme")

		t.Run("known customer: unapplied payment", func(t *testing.T) {
			pi := newID("pi_")
			b.deliver(t, e, event(t, "payment_intent.succeeded", succeededPI(pi, 5000, "usd",
				map[string]string{stripepay.MetaInvoice: "inv_missing", stripepay.MetaCustomer: cus.ID})))
			b.settle(t)
			p := b.paymentOf(t, pi)
			require.Equal(t, e.le.ID, p.EntityID)
			require.Equal(t, cus.ID, p.CustomerID)
			require.Equal(t, "50.00", p.Unapplied.String())
			require.True(t, p.Applied.IsZero())
			its := b.items(t, pi)
			require.Len(t, its, 1)
			require.Equal(t, reconciliationitem.KindUnmatchedPayment, its[0].Kind)
			require.Equal(t, reconciliationitem.StatusOpen, its[0].Status)
			require.Equal(t, reconciliationitem.SourceStripe, its[0].Source)
			require.Equal(t, p.ID, its[0].RecordID)
		})

		t.Run("unknown customer: held, then matched", func(t *testing.T) {
			pi := newID("pi_")
			body := event(t, "payment_intent.succeeded", succeededPI(pi, 7500, "usd",
				map[string]string{stripepay.MetaInvoice: "inv_missing", stripepay.MetaCustomer: "cus_nobody"}))
			b.deliver(t, e, body)
			b.settle(t)
			b.deliver(t, e, reissued(t, body))
			b.settle(t)
			its := b.items(t, pi)
			require.Len(t, its, 1, "the same money held twice is one item")
			it := its[0]
			require.Equal(t, reconciliationitem.KindUnmatchedPayment, it.Kind)
			require.Equal(t, reconciliationitem.StatusOpen, it.Status)
			require.Equal(t, "75.00", it.Amount.String())
			n, err := b.client.Payment.Query().Where(payment.ExternalRef(pi)).Count(b.ctx)
			require.NoError(t, err)
			require.Zero(t, n, "nothing is recorded for money no one can place")
			n, err = b.client.JournalEntry.Query().Where(journalentry.SourceRefContains(pi)).Count(b.ctx)
			require.NoError(t, err)
			require.Zero(t, n, "nothing is posted for money no one can place")

			inv := b.approvedInvoice(t, e, cus, "75.00")
			got, p, err := b.svc.Match(b.ctx, b.client, it.ID, []billing.Application{{InvoiceID: inv.ID, Amount: usd(7500)}}, "the customer wrote in")
			require.NoError(t, err)
			require.Equal(t, reconciliationitem.StatusMatched, got.Status)
			require.Equal(t, p.ID, *got.PaymentID)
			require.Equal(t, pi, p.ExternalRef)
			require.Equal(t, invoice.StatusPaid, b.invoice(t, inv.ID).Status)

			// Matching again, or the payment's event again, records nothing more.
			_, again, err := b.svc.Match(b.ctx, b.client, it.ID, []billing.Application{{InvoiceID: inv.ID, Amount: usd(7500)}}, "")
			require.NoError(t, err)
			require.Equal(t, p.ID, again.ID)
			b.deliver(t, e, reissued(t, body))
			b.settle(t)
			require.Equal(t, p.ID, b.paymentOf(t, pi).ID)
		})
		b.requireInboxDone(t)
	})
}

// An invoice paid twice (through the portal, then again through a PaymentIntent made
// outside Books whose metadata names the invoice, e.g. a payment link) applies the first
// payment and keeps the second as the customer's credit, raised as an amount mismatch.
func TestOverpayment(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[1]
		cus := b.newCustomer(t, "Acme")
		inv := b.approvedInvoice(t, e, cus, "300.00")
		pi1 := b.pay(t, inv, cus)
		params := &stripe.PaymentIntentParams{Amount: stripe.Int64(30000), Currency: stripe.String("usd"),
			PaymentMethodTypes: stripe.StringSlice([]string{"card"})}
		params.AddMetadata(stripepay.MetaEntity, e.le.ID)
		params.AddMetadata(stripepay.MetaInvoice, inv.ID)
		params.AddMetadata(stripepay.MetaCustomer, cus.ID)
		again, err := b.stripe(e).PaymentIntents.New(params)
		require.NoError(t, err)
		pi2 := again.ID
		require.NoError(t, b.fake.Confirm(pi2, "pm_card_visa"))
		b.settle(t)

		got := b.invoice(t, inv.ID)
		require.Equal(t, invoice.StatusPaid, got.Status)
		require.True(t, got.Balance.IsZero())
		p1, p2 := b.paymentOf(t, pi1), b.paymentOf(t, pi2)
		applied, extra := p1, p2
		if p1.Applied.IsZero() {
			applied, extra = p2, p1
		}
		require.Equal(t, "300.00", applied.Applied.String())
		require.Equal(t, "300.00", extra.Unapplied.String())
		require.True(t, extra.Applied.IsZero())
		require.Equal(t, cus.ID, extra.CustomerID)
		its := b.items(t, extra.ExternalRef)
		require.Len(t, its, 1)
		require.Equal(t, reconciliationitem.KindAmountMismatch, its[0].Kind)
		require.Equal(t, extra.ID, its[0].RecordID)
		require.Empty(t, b.items(t, applied.ExternalRef))
		b.requireInboxDone(t)
	})
}

// Money in a currency the entity's ledger does not keep is held, never posted; less than
// the balance pays part of the invoice.
func TestPaymentDisagreesWithInvoice(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[0]
		cus := b.newCustomer(t, "Acme")
		inv := b.approvedInvoice(t, e, cus, "100.00")
		meta := map[string]string{stripepay.MetaEntity: e.le.ID, stripepay.MetaInvoice: inv.ID, stripepay.MetaCustomer: cus.ID}

		euros := newID("pi_")
		forged := event(t, "payment_intent.succeeded", succeededPI(euros, 10000, "eur", meta))
		b.deliver(t, e, forged)
		b.settle(t)
		// Sent again under another id, it is still one item.
		b.deliver(t, e, reissued(t, forged))
		b.settle(t)
		its := b.items(t, euros)
		require.Len(t, its, 1)
		require.Equal(t, reconciliationitem.KindCurrencyMismatch, its[0].Kind)
		require.Equal(t, "EUR", its[0].Currency)
		n, err := b.client.Payment.Query().Where(payment.ExternalRef(euros)).Count(b.ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		require.Equal(t, "100.00", b.invoice(t, inv.ID).Balance.String())

		short := newID("pi_")
		b.deliver(t, e, event(t, "payment_intent.succeeded", succeededPI(short, 4000, "usd", meta)))
		b.settle(t)
		p := b.paymentOf(t, short)
		require.Equal(t, "40.00", p.Applied.String())
		got := b.invoice(t, inv.ID)
		require.Equal(t, invoice.StatusPartiallyPaid, got.Status)
		require.Equal(t, "60.00", got.Balance.String())
		require.Empty(t, b.items(t, short))
		b.requireInboxDone(t)
	})
}

// A declined card marks the attempt failed with Stripe's words; the customer trying again
// with a good card makes it succeed.
func TestPaymentFailed(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[0]
		cus := b.newCustomer(t, "Acme")
		inv := b.approvedInvoice(t, e, cus, "99.00")
		pay, err := b.svc.CreateInvoicePayment(b.portal(cus), b.client, inv.ID, paymentattempt.MethodCard)
		require.NoError(t, err)
		pi := *pay.Attempt.PaymentIntentID
		require.Error(t, b.fake.Confirm(pi, "pm_card_chargeDeclined"))
		b.settle(t)
		att, err := b.client.PaymentAttempt.Get(b.ctx, pay.Attempt.ID)
		require.NoError(t, err)
		require.Equal(t, paymentattempt.StatusFailed, att.Status)
		require.Equal(t, "Your card was declined.", att.FailureMessage)
		require.Equal(t, invoice.StatusApproved, b.invoice(t, inv.ID).Status)

		require.NoError(t, b.fake.Confirm(pi, "pm_card_visa"))
		b.settle(t)
		att, err = b.client.PaymentAttempt.Get(b.ctx, pay.Attempt.ID)
		require.NoError(t, err)
		require.Equal(t, paymentattempt.StatusSucceeded, att.Status)
		require.Empty(t, att.FailureMessage)
		require.Equal(t, b.paymentOf(t, pi).ID, *att.PaymentID)
		require.Equal(t, invoice.StatusPaid, b.invoice(t, inv.ID).Status)
		b.requireInboxDone(t)
	})
}

// An ACH debit is processing until the bank settles it (then the payment is recorded) or
// returns it (then the attempt fails).
func TestACH(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[1]
		cus := b.newCustomer(t, "Acme")
		start := func(t *testing.T) (*ent.Invoice, *stripepay.Payment) {
			inv := b.approvedInvoice(t, e, cus, "500.00")
			pay, err := b.svc.CreateInvoicePayment(b.portal(cus), b.client, inv.ID, paymentattempt.MethodAch)
			require.NoError(t, err)
			require.NoError(t, b.fake.Confirm(*pay.Attempt.PaymentIntentID, "pm_usBankAccount"))
			b.settle(t)
			att, err := b.client.PaymentAttempt.Get(b.ctx, pay.Attempt.ID)
			require.NoError(t, err)
			require.Equal(t, paymentattempt.StatusProcessing, att.Status)
			n, err := b.client.Payment.Query().Where(payment.ExternalRef(*pay.Attempt.PaymentIntentID)).Count(b.ctx)
			require.NoError(t, err)
			require.Zero(t, n, "nothing is recorded while the debit is processing")
			return inv, pay
		}

		t.Run("settled", func(t *testing.T) {
			inv, pay := start(t)
			require.NoError(t, b.fake.SettleACH(*pay.Attempt.PaymentIntentID))
			b.settle(t)
			att, err := b.client.PaymentAttempt.Get(b.ctx, pay.Attempt.ID)
			require.NoError(t, err)
			require.Equal(t, paymentattempt.StatusSucceeded, att.Status)
			p := b.paymentOf(t, *pay.Attempt.PaymentIntentID)
			require.Equal(t, payment.MethodAch, p.Method)
			require.Equal(t, invoice.StatusPaid, b.invoice(t, inv.ID).Status)
		})

		t.Run("returned", func(t *testing.T) {
			inv, pay := start(t)
			require.NoError(t, b.fake.FailACH(*pay.Attempt.PaymentIntentID, ""))
			b.settle(t)
			att, err := b.client.PaymentAttempt.Get(b.ctx, pay.Attempt.ID)
			require.NoError(t, err)
			require.Equal(t, paymentattempt.StatusFailed, att.Status)
			require.Contains(t, att.FailureMessage, "insufficient funds")
			require.Equal(t, invoice.StatusApproved, b.invoice(t, inv.ID).Status)
		})
		b.requireInboxDone(t)
	})
}

// A dispute raises an admin issue; a lost one reverses the charge once, however often its
// close is delivered; a won one posts nothing.
func TestDisputes(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[0]
		cus := b.newCustomer(t, "Acme")
		reversals := func(t *testing.T, dp string) []*ent.ChargeReversal {
			crs, err := b.client.ChargeReversal.Query().Where(chargereversal.ExternalRef(dp)).All(b.ctx)
			require.NoError(t, err)
			return crs
		}
		open := func(t *testing.T) (*ent.Invoice, string, string) {
			inv := b.approvedInvoice(t, e, cus, "210.00")
			pi := b.pay(t, inv, cus)
			b.settle(t)
			dp, err := b.fake.Dispute(b.chargeOf(t, pi))
			require.NoError(t, err)
			b.settle(t)
			var raised bool
			for _, is := range b.issues(t, "stripe_dispute") {
				raised = raised || is.SubjectID == dp
			}
			require.True(t, raised, "an open dispute is raised for a person to answer")
			require.Empty(t, reversals(t, dp))
			return inv, pi, dp
		}

		t.Run("lost", func(t *testing.T) {
			inv, pi, dp := open(t)
			require.NoError(t, b.fake.CloseDispute(dp, false))
			b.settle(t)
			closed := b.fakeEvent(t, e, dp, "charge.dispute.closed")
			require.True(t, b.deliver(t, e, closed.Raw), "the same event again is a duplicate")
			b.deliver(t, e, reissued(t, closed.Raw))
			b.settle(t)

			crs := reversals(t, dp)
			require.Len(t, crs, 1)
			p := b.paymentOf(t, pi)
			require.Equal(t, p.ID, crs[0].PaymentID)
			require.Equal(t, "210.00", crs[0].Amount.String())
			require.Equal(t, "210.00", b.paymentOf(t, pi).Reversed.String())
			got := b.invoice(t, inv.ID)
			require.Equal(t, "210.00", got.Balance.String(), "the receivable the payment had paid re-opens")
			require.NotEqual(t, invoice.StatusPaid, got.Status)
		})

		t.Run("won", func(t *testing.T) {
			inv, pi, dp := open(t)
			require.NoError(t, b.fake.CloseDispute(dp, true))
			b.settle(t)
			require.Empty(t, reversals(t, dp))
			require.True(t, b.paymentOf(t, pi).Reversed.IsZero())
			require.Equal(t, invoice.StatusPaid, b.invoice(t, inv.ID).Status)
		})
		b.requireInboxDone(t)
	})
}

// authAdmin is the context of an admin of org.
func authAdmin(org string) context.Context {
	return auth.WithPrincipal(context.Background(), &auth.Principal{Kind: auth.KindUser, Subject: "admin-" + org,
		Org: org, Roles: []auth.Role{auth.RoleAdmin}})
}

// The backstop lists the events a webhook never brought into the same inbox, from a
// watermark it keeps; a pass with nothing new stores nothing, and a webhook arriving late
// for an event it listed is a duplicate.
func TestBackstop(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[0]
		b.quiet(e)
		cus := b.newCustomer(t, "Acme")
		inv := b.approvedInvoice(t, e, cus, "75.00")
		pi := b.pay(t, inv, cus)

		ctx := context.Background()
		n, err := b.svc.Backstop(ctx, e.acct.ID)
		require.NoError(t, err)
		require.Equal(t, 2, n, "charge.succeeded and payment_intent.succeeded; payment_intent.created is not Books' business")
		acct, err := b.client.StripeAccount.Get(b.ctx, e.acct.ID)
		require.NoError(t, err)
		require.NotNil(t, acct.EventsThrough)
		require.NotNil(t, acct.EventsPolledAt)
		for _, row := range b.inbox(t, e.acct.ID) {
			require.Equal(t, stripeevent.ReceivedViaBackstop, row.ReceivedVia)
			require.False(t, row.StripeCreatedAt.After(*acct.EventsThrough), "the watermark is the newest event seen")
		}
		n, err = b.svc.Backstop(ctx, e.acct.ID)
		require.NoError(t, err)
		require.Zero(t, n)

		b.settle(t)
		b.paymentOf(t, pi)
		require.Equal(t, invoice.StatusPaid, b.invoice(t, inv.ID).Status)
		require.True(t, b.deliver(t, e, b.fakeEvent(t, e, pi, "charge.succeeded").Raw))
		b.requireInboxDone(t)
	})
}

// An event that keeps failing is marked failed after its attempts and raised for a person,
// with nothing applied; the issue's retry applies it once its cause is put right.
func TestFailedEventRetried(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[1]
		pd := b.paid(t, e, "90.00")
		b.quiet(e)
		// The key Books holds goes stale (rolled in Stripe): applying charge.refunded, which
		// lists the charge's refunds, fails.
		_, err := b.svc.UpdateAccount(b.ctx, b.client, e.acct.ID, stripepay.AccountPatch{SecretKey: ptr("sk_test_" + rand.Text())})
		require.NoError(t, err)
		re, err := b.fake.Refund(pd.ch, 1500)
		require.NoError(t, err)
		ev := b.fakeEvent(t, e, pd.ch, "charge.refunded")
		b.deliver(t, e, ev.Raw)
		eventually(t, "the event to fail", func() bool {
			_ = b.svc.Process(context.Background(), e.acct.ID)
			return b.inboxRow(t, ev.ID).Status == stripeevent.StatusFailed
		})
		row := b.inboxRow(t, ev.ID)
		require.Equal(t, 3, row.Attempts)
		require.Contains(t, row.LastError, "Invalid API Key")
		require.True(t, b.paymentOf(t, pd.pi).Refunded.IsZero(), "nothing applied")
		// Whichever run failed it (the test's or the inbox job's) raises the issue just after.
		var issue *ent.AdminIssue
		eventually(t, "a person to be told", func() bool {
			for _, is := range b.issues(t, "stripe_event") {
				if is.SubjectID == ev.ID {
					issue = is
				}
			}
			return issue != nil
		})
		require.Equal(t, stripepay.RetryArgs{}.Kind(), issue.JobKind)

		_, err = b.svc.UpdateAccount(b.ctx, b.client, e.acct.ID, stripepay.AccountPatch{SecretKey: &e.secretKey})
		require.NoError(t, err)
		var args stripepay.RetryArgs
		require.NoError(t, json.Unmarshal([]byte(issue.JobArgs), &args))
		require.NoError(t, (&stripepay.RetryWorker{Service: b.svc}).Work(context.Background(), &river.Job[stripepay.RetryArgs]{Args: args}))
		require.Equal(t, stripeevent.StatusProcessed, b.inboxRow(t, ev.ID).Status)
		rf, err := b.client.Refund.Query().Where(refund.ExternalRef(re)).Only(b.ctx)
		require.NoError(t, err)
		require.Equal(t, refund.StatusSucceeded, rf.Status)
		require.Equal(t, "15.00", b.paymentOf(t, pd.pi).Refunded.String())
		b.loud(e)
		b.settle(t)
		b.requireInboxDone(t)
	})
}

// A portal client pays the open balance of its customer's invoice through the invoice
// entity's account: asking again gives the same PaymentIntent, a changed balance a new one
// (the old canceled), and another customer's or a paid invoice is refused.
func TestCreateInvoicePayment(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		e := b.ents[1]
		cus, stranger := b.newCustomer(t, "Acme"), b.newCustomer(t, "Stranger")
		inv := b.approvedInvoice(t, e, cus, "120.00")
		first, err := b.svc.CreateInvoicePayment(b.portal(cus), b.client, inv.ID, paymentattempt.MethodCard)
		require.NoError(t, err)
		require.Equal(t, e.publishableKey, first.PublishableKey)
		require.NotEmpty(t, first.ClientSecret)
		require.Equal(t, e.acct.ID, first.Attempt.StripeAccountID)
		require.Equal(t, "120.00", first.Attempt.Amount.String())
		require.Equal(t, paymentattempt.StatusRequiresPayment, first.Attempt.Status)
		raw, ok := b.fake.PaymentIntent(*first.Attempt.PaymentIntentID)
		require.True(t, ok)
		var pi struct {
			Amount   int64             `json:"amount"`
			Metadata map[string]string `json:"metadata"`
		}
		require.NoError(t, json.Unmarshal(raw, &pi))
		require.Equal(t, int64(12000), pi.Amount)
		require.Equal(t, map[string]string{stripepay.MetaEntity: e.le.ID, stripepay.MetaInvoice: inv.ID,
			stripepay.MetaCustomer: cus.ID, stripepay.MetaAttempt: first.Attempt.ID}, pi.Metadata)

		again, err := b.svc.CreateInvoicePayment(b.portal(cus), b.client, inv.ID, paymentattempt.MethodCard)
		require.NoError(t, err)
		require.Equal(t, first.Attempt.ID, again.Attempt.ID)
		require.Equal(t, *first.Attempt.PaymentIntentID, *again.Attempt.PaymentIntentID)

		_, err = b.svc.CreateInvoicePayment(b.portal(stranger), b.client, inv.ID, paymentattempt.MethodCard)
		require.Equal(t, apperr.NotFound, apperr.Code(err), "another customer's invoice is not there")
		_, err = b.svc.CreateInvoicePayment(b.portal(cus), b.client, inv.ID, "bitcoin")
		require.Equal(t, apperr.Validation, apperr.Code(err))

		// A check pays part: the attempt for the old balance is canceled, in Stripe too.
		_, err = billing.RecordPayment(b.ctx, b.client, billing.PaymentInput{EntityID: e.le.ID, CustomerID: cus.ID,
			Amount: usd(2000), ReceivedDate: caldate.MustParse("2026-11-10"), Method: payment.MethodCheck,
			Applications: []billing.Application{{InvoiceID: inv.ID, Amount: usd(2000)}}})
		require.NoError(t, err)
		rest, err := b.svc.CreateInvoicePayment(b.portal(cus), b.client, inv.ID, paymentattempt.MethodCard)
		require.NoError(t, err)
		require.NotEqual(t, first.Attempt.ID, rest.Attempt.ID)
		require.Equal(t, "100.00", rest.Attempt.Amount.String())
		old, err := b.client.PaymentAttempt.Get(b.ctx, first.Attempt.ID)
		require.NoError(t, err)
		require.Equal(t, paymentattempt.StatusCanceled, old.Status)
		raw, _ = b.fake.PaymentIntent(*first.Attempt.PaymentIntentID)
		require.Contains(t, string(raw), `"status":"canceled"`)

		require.NoError(t, b.fake.Confirm(*rest.Attempt.PaymentIntentID, "pm_card_visa"))
		b.settle(t)
		require.Equal(t, invoice.StatusPaid, b.invoice(t, inv.ID).Status)
		_, err = b.svc.CreateInvoicePayment(b.portal(cus), b.client, inv.ID, paymentattempt.MethodCard)
		require.Equal(t, apperr.InvalidTransition, apperr.Code(err))
		b.requireInboxDone(t)
	})
}
