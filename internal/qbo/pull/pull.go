// Package pull brings QuickBooks' changes back into Books: payments recorded in QuickBooks
// become Books payments on the invoices they pay, voids and deletes undo them, and invoices
// deleted or voided in QuickBooks are raised for a person. Notifications arrive by webhook
// (Intake) or by the poller's change-data-capture pass (Poll); both land in one durable inbox
// (qbo_inbox_events, duplicates collapsed on a key) and one job per connection processes
// it, re-reading each record from QuickBooks, so the order of arrival does not matter and a
// record seen twice is applied once. What cannot be matched safely becomes a reconciliation
// item (internal/qbo/recon), never a guess.
package pull

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"books/ent"
	"books/ent/qboconnection"
	"books/ent/qboinboxevent"
	"books/internal/ids"
	"books/internal/qbo/push"
	"books/internal/qbo/recon"
	"books/internal/tenant"
	"books/jobs"
)

// Puller processes QuickBooks' changes for every connection of the process.
type Puller struct {
	// Engine reaches QuickBooks (its API clients, limiter and token refresher).
	Engine *push.Engine
	// Queue is the reconciliation queue items are raised on.
	Queue *recon.Queue
	// Runner enqueues processing jobs in the caller's transaction; without one, Store
	// only stores.
	Runner *jobs.Runner
	// Lease, when set, makes one process at a time work a connection's inbox (PostgreSQL
	// session advisory locks); an in-process lock always applies.
	Lease  func(ctx context.Context, key string) (release func(), err error)
	Logger *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

func (p *Puller) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Puller) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// Notification is one change QuickBooks announced by webhook, or the poller read.
type Notification struct {
	Source     qboinboxevent.Source
	Key        string // what makes two deliveries the same notification (see Key)
	RealmID    string
	Entity     string // QuickBooks entity name, e.g. Payment
	ID         string // QuickBooks id of the record
	Operation  string // Create, Update, Delete, Void, Merge
	OccurredAt *time.Time
	Payload    []byte // the one event as received; may be empty
}

// ChangeKey is the dedupe key of a change that carries no event id of its own (legacy
// webhooks, the poller): the same change of the same record is the same notification.
func ChangeKey(realm, entity, id, op, at string) string {
	return fmt.Sprintf("chg:%s:%s:%s:%s:%s", realm, entity, id, op, at)
}

// EventKey is the dedupe key of a CloudEvents notification: its id, within its realm.
func EventKey(realm, eventID string) string { return "ce:" + realm + ":" + eventID }

// Stored counts what Store did.
type Stored struct {
	New          int // notifications stored for the first time
	Duplicates   int // notifications already in the inbox
	UnknownRealm int // new notifications for a realm no connection holds (kept, not processed)
}

const maxKey = 300

// Store writes notifications to the inbox, a duplicate (same key) collapsing into the row
// already there, and enqueues the processing of every connection that got a new one, all in
// one transaction: a notification acknowledged is a notification kept. A realm no connection
// holds is kept with status unknown_realm (and logged), to be processed once it is connected.
// It makes no QuickBooks call.
func (p *Puller) Store(ctx context.Context, client *ent.Client, notes []Notification) (Stored, error) {
	var out Stored
	if len(notes) == 0 {
		return out, nil
	}
	sys := tenant.System(ctx)
	tx, err := client.Tx(sys)
	if err != nil {
		return out, err
	}
	c := tx.Client()
	err = func() error {
		realms := map[string]*ent.QBOConnection{}
		for _, n := range notes {
			if _, ok := realms[n.RealmID]; ok {
				continue
			}
			row, err := c.QBOConnection.Query().Where(qboconnection.RealmID(n.RealmID)).Only(sys)
			if err != nil && !ent.IsNotFound(err) {
				return err
			}
			realms[n.RealmID] = row
		}
		kick := map[string]*ent.QBOConnection{}
		for _, n := range notes {
			if n.Key == "" || len(n.Key) > maxKey || n.RealmID == "" {
				return fmt.Errorf("pull: a notification needs a key of at most %d bytes and a realm", maxKey)
			}
			row := realms[n.RealmID]
			create := c.QBOInboxEvent.Create().SetID(ids.New(ids.QBOInboxEvent)).
				SetDedupeKey(n.Key).SetRealmID(n.RealmID).SetSource(n.Source).
				SetQboType(n.Entity).SetQboID(n.ID).SetOperation(n.Operation).
				SetNillableOccurredAt(n.OccurredAt).SetPayload(string(n.Payload))
			if row != nil {
				create.SetOrganizationID(row.OrganizationID).SetConnectionID(row.ID)
			} else {
				create.SetStatus(qboinboxevent.StatusUnknownRealm)
			}
			n, err := create.OnConflictColumns(qboinboxevent.FieldDedupeKey).DoNothing().ID(sys)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				out.Duplicates++
				continue
			case err != nil:
				return err
			}
			_ = n
			out.New++
			if row == nil {
				out.UnknownRealm++
				continue
			}
			kick[row.ID] = row
		}
		for _, row := range kick {
			if err := p.kick(sys, c, row); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		return out, errors.Join(err, tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return Stored{}, err
	}
	if out.UnknownRealm > 0 {
		p.log().Warn("QuickBooks notifications for a company no connection holds are kept unprocessed",
			"count", out.UnknownRealm)
	}
	return out, nil
}

// InboxArgs are the args of the qbo_inbox job: process a connection's pending notifications.
type InboxArgs struct {
	jobs.Tenant
	jobs.Subject
	ConnectionID string `json:"connection_id"`
}

// Kind is the job kind.
func (InboxArgs) Kind() string { return "qbo_inbox" }

// IdempotencyKey names the connection; what the job records is idempotent per QuickBooks
// record (external references, unique items).
func (a InboxArgs) IdempotencyKey() string { return "qbo_inbox:" + a.ConnectionID }

// InsertOpts: QuickBooks down for a while only delays processing.
func (InboxArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 25} }

// kick enqueues the processing of row's inbox in c's transaction. Every store gets its own
// job, none skipped as a duplicate: a job that is finishing may have read the inbox before
// this store committed (see work).
func (p *Puller) kick(ctx context.Context, c *ent.Client, row *ent.QBOConnection) error {
	if p.Runner == nil || row.Status == qboconnection.StatusDisconnected {
		return nil
	}
	return p.Runner.InsertTx(ctx, c, InboxArgs{
		Tenant:       jobs.Tenant{OrganizationID: row.OrganizationID, EntityID: row.EntityID},
		Subject:      jobs.Subject{SubjectType: "qbo_connection", SubjectID: row.ID},
		ConnectionID: row.ID,
	}, nil)
}
