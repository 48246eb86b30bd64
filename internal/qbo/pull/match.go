package pull

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"books/ent"
	"books/ent/payment"
	"books/ent/paymentapplication"
	"books/ent/qbolink"
	"books/ent/reconciliationitem"
	"books/internal/apperr"
	"books/internal/billing"
	"books/internal/qbo/recon"
)

// Match records the QuickBooks payment of a reconciliation item against the invoices a person
// chose: one Books payment for the payment's full amount (what the applications leave is the
// customer's unapplied credit), its postings, a synced link to the QuickBooks payment, and the
// item marked matched with the note. It uses the payment as the item last saw it (no
// QuickBooks call inside the caller's transaction); a later change in QuickBooks reaches the
// Books payment through the next pass. Matching a matched item again with the same
// applications returns it unchanged; with others, or a dismissed item, it is CONFLICT. c must
// be transactional.
func (p *Puller) Match(ctx context.Context, c *ent.Client, itemID string, apps []billing.Application, note string) (*ent.ReconciliationItem, *ent.Payment, error) {
	it, err := recon.Lock(ctx, c, itemID)
	if err != nil {
		return nil, nil, err
	}
	switch it.Kind {
	case reconciliationitem.KindRemoteDelete, reconciliationitem.KindRemoteChange:
		return nil, nil, apperr.New(apperr.Validation, "a %s item has no money to match: unlink or push the record, or dismiss the item",
			it.Kind).WithField("reconciliationItemId")
	}
	if len(apps) == 0 {
		return nil, nil, apperr.New(apperr.Validation, "name at least one invoice to apply the payment to").WithField("applications")
	}
	if it.Status == reconciliationitem.StatusMatched && it.PaymentID != nil {
		paid, err := c.Payment.Get(ctx, *it.PaymentID)
		if err != nil {
			return nil, nil, err
		}
		same, err := sameApplications(ctx, c, paid, apps)
		if err != nil {
			return nil, nil, err
		}
		if !same {
			return nil, nil, apperr.New(apperr.Conflict, "reconciliation item %s was already matched with other applications (payment %s)",
				it.ID, paid.ID).WithField("applications")
		}
		return it, paid, nil
	}
	if it.Status == reconciliationitem.StatusDismissed {
		return nil, nil, apperr.New(apperr.Conflict, "reconciliation item %s was dismissed", it.ID).WithField("reconciliationItemId")
	}
	var qp qboPayment
	if err := json.Unmarshal([]byte(it.Snapshot), &qp); err != nil || qp.ID == "" {
		return nil, nil, apperr.New(apperr.Validation, "reconciliation item %s holds no QuickBooks payment to record", it.ID).WithField("reconciliationItemId")
	}
	qp.raw = json.RawMessage(it.Snapshot)
	if qp.total, err = parseMoney(qp.TotalAmt); err != nil || !qp.total.IsPositive() {
		return nil, nil, apperr.New(apperr.Validation, "the QuickBooks payment of item %s has no amount to record", it.ID).WithField("reconciliationItemId")
	}
	row, err := c.QBOConnection.Get(ctx, it.ConnectionID)
	if err != nil {
		return nil, nil, err
	}
	cus, err := matchCustomerOf(ctx, c, it.EntityID, apps)
	if err != nil {
		return nil, nil, err
	}
	le, err := c.LegalEntity.Get(ctx, it.EntityID)
	if err != nil {
		return nil, nil, err
	}
	cur := le.BaseCurrency
	if it.Currency != "" {
		cur = it.Currency
	}
	// The QuickBooks payment may already stand in Books (recorded by a pass, then raised
	// because it changed in a way Books does not follow): the person's match replaces it,
	// as a pass replaces a payment whose amount changed, under a reference of its own.
	ref := ExternalRef(row.RealmID, qp.ID)
	prevLink, err := c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.QboType("Payment"), qbolink.QboID(qp.ID),
		qbolink.RecordTypeEQ(qbolink.RecordTypePayment)).First(ctx)
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return nil, nil, err
	default:
		prev, err := c.Payment.Get(ctx, prevLink.RecordID)
		if err != nil {
			return nil, nil, err
		}
		if prev.Processor != payment.ProcessorQbo {
			return nil, nil, apperr.New(apperr.Conflict, "QuickBooks payment %s is Books' own payment %s", qp.ID, prev.ID).WithField("reconciliationItemId")
		}
		if prev.VoidedAt == nil {
			if _, err := billing.VoidPayment(ctx, c, prev.ID, "replaced by a person's match of reconciliation item "+it.ID); err != nil {
				return nil, nil, err
			}
		}
	}
	taken, err := c.Payment.Query().Where(payment.EntityID(it.EntityID), payment.ProcessorEQ(payment.ProcessorQbo),
		payment.ExternalRef(ref)).Exist(ctx)
	if err != nil {
		return nil, nil, err
	}
	if taken {
		ref += "#" + it.ID
	}
	paid, err := p.record(ctx, c, row, &qp, verdict{customerID: cus, currency: cur, apps: apps}, ref)
	if err != nil {
		return nil, nil, err
	}
	if note == "" {
		note = fmt.Sprintf("matched to %d invoice(s)", len(apps))
	}
	it, err = p.Queue.Settle(ctx, c, it.ID, reconciliationitem.StatusMatched, paid.ID, note)
	if err != nil {
		return nil, nil, err
	}
	return it, paid, nil
}

// sameApplications reports whether a payment's standing applications are apps.
func sameApplications(ctx context.Context, c *ent.Client, paid *ent.Payment, apps []billing.Application) (bool, error) {
	have, err := c.PaymentApplication.Query().Where(paymentapplication.PaymentID(paid.ID), paymentapplication.UnappliedAtIsNil()).All(ctx)
	if err != nil {
		return false, err
	}
	key := func(inv, amt string) string { return inv + "=" + amt }
	var a, b []string
	for _, h := range have {
		a = append(a, key(h.InvoiceID, h.Amount.String()))
	}
	for _, w := range apps {
		b = append(b, key(w.InvoiceID, w.Amount.String()))
	}
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b), nil
}
