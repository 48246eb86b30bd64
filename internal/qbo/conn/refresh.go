package conn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"books/ent/qboconnection"
	"books/internal/apperr"
	"books/internal/tenant"
	"books/jobs"
)

const (
	// RefreshKind is the periodic job that refreshes tokens ahead of their expiry.
	RefreshKind = "qbo_refresh_tokens"
	// RefreshEvery is its interval in production.
	RefreshEvery = 5 * time.Minute

	// RefreshAccessWithin: the job refreshes an access token that expires within this. With
	// RefreshEvery it leaves each token 10–15 minutes, so requests (ExpiryMargin, 5 minutes)
	// find a fresh one and rarely refresh themselves.
	RefreshAccessWithin = 15 * time.Minute
	// RefreshRollingWithin: the job refreshes a connection whose refresh token would lapse
	// within this unused (rolling expiry), so a company nobody syncs stays connected.
	RefreshRollingWithin = 30 * 24 * time.Hour
)

// RefreshArgs are the args of the refresh job. It works across organizations, so its Tenant
// is empty.
type RefreshArgs struct {
	jobs.Tenant
}

func (RefreshArgs) Kind() string { return RefreshKind }

// IdempotencyKey is constant: a repeated run refreshes only what is still due.
func (RefreshArgs) IdempotencyKey() string { return RefreshKind }

var _ jobs.Args = RefreshArgs{}

// InsertOpts gives the job one attempt: the next period's run is its retry.
func (RefreshArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// RefreshPeriodic is the refresh job every RefreshEvery, also run when a leader starts.
var RefreshPeriodic = jobs.Periodic{Every: RefreshEvery, RunOnStart: true, Args: func() jobs.Args { return RefreshArgs{} }}

// RefreshWorker refreshes the tokens of every connected connection that is due (see
// RefreshAccessWithin and RefreshRollingWithin). Register it with jobs.Register.
type RefreshWorker struct {
	river.WorkerDefaults[RefreshArgs]
	Refresher *Refresher
}

// Timeout lets a run take one interval: many connections take longer than the runner's
// default, and what one run leaves is the next one's.
func (w *RefreshWorker) Timeout(*river.Job[RefreshArgs]) time.Duration { return RefreshEvery }

// Work refreshes each due connection in its own organization. One connection's failure
// stops none of the others; the errors are returned together. A connection QuickBooks
// refuses is not a failure of the job: it is marked and raised as an admin issue of its own.
func (w *RefreshWorker) Work(ctx context.Context, _ *river.Job[RefreshArgs]) error {
	_, err := w.Refresher.RefreshDue(ctx)
	return err
}

// RefreshDue refreshes every connected connection that is due, and returns how many it
// refreshed.
func (r *Refresher) RefreshDue(ctx context.Context) (int, error) {
	at := now()
	rows, err := r.DB.Client().QBOConnection.Query().
		Where(qboconnection.StatusEQ(qboconnection.StatusConnected),
			qboconnection.Or(qboconnection.AccessExpiresAtLT(at.Add(RefreshAccessWithin)),
				qboconnection.RefreshExpiresAtLT(at.Add(RefreshRollingWithin)))).
		Order(qboconnection.ByID()).
		All(tenant.System(ctx))
	if err != nil {
		return 0, fmt.Errorf("list QuickBooks connections to refresh: %w", err)
	}
	n := 0
	var errs []error
	for _, row := range rows {
		if err := ctx.Err(); err != nil {
			return n, errors.Join(append(errs, err)...)
		}
		_, refreshed, err := r.ensure(tenant.WithOrg(ctx, row.OrganizationID), row.ID, dueForJob)
		switch {
		case err == nil:
			if refreshed {
				n++
			}
		case apperr.Code(err) == apperr.QBONotConnected:
			// Refused now (marked and raised), or disconnected since the query.
			slog.WarnContext(ctx, "QuickBooks connection not refreshed", "connection_id", row.ID,
				"organization_id", row.OrganizationID, "error", err.Error())
		default:
			errs = append(errs, fmt.Errorf("QuickBooks connection %s: %w", row.ID, err))
		}
	}
	return n, errors.Join(errs...)
}

// dueForJob is the job's test. The rolling expiry only counts while a refresh can still
// extend it: near the hard expiry it cannot, and refreshing every run would not help.
func dueForJob(t Tokens, at time.Time) bool {
	if t.AccessExpiresAt.Sub(at) <= RefreshAccessWithin {
		return true
	}
	if t.RefreshExpiresAt.Sub(at) > RefreshRollingWithin {
		return false
	}
	return t.RefreshHardExpiresAt.IsZero() || t.RefreshExpiresAt.Before(t.RefreshHardExpiresAt.Add(-time.Hour))
}
