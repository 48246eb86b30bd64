package graph

import (
	"context"

	"books/ent"
	"books/ent/reconciliationitem"
	"books/internal/apperr"
	"books/internal/billing"
	"books/internal/stripepay"
)

// stripe returns the Stripe integration; STRIPE_NOT_CONFIGURED when the server has none.
func (r *Resolver) stripe() (*stripepay.Service, error) {
	if r.Stripe == nil {
		return nil, apperr.New(apperr.StripeNotConfigured, "Stripe is not configured on this server")
	}
	return r.Stripe, nil
}

// refund refunds a payment: through Stripe (pending until Stripe confirms it) for a Stripe
// payment when Stripe is configured, else at once.
func (r *Resolver) refund(ctx context.Context, in billing.CashReturnInput) (*ent.Refund, error) {
	c := r.ent(ctx)
	if r.Stripe != nil {
		return r.Stripe.RefundPayment(ctx, c, in)
	}
	return billing.RefundPayment(ctx, c, in)
}

// match matches a reconciliation item by its source's rules.
func (r *Resolver) match(ctx context.Context, id string, apps []billing.Application, note string) (*ent.ReconciliationItem, *ent.Payment, error) {
	c := r.ent(ctx)
	it, err := c.ReconciliationItem.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, nil, apperr.New(apperr.NotFound, "reconciliation item %q not found", id).WithField("reconciliationItemId")
	}
	if err != nil {
		return nil, nil, err
	}
	if it.Source == reconciliationitem.SourceStripe {
		s, err := r.stripe()
		if err != nil {
			return nil, nil, err
		}
		return s.Match(ctx, c, id, apps, note)
	}
	p, err := r.puller()
	if err != nil {
		return nil, nil, err
	}
	return p.Match(ctx, c, id, apps, note)
}
