package pull

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"books/ent"
	"books/ent/qboconnection"
	"books/ent/qboinboxevent"
	"books/ent/reconciliationitem"
	"books/internal/qbo"
	"books/internal/tenant"
	"books/jobs"
)

// Polling: the backstop for webhooks Intuit never delivered.
const (
	// PollEvery is how often each connection's changes are read.
	PollEvery = 15 * time.Minute
	// PollOverlap is how far before the watermark a pass reads again, so a change written
	// while the last pass read (or stamped by a clock a little behind) is not missed; what
	// was seen already collapses in the inbox.
	PollOverlap = 5 * time.Minute
	// cdcWindow is how far back QuickBooks' change data capture looks (30 days), less an
	// hour's margin; an older watermark is read with queries by MetaData.LastUpdatedTime.
	cdcWindow = 30*24*time.Hour - time.Hour
	// maxRounds bounds the CDC calls of one pass when answers are cut at 1,000 objects.
	maxRounds = 50
)

// polled are the entities the poller reads.
var polled = []string{"Payment", "Invoice", "CreditMemo"}

// Poll reads the changes of a connection's payments, invoices and credit memos since its
// watermark (less PollOverlap) and stores them in the inbox as notifications, so they are
// processed like webhooks: by change data capture, or, when the watermark is older than
// CDC's 30 days, by queries on MetaData.LastUpdatedTime (which do not report deletions).
// The watermark, stored on the connection, moves to the pass's start once the changes are
// stored. It also adopts notifications kept for the connection's realm before it was
// connected, and enqueues processing when anything is pending.
func (p *Puller) Poll(ctx context.Context, client *ent.Client, connectionID string) error {
	sys := tenant.System(ctx)
	row, err := client.QBOConnection.Get(sys, connectionID)
	if err != nil {
		return err
	}
	if row.Status != qboconnection.StatusConnected {
		return nil
	}
	if err := p.adopt(sys, client, row); err != nil {
		return err
	}
	octx := tenant.WithOrg(ctx, row.OrganizationID)
	api, err := p.Engine.API(octx, row)
	if err != nil {
		return err
	}
	start := p.now()
	since := row.ConnectedAt
	if row.PolledThrough != nil {
		since = *row.PolledThrough
	}
	since = since.Add(-PollOverlap)
	var notes []Notification
	through := start
	if start.Sub(since) > cdcWindow {
		notes, err = p.queryChanges(octx, api, since, time.Time{})
	} else {
		var cut *time.Time
		var qboNow time.Time
		notes, qboNow, cut, err = p.cdcChanges(octx, api, since)
		if !qboNow.IsZero() {
			// QuickBooks' own clock: what it had not written when it first answered is read
			// by the next pass, however far Books' clock is from it.
			through = qboNow
		}
		if err == nil && cut != nil {
			// CDC could not read past *cut: keep the watermark there (plus the overlap the
			// next pass subtracts), so the rest is read by the next pass, never skipped.
			if c := cut.Add(PollOverlap); c.Before(through) {
				through = c
			}
		}
	}
	if err != nil {
		return err
	}
	// Items a person deferred are left for this pass: their records are read again, and
	// each either matches now or opens again.
	deferred, err := client.ReconciliationItem.Query().Where(reconciliationitem.ConnectionID(row.ID),
		reconciliationitem.StatusEQ(reconciliationitem.StatusDeferred)).All(octx)
	if err != nil {
		return err
	}
	for _, it := range deferred {
		notes = append(notes, Notification{Source: qboinboxevent.SourcePoll, RealmID: row.RealmID, Entity: it.QboType,
			ID: it.QboID, Operation: "Update", Key: "defer:" + it.ID + ":" + start.Format(time.RFC3339Nano)})
	}
	if _, err := p.Store(ctx, client, notes); err != nil {
		return err
	}
	pending, err := client.QBOInboxEvent.Query().Where(qboinboxevent.ConnectionID(row.ID),
		qboinboxevent.StatusEQ(qboinboxevent.StatusPending)).Exist(sys)
	if err != nil {
		return err
	}
	tx, err := client.Tx(sys)
	if err != nil {
		return err
	}
	c := tx.Client()
	if err := c.QBOConnection.UpdateOneID(row.ID).SetPolledThrough(through).SetPolledAt(p.now()).Exec(sys); err != nil {
		return rollback(tx, err)
	}
	if pending {
		if err := p.kick(sys, c, row); err != nil {
			return rollback(tx, err)
		}
	}
	return tx.Commit()
}

// adopt attaches notifications kept for row's realm while no connection held it.
func (p *Puller) adopt(ctx context.Context, c *ent.Client, row *ent.QBOConnection) error {
	return c.QBOInboxEvent.Update().Where(qboinboxevent.RealmID(row.RealmID), qboinboxevent.StatusEQ(qboinboxevent.StatusUnknownRealm)).
		SetOrganizationID(row.OrganizationID).SetConnectionID(row.ID).SetStatus(qboinboxevent.StatusPending).Exec(ctx)
}

// changed is the part of a changed object the poller reads.
type changed struct {
	ID        string `json:"Id"`
	SyncToken string `json:"SyncToken"`
	Status    string `json:"status"`
	MetaData  struct {
		LastUpdatedTime string `json:"LastUpdatedTime"`
	} `json:"MetaData"`
}

func (p *Puller) note(realm, entity string, raw json.RawMessage, deleted bool) (Notification, time.Time, error) {
	var ch changed
	if err := json.Unmarshal(raw, &ch); err != nil {
		return Notification{}, time.Time{}, fmt.Errorf("pull: a changed %s: %w", entity, err)
	}
	op := "Update"
	if deleted || ch.Status == "Deleted" {
		op = "Delete"
	}
	n := Notification{Source: qboinboxevent.SourcePoll, RealmID: realm, Entity: entity, ID: ch.ID, Operation: op,
		// The SyncToken tells two changes in one second apart (LastUpdatedTime has seconds).
		Key:     ChangeKey(realm, entity, ch.ID, op, ch.MetaData.LastUpdatedTime+"#"+ch.SyncToken),
		Payload: raw}
	var at time.Time
	if t, err := time.Parse(time.RFC3339, ch.MetaData.LastUpdatedTime); err == nil {
		at = t
		n.OccurredAt = &t
	}
	return n, at, nil
}

// cdcChanges reads changes since since by change data capture. An answer cut at 1,000 objects
// is followed by another from the latest change it held. first is QuickBooks' clock at the
// first answer (zero if it gave none); cut, when not nil, is how far the answers could be read: an answer cut at 1,000 objects
// whose latest change is no later than the time it was asked from (over 1,000 changes in one
// second), or maxRounds answers all cut; the changes at and after cut were read in part.
// Objects of that one second are then read by query (which pages), deletions excepted.
func (p *Puller) cdcChanges(ctx context.Context, api *qbo.Client, since time.Time) (out []Notification, first time.Time, cut *time.Time, err error) {
	for round := range maxRounds {
		res, err := api.CDC(ctx, polled, since)
		if err != nil {
			return nil, first, nil, err
		}
		if round == 0 {
			first = res.Time
		}
		latest := since
		for _, e := range polled {
			for _, ch := range res.Changes[e] {
				n, at, err := p.note(api.RealmID(), e, ch.Object, ch.Deleted)
				if err != nil {
					return nil, first, nil, err
				}
				if n.ID == "" {
					n.ID = ch.ID
				}
				out = append(out, n)
				if at.After(latest) {
					latest = at
				}
			}
		}
		if res.Total < qbo.MaxCDCObjects {
			return out, first, nil, nil
		}
		if !latest.After(since) {
			// Over 1,000 changes in the second since: read that second by query, then go on.
			sec, err := p.queryChanges(ctx, api, since, since.Add(time.Second))
			if err != nil {
				return nil, first, nil, err
			}
			out = append(out, sec...)
			since = since.Add(time.Second)
			continue
		}
		since = latest
	}
	return out, first, &since, nil
}

// queryChanges reads the polled entities changed at or after from, and before to unless to
// is zero, by queries: for a watermark older than CDC keeps, or one second CDC cannot page.
func (p *Puller) queryChanges(ctx context.Context, api *qbo.Client, from, to time.Time) ([]Notification, error) {
	where := "MetaData.LastUpdatedTime >= " + qbo.Quote(from.Format(time.RFC3339))
	if !to.IsZero() {
		where += " AND MetaData.LastUpdatedTime < " + qbo.Quote(to.Format(time.RFC3339))
	}
	var out []Notification
	for _, e := range polled {
		rows, err := api.QueryAll(ctx, e, where)
		if err != nil {
			return nil, err
		}
		for _, raw := range rows {
			n, _, err := p.note(api.RealmID(), e, raw, false)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
	}
	return out, nil
}

// PollArgs are the args of the periodic qbo_poll job, which enqueues a pass per connection.
type PollArgs struct{}

// Kind is the job kind.
func (PollArgs) Kind() string { return "qbo_poll" }

// IdempotencyKey: the job only enqueues.
func (PollArgs) IdempotencyKey() string { return "qbo_poll" }

// InsertOpts: one at a time.
func (PollArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// PollConnectionArgs are the args of the qbo_poll_connection job: one connection's pass.
type PollConnectionArgs struct {
	jobs.Tenant
	jobs.Subject
	ConnectionID string `json:"connection_id"`
}

// Kind is the job kind.
func (PollConnectionArgs) Kind() string { return "qbo_poll_connection" }

// IdempotencyKey names the connection; a pass only reads QuickBooks.
func (a PollConnectionArgs) IdempotencyKey() string { return "qbo_poll_connection:" + a.ConnectionID }

// InsertOpts: at most one waiting pass per connection; QuickBooks down only delays it.
func (PollConnectionArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// PollPeriodic is the poller's schedule.
func PollPeriodic() jobs.Periodic {
	return jobs.Periodic{Every: PollEvery, Args: func() jobs.Args { return PollArgs{} }, RunOnStart: true}
}

// PollWorker works qbo_poll jobs: it enqueues a pass for every connected connection.
type PollWorker struct {
	river.WorkerDefaults[PollArgs]
	Puller *Puller
	Client *ent.Client
}

// Work enqueues the passes.
func (w *PollWorker) Work(ctx context.Context, _ *river.Job[PollArgs]) error {
	return w.Puller.PollAll(ctx, w.Client)
}

// PollAll enqueues a pass for every connected connection.
func (p *Puller) PollAll(ctx context.Context, client *ent.Client) error {
	sys := tenant.System(ctx)
	rows, err := client.QBOConnection.Query().Where(qboconnection.StatusEQ(qboconnection.StatusConnected)).All(sys)
	if err != nil || p.Runner == nil {
		return err
	}
	tx, err := client.Tx(sys)
	if err != nil {
		return err
	}
	for _, row := range rows {
		if err := p.Runner.InsertTx(sys, tx.Client(), PollConnectionArgs{
			Tenant:       jobs.Tenant{OrganizationID: row.OrganizationID, EntityID: row.EntityID},
			Subject:      jobs.Subject{SubjectType: "qbo_connection", SubjectID: row.ID},
			ConnectionID: row.ID,
		}, nil); err != nil {
			return rollback(tx, err)
		}
	}
	return tx.Commit()
}

// PollConnectionWorker works qbo_poll_connection jobs.
type PollConnectionWorker struct {
	river.WorkerDefaults[PollConnectionArgs]
	Puller *Puller
	Client *ent.Client
}

// Timeout leaves room for a long fallback read.
func (w *PollConnectionWorker) Timeout(*river.Job[PollConnectionArgs]) time.Duration {
	return 10 * time.Minute
}

// Work runs the pass.
func (w *PollConnectionWorker) Work(ctx context.Context, job *river.Job[PollConnectionArgs]) error {
	return w.Puller.Poll(ctx, w.Client, job.Args.ConnectionID)
}

// Resume runs when a company is connected (again), in the connect flow's transaction:
// notifications kept for its realm while no connection held it are adopted, and what waits in
// its inbox is processed.
func (p *Puller) Resume(ctx context.Context, c *ent.Client, row *ent.QBOConnection) error {
	sys := tenant.System(ctx)
	if err := p.adopt(sys, c, row); err != nil {
		return err
	}
	pending, err := c.QBOInboxEvent.Query().Where(qboinboxevent.ConnectionID(row.ID),
		qboinboxevent.StatusEQ(qboinboxevent.StatusPending)).Exist(sys)
	if err != nil || !pending {
		return err
	}
	return p.kick(ctx, c, row)
}
