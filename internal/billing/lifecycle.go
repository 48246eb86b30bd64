package billing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"books/ent"
	"books/ent/invoice"
	"books/ent/invoiceline"
	"books/ent/invoicesequence"
	"books/internal/apperr"
	"books/internal/audit"
	"books/internal/caldate"
	"books/internal/ids"
	"books/internal/ledger"
	"books/internal/money"
)

// transition moves an invoice from one of allowed statuses to `to`, applying set, and records
// the change. Any other current status is an INVALID_TRANSITION and nothing changes.
func transition(ctx context.Context, client *ent.Client, id string, to invoice.Status, allowed []invoice.Status, note string,
	set func(c *ent.Client, inv *ent.Invoice, u *ent.InvoiceUpdateOne) error) (*ent.Invoice, error) {
	var out *ent.Invoice
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		inv, err := lockInvoice(ctx, c, id)
		if err != nil {
			return err
		}
		ok := false
		for _, s := range allowed {
			ok = ok || inv.Status == s
		}
		if !ok {
			return apperr.New(apperr.InvalidTransition, "invoice %s is %s; it cannot become %s", invoiceLabel(inv), inv.Status, to)
		}
		u := c.Invoice.UpdateOne(inv).SetStatus(to)
		if set != nil {
			if err := set(c, inv, u); err != nil {
				return err
			}
		}
		if out, err = u.Save(ctx); err != nil {
			return err
		}
		return recordEvent(ctx, c, id, inv.Status, to, note)
	})
	return finish(out, owned, err)
}

// SubmitInvoice puts a draft up for approval.
func SubmitInvoice(ctx context.Context, c *ent.Client, id string) (*ent.Invoice, error) {
	actor, _ := audit.Who(ctx)
	return transition(ctx, c, id, invoice.StatusSubmitted, []invoice.Status{invoice.StatusDraft}, "submitted for approval",
		func(_ *ent.Client, _ *ent.Invoice, u *ent.InvoiceUpdateOne) error {
			u.SetSubmittedBy(actor).SetSubmittedAt(time.Now().UTC())
			return nil
		})
}

// RejectInvoice sends a submitted invoice back to draft with the reason.
func RejectInvoice(ctx context.Context, c *ent.Client, id, reason string) (*ent.Invoice, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, apperr.New(apperr.Validation, "a rejection needs a reason").WithField("reason")
	}
	return transition(ctx, c, id, invoice.StatusDraft, []invoice.Status{invoice.StatusSubmitted}, "rejected: "+reason,
		func(_ *ent.Client, _ *ent.Invoice, u *ent.InvoiceUpdateOne) error {
			u.SetRejectionReason(reason).ClearSubmittedAt().SetSubmittedBy("")
			return nil
		})
}

// ApproveInvoice approves a submitted invoice: it takes the entity's next number and posts
// DR AR, CR revenue (or deferred revenue for scheduled lines) in the same transaction. The
// approver must not be the submitter.
func ApproveInvoice(ctx context.Context, c *ent.Client, id string) (*ent.Invoice, error) {
	actor, _ := audit.Who(ctx)
	return transition(ctx, c, id, invoice.StatusApproved, []invoice.Status{invoice.StatusSubmitted}, "approved",
		func(c *ent.Client, inv *ent.Invoice, u *ent.InvoiceUpdateOne) error {
			if inv.SubmittedBy == actor {
				return apperr.New(apperr.SelfApproval, "invoice %s was submitted by you; another person must approve it", inv.ID)
			}
			number, seq, err := nextNumber(ctx, c, inv.EntityID)
			if err != nil {
				return err
			}
			inv.Number = &number
			je, err := postInvoice(ctx, c, inv)
			if err != nil {
				return err
			}
			u.SetNumber(number).SetSequence(seq).SetApprovedBy(actor).SetApprovedAt(time.Now().UTC()).SetJournalEntryID(je.ID)
			return nil
		})
}

// postInvoice writes an approved invoice's entry: one AR debit for the total, one credit per
// line to its item's income account (or deferred revenue when the line is scheduled).
func postInvoice(ctx context.Context, c *ent.Client, inv *ent.Invoice) (*ent.JournalEntry, error) {
	lines, err := c.InvoiceLine.Query().Where(invoiceline.InvoiceID(inv.ID)).
		Order(invoiceline.ByLineNo()).WithItem().All(ctx)
	if err != nil {
		return nil, err
	}
	desc := fmt.Sprintf("Invoice %s", *inv.Number)
	jl := []ledger.Line{{SourceCode: codeAR, Debit: inv.Total, Description: desc, CustomerID: inv.CustomerID}}
	for _, l := range lines {
		line := ledger.Line{Credit: l.Amount, Description: l.Description}
		if l.Scheduled {
			line.SourceCode = codeDeferred
		} else {
			line.AccountID = l.Edges.Item.IncomeAccountID
		}
		if l.ClassID != nil {
			line.ClassID = *l.ClassID
		}
		jl = append(jl, line)
	}
	return post(ctx, c, inv.EntityID, inv.IssueDate, "invoice:"+inv.ID, invoiceDoc(inv.ID), desc, jl)
}

// nextNumber takes the entity's next invoice number. The sequence row stays locked until the
// approval commits or rolls back, so numbers are gap-free and never reused.
func nextNumber(ctx context.Context, c *ent.Client, entityID string) (string, int64, error) {
	if err := c.InvoiceSequence.Create().SetEntityID(entityID).
		OnConflictColumns(invoicesequence.FieldEntityID).Ignore().Exec(ctx); err != nil {
		return "", 0, err
	}
	if _, err := c.InvoiceSequence.Update().Where(invoicesequence.EntityID(entityID)).AddLastNumber(1).Save(ctx); err != nil {
		return "", 0, err
	}
	seq, err := c.InvoiceSequence.Query().Where(invoicesequence.EntityID(entityID)).Only(ctx)
	if err != nil {
		return "", 0, err
	}
	return fmt.Sprintf("%s%05d", seq.Prefix, seq.LastNumber), seq.LastNumber, nil
}

// SetInvoicePrefix sets the prefix of the entity's next invoice numbers.
func SetInvoicePrefix(ctx context.Context, c *ent.Client, entityID, prefix string) (string, error) {
	prefix = strings.TrimSpace(prefix)
	if len(prefix) > 20 || strings.ContainsAny(prefix, " \t\n") {
		return "", apperr.New(apperr.Validation, "an invoice prefix is at most 20 characters without spaces").WithField("prefix")
	}
	if _, err := entityOf(ctx, c, entityID); err != nil {
		return "", err
	}
	if err := c.InvoiceSequence.Create().SetEntityID(entityID).SetPrefix(prefix).
		OnConflictColumns(invoicesequence.FieldEntityID).UpdatePrefix().Exec(ctx); err != nil {
		return "", err
	}
	return prefix, nil
}

// SendInvoice marks an approved invoice sent.
func SendInvoice(ctx context.Context, c *ent.Client, id string) (*ent.Invoice, error) {
	return transition(ctx, c, id, invoice.StatusSent, []invoice.Status{invoice.StatusApproved}, "sent",
		func(_ *ent.Client, _ *ent.Invoice, u *ent.InvoiceUpdateOne) error {
			u.SetSentAt(time.Now().UTC())
			return nil
		})
}

// MarkInvoiceViewed records the first time the customer opened a sent invoice. Viewing it
// again, or viewing one already paid, changes nothing.
func MarkInvoiceViewed(ctx context.Context, client *ent.Client, id string) (*ent.Invoice, error) {
	inv, err := client.Invoice.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "invoice %q not found", id)
	}
	if err != nil {
		return nil, err
	}
	if inv.Status != invoice.StatusSent {
		// Viewed before, or not sent: there is no first view to record.
		return inv, nil
	}
	return transition(ctx, client, id, invoice.StatusViewed, []invoice.Status{invoice.StatusSent}, "viewed by the customer",
		func(_ *ent.Client, _ *ent.Invoice, u *ent.InvoiceUpdateOne) error {
			u.SetViewedAt(time.Now().UTC())
			return nil
		})
}

// VoidInvoice voids an approved invoice nothing has been paid or credited on: it posts the
// reversal of the approval entry and keeps the number. The reversal is dated by the ledger's
// correction-dating rule: today in the entity's time zone, never before the approval entry,
// and in the first open period (keeping that date as its document date) when today's is
// closed, so a void is never refused for a closed month. Payments and credits applied to the
// invoice must be unapplied first (unapplyPayment, unapplyCredit), which re-opens its whole
// balance.
func VoidInvoice(ctx context.Context, c *ent.Client, id, reason string) (*ent.Invoice, error) {
	return transition(ctx, c, id, invoice.StatusVoid,
		[]invoice.Status{invoice.StatusApproved, invoice.StatusSent, invoice.StatusViewed,
			invoice.StatusPartiallyPaid, invoice.StatusPaid}, "voided: "+reason,
		func(c *ent.Client, inv *ent.Invoice, u *ent.InvoiceUpdateOne) error {
			if inv.AmountPaid.IsPositive() || inv.WrittenOff.IsPositive() {
				return apperr.New(apperr.InvalidTransition,
					"invoice %s has %s of payments and credits applied; unapply them (unapplyPayment, unapplyCredit) before voiding",
					invoiceLabel(inv), inv.AmountPaid)
			}
			// No date: the ledger dates the reversal today in the entity's time zone, or on the
			// approval entry's date when the invoice is dated ahead; an explicit today would be
			// refused for such an invoice.
			actor, via := audit.Who(ctx)
			doc := invoiceDoc(inv.ID)
			rev, err := ledger.Reverse(ctx, c, ledger.Reversal{
				EntryID:     *inv.JournalEntryID,
				Description: fmt.Sprintf("Void of invoice %s", invoiceLabel(inv)),
				CreatedBy:   actor, CreatedVia: string(via), RequestID: audit.RequestID(ctx),
				Document: &doc,
			})
			if err != nil {
				return err
			}
			u.SetVoidedAt(time.Now().UTC()).SetVoidEntryID(rev.ID).SetBalance(money.Amount{})
			return nil
		})
}

// WriteOffInput describes a write-off.
type WriteOffInput struct {
	InvoiceID string
	Date      caldate.Date // defaults to today in the entity's time zone
	Reason    string
}

// WriteOffInvoice closes an invoice's open balance as bad debt: DR Bad Debt, CR AR.
func WriteOffInvoice(ctx context.Context, client *ent.Client, in WriteOffInput) (*ent.WriteOff, error) {
	var out *ent.WriteOff
	owned, err := ledger.InTx(ctx, client, func(c *ent.Client) error {
		inv, err := lockInvoice(ctx, c, in.InvoiceID)
		if err != nil {
			return err
		}
		if !openStatus(inv.Status) || !inv.Balance.IsPositive() {
			return apperr.New(apperr.InvalidTransition, "invoice %s is %s with balance %s; only an open balance can be written off", invoiceLabel(inv), inv.Status, inv.Balance)
		}
		if len(in.Reason) > 1000 {
			return apperr.New(apperr.Validation, "reason is longer than 1000 characters").WithField("reason")
		}
		date := in.Date
		if date.IsZero() {
			le, err := entityOf(ctx, c, inv.EntityID)
			if err != nil {
				return err
			}
			date = today(le)
		}
		if date.Before(inv.IssueDate) {
			return apperr.New(apperr.Validation, "a write-off cannot be dated before the invoice (%s)", inv.IssueDate).WithField("date")
		}
		desc := fmt.Sprintf("Write-off of invoice %s", invoiceLabel(inv))
		woID := ids.New(ids.WriteOff)
		je, err := post(ctx, c, inv.EntityID, date, "writeoff:"+woID, ledger.Document{Type: ledger.DocWriteOff, ID: woID}, desc, []ledger.Line{
			{SourceCode: codeBadDebt, Debit: inv.Balance, Description: desc},
			{SourceCode: codeAR, Credit: inv.Balance, Description: desc, CustomerID: inv.CustomerID},
		})
		if err != nil {
			return err
		}
		actor, _ := audit.Who(ctx)
		out, err = c.WriteOff.Create().SetID(woID).SetEntityID(inv.EntityID).SetInvoiceID(inv.ID).
			SetAmount(inv.Balance).SetDate(date).SetReason(in.Reason).SetJournalEntryID(je.ID).
			SetCreatedBy(actor).Save(ctx)
		if err != nil {
			return err
		}
		if _, err := c.Invoice.UpdateOne(inv).SetWrittenOff(inv.WrittenOff.Add(inv.Balance)).
			SetBalance(money.Amount{}).SetStatus(invoice.StatusWrittenOff).Save(ctx); err != nil {
			return err
		}
		return recordEvent(ctx, c, inv.ID, inv.Status, invoice.StatusWrittenOff, "written off: "+in.Reason)
	})
	if err != nil {
		return nil, inputError(err)
	}
	if owned {
		out = out.Unwrap()
	}
	return out, nil
}
