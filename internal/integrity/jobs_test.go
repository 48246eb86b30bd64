package integrity_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/adminissue"
	"books/ent/ledgerseal"
	"books/ent/ledgerverification"
	"books/internal/adminq"
	"books/internal/dbtest"
	"books/internal/integrity"
	"books/internal/ledger"
	"books/internal/tenant"
	"books/jobs"
)

// jobsSetup is setup with River's tables and a started runner working the integrity jobs on
// the given schedule.
func jobsSetup(t *testing.T, d string, sealEvery, verifyEvery time.Duration) (*testBundle, *jobs.Runner) {
	t.Helper()
	b := setup(t, d)
	_, err := jobs.Migrate(context.Background(), b.db)
	require.NoError(t, err)
	queue := &adminq.Queue{Client: b.client}
	kinds := jobs.NewKinds()
	integrity.RegisterJobs(kinds, b.client, queue)
	r, err := jobs.New(b.db, jobs.Config{
		Kinds:    kinds,
		Periodic: integrity.PeriodicJobs(sealEvery, verifyEvery),
		Issues:   queue,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	queue.Enqueue = r.Enqueue
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, r.Stop(ctx))
	})
	return b, r
}

func (b *testBundle) sealCount(t *testing.T) int {
	t.Helper()
	n, err := b.client.LedgerSeal.Query().Where(ledgerseal.EntityID(b.entity.ID)).Count(b.ctx)
	require.NoError(t, err)
	return n
}

func (b *testBundle) verifications(t *testing.T) []*ent.LedgerVerification {
	t.Helper()
	vs, err := b.client.LedgerVerification.Query().Where(ledgerverification.EntityID(b.entity.ID)).
		Order(ledgerverification.ByVerifiedAt(), ledgerverification.ByID()).All(b.ctx)
	require.NoError(t, err)
	return vs
}

func (b *testBundle) issues(t *testing.T) []*ent.AdminIssue {
	t.Helper()
	iss, err := b.client.AdminIssue.Query().Where(adminissue.Kind(integrity.IssueKind)).All(b.ctx)
	require.NoError(t, err)
	return iss
}

// Entries are sealed within seconds of commit by the periodic job, without posting waiting
// for it.
func TestSealJobSealsNewEntries(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b, _ := jobsSetup(t, d, integrity.SealEvery, time.Hour)
			for round := 1; round <= 2; round++ {
				b.post(t, fmt.Sprintf("job-a-%d", round), "10.00")
				b.post(t, fmt.Sprintf("job-b-%d", round), "20.00")
				want := 2 * round
				require.Eventually(t, func() bool { return b.sealCount(t) == want },
					3*integrity.SealEvery+5*time.Second, 50*time.Millisecond, "entries sealed within a few seconds")
			}
			r := b.verify(t)
			require.True(t, r.OK, r.Problem)
			require.Equal(t, 4, r.EntriesSealed)
		})
	}
}

func TestVerifyJobRecordsAndRaisesIssues(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b, r := jobsSetup(t, d, time.Hour, time.Hour)
			// Run on start: the verification of the empty ledger is recorded, with no issue.
			require.Eventually(t, func() bool { return len(b.verifications(t)) == 1 }, 30*time.Second, 20*time.Millisecond)
			require.True(t, b.verifications(t)[0].Ok)
			require.Empty(t, b.issues(t))

			e := b.post(t, "job-1", "10.00")
			b.seal(t)
			b.tamper(t, "journal_entries", `UPDATE journal_entries SET description = 'x' WHERE id = ?`, e.ID)

			run := func(args integrity.VerifyArgs) {
				t.Helper()
				res, err := r.Insert(context.Background(), args, nil)
				require.NoError(t, err)
				waitCompleted(t, r, res.Job.ID)
			}
			run(integrity.VerifyArgs{})
			vs := b.verifications(t)
			require.Len(t, vs, 2)
			require.False(t, vs[1].Ok)
			require.Contains(t, vs[1].Problem, e.ID)

			iss := b.issues(t)
			require.Len(t, iss, 1)
			require.Equal(t, b.org, iss[0].OrganizationID)
			require.Equal(t, b.entity.ID, iss[0].SubjectID)
			require.Equal(t, "legal_entity", iss[0].SubjectType)
			require.Equal(t, integrity.TamperedCode, iss[0].ErrorCode)
			require.Contains(t, iss[0].ErrorMessage, e.ID)
			require.Equal(t, adminissue.StatusOpen, iss[0].Status)
			require.Equal(t, 1, iss[0].Occurrences)

			// Retrying the issue re-runs the check of that entity; the breach is still there,
			// so the issue is raised again on the same row.
			queue := &adminq.Queue{Client: b.client, Enqueue: r.Enqueue}
			_, err := queue.Retry(tenant.WithOrg(context.Background(), b.org), b.client, iss[0].ID)
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				iss = b.issues(t)
				return len(iss) == 1 && iss[0].Occurrences == 2 && iss[0].Status == adminissue.StatusOpen
			}, 30*time.Second, 20*time.Millisecond)
			require.Len(t, b.verifications(t), 3)
		})
	}
}

func waitCompleted(t *testing.T, r *jobs.Runner, id int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		job, err := r.Client().JobGet(context.Background(), id)
		require.NoError(t, err)
		require.NotEqual(t, rivertype.JobStateDiscarded, job.State, "job errors: %v", job.Errors)
		return job.State == rivertype.JobStateCompleted
	}, 30*time.Second, 20*time.Millisecond)
}

// The entity scoping of a one-entity verification must not reach other entities.
func TestVerifyJobOneEntity(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b, r := jobsSetup(t, d, time.Hour, time.Hour)
			require.Eventually(t, func() bool { return len(b.verifications(t)) == 1 }, 30*time.Second, 20*time.Millisecond)
			other, err := ledger.CreateEntity(b.ctx, b.client, ent.CreateLegalEntityInput{Code: "UK", Name: "UK Ltd", BaseCurrency: "GBP"})
			require.NoError(t, err)

			res, err := r.Insert(context.Background(), integrity.VerifyArgs{Tenant: jobs.Tenant{OrganizationID: b.org, EntityID: other.ID}}, nil)
			require.NoError(t, err)
			waitCompleted(t, r, res.Job.ID)
			require.Len(t, b.verifications(t), 1, "the first entity was not verified again")
			n, err := b.client.LedgerVerification.Query().Where(ledgerverification.EntityID(other.ID)).Count(b.ctx)
			require.NoError(t, err)
			require.Equal(t, 1, n)
		})
	}
}
