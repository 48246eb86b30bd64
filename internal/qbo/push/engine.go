// Package push keeps QuickBooks Online in step with Books, one way: customers, vendors,
// items, classes, approved invoices, payments, credit memos, refunds, charge reversals,
// write-offs and manual journal entries of a connected legal entity.
//
// A qbo_links row is both the link of a Books record to its QuickBooks record and the
// durable intent of the next write. Asking for a push (Push, Changed) marks the link pending
// with a new generation and enqueues the connection's drain job, in the caller's
// transaction, so the request commits with the business write or not at all. The drain
// (Drain, run by SyncWorker) pushes pending links in dependency order, thirty to a batch,
// outside any transaction, and records each outcome in its own short transaction:
//
//   - every write's requestid derives from (link, operation, generation), so a retried
//     write is answered, not repeated;
//   - before creating, it looks for an existing QuickBooks record with the same natural key
//     (display name then email, document number, name) and links it instead; two matches
//     are an admin issue, never a guess; this also makes a create whose answer was lost
//     (a timeout after QuickBooks committed, a killed worker) find its record;
//   - a failure a person must handle marks the link error and raises an admin issue with
//     QuickBooks' fault code and message; anything else (throttling, 5xx, a reset) fails
//     the job, which River retries with backoff, the links still pending.
//
// A connection that needs re-authorization or is disconnected pauses its drain: its links
// stay pending and the drain is enqueued again when the company is connected.
package push

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"books/ent"
	"books/ent/creditapplication"
	"books/ent/invoice"
	"books/ent/journalentry"
	"books/ent/paymentapplication"
	"books/ent/qboconnection"
	"books/ent/qbolink"
	"books/internal/adminq"
	"books/internal/apperr"
	"books/internal/qbo"
	"books/internal/qbo/conn"
	"books/jobs"
)

// Engine pushes Books records to QuickBooks. Its zero value is not usable; set Store and
// either App or HTTPClient.
type Engine struct {
	Store *conn.Store
	App   conn.App
	// Limiter paces every call per realm (one per process, shared with other QuickBooks work).
	Limiter *qbo.Limiter
	// Runner enqueues drain jobs in the caller's transaction; without one, Push only marks
	// links pending and a caller runs Drain itself.
	Runner *jobs.Runner
	// Issues raises the failures a person must handle; adminq.Raise when nil.
	Issues *adminq.Queue
	Logger *slog.Logger
	// HTTPClient returns the client that authenticates calls to the connection's company
	// (the connection's token source; tests may hand out a fixed token).
	HTTPClient func(ctx context.Context, row *ent.QBOConnection) (*http.Client, error)
	// Unauthorized is told when QuickBooks answers 401 to the connection's access token, so
	// the token is refreshed at once (conn.Refresher.Rejected) and a revoked connection
	// pauses instead of failing until the token's expiry. Optional.
	Unauthorized func(ctx context.Context, row *ent.QBOConnection) error
	// Lease, when set, keeps drains of one connection apart across processes (PostgresLease);
	// it returns ErrDrainBusy when another process holds it. SQLite has one process.
	Lease func(ctx context.Context, connectionID string) (release func(), err error)
	// Retries is how many times in a row a drain sends a group again after a transient
	// failure (a throttle, a 5xx, a lost answer) before its job fails and River retries it
	// later: 5 when zero, none when negative.
	Retries int
	// Now is the clock (sync dates); time.Now when nil.
	Now func() time.Time
	// RemoteDeleteSettled is told, in the caller's transaction, when a person settles a link
	// QuickBooks deleted (deleted_remotely): by pushing the record again ("pushed again") or
	// by unlinking it ("unlinked"). The payment sync closes the reconciliation item. Optional.
	RemoteDeleteSettled func(ctx context.Context, c *ent.Client, l *ent.QBOLink, how string) error
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) log() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

// MaxPush is how many records one Push call takes: QuickBooks' batch limit.
const MaxPush = qbo.MaxBatchItems

// Push asks for records of one type to be pushed to entityID's QuickBooks company, with what
// they refer to (an invoice's customer, items and classes; a payment's invoices) when that
// is not linked yet. It runs in the caller's transaction (c must be transactional to enqueue
// the drain) and returns the links of the records asked for.
func (e *Engine) Push(ctx context.Context, c *ent.Client, entityID string, t qbolink.RecordType, ids []string) ([]*ent.QBOLink, error) {
	if len(ids) == 0 {
		return nil, apperr.New(apperr.Validation, "no records to push").WithField("ids")
	}
	if len(ids) > MaxPush {
		return nil, apperr.New(apperr.Validation, "at most %d records can be pushed at once", MaxPush).WithField("ids")
	}
	if _, ok := qboTypes[t]; !ok {
		return nil, apperr.New(apperr.Validation, "%s records are not pushed to QuickBooks", t).WithField("recordType")
	}
	row, err := e.Store.ForEntity(ctx, c, entityID)
	if err != nil {
		return nil, err
	}
	var out []*ent.QBOLink
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		links, err := e.request(ctx, c, row, t, id, false)
		if err != nil {
			return nil, err
		}
		out = append(out, links...)
	}
	return out, e.kick(ctx, c, row)
}

// request validates one record and ensures its links (and its dependencies' links).
func (e *Engine) request(ctx context.Context, c *ent.Client, row *ent.QBOConnection, t qbolink.RecordType, id string, onlyMissing bool) ([]*ent.QBOLink, error) {
	plan, err := e.plan(ctx, c, row, t, id)
	if err != nil {
		return nil, err
	}
	for _, d := range plan.deps {
		if _, err := ensure(ctx, c, row, d, true); err != nil {
			return nil, err
		}
	}
	gone, err := e.remotelyDeleted(ctx, c, row, t, id)
	if err != nil {
		return nil, err
	}
	var out []*ent.QBOLink
	for _, w := range plan.wants {
		l, err := ensure(ctx, c, row, w, onlyMissing)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	if !onlyMissing {
		if err := e.settled(ctx, c, gone, "pushed again"); err != nil {
			return nil, err
		}
	}
	for _, d := range plan.after {
		if _, err := e.request(ctx, c, row, d.recordType, d.recordID, true); err != nil && !isNotPushable(err) {
			return nil, err
		}
	}
	return out, nil
}

func isNotPushable(err error) bool { return apperr.Code(err) == apperr.QBONotPushable }

// kick enqueues a drain of the connection in c's transaction. Every request gets its own job,
// never one skipped as a duplicate: a drain that is finishing may not see a link made pending
// after it last looked, and the job of the request after it always will. Drains of one
// connection run one at a time (Drain's lock and Lease), and one with nothing pending is a
// few queries.
func (e *Engine) kick(ctx context.Context, c *ent.Client, row *ent.QBOConnection) error {
	if e.Runner == nil || row.Status != qboconnection.StatusConnected {
		return nil
	}
	return e.Runner.InsertTx(ctx, c, SyncArgs{
		Tenant:       jobs.Tenant{OrganizationID: row.OrganizationID, EntityID: row.EntityID},
		Subject:      jobs.Subject{SubjectType: "qbo_connection", SubjectID: row.ID},
		ConnectionID: row.ID,
	}, nil)
}

// Resume enqueues the drain of a connection that was just connected again, so the writes
// that waited while it was paused go out. It is connect.Flow's OnConnected.
func (e *Engine) Resume(ctx context.Context, c *ent.Client, row *ent.QBOConnection) error {
	return e.kick(ctx, c, row)
}

// Changed applies the automatic rules after a Books write, in its transaction: a linked
// record's change is pushed as an update; a voided pushed invoice is voided in QuickBooks;
// an approved invoice of a synced customer is pushed when the connection's auto-sync is on;
// money moving on linked invoices (payments, credit memos, refunds, charge reversals,
// write-offs) is pushed; a manual journal entry of a connected entity is pushed. Records of
// entities without a connection are left alone.
func (e *Engine) Changed(ctx context.Context, c *ent.Client, t qbolink.RecordType, id string) error {
	switch t {
	case qbolink.RecordTypeCustomer, qbolink.RecordTypeVendor, qbolink.RecordTypeItem, qbolink.RecordTypeClass:
		return e.changedList(ctx, c, t, id)
	}
	entityID, err := entityOf(ctx, c, t, id)
	if err != nil {
		return err
	}
	row, err := e.Store.ForEntity(ctx, c, entityID)
	if apperr.Code(err) == apperr.QBONotConnected {
		return nil
	}
	if err != nil {
		return err
	}
	push, err := e.autoPush(ctx, c, row, t, id)
	if err != nil || !push {
		return err
	}
	// Deleted or voided in QuickBooks: never pushed again on its own; a person decides from
	// the reconciliation queue (push it again, or unlink it).
	if gone, err := e.remotelyDeleted(ctx, c, row, t, id); err != nil || len(gone) > 0 {
		return err
	}
	if _, err := e.request(ctx, c, row, t, id, false); err != nil {
		if isNotPushable(err) {
			return nil
		}
		return err
	}
	return e.kick(ctx, c, row)
}

// changedList pushes an update of a list record (customer, vendor, item, class) to every
// connection it is linked in.
func (e *Engine) changedList(ctx context.Context, c *ent.Client, t qbolink.RecordType, id string) error {
	links, err := c.QBOLink.Query().Where(qbolink.RecordTypeEQ(t), qbolink.RecordID(id),
		qbolink.StatusNEQ(qbolink.StatusDeletedRemotely)).WithConnection().All(ctx)
	if err != nil {
		return err
	}
	for _, l := range links {
		row := l.Edges.Connection
		if row == nil || row.Status == qboconnection.StatusDisconnected {
			continue
		}
		if _, err := ensure(ctx, c, row, want{recordType: t, recordID: id, op: qbolink.OperationUpsert}, false); err != nil {
			return err
		}
		if err := e.kick(ctx, c, row); err != nil {
			return err
		}
	}
	return nil
}

// autoPush decides whether a change of a transaction is pushed without being asked.
func (e *Engine) autoPush(ctx context.Context, c *ent.Client, row *ent.QBOConnection, t qbolink.RecordType, id string) (bool, error) {
	linked := func(rt qbolink.RecordType, rid string) (bool, error) {
		return c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.RecordTypeEQ(rt),
			qbolink.RecordID(rid)).Exist(ctx)
	}
	if ok, err := linked(t, id); err != nil || ok {
		return ok, err
	}
	switch t {
	case qbolink.RecordTypeInvoice:
		inv, err := c.Invoice.Get(ctx, id)
		if err != nil {
			return false, err
		}
		if inv.Status == invoice.StatusDraft || inv.Status == invoice.StatusSubmitted || inv.Status == invoice.StatusVoid {
			return false, nil
		}
		if !row.Settings.AutoSyncInvoices {
			return false, nil
		}
		return c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.RecordTypeEQ(qbolink.RecordTypeCustomer),
			qbolink.RecordID(inv.CustomerID), qbolink.StatusEQ(qbolink.StatusSynced)).Exist(ctx)
	case qbolink.RecordTypePayment:
		invs, err := c.PaymentApplication.Query().Where(paymentapplication.PaymentID(id)).
			Select(paymentapplication.FieldInvoiceID).Strings(ctx)
		if err != nil {
			return false, err
		}
		return anyLinked(ctx, c, row, qbolink.RecordTypeInvoice, invs)
	case qbolink.RecordTypeCreditMemo:
		invs, err := c.CreditApplication.Query().Where(creditapplication.CreditMemoID(id)).
			Select(creditapplication.FieldInvoiceID).Strings(ctx)
		if err != nil {
			return false, err
		}
		cm, err := c.CreditMemo.Get(ctx, id)
		if err != nil {
			return false, err
		}
		if ok, err := linked(qbolink.RecordTypeCustomer, cm.CustomerID); err != nil || ok {
			return ok, err
		}
		return anyLinked(ctx, c, row, qbolink.RecordTypeInvoice, invs)
	case qbolink.RecordTypeRefund:
		r, err := c.Refund.Get(ctx, id)
		if err != nil {
			return false, err
		}
		return linked(qbolink.RecordTypePayment, r.PaymentID)
	case qbolink.RecordTypeChargeReversal:
		r, err := c.ChargeReversal.Get(ctx, id)
		if err != nil {
			return false, err
		}
		return linked(qbolink.RecordTypePayment, r.PaymentID)
	case qbolink.RecordTypeWriteOff:
		w, err := c.WriteOff.Get(ctx, id)
		if err != nil {
			return false, err
		}
		return linked(qbolink.RecordTypeInvoice, w.InvoiceID)
	case qbolink.RecordTypeJournalEntry:
		je, err := c.JournalEntry.Get(ctx, id)
		if err != nil {
			return false, err
		}
		if je.DocumentType != nil || je.Status != journalentry.StatusPosted {
			return false, nil
		}
		if je.ReversalOfID != nil {
			// A reversal goes only where the entry it reverses went: alone, QuickBooks would
			// book the mirror of an entry it never had.
			return linked(qbolink.RecordTypeJournalEntry, *je.ReversalOfID)
		}
		return true, nil
	}
	return false, nil
}

func anyLinked(ctx context.Context, c *ent.Client, row *ent.QBOConnection, t qbolink.RecordType, ids []string) (bool, error) {
	if len(ids) == 0 {
		return false, nil
	}
	return c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.RecordTypeEQ(t),
		qbolink.RecordIDIn(ids...)).Exist(ctx)
}

// Unlink removes the links of a record in the entity's connection, leaving QuickBooks as it
// is ("unsync"): a later push looks the record up again before creating it.
func (e *Engine) Unlink(ctx context.Context, c *ent.Client, entityID string, t qbolink.RecordType, id string) (int, error) {
	row, err := e.Store.ForEntity(ctx, c, entityID)
	if err != nil {
		return 0, err
	}
	gone, err := e.remotelyDeleted(ctx, c, row, t, id)
	if err != nil {
		return 0, err
	}
	n, err := c.QBOLink.Delete().Where(qbolink.ConnectionID(row.ID), qbolink.RecordTypeEQ(t), qbolink.RecordID(id)).Exec(ctx)
	if err != nil {
		return 0, err
	}
	return n, e.settled(ctx, c, gone, "unlinked")
}

// remotelyDeleted returns the record's links that QuickBooks deleted.
func (e *Engine) remotelyDeleted(ctx context.Context, c *ent.Client, row *ent.QBOConnection, t qbolink.RecordType, id string) ([]*ent.QBOLink, error) {
	return c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.RecordTypeEQ(t), qbolink.RecordID(id),
		qbolink.StatusEQ(qbolink.StatusDeletedRemotely)).All(ctx)
}

func (e *Engine) settled(ctx context.Context, c *ent.Client, links []*ent.QBOLink, how string) error {
	if e.RemoteDeleteSettled == nil {
		return nil
	}
	for _, l := range links {
		if err := e.RemoteDeleteSettled(ctx, c, l, how); err != nil {
			return err
		}
	}
	return nil
}
