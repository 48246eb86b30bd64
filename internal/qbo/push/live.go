package push

import (
	"context"
	"fmt"
	"time"

	"books/ent"
	"books/ent/qboconnection"
	"books/ent/qbolink"
	"books/internal/apperr"
	"books/internal/qbo"
	"books/internal/qbo/syncstate"
)

// API returns a client for the connection's company, paced by the engine's limiter.
func (e *Engine) API(ctx context.Context, row *ent.QBOConnection) (*qbo.Client, error) {
	return e.api(ctx, row)
}

// linkable are the records a person may link to an existing QuickBooks record by hand.
var linkable = map[qbolink.RecordType]bool{
	qbolink.RecordTypeCustomer: true, qbolink.RecordTypeVendor: true,
	qbolink.RecordTypeItem: true, qbolink.RecordTypeClass: true,
}

// Link ties a Books customer, vendor, item or class to an existing QuickBooks record,
// read live first to check it exists; the link is synced at that record's SyncToken. A
// QuickBooks record linked to another Books record is refused. c must not be
// transactional: the read happens before the short transaction that writes the link.
func (e *Engine) Link(ctx context.Context, c *ent.Client, entityID string, t qbolink.RecordType, recordID, qboID string) (*ent.QBOLink, error) {
	if !linkable[t] {
		return nil, apperr.New(apperr.Validation, "only customers, vendors, items and classes are linked by hand").WithField("recordType")
	}
	row, err := e.Store.ForEntity(ctx, c, entityID)
	if err != nil {
		return nil, err
	}
	// Validates the record: it exists, in this organization and, for items and classes,
	// in the connection's entity.
	if _, err := e.plan(ctx, c, row, t, recordID); err != nil {
		return nil, err
	}
	api, err := e.api(ctx, row)
	if err != nil {
		return nil, err
	}
	raw, err := api.Read(ctx, qboTypes[t], qboID)
	if qbo.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "QuickBooks has no %s %s", qboTypes[t], qboID).WithField("qboId")
	}
	if err != nil {
		return nil, apperr.Wrap(apperr.QBOFault, err, fmt.Sprintf("QuickBooks could not be read: %v", err))
	}
	var o obj
	if err := decode(raw, &o); err != nil {
		return nil, err
	}
	token, _ := o["SyncToken"].(string)
	number := keyValue(o, "DisplayName")
	if number == "" {
		number = keyValue(o, "Name")
	}
	tx, err := c.Tx(ctx)
	if err != nil {
		return nil, err
	}
	l, err := link(ctx, tx.Client(), row, t, recordID, qboID, token, number, e.now())
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return l, tx.Commit()
}

func link(ctx context.Context, c *ent.Client, row *ent.QBOConnection, t qbolink.RecordType, recordID, qboID, token, number string, now time.Time) (*ent.QBOLink, error) {
	taken, err := c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.QboType(qboTypes[t]), qbolink.Claim(qboID),
		qbolink.RecordIDNEQ(recordID)).First(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	if taken != nil {
		return nil, apperr.New(apperr.Conflict, "QuickBooks %s %s is already linked to Books %s %s", qboTypes[t], qboID,
			taken.RecordType, taken.RecordID).WithField("qboId")
	}
	l, err := ensure(ctx, c, row, want{recordType: t, recordID: recordID, op: qbolink.OperationUpsert}, false)
	if err != nil {
		return nil, err
	}
	l, err = c.QBOLink.UpdateOne(l).SetQboID(qboID).SetClaim(qboID).SetSyncToken(token).SetDocNumber(truncate(number, 40)).
		SetStatus(qbolink.StatusSynced).SetSyncedGeneration(l.Generation).SetSyncedAt(now).SetAttempts(0).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, apperr.Wrap(apperr.Conflict, err, fmt.Sprintf("QuickBooks %s %s was linked to another record meanwhile", qboTypes[t], qboID))
	}
	if err != nil {
		return nil, err
	}
	return l, setRecordStatus(ctx, c, l, syncstate.Synced)
}

// Info reads the QuickBooks records behind links, live ("View QB info"): nil for a link not
// created yet or a record QuickBooks no longer has.
func (e *Engine) Info(ctx context.Context, c *ent.Client, links []*ent.QBOLink) ([]map[string]any, error) {
	out := make([]map[string]any, len(links))
	apis := map[string]*qbo.Client{}
	for i, l := range links {
		if l.QboID == nil {
			continue
		}
		api, seen := apis[l.ConnectionID]
		if !seen {
			row, err := e.Store.Get(ctx, c, l.ConnectionID)
			if err != nil {
				return nil, err
			}
			// A company disconnected (or awaiting re-authorization) cannot be read: its links
			// read as nil, and the record's other links are still shown.
			if row.Status == qboconnection.StatusConnected {
				if api, err = e.api(ctx, row); err != nil {
					return nil, err
				}
			}
			apis[l.ConnectionID] = api
		}
		if api == nil {
			continue
		}
		raw, err := api.Read(ctx, l.QboType, *l.QboID)
		if qbo.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, apperr.Wrap(apperr.QBOFault, err, fmt.Sprintf("QuickBooks could not be read: %v", err))
		}
		// Numbers stay json.Number: an amount never passes through float64.
		var o map[string]any
		if err := decode(raw, &o); err != nil {
			return nil, err
		}
		out[i] = o
	}
	return out, nil
}
