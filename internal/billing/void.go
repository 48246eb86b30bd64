package billing

import (
	"context"
	"fmt"
	"time"

	"books/ent"
	"books/ent/paymentapplication"
	"books/internal/apperr"
	"books/internal/ledger"
)

// VoidPayment undoes a payment that was voided or deleted where it was recorded (QuickBooks):
// each application that stands is taken back (DR AR, CR Customer Credits; its invoice
// re-opens), then the money the payment still holds in Customer Credits is taken out (DR
// Customer Credits, CR Undeposited Funds: an entry of the payment referenced
// "pvoid:<payment id>"). Posted history is not edited: every step is an entry of its own,
// dated today in the entity's time zone (never before the payment), in the first open period.
// The payment keeps its record, marked voided; voiding it again changes nothing. Money that
// paid an invoice since written off cannot be taken back (INVALID_TRANSITION): a person must
// decide.
func VoidPayment(ctx context.Context, client *ent.Client, paymentID, reason string) (*ent.Payment, error) {
	if len(reason) > 200 {
		return nil, apperr.New(apperr.Validation, "the reason is longer than 200 characters").WithField("reason")
	}
	var out *ent.Payment
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		p, err := lockPayment(ctx, c, paymentID)
		if err != nil {
			return err
		}
		if p.VoidedAt != nil {
			out = p
			return nil
		}
		le, err := entityOf(ctx, c, p.EntityID)
		if err != nil {
			return err
		}
		date := laterOf(today(le), p.ReceivedDate)
		apps, err := c.PaymentApplication.Query().
			Where(paymentapplication.PaymentID(p.ID), paymentapplication.UnappliedAtIsNil()).
			Order(ent.Asc(paymentapplication.FieldCreatedAt), ent.Asc(paymentapplication.FieldID)).All(ctx)
		if err != nil {
			return err
		}
		invs, err := lockInvoices(ctx, c, apps)
		if err != nil {
			return err
		}
		applied, unapplied := p.Applied, p.Unapplied
		for _, app := range apps {
			inv := invs[app.InvoiceID]
			if err := unapplyApplication(ctx, c, p, app, inv, date); err != nil {
				return err
			}
			upd, err := settle(ctx, c, inv, app.Amount.Neg(), fmt.Sprintf("payment %s voided (%s)", p.ID, app.Amount))
			if err != nil {
				return err
			}
			invs[inv.ID] = upd
			applied, unapplied = applied.Sub(app.Amount), unapplied.Add(app.Amount)
		}
		u := c.Payment.UpdateOne(p).SetApplied(applied).SetUnapplied(unapplied).SetVoidedAt(time.Now().UTC())
		if unapplied.IsPositive() {
			desc := fmt.Sprintf("Payment %s voided", p.ID)
			if reason != "" {
				desc += ": " + reason
			}
			je, err := post(ctx, c, p.EntityID, date, "pvoid:"+p.ID, ledger.Document{Type: ledger.DocPayment, ID: p.ID}, desc, []ledger.Line{
				{SourceCode: codeCustomerCredits, Debit: unapplied, Description: desc, CustomerID: p.CustomerID},
				{SourceCode: codeUndeposited, Credit: unapplied, Description: desc},
			})
			if err != nil {
				return err
			}
			u.SetVoidEntryID(je.ID).SetUnapplied(unapplied.Sub(unapplied))
		}
		out, err = u.Save(ctx)
		return err
	})
	return finishPayment(out, owned, err)
}

// refuseVoided is the error for acting on a voided payment.
func refuseVoided(p *ent.Payment) error {
	if p.VoidedAt == nil {
		return nil
	}
	return apperr.New(apperr.InvalidTransition, "payment %s was voided", p.ID)
}
