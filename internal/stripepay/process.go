package stripepay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
	"github.com/stripe/stripe-go/v76"

	"books/ent"
	"books/ent/stripeevent"
	"books/internal/adminq"
	"books/internal/apperr"
	"books/internal/database"
	"books/internal/ledger"
	"books/internal/qbo/push"
	"books/internal/tenant"
)

// maxAttempts is how many times an event that fails is tried before it is marked failed and
// raised for a person.
const maxAttempts = 3

// errRetryLater: some events stay pending (failed for now, or waiting for their payment); the
// job fails so River tries again later, with backoff.
var errRetryLater = errors.New("stripepay: some Stripe events could not be applied yet")

// locks keeps two runs of one account's inbox apart within the process.
var locks sync.Map

// Process applies an account's pending events, each in its own transaction with its row's
// status, oldest first (by Stripe's clock). An event about a payment not recorded yet waits,
// and is tried again in the same run once a later event recorded something, so events that
// arrive reversed apply in one run. One run per account at a time: a run that finds another
// holding the account returns at once, because the holder reads the inbox again after it
// lets go.
func (s *Service) Process(ctx context.Context, accountID string) error {
	for {
		release, ok, err := s.acquire(ctx, accountID)
		if err != nil || !ok {
			return err
		}
		err = s.processAll(ctx, accountID)
		release()
		if err != nil {
			return err
		}
		more, err := s.Client.StripeEvent.Query().Where(stripeevent.StripeAccountID(accountID),
			stripeevent.StatusEQ(stripeevent.StatusPending), stripeevent.AttemptsLT(1)).Exist(tenant.System(ctx))
		if err != nil || !more {
			return err
		}
	}
}

func (s *Service) acquire(ctx context.Context, accountID string) (func(), bool, error) {
	v, _ := locks.LoadOrStore(accountID, &sync.Mutex{})
	m := v.(*sync.Mutex)
	if !m.TryLock() {
		return nil, false, nil
	}
	if s.Lease == nil {
		return m.Unlock, true, nil
	}
	release, err := s.Lease(ctx, "stripe:"+accountID)
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

func (s *Service) processAll(ctx context.Context, accountID string) error {
	sys := tenant.System(ctx)
	acct, err := s.Client.StripeAccount.Get(sys, accountID)
	if err != nil {
		return err
	}
	octx := tenant.WithOrg(ctx, acct.OrganizationID)
	retry := false
	// Events that failed in this run are not tried again in it: a pass after progress is
	// for events that waited on a payment, not another attempt at a failure.
	failed := map[string]bool{}
	for {
		rows, err := s.Client.StripeEvent.Query().Where(stripeevent.StripeAccountID(accountID),
			stripeevent.StatusEQ(stripeevent.StatusPending)).
			Order(ent.Asc(stripeevent.FieldStripeCreatedAt), ent.Asc(stripeevent.FieldID)).All(sys)
		if err != nil {
			return err
		}
		progressed, waiting := false, false
		for _, row := range rows {
			if failed[row.ID] {
				continue
			}
			err := s.applyRow(octx, acct, row)
			switch {
			case err == nil:
				progressed = true
			case errors.Is(err, errNotYet):
				if time.Since(row.StripeCreatedAt) < waitLimit {
					waiting = true
					continue
				}
				if err := s.fail(sys, acct, row, err); err != nil {
					return err
				}
			case transient(err):
				return err
			default:
				s.log().Error("a Stripe event could not be applied", "stripe_account", acct.ID, "event", row.EventID,
					"type", row.Type, "err", err)
				if err := s.fail(sys, acct, row, err); err != nil {
					return err
				}
				failed[row.ID] = true
				retry = true
			}
		}
		if !(waiting && progressed) {
			retry = retry || waiting
			break
		}
	}
	if retry {
		return errRetryLater
	}
	return nil
}

// applyRow applies one stored event: what it needs from Stripe is read first, then its
// effects and its row's new status commit together. A row another run finished meanwhile
// is left alone.
func (s *Service) applyRow(ctx context.Context, acct *ent.StripeAccount, row *ent.StripeEvent) error {
	var ev stripe.Event
	if err := json.Unmarshal([]byte(row.Payload), &ev); err != nil || ev.Data == nil {
		return fmt.Errorf("stripepay: event %s is not a Stripe event: %v", row.EventID, err)
	}
	pre, err := s.prefetch(ctx, acct, ev)
	if err != nil {
		return err
	}
	return ledger.WithTx(ctx, s.Client, func(c *ent.Client) error {
		q := c.StripeEvent.Query().Where(stripeevent.ID(row.ID))
		if c.Dialect() == dialect.Postgres {
			q = q.ForUpdate()
		}
		cur, err := q.Only(ctx)
		if err != nil {
			return err
		}
		if cur.Status != stripeevent.StatusPending {
			return nil
		}
		out, err := s.apply(ctx, c, acct, ev, pre)
		if err != nil {
			return err
		}
		u := c.StripeEvent.UpdateOne(cur).SetStatus(out.status).SetOutcome(truncate(out.text, 1000)).
			SetProcessedAt(s.now()).AddAttempts(1).SetLastError("")
		if out.entityID != "" {
			u.SetEntityID(out.entityID)
		}
		return u.Exec(ctx)
	})
}

// fail counts a failed attempt; at maxAttempts (or for an event that waited too long) the
// event is failed and raised as an admin issue, whose retry puts it back to pending.
func (s *Service) fail(ctx context.Context, acct *ent.StripeAccount, row *ent.StripeEvent, cause error) error {
	final := row.Attempts+1 >= maxAttempts || errors.Is(cause, errNotYet)
	code := apperr.Code(cause)
	if code == "" {
		code = "STRIPE_EVENT_FAILED"
	}
	args, _ := json.Marshal(RetryArgs{EventID: row.ID})
	prob := adminq.Problem{Kind: "stripe_event", SubjectType: "stripe_event", SubjectID: row.EventID, ErrorCode: code,
		ErrorMessage: fmt.Sprintf("Stripe event %s (%s) of account %s could not be applied: %v", row.EventID, row.Type, acct.Name, cause),
		JobKind:      RetryArgs{}.Kind(), JobArgs: string(args)}
	if row.EntityID != nil {
		prob.EntityID = *row.EntityID
	}
	// The event is failed and its issue raised together: a failed event nobody is told of
	// would wait forever.
	return ledger.WithTx(ctx, s.Client, func(c *ent.Client) error {
		u := c.StripeEvent.UpdateOne(row).AddAttempts(1).SetLastError(truncate(cause.Error(), 2000))
		if final {
			u.SetStatus(stripeevent.StatusFailed)
		}
		if err := u.Exec(ctx); err != nil || !final {
			return err
		}
		return s.raise(ctx, c, acct.OrganizationID, prob)
	})
}

// raise raises an admin issue in c's transaction, announced when there is a queue.
func (s *Service) raise(ctx context.Context, c *ent.Client, orgID string, prob adminq.Problem) error {
	var err error
	if s.Issues != nil {
		_, err = s.Issues.RaiseFor(ctx, c, orgID, prob)
	} else {
		_, err = adminq.RaiseFor(ctx, c, orgID, prob)
	}
	return err
}

// transient reports whether err is worth the job's retry as it is: Stripe or the database
// unreachable, the job stopping, a race another transaction won.
func transient(err error) bool {
	if database.IsUnavailable(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		ent.IsConstraintError(err) {
		return true
	}
	var se *stripe.Error
	if errors.As(err, &se) {
		return se.HTTPStatusCode == 0 || se.HTTPStatusCode == 429 || se.HTTPStatusCode >= 500
	}
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne)
}

// InboxWorker works stripe_inbox jobs.
type InboxWorker struct {
	river.WorkerDefaults[InboxArgs]
	Service *Service
}

// Timeout leaves room for a long inbox.
func (w *InboxWorker) Timeout(*river.Job[InboxArgs]) time.Duration { return 10 * time.Minute }

// Work applies the account's inbox.
func (w *InboxWorker) Work(ctx context.Context, job *river.Job[InboxArgs]) error {
	return w.Service.Process(ctx, job.Args.StripeAccountID)
}

// RetryArgs are the args of the stripe_event_retry job an admin issue's retry enqueues: put a
// failed event back to pending and apply the account's inbox.
type RetryArgs struct {
	EventID string `json:"event_id"`
}

// Kind is the job kind.
func (RetryArgs) Kind() string { return "stripe_event_retry" }

// IdempotencyKey names the event.
func (a RetryArgs) IdempotencyKey() string { return "stripe_event_retry:" + a.EventID }

// RetryWorker works stripe_event_retry jobs.
type RetryWorker struct {
	river.WorkerDefaults[RetryArgs]
	Service *Service
}

// Work puts the event back and applies its account's inbox.
func (w *RetryWorker) Work(ctx context.Context, job *river.Job[RetryArgs]) error {
	sys := tenant.System(ctx)
	row, err := w.Service.Client.StripeEvent.Get(sys, job.Args.EventID)
	if err != nil {
		return err
	}
	if row.Status == stripeevent.StatusFailed {
		if err := w.Service.Client.StripeEvent.UpdateOne(row).SetStatus(stripeevent.StatusPending).SetAttempts(0).Exec(sys); err != nil {
			return err
		}
	}
	return w.Service.Process(ctx, row.StripeAccountID)
}
