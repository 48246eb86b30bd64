package graph

import (
	"books/ent"
	"books/graph/model"
	"books/internal/apperr"
	"books/internal/qbo/pull"
	"books/internal/qbo/recon"
)

// puller returns the payment sync that records matches; QBO_NOT_CONNECTED without one.
func (r *Resolver) puller() (*pull.Puller, error) {
	if r.QuickBooks == nil || r.QuickBooks.Puller == nil {
		return nil, apperr.New(apperr.QBONotConnected, "QuickBooks payment sync is not configured on this server")
	}
	return r.QuickBooks.Puller, nil
}

// reconQueue returns the reconciliation queue; QBO_NOT_CONNECTED without one.
func (r *Resolver) reconQueue() (*recon.Queue, error) {
	if (r.QuickBooks == nil || r.QuickBooks.Recon == nil) && r.Stripe != nil && r.Stripe.Queue != nil {
		return r.Stripe.Queue, nil
	}
	if r.QuickBooks == nil || r.QuickBooks.Recon == nil {
		return nil, apperr.New(apperr.QBONotConnected, "QuickBooks payment sync is not configured on this server")
	}
	return r.QuickBooks.Recon, nil
}

func reconciliationItemPayload(it *ent.ReconciliationItem, err error) (*model.ReconciliationItemPayload, error) {
	if err != nil {
		return nil, err
	}
	return &model.ReconciliationItemPayload{ReconciliationItem: it, Invoices: []*ent.Invoice{}}, nil
}
