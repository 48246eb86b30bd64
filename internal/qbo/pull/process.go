package pull

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"books/ent"
	"books/ent/qboconnection"
	"books/ent/qboinboxevent"
	"books/internal/adminq"
	"books/internal/apperr"
	"books/internal/database"
	"books/internal/qbo"
	"books/internal/qbo/push"
	"books/internal/tenant"
)

// maxAttempts is how many times a notification whose record Books cannot process is tried
// (each by a later run of the job) before it is marked failed and raised for a person.
const maxAttempts = 3

// errRetryLater: some notifications failed and stay pending; the job fails so River tries
// again later, with backoff.
var errRetryLater = errors.New("pull: some QuickBooks notifications could not be processed yet")

// errDisconnected: the connection is disconnected; its notifications wait for a reconnect
// (Resume), so the run ends without looking again.
var errDisconnected = errors.New("pull: the QuickBooks connection is disconnected")

// locks keeps two runs of one connection's inbox apart within the process.
var locks sync.Map

// Process works a connection's pending notifications: each QuickBooks record named is read
// once, as it is now, and applied (see apply). One run per connection at a time: a run that
// finds another holding the connection returns at once, because the holder reads the inbox
// again after it lets go and so sees what this run's job was enqueued for.
func (p *Puller) Process(ctx context.Context, client *ent.Client, connectionID string) error {
	for {
		release, ok, err := p.acquire(ctx, connectionID)
		if err != nil || !ok {
			return err
		}
		err = p.processAll(ctx, client, connectionID)
		release()
		if errors.Is(err, errDisconnected) {
			return nil
		}
		if err != nil {
			return err
		}
		// Let go first, then look: a notification stored after this look has its own job,
		// which finds the connection free.
		more, err := client.QBOInboxEvent.Query().Where(qboinboxevent.ConnectionID(connectionID),
			qboinboxevent.StatusEQ(qboinboxevent.StatusPending)).Exist(tenant.System(ctx))
		if err != nil || !more {
			return err
		}
	}
}

func (p *Puller) acquire(ctx context.Context, connectionID string) (func(), bool, error) {
	v, _ := locks.LoadOrStore(connectionID, &sync.Mutex{})
	m := v.(*sync.Mutex)
	if !m.TryLock() {
		return nil, false, nil
	}
	if p.Lease == nil {
		return m.Unlock, true, nil
	}
	release, err := p.Lease(ctx, "pull:"+connectionID)
	if errors.Is(err, push.ErrDrainBusy) {
		m.Unlock()
		return nil, false, nil
	}
	if err != nil {
		m.Unlock()
		return nil, false, err
	}
	return func() { release(); m.Unlock() }, true, nil
}

// record names one QuickBooks record.
type record struct{ typ, id string }

func (p *Puller) processAll(ctx context.Context, client *ent.Client, connectionID string) error {
	sys := tenant.System(ctx)
	row, err := client.QBOConnection.Get(sys, connectionID)
	if err != nil {
		return err
	}
	if row.Status == qboconnection.StatusDisconnected {
		// Kept pending: connecting the company again resumes them.
		return errDisconnected
	}
	octx := tenant.WithOrg(ctx, row.OrganizationID)
	api, err := p.Engine.API(octx, row)
	if err != nil {
		return err
	}
	retry := false
	after := ""
	for {
		q := client.QBOInboxEvent.Query().Where(qboinboxevent.ConnectionID(connectionID),
			qboinboxevent.StatusEQ(qboinboxevent.StatusPending))
		if after != "" {
			q = q.Where(qboinboxevent.IDGT(after))
		}
		rows, err := q.Order(ent.Asc(qboinboxevent.FieldID)).Limit(200).All(sys)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			break
		}
		after = rows[len(rows)-1].ID
		var order []record
		byRecord := map[record][]*ent.QBOInboxEvent{}
		for _, r := range rows {
			k := record{r.QboType, r.QboID}
			if byRecord[k] == nil {
				order = append(order, k)
			}
			byRecord[k] = append(byRecord[k], r)
		}
		for _, k := range order {
			status, err := p.apply(octx, client, row, api, k)
			if err == nil {
				if err := markDone(sys, client, byRecord[k], status); err != nil {
					return err
				}
				continue
			}
			if transient(err) {
				return err
			}
			p.log().Error("a QuickBooks change could not be applied", "connection", row.ID,
				"qbo_type", k.typ, "qbo_id", k.id, "err", err)
			failed, ferr := markFailed(sys, client, byRecord[k], err)
			if ferr != nil {
				return ferr
			}
			if failed {
				if ierr := p.raise(sys, client, row, k, err); ierr != nil {
					return ierr
				}
			} else {
				retry = true
			}
		}
	}
	if retry {
		return errRetryLater
	}
	return nil
}

// transient reports whether err is worth the job's retry as it is: QuickBooks throttling,
// down or unreachable, the connection paused, the database unavailable, the job stopping.
func transient(err error) bool {
	return qbo.Retryable(err) || qbo.IsAuth(err) || database.IsUnavailable(err) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		apperr.Code(err) == apperr.QBONotConnected || ent.IsConstraintError(err)
}

func markDone(ctx context.Context, c *ent.Client, rows []*ent.QBOInboxEvent, status qboinboxevent.Status) error {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return c.QBOInboxEvent.Update().Where(qboinboxevent.IDIn(ids...)).
		SetStatus(status).SetProcessedAt(time.Now().UTC()).AddAttempts(1).SetLastError("").Exec(ctx)
}

// markFailed counts an attempt on rows; at maxAttempts they are failed (true).
func markFailed(ctx context.Context, c *ent.Client, rows []*ent.QBOInboxEvent, cause error) (bool, error) {
	failed := false
	for _, r := range rows {
		u := c.QBOInboxEvent.UpdateOne(r).AddAttempts(1).SetLastError(truncate(cause.Error(), 2000))
		if r.Attempts+1 >= maxAttempts {
			u.SetStatus(qboinboxevent.StatusFailed)
			failed = true
		}
		if err := u.Exec(ctx); err != nil {
			return false, err
		}
	}
	return failed, nil
}

func (p *Puller) raise(ctx context.Context, c *ent.Client, row *ent.QBOConnection, k record, cause error) error {
	code := apperr.Code(cause)
	if code == "" {
		code = "QBO_PULL_FAILED"
	}
	prob := adminq.Problem{EntityID: row.EntityID, Kind: "qbo_pull", SubjectType: "qbo_" + k.typ,
		SubjectID: k.id, ErrorCode: code,
		ErrorMessage: fmt.Sprintf("QuickBooks %s %s could not be applied to Books: %v", k.typ, k.id, cause)}
	var err error
	if p.Engine != nil && p.Engine.Issues != nil {
		_, err = p.Engine.Issues.RaiseFor(ctx, c, row.OrganizationID, prob)
	} else {
		_, err = adminq.RaiseFor(ctx, c, row.OrganizationID, prob)
	}
	return err
}

// apply reads one QuickBooks record and brings Books in line with it.
func (p *Puller) apply(ctx context.Context, client *ent.Client, row *ent.QBOConnection, api *qbo.Client, k record) (qboinboxevent.Status, error) {
	switch k.typ {
	case "Payment":
		return qboinboxevent.StatusProcessed, p.payment(ctx, client, row, api, k.id)
	case "Invoice", "CreditMemo":
		return qboinboxevent.StatusProcessed, p.document(ctx, client, row, api, k)
	}
	return qboinboxevent.StatusIgnored, nil
}

// InboxWorker works qbo_inbox jobs.
type InboxWorker struct {
	river.WorkerDefaults[InboxArgs]
	Puller *Puller
	Client *ent.Client
}

// Timeout leaves room for a long inbox under QuickBooks' limits.
func (w *InboxWorker) Timeout(*river.Job[InboxArgs]) time.Duration { return 10 * time.Minute }

// Work processes the connection's inbox.
func (w *InboxWorker) Work(ctx context.Context, job *river.Job[InboxArgs]) error {
	return w.Puller.Process(ctx, w.Client, job.Args.ConnectionID)
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
