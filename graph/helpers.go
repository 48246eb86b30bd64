package graph

import (
	"context"

	"entgo.io/contrib/entgql"

	"books/ent"
	"books/ent/account"
	"books/ent/accountingperiod"
	"books/ent/adminissue"
	"books/ent/auditevent"
	"books/ent/chargereversal"
	"books/ent/class"
	"books/ent/coamapping"
	"books/ent/creditapplication"
	"books/ent/creditmemo"
	"books/ent/customer"
	"books/ent/integrationkey"
	"books/ent/invoice"
	"books/ent/invoiceevent"
	"books/ent/invoiceline"
	"books/ent/item"
	"books/ent/journalentry"
	"books/ent/journalline"
	"books/ent/ledgerverification"
	"books/ent/legalentity"
	"books/ent/organization"
	"books/ent/payment"
	"books/ent/paymentapplication"
	"books/ent/reconciliationitem"
	"books/ent/refund"
	"books/ent/vendor"
	"books/ent/writeoff"
	"books/graph/model"
	"books/internal/apperr"
	"books/internal/audit"
	"books/internal/auth"
	"books/internal/billing"
	"books/internal/ids"
	"books/internal/ledger"
	"books/internal/money"
)

// ent returns the client of the request: the mutation's transaction when there is one. The
// root client must not be used inside a transaction: on SQLite's single connection it would
// deadlock.
func (r *Resolver) ent(ctx context.Context) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return r.Client
}

// tables maps id prefixes to the tables Relay's node resolver reads: every type that
// implements Node (the invoice sequence does not).
var tables = map[string]string{
	ids.Organization:   organization.Table,
	ids.LegalEntity:    legalentity.Table,
	ids.Account:        account.Table,
	ids.Class:          class.Table,
	ids.COAMapping:     coamapping.Table,
	ids.Period:         accountingperiod.Table,
	ids.JournalEntry:   journalentry.Table,
	ids.JournalLine:    journalline.Table,
	ids.IntegrationKey: integrationkey.Table,
	ids.AuditEvent:     auditevent.Table,

	ids.Customer:           customer.Table,
	ids.Vendor:             vendor.Table,
	ids.Item:               item.Table,
	ids.Invoice:            invoice.Table,
	ids.InvoiceLine:        invoiceline.Table,
	ids.InvoiceEvent:       invoiceevent.Table,
	ids.Payment:            payment.Table,
	ids.PaymentApplication: paymentapplication.Table,
	ids.CreditMemo:         creditmemo.Table,
	ids.CreditApplication:  creditapplication.Table,
	ids.Refund:             refund.Table,
	ids.ChargeReversal:     chargereversal.Table,
	ids.WriteOff:           writeoff.Table,
	ids.AdminIssue:         adminissue.Table,
	ids.ReconciliationItem: reconciliationitem.Table,
	ids.LedgerVerification: ledgerverification.Table,
}

func nodeType(_ context.Context, id string) (string, error) {
	if t, ok := tables[ids.Prefix(id)]; ok {
		return t, nil
	}
	return "", apperr.New(apperr.NotFound, "no object has id %q", id)
}

func actor(ctx context.Context) string {
	if p := auth.FromContext(ctx); p != nil {
		return p.Subject
	}
	return "system"
}

// periodID resolves a period named by id or by entity and YYYY-MM name.
func (r *Resolver) periodID(ctx context.Context, in model.PeriodInput) (string, error) {
	switch {
	case deref(in.PeriodID) != "":
		return *in.PeriodID, nil
	case in.EntityID != nil && in.Name != nil:
		p, err := ledger.FindPeriod(ctx, r.ent(ctx), *in.EntityID, *in.Name)
		if err != nil {
			return "", err
		}
		return p.ID, nil
	}
	return "", apperr.New(apperr.Validation, "name the period by periodId, or by entityId and name (YYYY-MM)")
}

func balanceRow(b ledger.Balance) *model.TrialBalanceRow {
	return &model.TrialBalanceRow{Account: b.Account, Debit: b.Debit, Credit: b.Credit, Balance: b.Net()}
}

func lineInputs(in []*model.JournalLineInput) []ledger.Line {
	out := make([]ledger.Line, len(in))
	for i, l := range in {
		out[i] = ledger.Line{
			AccountID:   deref(l.AccountID),
			AccountCode: deref(l.AccountCode),
			ClassID:     deref(l.ClassID),
			Description: deref(l.Description),
			CustomerID:  deref(l.CustomerID),
			VendorID:    deref(l.VendorID),
		}
		if l.Debit != nil {
			out[i].Debit = *l.Debit
		}
		if l.Credit != nil {
			out[i].Credit = *l.Credit
		}
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func invoiceInput(in *model.InvoiceFields) (billing.InvoiceInput, error) {
	if in == nil {
		return billing.InvoiceInput{}, apperr.New(apperr.Validation, "invoice is required").WithField("invoice")
	}
	out := billing.InvoiceInput{
		EntityID:    in.EntityID,
		CustomerID:  in.CustomerID,
		IssueDate:   in.IssueDate,
		DueDate:     in.DueDate,
		ServiceFrom: in.ServiceFrom,
		ServiceTo:   in.ServiceTo,
		Currency:    money.Currency(deref(in.Currency)),
		Memo:        deref(in.Memo),
	}
	if len(in.CustomFields) > 0 {
		out.CustomFields = make(map[string]string, len(in.CustomFields))
		for k, v := range in.CustomFields {
			str, ok := v.(string)
			if !ok {
				return out, apperr.New(apperr.Validation, "custom field %q must be a string", k).WithField("customFields")
			}
			out.CustomFields[k] = str
		}
	}
	for _, l := range in.Lines {
		out.Lines = append(out.Lines, billing.LineInput{
			ItemID:      l.ItemID,
			Description: l.Description,
			Quantity:    l.Quantity,
			UnitPrice:   l.UnitPrice,
			ClassID:     deref(l.ClassID),
			ServiceDate: l.ServiceDate,
			Scheduled:   deref(l.Scheduled),
		})
	}
	return out, nil
}

func toApplications(in []*model.ApplicationInput) []billing.Application {
	out := make([]billing.Application, len(in))
	for i, a := range in {
		out[i] = billing.Application{InvoiceID: a.InvoiceID, Amount: a.Amount}
	}
	return out
}

func cashReturn(in model.CashReturnInput) billing.CashReturnInput {
	return billing.CashReturnInput{
		PaymentID:   in.PaymentID,
		Amount:      in.Amount,
		Date:        deref(in.Date),
		Reason:      deref(in.Reason),
		ExternalRef: deref(in.ExternalRef),
	}
}

// maxNodes bounds the ids of one nodes query, as a page size bounds a connection.
const maxNodes = 100

// maxBulk bounds a bulk mutation: the admin screens act on up to 30 invoices at once.
const maxBulk = 30

// bulk runs op on each invoice in its own transaction, so one failure neither stops nor
// undoes the others; each item reports its own outcome and is audited on its own.
func (r *Resolver) bulk(ctx context.Context, action string, ids []string,
	op func(context.Context, *ent.Client, string) (*ent.Invoice, error)) (*model.BulkInvoicesPayload, error) {
	if len(ids) > maxBulk {
		return nil, apperr.New(apperr.Validation, "a bulk mutation takes at most %d ids, got %d", maxBulk, len(ids))
	}
	out := make([]*model.BulkInvoiceResult, len(ids))
	for i, id := range ids {
		var inv *ent.Invoice
		owned, err := ledger.InTx(ctx, r.Client, func(c *ent.Client) error {
			var err error
			if inv, err = op(ctx, c, id); err != nil {
				return err
			}
			return audit.Record(ctx, c, action, id, "bulk")
		})
		res := &model.BulkInvoiceResult{InvoiceID: id, Ok: err == nil}
		if err != nil {
			code, msg := apperr.Internal, "internal error"
			if e, ok := apperr.As(err); ok {
				code, msg = e.Code, e.Message
			}
			res.Error = &model.BulkError{Code: code, Message: msg}
		} else {
			if owned {
				inv = inv.Unwrap()
			}
			res.Invoice = inv
		}
		out[i] = res
	}
	return &model.BulkInvoicesPayload{Results: out}, nil
}

func adminIssuePayload(iss *ent.AdminIssue, err error) (*model.AdminIssuePayload, error) {
	if err != nil {
		return nil, err
	}
	return &model.AdminIssuePayload{AdminIssue: iss}, nil
}

// viewer describes the caller of ctx for the me query.
func (r *Resolver) viewer(ctx context.Context) (*model.Viewer, error) {
	p := auth.FromContext(ctx)
	if p == nil {
		return nil, apperr.New(apperr.Unauthenticated, "authentication required")
	}
	org, err := r.ent(ctx).Organization.Get(ctx, p.Org)
	if err != nil {
		return nil, err
	}
	v := &model.Viewer{Kind: p.Kind, Subject: p.Subject, Roles: p.Roles, Organization: org}
	if p.Name != "" {
		v.Name = &p.Name
	}
	if p.Email != "" {
		v.Email = &p.Email
	}
	if v.Roles == nil {
		v.Roles = []auth.Role{}
	}
	if p.Customer != "" {
		if v.Customer, err = r.ent(ctx).Customer.Get(ctx, p.Customer); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// amountCursors repairs the cursors of a connection ordered by a money field. A cursor
// carries its order value through msgpack, which encodes a money.Amount by its text
// ("150.00") and decodes it as bytes; compared with the column's integer units it would
// match nothing, so the next page came back empty. Parsed back, the amount binds as units.
func amountCursors(cursors ...*entgql.Cursor[string]) error {
	for _, c := range cursors {
		if c == nil {
			continue
		}
		var s string
		switch v := c.Value.(type) {
		case []byte:
			s = string(v)
		case string:
			s = v
		default:
			continue
		}
		a, err := money.Parse(s)
		if err != nil {
			return apperr.New(apperr.Validation, "invalid cursor")
		}
		c.Value = a
	}
	return nil
}
