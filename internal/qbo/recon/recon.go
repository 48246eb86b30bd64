// Package recon keeps the reconciliation queue: QuickBooks records Books could not apply on
// its own (a payment that matches no linked invoice, an invoice deleted in QuickBooks), one
// item per record of a connection, for a person to match, defer or dismiss. It decides
// nothing about money: the QuickBooks payment sync (internal/qbo/pull) raises items, records
// matches and closes items QuickBooks itself settled. Every change is announced on the
// realtime broker, so the queue is live on every server.
package recon

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"books/ent"
	"books/ent/reconciliationitem"
	"books/internal/apperr"
	"books/internal/audit"
	"books/internal/caldate"
	"books/internal/money"
	"books/internal/realtime"
	"books/internal/tenant"
)

// Event types announced for a change of the queue.
const (
	Added    = "ADDED"    // a new item
	Updated  = "UPDATED"  // an item changed and still needs a person (open or deferred)
	Resolved = "RESOLVED" // an item matched or dismissed
)

// Topic is the realtime topic of an organization's queue; each message is an Event.
func Topic(orgID string) string { return "reconciliation:" + orgID }

// Event is the payload of a queue message.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Problem is what a pass found about one QuickBooks record.
type Problem struct {
	// Source is where the record comes from; empty is QuickBooks. For Stripe, ConnectionID
	// is the Stripe account and QBOType/QBOID the Stripe object.
	Source                 reconciliationitem.Source
	EntityID, ConnectionID string
	Kind                   reconciliationitem.Kind
	QBOType, QBOID         string
	RecordType, RecordID   string // the Books record concerned, if any
	CustomerID             string // the Books customer, when known
	Amount                 *money.Amount
	Currency               string
	TxnDate                *caldate.Date
	Reference              string
	Reason                 string
	Snapshot               string // the record as read, JSON
	SyncToken              string
}

// Queue raises and settles items and announces each change on Broker.
type Queue struct {
	// Broker carries the events (topic Topic(org)); nil announces nothing.
	Broker realtime.Broker
}

const (
	maxReason    = 2000
	maxNote      = 4000
	maxReference = 100
)

// Raise records p: a new item, or the existing item of the same QuickBooks record brought up
// to date. An item a person deferred opens again (the pass it was left for has come); a
// dismissed one stays dismissed and a matched one stays matched, with the new snapshot kept,
// unless the record changed again in a way Books does not follow (REMOTE_CHANGE): then it
// opens again.
// It runs in c's transaction when c has one.
func (q *Queue) Raise(ctx context.Context, c *ent.Client, p Problem) (*ent.ReconciliationItem, error) {
	if p.EntityID == "" || p.ConnectionID == "" || p.QBOType == "" || p.QBOID == "" || p.Kind == "" {
		return nil, fmt.Errorf("recon: a problem names its entity, connection, kind and QuickBooks record")
	}
	now := time.Now().UTC()
	cur, err := Find(ctx, c, p.ConnectionID, p.QBOType, p.QBOID)
	if err == nil && cur == nil {
		create := c.ReconciliationItem.Create().
			SetEntityID(p.EntityID).SetConnectionID(p.ConnectionID).SetKind(p.Kind).
			SetNillableSource(nonEmpty(p.Source)).
			SetQboType(p.QBOType).SetQboID(p.QBOID).
			SetRecordType(p.RecordType).SetRecordID(p.RecordID).
			SetNillableAmount(p.Amount).SetCurrency(p.Currency).SetNillableTxnDate(p.TxnDate).
			SetReference(truncate(p.Reference, maxReference)).SetReason(truncate(p.Reason, maxReason)).
			SetSnapshot(p.Snapshot).SetSyncToken(p.SyncToken).SetLastSeenAt(now)
		if p.CustomerID != "" {
			create.SetCustomerID(p.CustomerID)
		}
		// A racing pass may insert the same record's item: the unique index refuses it and
		// the job retries, finding this one.
		it, err := create.Save(ctx)
		if err != nil {
			return nil, err
		}
		return it, q.announce(ctx, c, it, Added)
	}
	if err != nil {
		return nil, err
	}
	upd := c.ReconciliationItem.UpdateOne(cur).SetKind(p.Kind).
		SetRecordType(p.RecordType).SetRecordID(p.RecordID).
		SetReason(truncate(p.Reason, maxReason)).SetSnapshot(p.Snapshot).SetSyncToken(p.SyncToken).
		SetCurrency(p.Currency).SetReference(truncate(p.Reference, maxReference)).SetLastSeenAt(now)
	if p.Amount != nil {
		upd.SetAmount(*p.Amount)
	} else {
		upd.ClearAmount()
	}
	if p.TxnDate != nil {
		upd.SetTxnDate(*p.TxnDate)
	}
	if p.CustomerID != "" {
		upd.SetCustomerID(p.CustomerID)
	} else {
		upd.ClearCustomerID()
	}
	reopen := cur.Status == reconciliationitem.StatusDeferred ||
		// A settled record changed again in QuickBooks in a way Books will not follow.
		(settled(cur.Status) && p.Kind == reconciliationitem.KindRemoteChange && p.SyncToken != cur.SyncToken)
	if reopen {
		upd.SetStatus(reconciliationitem.StatusOpen).ClearResolvedAt().SetResolvedBy("")
	}
	it, err := upd.Save(ctx)
	if err != nil {
		return nil, err
	}
	if it.Status == reconciliationitem.StatusMatched || it.Status == reconciliationitem.StatusDismissed {
		return it, nil
	}
	return it, q.announce(ctx, c, it, Updated)
}

// Find returns the item of a QuickBooks record, or nil when it has none.
func Find(ctx context.Context, c *ent.Client, connectionID, qboType, qboID string) (*ent.ReconciliationItem, error) {
	return findRecord(ctx, c, connectionID, qboType, qboID, false)
}

// LockRecord reads the item of a QuickBooks record FOR UPDATE on PostgreSQL (nil when it has
// none), so a pass and a person's match of the same record take the item before anything
// else and cannot deadlock on the invoices they both lock.
func LockRecord(ctx context.Context, c *ent.Client, connectionID, qboType, qboID string) (*ent.ReconciliationItem, error) {
	return findRecord(ctx, c, connectionID, qboType, qboID, c.Dialect() == dialect.Postgres)
}

func findRecord(ctx context.Context, c *ent.Client, connectionID, qboType, qboID string, forUpdate bool) (*ent.ReconciliationItem, error) {
	q := c.ReconciliationItem.Query().Where(reconciliationitem.ConnectionID(connectionID),
		reconciliationitem.QboType(qboType), reconciliationitem.QboID(qboID))
	if forUpdate {
		q = q.ForUpdate()
	}
	it, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return it, err
}

// Close settles the item of a QuickBooks record that a pass found settled without a person:
// matched (paymentID names the Books payment recorded) or dismissed (QuickBooks voided or
// deleted the record). An item already matched or dismissed, or a record without an item,
// is left alone.
func (q *Queue) Close(ctx context.Context, c *ent.Client, connectionID, qboType, qboID string,
	status reconciliationitem.Status, paymentID, note string) error {
	it, err := Find(ctx, c, connectionID, qboType, qboID)
	if err != nil || it == nil || settled(it.Status) {
		return err
	}
	upd := c.ReconciliationItem.UpdateOne(it).SetStatus(status).SetNote(truncate(note, maxNote)).
		SetResolvedBy("system").SetResolvedAt(time.Now().UTC())
	if paymentID != "" {
		upd.SetPaymentID(paymentID).SetRecordType("payment").SetRecordID(paymentID)
	}
	it, err = upd.Save(ctx)
	if err != nil {
		return err
	}
	return q.announce(ctx, c, it, Resolved)
}

// Settle marks an item matched, deferred or dismissed by the caller, with a note; the item is
// read FOR UPDATE (PostgreSQL) so two people settling one item take turns. A matched or
// dismissed item is not settled again (CONFLICT). c must be transactional.
func (q *Queue) Settle(ctx context.Context, c *ent.Client, id string, status reconciliationitem.Status, paymentID, note string) (*ent.ReconciliationItem, error) {
	it, err := Lock(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if settled(it.Status) {
		return nil, apperr.New(apperr.Conflict, "reconciliation item %s is already %s", id, it.Status).WithField("reconciliationItemId")
	}
	if len(note) > maxNote {
		return nil, apperr.New(apperr.Validation, "the note is longer than %d characters", maxNote).WithField("note")
	}
	who, _ := audit.Who(ctx)
	if who == "" {
		who = "system"
	}
	upd := c.ReconciliationItem.UpdateOne(it).SetStatus(status).SetNote(note).
		SetResolvedBy(who).SetResolvedAt(time.Now().UTC())
	if paymentID != "" {
		upd.SetPaymentID(paymentID).SetRecordType("payment").SetRecordID(paymentID)
	}
	it, err = upd.Save(ctx)
	if err != nil {
		return nil, err
	}
	ev := Resolved
	if status == reconciliationitem.StatusDeferred {
		ev = Updated
	}
	return it, q.announce(ctx, c, it, ev)
}

// Defer leaves an open item for the next pass, with a note saying why.
func (q *Queue) Defer(ctx context.Context, c *ent.Client, id, note string) (*ent.ReconciliationItem, error) {
	return q.Settle(ctx, c, id, reconciliationitem.StatusDeferred, "", strings.TrimSpace(note))
}

// Dismiss closes an item without a match; the note, saying why, is required. Who may dismiss
// is the API's decision (admins).
func (q *Queue) Dismiss(ctx context.Context, c *ent.Client, id, note string) (*ent.ReconciliationItem, error) {
	note = strings.TrimSpace(note)
	if note == "" {
		return nil, apperr.New(apperr.Validation, "say why the item is dismissed").WithField("note")
	}
	return q.Settle(ctx, c, id, reconciliationitem.StatusDismissed, "", note)
}

// Lock reads an item in the caller's organization, FOR UPDATE on PostgreSQL; NOT_FOUND when
// it is not one of the organization's.
func Lock(ctx context.Context, c *ent.Client, id string) (*ent.ReconciliationItem, error) {
	q := c.ReconciliationItem.Query().Where(reconciliationitem.ID(id))
	if c.Dialect() == dialect.Postgres {
		q = q.ForUpdate()
	}
	it, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "no reconciliation item %q", id).WithField("reconciliationItemId")
	}
	return it, err
}

func settled(s reconciliationitem.Status) bool {
	return s == reconciliationitem.StatusMatched || s == reconciliationitem.StatusDismissed
}

func (q *Queue) announce(ctx context.Context, c *ent.Client, it *ent.ReconciliationItem, typ string) error {
	if q == nil || q.Broker == nil {
		return nil
	}
	b, err := json.Marshal(Event{Type: typ, ID: it.ID})
	if err != nil {
		return err
	}
	org := it.OrganizationID
	if org == "" {
		org, _ = tenant.Org(ctx)
	}
	return realtime.PublishCommitted(ctx, q.Broker, c, Topic(org), b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}

func nonEmpty(s reconciliationitem.Source) *reconciliationitem.Source {
	if s == "" {
		return nil
	}
	return &s
}
