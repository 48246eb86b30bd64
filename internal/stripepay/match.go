package stripepay

import (
	"context"

	"books/ent"
	"books/ent/invoice"
	"books/ent/payment"
	"books/ent/qbolink"
	"books/ent/reconciliationitem"
	"books/internal/apperr"
	"books/internal/billing"
	"books/internal/money"
	"books/internal/qbo/recon"
)

// Match settles a Stripe reconciliation item by a person's applications: money recorded
// unapplied is applied to the invoices named; money held (no customer known) is recorded now
// as the invoices' customer's payment, applied to them. Money in a currency the entity's
// ledger does not keep cannot be matched: refund it in Stripe, or dismiss the item. Matching
// again with the same applications returns the item as it is.
func (s *Service) Match(ctx context.Context, c *ent.Client, itemID string, apps []billing.Application, note string) (*ent.ReconciliationItem, *ent.Payment, error) {
	it, err := recon.Lock(ctx, c, itemID)
	if err != nil {
		return nil, nil, err
	}
	if it.Source != reconciliationitem.SourceStripe {
		return nil, nil, apperr.New(apperr.Validation, "reconciliation item %s is not Stripe's", it.ID).WithField("reconciliationItemId")
	}
	switch {
	case it.Status == reconciliationitem.StatusMatched && it.PaymentID != nil:
		p, err := c.Payment.Get(ctx, *it.PaymentID)
		return it, p, err
	case it.Status == reconciliationitem.StatusDismissed:
		return nil, nil, apperr.New(apperr.Conflict, "reconciliation item %s was dismissed", it.ID).WithField("reconciliationItemId")
	case it.Kind == reconciliationitem.KindCurrencyMismatch:
		return nil, nil, apperr.New(apperr.CurrencyMismatch, "the money of item %s is in %s, which this entity's ledger does not keep: refund it in Stripe, or dismiss the item",
			it.ID, it.Currency).WithField("reconciliationItemId")
	case len(apps) == 0:
		return nil, nil, apperr.New(apperr.Validation, "name at least one invoice to apply the payment to").WithField("applications")
	}
	var p *ent.Payment
	if it.RecordType == "payment" && it.RecordID != "" {
		if p, err = billing.ApplyPayment(ctx, c, it.RecordID, apps); err != nil {
			return nil, nil, err
		}
	} else {
		if it.Amount == nil || it.TxnDate == nil {
			return nil, nil, apperr.New(apperr.Validation, "reconciliation item %s holds no Stripe payment to record", it.ID).WithField("reconciliationItemId")
		}
		first, err := c.Invoice.Query().Where(invoice.ID(apps[0].InvoiceID), invoice.EntityID(it.EntityID)).Only(ctx)
		if ent.IsNotFound(err) {
			return nil, nil, apperr.New(apperr.NotFound, "invoice %q not found in the item's entity", apps[0].InvoiceID).WithField("applications[0].invoiceId")
		}
		if err != nil {
			return nil, nil, err
		}
		if p, err = billing.RecordPayment(ctx, c, billing.PaymentInput{EntityID: it.EntityID, CustomerID: first.CustomerID,
			Amount: *it.Amount, Currency: money.Currency(it.Currency), ReceivedDate: *it.TxnDate, Method: payment.MethodCard,
			Processor: payment.ProcessorStripe, ExternalRef: it.QboID, StripeAccountID: it.ConnectionID,
			Memo: "Stripe " + it.QboID + " (matched by a person)", Applications: apps}); err != nil {
			return nil, nil, err
		}
	}
	if err := s.changed(ctx, c, qbolink.RecordTypePayment, p.ID); err != nil {
		return nil, nil, err
	}
	it, err = s.Queue.Settle(ctx, c, it.ID, reconciliationitem.StatusMatched, p.ID, note)
	if err != nil {
		return nil, nil, err
	}
	return it, p, nil
}
