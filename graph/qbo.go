package graph

import (
	"context"

	"books/ent"
	"books/ent/qbolink"
	"books/graph/model"
	"books/internal/apperr"
	"books/internal/audit"
	"books/internal/billing"
	"books/internal/ledger"
	"books/internal/qbo/connect"
	"books/internal/qbo/pull"
	"books/internal/qbo/push"
	"books/internal/qbo/recon"
)

// QuickBooks is the QuickBooks Online integration the resolvers call: the push engine (with
// its connection store), the OAuth connect flow, and the payment sync's reconciliation queue.
type QuickBooks struct {
	Engine *push.Engine
	Flow   *connect.Flow
	// Puller records a person's match of a reconciliation item (matchReconciliationItem);
	// nil: that mutation answers QBO_NOT_CONNECTED.
	Puller *pull.Puller
	// Recon defers and dismisses reconciliation items and announces each change on the
	// realtime broker the reconciliationQueue subscription listens to; nil: those mutations
	// answer QBO_NOT_CONNECTED.
	Recon *recon.Queue
}

func (r *Resolver) qbo() (*QuickBooks, error) {
	if r.QuickBooks == nil || r.QuickBooks.Engine == nil {
		return nil, apperr.New(apperr.QBONotConnected, "QuickBooks is not configured on this server")
	}
	return r.QuickBooks, nil
}

// qboChanged applies the push engine's automatic rules to a record a mutation changed, in
// the mutation's transaction. Without QuickBooks configured there is nothing to do.
func (r *Resolver) qboChanged(ctx context.Context, c *ent.Client, t qbolink.RecordType, ids ...string) error {
	if r.QuickBooks == nil || r.QuickBooks.Engine == nil {
		return nil
	}
	for _, id := range ids {
		if err := r.QuickBooks.Engine.Changed(ctx, c, t, id); err != nil {
			return err
		}
	}
	return nil
}

func (r *Resolver) qboLinks(ctx context.Context, t qbolink.RecordType, id string) ([]*ent.QBOLink, error) {
	return r.ent(ctx).QBOLink.Query().Where(qbolink.RecordTypeEQ(t), qbolink.RecordID(id)).
		Order(ent.Asc(qbolink.FieldConnectionID), ent.Asc(qbolink.FieldPart)).All(ctx)
}

func (r *Resolver) qboInfo(ctx context.Context, t qbolink.RecordType, id string) ([]*model.QuickBooksRecord, error) {
	q, err := r.qbo()
	if err != nil {
		return nil, err
	}
	if ent.FromContext(ctx) != nil {
		// A mutation's payload: its transaction is open, and QuickBooks must never be called
		// inside one (on SQLite the token source would wait for the connection it holds).
		return nil, apperr.New(apperr.Validation, "qboInfo reads QuickBooks live and is not available in a mutation's "+
			"payload; query it instead")
	}
	links, err := r.qboLinks(ctx, t, id)
	if err != nil {
		return nil, err
	}
	recs, err := q.Engine.Info(ctx, r.ent(ctx), links)
	if err != nil {
		return nil, err
	}
	out := make([]*model.QuickBooksRecord, len(links))
	for i, l := range links {
		out[i] = &model.QuickBooksRecord{Link: l, Record: recs[i]}
	}
	return out, nil
}

// auditSelf records a mutation that runs outside the operation's transaction (it calls
// QuickBooks) in a transaction of its own.
func (r *Resolver) auditSelf(ctx context.Context, action, subject string) error {
	_, err := ledger.InTx(ctx, r.Client, func(c *ent.Client) error {
		return audit.Record(ctx, c, action, subject, "")
	})
	return err
}

// after applies the push engine's rules to a record a mutation changed when the mutation
// succeeded (err nil), and returns the error to report.
func (r *Resolver) after(ctx context.Context, err error, t qbolink.RecordType, id string) error {
	if err != nil {
		return err
	}
	return r.qboChanged(ctx, r.ent(ctx), t, id)
}

// approve approves an invoice and, in the same transaction, enqueues its push when the
// entity's connection syncs approved invoices of synced customers.
func (r *Resolver) approve(ctx context.Context, c *ent.Client, id string) (*ent.Invoice, error) {
	inv, err := billing.ApproveInvoice(ctx, c, id)
	if err != nil {
		return nil, err
	}
	return inv, r.qboChanged(ctx, c, qbolink.RecordTypeInvoice, id)
}

func idOf(cm *ent.CreditMemo) *string {
	if cm == nil {
		return nil
	}
	return &cm.ID
}
