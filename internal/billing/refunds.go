package billing

import (
	"context"
	"strings"

	"books/ent"
	"books/ent/refund"
	"books/internal/apperr"
	"books/internal/audit"
	"books/internal/caldate"
	"books/internal/ids"
	"books/internal/ledger"
	"books/internal/money"
)

// A refund through a processor (Stripe) is asked first and posted when the processor confirms
// it: RequestRefund records it pending, holding its amount against the payment so that two
// refunds asked at once cannot return more than the payment; ConfirmRefund posts it (the
// same entries as RefundPayment) and FailRefund lets the amount go.

// pendingRefunds is what refunds of a payment still pending hold, except the one named skip.
func pendingRefunds(ctx context.Context, c *ent.Client, paymentID, skip string) (money.Amount, error) {
	q := c.Refund.Query().Where(refund.PaymentID(paymentID), refund.StatusEQ(refund.StatusPending))
	if skip != "" {
		q = q.Where(refund.IDNEQ(skip))
	}
	rows, err := q.All(ctx)
	if err != nil {
		return money.Amount{}, err
	}
	var sum money.Amount
	for _, r := range rows {
		sum = sum.Add(r.Amount)
	}
	return sum, nil
}

// RequestRefund records a refund of a payment that a processor has yet to make: pending,
// nothing posted. It is refused (OVER_REFUND) when the amount is more than the payment has
// left after its refunds, charge reversals and other pending refunds.
func RequestRefund(ctx context.Context, client *ent.Client, in CashReturnInput) (*ent.Refund, error) {
	var out *ent.Refund
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		if in.PaymentID == "" {
			return apperr.New(apperr.Validation, "payment is required").WithField("paymentID")
		}
		p, err := lockPayment(ctx, c, in.PaymentID)
		if err != nil {
			return err
		}
		if err := refuseVoided(p); err != nil {
			return err
		}
		if err := checkMoney(in.Amount, money.Currency(p.Currency), "amount"); err != nil {
			return err
		}
		if len(in.Reason) > 1000 {
			return apperr.New(apperr.Validation, "reason is longer than 1000 characters").WithField("reason")
		}
		pending, err := pendingRefunds(ctx, c, p.ID, "")
		if err != nil {
			return err
		}
		left := p.Amount.Sub(p.Refunded).Sub(p.Reversed).Sub(pending)
		if in.Amount.Cmp(left) > 0 {
			return apperr.New(apperr.OverRefund, "payment %s has %s left to refund; a refund of %s is too much", p.ID, left, in.Amount).WithField("amount")
		}
		le, err := entityOf(ctx, c, p.EntityID)
		if err != nil {
			return err
		}
		date := in.Date
		if date.IsZero() {
			date = laterOf(today(le), p.ReceivedDate)
		}
		if date.Before(p.ReceivedDate) {
			return apperr.New(apperr.Validation, "a refund cannot be dated %s, before the payment was received on %s", date, p.ReceivedDate).WithField("date")
		}
		actor, _ := audit.Who(ctx)
		out, err = c.Refund.Create().SetID(ids.New(ids.Refund)).SetEntityID(p.EntityID).SetPaymentID(p.ID).
			SetAmount(in.Amount).SetDate(date).SetReason(in.Reason).SetCreatedBy(actor).
			SetStatus(refund.StatusPending).Save(ctx)
		return err
	})
	return finishRefund(out, owned, err)
}

// SetRefundRef stores the processor's id of a pending refund, as soon as the processor
// answered, so its confirming event finds it.
func SetRefundRef(ctx context.Context, client *ent.Client, refundID, externalRef string) error {
	if externalRef == "" || len(externalRef) > 200 {
		return apperr.New(apperr.Validation, "a processor reference of 1 to 200 characters is required").WithField("externalRef")
	}
	return inputError(client.Refund.Update().
		Where(refund.ID(refundID), refund.Or(refund.ExternalRefIsNil(), refund.ExternalRef(externalRef))).
		SetExternalRef(externalRef).Exec(ctx))
}

// ConfirmRefund posts a pending refund the processor confirmed (externalRef is its id of the
// refund), as RefundPayment posts: DR Customer Credits, CR Undeposited Funds, after taking
// back from invoices what the unapplied credit does not cover. A refund already confirmed is
// returned as it is.
func ConfirmRefund(ctx context.Context, client *ent.Client, refundID, externalRef string, date caldate.Date) (*ent.Refund, error) {
	var out *ent.Refund
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		rf, err := lockRefund(ctx, c, refundID)
		if err != nil {
			return err
		}
		if rf.Status == refund.StatusSucceeded {
			out = rf
			return nil
		}
		if date.IsZero() || date.Before(rf.Date) {
			date = rf.Date
		}
		r, err := returnCashAs(ctx, c, CashReturnInput{PaymentID: rf.PaymentID, Amount: rf.Amount, Date: date,
			Reason: rf.Reason, ExternalRef: externalRef, Made: true}, false, rf.ID)
		if err != nil {
			return err
		}
		u := c.Refund.UpdateOne(rf).SetStatus(refund.StatusSucceeded).SetJournalEntryID(r.entryID).ClearFailureMessage()
		if externalRef != "" {
			u.SetExternalRef(externalRef)
		}
		out, err = u.Save(ctx)
		return err
	})
	return finishRefund(out, owned, err)
}

// FailRefund marks a pending refund failed (the processor refused it): nothing was posted and
// its amount is free again.
func FailRefund(ctx context.Context, client *ent.Client, refundID, message string) (*ent.Refund, error) {
	var out *ent.Refund
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		rf, err := lockRefund(ctx, c, refundID)
		if err != nil {
			return err
		}
		if rf.Status != refund.StatusPending {
			out = rf
			return nil
		}
		out, err = c.Refund.UpdateOne(rf).SetStatus(refund.StatusFailed).
			SetFailureMessage(truncateText(strings.TrimSpace(message), 1000)).Save(ctx)
		return err
	})
	return finishRefund(out, owned, err)
}

func lockRefund(ctx context.Context, c *ent.Client, id string) (*ent.Refund, error) {
	q := c.Refund.Query().Where(refund.ID(id))
	if c.Dialect() == "postgres" {
		q = q.ForUpdate()
	}
	rf, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "refund %q not found", id)
	}
	return rf, err
}

func finishRefund(r *ent.Refund, owned bool, err error) (*ent.Refund, error) {
	if err != nil {
		return nil, inputError(err)
	}
	if owned {
		r = r.Unwrap()
	}
	return r, nil
}

// truncateText cuts s to at most n bytes on a rune boundary.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
