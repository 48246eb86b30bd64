package pull

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"books/ent"
	"books/ent/creditmemo"
	"books/ent/invoice"
	"books/ent/qbolink"
	"books/ent/reconciliationitem"
	"books/internal/qbo"
	"books/internal/qbo/recon"
)

// qboDocument is the part of a QuickBooks Invoice or CreditMemo Books reads.
type qboDocument struct {
	ID          string      `json:"Id"`
	SyncToken   string      `json:"SyncToken"`
	DocNumber   string      `json:"DocNumber"`
	TxnDate     string      `json:"TxnDate"`
	TotalAmt    json.Number `json:"TotalAmt"`
	Balance     json.Number `json:"Balance"`
	PrivateNote string      `json:"PrivateNote"`
}

// document handles a change of a QuickBooks invoice or credit memo. A Books document deleted
// or voided in QuickBooks (and not voided by Books itself) marks its link deleted_remotely and
// raises a REMOTE_DELETE item: a person unlinks it or pushes it again, which creates it anew;
// nothing re-creates it on its own. Otherwise QuickBooks' total and open balance are kept on
// the link (partial payments made in QuickBooks show there, and on the invoice once their
// payment is recorded).
func (p *Puller) document(ctx context.Context, client *ent.Client, row *ent.QBOConnection, api *qbo.Client, k record) error {
	links, err := client.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.QboType(k.typ), qbolink.QboID(k.id)).All(ctx)
	if err != nil || len(links) == 0 {
		// Not a Books document: QuickBooks' own invoices are its business.
		return err
	}
	raw, err := api.Read(ctx, k.typ, k.id)
	deleted := qbo.IsNotFound(err)
	if err != nil && !deleted {
		return err
	}
	var d qboDocument
	if !deleted {
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("pull: QuickBooks %s %s: %w", k.typ, k.id, err)
		}
	}
	total, err := parseMoney(d.TotalAmt)
	if err != nil {
		return err
	}
	balance, err := parseMoney(d.Balance)
	if err != nil {
		return err
	}
	voided := !deleted && total.IsZero() && strings.HasPrefix(strings.TrimSpace(d.PrivateNote), "Voided")
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	tctx := ent.NewTxContext(ctx, tx)
	c := tx.Client()
	for _, l := range links {
		// Read again in the transaction: the push may have moved it meanwhile.
		l, err := c.QBOLink.Get(tctx, l.ID)
		if err != nil {
			return rollback(tx, err)
		}
		if !deleted && !voided {
			if l.SyncToken != "" && olderToken(d.SyncToken, l.SyncToken) {
				continue
			}
			u := c.QBOLink.UpdateOne(l).SetQboTotal(total)
			if k.typ == "Invoice" {
				u.SetQboBalance(balance)
			}
			if err := u.Exec(tctx); err != nil {
				return rollback(tx, err)
			}
			continue
		}
		if l.Status != qbolink.StatusDeletedRemotely {
			own, err := voidedByBooks(tctx, c, l)
			if err != nil {
				return rollback(tx, err)
			}
			if own && voided {
				continue
			}
			if err := c.QBOLink.UpdateOne(l).SetStatus(qbolink.StatusDeletedRemotely).
				SetLastErrorCode("QBO_DELETED_REMOTELY").SetLastError(k.typ + " " + k.id + " was " + gone(deleted) + " in QuickBooks").
				Exec(tctx); err != nil {
				return rollback(tx, err)
			}
		}
		// Raised again for a link already marked: an item a person deferred opens again.
		prob := recon.Problem{EntityID: row.EntityID, ConnectionID: row.ID, Kind: reconciliationitem.KindRemoteDelete,
			QBOType: k.typ, QBOID: k.id, RecordType: string(l.RecordType), RecordID: l.RecordID,
			Reference: firstNonEmpty(d.DocNumber, l.DocNumber), Snapshot: string(raw), SyncToken: d.SyncToken,
			Reason: fmt.Sprintf("Books %s %s was %s in QuickBooks (%s %s); unlink it, or push it again to create it anew",
				strings.ReplaceAll(string(l.RecordType), "_", " "), l.RecordID, gone(deleted), k.typ, k.id)}
		if err := describe(tctx, c, l, &prob); err != nil {
			return rollback(tx, err)
		}
		if _, err := p.Queue.Raise(tctx, c, prob); err != nil {
			return rollback(tx, err)
		}
	}
	return tx.Commit()
}

func gone(deleted bool) string {
	if deleted {
		return "deleted"
	}
	return "voided"
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// voidedByBooks reports whether the link's record was voided in Books, so a void in
// QuickBooks is Books' own.
func voidedByBooks(ctx context.Context, c *ent.Client, l *ent.QBOLink) (bool, error) {
	if l.Operation == qbolink.OperationVoid {
		return true, nil
	}
	if l.RecordType == qbolink.RecordTypeInvoice {
		return c.Invoice.Query().Where(invoice.ID(l.RecordID), invoice.StatusEQ(invoice.StatusVoid)).Exist(ctx)
	}
	return false, nil
}

// describe adds the Books document's customer, amount, currency and date to a problem.
func describe(ctx context.Context, c *ent.Client, l *ent.QBOLink, prob *recon.Problem) error {
	switch l.RecordType {
	case qbolink.RecordTypeInvoice:
		inv, err := c.Invoice.Query().Where(invoice.ID(l.RecordID)).Only(ctx)
		if err != nil {
			return err
		}
		prob.CustomerID, prob.Currency, prob.Amount, prob.TxnDate = inv.CustomerID, inv.Currency, &inv.Total, &inv.IssueDate
	case qbolink.RecordTypeCreditMemo:
		cm, err := c.CreditMemo.Query().Where(creditmemo.ID(l.RecordID)).Only(ctx)
		if err != nil {
			return err
		}
		prob.CustomerID, prob.Currency, prob.Amount, prob.TxnDate = cm.CustomerID, cm.Currency, &cm.Amount, &cm.Date
	}
	return nil
}

// RemoteDeleteSettled closes the REMOTE_DELETE item of a link a person settled by pushing
// the record again or unlinking it (push.Engine.RemoteDeleteSettled).
func (p *Puller) RemoteDeleteSettled(ctx context.Context, c *ent.Client, l *ent.QBOLink, how string) error {
	if l.QboID == nil {
		return nil
	}
	return p.Queue.Close(ctx, c, l.ConnectionID, l.QboType, *l.QboID, reconciliationitem.StatusDismissed, "",
		fmt.Sprintf("%s %s was %s", strings.ReplaceAll(string(l.RecordType), "_", " "), l.RecordID, how))
}
