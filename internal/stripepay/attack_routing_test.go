package stripepay_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/journalentry"
	"books/ent/payment"
	"books/ent/reconciliationitem"
	"books/ent/stripeevent"
	"books/internal/auth"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/tenant"
)

// metadata.entity_id naming another organization's entity must not reach it.
func TestAttackRoutingOtherOrgEntity(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		org2, err := b.client.Organization.Create().SetName("Other org").Save(tenant.System(context.Background()))
		require.NoError(t, err)
		mallory := auth.WithPrincipal(context.Background(), &auth.Principal{
			Kind: auth.KindUser, Subject: "mallory", Org: org2.ID, Roles: []auth.Role{auth.RoleAdmin}})
		foreign, err := ledger.CreateEntity(mallory, b.client, ent.CreateLegalEntityInput{Code: "XX", Name: "X Inc", BaseCurrency: "USD"})
		require.NoError(t, err)
		_, err = b.fake.Charge(b.ents[0].secretKey, 5000, "usd", map[string]string{"entity_id": foreign.ID})
		require.NoError(t, err)
		b.quiesce(t)
		n, err := b.client.JournalEntry.Query().Where(journalentry.EntityID(foreign.ID)).Count(tenant.System(context.Background()))
		require.NoError(t, err)
		require.Zero(t, n, "an event of org 1's account posted into org 2's entity")
		je, err := b.client.JournalEntry.Query().Where(journalentry.SourceSystemEQ(source.Stripe)).Only(b.ctx)
		require.NoError(t, err)
		require.Equal(t, b.ents[0].le.ID, je.EntityID, "fell back to the receiving account's entity")
	})
}

// A charge on the US entity's Stripe account whose metadata names the EU entity (same org)
// and an EU invoice: the cash sits in US's Stripe balance, but where is it booked?
func TestAttackRoutingOtherEntitySameOrg(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		us, eu := b.ents[0], b.ents[1]
		cus := b.newCustomer(t, "Acme")
		inv := b.approvedInvoice(t, eu, cus, "50.00")
		_, err := b.fake.Charge(us.secretKey, 5000, "usd", map[string]string{"entity_id": eu.le.ID, "invoice_id": inv.ID})
		require.NoError(t, err)
		b.quiesce(t)
		// The metadata is not trusted across accounts: the money is US's, and an EU invoice
		// is not US's to settle, so it waits for a person in US's queue, posted nowhere.
		ps, err := b.client.Payment.Query().Where(payment.ProcessorEQ(payment.ProcessorStripe)).All(b.ctx)
		require.NoError(t, err)
		require.Empty(t, ps, "money received on %s's Stripe account was booked as a payment", us.le.Code)
		items, err := b.client.ReconciliationItem.Query().All(b.ctx)
		require.NoError(t, err)
		require.Len(t, items, 1)
		require.Equal(t, us.le.ID, items[0].EntityID)
		require.Equal(t, reconciliationitem.KindUnmatchedPayment, items[0].Kind)
		require.Contains(t, items[0].Reason, inv.ID)
		got, err := b.client.Invoice.Get(b.ctx, inv.ID)
		require.NoError(t, err)
		require.Equal(t, inv.Balance, got.Balance, "the EU invoice was not touched")
	})
}

// Unknown invoice (with and without a known customer) and a currency the entity does not keep:
// held in the reconciliation queue, nothing lost, nothing posted twice.
func TestAttackUnknownInvoiceAndCurrency(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		us := b.ents[0]
		cus := b.newCustomer(t, "Acme")
		_, err := b.fake.Charge(us.secretKey, 1000, "usd", map[string]string{"invoice_id": "inv_nope"})
		require.NoError(t, err)
		_, err = b.fake.Charge(us.secretKey, 2000, "usd", map[string]string{"invoice_id": "inv_nope2", "customer_id": cus.ID})
		require.NoError(t, err)
		_, err = b.fake.Charge(us.secretKey, 3000, "eur", map[string]string{"entity_id": us.le.ID})
		require.NoError(t, err)
		b.quiesce(t)
		b.quiesce(t) // twice: nothing new
		items, err := b.client.ReconciliationItem.Query().Where(reconciliationitem.SourceEQ(reconciliationitem.SourceStripe)).All(b.ctx)
		require.NoError(t, err)
		kinds := map[reconciliationitem.Kind]int{}
		for _, it := range items {
			kinds[it.Kind]++
		}
		require.Equal(t, 2, kinds[reconciliationitem.KindUnmatchedPayment], "%v", kinds)
		require.Equal(t, 1, kinds[reconciliationitem.KindCurrencyMismatch], "%v", kinds)
		ps, err := b.client.Payment.Query().Where(payment.ProcessorEQ(payment.ProcessorStripe)).All(b.ctx)
		require.NoError(t, err)
		require.Len(t, ps, 1)
		require.Equal(t, "20.00", ps[0].Unapplied.String())
		failed, err := b.client.StripeEvent.Query().Where(stripeevent.StatusEQ(stripeevent.StatusFailed)).Count(tenant.System(context.Background()))
		require.NoError(t, err)
		require.Zero(t, failed)
	})
}
