package push_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/adminissue"
	"books/ent/qbolink"
	"books/internal/adminq"
	"books/internal/apperr"
	"books/internal/billing"
	"books/internal/dbtest"
	"books/internal/qbo/push"
	"books/jobs"
)

// TestDrainAsJobsAndRetryFromAdminQueue runs the push through River: the approval's
// transaction enqueues the drain, a customer without email fails its invoice into the admin
// queue, and retrying the issue after the fix pushes it.
func TestDrainAsJobsAndRetryFromAdminQueue(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			db := dbtest.OpenJobs(t, d)
			b := setupOn(t, db)
			queue := &adminq.Queue{Client: b.client}
			b.engine.Issues = queue
			kinds := jobs.NewKinds()
			jobs.Register(kinds, &push.SyncWorker{Engine: b.engine, Client: b.client})
			jobs.Register(kinds, &push.RetryWorker{Engine: b.engine, Client: b.client})
			r, err := jobs.New(db, jobs.Config{Kinds: kinds, Issues: queue, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				FetchPollInterval: 20 * time.Millisecond, StopGrace: time.Second})
			require.NoError(t, err)
			queue.Enqueue = r.Enqueue
			b.engine.Runner = r
			if d == dialect.Postgres {
				b.engine.Lease = push.PostgresLease(db.SQL)
			}
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			require.NoError(t, r.Start(ctx))
			t.Cleanup(func() { _ = r.Stop(context.Background()) })

			cus := b.newCustomer(t, "Later", false)
			inv := b.approvedInvoice(t, cus, "75.00")
			tx, err := b.client.Tx(b.ctx)
			require.NoError(t, err)
			_, err = b.engine.Push(b.ctx, tx.Client(), b.entity.ID, qbolink.RecordTypeInvoice, []string{inv.ID})
			require.NoError(t, err)
			require.NoError(t, tx.Commit())

			var iss *ent.AdminIssue
			require.Eventually(t, func() bool {
				iss, err = b.client.AdminIssue.Query().Where(adminissue.ErrorCode(apperr.QBOCustomerEmailRequired)).Only(b.ctx)
				return err == nil
			}, 10*time.Second, 20*time.Millisecond, "the failure reaches the admin queue")
			require.Equal(t, push.RetryArgs{}.Kind(), iss.JobKind)
			require.Equal(t, qbolink.StatusSynced, b.link(t, qbolink.RecordTypeCustomer, cus.ID, 0).Status, "the customer went")

			email := "later@example.com"
			_, err = billing.UpdateCustomer(b.ctx, b.client, cus.ID, ent.UpdateCustomerInput{Email: &email})
			require.NoError(t, err)
			_, err = queue.Retry(b.ctx, b.client, iss.ID)
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				l := b.link(t, qbolink.RecordTypeInvoice, inv.ID, 0)
				return l.Status == qbolink.StatusSynced
			}, 10*time.Second, 20*time.Millisecond, "the retried invoice is pushed")
			require.Len(t, b.realm.Invoices(), 1)
		})
	}
}

// TestPostgresLease: the lease keeps a second process's drain of a connection out until the
// first releases it. PostgreSQL only: SQLite is one process, kept in order by Drain's lock.
func TestPostgresLease(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, dialect.Postgres)
	lease := push.PostgresLease(db.SQL)
	ctx := context.Background()
	release, err := lease(ctx, "qbc_a")
	require.NoError(t, err)
	_, err = lease(ctx, "qbc_a")
	require.ErrorIs(t, err, push.ErrDrainBusy)
	other, err := lease(ctx, "qbc_b")
	require.NoError(t, err, "another connection drains at the same time")
	other()
	release()
	again, err := lease(ctx, "qbc_a")
	require.NoError(t, err)
	again()
}
