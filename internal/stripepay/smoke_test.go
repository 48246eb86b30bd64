package stripepay_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"books/ent/invoice"
	"books/ent/payment"
)

func TestPortalPaymentRecordsOnePayment(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d string) {
		b := setup(t, d)
		cus := b.newCustomer(t, "Acme")
		inv := b.approvedInvoice(t, b.ents[1], cus, "250.00")
		pi := b.pay(t, inv, cus)
		b.settle(t)
		ps, err := b.client.Payment.Query().Where(payment.ExternalRef(pi)).All(b.ctx)
		require.NoError(t, err)
		require.Len(t, ps, 1)
		require.Equal(t, b.ents[1].le.ID, ps[0].EntityID)
		got, err := b.client.Invoice.Get(b.ctx, inv.ID)
		require.NoError(t, err)
		require.Equal(t, invoice.StatusPaid, got.Status)
	})
}
