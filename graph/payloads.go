package graph

import (
	"context"

	"books/ent"
	"books/ent/invoice"
	"books/graph/model"
)

// The payloads of mutations carry the objects they changed (docs/api-conventions.md); these
// helpers load the invoices a payment or credit touched, in the order asked, once each.

func invoicePayload(inv *ent.Invoice, err error) (*model.InvoicePayload, error) {
	if err != nil {
		return nil, err
	}
	return &model.InvoicePayload{Invoice: inv}, nil
}

func (r *Resolver) paymentPayload(ctx context.Context, p *ent.Payment, err error, invoiceIDs []string) (*model.PaymentPayload, error) {
	if err != nil {
		return nil, err
	}
	invs, err := r.invoices(ctx, invoiceIDs)
	if err != nil {
		return nil, err
	}
	return &model.PaymentPayload{Payment: p, Invoices: invs}, nil
}

func (r *Resolver) creditMemoPayload(ctx context.Context, cm *ent.CreditMemo, err error, invoiceIDs []string) (*model.CreditMemoPayload, error) {
	if err != nil {
		return nil, err
	}
	invs, err := r.invoices(ctx, invoiceIDs)
	if err != nil {
		return nil, err
	}
	return &model.CreditMemoPayload{CreditMemo: cm, Invoices: invs}, nil
}

// invoices reads the invoices of ids, in that order, each once.
func (r *Resolver) invoices(ctx context.Context, ids []string) ([]*ent.Invoice, error) {
	out := []*ent.Invoice{}
	if len(ids) == 0 {
		return out, nil
	}
	found, err := r.ent(ctx).Invoice.Query().Where(invoice.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*ent.Invoice, len(found))
	for _, inv := range found {
		byID[inv.ID] = inv
	}
	for _, id := range ids {
		if inv, ok := byID[id]; ok {
			out = append(out, inv)
			delete(byID, id)
		}
	}
	return out, nil
}

func appInvoiceIDs(apps []*model.ApplicationInput) []string {
	out := make([]string, len(apps))
	for i, a := range apps {
		out[i] = a.InvoiceID
	}
	return out
}

func appInvoice(app *ent.PaymentApplication) string {
	if app == nil {
		return ""
	}
	return app.InvoiceID
}

// paymentWithInvoices reads a payment and the invoices it was ever applied to, as they are now.
func (r *Resolver) paymentWithInvoices(ctx context.Context, paymentID string) (*ent.Payment, []*ent.Invoice, error) {
	p, err := r.ent(ctx).Payment.Get(ctx, paymentID)
	if err != nil {
		return nil, nil, err
	}
	invs, err := p.QueryApplications().QueryInvoice().Order(ent.Asc(invoice.FieldCreatedAt)).All(ctx)
	if err != nil {
		return nil, nil, err
	}
	return p, invs, nil
}
