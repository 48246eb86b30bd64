package push

import (
	"context"
	"slices"

	"books/ent"
	"books/ent/creditapplication"
	"books/ent/invoice"
	"books/ent/invoiceline"
	"books/ent/journalentry"
	"books/ent/journalline"
	"books/ent/paymentapplication"
	"books/ent/qbolink"
	"books/internal/apperr"
	"books/internal/caldate"
)

// plan is what pushing one record takes: its own links (wants), links that must exist
// first (deps, created only when missing), and records that ride along after it (after:
// the payments and credit memos of an invoice pushed for the first time).
type plan struct {
	wants []want
	deps  []want
	after []want
}

func dep(t qbolink.RecordType, id string) want {
	return want{recordType: t, recordID: id, op: qbolink.OperationUpsert}
}

func notPushable(format string, args ...any) error {
	return apperr.New(apperr.QBONotPushable, format, args...)
}

func sameEntity(row *ent.QBOConnection, entityID, what, id string) error {
	if entityID != row.EntityID {
		return apperr.New(apperr.Validation, "%s %s belongs to another legal entity than the QuickBooks connection", what, id)
	}
	return nil
}

func (e *Engine) plan(ctx context.Context, c *ent.Client, row *ent.QBOConnection, t qbolink.RecordType, id string) (plan, error) {
	var p plan
	self := want{recordType: t, recordID: id, op: qbolink.OperationUpsert}
	switch t {
	case qbolink.RecordTypeCustomer:
		if _, err := c.Customer.Get(ctx, id); err != nil {
			return p, notFound(err, "customer", id)
		}
	case qbolink.RecordTypeVendor:
		if _, err := c.Vendor.Get(ctx, id); err != nil {
			return p, notFound(err, "vendor", id)
		}
	case qbolink.RecordTypeItem:
		it, err := c.Item.Get(ctx, id)
		if err != nil {
			return p, notFound(err, "item", id)
		}
		if err := sameEntity(row, it.EntityID, "item", id); err != nil {
			return p, err
		}
	case qbolink.RecordTypeClass:
		cl, err := c.Class.Get(ctx, id)
		if err != nil {
			return p, notFound(err, "class", id)
		}
		if err := sameEntity(row, cl.EntityID, "class", id); err != nil {
			return p, err
		}
		if cl.ParentID != nil {
			p.deps = append(p.deps, dep(qbolink.RecordTypeClass, *cl.ParentID))
		}
	case qbolink.RecordTypeInvoice:
		return e.planInvoice(ctx, c, row, id)
	case qbolink.RecordTypePayment:
		pay, err := c.Payment.Get(ctx, id)
		if err != nil {
			return p, notFound(err, "payment", id)
		}
		if err := sameEntity(row, pay.EntityID, "payment", id); err != nil {
			return p, err
		}
		p.deps = append(p.deps, dep(qbolink.RecordTypeCustomer, pay.CustomerID))
		invs, err := c.PaymentApplication.Query().Where(paymentapplication.PaymentID(id)).
			Select(paymentapplication.FieldInvoiceID).Strings(ctx)
		if err != nil {
			return p, err
		}
		for _, inv := range invs {
			parts, err := e.invoiceParts(ctx, c, row, inv)
			if err != nil {
				return p, err
			}
			for _, part := range parts {
				p.deps = append(p.deps, want{recordType: qbolink.RecordTypeInvoice, recordID: inv, part: part, op: qbolink.OperationUpsert})
			}
		}
	case qbolink.RecordTypeCreditMemo:
		cm, err := c.CreditMemo.Get(ctx, id)
		if err != nil {
			return p, notFound(err, "credit memo", id)
		}
		if err := sameEntity(row, cm.EntityID, "credit memo", id); err != nil {
			return p, err
		}
		p.deps = append(p.deps, dep(qbolink.RecordTypeCustomer, cm.CustomerID))
		apps, err := c.CreditApplication.Query().Where(creditapplication.CreditMemoID(id)).All(ctx)
		if err != nil {
			return p, err
		}
		p.wants = append(p.wants, self)
		if len(apps) > 0 {
			for _, a := range apps {
				parts, err := e.invoiceParts(ctx, c, row, a.InvoiceID)
				if err != nil {
					return p, err
				}
				for _, part := range parts {
					p.deps = append(p.deps, want{recordType: qbolink.RecordTypeInvoice, recordID: a.InvoiceID, part: part, op: qbolink.OperationUpsert})
				}
			}
			p.wants = append(p.wants, want{recordType: t, recordID: id, part: creditApplicationPart, op: qbolink.OperationUpsert})
		}
		return p, nil
	case qbolink.RecordTypeRefund:
		r, err := c.Refund.Get(ctx, id)
		if err != nil {
			return p, notFound(err, "refund", id)
		}
		if err := sameEntity(row, r.EntityID, "refund", id); err != nil {
			return p, err
		}
		pay, err := c.Payment.Get(ctx, r.PaymentID)
		if err != nil {
			return p, err
		}
		p.deps = append(p.deps, dep(qbolink.RecordTypeCustomer, pay.CustomerID), dep(qbolink.RecordTypePayment, r.PaymentID))
		p.wants = append(p.wants, self, want{recordType: t, recordID: id, part: refundReclassPart, op: qbolink.OperationUpsert})
		return p, nil
	case qbolink.RecordTypeChargeReversal, qbolink.RecordTypeWriteOff, qbolink.RecordTypeJournalEntry:
		entryID, entityID, err := entryOf(ctx, c, t, id)
		if err != nil {
			return p, err
		}
		if err := sameEntity(row, entityID, string(t), id); err != nil {
			return p, err
		}
		je, err := c.JournalEntry.Get(ctx, entryID)
		if err != nil {
			return p, err
		}
		if t == qbolink.RecordTypeJournalEntry && je.DocumentType != nil {
			return p, notPushable("journal entry %s belongs to a Books %s; it reaches QuickBooks as that document", id, *je.DocumentType)
		}
		if je.Status == journalentry.StatusDraft {
			return p, notPushable("journal entry %s is not posted", id)
		}
		lines, err := c.JournalLine.Query().Where(journalline.EntryID(entryID)).All(ctx)
		if err != nil {
			return p, err
		}
		for _, l := range lines {
			if l.CustomerID != nil {
				p.deps = append(p.deps, dep(qbolink.RecordTypeCustomer, *l.CustomerID))
			}
			if l.VendorID != nil {
				p.deps = append(p.deps, dep(qbolink.RecordTypeVendor, *l.VendorID))
			}
			if l.ClassID != nil {
				p.deps = append(p.deps, dep(qbolink.RecordTypeClass, *l.ClassID))
			}
		}
	}
	p.wants = append(p.wants, self)
	return p, nil
}

func (e *Engine) planInvoice(ctx context.Context, c *ent.Client, row *ent.QBOConnection, id string) (plan, error) {
	var p plan
	inv, err := c.Invoice.Get(ctx, id)
	if err != nil {
		return p, notFound(err, "invoice", id)
	}
	if err := sameEntity(row, inv.EntityID, "invoice", id); err != nil {
		return p, err
	}
	op := qbolink.OperationUpsert
	switch inv.Status {
	case invoice.StatusDraft, invoice.StatusSubmitted:
		return p, notPushable("invoice %s is %s; only approved invoices are pushed to QuickBooks", id, inv.Status)
	case invoice.StatusVoid:
		op = qbolink.OperationVoid
	}
	parts, err := e.invoiceParts(ctx, c, row, id)
	if err != nil {
		return p, err
	}
	if op == qbolink.OperationVoid {
		// Only what reached (or may have reached) QuickBooks is voided there.
		links, err := c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.RecordTypeEQ(qbolink.RecordTypeInvoice),
			qbolink.RecordID(id)).All(ctx)
		if err != nil {
			return p, err
		}
		if len(links) == 0 {
			return p, notPushable("invoice %s is void and was never pushed to QuickBooks", id)
		}
		for _, l := range links {
			p.wants = append(p.wants, want{recordType: qbolink.RecordTypeInvoice, recordID: id, part: l.Part, op: op})
		}
		return p, nil
	}
	p.deps = append(p.deps, dep(qbolink.RecordTypeCustomer, inv.CustomerID))
	lines, err := c.InvoiceLine.Query().Where(invoiceline.InvoiceID(id)).All(ctx)
	if err != nil {
		return p, err
	}
	for _, l := range lines {
		p.deps = append(p.deps, dep(qbolink.RecordTypeItem, l.ItemID))
		if l.ClassID != nil {
			p.deps = append(p.deps, dep(qbolink.RecordTypeClass, *l.ClassID))
		}
	}
	for _, part := range parts {
		p.wants = append(p.wants, want{recordType: qbolink.RecordTypeInvoice, recordID: id, part: part, op: op})
	}
	pays, err := c.PaymentApplication.Query().Where(paymentapplication.InvoiceID(id)).
		Select(paymentapplication.FieldPaymentID).Strings(ctx)
	if err != nil {
		return p, err
	}
	for _, pay := range pays {
		p.after = append(p.after, dep(qbolink.RecordTypePayment, pay))
	}
	cms, err := c.CreditApplication.Query().Where(creditapplication.InvoiceID(id)).
		Select(creditapplication.FieldCreditMemoID).Strings(ctx)
	if err != nil {
		return p, err
	}
	for _, cm := range cms {
		p.after = append(p.after, dep(qbolink.RecordTypeCreditMemo, cm))
	}
	return p, nil
}

// invoiceParts returns the parts an invoice is pushed as: the parts it was linked as before
// (a push never re-splits a pushed invoice), else one per calendar month of its lines'
// service dates when the connection splits invoices by month (YYYYMM; a line without a
// service date counts in the invoice date's month), else the whole invoice (part 0).
func (e *Engine) invoiceParts(ctx context.Context, c *ent.Client, row *ent.QBOConnection, id string) ([]int, error) {
	existing, err := c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.RecordTypeEQ(qbolink.RecordTypeInvoice),
		qbolink.RecordID(id)).Order(ent.Asc(qbolink.FieldPart)).Select(qbolink.FieldPart).Ints(ctx)
	if err != nil || len(existing) > 0 {
		return existing, err
	}
	if !row.Settings.SplitInvoiceByMonth {
		return []int{0}, nil
	}
	inv, err := c.Invoice.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	lines, err := c.InvoiceLine.Query().Where(invoiceline.InvoiceID(id)).All(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	var parts []int
	for _, l := range lines {
		m := monthKey(lineDate(l, inv))
		if !seen[m] {
			seen[m] = true
			parts = append(parts, m)
		}
	}
	if len(parts) <= 1 {
		return []int{0}, nil
	}
	slices.Sort(parts)
	return parts, nil
}

func lineDate(l *ent.InvoiceLine, inv *ent.Invoice) caldate.Date {
	if l.ServiceDate != nil {
		return *l.ServiceDate
	}
	return inv.IssueDate
}

func monthKey(d caldate.Date) int { return d.Year()*100 + int(d.Month()) }

func notFound(err error, what, id string) error {
	if ent.IsNotFound(err) {
		return apperr.New(apperr.NotFound, "%s %q not found", what, id)
	}
	return err
}

// entityOf returns the legal entity of a transaction record.
func entityOf(ctx context.Context, c *ent.Client, t qbolink.RecordType, id string) (string, error) {
	switch t {
	case qbolink.RecordTypeInvoice:
		v, err := c.Invoice.Get(ctx, id)
		if err != nil {
			return "", notFound(err, "invoice", id)
		}
		return v.EntityID, nil
	case qbolink.RecordTypePayment:
		v, err := c.Payment.Get(ctx, id)
		if err != nil {
			return "", notFound(err, "payment", id)
		}
		return v.EntityID, nil
	case qbolink.RecordTypeCreditMemo:
		v, err := c.CreditMemo.Get(ctx, id)
		if err != nil {
			return "", notFound(err, "credit memo", id)
		}
		return v.EntityID, nil
	case qbolink.RecordTypeRefund:
		v, err := c.Refund.Get(ctx, id)
		if err != nil {
			return "", notFound(err, "refund", id)
		}
		return v.EntityID, nil
	}
	_, entityID, err := entryOf(ctx, c, t, id)
	return entityID, err
}

// entryOf returns the Books journal entry a charge reversal, write-off or journal entry is
// pushed from, and its entity.
func entryOf(ctx context.Context, c *ent.Client, t qbolink.RecordType, id string) (entryID, entityID string, err error) {
	switch t {
	case qbolink.RecordTypeChargeReversal:
		v, err := c.ChargeReversal.Get(ctx, id)
		if err != nil {
			return "", "", notFound(err, "charge reversal", id)
		}
		return v.JournalEntryID, v.EntityID, nil
	case qbolink.RecordTypeWriteOff:
		v, err := c.WriteOff.Get(ctx, id)
		if err != nil {
			return "", "", notFound(err, "write-off", id)
		}
		return v.JournalEntryID, v.EntityID, nil
	case qbolink.RecordTypeJournalEntry:
		v, err := c.JournalEntry.Get(ctx, id)
		if err != nil {
			return "", "", notFound(err, "journal entry", id)
		}
		return v.ID, v.EntityID, nil
	}
	return "", "", apperr.New(apperr.Validation, "%s records are not pushed to QuickBooks", t)
}
